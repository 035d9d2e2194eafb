public import AirlockDomain
import AirlockWebhookKit
public import Foundation

/// The bot's own identity on Slack, learnt from `auth.test`.
public struct SlackBotIdentity: Hashable, Sendable {
    public var userID: String
    public var botID: String?
    public var teamID: String?
    /// The app id (`AIRLOCK_SLACK_APP_ID`), when configured: deliveries for another app are refused.
    public var appID: String?

    public init(userID: String, botID: String?, teamID: String?, appID: String? = nil) {
        self.userID = userID
        self.botID = botID
        self.teamID = teamID
        self.appID = appID
    }
}

/// A body that is not what Slack sends; the message says what is wrong (never echoes the body).
public struct SlackParseError: Error, Hashable, Sendable, CustomStringConvertible {
    public var description: String
    /// True when the body is well-formed but an identifier in it does not match Slack's grammar: the sender
    /// is told by an ephemeral refusal (200), not a 400.
    public var isInvalidIdentifier: Bool
    init(_ description: String, invalidIdentifier: Bool = false) {
        self.description = description
        self.isInvalidIdentifier = invalidIdentifier
    }
}

/// Slack's identifier grammars. A value that does not match is not a person, channel or message: the delivery
/// is ignored (events) or refused (commands), recorded, and never reaches the gate.
public enum SlackIdentifiers {
    /// User ids: `[UW][A-Z0-9]+` (2–32 characters).
    public static func isUser(_ text: String) -> Bool {
        guard let first = text.first, first == "U" || first == "W" else { return false }
        return isUpperAlphanumeric(text)
    }

    /// Conversation ids: `[CDG][A-Z0-9]+`.
    public static func isChannel(_ text: String) -> Bool {
        guard let first = text.first, "CDG".contains(first) else { return false }
        return isUpperAlphanumeric(text)
    }

    /// Team ids `T…`, enterprise ids `E…`, app ids `A…`.
    public static func isTeamOrApp(_ text: String) -> Bool {
        guard let first = text.first, "TEA".contains(first) else { return false }
        return isUpperAlphanumeric(text)
    }

    /// Message timestamps: `<seconds>.<micros>`, digits only.
    public static func isTimestamp(_ text: String) -> Bool {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        return parts.count == 2 && (1...12).contains(parts[0].count) && (1...9).contains(parts[1].count)
            && parts.allSatisfy { $0.allSatisfy { $0.isASCII && $0.isNumber } }
    }

    /// Slash command names: `/` and 1–32 letters, digits, `_` or `-`.
    public static func isCommandName(_ text: String) -> Bool {
        text.hasPrefix("/") && Identifier.isASCII(String(text.dropFirst()), lengths: 1...32, extra: ["_", "-"])
    }

    /// Event ids (`Ev…`): letters, digits, `_` and `-`, up to 64.
    public static func isEventID(_ text: String) -> Bool {
        Identifier.isASCII(text, lengths: 2...64, extra: ["_", "-"])
    }

    static func isUpperAlphanumeric(_ text: String) -> Bool {
        (2...32).contains(text.utf8.count)
            && text.utf8.allSatisfy {
                (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains($0)
                    || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0)
            }
    }
}

/// What an Events API delivery is.
public enum SlackEnvelope: Hashable, Sendable {
    case urlVerification(challenge: String)
    /// `inReplyTo`: a DM line written in the thread of another DM message (`channel/ts` of that message).
    case event(eventID: String, action: InboundAction, inReplyTo: String? = nil)
    /// A well-formed delivery of a type Airlock does not use.
    case other(type: String)
}

/// Parsing of Slack's inbound formats into domain actions. Nothing here runs before the signature check.
public enum SlackInbound {
    struct EnvelopeDTO: Decodable {
        var type: String
        var challenge: String?
        var event_id: String?
        var team_id: String?
        var api_app_id: String?
        var event: EventDTO?
    }

    struct EventDTO: Decodable {
        var type: String
        var user: String?
        var text: String?
        var ts: String?
        var thread_ts: String?
        var channel: String?
        var channel_type: String?
        var bot_id: String?
        var subtype: String?
    }

    /// Parses an Events API JSON body.
    public static func parseEvents(_ body: Data, bot: SlackBotIdentity?) throws(SlackParseError) -> SlackEnvelope {
        let envelope: EnvelopeDTO
        do {
            envelope = try JSONDecoder().decode(EnvelopeDTO.self, from: body)
        } catch is DecodingError {
            if (try? JSONSerialization.jsonObject(with: body)) == nil {
                throw SlackParseError("body is not valid JSON")
            }
            throw SlackParseError("JSON body has no string field \"type\"")
        } catch {
            throw SlackParseError("body is not valid JSON")
        }
        switch envelope.type {
        case "url_verification":
            guard let challenge = envelope.challenge else {
                throw SlackParseError("url_verification without challenge")
            }
            return .urlVerification(challenge: challenge)
        case "event_callback":
            guard let eventID = envelope.event_id, let event = envelope.event else {
                return .other(type: "event_callback without event_id or event")
            }
            guard SlackIdentifiers.isEventID(eventID) else {
                return .other(type: "event_callback with an invalid event_id")
            }
            if let reason = foreignWorkspace(team: envelope.team_id, app: envelope.api_app_id, bot: bot) {
                return .event(eventID: eventID, action: .ignored(reason: reason))
            }
            let action = action(for: event, bot: bot)
            var inReplyTo: String?
            if case .question(_, _, nil) = action, event.channel_type == "im", let channel = event.channel,
                let parent = event.thread_ts, parent != event.ts
            {
                inReplyTo = "\(channel)/\(parent)"
            }
            return .event(eventID: eventID, action: action, inReplyTo: inReplyTo)
        default:
            return .other(type: envelope.type)
        }
    }

    static func action(for event: EventDTO, bot: SlackBotIdentity?) -> InboundAction {
        if event.bot_id != nil || (bot != nil && event.user == bot?.userID) {
            return .ignored(reason: "message from a bot")
        }
        if let subtype = event.subtype { return .ignored(reason: "message subtype \(subtype)") }
        guard let user = event.user, let channel = event.channel, let ts = event.ts else {
            return .ignored(reason: "\(event.type) without user, channel or ts")
        }
        guard SlackIdentifiers.isUser(user) else {
            return .ignored(reason: "invalid_identifier: user is not a Slack user id")
        }
        guard SlackIdentifiers.isChannel(channel) else {
            return .ignored(reason: "invalid_identifier: channel is not a Slack conversation id")
        }
        guard SlackIdentifiers.isTimestamp(ts), event.thread_ts.map(SlackIdentifiers.isTimestamp) ?? true else {
            return .ignored(reason: "invalid_identifier: ts or thread_ts is not a Slack message timestamp")
        }
        // Deliveries from other workspaces were refused before this: the actor acts from the bot's workspace.
        let actor = Actor(PersonID(platform: .slack, id: user), scope: bot?.teamID)
        let text = stripMentions(event.text ?? "", bot: bot)
        switch event.type {
        case "app_mention":
            guard !text.isEmpty else { return .ignored(reason: "mention without a question") }
            // A mention inside a thread: the question is the thread's; the agent reads it up to the mention.
            let inThread = event.thread_ts != nil && event.thread_ts != ts
            let target = ThreadRef(
                platform: .slack,
                channel: channel,
                thread: event.thread_ts ?? ts,
                mention: inThread ? ts : nil
            )
            return .question(asker: actor, text: text, target: target)
        case "message" where event.channel_type == "im":
            guard !text.isEmpty else { return .ignored(reason: "empty direct message") }
            if let command = ChatCommand.parseDirectMessage(text) {
                return .command(actor: actor, command: command, reply: .directMessage)
            }
            return .question(asker: actor, text: text, target: nil)
        default:
            return .ignored(reason: "event type \(event.type)")
        }
    }

    /// Removes `<@U…>` mentions of the bot (all user mentions when the bot id is unknown).
    static func stripMentions(_ text: String, bot: SlackBotIdentity?) -> String {
        var result = text
        if let bot {
            result = result.replacingOccurrences(of: "<@\(bot.userID)>", with: "")
        } else {
            while let start = result.range(of: "<@"), let end = result[start.upperBound...].firstIndex(of: ">") {
                result.removeSubrange(start.lowerBound...end)
            }
        }
        return result.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// Decodes an `application/x-www-form-urlencoded` body.
    public static func formFields(_ body: Data) -> [String: String] { FormBody.fields(body) }

    /// A slash command: who sent which command with which text.
    public struct SlashCommand: Hashable, Sendable {
        public var userID: String
        public var channelID: String?
        public var command: String
        public var text: String
        public var teamID: String?
        public var appID: String?
        public var triggerID: String?
    }

    /// Reads a slash-command form; throws when a required field is missing.
    public static func parseSlashCommand(_ fields: [String: String]) throws(SlackParseError) -> SlashCommand {
        var missing: [String] = []
        if (fields["user_id"] ?? "").isEmpty { missing.append("user_id") }
        if (fields["command"] ?? "").isEmpty { missing.append("command") }
        guard missing.isEmpty, let user = fields["user_id"], let command = fields["command"] else {
            throw SlackParseError("slash command form is missing \(missing.joined(separator: ", "))")
        }
        guard SlackIdentifiers.isUser(user) else {
            throw SlackParseError("user_id is not a Slack user id", invalidIdentifier: true)
        }
        guard SlackIdentifiers.isCommandName(command) else {
            throw SlackParseError("command is not a Slack slash command name", invalidIdentifier: true)
        }
        if let channel = fields["channel_id"], !channel.isEmpty, !SlackIdentifiers.isChannel(channel) {
            throw SlackParseError("channel_id is not a Slack conversation id", invalidIdentifier: true)
        }
        return SlashCommand(
            userID: user,
            channelID: fields["channel_id"],
            command: command,
            text: fields["text"] ?? "",
            teamID: fields["team_id"],
            appID: fields["api_app_id"],
            triggerID: fields["trigger_id"]
        )
    }

    struct InteractionDTO: Decodable {
        struct User: Decodable { var id: String }
        struct Team: Decodable { var id: String }
        struct Action: Decodable {
            var action_id: String
            var value: String?
        }
        var type: String
        var user: User?
        var team: Team?
        var api_app_id: String?
        var trigger_id: String?
        var actions: [Action]?
    }

    /// Reads an interactivity payload (`payload=<json>`) into a command; `.ignored` for other payload types.
    public static func parseInteraction(
        _ fields: [String: String],
        bot: SlackBotIdentity? = nil
    ) throws(SlackParseError)
        -> (action: InboundAction, triggerID: String?)
    {
        let dto = try interaction(fields)
        if let reason = foreignWorkspace(team: dto.team?.id, app: dto.api_app_id, bot: bot) {
            return (.ignored(reason: reason), dto.trigger_id)
        }
        return (try action(for: dto, team: dto.team?.id ?? bot?.teamID), dto.trigger_id)
    }

    static func interaction(_ fields: [String: String]) throws(SlackParseError) -> InteractionDTO {
        guard let payload = fields["payload"] else { throw SlackParseError("interaction form has no payload field") }
        let dto: InteractionDTO
        do {
            dto = try JSONDecoder().decode(InteractionDTO.self, from: Data(payload.utf8))
        } catch {
            throw SlackParseError("interaction payload is not valid JSON with a type")
        }
        return dto
    }

    static func action(for dto: InteractionDTO, team: String? = nil) throws(SlackParseError) -> InboundAction {
        guard dto.type == "block_actions" else { return .ignored(reason: "interaction type \(dto.type)") }
        guard let user = dto.user?.id, let action = dto.actions?.first else {
            return .ignored(reason: "block_actions without user or action")
        }
        guard SlackIdentifiers.isUser(user) else {
            return .ignored(reason: "invalid_identifier: user is not a Slack user id")
        }
        let actor = Actor(PersonID(platform: .slack, id: user), scope: team)
        guard let value = action.value, let (draftID, version) = MessageAction.parse(value: value) else {
            return .command(
                actor: actor,
                command: .failure(.malformedDraftID(action.value ?? "")),
                reply: .directMessage
            )
        }
        let command: DraftCommand
        switch action.action_id {
        case "publish": command = .publish(version: version)
        case "approve": command = .approve(version: version)
        case "reject": command = .reject(reason: nil)
        default:
            return .command(actor: actor, command: .failure(.unknownCommand(action.action_id)), reply: .directMessage)
        }
        return .command(
            actor: actor,
            command: .success(.onDraft(rawID: draftID.rawValue, command: command)),
            reply: .directMessage
        )
    }

    /// Fields that are credentials or capabilities and never go into the audit log.
    static let secretKeys: Set<String> = ["token", "response_url", "trigger_id", "challenge"]

    /// The body as canonical JSON with secret fields replaced by `[redacted]`.
    public static func redactedJSON(_ body: Data) -> String { RedactedJSON.of(body, secrets: secretKeys) }

    /// Form fields as canonical JSON, secrets redacted; a `payload` field is itself redacted JSON.
    public static func redactedForm(_ fields: [String: String]) -> String {
        RedactedJSON.ofForm(fields, secrets: secretKeys, jsonFields: ["payload"])
    }

    /// Why a delivery from another workspace or app is not acted on; nil when it is this app's own.
    static func foreignWorkspace(team: String?, app: String?, bot: SlackBotIdentity?) -> String? {
        if let expected = bot?.teamID, let team, team != expected {
            return "foreign_workspace: team_id is not the workspace of this bot token"
        }
        if let expected = bot?.appID, let app, app != expected {
            return "foreign_workspace: api_app_id is not this app"
        }
        return nil
    }
}
