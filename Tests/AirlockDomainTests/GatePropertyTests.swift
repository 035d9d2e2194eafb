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

/// Drives random command sequences from random actors through the gate and a simulated publisher, and
/// checks the invariants against an oracle that only sees the accepted commands (not the gate's fields).
@Suite("Gate properties over random command sequences")
struct GatePropertyTests {
    static let requesterAlias = PersonID(platform: PlatformName("github"), id: "alice-gh")
    static let policy = ApprovalPolicy(
        approvers: [bob, carol, alice, requesterAlias], identityLinks: [requesterAlias: alice])
    static let actors: [Actor] = [
        Actor(alice), Actor(requesterAlias), Actor(bob), Actor(carol), Actor(mallory), Actor(bob, isBot: true),
    ]

    /// What the oracle knows: the text that is current, and who asked/approved for which text.
    struct Oracle {
        var currentText = "Like this."
        var version = 1
        var publishedVersion: Int?
        var approvals: [(PersonID, Int, String)] = []
        var posts: [(version: Int, text: String)] = []
        var terminal = false
    }

    static func randomCommand(_ rng: inout SeededGenerator, version: Int) -> DraftCommand {
        switch Int.random(in: 0..<10, using: &rng) {
        case 0...2: return .publish
        case 3...5: return .approve(version: Bool.random(using: &rng) ? nil : Int.random(in: max(1, version - 1)...version + 1, using: &rng))
        case 6: return .reject(reason: nil)
        default: return .revise(text: ["A", "B", "C", "Like this."].randomElement(using: &rng)!)
        }
    }

    @Test("Never a post without the requester's publish and a distinct authorised human approval of the current text; at most one post", arguments: 0..<200)
    func invariants(seed: Int) throws {
        var rng = SeededGenerator(state: UInt64(seed) &* 7919 &+ 17)
        var draft = answeredDraft(ttl: .seconds(3600))
        var oracle = Oracle()
        var now = start
        for _ in 0..<60 {
            now = now.addingTimeInterval(Double(Int.random(in: 0...120, using: &rng)))
            let actor = Self.actors.randomElement(using: &rng)!
            let command = Self.randomCommand(&rng, version: draft.version)
            if let expired = Gate.expireIfDue(draft, at: now) {
                draft = expired
                oracle.terminal = true
            }
            do {
                let (next, event) = try Gate.apply(command, to: draft, by: actor, at: now, policy: Self.policy)
                #expect(!oracle.terminal, "a command was accepted on a final draft (seed \(seed))")
                switch event {
                case .publishRequested:
                    #expect(Self.policy.isSamePerson(actor.person, alice))
                    oracle.publishedVersion = oracle.version
                case .approved(let by, let version):
                    oracle.approvals.append((by, version, oracle.currentText))
                case .revised(let version, _):
                    oracle.version = version
                    if case .revise(let text) = command { oracle.currentText = text }
                    oracle.publishedVersion = nil
                case .rejected:
                    oracle.terminal = true
                }
                draft = next
            } catch {
                // A refusal changes nothing; the loop keeps the old draft.
            }
            // The simulated publisher runs at random moments (so revisions and rejections can race it) and posts
            // whenever the gate says it may; the gate must say so at most once.
            guard Int.random(in: 0..<10, using: &rng) < 3 else { continue }
            if let approval = try? Gate.authorizePost(draft, policy: Self.policy) {
                #expect(oracle.posts.isEmpty, "a second post for one draft (seed \(seed))")
                #expect(oracle.publishedVersion == draft.version, "post without the requester's publish of this version (seed \(seed))")
                #expect(!Self.policy.isSamePerson(approval.approver, alice), "self-approved post (seed \(seed))")
                let matching = oracle.approvals.contains { person, version, text in
                    version == draft.version && text == draft.text && !Self.policy.isSamePerson(person, alice)
                        && Self.actors.contains { $0.person == person && !$0.isBot }
                        && Self.policy.isListed(person, forRequester: alice)
                }
                #expect(matching, "post without a distinct authorised approval of the current text (seed \(seed))")
                #expect(draft.text == oracle.currentText)
                oracle.posts.append((draft.version, draft.text))
                draft.state = .posted
                oracle.terminal = true
            }
        }
        #expect(oracle.posts.count <= 1)
    }
}
