import AirlockApp
import AirlockDomain
import AirlockSQLite
import AirlockTesting
import Foundation
import Testing

@Suite("Restarts, crashes and platform faults")
struct RestartAndFaultTests {
    @Test("Stopping the server between any two steps: the conversation continues and posts exactly once")
    func restartBetweenSteps() async throws {
        let database = temporaryDatabase()
        try await withFakeSlack { slack in
            // Step 1: the mention is acknowledged, then the server stops at once (the agent may not have run).
            try await withAirlock(slack: slack, database: database, configure: standardApprovers) { app in
                try Task.checkCancellation()
                #expect(
                    try await app.event(
                        SlackEvents.mention(
                            eventID: "EvR1",
                            user: requester,
                            text: "<@U0BOT> how to roll back a deploy?"
                        )
                    ).status == 200
                )
            }
            // Step 2: after a restart the answer arrives, once; a redelivery of the same event does nothing.
            let id = try await withAirlock(slack: slack, database: database, configure: standardApprovers) { app in
                #expect(
                    await eventually {
                        slack.directMessages(to: requester).contains { $0.text.contains("Draft answer") }
                    }
                )
                #expect(
                    try await app.event(
                        SlackEvents.mention(
                            eventID: "EvR1",
                            user: requester,
                            text: "<@U0BOT> how to roll back a deploy?"
                        ),
                        retryNum: 1
                    ).status == 200
                )
                return try #require(try await app.store.drafts(DraftFilter()).first?.id)
            }
            // Step 3: publish, stop.
            try await withAirlock(slack: slack, database: database, configure: standardApprovers) { app in
                try Task.checkCancellation()
                #expect(
                    try await app.slash(user: requester, command: "/publish", text: id.rawValue).text.contains(
                        "Publish requested"
                    )
                )
            }
            // Step 4: approve, stop at once (the publisher may not have run).
            try await withAirlock(slack: slack, database: database, configure: standardApprovers) { app in
                try Task.checkCancellation()
                #expect(
                    try await app.slash(user: approver, command: "/approve", text: id.rawValue).text.contains(
                        "Approved"
                    )
                )
            }
            // Step 5: after the restart the post happens, once.
            try await withAirlock(slack: slack, database: database, configure: standardApprovers) { app in
                _ = try await waitForState(app, id, .posted)
                #expect(
                    try await app.slash(user: secondApprover, command: "/approve", text: id.rawValue).text.contains(
                        "posted"
                    )
                )
            }
            // Step 6: one more restart changes nothing.
            try await withAirlock(slack: slack, database: database, configure: standardApprovers) { app in
                let quiet = await settled(app)
                #expect(quiet, "jobs still pending")
                #expect(slack.publicMessages.count == 1)
                #expect(slack.directMessages(to: requester).filter { $0.text.contains("Draft answer") }.count == 1)
                #expect(try await app.store.drafts(DraftFilter()).count == 1)
                if case .broken(let failure) = try await app.store.verifyAudit() {
                    Issue.record("audit broken: \(failure)")
                }
            }
        }
    }

    @Test(
        "Platform accepted the post but the answer was lost: the publisher finds it in the thread and does not post again"
    )
    func crashAfterPostIsReconciled() async throws {
        try await withFakeSlack { slack in
            try await withAirlock(slack: slack, database: temporaryDatabase(), configure: standardApprovers) { app in
                let id = try await askQuestion(app, slack)
                try await publishAndWaitForReviewers(app, slack, id)
                slack.inject([.acceptThenFail], for: "chat.postMessage")
                _ = try await app.slash(user: approver, command: "/approve", text: id.rawValue)
                _ = try await waitForState(app, id, .posted)
                #expect(slack.publicMessages.count == 1)
                #expect(slack.calls("conversations.replies").count >= 1)
                let posted = try #require(try await auditEntries(app.store).first { $0.kind == "posted" })
                #expect(posted.detail.contains("\"reconciled\":\"true\""))
                #expect(posted.detail.contains("\"attempt\":\"2\""))
            }
        }
    }

    @Test("A job that runs longer than its lease keeps it: a DM slower than the lease is sent once")
    func slowJobKeepsItsLease() async throws {
        try await withFakeSlack { slack in
            // Every DM takes 4.5 s at the platform (and is only there once it answers); the lease is 2 s
            // (1 s, raised to the agent timeout + 1 s), and three other workers are idle.
            slack.setLatency(.milliseconds(4500), for: "chat.postMessage")
            try await withAirlock(
                slack: slack,
                database: temporaryDatabase(),
                configure: {
                    $0.jobLease = .seconds(1)
                    $0.agentTimeout = .seconds(1)
                }
            ) { app in
                _ = try await app.event(
                    SlackEvents.mention(
                        eventID: "EvSlowDM",
                        user: requester,
                        text: "<@U0BOT> when do production deploys run?"
                    )
                )
                _ = await eventually(timeout: .seconds(20)) { !slack.directMessages(to: requester).isEmpty }
                let quiet = await settled(app, timeout: .seconds(30))
                #expect(quiet, "jobs still pending")
                let answers = slack.directMessages(to: requester).filter { $0.text.contains("Draft answer") }
                #expect(answers.count == 1, "the answer DM was sent \(answers.count) times")
            }
        }
    }

    @Test("HTTP 429 with Retry-After is honoured: the DM is retried from the durable queue")
    func rateLimitIsRetried() async throws {
        try await withFakeSlack { slack in
            slack.inject([.rateLimited(seconds: 1)], for: "conversations.open")
            try await withAirlock(slack: slack, database: temporaryDatabase()) { app in
                let started = ContinuousClock.now
                #expect(
                    try await app.event(
                        SlackEvents.mention(eventID: "EvRL", user: requester, text: "<@U0BOT> backups?")
                    ).status == 200
                )
                #expect(await eventually { slack.directMessages(to: requester).count == 1 })
                #expect(ContinuousClock.now - started >= .seconds(1))
                #expect(slack.calls("conversations.open").map(\.responseStatus) == [429, 200])
                let apiCalls = try await auditEntries(app.store).filter { $0.kind == "api_call" }
                #expect(apiCalls.contains { $0.detail.contains("\"status\":\"429\"") })
            }
        }
    }

    @Test("A permanent Slack error stops retrying and tells the requester nothing was posted")
    func permanentErrorGivesUp() async throws {
        try await withFakeSlack { slack in
            try await withAirlock(slack: slack, database: temporaryDatabase(), configure: standardApprovers) { app in
                let id = try await askQuestion(app, slack)
                try await publishAndWaitForReviewers(app, slack, id)
                slack.inject([.apiError("channel_not_found")], for: "chat.postMessage")
                _ = try await app.slash(user: approver, command: "/approve", text: id.rawValue)
                #expect(
                    await eventually {
                        slack.directMessages(to: requester).contains { $0.text.contains("could not be posted") }
                    }
                )
                #expect(slack.publicMessages.isEmpty)
                #expect(try await auditEntries(app.store).contains { $0.kind == "job_failed" })
            }
        }
    }

    @Test(
        "Slack accepted a DM but the answer was lost: the retry finds it (its delivery key) and does not send it twice"
    )
    func lostDMAnswerIsNotResent() async throws {
        try await withFakeSlack { slack in
            try await withAirlock(slack: slack, database: temporaryDatabase(), configure: standardApprovers) { app in
                slack.inject([.acceptThenFail], for: "chat.postMessage")
                let id = try await askQuestion(app, slack)
                #expect(
                    await eventually { slack.calls("conversations.history").count >= 1 },
                    "the retry did not look first"
                )
                // The job is recorded done (dm_sent) after the look-up: by then any second copy would exist.
                #expect(
                    await eventually {
                        ((try? await auditEntries(app.store)) ?? []).contains {
                            $0.kind == "dm_sent" && $0.draftID == id.rawValue
                        }
                    }
                )
                #expect(
                    slack.directMessages(to: requester).filter { $0.text.contains("Draft answer `\(id)`") }.count == 1
                )
            }
        }
    }
}
