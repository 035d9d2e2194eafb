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
    let state = Mutex<(messages: [Message], next: Int, blocked: Set<String>)>(([], 0, []))
    /// Other people's messages: (channel, id, username, content). `channelType` 11 makes `channel` a public thread
    /// whose parent is `parentChannel` (its starter message lives there, with the thread's id).
    let others = Mutex<[(String, String, String, String)]>([])
    let channelType = Mutex(0)
    let parentChannel = "210000000000000002"
    lazy var api: FakeAPI = FakeAPI { [unowned self] call in self.handle(call) }

    init() { _ = api }

    func id(_ who: String) -> String {
        switch who {
        case "requester": "300000000000000003"
        case "approver": "400000000000000004"
        case "puppet": "510000000000000005"
        case "botacct": "520000000000000005"
        default: "500000000000000005"
        }
    }
    var mentionThread: String { "-" }
    static let people = ["requester", "approver", "stranger", "puppet", "botacct"]

    func configure(_ config: inout AirlockConfig, fakeBase: String) {
        config.platforms.append(
            DiscordModule(
                applicationID: "600000000000000006",
                publicKey: Ed25519Testing.publicKey(seedHex: seed),
                botToken: "discord-bot-token",
                apiURL: fakeBase + "/api/v10"
            )
        )
    }

    func blockDMs(to who: String, _ blocked: Bool) {
        let channel = "7" + id(who).dropFirst()
        state.withLock { if blocked { $0.blocked.insert(channel) } else { $0.blocked.remove(channel) } }
    }
    var massMentions: [String] { ["@everyone", "@here"] }
    var linksAsCode: Bool { false }
    /// The public message is sent with SUPPRESS_EMBEDS and no allowed mentions.
    func checkPublicPost() {
        let posts = api.calls.filter { $0.method == "POST" && $0.path == "/api/v10/channels/\(channel)/messages" }
        #expect(posts.count == 1)
        #expect(posts.first?.object["flags"] as? Double == 4, "no SUPPRESS_EMBEDS")
        #expect(
            ((posts.first?.object["allowed_mentions"] as? [String: any Sendable])?["parse"] as? [any Sendable])?.isEmpty
                == true
        )
    }

    func handle(_ call: FakeAPI.Call) -> FakeAPI.Reply {
        guard call.headers["authorization"] == "Bot discord-bot-token" else {
            return .init(status: 401, json: ["message": "401: Unauthorized"])
        }
        switch (call.method, call.path) {
        case ("GET", "/api/v10/users/@me"):
            return .init(json: ["id": botID, "username": "airlock", "bot": true])
        case ("POST", "/api/v10/users/@me/channels"):
            let recipient = call.object["recipient_id"] as? String ?? ""
            return .init(json: ["id": "7" + recipient.dropFirst(), "type": 1])
        case ("POST", let path) where path.hasPrefix("/api/v10/channels/") && path.hasSuffix("/messages"):
            let channel = String(path.split(separator: "/")[3])
            if state.withLock({ $0.blocked.contains(channel) }) {
                return .init(status: 403, json: ["message": "Cannot send messages to this user", "code": 50007])
            }
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
            // Newest first, like Discord; `before` bounds by snowflake.
            let before = call.query["before"].flatMap { UInt64($0) } ?? .max
            var page: [[String: any Sendable]] = others.withLock { $0 }.filter {
                $0.0 == channel && (UInt64($0.1) ?? 0) < before
            }
            .map { ["id": $0.1, "content": $0.3, "author": ["id": "9" + $0.1.suffix(17), "username": $0.2]] }
            page += state.withLock { $0.messages }.filter { $0.channel == channel }.map {
                ["id": $0.id, "content": $0.content, "author": ["id": botID, "bot": true] as [String: any Sendable]]
                    as [String: any Sendable]
            }
            page.sort { (UInt64($0["id"] as? String ?? "") ?? 0) > (UInt64($1["id"] as? String ?? "") ?? 0) }
            return .init(json: Array(page.prefix(100)))
        case ("GET", let path) where path.split(separator: "/").count == 6 && path.contains("/messages/"):
            let parts = path.split(separator: "/").map(String.init)
            guard let found = others.withLock({ $0 }).first(where: { $0.0 == parts[3] && $0.1 == parts[5] }) else {
                return .init(status: 404, json: ["message": "Unknown Message", "code": 10008])
            }
            return .init(json: [
                "id": found.1, "content": found.3, "author": ["id": "9" + found.1.suffix(17), "username": found.2],
            ])
        case ("GET", let path) where path.split(separator: "/").count == 4 && path.hasPrefix("/api/v10/channels/"):
            let id = String(path.split(separator: "/")[3])
            let type = id == channel ? channelType.withLock { $0 } : 0
            var object: [String: any Sendable] = ["id": id, "type": type]
            if type == 11 { object["parent_id"] = parentChannel }
            return .init(json: object)
        default:
            return .init(status: 404, json: ["message": "404: Not Found"])
        }
    }

    var messages: [FakeMessage] {
        state.withLock { $0.messages }.map { message in
            message.channel.hasPrefix("7")
                ? FakeMessage(
                    place: "dm:" + self.user(ofDirectChannel: message.channel),
                    text: message.content,
                    isPublic: false,
                    thread: nil
                )
                : FakeMessage(
                    place: message.channel,
                    text: message.content,
                    isPublic: true,
                    thread: message.replyTo ?? "-"
                )
        }
    }

    func user(ofDirectChannel channel: String) -> String {
        Self.people.map(id).first { "7" + $0.dropFirst() == channel } ?? channel
    }

    func interaction(from who: String, name: String, options: [(String, String)]) throws -> Data {
        try JSONSerialization.data(withJSONObject: [
            "type": 2, "id": String(format: "9%017d", Int.random(in: 0...99_999_999)),
            "application_id": "600000000000000006",
            "token": "interaction-token", "version": 1, "guild_id": "110000000000000011", "channel_id": channel,
            "channel": ["id": channel, "type": channelType.withLock { $0 }],
            "member": ["user": ["id": id(who), "username": who, "bot": who == "botacct"]],
            "data": [
                "id": "1", "name": name, "type": 1,
                "options": options.map { ["name": $0.0, "type": 3, "value": $0.1] },
            ],
        ])
    }

    func send(_ app: AirlockUnderTest, _ body: Data) async throws -> TestResponse {
        let stamp = String(Int(Date().timeIntervalSince1970))
        return try await app.send(
            "/discord/interactions",
            body: body,
            headers: [
                ("Content-Type", "application/json"), ("X-Signature-Timestamp", stamp),
                ("X-Signature-Ed25519", Ed25519Testing.sign(seedHex: seed, timestamp: stamp, body: body)),
            ]
        )
    }

    func interact(
        _ app: AirlockUnderTest,
        from who: String,
        name: String,
        options: [(String, String)]
    ) async throws -> TestResponse {
        try await send(app, try interaction(from: who, name: name, options: options))
    }

    func mention(_ app: AirlockUnderTest, from who: String, text: String) async throws -> Int {
        let response = try await interact(app, from: who, name: "ask", options: [("question", text)])
        return response.status
    }

    func replayMention(_ app: AirlockUnderTest, from who: String, text: String) async throws {
        // The same signed interaction (same id) again, inside Discord's signature window.
        let body = try interaction(from: who, name: "ask", options: [("question", text)])
        for _ in 0..<2 { #expect(try await send(app, body).status == 200) }
    }

    func command(
        _ app: AirlockUnderTest,
        from who: String,
        _ command: String,
        _ argument: String
    ) async throws -> String {
        let parts = argument.split(separator: " ", maxSplits: 1).map(String.init)
        var options: [(String, String)] = []
        if let first = parts.first { options.append(("draft", first)) }
        if parts.count > 1 {
            options.append((command == "approve" || command == "publish" ? "version" : "text", parts[1]))
        }
        let response = try await interact(app, from: who, name: command, options: options)
        let data = response.json["data"] as? [String: any Sendable]
        #expect((data?["flags"] as? Double) == 64, "not ephemeral")
        return data?["content"] as? String ?? response.body
    }
}
