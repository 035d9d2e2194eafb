import Foundation

// The Slack Web API's payloads as Airlock sends and reads them (https://api.slack.com/methods), typed both ways.
// Replies are read leniently: a field of an unexpected shape reads as absent, never as a failed page.

/// Every reply's envelope: `ok`, and `error` when not.
struct SlackReply: Decodable {
    var ok: Bool?
    var error: String?
}

/// Message metadata (`metadata.event_type`, `metadata.event_payload`): what lets Airlock find its own messages.
struct SlackMetadata: Codable, Hashable {
    /// A payload value: Slack keeps strings, numbers and booleans; Airlock writes strings and whole numbers.
    enum Value: Codable, Hashable {
        case string(String)
        case integer(Int)

        var text: String {
            switch self {
            case .string(let text): text
            case .integer(let number): String(number)
            }
        }

        init(from decoder: any Decoder) throws {
            let container = try decoder.singleValueContainer()
            if let text = try? container.decode(String.self) {
                self = .string(text)
            } else if let number = try? container.decode(Int.self) {
                self = .integer(number)
            } else {
                self = .string(String(describing: try container.decode(Bool.self)))
            }
        }

        func encode(to encoder: any Encoder) throws {
            var container = encoder.singleValueContainer()
            switch self {
            case .string(let text): try container.encode(text)
            case .integer(let number): try container.encode(number)
            }
        }
    }

    var eventType: String
    var eventPayload: [String: Value]

    enum CodingKeys: String, CodingKey {
        case eventType = "event_type"
        case eventPayload = "event_payload"
    }

    /// The payload's `key` as text, if this metadata is of `type`.
    func payload(_ key: String, ifType type: String) -> String? {
        eventType == type ? eventPayload[key]?.text : nil
    }
}

/// A message of `conversations.history` or `conversations.replies`.
public struct SlackMessage: Decodable, Hashable, Sendable {
    var ts: String?
    var text: String?
    var user: String?
    var botID: String?
    var metadata: SlackMetadata?

    enum CodingKeys: String, CodingKey {
        case ts, text, user, metadata
        case botID = "bot_id"
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        ts = try? container.decodeIfPresent(String.self, forKey: .ts)
        text = try? container.decodeIfPresent(String.self, forKey: .text)
        user = try? container.decodeIfPresent(String.self, forKey: .user)
        botID = try? container.decodeIfPresent(String.self, forKey: .botID)
        metadata = try? container.decodeIfPresent(SlackMetadata.self, forKey: .metadata)
    }
}

/// `chat.postMessage`'s body.
struct SlackPostMessage: Encodable {
    var channel: String
    var text: String
    var threadTS: String?
    var blocks: [SlackBlock]?
    var metadata: SlackMetadata?
    var unfurlLinks = false
    var unfurlMedia = false

    enum CodingKeys: String, CodingKey {
        case channel, text, blocks, metadata
        case threadTS = "thread_ts"
        case unfurlLinks = "unfurl_links"
        case unfurlMedia = "unfurl_media"
    }
}

/// `chat.postEphemeral`'s body.
struct SlackPostEphemeral: Encodable {
    var channel: String
    var user: String
    var text: String
    var threadTS: String?

    enum CodingKeys: String, CodingKey {
        case channel, user, text
        case threadTS = "thread_ts"
    }
}

/// A Block Kit block: a section of mrkdwn text, or a row of buttons.
enum SlackBlock: Encodable, Hashable {
    case section(String)
    case actions([Button])

    struct Text: Encodable, Hashable {
        var type: String
        var text: String
    }

    struct Button: Encodable, Hashable {
        var type = "button"
        var actionID: String
        var value: String
        var text: Text
        var style: String?

        enum CodingKeys: String, CodingKey {
            case type, value, text, style
            case actionID = "action_id"
        }
    }

    enum CodingKeys: String, CodingKey { case type, text, elements }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        switch self {
        case .section(let text):
            try container.encode("section", forKey: .type)
            try container.encode(Text(type: "mrkdwn", text: text), forKey: .text)
        case .actions(let buttons):
            try container.encode("actions", forKey: .type)
            try container.encode(buttons, forKey: .elements)
        }
    }
}

struct SlackAuthTest: Decodable {
    var userID: String?
    var botID: String?
    var teamID: String?

    enum CodingKeys: String, CodingKey {
        case userID = "user_id"
        case botID = "bot_id"
        case teamID = "team_id"
    }
}

struct SlackConversationsOpen: Decodable {
    struct Channel: Decodable { var id: String? }
    var channel: Channel?
}

struct SlackConversationsInfo: Decodable {
    struct Channel: Decodable {
        var name: String?
        var isPrivate: Bool?
        var isIM: Bool?
        var isMPIM: Bool?

        enum CodingKeys: String, CodingKey {
            case name
            case isPrivate = "is_private"
            case isIM = "is_im"
            case isMPIM = "is_mpim"
        }
    }
    var channel: Channel?
}

struct SlackUsersInfo: Decodable {
    struct User: Decodable {
        struct Profile: Decodable {
            var displayName: String?
            var realName: String?

            enum CodingKeys: String, CodingKey {
                case displayName = "display_name"
                case realName = "real_name"
            }
        }
        var name: String?
        var profile: Profile?
    }
    var user: User?
}

struct SlackMessages: Decodable {
    struct ResponseMetadata: Decodable {
        var nextCursor: String?
        enum CodingKeys: String, CodingKey { case nextCursor = "next_cursor" }
    }
    var messages: [SlackMessage]?
    var responseMetadata: ResponseMetadata?

    enum CodingKeys: String, CodingKey {
        case messages
        case responseMetadata = "response_metadata"
    }
}

struct SlackPosted: Decodable { var ts: String? }

struct SlackPermalink: Decodable { var permalink: String? }
