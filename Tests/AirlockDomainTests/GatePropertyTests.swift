import AirlockDomain
import AirlockDomainTesting
import Foundation
import Testing

/// Drives random command sequences from random actors through `Decisions` (the same functions the workflow runs
/// in its transactions) and a **slow** publisher whose claim and record are separate steps with commands, crashes
/// (a repeated claim) and the clock moving in between. Checks the invariants against an oracle that only sees
/// accepted commands and the review messages sent, never the gate's own fields.
@Suite("Gate properties over random command sequences")
struct GatePropertyTests {
    static let requesterAlias = PersonID(platform: PlatformName("github"), id: "alice-gh")
    static let policy = ApprovalPolicy(
        approvers: [bob, carol, alice, requesterAlias],
        identityLinks: [requesterAlias: alice]
    )
    static let actors: [Actor] = [
        Actor(alice), Actor(requesterAlias), Actor(bob), Actor(carol), Actor(mallory), Actor(bob, isBot: true),
    ]

    static let sequences = 10_000

    @Test(
        "Never a post without the requester's publish and a distinct authorised human approval of the text shown; one post at most; what is recorded is what was claimed"
    )
    func invariants() async throws {
        var failures = 0
        for seed in 0..<Self.sequences where failures < 5 {
            if seed % 50 == 0 { await Task.yield() }
            if !run(seed: seed) { failures += 1 }
        }
        #expect(failures == 0)
    }

    /// One sequence; false (with the issues recorded) when an invariant broke.
    func run(seed: Int) -> Bool {
        var rng = SeededGenerator(seed: UInt64(seed) &* 7919 &+ 17)
        var draft = answeredDraft(ttl: .seconds(3600))
        var oracle = GateOracle(requester: alice, policy: Self.policy, actors: Self.actors)
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
        var pendingReviews: [(PersonID, Int)] = []
        for _ in 0..<40 {
            now = now.addingTimeInterval(Double(Int.random(in: 0...150, using: &rng)))
            if !pendingReviews.isEmpty, Bool.random(using: &rng) {
                // A review DM finishes: delivered (the reviewer now counts as shown it) or failed for good (never).
                let (to, version) = pendingReviews.remove(at: Int.random(in: 0..<pendingReviews.count, using: &rng))
                if Int.random(in: 0..<4, using: &rng) > 0 {
                    let sent = AuditEvent(kind: .dmSent, detail: ["purpose": "review_request"])
                    draft =
                        Decisions.reviewDelivered(draft, to: to, version: version, sent: sent, jobID: 1).draft ?? draft
                    oracle.sentForReview(to, version: version)
                }
            }
            switch Int.random(in: 0..<10, using: &rng) {
            case 0...5:
                let actor = Self.actors.randomElement(using: &rng)!
                let command = GateOracle.randomCommand(&rng, version: draft.version)
                let before = draft
                let (changes, reply) = Decisions.command(
                    command,
                    on: draft,
                    by: actor,
                    platform: .slack,
                    policy: Self.policy,
                    reviewChannel: nil,
                    at: now,
                    delivery: nil,
                    prefix: []
                )
                if let next = changes.draft { draft = next }
                for job in changes.jobs {
                    switch job {
                    case .publish(_, let version): publishJobs.append(version)
                    case .reviewRequest(let to, _, let version, _):
                        pendingReviews.append((to, version))
                    default: break
                    }
                }
                if before.state == .publishing {
                    check(
                        draft.text == before.text && draft.version == before.version,
                        "the text changed while a post was in flight"
                    )
                }
                guard reply.accepted else { continue }
                check(!before.state.isFinal, "a command was accepted on a final draft")
                for violation in oracle.accepted(command, by: actor) { check(false, violation) }
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
                let (changes, decision) = Decisions.claimPost(
                    draft,
                    version: version,
                    policy: Self.policy,
                    at: now,
                    jobID: job
                )
                if let next = changes.draft { draft = next }
                guard case .post(let claimed) = decision, claimed.claim != nil else { continue }
                // The platform is asked to post `claimed.text` now: the gate must have held for exactly it.
                for violation in oracle.claimed(claimed, at: now) { check(false, violation) }
                inFlight = (claimed, job)
            case 8:
                // The platform's answer arrives: record it.
                guard let current = inFlight else { continue }
                let changes = Decisions.recordPost(
                    draft,
                    delivered: DeliveredMessage(messageID: "m1"),
                    reconciled: false,
                    at: now,
                    jobID: current.job
                )
                if let next = changes.draft { draft = next }
                if let posted = changes.audit.first(where: { $0.kind == .posted }) {
                    check(
                        posted.detail["version"] == String(current.claimed.claim!.version),
                        "posted entry names another version"
                    )
                    check(
                        posted.detail["content_hash"]
                            == ContentHash.of(text: current.claimed.text, target: thread, requester: alice),
                        "posted entry carries another text's hash"
                    )
                    check(posted.actor == current.claimed.claim!.approver, "posted entry names another approver")
                }
                inFlight = nil
            default:
                let changes = Decisions.expire(draft, at: now)
                if let next = changes.draft { draft = next }
            }
        }
        return ok
    }
}
