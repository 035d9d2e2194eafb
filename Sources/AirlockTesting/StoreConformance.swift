public import AirlockDomain
public import Foundation

/// Why a store broke the storage contract.
public struct ConformanceFailure: Error, CustomStringConvertible {
    public var description: String
}

/// The storage contract every store must meet (SQLite today; PostgreSQL runs the same checks): stores apply
/// the `Changes` a decision returns atomically, dedupe deliveries database-wide, lease jobs by time, keep one
/// linear audit chain, and give back every value exactly as written.
public struct StoreConformance: Sendable {
    /// One check of the contract.
    public enum Check: String, CaseIterable, Sendable, CustomStringConvertible {
        case draftRoundTrip, hostileTextRoundTrip, duplicateDeliveryWritesNothing, jobLeasesAndCompletion,
            failedJobWithDraftDecision, auditChainUnderConcurrentWriters, ttlAndFilters, updateOfMissingDraft,
            concurrentDecisionsOnOneDraft, revisionLeavesOldApprovalsBehind
        public var description: String { rawValue }
    }

    let makeStore: @Sendable () async throws -> any AirlockStore

    /// `makeStore` returns a fresh, empty, migrated store for each check.
    public init(makeStore: @escaping @Sendable () async throws -> any AirlockStore) {
        self.makeStore = makeStore
    }

    public func run(_ check: Check) async throws {
        let store = try await makeStore()
        switch check {
        case .draftRoundTrip: try await draftRoundTrip(store)
        case .hostileTextRoundTrip: try await hostileText(store)
        case .duplicateDeliveryWritesNothing: try await duplicateDelivery(store)
        case .jobLeasesAndCompletion: try await jobs(store)
        case .failedJobWithDraftDecision: try await failedJob(store)
        case .auditChainUnderConcurrentWriters: try await concurrentAudit(store)
        case .ttlAndFilters: try await ttlAndFilters(store)
        case .updateOfMissingDraft: try await missingDraft(store)
        case .concurrentDecisionsOnOneDraft: try await concurrentDecisions(store)
        case .revisionLeavesOldApprovalsBehind: try await revision(store)
        }
    }

    static let t0 = Date(timeIntervalSince1970: 1_800_000_000)
    static let requester = PersonID(platform: .slack, id: "U0REQ")
    static let approver = PersonID(platform: .slack, id: "U0APP")

    static func sampleDraft(
        id: DraftID = .random(),
        requester: PersonID = requester,
        ttl: Duration = .seconds(3600)
    ) -> Draft {
        let draft = Draft(
            id: id,
            requester: requester,
            question: "How do I rotate?",
            target: ThreadRef(platform: .slack, channel: "C1", thread: "1700000000.000100"),
            createdAt: t0,
            ttl: ttl
        )
        return Gate.answer(
            draft,
            text: "Like this.",
            sources: [SourceRef(file: "a.md", section: "B")],
            riskFlags: ["r"]
        )
    }

    func expect(_ condition: Bool, _ message: @autoclosure () -> String) throws {
        if !condition { throw ConformanceFailure(description: message()) }
    }

    func expectIntact(_ store: any AirlockStore) async throws {
        if case .broken(let failure) = try await store.verifyAudit() {
            throw ConformanceFailure(description: "audit chain broken: \(failure)")
        }
    }

    /// A draft in every part the gate uses (publish request, reviewers, approvals, claim, posted) reads back equal.
    func draftRoundTrip(_ store: any AirlockStore) async throws {
        var draft = Self.sampleDraft()
        try await store.commit(Changes(draft: draft), at: Self.t0)
        draft.publishRequest = PublishRequest(version: 1, contentHash: draft.contentHash, at: Self.t0)
        draft.state = .publishRequested
        draft = Gate.markShown(draft, to: Self.approver, version: 1)
        draft.approvals = [Approval(approver: Self.approver, version: 1, contentHash: draft.contentHash, at: Self.t0)]
        draft.state = .publishing
        draft.claim = PostClaim(
            version: 1,
            contentHash: draft.contentHash,
            approver: Self.approver,
            attempts: 2,
            claimedAt: Self.t0
        )
        let written = draft
        let seen = try await store.updateDraft(draft.id, at: Self.t0) { stored in (Changes(draft: written), stored) }
        try expect(seen?.state == .answered, "updateDraft did not hand over the stored draft")
        try expect(try await store.draft(draft.id) == written, "draft with claim and reviewers did not read back equal")
        draft.state = .posted
        draft.posted = PostedRef(messageID: "1700000001.000200", permalink: "https://x/p", at: Self.t0)
        let posted = draft
        _ = try await store.updateDraft(draft.id, at: Self.t0) { _ in (Changes(draft: posted), ()) }
        try expect(try await store.draft(draft.id) == posted, "posted draft did not read back equal")
    }

    /// NUL, controls, combining marks, bidi and very long values in draft text and in every audit field.
    func hostileText(_ store: any AirlockStore) async throws {
        let samples = [
            "\u{0}", "a\u{0}b", "\u{1}\u{7F}\u{85}\u{9F}", "e\u{301}\u{302}", "\u{202E}rtl", "\u{FEFF}\u{200B}",
            "\u{FFFD}\u{FFFF}\u{10FFFF}", "👩‍👩‍👧", "\\u0000", String(repeating: "x\u{0}é", count: 30_000),
        ]
        var events: [AuditEvent] = []
        for (index, text) in samples.enumerated() {
            var draft = Self.sampleDraft()
            draft.question = text
            draft.text = text + "\(index)"
            draft.rejectionReason = text
            draft.sources = [SourceRef(file: text, section: text)]
            let event = AuditEvent(
                kind: .tool(text),
                platform: PlatformName(text),
                actor: PersonID(platform: PlatformName(text), id: text),
                draftID: draft.id,
                detail: [text: text, "k": text]
            )
            events.append(event)
            try await store.commit(Changes(draft: draft, audit: [event]), at: Self.t0)
            try expect(
                try await store.draft(draft.id) == draft,
                "draft with hostile text \(text.debugDescription.prefix(40)) changed"
            )
        }
        try await expectIntact(store)
        let box = Box<[AuditEntry]>([])
        try await store.exportAudit(since: nil, draftID: nil) { entry in box.mutate { $0.append(entry) } }
        let entries = box.value
        try expect(entries.count == events.count, "audit export lost entries")
        for (entry, event) in zip(entries, events) {
            try expect(
                entry.kind == event.kind.rawValue && entry.actor == event.actor?.description
                    && entry.platform == event.platform?.rawValue,
                "audit entry fields did not read back exactly"
            )
        }
    }

    /// A seen delivery makes the whole transaction roll back: no draft, no audit entry, no job.
    func duplicateDelivery(_ store: any AirlockStore) async throws {
        let key = DeliveryKey(platform: .slack, key: "Ev1")
        let first = Self.sampleDraft()
        try await store.commit(
            Changes(
                delivery: key,
                draft: first,
                audit: [AuditEvent(kind: .inbound)],
                jobs: [.answer(draftID: first.id)]
            ),
            at: Self.t0
        )
        let second = Self.sampleDraft()
        do {
            try await store.commit(
                Changes(
                    delivery: key,
                    draft: second,
                    audit: [AuditEvent(kind: .inbound)],
                    jobs: [.answer(draftID: second.id)]
                ),
                at: Self.t0
            )
            throw ConformanceFailure(description: "a redelivery was not reported as DuplicateDelivery")
        } catch is DuplicateDelivery {}
        try expect(try await store.draft(second.id) == nil, "a duplicate delivery's draft was written")
        let job = try await store.claimJob(at: Self.t0, lease: .seconds(60))
        try expect(job?.payload == .answer(draftID: first.id), "first job missing")
        try expect(
            try await store.claimJob(at: Self.t0, lease: .seconds(60)) == nil,
            "a duplicate delivery's job was written"
        )
        var count: Int64 = 0
        if case .intact(let entries, _) = try await store.verifyAudit() { count = entries }
        try expect(count == 1, "a duplicate delivery's audit entry was written (\(count) entries)")
    }

    /// Oldest due first; a lease hides a job until it expires (by time, not by restart) unless renewed; retry and
    /// completion (a renewal after either changes nothing).
    func jobs(_ store: any AirlockStore) async throws {
        let a = DraftID.random()
        let b = DraftID.random()
        try await store.commit(Changes(jobs: [.answer(draftID: a)]), at: Self.t0)
        try await store.commit(Changes(jobs: [.answer(draftID: b)]), at: Self.t0.addingTimeInterval(1))
        let first = try await store.claimJob(at: Self.t0.addingTimeInterval(2), lease: .seconds(60))
        try expect(first?.payload == .answer(draftID: a) && first?.attempt == 1, "the oldest job was not claimed first")
        let second = try await store.claimJob(at: Self.t0.addingTimeInterval(2), lease: .seconds(60))
        try expect(second?.payload == .answer(draftID: b), "a leased job was claimed twice")
        try expect(
            try await store.claimJob(at: Self.t0.addingTimeInterval(3), lease: .seconds(60)) == nil,
            "no job should be due"
        )
        // The worker running `second` renews its lease; `first`'s worker has crashed.
        try await store.extendLease(try unwrap(second).id, until: Self.t0.addingTimeInterval(300))
        let again = try await store.claimJob(at: Self.t0.addingTimeInterval(63), lease: .seconds(60))
        try expect(again?.id == first?.id && again?.attempt == 2, "an expired lease was not claimed again")
        try expect(
            try await store.claimJob(at: Self.t0.addingTimeInterval(63), lease: .seconds(60)) == nil,
            "a job whose lease was renewed was claimed by another worker"
        )
        try await store.retryJob(try unwrap(again).id, runAt: Self.t0.addingTimeInterval(500), error: "later")
        let due = try await store.nextJobDue()
        try expect(due != nil, "nextJobDue lost the pending jobs")
        try await store.commit(Changes(completedJob: try unwrap(second).id), at: Self.t0.addingTimeInterval(64))
        try await store.extendLease(try unwrap(second).id, until: Self.t0.addingTimeInterval(900))
        try await store.extendLease(try unwrap(again).id, until: Self.t0.addingTimeInterval(900))
        try expect(
            try await store.claimJob(at: Self.t0.addingTimeInterval(200), lease: .seconds(60)) == nil,
            "a completed job, or one retried for later, was claimed"
        )
        let retried = try await store.claimJob(at: Self.t0.addingTimeInterval(501), lease: .seconds(60))
        try expect(retried?.id == first?.id && retried?.attempt == 3, "a retried job did not come back at its time")
    }

    /// A job given up for good together with its decision on the draft, in one transaction.
    func failedJob(_ store: any AirlockStore) async throws {
        let draft = Draft(
            id: .random(),
            requester: Self.requester,
            question: "q",
            target: nil,
            createdAt: Self.t0,
            ttl: .seconds(60)
        )
        try await store.commit(Changes(draft: draft, jobs: [.answer(draftID: draft.id)]), at: Self.t0)
        let job = try unwrap(try await store.claimJob(at: Self.t0, lease: .seconds(1)))
        _ = try await store.updateDraft(draft.id, at: Self.t0) { stored in
            (Decisions.jobFailed(job, draft: stored, error: "boom"), ())
        }
        try expect(try await store.draft(draft.id)?.state == .failed, "the failed agent run did not fail the draft")
        try expect(
            try await store.claimJob(at: Self.t0.addingTimeInterval(10), lease: .seconds(1))?.payload
                == .directMessage(
                    to: Self.requester,
                    message: Messages.agentFailed(draft),
                    draftID: draft.id,
                    purpose: .agentFailed
                ),
            "the failed job came back, or the requester's DM was not queued"
        )
    }

    /// Appends from many concurrent writers form one linear chain.
    func concurrentAudit(_ store: any AirlockStore) async throws {
        try await withThrowingTaskGroup(of: Void.self) { group in
            for writer in 0..<8 {
                group.addTask {
                    for n in 0..<25 {
                        try await store.appendAudit(
                            [
                                AuditEvent(kind: .tool("w"), detail: ["writer": String(writer), "n": String(n)]),
                                AuditEvent(kind: .tool("w2")),
                            ],
                            at: Self.t0
                        )
                    }
                }
            }
            try await group.waitForAll()
        }
        guard case .intact(let entries, _) = try await store.verifyAudit() else {
            throw ConformanceFailure(description: "concurrent appends broke the chain")
        }
        try expect(entries == 8 * 25 * 2, "concurrent appends lost entries (\(entries))")
    }

    /// TTL sweep candidates, filters by requester, reviewer and state, counts.
    func ttlAndFilters(_ store: any AirlockStore) async throws {
        let short = Self.sampleDraft(ttl: .seconds(10))
        var reviewed = Self.sampleDraft(requester: PersonID(platform: .slack, id: "U0OTHER"))
        reviewed.state = .publishRequested
        reviewed = Gate.markShown(reviewed, to: Self.approver, version: reviewed.version)
        var posted = Self.sampleDraft(ttl: .seconds(10))
        posted.state = .posted
        for draft in [short, reviewed, posted] { try await store.commit(Changes(draft: draft), at: Self.t0) }
        let due = try await store.draftsPastTTL(at: Self.t0.addingTimeInterval(11), limit: 10)
        try expect(due == [short.id], "draftsPastTTL should list only the open draft past its TTL, got \(due)")
        let mine = try await store.drafts(DraftFilter(requester: Self.requester))
        try expect(Set(mine.map(\.id)) == [short.id, posted.id], "requester filter")
        let toReview = try await store.drafts(DraftFilter(reviewer: Self.approver, states: [.publishRequested]))
        try expect(toReview.map(\.id) == [reviewed.id], "reviewer filter")
        try expect(try await store.countDrafts(states: [.answered, .posted]) == 2, "countDrafts")
    }

    /// `updateDraft` of an unknown id writes nothing and returns nil.
    func missingDraft(_ store: any AirlockStore) async throws {
        let result = try await store.updateDraft(DraftID.random(), at: Self.t0) { _ in
            (Changes(audit: [AuditEvent(kind: .tool("should-not-exist"))]), true)
        }
        try expect(result == nil, "updateDraft of a missing draft returned a value")
        if case .intact(let entries, _) = try await store.verifyAudit() {
            try expect(entries == 0, "updateDraft of a missing draft wrote its changes")
        }
    }

    /// Many decisions at once on two drafts, some repeating a delivery: each decision sees the one before it (no
    /// update is lost), a repeated delivery changes nothing, and the chain holds one entry per applied decision.
    func concurrentDecisions(_ store: any AirlockStore) async throws {
        var first = Self.sampleDraft()
        first.text = ""
        var second = first
        second.id = DraftID.random()
        try await store.commit(Changes(draft: first), at: Self.t0)
        try await store.commit(Changes(draft: second), at: Self.t0)
        let applied = Box(0)
        let (firstID, secondID) = (first.id, second.id)
        try await withThrowingTaskGroup(of: Void.self) { group in
            for index in 0..<60 {
                group.addTask {
                    let id = index.isMultiple(of: 3) ? secondID : firstID
                    // Every fifth decision repeats the delivery of the one before it.
                    let key = "decision-\(index.isMultiple(of: 5) && index > 0 ? index - 1 : index)"
                    do {
                        _ = try await store.updateDraft(id, at: Self.t0) { draft in
                            var next = draft
                            next.text += "x"
                            return (
                                Changes(
                                    delivery: DeliveryKey(platform: .slack, key: key),
                                    draft: next,
                                    audit: [AuditEvent(kind: .inbound, draftID: id, detail: ["key": key])]
                                ),
                                ()
                            )
                        }
                        applied.mutate { $0 += 1 }
                    } catch is DuplicateDelivery {}
                }
            }
            try await group.waitForAll()
        }
        let texts = [try await store.draft(first.id)?.text ?? "", try await store.draft(second.id)?.text ?? ""]
        try expect(
            texts[0].count + texts[1].count == applied.value,
            "decisions lost an update: \(texts.map(\.count)) for \(applied.value) applied"
        )
        try expect(applied.value == 60 - 11, "\(applied.value) decisions applied, expected 49 (11 repeat a delivery)")
        guard case .intact(let entries, _) = try await store.verifyAudit() else {
            throw ConformanceFailure(description: "audit chain broken under concurrent decisions")
        }
        try expect(entries == Int64(applied.value), "\(entries) audit entries for \(applied.value) decisions")
    }

    /// An approval binds one version: after a revision the draft reads back with none, while who was shown which
    /// version stays.
    func revision(_ store: any AirlockStore) async throws {
        var draft = Self.sampleDraft()
        draft = Gate.markShown(draft, to: Self.approver, version: draft.version)
        draft.approvals = [
            Approval(approver: Self.approver, version: draft.version, contentHash: draft.contentHash, at: Self.t0)
        ]
        try await store.commit(Changes(draft: draft), at: Self.t0)
        try expect(try await store.draft(draft.id)?.approvals.count == 1, "the approval did not read back")
        var revised = draft
        revised.version += 1
        revised.text += " (revised)"
        revised.approvals = []
        revised.state = .revised
        try await store.commit(Changes(draft: revised), at: Self.t0)
        let stored = try unwrap(try await store.draft(draft.id))
        try expect(stored.approvals.isEmpty, "an approval of version \(draft.version) was read back for the revision")
        try expect(stored.reviewers[Self.approver] == [draft.version], "who was shown which version was lost")
    }

    func unwrap<T>(_ value: T?) throws -> T {
        guard let value else { throw ConformanceFailure(description: "expected a value") }
        return value
    }
}

/// A small lock-protected box for values collected in `@Sendable` closures.
final class Box<T: Sendable>: @unchecked Sendable {
    // Safe: every access goes through `lock`.
    private let lock = NSLock()
    private var stored: T
    init(_ value: T) { stored = value }
    var value: T { lock.withLock { stored } }
    func mutate(_ body: (inout T) -> Void) { lock.withLock { body(&stored) } }
}
