public import AirlockDomain
public import AirlockWebhookKit
import Crypto
public import Foundation
import Logging
import NIOHTTP1
import Synchronization

extension PlatformName {
    public static let discourse = PlatformName("discourse")
}

/// Discourse usernames: letters, digits, `_`, `.`, `-` (display only: a username can be renamed and re-registered).
/// People are identified by their numeric `user_id`, which never changes.
enum DiscourseIDs {
    static func isUsername(_ text: String) -> Bool {
        Identifier.isASCII(text, lengths: 1...60, extra: ["_", ".", "-"])
    }
}

/// What the adapter and the outbound side share: which PM topic the bot made for whom, which topics were checked
/// to be exactly {bot, person}, and the usernames last seen for user ids (to address private messages).
public final class DiscourseState: Sendable {
    struct Checked {
        var owner: Int
        var until: Date
    }
    private let state = Mutex<(own: [Int: Int], topicOf: [Int: Int], checked: [Int: Checked], names: [Int: String])>(
        ([:], [:], [:], [:])
    )

    public init() {}

    /// The PM topic the bot made for `user`.
    func topic(of user: Int) -> Int? { state.withLock { $0.topicOf[user] } }
    /// The person a PM topic was made for by the bot (or checked to be private to), if still fresh.
    func owner(of topic: Int, at now: Date) -> Int? {
        state.withLock { state in
            if let owner = state.own[topic] { return owner }
            guard let checked = state.checked[topic], checked.until > now else { return nil }
            return checked.owner
        }
    }
    func made(topic: Int, for user: Int) {
        state.withLock {
            if let old = $0.topicOf[user] { $0.own[old] = nil }
            $0.own[topic] = user
            $0.topicOf[user] = topic
        }
    }
    func checked(topic: Int, owner: Int, until: Date) {
        state.withLock { $0.checked[topic] = Checked(owner: owner, until: until) }
    }
    func forget(topic: Int) {
        state.withLock {
            if let user = $0.own[topic], $0.topicOf[user] == topic { $0.topicOf[user] = nil }
            $0.own[topic] = nil
            $0.checked[topic] = nil
        }
    }
    func saw(user: Int, name: String) { state.withLock { $0.names[user] = name } }
    func name(of user: Int) -> String? { state.withLock { $0.names[user] } }
}

/// The topic fields that say who can read a private message.
struct DiscourseTopic: Decodable {
    struct Details: Decodable {
        struct User: Decodable {
            var id: Int
            var username: String?
        }
        struct Group: Decodable { var id: Int }
        var allowed_users: [User]?
        var allowed_groups: [Group]?
    }
    var archetype: String?
    var details: Details?

    /// True when exactly the bot and `user` can read it, and no group.
    func isPrivate(between bot: Int, and user: Int) -> Bool {
        guard archetype == nil || archetype == "private_message", let details, let users = details.allowed_users else {
            return false
        }
        return Set(users.map(\.id)) == [bot, user] && (details.allowed_groups ?? []).isEmpty
    }
}

/// Discourse as a platform module: `AIRLOCK_DISCOURSE_URL`, `_API_KEY`, `_API_USERNAME`, `_WEBHOOK_SECRET`.
public struct DiscourseModule: PlatformModule {
    public static let name = PlatformName.discourse
    /// Numeric user ids; a post holds at most 32,000 characters; the site is the only scope.
    public static let traits = PlatformTraits(
        idCase: .sensitive,
        maxPublicLength: 31_000,
        scopeName: "site host",
        neutraliser: Neutraliser(everyMention: true)
    )
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

    public static let settings: [Setting] = [
        Setting("discourse.url", enables: true, help: "Discourse site URL; with the three below, enables Discourse"),
        Setting("discourse.api_key", secret: true, enables: true, help: "API key of the bot user"),
        Setting("discourse.api_username", enables: true, help: "the bot user's username"),
        Setting(
            "discourse.webhook_secret",
            secret: true,
            enables: true,
            help: "secret of the Post Event webhook (HMAC-SHA256)"
        ),
    ]

    public static func configure(_ settings: any SettingsReader) throws -> DiscourseModule? {
        guard
            let values = try PlatformSettingsError.require(
                Self.settings,
                platform: "Discourse",
                from: settings
            )
        else { return nil }
        return DiscourseModule(
            url: values["discourse.url"]!,
            apiKey: values["discourse.api_key"]!,
            apiUsername: values["discourse.api_username"]!,
            webhookSecret: values["discourse.webhook_secret"]!
        )
    }

    struct Me: Decodable {
        struct User: Decodable {
            var id: Int
            var username: String
        }
        var user: User
    }

    public func start(_ context: PlatformContext) async throws -> PlatformBinding {
        let api = APIClient(
            http: context.http,
            baseURL: url,
            headers: [("Api-Key", apiKey), ("Api-Username", apiUsername)],
            platform: .discourse,
            record: context.recordAPICall
        )
        let me: Me
        do {
            me = try await api.decode(Me.self, .GET, "/u/\(apiUsername).json")
        } catch {
            throw PlatformSettingsError(
                "Discourse GET /u/\(apiUsername).json failed (\(error)): check AIRLOCK_DISCOURSE_URL, _API_KEY and _API_USERNAME"
            )
        }
        context.logger.info("Discourse enabled", metadata: ["discourse.bot_user": "\(apiUsername)"])
        let shared = DiscourseState()
        let site = URL(string: url)?.host ?? url
        return PlatformBinding(
            inbound: DiscourseAdapter(
                secret: webhookSecret,
                botUsername: me.user.username,
                botUserID: me.user.id,
                site: site,
                api: api,
                state: shared,
                now: context.now
            ),
            outbound: DiscoursePlatform(
                api: api,
                botUsername: me.user.username,
                botUserID: me.user.id,
                baseURL: url,
                state: shared
            )
        )
    }
}

/// `/discourse/webhook`: `post_created` deliveries signed with `X-Discourse-Event-Signature`.
public struct DiscourseAdapter: InboundAdapter {
    public let platform = PlatformName.discourse
    public let routes = [InboundRoute(.post, "/discourse/webhook")]
    let signature: BodySignature
    let botUsername: String
    let botUserID: Int
    let site: String
    let api: APIClient?
    let state: DiscourseState
    let now: @Sendable () -> Date

    public init(
        secret: String,
        botUsername: String,
        botUserID: Int = -1000,
        site: String = "discourse",
        api: APIClient? = nil,
        state: DiscourseState = DiscourseState(),
        now: @escaping @Sendable () -> Date = Date.init
    ) {
        self.signature = BodySignature(secret: secret, header: "X-Discourse-Event-Signature")
        self.botUsername = botUsername.lowercased()
        self.botUserID = botUserID
        self.site = site
        self.api = api
        self.state = state
        self.now = now
    }

    public func verify(_ request: InboundRequest, now: Date) throws(InboundRefusal) { try signature.verify(request) }

    struct Envelope: Decodable {
        struct Post: Decodable {
            var id: Int
            var user_id: Int?
            var username: String
            var raw: String?
            var cooked: String?
            var topic_id: Int
            var post_number: Int
            var topic_archetype: String?
            var post_type: Int?
            var created_at: String?
        }
        var post: Post?
    }

    public func parse(_ request: InboundRequest) throws(InboundRefusal) -> InboundDelivery {
        let event = request.header("X-Discourse-Event") ?? ""
        guard (try? JSONSerialization.jsonObject(with: request.body)) != nil else {
            throw .badRequest("body is not valid JSON", recordedBody: "[\(request.body.count) bytes]")
        }
        let redacted = RedactedJSON.of(request.body, secrets: [])
        guard event == "post_created" else {
            return InboundDelivery(
                items: [InboundItem(action: .ignored(reason: "event \(event.prefix(40))"))],
                redactedBody: redacted
            )
        }
        guard let post = (try? JSONDecoder().decode(Envelope.self, from: request.body))?.post else {
            return InboundDelivery(
                items: [InboundItem(action: .ignored(reason: "post_created without a post"))],
                redactedBody: redacted
            )
        }
        // Retries get a new X-Discourse-Event-Id: dedupe on the post id and the event instead.
        let key = DeliveryKey(platform: .discourse, key: "post:\(post.id):post_created")
        let isPrivate = post.topic_archetype == "private_message"
        var detail = ["post_id": String(post.id), "topic_id": String(post.topic_id)]
        if isPrivate { detail["private_topic"] = String(post.topic_id) }
        // A private message's body is kept only once `admit` found the topic to be the sender's own with the bot.
        let recorded = isPrivate ? "[private message: its text is in the question or command entry]" : redacted
        // The signed creation time: a body older than the dedupe window is refused as a possible replay.
        let sentAt = post.created_at.flatMap { Self.iso8601($0) }
        func item(_ action: InboundAction) -> InboundDelivery {
            InboundDelivery(
                items: [InboundItem(action: action, delivery: key, detail: detail, sentAt: sentAt)],
                redactedBody: recorded
            )
        }
        guard DiscourseIDs.isUsername(post.username) else {
            return item(.ignored(reason: "invalid_identifier: username"))
        }
        guard let userID = post.user_id else { return item(.ignored(reason: "invalid_identifier: no user_id")) }
        if userID == botUserID || post.username.lowercased() == botUsername {
            return item(.ignored(reason: "the bot's own post"))
        }
        if let type = post.post_type, type != 1 { return item(.ignored(reason: "post type \(type)")) }
        state.saw(user: userID, name: post.username)
        // Discourse's own bots (system, discobot) have ids of 0 and below.
        let actor = Actor(
            PersonID(platform: .discourse, id: String(userID)),
            isBot: userID <= 0,
            scope: site,
            displayName: post.username
        )
        let raw = MentionMatcher.strip(botUsername, in: post.raw ?? "")
        if isPrivate {
            detail["author_id"] = String(userID)
            // A private message to the bot: a command, or a question with no public thread.
            if let command = ChatCommand.parseDirectMessage(raw.text) {
                return item(.command(actor: actor, command: command, reply: .directMessage))
            }
            guard !raw.text.isEmpty else { return item(.ignored(reason: "empty private message")) }
            return item(.question(asker: actor, text: raw.text, target: nil))
        }
        // Discourse links each real mention in `cooked`; the raw text is matched on word boundaries as well.
        let cookedMention = (post.cooked ?? "").lowercased().contains(
            "<a class=\"mention\" href=\"/u/\(botUsername)\">"
        )
        guard raw.mentioned || cookedMention else { return item(.ignored(reason: "no mention of @\(botUsername)")) }
        guard !raw.text.isEmpty else { return item(.ignored(reason: "mention without a question")) }
        return item(
            .question(
                asker: actor,
                text: raw.text,
                target: ThreadRef(
                    platform: .discourse,
                    channel: String(post.topic_id),
                    thread: String(post.post_number),
                    mention: post.post_number > 1 ? String(post.id) : nil
                )
            )
        )
    }

    /// `2023-02-09T10:19:46.324Z`, with or without fractional seconds.
    static func iso8601(_ text: String) -> Date? {
        (try? Date(text, strategy: .iso8601.year().month().day().time(includingFractionalSeconds: true)))
            ?? (try? Date(text, strategy: .iso8601))
    }

    /// A private message counts only in a topic the bot made for its author, or one whose readers are exactly the
    /// bot and its author (looked up, cached for a minute). Any other PM — Discourse delivers every PM on the
    /// forum — is ignored and its body is not recorded.
    public func admit(_ item: InboundItem) async -> InboundItem {
        guard let topicText = item.detail["private_topic"], let topic = Int(topicText) else { return item }
        var detail = item.detail
        detail["private_topic"] = nil
        guard let authorText = item.detail["author_id"], let author = Int(authorText) else {
            return InboundItem(
                action: .ignored(reason: "foreign_private_message: no author"),
                delivery: item.delivery,
                detail: detail,
                recordBody: false
            )
        }
        let at = now()
        if state.owner(of: topic, at: at) == author {
            return InboundItem(action: item.action, delivery: item.delivery, detail: detail, sentAt: item.sentAt)
        }
        var reason = "foreign_private_message: topic \(topic) is not a private message between the bot and its author"
        if let api {
            do {
                let found = try await api.decode(DiscourseTopic.self, .GET, "/t/\(topic).json")
                if found.isPrivate(between: botUserID, and: author) {
                    state.checked(topic: topic, owner: author, until: at.addingTimeInterval(60))
                    return InboundItem(
                        action: item.action,
                        delivery: item.delivery,
                        detail: detail,
                        sentAt: item.sentAt
                    )
                }
            } catch {
                reason = "foreign_private_message: topic \(topic) could not be checked (\(error))"
            }
        }
        return InboundItem(action: .ignored(reason: reason), delivery: item.delivery, detail: detail, recordBody: false)
    }

    public func reply(
        to results: [InboundResult],
        for delivery: InboundDelivery,
        request: InboundRequest
    ) -> InboundResponse {
        .json([String: String]())
    }
}

/// Discourse's outbound side: answers and command replies as private messages (one PM topic per person, re-checked
/// to be private to them before each reuse), the public answer as a reply to the original post.
public actor DiscoursePlatform: ChatPlatform {
    public nonisolated let name = PlatformName.discourse
    let api: APIClient
    let botUsername: String
    let botUserID: Int
    let baseURL: String
    let state: DiscourseState

    public init(api: APIClient, botUsername: String, botUserID: Int, baseURL: String, state: DiscourseState) {
        self.api = api
        self.botUsername = botUsername.lowercased()
        self.botUserID = botUserID
        self.baseURL = baseURL.hasSuffix("/") ? String(baseURL.dropLast()) : baseURL
        self.state = state
    }

    static let maxPost = 32_000

    struct Created: Decodable {
        var id: Int
        var topic_id: Int
        var post_number: Int
    }

    struct AdminUser: Decodable { var username: String }

    /// The username to address a private message to (learned from the person's posts, else asked of the API).
    func username(of user: Int) async throws -> String {
        if let name = state.name(of: user) { return name }
        let found = try await api.decode(AdminUser.self, .GET, "/admin/users/\(user).json")
        state.saw(user: user, name: found.username)
        return found.username
    }

    public func sendDirectMessage(_ message: OutboundMessage, to person: PersonID) async throws -> DeliveredMessage {
        guard person.platform == .discourse, let user = Int(person.id) else {
            throw PlatformError.permanent("not a Discourse user id: \(person)")
        }
        var body = NewPost(raw: Self.padded(message.text))
        if let topic = state.topic(of: user),
            try await api.decode(DiscourseTopic.self, .GET, "/t/\(topic).json").isPrivate(between: botUserID, and: user)
        {
            body.topic_id = topic
        } else {
            if let topic = state.topic(of: user) { state.forget(topic: topic) }
            body.title = "Airlock: your private answers and commands"
            body.archetype = "private_message"
            body.target_recipients = try await username(of: user)
        }
        let post = try await create(body)
        if body.topic_id == nil { state.made(topic: post.topic_id, for: user) }
        return DeliveredMessage(messageID: String(post.id))
    }

    public func postPublicReply(
        _ text: String,
        in thread: ThreadRef,
        marker: PublishMarker
    ) async throws -> DeliveredMessage {
        guard let topic = Int(thread.channel), let number = Int(thread.thread) else {
            throw PlatformError.permanent("not a Discourse topic/post: \(thread)")
        }
        let post = try await create(NewPost(raw: text, topic_id: topic, reply_to_post_number: number))
        return DeliveredMessage(messageID: String(post.id), permalink: "\(baseURL)/t/\(topic)/\(post.post_number)")
    }

    struct TopicPosts: Decodable {
        struct Stream: Decodable {
            var posts: [Post]
            var stream: [Int]
        }
        var post_stream: Stream
    }

    struct Post: Decodable {
        var id: Int
        var user_id: Int?
        var username: String
        var post_number: Int
        var raw: String?
        var cooked: String?
    }

    /// Reads the topic's posts (following its post stream) for one of the bot's whose text ends with this draft
    /// version's footer. Typed: a missing or mistyped field is an error (retried), never "no earlier post".
    public func findPublishedReply(in thread: ThreadRef, marker: PublishMarker) async throws -> DeliveredMessage? {
        let topic = try await api.decode(TopicPosts.self, .GET, "/t/\(thread.channel).json")
        var posts = topic.post_stream.posts
        let loaded = Set(posts.map(\.id))
        for id in topic.post_stream.stream.filter({ !loaded.contains($0) }).prefix(1000) {
            posts.append(try await api.decode(Post.self, .GET, "/posts/\(id).json"))
        }
        let footer = marker.footer
        for post in posts where post.user_id == botUserID || post.username.lowercased() == botUsername {
            let text = post.raw ?? post.cooked ?? ""
            if text.contains(footer) {
                return DeliveredMessage(
                    messageID: String(post.id),
                    permalink: "\(baseURL)/t/\(thread.channel)/\(post.post_number)"
                )
            }
        }
        return nil
    }

    /// The topic's posts before the mention (the first post always), each read with its raw text.
    public func readThread(_ thread: ThreadRef, limits: ThreadLimits) async throws -> [ThreadMessage] {
        guard let mention = thread.mention.flatMap(Int.init) else { return [] }
        let topic = try await api.decode(TopicPosts.self, .GET, "/t/\(thread.channel).json")
        guard let position = topic.post_stream.stream.firstIndex(of: mention) else { return [] }
        let before = Array(topic.post_stream.stream[..<position])
        guard let first = before.first else { return [] }
        let wanted = [first] + before.dropFirst().suffix(max(0, limits.maxMessages - 1))
        var messages: [ThreadMessage] = []
        for id in wanted {
            let post = try await api.decode(Post.self, .GET, "/posts/\(id).json")
            guard post.user_id != botUserID, let text = post.raw, !text.isEmpty else { continue }
            messages.append(ThreadMessage(id: String(post.id), author: post.username, text: text))
        }
        return limits.bound(messages)
    }

    public func postReviewRequest(_ message: OutboundMessage, in channel: String) async throws -> DeliveredMessage {
        throw PlatformError.permanent("Discourse has no review channel: approvers are sent private messages")
    }

    /// A post as `POST /posts.json` takes it: a reply in a topic, or a new private message.
    struct NewPost: Encodable {
        var raw: String
        var topic_id: Int?
        var reply_to_post_number: Int?
        var title: String?
        var archetype: String?
        var target_recipients: String?
    }

    private func create(_ body: NewPost) async throws -> Created {
        if body.raw.count > Self.maxPost {
            throw PlatformError.permanent("the post is longer than Discourse's \(Self.maxPost) characters")
        }
        // A 2xx without the documented id is transient: the publisher reconciles before posting again.
        return try await api.send(.POST, "/posts.json", body: body, as: Created.self)
    }

    /// Discourse refuses very short posts; command replies can be short.
    static func padded(_ text: String) -> String { text.count >= 20 ? text : text + "\n\n— Airlock" }
}
