import AirlockAgents
import AirlockApp
import AirlockDomain
import AirlockDomainTesting
import AirlockSQLite
import AirlockTesting
import Foundation
import Synchronization
import Testing

/// A real `airlock serve` process, started on port 0 (its port read from its JSON log) and killed with SIGKILL.
/// Spawned with `posix_spawn` and read by a plain thread: Foundation's `Process` with a `readabilityHandler`
/// crashed the test runner now and then (inside `Process.run()`) while dozens of these were started and killed.
final class ServerProcess: @unchecked Sendable {
    // Safe: `pid` is immutable; everything else through a Mutex.
    let pid: pid_t
    private let port = Mutex<Int?>(nil)
    private let buffer = Mutex<String>("")
    private let reaped = Mutex<Bool>(false)

    static var binary: String? {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        return [
            ".build/debug/airlock", ".build/x86_64-unknown-linux-gnu/debug/airlock",
            ".build/aarch64-unknown-linux-gnu/debug/airlock",
        ]
        .map { root.appendingPathComponent($0).path }.first { FileManager.default.isExecutableFile(atPath: $0) }
    }

    init(binary: String, environment: [String: String]) throws {
        var fds: [Int32] = [0, 0]
        guard pipe(&fds) == 0 else { throw ServerFailure(description: "pipe failed") }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, fds[1], 2)
        posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0)
        posix_spawn_file_actions_addclose(&actions, fds[0])
        posix_spawn_file_actions_addclose(&actions, fds[1])
        let argv: [UnsafeMutablePointer<CChar>?] = [strdup(binary), strdup("serve"), nil]
        let envp: [UnsafeMutablePointer<CChar>?] = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer {
            for pointer in argv { free(pointer) }
            for pointer in envp { free(pointer) }
        }
        var child: pid_t = 0
        let status = ProcessLauncher.spawn { posix_spawn(&child, binary, &actions, nil, argv, envp) }
        close(fds[1])
        guard status == 0 else {
            close(fds[0])
            throw ServerFailure(description: "posix_spawn failed: \(status)")
        }
        pid = child
        let readEnd = fds[0]
        // Drains stderr until the process is gone (EOF), remembering the port from the "Airlock listening" line.
        Thread.detachNewThread { [self] in
            var chunk = [UInt8](repeating: 0, count: 65_536)
            while true {
                let count = read(readEnd, &chunk, chunk.count)
                if count <= 0 { break }
                consume(String(decoding: chunk[0..<count], as: UTF8.self))
            }
            close(readEnd)
        }
    }

    private func consume(_ data: String) {
        let text = buffer.withLock { buffer -> String in
            buffer += data
            if buffer.count > 100_000 { buffer = String(buffer.suffix(10_000)) }
            return buffer
        }
        guard port.withLock({ $0 }) == nil else { return }
        for line in text.split(separator: "\n") where line.contains("Airlock listening") {
            if let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
                let value = (object["http.port"] as? String).flatMap(Int.init)
            {
                port.withLock { $0 = value }
            }
        }
    }

    var isRunning: Bool {
        reaped.withLock { reaped in
            if reaped { return false }
            var status: Int32 = 0
            if waitpid(pid, &status, WNOHANG) == pid { reaped = true }
            return !reaped
        }
    }

    func waitForPort() async throws -> Int {
        for _ in 0..<3000 {
            if let port = port.withLock({ $0 }) { return port }
            if !isRunning {
                // Let the reader drain what the process wrote last (its reason for exiting).
                try await Task.sleep(for: .milliseconds(200))
                throw ServerFailure(description: "airlock serve exited: \(buffer.withLock { $0.suffix(2000) })")
            }
            try await Task.sleep(for: .milliseconds(10))
        }
        throw ServerFailure(description: "airlock serve did not start")
    }

    /// Starts a server and waits for its port; a start that fails before listening (a loaded machine timing out
    /// the fake Slack's `auth.test`) is tried again, up to three times — what is tested is what happens once it runs.
    static func start(binary: String, environment: [String: String]) async throws -> (ServerProcess, Int) {
        var lastError: (any Error)?
        for _ in 0..<3 {
            let server = try ServerProcess(binary: binary, environment: environment)
            do {
                return (server, try await server.waitForPort())
            } catch {
                lastError = error
                server.kill()
            }
        }
        throw lastError ?? ServerFailure(description: "airlock serve did not start")
    }

    private func end(_ signal: Int32) {
        reaped.withLock { reaped in
            guard !reaped else { return }
            _ = Foundation.kill(pid, signal)
            var status: Int32 = 0
            _ = waitpid(pid, &status, 0)
            reaped = true
        }
    }

    func kill() { end(SIGKILL) }

    func stop() { end(SIGTERM) }
}

struct ServerFailure: Error, CustomStringConvertible {
    var description: String
}

@Suite("Crash safety: airlock serve killed with SIGKILL at random points")
struct CrashSafetyTests {
    static let points = Int(ProcessInfo.processInfo.environment["AIRLOCK_CRASH_POINTS"] ?? "") ?? 50
    static let seed = UInt64(ProcessInfo.processInfo.environment["AIRLOCK_CRASH_SEED"] ?? "") ?? 20_261_202

    @Test(
        "No accepted delivery lost, one answer DM per request, every approved draft posted exactly once, audit intact",
        .enabled(if: ServerProcess.binary != nil),
        .timeLimit(.minutes(5))
    )
    func randomKills() async throws {
        let binary = try #require(ServerProcess.binary)
        let database = temporaryDatabase()
        try await withFakeSlack { slack in
            var rng = SeededGenerator(seed: Self.seed)
            // A slow platform widens the windows between a claim, the platform call and its record.
            slack.setLatency(.milliseconds(20), for: "chat.postMessage")
            let environment: [String: String] = [
                "AIRLOCK_HTTP_PORT": "0", "AIRLOCK_DATABASE": database,
                "AIRLOCK_SLACK_SIGNING_SECRET": TestSecrets.signingSecret,
                "AIRLOCK_SLACK_BOT_TOKEN": TestSecrets.botToken, "AIRLOCK_SLACK_API_URL": try await slack.baseURL(),
                "AIRLOCK_APPROVERS": "slack:\(approver)", "AIRLOCK_SECURITY_APPROVERS": "slack:\(approver)",
                "AIRLOCK_JOB_LEASE": "1s", "AIRLOCK_AGENT_TIMEOUT": "1s", "AIRLOCK_LOG_FORMAT": "json",
                "PATH": ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin",
            ]
            let store = try SQLiteStore.open(url: database)
            var accepted: [String: String] = [:]  // user → event id
            var approved = Set<DraftID>()
            var next = 0
            for _ in 0..<Self.points {
                let (server, port) = try await ServerProcess.start(binary: binary, environment: environment)
                let app = AirlockUnderTest(port: port, store: store, signingSecret: TestSecrets.signingSecret)
                for _ in 0..<Int.random(in: 1...4, using: &rng) {
                    switch Int.random(in: 0..<10, using: &rng) {
                    case 0...3:
                        next += 1
                        let user = "U0CK\(next)"
                        let event = SlackEvents.mention(
                            eventID: "EvCK\(next)",
                            user: user,
                            text: "<@U0BOT> when do production deploys run?",
                            ts: String(format: "1700000000.%06d", next)
                        )
                        if (try? await app.event(event))?.status == 200 { accepted[user] = "EvCK\(next)" }
                    case 4:
                        // A Slack retry of an earlier mention.
                        if let (user, eventID) = accepted.randomElement(using: &rng) {
                            let n = Int(eventID.dropFirst(4)) ?? 0
                            _ = try? await app.event(
                                SlackEvents.mention(
                                    eventID: eventID,
                                    user: user,
                                    text: "<@U0BOT> when do production deploys run?",
                                    ts: String(format: "1700000000.%06d", n)
                                ),
                                retryNum: 1
                            )
                        }
                    case 5...7:
                        if let draft = try await store.drafts(DraftFilter(states: [.answered], limit: 50))
                            .randomElement(using: &rng)
                        {
                            _ = try? await app.slash(
                                user: draft.requester.id,
                                command: "/publish",
                                text: draft.id.rawValue
                            )
                        }
                    default:
                        if let draft = try await store.drafts(DraftFilter(states: [.publishRequested], limit: 50))
                            .randomElement(using: &rng),
                            let reply = try? await app.slash(
                                user: approver,
                                command: "/approve",
                                text: "\(draft.id) v1"
                            ).text,
                            reply.contains("Approved")
                        {
                            approved.insert(draft.id)
                        }
                    }
                }
                try await Task.sleep(for: .milliseconds(Int.random(in: 0...150, using: &rng)))
                server.kill()
            }

            // A last run drains everything, then stops gracefully.
            let (server, _) = try await ServerProcess.start(binary: binary, environment: environment)
            let (acceptedUsers, approvedDrafts) = (Array(accepted.keys), approved)
            let drained = await eventually(timeout: .seconds(60)) {
                let users = acceptedUsers
                let answered = users.allSatisfy { user in
                    slack.directMessages(to: user).contains { $0.text.contains("Draft answer") }
                }
                let posted =
                    (try? await store.drafts(DraftFilter(states: [.posted], limit: 1000)).map(\.id)).map(Set.init) ?? []
                return answered && approvedDrafts.isSubset(of: posted)
            }
            server.stop()
            #expect(
                drained,
                "work was lost: not every accepted mention was answered or not every approved draft posted"
            )
            #expect(!accepted.isEmpty && !approved.isEmpty, "the run exercised too little (seed \(Self.seed))")

            for user in accepted.keys {
                let drafts = try await store.drafts(DraftFilter(requester: PersonID(platform: .slack, id: user)))
                #expect(drafts.count == 1, "\(user): \(drafts.count) drafts for one delivery (seed \(Self.seed))")
                let answers = slack.directMessages(to: user).filter { $0.text.contains("Draft answer") }
                #expect(answers.count == 1, "\(user): \(answers.count) answer DMs for one request (seed \(Self.seed))")
            }
            var markers: [String: Int] = [:]
            for message in slack.publicMessages {
                if let marker = message.metadataJSON { markers[marker, default: 0] += 1 }
            }
            #expect(markers.values.allSatisfy { $0 == 1 }, "a draft was posted twice (seed \(Self.seed))")
            for id in approved {
                #expect(markers.keys.contains { $0.contains(id.rawValue) }, "approved draft \(id) not posted")
            }
            guard case .intact = try await SQLiteStore.open(url: database).verifyAudit() else {
                Issue.record("audit chain broken (seed \(Self.seed))")
                return
            }
        }
    }
}
