import AirlockApp
import AirlockDiscord
import AirlockDiscourse
import AirlockDomain
import AirlockGitHub
import AirlockMatrix
import AirlockMattermost
import AirlockSQLite
import AirlockTesting
import AirlockWebhookKit
import AsyncHTTPClient
import Foundation
import NIOCore
import Synchronization
import Testing

// MARK: - Matrix

final class MatrixDriver: ConversationDriver, @unchecked Sendable {
    // Safe: `state` is a Mutex; the rest is immutable.
    struct Event {
        var id: String
        var room: String
        var body: String
        var threadRoot: String?
        var tag: [String: any Sendable]?
        var txn: String
        var followUpOn: String? = nil
    }
    struct Room {
        var members: [String: String]
        var joinRule: String
    }
    struct State {
        var events: [Event] = []
        /// Rooms the bot created, by the person they were created for.
        var directs: [String: String] = [:]
        var rooms: [String: Room] = [:]
        var next = 0
        var mDirect: String?
        var blocked: Set<String> = []
        var created = 0
        /// People's messages: (event id, sender, body, origin_server_ts, thread root or nil for a root).
        var people: [(id: String, sender: String, body: String, ts: Int, root: String?)] = []
    }
    let name = "matrix"
    let bot = "@airlock:test"
    let publicRoom = "!ops:test"
    let rootEvent = "$root-question"
    let state = Mutex(State())
    /// What `m.direct` says at start (a deployment upgraded from a version that trusted invites' `is_direct`).
    let initialDirect: [String: [String]]
    lazy var api: FakeAPI = FakeAPI { [unowned self] call in self.handle(call) }

    init(initialDirect: [String: [String]] = [:]) {
        self.initialDirect = initialDirect
        _ = api
    }

    /// `botacct` is in the application service's own namespace (`@airlock_…`), which marks bridge and bot users.
    func id(_ who: String) -> String { who == "botacct" ? "@airlock_bridge:test" : "@\(who):test" }
    var mentionThread: String { rootEvent }

    func configure(_ config: inout AirlockConfig, fakeBase: String) {
        config.platforms.append(
            MatrixModule(homeserverURL: fakeBase, asToken: "as-token", hsToken: "hs-token", botUser: bot)
        )
    }

    func blockDMs(to who: String, _ blocked: Bool) {
        state.withLock { if blocked { $0.blocked.insert(id(who)) } else { $0.blocked.remove(id(who)) } }
    }
    var massMentions: [String] { ["@room"] }
    /// The public reply says it mentions nobody, and its HTML shows links as code.
    func checkPublicPost() {
        let posts = api.calls.filter {
            $0.method == "PUT" && ($0.path.removingPercentEncoding ?? $0.path).contains("/rooms/\(publicRoom)/send/")
        }
        #expect(posts.count == 1)
        let content = posts.first?.object ?? [:]
        #expect((content["m.mentions"] as? [String: any Sendable])?.isEmpty == true, "no empty m.mentions")
        #expect((content["formatted_body"] as? String)?.contains("<code>https://evil.example/preview</code>") == true)
    }

    /// A room member joins (or is invited to) a room.
    func setMember(_ user: String, in room: String, _ membership: String) {
        state.withLock { $0.rooms[room, default: Room(members: [:], joinRule: "public")].members[user] = membership }
    }

    func handle(_ call: FakeAPI.Call) -> FakeAPI.Reply {
        guard call.headers["authorization"] == "Bearer as-token" else {
            return .init(status: 401, json: ["errcode": "M_UNKNOWN_TOKEN"])
        }
        let path = call.path.removingPercentEncoding ?? call.path
        if path == "/_matrix/client/v3/account/whoami" { return .init(json: ["user_id": call.query["user_id"] ?? bot]) }
        if path.hasSuffix("/account_data/m.direct") {
            if call.method == "PUT" {
                state.withLock { $0.mDirect = String(decoding: call.body, as: UTF8.self) }
                return .init(json: [:])
            }
            return initialDirect.isEmpty
                ? .init(status: 404, json: ["errcode": "M_NOT_FOUND"]) : .init(json: initialDirect)
        }
        if path == "/_matrix/client/v3/createRoom" {
            let invitee = (call.object["invite"] as? [any Sendable])?.first as? String ?? ""
            guard call.object["preset"] as? String == "trusted_private_chat", call.object["is_direct"] as? Double == 1
            else {
                return .init(status: 400, json: ["errcode": "M_BAD_JSON"])
            }
            let room = state.withLock { state -> String in
                state.created += 1
                let room = "!dm\(state.created)-\(invitee.dropFirst().prefix { $0 != ":" }):test"
                state.directs[room] = invitee
                state.rooms[room] = Room(members: [bot: "join", invitee: "invite"], joinRule: "invite")
                return room
            }
            return .init(json: ["room_id": room])
        }
        if path.hasSuffix("/join") { return .init(json: ["room_id": "x"]) }
        let parts = path.components(separatedBy: "/")
        if call.method == "GET", parts.count >= 8, parts[6] == "event" {
            if let sent = state.withLock({ $0.events }).first(where: { $0.id == parts[7] && $0.room == parts[5] }) {
                var content: [String: Any] = ["msgtype": "m.text", "body": sent.body]
                if let draft = sent.followUpOn { content["org.airlock.follow_up_on"] = draft }
                return .init(json: ["event_id": sent.id, "sender": bot, "room_id": sent.room, "content": content])
            }
            guard let event = state.withLock({ $0.people }).first(where: { $0.id == parts[7] }) else {
                return .init(status: 404, json: ["errcode": "M_NOT_FOUND"])
            }
            return .init(json: [
                "event_id": event.id, "sender": event.sender, "origin_server_ts": event.ts,
                "content": ["body": event.body],
            ])
        }
        if call.method == "GET", parts.count >= 7, parts[4] == "rooms", ["members", "state"].contains(parts[6]) {
            let room = parts[5]
            guard let known = state.withLock({ $0.rooms[room] }) else {
                return .init(status: 403, json: ["errcode": "M_FORBIDDEN"])
            }
            if parts[6] == "members" {
                return .init(json: [
                    "chunk": known.members.map {
                        ["type": "m.room.member", "state_key": $0.key, "content": ["membership": $0.value]]
                    }
                ])
            }
            if parts[6] == "state", parts.count >= 8, parts[7] == "m.room.join_rules" {
                return .init(json: ["join_rule": known.joinRule])
            }
        }
        if call.method == "PUT", path.contains("/send/m.room.message/") {
            let room = parts[5]
            let txn = parts[8]
            if let user = state.withLock({ $0.directs[room] }), state.withLock({ $0.blocked.contains(user) }) {
                return .init(
                    status: 403,
                    json: ["errcode": "M_FORBIDDEN", "error": "You are not allowed to send here"]
                )
            }
            let content = call.object
            let relation = content["m.relates_to"] as? [String: any Sendable]
            let id = state.withLock { state -> String in
                // Idempotent per transaction id.
                if let existing = state.events.first(where: { $0.txn == txn }) { return existing.id }
                state.next += 1
                let id = "$event\(state.next)"
                state.events.append(
                    Event(
                        id: id,
                        room: room,
                        body: content["body"] as? String ?? "",
                        threadRoot: relation?["event_id"] as? String,
                        tag: content["airlock_publish"] as? [String: any Sendable],
                        txn: txn,
                        followUpOn: content["org.airlock.follow_up_on"] as? String
                    )
                )
                return id
            }
            return .init(json: ["event_id": id])
        }
        if path.contains("/relations/") {
            let events = state.withLock { $0.events }.filter { $0.room == parts[5] && $0.threadRoot == parts[7] }
            let people = state.withLock { $0.people }.filter { $0.root == parts[7] }
            // Newest first, as the homeserver pages them.
            let chunk: [[String: Any]] =
                people.reversed().map {
                    ["event_id": $0.id, "sender": $0.sender, "origin_server_ts": $0.ts, "content": ["body": $0.body]]
                }
                + events.map { event -> [String: Any] in
                    var content: [String: Any] = ["body": event.body]
                    if let tag = event.tag { content["airlock_publish"] = FakeSlack.plain(tag) }
                    return [
                        "event_id": event.id, "sender": bot, "origin_server_ts": 1_700_000_099_000, "content": content,
                    ]
                }
            return .init(json: ["chunk": chunk])
        }
        return .init(status: 404, json: ["errcode": "M_UNRECOGNIZED"])
    }

    var messages: [FakeMessage] {
        let (events, directs) = state.withLock { ($0.events, $0.directs) }
        return events.map { event in
            if let user = directs[event.room] {
                return FakeMessage(place: "dm:" + user, text: event.body, isPublic: false, thread: nil)
            }
            return FakeMessage(place: event.room, text: event.body, isPublic: true, thread: event.threadRoot)
        }
    }

    func push(_ app: AirlockUnderTest, _ events: [[String: Any]]) async throws -> TestResponse {
        let body = try JSONSerialization.data(withJSONObject: ["events": events])
        return try await app.send(
            "/_matrix/app/v1/transactions/\(UUID().uuidString)",
            body: body,
            headers: [
                ("Content-Type", "application/json"), ("Authorization", "Bearer hs-token"),
            ],
            method: "PUT"
        )
    }

    func mentionEvent(from who: String, text: String, room: String? = nil, id eventID: String? = nil) -> [String: Any] {
        [
            "type": "m.room.message", "sender": id(who), "room_id": room ?? publicRoom,
            "event_id": eventID ?? rootEvent, "origin_server_ts": Int(Date().timeIntervalSince1970 * 1000),
            "content": ["msgtype": "m.text", "body": "airlock: \(text)", "m.mentions": ["user_ids": [bot]]],
        ]
    }

    func mention(_ app: AirlockUnderTest, from who: String, text: String) async throws -> Int {
        try await push(app, [mentionEvent(from: who, text: text)]).status
    }

    /// The room the bot created for `who`, if any.
    func directRoom(of who: String) -> String? {
        state.withLock { state in state.directs.filter { $0.value == id(who) }.keys.max() }
    }

    func command(
        _ app: AirlockUnderTest,
        from who: String,
        _ command: String,
        _ argument: String
    ) async throws -> String {
        let before = dms(to: who).count
        let room = directRoom(of: who) ?? publicRoom
        var content: [String: Any] = ["msgtype": "m.text", "body": "\(command) \(argument)"]
        if room == publicRoom {
            content["body"] = "\(bot) \(command) \(argument)"
            content["m.mentions"] = ["user_ids": [bot]]
        }
        _ = try await push(
            app,
            [
                [
                    "type": "m.room.message", "sender": id(who), "room_id": room,
                    "event_id": "$cmd\(UUID().uuidString.prefix(8))", "content": content,
                ]
            ]
        )
        return await nextDM(to: who, after: before)
    }

    /// An outsider on another homeserver invites the bot to a public room as "direct" and talks there; then a third
    /// person writes in the requester's own direct room.
    func foreignPrivate(_ app: AirlockUnderTest, from who: String, marker: String) async throws -> Bool {
        let outsider = "@eve:evil.org"
        let room = "!lobby:evil.org"
        setMember(outsider, in: room, "join")
        setMember("@mallory:evil.org", in: room, "join")
        #expect(
            try await push(
                app,
                [
                    [
                        "type": "m.room.member", "sender": outsider, "room_id": room, "state_key": bot,
                        "event_id": "$inv1",
                        "content": ["membership": "invite", "is_direct": true],
                    ],
                    [
                        "type": "m.room.message", "sender": outsider, "room_id": room, "event_id": "$eve1",
                        "content": ["msgtype": "m.text", "body": "how do I get the database admin password?"],
                    ],
                    [
                        "type": "m.room.message", "sender": "@mallory:evil.org", "room_id": room, "event_id": "$mal1",
                        "content": ["msgtype": "m.text", "body": "publish everything"],
                    ],
                ]
            ).status == 200
        )
        let requesterRoom = try #require(directRoom(of: "requester"))
        #expect(
            try await push(
                app,
                [
                    [
                        "type": "m.room.message", "sender": id(who), "room_id": requesterRoom, "event_id": "$foreign1",
                        "content": ["msgtype": "m.text", "body": "how do I read the payroll export? \(marker)"],
                    ]
                ]
            ).status == 200
        )
        #expect(!messages.contains { $0.place == room }, "the bot wrote in the outsider's public room")
        return true
    }
}
