public import Foundation

/// A durable unit of background work.
public enum JobPayload: Hashable, Sendable, Codable {
    /// Run the analysis agent on a requested draft, then DM the answer.
    case answer(draftID: DraftID)
    /// Send one private message (at-least-once).
    case directMessage(to: PersonID, message: OutboundMessage, draftID: DraftID?, purpose: DMPurpose)
    /// Post an approved draft version in its thread (exactly-once through the outbox).
    case publish(draftID: DraftID, version: Int)
    /// Send `version` of a draft to an approver for review (at-least-once); they count as shown it only once the
    /// platform accepted the message, in the transaction that records that.
    case reviewRequest(to: PersonID, draftID: DraftID, version: Int, message: OutboundMessage)
    /// Ask the agent for a new version of a draft, following the requester's instruction.
    case followUp(draftID: DraftID, version: Int, instruction: String)
    /// Show a pending publish in a platform's review channel (at-least-once).
    case reviewChannel(platform: PlatformName, channel: String, message: OutboundMessage, draftID: DraftID)

    /// What kind of job this is (the job table's `kind`, logs, metrics).
    public var kind: JobKind {
        switch self {
        case .answer: .answer
        case .directMessage: .directMessage
        case .reviewRequest: .reviewRequest
        case .followUp: .followUp
        case .publish: .publish
        case .reviewChannel: .reviewChannel
        }
    }

    /// The draft the job is about, if any.
    public var draftID: DraftID? {
        switch self {
        case .answer(let id), .publish(let id, _), .reviewChannel(_, _, _, let id): id
        case .directMessage(_, _, let id, _): id
        case .reviewRequest(_, let id, _, _): id
        case .followUp(let id, _, _): id
        }
    }
}

/// A claimed job.
public struct Job: Hashable, Sendable {
    public var id: Int64
    public var payload: JobPayload
    /// 1 on the first run.
    public var attempt: Int

    public init(id: Int64, payload: JobPayload, attempt: Int) {
        self.id = id
        self.payload = payload
        self.attempt = attempt
    }
}

/// A claimed job given up for good, with the last error.
public struct FailedJob: Hashable, Sendable {
    public var id: Int64
    public var error: String

    public init(id: Int64, error: String) {
        self.id = id
        self.error = error
    }
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
public struct DuplicateDelivery: Error, Sendable {
    public init() {}
}

/// Everything one transaction writes: the delivery it answers, a draft (insert or update), audit events, new jobs.
public struct Changes: Sendable {
    /// When set, the transaction first records this delivery and throws `DuplicateDelivery` if it was seen.
    public var delivery: DeliveryKey?
    public var draft: Draft?
    public var audit: [AuditEvent]
    public var jobs: [JobPayload]
    /// A claimed job this transaction finishes (marked done atomically with the rest).
    public var completedJob: Int64?
    /// A claimed job this transaction gives up for good (marked failed atomically with the rest).
    public var failedJob: FailedJob?

    public init(
        delivery: DeliveryKey? = nil,
        draft: Draft? = nil,
        audit: [AuditEvent] = [],
        jobs: [JobPayload] = [],
        completedJob: Int64? = nil,
        failedJob: FailedJob? = nil
    ) {
        self.delivery = delivery
        self.draft = draft
        self.audit = audit
        self.jobs = jobs
        self.completedJob = completedJob
        self.failedJob = failedJob
    }
}

/// Which drafts to list.
public struct DraftFilter: Sendable {
    public var requester: PersonID?
    /// Only drafts this person was sent for review.
    public var reviewer: PersonID?
    public var states: Set<DraftState>?
    public var limit: Int

    public init(requester: PersonID? = nil, reviewer: PersonID? = nil, states: Set<DraftState>? = nil, limit: Int = 50)
    {
        self.requester = requester
        self.reviewer = reviewer
        self.states = states
        self.limit = limit
    }
}

/// Drafts, inbound deliveries and the transactions around them.
///
/// A store applies decisions, it never makes them: `updateDraft` hands the current draft (with its review and
/// publication claim) to a decision function and writes the `Changes` it returns — draft, audit entries, jobs,
/// job completion — in one transaction, or none of them.
public protocol DraftStore: Sendable {
    /// Loads a draft, lets `body` decide (it runs inside the write transaction) and writes its changes atomically.
    /// Returns nil when the draft does not exist.
    func updateDraft<T: Sendable>(
        _ id: DraftID,
        at now: Date,
        _ body: @escaping @Sendable (Draft) -> (Changes, T)
    )
        async throws -> T?
    /// Writes changes with no draft to read first (throws `DuplicateDelivery` for a seen delivery).
    func commit(_ changes: Changes, at now: Date) async throws
    func draft(_ id: DraftID) async throws -> Draft?
    func drafts(_ filter: DraftFilter) async throws -> [Draft]
}

/// Periodic upkeep: the drafts whose TTL passed, counts for gauges, pruning of old dedupe keys and finished jobs.
public protocol Housekeeping: Sendable {
    /// Ids of drafts past their TTL that are not final nor being posted (the workflow expires each).
    func draftsPastTTL(at now: Date, limit: Int) async throws -> [DraftID]
    /// Number of drafts in `states`.
    func countDrafts(states: Set<DraftState>) async throws -> Int
    /// Deletes dedupe keys older than `deliveriesBefore` and finished jobs older than `jobsBefore`.
    func prune(deliveriesBefore: Date, jobsBefore: Date) async throws
}

/// The durable job queue. Jobs finish through `Changes.completedJob` / `Changes.failedJob`, atomically with
/// their effects. Leases expire by time; nothing releases another process's lease.
public protocol JobQueue: Sendable {
    /// Claims the oldest due job for `lease`; nil when none is due.
    func claimJob(at now: Date, lease: Duration) async throws -> Job?
    /// Keeps a claimed job hidden until `until` (the worker running it renews its lease while it runs).
    func extendLease(_ id: Int64, until: Date) async throws
    /// Puts a job back to run at `runAt`.
    func retryJob(_ id: Int64, runAt: Date, error: String) async throws
    /// The earliest time a pending job is due, if any.
    func nextJobDue() async throws -> Date?
}

/// Result of `verifyAudit`.
public enum AuditVerification: Sendable, Hashable {
    case intact(entries: Int64, headHash: String)
    case broken(AuditChainVerifier.Failure)
}

/// The append-only audit log. Appends extend one linear chain: each store serialises them (SQLite: the single
/// writer; a shared database: a lock taken in the appending transaction).
public protocol AuditLog: Sendable {
    func appendAudit(_ events: [AuditEvent], at now: Date) async throws
    /// Recomputes the chain in order (streaming); with `expectedHead`, also requires an entry with that hash.
    func verifyAudit(expectedHead: String?) async throws -> AuditVerification
    /// Calls `body` for each entry in order, optionally filtered.
    func exportAudit(
        since: Date?,
        draftID: DraftID?,
        _ body: @escaping @Sendable (AuditEntry) throws -> Void
    ) async throws
}

extension AuditLog {
    public func verifyAudit() async throws -> AuditVerification { try await verifyAudit(expectedHead: nil) }
}

/// Everything the workflow needs from storage.
public typealias AirlockStore = DraftStore & JobQueue & AuditLog & Housekeeping

/// A store as the process runs it: readiness for `/readyz`, how its audit chain is keyed, and closing.
public protocol ManagedStore: DraftStore, JobQueue, AuditLog, Housekeeping {
    /// The database answers and every migration is applied.
    func isReady() async -> Bool
    /// Entries are HMAC-keyed (`AIRLOCK_AUDIT_KEY`).
    var isAuditKeyed: Bool { get }
    /// Releases connections (a no-op where there is nothing to release).
    func close() async
}

/// The kinds of `JobPayload`, by the names the job table stores.
public enum JobKind: String, Hashable, Sendable, Codable {
    case answer, directMessage = "direct_message", reviewRequest = "review_request", followUp = "follow_up", publish
    case reviewChannel = "review_channel"

    /// Jobs that run the analysis agent.
    public var runsAgent: Bool { self == .answer || self == .followUp }
}

/// Why a private message is sent (recorded with it; stored in the job as its name).
public enum DMPurpose: String, Hashable, Sendable, Codable {
    case agentFailed = "agent_failed"
    case commandReply = "command_reply"
    case draftAnswer = "draft_answer"
    case postedNotice = "posted_notice"
    case publishFailed = "publish_failed"
    case publishRefused = "publish_refused"
    case refusal = "refusal"
    case rejected = "rejected"
    case reviewRequest = "review_request"
    case revisedDraft = "revised_draft"
}
