public import AirlockDomain
public import AirlockWebhookKit
public import Foundation
import Logging
import NIOHTTP1
import Synchronization

extension PlatformName {
    public static let matrix = PlatformName("matrix")
}

enum MatrixIDs {
    /// `@localpart:server`.
    static func isUser(_ text: String) -> Bool {
        text.hasPrefix("@") && text.contains(":") && Identifier.isPlainToken(text) && text.utf8.count <= 255
    }

    /// Room (`!…`) and event (`$…`) ids.
    static func isID(_ text: String, sigil: Character) -> Bool {
        text.first == sigil && Identifier.isPlainToken(text) && text.utf8.count <= 255
    }

    /// A path segment: everything but unreserved characters percent-encoded.
    static func segment(_ text: String) -> String {
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: "-._~")
        return text.addingPercentEncoding(withAllowedCharacters: allowed) ?? text
    }
}

/// The bot's direct rooms: only rooms it created itself for one person (or listed in its own `m.direct` account
/// data), each bound to that person. Shared by the adapter (which reads only that person's messages there) and
/// the platform (which checks the room before every send).
public final class MatrixRooms: Sendable {
    private let state = Mutex<(roomOf: [String: String], userOf: [String: String])>(([:], [:]))

    public init() {}

    /// The person a direct room belongs to; nil for any other room.
    func owner(of room: String) -> String? { state.withLock { $0.userOf[room] } }
    func room(of user: String) -> String? { state.withLock { $0.roomOf[user] } }
    func add(room: String, user: String) {
        state.withLock {
            if let old = $0.roomOf[user] { $0.userOf[old] = nil }
            $0.roomOf[user] = room
            $0.userOf[room] = user
        }
    }
    func forget(room: String) {
        state.withLock {
            if let user = $0.userOf[room], $0.roomOf[user] == room { $0.roomOf[user] = nil }
            $0.userOf[room] = nil
        }
    }
    var map: [String: [String]] { state.withLock { $0.roomOf.mapValues { [$0] } } }
}

/// Matrix as an application service: `AIRLOCK_MATRIX_HOMESERVER_URL`, `_AS_TOKEN`, `_HS_TOKEN`, `_BOT_USER`.
public struct MatrixModule: PlatformModule {
    public static let name = PlatformName.matrix
    /// User ids are case-sensitive; an event's body is capped at 65,536 bytes; a scope is a homeserver name.
    public static let traits = PlatformTraits(
        idCase: .sensitive,
        maxPublicLength: 30_000,
        scopeName: "homeserver",
        neutraliser: Neutraliser(massMentions: ["@room"])
    )
    public var homeserverURL: String
    public var asToken: String
    public var hsToken: String
    public var botUser: String

    /// `AIRLOCK_MATRIX_BOT_USERS`: a regular expression over user ids of accounts that are bots (other
    /// application services' users, bridges); the bot itself and its own namespace (`@airlock_…`) always are.
    public var botPattern: String?

    public init(homeserverURL: String, asToken: String, hsToken: String, botUser: String, botPattern: String? = nil) {
        self.homeserverURL = homeserverURL
        self.asToken = asToken
        self.hsToken = hsToken
        self.botUser = botUser
        self.botPattern = botPattern
    }

    public static let settings: [Setting] = [
        Setting(
            "matrix.homeserver_url",
            enables: true,
            help: "homeserver URL; with the three below, enables the Matrix application service"
        ),
        Setting(
            "matrix.as_token",
            secret: true,
            enables: true,
            help: "application service token (`as_token` of the registration)"
        ),
        Setting(
            "matrix.hs_token",
            secret: true,
            enables: true,
            help: "homeserver token (`hs_token`), required on every push"
        ),
        Setting("matrix.bot_user", enables: true, help: "the bot's user id, e.g. `@airlock:example.org`"),
        Setting(
            "matrix.bot_users",
            help:
                "regular expression over user ids of other bots (bridges, other application services); the bot and its namespace (`@airlock_…`) always count as bots"
        ),
    ]

    public static func configure(_ settings: any SettingsReader) throws -> MatrixModule? {
        guard
            let values = try PlatformSettingsError.require(
                Self.settings,
                platform: "Matrix",
                from: settings
            )
        else { return nil }
        guard MatrixIDs.isUser(values["matrix.bot_user"]!) else {
            throw PlatformSettingsError("AIRLOCK_MATRIX_BOT_USER must be a Matrix user id such as @airlock:example.org")
        }
        let pattern = settings.string("matrix.bot_users")
        if let pattern, (try? NSRegularExpression(pattern: pattern)) == nil {
            throw PlatformSettingsError(
                "AIRLOCK_MATRIX_BOT_USERS must be a regular expression over user ids, such as ^@(bridge|irc)_"
            )
        }
        return MatrixModule(
            homeserverURL: values["matrix.homeserver_url"]!,
            asToken: values["matrix.as_token"]!,
            hsToken: values["matrix.hs_token"]!,
            botUser: values["matrix.bot_user"]!,
            botPattern: pattern
        )
    }

    public func start(_ context: PlatformContext) async throws -> PlatformBinding {
        let api = APIClient(
            http: context.http,
            baseURL: homeserverURL,
            headers: [("Authorization", "Bearer \(asToken)")],
            platform: .matrix,
            record: context.recordAPICall
        )
        do {
            struct WhoAmI: Decodable { var user_id: String? }
            let whoami = try await api.decode(
                WhoAmI.self,
                .GET,
                "/_matrix/client/v3/account/whoami",
                query: ["user_id": botUser]
            )
            guard whoami.user_id == botUser else {
                throw PlatformSettingsError(
                    "Matrix whoami did not return \(botUser): check AIRLOCK_MATRIX_BOT_USER and the registration"
                )
            }
        } catch let error as PlatformSettingsError {
            throw error
        } catch {
            throw PlatformSettingsError(
                "Matrix whoami failed (\(error)): check AIRLOCK_MATRIX_HOMESERVER_URL, AIRLOCK_MATRIX_AS_TOKEN and the registration file"
            )
        }
        let rooms = MatrixRooms()
        let direct = "/_matrix/client/v3/user/\(MatrixIDs.segment(botUser))/account_data/m.direct"
        // `m.direct`: user id → their direct rooms (an unreadable map is no map: rooms are made afresh).
        if let map = try? await api.decode([String: [String]].self, .GET, direct, query: ["user_id": botUser]) {
            for (user, list) in map { if let room = list.last { rooms.add(room: room, user: user) } }
        }
        let platform = MatrixPlatform(api: api, botUser: botUser, rooms: rooms)
        context.logger.info("Matrix enabled", metadata: ["matrix.bot_user": "\(botUser)"])
        return PlatformBinding(
            inbound: MatrixAdapter(
                hsToken: hsToken,
                botUser: botUser,
                rooms: rooms,
                botPattern: botPattern,
                join: { room in Task { try? await platform.join(room) } },
                followUpDraft: { room, event in await platform.followUpDraft(room: room, event: event) }
            ),
            outbound: platform
        )
    }
}

/// `PUT /_matrix/app/v1/transactions/:txnId`: the homeserver's pushes, authenticated with the `hs_token`.
public struct MatrixAdapter: InboundAdapter {
    public let platform = PlatformName.matrix
    public let routes = [InboundRoute(.put, "/_matrix/app/v1/transactions/:txnId")]
    let hsToken: String
    let botUser: String
    let rooms: MatrixRooms
    let join: @Sendable (String) -> Void
    let botPattern: NSRegularExpression?
    let localpart: String
    /// (room, event) → the draft that event is a DM about, when it is the bot's draft DM.
    let followUpDraft: (@Sendable (String, String) async -> String?)?

    public init(
        hsToken: String,
        botUser: String,
        rooms: MatrixRooms,
        botPattern: String? = nil,
        join: @escaping @Sendable (String) -> Void,
        followUpDraft: (@Sendable (String, String) async -> String?)? = nil
    ) {
        self.followUpDraft = followUpDraft
        self.hsToken = hsToken
        self.botUser = botUser
        self.rooms = rooms
        self.join = join
        self.botPattern = botPattern.flatMap { try? NSRegularExpression(pattern: $0) }
        self.localpart = String(botUser.dropFirst().prefix { $0 != ":" })
    }

    /// The bot, its application service's namespace (`@airlock_…:server`) and `AIRLOCK_MATRIX_BOT_USERS`.
    func isBot(_ user: String) -> Bool {
        if user == botUser { return true }
        let server = botUser.drop { $0 != ":" }
        if user.hasPrefix("@" + localpart + "_"), user.hasSuffix(server) { return true }
        guard let botPattern else { return false }
        return botPattern.firstMatch(in: user, range: NSRange(user.startIndex..., in: user)) != nil
    }

    /// The homeserver part of a user id (`@alice:example.org` → `example.org`).
    static func homeserver(of user: String) -> String? {
        guard let colon = user.firstIndex(of: ":") else { return nil }
        return String(user[user.index(after: colon)...])
    }

    static func error(_ status: Int, _ code: String, _ message: String) -> InboundRefusal {
        InboundRefusal(
            outcome: status == 401 ? .badSignature : .forbidden,
            status: status,
            message: message,
            responseBody: .json(["errcode": code, "error": message], status: status)
        )
    }

    public func verify(_ request: InboundRequest, now: Date) throws(InboundRefusal) {
        guard let header = request.header("Authorization"), header.hasPrefix("Bearer ") else {
            throw Self.error(401, "M_UNAUTHORIZED", "missing hs_token")
        }
        guard SecretCompare.equal(String(header.dropFirst(7)), hsToken) else {
            throw Self.error(403, "M_FORBIDDEN", "wrong hs_token")
        }
    }

    struct Transaction: Decodable {
        struct Event: Decodable {
            var type: String
            var sender: String?
            var room_id: String?
            var event_id: String?
            var state_key: String?
            var origin_server_ts: Double?
            var content: Content?
        }
        struct Content: Decodable {
            struct Mentions: Decodable { var user_ids: [String]? }
            struct Relation: Decodable {
                struct Reply: Decodable { var event_id: String? }
                var rel_type: String?
                var event_id: String?
                var in_reply_to: Reply?
                enum CodingKeys: String, CodingKey {
                    case rel_type, event_id
                    case in_reply_to = "m.in_reply_to"
                }
            }
            var msgtype: String?
            var body: String?
            var membership: String?
            var is_direct: Bool?
            var mentions: Mentions?
            var relates_to: Relation?
            enum CodingKeys: String, CodingKey {
                case msgtype, body, membership, is_direct
                case mentions = "m.mentions"
                case relates_to = "m.relates_to"
            }
        }
        var events: [Event]?
    }

    public func parse(_ request: InboundRequest) throws(InboundRefusal) -> InboundDelivery {
        let transaction: Transaction
        do {
            transaction = try JSONDecoder().decode(Transaction.self, from: request.body)
        } catch {
            throw InboundRefusal(
                outcome: .badRequest,
                status: 400,
                message: "not a transaction",
                responseBody: .json(["errcode": "M_BAD_JSON", "error": "not a transaction"], status: 400)
            )
        }
        let txn = request.parameters["txnId"] ?? ""
        var items: [InboundItem] = []
        var kept: [Any] = []
        let rawEvents =
            ((try? JSONSerialization.jsonObject(with: request.body)) as? [String: Any])?["events"] as? [Any] ?? []
        for (index, event) in (transaction.events ?? []).enumerated() {
            let key = event.event_id.flatMap {
                MatrixIDs.isID($0, sigil: "$") ? DeliveryKey(platform: .matrix, key: "event:" + $0) : nil
            }
            let (action, record) = action(for: event)
            var detail = ["txn_id": String(txn.prefix(64))]
            if !record, let id = event.event_id { detail["event_id"] = String(id.prefix(255)) }
            let sentAt = event.origin_server_ts.map { Date(timeIntervalSince1970: $0 / 1000) }
            var item = InboundItem(action: action, delivery: key, detail: detail, recordBody: record, sentAt: sentAt)
            // In a direct room, a reply to (or in the thread of) another message: maybe a follow-up on a draft.
            if case .question(_, _, nil) = action, let room = event.room_id, let relation = event.content?.relates_to,
                let parent = relation.in_reply_to?.event_id
                    ?? (relation.rel_type == "m.thread" ? relation.event_id : nil),
                MatrixIDs.isID(parent, sigil: "$")
            {
                item.inReplyTo = "\(room)/\(parent)"
            }
            items.append(item)
            if record, index < rawEvents.count { kept.append(rawEvents[index]) }
        }
        if items.isEmpty { items.append(InboundItem(action: .ignored(reason: "empty transaction"))) }
        // Another person's message in someone's direct room is never recorded: the body keeps only the other events.
        let omitted = (transaction.events ?? []).count - kept.count
        var recorded: [String: Any] = ["events": kept]
        if omitted > 0 { recorded["omitted_private_events"] = omitted }
        return InboundDelivery(items: items, redactedBody: RedactedJSON.canonical(recorded))
    }

    /// What one event asks, and whether its content may be recorded.
    func action(for event: Transaction.Event) -> (InboundAction, Bool) {
        guard let sender = event.sender, MatrixIDs.isUser(sender), let room = event.room_id,
            MatrixIDs.isID(room, sigil: "!")
        else {
            return (.ignored(reason: "invalid_identifier: sender or room"), true)
        }
        if event.type == "m.room.member", event.state_key == botUser, event.content?.membership == "invite" {
            // An invite's `is_direct` is the inviter's claim, not a private channel: the room is joined as any other
            // room, and the bot's private messages go only to rooms it created itself.
            join(room)
            return (.ignored(reason: "invited to \(room): joining (is_direct is not trusted)"), true)
        }
        let owner = rooms.owner(of: room)
        if let owner, sender != owner, sender != botUser {
            // Someone else in a person's direct room: not read, not stored.
            return (
                .ignored(reason: "private_room_foreign_sender: \(room) is the direct room of another person"), false
            )
        }
        guard event.type == "m.room.message", event.content?.msgtype == "m.text", let body = event.content?.body,
            let eventID = event.event_id, MatrixIDs.isID(eventID, sigil: "$")
        else { return (.ignored(reason: "event \(event.type)"), true) }
        if sender == botUser { return (.ignored(reason: "the bot's own message"), true) }
        let actor = Actor(
            PersonID(platform: .matrix, id: sender),
            isBot: isBot(sender),
            scope: Self.homeserver(of: sender)
        )
        let structured = event.content?.mentions?.user_ids?.contains(botUser) == true
        let byID = MentionMatcher.strip(String(botUser.dropFirst()), in: body)
        var text = byID.text
        var mentioned = structured || byID.mentioned
        if text.lowercased().hasPrefix(localpart.lowercased() + ":") {
            // The classic "airlock: question" form.
            text = String(text.dropFirst(localpart.count + 1)).trimmingCharacters(in: .whitespacesAndNewlines)
            mentioned = true
        }
        if owner != nil || mentioned, let command = ChatCommand.parseDirectMessage(text) {
            return (.command(actor: actor, command: command, reply: .directMessage), true)
        }
        if owner != nil {
            if event.content?.relates_to?.in_reply_to != nil { text = Self.withoutReplyFallback(text) }
            return (
                text.isEmpty ? .ignored(reason: "empty message") : .question(asker: actor, text: text, target: nil),
                true
            )
        }
        guard mentioned else { return (.ignored(reason: "no mention of \(botUser)"), true) }
        guard !text.isEmpty else { return (.ignored(reason: "mention without a question"), true) }
        let root =
            event.content?.relates_to?.rel_type == "m.thread" ? event.content?.relates_to?.event_id ?? eventID : eventID
        // A mention inside a thread: the agent reads the thread up to it.
        let target = ThreadRef(platform: .matrix, channel: room, thread: root, mention: root == eventID ? nil : eventID)
        return (.question(asker: actor, text: text, target: target), true)
    }

    /// Clients before Matrix 1.13 quote the message replied to at the top of the body (`> <@user> …` lines, then
    /// a blank line): the reply is what follows.
    static func withoutReplyFallback(_ body: String) -> String {
        guard body.hasPrefix("> ") else { return body }
        let lines = body.components(separatedBy: "\n")
        let rest = lines.drop { $0.hasPrefix(">") }.drop { $0.trimmingCharacters(in: .whitespaces).isEmpty }
        return rest.joined(separator: "\n").trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// A reply in a person's direct room to one of the bot's draft DMs is `/ask` on that draft: the message replied
    /// to is read back and must be the bot's, carrying the draft id (`org.airlock.follow_up_on`). Any other reply
    /// stays a question.
    public func admit(_ item: InboundItem) async -> InboundItem {
        guard let followUpDraft else { return item }
        return await item.followUp(draftOf: followUpDraft)
    }

    public func reply(
        to results: [InboundResult],
        for delivery: InboundDelivery,
        request: InboundRequest
    ) -> InboundResponse {
        // An explicit, empty JSON object with its length: Synapse treats a reply without one as failed.
        InboundResponse(
            status: 200,
            contentType: "application/json",
            body: Data("{}".utf8),
            headers: ["Content-Length": "2"]
        )
    }
}

/// Matrix's outbound side, as the application service's bot user: DMs in a direct room created for each person
/// (recorded in `m.direct`), the public answer as a thread reply carrying `airlock_publish`. A public post's
/// transaction id is derived from the draft and version, so a retried send is deduplicated by the homeserver.
public actor MatrixPlatform: ChatPlatform {
    public nonisolated let name = PlatformName.matrix
    let api: APIClient
    let botUser: String
    let rooms: MatrixRooms

    public init(api: APIClient, botUser: String, rooms: MatrixRooms) {
        self.api = api
        self.botUser = botUser
        self.rooms = rooms
    }

    var asUser: [String: String] { ["user_id": botUser] }

    func join(_ room: String) async throws {
        _ = try await api.call(
            .POST,
            "/_matrix/client/v3/rooms/\(MatrixIDs.segment(room))/join",
            query: asUser,
            json: Data("{}".utf8)
        )
    }

    public func sendDirectMessage(_ message: OutboundMessage, to person: PersonID) async throws -> DeliveredMessage {
        guard person.platform == .matrix else { throw PlatformError.permanent("not a Matrix user: \(person)") }
        // Checked before every send: only a room still private to this person receives it.
        let room = try await directRoom(person.id)
        // A keyed DM reuses its transaction id on a retry, so the homeserver returns the first event instead of a copy.
        let txn = message.deliveryKey.map { "dm-\($0)" } ?? "dm-\(UUID().uuidString)"
        let content = MatrixMessage(body: message.text, followUpOn: message.followUpOn?.rawValue)
        let id = try await send(room: room, content: content, txn: txn)
        return DeliveredMessage(messageID: id)
    }

    /// The draft a DM is about, in its content: replies to it are follow-ups on that draft.
    static let followUpKey = "org.airlock.follow_up_on"

    /// The draft `event` is a DM about, when the bot sent it (nil otherwise, or when it cannot be read).
    func followUpDraft(room: String, event: String) async -> String? {
        struct Event: Decodable {
            struct Content: Decodable {
                var draft: String?
                enum CodingKeys: String, CodingKey { case draft = "org.airlock.follow_up_on" }
            }
            var sender: String
            var content: Content
        }
        let path = "/_matrix/client/v3/rooms/\(MatrixIDs.segment(room))/event/\(MatrixIDs.segment(event))"
        guard let found = try? await api.decode(Event.self, .GET, path, query: asUser), found.sender == botUser else {
            return nil
        }
        return found.content.draft
    }

    public func postPublicReply(
        _ text: String,
        in thread: ThreadRef,
        marker: PublishMarker
    ) async throws -> DeliveredMessage {
        // `m.mentions: {}`: nobody is pinged by the body's text (`@room` included); the HTML form shows links and
        // mentions as code, which clients neither linkify nor preview.
        let content = MatrixMessage(
            body: text,
            mentions: MatrixMessage.Mentions(),
            format: "org.matrix.custom.html",
            formattedBody: Self.html(text),
            relatesTo: MatrixMessage.Relation(
                relType: "m.thread",
                eventID: thread.thread,
                isFallingBack: true,
                inReplyTo: .init(event_id: thread.thread)
            ),
            publish: .init(draft_id: marker.draftID.rawValue, version: marker.version)
        )
        let id = try await send(
            room: thread.channel,
            content: content,
            txn: "airlock-publish-\(marker.draftID)-v\(marker.version)"
        )
        return DeliveredMessage(messageID: id, permalink: "https://matrix.to/#/\(thread.channel)/\(id)")
    }

    public func findPublishedReply(in thread: ThreadRef, marker: PublishMarker) async throws -> DeliveredMessage? {
        var from: String?
        for _ in 0..<50 {
            var query = ["limit": "100", "user_id": botUser]
            if let from { query["from"] = from }
            // Typed: a missing or mistyped field is an error (retried), never "no earlier post" and a second post.
            let page = try await api.decode(
                RelationsPage.self,
                .GET,
                "/_matrix/client/v1/rooms/\(MatrixIDs.segment(thread.channel))/relations/\(MatrixIDs.segment(thread.thread))/m.thread",
                query: query
            )
            for event in page.chunk where event.sender == botUser {
                if let tag = event.content.airlock_publish, tag.draft_id == marker.draftID.rawValue,
                    tag.version == marker.version
                {
                    let id = event.event_id
                    return DeliveredMessage(messageID: id, permalink: "https://matrix.to/#/\(thread.channel)/\(id)")
                }
            }
            guard let next = page.next_batch else { return nil }
            from = next
        }
        return nil
    }

    /// The body as HTML: escaped, backtick spans as `<code>`, line breaks kept.
    static func html(_ text: String) -> String {
        var out = ""
        var inCode = false
        for character in text {
            switch character {
            case "`": out += inCode ? "</code>" : "<code>"; inCode.toggle()
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "\n": out += "<br>"
            default: out.append(character)
            }
        }
        if inCode { out += "</code>" }
        return out
    }

    struct RelationsPage: Decodable {
        struct Event: Decodable {
            struct Content: Decodable {
                struct Tag: Decodable {
                    var draft_id: String
                    var version: Int
                }
                var airlock_publish: Tag?
            }
            var event_id: String
            var sender: String
            var content: Content
        }
        var chunk: [Event]
        var next_batch: String?
    }

    struct ThreadEvent: Decodable {
        struct Content: Decodable { var body: String? }
        var event_id: String
        var sender: String
        var origin_server_ts: Int64
        var content: Content
    }

    struct ThreadPage: Decodable {
        var chunk: [ThreadEvent]
        var next_batch: String?
    }

    /// The thread root and its `m.thread` relations written before the mention (the bot's own left out), oldest
    /// first; authors by their localpart.
    public func readThread(_ thread: ThreadRef, limits: ThreadLimits) async throws -> [ThreadMessage] {
        guard let mention = thread.mention else { return [] }
        let room = MatrixIDs.segment(thread.channel)
        let root = try await api.decode(
            ThreadEvent.self,
            .GET,
            "/_matrix/client/v3/rooms/\(room)/event/\(MatrixIDs.segment(thread.thread))",
            query: asUser
        )
        var related: [ThreadEvent] = []
        var from: String?
        for _ in 0..<10 {
            var query = ["limit": "100", "user_id": botUser]
            if let from { query["from"] = from }
            let page = try await api.decode(
                ThreadPage.self,
                .GET,
                "/_matrix/client/v1/rooms/\(room)/relations/\(MatrixIDs.segment(thread.thread))/m.thread",
                query: query
            )
            related += page.chunk
            guard let next = page.next_batch else { break }
            from = next
        }
        let until = related.first { $0.event_id == mention }?.origin_server_ts ?? Int64.max
        let before = related.filter { $0.origin_server_ts < until && $0.event_id != mention }.sorted {
            $0.origin_server_ts < $1.origin_server_ts
        }
        let messages = ([root] + before).filter { $0.sender != botUser }.compactMap { event -> ThreadMessage? in
            guard let body = event.content.body, !body.isEmpty else { return nil }
            return ThreadMessage(
                id: event.event_id,
                author: String(event.sender.dropFirst().prefix { $0 != ":" }),
                text: body
            )
        }
        return limits.bound(messages)
    }

    struct RoomName: Decodable { var name: String }

    /// The room's join rule (`public` is public; `invite`, `knock`, `restricted` are not) and name.
    public func place(of thread: ThreadRef) async throws -> Place? {
        let base = "/_matrix/client/v3/rooms/\(MatrixIDs.segment(thread.channel))/state"
        let rules = try await api.decode(JoinRules.self, .GET, base + "/m.room.join_rules/", query: asUser)
        let name = try? await api.decode(RoomName.self, .GET, base + "/m.room.name/", query: asUser).name
        return Place(name: name ?? thread.channel, visibility: rules.join_rule == "public" ? .public : .private)
    }

    public func postReviewRequest(_ message: OutboundMessage, in channel: String) async throws -> DeliveredMessage {
        DeliveredMessage(
            messageID: try await send(
                room: channel,
                content: MatrixMessage(body: message.text),
                txn: "review-\(UUID().uuidString)"
            )
        )
    }

    struct Members: Decodable {
        struct Member: Decodable {
            struct Content: Decodable { var membership: String }
            var state_key: String
            var content: Content
        }
        var chunk: [Member]
    }

    struct JoinRules: Decodable { var join_rule: String }

    /// True when `room` is still private to `user`: join rule `invite`, the bot joined, and nobody but the bot and
    /// `user` joined, invited or knocking. Anything else — or a room the homeserver will not describe — is not.
    func isPrivate(_ room: String, to user: String) async throws -> Bool {
        let base = "/_matrix/client/v3/rooms/\(MatrixIDs.segment(room))"
        let members: Members
        let rules: JoinRules
        do {
            members = try await api.decode(
                Members.self,
                .GET,
                base + "/members",
                query: asUser.merging(["not_membership": "leave"]) { a, _ in a }
            )
            rules = try await api.decode(JoinRules.self, .GET, base + "/state/m.room.join_rules/", query: asUser)
        } catch PlatformError.permanent {
            return false
        }
        guard rules.join_rule == "invite" else { return false }
        let present = members.chunk.filter { ["join", "invite", "knock"].contains($0.content.membership) }
        guard present.contains(where: { $0.state_key == botUser && $0.content.membership == "join" }) else {
            return false
        }
        return present.allSatisfy { $0.state_key == botUser || $0.state_key == user }
    }

    private func directRoom(_ user: String) async throws -> String {
        if let room = rooms.room(of: user) {
            if try await isPrivate(room, to: user) { return room }
            // Someone else joined, the join rule changed, or the bot left: never write there again.
            rooms.forget(room: room)
        }
        struct CreateRoom: Encodable {
            struct State: Encodable {
                struct JoinRule: Encodable { var join_rule = "invite" }
                var type = "m.room.join_rules"
                var state_key = ""
                var content = JoinRule()
            }
            var is_direct = true
            var invite: [String]
            var preset = "trusted_private_chat"
            var visibility = "private"
            var initial_state = [State()]
        }
        struct Created: Decodable { var room_id: String? }
        let created = try await api.send(
            .POST,
            "/_matrix/client/v3/createRoom",
            query: asUser,
            body: CreateRoom(invite: [user]),
            as: Created.self
        )
        guard let room = created.room_id else { throw PlatformError.transient("createRoom: no room_id") }
        rooms.add(room: room, user: user)
        _ = try? await api.call(
            .PUT,
            "/_matrix/client/v3/user/\(MatrixIDs.segment(botUser))/account_data/m.direct",
            query: asUser,
            json: try JSONEncoder().encode(rooms.map)
        )
        return room
    }

    private func send(room: String, content: MatrixMessage, txn: String) async throws -> String {
        let path = "/_matrix/client/v3/rooms/\(MatrixIDs.segment(room))/send/m.room.message/\(MatrixIDs.segment(txn))"
        struct Sent: Decodable { var event_id: String }
        // A 2xx without an event id may still have sent it: transient, so the job retries with the same txn id
        // (which the homeserver deduplicates) or the publisher reconciles.
        return try await api.send(.PUT, path, query: asUser, body: content, as: Sent.self).event_id
    }
}

/// An `m.room.message` of type `m.text` as Airlock sends it: a DM (with the draft it is about), or a public thread
/// reply (no mentions, HTML with links shown as code, the publish marker).
struct MatrixMessage: Encodable {
    struct Mentions: Encodable {}
    struct Relation: Encodable {
        struct Reply: Encodable { var event_id: String }
        var relType: String
        var eventID: String
        var isFallingBack: Bool
        var inReplyTo: Reply

        enum CodingKeys: String, CodingKey {
            case relType = "rel_type"
            case eventID = "event_id"
            case isFallingBack = "is_falling_back"
            case inReplyTo = "m.in_reply_to"
        }
    }
    struct Publish: Encodable {
        var draft_id: String
        var version: Int
    }

    var msgtype = "m.text"
    var body: String
    var followUpOn: String?
    var mentions: Mentions?
    var format: String?
    var formattedBody: String?
    var relatesTo: Relation?
    var publish: Publish?

    enum CodingKeys: String, CodingKey {
        case msgtype, body, format
        case followUpOn = "org.airlock.follow_up_on"
        case mentions = "m.mentions"
        case formattedBody = "formatted_body"
        case relatesTo = "m.relates_to"
        case publish = "airlock_publish"
    }
}
