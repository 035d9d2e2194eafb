public import AirlockApp
import AirlockDomain
import AirlockSlack
import AirlockSQLite
import AsyncHTTPClient
public import Foundation
import Hummingbird
import Logging
import NIOCore
import NIOHTTP1
import ServiceLifecycle
import Synchronization

/// Figures printed by `airlock bench slack-ingest`.
public struct IngestFigures: Sendable, CustomStringConvertible {
    public var requests: Int
    public var connections: Int
    public var seconds: Double
    public var latenciesMillis: [Double]
    public var failures: Int
    public var drainSeconds: Double
    public var mentionToDMMillis: [Double]
    /// Peak resident memory of the whole process (server, fake Slack and client), from /proc.
    public var peakResidentMiB: Double?

    static func percentile(_ sorted: [Double], _ p: Double) -> Double {
        guard !sorted.isEmpty else { return .nan }
        return sorted[min(sorted.count - 1, Int((Double(sorted.count) * p).rounded(.up)) - 1)]
    }

    public var description: String {
        let sorted = latenciesMillis.sorted()
        let dm = mentionToDMMillis.sorted()
        return """
            signed POST /slack/events (app_mention), \(connections) connections, loopback, \(requests) requests
              throughput   \(String(format: "%.0f", Double(requests) / seconds)) req/s  (\(String(format: "%.2f", seconds)) s, \(failures) non-200)
              latency      p50 \(String(format: "%.2f", Self.percentile(sorted, 0.50))) ms   p99 \(String(format: "%.2f", Self.percentile(sorted, 0.99))) ms   max \(String(format: "%.2f", sorted.last ?? .nan)) ms
              backlog      all \(requests) agent runs + DMs done \(String(format: "%.2f", drainSeconds)) s after the last ack
            mention → DM with the retrieval agent, one at a time, \(dm.count) mentions
              latency      p50 \(String(format: "%.2f", Self.percentile(dm, 0.50))) ms   p99 \(String(format: "%.2f", Self.percentile(dm, 0.99))) ms
            peak RSS of the process (server + fake Slack + client): \(peakResidentMiB.map { String(format: "%.1f MiB", $0) } ?? "n/a")
            """
    }
}

/// `airlock bench slack-ingest`: a real Airlock (temporary SQLite file, WAL, synchronous=FULL) and a loopback
/// fake Slack in this process; a pool of `connections` clients sends pre-signed mentions.
public enum IngestBenchmark {
    static let signingSecret = "airlock-bench-signing-secret"

    public static func run(requests: Int, connections: Int, sequentialMentions: Int) async throws -> IngestFigures {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("airlock-bench-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let logger = Logger(label: "airlock.bench", factory: { _ in SwiftLogNoOpLogHandler() })
        let slack = BenchSlack()
        let slackPort = PortPromise()
        let fake = Application(
            router: slack.router(), configuration: .init(address: .hostname("127.0.0.1", port: 0)),
            onServerRunning: { slackPort.fulfil($0.localAddress?.port ?? 0) }, logger: logger)
        return try await runServices([fake], logger: logger) {
            var config = AirlockConfig()
            config.port = 0
            config.database = "sqlite:" + directory.appendingPathComponent("airlock.sqlite").path
            config.platforms = [
                SlackModule(
                    signingSecret: signingSecret, botToken: "xoxb-bench",
                    apiURL: "http://127.0.0.1:\(try await slackPort.value())/api")
            ]
            let airlockPort = PortPromise()
            let runtime = try await buildAirlock(
                config: config, dependencies: AirlockDependencies(), logger: logger,
                onServerRunning: { airlockPort.fulfil($0) })
            return try await runServices(runtime.services, logger: logger) {
                var configuration = HTTPClient.Configuration()
                configuration.connectionPool.concurrentHTTP1ConnectionsPerHostSoftLimit = connections
                let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
                do {
                    let figures = try await measure(
                        port: try await airlockPort.value(), slack: slack, client: client, requests: requests,
                        connections: connections, sequentialMentions: sequentialMentions)
                    try await client.shutdown()
                    return figures
                } catch {
                    try? await client.shutdown()
                    throw error
                }
            }
        }
    }

    static func signedRequest(port: Int, index: Int, user: String) throws -> HTTPClientRequest {
        let ts = "1700000000.\(String(format: "%06d", index % 1_000_000))"
        let body = try JSONSerialization.data(withJSONObject: [
            "token": "legacy", "team_id": "T0BENCH", "api_app_id": "A0BENCH", "type": "event_callback",
            "event_id": "EvBench\(index)-\(UUID().uuidString.prefix(6))", "event_time": 1_700_000_000,
            "event": [
                "type": "app_mention", "user": user, "text": "<@U0BOT> how do I restore a database backup?", "ts": ts,
                "channel": "C0BENCH", "event_ts": ts,
            ],
        ])
        let stamp = String(Int(Date().timeIntervalSince1970))
        var request = HTTPClientRequest(url: "http://127.0.0.1:\(port)/slack/events")
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        request.headers.add(name: "X-Slack-Request-Timestamp", value: stamp)
        request.headers.add(name: "X-Slack-Signature", value: SlackSignatureVerifier(signingSecret: signingSecret).signature(timestamp: stamp, body: body))
        request.body = .bytes(ByteBuffer(bytes: body))
        return request
    }

    static func measure(
        port: Int,
        slack: BenchSlack,
        client: HTTPClient,
        requests: Int,
        connections: Int,
        sequentialMentions: Int
    ) async throws -> IngestFigures {
        let prepared = try (0..<requests).map { try signedRequest(port: port, index: $0, user: "UB\($0 % 500)") }
        let started = ContinuousClock.now
        let results = try await withThrowingTaskGroup(of: ([Double], Int).self) { group in
            for worker in 0..<connections {
                group.addTask {
                    var latencies: [Double] = []
                    var failures = 0
                    var index = worker
                    while index < prepared.count {
                        let sent = ContinuousClock.now
                        let response = try await client.execute(prepared[index], timeout: .seconds(30))
                        _ = try await response.body.collect(upTo: 1 << 16)
                        latencies.append((ContinuousClock.now - sent).millisecondsDouble)
                        if response.status != .ok { failures += 1 }
                        index += connections
                    }
                    return (latencies, failures)
                }
            }
            var all: ([Double], Int) = ([], 0)
            for try await (latencies, failures) in group {
                all.0 += latencies
                all.1 += failures
            }
            return all
        }
        let elapsed = (ContinuousClock.now - started).millisecondsDouble / 1000
        let drainStart = ContinuousClock.now
        while slack.posts < requests, ContinuousClock.now - drainStart < .seconds(600) {
            try await Task.sleep(for: .milliseconds(5))
        }
        let drain = (ContinuousClock.now - drainStart).millisecondsDouble / 1000

        var mentionToDM: [Double] = []
        for index in 0..<sequentialMentions {
            let user = "USEQ\(index)"
            let request = try signedRequest(port: port, index: requests + index, user: user)
            let sent = ContinuousClock.now
            let response = try await client.execute(request, timeout: .seconds(30))
            _ = try await response.body.collect(upTo: 1 << 16)
            while slack.messages(to: user) == 0 {
                if ContinuousClock.now - sent > .seconds(30) { break }
                try await Task.sleep(for: .microseconds(200))
            }
            mentionToDM.append((ContinuousClock.now - sent).millisecondsDouble)
        }
        return IngestFigures(
            requests: requests, connections: connections, seconds: elapsed, latenciesMillis: results.0,
            failures: results.1, drainSeconds: drain, mentionToDMMillis: mentionToDM, peakResidentMiB: peakResidentMiB())
    }
}

/// `airlock bench seed-audit`: N valid chained entries, written in batches, for timing `audit verify`.
public enum AuditSeedBenchmark {
    public static func run(entries: Int, database: String) async throws -> String {
        let store = try await Operations.openStore(database)
        let started = ContinuousClock.now
        var written = 0
        while written < entries {
            let batch = min(1000, entries - written)
            let events = (0..<batch).map { index in
                AuditEvent(
                    kind: "bench", platform: .sandbox, actor: PersonID(platform: .sandbox, id: "bench"),
                    detail: ["n": String(written + index), "body": String(repeating: "x", count: 200)])
            }
            try await store.appendAudit(events, at: Date())
            written += batch
        }
        let seedSeconds = (ContinuousClock.now - started).millisecondsDouble / 1000
        let verifyStart = ContinuousClock.now
        let (ok, summary) = try await Operations.verifyAudit(store)
        let verifySeconds = (ContinuousClock.now - verifyStart).millisecondsDouble / 1000
        return """
            seeded \(entries) audit entries in \(String(format: "%.2f", seedSeconds)) s (\(String(format: "%.0f", Double(entries) / seedSeconds)) entries/s, batches of 1000)
            audit verify: \(ok ? "intact" : "BROKEN") in \(String(format: "%.2f", verifySeconds)) s — \(summary)
            """
    }
}

extension Duration {
    var millisecondsDouble: Double {
        let parts = components
        return Double(parts.seconds) * 1000 + Double(parts.attoseconds) / 1e15
    }
}

/// VmHWM from /proc/self/status in MiB (Linux), nil elsewhere.
func peakResidentMiB() -> Double? {
    guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
        let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmHWM:") }),
        let kib = Double(line.split(separator: " ").dropFirst().first ?? "")
    else { return nil }
    return kib / 1024
}

/// The bench's own loopback Slack Web API: `auth.test`, `conversations.open`, `chat.postMessage` (counted per DM
/// channel), `chat.getPermalink`. Enough for mentions to be answered; nothing is kept but counters.
final class BenchSlack: Sendable {
    private let counts = Mutex<(posts: Int, perChannel: [String: Int])>((0, [:]))

    var posts: Int { counts.withLock { $0.posts } }
    func messages(to user: String) -> Int { counts.withLock { $0.perChannel["D\(user)"] ?? 0 } }

    func router() -> Router<BasicRequestContext> {
        let router = Router()
        router.post("/api/:method") { request, context -> Response in
            let method = context.parameters.get("method") ?? ""
            let body = try await request.body.collect(upTo: 1 << 20)
            let object = (try? JSONSerialization.jsonObject(with: Data(body.readableBytesView)) as? [String: Any]) ?? [:]
            var answer: [String: Any] = ["ok": true]
            switch method {
            case "auth.test": answer.merge(["user_id": "U0BOT", "bot_id": "B0BOT", "team_id": "T0BENCH"]) { $1 }
            case "conversations.open": answer["channel"] = ["id": "D\(object["users"] as? String ?? "")"]
            case "chat.postMessage":
                let channel = object["channel"] as? String ?? ""
                let n = self.counts.withLock { counts -> Int in
                    counts.posts += 1
                    counts.perChannel[channel, default: 0] += 1
                    return counts.posts
                }
                answer["ts"] = "1700000001.\(String(format: "%06d", n % 1_000_000))"
                answer["channel"] = channel
            default: answer["permalink"] = "https://bench.example/p"
            }
            let data = try JSONSerialization.data(withJSONObject: answer)
            return Response(
                status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: data)))
        }
        return router
    }
}

/// A port learnt from `onServerRunning`.
final class PortPromise: Sendable {
    private let state = Mutex<Int?>(nil)
    func fulfil(_ port: Int) { state.withLock { $0 = port } }
    func value() async throws -> Int {
        for _ in 0..<1000 {
            if let port = state.withLock({ $0 }) { return port }
            try await Task.sleep(for: .milliseconds(10))
        }
        throw CancellationError()
    }
}

/// Runs `services` for the duration of `body`, then shuts them down gracefully.
func runServices<T: Sendable>(
    _ services: [any Service],
    logger: Logger,
    _ body: @Sendable () async throws -> T
) async throws -> T {
    let group = ServiceGroup(configuration: .init(services: services.map { .init(service: $0) }, logger: logger))
    return try await withThrowingTaskGroup(of: Void.self) { tasks in
        tasks.addTask { try await group.run() }
        defer { tasks.cancelAll() }
        do {
            let result = try await body()
            await group.triggerGracefulShutdown()
            try await tasks.waitForAll()
            return result
        } catch {
            await group.triggerGracefulShutdown()
            throw error
        }
    }
}
