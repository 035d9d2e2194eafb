import AirlockApp
import AirlockDomain
import AirlockGitHub
import AirlockMatrix
import AirlockSQLite
import AirlockTesting
import Foundation
import Synchronization
import Testing

/// The trust-boundary scenarios that need one platform's particulars, each through real HTTP against its fake.
@Suite("Trust boundaries, platform by platform")
struct TrustBoundaryTests {

    @Test(
        "Matrix: a direct room that is not private any more (m.direct left over from an invite, a third member) is never written to again; a fresh one is made"
    )
    func matrixDirectRoomsAreRechecked() async throws {
        // m.direct as an earlier version left it: the requester's "direct" room is a public lobby with others in it.
        let driver = MatrixDriver(initialDirect: ["@requester:test": ["!lobby:test"]])
        driver.setMember("@requester:test", in: "!lobby:test", "join")
        driver.setMember("@mallory:test", in: "!lobby:test", "join")
        driver.setMember("@airlock:test", in: "!lobby:test", "join")
        try await driver.run(approvers: ["requester", "approver"]) { app in
            #expect(try await driver.mention(app, from: "requester", text: "when do production deploys run?") == 200)
            #expect(await eventually { driver.dms(to: "requester").contains { $0.contains("Draft answer") } })
            #expect(!driver.messages.contains { $0.place == "!lobby:test" }, "the answer went to the public lobby")
            let first = try #require(driver.directRoom(of: "requester"))
            // A third person joins the requester's direct room: the next private message goes elsewhere.
            driver.setMember("@mallory:test", in: first, "join")
            let reply = try await driver.command(app, from: "requester", "drafts", "")
            #expect(reply.contains("Your drafts"), "\(reply)")
            let second = try #require(driver.directRoom(of: "requester"))
            #expect(second != first)
            #expect(driver.messages.filter { $0.place == "dm:@requester:test" }.count >= 2)
            let inFirst = driver.state.withLock { $0.events.filter { $0.room == first }.count }
            #expect(inFirst == 1, "the bot wrote again in a room a third person had joined")
        }
    }

    @Test("Discourse: a PM topic that gained another reader is not reused for the next private message")
    func discourseTopicRechecked() async throws {
        let driver = DiscourseDriver()
        try await driver.run(approvers: ["requester", "approver"]) { app in
            #expect(try await driver.mention(app, from: "requester", text: "when do production deploys run?") == 200)
            #expect(await eventually { driver.dms(to: "requester").contains { $0.contains("Draft answer") } })
            let topic = try #require(driver.state.withLock { $0.allowed.first { $0.value == [1, 11] }?.key })
            // Someone adds a third person to the PM.
            driver.state.withLock { $0.allowed[topic]?.insert(13) }
            let before = driver.state.withLock { $0.posts.filter { $0.topic == topic }.count }
            // The requester asks from a fresh PM of their own; the reply must not go to the widened topic.
            driver.state.withLock { $0.allowed[900] = [1, 11] }
            _ = try await driver.deliver(
                app,
                [
                    "id": 9001, "user_id": 11, "username": "requester", "raw": "drafts", "topic_id": 900,
                    "post_number": 1,
                    "topic_archetype": "private_message", "post_type": 1,
                ]
            )
            #expect(await eventually { driver.state.withLock { $0.posts.contains { $0.raw.contains("Your drafts") } } })
            #expect(
                driver.state.withLock { $0.posts.filter { $0.topic == topic }.count } == before,
                "a reader added later got the private reply"
            )
        }
    }

    @Test("Questions per requester are limited: over the limit, refused, recorded and told; nothing is run")
    func questionLimit() async throws {
        try await withFakeSlack { slack in
            try await withAirlock(
                slack: slack,
                database: temporaryDatabase(),
                configure: { config in
                    standardApprovers(&config)
                    config.questionsPerHour = 2
                }
            ) { (app: AirlockUnderTest) async throws in
                for number in 1...3 {
                    #expect(
                        try await app.event(
                            SlackEvents.mention(
                                eventID: "EvLimit\(number)",
                                user: requester,
                                text: "<@U0BOT> how do I roll back \(number)?"
                            )
                        ).status == 200
                    )
                }
                #expect(
                    await eventually {
                        slack.directMessages(to: requester).contains { $0.text.contains("You have asked 2 questions") }
                    }
                )
                #expect(try await app.store.drafts(DraftFilter()).count == 2)
                #expect(
                    try await auditEntries(app.store).contains {
                        $0.kind == "refusal" && $0.detail.contains("rate_limited")
                    }
                )
            }
        }
    }

    @Test(
        "A public post answered 2xx without an id, then a thread read in another schema: retried and reconciled, never a second post"
    )
    func failClosedWherePostMayExist() async throws {
        let driver = MattermostDriver()
        driver.faults.withLock { $0 = (idlessPosts: 1, driftedThreads: 1) }
        try await driver.run(approvers: ["requester", "approver"]) { app in
            #expect(try await driver.mention(app, from: "requester", text: "when do production deploys run?") == 200)
            #expect(await eventually { driver.dms(to: "requester").contains { $0.contains("Draft answer") } })
            let id = try #require(try await app.store.drafts(DraftFilter()).first).id
            #expect(
                try await driver.command(app, from: "requester", "publish", id.rawValue).contains("Publish requested")
            )
            #expect(await waitShown(app, id, ["mattermost:\(driver.id("approver"))"]))
            #expect(try await driver.command(app, from: "approver", "approve", "\(id) v1").contains("Approved"))
            _ = try await waitForState(app, id, .posted)
            #expect(driver.publicPosts.count == 1)
            let posted = try #require(try await auditEntries(app.store).first { $0.kind == "posted" })
            #expect(posted.detail.contains("\"reconciled\":\"true\""), "\(posted.detail)")
        }
    }

    @Test("A signed delivery written longer ago than dedupe keys are kept is refused as a possible replay")
    func staleDeliveries() async throws {
        let driver = GitHubDriver()
        try await driver.run(approvers: ["approver"]) { app in
            var body =
                try JSONSerialization.jsonObject(
                    with: try driver.mentionBody(from: "requester", text: "how do I roll back?")
                ) as! [String: Any]
            var comment = body["comment"] as! [String: Any]
            comment["created_at"] = "2026-01-02T03:04:05Z"
            body["comment"] = comment
            #expect(try await driver.deliver(app, try JSONSerialization.data(withJSONObject: body)) == 200)
            comment["created_at"] = ISO8601DateFormatter().string(from: Date())
            comment["body"] = "@airlock how do I roll forward?"
            body["comment"] = comment
            #expect(try await driver.deliver(app, try JSONSerialization.data(withJSONObject: body)) == 200)
            #expect(await eventually { (try? await app.store.drafts(DraftFilter()).count) == 1 })
            #expect(try await app.store.drafts(DraftFilter()).first?.question.contains("roll forward") == true)
            #expect(try await auditEntries(app.store).contains { $0.detail.contains("stale_delivery") })
        }
    }

    @Test("Start-up: approvers listed on several platforms without links are warned about")
    func unlinkedApproversWarned() async throws {
        let capture = LogCapture()
        try await withFakeSlack { slack in
            try await withAirlock(
                slack: slack,
                database: temporaryDatabase(),
                logger: capture.logger(),
                configure: { config in
                    config.policy = ApprovalPolicy.parse(approvers: "slack:U0APP,discord:400000000000000004").policy
                }
            ) { _ in }
        }
        #expect(capture.text.contains("listed on several platforms without links"))
    }

    @Test(
        "Where it goes is shown and re-checked: a private channel made public before the post refuses it, and requester and approver are told"
    )
    func targetBecameMorePublic() async throws {
        let driver = MattermostDriver()
        driver.channelType.withLock { $0 = "P" }
        try await driver.run(approvers: ["requester", "approver"]) { app in
            #expect(try await driver.mention(app, from: "requester", text: "when do production deploys run?") == 200)
            #expect(await eventually { driver.dms(to: "requester").contains { $0.contains("Draft answer") } })
            let draft = try #require(try await app.store.drafts(DraftFilter()).first)
            #expect(draft.target?.place == Place(name: "~Town Square", visibility: .private))
            #expect(
                try await driver.command(app, from: "requester", "publish", draft.id.rawValue).contains(
                    "Publish requested"
                )
            )
            #expect(await waitShown(app, draft.id, ["mattermost:\(driver.id("approver"))"]))
            #expect(
                driver.dms(to: "approver").contains {
                    $0.contains("~Town Square — visible to its invited members only")
                }
            )
            // The channel is converted to public before the approval.
            driver.channelType.withLock { $0 = "O" }
            _ = try await driver.command(app, from: "approver", "approve", "\(draft.id) v1")
            _ = try await waitForState(app, draft.id, .failed)
            #expect(driver.publicPosts.isEmpty, "posted to a thread that became public")
            for who in ["requester", "approver"] {
                #expect(
                    await eventually { driver.dms(to: who).contains { $0.contains("was NOT posted") } },
                    "\(who) was not told"
                )
            }
            #expect(
                try await auditEntries(app.store).contains {
                    $0.kind == "publish_refused" && $0.detail.contains("target_more_public")
                }
            )
        }
    }
}
