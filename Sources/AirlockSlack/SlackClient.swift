public import AirlockDomain
public import AsyncHTTPClient
public import Foundation
import NIOCore
import NIOHTTP1

/// One Web API call as recorded in the audit log (method and outcome; never the token or the body).
public struct SlackAPICall: Hashable, Sendable {
    public var method: String
    public var httpStatus: Int?
    public var error: String?
    public var duration: Duration
}

/// Slack Web API client over AsyncHTTPClient. The base URL points at a loopback fake in tests.
public struct SlackClient: Sendable {
    let http: HTTPClient
    let baseURL: String
    let token: String
    let timeout: TimeAmount
    let onCall: @Sendable (SlackAPICall) async -> Void

    public init(
        http: HTTPClient,
        baseURL: String,
        token: String,
        timeout: Duration = .seconds(10),
        onCall: @escaping @Sendable (SlackAPICall) async -> Void = { _ in }
    ) {
        self.http = http
        self.baseURL = baseURL.hasSuffix("/") ? String(baseURL.dropLast()) : baseURL
        self.token = token
        self.timeout = .milliseconds(Int64(timeout.timeInterval * 1000))
        self.onCall = onCall
    }

    /// `auth.test`: the bot's own user id and bot id.
    public func authTest() async throws -> SlackBotIdentity {
        let reply = try await call("auth.test", json: [String: String](), as: SlackAuthTest.self)
        guard let userID = reply.userID else { throw PlatformError.permanent("auth.test: no user_id") }
        return SlackBotIdentity(userID: userID, botID: reply.botID, teamID: reply.teamID)
    }

    /// `conversations.open` with one user: the DM channel id.
    public func openDirectMessage(user: String) async throws -> String {
        let reply = try await call("conversations.open", json: ["users": user], as: SlackConversationsOpen.self)
        guard let id = reply.channel?.id else { throw PlatformError.permanent("conversations.open: no channel id") }
        return id
    }

    /// `chat.postMessage`; returns the message `ts`.
    func postMessage(
        channel: String,
        text: String,
        threadTS: String? = nil,
        blocks: [SlackBlock]? = nil,
        metadata: SlackMetadata? = nil
    ) async throws -> String {
        let body = SlackPostMessage(
            channel: channel,
            text: text,
            threadTS: threadTS,
            blocks: blocks,
            metadata: metadata
        )
        let reply = try await call("chat.postMessage", json: body, as: SlackPosted.self)
        // `ok` without a ts may still be a post: transient, so the publisher reconciles before any second post.
        guard let ts = reply.ts else { throw PlatformError.transient("chat.postMessage: no ts") }
        return ts
    }

    /// `chat.postEphemeral`: a message only `user` sees in `channel`.
    public func postEphemeral(channel: String, user: String, text: String, threadTS: String? = nil) async throws {
        let body = SlackPostEphemeral(channel: channel, user: user, text: text, threadTS: threadTS)
        _ = try await call("chat.postEphemeral", json: body, as: SlackReply.self)
    }

    /// `chat.getPermalink` (GET with query, as slack_sdk sends it).
    public func permalink(channel: String, messageTS: String) async throws -> String? {
        try await call(
            "chat.getPermalink",
            query: ["channel": channel, "message_ts": messageTS],
            as: SlackPermalink.self
        ).permalink
    }

    /// `conversations.info`: the conversation's name and whether it is private (a DM, a group DM, a private
    /// channel); a reply without them is an error, never "public".
    public func conversationInfo(channel: String) async throws -> (name: String, isPrivate: Bool) {
        let reply = try await call("conversations.info", query: ["channel": channel], as: SlackConversationsInfo.self)
        guard let info = reply.channel, let isPrivate = info.isPrivate else {
            throw PlatformError.transient("conversations.info: no channel.is_private")
        }
        let direct = (info.isIM ?? false) || (info.isMPIM ?? false)
        return (info.name.map { "#" + $0 } ?? channel, isPrivate || direct)
    }

    /// `users.info`: a person's display name (their real name, then their handle); nil when Slack does not say.
    public func displayName(user: String) async throws -> String? {
        let info = try await call("users.info", query: ["user": user], as: SlackUsersInfo.self).user
        return [info?.profile?.displayName, info?.profile?.realName, info?.name].compactMap { $0 }.first {
            !$0.isEmpty
        }
    }

    /// The newest messages of a conversation, with metadata (`conversations.history`).
    public func history(channel: String, limit: Int) async throws -> [SlackMessage] {
        let reply = try await call(
            "conversations.history",
            query: ["channel": channel, "limit": String(limit), "include_all_metadata": "true"],
            as: SlackMessages.self
        )
        guard let messages = reply.messages else {
            throw PlatformError.transient("conversations.history: no messages array")
        }
        return messages
    }

    /// One page of `conversations.replies` with metadata.
    public struct RepliesPage: Sendable {
        public var messages: [SlackMessage]
        public var nextCursor: String?
    }

    /// `conversations.replies` with metadata, one page from `cursor`.
    public func replies(channel: String, threadTS: String, cursor: String? = nil) async throws -> RepliesPage {
        var query = ["channel": channel, "ts": threadTS, "include_all_metadata": "true", "limit": "200"]
        if let cursor { query["cursor"] = cursor }
        let reply = try await call("conversations.replies", query: query, as: SlackMessages.self)
        // A reply without its messages is schema drift, not an empty thread: an error (retried), never "no post".
        guard let messages = reply.messages else {
            throw PlatformError.transient("conversations.replies: no messages array")
        }
        return RepliesPage(messages: messages, nextCursor: reply.responseMetadata?.nextCursor)
    }

    // MARK: transport

    private static let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.withoutEscapingSlashes]
        return encoder
    }()

    func call<Body: Encodable, Reply: Decodable>(
        _ method: String,
        json: Body,
        as reply: Reply.Type
    ) async throws
        -> Reply
    {
        var request = HTTPClientRequest(url: "\(baseURL)/\(method)")
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json; charset=utf-8")
        request.body = .bytes(ByteBuffer(bytes: try Self.encoder.encode(json)))
        return try await send(request, method: method, as: reply)
    }

    func call<Reply: Decodable>(_ method: String, query: [String: String], as reply: Reply.Type) async throws -> Reply {
        var components = URLComponents()
        components.queryItems = query.sorted { $0.key < $1.key }.map { URLQueryItem(name: $0.key, value: $0.value) }
        var request = HTTPClientRequest(url: "\(baseURL)/\(method)?\(components.percentEncodedQuery ?? "")")
        request.method = .GET
        return try await send(request, method: method, as: reply)
    }

    private func send<Reply: Decodable>(
        _ request: HTTPClientRequest,
        method: String,
        as reply: Reply.Type
    )
        async throws -> Reply
    {
        var request = request
        request.headers.add(name: "Authorization", value: "Bearer \(token)")
        let started = ContinuousClock.now
        var status: Int?
        var apiError: String?
        do {
            let body = try await perform(request, method: method, status: &status, apiError: &apiError)
            guard let decoded = try? JSONDecoder().decode(Reply.self, from: body) else {
                // The envelope said ok but the reply is not of its documented shape: schema drift, retried.
                apiError = "bad_response"
                throw PlatformError.transient("\(method): reply not of the documented shape")
            }
            await onCall(
                SlackAPICall(method: method, httpStatus: status, error: nil, duration: ContinuousClock.now - started)
            )
            return decoded
        } catch {
            await onCall(
                SlackAPICall(
                    method: method,
                    httpStatus: status,
                    error: apiError,
                    duration: ContinuousClock.now - started
                )
            )
            throw error
        }
    }

    private func perform(
        _ request: HTTPClientRequest,
        method: String,
        status: inout Int?,
        apiError: inout String?
    ) async throws -> Data {
        let response: HTTPClientResponse
        let bytes: ByteBuffer
        do {
            response = try await http.execute(request, timeout: timeout)
            status = Int(response.status.code)
            bytes = try await response.body.collect(upTo: 4 * 1024 * 1024)
        } catch {
            apiError = "transport"
            throw PlatformError.transient("\(method): \(Self.describe(error))")
        }
        if response.status == .tooManyRequests {
            apiError = "ratelimited"
            // Bounded: a hostile or broken `Retry-After` cannot park the job for years (or overflow a date).
            let seconds = response.headers.first(name: "Retry-After").flatMap(Int.init) ?? 30
            throw PlatformError.rateLimited(retryAfter: .seconds(min(3600, max(1, seconds))))
        }
        if response.status.code >= 500 {
            apiError = "http_\(response.status.code)"
            throw PlatformError.transient("\(method): HTTP \(response.status.code)")
        }
        guard (200..<300).contains(response.status.code) else {
            apiError = "bad_response"
            throw PlatformError.permanent("\(method): HTTP \(response.status.code)")
        }
        let body = Data(bytes.readableBytesView)
        guard let envelope = try? JSONDecoder().decode(SlackReply.self, from: body) else {
            // A 2xx whose body is not a JSON object may still have done what was asked (posted): retried and
            // reconciled, never a final failure with a post that may exist.
            apiError = "bad_response"
            throw PlatformError.transient("\(method): HTTP \(response.status.code) without a JSON object")
        }
        guard envelope.ok == true else {
            let error = envelope.error ?? "unknown_error"
            apiError = error
            if error == "ratelimited" { throw PlatformError.rateLimited(retryAfter: .seconds(30)) }
            if Self.transientErrors.contains(error) { throw PlatformError.transient("\(method): \(error)") }
            throw PlatformError.permanent("\(method): \(error)")
        }
        return body
    }

    static let transientErrors: Set<String> = [
        "internal_error", "fatal_error", "service_unavailable", "request_timeout", "team_added_to_org",
    ]

    static func describe(_ error: any Error) -> String {
        if let error = error as? HTTPClientError { return "\(error)" }
        return String(describing: type(of: error))
    }
}
