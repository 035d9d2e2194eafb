import AirlockDomain
import AirlockStoreKit
import Foundation
import Logging
import PostgresNIO

/// A PostgresNIO row as the kernel reads it (text through `PGText`).
struct PGRow: StoredRow {
    let row: PostgresRandomAccessRow
    func integer(_ column: String) throws -> Int64? { try row[column].decode(Int64?.self) }
    func text(_ column: String) throws -> String? { PGText.decode(try row[column].decode(String?.self)) }
}

extension SQLValue {
    func bind(into binds: inout PostgresBindings) {
        switch self {
        case .integer(let value): binds.append(value)
        case .text(let value): binds.append(PGText.encode(value))
        }
    }
}

extension PostgresQuery {
    /// A kernel statement with its placeholders numbered.
    init(_ statement: SQLStatement) {
        var binds = PostgresBindings(capacity: statement.values.count)
        for value in statement.values { value.bind(into: &binds) }
        self.init(unsafeSQL: statement.numbered(), binds: binds)
    }
}

/// Several kernel statements sent as one: each a data-modifying `WITH` part, the values bound (`$n`) across all of
/// them. PostgreSQL checks foreign keys at the end of the statement, so a draft and its version rows can go together.
struct WriteStatement {
    private(set) var parts: [String] = []
    private var binds = PostgresBindings()

    mutating func add(_ statement: SQLStatement) {
        parts.append(statement.numbered(from: binds.count))
        for value in statement.values { value.bind(into: &binds) }
    }

    var query: PostgresQuery? {
        switch parts.count {
        case 0: return nil
        case 1: return PostgresQuery(unsafeSQL: parts[0], binds: binds)
        default:
            let ctes = parts.enumerated().map { "w\($0.offset) AS (\($0.element))" }.joined(separator: ",\n")
            return PostgresQuery(unsafeSQL: "WITH \(ctes)\nSELECT 1", binds: binds)
        }
    }
}

/// Reading drafts and writing plans on one connection.
enum PostgresRows {
    /// Drafts with their child rows as JSON arrays, all in one query; `lock` takes their row locks, in id order
    /// (two batches locking the same drafts cannot deadlock on them).
    static func loadSQL(lock: Bool) -> String {
        let children = DraftMapping.Child.allCases.map { child in
            let order = child.order.map { " ORDER BY \($0)" } ?? ""
            return
                "(SELECT json_agg(json_build_array(\(child.columns.map { "c.\($0)" }.joined(separator: ", ")))\(order))"
                + " FROM \(child.table) c WHERE \(child.condition))::text AS \(child.table)_rows"
        }
        return "SELECT \(DraftMapping.columns.joined(separator: ", ")), \(children.joined(separator: ", "))"
            + " FROM draft d WHERE d.id = ANY($1) ORDER BY d.id" + (lock ? " FOR UPDATE OF d" : "")
    }

    static let loadLocked = loadSQL(lock: true)
    static let load = loadSQL(lock: false)

    static func loadDrafts(
        _ ids: [DraftID],
        lock: Bool = true,
        connection: PostgresConnection,
        logger: Logger
    )
        async throws -> [DraftID: Draft]
    {
        guard !ids.isEmpty else { return [:] }
        var binds = PostgresBindings()
        binds.append(ids.map(\.rawValue))
        let rows = try await connection.query(
            PostgresQuery(unsafeSQL: lock ? loadLocked : load, binds: binds),
            logger: logger
        )
        var drafts: [DraftID: Draft] = [:]
        for try await row in rows {
            let row = row.makeRandomAccess()
            var children: [DraftMapping.Child: [[SQLValue]]] = [:]
            for child in DraftMapping.Child.allCases {
                children[child] = try jsonRows(try row["\(child.table)_rows"].decode(String?.self))
            }
            let draft = try DraftMapping.draft(from: PGRow(row: row), children: children)
            drafts[draft.id] = draft
        }
        return drafts
    }

    /// One `json_agg` column: an array of arrays of numbers, strings and nulls (no rows: SQL NULL).
    static func jsonRows(_ text: String?) throws -> [[SQLValue]] {
        guard let text else { return [] }
        guard let rows = try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [[Any]] else {
            throw PostgresStoreError("unreadable stored rows")
        }
        return rows.map { row in
            row.map { value in
                if let number = value as? NSNumber, !(value is String) { return .integer(number.int64Value) }
                return .text((value as? String).map(PGText.decode))
            }
        }
    }

    /// Records several decisions' delivery keys in one statement; returns which were new (the first of two
    /// decisions with the same key wins).
    static func insertDeliveries(
        _ deliveries: [(key: DeliveryKey, at: Date)],
        connection: PostgresConnection,
        logger: Logger
    ) async throws -> Set<DeliveryKey> {
        guard !deliveries.isEmpty else { return [] }
        var inserted = Set<DeliveryKey>()
        for try await (platform, key) in try await connection.query(
            PostgresQuery(StoreSQL.insertDeliveries(deliveries)),
            logger: logger
        ).decode((String, String).self) {
            inserted.insert(
                DeliveryKey(platform: PlatformName(rawValue: PGText.decode(platform)), key: PGText.decode(key))
            )
        }
        return inserted
    }

    /// Appends audit entries after the chain's head, which it locks (`audit_head … FOR UPDATE`) until the commit.
    static func appendAudit(
        _ audit: [PlannedAudit],
        connection: PostgresConnection,
        key: AuditKey,
        logger: Logger
    ) async throws {
        guard !audit.isEmpty else { return }
        var head: (seq: Int64, hash: String)?
        // The same statement turns this transaction's commit asynchronous: the head is released as soon as the
        // commit is written, not after its WAL flush; the batch waits for the flush after (see PostgresBatcher).
        for try await (seq, hash, _) in try await connection.query(
            "SELECT seq, hash, set_config('synchronous_commit', 'off', true) FROM audit_head WHERE id = 1 FOR UPDATE",
            logger: logger
        ).decode((Int64, String, String).self) {
            head = (seq, hash)
        }
        guard let head else { throw PostgresStoreError("the audit chain's head row is missing (migration 2)") }
        for statement in AuditRows.append(audit, after: head, key: key).statements {
            try await connection.query(PostgresQuery(statement), logger: logger)
        }
    }
}
