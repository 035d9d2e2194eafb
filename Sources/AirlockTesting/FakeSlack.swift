import AirlockSlack
public import Foundation
import HTTPTypes
public import Hummingbird
import Logging
import NIOCore
import Synchronization

/// A Slack Web API on 127.0.0.1 that speaks the documented wire format and records every call.
public final class FakeSlack: Sendable {
    /// One recorded call.
    public struct Call: Sendable {
        public var method: String
        public var authorization: String?
        /// JSON body or query/form fields, as a JSON object.
        public var body: [String: any Sendable]
        public var responseStatus: Int

        public func string(_ key: String) -> String? { body[key] as? String }
    }

    /// A message the fake holds (DMs and channel posts).
    public struct Message: Sendable {
        public var channel: String
        public var ts: String
        public var threadTS: String?
        /// The text as Slack shows it (`&lt;`, `&gt;`, `&amp;` rendered as `<`, `>`, `&`).
        public var text: String { FakeSlack.displayed(rawText) }
        /// The `text` field exactly as sent.
        public var rawText: String
        /// Every character a reader sees: the section blocks' texts (as shown) when there are blocks, else `text`.
        public var shownText: String
        public var metadataJSON: String?
        public var hasButtons: Bool
        /// Who wrote it (seeded messages of people); nil for the bot's own.
        public var user: String?
    }

    /// A scripted failure for the next calls of a method.
    public enum Fault: Sendable {
        /// HTTP 429 with `Retry-After: seconds`.
        case rateLimited(seconds: Int)
        /// HTTP 500 after the call took effect (the post exists; the caller does not know).
        case acceptThenFail
        /// `{"ok":false,"error":…}`.
        case apiError(String)
        /// Answers normally, but only after `Duration` (a slow platform: the post is in flight meanwhile).
        case delay(Duration)
    }

    struct State {
        var calls: [Call] = []
        var messages: [Message] = []
        var faults: [String: [Fault]] = [:]
        var nextTS = 1
        var repliesPageSize = 200
        var latency: [String: Duration] = [:]
        var inFlight: [String: Int] = [:]
        var mostInFlight: [String: Int] = [:]
        var blockedDMs: Set<String> = []
        var privateChannels: Set<String> = []
    }

    /// Makes `channel` private (or public again) as `conversations.info` reports it.
    public func setPrivate(_ channel: String, _ isPrivate: Bool) {
        state.withLock {
            if isPrivate { $0.privateChannels.insert(channel) } else { $0.privateChannels.remove(channel) }
        }
    }

    /// Refuses (`cannot_dm_user`) every private message to `user` while `blocked`, as a user who blocked DMs.
    public func blockDirectMessages(to user: String, _ blocked: Bool = true) {
        state.withLock { if blocked { $0.blockedDMs.insert(user) } else { $0.blockedDMs.remove(user) } }
    }

    private let state = Mutex(State())
    public let botUserID = "U0BOT"
    public let botID = "B0BOT"
    let portBox = PortBox()

    public init() {}

    /// Queues faults for the next calls of `method`.
    public func inject(_ faults: [Fault], for method: String) {
        state.withLock { $0.faults[method, default: []].append(contentsOf: faults) }
    }

    public var calls: [Call] { state.withLock { $0.calls } }

    /// The most calls of `method` that were in progress at once (since the last `resetMostInFlight`).
    public func mostInFlight(_ method: String) -> Int { state.withLock { $0.mostInFlight[method] ?? 0 } }

    public func resetMostInFlight() { state.withLock { $0.mostInFlight = [:] } }

    /// Every call of `method` takes `latency` before it answers (a slow platform, to widen crash windows).
    public func setLatency(_ latency: Duration, for method: String) { state.withLock { $0.latency[method] = latency } }

    /// Makes `conversations.replies` answer in pages of at most `size` messages.
    public func setRepliesPageSize(_ size: Int) { state.withLock { $0.repliesPageSize = size } }

    /// Adds a message to a thread as if someone (or an earlier Airlock post) had written it; `ts` defaults to a
    /// fresh one (pass the thread's own ts to seed its root), `user` to none (a bot's post).
    public func seedReply(
        channel: String,
        threadTS: String,
        text: String,
        metadataJSON: String? = nil,
        ts: String? = nil,
        user: String? = nil
    ) {
        state.withLock { state in
            let stamp = ts ?? String(format: "1700000%03d.%06d", state.nextTS, state.nextTS)
            state.nextTS += 1
            var message = Message(
                channel: channel,
                ts: stamp,
                threadTS: threadTS,
                rawText: text,
                shownText: text,
                metadataJSON: metadataJSON,
                hasButtons: false
            )
            message.user = user
            state.messages.append(message)
        }
    }

    /// Slack's rendering of its three escapes.
    static func displayed(_ text: String) -> String {
        text.replacingOccurrences(of: "&lt;", with: "<").replacingOccurrences(of: "&gt;", with: ">")
            .replacingOccurrences(of: "&amp;", with: "&")
    }

    static func shown(text: String, blocks: (any Sendable)?) -> String {
        guard let blocks = blocks as? [any Sendable] else { return displayed(text) }
        let sections = blocks.compactMap { block -> String? in
            guard let block = block as? [String: any Sendable], block["type"] as? String == "section",
                let inner = block["text"] as? [String: any Sendable]
            else { return nil }
            return inner["text"] as? String
        }
        return displayed(sections.joined())
    }
    public var messages: [Message] { state.withLock { $0.messages } }

    public func calls(_ method: String) -> [Call] { calls.filter { $0.method == method } }

    /// Messages posted in public channels (`C…`), i.e. visible to everyone.
    public var publicMessages: [Message] { messages.filter { $0.channel.hasPrefix("C") } }
    /// Messages posted in DM channels (`D…`).
    public func directMessages(to user: String) -> [Message] { messages.filter { $0.channel == "D\(user)" } }

    /// The application to run (port 0); `url` is valid once it is listening.
    public func application() -> some ApplicationProtocol {
        let router = Router()
        router.post("/api/{method}") { request, context in try await self.handle(request, context: context) }
        router.get("/api/{method}") { request, context in try await self.handle(request, context: context) }
        return Application(
            router: router,
            configuration: .init(address: .hostname("127.0.0.1", port: 0), serverName: "fake-slack"),
            onServerRunning: { [portBox] channel in portBox.set(channel.localAddress?.port ?? 0) },
            logger: Logger(label: "fake-slack", factory: { _ in SwiftLogNoOpLogHandler() })
        )
    }

    /// The API base URL (`http://127.0.0.1:PORT/api`), once running.
    public func baseURL() async throws -> String { "http://127.0.0.1:\(try await portBox.port())/api" }

    private func handle(_ request: Request, context: BasicRequestContext) async throws -> Response {
        let method = try context.parameters.require("method")
        var request = request
        let buffer = try await request.collectBody(upTo: 1 << 20)
        var body: [String: any Sendable] = [:]
        for (key, value) in request.uri.queryParameters { body[String(key)] = String(value) }
        if let object = try? JSONSerialization.jsonObject(with: Data(buffer.readableBytesView)) as? [String: Any] {
            for (key, value) in object { body[key] = Self.sendable(value) }
        }
        let authorization = request.headers[.authorization]
        let latency = state.withLock { state in
            state.inFlight[method, default: 0] += 1
            state.mostInFlight[method] = max(state.mostInFlight[method] ?? 0, state.inFlight[method]!)
            return state.latency[method]
        }
        defer { state.withLock { $0.inFlight[method, default: 1] -= 1 } }
        if let latency { try await Task.sleep(for: latency) }
        let fault: Fault? = state.withLock { state in
            guard var queue = state.faults[method], !queue.isEmpty else { return nil }
            let first = queue.removeFirst()
            state.faults[method] = queue
            return first
        }
        var status = 200
        var response: [String: Any]
        var headers = HTTPFields()
        headers[.contentType] = "application/json; charset=utf-8"
        if authorization != "Bearer xoxb-test-token" {
            response = ["ok": false, "error": "invalid_auth"]
        } else {
            switch fault {
            case .rateLimited(let seconds):
                status = 429
                headers[.retryAfter] = String(seconds)
                response = ["ok": false, "error": "ratelimited"]
            case .apiError(let error):
                response = ["ok": false, "error": error]
            case .delay(let duration):
                try await Task.sleep(for: duration)
                response = perform(method, body: body)
            case .acceptThenFail, nil:
                response = perform(method, body: body)
                if case .acceptThenFail = fault {
                    status = 500
                    response = ["ok": false, "error": "internal_error"]
                }
            }
        }
        let recorded = Call(method: method, authorization: authorization, body: body, responseStatus: status)
        state.withLock { $0.calls.append(recorded) }
        let data = try JSONSerialization.data(withJSONObject: response)
        return Response(
            status: .init(code: status),
            headers: headers,
            body: .init(byteBuffer: ByteBuffer(bytes: data))
        )
    }

    private func perform(_ method: String, body: [String: any Sendable]) -> [String: Any] {
        switch method {
        case "auth.test":
            return ["ok": true, "user_id": botUserID, "bot_id": botID, "team_id": "T0001", "user": "airlock"]
        case "users.info":
            // Display names for seeded people: `U0ALICE` is "alice".
            let user = (body["user"] as? String) ?? ""
            let name = user.hasPrefix("U0") ? String(user.dropFirst(2)).lowercased() : user.lowercased()
            return [
                "ok": true,
                "user": ["id": user, "name": name, "profile": ["display_name": name, "real_name": name.capitalized]],
            ]
        case "conversations.info":
            let channel = (body["channel"] as? String) ?? ""
            let isPrivate = state.withLock { $0.privateChannels.contains(channel) }
            return [
                "ok": true,
                "channel": [
                    "id": channel, "name": "ops-help", "is_private": isPrivate, "is_im": false, "is_mpim": false,
                ],
            ]
        case "conversations.open":
            guard let users = body["users"] as? String, !users.isEmpty else {
                return ["ok": false, "error": "user_not_found"]
            }
            return ["ok": true, "channel": ["id": "D\(users)"]]
        case "chat.postMessage":
            guard let channel = body["channel"] as? String, let text = body["text"] as? String else {
                return ["ok": false, "error": "no_text"]
            }
            if channel.hasPrefix("D"), state.withLock({ $0.blockedDMs.contains(String(channel.dropFirst())) }) {
                return ["ok": false, "error": "cannot_dm_user"]
            }
            let metadata = (body["metadata"] as? [String: any Sendable]).flatMap {
                try? JSONSerialization.data(withJSONObject: Self.plain($0))
            }.map { String(decoding: $0, as: UTF8.self) }
            let ts = state.withLock { state -> String in
                let ts = String(format: "1700000%03d.%06d", state.nextTS, state.nextTS)
                state.nextTS += 1
                state.messages.append(
                    Message(
                        channel: channel,
                        ts: ts,
                        threadTS: body["thread_ts"] as? String,
                        rawText: text,
                        shownText: Self.shown(text: text, blocks: body["blocks"]),
                        metadataJSON: metadata,
                        hasButtons: body["blocks"] != nil
                    )
                )
                return ts
            }
            return ["ok": true, "channel": channel, "ts": ts]
        case "chat.postEphemeral":
            return ["ok": true, "message_ts": "1700000000.000001"]
        case "chat.getPermalink":
            let channel = body["channel"] as? String ?? ""
            let ts = (body["message_ts"] as? String ?? "").replacingOccurrences(of: ".", with: "")
            return [
                "ok": true, "channel": channel, "permalink": "https://example.slack.com/archives/\(channel)/p\(ts)",
            ]
        case "conversations.history":
            let channel = body["channel"] as? String
            let history: [[String: Any]] = messages.filter { $0.channel == channel }.reversed().map { message in
                var object: [String: Any] = ["ts": message.ts, "text": message.rawText]
                if (body["include_all_metadata"] as? String) == "true", let json = message.metadataJSON,
                    let metadata = try? JSONSerialization.jsonObject(with: Data(json.utf8))
                {
                    object["metadata"] = metadata
                }
                return object
            }
            return ["ok": true, "messages": history, "has_more": false]
        case "conversations.replies":
            let channel = body["channel"] as? String
            let thread = body["ts"] as? String
            // Like Slack: the message `ts` names comes first, then its replies (a message without replies alone).
            let all = messages.filter { $0.channel == channel && ($0.threadTS == thread || $0.ts == thread) }.sorted {
                (Double($0.ts) ?? 0) < (Double($1.ts) ?? 0)
            }
            // Pages of `min(limit, repliesPageSize)`, continued with `response_metadata.next_cursor`.
            let pageSize = min(Int(body["limit"] as? String ?? "") ?? 100, state.withLock { $0.repliesPageSize })
            let offset = (body["cursor"] as? String).flatMap { Int($0.dropFirst("off:".count)) } ?? 0
            let page = all.dropFirst(offset).prefix(pageSize)
            let next = offset + page.count < all.count ? "off:\(offset + page.count)" : ""
            let replies: [[String: Any]] = page.map { message in
                var object: [String: Any] = ["ts": message.ts, "text": message.rawText, "thread_ts": thread ?? ""]
                if let user = message.user { object["user"] = user } else { object["bot_id"] = "B0BOT" }
                if (body["include_all_metadata"] as? String) == "true", let json = message.metadataJSON,
                    let metadata = try? JSONSerialization.jsonObject(with: Data(json.utf8))
                {
                    object["metadata"] = metadata
                }
                return object
            }
            return [
                "ok": true, "messages": replies, "has_more": !next.isEmpty, "response_metadata": ["next_cursor": next],
            ]
        default:
            return ["ok": false, "error": "unknown_method"]
        }
    }

    public static func sendable(_ value: Any) -> any Sendable {
        switch value {
        case let dictionary as [String: Any]: return dictionary.mapValues(sendable)
        case let array as [Any]: return array.map(sendable)
        case let string as String: return string
        case let number as NSNumber: return number.doubleValue
        default: return "\(value)"
        }
    }

    public static func plain(_ value: any Sendable) -> Any {
        switch value {
        case let dictionary as [String: any Sendable]: return dictionary.mapValues(plain)
        case let array as [any Sendable]: return array.map(plain)
        default: return value
        }
    }
}
