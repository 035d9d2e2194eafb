public import AirlockDomain
public import Foundation

/// A durable unit of background work.
public enum JobPayload: Hashable, Sendable, Codable {
    /// Run the analysis agent on a requested draft, then DM the answer.
    case answer(draftID: DraftID)
    /// Send one private message (at-least-once).
    case directMessage(to: PersonID, message: OutboundMessage, draftID: DraftID?, purpose: String)
    /// Post an approved draft version in its thread (exactly-once through the outbox).
    case publish(draftID: DraftID, version: Int)
    /// Show a pending publish in a platform's review channel (at-least-once).
    case reviewChannel(platform: PlatformName, channel: String, message: OutboundMessage, draftID: DraftID)

    /// Short name for logs and the job table.
    public var kind: String {
        switch self {
        case .answer: "answer"
        case .directMessage: "direct_message"
        case .publish: "publish"
        case .reviewChannel: "review_channel"
        }
    }

    /// The draft the job is about, if any.
    public var draftID: DraftID? {
        switch self {
        case .answer(let id), .publish(let id, _), .reviewChannel(_, _, _, let id): id
        case .directMessage(_, _, let id, _): id
        }
    }
}

/// A claimed job.
public struct Job: Hashable, Sendable {
    public var id: Int64
    public var payload: JobPayload
    /// 1 on the first run.
    public var attempt: Int
}

/// An inbound delivery's identity for deduplication (Slack `event_id`, GitHub `X-GitHub-Delivery`, …).
public struct DeliveryKey: Hashable, Sendable {
    public var platform: PlatformName
    public var key: String

    public init(platform: PlatformName, key: String) {
        self.platform = platform
        self.key = key
    }
}

/// Thrown by a write whose `Changes.delivery` was already recorded; the whole transaction is rolled back.
public struct DuplicateDelivery: Error, Sendable {}

/// Everything one transaction writes: the delivery it answers, a draft (insert or update), audit events, new jobs.
public struct Changes: Sendable {
    /// When set, the transaction first records this delivery and throws `DuplicateDelivery` if it was seen.
    public var delivery: DeliveryKey?
    public var draft: Draft?
    public var audit: [AuditEvent]
    public var jobs: [JobPayload]
    /// A claimed job this transaction finishes (marked done atomically with the rest).
    public var completedJob: Int64?

    public init(
        delivery: DeliveryKey? = nil,
        draft: Draft? = nil,
        audit: [AuditEvent] = [],
        jobs: [JobPayload] = [],
        completedJob: Int64? = nil
    ) {
        self.delivery = delivery
        self.draft = draft
        self.audit = audit
        self.jobs = jobs
        self.completedJob = completedJob
    }
}

/// Which drafts to list.
public struct DraftFilter: Sendable {
    public var requester: PersonID?
    public var states: Set<DraftState>?
    public var limit: Int

    public init(requester: PersonID? = nil, states: Set<DraftState>? = nil, limit: Int = 50) {
        self.requester = requester
        self.states = states
        self.limit = limit
    }
}

/// Drafts, inbound deliveries and the transactions around them.
public protocol DraftStore: Sendable {
    /// Loads a draft, lets `body` decide (it runs inside the write transaction) and writes its changes atomically.
    /// Returns nil when the draft does not exist.
    func updateDraft<T: Sendable>(_ id: DraftID, at now: Date, _ body: @escaping @Sendable (Draft) -> (Changes, T))
        async throws -> T?
    /// Writes changes with no draft to read first (throws `DuplicateDelivery` for a seen delivery).
    func commit(_ changes: Changes, at now: Date) async throws
    func draft(_ id: DraftID) async throws -> Draft?
    func drafts(_ filter: DraftFilter) async throws -> [Draft]
}

/// Periodic upkeep: TTL sweeps, counts for gauges, pruning of old dedupe keys and finished jobs.
public protocol Housekeeping: Sendable {
    /// Marks every draft whose TTL passed as expired (recording each), returns how many.
    func expireDueDrafts(at now: Date) async throws -> Int
    /// Number of drafts in `states`.
    func countDrafts(states: Set<DraftState>) async throws -> Int
    /// Deletes dedupe keys older than `deliveriesBefore` and finished jobs older than `jobsBefore`.
    func prune(deliveriesBefore: Date, jobsBefore: Date) async throws
}

/// The durable job queue.
public protocol JobQueue: Sendable {
    /// Claims the oldest due job for `lease`; nil when none is due.
    func claimJob(at now: Date, lease: Duration) async throws -> Job?
    /// Marks a job done and writes its changes in one transaction.
    func completeJob(_ id: Int64, changes: Changes, at now: Date) async throws
    /// Puts a job back to run at `runAt`.
    func retryJob(_ id: Int64, runAt: Date, error: String) async throws
    /// Gives a job up for good, writing `changes` (an audit entry, a DM) with it.
    func failJob(_ id: Int64, changes: Changes, error: String, at now: Date) async throws
    /// The earliest time a pending job is due, if any.
    func nextJobDue() async throws -> Date?
}

/// What the publisher may do after claiming.
public enum PublicationClaim: Sendable {
    /// Post (or, when `attempt > 1`, first look for an earlier post) the draft.
    case post(Draft, Approval, attempt: Int)
    /// Already posted: nothing to do.
    case alreadyPosted(Draft)
    /// The gate no longer holds; the refusal was recorded.
    case refused(Refusal)
}

/// The outbox of public posts, claimed and recorded in transactions that re-check the gate.
public protocol PublicationOutbox: Sendable {
    /// In one transaction: re-checks the gate on the current draft with `authorize`, records the claim
    /// (attempt number) before any platform call.
    func claimPublication(
        _ id: DraftID,
        version: Int,
        at now: Date,
        authorize: @escaping @Sendable (Draft) -> Result<Approval, Refusal>
    ) async throws -> PublicationClaim
    /// Records the platform's acceptance: outbox row posted, draft posted, plus `changes`.
    func recordPublication(_ id: DraftID, delivered: DeliveredMessage, at now: Date, changes: @escaping @Sendable (Draft) -> Changes)
        async throws
}

/// Result of `verifyAudit`.
public enum AuditVerification: Sendable, Hashable {
    case intact(entries: Int64, headHash: String)
    case broken(AuditChainVerifier.Failure)
}

/// The append-only audit log.
public protocol AuditLog: Sendable {
    func appendAudit(_ events: [AuditEvent], at now: Date) async throws
    func verifyAudit() async throws -> AuditVerification
    /// Calls `body` for each entry in order, optionally filtered.
    func exportAudit(since: Date?, draftID: DraftID?, _ body: @escaping @Sendable (AuditEntry) throws -> Void) async throws
}

/// Everything the app needs from storage.
public typealias AirlockStore = DraftStore & JobQueue & PublicationOutbox & AuditLog & Housekeeping
