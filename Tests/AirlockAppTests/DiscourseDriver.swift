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

// MARK: - Discourse

final class DiscourseDriver: ConversationDriver, @unchecked Sendable {
    // Safe: `state` is a Mutex; the rest is immutable.
    struct Post {
        var id: Int
        var topic: Int
        var number: Int
        var username: String
        var raw: String
        var isPrivate: Bool
        var recipient: String?
        var replyTo: Int?
    }
    struct State {
        var posts: [Post] = []
        var nextID = 100
        var nextTopic = 500
        /// Private-message topics and who may read them (user ids).
        var allowed: [Int: Set<Int>] = [:]
        var blocked: Set<Int> = []
    }
    let name = "discourse"
    let secret = "airlock-discourse-secret"
    let botUserID = 1
    /// Immutable user ids; `botacct` is Discourse's own discobot (id -2).
    static let ids = ["requester": 11, "approver": 12, "stranger": 13, "puppet": 14, "botacct": -2, "airlock": 1]
    let state = Mutex(State())
    let topic = 42
    lazy var api: FakeAPI = FakeAPI { [unowned self] call in self.handle(call) }

    init() { _ = api }

    func id(_ who: String) -> String { String(Self.ids[who] ?? 99) }
    func username(_ userID: Int) -> String { Self.ids.first { $0.value == userID }?.key ?? "user\(userID)" }
    var mentionThread: String { "3" }

    func configure(_ config: inout AirlockConfig, fakeBase: String) {
        config.platforms.append(
            DiscourseModule(url: fakeBase, apiKey: "dk-key", apiUsername: "airlock", webhookSecret: secret)
        )
    }

    func blockDMs(to who: String, _ blocked: Bool) {
        let user = Self.ids[who] ?? 99
        state.withLock { if blocked { $0.blocked.insert(user) } else { $0.blocked.remove(user) } }
    }
    /// Any `@name` may be a group: every mention reaches the topic as code.
    var massMentions: [String] { ["@everyone", "@channel", "@acme/security", "@sre"] }

    func handle(_ call: FakeAPI.Call) -> FakeAPI.Reply {
        guard call.headers["api-key"] == "dk-key", call.headers["api-username"] == "airlock" else {
            return .init(status: 403, json: ["errors": ["invalid api key"]])
        }
        switch (call.method, call.path) {
        case ("GET", "/u/airlock.json"):
            return .init(json: ["user": ["id": botUserID, "username": "airlock"]])
        case ("GET", let path) where path.hasPrefix("/admin/users/"):
            let user = Int(path.dropFirst("/admin/users/".count).prefix { $0.isNumber || $0 == "-" }) ?? 0
            return .init(json: ["id": user, "username": username(user)])
        case ("POST", "/posts.json"):
            let body = call.object
            let refused = state.withLock { state -> Bool in
                let isPrivate = body["archetype"] as? String == "private_message"
                let topic = (body["topic_id"] as? Double).map(Int.init)
                let readers: Set<Int> =
                    isPrivate
                    ? [Self.ids[body["target_recipients"] as? String ?? ""] ?? 99]
                    : topic.flatMap { state.allowed[$0] } ?? []
                return !readers.intersection(state.blocked).isEmpty
            }
            if refused {
                return .init(status: 403, json: ["errors": ["You are not permitted to send messages to that user."]])
            }
            let post = state.withLock { state -> Post in
                state.nextID += 1
                let isPrivate = body["archetype"] as? String == "private_message"
                let topic: Int
                if isPrivate {
                    state.nextTopic += 1
                    topic = state.nextTopic
                    let recipient = Self.ids[body["target_recipients"] as? String ?? ""] ?? 99
                    state.allowed[topic] = [botUserID, recipient]
                } else {
                    topic = (body["topic_id"] as? Double).map(Int.init) ?? 0
                }
                let readers = state.allowed[topic]
                let post = Post(
                    id: state.nextID,
                    topic: topic,
                    number: state.posts.filter { $0.topic == topic }.count + 1,
                    username: "airlock",
                    raw: body["raw"] as? String ?? "",
                    isPrivate: readers != nil,
                    recipient: readers.flatMap {
                        $0.subtracting([botUserID]).count == 1
                            ? $0.subtracting([botUserID]).first.map(String.init) : "group"
                    },
                    replyTo: (body["reply_to_post_number"] as? Double).map(Int.init)
                )
                state.posts.append(post)
                return post
            }
            return .init(json: ["id": post.id, "topic_id": post.topic, "post_number": post.number])
        case ("GET", let path) where path.hasPrefix("/t/"):
            let topic = Int(path.dropFirst(3).prefix { $0.isNumber }) ?? 0
            let (posts, allowed) = state.withLock { state in
                (state.posts.filter { $0.topic == topic }, state.allowed[topic])
            }
            // Only the first post in `posts`; the rest by id in `stream`, like a long topic.
            var object: [String: Any] = [
                "archetype": allowed == nil ? "regular" : "private_message",
                "post_stream": [
                    "posts": posts.prefix(1).map {
                        ["id": $0.id, "username": $0.username, "post_number": $0.number, "cooked": "<p>\($0.raw)</p>"]
                    },
                    "stream": posts.map(\.id),
                ],
            ]
            if let allowed {
                object["details"] = [
                    "allowed_users": allowed.sorted().map { ["id": $0, "username": username($0)] },
                    "allowed_groups": [] as [Any],
                ]
            } else {
                object["details"] = ["created_by": ["id": 11]]
            }
            return .init(json: object)
        case ("GET", let path) where path.hasPrefix("/posts/"):
            let id = Int(path.dropFirst(7).prefix { $0.isNumber }) ?? 0
            guard let post = state.withLock({ $0.posts }).first(where: { $0.id == id }) else {
                return .init(status: 404, json: [:])
            }
            return .init(json: [
                "id": post.id, "username": post.username, "user_id": Self.ids[post.username] ?? 50,
                "post_number": post.number, "raw": post.raw,
            ])
        default:
            return .init(status: 404, json: ["errors": ["not found"]])
        }
    }

    /// What the bot wrote (people's posts seeded into topics are not the bot's messages).
    var messages: [FakeMessage] {
        state.withLock { $0.posts }.filter { $0.username == "airlock" }.map { post in
            post.isPrivate
                ? FakeMessage(place: "dm:" + (post.recipient ?? ""), text: post.raw, isPublic: false, thread: nil)
                : FakeMessage(
                    place: String(post.topic),
                    text: post.raw,
                    isPublic: true,
                    thread: post.replyTo.map(String.init)
                )
        }
    }

    func deliver(_ app: AirlockUnderTest, _ post: [String: Any]) async throws -> Int {
        let body = try JSONSerialization.data(withJSONObject: ["post": post])
        return try await deliver(app, body: body)
    }

    func deliver(_ app: AirlockUnderTest, body: Data) async throws -> Int {
        let signature = HMACTesting.sha256Hex(key: secret, body)
        return try await app.send(
            "/discourse/webhook",
            body: body,
            headers: [
                ("Content-Type", "application/json"), ("X-Discourse-Event", "post_created"),
                ("X-Discourse-Event-Type", "post"),
                ("X-Discourse-Event-Id", String(Int.random(in: 1...1_000_000))),
                ("X-Discourse-Event-Signature", "sha256=" + signature),
            ]
        ).status
    }

    func mentionBody(from who: String, text: String) -> [String: Any] {
        [
            "id": 1000 + Int.random(in: 0...999), "user_id": Self.ids[who] ?? 99, "username": who,
            "raw": "@airlock \(text)",
            "cooked": "<p><a class=\"mention\" href=\"/u/airlock\">@airlock</a> \(text)</p>", "topic_id": topic,
            "post_number": 3,
            "topic_archetype": "regular", "post_type": 1,
        ]
    }

    /// The mention, as a post of the topic too (so the topic reads as Discourse would show it).
    func mentionPost(from who: String, text: String) -> [String: Any] {
        let post = mentionBody(from: who, text: text)
        state.withLock { state in
            state.posts.append(
                Post(
                    id: post["id"] as! Int,
                    topic: topic,
                    number: 3,
                    username: who,
                    raw: "@airlock \(text)",
                    isPrivate: false
                )
            )
        }
        return post
    }

    func mention(_ app: AirlockUnderTest, from who: String, text: String) async throws -> Int {
        try await deliver(app, mentionPost(from: who, text: text))
    }

    func replayMention(_ app: AirlockUnderTest, from who: String, text: String) async throws {
        // Discourse signs no id or time: the same body (a new X-Discourse-Event-Id each time) is one post.
        let body = try JSONSerialization.data(withJSONObject: ["post": mentionPost(from: who, text: text)])
        for _ in 0..<2 { #expect(try await deliver(app, body: body) == 200) }
    }

    /// A post in a private-message topic: the one `who` shares with the bot (started by `who` if there is none).
    func command(
        _ app: AirlockUnderTest,
        from who: String,
        _ command: String,
        _ argument: String
    ) async throws -> String {
        let before = dms(to: who).count
        let user = Self.ids[who] ?? 99
        let privateTopic = state.withLock { state -> Int in
            if let topic = state.allowed.first(where: { $0.value == [botUserID, user] })?.key { return topic }
            state.nextTopic += 1
            state.allowed[state.nextTopic] = [botUserID, user]
            return state.nextTopic
        }
        _ = try await deliver(
            app,
            [
                "id": 5000 + Int.random(in: 0...99_999), "user_id": user, "username": who,
                "raw": "\(command) \(argument)",
                "topic_id": privateTopic, "post_number": 2, "topic_archetype": "private_message", "post_type": 1,
            ]
        )
        return await nextDM(to: who, after: before)
    }

    /// A group PM among the bot, the stranger and the requester: Discourse delivers it, Airlock must not read it.
    func foreignPrivate(_ app: AirlockUnderTest, from who: String, marker: String) async throws -> Bool {
        let topic = state.withLock { state -> Int in
            state.nextTopic += 1
            state.allowed[state.nextTopic] = [botUserID, Self.ids[who] ?? 99, Self.ids["requester"]!]
            return state.nextTopic
        }
        #expect(
            try await deliver(
                app,
                [
                    "id": 7000 + Int.random(in: 0...999), "user_id": Self.ids[who] ?? 99, "username": who,
                    "raw": "how do I read the payroll export? \(marker)", "topic_id": topic, "post_number": 1,
                    "topic_archetype": "private_message", "post_type": 1,
                ]
            ) == 200
        )
        return true
    }
}
