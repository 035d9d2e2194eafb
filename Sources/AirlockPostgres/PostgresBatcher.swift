import AirlockDomain
import AirlockStoreKit
import Foundation
import Logging
import PostgresNIO
import Synchronization

/// Group commit on PostgreSQL: the decisions this replica makes at the same time share one transaction — one trip
/// through the audit chain's lock, one multi-row audit insert and one WAL flush — instead of one each.
///
/// A batch costs the same few statements however many decisions it holds:
/// 1. the drafts that decisions read first (`updateDraft`), loaded and row-locked in one query, in id order; each
///    decision then decides on its draft in memory (at most one decision per draft in a batch: a second waits for
///    the next batch, so that it sees the first's outcome);
/// 2. every decision's delivery key in one insert: a duplicate fails its decision alone, before anything of it was
///    written;
/// 3. every surviving decision's rows in one multi-part statement;
/// 4. the audit events, in decision order, appended after the chain's head: locked only now and held through the
///    commit (two round trips), not across every decision's statements.
///
/// Any other error (a deadlock with another replica's batch, a constraint, the connection) rolls the whole batch
/// back, and its decisions are written again one per transaction, where each succeeds or fails by itself. Every
/// caller resumes only once the transaction holding its decision committed, or fails with the error. A lone
/// decision is a batch of one: nothing waits for company.
final class PostgresBatcher: Sendable {
    /// One queued decision: written in the batch, then told the outcome.
    struct Pending: Sendable {
        enum Work: Sendable {
            /// A decision on a stored draft (`updateDraft`): given the locked draft (nil: none), returns what to
            /// write (nil: nothing).
            case update(DraftID, @Sendable (Draft?) throws -> WritePlan?)
            /// A decision known in full (`commit`, `appendAudit`).
            case known(WritePlan)

            var draftID: DraftID? {
                if case .update(let id, _) = self { return id }
                return nil
            }
        }
        let work: Work
        let finish: @Sendable (Result<Void, any Error>) -> Void
    }

    private let client: PostgresClient
    private let key: AuditKey
    private let logger: Logger
    private let maxBatch: Int
    private let maxInFlight: Int
    private let state = Mutex<(queue: [Pending], inFlight: Int)>(([], 0))
    /// Transactions and decisions committed so far (for `airlock bench`'s figures).
    let counters = Mutex<(batches: Int, writes: Int, busy: Duration)>((0, 0, .zero))

    init(client: PostgresClient, key: AuditKey, logger: Logger, maxBatch: Int = 256, maxInFlight: Int = 2) {
        self.client = client
        self.key = key
        self.logger = logger
        self.maxBatch = maxBatch
        self.maxInFlight = maxInFlight
    }

    /// Decides on draft `id` in the next batch (`decide` gets the row-locked draft, nil when there is none) and
    /// returns once that batch has committed what it decided.
    func update(_ id: DraftID, _ decide: @escaping @Sendable (Draft?) throws -> WritePlan?) async throws {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            enqueue(Pending(work: .update(id, decide), finish: { continuation.resume(with: $0) }))
        }
    }

    /// Writes `plan` in the next batch; returns once that batch has committed (throws `DuplicateDelivery` for
    /// a delivery key already recorded).
    func commit(_ plan: WritePlan) async throws {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            enqueue(Pending(work: .known(plan), finish: { continuation.resume(with: $0) }))
        }
    }

    private func enqueue(_ item: Pending) {
        let start = state.withLock { state -> Bool in
            state.queue.append(item)
            guard state.inFlight < maxInFlight else { return false }
            state.inFlight += 1
            return true
        }
        if start { Task { await drain() } }
    }

    /// Writes batches until the queue is empty.
    private func drain() async {
        while true {
            let batch = state.withLock { state -> [Pending] in
                // In queue order, at most one decision per draft: a second one stays queued for the next batch.
                var batch: [Pending] = []
                var rest: [Pending] = []
                var drafts = Set<DraftID>()
                for item in state.queue {
                    if batch.count < maxBatch, item.work.draftID.map({ drafts.insert($0).inserted }) ?? true {
                        batch.append(item)
                    } else {
                        rest.append(item)
                    }
                }
                state.queue = rest
                if batch.isEmpty { state.inFlight -= 1 }
                return batch
            }
            if batch.isEmpty { return }
            await write(batch)
        }
    }

    private func write(_ batch: [Pending]) async {
        let started = ContinuousClock.now
        var outcomes: [Result<Void, any Error>] = []
        do {
            outcomes = try await client.withConnection { connection in
                let written = try await Self.transaction(connection, logger: logger) {
                    try await self.writeBatch(batch, connection: connection)
                }
                // The batch committed asynchronously (its commit released the chain's head without waiting for the
                // disk). A tiny synchronous transaction after it returns only once the WAL is flushed past its own
                // commit record, so past the batch's too: only then is anyone told. PostgreSQL flushes the waiting
                // replicas' transactions together. A crash before the flush loses the batch and fails its callers (the
                // platforms retry their deliveries), and nothing acts on its effects before then: every decision that
                // could (a claim to post) is itself only returned after a later flush.
                try await connection.query("SELECT pg_logical_emit_message(true, 'airlock', '')", logger: logger)
                return written
            }
        } catch {
            // Something failed that may have left half a decision in the transaction (a deadlock with another
            // replica's batch, a constraint, the connection): nothing of the batch was committed. Alone, each decision
            // then succeeds or fails by itself.
            if batch.count > 1 {
                for item in batch { await write([item]) }
            } else {
                batch[0].finish(.failure(error))
            }
            return
        }
        counters.withLock {
            $0.batches += 1
            $0.writes += batch.count
            $0.busy += ContinuousClock.now - started
        }
        for (item, outcome) in zip(batch, outcomes) { item.finish(outcome) }
    }

    /// The batch's statements inside its transaction; returns each decision's outcome.
    private func writeBatch(
        _ batch: [Pending],
        connection: PostgresConnection
    ) async throws -> [Result<Void, any Error>] {
        var outcomes: [Result<Void, any Error>] = Array(repeating: .success(()), count: batch.count)
        var plans: [WritePlan?] = Array(repeating: nil, count: batch.count)
        // 1. The drafts decided on, loaded and locked together; each decision made on its own.
        let ids = batch.compactMap(\.work.draftID)
        let drafts = try await PostgresRows.loadDrafts(ids, connection: connection, logger: logger)
        for (index, item) in batch.enumerated() {
            switch item.work {
            case .known(let plan): plans[index] = plan
            case .update(let id, let decide):
                do {
                    plans[index] = try decide(drafts[id])
                } catch {
                    outcomes[index] = .failure(error)
                }
            }
        }
        // 2. Every delivery key in one insert; a duplicate refuses its decision before anything of it is written.
        var fresh = try await PostgresRows.insertDeliveries(
            plans.compactMap { $0.flatMap { plan in plan.delivery.map { ($0, plan.at) } } },
            connection: connection,
            logger: logger
        )
        // 3. Every surviving decision's rows in one statement; 4. the audit events after the head.
        var write = WriteStatement()
        var audit: [PlannedAudit] = []
        for (index, plan) in plans.enumerated() {
            guard let plan else { continue }
            if let delivery = plan.delivery, fresh.remove(delivery) == nil {
                outcomes[index] = .failure(DuplicateDelivery())
                continue
            }
            for statement in plan.statements { write.add(statement) }
            audit += plan.audit
        }
        if let query = write.query { try await connection.query(query, logger: logger) }
        try await PostgresRows.appendAudit(audit, connection: connection, key: key, logger: logger)
        return outcomes
    }

    /// BEGIN, `body`, COMMIT (ROLLBACK when `body` or the commit throws).
    static func transaction<T>(
        _ connection: PostgresConnection,
        logger: Logger,
        _ body: () async throws -> T
    ) async throws -> T {
        try await connection.query("BEGIN", logger: logger)
        do {
            let value = try await body()
            try await connection.query("COMMIT", logger: logger)
            return value
        } catch {
            _ = try? await connection.query("ROLLBACK", logger: logger)
            throw error
        }
    }
}
