public import AirlockDomain
public import Foundation
import Synchronization

/// The whole store contract in memory, for workflow tests: what the SQL stores keep, kept the same way (the draft's
/// approvals, reviewers and claim as rows that outlive a revision; evidence read from the audit log, never from the
/// draft; one serial writer). The store conformance suite runs on it like on SQLite and PostgreSQL.
public final class InMemoryStore: ManagedStore, Sendable {
    struct StoredJob {
        var id: Int64
        var payload: JobPayload
        var status = "pending"
        var runAt: Date
        var lockedUntil: Date?
        var attempts = 0
        var lastError: String?
        var createdAt: Date
    }

    struct State {
        var deliveries: [DeliveryKey: Date] = [:]
        var drafts: [DraftID: Draft] = [:]
        var approvals: [DraftID: [Approval]] = [:]
        var reviewers: [DraftID: [PersonID: Set<Int>]] = [:]
        var claims: [DraftID: PostClaim] = [:]
        var jobs: [Int64: StoredJob] = [:]
        var nextJob: Int64 = 1
        var audit: [AuditEntry] = []
    }

    private let state = Mutex(State())
    let key: AuditKey

    public init(auditKey: AuditKey = .none) { key = auditKey }

    public var isAuditKeyed: Bool { key.isKeyed }
    public func isReady() async -> Bool { true }
    public func close() async {}

    // MARK: drafts

    public func updateDraft<T: Sendable>(
        _ id: DraftID,
        at now: Date,
        _ body: @escaping @Sendable (Draft) -> (Changes, T)
    ) async throws -> T? {
        try state.withLock { state -> T? in
            guard let draft = Self.load(id, state) else { return nil }
            let (changes, result) = body(draft)
            try apply(changes, at: now, to: &state)
            return result
        }
    }

    public func commit(_ changes: Changes, at now: Date) async throws {
        try state.withLock { try apply(changes, at: now, to: &$0) }
    }

    public func draft(_ id: DraftID) async throws -> Draft? { state.withLock { Self.load(id, $0) } }

    public func drafts(_ filter: DraftFilter) async throws -> [Draft] {
        state.withLock { state in
            state.drafts.values
                .filter { draft in
                    filter.requester.map { $0 == draft.requester } ?? true
                        && (filter.reviewer.map { state.reviewers[draft.id]?[$0] != nil } ?? true)
                        && (filter.states.map { $0.isEmpty || $0.contains(draft.state) } ?? true)
                }
                .sorted { $0.createdAt > $1.createdAt }
                .prefix(max(1, filter.limit))
                .compactMap { Self.load($0.id, state) }
        }
    }

    /// A draft as the SQL stores read it back: its row, the approvals of its current version, every reviewer row,
    /// its claim row, and the evidence the audit log holds.
    static func load(_ id: DraftID, _ state: State) -> Draft? {
        guard var draft = state.drafts[id] else { return nil }
        draft.approvals = (state.approvals[id] ?? []).filter { $0.version == draft.version }.sorted { $0.at < $1.at }
        draft.reviewers = state.reviewers[id] ?? [:]
        draft.claim = state.claims[id]
        draft.evidence = AuditEvidence(
            entries: state.audit.filter { $0.draftID == id.rawValue }.compactMap {
                AuditEvidence.entry(kind: $0.kind, actor: $0.actor, detail: $0.detail)
            }
        )
        return draft
    }

    private func apply(_ changes: Changes, at now: Date, to state: inout State) throws {
        if let delivery = changes.delivery {
            guard state.deliveries[delivery] == nil else { throw DuplicateDelivery() }
        }
        // Everything is checked before anything is written: the transaction is all or nothing.
        var next = state
        if let delivery = changes.delivery { next.deliveries[delivery] = now }
        if let draft = changes.draft {
            var row = draft
            row.approvals = []
            row.reviewers = [:]
            row.claim = nil
            row.evidence = AuditEvidence()
            // Times as the SQL stores keep them: whole milliseconds.
            row.createdAt = Self.millis(row.createdAt)
            row.expiresAt = Self.millis(row.expiresAt)
            row.publishRequest?.at = Self.millis(draft.publishRequest?.at ?? now)
            row.posted?.at = Self.millis(draft.posted?.at ?? now)
            next.drafts[draft.id] = row
            for approval in draft.approvals
            where !(next.approvals[draft.id] ?? []).contains(where: {
                $0.version == approval.version && $0.approver == approval.approver
            }) {
                var approval = approval
                approval.at = Self.millis(approval.at)
                next.approvals[draft.id, default: []].append(approval)
            }
            for (person, versions) in draft.reviewers {
                next.reviewers[draft.id, default: [:]][person, default: []].formUnion(versions)
            }
            if var claim = draft.claim {
                claim.claimedAt = Self.millis(claim.claimedAt)
                next.claims[draft.id] = claim
            }
        }
        if let id = changes.completedJob {
            next.jobs[id]?.status = "done"
            next.jobs[id]?.lockedUntil = nil
        }
        if let failed = changes.failedJob {
            next.jobs[failed.id]?.status = "failed"
            next.jobs[failed.id]?.lockedUntil = nil
            next.jobs[failed.id]?.lastError = failed.error
        }
        for payload in changes.jobs {
            next.jobs[next.nextJob] = StoredJob(id: next.nextJob, payload: payload, runAt: now, createdAt: now)
            next.nextJob += 1
        }
        Self.append(changes.audit, at: now, key: key, to: &next)
        state = next
    }

    static func millis(_ date: Date) -> Date { Date(millis: date.millis) }

    static func append(_ events: [AuditEvent], at now: Date, key: AuditKey, to state: inout State) {
        for event in events {
            let head = state.audit.last
            state.audit.append(
                AuditChain.entry(
                    for: event,
                    at: now,
                    previousSeq: head?.seq ?? 0,
                    previousHash: head?.hash ?? AuditChain.genesis,
                    key: key
                )
            )
        }
    }

    // MARK: jobs

    public func claimJob(at now: Date, lease: Duration) async throws -> Job? {
        state.withLock { state -> Job? in
            let due = state.jobs.values.filter {
                $0.status == "pending" && $0.runAt <= now && ($0.lockedUntil.map { $0 < now } ?? true)
            }
            guard let job = due.min(by: { ($0.runAt, $0.id) < ($1.runAt, $1.id) }) else { return nil }
            state.jobs[job.id]?.lockedUntil = now.addingTimeInterval(lease.timeInterval)
            state.jobs[job.id]?.attempts += 1
            return Job(id: job.id, payload: job.payload, attempt: job.attempts + 1)
        }
    }

    public func extendLease(_ id: Int64, until: Date) async throws {
        state.withLock { state in
            if state.jobs[id]?.status == "pending", state.jobs[id]?.lockedUntil != nil {
                state.jobs[id]?.lockedUntil = until
            }
        }
    }

    public func retryJob(_ id: Int64, runAt: Date, error: String) async throws {
        state.withLock { state in
            state.jobs[id]?.runAt = runAt
            state.jobs[id]?.lockedUntil = nil
            state.jobs[id]?.lastError = error
        }
    }

    public func nextJobDue() async throws -> Date? {
        state.withLock { state in
            state.jobs.values.filter { $0.status == "pending" }.map { max($0.runAt, $0.lockedUntil ?? .distantPast) }
                .min()
        }
    }

    // MARK: audit

    public func appendAudit(_ events: [AuditEvent], at now: Date) async throws {
        state.withLock { Self.append(events, at: now, key: key, to: &$0) }
    }

    public func verifyAudit(expectedHead: String?) async throws -> AuditVerification {
        let entries = state.withLock { $0.audit }
        var verifier = AuditChainVerifier(key: key, expectedHead: expectedHead)
        for entry in entries { if let failure = verifier.check(entry) { return .broken(failure) } }
        if let failure = verifier.checkEnd(lastSeqInStore: entries.last?.seq) { return .broken(failure) }
        return .intact(entries: verifier.count, headHash: verifier.headHash)
    }

    public func exportAudit(
        since: Date?,
        draftID: DraftID?,
        _ body: @escaping @Sendable (AuditEntry) throws -> Void
    ) async throws {
        for entry in state.withLock({ $0.audit })
        where (since.map { entry.atMillis >= $0.millis } ?? true)
            && (draftID.map { entry.draftID == $0.rawValue } ?? true)
        {
            try body(entry)
        }
    }

    // MARK: housekeeping

    public func draftsPastTTL(at now: Date, limit: Int) async throws -> [DraftID] {
        state.withLock { state in
            state.drafts.values.filter { $0.expiresAt <= now && DraftState.expirable.contains($0.state) }
                .sorted { $0.expiresAt < $1.expiresAt }.prefix(max(1, limit)).map(\.id)
        }
    }

    public func countDrafts(states: Set<DraftState>) async throws -> Int {
        state.withLock { state in state.drafts.values.filter { states.contains($0.state) }.count }
    }

    public func prune(deliveriesBefore: Date, jobsBefore: Date) async throws {
        state.withLock { state in
            state.deliveries = state.deliveries.filter { $0.value >= deliveriesBefore }
            state.jobs = state.jobs.filter {
                !(["done", "failed"].contains($0.value.status) && $0.value.createdAt < jobsBefore)
            }
        }
    }
}
