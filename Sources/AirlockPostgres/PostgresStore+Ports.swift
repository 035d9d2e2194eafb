public import AirlockDomain
import AirlockStoreKit
public import Foundation
import Logging
import PostgresNIO
import Synchronization

extension PostgresStore: ManagedStore {}

extension PostgresStore {
    /// The rows of a kernel query, read with `body`.
    func rows<T>(_ statement: SQLStatement, _ body: (PGRow) throws -> T) async throws -> [T] {
        var out: [T] = []
        for try await row in try await client.query(PostgresQuery(statement), logger: logger) {
            out.append(try body(PGRow(row: row.makeRandomAccess())))
        }
        return out
    }
}

extension PostgresStore: DraftStore {
    public func updateDraft<T: Sendable>(
        _ id: DraftID,
        at now: Date,
        _ body: @escaping @Sendable (Draft) -> (Changes, T)
    ) async throws -> T? {
        let outcome = Mutex<T?>(nil)
        try await batcher.update(id) { draft in
            guard let draft else { return nil }
            let (changes, result) = body(draft)
            outcome.withLock { $0 = result }
            return try WritePlan(changes, at: now)
        }
        return outcome.withLock { $0 }
    }

    public func commit(_ changes: Changes, at now: Date) async throws {
        try await batcher.commit(try WritePlan(changes, at: now))
    }

    public func draft(_ id: DraftID) async throws -> Draft? {
        try await drafts([id])[id]
    }

    /// Drafts by id, in one query (no locks).
    func drafts(_ ids: [DraftID]) async throws -> [DraftID: Draft] {
        let logger = self.logger
        return try await client.withConnection { connection in
            try await PostgresRows.loadDrafts(ids, lock: false, connection: connection, logger: logger)
        }
    }

    public func drafts(_ filter: DraftFilter) async throws -> [Draft] {
        let ids = try await rows(StoreSQL.draftIDs(filter)) { try $0.text("id").flatMap(DraftID.init) }.compactMap {
            $0
        }
        let found = try await drafts(ids)
        return ids.compactMap { found[$0] }
    }
}

extension PostgresStore: Housekeeping {
    public func draftsPastTTL(at now: Date, limit: Int) async throws -> [DraftID] {
        try await rows(StoreSQL.draftsPastTTL(at: now, limit: limit)) { try $0.text("id").flatMap(DraftID.init) }
            .compactMap { $0 }
    }

    public func countDrafts(states: Set<DraftState>) async throws -> Int {
        guard !states.isEmpty else { return 0 }
        return Int(
            try await rows(StoreSQL.countDrafts(states: states)) { try $0.integer("n") }.first?.flatMap { $0 } ?? 0
        )
    }

    public func prune(deliveriesBefore: Date, jobsBefore: Date) async throws {
        let logger = self.logger
        try await transaction { connection in
            for statement in StoreSQL.prune(deliveriesBefore: deliveriesBefore, jobsBefore: jobsBefore) {
                try await connection.query(PostgresQuery(statement), logger: logger)
            }
        }
    }
}

extension PostgresStore: JobQueue {
    public func claimJob(at now: Date, lease: Duration) async throws -> Job? {
        try await rows(StoreSQL.claimJob(at: now, lease: lease, lockDue: " FOR UPDATE SKIP LOCKED"), StoreSQL.job).first
    }

    public func extendLease(_ id: Int64, until: Date) async throws {
        try await client.query(PostgresQuery(StoreSQL.extendLease(id, until: until)), logger: logger)
    }

    public func retryJob(_ id: Int64, runAt: Date, error: String) async throws {
        try await client.query(PostgresQuery(StoreSQL.retryJob(id, runAt: runAt, error: error)), logger: logger)
    }

    public func nextJobDue() async throws -> Date? {
        try await rows(StoreSQL.nextJobDue) { try $0.integer("due") }.first?.map(Date.init(millis:))
    }
}

extension PostgresStore: AuditLog {
    public func appendAudit(_ events: [AuditEvent], at now: Date) async throws {
        try await batcher.commit(try WritePlan(Changes(audit: events), at: now))
    }

    /// Streams the chain in pages of 10,000 (constant memory), every page and the final `max(seq)` from one
    /// REPEATABLE READ snapshot: entries appended meanwhile by other writers are neither half-seen nor reported as
    /// missing.
    public func verifyAudit(expectedHead: String?) async throws -> AuditVerification {
        let key = auditKey
        let logger = logger
        return try await transaction { connection in
            try await connection.query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY", logger: logger)
            var verifier = AuditChainVerifier(key: key, expectedHead: expectedHead)
            var after: Int64 = 0
            while true {
                var read = 0
                let page = AuditRows.export(since: nil, draftID: nil, after: after, limit: 10_000)
                for try await row in try await connection.query(PostgresQuery(page), logger: logger) {
                    let entry = try AuditRows.entry(PGRow(row: row.makeRandomAccess()))
                    if let failure = verifier.check(entry) { return .broken(failure) }
                    after = entry.seq
                    read += 1
                }
                if read < 10_000 { break }
            }
            var last: Int64?
            for try await value in try await connection.query("SELECT max(seq) FROM audit_log", logger: logger)
                .decode(Int64?.self)
            {
                last = value
            }
            if let failure = verifier.checkEnd(lastSeqInStore: last) { return .broken(failure) }
            return .intact(entries: verifier.count, headHash: verifier.headHash)
        }
    }

    public func exportAudit(
        since: Date?,
        draftID: DraftID?,
        _ body: @escaping @Sendable (AuditEntry) throws -> Void
    ) async throws {
        var after: Int64 = 0
        while true {
            let page = try await rows(AuditRows.export(since: since, draftID: draftID, after: after, limit: 10_000)) {
                try AuditRows.entry($0)
            }
            for entry in page { try body(entry) }
            guard page.count == 10_000, let last = page.last else { return }
            after = last.seq
        }
    }
}
