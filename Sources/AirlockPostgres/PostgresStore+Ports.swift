public import AirlockDomain
public import Foundation
import Logging
import PostgresNIO

private let encoder: JSONEncoder = {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys]
    return encoder
}()

func json(_ value: some Encodable) throws -> String { String(decoding: try encoder.encode(value), as: UTF8.self) }

func decodeJSON<T: Decodable>(_ type: T.Type, _ text: String) throws -> T {
    do {
        return try JSONDecoder().decode(type, from: Data(text.utf8))
    } catch {
        throw PostgresStoreError("unreadable stored value: \(error)")
    }
}

extension PostgresRandomAccessRow {
    func text(_ column: String) throws -> String { PGText.decode(try self[column].decode(String.self)) }
    func optionalText(_ column: String) throws -> String? { PGText.decode(try self[column].decode(String?.self)) }
    func int(_ column: String) throws -> Int { try self[column].decode(Int.self) }
    func int64(_ column: String) throws -> Int64 { try self[column].decode(Int64.self) }
    func optionalInt64(_ column: String) throws -> Int64? { try self[column].decode(Int64?.self) }
}

extension PostgresStore {
    // MARK: rows

    /// A draft with its claim, reviewers, approvals of its version and the audit log's evidence, in one query
    /// (the child rows as JSON arrays); `lock` takes the draft's row lock.
    static func loadDraft(
        _ connection: PostgresConnection,
        id: DraftID,
        lock: Bool,
        logger: Logger
    ) async throws -> Draft? {
        let sql = """
            SELECT d.*,
              (SELECT json_agg(json_build_array(o.version, o.content_hash, o.approver, o.attempts, o.claimed_at))
                 FROM outbox o WHERE o.draft_id = d.id)::text AS claim_rows,
              (SELECT json_agg(json_build_array(r.person, r.version)) FROM reviewer r WHERE r.draft_id = d.id)::text AS reviewer_rows,
              (SELECT json_agg(json_build_array(a.approver, a.version, a.content_hash, a.at) ORDER BY a.at)
                 FROM approval a WHERE a.draft_id = d.id AND a.version = d.version)::text AS approval_rows,
              (SELECT json_agg(json_build_array(l.kind, l.actor, l.detail) ORDER BY l.seq) FROM audit_log l
                 WHERE l.draft_id = d.id AND l.kind IN ('publish_requested', 'approval'))::text AS evidence_rows
            FROM draft d WHERE d.id = $1\(lock ? " FOR UPDATE OF d" : "")
            """
        var binds = PostgresBindings()
        binds.append(id.rawValue)
        let rows = try await connection.query(PostgresQuery(unsafeSQL: sql, binds: binds), logger: logger)
        for try await row in rows { return try draft(from: row.makeRandomAccess()) }
        return nil
    }

    /// One `json_agg` column: an array of arrays (none: empty).
    static func jsonRows(_ text: String?) throws -> [[Any]] {
        guard let text else { return [] }
        guard let rows = try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [[Any]] else {
            throw PostgresStoreError("unreadable stored rows")
        }
        return rows
    }

    static func draft(from row: PostgresRandomAccessRow) throws -> Draft {
        guard let id = DraftID(try row.text("id")), let requester = PersonID(parsing: try row.text("requester")),
            let state = DraftState(rawValue: try row.text("state"))
        else { throw PostgresStoreError("unreadable draft row") }
        var draft = Draft(
            id: id,
            requester: requester,
            question: try row.text("question"),
            target: try row.optionalText("target").map { try decodeJSON(ThreadRef.self, $0) },
            createdAt: Date(millis: try row.int64("created_at")),
            ttl: .zero
        )
        draft.expiresAt = Date(millis: try row.int64("expires_at"))
        draft.state = state
        draft.version = try row.int("version")
        draft.text = try row.text("text")
        draft.sources = try decodeJSON([SourceRef].self, try row.text("sources"))
        draft.riskFlags = try decodeJSON([String].self, try row.text("risk_flags"))
        draft.risks = try decodeJSON([RiskFinding].self, try row.text("risks"))
        draft.redactions = try decodeJSON([RedactedSecret].self, try row.text("redactions"))
        if let version = try row["publish_version"].decode(Int?.self), let hash = try row.optionalText("publish_hash"),
            let at = try row.optionalInt64("publish_at")
        {
            draft.publishRequest = PublishRequest(version: version, contentHash: hash, at: Date(millis: at))
        }
        draft.rejectionReason = try row.optionalText("rejection_reason")
        if let message = try row.optionalText("posted_message_id"), let at = try row.optionalInt64("posted_at") {
            draft.posted = PostedRef(
                messageID: message,
                permalink: try row.optionalText("posted_permalink"),
                at: Date(millis: at)
            )
        }
        func string(_ value: Any) -> String? { (value as? String).map(PGText.decode) }
        func integer(_ value: Any) -> Int64? { (value as? NSNumber)?.int64Value }
        for claim in try jsonRows(try row["claim_rows"].decode(String?.self)) where claim.count == 5 {
            if let version = integer(claim[0]), let hash = string(claim[1]),
                let approver = string(claim[2]).flatMap(PersonID.init(parsing:)),
                let attempts = integer(claim[3]), let at = integer(claim[4])
            {
                draft.claim = PostClaim(
                    version: Int(version),
                    contentHash: hash,
                    approver: approver,
                    attempts: Int(attempts),
                    claimedAt: Date(millis: at)
                )
            }
        }
        for reviewer in try jsonRows(try row["reviewer_rows"].decode(String?.self)) {
            guard reviewer.count == 2, let person = string(reviewer[0]).flatMap(PersonID.init(parsing:)),
                let version = integer(reviewer[1])
            else { throw PostgresStoreError("unreadable reviewer") }
            draft.reviewers[person, default: []].insert(Int(version))
        }
        for approval in try jsonRows(try row["approval_rows"].decode(String?.self)) {
            guard approval.count == 4, let person = string(approval[0]).flatMap(PersonID.init(parsing:)),
                let version = integer(approval[1]),
                let hash = string(approval[2]), let at = integer(approval[3])
            else { throw PostgresStoreError("unreadable approval") }
            draft.approvals.append(
                Approval(approver: person, version: Int(version), contentHash: hash, at: Date(millis: at))
            )
        }
        // What the audit log holds of its publish requests and approvals (not the draft's own rows).
        for evidence in try jsonRows(try row["evidence_rows"].decode(String?.self)) where evidence.count == 3 {
            if let kind = string(evidence[0]), let detail = string(evidence[2]),
                let entry = AuditEvidence.entry(kind: kind, actor: string(evidence[1]), detail: detail)
            {
                draft.evidence.entries.append(entry)
            }
        }
        return draft
    }

    /// A draft's rows, as parts of one write statement: the draft (upserted), its version, reviewers, claim and
    /// approvals.
    static func save(_ draft: Draft, into write: inout WriteStatement, now: Date) throws {
        let id = try write.value(draft.id.rawValue)
        let v = try [
            id, write.value(PGText.encode(draft.requester.description)), write.value(PGText.encode(draft.question)),
            write.value(PGText.encode(try draft.target.map { try json($0) })), write.value(draft.createdAt.millis),
            write.value(draft.expiresAt.millis), write.value(draft.state.rawValue), write.value(draft.version),
            write.value(PGText.encode(draft.text)), write.value(PGText.encode(try json(draft.sources))),
            write.value(PGText.encode(try json(draft.riskFlags))), write.value(PGText.encode(try json(draft.risks))),
            write.value(PGText.encode(try json(draft.redactions))), write.value(draft.publishRequest?.version),
            write.value(draft.publishRequest?.contentHash), write.value(draft.publishRequest?.at.millis),
            write.value(PGText.encode(draft.rejectionReason)), write.value(PGText.encode(draft.posted?.messageID)),
            write.value(PGText.encode(draft.posted?.permalink)), write.value(draft.posted?.at.millis),
            write.value(now.millis),
        ]
        write.add(
            """
            INSERT INTO draft (id, requester, question, target, created_at, expires_at, state, version, text, sources,
                risk_flags, risks, redactions, publish_version, publish_hash, publish_at, rejection_reason, posted_message_id,
                posted_permalink, posted_at, updated_at)
            VALUES (\(v.joined(separator: ", ")))
            ON CONFLICT (id) DO UPDATE SET state = excluded.state, version = excluded.version, text = excluded.text,
                target = excluded.target, question = excluded.question,
                sources = excluded.sources, risk_flags = excluded.risk_flags, risks = excluded.risks,
                redactions = excluded.redactions, publish_version = excluded.publish_version,
                publish_hash = excluded.publish_hash, publish_at = excluded.publish_at,
                rejection_reason = excluded.rejection_reason, posted_message_id = excluded.posted_message_id,
                posted_permalink = excluded.posted_permalink, posted_at = excluded.posted_at, updated_at = excluded.updated_at
            """
        )
        if draft.version > 0 {
            write.add(
                """
                INSERT INTO draft_version (draft_id, version, text, content_hash, created_at)
                VALUES (\(id), \(try write.value(draft.version)), \(try write.value(PGText.encode(draft.text))),
                    \(try write.value(draft.contentHash)), \(try write.value(now.millis)))
                ON CONFLICT DO NOTHING
                """
            )
        }
        let reviewers = draft.reviewers.flatMap { person, versions in versions.sorted().map { (person, $0) } }
        if !reviewers.isEmpty {
            let rows = try reviewers.map {
                "(\(id), \(try write.value(PGText.encode($0.0.description))), \(try write.value($0.1)))"
            }
            write.add(
                "INSERT INTO reviewer (draft_id, person, version) VALUES \(rows.joined(separator: ", ")) ON CONFLICT DO NOTHING"
            )
        }
        if let claim = draft.claim {
            let posted = draft.state == .posted ? draft.posted : nil
            let v = try [
                id, write.value(claim.version), write.value(posted == nil ? "claimed" : "posted"),
                write.value(claim.attempts),
                write.value(claim.claimedAt.millis), write.value(claim.contentHash),
                write.value(PGText.encode(claim.approver.description)),
                write.value(PGText.encode(posted?.messageID)), write.value(PGText.encode(posted?.permalink)),
                write.value(posted?.at.millis),
            ]
            write.add(
                """
                INSERT INTO outbox (draft_id, version, status, attempts, claimed_at, content_hash, approver, message_id, permalink, posted_at)
                VALUES (\(v.joined(separator: ", ")))
                ON CONFLICT (draft_id) DO UPDATE SET version = excluded.version, status = excluded.status,
                    attempts = excluded.attempts, claimed_at = excluded.claimed_at, content_hash = excluded.content_hash,
                    approver = excluded.approver, message_id = excluded.message_id, permalink = excluded.permalink,
                    posted_at = excluded.posted_at
                """
            )
        }
        if !draft.approvals.isEmpty {
            let rows = try draft.approvals.map {
                "(\(id), \(try write.value($0.version)), \(try write.value(PGText.encode($0.approver.description))), \(try write.value($0.contentHash)), \(try write.value($0.at.millis)))"
            }
            write.add(
                "INSERT INTO approval (draft_id, version, approver, content_hash, at) VALUES \(rows.joined(separator: ", ")) ON CONFLICT DO NOTHING"
            )
        }
    }

    /// Appends with the chain's head row locked (until the transaction ends), so the chain stays linear: one
    /// statement locks and reads the head, and the entries go in as one multi-row `INSERT` (each event stamped
    /// with its own decision's time).
    static func appendAudit(
        _ events: [(AuditEvent, Date)],
        connection: PostgresConnection,
        key: AuditKey,
        logger: Logger
    ) async throws {
        guard !events.isEmpty else { return }
        var seq: Int64 = 0
        var hash = AuditChain.genesis
        var locked = false
        // The same statement turns this transaction's commit asynchronous: the head is released as soon as the
        // commit is written, not after its WAL flush; the batch waits for the flush after (see PostgresBatcher).
        for try await (headSeq, headHash, _) in try await connection.query(
            "SELECT seq, hash, set_config('synchronous_commit', 'off', true) FROM audit_head WHERE id = 1 FOR UPDATE",
            logger: logger
        ).decode((Int64, String, String).self) {
            seq = headSeq
            hash = headHash
            locked = true
        }
        guard locked else { throw PostgresStoreError("the audit chain's head row is missing (migration 2)") }
        for chunk in stride(from: 0, to: events.count, by: 1_000).map({ events[$0..<min($0 + 1_000, events.count)] }) {
            var sql =
                "INSERT INTO audit_log (seq, at, kind, platform, actor, draft_id, detail, prev_hash, hash) VALUES "
            var binds = PostgresBindings(capacity: chunk.count * 9)
            for (row, (event, now)) in chunk.enumerated() {
                let entry = AuditChain.entry(for: event, at: now, previousSeq: seq, previousHash: hash, key: key)
                let base = row * 9
                sql += (row == 0 ? "" : ", ") + "(" + (1...9).map { "$\(base + $0)" }.joined(separator: ", ") + ")"
                binds.append(entry.seq)
                binds.append(entry.atMillis)
                binds.append(PGText.encode(entry.kind))
                binds.append(PGText.encode(entry.platform))
                binds.append(PGText.encode(entry.actor))
                binds.append(PGText.encode(entry.draftID))
                binds.append(PGText.encode(entry.detail))
                binds.append(entry.prevHash)
                binds.append(entry.hash)
                seq = entry.seq
                hash = entry.hash
            }
            try await connection.query(PostgresQuery(unsafeSQL: sql, binds: binds), logger: logger)
        }
    }

    /// Writes a decision's rows (everything but its audit events, which the batch appends last).
    static func apply(_ changes: Changes, connection: PostgresConnection, now: Date, logger: Logger) async throws {
        if let delivery = changes.delivery {
            let fresh = try await insertDeliveries([delivery], connection: connection, now: now, logger: logger)
            guard fresh.contains(delivery) else { throw DuplicateDelivery() }
        }
        // Everything else in one statement: one round trip, whatever the decision wrote.
        var write = WriteStatement()
        try rows(of: changes, into: &write, now: now)
        if let query = write.query { try await connection.query(query, logger: logger) }
    }

    /// A decision's rows but its delivery key and audit events, as parts of one write statement.
    static func rows(of changes: Changes, into write: inout WriteStatement, now: Date) throws {
        if let draft = changes.draft { try save(draft, into: &write, now: now) }
        if let job = changes.completedJob {
            write.add("UPDATE job SET status = 'done', locked_until = NULL WHERE id = \(try write.value(job))")
        }
        if let failed = changes.failedJob {
            write.add(
                "UPDATE job SET status = 'failed', locked_until = NULL, last_error = \(try write.value(PGText.encode(failed.error))) WHERE id = \(try write.value(failed.id))"
            )
        }
        if !changes.jobs.isEmpty {
            let at = try write.value(now.millis)
            let rows = try changes.jobs.map {
                "(\(try write.value($0.kind.rawValue)), \(try write.value(PGText.encode(try json($0)))), \(try write.value($0.draftID?.rawValue)), \(at)::bigint, \(at)::bigint)"
            }
            write.add(
                "INSERT INTO job (kind, payload, draft_id, run_at, created_at) VALUES \(rows.joined(separator: ", "))"
            )
        }
    }

    /// Records the delivery keys of several decisions in one statement; returns which were new (the first of two
    /// decisions with the same key wins).
    static func insertDeliveries(
        _ deliveries: [DeliveryKey],
        connection: PostgresConnection,
        now: Date,
        logger: Logger
    ) async throws -> Set<DeliveryKey> {
        guard !deliveries.isEmpty else { return [] }
        var binds = PostgresBindings(capacity: deliveries.count * 2 + 1)
        binds.append(now.millis)
        var values: [String] = []
        for delivery in deliveries {
            binds.append(PGText.encode(delivery.platform.rawValue))
            binds.append(PGText.encode(delivery.key))
            values.append("($\(binds.count - 1), $\(binds.count), $1::bigint)")
        }
        let sql =
            "INSERT INTO delivery (platform, key, received_at) VALUES \(values.joined(separator: ", ")) ON CONFLICT DO NOTHING RETURNING platform, key"
        var inserted = Set<DeliveryKey>()
        for try await (platform, key) in try await connection.query(
            PostgresQuery(unsafeSQL: sql, binds: binds),
            logger: logger
        )
        .decode((String, String).self) {
            inserted.insert(
                DeliveryKey(platform: PlatformName(rawValue: PGText.decode(platform)), key: PGText.decode(key))
            )
        }
        return inserted
    }
}

/// Several writes sent as one statement: each a data-modifying `WITH` part, the values bound (`$n`) across all
/// of them. PostgreSQL checks foreign keys at the end of the statement, so a draft and its version rows can go
/// together.
struct WriteStatement {
    private(set) var parts: [String] = []
    private var binds = PostgresBindings()

    /// Binds `value` and returns its placeholder.
    mutating func value<Value: PostgresThrowingDynamicTypeEncodable>(_ value: Value) throws -> String {
        try binds.append(value)
        return "$\(binds.count)"
    }

    mutating func value<Value: PostgresThrowingDynamicTypeEncodable>(_ value: Value?) throws -> String {
        try binds.append(value)
        return "$\(binds.count)"
    }

    mutating func add(_ sql: String) { parts.append(sql) }

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

extension PostgresStore: ManagedStore {}

extension PostgresStore: DraftStore {
    public func updateDraft<T: Sendable>(
        _ id: DraftID,
        at now: Date,
        _ body: @escaping @Sendable (Draft) -> (Changes, T)
    ) async throws -> T? {
        let logger = self.logger
        return try await batcher.write(at: now) { connection -> (events: [AuditEvent], result: T?) in
            guard let draft = try await Self.loadDraft(connection, id: id, lock: true, logger: logger) else {
                return ([], nil)
            }
            let (changes, result) = body(draft)
            try await Self.apply(changes, connection: connection, now: now, logger: logger)
            return (changes.audit, result)
        }
    }

    public func commit(_ changes: Changes, at now: Date) async throws {
        try await batcher.commit(changes, at: now)
    }

    public func draft(_ id: DraftID) async throws -> Draft? {
        let logger = self.logger
        return try await client.withConnection { connection in
            try await Self.loadDraft(connection, id: id, lock: false, logger: logger)
        }
    }

    public func drafts(_ filter: DraftFilter) async throws -> [Draft] {
        let logger = self.logger
        let requester = filter.requester.map { PGText.encode($0.description) }
        let reviewer = filter.reviewer.map { PGText.encode($0.description) }
        let states = filter.states.map { $0.map(\.rawValue).sorted() }
        let limit = max(1, filter.limit)
        return try await client.withConnection { connection in
            let rows = try await connection.query(
                """
                SELECT id FROM draft
                WHERE (\(requester)::text IS NULL OR requester = \(requester))
                  AND (\(reviewer)::text IS NULL OR id IN (SELECT draft_id FROM reviewer WHERE person = \(reviewer)))
                  AND (\(states)::text[] IS NULL OR state = ANY(\(states)))
                ORDER BY created_at DESC LIMIT \(limit)
                """,
                logger: logger
            )
            var ids: [DraftID] = []
            for try await id in rows.decode(String.self) { if let draftID = DraftID(id) { ids.append(draftID) } }
            var drafts: [Draft] = []
            for id in ids {
                if let draft = try await Self.loadDraft(connection, id: id, lock: false, logger: logger) {
                    drafts.append(draft)
                }
            }
            return drafts
        }
    }
}

extension PostgresStore: Housekeeping {
    public func draftsPastTTL(at now: Date, limit: Int) async throws -> [DraftID] {
        let rows = try await client.query(
            """
            SELECT id FROM draft WHERE expires_at <= \(now.millis)
              AND state IN ('requested', 'answered', 'revised', 'publish_requested', 'approved')
            ORDER BY expires_at LIMIT \(max(1, limit))
            """,
            logger: logger
        )
        var ids: [DraftID] = []
        for try await id in rows.decode(String.self) { if let draftID = DraftID(id) { ids.append(draftID) } }
        return ids
    }

    public func countDrafts(states: Set<DraftState>) async throws -> Int {
        guard !states.isEmpty else { return 0 }
        let list = states.map(\.rawValue).sorted()
        for try await count in try await client.query(
            "SELECT count(*) FROM draft WHERE state = ANY(\(list))",
            logger: logger
        ).decode(Int.self) {
            return count
        }
        return 0
    }

    public func prune(deliveriesBefore: Date, jobsBefore: Date) async throws {
        let logger = self.logger
        try await transaction { connection in
            try await connection.query(
                "DELETE FROM delivery WHERE received_at < \(deliveriesBefore.millis)",
                logger: logger
            )
            try await connection.query(
                "DELETE FROM job WHERE status IN ('done', 'failed') AND created_at < \(jobsBefore.millis)",
                logger: logger
            )
        }
    }
}

extension PostgresStore: JobQueue {
    public func claimJob(at now: Date, lease: Duration) async throws -> Job? {
        let until = now.millis + lease.milliseconds
        let rows = try await client.query(
            """
            UPDATE job SET locked_until = \(until), attempts = attempts + 1
            WHERE id = (SELECT id FROM job WHERE status = 'pending' AND run_at <= \(now.millis)
                        AND (locked_until IS NULL OR locked_until < \(now.millis))
                        ORDER BY run_at, id LIMIT 1 FOR UPDATE SKIP LOCKED)
            RETURNING id, payload, attempts
            """,
            logger: logger
        )
        for try await (id, payload, attempts) in rows.decode((Int64, String, Int).self) {
            return Job(id: id, payload: try decodeJSON(JobPayload.self, PGText.decode(payload)), attempt: attempts)
        }
        return nil
    }

    public func extendLease(_ id: Int64, until: Date) async throws {
        try await client.query(
            "UPDATE job SET locked_until = \(until.millis) WHERE id = \(id) AND status = 'pending' AND locked_until IS NOT NULL",
            logger: logger
        )
    }

    public func retryJob(_ id: Int64, runAt: Date, error: String) async throws {
        try await client.query(
            "UPDATE job SET run_at = \(runAt.millis), locked_until = NULL, last_error = \(PGText.encode(error)) WHERE id = \(id)",
            logger: logger
        )
    }

    public func nextJobDue() async throws -> Date? {
        for try await millis in try await client.query(
            "SELECT min(greatest(run_at, COALESCE(locked_until, 0))) FROM job WHERE status = 'pending'",
            logger: logger
        ).decode(Int64?.self) {
            return millis.map(Date.init(millis:))
        }
        return nil
    }
}

extension PostgresStore: AuditLog {
    public func appendAudit(_ events: [AuditEvent], at now: Date) async throws {
        try await batcher.write(at: now) { _ -> (events: [AuditEvent], result: Bool) in (events, true) }
    }

    static func entry(_ row: PostgresRandomAccessRow) throws -> AuditEntry {
        AuditEntry(
            seq: try row.int64("seq"),
            atMillis: try row.int64("at"),
            kind: try row.text("kind"),
            platform: try row.optionalText("platform"),
            actor: try row.optionalText("actor"),
            draftID: try row.optionalText("draft_id"),
            detail: try row.text("detail"),
            prevHash: try row.text("prev_hash"),
            hash: try row.text("hash")
        )
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
                for try await row in try await connection.query(
                    "SELECT * FROM audit_log WHERE seq > \(after) ORDER BY seq LIMIT 10000",
                    logger: logger
                ) {
                    let entry = try Self.entry(row.makeRandomAccess())
                    if let failure = verifier.check(entry) { return .broken(failure) }
                    after = entry.seq
                    read += 1
                }
                if read < 10000 { break }
            }
            var last: Int64?
            for try await value in try await connection.query("SELECT max(seq) FROM audit_log", logger: logger).decode(
                Int64?.self
            ) {
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
        let since = since?.millis
        let draft = draftID?.rawValue
        var after: Int64 = 0
        while true {
            var read = 0
            for try await row in try await client.query(
                """
                SELECT * FROM audit_log WHERE seq > \(after) AND (\(since)::bigint IS NULL OR at >= \(since))
                  AND (\(draft)::text IS NULL OR draft_id = \(draft)) ORDER BY seq LIMIT 10000
                """,
                logger: logger
            ) {
                let entry = try Self.entry(row.makeRandomAccess())
                try body(entry)
                after = entry.seq
                read += 1
            }
            if read < 10000 { return }
        }
    }
}
