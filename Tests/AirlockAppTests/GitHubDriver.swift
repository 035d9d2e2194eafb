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
    /// People's posts in the discussion before the mention: the body first, then comments.
    let threadComments = Mutex<[(id: String, login: String, body: String)]>([])
    lazy var api: FakeAPI = FakeAPI { [unowned self] call in self.handle(call) }

    init() { _ = api }

    var keepsSlack: Bool { true }
    /// Commands come from the linked Slack accounts, where Slack's own bot rules apply.
    var botsSendCommands: Bool { false }
    func attach(slack: FakeSlack) { state.withLock { $0.slack = slack } }
    /// GitHub people are their numeric ids; logins are display only.
    func id(_ who: String) -> String {
        switch who {
        case "requester": "1001"
        case "approver": "1002"
        case "puppet": "1004"
        case "botacct": "1005"
        default: "1003"
        }
    }
    func slackID(_ who: String) -> String {
        switch who {
        case "requester": "U0REQ"
        case "approver": "U0APP"
        case "puppet": "U0PUP"
        default: "U0STR"
        }
    }
    var mentionThread: String { comment }

    func configure(_ config: inout AirlockConfig, fakeBase: String) {
        config.platforms.append(GitHubModule(webhookSecret: secret, token: "ghs-test-token", apiURL: fakeBase))
    }

    func adjust(_ config: inout AirlockConfig) {
        config.policy = config.policy.linking(
            ["requester", "approver"].map {
                (PersonID(platform: .github, id: id($0)), PersonID(platform: .slack, id: slackID($0)))
            }
        )
    }

    func blockDMs(to who: String, _ blocked: Bool) {
        state.withLock { $0.slack }?.blockDirectMessages(to: slackID(who), blocked)
    }
    var massMentions: [String] { ["@acme/security"] }
    /// GitHub makes no link previews in comments.
    var linksAsCode: Bool { false }

    func handle(_ call: FakeAPI.Call) -> FakeAPI.Reply {
        guard call.headers["authorization"] == "Bearer ghs-test-token" else {
            return .init(status: 401, json: ["message": "Bad credentials"])
        }
        switch (call.method, call.path) {
        case ("GET", "/user"):
            return .init(json: ["login": "airlock", "id": 9000, "type": "Bot"])
        case ("POST", "/graphql"):
            let query = call.object["query"] as? String ?? ""
            let variables = call.object["variables"] as? [String: any Sendable] ?? [:]
            if query.contains("addDiscussionComment") {
                let id = "DC_reply\(Int.random(in: 1000...9999))"
                state.withLock {
                    $0.comments.append(
                        Comment(
                            id: id,
                            discussion: variables["discussionId"] as? String ?? "",
                            replyTo: variables["replyToId"] as? String,
                            body: variables["body"] as? String ?? ""
                        )
                    )
                }
                return .init(json: [
                    "data": ["addDiscussionComment": ["comment": ["id": id, "url": "https://github.test/d/7#\(id)"]]]
                ])
            }
            if query.contains("ThreadRead") {
                // The discussion as GraphQL returns it: its body (the question), people's comments, then the mention.
                let people = threadComments.withLock { $0 }
                guard !people.isEmpty else {
                    return .init(json: ["data": NSNull(), "errors": [["message": "no thread here"]]])
                }
                return .init(json: [
                    "data": [
                        "node": [
                            "id": discussion, "body": people[0].body, "author": ["login": people[0].login],
                            "comments": [
                                "pageInfo": ["hasNextPage": false, "endCursor": NSNull()],
                                "nodes": people.dropFirst().map {
                                    [
                                        "id": $0.id, "body": $0.body, "author": ["login": $0.login],
                                        "replies": ["nodes": []],
                                    ]
                                }
                                    + [
                                        [
                                            "id": comment, "body": "@airlock thoughts?",
                                            "author": ["login": "requester-gh"], "replies": ["nodes": []],
                                        ]
                                    ],
                            ],
                        ]
                    ]
                ])
            }
            let nodes = state.withLock { $0.comments }.map {
                ["id": $0.id, "url": "u", "body": $0.body, "author": ["login": "airlock"], "replies": ["nodes": []]]
            }
            return .init(json: [
                "data": [
                    "node": ["comments": ["pageInfo": ["hasNextPage": false, "endCursor": NSNull()], "nodes": nodes]]
                ]
            ])
        default:
            return .init(status: 404, json: ["message": "Not Found"])
        }
    }

    var messages: [FakeMessage] {
        let (comments, slack) = state.withLock { ($0.comments, $0.slack) }
        var all = comments.map { FakeMessage(place: $0.discussion, text: $0.body, isPublic: true, thread: $0.replyTo) }
        for who in ["requester", "approver", "stranger", "puppet"] {
            all += (slack?.directMessages(to: slackID(who)) ?? []).map {
                FakeMessage(place: "dm:" + id(who), text: $0.text, isPublic: false, thread: nil)
            }
        }
        all += (slack?.publicMessages ?? []).map {
            FakeMessage(place: $0.channel, text: $0.text, isPublic: true, thread: $0.threadTS)
        }
        return all
    }

    func mentionBody(from who: String, text: String) throws -> Data {
        try JSONSerialization.data(withJSONObject: [
            "action": "created",
            "comment": [
                "id": 456, "node_id": comment, "body": "@airlock \(text)", "parent_id": NSNull(),
                "user": ["login": who + "-gh", "id": Int(id(who))!, "type": "User"],
            ],
            "discussion": [
                "id": 123, "node_id": discussion, "number": 7, "title": "Deploys", "body": "…",
                "user": ["login": "someone", "id": 1, "type": "User"],
            ],
            "repository": ["full_name": "acme/ops", "owner": ["login": "acme"]],
            "sender": ["login": who + "-gh", "id": Int(id(who))!, "type": "User"],
        ])
    }

    func deliver(_ app: AirlockUnderTest, _ body: Data) async throws -> Int {
        try await app.send(
            "/github/webhook",
            body: body,
            headers: [
                ("Content-Type", "application/json"), ("X-GitHub-Event", "discussion_comment"),
                ("X-GitHub-Delivery", UUID().uuidString),
                ("X-Hub-Signature-256", "sha256=" + HMACTesting.sha256Hex(key: secret, body)),
            ]
        ).status
    }

    func mention(_ app: AirlockUnderTest, from who: String, text: String) async throws -> Int {
        try await deliver(app, try mentionBody(from: who, text: text))
    }

    func replayMention(_ app: AirlockUnderTest, from who: String, text: String) async throws {
        // The same signed body under a new X-GitHub-Delivery (which GitHub does not sign).
        let body = try mentionBody(from: who, text: text)
        for _ in 0..<2 { #expect(try await deliver(app, body) == 200) }
    }

    func command(
        _ app: AirlockUnderTest,
        from who: String,
        _ command: String,
        _ argument: String
    ) async throws -> String {
        try await app.slash(user: slackID(who), command: "/\(command)", text: argument).text
    }
}
