public import AirlockApp
public import AirlockDomain
public import AirlockSQLite
public import AirlockSandbox
public import AirlockSlack
public import AirlockWorkflow
import AsyncHTTPClient
public import Foundation
public import Logging
import NIOCore
import NIOHTTP1

/// The signing secret and bot token every test uses.
public enum TestSecrets {
    public static let signingSecret = "airlock-test-signing-secret"
    public static let botToken = "xoxb-test-token"
}

/// An HTTP answer as a test sees it.
public struct TestResponse: Sendable {
    public var status: Int
    public var body: String
    public var json: [String: any Sendable] {
        guard let object = try? JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: Any] else {
            return [:]
        }
        return object.mapValues { FakeSlack.sendable($0) }
    }
}

/// A running Airlock (real server on 127.0.0.1, real SQLite file) pointed at a `FakeSlack`.
public struct AirlockUnderTest: Sendable {
    public init(port: Int, store: any ManagedStore, signingSecret: String, inboundLoad: InboundLoad = InboundLoad()) {
        self.port = port
        self.store = store
        self.signingSecret = signingSecret
        self.inboundLoad = inboundLoad
    }

    public let port: Int
    public let store: any ManagedStore
    public let signingSecret: String
    /// The running Airlock's count of webhooks in flight.
    public let inboundLoad: InboundLoad

    /// Sends raw bytes to a route with the given headers.
    public func send(
        _ path: String,
        body: Data,
        headers: [(String, String)],
        get: Bool = false,
        method: String? = nil
    ) async throws -> TestResponse {
        var request = HTTPClientRequest(url: "http://127.0.0.1:\(port)\(path)")
        request.method = method.map { HTTPMethod(rawValue: $0) } ?? (get ? .GET : .POST)
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        if !get { request.body = .bytes(ByteBuffer(bytes: body)) }
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(10))
        let bytes = try await response.body.collect(upTo: 4 << 20)
        return TestResponse(status: Int(response.status.code), body: String(buffer: bytes))
    }

    /// Signs `body` the way Slack does (v0, with `secret` and `timestamp`) and posts it.
    public func sendSigned(
        _ path: String,
        body: Data,
        contentType: String,
        timestamp: Date = Date(),
        secret: String? = nil,
        extraHeaders: [(String, String)] = []
    ) async throws -> TestResponse {
        let stamp = String(Int(timestamp.timeIntervalSince1970))
        let signature = SlackSignatureVerifier(signingSecret: secret ?? signingSecret).signature(
            timestamp: stamp,
            body: body
        )
        return try await send(
            path,
            body: body,
            headers: [
                ("Content-Type", contentType), ("X-Slack-Request-Timestamp", stamp), ("X-Slack-Signature", signature),
            ] + extraHeaders
        )
    }

    /// Posts a signed Events API JSON body.
    public func event(_ object: [String: Any], retryNum: Int? = nil) async throws -> TestResponse {
        let body = try JSONSerialization.data(withJSONObject: object)
        return try await sendSigned(
            "/slack/events",
            body: body,
            contentType: "application/json",
            extraHeaders: retryNum.map {
                [("X-Slack-Retry-Num", String($0)), ("X-Slack-Retry-Reason", "http_timeout")]
            } ?? []
        )
    }

    /// Runs a signed slash command; returns the ephemeral text (and the whole response).
    public func slash(
        user: String,
        command: String,
        text: String,
        timestamp: Date = Date()
    ) async throws -> (text: String, response: TestResponse) {
        let form = SlackForms.encode([
            ("token", "legacy-verification-token"), ("team_id", "T0001"), ("channel_id", "C0001"),
            ("user_id", user), ("user_name", user.lowercased()), ("command", command), ("text", text),
            ("response_url", "https://hooks.slack.com/commands/T0001/1/secret-path"),
            (
                "trigger_id",
                "\(Int.random(in: 1_000_000...9_999_999)).\(UInt32.random(in: 0...UInt32.max)).\(UUID().uuidString.prefix(8))"
            ),
        ])
        let response = try await sendSigned(
            "/slack/commands",
            body: Data(form.utf8),
            contentType: "application/x-www-form-urlencoded",
            timestamp: timestamp
        )
        return (response.json["text"] as? String ?? "", response)
    }

    /// Clicks a button (`action_id`, `value`) as `user`.
    public func click(user: String, action: String, value: String) async throws -> TestResponse {
        let payload: [String: Any] = [
            "type": "block_actions", "user": ["id": user, "username": user], "api_app_id": "A0001", "token": "legacy",
            "trigger_id": "\(Int.random(in: 1_000_000...9_999_999)).\(UUID().uuidString.prefix(8))",
            "response_url": "https://hooks.slack.com/actions/secret",
            "container": ["type": "message", "message_ts": "1.2", "channel_id": "D\(user)", "is_ephemeral": false],
            "actions": [["type": "button", "action_id": action, "block_id": "b", "value": value, "action_ts": "1.3"]],
        ]
        let json = String(decoding: try JSONSerialization.data(withJSONObject: payload), as: UTF8.self)
        let form = SlackForms.encode([("payload", json)])
        return try await sendSigned(
            "/slack/interactions",
            body: Data(form.utf8),
            contentType: "application/x-www-form-urlencoded"
        )
    }
}

/// Slack Events API payloads as the platform sends them.
public enum SlackEvents {
    /// An `app_mention` event callback.
    public static func mention(
        eventID: String,
        user: String,
        text: String,
        channel: String = "C0001",
        ts: String = "1700000000.000100",
        threadTS: String? = nil
    ) -> [String: Any] {
        var event: [String: Any] = [
            "type": "app_mention", "user": user, "text": text, "ts": ts, "channel": channel, "event_ts": ts,
        ]
        if let threadTS { event["thread_ts"] = threadTS }
        return [
            "token": "legacy-verification-token", "team_id": "T0001", "api_app_id": "A0001", "event": event,
            "type": "event_callback", "event_id": eventID, "event_time": 1_700_000_000,
        ]
    }

    /// A `message.im` event (a DM to the bot).
    /// `threadTS`: a reply in the thread of that DM message.
    public static func directMessage(
        eventID: String,
        user: String,
        text: String,
        botID: String? = nil,
        ts: String = "1700000001.000100",
        threadTS: String? = nil
    ) -> [String: Any] {
        var event: [String: Any] = [
            "type": "message", "channel": "D\(user)", "channel_type": "im", "user": user, "text": text,
            "ts": ts, "event_ts": ts,
        ]
        if let botID { event["bot_id"] = botID }
        if let threadTS { event["thread_ts"] = threadTS }
        return [
            "token": "legacy-verification-token", "team_id": "T0001", "api_app_id": "A0001", "event": event,
            "type": "event_callback", "event_id": eventID, "event_time": 1_700_000_001,
        ]
    }
}

/// `application/x-www-form-urlencoded` encoding.
public enum SlackForms {
    public static func encode(_ fields: [(String, String)]) -> String {
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: "-._~")
        return fields.map { name, value in
            "\(name)=\(value.addingPercentEncoding(withAllowedCharacters: allowed) ?? value)"
        }.joined(separator: "&")
    }
}

/// `withAirlock(database:)` on an `InMemoryStore` (proven by the store conformance suite): for tests of the
/// workflow, not of a database.
public let inMemoryDatabase = "memory:"

/// Runs Airlock on `database` against `slack` for the duration of `body`, then shuts it down gracefully.
public func withAirlock<T: Sendable>(
    slack: FakeSlack,
    database: String,
    logger: Logger = testLogger(),
    now: @escaping @Sendable () -> Date = Date.init,
    configure: (inout AirlockConfig) -> Void = { _ in },
    sandbox: SandboxPlatform? = nil,
    _ body: @Sendable (AirlockUnderTest) async throws -> T
) async throws -> T {
    var config = AirlockConfig()
    config.port = 0
    config.database = database
    config.platforms = [
        SlackModule(
            signingSecret: TestSecrets.signingSecret,
            botToken: TestSecrets.botToken,
            apiURL: try await slack.baseURL()
        )
    ]
    // Open approval within the fake workspace, explicitly, as a deployment would have to ask for it.
    config.policy = ApprovalPolicy().withOpenApproval([.slack: ["T0001"]])
    configure(&config)
    let ports = PortBox()
    let runtime = try await buildAirlock(
        config: config,
        dependencies: AirlockDependencies(
            sandbox: sandbox,
            now: now,
            store: database == inMemoryDatabase ? InMemoryStore() : nil
        ),
        logger: logger,
        onServerRunning: { ports.set($0) }
    )
    return try await withServiceGroup(runtime.makeServiceGroup()) {
        let port = try await ports.port()
        return try await body(
            AirlockUnderTest(
                port: port,
                store: runtime.store,
                signingSecret: TestSecrets.signingSecret,
                inboundLoad: runtime.inboundLoad
            )
        )
    }
}

/// Runs a `FakeSlack` for the duration of `body`.
public func withFakeSlack<T: Sendable>(_ body: @Sendable (FakeSlack) async throws -> T) async throws -> T {
    let slack = FakeSlack()
    return try await withServices([slack.application()]) { try await body(slack) }
}

/// A fresh SQLite URL in a temporary folder.
public func temporaryDatabase() -> String {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("airlock-test-\(UUID().uuidString)")
    try? FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    return "sqlite:" + directory.appendingPathComponent("airlock.sqlite").path
}

extension AirlockUnderTest {
    /// Sends `size` bytes with chunked transfer encoding (no Content-Length), signed like Slack.
    public func sendChunked(_ path: String, size: Int) async throws -> TestResponse {
        let chunk = ByteBuffer(repeating: UInt8(ascii: "a"), count: 64 * 1024)
        let chunks = (0..<(size / (64 * 1024))).map { _ in chunk }
        var request = HTTPClientRequest(url: "http://127.0.0.1:\(port)\(path)")
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        request.headers.add(name: "X-Slack-Request-Timestamp", value: String(Int(Date().timeIntervalSince1970)))
        request.headers.add(name: "X-Slack-Signature", value: "v0=" + String(repeating: "0", count: 64))
        request.body = .stream(chunks.async, length: .unknown)
        do {
            let response = try await HTTPClient.shared.execute(request, timeout: .seconds(10))
            let bytes = try await response.body.collect(upTo: 1 << 20)
            return TestResponse(status: Int(response.status.code), body: String(buffer: bytes))
        } catch {
            // The server may close the connection while the client is still uploading.
            return TestResponse(status: -1, body: "\(error)")
        }
    }
}

extension Array where Element: Sendable {
    /// The elements as an async sequence.
    var async: AsyncStream<Element> {
        AsyncStream { continuation in
            for element in self { continuation.yield(element) }
            continuation.finish()
        }
    }
}

/// Signing with the test secret, for hand-made requests.
public enum SlackSignatureTesting {
    public static func sign(_ body: Data, timestamp: String) -> String {
        SlackSignatureVerifier(signingSecret: TestSecrets.signingSecret).signature(timestamp: timestamp, body: body)
    }
}

/// A silent logger, or one printing to stderr at debug level when `AIRLOCK_TEST_LOG` is set.
public func testLogger() -> Logger {
    guard ProcessInfo.processInfo.environment["AIRLOCK_TEST_LOG"] != nil else {
        return Logger(label: "airlock.test", factory: { _ in SwiftLogNoOpLogHandler() })
    }
    var logger = Logger(label: "airlock.test", factory: { StreamLogHandler.standardError(label: $0) })
    logger.logLevel = .debug
    return logger
}

extension AirlockConfig {
    /// The Slack module's settings when Slack is enabled (tests read and adjust them through this).
    public var slack: SlackModule? {
        get { platforms.lazy.compactMap { $0 as? SlackModule }.first }
        set {
            platforms.removeAll { $0 is SlackModule }
            if let newValue { platforms.append(newValue) }
        }
    }
}
