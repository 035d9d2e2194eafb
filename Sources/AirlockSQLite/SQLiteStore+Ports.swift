public import AirlockDomain
import AirlockStoreKit
public import Foundation
import GRDB
import GRDBSQLite

// MARK: - DraftStore

extension SQLiteStore: DraftStore {
    public func updateDraft<T: Sendable>(
        _ id: DraftID,
        at now: Date,
        _ body: @escaping @Sendable (Draft) -> (Changes, T)
    ) async throws -> T? {
        try await group.write { [auditKey] db -> T? in
            guard let draft = try SQLiteRows.loadDraft(db, id: id) else { return nil }
            let (changes, result) = body(draft)
            try SQLiteRows.apply(try WritePlan(changes, at: now), db: db, key: auditKey)
            return result
        }
    }

    public func commit(_ changes: Changes, at now: Date) async throws {
        // Everything but the chain is worked out here, so the single writer spends its time on SQL.
        let plan = try WritePlan(changes, at: now)
        try await group.write { [auditKey] db in try SQLiteRows.apply(plan, db: db, key: auditKey) }
    }

    public func draft(_ id: DraftID) async throws -> Draft? {
        try await writer.read { db in try SQLiteRows.loadDraft(db, id: id) }
    }

    public func drafts(_ filter: DraftFilter) async throws -> [Draft] {
        try await writer.read { db in
            try db.rows(StoreSQL.draftIDs(filter)).compactMap { row in
                try (row.text("id")).flatMap(DraftID.init).flatMap { try SQLiteRows.loadDraft(db, id: $0) }
            }
        }
    }
}

// MARK: - Housekeeping

extension SQLiteStore: Housekeeping {
    public func draftsPastTTL(at now: Date, limit: Int) async throws -> [DraftID] {
        try await writer.read { db in
            try db.rows(StoreSQL.draftsPastTTL(at: now, limit: limit)).compactMap {
                try $0.text("id").flatMap(DraftID.init)
            }
        }
    }

    public func countDrafts(states: Set<DraftState>) async throws -> Int {
        guard !states.isEmpty else { return 0 }
        return try await writer.read { db in
            Int(try db.row(StoreSQL.countDrafts(states: states))?.integer("n") ?? 0)
        }
    }

    public func prune(deliveriesBefore: Date, jobsBefore: Date) async throws {
        try await writer.write { db in
            for statement in StoreSQL.prune(deliveriesBefore: deliveriesBefore, jobsBefore: jobsBefore) {
                try db.run(statement)
            }
        }
    }
}

// MARK: - JobQueue

extension SQLiteStore: JobQueue {
    public func claimJob(at now: Date, lease: Duration) async throws -> Job? {
        try await group.write { db -> Job? in
            try db.row(StoreSQL.claimJob(at: now, lease: lease)).map(StoreSQL.job)
        }
    }

    public func extendLease(_ id: Int64, until: Date) async throws {
        try await group.write { db in try db.run(StoreSQL.extendLease(id, until: until)) }
    }

    public func retryJob(_ id: Int64, runAt: Date, error: String) async throws {
        try await group.write { db in try db.run(StoreSQL.retryJob(id, runAt: runAt, error: error)) }
    }

    public func nextJobDue() async throws -> Date? {
        try await writer.read { db in try db.row(StoreSQL.nextJobDue)?.integer("due").map(Date.init(millis:)) }
    }
}

// MARK: - AuditLog

extension SQLiteStore: AuditLog {
    public func appendAudit(_ events: [AuditEvent], at now: Date) async throws {
        let planned = events.map { PlannedAudit($0, at: now) }
        try await group.write { [auditKey] db in try SQLiteRows.append(planned, db: db, key: auditKey) }
    }

    public func verifyAudit(expectedHead: String?) async throws -> AuditVerification {
        try await writer.read { [auditKey] db in
            // Straight from SQLite's column bytes into the hash (no row objects, no strings): a million entries
            // in about a second. The bytes are exactly what `AuditRows.entry` would read (text or blob, NULL empty).
            var verifier = AuditChainVerifier(key: auditKey, expectedHead: expectedHead)
            let statement = try db.makeStatement(
                sql: "SELECT \(AuditRows.columns.joined(separator: ", ")) FROM audit_log ORDER BY seq"
            )
            let handle = statement.sqliteStatement
            var scratch: [UInt8] = []
            scratch.reserveCapacity(4096)
            func bytes(_ column: Int32) -> UnsafeRawBufferPointer {
                guard let pointer = sqlite3_column_blob(handle, column) else {
                    return UnsafeRawBufferPointer(start: nil, count: 0)
                }
                return UnsafeRawBufferPointer(start: pointer, count: Int(sqlite3_column_bytes(handle, column)))
            }
            while true {
                let code = sqlite3_step(handle)
                if code == SQLITE_DONE { break }
                guard code == SQLITE_ROW else { throw DatabaseError(resultCode: ResultCode(rawValue: code)) }
                let failure = verifier.check(
                    seq: sqlite3_column_int64(handle, 0),
                    atMillis: sqlite3_column_int64(handle, 1),
                    fields: [bytes(2), bytes(3), bytes(4), bytes(5), bytes(6)],
                    prevHash: bytes(7),
                    hash: bytes(8),
                    scratch: &scratch
                )
                if let failure { return .broken(failure) }
            }
            let last = try Int64.fetchOne(db, sql: "SELECT MAX(seq) FROM audit_log")
            if let failure = verifier.checkEnd(lastSeqInStore: last) { return .broken(failure) }
            return .intact(entries: verifier.count, headHash: verifier.headHash)
        }
    }

    public func exportAudit(
        since: Date?,
        draftID: DraftID?,
        _ body: @escaping @Sendable (AuditEntry) throws -> Void
    ) async throws {
        try await writer.read { db in
            let statement = AuditRows.export(since: since, draftID: draftID, after: 0, limit: Int(Int64.max))
            let cursor = try Row.fetchCursor(
                db.makeStatement(sql: statement.sql),
                arguments: Database.arguments(statement)
            )
            while let row = try cursor.next() { try body(AuditRows.entry(SQLiteRow(row: row))) }
        }
    }
}
