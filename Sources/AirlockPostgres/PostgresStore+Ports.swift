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

    static func loadDraft(_ connection: PostgresConnection, id: DraftID, lock: Bool, logger: Logger) async throws -> Draft? {
        let rows = try await connection.query(
            lock ? "SELECT * FROM draft WHERE id = \(id.rawValue) FOR UPDATE" : "SELECT * FROM draft WHERE id = \(id.rawValue)",
            logger: logger)
        for try await row in rows { return try await draft(from: row.makeRandomAccess(), connection: connection, logger: logger) }
        return nil
    }

    static func draft(from row: PostgresRandomAccessRow, connection: PostgresConnection, logger: Logger) async throws -> Draft {
        guard let id = DraftID(try row.text("id")), let requester = PersonID(parsing: try row.text("requester")),
            let state = DraftState(rawValue: try row.text("state"))
        else { throw PostgresStoreError("unreadable draft row") }
        var draft = Draft(
            id: id, requester: requester, question: try row.text("question"),
            target: try row.optionalText("target").map { try decodeJSON(ThreadRef.self, $0) },
            createdAt: Date(millis: try row.int64("created_at")), ttl: .zero)
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
            draft.posted = PostedRef(messageID: message, permalink: try row.optionalText("posted_permalink"), at: Date(millis: at))
        }
        for try await (version, hash, approver, attempts, claimedAt) in try await connection.query(
            "SELECT version, content_hash, approver, attempts, claimed_at FROM outbox WHERE draft_id = \(id.rawValue)", logger: logger
        ).decode((Int, String?, String?, Int, Int64).self) {
            if let hash, let approver = approver.flatMap({ PersonID(parsing: PGText.decode($0)) }) {
                draft.claim = PostClaim(
                    version: version, contentHash: hash, approver: approver, attempts: attempts, claimedAt: Date(millis: claimedAt))
            }
        }
        for try await (person, version) in try await connection.query(
            "SELECT person, version FROM reviewer WHERE draft_id = \(id.rawValue)", logger: logger
        ).decode((String, Int).self) {
            guard let reviewer = PersonID(parsing: PGText.decode(person)) else { throw PostgresStoreError("unreadable reviewer") }
            draft.reviewers[reviewer, default: []].insert(version)
        }
        for try await (approver, version, hash, at) in try await connection.query(
            "SELECT approver, version, content_hash, at FROM approval WHERE draft_id = \(id.rawValue) AND version = \(draft.version) ORDER BY at",
            logger: logger
        ).decode((String, Int, String, Int64).self) {
            guard let person = PersonID(parsing: PGText.decode(approver)) else { throw PostgresStoreError("unreadable approval") }
            draft.approvals.append(Approval(approver: person, version: version, contentHash: hash, at: Date(millis: at)))
        }
        // What the audit log holds of its publish requests and approvals (not the draft's own rows).
        for try await (kind, actor, detail) in try await connection.query(
            "SELECT kind, actor, detail FROM audit_log WHERE draft_id = \(id.rawValue) AND kind IN ('publish_requested', 'approval')",
            logger: logger
        ).decode((String, String?, String).self) {
            if let entry = AuditEvidence.entry(kind: kind, actor: actor.map(PGText.decode), detail: PGText.decode(detail)) {
                draft.evidence.entries.append(entry)
            }
        }
        return draft
    }

    static func save(_ draft: Draft, connection: PostgresConnection, now: Date, logger: Logger) async throws {
        let target = PGText.encode(try draft.target.map { try json($0) })
        try await connection.query(
            """
            INSERT INTO draft (id, requester, question, target, created_at, expires_at, state, version, text, sources,
                risk_flags, risks, redactions, publish_version, publish_hash, publish_at, rejection_reason, posted_message_id,
                posted_permalink, posted_at, updated_at)
            VALUES (\(draft.id.rawValue), \(PGText.encode(draft.requester.description)), \(PGText.encode(draft.question)),
                \(target), \(draft.createdAt.millis), \(draft.expiresAt.millis), \(draft.state.rawValue), \(draft.version),
                \(PGText.encode(draft.text)), \(PGText.encode(try json(draft.sources))), \(PGText.encode(try json(draft.riskFlags))),
                \(PGText.encode(try json(draft.risks))), \(PGText.encode(try json(draft.redactions))), \(draft.publishRequest?.version),
                \(draft.publishRequest?.contentHash), \(draft.publishRequest?.at.millis), \(PGText.encode(draft.rejectionReason)),
                \(PGText.encode(draft.posted?.messageID)), \(PGText.encode(draft.posted?.permalink)), \(draft.posted?.at.millis),
                \(now.millis))
            ON CONFLICT (id) DO UPDATE SET state = excluded.state, version = excluded.version, text = excluded.text,
                target = excluded.target, question = excluded.question,
                sources = excluded.sources, risk_flags = excluded.risk_flags, risks = excluded.risks,
                redactions = excluded.redactions, publish_version = excluded.publish_version,
                publish_hash = excluded.publish_hash, publish_at = excluded.publish_at,
                rejection_reason = excluded.rejection_reason, posted_message_id = excluded.posted_message_id,
                posted_permalink = excluded.posted_permalink, posted_at = excluded.posted_at, updated_at = excluded.updated_at
            """, logger: logger)
        if draft.version > 0 {
            try await connection.query(
                """
                INSERT INTO draft_version (draft_id, version, text, content_hash, created_at)
                VALUES (\(draft.id.rawValue), \(draft.version), \(PGText.encode(draft.text)), \(draft.contentHash), \(now.millis))
                ON CONFLICT DO NOTHING
                """, logger: logger)
        }
        for (person, versions) in draft.reviewers {
            for version in versions {
                try await connection.query(
                    "INSERT INTO reviewer (draft_id, person, version) VALUES (\(draft.id.rawValue), \(PGText.encode(person.description)), \(version)) ON CONFLICT DO NOTHING",
                    logger: logger)
            }
        }
        if let claim = draft.claim {
            let posted = draft.state == .posted ? draft.posted : nil
            try await connection.query(
                """
                INSERT INTO outbox (draft_id, version, status, attempts, claimed_at, content_hash, approver, message_id, permalink, posted_at)
                VALUES (\(draft.id.rawValue), \(claim.version), \(posted == nil ? "claimed" : "posted"), \(claim.attempts),
                    \(claim.claimedAt.millis), \(claim.contentHash), \(PGText.encode(claim.approver.description)),
                    \(PGText.encode(posted?.messageID)), \(PGText.encode(posted?.permalink)), \(posted?.at.millis))
                ON CONFLICT (draft_id) DO UPDATE SET version = excluded.version, status = excluded.status,
                    attempts = excluded.attempts, claimed_at = excluded.claimed_at, content_hash = excluded.content_hash,
                    approver = excluded.approver, message_id = excluded.message_id, permalink = excluded.permalink,
                    posted_at = excluded.posted_at
                """, logger: logger)
        }
        for approval in draft.approvals {
            try await connection.query(
                """
                INSERT INTO approval (draft_id, version, approver, content_hash, at)
                VALUES (\(draft.id.rawValue), \(approval.version), \(PGText.encode(approval.approver.description)),
                    \(approval.contentHash), \(approval.at.millis))
                ON CONFLICT DO NOTHING
                """, logger: logger)
        }
    }

    /// Appends under the audit advisory lock (held until the transaction ends), so the chain stays linear.
    static func appendAudit(_ events: [AuditEvent], connection: PostgresConnection, now: Date, key: AuditKey, logger: Logger) async throws {
        guard !events.isEmpty else { return }
        try await connection.query("SELECT pg_advisory_xact_lock(\(auditLock))", logger: logger)
        var seq: Int64 = 0
        var hash = AuditChain.genesis
        for try await (headSeq, headHash) in try await connection.query(
            "SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1", logger: logger
        ).decode((Int64, String).self) {
            seq = headSeq
            hash = headHash
        }
        for event in events {
            let entry = AuditChain.entry(for: event, at: now, previousSeq: seq, previousHash: hash, key: key)
            try await connection.query(
                """
                INSERT INTO audit_log (seq, at, kind, platform, actor, draft_id, detail, prev_hash, hash)
                VALUES (\(entry.seq), \(entry.atMillis), \(PGText.encode(entry.kind)), \(PGText.encode(entry.platform)),
                    \(PGText.encode(entry.actor)), \(PGText.encode(entry.draftID)), \(PGText.encode(entry.detail)),
                    \(entry.prevHash), \(entry.hash))
                """, logger: logger)
            seq = entry.seq
            hash = entry.hash
        }
    }

    static func apply(_ changes: Changes, connection: PostgresConnection, now: Date, key: AuditKey, logger: Logger) async throws {
        if let delivery = changes.delivery {
            var inserted = false
            for try await _ in try await connection.query(
                """
                INSERT INTO delivery (platform, key, received_at) VALUES (\(PGText.encode(delivery.platform.rawValue)),
                    \(PGText.encode(delivery.key)), \(now.millis)) ON CONFLICT DO NOTHING RETURNING 1
                """, logger: logger)
            {
                inserted = true
            }
            if !inserted { throw DuplicateDelivery() }
        }
        if let draft = changes.draft { try await save(draft, connection: connection, now: now, logger: logger) }
        if let job = changes.completedJob {
            try await connection.query("UPDATE job SET status = 'done', locked_until = NULL WHERE id = \(job)", logger: logger)
        }
        if let failed = changes.failedJob {
            try await connection.query(
                "UPDATE job SET status = 'failed', locked_until = NULL, last_error = \(PGText.encode(failed.error)) WHERE id = \(failed.id)",
                logger: logger)
        }
        for job in changes.jobs {
            try await connection.query(
                """
                INSERT INTO job (kind, payload, draft_id, run_at, created_at)
                VALUES (\(job.kind), \(PGText.encode(try json(job))), \(job.draftID?.rawValue), \(now.millis), \(now.millis))
                """, logger: logger)
        }
        try await appendAudit(changes.audit, connection: connection, now: now, key: key, logger: logger)
    }
}

extension PostgresStore: ManagedStore {}

extension PostgresStore: DraftStore {
    public func updateDraft<T: Sendable>(
        _ id: DraftID,
        at now: Date,
        _ body: @escaping @Sendable (Draft) -> (Changes, T)
    ) async throws -> T? {
        let (key, logger) = (auditKey, self.logger)
        return try await transaction { connection in
            guard let draft = try await Self.loadDraft(connection, id: id, lock: true, logger: logger) else { return nil }
            let (changes, result) = body(draft)
            try await Self.apply(changes, connection: connection, now: now, key: key, logger: logger)
            return result
        }
    }

    public func commit(_ changes: Changes, at now: Date) async throws {
        let (key, logger) = (auditKey, self.logger)
        try await transaction { connection in try await Self.apply(changes, connection: connection, now: now, key: key, logger: logger) }
    }

    public func draft(_ id: DraftID) async throws -> Draft? {
        let logger = self.logger
        return try await client.withConnection { connection in try await Self.loadDraft(connection, id: id, lock: false, logger: logger) }
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
                """, logger: logger)
            var ids: [DraftID] = []
            for try await id in rows.decode(String.self) { if let draftID = DraftID(id) { ids.append(draftID) } }
            var drafts: [Draft] = []
            for id in ids {
                if let draft = try await Self.loadDraft(connection, id: id, lock: false, logger: logger) { drafts.append(draft) }
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
            """, logger: logger)
        var ids: [DraftID] = []
        for try await id in rows.decode(String.self) { if let draftID = DraftID(id) { ids.append(draftID) } }
        return ids
    }

    public func countDrafts(states: Set<DraftState>) async throws -> Int {
        guard !states.isEmpty else { return 0 }
        let list = states.map(\.rawValue).sorted()
        for try await count in try await client.query("SELECT count(*) FROM draft WHERE state = ANY(\(list))", logger: logger).decode(Int.self) {
            return count
        }
        return 0
    }

    public func prune(deliveriesBefore: Date, jobsBefore: Date) async throws {
        let logger = self.logger
        try await transaction { connection in
            try await connection.query("DELETE FROM delivery WHERE received_at < \(deliveriesBefore.millis)", logger: logger)
            try await connection.query(
                "DELETE FROM job WHERE status IN ('done', 'failed') AND created_at < \(jobsBefore.millis)", logger: logger)
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
            """, logger: logger)
        for try await (id, payload, attempts) in rows.decode((Int64, String, Int).self) {
            return Job(id: id, payload: try decodeJSON(JobPayload.self, PGText.decode(payload)), attempt: attempts)
        }
        return nil
    }

    public func extendLease(_ id: Int64, until: Date) async throws {
        try await client.query(
            "UPDATE job SET locked_until = \(until.millis) WHERE id = \(id) AND status = 'pending' AND locked_until IS NOT NULL",
            logger: logger)
    }

    public func retryJob(_ id: Int64, runAt: Date, error: String) async throws {
        try await client.query(
            "UPDATE job SET run_at = \(runAt.millis), locked_until = NULL, last_error = \(PGText.encode(error)) WHERE id = \(id)",
            logger: logger)
    }

    public func nextJobDue() async throws -> Date? {
        for try await millis in try await client.query(
            "SELECT min(greatest(run_at, COALESCE(locked_until, 0))) FROM job WHERE status = 'pending'", logger: logger
        ).decode(Int64?.self) {
            return millis.map(Date.init(millis:))
        }
        return nil
    }
}

extension PostgresStore: AuditLog {
    public func appendAudit(_ events: [AuditEvent], at now: Date) async throws {
        let (key, logger) = (auditKey, self.logger)
        try await transaction { connection in try await Self.appendAudit(events, connection: connection, now: now, key: key, logger: logger) }
    }

    static func entry(_ row: PostgresRandomAccessRow) throws -> AuditEntry {
        AuditEntry(
            seq: try row.int64("seq"), atMillis: try row.int64("at"), kind: try row.text("kind"),
            platform: try row.optionalText("platform"), actor: try row.optionalText("actor"),
            draftID: try row.optionalText("draft_id"), detail: try row.text("detail"), prevHash: try row.text("prev_hash"),
            hash: try row.text("hash"))
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
                    "SELECT * FROM audit_log WHERE seq > \(after) ORDER BY seq LIMIT 10000", logger: logger)
                {
                    let entry = try Self.entry(row.makeRandomAccess())
                    if let failure = verifier.check(entry) { return .broken(failure) }
                    after = entry.seq
                    read += 1
                }
                if read < 10000 { break }
            }
            var last: Int64?
            for try await value in try await connection.query("SELECT max(seq) FROM audit_log", logger: logger).decode(Int64?.self) {
                last = value
            }
            if let failure = verifier.checkEnd(lastSeqInStore: last) { return .broken(failure) }
            return .intact(entries: verifier.count, headHash: verifier.headHash)
        }
    }

    public func exportAudit(since: Date?, draftID: DraftID?, _ body: @escaping @Sendable (AuditEntry) throws -> Void) async throws {
        let since = since?.millis
        let draft = draftID?.rawValue
        var after: Int64 = 0
        while true {
            var read = 0
            for try await row in try await client.query(
                """
                SELECT * FROM audit_log WHERE seq > \(after) AND (\(since)::bigint IS NULL OR at >= \(since))
                  AND (\(draft)::text IS NULL OR draft_id = \(draft)) ORDER BY seq LIMIT 10000
                """, logger: logger)
            {
                let entry = try Self.entry(row.makeRandomAccess())
                try body(entry)
                after = entry.seq
                read += 1
            }
            if read < 10000 { return }
        }
    }
}
