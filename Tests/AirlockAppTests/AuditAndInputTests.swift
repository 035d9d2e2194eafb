import AirlockApp
import AirlockDomain
import AirlockSQLite
import AirlockTesting
import Foundation
import GRDB
import Testing

@Suite("Audit log integrity, bad input and secrets")
struct AuditAndInputTests {
    /// Runs a full conversation and returns the database path.
    func recordedConversation() async throws -> String {
        let database = temporaryDatabase()
        try await withFakeSlack { slack in
            try await withAirlock(slack: slack, database: database, configure: standardApprovers) { app in
                let id = try await askQuestion(app, slack)
                _ = try await app.slash(user: stranger, command: "/publish", text: id.rawValue)
                try await publishAndWaitForReviewers(app, slack, id)
                _ = try await app.slash(user: approver, command: "/approve", text: id.rawValue)
                _ = try await waitForState(app, id, .posted)
                #expect(
                    await eventually { slack.directMessages(to: approver).contains { $0.text.contains("now public") } }
                )
            }
        }
        return database
    }

    @Test("verify passes on a real run; the database refuses UPDATE and DELETE on audit_log")
    func verifyPassesAndTriggersRefuse() async throws {
        let database = try await recordedConversation()
        let store = try SQLiteStore.open(url: database)
        let (ok, summary) = try await Operations.verifyAudit(store)
        #expect(ok, "\(summary)")
        let kinds = Set(try await auditEntries(store).map(\.kind))
        for kind in [
            "inbound", "question", "agent_run", "dm_sent", "command", "refusal", "publish_requested", "approval",
            "publish_claimed", "posted", "api_call",
        ] {
            #expect(kinds.contains(kind), "no \(kind) entry recorded")
        }
        let path = String(database.dropFirst("sqlite:".count))
        let queue = try DatabaseQueue(path: path)
        #expect(throws: DatabaseError.self) {
            try queue.write { try $0.execute(sql: "UPDATE audit_log SET kind = 'x' WHERE seq = 2") }
        }
        #expect(throws: DatabaseError.self) {
            try queue.write { try $0.execute(sql: "DELETE FROM audit_log WHERE seq = 2") }
        }
    }

    @Test(
        "Editing or deleting an entry after dropping its trigger makes verify fail and name the entry",
        arguments: [
            (
                "audit_log_no_update", #"UPDATE audit_log SET detail = '{"told":"nothing happened"}' WHERE seq = 7"#,
                "entry 7"
            ),
            ("audit_log_no_delete", "DELETE FROM audit_log WHERE seq = 5", "entry 5"),
        ]
    )
    func tamperedEntryIsNamed(_ trigger: String, _ tampering: String, _ named: String) async throws {
        let database = try await recordedConversation()
        let queue = try DatabaseQueue(path: String(database.dropFirst("sqlite:".count)))
        try await queue.write { db in
            try db.execute(sql: "DROP TRIGGER \(trigger)")
            try db.execute(sql: tampering)
        }
        let (ok, summary) = try await Operations.verifyAudit(try SQLiteStore.open(url: database))
        #expect(!ok)
        #expect(summary.contains(named), "\(summary)")
    }

    @Test("A re-chained forgery (edit + recompute that entry's hash) still breaks the next link")
    func rehashedEntryBreaksNextLink() async throws {
        let database = try await recordedConversation()
        let queue = try DatabaseQueue(path: String(database.dropFirst("sqlite:".count)))
        try await queue.write { db in
            try db.execute(sql: "DROP TRIGGER audit_log_no_update")
            let row = try #require(try Row.fetchOne(db, sql: "SELECT * FROM audit_log WHERE seq = 4"))
            var entry = AuditEntry(
                seq: row["seq"],
                atMillis: row["at"],
                kind: row["kind"],
                platform: row["platform"],
                actor: row["actor"],
                draftID: row["draft_id"],
                detail: "{}",
                prevHash: row["prev_hash"],
                hash: ""
            )
            entry.hash = entry.expectedHash
            try db.execute(
                sql: "UPDATE audit_log SET detail = ?, hash = ? WHERE seq = 4",
                arguments: [entry.detail, entry.hash]
            )
        }
        let (ok, summary) = try await Operations.verifyAudit(try SQLiteStore.open(url: database))
        #expect(!ok)
        #expect(summary.contains("entry 5"), "\(summary)")
    }

    enum BadSignature: String, CaseIterable, Sendable {
        case wrongSecret, stale, farFuture, missing, malformed, bodyAltered
    }

    @Test(
        "Bad, stale, far-future, missing and malformed signatures → 401, recorded, nothing else happens",
        arguments: BadSignature.allCases
    )
    func badSignatures(_ kind: BadSignature) async throws {
        try await withFakeSlack { slack in
            try await withAirlock(slack: slack, database: temporaryDatabase()) { app in
                let body = try JSONSerialization.data(
                    withJSONObject: SlackEvents.mention(eventID: "EvSig", user: requester, text: "<@U0BOT> hi there")
                )
                let response: TestResponse
                switch kind {
                case .wrongSecret:
                    response = try await app.sendSigned(
                        "/slack/events",
                        body: body,
                        contentType: "application/json",
                        secret: "not-the-secret"
                    )
                case .stale:
                    response = try await app.sendSigned(
                        "/slack/events",
                        body: body,
                        contentType: "application/json",
                        timestamp: Date().addingTimeInterval(-360)
                    )
                case .farFuture:
                    response = try await app.sendSigned(
                        "/slack/events",
                        body: body,
                        contentType: "application/json",
                        timestamp: Date().addingTimeInterval(360)
                    )
                case .missing:
                    response = try await app.send(
                        "/slack/events",
                        body: body,
                        headers: [("Content-Type", "application/json")]
                    )
                case .malformed:
                    response = try await app.send(
                        "/slack/events",
                        body: body,
                        headers: [
                            ("Content-Type", "application/json"), ("X-Slack-Request-Timestamp", "yesterday"),
                            ("X-Slack-Signature", "v0=zz"),
                        ]
                    )
                case .bodyAltered:
                    let stamp = String(Int(Date().timeIntervalSince1970))
                    let signature = SlackSignatureTesting.sign(body, timestamp: stamp)
                    response = try await app.send(
                        "/slack/events",
                        body: body + Data(" ".utf8),
                        headers: [
                            ("Content-Type", "application/json"), ("X-Slack-Request-Timestamp", stamp),
                            ("X-Slack-Signature", signature),
                        ]
                    )
                }
                #expect(response.status == 401)
                #expect(response.body.contains("signature"))
                let refused = try await auditEntries(app.store).filter { $0.kind == "inbound_refused" }
                #expect(refused.count == 1)
                #expect(try await app.store.drafts(DraftFilter()).isEmpty)
                let quiet = await settled(app)
                #expect(quiet, "jobs still pending")
                #expect(slack.calls("chat.postMessage").isEmpty)
            }
        }
    }

    @Test(
        "Malformed JSON, wrong content type and oversized bodies get clear 4xx answers, are recorded and change nothing"
    )
    func badBodies() async throws {
        try await withFakeSlack { slack in
            try await withAirlock(slack: slack, database: temporaryDatabase()) { app in
                let malformed = try await app.sendSigned(
                    "/slack/events",
                    body: Data("{\"type\": \"event_callback\",".utf8),
                    contentType: "application/json"
                )
                #expect(malformed.status == 400)
                #expect(malformed.body.contains("not valid JSON"))
                let wrongType = try await app.sendSigned(
                    "/slack/events",
                    body: Data("{}".utf8),
                    contentType: "text/plain"
                )
                #expect(wrongType.status == 415)
                #expect(wrongType.body.contains("Content-Type must be application"))
                let big = Data(repeating: UInt8(ascii: " "), count: 2 * 1024 * 1024)
                let oversized = try await app.sendSigned("/slack/events", body: big, contentType: "application/json")
                #expect(oversized.status == 413)
                let chunked = try await app.sendChunked("/slack/events", size: 2 * 1024 * 1024)
                #expect(chunked.status == 413 || chunked.status == -1, "chunked oversized body: \(chunked.status)")
                let missingFields = try await app.sendSigned(
                    "/slack/commands",
                    body: Data("command=%2Fpublish&text=abc".utf8),
                    contentType: "application/x-www-form-urlencoded"
                )
                #expect(missingFields.status == 400)
                #expect(missingFields.body.contains("user_id"))
                let refused = try await auditEntries(app.store).filter { $0.kind == "inbound_refused" }
                #expect(refused.count >= 4)
                #expect(try await app.store.drafts(DraftFilter()).isEmpty)
                if case .broken(let failure) = try await app.store.verifyAudit() {
                    Issue.record("audit broken: \(failure)")
                }
            }
        }
    }

    @Test(
        "Unknown commands, unknown or malformed draft ids: a clear ephemeral answer, recorded",
        arguments: [
            ("/airlock", "frobnicate now", "Unknown command"),
            ("/approve", "ZZZZZZZZZZZZ", "There is no draft"),
            ("/publish", "../../etc/passwd", "is not a draft id"),
            ("/revise", "", "needs a draft id"),
        ]
    )
    func badCommands(_ command: String, _ text: String, _ expected: String) async throws {
        try await withFakeSlack { slack in
            try await withAirlock(slack: slack, database: temporaryDatabase()) { app in
                let (reply, response) = try await app.slash(user: requester, command: command, text: text)
                #expect(response.status == 200)
                #expect(reply.contains(expected), "\(reply)")
                let refusals = try await auditEntries(app.store).filter { $0.kind == "refusal" }
                #expect(refusals.count == 1)
                #expect(refusals.first?.actor == "slack:\(requester)")
            }
        }
    }

    @Test("An expired draft refuses /publish and /approve, and is marked expired")
    func expiredDraftRefused() async throws {
        let clock = TestClock()
        try await withFakeSlack { slack in
            try await withAirlock(
                slack: slack,
                database: temporaryDatabase(),
                now: { clock.now },
                configure: { config in
                    standardApprovers(&config)
                    config.draftTTL = .seconds(3600)
                }
            ) { app in
                let id = try await askQuestion(app, slack)
                clock.advance(by: 3601)
                #expect(
                    try await app.slash(user: requester, command: "/publish", text: id.rawValue, timestamp: clock.now)
                        .text.contains("expired")
                )
                #expect(try await app.store.draft(id)?.state == .expired)
                let late = try await app.slash(
                    user: approver,
                    command: "/approve",
                    text: id.rawValue,
                    timestamp: clock.now
                )
                #expect(late.text.contains("expired"))
                #expect(try await auditEntries(app.store).contains { $0.kind == "expired" })
            }
        }
    }

    @Test("Drafts past their TTL are expired by the sweep without anyone touching them")
    func ttlSweep() async throws {
        let clock = TestClock()
        try await withFakeSlack { slack in
            try await withAirlock(
                slack: slack,
                database: temporaryDatabase(),
                now: { clock.now },
                configure: { config in
                    config.draftTTL = .seconds(60)
                    config.housekeepingInterval = .milliseconds(50)
                }
            ) { app in
                let id = try await askQuestion(app, slack)
                _ = try await waitForState(app, id, .answered)
                clock.advance(by: 61)
                _ = try await waitForState(app, id, .expired)
                let sweep = try await auditEntries(app.store).filter { $0.kind == "expired" }
                #expect(sweep.count == 1 && sweep.first?.detail.contains("ttl_sweep") == true)
                // Jobs are scheduled and claimed on the same clock: a new question is still answered at once.
                let next = try await askQuestion(
                    app,
                    slack,
                    user: approver,
                    text: "<@U0BOT> how do restore drills work?"
                )
                #expect(try await app.store.draft(next)?.state == .answered)
            }
        }
    }

    @Test("Secrets never appear in logs or in the audit export")
    func secretsStayOut() async throws {
        let capture = LogCapture()
        let database = temporaryDatabase()
        try await withFakeSlack { slack in
            try await withAirlock(
                slack: slack,
                database: database,
                logger: capture.logger(),
                configure: standardApprovers
            ) { app in
                let id = try await askQuestion(app, slack)
                try await publishAndWaitForReviewers(app, slack, id)
                _ = try await app.slash(user: approver, command: "/approve", text: id.rawValue)
                _ = try await waitForState(app, id, .posted)
                _ = try await app.sendSigned(
                    "/slack/events",
                    body: Data("{}".utf8),
                    contentType: "application/json",
                    secret: "wrong"
                )
                slack.inject([.rateLimited(seconds: 1)], for: "conversations.open")
            }
        }
        let exported = LinesBox()
        try await Operations.exportAudit(try SQLiteStore.open(url: database), since: nil, draftID: nil) {
            exported.append($0)
        }
        let audit = exported.text
        #expect(!audit.isEmpty)
        #expect(capture.text.contains("Slack request refused"), "the refusal should be logged")
        for secret in [TestSecrets.signingSecret, TestSecrets.botToken, "legacy-verification-token", "secret-path"] {
            #expect(!capture.text.contains(secret), "\(secret) leaked into the logs")
            #expect(!audit.contains(secret), "\(secret) leaked into the audit export")
        }
    }
}

final class LinesBox: @unchecked Sendable {
    // Safe: appended only from one export call's closure, read after it returns.
    var lines: [String] = []
    func append(_ line: String) { lines.append(line) }
    var text: String { lines.joined(separator: "\n") }
}
