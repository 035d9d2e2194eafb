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
}

/// A document passage an answer is based on.
public struct SourceRef: Hashable, Sendable, Codable {
    /// File path relative to the knowledge-base folder (or a URL).
    public var file: String
    /// Section heading inside the file, if any.
    public var section: String?

    public init(file: String, section: String? = nil) {
        self.file = file
        self.section = section
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
    public var riskFlags: [String]
    public var publishRequest: PublishRequest?
    /// Approvals of the current version only (a revision clears them).
    public var approvals: [Approval]
    public var rejectionReason: String?
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
        self.publishRequest = nil
        self.approvals = []
        self.rejectionReason = nil
        self.posted = nil
    }

    /// SHA-256 of the current text bound to its target thread and requester.
    public var contentHash: String {
        ContentHash.of(text: text, target: target, requester: requester)
    }

    /// True once the TTL has passed (whatever the state).
    public func hasExpired(at now: Date) -> Bool { now >= expiresAt }
}

extension Duration {
    /// The duration in seconds as a `TimeInterval`.
    public var timeInterval: TimeInterval {
        let parts = components
        return TimeInterval(parts.seconds) + TimeInterval(parts.attoseconds) / 1e18
    }

    /// Parses `90s`, `15m`, `24h`, `7d`, `250ms` or a bare number of seconds.
    public init?(parsing text: String) {
        let trimmed = text.trimmingCharacters(in: .whitespaces).lowercased()
        let units: [(String, Double)] = [("ms", 0.001), ("s", 1), ("m", 60), ("h", 3600), ("d", 86400)]
        for (suffix, scale) in units where trimmed.hasSuffix(suffix) {
            guard let value = Double(trimmed.dropLast(suffix.count)), value > 0 else { return nil }
            self = .milliseconds(Int64(value * scale * 1000))
            return
        }
        guard let value = Double(trimmed), value > 0 else { return nil }
        self = .milliseconds(Int64(value * 1000))
    }
}
