import AirlockDomain
import AirlockSQLite
import AirlockSandbox
import AsyncHTTPClient
public import Foundation
public import Logging
import NIOCore
import NIOHTTP1
import ServiceLifecycle

/// Why the demo stopped early.
public struct DemoFailure: Error, CustomStringConvertible {
    public var description: String
}

/// `airlock demo`: a real server on a free loopback port, a fresh SQLite file, the sandbox platform and the
/// bundled docs; plays the gated conversation and prints who said what and where it went.
public struct Demo: Sendable {
    let output: @Sendable (String) -> Void
    let logger: Logger

    public init(logger: Logger, output: @escaping @Sendable (String) -> Void = { print($0) }) {
        self.logger = logger
        self.output = output
    }

    /// Runs the demo; returns normally when every step behaved as the contract says.
    public func run() async throws {
        let directory = FileManager.default.temporaryDirectory
            .appendingPathComponent("airlock-demo-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let databasePath = directory.appendingPathComponent("airlock.sqlite").path
        var config = AirlockConfig()
        config.port = 0
        config.database = "sqlite:\(databasePath)"
        config.policy = ApprovalPolicy.parse(approvers: "sandbox:carol,sandbox:bob").policy
            .withSecurityApprovers([PersonID(platform: .sandbox, id: "bob")])
        config.sandboxToken = DraftID.random().rawValue
        let sandbox = SandboxPlatform()
        let (portStream, portContinuation) = AsyncStream.makeStream(of: Int.self)
        let runtime = try await buildAirlock(
            config: config,
            dependencies: AirlockDependencies(sandbox: sandbox),
            logger: logger,
            onServerRunning: { port in portContinuation.yield(port) }
        )
        let group = runtime.makeServiceGroup()
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            var ports = portStream.makeAsyncIterator()
            guard let port = await ports.next() else { throw DemoFailure(description: "server did not start") }
            do {
                try await play(
                    DemoSession(port: port, token: config.sandboxToken ?? "", sandbox: sandbox, output: output),
                    databasePath: databasePath,
                    store: runtime.store
                )
            } catch {
                await group.triggerGracefulShutdown()
                throw error
            }
            await group.triggerGracefulShutdown()
            try await tasks.waitForAll()
        }
    }

    private func play(_ s: DemoSession, databasePath: String, store: any ManagedStore) async throws {
        s.say("Airlock demo — the gated conversation, end to end")
        s.say("  server     http://127.0.0.1:\(s.port)  (built-in sandbox chat platform)")
        s.say("  database   \(databasePath)")
        s.say("  agent      retrieval over the bundled sample docs (SQLite FTS5, offline)")
        s.say(
            "  approvers  sandbox:carol, sandbox:bob   (carol is listed, yet may not approve the answer she asked for;"
        )
        s.say("             bob is also the security approver that flagged advice needs)")

        s.section("1. alice asks a question in #ops-help (she does not mention the bot)")
        let question = "How do I rotate the database credentials after someone leaves the team?"
        s.say("  #ops-help  alice: \(question)")
        let asked = try await s.post(
            "/sandbox/messages",
            ["user": "alice", "channel": "ops-help", "id": "msg-1", "text": question]
        )
        s.note("HTTP 200 — \(asked["outcome"] as? String ?? "?"): not a question for the bot (no mention).")

        s.section("2. carol, who knows where to look, mentions @airlock in alice's thread")
        let mention = "@airlock can you answer this?"
        s.say("  #ops-help  thread msg-1  carol: \(mention)")
        let posted = try await s.post(
            "/sandbox/messages",
            ["user": "carol", "channel": "ops-help", "thread": "msg-1", "id": "msg-2", "text": mention]
        )
        guard let draftText = posted["draft"] as? String, let draftID = DraftID(draftText) else {
            throw DemoFailure(description: "the mention was not accepted: \(posted)")
        }
        s.note("HTTP 200 — recorded as draft \(draftID); nothing is written in #ops-help.")

        s.section("3. The agent reads alice's thread and answers her question — to carol only, by DM")
        let answer = try await s.waitForMessage {
            $0.place == .direct(to: Self.person("carol")) && $0.text.contains("Draft answer")
        }
        s.show(answer)
        guard answer.text.contains("Read: 1 message"), answer.text.contains("alice") else {
            throw DemoFailure(description: "the answer does not say it read alice's thread")
        }
        try await s.expectNoPublicPost("after the answer")

        s.section("4. carol asks a follow-up, in private")
        try await s.command("carol", "/ask", "\(draftID.rawValue) shorter please", expectAccepted: true)
        let second = try await s.waitForMessage {
            $0.place == .direct(to: Self.person("carol")) && $0.text.contains("version 2")
        }
        s.show(second)

        s.section("5. mallory (a stranger) tries to publish carol's draft")
        try await s.command("mallory", "/publish", draftID.rawValue, expectAccepted: false)

        s.section("6. carol asks to publish version 2")
        try await s.command("carol", "/publish", "\(draftID.rawValue) v2", expectAccepted: true)
        let review = try await s.waitForMessage { $0.place == .direct(to: Self.person("bob")) }
        s.show(review)

        s.section("7. carol tries to approve her own draft")
        try await s.command("carol", "/approve", "\(draftID.rawValue) v2", expectAccepted: false)
        try await s.expectNoPublicPost("after the refused approval")

        s.section("8. bob approves — the only way to the public thread")
        try await s.command("bob", "/approve", "\(draftID.rawValue) v2", expectAccepted: true)
        let publicPost = try await s.waitForMessage { $0.isPublic }
        s.show(publicPost)
        _ = try await s.waitForMessage { $0.place == .direct(to: Self.person("bob")) && $0.text.contains("now public") }
        s.note("carol and bob were each sent the link by DM; the answer sits in alice's thread.")

        s.section("9. bob approves again — still exactly one post")
        try await s.command("bob", "/approve", "\(draftID.rawValue) v2", expectAccepted: false)
        let publicCount = await s.sandbox.messages.filter(\.isPublic).count
        guard publicCount == 1 else { throw DemoFailure(description: "expected one public post, found \(publicCount)") }
        guard case .publicThread(let thread) = publicPost.place, thread.thread == "msg-1" else {
            throw DemoFailure(description: "the post is not in alice's thread")
        }

        s.section("10. airlock audit verify")
        switch try await store.verifyAudit() {
        case .intact(let entries, let head):
            s.say("  OK: \(entries) audit entries, hash chain intact, head \(head.prefix(16))…")
        case .broken(let failure):
            throw DemoFailure(description: "audit verify failed: \(failure)")
        }
        s.say("")
        s.say("Done. Inspect it yourself:")
        s.say("  swift run airlock audit export --database sqlite:\(databasePath)")
        s.say("  swift run airlock drafts show \(draftID) --database sqlite:\(databasePath)")
    }

    static func person(_ name: String) -> PersonID { PersonID(platform: .sandbox, id: name) }
}

/// The demo's client side: HTTP calls to the server and a view on the sandbox's messages.
struct DemoSession: Sendable {
    let port: Int
    let token: String
    let sandbox: SandboxPlatform
    let output: @Sendable (String) -> Void
    let seen = SeenCounter()

    func say(_ line: String) { output(line) }
    func note(_ line: String) { output("    ↳ " + line) }

    func section(_ title: String) {
        output("")
        output("── \(title) " + String(repeating: "─", count: max(4, 72 - title.count)))
    }

    func show(_ message: SandboxMessage) {
        switch message.place {
        case .direct(let person):
            output("  [private DM → \(person)] only \(person.id) can see this:")
        case .publicThread(let thread):
            output("  [PUBLIC reply in #\(thread.channel), thread \(thread.thread)] everyone can see this:")
        case .reviewChannel(let channel):
            output("  [review channel #\(channel)] only approvers can see this:")
        }
        for line in message.text.split(separator: "\n", omittingEmptySubsequences: false) {
            output("    │ " + line)
        }
    }

    func post(_ path: String, _ body: [String: String]) async throws -> [String: Any] {
        var request = HTTPClientRequest(url: "http://127.0.0.1:\(port)\(path)")
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        request.headers.add(name: "Authorization", value: "Bearer \(token)")
        request.body = .bytes(ByteBuffer(bytes: try JSONSerialization.data(withJSONObject: body)))
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(10))
        let bytes = try await response.body.collect(upTo: 1 << 20)
        guard response.status == .ok,
            let object = try JSONSerialization.jsonObject(with: Data(bytes.readableBytesView)) as? [String: Any]
        else { throw DemoFailure(description: "\(path) answered HTTP \(response.status.code)") }
        return object
    }

    func command(_ user: String, _ command: String, _ text: String, expectAccepted: Bool) async throws {
        output("  \(user): \(command) \(text)")
        let reply = try await post("/sandbox/commands", ["user": user, "command": command, "text": text])
        let accepted = reply["accepted"] as? Bool ?? false
        let text = reply["text"] as? String ?? ""
        output(
            accepted
                ? "    ✓ accepted (told only \(user)): \(text)"
                : "    ✗ REFUSED and recorded (told only \(user)): \(text)"
        )
        guard accepted == expectAccepted else {
            throw DemoFailure(
                description: "\(user) \(command) was \(accepted ? "accepted" : "refused"), expected the opposite"
            )
        }
    }

    func waitForMessage(_ matches: @Sendable (SandboxMessage) -> Bool) async throws -> SandboxMessage {
        let deadline = ContinuousClock.now + .seconds(15)
        while ContinuousClock.now < deadline {
            let start = await seen.value
            let fresh = await sandbox.messages(after: start)
            if let index = fresh.firstIndex(where: matches) {
                await seen.set(start + index + 1)
                return fresh[index]
            }
            try await Task.sleep(for: .milliseconds(10))
        }
        throw DemoFailure(description: "timed out waiting for a message")
    }

    func expectNoPublicPost(_ when: String) async throws {
        let publicPosts = await sandbox.messages.filter(\.isPublic)
        guard publicPosts.isEmpty else { throw DemoFailure(description: "something was posted publicly \(when)") }
        note("#ops-help still shows only alice's question: nothing public yet.")
    }
}

/// How many sandbox messages the demo has read so far.
actor SeenCounter {
    private(set) var value = 0
    func set(_ newValue: Int) { value = max(value, newValue) }
}
