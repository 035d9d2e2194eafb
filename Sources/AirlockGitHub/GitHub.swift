public import AirlockDomain
public import AirlockWebhookKit
import Crypto
public import Foundation
import Logging
import NIOHTTP1

extension PlatformName {
    public static let github = PlatformName("github")
}

/// GitHub logins: letters, digits and `-` (bots end in `[bot]`), compared case-insensitively.
enum GitHubIDs {
    static func isLogin(_ text: String) -> Bool { Identifier.isASCII(text, lengths: 1...45, extra: ["-", "[", "]"]) }
    static func isNodeID(_ text: String) -> Bool { Identifier.isASCII(text, lengths: 3...100, extra: ["_", "-", "="]) }
}

/// GitHub Discussions (and issue comments) as a platform module: `AIRLOCK_GITHUB_WEBHOOK_SECRET`, `_TOKEN`
/// (+ `AIRLOCK_GITHUB_API_URL`). GitHub has no private messages: answers go to the requester's linked chat
/// account (`AIRLOCK_IDENTITIES`), and a requester without one is refused.
public struct GitHubModule: PlatformModule {
    public static let name = PlatformName.github
    public var webhookSecret: String
    public var token: String
    public var apiURL: String

    public init(webhookSecret: String, token: String, apiURL: String = "https://api.github.com") {
        self.webhookSecret = webhookSecret
        self.token = token
        self.apiURL = apiURL
    }

    public static func configure(_ settings: any SettingsReader) throws -> GitHubModule? {
        guard
            let values = try PlatformSettingsError.require(
                [
                    ("github.webhook_secret", "AIRLOCK_GITHUB_WEBHOOK_SECRET", true),
                    ("github.token", "AIRLOCK_GITHUB_TOKEN", true),
                ], platform: "GitHub", from: settings)
        else { return nil }
        return GitHubModule(
            webhookSecret: values["github.webhook_secret"]!, token: values["github.token"]!,
            apiURL: settings.string("github.api_url") ?? "https://api.github.com")
    }

    public func start(_ context: PlatformContext) async throws -> PlatformBinding {
        let api = APIClient(
            http: context.http, baseURL: apiURL,
            headers: [
                ("Authorization", "Bearer \(token)"), ("Accept", "application/vnd.github+json"),
                ("X-GitHub-Api-Version", "2022-11-28"), ("User-Agent", "airlock"),
            ], platform: .github, record: context.recordAPICall)
        let me: [String: Any]
        do {
            me = try await api.call(.GET, "/user") as? [String: Any] ?? [:]
        } catch {
            throw PlatformSettingsError("GitHub GET /user failed (\(error)): check AIRLOCK_GITHUB_TOKEN and AIRLOCK_GITHUB_API_URL")
        }
        guard let login = me.string("login") else { throw PlatformSettingsError("GitHub /user has no login: check AIRLOCK_GITHUB_TOKEN") }
        context.logger.info("GitHub enabled", metadata: ["github.bot_login": "\(login)"])
        return PlatformBinding(inbound: GitHubAdapter(secret: webhookSecret, botLogin: login), outbound: GitHubPlatform(api: api, botLogin: login))
    }
}

/// `/github/webhook`: `discussion`, `discussion_comment` and `issue_comment` deliveries signed with
/// `X-Hub-Signature-256`, deduplicated on `X-GitHub-Delivery`.
public struct GitHubAdapter: InboundAdapter {
    public let platform = PlatformName.github
    public let routes = [InboundRoute(.post, "/github/webhook")]
    let signature: BodySignature
    let botLogin: String

    public init(secret: String, botLogin: String) {
        self.signature = BodySignature(secret: secret, header: "X-Hub-Signature-256")
        self.botLogin = botLogin.lowercased()
    }

    public func verify(_ request: InboundRequest, now: Date) throws(InboundRefusal) { try signature.verify(request) }

    struct Payload: Decodable {
        struct User: Decodable {
            var login: String
            var type: String?
        }
        struct Discussion: Decodable {
            var node_id: String
            var body: String?
            var user: User?
        }
        struct Comment: Decodable {
            var node_id: String
            var body: String?
            var parent_id: Int?
            var user: User?
        }
        struct Issue: Decodable { var number: Int }
        struct Repository: Decodable { var full_name: String }
        var action: String?
        var discussion: Discussion?
        var comment: Comment?
        var issue: Issue?
        var repository: Repository?
        var sender: User?
    }

    public func parse(_ request: InboundRequest) throws(InboundRefusal) -> InboundDelivery {
        let event = request.header("X-GitHub-Event") ?? ""
        guard (try? JSONSerialization.jsonObject(with: request.body)) != nil else {
            throw .badRequest("body is not valid JSON", recordedBody: "[\(request.body.count) bytes]")
        }
        let redacted = RedactedJSON.of(request.body, secrets: [])
        let deliveryID = request.header("X-GitHub-Delivery") ?? ""
        let key = Identifier.isASCII(deliveryID, lengths: 1...64, extra: ["-"]) ? DeliveryKey(platform: .github, key: deliveryID) : nil
        func item(_ action: InboundAction) -> InboundDelivery {
            InboundDelivery(items: [InboundItem(action: action, delivery: key, detail: ["event": String(event.prefix(40))])], redactedBody: redacted)
        }
        guard let payload = try? JSONDecoder().decode(Payload.self, from: request.body) else {
            return item(.ignored(reason: "\(event.prefix(40)) payload Airlock does not read"))
        }
        guard payload.action == "created", ["discussion", "discussion_comment", "issue_comment"].contains(event) else {
            return item(.ignored(reason: "event \(event.prefix(40)) action \(payload.action ?? "-")"))
        }
        guard let sender = payload.sender, GitHubIDs.isLogin(sender.login) else { return item(.ignored(reason: "invalid_identifier: sender")) }
        if sender.type == "Bot" || sender.login.lowercased() == botLogin { return item(.ignored(reason: "a bot's own post")) }
        let body: String
        let target: ThreadRef
        switch event {
        case "discussion":
            guard let discussion = payload.discussion, GitHubIDs.isNodeID(discussion.node_id) else { return item(.ignored(reason: "no discussion")) }
            body = discussion.body ?? ""
            target = ThreadRef(platform: .github, channel: discussion.node_id, thread: "-")
        case "discussion_comment":
            guard let discussion = payload.discussion, let comment = payload.comment, GitHubIDs.isNodeID(discussion.node_id),
                GitHubIDs.isNodeID(comment.node_id)
            else { return item(.ignored(reason: "no discussion comment")) }
            body = comment.body ?? ""
            // A reply can only go under a top-level comment; under a reply, answer at the top level.
            target = ThreadRef(platform: .github, channel: discussion.node_id, thread: comment.parent_id == nil ? comment.node_id : "-")
        default:
            guard let issue = payload.issue, let repository = payload.repository, let comment = payload.comment,
                Identifier.isASCII(repository.full_name, lengths: 3...140, extra: ["/", "-", "_", "."])
            else { return item(.ignored(reason: "no issue comment")) }
            body = comment.body ?? ""
            target = ThreadRef(platform: .github, channel: "repo:\(repository.full_name)#\(issue.number)", thread: "issue")
        }
        let mention = "@" + botLogin
        guard body.lowercased().contains(mention) else { return item(.ignored(reason: "no mention of \(mention)")) }
        let question = body.replacingOccurrences(of: mention, with: "", options: .caseInsensitive)
            .trimmingCharacters(in: .whitespacesAndNewlines)
        if ChatCommand.parseDirectMessage(question) != nil {
            return item(.ignored(reason: "commands are not taken in public comments: send them on the linked chat account"))
        }
        guard !question.isEmpty else { return item(.ignored(reason: "mention without a question")) }
        return item(.question(asker: Actor(PersonID(platform: .github, id: sender.login.lowercased())), text: question, target: target))
    }

    public func reply(to results: [InboundResult], for delivery: InboundDelivery, request: InboundRequest) -> InboundResponse {
        .json([String: String]())
    }
}

/// GitHub's outbound side: no DMs; the public answer as a threaded discussion reply (GraphQL
/// `addDiscussionComment` with `replyToId`) or an issue comment (REST).
public struct GitHubPlatform: ChatPlatform {
    public let name = PlatformName.github
    public let canSendDirectMessages = false
    let api: APIClient
    let botLogin: String

    public init(api: APIClient, botLogin: String) {
        self.api = api
        self.botLogin = botLogin.lowercased()
    }

    public func sendDirectMessage(_ message: OutboundMessage, to person: PersonID) async throws -> DeliveredMessage {
        throw PlatformError.permanent("GitHub has no private messages")
    }

    static let addComment = """
        mutation($discussionId: ID!, $body: String!, $replyToId: ID) {
          addDiscussionComment(input: {discussionId: $discussionId, body: $body, replyToId: $replyToId}) { comment { id url } }
        }
        """

    static let comments = """
        query($id: ID!, $after: String) {
          node(id: $id) { ... on Discussion { comments(first: 100, after: $after) {
            pageInfo { hasNextPage endCursor }
            nodes { id url body author { login } replies(first: 100) { nodes { id url body author { login } } } } } } }
        }
        """

    func graphQL(_ query: String, _ variables: [String: Any]) async throws -> [String: Any] {
        let object = try await api.call(.POST, "/graphql", json: try APIClient.json(["query": query, "variables": variables])) as? [String: Any] ?? [:]
        if let errors = object["errors"] as? [[String: Any]], !errors.isEmpty {
            throw PlatformError.permanent("GraphQL: \(errors.first?.string("message") ?? "error")")
        }
        return object["data"] as? [String: Any] ?? [:]
    }

    public func postPublicReply(_ text: String, in thread: ThreadRef, marker: PublishMarker) async throws -> DeliveredMessage {
        if let (repo, number) = Self.issue(thread) {
            let object = try await api.call(.POST, "/repos/\(repo)/issues/\(number)/comments", json: try APIClient.json(["body": text])) as? [String: Any]
            return DeliveredMessage(messageID: object?.string("node_id") ?? object?.string("id") ?? "", permalink: object?.string("html_url"))
        }
        var variables: [String: Any] = ["discussionId": thread.channel, "body": text]
        if thread.thread != "-" { variables["replyToId"] = thread.thread }
        let data = try await graphQL(Self.addComment, variables)
        let comment = (data["addDiscussionComment"] as? [String: Any])?["comment"] as? [String: Any]
        guard let id = comment?.string("id") else { throw PlatformError.permanent("addDiscussionComment returned no comment") }
        return DeliveredMessage(messageID: id, permalink: comment?.string("url"))
    }

    public func findPublishedReply(in thread: ThreadRef, marker: PublishMarker) async throws -> DeliveredMessage? {
        let footer = marker.footer
        func mine(_ node: [String: Any]) -> DeliveredMessage? {
            let author = (node["author"] as? [String: Any])?.string("login")?.lowercased()
            guard author == botLogin || author == botLogin + "[bot]", node.string("body")?.contains(footer) == true,
                let id = node.string("id") ?? node.string("node_id")
            else { return nil }
            return DeliveredMessage(messageID: id, permalink: node.string("url") ?? node.string("html_url"))
        }
        if let (repo, number) = Self.issue(thread) {
            for page in 1...50 {
                let comments = try await api.call(
                    .GET, "/repos/\(repo)/issues/\(number)/comments", query: ["per_page": "100", "page": String(page)]) as? [[String: Any]] ?? []
                for comment in comments {
                    var node = comment
                    node["author"] = comment["user"]
                    if let found = mine(node) { return found }
                }
                if comments.count < 100 { return nil }
            }
            return nil
        }
        var after: Any = NSNull()
        for _ in 0..<50 {
            let data = try await graphQL(Self.comments, ["id": thread.channel, "after": after])
            let comments = (data["node"] as? [String: Any])?["comments"] as? [String: Any] ?? [:]
            for node in comments["nodes"] as? [[String: Any]] ?? [] {
                if let found = mine(node) { return found }
                for reply in (node["replies"] as? [String: Any])?["nodes"] as? [[String: Any]] ?? [] {
                    if let found = mine(reply) { return found }
                }
            }
            let page = comments["pageInfo"] as? [String: Any] ?? [:]
            guard (page["hasNextPage"] as? Bool) == true, let cursor = page.string("endCursor") else { return nil }
            after = cursor
        }
        return nil
    }

    public func postReviewRequest(_ message: OutboundMessage, in channel: String) async throws -> DeliveredMessage {
        throw PlatformError.permanent("GitHub has no private review channel")
    }

    /// `repo:owner/name#12` → ("owner/name", 12).
    static func issue(_ thread: ThreadRef) -> (String, Int)? {
        guard thread.channel.hasPrefix("repo:"), let hash = thread.channel.lastIndex(of: "#"),
            let number = Int(thread.channel[thread.channel.index(after: hash)...])
        else { return nil }
        return (String(thread.channel[thread.channel.index(thread.channel.startIndex, offsetBy: 5)..<hash]), number)
    }
}
