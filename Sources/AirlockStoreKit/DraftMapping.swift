public import AirlockDomain
public import Foundation

/// A draft and its rows, mapped once for both stores: the columns it is saved as, and how it is read back from
/// them (the draft row, and its child rows as lists of values in the order `Child.columns` names).
public enum DraftMapping {
    /// The draft table's columns, in the order `save` binds them.
    public static let columns = [
        "id", "requester", "question", "target", "created_at", "expires_at", "state", "version", "text", "sources",
        "risk_flags", "risks", "redactions", "publish_version", "publish_hash", "publish_at", "rejection_reason",
        "posted_message_id", "posted_permalink", "posted_at", "updated_at",
    ]
    /// Set when a draft is created, never changed by an update.
    static let fixedColumns: Set = ["id", "requester", "created_at", "expires_at"]

    static let upsert =
        "INSERT INTO draft (\(columns.joined(separator: ", "))) VALUES (\(StoreSQL.placeholders(columns.count)))"
        + " ON CONFLICT (id) DO UPDATE SET "
        + columns.filter { !fixedColumns.contains($0) }.map { "\($0) = excluded.\($0)" }.joined(separator: ", ")

    /// The rows read with a draft, each a list of values in `columns` order.
    public enum Child: CaseIterable, Sendable {
        /// The publisher's claim (its outbox row).
        case claim
        /// Who was sent which version for review.
        case reviewers
        /// Approvals of the current version.
        case approvals
        /// What the audit log holds of its publish requests and approvals (not the draft's own rows).
        case evidence

        public var columns: [String] {
            switch self {
            case .claim: ["version", "content_hash", "approver", "attempts", "claimed_at"]
            case .reviewers: ["person", "version"]
            case .approvals: ["approver", "version", "content_hash", "at"]
            case .evidence: ["kind", "actor", "detail"]
            }
        }

        public var table: String {
            switch self {
            case .claim: "outbox"
            case .reviewers: "reviewer"
            case .approvals: "approval"
            case .evidence: "audit_log"
            }
        }

        /// Which of the table's rows (`c`) belong to the draft (`d`).
        public var condition: String {
            switch self {
            case .claim, .reviewers: "c.draft_id = d.id"
            case .approvals: "c.draft_id = d.id AND c.version = d.version"
            case .evidence: "c.draft_id = d.id AND c.kind IN ('publish_requested', 'approval')"
            }
        }

        /// The order the rows are read in, if it matters.
        public var order: String? {
            switch self {
            case .claim, .reviewers: nil
            case .approvals: "c.at"
            case .evidence: "c.seq"
            }
        }

        /// A query for this child's rows of the draft whose id is bound to `?`.
        public var query: String {
            "SELECT \(columns.map { "c.\($0)" }.joined(separator: ", ")) FROM draft d JOIN \(table) c ON \(condition)"
                + " WHERE d.id = ?" + (order.map { " ORDER BY \($0)" } ?? "")
        }
    }

    // MARK: writing

    /// A draft's rows as statements: the draft (upserted), its current version, its reviewers, its claim and its
    /// approvals. Each statement's text depends only on the kind of row, so a driver can prepare it once.
    public static func save(_ draft: Draft, at now: Date) throws -> [SQLStatement] {
        let id = SQLValue.text(draft.id.rawValue)
        var statements = [
            SQLStatement(
                upsert,
                [
                    id, .text(draft.requester.description), .text(draft.question),
                    .text(try draft.target.map { try Encoding.encode($0) }), .integer(draft.createdAt.millis),
                    .integer(draft.expiresAt.millis), .text(draft.state.rawValue), .int(draft.version),
                    .text(draft.text), .text(try Encoding.encodeList(draft.sources)),
                    .text(try Encoding.encodeList(draft.riskFlags)), .text(try Encoding.encodeList(draft.risks)),
                    .text(try Encoding.encodeList(draft.redactions)), .int(draft.publishRequest?.version),
                    .text(draft.publishRequest?.contentHash), .integer(draft.publishRequest?.at.millis),
                    .text(draft.rejectionReason), .text(draft.posted?.messageID), .text(draft.posted?.permalink),
                    .integer(draft.posted?.at.millis), .integer(now.millis),
                ]
            )
        ]
        if draft.version > 0 {
            statements.append(
                SQLStatement(
                    """
                    INSERT INTO draft_version (draft_id, version, text, content_hash, created_at) VALUES (?, ?, ?, ?, ?)
                    ON CONFLICT DO NOTHING
                    """,
                    [id, .int(draft.version), .text(draft.text), .text(draft.contentHash), .integer(now.millis)]
                )
            )
        }
        for (person, versions) in draft.reviewers.sorted(by: { $0.key.description < $1.key.description }) {
            for version in versions.sorted() {
                statements.append(
                    SQLStatement(
                        "INSERT INTO reviewer (draft_id, person, version) VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
                        [id, .text(person.description), .int(version)]
                    )
                )
            }
        }
        if let claim = draft.claim {
            let posted = draft.state == .posted ? draft.posted : nil
            statements.append(
                SQLStatement(
                    """
                    INSERT INTO outbox (draft_id, version, status, attempts, claimed_at, content_hash, approver,
                        message_id, permalink, posted_at)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                    ON CONFLICT (draft_id) DO UPDATE SET version = excluded.version, status = excluded.status,
                        attempts = excluded.attempts, claimed_at = excluded.claimed_at,
                        content_hash = excluded.content_hash, approver = excluded.approver,
                        message_id = excluded.message_id, permalink = excluded.permalink, posted_at = excluded.posted_at
                    """,
                    [
                        id, .int(claim.version), .text(posted == nil ? "claimed" : "posted"), .int(claim.attempts),
                        .integer(claim.claimedAt.millis), .text(claim.contentHash), .text(claim.approver.description),
                        .text(posted?.messageID), .text(posted?.permalink), .integer(posted?.at.millis),
                    ]
                )
            )
        }
        for approval in draft.approvals {
            statements.append(
                SQLStatement(
                    """
                    INSERT INTO approval (draft_id, version, approver, content_hash, at) VALUES (?, ?, ?, ?, ?)
                    ON CONFLICT DO NOTHING
                    """,
                    [
                        id, .int(approval.version), .text(approval.approver.description), .text(approval.contentHash),
                        .integer(approval.at.millis),
                    ]
                )
            )
        }
        return statements
    }

    // MARK: reading

    /// The draft row with id bound to `?` (the driver adds its row lock).
    public static let selectByID = "SELECT \(columns.joined(separator: ", ")) FROM draft d WHERE d.id = ?"

    /// Reads a draft back from its row and its child rows.
    public static func draft(from row: some StoredRow, children: [Child: [[SQLValue]]]) throws -> Draft {
        func text(_ column: String) throws -> String { try row.required(column, table: "draft") }
        func integer(_ column: String) throws -> Int64 { try row.requiredInteger(column, table: "draft") }
        guard let id = DraftID(try text("id")) else { throw StoreKitError.corruptRow(table: "draft", column: "id") }
        guard let requester = PersonID(parsing: try text("requester")) else {
            throw StoreKitError.corruptRow(table: "draft", column: "requester")
        }
        guard let state = DraftState(rawValue: try text("state")) else {
            throw StoreKitError.corruptRow(table: "draft", column: "state")
        }
        var draft = Draft(
            id: id,
            requester: requester,
            question: try text("question"),
            target: try row.text("target").map { try Encoding.decode(ThreadRef.self, $0, table: "draft") },
            createdAt: Date(millis: try integer("created_at")),
            ttl: .zero
        )
        draft.expiresAt = Date(millis: try integer("expires_at"))
        draft.state = state
        draft.version = Int(try integer("version"))
        draft.text = try text("text")
        draft.sources = try Encoding.decode([SourceRef].self, try text("sources"), table: "draft")
        draft.riskFlags = try Encoding.decode([String].self, try text("risk_flags"), table: "draft")
        draft.risks = try Encoding.decode([RiskFinding].self, try text("risks"), table: "draft")
        draft.redactions = try Encoding.decode([RedactedSecret].self, try text("redactions"), table: "draft")
        if let version = try row.integer("publish_version"), let hash = try row.text("publish_hash"),
            let at = try row.integer("publish_at")
        {
            draft.publishRequest = PublishRequest(version: Int(version), contentHash: hash, at: Date(millis: at))
        }
        draft.rejectionReason = try row.text("rejection_reason")
        if let messageID = try row.text("posted_message_id"), let at = try row.integer("posted_at") {
            draft.posted = PostedRef(
                messageID: messageID,
                permalink: try row.text("posted_permalink"),
                at: Date(millis: at)
            )
        }
        for claim in children[.claim] ?? [] {
            // A claim row written by an older release has no approver or hash: it is not a claim the gate relies on.
            guard let approver = claim[2].text.flatMap(PersonID.init(parsing:)), let hash = claim[1].text else {
                continue
            }
            draft.claim = PostClaim(
                version: Int(try value(claim[0], "version", of: "outbox")),
                contentHash: hash,
                approver: approver,
                attempts: Int(try value(claim[3], "attempts", of: "outbox")),
                claimedAt: Date(millis: try value(claim[4], "claimed_at", of: "outbox"))
            )
        }
        for reviewer in children[.reviewers] ?? [] {
            guard let person = reviewer[0].text.flatMap(PersonID.init(parsing:)) else {
                throw StoreKitError.corruptRow(table: "reviewer", column: "person")
            }
            draft.reviewers[person, default: []].insert(Int(try value(reviewer[1], "version", of: "reviewer")))
        }
        draft.approvals = try (children[.approvals] ?? []).map { approval in
            guard let approver = approval[0].text.flatMap(PersonID.init(parsing:)), let hash = approval[2].text else {
                throw StoreKitError.corruptRow(table: "approval", column: "approver")
            }
            return Approval(
                approver: approver,
                version: Int(try value(approval[1], "version", of: "approval")),
                contentHash: hash,
                at: Date(millis: try value(approval[3], "at", of: "approval"))
            )
        }
        for entry in children[.evidence] ?? [] {
            if let kind = entry[0].text, let detail = entry[2].text,
                let evidence = AuditEvidence.entry(kind: kind, actor: entry[1].text, detail: detail)
            {
                draft.evidence.entries.append(evidence)
            }
        }
        return draft
    }

    private static func value(_ value: SQLValue, _ column: String, of table: String) throws -> Int64 {
        guard let integer = value.integer else { throw StoreKitError.corruptRow(table: table, column: column) }
        return integer
    }
}
