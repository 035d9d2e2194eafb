import AirlockDomain
import AirlockStoreKit
import Foundation
import Logging
import PostgresNIO
import Synchronization

/// Group commit on PostgreSQL: the decisions this replica makes at the same time share one transaction — one trip
/// through the audit chain's lock, one multi-row audit insert and one WAL flush — instead of one each.
///
/// A decision writes its rows in at most two statements (its delivery key, then everything else as one statement);
/// its audit events are held back and appended, in decision order, after the last decision of the batch: the
/// chain's head is locked only then and held through the commit (two round trips), not across every decision's
/// statements. A duplicate delivery is refused by the decision's first statement, before it wrote anything, so it
/// fails alone. Any other error (a deadlock with another replica's batch, a constraint, the connection) rolls the
/// whole batch back, and its decisions are written again one per transaction, where each succeeds or fails by
/// itself. Every caller resumes only once the transaction holding its decision committed, or fails with the
/// error. A lone decision is a batch of one: nothing waits for company.
final class PostgresBatcher: Sendable {
    /// One queued decision: written in the batch, then told the outcome.
    struct Pending: Sendable {
        enum Work: Sendable {
            /// A decision that reads first (`updateDraft`): runs its own statements, returns its audit events.
            case reads(@Sendable (PostgresConnection) async throws -> [PlannedAudit])
            /// A decision known in full (`commit`): the batch writes all of these together.
            case known(WritePlan)

            var plan: WritePlan? {
                if case .known(let plan) = self { return plan }
                return nil
            }
        }
        let now: Date
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

    /// Runs `body` in the next batch and returns its result once that batch has committed. `body` writes its rows
    /// and returns the audit events to append and its result.
    func write<T: Sendable>(
        at now: Date,
        _ body: @escaping @Sendable (PostgresConnection) async throws -> (audit: [PlannedAudit], result: T)
    ) async throws -> T {
        let outcome = Mutex<T?>(nil)
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            enqueue(
                Pending(
                    now: now,
                    work: .reads { connection in
                        let (audit, result) = try await body(connection)
                        outcome.withLock { $0 = result }
                        return audit
                    },
                    finish: { continuation.resume(with: $0) }
                )
            )
        }
        guard let result = outcome.withLock({ $0 }) else { throw CancellationError() }
        return result
    }

    /// Writes `plan` in the next batch; returns once that batch has committed (throws `DuplicateDelivery` for
    /// a delivery key already recorded).
    func commit(_ plan: WritePlan, at now: Date) async throws {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            enqueue(Pending(now: now, work: .known(plan), finish: { continuation.resume(with: $0) }))
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
                let batch = Array(state.queue.prefix(maxBatch))
                state.queue.removeFirst(batch.count)
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
                    var outcomes: [Result<Void, any Error>?] = Array(repeating: nil, count: batch.count)
                    var audit: [PlannedAudit] = []
                    // The decisions known in full: their delivery keys in one statement, then all their rows in one.
                    let known = batch.indices.compactMap { index in batch[index].work.plan.map { (index, $0) } }
                    if !known.isEmpty {
                        let keys = known.compactMap(\.1.delivery)
                        var fresh = try await PostgresRows.insertDeliveries(
                            keys,
                            connection: connection,
                            now: batch[0].now,
                            logger: logger
                        )
                        var write = WriteStatement()
                        for (index, plan) in known {
                            if let delivery = plan.delivery {
                                guard fresh.remove(delivery) != nil else {
                                    outcomes[index] = .failure(DuplicateDelivery())
                                    continue
                                }
                            }
                            for statement in plan.statements { write.add(statement) }
                            audit += plan.audit
                            outcomes[index] = .success(())
                        }
                        if let query = write.query { try await connection.query(query, logger: logger) }
                    }
                    for (index, item) in batch.enumerated() {
                        guard case .reads(let run) = item.work else { continue }
                        do {
                            audit += try await run(connection)
                            outcomes[index] = .success(())
                        } catch let duplicate as DuplicateDelivery {
                            // Refused by its first statement, before it wrote anything: nothing to undo.
                            outcomes[index] = .failure(duplicate)
                        }
                    }
                    try await PostgresRows.appendAudit(audit, connection: connection, key: key, logger: logger)
                    return outcomes.map { $0 ?? .failure(CancellationError()) }
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
