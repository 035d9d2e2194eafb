import AirlockDomain
import Foundation
import Testing

/// SplitMix64: a small seeded generator so every failing sequence can be replayed from its seed.
struct SeededGenerator: RandomNumberGenerator {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// Drives random command sequences from random actors through `Decisions` (the same functions the workflow runs
/// in its transactions) and a **slow** publisher whose claim and record are separate steps with commands, crashes
/// (a repeated claim) and the clock moving in between. Checks the invariants against an oracle that only sees
/// accepted commands and the review messages sent, never the gate's own fields.
@Suite("Gate properties over random command sequences")
struct GatePropertyTests {
    static let requesterAlias = PersonID(platform: PlatformName("github"), id: "alice-gh")
    static let policy = ApprovalPolicy(
        approvers: [bob, carol, alice, requesterAlias], identityLinks: [requesterAlias: alice])
    static let actors: [Actor] = [
        Actor(alice), Actor(requesterAlias), Actor(bob), Actor(carol), Actor(mallory), Actor(bob, isBot: true),
    ]

    /// What the oracle knows.
    struct Oracle {
        var texts: [Int: String] = [1: "Like this."]
        var version = 1
        var publishedVersion: Int?
        /// (approver, version) of accepted approvals.
        var approvals: [(PersonID, Int)] = []
        /// Who was sent which version for review.
        var shown: [PersonID: Set<Int>] = [:]
        var posts: [(version: Int, text: String)] = []
    }

    static func randomCommand(_ rng: inout SeededGenerator, version: Int) -> DraftCommand {
        let shown: Int? = Bool.random(using: &rng) ? nil : Int.random(in: max(1, version - 1)...version + 1, using: &rng)
        switch Int.random(in: 0..<10, using: &rng) {
        case 0...2: return .publish(version: Int.random(in: 0..<4, using: &rng) == 0 ? shown : nil)
        case 3...5: return .approve(version: shown)
        case 6: return .reject(reason: nil)
        default: return .revise(text: ["A", "B", "C", "Like this."].randomElement(using: &rng)!)
        }
    }

    static let sequences = 10_000

    @Test("Never a post without the requester's publish and a distinct authorised human approval of the text shown; one post at most; what is recorded is what was claimed")
    func invariants() throws {
        var failures = 0
        for seed in 0..<Self.sequences where failures < 5 {
            if !run(seed: seed) { failures += 1 }
        }
        #expect(failures == 0)
    }

    /// One sequence; false (with the issues recorded) when an invariant broke.
    func run(seed: Int) -> Bool {
        var rng = SeededGenerator(state: UInt64(seed) &* 7919 &+ 17)
        var draft = answeredDraft(ttl: .seconds(3600))
        var oracle = Oracle()
        var now = start
        var publishJobs: [Int] = []
        var inFlight: (claimed: Draft, job: Int64)?
        var nextJob: Int64 = 1
        var ok = true
        func check(_ condition: Bool, _ message: String) {
            if !condition {
                Issue.record("\(message) (seed \(seed))")
                ok = false
            }
        }
        for _ in 0..<40 {
            now = now.addingTimeInterval(Double(Int.random(in: 0...150, using: &rng)))
            switch Int.random(in: 0..<10, using: &rng) {
            case 0...5:
                let actor = Self.actors.randomElement(using: &rng)!
                let command = Self.randomCommand(&rng, version: draft.version)
                let before = draft
                let (changes, reply) = Decisions.command(
                    command, on: draft, by: actor, platform: .slack, policy: Self.policy, reviewChannel: nil, at: now,
                    delivery: nil, prefix: [])
                if let next = changes.draft { draft = next }
                for job in changes.jobs {
                    switch job {
                    case .publish(_, let version): publishJobs.append(version)
                    case .directMessage(let to, _, _, let purpose) where purpose == "review_request":
                        oracle.shown[to, default: []].insert(draft.version)
                    default: break
                    }
                }
                if before.state == .publishing {
                    check(draft.text == before.text && draft.version == before.version, "the text changed while a post was in flight")
                }
                guard reply.accepted else { continue }
                check(!before.state.isFinal, "a command was accepted on a final draft")
                switch command {
                case .publish:
                    check(Self.policy.isSamePerson(actor.person, alice), "publish accepted from someone else")
                    oracle.publishedVersion = oracle.version
                case .approve:
                    oracle.approvals.append((actor.person, oracle.version))
                case .revise(let text):
                    oracle.version += 1
                    oracle.texts[oracle.version] = text
                    oracle.publishedVersion = nil
                case .reject:
                    break
                }
            case 6, 7:
                // The publisher claims (a first claim, or again after a crash: the same job re-run).
                let version: Int
                let job: Int64
                if let current = inFlight, Bool.random(using: &rng) {
                    version = current.claimed.claim!.version
                    job = current.job
                } else if !publishJobs.isEmpty {
                    version = publishJobs.removeFirst()
                    job = nextJob
                    nextJob += 1
                } else {
                    continue
                }
                let (changes, decision) = Decisions.claimPost(draft, version: version, policy: Self.policy, at: now, jobID: job)
                if let next = changes.draft { draft = next }
                guard case .post(let claimed) = decision, let claim = claimed.claim else { continue }
                // The platform is asked to post `claimed.text` now: the gate must have held for exactly it.
                let text = claimed.text
                check(oracle.posts.allSatisfy { $0.version == claim.version }, "a second, different post for one draft")
                check(oracle.publishedVersion == claim.version, "post without the requester's publish of this version")
                check(oracle.texts[claim.version] == text, "the text posted is not the text of the claimed version")
                check(!Self.policy.isSamePerson(claim.approver, alice), "self-approved post")
                let approvedShown = oracle.approvals.contains { person, version in
                    version == claim.version && person == claim.approver && !Self.policy.isSamePerson(person, alice)
                        && Self.actors.contains { $0.person == person && !$0.isBot }
                        && Self.policy.isListed(person, forRequester: alice)
                        && (oracle.shown.first { Self.policy.isSamePerson($0.key, person) }?.value.contains(version) ?? false)
                }
                check(approvedShown, "post without a distinct authorised approval of the version that approver was shown")
                // A first claim happens within the TTL; a later attempt reconciles a post already in flight.
                check(claim.attempts > 1 || now < claimed.expiresAt, "post first claimed after the TTL")
                if oracle.posts.isEmpty { oracle.posts.append((claim.version, text)) }
                inFlight = (claimed, job)
            case 8:
                // The platform's answer arrives: record it.
                guard let current = inFlight else { continue }
                let changes = Decisions.recordPost(
                    draft, delivered: DeliveredMessage(messageID: "m1"), reconciled: false, at: now, jobID: current.job)
                if let next = changes.draft { draft = next }
                if let posted = changes.audit.first(where: { $0.kind == "posted" }) {
                    check(posted.detail["version"] == String(current.claimed.claim!.version), "posted entry names another version")
                    check(
                        posted.detail["content_hash"]
                            == ContentHash.of(text: current.claimed.text, target: thread, requester: alice),
                        "posted entry carries another text's hash")
                    check(posted.actor == current.claimed.claim!.approver, "posted entry names another approver")
                }
                inFlight = nil
            default:
                let changes = Decisions.expire(draft, at: now)
                if let next = changes.draft { draft = next }
            }
        }
        check(oracle.posts.count <= 1, "more than one post")
        return ok
    }
}
