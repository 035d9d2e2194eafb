public import AirlockDomain
public import AirlockWebhookKit
import Crypto
public import Foundation
import Logging
import NIOHTTP1
import Synchronization

extension PlatformName {
    public static let mattermost = PlatformName("mattermost")
}

/// Mattermost ids: 26 lower-case letters and digits.
enum MattermostIDs {
    static func isID(_ text: String) -> Bool {
        text.utf8.count == 26 && text.utf8.allSatisfy { (97...122).contains($0) || (48...57).contains($0) }
    }
}

/// Mattermost as a platform module: `AIRLOCK_MATTERMOST_URL`, `_BOT_TOKEN`, `_COMMAND_TOKEN`, `_WEBHOOK_TOKEN`.
public struct MattermostModule: PlatformModule {
    public static let name = PlatformName.mattermost
    /// Ids are 26 lower-case characters; a post holds 16,383 characters; a scope is a team id.
    public static let traits = PlatformTraits(
        idCase: .lower,
        maxPublicLength: 16_000,
        scopeName: "team id",
        neutraliser: Neutraliser(massMentions: ["@channel", "@all", "@here"])
    )
    public var serverURL: String
    public var botToken: String
    public var commandToken: String
    public var webhookToken: String

    public init(serverURL: String, botToken: String, commandToken: String, webhookToken: String) {
        self.serverURL = serverURL
        self.botToken = botToken
        self.commandToken = commandToken
        self.webhookToken = webhookToken
    }

    public static let settings: [Setting] = [
        Setting(
            "mattermost.url",
            enables: true,
            help: "Mattermost server URL; with the three tokens, enables Mattermost"
        ),
        Setting("mattermost.bot_token", secret: true, enables: true, help: "bot account access token"),
        Setting("mattermost.command_token", secret: true, enables: true, help: "token of the `/airlock` slash command"),
        Setting(
            "mattermost.webhook_token",
            secret: true,
            enables: true,
            help: "token of the outgoing webhook that carries mentions"
        ),
    ]

    public static func configure(_ settings: any SettingsReader) throws -> MattermostModule? {
        guard
            let values = try PlatformSettingsError.require(
                Self.settings,
                platform: "Mattermost",
                from: settings
            )
        else { return nil }
        return MattermostModule(
            serverURL: values["mattermost.url"]!,
            botToken: values["mattermost.bot_token"]!,
            commandToken: values["mattermost.command_token"]!,
            webhookToken: values["mattermost.webhook_token"]!
        )
    }

    public func start(_ context: PlatformContext) async throws -> PlatformBinding {
        let api = APIClient(
            http: context.http,
            baseURL: serverURL,
            headers: [("Authorization", "Bearer \(botToken)")],
            platform: .mattermost,
            record: context.recordAPICall
        )
        struct Me: Decodable {
            var id: String?
            var username: String?
        }
        let me: Me
        do {
            me = try await api.decode(Me.self, .GET, "/api/v4/users/me")
        } catch {
            throw PlatformSettingsError(
                "Mattermost GET /api/v4/users/me failed (\(error)): check AIRLOCK_MATTERMOST_URL and AIRLOCK_MATTERMOST_BOT_TOKEN"
            )
        }
        guard let id = me.id, let username = me.username else {
            throw PlatformSettingsError("Mattermost /users/me has no id: check AIRLOCK_MATTERMOST_BOT_TOKEN")
        }
        context.logger.info("Mattermost enabled", metadata: ["mattermost.bot_user": "\(username)"])
        return PlatformBinding(
            inbound: MattermostAdapter(
                botUserID: id,
                botUsername: username,
                commandToken: commandToken,
                webhookToken: webhookToken,
                api: api
            ),
            outbound: MattermostPlatform(api: api, botUserID: id, serverURL: serverURL)
        )
    }
}

/// `/mattermost/webhook` (outgoing webhook: mentions in public channels) and `/mattermost/commands` (`/airlock …`).
public struct MattermostAdapter: InboundAdapter {
    public let platform = PlatformName.mattermost
    public let routes = [InboundRoute(.post, "/mattermost/webhook"), InboundRoute(.post, "/mattermost/commands")]
    let botUserID: String
    let botUsername: String
    let commandToken: String
    let webhookToken: String
    /// Looks up whether an account is a bot (Mattermost's payloads do not say); nil in parse-only uses (fuzzing).
    let api: APIClient?
    let accounts = MattermostAccounts()

    static let secretKeys: Set<String> = ["token", "response_url", "trigger_id"]

    public init(
        botUserID: String,
        botUsername: String,
        commandToken: String,
        webhookToken: String,
        api: APIClient? = nil
    ) {
        self.botUserID = botUserID
        self.botUsername = botUsername
        self.commandToken = commandToken
        self.webhookToken = webhookToken
        self.api = api
    }

    struct User: Decodable {
        var id: String
        var is_bot: Bool?
    }

    /// Mattermost's webhooks do not say whether the sender is a bot account: ask `GET /users/{id}` (cached). An
    /// account that cannot be checked is refused, never taken for a human.
    public func admit(_ item: InboundItem) async -> InboundItem {
        guard let api else { return item }
        let actor: Actor
        switch item.action {
        case .command(let who, _, _), .question(let who, _, _): actor = who
        default: return item
        }
        var isBot = accounts.isBot(actor.person.id)
        if isBot == nil {
            do {
                let user = try await api.decode(User.self, .GET, "/api/v4/users/\(actor.person.id)")
                isBot = user.is_bot ?? false
                accounts.set(actor.person.id, isBot: isBot!)
            } catch {
                return InboundItem(
                    action: .refused(
                        reason: "account_unchecked: \(error)",
                        told:
                            "Airlock could not check your account with Mattermost just now, so it did nothing. Try again in a minute."
                    ),
                    delivery: item.delivery,
                    detail: item.detail
                )
            }
        }
        guard isBot == true else { return item }
        var bot = actor
        bot.isBot = true
        switch item.action {
        case .command(_, let command, let reply):
            return InboundItem(
                action: .command(actor: bot, command: command, reply: reply),
                delivery: item.delivery,
                detail: item.detail
            )
        default:
            return InboundItem(
                action: .ignored(reason: "a bot account's post"),
                delivery: item.delivery,
                detail: item.detail
            )
        }
    }

    /// Form (the default) or JSON body, as string fields.
    static func fields(_ request: InboundRequest) -> [String: String] {
        if request.mediaType == "application/json",
            let object = try? JSONSerialization.jsonObject(with: request.body) as? [String: Any]
        {
            return object.reduce(into: [:]) { result, entry in result[entry.key] = object.string(entry.key) }
        }
        return FormBody.fields(request.body)
    }

    public func verify(_ request: InboundRequest, now: Date) throws(InboundRefusal) {
        let expected = request.path == "/mattermost/commands" ? commandToken : webhookToken
        var presented = Self.fields(request)["token"] ?? ""
        if let header = request.header("Authorization"), header.hasPrefix("Token ") {
            presented = String(header.dropFirst("Token ".count))
        }
        guard SecretCompare.equal(presented, expected) else { throw .badSignature("missing or wrong Mattermost token") }
    }

    public func parse(_ request: InboundRequest) throws(InboundRefusal) -> InboundDelivery {
        guard ["application/json", "application/x-www-form-urlencoded"].contains(request.mediaType) else {
            throw .unsupportedMediaType(expected: "application/x-www-form-urlencoded", got: request.mediaType)
        }
        let fields = Self.fields(request)
        let redacted = RedactedJSON.ofForm(fields, secrets: Self.secretKeys)
        guard let user = fields["user_id"], !user.isEmpty else {
            throw .badRequest("user_id is missing", recordedBody: redacted)
        }
        guard MattermostIDs.isID(user) else {
            let reason = "invalid_identifier: user_id is not a Mattermost id"
            let action: InboundAction =
                request.path == "/mattermost/commands"
                ? .refused(reason: reason, told: "Airlock cannot act on this command: user_id is not a Mattermost id.")
                : .ignored(reason: reason)
            return InboundDelivery(items: [InboundItem(action: action)], redactedBody: redacted)
        }
        let team = fields["team_id"].flatMap { MattermostIDs.isID($0) || !$0.isEmpty ? $0 : nil }
        let actor = Actor(PersonID(platform: .mattermost, id: user), scope: team, displayName: fields["user_name"])
        if request.path == "/mattermost/commands" {
            let command = fields["command"] ?? "/airlock"
            let action = InboundAction.command(
                actor: actor,
                command: ChatCommand.parse(name: command, text: fields["text"] ?? ""),
                reply: .inResponse
            )
            // The trigger id when there is one; otherwise what was sent (a replayed form is the same command).
            let trigger = fields["trigger_id"] ?? ""
            let key = DeliveryKey(
                platform: .mattermost,
                key: trigger.isEmpty ? "body:" + Hex.encode(SHA256.hash(data: request.body)) : "trigger:" + trigger
            )
            return InboundDelivery(items: [InboundItem(action: action, delivery: key)], redactedBody: redacted)
        }
        // Outgoing webhook: a post in a public channel.
        guard user != botUserID else {
            return InboundDelivery(
                items: [InboundItem(action: .ignored(reason: "the bot's own post"))],
                redactedBody: redacted
            )
        }
        guard let channel = fields["channel_id"], MattermostIDs.isID(channel), let post = fields["post_id"],
            MattermostIDs.isID(post)
        else {
            return InboundDelivery(
                items: [InboundItem(action: .ignored(reason: "invalid_identifier: channel_id or post_id"))],
                redactedBody: redacted
            )
        }
        let text = fields["text"] ?? ""
        let (question, mentioned) = MentionMatcher.strip(botUsername.lowercased(), in: text)
        guard mentioned else {
            return InboundDelivery(
                items: [
                    InboundItem(
                        action: .ignored(reason: "no mention of @\(botUsername)"),
                        delivery: DeliveryKey(platform: .mattermost, key: "post:" + post)
                    )
                ],
                redactedBody: redacted
            )
        }
        let action: InboundAction =
            question.isEmpty
            ? .ignored(reason: "mention without a question")
            : .question(
                asker: actor,
                text: question,
                target: ThreadRef(platform: .mattermost, channel: channel, thread: post, mention: post)
            )
        // `timestamp` (ms) is the post's creation time: older than the dedupe window is refused as a possible replay.
        let sentAt = fields["timestamp"].flatMap(Double.init).map {
            Date(timeIntervalSince1970: $0 > 1e11 ? $0 / 1000 : $0)
        }
        return InboundDelivery(
            items: [
                InboundItem(
                    action: action,
                    delivery: DeliveryKey(platform: .mattermost, key: "post:" + post),
                    sentAt: sentAt
                )
            ],
            redactedBody: redacted
        )
    }

    struct Ephemeral: Encodable {
        var response_type = "ephemeral"
        var text: String
    }

    public func reply(
        to results: [InboundResult],
        for delivery: InboundDelivery,
        request: InboundRequest
    ) -> InboundResponse {
        guard request.path == "/mattermost/commands" else { return .json([String: String]()) }
        switch results.first {
        case .replied(let text, _): return .json(Ephemeral(text: text))
        case .duplicate: return .json(Ephemeral(text: "This command was already received; nothing was done again."))
        default: return .json(Ephemeral(text: "Received."))
        }
    }
}

/// Mattermost's outbound side: DMs through a direct channel, the public answer as a reply with `root_id`, tagged
/// with `props.airlock_publish`.
public actor MattermostPlatform: ChatPlatform {
    public nonisolated let name = PlatformName.mattermost
    let api: APIClient
    let botUserID: String
    let serverURL: String
    private var directChannels: [String: String] = [:]
    private var usernames: [String: String] = [:]

    public init(api: APIClient, botUserID: String, serverURL: String) {
        self.api = api
        self.botUserID = botUserID
        self.serverURL = serverURL
    }

    /// Mattermost's post limit.
    static let maxMessage = 16_383

    public func sendDirectMessage(_ message: OutboundMessage, to person: PersonID) async throws -> DeliveredMessage {
        guard person.platform == .mattermost else { throw PlatformError.permanent("not a Mattermost user: \(person)") }
        let channel = try await directChannel(person.id)
        let post = try await createPost(channel: channel, message: message.text, root: nil, props: nil)
        return DeliveredMessage(messageID: post)
    }

    public func postPublicReply(
        _ text: String,
        in thread: ThreadRef,
        marker: PublishMarker
    ) async throws -> DeliveredMessage {
        let post = try await createPost(
            channel: thread.channel,
            message: text,
            root: thread.thread,
            props: NewPost.Props(airlock_publish: .init(draft_id: marker.draftID.rawValue, version: marker.version))
        )
        return DeliveredMessage(messageID: post, permalink: "\(serverURL)/_redirect/pl/\(post)")
    }

    struct Thread: Decodable {
        struct Post: Decodable {
            struct Props: Decodable {
                struct Tag: Decodable {
                    var draft_id: String
                    var version: Int
                }
                var airlock_publish: Tag?
            }
            var id: String
            var user_id: String
            var props: Props?
        }
        var order: [String]
        var posts: [String: Post]
    }

    /// Typed: a missing or mistyped field is an error (retried), never "no earlier post" and a second post.
    public func findPublishedReply(in thread: ThreadRef, marker: PublishMarker) async throws -> DeliveredMessage? {
        let found = try await api.decode(Thread.self, .GET, "/api/v4/posts/\(thread.thread)/thread")
        for post in found.posts.values where post.user_id == botUserID {
            guard let tag = post.props?.airlock_publish, tag.draft_id == marker.draftID.rawValue,
                tag.version == marker.version
            else { continue }
            return DeliveredMessage(messageID: post.id, permalink: "\(serverURL)/_redirect/pl/\(post.id)")
        }
        return nil
    }

    struct ThreadPosts: Decodable {
        struct Post: Decodable {
            var id: String
            var user_id: String
            var message: String
            var create_at: Int64
            var root_id: String?
            var delete_at: Int64?
        }
        var order: [String]
        var posts: [String: Post]
    }

    struct User: Decodable {
        var username: String
    }

    /// `GET /posts/{mention}/thread`: the root and the replies written before the mention (deleted posts and the
    /// bot's own left out), authors by username.
    public func readThread(_ thread: ThreadRef, limits: ThreadLimits) async throws -> [ThreadMessage] {
        guard let mention = thread.mention else { return [] }
        let found = try await api.decode(ThreadPosts.self, .GET, "/api/v4/posts/\(mention)/thread")
        guard let until = found.posts[mention]?.create_at else { return [] }
        let ordered = found.posts.values
            .filter {
                $0.create_at < until && ($0.delete_at ?? 0) == 0 && $0.user_id != botUserID && !$0.message.isEmpty
            }
            .sorted { $0.create_at < $1.create_at }
        var bounded = limits.bound(ordered.map { ThreadMessage(id: $0.id, author: $0.user_id, text: $0.message) })
        for index in bounded.indices {
            let user = bounded[index].author
            if let name = usernames[user] {
                bounded[index].author = name
            } else if let name = try? await api.decode(User.self, .GET, "/api/v4/users/\(user)").username {
                usernames[user] = name
                bounded[index].author = name
            }
        }
        return bounded
    }

    /// `POST /posts/ephemeral`: a post only `person` sees, in the thread.
    public func tellPrivately(_ text: String, to person: PersonID, in thread: ThreadRef) async throws -> Bool {
        guard person.platform == .mattermost else { return false }
        struct Ephemeral: Encodable {
            var user_id: String
            var post: NewPost
        }
        let body = Ephemeral(
            user_id: person.id,
            post: NewPost(channel_id: thread.channel, message: text, root_id: thread.thread)
        )
        _ = try await api.call(.POST, "/api/v4/posts/ephemeral", json: try JSONEncoder().encode(body))
        return true
    }

    struct Channel: Decodable {
        var display_name: String?
        var name: String
        var type: String
    }

    /// `GET /channels/{id}`: type `O` is public; `P` (private), `D` and `G` (direct) are not.
    public func place(of thread: ThreadRef) async throws -> Place? {
        let channel = try await api.decode(Channel.self, .GET, "/api/v4/channels/\(thread.channel)")
        let name = "~" + (channel.display_name.flatMap { $0.isEmpty ? nil : $0 } ?? channel.name)
        return Place(name: name, visibility: channel.type == "O" ? .public : .private)
    }

    public func postReviewRequest(_ message: OutboundMessage, in channel: String) async throws -> DeliveredMessage {
        DeliveredMessage(
            messageID: try await createPost(channel: channel, message: message.text, root: nil, props: nil)
        )
    }

    private func directChannel(_ user: String) async throws -> String {
        if let known = directChannels[user] { return known }
        struct Direct: Decodable { var id: String? }
        let direct = try await api.send(.POST, "/api/v4/channels/direct", body: [botUserID, user], as: Direct.self)
        guard let id = direct.id else { throw PlatformError.permanent("channels/direct: no channel id") }
        directChannels[user] = id
        return id
    }

    private func createPost(
        channel: String,
        message: String,
        root: String?,
        props: NewPost.Props?
    ) async throws -> String {
        guard message.count <= Self.maxMessage else {
            throw PlatformError.permanent("the message is longer than Mattermost's \(Self.maxMessage) characters")
        }
        struct Created: Decodable { var id: String }
        // A 2xx without an id may still have posted: transient, reconciled before any second post.
        return try await api.send(
            .POST,
            "/api/v4/posts",
            body: NewPost(channel_id: channel, message: message, root_id: root, props: props),
            as: Created.self
        ).id
    }

    /// A post as `POST /posts` and `POST /posts/ephemeral` take it.
    struct NewPost: Encodable {
        struct Props: Encodable {
            struct Publish: Encodable {
                var draft_id: String
                var version: Int
            }
            var airlock_publish: Publish
        }
        var channel_id: String
        var message: String
        var root_id: String?
        var props: Props?
    }
}

/// Which Mattermost accounts are bots, as `GET /users/{id}` said.
final class MattermostAccounts: Sendable {
    private let known = Mutex<[String: Bool]>([:])
    func isBot(_ id: String) -> Bool? { known.withLock { $0[id] } }
    func set(_ id: String, isBot: Bool) { known.withLock { $0[id] = isBot } }
}
