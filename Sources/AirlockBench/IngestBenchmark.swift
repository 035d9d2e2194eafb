public import AirlockApp
import AirlockDomain
import AirlockSQLite
import AirlockSlack
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
    /// nil when the target is another server (the peer): only the ack path is measured there.
    public var drainSeconds: Double?
    public var mentionToDMMillis: [Double]
    /// What was measured ("Airlock (in-process)" or the external target's URL).
    public var target = "Airlock (in-process, temporary SQLite file, synchronous=FULL)"
    /// Group commit: transactions written during the run and the writes they carried.
    public var commits: (batches: Int, writes: Int, busy: Duration)?
    /// Peak resident memory of the whole process (server, fake Slack and client), from /proc.
    public var peakResidentMiB: Double?

    static func percentile(_ sorted: [Double], _ p: Double) -> Double {
        guard !sorted.isEmpty else { return .nan }
        return sorted[min(sorted.count - 1, Int((Double(sorted.count) * p).rounded(.up)) - 1)]
    }

    public var requestsPerSecond: Double { Double(requests) / seconds }
    public var p99: Double { Self.percentile(latenciesMillis.sorted(), 0.99) }

    public var description: String {
        let sorted = latenciesMillis.sorted()
        let dm = mentionToDMMillis.sorted()
        func ms(_ value: Double) -> String { String(format: "%.2f", value) }
        var lines = [
            "target: \(target)",
            "signed POST /slack/events (app_mention), \(connections) connections, loopback, \(requests) requests",
            "  throughput   \(String(format: "%.0f", requestsPerSecond)) req/s  (\(ms(seconds)) s, \(failures) non-200)",
            "  latency      p50 \(ms(Self.percentile(sorted, 0.50))) ms   p99 \(ms(Self.percentile(sorted, 0.99))) ms   p999 \(ms(Self.percentile(sorted, 0.999))) ms   max \(ms(sorted.last ?? .nan)) ms",
        ]
        if let commits, commits.batches > 0 {
            let busy = commits.busy.millisecondsDouble
            lines.append(
                "  group commit\(target.contains("replicas") ? " (first replica)" : "") \(commits.writes) writes in \(commits.batches) transactions (\(String(format: "%.1f", Double(commits.writes) / Double(commits.batches))) per fsync), \(ms(busy / Double(commits.batches))) ms each, writer busy \(String(format: "%.0f", busy / 10 / seconds))% of the run"
            )
        }
        if let drainSeconds {
            lines.append(
                "  backlog      all \(requests) agent runs + DMs done \(ms(drainSeconds)) s after the last ack"
            )
        }
        if !dm.isEmpty {
            lines.append("mention → DM with the retrieval agent, one at a time, \(dm.count) mentions")
            lines.append(
                "  latency      p50 \(ms(Self.percentile(dm, 0.50))) ms   p99 \(ms(Self.percentile(dm, 0.99))) ms"
            )
        }
        lines.append(
            "peak RSS of this process (\(drainSeconds == nil ? "load generator only" : "server + fake Slack + client")): \(peakResidentMiB.map { String(format: "%.1f MiB", $0) } ?? "n/a")"
        )
        return lines.joined(separator: "\n")
    }
}

/// `airlock bench slack-ingest`: a real Airlock (temporary SQLite file, WAL, synchronous=FULL) and a loopback
/// fake Slack in this process; a pool of `connections` clients sends pre-signed mentions.
public enum IngestBenchmark {
    static let signingSecret = "airlock-bench-signing-secret"

    public static func run(
        requests: Int,
        connections: Int,
        sequentialMentions: Int,
        workers: Int = AirlockConfig().workers,
        database: String? = nil,
        replicas: Int = 1
    ) async throws -> IngestFigures {
        try await withBenchAirlock(
            replicas: replicas,
            configure: { config in
                config.workers = workers
                if let database { config.database = database }
            }
        ) { ports, store, slack in
            var configuration = HTTPClient.Configuration()
            configuration.connectionPool.concurrentHTTP1ConnectionsPerHostSoftLimit = connections
            let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
            do {
                var figures = try await measure(
                    ports: ports,
                    store: store as? any GroupCommitting,
                    slack: slack,
                    client: client,
                    requests: requests,
                    connections: connections,
                    sequentialMentions: sequentialMentions
                )
                try await client.shutdown()
                if let database, !database.hasPrefix("sqlite:") {
                    let place = database.split(separator: "@").last.map { "PostgreSQL at " + $0 } ?? "external database"
                    figures.target = "Airlock (\(replicas) in-process replica\(replicas == 1 ? "" : "s") on \(place))"
                }
                return figures
            } catch {
                try? await client.shutdown()
                throw error
            }
        }
    }

    /// Runs a real Airlock (temporary SQLite file, WAL, synchronous=FULL, Slack pointed at the bench's fake Slack
    /// in this process) for the duration of `body`, which gets its port, its store and the fake.
    static func withBenchAirlock<T: Sendable>(
        replicas: Int = 1,
        configure: (inout AirlockConfig) -> Void,
        _ body: @escaping @Sendable ([Int], any AirlockStore, BenchSlack) async throws -> T
    ) async throws -> T {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent(
            "airlock-bench-\(UUID().uuidString)"
        )
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let logger = Logger(label: "airlock.bench", factory: { _ in SwiftLogNoOpLogHandler() })
        let slack = BenchSlack()
        let slackPort = PortPromise()
        let fake = Application(
            router: slack.router(),
            configuration: .init(address: .hostname("127.0.0.1", port: 0)),
            onServerRunning: { slackPort.fulfil($0.localAddress?.port ?? 0) },
            logger: logger
        )
        var config = AirlockConfig()
        config.port = 0
        config.database = "sqlite:" + directory.appendingPathComponent("airlock.sqlite").path
        // Any human of the bench workspace approves (scoped open approval, as a deployment must ask for it).
        config.policy = ApprovalPolicy().withOpenApproval([.slack: ["T0BENCH"]])
        configure(&config)
        let base = config
        return try await runServices([fake], logger: logger) {
            var config = base
            config.platforms = [
                SlackModule(
                    signingSecret: signingSecret,
                    botToken: "xoxb-bench",
                    apiURL: "http://127.0.0.1:\(try await slackPort.value())/api"
                )
            ]
            // Replicas: each its own runtime (store, workers, HTTP server) on the same database, as separate
            // `airlock serve` processes would be.
            var runtimes: [AirlockRuntime] = []
            var ports: [PortPromise] = []
            for _ in 0..<max(1, replicas) {
                let port = PortPromise()
                runtimes.append(
                    try await buildAirlock(
                        config: config,
                        dependencies: AirlockDependencies(),
                        logger: logger,
                        onServerRunning: { port.fulfil($0) }
                    )
                )
                ports.append(port)
            }
            let first = runtimes[0].store
            let promised = ports
            return try await runServices(runtimes.flatMap(\.services), logger: logger) {
                var values: [Int] = []
                for port in promised { values.append(try await port.value()) }
                return try await body(values, first, slack)
            }
        }
    }

    /// A signed Slack request (v0 signature over a fresh timestamp) to `path` on the Airlock at `port`.
    static func signedRequest(
        port: Int,
        path: String,
        body: Data,
        contentType: String,
        secret: String = signingSecret
    ) -> HTTPClientRequest {
        var request = HTTPClientRequest(url: "http://127.0.0.1:\(port)\(path)")
        request.method = .POST
        request.headers.add(name: "Content-Type", value: contentType)
        request.headers.add(contentsOf: slackSignatureHeaders(body: body, secret: secret))
        request.body = .bytes(ByteBuffer(bytes: body))
        return request
    }

    /// Slack's v0 signature headers over a fresh timestamp, for every signed request the benches send.
    static func slackSignatureHeaders(body: Data, secret: String) -> [(String, String)] {
        let stamp = String(Int(Date().timeIntervalSince1970))
        return [
            ("X-Slack-Request-Timestamp", stamp),
            (
                "X-Slack-Signature",
                SlackSignatureVerifier(signingSecret: secret).signature(timestamp: stamp, body: body)
            ),
        ]
    }

    static func mentionBody(index: Int, user: String) throws -> Data {
        let ts = "1700000000.\(String(format: "%06d", index % 1_000_000))"
        return try JSONSerialization.data(withJSONObject: [
            "token": "legacy", "team_id": "T0BENCH", "api_app_id": "A0BENCH", "type": "event_callback",
            "event_id": "EvBench\(index)-\(UUID().uuidString.prefix(6))", "event_time": 1_700_000_000,
            "event": [
                "type": "app_mention", "user": user, "text": "<@U0BOT> how do I restore a database backup?", "ts": ts,
                "channel": "C0BENCH", "event_ts": ts,
            ],
        ])
    }

    static func signedRequest(port: Int, index: Int, user: String) throws -> HTTPClientRequest {
        signedRequest(
            port: port,
            path: "/slack/events",
            body: try mentionBody(index: index, user: user),
            contentType: "application/json"
        )
    }

    /// A signed mention as raw HTTP/1.1 parts for the load generator.
    static func prepared(
        host: String,
        path: String,
        secret: String,
        index: Int,
        user: String
    ) throws -> LoadGenerator.Prepared {
        let body = try mentionBody(index: index, user: user)
        var head = HTTPRequestHead(version: .http1_1, method: .POST, uri: path)
        head.headers.add(name: "Host", value: host)
        head.headers.add(name: "Content-Type", value: "application/json")
        head.headers.add(name: "Content-Length", value: String(body.count))
        head.headers.add(contentsOf: slackSignatureHeaders(body: body, secret: secret))
        return LoadGenerator.Prepared(head: head, body: ByteBuffer(bytes: body))
    }

    /// Drives another server (the peer: `Benchmarks/bolt/app.py`) with the same requests and generator; only the
    /// ack path is measured.
    public static func runExternal(
        url: URL,
        secret: String,
        requests: Int,
        connections: Int
    ) async throws -> IngestFigures {
        guard let host = url.host, let port = url.port else { throw BenchError("--target needs http://HOST:PORT/PATH") }
        let path = url.path.isEmpty ? "/slack/events" : url.path
        let prepared = try (0..<requests).map {
            try Self.prepared(host: host, path: path, secret: secret, index: $0, user: "UB\($0 % 500)")
        }
        let result = try await LoadGenerator(host: host, port: port).run(prepared, connections: connections)
        var figures = IngestFigures(
            requests: requests,
            connections: connections,
            seconds: result.seconds,
            latenciesMillis: result.latenciesMillis,
            failures: result.failures,
            drainSeconds: nil,
            mentionToDMMillis: [],
            peakResidentMiB: peakResidentMiB()
        )
        figures.target = url.absoluteString
        return figures
    }

    static func measure(
        ports: [Int],
        store: (any GroupCommitting)?,
        slack: BenchSlack,
        client: HTTPClient,
        requests: Int,
        connections: Int,
        sequentialMentions: Int
    ) async throws -> IngestFigures {
        let prepared = try (0..<requests).map {
            try Self.prepared(
                host: "127.0.0.1",
                path: "/slack/events",
                secret: signingSecret,
                index: $0,
                user: "UB\($0 % 500)"
            )
        }
        let commitsBefore = store?.groupCommitted
        let load = try await LoadGenerator(host: "127.0.0.1", ports: ports).run(prepared, connections: connections)
        let port = ports[0]
        let results = (load.latenciesMillis, load.failures)
        let elapsed = load.seconds
        let commitsAfter = store?.groupCommitted
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
        var figures = IngestFigures(
            requests: requests,
            connections: connections,
            seconds: elapsed,
            latenciesMillis: results.0,
            failures: results.1,
            drainSeconds: drain,
            mentionToDMMillis: mentionToDM,
            peakResidentMiB: peakResidentMiB()
        )
        if let commitsBefore, let commitsAfter {
            figures.commits = (
                commitsAfter.batches - commitsBefore.batches, commitsAfter.writes - commitsBefore.writes,
                commitsAfter.busy - commitsBefore.busy
            )
        }
        return figures
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
                    kind: .tool("bench"),
                    platform: .sandbox,
                    actor: PersonID(platform: .sandbox, id: "bench"),
                    detail: ["n": String(written + index), "body": String(repeating: "x", count: 200)]
                )
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
    private let counts = Mutex<(posts: Int, perChannel: [String: Int], publicPosts: Int)>((0, [:], 0))

    var posts: Int { counts.withLock { $0.posts } }
    /// Messages to channels that are not DMs (the published answers).
    var publicPosts: Int { counts.withLock { $0.publicPosts } }
    func messages(to user: String) -> Int { counts.withLock { $0.perChannel["D\(user)"] ?? 0 } }

    func router() -> Router<BasicRequestContext> {
        let router = Router()
        router.post("/api/:method") { request, context -> Response in
            let method = context.parameters.get("method") ?? ""
            let body = try await request.body.collect(upTo: 1 << 20)
            let object =
                (try? JSONSerialization.jsonObject(with: Data(body.readableBytesView)) as? [String: Any]) ?? [:]
            var answer: [String: Any] = ["ok": true]
            switch method {
            case "auth.test": answer.merge(["user_id": "U0BOT", "bot_id": "B0BOT", "team_id": "T0BENCH"]) { $1 }
            case "conversations.open": answer["channel"] = ["id": "D\(object["users"] as? String ?? "")"]
            case "chat.postMessage":
                let channel = object["channel"] as? String ?? ""
                let n = self.counts.withLock { counts -> Int in
                    counts.posts += 1
                    counts.perChannel[channel, default: 0] += 1
                    if !channel.hasPrefix("D") { counts.publicPosts += 1 }
                    return counts.posts
                }
                answer["ts"] = "1700000001.\(String(format: "%06d", n % 1_000_000))"
                answer["channel"] = channel
            case "conversations.replies", "conversations.history": answer["messages"] = [[String: Any]]()
            default: answer["permalink"] = "https://bench.example/p"
            }
            let data = try JSONSerialization.data(withJSONObject: answer)
            return Response(
                status: .ok,
                headers: [.contentType: "application/json"],
                body: .init(byteBuffer: ByteBuffer(bytes: data))
            )
        }
        return router
    }
}

struct BenchError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
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
