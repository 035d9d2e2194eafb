import AirlockApp
import AirlockDomain
import AirlockSQLite
import AirlockTesting
import Foundation
import Logging
import Synchronization
import Testing

@Suite("Health, metrics, CLI operations and the demo")
struct OperationsTests {
    @Test(
        "/healthz and /readyz answer 200; /metrics, behind its bearer token, shows the dashboard metrics after a conversation"
    )
    func healthAndMetrics() async throws {
        try await withFakeSlack { slack in
            try await withAirlock(
                slack: slack,
                database: temporaryDatabase(),
                configure: { config in
                    standardApprovers(&config)
                    config.metricsToken = "metrics-token-0123456789"
                }
            ) { app in
                #expect(try await app.send("/healthz", body: Data(), headers: [], get: true).status == 200)
                // /metrics is behind its bearer token: nothing without it, 401 with a wrong one.
                #expect(try await app.send("/metrics", body: Data(), headers: [], get: true).status == 401)
                #expect(
                    try await app.send("/metrics", body: Data(), headers: [("Authorization", "Bearer nope")], get: true)
                        .status == 401
                )
                #expect(try await app.send("/readyz", body: Data(), headers: [], get: true).status == 200)
                let id = try await askQuestion(app, slack)
                try await publishAndWaitForReviewers(app, slack, id)
                _ = try await app.slash(user: stranger, command: "/approve", text: id.rawValue)
                _ = try await app.slash(user: approver, command: "/approve", text: id.rawValue)
                _ = try await waitForState(app, id, .posted)
                _ = try await app.sendSigned(
                    "/slack/events",
                    body: Data("{}".utf8),
                    contentType: "application/json",
                    secret: "bad"
                )
                let metrics = try await app.send(
                    "/metrics",
                    body: Data(),
                    headers: [("Authorization", "Bearer metrics-token-0123456789")],
                    get: true
                ).body
                #expect(metrics.contains(#"airlock_inbound_requests_total{platform="slack",outcome="accepted"}"#))
                #expect(
                    metrics.contains(#"airlock_inbound_requests_total{platform="slack",outcome="bad_signature"} 1"#)
                )
                #expect(
                    metrics.contains(#"airlock_commands_total{platform="slack",command="approve",outcome="refused"} 1"#)
                )
                #expect(metrics.contains(#"airlock_posts_total{platform="slack"} 1"#))
                #expect(metrics.contains("airlock_dms_total"))
                #expect(metrics.contains("airlock_agent_run_seconds_bucket"))
                #expect(metrics.contains("airlock_approval_wait_seconds_count 1"))
                #expect(metrics.contains("airlock_pending_drafts 0"))
            }
        }
    }

    @Test("drafts list/show and audit export describe what happened")
    func draftsAndExport() async throws {
        let database = temporaryDatabase()
        let id = try await withFakeSlack { slack in
            try await withAirlock(slack: slack, database: database, configure: standardApprovers) { app in
                let id = try await askQuestion(app, slack)
                _ = try await app.slash(user: requester, command: "/publish", text: id.rawValue)
                return id
            }
        }
        let store = try SQLiteStore.open(url: database)
        let list = try await Operations.listDrafts(store, json: false)
        #expect(list.count == 1 && list[0].contains(id.rawValue) && list[0].contains("publish_requested"))
        let json = try await Operations.listDrafts(store, json: true)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(json[0].utf8)) as? [String: Any])
        #expect(object["requester"] as? String == "slack:\(requester)")
        #expect((object["content_hash"] as? String)?.count == 64)
        let shown = try #require(try await Operations.showDraft(store, id: id.rawValue, json: false))
        #expect(shown.contains { $0.hasPrefix("publish      requested for v1") })
        #expect(try await Operations.showDraft(store, id: "nosuchdraft", json: false) == nil)
        let lines = Mutex<[String]>([])
        try await Operations.exportAudit(store, since: nil, draftID: id) { line in lines.withLock { $0.append(line) } }
        let exported = lines.withLock { $0 }
        #expect(!exported.isEmpty)
        #expect(exported.allSatisfy { $0.contains(#""draft_id":"\#(id.rawValue)""#) })
    }

    @Test("Read-only commands refuse a database that does not exist instead of creating an empty one")
    func missingDatabase() async throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent(
            "airlock-missing-\(UUID().uuidString).sqlite"
        ).path
        await #expect(throws: StartupError.self) { try await Operations.openStore("sqlite:\(path)", mustExist: true) }
        #expect(!FileManager.default.fileExists(atPath: path))
        // Nothing listens on port 1: an unreachable PostgreSQL is a database error (exit 3), not a hang.
        await #expect(throws: StartupError.self) {
            try await Operations.openStore("postgres://airlock@127.0.0.1:1/airlock")
        }
    }

    @Test(
        "The demo plays the forum story (a question, a mention in its thread, a follow-up, two people) and ends with an intact audit log"
    )
    func demo() async throws {
        let output = Mutex<[String]>([])
        try await Demo(logger: Logger(label: "demo", factory: { _ in SwiftLogNoOpLogHandler() })) { line in
            output.withLock { $0.append(line) }
        }.run()
        let text = output.withLock { $0.joined(separator: "\n") }
        // Alice asks; Carol mentions the bot in Alice's thread and gets the private answer to Alice's question.
        #expect(text.contains("[private DM → sandbox:carol]"))
        #expect(
            text.contains("Q: How do I rotate the database credentials after someone leaves the team? — asked by alice")
        )
        #expect(!text.contains("[private DM → sandbox:alice]"), "alice never asked the bot")
        #expect(text.contains("version 2"), "the follow-up made a second version")
        #expect(text.contains("REFUSED and recorded (told only mallory)"))
        #expect(text.contains("REFUSED and recorded (told only carol)"))
        #expect(text.contains("[PUBLIC reply in #ops-help, thread msg-1]"))
        #expect(text.contains("hash chain intact"))
    }

    @Test("doctor: says what is fine and what to fix (a wrong bot token, an unreachable API, a missing database)")
    func doctor() async throws {
        try await withFakeSlack { slack in
            let base = try await slack.baseURL()
            let database = temporaryDatabase()
            _ = try SQLiteStore.open(url: database)
            let logger = Logger(label: "doctor", factory: { _ in SwiftLogNoOpLogHandler() })
            let good: [String: String] = [
                "AIRLOCK_DATABASE": database, "AIRLOCK_SLACK_SIGNING_SECRET": "s3cret",
                "AIRLOCK_SLACK_BOT_TOKEN": TestSecrets.botToken,
                "AIRLOCK_SLACK_API_URL": base, "AIRLOCK_APPROVERS": "slack:U0APP",
            ]
            let (ok, lines) = await Operations.doctor(environment: good, file: nil, logger: logger)
            #expect(ok, "\(lines)")
            var nobody = good
            nobody["AIRLOCK_APPROVERS"] = nil
            let (open, openLines) = await Operations.doctor(environment: nobody, file: nil, logger: logger)
            #expect(!open && openLines.contains { $0.hasPrefix("FAIL  nobody can approve") }, "\(openLines)")
            #expect(lines.contains("ok    slack: credentials accepted"))
            var wrong = good
            wrong["AIRLOCK_SLACK_BOT_TOKEN"] = "xoxb-wrong-token"
            let (badToken, report) = await Operations.doctor(environment: wrong, file: nil, logger: logger)
            #expect(!badToken)
            #expect(
                report.contains { $0.hasPrefix("FAIL  slack:") && $0.contains("AIRLOCK_SLACK_BOT_TOKEN") },
                "\(report)"
            )
            #expect(!report.joined().contains("xoxb-wrong-token"), "the token was echoed")
            var missing = good
            missing["AIRLOCK_DATABASE"] = "sqlite:/nonexistent/airlock.sqlite"
            let (noDatabase, report2) = await Operations.doctor(environment: missing, file: nil, logger: logger)
            #expect(!noDatabase && report2.contains { $0.hasPrefix("FAIL  database") })
        }
    }
}
