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
import Synchronization

/// `airlock bench soak`: mixed load for a while against a real Airlock (temporary SQLite file) and the bench's
/// fake Slack, with the process's resident memory and open file descriptors sampled; both must stay flat.
///
/// The mix, per second of `rate`: mentions (each answered by DM), the requesters' `/publish` and the approver's
/// `/approve` of answered drafts (each posted in its thread), `/drafts`, Slack retries of earlier mentions, and
/// requests with bad signatures.
public enum SoakBenchmark {
    public struct Sample: Sendable {
        var seconds: Double
        var residentMiB: Double
        var openFiles: Int
        var requests: Int
        var posts: Int
    }

    public static func run(duration: Duration, rate: Int, interval: Duration = .seconds(10)) async throws -> String {
        let approver = PersonID(platform: .slack, id: "U0APPROVER")
        return try await IngestBenchmark.withBenchAirlock(configure: {
            $0.policy = ApprovalPolicy(approvers: [approver])
        }) { ports, store, slack in
            let port = ports[0]
            return try await drive(
                port: port,
                store: store,
                slack: slack,
                duration: duration,
                rate: rate,
                interval: interval
            )
        }
    }

    static func drive(
        port: Int,
        store: any AirlockStore,
        slack: BenchSlack,
        duration: Duration,
        rate: Int,
        interval: Duration
    ) async throws -> String {
        let driver = SoakDriver(port: port)
        let started = ContinuousClock.now
        var samples: [Sample] = [sample(at: 0, requests: 0, posts: 0)]
        let end = started + duration
        var nextSample = started + interval
        try await withThrowingTaskGroup(of: Void.self) { group in
            var inFlight = 0
            while ContinuousClock.now < end {
                let tick = ContinuousClock.now
                for _ in 0..<max(1, rate / 10) {
                    let index = driver.counters.withLock { state -> Int in
                        state.index += 1; return state.index
                    }
                    if inFlight >= 64 {
                        try await group.next()
                        inFlight -= 1
                    }
                    inFlight += 1
                    group.addTask { [driver] in
                        func send(
                            _ path: String,
                            _ body: Data,
                            _ type: String,
                            secret: String = IngestBenchmark.signingSecret,
                            extra: [(String, String)] = []
                        ) async {
                            await driver.send(path, body, type, secret: secret, extra: extra)
                        }
                        func command(_ user: String, _ name: String, _ text: String) async {
                            await driver.command(user, name, text)
                        }
                        switch index % 20 {
                        case 0...9:
                            let body = try IngestBenchmark.mentionBody(index: index, user: "UB\(index % 50)")
                            await send("/slack/events", body, "application/json")
                        case 10:
                            // A Slack retry of a mention seen before.
                            let body = try IngestBenchmark.mentionBody(
                                index: max(0, index - 40),
                                user: "UB\(max(0, index - 40) % 50)"
                            )
                            await send("/slack/events", body, "application/json", extra: [("X-Slack-Retry-Num", "1")])
                        case 11...13:
                            if let draft = try? await store.drafts(DraftFilter(states: [.answered], limit: 20))
                                .randomElement()
                            {
                                await command(draft.requester.id, "/publish", draft.id.rawValue)
                            }
                        case 14...16:
                            if let draft = try? await store.drafts(DraftFilter(states: [.publishRequested], limit: 20))
                                .randomElement()
                            {
                                await command("U0APPROVER", "/approve", "\(draft.id.rawValue) v\(draft.version)")
                            }
                        case 17: await command("UB\(index % 50)", "/drafts", "")
                        default:
                            await send("/slack/events", Data("{}".utf8), "application/json", secret: "wrong-secret")
                        }
                    }
                }
                while inFlight > 0, let _ = try await group.next() { inFlight -= 1 }
                if ContinuousClock.now >= nextSample {
                    let state = driver.counters.withLock { $0 }
                    samples.append(
                        sample(
                            at: (ContinuousClock.now - started).millisecondsDouble / 1000,
                            requests: state.requests,
                            posts: slack.publicPosts
                        )
                    )
                    nextSample += interval
                }
                let pause = .milliseconds(100) - (ContinuousClock.now - tick)
                if pause > .zero { try await Task.sleep(for: pause) }
            }
        }
        try await driver.client.shutdown()
        let state = driver.counters.withLock { $0 }
        return report(
            samples,
            requests: state.requests,
            failures: state.failures,
            posts: slack.publicPosts,
            dms: slack.posts - slack.publicPosts
        )
    }

    static func sample(at seconds: Double, requests: Int, posts: Int) -> Sample {
        Sample(
            seconds: seconds,
            residentMiB: residentMiB() ?? .nan,
            openFiles: openFileCount(),
            requests: requests,
            posts: posts
        )
    }

    static func report(_ samples: [Sample], requests: Int, failures: Int, posts: Int, dms: Int) -> String {
        var lines = ["   t (s)   RSS (MiB)   open fds   requests   public posts"]
        for sample in samples {
            lines.append(
                String(
                    format: "%8.0f   %9.1f   %8d   %8d   %12d",
                    sample.seconds,
                    sample.residentMiB,
                    sample.openFiles,
                    sample.requests,
                    sample.posts
                )
            )
        }
        // Flat: after warm-up (the first quarter), the last quarter's mean is within 10% (RSS) / 8 fds of the second's.
        let quarter = max(1, samples.count / 4)
        let second = samples.dropFirst(quarter).prefix(quarter)
        let last = samples.suffix(quarter)
        func mean(_ values: some Collection<Double>) -> Double { values.reduce(0, +) / Double(max(1, values.count)) }
        let rssGrowth = mean(last.map(\.residentMiB)) / mean(second.map(\.residentMiB)) - 1
        let fdGrowth = mean(last.map { Double($0.openFiles) }) - mean(second.map { Double($0.openFiles) })
        let flat = rssGrowth < 0.10 && fdGrowth < 8
        lines.append(
            "\(requests) requests (\(failures) unexpected answers), \(posts) public posts, \(dms) DMs; RSS last quarter vs second: \(String(format: "%+.1f%%", rssGrowth * 100)), open fds: \(String(format: "%+.1f", fdGrowth)) → \(flat ? "flat" : "GROWING")"
        )
        return lines.joined(separator: "\n")
    }

    static func residentMiB() -> Double? {
        guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
            let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") }),
            let kib = Double(line.split(separator: " ").dropFirst().first ?? "")
        else { return nil }
        return kib / 1024
    }

    static func openFileCount() -> Int {
        (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd").count) ?? -1
    }
}

/// The soak's client side: signed Slack requests and their counters.
final class SoakDriver: Sendable {
    let client = HTTPClient(eventLoopGroupProvider: .singleton)
    let counters = Mutex<(requests: Int, failures: Int, index: Int)>((0, 0, 0))
    let port: Int

    init(port: Int) { self.port = port }

    func send(_ path: String, _ body: Data, _ type: String, secret: String, extra: [(String, String)]) async {
        var request = IngestBenchmark.signedRequest(
            port: port,
            path: path,
            body: body,
            contentType: type,
            secret: secret
        )
        for (name, value) in extra { request.headers.add(name: name, value: value) }
        let ok: Bool
        do {
            let response = try await client.execute(request, timeout: .seconds(30))
            _ = try await response.body.collect(upTo: 1 << 20)
            ok = response.status == .ok || (secret != IngestBenchmark.signingSecret && response.status == .unauthorized)
        } catch {
            ok = false
        }
        counters.withLock {
            $0.requests += 1; if !ok { $0.failures += 1 }
        }
    }

    func command(_ user: String, _ name: String, _ text: String) async {
        let form = [
            ("team_id", "T0BENCH"), ("channel_id", "C0BENCH"), ("user_id", user), ("command", name), ("text", text),
            ("api_app_id", "A0BENCH"),
            ("trigger_id", "\(Int.random(in: 1_000_000...9_999_999)).\(UUID().uuidString.prefix(8))"),
        ].map { "\($0)=\($1.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? $1)" }.joined(
            separator: "&"
        )
        await send(
            "/slack/commands",
            Data(form.utf8),
            "application/x-www-form-urlencoded",
            secret: IngestBenchmark.signingSecret,
            extra: []
        )
    }
}
