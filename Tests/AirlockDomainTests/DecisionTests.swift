import AirlockDomain
import Foundation
import Testing

/// The workflow's decisions, without HTTP or a database: what each command writes.
@Suite("Decisions")
struct DecisionTests {
    let policy = ApprovalPolicy(approvers: [bob, carol, alice])

    func command(
        _ command: DraftCommand,
        _ draft: Draft,
        by person: PersonID,
        at now: Date = start
    ) -> (Changes, CommandReply) {
        Decisions.command(
            command,
            on: draft,
            by: Actor(person),
            platform: .slack,
            policy: policy,
            reviewChannel: nil,
            at: now,
            delivery: nil,
            prefix: []
        )
    }

    @Test("A question writes its draft, its audit entries and the agent job in one change set")
    func question() {
        let id = DraftID.random()
        let changes = Decisions.question(
            asker: Actor(alice),
            text: "How?",
            target: thread,
            platform: .slack,
            id: id,
            ttl: .seconds(60),
            at: start,
            inbound: AuditEvent(kind: .inbound),
            delivery: DeliveryKey(platform: .slack, key: "Ev1")
        )
        #expect(changes.draft?.id == id && changes.draft?.state == .requested)
        #expect(changes.audit.map(\.kind) == [.inbound, .question])
        #expect(changes.jobs == [.answer(draftID: id)])
        #expect(changes.delivery?.key == "Ev1")
    }

    @Test(
        "/publish sends the review to every listed approver but the requester; each counts as shown only once it is delivered"
    )
    func publishShowsReviewers() throws {
        let (changes, reply) = command(.publish(version: nil), answeredDraft(), by: alice)
        #expect(reply.accepted)
        let reviewed = changes.jobs.compactMap { job -> PersonID? in
            if case .reviewRequest(let to, _, 1, let message) = job, message.text.contains("v1") { return to }
            return nil
        }
        #expect(Set(reviewed) == [bob, carol])
        let published = try #require(changes.draft)
        #expect(published.reviewers.isEmpty, "nobody was shown the text before a review message was delivered")
        #expect(changes.audit.map(\.kind) == [.command, .publishRequested, .reviewSent])
        // Bob's DM failed: he cannot approve; Carol's was delivered: she can.
        let delivered = Decisions.reviewDelivered(
            published,
            to: carol,
            version: 1,
            sent: AuditEvent(kind: .dmSent),
            jobID: 9
        )
        #expect(delivered.draft?.reviewers == [carol: [1]] && delivered.completedJob == 9)
        #expect(delivered.audit.first?.detail["shown_version"] == "1")
        let shown = try #require(delivered.draft)
        #expect(command(.approve(version: 1), shown, by: bob).1.text.contains("not sent this draft"))
        #expect(command(.approve(version: 1), shown, by: carol).1.accepted)
    }

    @Test(
        "An approver who was not sent the draft is refused and sent it; their approval counts only once it was delivered"
    )
    func notShownIsShown() throws {
        let open = ApprovalPolicy().withOpenApproval([.slack: ["T0TEAM"]])
        let colleague = Actor(mallory, scope: "T0TEAM")
        let published = try Gate.apply(
            .publish(version: nil),
            to: answeredDraft(),
            by: Actor(alice),
            at: start,
            policy: open
        ).draft
        func approve(_ draft: Draft) -> (Changes, CommandReply) {
            Decisions.command(
                .approve(version: 1),
                on: draft,
                by: colleague,
                platform: .slack,
                policy: open,
                reviewChannel: nil,
                at: start,
                delivery: nil,
                prefix: []
            )
        }
        let (refused, reply) = approve(published)
        #expect(!reply.accepted && reply.text.contains("not sent this draft"))
        #expect(refused.draft == nil, "nothing is marked shown before the review message is delivered")
        #expect(refused.jobs.contains { if case .reviewRequest(mallory, _, 1, _) = $0 { true } else { false } })
        #expect(!approve(published).1.accepted, "approving again before the delivery is still refused")
        let shown = try #require(
            Decisions.reviewDelivered(published, to: mallory, version: 1, sent: AuditEvent(kind: .dmSent), jobID: 1)
                .draft
        )
        let (approved, second) = approve(shown)
        #expect(second.accepted && approved.draft?.state == .approved)
        #expect(approved.jobs == [.publish(draftID: shown.id, version: 1)])
    }

    @Test("Claim → publishing → record: the post is recorded from the claim; nothing can change the text in between")
    func claimAndRecord() throws {
        var draft = try publishAndShow(answeredDraft(), policy)
        draft = try #require(command(.approve(version: 1), draft, by: bob).0.draft)
        let (claimChanges, decision) = Decisions.claimPost(draft, version: 1, policy: policy, at: start, jobID: 7)
        guard case .post(let claimed) = decision else { Issue.record("no post decision"); return }
        #expect(claimed.state == .publishing && claimed.claim?.version == 1 && claimed.claim?.approver == bob)
        #expect(claimChanges.completedJob == nil, "the job stays claimed until the post is recorded")
        #expect(!command(.revise(text: "other"), claimed, by: alice).1.accepted)
        #expect(!command(.reject(reason: nil), claimed, by: bob).1.accepted)
        let recorded = Decisions.recordPost(
            claimed,
            delivered: DeliveredMessage(messageID: "m"),
            reconciled: false,
            at: start,
            jobID: 7
        )
        #expect(recorded.draft?.state == .posted && recorded.completedJob == 7)
        let posted = try #require(recorded.audit.first)
        #expect(posted.detail["content_hash"] == claimed.claim?.contentHash && posted.actor == bob)
        // A second claim of a posted draft does nothing.
        let (again, none) = Decisions.claimPost(
            try #require(recorded.draft),
            version: 1,
            policy: policy,
            at: start,
            jobID: 8
        )
        #expect(none == .done && again.completedJob == 8 && again.draft == nil)
    }

    @Test("A publish that fails for good ends the draft as failed and tells the requester, in one change set")
    func publishFailed() throws {
        var draft = try publishAndShow(answeredDraft(), policy)
        draft = try #require(command(.approve(version: 1), draft, by: bob).0.draft)
        let job = Job(id: 3, payload: .publish(draftID: draft.id, version: 1), attempt: 8)
        let changes = Decisions.jobFailed(job, draft: draft, error: "channel_not_found")
        #expect(changes.draft?.state == .failed)
        #expect(changes.failedJob == FailedJob(id: 3, error: "channel_not_found"))
        #expect(changes.jobs.count == 1 && changes.audit.first?.kind == .jobFailed)
    }
}

@Suite("Thread bounds")
struct ThreadBoundTests {
    @Test("A thread longer than the bound keeps its root and the newest messages that fit, in order")
    func bound() {
        let messages = (0..<100).map {
            ThreadMessage(id: "m\($0)", author: "a\($0 % 3)", text: String(repeating: "x", count: 100))
        }
        let kept = ThreadLimits(maxMessages: 10, maxCharacters: 600).bound(messages)
        #expect(kept.first?.id == "m0", "the root is always kept")
        #expect(kept.map(\.id) == ["m0", "m95", "m96", "m97", "m98", "m99"], "\(kept.map(\.id))")
        let fewer = ThreadLimits(maxMessages: 3, maxCharacters: 100_000).bound(messages)
        #expect(fewer.map(\.id) == ["m0", "m98", "m99"])
        #expect(ThreadLimits().bound([]).isEmpty)
    }
}
