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

/// The bot's direct rooms (shared by the adapter, which reads them to tell DMs apart, and the platform).
public final class MatrixRooms: Sendable {
    private let state = Mutex<(roomOf: [String: String], direct: Set<String>)>(([:], []))

    public init() {}

    func isDirect(_ room: String) -> Bool { state.withLock { $0.direct.contains(room) } }
    func room(of user: String) -> String? { state.withLock { $0.roomOf[user] } }
    func add(room: String, user: String) { state.withLock { $0.roomOf[user] = room; $0.direct.insert(room) } }
    var map: [String: [String]] { state.withLock { $0.roomOf.mapValues { [$0] } } }
}

/// Matrix as an application service: `AIRLOCK_MATRIX_HOMESERVER_URL`, `_AS_TOKEN`, `_HS_TOKEN`, `_BOT_USER`.
public struct MatrixModule: PlatformModule {
    public static let name = PlatformName.matrix
    public var homeserverURL: String
    public var asToken: String
    public var hsToken: String
    public var botUser: String

    public init(homeserverURL: String, asToken: String, hsToken: String, botUser: String) {
        self.homeserverURL = homeserverURL
        self.asToken = asToken
        self.hsToken = hsToken
        self.botUser = botUser
    }

    public static func configure(_ settings: any SettingsReader) throws -> MatrixModule? {
        guard
            let values = try PlatformSettingsError.require(
                [
                    ("matrix.homeserver_url", "AIRLOCK_MATRIX_HOMESERVER_URL", false),
                    ("matrix.as_token", "AIRLOCK_MATRIX_AS_TOKEN", true),
                    ("matrix.hs_token", "AIRLOCK_MATRIX_HS_TOKEN", true),
                    ("matrix.bot_user", "AIRLOCK_MATRIX_BOT_USER", false),
                ], platform: "Matrix", from: settings)
        else { return nil }
        guard MatrixIDs.isUser(values["matrix.bot_user"]!) else {
            throw PlatformSettingsError("AIRLOCK_MATRIX_BOT_USER must be a Matrix user id such as @airlock:example.org")
        }
        return MatrixModule(
            homeserverURL: values["matrix.homeserver_url"]!, asToken: values["matrix.as_token"]!,
            hsToken: values["matrix.hs_token"]!, botUser: values["matrix.bot_user"]!)
    }

    public func start(_ context: PlatformContext) async throws -> PlatformBinding {
        let api = APIClient(
            http: context.http, baseURL: homeserverURL, headers: [("Authorization", "Bearer \(asToken)")], platform: .matrix,
            record: context.recordAPICall)
        do {
            let whoami = try await api.call(.GET, "/_matrix/client/v3/account/whoami", query: ["user_id": botUser]) as? [String: Any]
            guard whoami?.string("user_id") == botUser else {
                throw PlatformSettingsError("Matrix whoami did not return \(botUser): check AIRLOCK_MATRIX_BOT_USER and the registration")
            }
        } catch let error as PlatformSettingsError {
            throw error
        } catch {
            throw PlatformSettingsError(
                "Matrix whoami failed (\(error)): check AIRLOCK_MATRIX_HOMESERVER_URL, AIRLOCK_MATRIX_AS_TOKEN and the registration file")
        }
        let rooms = MatrixRooms()
        let direct = "/_matrix/client/v3/user/\(MatrixIDs.segment(botUser))/account_data/m.direct"
        if let map = try? await api.call(.GET, direct, query: ["user_id": botUser]) as? [String: Any] {
            for (user, list) in map { if let room = (list as? [String])?.last { rooms.add(room: room, user: user) } }
        }
        let platform = MatrixPlatform(api: api, botUser: botUser, rooms: rooms)
        context.logger.info("Matrix enabled", metadata: ["matrix.bot_user": "\(botUser)"])
        return PlatformBinding(
            inbound: MatrixAdapter(hsToken: hsToken, botUser: botUser, rooms: rooms, join: { room in
                Task { try? await platform.join(room) }
            }),
            outbound: platform)
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

    public init(hsToken: String, botUser: String, rooms: MatrixRooms, join: @escaping @Sendable (String) -> Void) {
        self.hsToken = hsToken
        self.botUser = botUser
        self.rooms = rooms
        self.join = join
    }

    static func error(_ status: Int, _ code: String, _ message: String) -> InboundRefusal {
        InboundRefusal(
            outcome: status == 401 ? "bad_signature" : "forbidden", status: status, message: message,
            responseBody: .json(["errcode": code, "error": message], status: status))
    }

    public func verify(_ request: InboundRequest, now: Date) throws(InboundRefusal) {
        guard let header = request.header("Authorization"), header.hasPrefix("Bearer ") else {
            throw Self.error(401, "M_UNAUTHORIZED", "missing hs_token")
        }
        guard SecretCompare.equal(String(header.dropFirst(7)), hsToken) else { throw Self.error(403, "M_FORBIDDEN", "wrong hs_token") }
    }

    struct Transaction: Decodable {
        struct Event: Decodable {
            var type: String
            var sender: String?
            var room_id: String?
            var event_id: String?
            var state_key: String?
            var content: Content?
        }
        struct Content: Decodable {
            struct Mentions: Decodable { var user_ids: [String]? }
            struct Relation: Decodable {
                var rel_type: String?
                var event_id: String?
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
                outcome: "bad_request", status: 400, message: "not a transaction",
                responseBody: .json(["errcode": "M_BAD_JSON", "error": "not a transaction"], status: 400))
        }
        let redacted = RedactedJSON.of(request.body, secrets: [])
        let txn = request.parameters["txnId"] ?? ""
        var items: [InboundItem] = []
        for event in transaction.events ?? [] {
            let key = event.event_id.flatMap { MatrixIDs.isID($0, sigil: "$") ? DeliveryKey(platform: .matrix, key: "event:" + $0) : nil }
            items.append(InboundItem(action: action(for: event), delivery: key, detail: ["txn_id": String(txn.prefix(64))]))
        }
        if items.isEmpty { items.append(InboundItem(action: .ignored(reason: "empty transaction"))) }
        return InboundDelivery(items: items, redactedBody: redacted)
    }

    func action(for event: Transaction.Event) -> InboundAction {
        guard let sender = event.sender, MatrixIDs.isUser(sender), let room = event.room_id, MatrixIDs.isID(room, sigil: "!") else {
            return .ignored(reason: "invalid_identifier: sender or room")
        }
        if event.type == "m.room.member", event.state_key == botUser, event.content?.membership == "invite" {
            if event.content?.is_direct == true { rooms.add(room: room, user: sender) }
            join(room)
            return .ignored(reason: "invited to \(room): joining")
        }
        guard event.type == "m.room.message", event.content?.msgtype == "m.text", let body = event.content?.body,
            let eventID = event.event_id, MatrixIDs.isID(eventID, sigil: "$")
        else { return .ignored(reason: "event \(event.type)") }
        if sender == botUser { return .ignored(reason: "the bot's own message") }
        let actor = Actor(PersonID(platform: .matrix, id: sender))
        let localpart = String(botUser.dropFirst().prefix { $0 != ":" })
        let mentioned = event.content?.mentions?.user_ids?.contains(botUser) == true || body.contains(botUser)
            || body.lowercased().hasPrefix(localpart.lowercased() + ":")
        var text = body.replacingOccurrences(of: botUser, with: "")
        if text.lowercased().hasPrefix(localpart.lowercased() + ":") { text = String(text.dropFirst(localpart.count + 1)) }
        text = text.trimmingCharacters(in: .whitespacesAndNewlines)
        if rooms.isDirect(room) || mentioned, let command = ChatCommand.parseDirectMessage(text) {
            return .command(actor: actor, command: command, reply: .directMessage)
        }
        if rooms.isDirect(room) {
            return text.isEmpty ? .ignored(reason: "empty message") : .question(asker: actor, text: text, target: nil)
        }
        guard mentioned else { return .ignored(reason: "no mention of \(botUser)") }
        guard !text.isEmpty else { return .ignored(reason: "mention without a question") }
        let root = event.content?.relates_to?.rel_type == "m.thread" ? event.content?.relates_to?.event_id ?? eventID : eventID
        return .question(asker: actor, text: text, target: ThreadRef(platform: .matrix, channel: room, thread: root))
    }

    public func reply(to results: [InboundResult], for delivery: InboundDelivery, request: InboundRequest) -> InboundResponse {
        // An explicit, empty JSON object with its length: Synapse treats a reply without one as failed.
        InboundResponse(status: 200, contentType: "application/json", body: Data("{}".utf8), headers: ["Content-Length": "2"])
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
        _ = try await api.call(.POST, "/_matrix/client/v3/rooms/\(MatrixIDs.segment(room))/join", query: asUser, json: Data("{}".utf8))
    }

    public func sendDirectMessage(_ message: OutboundMessage, to person: PersonID) async throws -> DeliveredMessage {
        guard person.platform == .matrix else { throw PlatformError.permanent("not a Matrix user: \(person)") }
        let room = try await directRoom(person.id)
        // A keyed DM reuses its transaction id on a retry, so the homeserver returns the first event instead of a copy.
        let txn = message.deliveryKey.map { "dm-\($0)" } ?? "dm-\(UUID().uuidString)"
        let id = try await send(room: room, content: ["msgtype": "m.text", "body": message.text], txn: txn)
        return DeliveredMessage(messageID: id)
    }

    public func postPublicReply(_ text: String, in thread: ThreadRef, marker: PublishMarker) async throws -> DeliveredMessage {
        let content: [String: Any] = [
            "msgtype": "m.text", "body": text,
            "m.relates_to": [
                "rel_type": "m.thread", "event_id": thread.thread, "is_falling_back": true,
                "m.in_reply_to": ["event_id": thread.thread],
            ],
            "airlock_publish": ["draft_id": marker.draftID.rawValue, "version": marker.version],
        ]
        let id = try await send(room: thread.channel, content: content, txn: "airlock-publish-\(marker.draftID)-v\(marker.version)")
        return DeliveredMessage(messageID: id, permalink: "https://matrix.to/#/\(thread.channel)/\(id)")
    }

    public func findPublishedReply(in thread: ThreadRef, marker: PublishMarker) async throws -> DeliveredMessage? {
        var from: String?
        for _ in 0..<50 {
            var query = ["limit": "100", "user_id": botUser]
            if let from { query["from"] = from }
            let page = try await api.call(
                .GET, "/_matrix/client/v1/rooms/\(MatrixIDs.segment(thread.channel))/relations/\(MatrixIDs.segment(thread.thread))/m.thread",
                query: query) as? [String: Any] ?? [:]
            for case let event as [String: Any] in page["chunk"] as? [Any] ?? [] {
                let content = event["content"] as? [String: Any]
                let tag = content?["airlock_publish"] as? [String: Any]
                if event.string("sender") == botUser, tag?.string("draft_id") == marker.draftID.rawValue,
                    tag?.string("version") == String(marker.version), let id = event.string("event_id")
                {
                    return DeliveredMessage(messageID: id, permalink: "https://matrix.to/#/\(thread.channel)/\(id)")
                }
            }
            guard let next = page.string("next_batch") else { return nil }
            from = next
        }
        return nil
    }

    public func postReviewRequest(_ message: OutboundMessage, in channel: String) async throws -> DeliveredMessage {
        DeliveredMessage(messageID: try await send(room: channel, content: ["msgtype": "m.text", "body": message.text], txn: "review-\(UUID().uuidString)"))
    }

    private func directRoom(_ user: String) async throws -> String {
        if let room = rooms.room(of: user) { return room }
        let created = try await api.call(
            .POST, "/_matrix/client/v3/createRoom", query: asUser,
            json: try APIClient.json(["is_direct": true, "invite": [user], "preset": "trusted_private_chat"])) as? [String: Any]
        guard let room = created?.string("room_id") else { throw PlatformError.permanent("createRoom: no room_id") }
        rooms.add(room: room, user: user)
        _ = try? await api.call(
            .PUT, "/_matrix/client/v3/user/\(MatrixIDs.segment(botUser))/account_data/m.direct", query: asUser,
            json: try APIClient.json(rooms.map))
        return room
    }

    private func send(room: String, content: [String: Any], txn: String) async throws -> String {
        let path = "/_matrix/client/v3/rooms/\(MatrixIDs.segment(room))/send/m.room.message/\(MatrixIDs.segment(txn))"
        let object = try await api.call(.PUT, path, query: asUser, json: try APIClient.json(content)) as? [String: Any]
        guard let id = object?.string("event_id") else { throw PlatformError.permanent("send: no event_id") }
        return id
    }
}
