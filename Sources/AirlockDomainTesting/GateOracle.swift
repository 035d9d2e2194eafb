public import AirlockDomain
public import Foundation

/// SplitMix64: a small seeded generator, so a failing random run can be replayed from its seed.
public struct SeededGenerator: RandomNumberGenerator, Sendable {
    public var state: UInt64
    public init(seed: UInt64) { state = seed }
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// The gate's property tests' oracle (domain decisions and the real store alike): it sees only the commands the
/// gate accepted and the review messages it sent, never the gate's own fields, and judges every post claimed.
/// The draft starts answered at version 1 with the text "Like this.".
public struct GateOracle {
    public let requester: PersonID
    public let policy: ApprovalPolicy
    /// Everyone who may send commands (bots included), for "a human approver".
    public let actors: [Actor]
    public private(set) var texts: [Int: String] = [1: "Like this."]
    public private(set) var version = 1
    public private(set) var publishedVersion: Int?
    /// (approver, version) of accepted approvals.
    public private(set) var approvals: [(PersonID, Int)] = []
    /// Who was sent which version for review.
    public private(set) var shown: [PersonID: Set<Int>] = [:]
    /// The version of the first post claimed, if any.
    public private(set) var postedVersion: Int?

    public init(requester: PersonID, policy: ApprovalPolicy, actors: [Actor]) {
        self.requester = requester
        self.policy = policy
        self.actors = actors
    }

    /// A random command on a draft at `version`, sometimes naming a version shown (the current one, or one off).
    public static func randomCommand(_ rng: inout some RandomNumberGenerator, version: Int) -> DraftCommand {
        let shown: Int? =
            Bool.random(using: &rng) ? nil : Int.random(in: max(1, version - 1)...version + 1, using: &rng)
        switch Int.random(in: 0..<10, using: &rng) {
        case 0...2: return .publish(version: Int.random(in: 0..<4, using: &rng) == 0 ? shown : nil)
        case 3...5: return .approve(version: shown)
        case 6: return .reject(reason: nil)
        default: return .revise(text: ["A", "B", "C", "Like this."].randomElement(using: &rng)!)
        }
    }

    /// The gate sent `person` version `version` for review.
    public mutating func sentForReview(_ person: PersonID, version: Int) {
        shown[person, default: []].insert(version)
    }

    /// The gate accepted `command` from `actor`; returns what that broke.
    public mutating func accepted(_ command: DraftCommand, by actor: Actor) -> [String] {
        var violations: [String] = []
        switch command {
        case .publish:
            if !policy.isSamePerson(actor.person, requester) { violations.append("publish accepted from someone else") }
            publishedVersion = version
        case .approve:
            approvals.append((actor.person, version))
        case .revise(let text):
            version += 1
            texts[version] = text
            publishedVersion = nil
        case .reject, .ask:
            break
        }
        return violations
    }

    /// The publisher claimed `draft` for posting at `now`; returns every rule the claim broke (empty: the gate held
    /// for exactly this text), and remembers the first post.
    public mutating func claimed(_ draft: Draft, at now: Date) -> [String] {
        guard let claim = draft.claim else { return ["a claim without its claim record"] }
        var violations: [String] = []
        if let postedVersion, postedVersion != claim.version {
            violations.append("a second, different post for one draft")
        }
        if publishedVersion != claim.version {
            violations.append("post without the requester's publish of this version")
        }
        if texts[claim.version] != draft.text {
            violations.append("the text posted is not the text of the claimed version")
        }
        if policy.isSamePerson(claim.approver, requester) { violations.append("self-approved post") }
        let approvedShown = approvals.contains { person, version in
            version == claim.version && person == claim.approver && !policy.isSamePerson(person, requester)
                && actors.contains { $0.person == person && !$0.isBot }
                && policy.isListed(person, scope: nil, target: draft.publishPlatform)
                && (shown.first { policy.isSamePerson($0.key, person) }?.value.contains(version) ?? false)
        }
        if !approvedShown {
            violations.append("post without a distinct authorised approval of the version that approver was shown")
        }
        // A first claim happens within the TTL; a later attempt reconciles a post already in flight.
        if claim.attempts <= 1, now >= draft.expiresAt { violations.append("post first claimed after the TTL") }
        if postedVersion == nil { postedVersion = claim.version }
        return violations
    }
}
