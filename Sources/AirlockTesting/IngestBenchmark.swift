public import AirlockApp
import AirlockDomain
import AirlockSlack
import AirlockStorage
import AsyncHTTPClient
public import Foundation
import Logging
import NIOCore
import NIOHTTP1

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
    public static func run(requests: Int, connections: Int, sequentialMentions: Int) async throws -> IngestFigures {
        let database = temporaryDatabase()
        return try await withFakeSlack { slack in
            try await withAirlock(slack: slack, database: database) { app in
                var configuration = HTTPClient.Configuration()
                configuration.connectionPool.concurrentHTTP1ConnectionsPerHostSoftLimit = connections
                let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
                do {
                    let figures = try await measure(app: app, slack: slack, client: client, requests: requests, connections: connections, sequentialMentions: sequentialMentions)
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
        let body = try JSONSerialization.data(
            withJSONObject: SlackEvents.mention(
                eventID: "EvBench\(index)-\(UUID().uuidString.prefix(6))", user: user,
                text: "<@U0BOT> how do I restore a database backup?", ts: "1700000000.\(String(format: "%06d", index % 1_000_000))"))
        let stamp = String(Int(Date().timeIntervalSince1970))
        var request = HTTPClientRequest(url: "http://127.0.0.1:\(port)/slack/events")
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        request.headers.add(name: "X-Slack-Request-Timestamp", value: stamp)
        request.headers.add(name: "X-Slack-Signature", value: SlackSignatureTesting.sign(body, timestamp: stamp))
        request.body = .bytes(ByteBuffer(bytes: body))
        return request
    }

    static func measure(
        app: AirlockUnderTest,
        slack: FakeSlack,
        client: HTTPClient,
        requests: Int,
        connections: Int,
        sequentialMentions: Int
    ) async throws -> IngestFigures {
        let prepared = try (0..<requests).map { try signedRequest(port: app.port, index: $0, user: "UB\($0 % 500)") }
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
                        latencies.append((ContinuousClock.now - sent).milliseconds)
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
        let elapsed = (ContinuousClock.now - started).milliseconds / 1000
        let drainStart = ContinuousClock.now
        _ = await eventually(timeout: .seconds(600)) {
            slack.calls("chat.postMessage").count >= requests
        }
        let drain = (ContinuousClock.now - drainStart).milliseconds / 1000

        var mentionToDM: [Double] = []
        for index in 0..<sequentialMentions {
            let user = "USEQ\(index)"
            let request = try signedRequest(port: app.port, index: requests + index, user: user)
            let sent = ContinuousClock.now
            let response = try await client.execute(request, timeout: .seconds(30))
            _ = try await response.body.collect(upTo: 1 << 16)
            while slack.directMessages(to: user).isEmpty {
                if ContinuousClock.now - sent > .seconds(30) { break }
                try await Task.sleep(for: .microseconds(200))
            }
            mentionToDM.append((ContinuousClock.now - sent).milliseconds)
        }
        return IngestFigures(
            requests: requests, connections: connections, seconds: elapsed, latenciesMillis: results.0,
            failures: results.1, drainSeconds: drain, mentionToDMMillis: mentionToDM, peakResidentMiB: peakResidentMiB())
    }
}

/// `airlock bench seed-audit`: N valid chained entries, written in batches, for timing `audit verify`.
public enum AuditSeedBenchmark {
    public static func run(entries: Int, database: String) async throws -> String {
        let store = try Operations.openStore(database)
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
        let seedSeconds = (ContinuousClock.now - started).milliseconds / 1000
        let verifyStart = ContinuousClock.now
        let (ok, summary) = try await Operations.verifyAudit(store)
        let verifySeconds = (ContinuousClock.now - verifyStart).milliseconds / 1000
        return """
            seeded \(entries) audit entries in \(String(format: "%.2f", seedSeconds)) s (\(String(format: "%.0f", Double(entries) / seedSeconds)) entries/s, batches of 1000)
            audit verify: \(ok ? "intact" : "BROKEN") in \(String(format: "%.2f", verifySeconds)) s — \(summary)
            """
    }
}

extension Duration {
    var milliseconds: Double {
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
