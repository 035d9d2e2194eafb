import AirlockApp
import AirlockDomain
import AirlockDiscord
import AirlockDiscourse
import AirlockGitHub
import AirlockMattermost
import AirlockMatrix
import AirlockSQLite
import AirlockTesting
import AirlockWebhookKit
import AsyncHTTPClient
import Foundation
import NIOCore
import Synchronization
import Testing

/// A message a platform fake holds: where it went and what it says.
struct FakeMessage: Sendable {
    var place: String
    var text: String
    var isPublic: Bool
    var thread: String?
}

/// Drives one platform's side of the conversation against its loopback fake.
protocol ConversationDriver: Sendable {
    var name: String { get }
    var api: FakeAPI { get }
    /// Enables the platform in `config`, pointed at the fake.
    func configure(_ config: inout AirlockConfig, fakeBase: String)
    /// The platform's id for a test person (`requester`, `approver`, `stranger`).
    func id(_ who: String) -> String
    /// Mentions the bot with a question from `who` in the public thread.
    func mention(_ app: AirlockUnderTest, from who: String, text: String) async throws -> Int
    /// Sends a command (`publish`, `approve`, …) as `who`; returns the text the sender is told.
    func command(_ app: AirlockUnderTest, from who: String, _ command: String, _ argument: String) async throws -> String
    /// Messages delivered so far.
    var messages: [FakeMessage] { get }
    /// The thread the mention was made in (where the answer must go).
    var mentionThread: String { get }
    /// True when the platform's people are answered on linked Slack accounts (GitHub).
    var keepsSlack: Bool { get }
    func attach(slack: FakeSlack)
    /// Last adjustments to the configuration (identity links).
    func adjust(_ config: inout AirlockConfig)
}

extension ConversationDriver {
    var keepsSlack: Bool { false }
    func attach(slack: FakeSlack) {}
    func adjust(_ config: inout AirlockConfig) {}

    func dms(to who: String) -> [String] { messages.filter { !$0.isPublic && $0.place == "dm:" + id(who) }.map(\.text) }
    var publicPosts: [FakeMessage] { messages.filter(\.isPublic) }

    /// Waits for a new DM to `who` after `count` and returns it.
    func nextDM(to who: String, after count: Int) async -> String {
        _ = await eventually { dms(to: who).count > count }
        return dms(to: who).dropFirst(count).last ?? ""
    }
}

@Suite("Every platform walks the whole conversation against its loopback fake")
struct PlatformConversationTests {
    static let drivers: [any ConversationDriver] = [MattermostDriver(), DiscourseDriver(), DiscordDriver(), GitHubDriver(), MatrixDriver()]

    @Test("mention → private DM → refusals → publish + approve → one threaded post → audit verify", arguments: drivers.map(\.name))
    func conversation(_ name: String) async throws {
        let driver = try #require(Self.drivers.first { $0.name == name })
        let database = temporaryDatabase()
        try await withFakeAPI(driver.api) { api in
            let base = try await api.baseURL()
            try await withFakeSlack { slack in
                driver.attach(slack: slack)
                try await withAirlock(slack: slack, database: database, configure: { config in
                    if !driver.keepsSlack { config.slack = nil }
                    driver.configure(&config, fakeBase: base)
                    let platform = PlatformName(driver.name)
                    config.policy = ApprovalPolicy(approvers: [
                        PersonID(platform: platform, id: driver.id("requester")), PersonID(platform: platform, id: driver.id("approver")),
                    ])
                    driver.adjust(&config)
                }) { app in
                    #expect(try await driver.mention(app, from: "requester", text: "how do I roll back a deploy?") == 200)
                    #expect(await eventually { driver.dms(to: "requester").contains { $0.contains("Draft answer") } }, "no DM with the draft")
                    #expect(driver.publicPosts.isEmpty, "something was written publicly before approval")
                    let draft = try #require(try await app.store.drafts(DraftFilter()).first)
                    let id = draft.id.rawValue
                    #expect(draft.requester == PersonID(platform: PlatformName(driver.name), id: driver.id("requester")))

                    let stranger = try await driver.command(app, from: "stranger", "publish", id)
                    #expect(stranger.contains("Only the person who asked"), "\(stranger)")
                    let publish = try await driver.command(app, from: "requester", "publish", id)
                    #expect(publish.contains("Publish requested"), "\(publish)")
                    #expect(await eventually { driver.dms(to: "approver").contains { $0.contains("/approve \(id) v1") } }, "no review DM")
                    let own = try await driver.command(app, from: "requester", "approve", "\(id) v1")
                    #expect(own.contains("cannot approve"), "\(own)")
                    // Where the reply is a DM (Discourse, Matrix), it and the "now public" DM go out from concurrent jobs,
                    // in either order: the reply may be any of the DMs after the command.
                    let sent = driver.dms(to: "approver").count
                    let approved = try await driver.command(app, from: "approver", "approve", "\(id) v1")
                    let toldApproved = approved.contains("Approved")
                    #expect(
                        await eventually { toldApproved || driver.dms(to: "approver").dropFirst(sent).contains { $0.contains("Approved") } },
                        "\(approved) \(driver.dms(to: "approver").dropFirst(sent))")
                    _ = try await waitForState(app, draft.id, .posted)
                    #expect(driver.publicPosts.count == 1)
                    let post = try #require(driver.publicPosts.first)
                    #expect(post.thread == driver.mentionThread, "posted outside the original thread")
                    #expect(post.text.contains("opsctl deploy rollback"))
                    // Both are told by DM with the link; only then is the next DM to the approver a command reply.
                    #expect(await eventually { driver.dms(to: "approver").contains { $0.contains("now public") } })
                    #expect(await eventually { driver.dms(to: "requester").contains { $0.contains("now public") } })
                    let again = try await driver.command(app, from: "approver", "approve", "\(id) v1")
                    #expect(again.contains("posted"), "\(again)")
                    #expect(driver.publicPosts.count == 1)
                }
            }
        }
        #expect(try await Operations.verifyAudit(try SQLiteStore.open(url: database)).0)
    }
}

@Suite("Platforms that cannot answer privately fail closed")
struct FailClosedTests {
    @Test("GitHub: a requester with no linked chat account is refused, recorded, and nothing is posted anywhere")
    func githubWithoutLink() async throws {
        let driver = GitHubDriver()
        try await withFakeAPI(driver.api) { api in
            let base = try await api.baseURL()
            try await withFakeSlack { slack in
                driver.attach(slack: slack)
                try await withAirlock(slack: slack, database: temporaryDatabase(), configure: { driver.configure(&$0, fakeBase: base) }) { app in
                    #expect(try await driver.mention(app, from: "stranger", text: "how do I roll back a deploy?") == 200)
                    let refusal = try await auditEntries(app.store).first { $0.kind == "refusal" }
                    #expect(refusal?.detail.contains("no_private_channel") == true)
                    #expect(refusal?.actor == "github:stranger-gh")
                    #expect(try await app.store.drafts(DraftFilter()).isEmpty)
                    #expect(driver.messages.isEmpty, "something was sent")
                    #expect(api.calls("POST", "/graphql").isEmpty, "something was posted on GitHub")
                }
            }
        }
    }
}

@Suite("Platform inbound rules over HTTP")
struct PlatformInboundTests {
    @Test("Matrix: no token 401 M_UNAUTHORIZED, a wrong one 403 M_FORBIDDEN; a retried transaction does nothing twice")
    func matrixTransactions() async throws {
        let driver = MatrixDriver()
        try await withFakeAPI(driver.api) { api in
            let base = try await api.baseURL()
            try await withFakeSlack { slack in
                try await withAirlock(slack: slack, database: temporaryDatabase(), configure: { config in
                    config.slack = nil
                    driver.configure(&config, fakeBase: base)
                }) { app in
                    let body = Data(#"{"events":[]}"#.utf8)
                    let missing = try await app.send("/_matrix/app/v1/transactions/1", body: body, headers: [("Content-Type", "application/json")], method: "PUT")
                    #expect(missing.status == 401 && missing.body.contains("M_UNAUTHORIZED"))
                    let wrong = try await app.send(
                        "/_matrix/app/v1/transactions/1", body: body,
                        headers: [("Content-Type", "application/json"), ("Authorization", "Bearer nope")], method: "PUT")
                    #expect(wrong.status == 403 && wrong.body.contains("M_FORBIDDEN"))
                    let event: [String: Any] = [
                        "type": "m.room.message", "sender": "@requester:test", "room_id": "!ops:test", "event_id": "$same",
                        "content": ["msgtype": "m.text", "body": "airlock: how do I roll back a deploy?", "m.mentions": ["user_ids": ["@airlock:test"]]],
                    ]
                    let payload = try JSONSerialization.data(withJSONObject: ["events": [event]])
                    for _ in 0..<2 {
                        let response = try await app.send(
                            "/_matrix/app/v1/transactions/7", body: payload,
                            headers: [("Content-Type", "application/json"), ("Authorization", "Bearer hs-token")], method: "PUT")
                        #expect(response.status == 200 && response.body == "{}")
                    }
                    #expect(await eventually { driver.dms(to: "requester").count == 1 })
                    #expect(try await app.store.drafts(DraftFilter()).count == 1)
                }
            }
        }
    }

    @Test("Discord: a bad signature is 401 (Discord probes for this) and a PING gets a PONG")
    func discordProbe() async throws {
        let driver = DiscordDriver()
        try await withFakeAPI(driver.api) { api in
            let base = try await api.baseURL()
            try await withFakeSlack { slack in
                try await withAirlock(slack: slack, database: temporaryDatabase(), configure: { config in
                    config.slack = nil
                    driver.configure(&config, fakeBase: base)
                }) { app in
                    let body = Data(#"{"type":1}"#.utf8)
                    let stamp = String(Int(Date().timeIntervalSince1970))
                    let bad = try await app.send("/discord/interactions", body: body, headers: [
                        ("Content-Type", "application/json"), ("X-Signature-Timestamp", stamp), ("X-Signature-Ed25519", String(repeating: "0", count: 128)),
                    ])
                    #expect(bad.status == 401)
                    let good = try await app.send("/discord/interactions", body: body, headers: [
                        ("Content-Type", "application/json"), ("X-Signature-Timestamp", stamp),
                        ("X-Signature-Ed25519", Ed25519Testing.sign(seedHex: driver.seed, timestamp: stamp, body: body)),
                    ])
                    #expect(good.status == 200 && good.body == #"{"type":1}"#)
                }
            }
        }
    }
}

// MARK: - Mattermost

final class MattermostDriver: ConversationDriver, @unchecked Sendable {
    // Safe: `state` is a Mutex; the rest is immutable.
    let name = "mattermost"
    let botID = "airlockbot0000000000000000"
    let state = Mutex<(posts: [(id: String, channel: String, message: String, root: String?, props: String?)], next: Int)>(([], 0))
    let channel = "townsquare000000000000000a"
    let rootPost = "rootpost000000000000000000"
    lazy var api: FakeAPI = FakeAPI { [unowned self] call in self.handle(call) }

    init() { _ = api }

    func id(_ who: String) -> String { (who + String(repeating: "0", count: 26)).prefix(26).lowercased() }
    var mentionThread: String { rootPost }

    func configure(_ config: inout AirlockConfig, fakeBase: String) {
        config.platforms.append(
            MattermostModule(serverURL: fakeBase, botToken: "mm-bot-token", commandToken: "mm-command-token", webhookToken: "mm-webhook-token"))
    }

    func handle(_ call: FakeAPI.Call) -> FakeAPI.Reply {
        guard call.headers["authorization"] == "Bearer mm-bot-token" else { return .init(status: 401, json: ["id": "api.context.session_expired"]) }
        switch (call.method, call.path) {
        case ("GET", "/api/v4/users/me"):
            return .init(json: ["id": botID, "username": "airlock"])
        case ("POST", "/api/v4/channels/direct"):
            let users = call.json as? [any Sendable] ?? []
            guard users.count == 2, (users[0] as? String) == botID, let user = users[1] as? String else {
                return .init(status: 400, json: ["id": "bad"])
            }
            return .init(status: 201, json: ["id": "dm-" + user, "type": "D"])
        case ("POST", "/api/v4/posts"):
            let object = call.object
            let props = (object["props"]).flatMap { try? JSONSerialization.data(withJSONObject: FakeSlack.plain($0)) }
                .map { String(decoding: $0, as: UTF8.self) }
            let id = state.withLock { state -> String in
                state.next += 1
                let id = String(format: "post%022d", state.next)
                state.posts.append((id, object["channel_id"] as? String ?? "", object["message"] as? String ?? "", object["root_id"] as? String, props))
                return id
            }
            return .init(status: 201, json: ["id": id])
        case ("GET", let path) where path.hasPrefix("/api/v4/posts/") && path.hasSuffix("/thread"):
            let root = path.split(separator: "/")[3]
            let posts = state.withLock { $0.posts }.filter { $0.root == String(root) }
            var map: [String: Any] = [:]
            for post in posts {
                map[post.id] = [
                    "id": post.id, "user_id": botID, "message": post.message,
                    "props": post.props.flatMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) } ?? [:],
                ]
            }
            return .init(json: ["order": posts.map(\.id), "posts": map])
        default:
            return .init(status: 404, json: ["id": "api.context.404"])
        }
    }

    var messages: [FakeMessage] {
        state.withLock { $0.posts }.map { post in
            post.channel.hasPrefix("dm-")
                ? FakeMessage(place: "dm:" + post.channel.dropFirst(3), text: post.message, isPublic: false, thread: nil)
                : FakeMessage(place: post.channel, text: post.message, isPublic: true, thread: post.root)
        }
    }

    func post(_ app: AirlockUnderTest, _ path: String, _ fields: [(String, String)]) async throws -> TestResponse {
        try await app.send(path, body: Data(SlackForms.encode(fields).utf8), headers: [("Content-Type", "application/x-www-form-urlencoded")])
    }

    func mention(_ app: AirlockUnderTest, from who: String, text: String) async throws -> Int {
        try await post(app, "/mattermost/webhook", [
            ("token", "mm-webhook-token"), ("team_id", "team"), ("channel_id", channel), ("user_id", id(who)),
            ("user_name", who), ("post_id", rootPost), ("text", "@airlock \(text)"), ("trigger_word", "@airlock"),
        ]).status
    }

    func command(_ app: AirlockUnderTest, from who: String, _ command: String, _ argument: String) async throws -> String {
        let response = try await post(app, "/mattermost/commands", [
            ("token", "mm-command-token"), ("team_id", "team"), ("channel_id", channel), ("user_id", id(who)),
            ("user_name", who), ("command", "/airlock"), ("text", "\(command) \(argument)"), ("trigger_id", UUID().uuidString),
        ])
        return response.json["text"] as? String ?? response.body
    }
}

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
    let name = "discourse"
    let secret = "airlock-discourse-secret"
    let state = Mutex<(posts: [Post], nextID: Int, nextTopic: Int)>(([], 100, 500))
    let topic = 42
    lazy var api: FakeAPI = FakeAPI { [unowned self] call in self.handle(call) }

    init() { _ = api }

    func id(_ who: String) -> String { who }
    var mentionThread: String { "3" }

    func configure(_ config: inout AirlockConfig, fakeBase: String) {
        config.platforms.append(DiscourseModule(url: fakeBase, apiKey: "dk-key", apiUsername: "airlock", webhookSecret: secret))
    }

    func handle(_ call: FakeAPI.Call) -> FakeAPI.Reply {
        guard call.headers["api-key"] == "dk-key", call.headers["api-username"] == "airlock" else {
            return .init(status: 403, json: ["errors": ["invalid api key"]])
        }
        switch (call.method, call.path) {
        case ("GET", "/u/airlock.json"):
            return .init(json: ["user": ["username": "airlock"]])
        case ("POST", "/posts.json"):
            let body = call.object
            let post = state.withLock { state -> Post in
                state.nextID += 1
                let isPrivate = body["archetype"] as? String == "private_message"
                let topic: Int
                if isPrivate {
                    state.nextTopic += 1
                    topic = state.nextTopic
                } else {
                    topic = (body["topic_id"] as? Double).map(Int.init) ?? 0
                }
                let existingPrivate = state.posts.first { $0.topic == topic && $0.isPrivate }
                let post = Post(
                    id: state.nextID, topic: topic, number: state.posts.filter { $0.topic == topic }.count + 1, username: "airlock",
                    raw: body["raw"] as? String ?? "", isPrivate: isPrivate || existingPrivate != nil,
                    recipient: (body["target_recipients"] as? String) ?? existingPrivate?.recipient,
                    replyTo: (body["reply_to_post_number"] as? Double).map(Int.init))
                state.posts.append(post)
                return post
            }
            return .init(json: ["id": post.id, "topic_id": post.topic, "post_number": post.number])
        case ("GET", let path) where path.hasPrefix("/t/"):
            let topic = Int(path.dropFirst(3).prefix { $0.isNumber }) ?? 0
            let posts = state.withLock { $0.posts }.filter { $0.topic == topic }
            // Only the first post in `posts`; the rest by id in `stream`, like a long topic.
            return .init(json: ["post_stream": [
                "posts": posts.prefix(1).map { ["id": $0.id, "username": $0.username, "post_number": $0.number, "cooked": "<p>\($0.raw)</p>"] },
                "stream": posts.map(\.id),
            ]])
        case ("GET", let path) where path.hasPrefix("/posts/"):
            let id = Int(path.dropFirst(7).prefix { $0.isNumber }) ?? 0
            guard let post = state.withLock({ $0.posts }).first(where: { $0.id == id }) else { return .init(status: 404, json: [:]) }
            return .init(json: ["id": post.id, "username": post.username, "post_number": post.number, "raw": post.raw])
        default:
            return .init(status: 404, json: ["errors": ["not found"]])
        }
    }

    var messages: [FakeMessage] {
        state.withLock { $0.posts }.map { post in
            post.isPrivate
                ? FakeMessage(place: "dm:" + (post.recipient ?? ""), text: post.raw, isPublic: false, thread: nil)
                : FakeMessage(place: String(post.topic), text: post.raw, isPublic: true, thread: post.replyTo.map(String.init))
        }
    }

    func deliver(_ app: AirlockUnderTest, _ post: [String: Any]) async throws -> Int {
        let body = try JSONSerialization.data(withJSONObject: ["post": post])
        let signature = HMACTesting.sha256Hex(key: secret, body)
        return try await app.send("/discourse/webhook", body: body, headers: [
            ("Content-Type", "application/json"), ("X-Discourse-Event", "post_created"), ("X-Discourse-Event-Type", "post"),
            ("X-Discourse-Event-Id", String(Int.random(in: 1...1_000_000))), ("X-Discourse-Event-Signature", "sha256=" + signature),
        ]).status
    }

    func mention(_ app: AirlockUnderTest, from who: String, text: String) async throws -> Int {
        try await deliver(app, [
            "id": 1000 + Int.random(in: 0...999), "username": who, "raw": "@airlock \(text)", "topic_id": topic, "post_number": 3,
            "topic_archetype": "regular", "post_type": 1,
        ])
    }

    func command(_ app: AirlockUnderTest, from who: String, _ command: String, _ argument: String) async throws -> String {
        let before = dms(to: who).count
        let privateTopic = state.withLock { $0.posts }.first { $0.isPrivate && $0.recipient == who }?.topic ?? 999
        _ = try await deliver(app, [
            "id": 5000 + Int.random(in: 0...99_999), "username": who, "raw": "\(command) \(argument)", "topic_id": privateTopic,
            "post_number": 2, "topic_archetype": "private_message", "post_type": 1,
        ])
        return await nextDM(to: who, after: before)
    }
}

// MARK: - Discord

final class DiscordDriver: ConversationDriver, @unchecked Sendable {
    // Safe: `state` is a Mutex; the rest is immutable.
    struct Message {
        var id: String
        var channel: String
        var content: String
        var replyTo: String?
    }
    let name = "discord"
    let seed = "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60"
    let botID = "100000000000000001"
    let channel = "200000000000000002"
    let state = Mutex<(messages: [Message], next: Int)>(([], 0))
    lazy var api: FakeAPI = FakeAPI { [unowned self] call in self.handle(call) }

    init() { _ = api }

    func id(_ who: String) -> String {
        switch who {
        case "requester": "300000000000000003"
        case "approver": "400000000000000004"
        default: "500000000000000005"
        }
    }
    var mentionThread: String { "-" }

    func configure(_ config: inout AirlockConfig, fakeBase: String) {
        config.platforms.append(
            DiscordModule(
                applicationID: "600000000000000006", publicKey: Ed25519Testing.publicKey(seedHex: seed), botToken: "discord-bot-token",
                apiURL: fakeBase + "/api/v10"))
    }

    func handle(_ call: FakeAPI.Call) -> FakeAPI.Reply {
        guard call.headers["authorization"] == "Bot discord-bot-token" else { return .init(status: 401, json: ["message": "401: Unauthorized"]) }
        switch (call.method, call.path) {
        case ("GET", "/api/v10/users/@me"):
            return .init(json: ["id": botID, "username": "airlock", "bot": true])
        case ("POST", "/api/v10/users/@me/channels"):
            let recipient = call.object["recipient_id"] as? String ?? ""
            return .init(json: ["id": "7" + recipient.dropFirst(), "type": 1])
        case ("POST", let path) where path.hasPrefix("/api/v10/channels/") && path.hasSuffix("/messages"):
            let channel = String(path.split(separator: "/")[3])
            let content = call.object["content"] as? String ?? ""
            guard content.count <= 2000 else { return .init(status: 400, json: ["code": 50035]) }
            let reference = (call.object["message_reference"] as? [String: any Sendable])?["message_id"] as? String
            let id = state.withLock { state -> String in
                state.next += 1
                let id = String(format: "8%017d", state.next)
                state.messages.append(Message(id: id, channel: channel, content: content, replyTo: reference))
                return id
            }
            return .init(json: ["id": id, "channel_id": channel, "content": content, "author": ["id": botID]])
        case ("GET", let path) where path.hasSuffix("/messages"):
            let channel = String(path.split(separator: "/")[3])
            let page = state.withLock { $0.messages }.filter { $0.channel == channel }.reversed().prefix(100)
            return .init(json: page.map { ["id": $0.id, "content": $0.content, "author": ["id": botID]] })
        default:
            return .init(status: 404, json: ["message": "404: Not Found"])
        }
    }

    var messages: [FakeMessage] {
        state.withLock { $0.messages }.map { message in
            message.channel.hasPrefix("7")
                ? FakeMessage(place: "dm:" + self.user(ofDirectChannel: message.channel), text: message.content, isPublic: false, thread: nil)
                : FakeMessage(place: message.channel, text: message.content, isPublic: true, thread: message.replyTo ?? "-")
        }
    }

    func user(ofDirectChannel channel: String) -> String {
        ["requester", "approver", "stranger"].map(id).first { "7" + $0.dropFirst() == channel } ?? channel
    }

    func interact(_ app: AirlockUnderTest, from who: String, name: String, options: [(String, String)]) async throws -> TestResponse {
        let body = try JSONSerialization.data(withJSONObject: [
            "type": 2, "id": String(format: "9%017d", Int.random(in: 0...99_999_999)), "application_id": "600000000000000006",
            "token": "interaction-token", "version": 1, "guild_id": "110000000000000011", "channel_id": channel,
            "member": ["user": ["id": id(who), "username": who]],
            "data": ["id": "1", "name": name, "type": 1, "options": options.map { ["name": $0.0, "type": 3, "value": $0.1] }],
        ])
        let stamp = String(Int(Date().timeIntervalSince1970))
        return try await app.send("/discord/interactions", body: body, headers: [
            ("Content-Type", "application/json"), ("X-Signature-Timestamp", stamp),
            ("X-Signature-Ed25519", Ed25519Testing.sign(seedHex: seed, timestamp: stamp, body: body)),
        ])
    }

    func mention(_ app: AirlockUnderTest, from who: String, text: String) async throws -> Int {
        let response = try await interact(app, from: who, name: "ask", options: [("question", text)])
        return response.status
    }

    func command(_ app: AirlockUnderTest, from who: String, _ command: String, _ argument: String) async throws -> String {
        let parts = argument.split(separator: " ", maxSplits: 1).map(String.init)
        var options = [("draft", parts.first ?? "")]
        if parts.count > 1 { options.append((command == "approve" || command == "publish" ? "version" : "text", parts[1])) }
        let response = try await interact(app, from: who, name: command, options: options)
        let data = response.json["data"] as? [String: any Sendable]
        #expect((data?["flags"] as? Double) == 64, "not ephemeral")
        return data?["content"] as? String ?? response.body
    }
}

// MARK: - GitHub (no DMs: people are answered, and send commands, on their linked Slack accounts)

final class GitHubDriver: ConversationDriver, @unchecked Sendable {
    // Safe: `state` is a Mutex; the rest is immutable.
    struct Comment {
        var id: String
        var discussion: String
        var replyTo: String?
        var body: String
    }
    let name = "github"
    let secret = "It's a Secret to Everybody"
    let discussion = "D_kwDOdiscussion7"
    let comment = "DC_kwDOcomment1"
    let state = Mutex<(comments: [Comment], slack: FakeSlack?)>(([], nil))
    lazy var api: FakeAPI = FakeAPI { [unowned self] call in self.handle(call) }

    init() { _ = api }

    var keepsSlack: Bool { true }
    func attach(slack: FakeSlack) { state.withLock { $0.slack = slack } }
    func id(_ who: String) -> String { who + "-gh" }
    func slackID(_ who: String) -> String {
        switch who {
        case "requester": "U0REQ"
        case "approver": "U0APP"
        default: "U0STR"
        }
    }
    var mentionThread: String { comment }

    func configure(_ config: inout AirlockConfig, fakeBase: String) {
        config.platforms.append(GitHubModule(webhookSecret: secret, token: "ghs-test-token", apiURL: fakeBase))
    }

    func adjust(_ config: inout AirlockConfig) {
        config.policy = config.policy.linking(["requester", "approver"].map {
            (PersonID(platform: .github, id: id($0)), PersonID(platform: .slack, id: slackID($0)))
        })
    }

    func handle(_ call: FakeAPI.Call) -> FakeAPI.Reply {
        guard call.headers["authorization"] == "Bearer ghs-test-token" else { return .init(status: 401, json: ["message": "Bad credentials"]) }
        switch (call.method, call.path) {
        case ("GET", "/user"):
            return .init(json: ["login": "airlock", "type": "Bot"])
        case ("POST", "/graphql"):
            let query = call.object["query"] as? String ?? ""
            let variables = call.object["variables"] as? [String: any Sendable] ?? [:]
            if query.contains("addDiscussionComment") {
                let id = "DC_reply\(Int.random(in: 1000...9999))"
                state.withLock {
                    $0.comments.append(Comment(
                        id: id, discussion: variables["discussionId"] as? String ?? "", replyTo: variables["replyToId"] as? String,
                        body: variables["body"] as? String ?? ""))
                }
                return .init(json: ["data": ["addDiscussionComment": ["comment": ["id": id, "url": "https://github.test/d/7#\(id)"]]]])
            }
            let nodes = state.withLock { $0.comments }.map { ["id": $0.id, "url": "u", "body": $0.body, "author": ["login": "airlock"], "replies": ["nodes": []]] }
            return .init(json: ["data": ["node": ["comments": ["pageInfo": ["hasNextPage": false, "endCursor": NSNull()], "nodes": nodes]]]])
        default:
            return .init(status: 404, json: ["message": "Not Found"])
        }
    }

    var messages: [FakeMessage] {
        let (comments, slack) = state.withLock { ($0.comments, $0.slack) }
        var all = comments.map { FakeMessage(place: $0.discussion, text: $0.body, isPublic: true, thread: $0.replyTo) }
        for who in ["requester", "approver", "stranger"] {
            all += (slack?.directMessages(to: slackID(who)) ?? []).map { FakeMessage(place: "dm:" + id(who), text: $0.text, isPublic: false, thread: nil) }
        }
        all += (slack?.publicMessages ?? []).map { FakeMessage(place: $0.channel, text: $0.text, isPublic: true, thread: $0.threadTS) }
        return all
    }

    func mention(_ app: AirlockUnderTest, from who: String, text: String) async throws -> Int {
        let body = try JSONSerialization.data(withJSONObject: [
            "action": "created",
            "comment": ["id": 456, "node_id": comment, "body": "@airlock \(text)", "parent_id": NSNull(), "user": ["login": id(who), "type": "User"]],
            "discussion": ["id": 123, "node_id": discussion, "number": 7, "title": "Deploys", "body": "…", "user": ["login": "someone", "type": "User"]],
            "repository": ["full_name": "acme/ops"], "sender": ["login": id(who), "type": "User"],
        ])
        return try await app.send("/github/webhook", body: body, headers: [
            ("Content-Type", "application/json"), ("X-GitHub-Event", "discussion_comment"), ("X-GitHub-Delivery", UUID().uuidString),
            ("X-Hub-Signature-256", "sha256=" + HMACTesting.sha256Hex(key: secret, body)),
        ]).status
    }

    func command(_ app: AirlockUnderTest, from who: String, _ command: String, _ argument: String) async throws -> String {
        try await app.slash(user: slackID(who), command: "/\(command)", text: argument).text
    }
}

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
    }
    let name = "matrix"
    let bot = "@airlock:test"
    let publicRoom = "!ops:test"
    let rootEvent = "$root-question"
    let state = Mutex<(events: [Event], directs: [String: String], next: Int, mDirect: String?)>(([], [:], 0, nil))
    lazy var api: FakeAPI = FakeAPI { [unowned self] call in self.handle(call) }

    init() { _ = api }

    func id(_ who: String) -> String { "@\(who):test" }
    var mentionThread: String { rootEvent }

    func configure(_ config: inout AirlockConfig, fakeBase: String) {
        config.platforms.append(MatrixModule(homeserverURL: fakeBase, asToken: "as-token", hsToken: "hs-token", botUser: bot))
    }

    func handle(_ call: FakeAPI.Call) -> FakeAPI.Reply {
        guard call.headers["authorization"] == "Bearer as-token" else { return .init(status: 401, json: ["errcode": "M_UNKNOWN_TOKEN"]) }
        let path = call.path.removingPercentEncoding ?? call.path
        if path == "/_matrix/client/v3/account/whoami" { return .init(json: ["user_id": call.query["user_id"] ?? bot]) }
        if path.hasSuffix("/account_data/m.direct") {
            if call.method == "PUT" {
                state.withLock { $0.mDirect = String(decoding: call.body, as: UTF8.self) }
                return .init(json: [:])
            }
            return .init(status: 404, json: ["errcode": "M_NOT_FOUND"])
        }
        if path == "/_matrix/client/v3/createRoom" {
            let invitee = (call.object["invite"] as? [any Sendable])?.first as? String ?? ""
            let room = "!dm-\(invitee.dropFirst().prefix { $0 != ":" }):test"
            state.withLock { $0.directs[room] = invitee }
            return .init(json: ["room_id": room])
        }
        if path.hasSuffix("/join") { return .init(json: ["room_id": "x"]) }
        if call.method == "PUT", path.contains("/send/m.room.message/") {
            let parts = path.components(separatedBy: "/")
            let room = parts[5]
            let txn = parts[8]
            let content = call.object
            let relation = content["m.relates_to"] as? [String: any Sendable]
            let id = state.withLock { state -> String in
                if let existing = state.events.first(where: { $0.txn == txn }) { return existing.id }   // idempotent per txn
                state.next += 1
                let id = "$event\(state.next)"
                state.events.append(Event(
                    id: id, room: room, body: content["body"] as? String ?? "", threadRoot: relation?["event_id"] as? String,
                    tag: content["airlock_publish"] as? [String: any Sendable], txn: txn))
                return id
            }
            return .init(json: ["event_id": id])
        }
        if path.contains("/relations/") {
            let parts = path.components(separatedBy: "/")
            let events = state.withLock { $0.events }.filter { $0.room == parts[5] && $0.threadRoot == parts[7] }
            return .init(json: ["chunk": events.map { ["event_id": $0.id, "sender": bot, "content": ["body": $0.body, "airlock_publish": $0.tag.map(FakeSlack.plain) ?? NSNull()]] }])
        }
        return .init(status: 404, json: ["errcode": "M_UNRECOGNIZED"])
    }

    var messages: [FakeMessage] {
        let (events, directs) = state.withLock { ($0.events, $0.directs) }
        return events.map { event in
            if let user = directs[event.room] { return FakeMessage(place: "dm:" + user, text: event.body, isPublic: false, thread: nil) }
            return FakeMessage(place: event.room, text: event.body, isPublic: true, thread: event.threadRoot)
        }
    }

    func push(_ app: AirlockUnderTest, _ events: [[String: Any]]) async throws -> TestResponse {
        let body = try JSONSerialization.data(withJSONObject: ["events": events])
        return try await app.send("/_matrix/app/v1/transactions/\(UUID().uuidString)", body: body, headers: [
            ("Content-Type", "application/json"), ("Authorization", "Bearer hs-token"),
        ], method: "PUT")
    }

    func mention(_ app: AirlockUnderTest, from who: String, text: String) async throws -> Int {
        try await push(app, [[
            "type": "m.room.message", "sender": id(who), "room_id": publicRoom, "event_id": rootEvent, "origin_server_ts": 1,
            "content": ["msgtype": "m.text", "body": "airlock: \(text)", "m.mentions": ["user_ids": [bot]]],
        ]]).status
    }

    func command(_ app: AirlockUnderTest, from who: String, _ command: String, _ argument: String) async throws -> String {
        let before = dms(to: who).count
        let room = state.withLock { $0.directs.first { $0.value == id(who) }?.key } ?? publicRoom
        var content: [String: Any] = ["msgtype": "m.text", "body": "\(command) \(argument)"]
        if room == publicRoom {
            content["body"] = "\(bot) \(command) \(argument)"
            content["m.mentions"] = ["user_ids": [bot]]
        }
        _ = try await push(app, [[
            "type": "m.room.message", "sender": id(who), "room_id": room, "event_id": "$cmd\(UUID().uuidString.prefix(8))", "content": content,
        ]])
        return await nextDM(to: who, after: before)
    }
}
