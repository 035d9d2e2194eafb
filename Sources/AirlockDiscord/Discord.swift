public import AirlockDomain
public import AirlockWebhookKit
import Crypto
public import Foundation
import Logging
import NIOHTTP1

extension PlatformName {
    public static let discord = PlatformName("discord")
}

/// Discord snowflakes: 15–21 digits.
enum DiscordIDs {
    static func isSnowflake(_ text: String) -> Bool {
        (15...21).contains(text.utf8.count) && text.utf8.allSatisfy { (48...57).contains($0) }
    }
}

/// Discord as a platform module: `AIRLOCK_DISCORD_APPLICATION_ID`, `_PUBLIC_KEY`, `_BOT_TOKEN` (+ `_API_URL`).
public struct DiscordModule: PlatformModule {
    public static let name = PlatformName.discord
    /// Snowflake ids; a message holds 2,000 characters, less room for the footer naming requester and approvers;
    /// a scope is a guild id.
    public static let traits = PlatformTraits(
        idCase: .sensitive,
        maxPublicLength: 1_700,
        scopeName: "guild id",
        neutraliser: Neutraliser(massMentions: ["@everyone", "@here"], codeLinks: false)
    )
    public var applicationID: String
    public var publicKey: String
    public var botToken: String
    public var apiURL: String

    public init(
        applicationID: String,
        publicKey: String,
        botToken: String,
        apiURL: String = "https://discord.com/api/v10"
    ) {
        self.applicationID = applicationID
        self.publicKey = publicKey
        self.botToken = botToken
        self.apiURL = apiURL
    }

    public static let settings: [Setting] = [
        Setting(
            "discord.application_id",
            enables: true,
            help: "Discord application id; with the two below, enables Discord"
        ),
        Setting(
            "discord.public_key",
            enables: true,
            help: "the application's Ed25519 public key (interactions are verified with it)"
        ),
        Setting("discord.bot_token", secret: true, enables: true, help: "bot token"),
        Setting("discord.api_url", default: "https://discord.com/api/v10", help: "REST API base"),
    ]

    public static func configure(_ settings: any SettingsReader) throws -> DiscordModule? {
        guard
            let values = try PlatformSettingsError.require(
                Self.settings,
                platform: "Discord",
                from: settings
            )
        else { return nil }
        guard let key = Hex.decode(values["discord.public_key"]!), key.count == 32 else {
            throw PlatformSettingsError("AIRLOCK_DISCORD_PUBLIC_KEY must be the application's 64-hex-digit public key")
        }
        return DiscordModule(
            applicationID: values["discord.application_id"]!,
            publicKey: values["discord.public_key"]!,
            botToken: values["discord.bot_token"]!,
            apiURL: settings.string("discord.api_url") ?? "https://discord.com/api/v10"
        )
    }

    public func client(_ context: PlatformContext) -> APIClient {
        APIClient(
            http: context.http,
            baseURL: apiURL,
            headers: [("Authorization", "Bot \(botToken)")],
            platform: .discord,
            record: context.recordAPICall
        )
    }

    public func start(_ context: PlatformContext) async throws -> PlatformBinding {
        let api = client(context)
        struct Me: Decodable { var id: String? }
        let me: Me
        do {
            me = try await api.decode(Me.self, .GET, "/users/@me")
        } catch {
            throw PlatformSettingsError(
                "Discord GET /users/@me failed (\(error)): check AIRLOCK_DISCORD_BOT_TOKEN and AIRLOCK_DISCORD_API_URL"
            )
        }
        guard let botID = me.id else {
            throw PlatformSettingsError("Discord /users/@me has no id: check AIRLOCK_DISCORD_BOT_TOKEN")
        }
        guard let adapter = DiscordAdapter(publicKeyHex: publicKey) else {
            throw PlatformSettingsError("AIRLOCK_DISCORD_PUBLIC_KEY is not an Ed25519 public key")
        }
        context.logger.info("Discord enabled", metadata: ["discord.bot_user": "\(botID)"])
        return PlatformBinding(inbound: adapter, outbound: DiscordPlatform(api: api, botID: botID))
    }
}

/// `/discord/interactions`: Ed25519-signed interactions (PING, application commands).
public struct DiscordAdapter: InboundAdapter {
    public let platform = PlatformName.discord
    public let routes = [InboundRoute(.post, "/discord/interactions")]
    let key: Curve25519.Signing.PublicKey
    /// Airlock's replay window on `X-Signature-Timestamp` (Discord does not specify one).
    let window: TimeInterval = 300

    public init?(publicKeyHex: String) {
        guard let bytes = Hex.decode(publicKeyHex),
            let key = try? Curve25519.Signing.PublicKey(rawRepresentation: bytes)
        else {
            return nil
        }
        self.key = key
    }

    public func verify(_ request: InboundRequest, now: Date) throws(InboundRefusal) {
        guard let signature = request.header("X-Signature-Ed25519"),
            let timestamp = request.header("X-Signature-Timestamp")
        else {
            throw .badSignature("X-Signature-Ed25519 or X-Signature-Timestamp is missing")
        }
        guard let bytes = Hex.decode(signature), bytes.count == 64 else {
            throw .badSignature("X-Signature-Ed25519 is not 128 hex digits")
        }
        var message = Data(timestamp.utf8)
        message.append(request.body)
        guard key.isValidSignature(bytes, for: message) else {
            throw .badSignature("X-Signature-Ed25519 does not match")
        }
        guard let seconds = Double(timestamp), abs(now.timeIntervalSince1970 - seconds) <= window else {
            throw .badSignature("X-Signature-Timestamp is more than 5 minutes from now")
        }
    }

    struct Interaction: Decodable {
        struct User: Decodable {
            var id: String
            var bot: Bool?
            var system: Bool?
        }
        struct Member: Decodable { var user: User? }
        struct Option: Decodable {
            var name: String
            var value: JSONValue?
        }
        struct ResolvedMessage: Decodable {
            var id: String
            var content: String?
        }
        struct Resolved: Decodable {
            var messages: [String: ResolvedMessage]?
        }
        struct DataDTO: Decodable {
            var name: String?
            /// 1 slash command, 3 message command (`target_id` is the message it was used on).
            var type: Int?
            var options: [Option]?
            var target_id: String?
            var resolved: Resolved?
        }
        struct Channel: Decodable {
            var id: String?
            var type: Int?
        }
        var type: Int
        var id: String?
        var channel_id: String?
        var channel: Channel?
        var guild_id: String?
        var member: Member?
        var user: User?
        var data: DataDTO?
    }

    /// A string, number or bool option value, as text.
    enum JSONValue: Decodable {
        case text(String)
        init(from decoder: any Decoder) throws {
            let container = try decoder.singleValueContainer()
            if let string = try? container.decode(String.self) {
                self = .text(string)
            } else if let int = try? container.decode(Int.self) {
                self = .text(String(int))
            } else if let bool = try? container.decode(Bool.self) {
                self = .text(String(bool))
            } else {
                self = .text("")
            }
        }
        var text: String { if case .text(let value) = self { value } else { "" } }
    }

    public func parse(_ request: InboundRequest) throws(InboundRefusal) -> InboundDelivery {
        guard request.mediaType == "application/json" else {
            throw .unsupportedMediaType(expected: "application/json", got: request.mediaType)
        }
        let interaction: Interaction
        do {
            interaction = try JSONDecoder().decode(Interaction.self, from: request.body)
        } catch {
            throw .badRequest("body is not a Discord interaction", recordedBody: "[\(request.body.count) bytes]")
        }
        let redacted = RedactedJSON.of(request.body, secrets: ["token"])
        if interaction.type == 1 {
            return InboundDelivery(
                items: [InboundItem(action: .ignored(reason: "ping"))],
                redactedBody: redacted,
                immediateReply: .json(["type": 1])
            )
        }
        guard interaction.type == 2, let name = interaction.data?.name, let id = interaction.id,
            DiscordIDs.isSnowflake(id)
        else {
            return InboundDelivery(
                items: [InboundItem(action: .ignored(reason: "interaction type \(interaction.type)"))],
                redactedBody: redacted
            )
        }
        let key = DeliveryKey(platform: .discord, key: "interaction:" + id)
        guard let user = interaction.member?.user ?? interaction.user, DiscordIDs.isSnowflake(user.id) else {
            return InboundDelivery(
                items: [
                    InboundItem(
                        action: .refused(
                            reason: "invalid_identifier: user",
                            told: "Airlock cannot act on this command: no valid user."
                        ),
                        delivery: key
                    )
                ],
                redactedBody: redacted
            )
        }
        let actor = Actor(
            PersonID(platform: .discord, id: user.id),
            isBot: (user.bot ?? false) || (user.system ?? false),
            scope: interaction.guild_id
        )
        let options = interaction.data?.options ?? []
        // "Ask Airlock" on a message (a message command): the message is the question, and the public answer
        // replies to it.
        if interaction.data?.type == 3 {
            guard interaction.guild_id != nil, let channel = interaction.channel_id, DiscordIDs.isSnowflake(channel),
                let targetID = interaction.data?.target_id, DiscordIDs.isSnowflake(targetID),
                let question = interaction.data?.resolved?.messages?[targetID]?.content?.trimmingCharacters(
                    in: .whitespacesAndNewlines
                ),
                !question.isEmpty
            else {
                return InboundDelivery(
                    items: [
                        InboundItem(
                            action: .refused(
                                reason: "message command without a readable message",
                                told: "Airlock can answer only a message with text, in a server channel."
                            ),
                            delivery: key
                        )
                    ],
                    redactedBody: redacted
                )
            }
            let target = ThreadRef(platform: .discord, channel: channel, thread: targetID, mention: id)
            return InboundDelivery(
                items: [InboundItem(action: .question(asker: actor, text: question, target: target), delivery: key)],
                redactedBody: redacted
            )
        }
        if name == "ask" {
            let question =
                options.first { $0.name == "question" }?.value?.text.trimmingCharacters(in: .whitespacesAndNewlines)
                ?? ""
            guard !question.isEmpty else {
                return InboundDelivery(
                    items: [
                        InboundItem(
                            action: .refused(reason: "empty question", told: "Ask a question: /ask question:<text>"),
                            delivery: key
                        )
                    ],
                    redactedBody: redacted
                )
            }
            var target: ThreadRef?
            if interaction.guild_id != nil, let channel = interaction.channel_id, DiscordIDs.isSnowflake(channel) {
                // In a thread or forum post (channel types 10-12) the agent reads the thread up to the command.
                let inThread = interaction.channel?.type.map(Self.threadTypes.contains) ?? false
                target = ThreadRef(platform: .discord, channel: channel, thread: "-", mention: inThread ? id : nil)
            }
            return InboundDelivery(
                items: [InboundItem(action: .question(asker: actor, text: question, target: target), delivery: key)],
                redactedBody: redacted
            )
        }
        let text = options.compactMap { $0.value?.text }.joined(separator: " ")
        let action = InboundAction.command(
            actor: actor,
            command: ChatCommand.parse(name: name, text: text),
            reply: .inResponse
        )
        return InboundDelivery(items: [InboundItem(action: action, delivery: key)], redactedBody: redacted)
    }

    /// Discord's thread channel types: announcement, public and private threads (forum posts are public threads).
    static let threadTypes: Set<Int> = [10, 11, 12]

    struct Message: Encodable {
        struct Data: Encodable {
            struct Mentions: Encodable { var parse: [String] = [] }
            var content: String
            var flags = 64
            var allowed_mentions = Mentions()
        }
        var type = 4
        var data: Data
    }

    /// Interaction replies are ephemeral (flag 64) and mention nobody.
    public func reply(
        to results: [InboundResult],
        for delivery: InboundDelivery,
        request: InboundRequest
    ) -> InboundResponse {
        if let immediate = delivery.immediateReply { return immediate }
        let text: String =
            switch results.first {
            case .replied(let text, _): text
            case .accepted(let id?): "Got it: your answer (draft `\(id)`) will come by DM, only to you."
            case .duplicate: "This interaction was already received; nothing was done again."
            case .ignored(let reason): "Airlock cannot answer this privately (\(reason)); nothing was posted."
            default: "Received."
            }
        return .json(Message(data: .init(content: String(text.prefix(2000)))))
    }
}

/// Discord's outbound side: DMs through `POST /users/@me/channels`, the public answer as a channel message
/// (a reply with `message_reference` when there is a message to reply to), mentions disabled.
public actor DiscordPlatform: ChatPlatform {
    public nonisolated let name = PlatformName.discord
    let api: APIClient
    let botID: String
    private var directChannels: [String: String] = [:]

    public init(api: APIClient, botID: String) {
        self.api = api
        self.botID = botID
    }

    static let maxContent = 2000

    public func sendDirectMessage(_ message: OutboundMessage, to person: PersonID) async throws -> DeliveredMessage {
        guard person.platform == .discord else { throw PlatformError.permanent("not a Discord user: \(person)") }
        let channel: String
        if let known = directChannels[person.id] {
            channel = known
        } else {
            struct Created: Decodable { var id: String? }
            let created = try await api.send(
                .POST,
                "/users/@me/channels",
                body: ["recipient_id": person.id],
                as: Created.self
            )
            guard let id = created.id else {
                throw PlatformError.permanent("users/@me/channels: no channel id")
            }
            directChannels[person.id] = id
            channel = id
        }
        // A DM longer than one Discord message goes as several (DMs are at-least-once anyway).
        var last = ""
        for chunk in Self.chunks(message.text) { last = try await send(channel: channel, content: chunk, replyTo: nil) }
        return DeliveredMessage(messageID: last)
    }

    public func postPublicReply(
        _ text: String,
        in thread: ThreadRef,
        marker: PublishMarker
    ) async throws -> DeliveredMessage {
        guard text.count <= Self.maxContent else {
            throw PlatformError.permanent(
                "the answer is longer than Discord's \(Self.maxContent) characters; shorten it with /revise"
            )
        }
        // SUPPRESS_EMBEDS: no preview of a link nobody approved.
        let id = try await send(
            channel: thread.channel,
            content: text,
            replyTo: thread.thread == "-" ? nil : thread.thread,
            flags: Self.suppressEmbeds
        )
        return DeliveredMessage(messageID: id, permalink: "https://discord.com/channels/@me/\(thread.channel)/\(id)")
    }

    public func findPublishedReply(in thread: ThreadRef, marker: PublishMarker) async throws -> DeliveredMessage? {
        let footer = marker.footer
        var before: String?
        for _ in 0..<20 {
            var query = ["limit": "100"]
            if let before { query["before"] = before }
            // Typed: a missing or mistyped field is an error (retried), never "no earlier post" and a second post.
            let page = try await api.decode([Message].self, .GET, "/channels/\(thread.channel)/messages", query: query)
            for message in page where message.author.id == botID && message.content.contains(footer) {
                return DeliveredMessage(
                    messageID: message.id,
                    permalink: "https://discord.com/channels/@me/\(thread.channel)/\(message.id)"
                )
            }
            guard page.count == 100, let oldest = page.last?.id else { return nil }
            before = oldest
        }
        return nil
    }

    public func postReviewRequest(_ message: OutboundMessage, in channel: String) async throws -> DeliveredMessage {
        var last = ""
        for chunk in Self.chunks(message.text) { last = try await send(channel: channel, content: chunk, replyTo: nil) }
        return DeliveredMessage(messageID: last)
    }

    /// Discord's `SUPPRESS_EMBEDS` message flag (1 << 2).
    static let suppressEmbeds = 4

    private func send(channel: String, content: String, replyTo: String?, flags: Int? = nil) async throws -> String {
        struct NewMessage: Encodable {
            struct AllowedMentions: Encodable { var parse: [String] = [] }
            struct Reference: Encodable {
                var message_id: String
                var fail_if_not_exists = false
            }
            var content: String
            var allowed_mentions = AllowedMentions()
            var flags: Int?
            var message_reference: Reference?
        }
        let body = NewMessage(content: content, flags: flags, message_reference: replyTo.map { .init(message_id: $0) })
        // A 2xx without an id may still have posted: transient, reconciled before any second post.
        return try await api.send(.POST, "/channels/\(channel)/messages", body: body, as: Message.self).id
    }

    struct ThreadChannel: Decodable {
        var id: String
        var type: Int
        var parent_id: String?
    }

    struct Author: Decodable {
        var id: String
        var username: String?
        var global_name: String?
        var bot: Bool?
    }

    /// The thread up to the command (`thread.mention`, the interaction's snowflake): in a thread or forum post, its
    /// messages (`GET /channels/{id}/messages?before=`, paged, newest first) and its starter message (in the parent
    /// channel for a thread started from a message); for a message command, the message it was used on. Message text
    /// needs the app's Message Content intent: without it Discord returns it empty and it is left out.
    public func readThread(_ thread: ThreadRef, limits: ThreadLimits) async throws -> [ThreadMessage] {
        guard let until = thread.mention else { return [] }
        var found: [Message] = []
        let channel = try await api.decode(ThreadChannel.self, .GET, "/channels/\(thread.channel)")
        if DiscordAdapter.threadTypes.contains(channel.type) {
            var before = until
            for _ in 0..<4 {
                let page = try await api.decode(
                    [Message].self,
                    .GET,
                    "/channels/\(thread.channel)/messages",
                    query: ["before": before, "limit": "100"]
                )
                found += page
                guard page.count == 100, found.count < limits.maxMessages * 2, let oldest = page.last?.id else { break }
                before = oldest
            }
            if !found.contains(where: { $0.id == channel.id }), let parent = channel.parent_id {
                if let starter = try? await api.decode(
                    Message.self,
                    .GET,
                    "/channels/\(parent)/messages/\(channel.id)"
                ) {
                    found.append(starter)
                }
            }
        }
        if thread.thread != "-", !found.contains(where: { $0.id == thread.thread }) {
            found.append(
                try await api.decode(Message.self, .GET, "/channels/\(thread.channel)/messages/\(thread.thread)")
            )
        }
        let ordered =
            found
            .filter { $0.author.id != botID && !($0.author.bot ?? false) && !$0.content.isEmpty }
            .sorted { (UInt64($0.id) ?? 0) < (UInt64($1.id) ?? 0) }
        return limits.bound(
            ordered.map {
                ThreadMessage(
                    id: $0.id,
                    author: $0.author.global_name ?? $0.author.username ?? $0.author.id,
                    text: $0.content
                )
            }
        )
    }

    /// A channel message as Discord returns it (the fields Airlock reads).
    struct Message: Decodable {
        var id: String
        var content: String
        var author: Author
    }

    static func chunks(_ text: String) -> [String] { TextChunks.split(text, limit: maxContent - 50) }
}

/// `airlock commands register discord`: the application commands (`Commands/discord/commands.json`).
public enum DiscordCommands {
    public static func register(_ module: DiscordModule, commands: Data, context: PlatformContext) async throws -> Int {
        guard let list = try? JSONSerialization.jsonObject(with: commands) as? [Any] else {
            throw PlatformSettingsError("the Discord command file must be a JSON array of commands")
        }
        _ = try await module.client(context).call(
            .PUT,
            "/applications/\(module.applicationID)/commands",
            json: commands
        )
        return list.count
    }
}
