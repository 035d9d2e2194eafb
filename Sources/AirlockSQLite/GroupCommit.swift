import Dispatch
import GRDB
import Synchronization

/// Group commit: concurrent writes share one transaction — one fsync — instead of one each.
///
/// Each caller's work runs in its own savepoint inside the batch's transaction, so a failing write (a duplicate
/// delivery, a refused decision) is rolled back alone and its error goes to its caller only; the others commit.
/// Every caller resumes only after the transaction holding its write has committed (durably: `synchronous =
/// FULL`), or fails with the commit's error when it did not. A lone write is a batch of one, so nothing waits for
/// company: the batch is whatever queued while the previous transaction was being written.
final class GroupCommit: Sendable {
    /// One queued write: runs inside the batch (in its savepoint), then hears whether the batch committed.
    struct Pending: Sendable {
        let run: @Sendable (Database) -> Void
        let finish: @Sendable ((any Error)?) -> Void
    }

    private let writer: any DatabaseWriter
    private let maxBatch: Int
    private let state = Mutex<(queue: [Pending], scheduled: Bool)>(([], false))
    /// Transactions and writes committed so far (for `airlock bench`'s figures).
    let counters = Mutex<(batches: Int, writes: Int, busy: Duration)>((0, 0, .zero))

    init(writer: any DatabaseWriter, maxBatch: Int = 512) {
        self.writer = writer
        self.maxBatch = maxBatch
    }

    /// Runs `body` in the next batch and returns its result once that batch has committed.
    func write<T: Sendable>(_ body: @escaping @Sendable (Database) throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, any Error>) in
            let outcome = Mutex<Result<T, any Error>?>(nil)
            enqueue(
                Pending(
                    run: { db in
                        do {
                            try db.inSavepoint {
                                let value = try body(db)
                                outcome.withLock { $0 = .success(value) }
                                return .commit
                            }
                        } catch {
                            outcome.withLock { $0 = .failure(error) }
                        }
                    },
                    finish: { commitError in
                        if let commitError {
                            continuation.resume(throwing: commitError)
                        } else {
                            continuation.resume(with: outcome.withLock { $0 } ?? .failure(CancellationError()))
                        }
                    }
                )
            )
        }
    }

    private func enqueue(_ item: Pending) {
        let schedule = state.withLock { state -> Bool in
            state.queue.append(item)
            defer { state.scheduled = true }
            return !state.scheduled
        }
        if schedule { scheduleDrain() }
    }

    private func scheduleDrain() {
        writer.asyncWriteWithoutTransaction { [self] db in drain(db) }
    }

    /// On the writer's queue: takes what is queued, writes it in one transaction, tells each caller.
    private func drain(_ db: Database) {
        let (batch, more) = state.withLock { state -> ([Pending], Bool) in
            let batch = Array(state.queue.prefix(maxBatch))
            state.queue.removeFirst(batch.count)
            if state.queue.isEmpty { state.scheduled = false }
            return (batch, !state.queue.isEmpty)
        }
        var commitError: (any Error)?
        let started = ContinuousClock.now
        do {
            try db.inTransaction(.immediate) {
                for item in batch { item.run(db) }
                return .commit
            }
            let busy = ContinuousClock.now - started
            counters.withLock {
                $0.batches += 1; $0.writes += batch.count; $0.busy += busy
            }
        } catch {
            commitError = error
        }
        for item in batch { item.finish(commitError) }
        if more { scheduleDrain() }
    }
}

/// Passive WAL checkpoints every half second on a connection of their own.
///
/// SQLite's automatic checkpoint runs inside the commit that crosses its threshold, on the single writer: that
/// commit (and every write queued behind it) waits while pages are copied into the database file and it is
/// fsynced. A passive checkpoint needs no write lock, so here it runs beside the writer; the automatic one stays
/// as a backstop with a higher threshold.
final class WALCheckpointer: @unchecked Sendable {
    // Safe: the timer is set in init and only cancelled in deinit; its handler runs on its own serial queue.
    private let timer: any DispatchSourceTimer

    init(path: String) throws {
        var config = Configuration()
        config.busyMode = .timeout(1)
        let connection = try DatabaseQueue(path: path, configuration: config)
        let timer = DispatchSource.makeTimerSource(
            queue: DispatchQueue(label: "airlock.sqlite.checkpoint", qos: .utility)
        )
        timer.schedule(deadline: .now() + .milliseconds(500), repeating: .milliseconds(500))
        timer.setEventHandler {
            _ = try? connection.writeWithoutTransaction { db in try db.checkpoint(.passive) }
        }
        timer.resume()
        self.timer = timer
    }

    deinit { timer.cancel() }
}
