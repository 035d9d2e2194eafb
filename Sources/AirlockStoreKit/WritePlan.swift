public import AirlockDomain
public import Foundation

/// What one transaction writes for a `Changes`, worked out before the transaction: the delivery key to record first,
/// the rows as statements, and the audit events with their canonical details (chained last, under the head).
///
/// Both stores apply a plan the same way: record the delivery (a duplicate refuses the whole plan before anything
/// was written), run the statements, then append the audit entries after the chain's head.
public struct WritePlan: Sendable {
    public var delivery: DeliveryKey?
    /// When the decision was made (the delivery key's time).
    public var at: Date
    public var statements: [SQLStatement]
    public var audit: [PlannedAudit]

    public init(_ changes: Changes, at now: Date) throws {
        delivery = changes.delivery
        at = now
        statements = try changes.draft.map { try DraftMapping.save($0, at: now) } ?? []
        if let job = changes.completedJob {
            statements.append(
                SQLStatement("UPDATE job SET status = 'done', locked_until = NULL WHERE id = ?", [.integer(job)])
            )
        }
        if let failed = changes.failedJob {
            statements.append(
                SQLStatement(
                    "UPDATE job SET status = 'failed', locked_until = NULL, last_error = ? WHERE id = ?",
                    [.text(failed.error), .integer(failed.id)]
                )
            )
        }
        for job in changes.jobs {
            statements.append(
                SQLStatement(
                    "INSERT INTO job (kind, payload, draft_id, run_at, created_at) VALUES (?, ?, ?, ?, ?)",
                    [
                        .text(job.kind.rawValue), .text(try Encoding.encode(job)), .text(job.draftID?.rawValue),
                        .integer(now.millis), .integer(now.millis),
                    ]
                )
            )
        }
        audit = changes.audit.map { PlannedAudit($0, at: now) }
    }
}

/// An audit event ready to be chained: its time and canonical detail JSON, computed outside the transaction.
public struct PlannedAudit: Sendable {
    public var event: AuditEvent
    public var at: Date
    public var detail: String

    public init(_ event: AuditEvent, at: Date) {
        self.event = event
        self.at = at
        self.detail = AuditChain.canonicalJSON(event.detail)
    }
}

/// The audit log's rows: appending after the head, and reading an entry back exactly as it was hashed.
public enum AuditRows {
    public static let columns = ["seq", "at", "kind", "platform", "actor", "draft_id", "detail", "prev_hash", "hash"]
    /// Rows per insert statement (PostgreSQL binds at most 65,535 values in one statement).
    static let chunk = 1000

    /// The newest entry's `seq` and `hash` (none: the chain is empty).
    public static let head = "SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1"

    /// Chains `planned` after the head `(seq, hash)` (nil: genesis) and returns the entries with the statements
    /// that insert them, in order.
    public static func append(
        _ planned: [PlannedAudit],
        after head: (seq: Int64, hash: String)?,
        key: AuditKey
    ) -> (entries: [AuditEntry], statements: [SQLStatement]) {
        var seq = head?.seq ?? 0
        var hash = head?.hash ?? AuditChain.genesis
        var entries: [AuditEntry] = []
        entries.reserveCapacity(planned.count)
        for item in planned {
            let entry = AuditChain.entry(
                for: item.event,
                at: item.at,
                previousSeq: seq,
                previousHash: hash,
                key: key,
                detailJSON: item.detail
            )
            entries.append(entry)
            seq = entry.seq
            hash = entry.hash
        }
        var statements: [SQLStatement] = []
        var start = 0
        while start < entries.count {
            let slice = entries[start..<min(entries.count, start + chunk)]
            var values: [SQLValue] = []
            values.reserveCapacity(slice.count * columns.count)
            for entry in slice {
                values += [
                    .integer(entry.seq), .integer(entry.atMillis), .text(entry.kind), .text(entry.platform),
                    .text(entry.actor), .text(entry.draftID), .text(entry.detail), .text(entry.prevHash),
                    .text(entry.hash),
                ]
            }
            let row = "(\(StoreSQL.placeholders(columns.count)))"
            statements.append(
                SQLStatement(
                    "INSERT INTO audit_log (\(columns.joined(separator: ", "))) VALUES "
                        + Array(repeating: row, count: slice.count).joined(separator: ", "),
                    values
                )
            )
            start += chunk
        }
        return (entries, statements)
    }

    /// Reads an entry back exactly as it was hashed (NULL text as empty where the hash reads it so).
    public static func entry(_ row: some StoredRow) throws -> AuditEntry {
        AuditEntry(
            seq: try row.requiredInteger("seq", table: "audit_log"),
            atMillis: try row.requiredInteger("at", table: "audit_log"),
            kind: try row.text("kind") ?? "",
            platform: try row.text("platform"),
            actor: try row.text("actor"),
            draftID: try row.text("draft_id"),
            detail: try row.text("detail") ?? "",
            prevHash: try row.text("prev_hash") ?? "",
            hash: try row.text("hash") ?? ""
        )
    }

    /// Entries in order, optionally since a time and of one draft, after `seq` (pages of `limit`).
    public static func export(since: Date?, draftID: DraftID?, after seq: Int64, limit: Int) -> SQLStatement {
        var sql = "SELECT \(columns.joined(separator: ", ")) FROM audit_log WHERE seq > ?"
        var values: [SQLValue] = [.integer(seq)]
        if let since {
            sql += " AND at >= ?"
            values.append(.integer(since.millis))
        }
        if let draftID {
            sql += " AND draft_id = ?"
            values.append(.text(draftID.rawValue))
        }
        values.append(.int(limit))
        return SQLStatement(sql + " ORDER BY seq LIMIT ?", values)
    }
}
