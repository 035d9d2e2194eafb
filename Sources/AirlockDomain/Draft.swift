public import Foundation

/// Where a draft is in the gate.
public enum DraftState: String, Sendable, Codable, CaseIterable {
    /// The question is recorded; the agent has not answered yet.
    case requested
    /// The agent's answer was sent to the requester by DM.
    case answered
    /// The requester replaced the answer text; publish and approvals were cleared.
    case revised
    /// The requester asked to publish the current text; waiting for an approver.
    case publishRequested = "publish_requested"
    /// A distinct authorised approver approved the current text; the publisher will post it.
    case approved
    /// The publisher claimed the post: it is in flight (or its outcome is being reconciled). Revise and reject
    /// are refused until it is confirmed, so what is recorded as posted is what was claimed.
    case publishing
    /// The answer is public in the original thread. Final.
    case posted
    /// The requester or an approver ended the draft. Final.
    case rejected
    /// The TTL passed before the draft was approved. Final.
    case expired
    /// The agent could not answer. Final.
    case failed

    /// True for states no command can leave.
    public var isFinal: Bool {
        switch self {
        case .posted, .rejected, .expired, .failed: true
        default: false
        }
    }

    /// The states the TTL sweep expires: not final, and not being posted (a claimed post is reconciled first).
    public static let expirable: Set<DraftState> = [.requested, .answered, .revised, .publishRequested, .approved]
}

/// A document passage an answer is based on.
public struct SourceRef: Hashable, Sendable, Codable {
    /// File path relative to the knowledge-base folder (or a URL).
    public var file: String
    /// Section heading inside the file, if any.
    public var section: String?
    /// The document declares `visibility: restricted`: it may be DM'd to the requester, never published.
    public var restricted: Bool

    public init(file: String, section: String? = nil, restricted: Bool = false) {
        self.file = file
        self.section = section
        self.restricted = restricted
    }

    enum CodingKeys: String, CodingKey { case file, section, restricted }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        file = try container.decode(String.self, forKey: .file)
        section = try container.decodeIfPresent(String.self, forKey: .section)
        restricted = try container.decodeIfPresent(Bool.self, forKey: .restricted) ?? false
    }

    /// `file § section`.
    public var label: String { section.map { "\(file) § \($0)" } ?? file }
}

/// The requester's `/publish`, bound to the exact text it was given for.
public struct PublishRequest: Hashable, Sendable, Codable {
    public var version: Int
    public var contentHash: String
    public var at: Date

    public init(version: Int, contentHash: String, at: Date) {
        self.version = version
        self.contentHash = contentHash
        self.at = at
    }
}

/// One approver's `/approve`, bound to the exact text it was given for.
public struct Approval: Hashable, Sendable, Codable {
    public var approver: PersonID
    public var version: Int
    public var contentHash: String
    public var at: Date

    public init(approver: PersonID, version: Int, contentHash: String, at: Date) {
        self.approver = approver
        self.version = version
        self.contentHash = contentHash
        self.at = at
    }
}

/// The publisher's claim on a post: the exact version, hash and approval it is posting, set in the transaction
/// that re-checked the gate. The post is recorded from this, never from the draft's current text.
public struct PostClaim: Hashable, Sendable, Codable {
    public var version: Int
    public var contentHash: String
    public var approver: PersonID
    /// 1 on the first claim; a later attempt first looks for an earlier post of this version.
    public var attempts: Int
    public var claimedAt: Date

    public init(version: Int, contentHash: String, approver: PersonID, attempts: Int, claimedAt: Date) {
        self.version = version
        self.contentHash = contentHash
        self.approver = approver
        self.attempts = attempts
        self.claimedAt = claimedAt
    }
}

/// The public post, once made.
public struct PostedRef: Hashable, Sendable, Codable {
    public var messageID: String
    public var permalink: String?
    public var at: Date

    public init(messageID: String, permalink: String?, at: Date) {
        self.messageID = messageID
        self.permalink = permalink
        self.at = at
    }
}

/// A question, its current answer and everything the gate needs to decide on it.
public struct Draft: Hashable, Sendable, Codable {
    public var id: DraftID
    public var requester: PersonID
    public var question: String
    /// The public thread the answer may go to; nil when the question was asked in a DM.
    public var target: ThreadRef?
    public var createdAt: Date
    public var expiresAt: Date
    public var state: DraftState
    /// 0 until the agent answers; +1 on every revision.
    public var version: Int
    public var text: String
    public var sources: [SourceRef]
    /// Informational flags from the agent (thin evidence, no match…).
    public var riskFlags: [String]
    /// What the current text's advice does that needs a security-minded approver (recomputed on every version).
    public var risks: [RiskFinding]
    /// Secrets removed from the agent's answer before it was stored or sent (kinds only).
    public var redactions: [RedactedSecret]
    public var publishRequest: PublishRequest?
    /// Approvals of the current version only (a revision clears them).
    public var approvals: [Approval]
    public var rejectionReason: String?
    /// Who was sent the draft for review, and every version they were sent.
    public var reviewers: [PersonID: Set<Int>]
    /// The audit log's record of this draft's publish requests and approvals. Stores load it from the audit log,
    /// never from the draft's own rows, so a row written into the database by hand is not backed by it; the gate
    /// adds to it as it decides. Not part of the draft's identity (equal drafts may hold more or less of it).
    public var evidence = AuditEvidence()
    /// The publisher's claim, once it claimed the post.
    public var claim: PostClaim?
    public var posted: PostedRef?

    public init(
        id: DraftID,
        requester: PersonID,
        question: String,
        target: ThreadRef?,
        createdAt: Date,
        ttl: Duration
    ) {
        self.id = id
        self.requester = requester
        self.question = question
        self.target = target
        self.createdAt = createdAt
        self.expiresAt = createdAt.addingTimeInterval(ttl.timeInterval)
        self.state = .requested
        self.version = 0
        self.text = ""
        self.sources = []
        self.riskFlags = []
        self.risks = []
        self.redactions = []
        self.publishRequest = nil
        self.approvals = []
        self.rejectionReason = nil
        self.reviewers = [:]
        self.claim = nil
        self.posted = nil
    }

    /// The longest answer that can be published: approvers must be able to see all of it (Slack shows this much
    /// across section blocks of one message; every platform adapter renders the whole text up to it).
    public static let maxPublishableLength = 12_000

    /// The platform the answer would be posted on (its thread's, else the requester's).
    public var publishPlatform: PlatformName { target?.platform ?? requester.platform }

    /// SHA-256 of the current text bound to its target thread and requester.
    public var contentHash: String {
        ContentHash.of(text: text, target: target, requester: requester)
    }

    /// True once the TTL has passed (whatever the state).
    public func hasExpired(at now: Date) -> Bool { now >= expiresAt }
}

extension Date {
    /// Whole milliseconds since 1970 — how every store and the audit chain keep time, so values are exact.
    public var millis: Int64 { Int64((timeIntervalSince1970 * 1000).rounded()) }

    public init(millis: Int64) { self.init(timeIntervalSince1970: TimeInterval(millis) / 1000) }
}

extension Duration {
    /// The duration in seconds as a `TimeInterval`.
    public var timeInterval: TimeInterval {
        let parts = components
        return TimeInterval(parts.seconds) + TimeInterval(parts.attoseconds) / 1e18
    }

    /// The longest duration a setting may name (ten years).
    public static let maxParsedSeconds: Double = 10 * 366 * 86_400

    /// Parses `90s`, `15m`, `24h`, `7d`, `250ms` or a bare number of seconds (at most ten years).
    public init?(parsing text: String) {
        let trimmed = text.trimmingCharacters(in: .whitespaces).lowercased()
        let units: [(String, Double)] = [("ms", 0.001), ("s", 1), ("m", 60), ("h", 3600), ("d", 86400)]
        var number = trimmed
        var scale = 1.0
        for (suffix, unitScale) in units where trimmed.hasSuffix(suffix) {
            number = String(trimmed.dropLast(suffix.count))
            scale = unitScale
            break
        }
        // Bounded to ten years so that `1e300d` is a clear error rather than an overflow trap.
        guard let value = Double(number), value.isFinite, value > 0, value * scale <= Self.maxParsedSeconds else {
            return nil
        }
        self = .milliseconds(Int64((value * scale * 1000).rounded()))
    }
}

/// Publish requests and approvals as the audit log records them (kind, actor, version, content hash).
public struct AuditEvidence: Hashable, Sendable, Codable {
    public enum Kind: String, Hashable, Sendable, Codable {
        case publishRequested = "publish_requested"
        case approval
    }

    public struct Entry: Hashable, Sendable, Codable {
        public var kind: Kind
        public var actor: PersonID
        public var version: Int
        public var contentHash: String

        public init(kind: Kind, actor: PersonID, version: Int, contentHash: String) {
            self.kind = kind
            self.actor = actor
            self.version = version
            self.contentHash = contentHash
        }
    }

    public var entries: [Entry]

    public init(entries: [Entry] = []) { self.entries = entries }

    /// Reads one audit entry of kind `publish_requested` or `approval` (its actor and canonical detail); nil for
    /// anything else.
    public static func entry(kind: String, actor: String?, detail: String) -> Entry? {
        guard let kind = Kind(rawValue: kind), let actor = actor.flatMap(PersonID.init(parsing:)),
            let object = try? JSONSerialization.jsonObject(with: Data(detail.utf8)) as? [String: Any],
            let version = (object["version"] as? String).flatMap(Int.init), let hash = object["content_hash"] as? String
        else { return nil }
        return Entry(kind: kind, actor: actor, version: version, contentHash: hash)
    }

    public func contains(_ kind: Kind, by actor: (PersonID) -> Bool, version: Int, contentHash: String) -> Bool {
        entries.contains {
            $0.kind == kind && actor($0.actor) && $0.version == version && $0.contentHash == contentHash
        }
    }

    // Derived data: never what makes two drafts different.
    public static func == (lhs: AuditEvidence, rhs: AuditEvidence) -> Bool { true }
    public func hash(into hasher: inout Hasher) {}
}
