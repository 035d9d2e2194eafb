public import AirlockDomain
public import Foundation

/// A value as a store binds and reads it. Nulls keep their type, so PostgreSQL knows each parameter's.
public enum SQLValue: Sendable, Hashable {
    case integer(Int64?)
    case text(String?)

    public static func int(_ value: Int?) -> SQLValue { .integer(value.map(Int64.init)) }

    /// The integer, or nil (NULL or text).
    public var integer: Int64? {
        if case .integer(let value) = self { return value }
        return nil
    }

    /// The text, or nil (NULL or an integer).
    public var text: String? {
        if case .text(let value) = self { return value }
        return nil
    }
}

/// One statement: SQL with `?` for each value, in order. Both dialects run the same text; PostgreSQL's driver
/// numbers the placeholders (`$1`, `$2`, …).
public struct SQLStatement: Sendable, Hashable {
    public var sql: String
    public var values: [SQLValue]

    public init(_ sql: String, _ values: [SQLValue] = []) {
        self.sql = sql
        self.values = values
    }

    /// `sql` with `$1`, `$2`, … instead of `?`, the first numbered `offset + 1`.
    public func numbered(from offset: Int = 0) -> String {
        var out = ""
        out.reserveCapacity(sql.utf8.count + values.count * 2)
        var index = offset
        for character in sql {
            if character == "?" {
                index += 1
                out += "$\(index)"
            } else {
                out.append(character)
            }
        }
        return out
    }
}

/// A stored row as a driver reads it back: each column by its name, text exactly as written.
public protocol StoredRow {
    func integer(_ column: String) throws -> Int64?
    func text(_ column: String) throws -> String?
}

extension StoredRow {
    func required(_ column: String, table: String) throws -> String {
        guard let value = try text(column) else { throw StoreKitError.corruptRow(table: table, column: column) }
        return value
    }

    func requiredInteger(_ column: String, table: String) throws -> Int64 {
        guard let value = try integer(column) else { throw StoreKitError.corruptRow(table: table, column: column) }
        return value
    }
}

/// A row the kernel cannot read back; safe to print.
public enum StoreKitError: Error, Sendable, CustomStringConvertible {
    case corruptRow(table: String, column: String)

    public var description: String {
        switch self {
        case .corruptRow(let table, let column): "unreadable row in \(table): column \(column)"
        }
    }
}

/// The statements both stores run as they are (tables and columns named once, in snake_case).
public enum StoreSQL {
    /// Records delivery keys, each with the time its decision was made; the `RETURNING` rows are the ones that were
    /// new.
    public static func insertDeliveries(_ keys: [(key: DeliveryKey, at: Date)]) -> SQLStatement {
        var values: [SQLValue] = []
        values.reserveCapacity(keys.count * 3)
        for (key, at) in keys { values += [.text(key.platform.rawValue), .text(key.key), .integer(at.millis)] }
        return SQLStatement(
            "INSERT INTO delivery (platform, key, received_at) VALUES "
                + Array(repeating: "(?, ?, ?)", count: keys.count).joined(separator: ", ")
                + " ON CONFLICT DO NOTHING RETURNING platform, key",
            values
        )
    }

    /// Drafts past their TTL that are not final nor being posted.
    public static func draftsPastTTL(at now: Date, limit: Int) -> SQLStatement {
        let states = DraftState.expirable.map(\.rawValue).sorted()
        return SQLStatement(
            "SELECT id FROM draft WHERE expires_at <= ? AND state IN (\(placeholders(states.count)))"
                + " ORDER BY expires_at LIMIT ?",
            [.integer(now.millis)] + states.map { .text($0) } + [.int(max(1, limit))]
        )
    }

    public static func countDrafts(states: Set<DraftState>) -> SQLStatement {
        let names = states.map(\.rawValue).sorted()
        return SQLStatement(
            "SELECT count(*) AS n FROM draft WHERE state IN (\(placeholders(names.count)))",
            names.map { .text($0) }
        )
    }

    /// The ids of the drafts `filter` selects, newest first.
    public static func draftIDs(_ filter: DraftFilter) -> SQLStatement {
        var clauses: [String] = []
        var values: [SQLValue] = []
        if let requester = filter.requester {
            clauses.append("requester = ?")
            values.append(.text(requester.description))
        }
        if let reviewer = filter.reviewer {
            clauses.append("id IN (SELECT draft_id FROM reviewer WHERE person = ?)")
            values.append(.text(reviewer.description))
        }
        if let states = filter.states, !states.isEmpty {
            let names = states.map(\.rawValue).sorted()
            clauses.append("state IN (\(placeholders(names.count)))")
            values += names.map { .text($0) }
        }
        let whereClause = clauses.isEmpty ? "" : " WHERE " + clauses.joined(separator: " AND ")
        values.append(.int(max(1, filter.limit)))
        return SQLStatement("SELECT id FROM draft\(whereClause) ORDER BY created_at DESC LIMIT ?", values)
    }

    /// Deletes dedupe keys and finished jobs older than the given times.
    public static func prune(deliveriesBefore: Date, jobsBefore: Date) -> [SQLStatement] {
        [
            SQLStatement("DELETE FROM delivery WHERE received_at < ?", [.integer(deliveriesBefore.millis)]),
            SQLStatement(
                "DELETE FROM job WHERE status IN ('done', 'failed') AND created_at < ?",
                [.integer(jobsBefore.millis)]
            ),
        ]
    }

    public static func extendLease(_ id: Int64, until: Date) -> SQLStatement {
        SQLStatement(
            "UPDATE job SET locked_until = ? WHERE id = ? AND status = 'pending' AND locked_until IS NOT NULL",
            [.integer(until.millis), .integer(id)]
        )
    }

    public static func retryJob(_ id: Int64, runAt: Date, error: String) -> SQLStatement {
        SQLStatement(
            "UPDATE job SET run_at = ?, locked_until = NULL, last_error = ? WHERE id = ?",
            [.integer(runAt.millis), .text(error), .integer(id)]
        )
    }

    /// The earliest time a pending job is due (one column, `due`).
    public static let nextJobDue = SQLStatement(
        "SELECT min(CASE WHEN locked_until > run_at THEN locked_until ELSE run_at END) AS due FROM job WHERE status = 'pending'"
    )

    /// Claims the oldest due job (`lockDue` is PostgreSQL's `FOR UPDATE SKIP LOCKED`; SQLite has one writer).
    public static func claimJob(at now: Date, lease: Duration, lockDue: String = "") -> SQLStatement {
        SQLStatement(
            """
            UPDATE job SET locked_until = ?, attempts = attempts + 1
            WHERE id = (SELECT id FROM job WHERE status = 'pending' AND run_at <= ?
                        AND (locked_until IS NULL OR locked_until < ?) ORDER BY run_at, id LIMIT 1\(lockDue))
            RETURNING id, payload, attempts
            """,
            [.integer(now.millis + lease.milliseconds), .integer(now.millis), .integer(now.millis)]
        )
    }

    /// A claimed job's payload, as stored.
    public static func job(_ row: some StoredRow) throws -> Job {
        let payload = try row.required("payload", table: "job")
        return Job(
            id: try row.requiredInteger("id", table: "job"),
            payload: try Encoding.decode(JobPayload.self, payload, table: "job"),
            attempt: Int(try row.requiredInteger("attempts", table: "job"))
        )
    }

    static func placeholders(_ count: Int) -> String {
        Array(repeating: "?", count: count).joined(separator: ", ")
    }
}
