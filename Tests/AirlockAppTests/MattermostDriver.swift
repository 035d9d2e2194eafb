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

// MARK: - Mattermost

final class MattermostDriver: ConversationDriver, @unchecked Sendable {
    // Safe: `state` is a Mutex; the rest is immutable.
    let name = "mattermost"
    let botID = "airlockbot0000000000000000"
    let state = Mutex<
        (
            posts: [(id: String, channel: String, message: String, root: String?, props: String?)], next: Int,
            blocked: Set<String>
        )
    >(([], 0, []))
    /// Faults for the fail-closed tests: the next public post is created but answered `201 {}`; the next thread
    /// reads answer a body that is not the documented schema.
    let faults = Mutex<(idlessPosts: Int, driftedThreads: Int)>((0, 0))
    /// The public channel's type as `GET /channels/{id}` reports it (`O` public, `P` private).
    let channelType = Mutex("O")
    /// People's posts in the mention's thread, before it: (id, user, message, create_at).
    let threadPosts = Mutex<[(id: String, user: String, message: String, createAt: Int)]>([])
    let channel = "townsquare000000000000000a"
    let rootPost = "rootpost000000000000000000"
    lazy var api: FakeAPI = FakeAPI { [unowned self] call in self.handle(call) }

    init() { _ = api }

    func id(_ who: String) -> String { (who + String(repeating: "0", count: 26)).prefix(26).lowercased() }
    var mentionThread: String { rootPost }

    func configure(_ config: inout AirlockConfig, fakeBase: String) {
        config.platforms.append(
            MattermostModule(
                serverURL: fakeBase,
                botToken: "mm-bot-token",
                commandToken: "mm-command-token",
                webhookToken: "mm-webhook-token"
            )
        )
    }

    func blockDMs(to who: String, _ blocked: Bool) {
        state.withLock { if blocked { $0.blocked.insert("dm-" + id(who)) } else { $0.blocked.remove("dm-" + id(who)) } }
    }
    var massMentions: [String] { ["@channel", "@all", "@here"] }

    func handle(_ call: FakeAPI.Call) -> FakeAPI.Reply {
        guard call.headers["authorization"] == "Bearer mm-bot-token" else {
            return .init(status: 401, json: ["id": "api.context.session_expired"])
        }
        switch (call.method, call.path) {
        case ("GET", "/api/v4/users/me"):
            return .init(json: ["id": botID, "username": "airlock", "is_bot": true])
        case ("GET", "/api/v4/channels/\(channel)"):
            return .init(json: [
                "id": channel, "name": "town-square", "display_name": "Town Square",
                "type": channelType.withLock { $0 },
            ])
        case ("GET", let path) where path.hasPrefix("/api/v4/users/"):
            // Mattermost's User model: `is_bot` is true for bot accounts.
            let user = String(path.dropFirst("/api/v4/users/".count))
            return .init(json: ["id": user, "username": user.prefix { $0 != "0" }, "is_bot": user == id("botacct")])
        case ("POST", "/api/v4/channels/direct"):
            let users = call.json as? [any Sendable] ?? []
            guard users.count == 2, (users[0] as? String) == botID, let user = users[1] as? String else {
                return .init(status: 400, json: ["id": "bad"])
            }
            return .init(status: 201, json: ["id": "dm-" + user, "type": "D"])
        case ("POST", "/api/v4/posts"):
            let object = call.object
            let channel = object["channel_id"] as? String ?? ""
            if state.withLock({ $0.blocked.contains(channel) }) {
                return .init(
                    status: 403,
                    json: ["id": "api.post.create_post.direct_channel.can_not_post.app_error", "status_code": 403]
                )
            }
            let props = (object["props"]).flatMap { try? JSONSerialization.data(withJSONObject: FakeSlack.plain($0)) }
                .map { String(decoding: $0, as: UTF8.self) }
            let id = state.withLock { state -> String in
                state.next += 1
                let id = String(format: "post%022d", state.next)
                state.posts.append(
                    (id, channel, object["message"] as? String ?? "", object["root_id"] as? String, props)
                )
                return id
            }
            let idless =
                object["root_id"] != nil
                && faults.withLock { faults in
                    guard faults.idlessPosts > 0 else { return false }
                    faults.idlessPosts -= 1
                    return true
                }
            return idless ? .init(status: 201, json: [String: String]()) : .init(status: 201, json: ["id": id])
        case ("GET", let path) where path.hasPrefix("/api/v4/posts/") && path.hasSuffix("/thread"):
            let drifted = faults.withLock { faults in
                guard faults.driftedThreads > 0 else { return false }
                faults.driftedThreads -= 1
                return true
            }
            if drifted { return .init(json: ["order": "post1", "posts": ["unexpected": true]]) }
            let root = path.split(separator: "/")[3]
            let posts = state.withLock { $0.posts }.filter { $0.root == String(root) }
            var map: [String: Any] = [:]
            var order: [String] = []
            // People's posts of a seeded thread, and the mention itself after them (Mattermost's Post model).
            let seeded = threadPosts.withLock { $0 }
            for post in seeded {
                map[post.id] = [
                    "id": post.id, "user_id": post.user, "message": post.message, "create_at": post.createAt,
                    "delete_at": 0,
                ]
                order.append(post.id)
            }
            if !seeded.isEmpty {
                map[rootPost] = [
                    "id": rootPost, "user_id": id("carol"), "message": "@airlock thoughts?", "create_at": 9_000,
                    "delete_at": 0,
                ]
                order.append(rootPost)
            }
            for post in posts {
                map[post.id] = [
                    "id": post.id, "user_id": botID, "message": post.message, "create_at": 10_000, "delete_at": 0,
                    "props": post.props.flatMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) } ?? [:],
                ]
                order.append(post.id)
            }
            return .init(json: ["order": order, "posts": map])
        default:
            return .init(status: 404, json: ["id": "api.context.404"])
        }
    }

    var messages: [FakeMessage] {
        state.withLock { $0.posts }.map { post in
            post.channel.hasPrefix("dm-")
                ? FakeMessage(
                    place: "dm:" + post.channel.dropFirst(3),
                    text: post.message,
                    isPublic: false,
                    thread: nil
                )
                : FakeMessage(place: post.channel, text: post.message, isPublic: true, thread: post.root)
        }
    }

    func post(_ app: AirlockUnderTest, _ path: String, _ fields: [(String, String)]) async throws -> TestResponse {
        try await app.send(
            path,
            body: Data(SlackForms.encode(fields).utf8),
            headers: [("Content-Type", "application/x-www-form-urlencoded")]
        )
    }

    func mention(_ app: AirlockUnderTest, from who: String, text: String) async throws -> Int {
        try await post(
            app,
            "/mattermost/webhook",
            [
                ("token", "mm-webhook-token"), ("team_id", "team"), ("channel_id", channel), ("user_id", id(who)),
                ("user_name", who), ("post_id", rootPost), ("text", "@airlock \(text)"), ("trigger_word", "@airlock"),
            ]
        ).status
    }

    func command(
        _ app: AirlockUnderTest,
        from who: String,
        _ command: String,
        _ argument: String
    ) async throws -> String {
        let response = try await post(
            app,
            "/mattermost/commands",
            [
                ("token", "mm-command-token"), ("team_id", "team"), ("channel_id", channel), ("user_id", id(who)),
                ("user_name", who), ("command", "/airlock"), ("text", "\(command) \(argument)"),
                ("trigger_id", UUID().uuidString),
            ]
        )
        return response.json["text"] as? String ?? response.body
    }
}
