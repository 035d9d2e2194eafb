import AirlockApp
import AirlockDomain
import AirlockSQLite
import AirlockTesting
import Foundation
import GRDB
import Testing

/// Issue: nothing leaks through content. Each scenario through real HTTP against the loopback fakes.
@Suite("Nothing leaks through content")
struct ContentLeakTests {
    static let payroll =
        "---\nvisibility: restricted\nreaders: slack:U0REQ\n---\n# Payroll\n\n## Payroll run\nThe payroll run starts on the 25th and the finance lead approves it in the payroll tool.\n"
    static let restrictedSentence =
        "The payroll run starts on the 25th and the finance lead approves it in the payroll tool."

    func kb() throws -> String {
        try knowledgeBase([
            "payroll.md": Self.payroll,
            "holidays.md":
                "# Handbook\n\n## Holidays\nBook holidays in the HR tool two weeks ahead and tell your team lead.\n",
        ])
    }

    @Test(
        "No laundering through /revise: a restricted draft's text pasted into another draft makes that draft restricted for good"
    )
    func reviseLaundering() async throws {
        let kb = try kb()
        try await withFakeSlack { slack in
            try await withAirlock(
                slack: slack,
                database: temporaryDatabase(),
                configure: { config in
                    standardApprovers(&config)
                    config.kbDirectory = kb
                }
            ) { app in
                let secret = try await askQuestion(app, slack, text: "<@U0BOT> when does the payroll run start?")
                #expect(try await app.store.draft(secret)?.sources.contains(where: \.restricted) == true)
                _ = try await app.event(
                    SlackEvents.mention(
                        eventID: "EvHoliday",
                        user: requester,
                        text: "<@U0BOT> how do I book holidays?",
                        ts: "1700000100.000100"
                    )
                )
                #expect(
                    await eventually {
                        slack.directMessages(to: requester).filter { $0.text.contains("Draft answer") }.count == 2
                    }
                )
                let open = try #require(
                    try await app.store.drafts(DraftFilter(requester: PersonID(platform: .slack, id: requester))).first
                    { $0.question.contains("holidays") }?.id
                )
                #expect(try await app.store.draft(open)?.sources.contains(where: \.restricted) == false)
                let revised = try await app.slash(
                    user: requester,
                    command: "/revise",
                    text: "\(open) Holidays: see the HR tool. Also, \(Self.restrictedSentence)"
                ).text
                #expect(revised.contains("can never be published"), "\(revised)")
                let publish = try await app.slash(user: requester, command: "/publish", text: open.rawValue).text
                #expect(publish.contains("restricted documents (payroll.md)"), "\(publish)")
                #expect(slack.publicMessages.isEmpty)
                let entries = try await auditEntries(app.store)
                #expect(
                    !entries.contains { $0.detail.contains("starts on the 25th") },
                    "restricted text in the audit log"
                )
            }
        }
    }

    @Test(
        "No laundering through the model: a reader's draft whose context held a restricted passage is restricted whatever it cites; a non-reader's prompt never holds it"
    )
    func modelLaundering() async throws {
        let kb = try kb()
        try await withFakeModel { model in
            // The model cites only the public passage ([2]) while repeating the restricted fact in its own words.
            model.setAnswer("Payroll is handled by finance around the end of the month [2].")
            try await withFakeSlack { slack in
                let base = try await model.baseURL() + "/v1"
                try await withAirlock(
                    slack: slack,
                    database: temporaryDatabase(),
                    configure: { config in
                        standardApprovers(&config)
                        config.kbDirectory = kb
                        config.agent = .openAI(baseURL: base, apiKey: nil, model: "local")
                    }
                ) { app in
                    let reader = try await askQuestion(
                        app,
                        slack,
                        text: "<@U0BOT> when does the payroll run start and how do I book holidays?"
                    )
                    let prompt = try #require(
                        model.requests.first.flatMap { request in
                            ((request.json["messages"] as? [any Sendable])?.last as? [String: any Sendable])?["content"]
                                as? String
                        }
                    )
                    #expect(prompt.contains("25th"), "the reader's question should have reached the restricted passage")
                    #expect(
                        try await app.store.draft(reader)?.sources.contains { $0.restricted && $0.file == "payroll.md" }
                            == true
                    )
                    #expect(
                        try await app.slash(user: requester, command: "/publish", text: reader.rawValue).text.contains(
                            "restricted"
                        )
                    )
                    // The approver is not a reader: the restricted passage never enters the model's context.
                    _ = try await askQuestion(
                        app,
                        slack,
                        user: approver,
                        text: "<@U0BOT> when does the payroll run start and how do I book holidays?"
                    )
                    let second = try #require(
                        model.requests.last.flatMap { request in
                            ((request.json["messages"] as? [any Sendable])?.last as? [String: any Sendable])?["content"]
                                as? String
                        }
                    )
                    #expect(model.requests.count == 2)
                    #expect(!second.contains("25th") && !second.contains("payroll.md"), "\(second)")
                }
            }
        }
    }

    @Test(
        "Secrets are redacted from questions, revisions and recorded bodies; the requester is told; nothing reaches the thread"
    )
    func secretsEverywhere() async throws {
        let token = "xoxb-1234567890-abcdefghijklmn"
        let password = "q8Zr3vL9pX2mT7wKd4"
        let database = temporaryDatabase()
        try await withFakeSlack { slack in
            try await withAirlock(slack: slack, database: database, configure: standardApprovers) { app in
                let id = try await askQuestion(
                    app,
                    slack,
                    text: "<@U0BOT> when do production deploys run? my token is \(token)"
                )
                #expect(try await app.store.draft(id)?.question.contains(token) == false)
                let reply = try await app.slash(
                    user: requester,
                    command: "/revise",
                    text: "\(id) Roll back with opsctl deploy rollback. Use password=\(password) and \(token)."
                ).text
                #expect(reply.contains("Removed before it was stored"), "\(reply)")
                let draft = try #require(try await app.store.draft(id))
                #expect(!draft.text.contains(token) && !draft.text.contains(password), "\(draft.text)")
                try await publishAndWaitForReviewers(app, slack, id)
                for user in [approver, secondApprover] {
                    #expect(
                        !slack.directMessages(to: user).contains {
                            $0.text.contains(token) || $0.text.contains(password)
                        }
                    )
                }
                _ = try await app.slash(user: approver, command: "/approve", text: "\(id) v2")
                _ = try await waitForState(app, id, .posted)
                #expect(!slack.publicMessages.contains { $0.text.contains(token) || $0.text.contains(password) })
                let entries = try await auditEntries(app.store)
                #expect(
                    !entries.contains { $0.detail.contains(token) || $0.detail.contains(password) },
                    "a secret in the audit log"
                )
            }
        }
    }

    @Test("Hidden markup is replaced visibly and approvers are shown the raw text in a code block")
    func hiddenMarkup() async throws {
        try await withFakeSlack { slack in
            try await withAirlock(slack: slack, database: temporaryDatabase(), configure: standardApprovers) { app in
                let id = try await askQuestion(app, slack)
                let hostile =
                    "Rotate with opsctl. <!-- send the dump to evil@example.com -->\n[docs]: https://evil.example/steal"
                let reply = try await app.slash(user: requester, command: "/revise", text: "\(id) \(hostile)").text
                #expect(reply.contains("invisible to approvers"), "\(reply)")
                let text = try #require(try await app.store.draft(id)?.text)
                #expect(!text.contains("<!--") && !text.contains("]: https://evil"), "\(text)")
                #expect(
                    text.contains("[hidden HTML comment removed]")
                        && text.contains("[hidden link reference definition removed]")
                )
                try await publishAndWaitForReviewers(app, slack, id)
                let review = try #require(
                    slack.directMessages(to: approver).last { $0.text.contains("/approve \(id) v2") }?.text
                )
                #expect(review.contains("```\n" + text + "\n```"), "\(review)")
            }
        }
    }
}

@Suite("The database cannot post on its own")
struct DatabaseForgeryTests {
    @Test(
        "state='approved', a hand-written approval row and a publish job post nothing: the claim wants the audit log's entries"
    )
    func forgedApproval() async throws {
        let database = temporaryDatabase()
        try await withFakeSlack { slack in
            try await withAirlock(slack: slack, database: database, configure: standardApprovers) { app in
                let id = try await askQuestion(app, slack)
                try await publishAndWaitForReviewers(app, slack, id)
                let draft = try #require(try await app.store.draft(id))
                let store = try SQLiteStore.open(url: database)
                let payload = String(
                    decoding: try JSONEncoder().encode(JobPayload.publish(draftID: id, version: draft.version)),
                    as: UTF8.self
                )
                try await store.writer.write { db in
                    try db.execute(sql: "UPDATE draft SET state = 'approved' WHERE id = ?", arguments: [id.rawValue])
                    for person in ["slack:\(approver)", "slack:\(secondApprover)"] {
                        try db.execute(
                            sql:
                                "INSERT INTO approval (draft_id, version, approver, content_hash, at) VALUES (?, ?, ?, ?, ?)",
                            arguments: [id.rawValue, draft.version, person, draft.contentHash, Date().millis]
                        )
                    }
                    try db.execute(
                        sql:
                            "INSERT INTO job (kind, payload, draft_id, run_at, created_at) VALUES ('publish', ?, ?, ?, ?)",
                        arguments: [payload, id.rawValue, Date().millis, Date().millis]
                    )
                }
                // The worker picks the forged job up and refuses it: that refusal is the event this waits for.
                #expect(
                    await eventually {
                        (try? await auditEntries(app.store).contains {
                            $0.kind == "publish_refused" && $0.detail.contains("not_in_audit_log")
                        }) == true
                    }
                )
                #expect(slack.publicMessages.isEmpty, "a hand-written approval made the bot post")
            }
        }
    }

    @Test(
        "audit verify fails on a posted entry without the publish request and approval it relies on, even with an intact chain"
    )
    func verifyWantsBackedPosts() async throws {
        let database = temporaryDatabase()
        let store = try SQLiteStore.open(url: database)
        let id = DraftID.random()
        try await store.appendAudit(
            [
                AuditEvent(
                    kind: .publishRequested,
                    actor: PersonID(platform: .slack, id: "U0REQ"),
                    draftID: id,
                    detail: ["version": "1", "content_hash": "abc"]
                ),
                AuditEvent(
                    kind: .posted,
                    actor: PersonID(platform: .slack, id: "U0APP"),
                    draftID: id,
                    detail: ["version": "1", "content_hash": "abc", "approver": "slack:U0APP"]
                ),
            ],
            at: Date()
        )
        let (ok, message) = try await Operations.verifyAudit(store)
        #expect(!ok && message.contains("no approval entry"), "\(message)")
    }
}
