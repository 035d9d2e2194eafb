public import AirlockDomain
public import AirlockWebhookKit
import Crypto
public import Foundation
import Logging
import NIOHTTP1

extension PlatformName {
    public static let discourse = PlatformName("discourse")
}

/// Discourse usernames: letters, digits, `_`, `.`, `-` (compared case-insensitively).
enum DiscourseIDs {
    static func isUsername(_ text: String) -> Bool { Identifier.isASCII(text, lengths: 1...60, extra: ["_", ".", "-"]) }
}

/// Discourse as a platform module: `AIRLOCK_DISCOURSE_URL`, `_API_KEY`, `_API_USERNAME`, `_WEBHOOK_SECRET`.
public struct DiscourseModule: PlatformModule {
    public static let name = PlatformName.discourse
    public var url: String
    public var apiKey: String
    public var apiUsername: String
    public var webhookSecret: String

    public init(url: String, apiKey: String, apiUsername: String, webhookSecret: String) {
        self.url = url
        self.apiKey = apiKey
        self.apiUsername = apiUsername
        self.webhookSecret = webhookSecret
    }

    public static func configure(_ settings: any SettingsReader) throws -> DiscourseModule? {
        guard
            let values = try PlatformSettingsError.require(
                [
                    ("discourse.url", "AIRLOCK_DISCOURSE_URL", false),
                    ("discourse.api_key", "AIRLOCK_DISCOURSE_API_KEY", true),
                    ("discourse.api_username", "AIRLOCK_DISCOURSE_API_USERNAME", false),
                    ("discourse.webhook_secret", "AIRLOCK_DISCOURSE_WEBHOOK_SECRET", true),
                ], platform: "Discourse", from: settings)
        else { return nil }
        return DiscourseModule(
            url: values["discourse.url"]!, apiKey: values["discourse.api_key"]!,
            apiUsername: values["discourse.api_username"]!, webhookSecret: values["discourse.webhook_secret"]!)
    }

    public func start(_ context: PlatformContext) async throws -> PlatformBinding {
        let api = APIClient(
            http: context.http, baseURL: url, headers: [("Api-Key", apiKey), ("Api-Username", apiUsername)],
            platform: .discourse, record: context.recordAPICall)
        do {
            _ = try await api.call(.GET, "/u/\(apiUsername).json")
        } catch {
            throw PlatformSettingsError(
                "Discourse GET /u/\(apiUsername).json failed (\(error)): check AIRLOCK_DISCOURSE_URL, _API_KEY and _API_USERNAME")
        }
        context.logger.info("Discourse enabled", metadata: ["discourse.bot_user": "\(apiUsername)"])
        return PlatformBinding(
            inbound: DiscourseAdapter(secret: webhookSecret, botUsername: apiUsername),
            outbound: DiscoursePlatform(api: api, botUsername: apiUsername, baseURL: url))
    }
}

/// `/discourse/webhook`: `post_created` deliveries signed with `X-Discourse-Event-Signature`.
public struct DiscourseAdapter: InboundAdapter {
    public let platform = PlatformName.discourse
    public let routes = [InboundRoute(.post, "/discourse/webhook")]
    let signature: BodySignature
    let botUsername: String

    public init(secret: String, botUsername: String) {
        self.signature = BodySignature(secret: secret, header: "X-Discourse-Event-Signature")
        self.botUsername = botUsername.lowercased()
    }

    public func verify(_ request: InboundRequest, now: Date) throws(InboundRefusal) { try signature.verify(request) }

    struct Envelope: Decodable {
        struct Post: Decodable {
            var id: Int
            var username: String
            var raw: String?
            var topic_id: Int
            var post_number: Int
            var topic_archetype: String?
            var post_type: Int?
        }
        var post: Post?
    }

    public func parse(_ request: InboundRequest) throws(InboundRefusal) -> InboundDelivery {
        let redacted = RedactedJSON.of(request.body, secrets: [])
        let event = request.header("X-Discourse-Event") ?? ""
        guard (try? JSONSerialization.jsonObject(with: request.body)) != nil else {
            throw .badRequest("body is not valid JSON", recordedBody: "[\(request.body.count) bytes]")
        }
        guard event == "post_created" else {
            return InboundDelivery(items: [InboundItem(action: .ignored(reason: "event \(event.prefix(40))"))], redactedBody: redacted)
        }
        guard let post = (try? JSONDecoder().decode(Envelope.self, from: request.body))?.post else {
            return InboundDelivery(items: [InboundItem(action: .ignored(reason: "post_created without a post"))], redactedBody: redacted)
        }
        // Retries get a new X-Discourse-Event-Id: dedupe on the post id and the event instead.
        let key = DeliveryKey(platform: .discourse, key: "post:\(post.id):post_created")
        func item(_ action: InboundAction) -> InboundDelivery {
            InboundDelivery(items: [InboundItem(action: action, delivery: key, detail: ["post_id": String(post.id)])], redactedBody: redacted)
        }
        guard DiscourseIDs.isUsername(post.username) else { return item(.ignored(reason: "invalid_identifier: username")) }
        let username = post.username.lowercased()
        if username == botUsername { return item(.ignored(reason: "the bot's own post")) }
        if let type = post.post_type, type != 1 { return item(.ignored(reason: "post type \(type)")) }
        let actor = Actor(PersonID(platform: .discourse, id: username))
        let raw = Self.strip(mentionOf: botUsername, in: post.raw ?? "")
        if post.topic_archetype == "private_message" {
            // A private message to the bot: a command, or a question with no public thread.
            if let command = ChatCommand.parseDirectMessage(raw.text) {
                return item(.command(actor: actor, command: command, reply: .directMessage))
            }
            guard !raw.text.isEmpty else { return item(.ignored(reason: "empty private message")) }
            return item(.question(asker: actor, text: raw.text, target: nil))
        }
        guard raw.mentioned else { return item(.ignored(reason: "no mention of @\(botUsername)")) }
        guard !raw.text.isEmpty else { return item(.ignored(reason: "mention without a question")) }
        return item(.question(
            asker: actor, text: raw.text,
            target: ThreadRef(platform: .discourse, channel: String(post.topic_id), thread: String(post.post_number))))
    }

    /// Removes `@bot` (as a word, case-insensitively) and says whether it was there.
    static func strip(mentionOf bot: String, in raw: String) -> (text: String, mentioned: Bool) {
        var words: [Substring] = []
        var mentioned = false
        for word in raw.split(separator: " ", omittingEmptySubsequences: false) {
            let bare = word.trimmingCharacters(in: CharacterSet(charactersIn: ",.:;!?")).lowercased()
            if bare == "@" + bot { mentioned = true } else { words.append(word) }
        }
        return (words.joined(separator: " ").trimmingCharacters(in: .whitespacesAndNewlines), mentioned)
    }

    public func reply(to results: [InboundResult], for delivery: InboundDelivery, request: InboundRequest) -> InboundResponse {
        .json([String: String]())
    }
}

/// Discourse's outbound side: answers and command replies as private messages (one PM topic per person while the
/// process runs), the public answer as a reply to the original post (`reply_to_post_number`).
public actor DiscoursePlatform: ChatPlatform {
    public nonisolated let name = PlatformName.discourse
    let api: APIClient
    let botUsername: String
    let baseURL: String
    private var privateTopics: [String: Int] = [:]

    public init(api: APIClient, botUsername: String, baseURL: String) {
        self.api = api
        self.botUsername = botUsername.lowercased()
        self.baseURL = baseURL.hasSuffix("/") ? String(baseURL.dropLast()) : baseURL
    }

    static let maxPost = 32_000

    public func sendDirectMessage(_ message: OutboundMessage, to person: PersonID) async throws -> DeliveredMessage {
        guard person.platform == .discourse else { throw PlatformError.permanent("not a Discourse user: \(person)") }
        var body: [String: Any] = ["raw": Self.padded(message.text)]
        if let topic = privateTopics[person.id] {
            body["topic_id"] = topic
        } else {
            body["title"] = "Airlock: your private answers and commands"
            body["archetype"] = "private_message"
            body["target_recipients"] = person.id
        }
        let post = try await create(body)
        if let topic = post.string("topic_id").flatMap(Int.init) { privateTopics[person.id] = topic }
        return DeliveredMessage(messageID: post.string("id") ?? "")
    }

    public func postPublicReply(_ text: String, in thread: ThreadRef, marker: PublishMarker) async throws -> DeliveredMessage {
        guard let topic = Int(thread.channel), let number = Int(thread.thread) else {
            throw PlatformError.permanent("not a Discourse topic/post: \(thread)")
        }
        let post = try await create(["topic_id": topic, "raw": text, "reply_to_post_number": number])
        return DeliveredMessage(
            messageID: post.string("id") ?? "", permalink: post.string("post_number").map { "\(baseURL)/t/\(topic)/\($0)" })
    }

    /// Reads the topic's posts (following its post stream) for one of the bot's whose text ends with this draft
    /// version's footer.
    public func findPublishedReply(in thread: ThreadRef, marker: PublishMarker) async throws -> DeliveredMessage? {
        let topic = try await api.call(.GET, "/t/\(thread.channel).json") as? [String: Any] ?? [:]
        let stream = topic["post_stream"] as? [String: Any] ?? [:]
        var posts = stream["posts"] as? [[String: Any]] ?? []
        let loaded = Set(posts.compactMap { $0.string("id") })
        let ids = (stream["stream"] as? [Any] ?? []).compactMap { ($0 as? NSNumber)?.stringValue ?? $0 as? String }
        for id in ids.filter({ !loaded.contains($0) }).prefix(1000) {
            if let post = try await api.call(.GET, "/posts/\(id).json") as? [String: Any] { posts.append(post) }
        }
        let footer = marker.footer
        for post in posts where post.string("username")?.lowercased() == botUsername {
            let text = post.string("raw") ?? post.string("cooked") ?? ""
            if text.contains(footer), let id = post.string("id") {
                return DeliveredMessage(
                    messageID: id, permalink: post.string("post_number").map { "\(baseURL)/t/\(thread.channel)/\($0)" })
            }
        }
        return nil
    }

    public func postReviewRequest(_ message: OutboundMessage, in channel: String) async throws -> DeliveredMessage {
        throw PlatformError.permanent("Discourse has no review channel: approvers are sent private messages")
    }

    private func create(_ body: [String: Any]) async throws -> [String: Any] {
        if let raw = body["raw"] as? String, raw.count > Self.maxPost {
            throw PlatformError.permanent("the post is longer than Discourse's \(Self.maxPost) characters")
        }
        return try await api.call(.POST, "/posts.json", json: try APIClient.json(body)) as? [String: Any] ?? [:]
    }

    /// Discourse refuses very short posts; command replies can be short.
    static func padded(_ text: String) -> String { text.count >= 20 ? text : text + "\n\n— Airlock" }
}
