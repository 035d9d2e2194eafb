public import AirlockDomain
public import Foundation
public import GRDB
import GRDBSQLite
import Synchronization

/// Why storage could not be opened or used; safe to print (never holds secrets).
public enum StorageError: Error, Sendable, CustomStringConvertible {
    case unsupportedURL(String)
    case cannotOpen(path: String, reason: String)
    case corruptRow(table: String, reason: String)

    public var description: String {
        switch self {
        case .unsupportedURL(let scheme):
            "unsupported database URL scheme '\(scheme)': use sqlite:PATH or postgres://user:password@host:5432/database"
        case .cannotOpen(let path, let reason): "cannot open database \(path): \(reason)"
        case .corruptRow(let table, let reason): "unreadable row in \(table): \(reason)"
        }
    }
}

/// Airlock's storage on one SQLite file (WAL), used by a single `airlock serve`.
public final class SQLiteStore: Sendable {
    /// The GRDB writer; the retrieval agent's index shares it.
    public let writer: any DatabaseWriter
    /// How audit entries are hashed (`AIRLOCK_AUDIT_KEY`).
    let auditKey: AuditKey
    /// Concurrent writes (deliveries, decisions, job claims) committed together, one fsync per batch.
    let group: GroupCommit
    /// Copies the WAL into the database on its own connection, so the committing writer does not (nil read-only).
    let checkpointer: WALCheckpointer?
    /// Transactions written by group commit and the writes they carried (writes ÷ batches = mean batch size).
    public var groupCommitted: (batches: Int, writes: Int, busy: Duration) { group.counters.withLock { $0 } }
    /// True when entries are HMAC-keyed.
    public var isAuditKeyed: Bool { auditKey.isKeyed }

    /// Opens (creating if needed) and migrates the database at `path`.
    public init(path: String, auditKey: AuditKey = .none) throws {
        self.auditKey = auditKey
        var config = Configuration()
        config.busyMode = .timeout(10)
        config.prepareDatabase { db in
            try db.execute(sql: "PRAGMA synchronous = FULL")
            // Each group-committed write runs in its own savepoint; with SQLite's temporary journals kept in memory
            // rather than backed by files, the writer spent 140 µs per write instead of 190 µs (airlock bench).
            try db.execute(sql: "PRAGMA temp_store = MEMORY")
            // Checkpoints run beside the writer (`WALCheckpointer`); this is only the backstop if they fall behind.
            try db.execute(sql: "PRAGMA wal_autocheckpoint = 16000")
        }
        do {
            let pool = try DatabasePool(path: path, configuration: config)
            try SQLiteSchema.migrator.migrate(pool)
            self.writer = pool
            self.group = GroupCommit(writer: pool)
            self.checkpointer = try WALCheckpointer(path: path)
        } catch {
            throw StorageError.cannotOpen(path: path, reason: "\(error)")
        }
    }

    /// Opens an existing database read-only (`audit verify`, `audit export`, `drafts`): nothing is created,
    /// migrated or written; an unmigrated file is an error.
    public init(readOnlyPath path: String, auditKey: AuditKey = .none) throws {
        self.auditKey = auditKey
        var config = Configuration()
        config.readonly = true
        config.busyMode = .timeout(10)
        do {
            let queue = try DatabaseQueue(path: path, configuration: config)
            guard try queue.read({ try SQLiteSchema.migrator.hasCompletedMigrations($0) }) else {
                throw StorageError.cannotOpen(path: path, reason: "migrations are pending: run `airlock migrate`")
            }
            self.writer = queue
            self.group = GroupCommit(writer: queue)
            self.checkpointer = nil
        } catch let error as StorageError {
            throw error
        } catch {
            throw StorageError.cannotOpen(path: path, reason: "\(error)")
        }
    }

    /// Parses `sqlite:PATH` (or a bare path) and opens it.
    public static func open(url: String, auditKey: AuditKey = .none, readOnly: Bool = false) throws -> SQLiteStore {
        guard let path = path(of: url) else {
            throw StorageError.unsupportedURL(String(url.prefix { $0 != ":" }))
        }
        return readOnly
            ? try SQLiteStore(readOnlyPath: path, auditKey: auditKey) : try SQLiteStore(path: path, auditKey: auditKey)
    }

    /// The file path of a `sqlite:PATH` URL or a bare path; nil for another scheme (`postgres://…`).
    public static func path(of url: String) -> String? {
        if url.hasPrefix("sqlite:") {
            let path = String(url.dropFirst("sqlite:".count))
            return path.hasPrefix("//") ? String(path.dropFirst(2)) : path
        }
        if let colon = url.firstIndex(of: ":"), url[..<colon].allSatisfy(\.isLetter), url[..<colon].count > 1 {
            return nil
        }
        return url
    }

    /// True when the database answers and every migration is applied.
    public func isReady() async -> Bool {
        do {
            return try await writer.read { db in
                try SQLiteSchema.migrator.hasCompletedMigrations(db)
            }
        } catch {
            return false
        }
    }
}

extension SQLiteStore: ManagedStore {
    public func close() async {}
}

// MARK: - Cached statements

extension Database {
    /// Like `execute(sql:arguments:)`, with the statement prepared once per connection and reused.
    func run(sql: String, arguments: StatementArguments = StatementArguments()) throws {
        try cachedStatement(sql: sql).execute(arguments: arguments)
    }

    /// Like `Row.fetchOne(_:sql:arguments:)`, with a cached statement.
    func fetchOneRow(sql: String, arguments: StatementArguments = StatementArguments()) throws -> Row? {
        try Row.fetchOne(cachedStatement(sql: sql), arguments: arguments)
    }

    /// Like `Row.fetchAll(_:sql:arguments:)`, with a cached statement.
    func fetchAllRows(sql: String, arguments: StatementArguments = StatementArguments()) throws -> [Row] {
        try Row.fetchAll(cachedStatement(sql: sql), arguments: arguments)
    }
}

// MARK: - Row mapping

/// A string bound so that SQLite keeps every byte and gives the same string back.
///
/// GRDB binds a `String` as a NUL-terminated C string and reads one with `String(cString:)`, so a value with
/// an embedded NUL would be cut short on the way in and on the way out: the text read back would differ from
/// the text hashed. Text without NUL is stored as TEXT (readable in SQL, as before); text with a NUL is stored
/// as a BLOB of its exact UTF-8 bytes. Reading accepts both.
struct ExactText: DatabaseValueConvertible {
    var value: String

    init(_ value: String) { self.value = value }

    var databaseValue: DatabaseValue {
        value.utf8.contains(0) ? Data(value.utf8).databaseValue : value.databaseValue
    }

    static func fromDatabaseValue(_ dbValue: DatabaseValue) -> ExactText? {
        switch dbValue.storage {
        case .string(let text): ExactText(text)
        case .blob(let data): ExactText(String(decoding: data, as: UTF8.self))
        default: nil
        }
    }
}

/// `ExactText` for an optional string (NULL stays NULL).
func exact(_ value: String?) -> DatabaseValue {
    value.map { ExactText($0).databaseValue } ?? .null
}

extension Row {
    /// A text column written with `exact(_:)`, read back byte for byte.
    func text(_ column: String) throws -> String {
        guard let value = (self[column] as ExactText?)?.value else {
            throw StorageError.corruptRow(table: "?", reason: "column \(column) is NULL or not text")
        }
        return value
    }

    /// An optional text column written with `exact(_:)`.
    func optionalText(_ column: String) -> String? {
        (self[column] as ExactText?)?.value
    }
}

private let jsonEncoder: JSONEncoder = {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys]
    return encoder
}()

/// A thread reference as stored: the JSON its `Codable` conformance reads, written without `JSONEncoder` (a new
/// draft's target and its answer job were most of the encoding on the ack path).
func encodeJSON(_ target: ThreadRef) -> String {
    guard target.place == nil, target.mention == nil else {
        // With its recorded place (set once, when the answer is written): the rare path, through the encoder.
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return (try? encoder.encode(target)).map { String(decoding: $0, as: UTF8.self) }
            ?? AuditChain.canonicalJSON([
                "channel": target.channel, "platform": target.platform.rawValue, "thread": target.thread,
            ])
    }
    return AuditChain.canonicalJSON([
        "channel": target.channel, "platform": target.platform.rawValue, "thread": target.thread,
    ])
}

/// A job as stored. The answer job (one per question, on the ack path) is written directly in the shape of its
/// synthesized `Codable` form; the others go through `JSONEncoder`.
func encodeJSON(_ job: JobPayload) throws -> String {
    if case .answer(let id) = job { return "{\"answer\":" + AuditChain.canonicalJSON(["draftID": id.rawValue]) + "}" }
    return String(decoding: try jsonEncoder.encode(job), as: UTF8.self)
}

func encodeJSON(_ value: some Encodable) throws -> String {
    String(decoding: try jsonEncoder.encode(value), as: UTF8.self)
}

func decodeJSON<T: Decodable>(_ type: T.Type, _ text: String, table: String) throws -> T {
    do {
        return try JSONDecoder().decode(type, from: Data(text.utf8))
    } catch {
        throw StorageError.corruptRow(table: table, reason: "\(error)")
    }
}

enum DraftRows {
    static func load(_ db: Database, id: DraftID) throws -> Draft? {
        guard let row = try db.fetchOneRow(sql: "SELECT * FROM draft WHERE id = ?", arguments: [id.rawValue]) else {
            return nil
        }
        return try draft(from: row, db: db)
    }

    static func draft(from row: Row, db: Database) throws -> Draft {
        let idText: String = row["id"]
        guard let id = DraftID(idText), let requester = PersonID(parsing: try row.text("requester")),
            let state = DraftState(rawValue: row["state"])
        else { throw StorageError.corruptRow(table: "draft", reason: "bad id, requester or state") }
        let target = try row.optionalText("target").map { try decodeJSON(ThreadRef.self, $0, table: "draft") }
        var draft = Draft(
            id: id,
            requester: requester,
            question: try row.text("question"),
            target: target,
            createdAt: Date(millis: row["createdAt"]),
            ttl: .zero
        )
        draft.expiresAt = Date(millis: row["expiresAt"])
        draft.state = state
        draft.version = row["version"]
        draft.text = try row.text("text")
        draft.sources = try decodeJSON([SourceRef].self, try row.text("sources"), table: "draft")
        draft.riskFlags = try decodeJSON([String].self, try row.text("riskFlags"), table: "draft")
        draft.risks = try decodeJSON([RiskFinding].self, try row.text("risks"), table: "draft")
        draft.redactions = try decodeJSON([RedactedSecret].self, try row.text("redactions"), table: "draft")
        if let version: Int = row["publishVersion"], let hash: String = row["publishHash"],
            let at: Int64 = row["publishAt"]
        {
            draft.publishRequest = PublishRequest(version: version, contentHash: hash, at: Date(millis: at))
        }
        draft.rejectionReason = row.optionalText("rejectionReason")
        if let messageID = row.optionalText("postedMessageID"), let at: Int64 = row["postedAt"] {
            draft.posted = PostedRef(
                messageID: messageID,
                permalink: row.optionalText("postedPermalink"),
                at: Date(millis: at)
            )
        }
        if let outbox = try db.fetchOneRow(sql: "SELECT * FROM outbox WHERE draftID = ?", arguments: [id.rawValue]),
            let approverText = outbox.optionalText("approver"), let approver = PersonID(parsing: approverText),
            let hash = outbox.optionalText("contentHash")
        {
            draft.claim = PostClaim(
                version: outbox["version"],
                contentHash: hash,
                approver: approver,
                attempts: outbox["attempts"],
                claimedAt: Date(millis: outbox["claimedAt"])
            )
        }
        for reviewer in try db.fetchAllRows(
            sql: "SELECT person, version FROM reviewer WHERE draftID = ?",
            arguments: [id.rawValue]
        ) {
            guard let person = PersonID(parsing: try reviewer.text("person")) else {
                throw StorageError.corruptRow(table: "reviewer", reason: "bad person")
            }
            draft.reviewers[person, default: []].insert(reviewer["version"])
        }
        let approvals = try db.fetchAllRows(
            sql: "SELECT * FROM approval WHERE draftID = ? AND version = ? ORDER BY at",
            arguments: [id.rawValue, draft.version]
        )
        draft.approvals = try approvals.map { row in
            guard let approver = PersonID(parsing: try row.text("approver")) else {
                throw StorageError.corruptRow(table: "approval", reason: "bad approver")
            }
            return Approval(
                approver: approver,
                version: row["version"],
                contentHash: row["contentHash"],
                at: Date(millis: row["at"])
            )
        }
        // What the audit log holds of its publish requests and approvals (not the draft's own rows).
        for entry in try db.fetchAllRows(
            sql:
                "SELECT kind, actor, detail FROM audit_log WHERE draft_id = ? AND kind IN ('publish_requested', 'approval')",
            arguments: [id.rawValue]
        ) {
            if let evidence = AuditEvidence.entry(
                kind: try entry.text("kind"),
                actor: try entry.optionalText("actor"),
                detail: try entry.text("detail")
            ) {
                draft.evidence.entries.append(evidence)
            }
        }
        return draft
    }

    /// The draft's JSON columns, encoded before the write transaction when the draft is known in advance.
    struct Encoded: Sendable {
        var target: String?
        var sources: String
        var riskFlags: String
        var risks: String
        var redactions: String

        init(_ draft: Draft) throws {
            target = try draft.target.map { try encodeJSON($0) }
            // A new draft has none of these yet: "[]" is what the encoder would write, without running it four times.
            sources = draft.sources.isEmpty ? "[]" : try encodeJSON(draft.sources)
            riskFlags = draft.riskFlags.isEmpty ? "[]" : try encodeJSON(draft.riskFlags)
            risks = draft.risks.isEmpty ? "[]" : try encodeJSON(draft.risks)
            redactions = draft.redactions.isEmpty ? "[]" : try encodeJSON(draft.redactions)
        }
    }

    static func save(_ db: Database, _ draft: Draft, now: Date, encoded: Encoded? = nil) throws {
        let json = try encoded ?? Encoded(draft)
        try db.run(
            sql: """
                INSERT INTO draft (id, requester, question, target, createdAt, expiresAt, state, version, text, sources,
                    riskFlags, publishVersion, publishHash, publishAt, rejectionReason, postedMessageID, postedPermalink,
                    postedAt, updatedAt, risks, redactions)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                ON CONFLICT(id) DO UPDATE SET state = excluded.state, version = excluded.version, text = excluded.text,
                    target = excluded.target, question = excluded.question,
                    sources = excluded.sources, riskFlags = excluded.riskFlags, risks = excluded.risks,
                    redactions = excluded.redactions, publishVersion = excluded.publishVersion,
                    publishHash = excluded.publishHash, publishAt = excluded.publishAt,
                    rejectionReason = excluded.rejectionReason, postedMessageID = excluded.postedMessageID,
                    postedPermalink = excluded.postedPermalink, postedAt = excluded.postedAt,
                    updatedAt = excluded.updatedAt
                """,
            arguments: [
                draft.id.rawValue, exact(draft.requester.description), exact(draft.question),
                exact(json.target), draft.createdAt.millis, draft.expiresAt.millis,
                draft.state.rawValue, draft.version, exact(draft.text), exact(json.sources),
                exact(json.riskFlags), draft.publishRequest?.version, draft.publishRequest?.contentHash,
                draft.publishRequest?.at.millis, exact(draft.rejectionReason), exact(draft.posted?.messageID),
                exact(draft.posted?.permalink), draft.posted?.at.millis, now.millis, exact(json.risks),
                exact(json.redactions),
            ]
        )
        if draft.version > 0 {
            try db.run(
                sql: """
                    INSERT INTO draftVersion (draftID, version, text, contentHash, createdAt) VALUES (?, ?, ?, ?, ?)
                    ON CONFLICT DO NOTHING
                    """,
                arguments: [draft.id.rawValue, draft.version, exact(draft.text), draft.contentHash, now.millis]
            )
        }
        for (person, versions) in draft.reviewers {
            for version in versions {
                try db.run(
                    sql: "INSERT INTO reviewer (draftID, person, version) VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
                    arguments: [draft.id.rawValue, exact(person.description), version]
                )
            }
        }
        if let claim = draft.claim {
            let posted = draft.state == .posted ? draft.posted : nil
            try db.run(
                sql: """
                    INSERT INTO outbox (draftID, version, status, attempts, claimedAt, contentHash, approver, messageID,
                        permalink, postedAt)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                    ON CONFLICT(draftID) DO UPDATE SET version = excluded.version, status = excluded.status,
                        attempts = excluded.attempts, claimedAt = excluded.claimedAt, contentHash = excluded.contentHash,
                        approver = excluded.approver, messageID = excluded.messageID, permalink = excluded.permalink,
                        postedAt = excluded.postedAt
                    """,
                arguments: [
                    draft.id.rawValue, claim.version, posted == nil ? "claimed" : "posted", claim.attempts,
                    claim.claimedAt.millis, claim.contentHash, exact(claim.approver.description),
                    exact(posted?.messageID), exact(posted?.permalink), posted?.at.millis,
                ]
            )
        }
        for approval in draft.approvals {
            try db.run(
                sql: """
                    INSERT INTO approval (draftID, version, approver, contentHash, at) VALUES (?, ?, ?, ?, ?)
                    ON CONFLICT DO NOTHING
                    """,
                arguments: [
                    draft.id.rawValue, approval.version, exact(approval.approver.description), approval.contentHash,
                    approval.at.millis,
                ]
            )
        }
    }
}

enum AuditRows {
    static func append(
        _ db: Database,
        _ events: [AuditEvent],
        now: Date,
        key: AuditKey,
        details: [String]? = nil
    ) throws {
        guard !events.isEmpty else { return }
        let head = try db.fetchOneRow(sql: "SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1")
        var seq: Int64 = head?["seq"] ?? 0
        var hash: String = head?["hash"] ?? AuditChain.genesis
        for (index, event) in events.enumerated() {
            let entry = AuditChain.entry(
                for: event,
                at: now,
                previousSeq: seq,
                previousHash: hash,
                key: key,
                detailJSON: details?[index]
            )
            try db.run(
                sql: """
                    INSERT INTO audit_log (seq, at, kind, platform, actor, draft_id, detail, prev_hash, hash)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
                    """,
                arguments: [
                    entry.seq, entry.atMillis, exact(entry.kind), exact(entry.platform), exact(entry.actor),
                    exact(entry.draftID), exact(entry.detail), entry.prevHash, entry.hash,
                ]
            )
            seq = entry.seq
            hash = entry.hash
        }
    }

    /// Reads an entry back exactly as it was hashed (text columns through `ExactText`).
    static func entry(_ row: Row) -> AuditEntry {
        AuditEntry(
            seq: row["seq"],
            atMillis: row["at"],
            kind: row.optionalText("kind") ?? "",
            platform: row.optionalText("platform"),
            actor: row.optionalText("actor"),
            draftID: row.optionalText("draft_id"),
            detail: row.optionalText("detail") ?? "",
            prevHash: row.optionalText("prev_hash") ?? "",
            hash: row.optionalText("hash") ?? ""
        )
    }
}

/// What can be encoded of a `Changes` before its write transaction (JSON, audit details), so the single writer
/// spends its time on SQL and the chain, not on encoders.
struct PreparedChanges: Sendable {
    var draft: DraftRows.Encoded?
    var payloads: [String]
    var details: [String]

    init(_ changes: Changes) throws {
        draft = try changes.draft.map(DraftRows.Encoded.init)
        payloads = try changes.jobs.map { try encodeJSON($0) }
        details = changes.audit.map { AuditChain.canonicalJSON($0.detail) }
    }
}

extension SQLiteStore {
    fileprivate static func apply(
        _ changes: Changes,
        db: Database,
        now: Date,
        key: AuditKey,
        prepared: PreparedChanges? = nil
    ) throws {
        if let delivery = changes.delivery {
            try db.run(
                sql: "INSERT INTO delivery (platform, key, receivedAt) VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
                arguments: [exact(delivery.platform.rawValue), exact(delivery.key), now.millis]
            )
            if db.changesCount == 0 { throw DuplicateDelivery() }
        }
        if let draft = changes.draft { try DraftRows.save(db, draft, now: now, encoded: prepared?.draft) }
        if let job = changes.completedJob {
            try db.run(sql: "UPDATE job SET status = 'done', lockedUntil = NULL WHERE id = ?", arguments: [job])
        }
        if let failed = changes.failedJob {
            try db.run(
                sql: "UPDATE job SET status = 'failed', lockedUntil = NULL, lastError = ? WHERE id = ?",
                arguments: [exact(failed.error), failed.id]
            )
        }
        for (index, job) in changes.jobs.enumerated() {
            try db.run(
                sql: "INSERT INTO job (kind, payload, draftID, runAt, createdAt) VALUES (?, ?, ?, ?, ?)",
                arguments: [
                    job.kind.rawValue, try prepared?.payloads[index] ?? encodeJSON(job), job.draftID?.rawValue,
                    now.millis, now.millis,
                ]
            )
        }
        try AuditRows.append(db, changes.audit, now: now, key: key, details: prepared?.details)
    }
}

// MARK: - DraftStore

extension SQLiteStore: DraftStore {
    public func updateDraft<T: Sendable>(
        _ id: DraftID,
        at now: Date,
        _ body: @escaping @Sendable (Draft) -> (Changes, T)
    ) async throws -> T? {
        try await group.write { [auditKey] db -> T? in
            guard let draft = try DraftRows.load(db, id: id) else { return nil }
            let (changes, result) = body(draft)
            try Self.apply(changes, db: db, now: now, key: auditKey)
            return result
        }
    }

    public func commit(_ changes: Changes, at now: Date) async throws {
        let prepared = try PreparedChanges(changes)
        try await group.write { [auditKey] db in
            try Self.apply(changes, db: db, now: now, key: auditKey, prepared: prepared)
        }
    }

    public func draft(_ id: DraftID) async throws -> Draft? {
        try await writer.read { db in try DraftRows.load(db, id: id) }
    }

    public func drafts(_ filter: DraftFilter) async throws -> [Draft] {
        try await writer.read { db in
            var clauses: [String] = []
            var arguments: StatementArguments = []
            if let requester = filter.requester {
                clauses.append("requester = ?")
                arguments += [requester.description]
            }
            if let reviewer = filter.reviewer {
                clauses.append("id IN (SELECT draftID FROM reviewer WHERE person = ?)")
                arguments += [reviewer.description]
            }
            if let states = filter.states, !states.isEmpty {
                clauses.append("state IN (\(states.map { _ in "?" }.joined(separator: ",")))")
                arguments += StatementArguments(states.map(\.rawValue).sorted())
            }
            let whereClause = clauses.isEmpty ? "" : "WHERE " + clauses.joined(separator: " AND ")
            let rows = try db.fetchAllRows(
                sql: "SELECT * FROM draft \(whereClause) ORDER BY createdAt DESC LIMIT \(max(1, filter.limit))",
                arguments: arguments
            )
            return try rows.map { try DraftRows.draft(from: $0, db: db) }
        }
    }
}

// MARK: - Housekeeping

extension SQLiteStore: Housekeeping {
    public func draftsPastTTL(at now: Date, limit: Int) async throws -> [DraftID] {
        try await writer.read { db in
            try String.fetchAll(
                db,
                sql: """
                    SELECT id FROM draft WHERE expiresAt <= ?
                    AND state IN ('requested', 'answered', 'revised', 'publish_requested', 'approved')
                    ORDER BY expiresAt LIMIT ?
                    """,
                arguments: [now.millis, max(1, limit)]
            ).compactMap(DraftID.init)
        }
    }

    public func countDrafts(states: Set<DraftState>) async throws -> Int {
        guard !states.isEmpty else { return 0 }
        return try await writer.read { db in
            try Int.fetchOne(
                db,
                sql: "SELECT count(*) FROM draft WHERE state IN (\(states.map { _ in "?" }.joined(separator: ",")))",
                arguments: StatementArguments(states.map(\.rawValue).sorted())
            ) ?? 0
        }
    }

    public func prune(deliveriesBefore: Date, jobsBefore: Date) async throws {
        try await writer.write { db in
            try db.run(sql: "DELETE FROM delivery WHERE receivedAt < ?", arguments: [deliveriesBefore.millis])
            try db.run(
                sql: "DELETE FROM job WHERE status IN ('done', 'failed') AND createdAt < ?",
                arguments: [jobsBefore.millis]
            )
        }
    }
}

// MARK: - JobQueue

extension SQLiteStore: JobQueue {
    public func claimJob(at now: Date, lease: Duration) async throws -> Job? {
        let leaseMillis = Int64(lease.timeInterval * 1000)
        return try await group.write { db -> Job? in
            guard
                let row = try db.fetchOneRow(
                    sql: """
                        UPDATE job SET lockedUntil = ?, attempts = attempts + 1
                        WHERE id = (SELECT id FROM job WHERE status = 'pending' AND runAt <= ?
                                    AND (lockedUntil IS NULL OR lockedUntil < ?) ORDER BY runAt, id LIMIT 1)
                        RETURNING id, payload, attempts
                        """,
                    arguments: [now.millis + leaseMillis, now.millis, now.millis]
                )
            else { return nil }
            let payload = try decodeJSON(JobPayload.self, row["payload"], table: "job")
            return Job(id: row["id"], payload: payload, attempt: row["attempts"])
        }
    }

    public func extendLease(_ id: Int64, until: Date) async throws {
        try await group.write { db in
            try db.run(
                sql: "UPDATE job SET lockedUntil = ? WHERE id = ? AND status = 'pending' AND lockedUntil IS NOT NULL",
                arguments: [until.millis, id]
            )
        }
    }

    public func retryJob(_ id: Int64, runAt: Date, error: String) async throws {
        try await group.write { db in
            try db.run(
                sql: "UPDATE job SET runAt = ?, lockedUntil = NULL, lastError = ? WHERE id = ?",
                arguments: [runAt.millis, exact(error), id]
            )
        }
    }

    public func nextJobDue() async throws -> Date? {
        try await writer.read { db in
            let millis = try Int64.fetchOne(
                db,
                sql: "SELECT MIN(MAX(runAt, COALESCE(lockedUntil, 0))) FROM job WHERE status = 'pending'"
            )
            return millis.map(Date.init(millis:))
        }
    }
}

// MARK: - AuditLog

extension SQLiteStore: AuditLog {
    public func appendAudit(_ events: [AuditEvent], at now: Date) async throws {
        let details = events.map { AuditChain.canonicalJSON($0.detail) }
        try await group.write { [auditKey] db in
            try AuditRows.append(db, events, now: now, key: auditKey, details: details)
        }
    }

    public func verifyAudit(expectedHead: String?) async throws -> AuditVerification {
        try await writer.read { [auditKey] db in
            // Straight from SQLite's column bytes into the hash (no row objects, no strings): a million entries
            // in about a second. The bytes are exactly what `AuditRows.entry` would read (text or blob, NULL empty).
            var verifier = AuditChainVerifier(key: auditKey, expectedHead: expectedHead)
            let statement = try db.makeStatement(
                sql:
                    "SELECT seq, at, kind, platform, actor, draft_id, detail, prev_hash, hash FROM audit_log ORDER BY seq"
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
            var clauses: [String] = []
            var arguments: StatementArguments = []
            if let since {
                clauses.append("at >= ?")
                arguments += [since.millis]
            }
            if let draftID {
                clauses.append("draft_id = ?")
                arguments += [draftID.rawValue]
            }
            let whereClause = clauses.isEmpty ? "" : "WHERE " + clauses.joined(separator: " AND ")
            let cursor = try Row.fetchCursor(
                db,
                sql: "SELECT * FROM audit_log \(whereClause) ORDER BY seq",
                arguments: arguments
            )
            while let row = try cursor.next() { try body(AuditRows.entry(row)) }
        }
    }
}

extension SQLiteStore: GroupCommitting {}
