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
    /// Numeric user ids (a login can be renamed and re-registered); a comment holds 65,536 characters; a scope is
    /// a repository owner (organisation or user login).
    public static let traits = PlatformTraits(
        idCase: .sensitive,
        maxPublicLength: 60_000,
        scopeName: "repository owner",
        neutraliser: Neutraliser(teamMentions: true, codeLinks: false)
    )
    public var webhookSecret: String
    public var token: String
    public var apiURL: String

    public init(webhookSecret: String, token: String, apiURL: String = "https://api.github.com") {
        self.webhookSecret = webhookSecret
        self.token = token
        self.apiURL = apiURL
    }

    public static let settings: [Setting] = [
        Setting(
            "github.webhook_secret",
            secret: true,
            enables: true,
            help: "webhook secret; with the token, enables GitHub Discussions and Issues"
        ),
        Setting(
            "github.token",
            secret: true,
            enables: true,
            help: "token that reads discussions and posts approved answers"
        ),
        Setting(
            "github.api_url",
            default: "https://api.github.com",
            help: "API base (GitHub Enterprise: `https://HOST/api/v3`)"
        ),
    ]

    public static func configure(_ settings: any SettingsReader) throws -> GitHubModule? {
        guard
            let values = try PlatformSettingsError.require(
                Self.settings,
                platform: "GitHub",
                from: settings
            )
        else { return nil }
        return GitHubModule(
            webhookSecret: values["github.webhook_secret"]!,
            token: values["github.token"]!,
            apiURL: settings.string("github.api_url") ?? "https://api.github.com"
        )
    }

    public func start(_ context: PlatformContext) async throws -> PlatformBinding {
        let api = APIClient(
            http: context.http,
            baseURL: apiURL,
            headers: [
                ("Authorization", "Bearer \(token)"), ("Accept", "application/vnd.github+json"),
                ("X-GitHub-Api-Version", "2022-11-28"), ("User-Agent", "airlock"),
            ],
            platform: .github,
            record: context.recordAPICall
        )
        struct Me: Decodable { var login: String? }
        let me: Me
        do {
            me = try await api.decode(Me.self, .GET, "/user")
        } catch {
            throw PlatformSettingsError(
                "GitHub GET /user failed (\(error)): check AIRLOCK_GITHUB_TOKEN and AIRLOCK_GITHUB_API_URL"
            )
        }
        guard let login = me.login else {
            throw PlatformSettingsError("GitHub /user has no login: check AIRLOCK_GITHUB_TOKEN")
        }
        context.logger.info("GitHub enabled", metadata: ["github.bot_login": "\(login)"])
        return PlatformBinding(
            inbound: GitHubAdapter(secret: webhookSecret, botLogin: login),
            outbound: GitHubPlatform(api: api, botLogin: login)
        )
    }
}

/// `/github/webhook`: `discussion`, `discussion_comment` and `issue_comment` deliveries signed with
/// `X-Hub-Signature-256`, deduplicated on a hash of the signed body (`X-GitHub-Delivery` is not signed: a replayed
/// body with a new header is the same delivery).
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
            var id: Int?
            var type: String?
        }
        struct Discussion: Decodable {
            var node_id: String
            var body: String?
            var user: User?
            var created_at: String?
        }
        struct Comment: Decodable {
            var node_id: String
            var body: String?
            var parent_id: Int?
            var user: User?
            var created_at: String?
        }
        struct Issue: Decodable { var number: Int }
        struct Repository: Decodable {
            struct Owner: Decodable { var login: String }
            var full_name: String
            var owner: Owner?
        }
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
        // Only what is signed identifies a delivery: the event name is not signed either, but a body replayed under
        // another event name parses as nothing or as the same action.
        let key = DeliveryKey(platform: .github, key: "body:" + Hex.encode(SHA256.hash(data: request.body)))
        var detail = ["event": String(event.prefix(40))]
        if Identifier.isASCII(deliveryID, lengths: 1...64, extra: ["-"]) { detail["delivery_id"] = deliveryID }
        var sentAt: Date?
        func item(_ action: InboundAction) -> InboundDelivery {
            InboundDelivery(
                items: [InboundItem(action: action, delivery: key, detail: detail, sentAt: sentAt)],
                redactedBody: redacted
            )
        }
        guard let payload = try? JSONDecoder().decode(Payload.self, from: request.body) else {
            return item(.ignored(reason: "\(event.prefix(40)) payload Airlock does not read"))
        }
        // The signed creation time: a body older than the dedupe window is refused as a possible replay.
        sentAt = (payload.comment?.created_at ?? payload.discussion?.created_at).flatMap {
            try? Date($0, strategy: .iso8601)
        }
        guard payload.action == "created", ["discussion", "discussion_comment", "issue_comment"].contains(event) else {
            return item(.ignored(reason: "event \(event.prefix(40)) action \(payload.action ?? "-")"))
        }
        guard let sender = payload.sender, GitHubIDs.isLogin(sender.login), let senderID = sender.id, senderID > 0
        else {
            return item(.ignored(reason: "invalid_identifier: sender"))
        }
        if sender.type == "Bot" || sender.login.hasSuffix("[bot]") || sender.login.lowercased() == botLogin {
            return item(.ignored(reason: "a bot's own post"))
        }
        let body: String
        let target: ThreadRef
        switch event {
        case "discussion":
            guard let discussion = payload.discussion, GitHubIDs.isNodeID(discussion.node_id) else {
                return item(.ignored(reason: "no discussion"))
            }
            body = discussion.body ?? ""
            target = ThreadRef(platform: .github, channel: discussion.node_id, thread: "-")
        case "discussion_comment":
            guard let discussion = payload.discussion, let comment = payload.comment,
                GitHubIDs.isNodeID(discussion.node_id),
                GitHubIDs.isNodeID(comment.node_id)
            else { return item(.ignored(reason: "no discussion comment")) }
            body = comment.body ?? ""
            // A reply can only go under a top-level comment; under a reply, answer at the top level. The discussion
            // (its body and the comments before this one) is the thread the agent reads.
            target = ThreadRef(
                platform: .github,
                channel: discussion.node_id,
                thread: comment.parent_id == nil ? comment.node_id : "-",
                mention: comment.node_id
            )
        default:
            guard let issue = payload.issue, let repository = payload.repository, let comment = payload.comment,
                Identifier.isASCII(repository.full_name, lengths: 3...140, extra: ["/", "-", "_", "."])
            else { return item(.ignored(reason: "no issue comment")) }
            body = comment.body ?? ""
            target = ThreadRef(
                platform: .github,
                channel: "repo:\(repository.full_name)#\(issue.number)",
                thread: "issue",
                mention: comment.node_id
            )
        }
        let (question, mentioned) = MentionMatcher.strip(botLogin, in: body)
        guard mentioned else { return item(.ignored(reason: "no mention of @\(botLogin)")) }
        if ChatCommand.parseDirectMessage(question) != nil {
            return item(
                .ignored(reason: "commands are not taken in public comments: send them on the linked chat account")
            )
        }
        guard !question.isEmpty else { return item(.ignored(reason: "mention without a question")) }
        let owner =
            payload.repository?.owner?.login
            ?? payload.repository?.full_name.split(separator: "/").first.map(String.init)
        let asker = Actor(
            PersonID(platform: .github, id: String(senderID)),
            isBot: false,
            scope: owner?.lowercased(),
            displayName: sender.login
        )
        return item(.question(asker: asker, text: question, target: target))
    }

    public func reply(
        to results: [InboundResult],
        for delivery: InboundDelivery,
        request: InboundRequest
    ) -> InboundResponse {
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

    struct GraphQLError: Decodable { var message: String? }
    struct Response<T: Decodable>: Decodable {
        var data: T?
        var errors: [GraphQLError]?
    }

    /// A GraphQL call decoded as `T`; GraphQL errors are refusals, a missing `data` is transient.
    /// A GraphQL request: the query and its variables (all strings here; nil is `null`).
    struct Request: Encodable {
        var query: String
        var variables: [String: String?]
    }

    func graphQL<T: Decodable>(_ query: String, _ variables: [String: String?], as type: T.Type) async throws -> T {
        let response = try await api.send(
            .POST,
            "/graphql",
            body: Request(query: query, variables: variables),
            as: Response<T>.self
        )
        if let errors = response.errors, !errors.isEmpty {
            throw PlatformError.permanent("GraphQL: \(errors.first?.message ?? "error")")
        }
        guard let data = response.data else { throw PlatformError.transient("GraphQL: no data") }
        return data
    }

    struct Node: Decodable {
        struct Author: Decodable { var login: String }
        struct Replies: Decodable { var nodes: [Node] }
        var id: String
        var url: String?
        var body: String
        var author: Author?
        var replies: Replies?
    }

    struct Added: Decodable {
        struct Payload: Decodable {
            struct Comment: Decodable {
                var id: String
                var url: String?
            }
            var comment: Comment
        }
        var addDiscussionComment: Payload
    }

    struct IssueComment: Decodable {
        struct User: Decodable { var login: String }
        var id: Int
        var node_id: String
        var html_url: String?
        var body: String?
        var user: User?
    }

    public func postPublicReply(
        _ text: String,
        in thread: ThreadRef,
        marker: PublishMarker
    ) async throws -> DeliveredMessage {
        if let (repo, number) = Self.issue(thread) {
            let comment = try await api.send(
                .POST,
                "/repos/\(repo)/issues/\(number)/comments",
                body: ["body": text],
                as: IssueComment.self
            )
            return DeliveredMessage(messageID: comment.node_id, permalink: comment.html_url)
        }
        var variables: [String: String?] = ["discussionId": thread.channel, "body": text]
        if thread.thread != "-" { variables["replyToId"] = thread.thread }
        let comment = try await graphQL(Self.addComment, variables, as: Added.self).addDiscussionComment.comment
        return DeliveredMessage(messageID: comment.id, permalink: comment.url)
    }

    struct Comments: Decodable {
        struct Page: Decodable {
            struct Info: Decodable {
                var hasNextPage: Bool
                var endCursor: String?
            }
            var pageInfo: Info
            var nodes: [Node]
        }
        struct Discussion: Decodable { var comments: Page }
        var node: Discussion
    }

    /// Looks through the thread for the bot's comment ending with this version's footer. Typed: a missing or
    /// mistyped field is an error (retried), never "no earlier post" and a second post.
    public func findPublishedReply(in thread: ThreadRef, marker: PublishMarker) async throws -> DeliveredMessage? {
        let footer = marker.footer
        func mine(login: String?, body: String?) -> Bool {
            let author = login?.lowercased()
            return (author == botLogin || author == botLogin + "[bot]") && body?.contains(footer) == true
        }
        if let (repo, number) = Self.issue(thread) {
            for page in 1...50 {
                let comments = try await api.decode(
                    [IssueComment].self,
                    .GET,
                    "/repos/\(repo)/issues/\(number)/comments",
                    query: ["per_page": "100", "page": String(page)]
                )
                if let found = comments.first(where: { mine(login: $0.user?.login, body: $0.body) }) {
                    return DeliveredMessage(messageID: found.node_id, permalink: found.html_url)
                }
                if comments.count < 100 { return nil }
            }
            return nil
        }
        var after: String?
        for _ in 0..<50 {
            let page = try await graphQL(Self.comments, ["id": thread.channel, "after": after], as: Comments.self).node
                .comments
            for node in page.nodes {
                for candidate in [node] + (node.replies?.nodes ?? [])
                where mine(login: candidate.author?.login, body: candidate.body) {
                    return DeliveredMessage(messageID: candidate.id, permalink: candidate.url)
                }
            }
            guard page.pageInfo.hasNextPage, let cursor = page.pageInfo.endCursor else { return nil }
            after = cursor
        }
        return nil
    }

    static let threadQuery = """
        query ThreadRead($id: ID!, $after: String) { node(id: $id) { ... on Discussion {
          id body author { login }
          comments(first: 100, after: $after) { pageInfo { hasNextPage endCursor }
            nodes { id body author { login } replies(first: 100) { nodes { id body author { login } } } } } } }
        }
        """

    struct ThreadPage: Decodable {
        struct Discussion: Decodable {
            struct Page: Decodable {
                var pageInfo: Comments.Page.Info
                var nodes: [Node]
            }
            var id: String
            var body: String
            var author: Node.Author?
            var comments: Page
        }
        var node: Discussion
    }

    struct IssueBody: Decodable {
        struct User: Decodable { var login: String }
        var node_id: String
        var body: String?
        var user: User?
    }

    /// The discussion (or issue) body and its comments before the mention, in order; the bot's own left out.
    public func readThread(_ thread: ThreadRef, limits: ThreadLimits) async throws -> [ThreadMessage] {
        guard let mention = thread.mention else { return [] }
        var messages: [ThreadMessage] = []
        func add(_ id: String, _ author: String?, _ body: String?) {
            guard let body, !body.isEmpty, author?.lowercased() != botLogin, author?.lowercased() != botLogin + "[bot]"
            else { return }
            messages.append(ThreadMessage(id: id, author: author ?? "someone", text: body))
        }
        if let (repo, number) = Self.issue(thread) {
            let issue = try await api.decode(IssueBody.self, .GET, "/repos/\(repo)/issues/\(number)")
            add(issue.node_id, issue.user?.login, issue.body)
            for page in 1...20 {
                let comments = try await api.decode(
                    [IssueComment].self,
                    .GET,
                    "/repos/\(repo)/issues/\(number)/comments",
                    query: ["per_page": "100", "page": String(page)]
                )
                for comment in comments {
                    if comment.node_id == mention { return limits.bound(messages) }
                    add(comment.node_id, comment.user?.login, comment.body)
                }
                if comments.count < 100 { break }
            }
            return limits.bound(messages)
        }
        var after: String?
        for page in 0..<20 {
            let discussion = try await graphQL(
                Self.threadQuery,
                ["id": thread.channel, "after": after],
                as: ThreadPage.self
            ).node
            if page == 0 { add(discussion.id, discussion.author?.login, discussion.body) }
            for node in discussion.comments.nodes {
                for candidate in [node] + (node.replies?.nodes ?? []) {
                    if candidate.id == mention { return limits.bound(messages) }
                    add(candidate.id, candidate.author?.login, candidate.body)
                }
            }
            guard discussion.comments.pageInfo.hasNextPage, let cursor = discussion.comments.pageInfo.endCursor else {
                break
            }
            after = cursor
        }
        return limits.bound(messages)
    }

    static let discussionPlace = """
        query($id: ID!) { node(id: $id) { ... on Discussion { title repository { nameWithOwner visibility } } } }
        """

    struct Repository: Decodable {
        var full_name: String
        var visibility: String?
        var `private`: Bool
    }

    struct DiscussionPlace: Decodable {
        struct Node: Decodable {
            struct Repo: Decodable {
                var nameWithOwner: String
                var visibility: String
            }
            var title: String
            var repository: Repo
        }
        var node: Node
    }

    static func visibility(_ text: String?, isPrivate: Bool) -> Place.Visibility {
        switch text?.lowercased() {
        case "public": .public
        case "internal": .organisation
        case "private": .private
        default: isPrivate ? .private : .public
        }
    }

    /// The repository's visibility (public, internal, private) and the discussion's or issue's name.
    public func place(of thread: ThreadRef) async throws -> Place? {
        if let (repo, number) = Self.issue(thread) {
            let found = try await api.decode(Repository.self, .GET, "/repos/\(repo)")
            return Place(
                name: "\(found.full_name)#\(number)",
                visibility: Self.visibility(found.visibility, isPrivate: found.private)
            )
        }
        let node = try await graphQL(Self.discussionPlace, ["id": thread.channel], as: DiscussionPlace.self).node
        return Place(
            name: "\(node.repository.nameWithOwner): \(node.title)",
            visibility: Self.visibility(node.repository.visibility, isPrivate: true)
        )
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
