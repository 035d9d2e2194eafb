import AirlockDomain
import AirlockDomainTesting
import AirlockSQLite
import AirlockTesting
import Foundation
import Synchronization
import Testing

/// Random command sequences against the real storage: every decision is taken by `Decisions` inside the store's
/// write transaction (`updateDraft`), many sequences run at once (so group commit batches them and savepoints
/// isolate their refusals), delivery keys are repeated (a duplicate must change nothing), the clock jumps past
/// TTLs, the publisher's claim and record are separate steps with commands and repeated claims (a crashed
/// worker) in between. An oracle that only sees accepted commands and review messages checks every claimed post.
/// `AIRLOCK_GATE_SEQUENCES` sets how many (CI: 1,000; the long run: 100,000).
@Suite("Gate properties against the real store")
struct StoreGatePropertyTests {
    static let alice = PersonID(platform: .slack, id: "UALICE")
    static let aliceOnGitHub = PersonID(platform: PlatformName("github"), id: "alice-gh")
    static let bob = PersonID(platform: .slack, id: "UBOB")
    static let carol = PersonID(platform: .slack, id: "UCAROL")
    static let dave = PersonID(platform: .slack, id: "UDAVE")
    static let mallory = PersonID(platform: .slack, id: "UMAL")
    static let thread = ThreadRef(platform: .slack, channel: "C1", thread: "1700000000.000100")
    // dave is linked to nobody and not listed; bob's bot account is listed but a bot.
    static let policy = ApprovalPolicy(
        approvers: [bob, carol, alice, aliceOnGitHub],
        identityLinks: [aliceOnGitHub: alice]
    )
    static let actors: [Actor] = [
        Actor(alice), Actor(aliceOnGitHub), Actor(bob), Actor(carol), Actor(dave), Actor(mallory),
        Actor(bob, isBot: true),
    ]
    static let sequences = Int(ProcessInfo.processInfo.environment["AIRLOCK_GATE_SEQUENCES"] ?? "") ?? 1000
    static let steps = 30

    struct Outcome: Sendable {
        var violations: [String] = []
        var posts = 0
        var duplicatesRefused = 0
        var operations = 0
    }

    @Test(
        "no post lacks the requester's publish plus a distinct authorised approval of the current text; duplicates change nothing; one post at most"
    )
    func invariantsAgainstSQLite() async throws {
        let store = try SQLiteStore.open(url: temporaryDatabase())
        let next = SeedCounter()
        let total = try await withThrowingTaskGroup(of: Outcome.self) { group in
            for _ in 0..<32 {
                group.addTask {
                    var outcome = Outcome()
                    while true {
                        let seed = next.take()
                        guard seed < Self.sequences, outcome.violations.count < 5 else { return outcome }
                        try await Self.run(seed: seed, store: store, into: &outcome)
                    }
                }
            }
            return try await group.reduce(into: Outcome()) {
                $0.violations += $1.violations
                $0.posts += $1.posts
                $0.duplicatesRefused += $1.duplicatesRefused
                $0.operations += $1.operations
            }
        }
        for violation in total.violations.prefix(10) { Issue.record(Comment(rawValue: violation)) }
        #expect(total.violations.isEmpty)
        // The sequences must reach the interesting part, or the test proves nothing.
        #expect(total.posts > Self.sequences / 50, "only \(total.posts) posts in \(Self.sequences) sequences")
        #expect(total.duplicatesRefused > 0)
        guard case .intact = try await store.verifyAudit() else {
            Issue.record("audit chain broken")
            return
        }
        print(
            "store gate properties: \(Self.sequences) sequences, \(total.operations) store operations, \(total.posts) posts, \(total.duplicatesRefused) duplicate deliveries refused, 0 violations"
        )
    }

    static func run(seed: Int, store: SQLiteStore, into outcome: inout Outcome) async throws {
        var rng = SeededGenerator(seed: UInt64(seed) &* 104_729 &+ 7)
        var now = Date(timeIntervalSince1970: 1_700_000_000)
        let created = Gate.answer(
            Draft(
                id: .random(),
                requester: alice,
                question: "How?",
                target: thread,
                createdAt: now,
                ttl: .seconds(3600)
            ),
            text: "Like this.",
            sources: [],
            riskFlags: []
        )
        let id = created.id
        try await store.commit(Changes(draft: created), at: now)
        var oracle = GateOracle(requester: alice, policy: policy, actors: actors)
        var publishJobs: [Int] = []
        var inFlight: (version: Int, job: Int64, text: String, approver: PersonID)?
        var usedKeys: [DeliveryKey] = []
        var nextJob: Int64 = 1_000_000 * Int64(seed + 1)
        func violation(_ message: String) { outcome.violations.append("\(message) (seed \(seed))") }

        var pendingReviews: [(PersonID, Int)] = []
        for step in 0..<steps {
            now = now.addingTimeInterval(Double(Int.random(in: 0...150, using: &rng)))
            let now = now
            outcome.operations += 1
            if !pendingReviews.isEmpty, Bool.random(using: &rng) {
                // A review DM finishes: delivered (recorded with the reviewer shown, in one transaction) or failed.
                let (to, version) = pendingReviews.remove(at: Int.random(in: 0..<pendingReviews.count, using: &rng))
                if Int.random(in: 0..<4, using: &rng) > 0 {
                    let sent = AuditEvent(kind: .dmSent, actor: to, draftID: id, detail: ["purpose": "review_request"])
                    _ = try await store.updateDraft(id, at: now) { draft in
                        (Decisions.reviewDelivered(draft, to: to, version: version, sent: sent, jobID: 0), ())
                    }
                    oracle.sentForReview(to, version: version)
                }
            }
            switch Int.random(in: 0..<11, using: &rng) {
            case 0...5:
                let actor = actors.randomElement(using: &rng)!
                let version = oracle.version
                let command = GateOracle.randomCommand(&rng, version: version)
                let key = DeliveryKey(platform: .slack, key: "s\(seed)-\(step)")
                usedKeys.append(key)
                let result = try await store.updateDraft(id, at: now) { draft in
                    let (changes, reply) = Decisions.command(
                        command,
                        on: draft,
                        by: actor,
                        platform: .slack,
                        policy: policy,
                        reviewChannel: nil,
                        at: now,
                        delivery: key,
                        prefix: []
                    )
                    return (changes, (reply, changes.jobs, draft, changes.draft ?? draft))
                }
                guard let (reply, jobs, before, after) = result else { return violation("draft vanished") }
                for job in jobs {
                    switch job {
                    case .publish(_, let version): publishJobs.append(version)
                    case .reviewRequest(let to, _, let version, _):
                        pendingReviews.append((to, version))
                    default: break
                    }
                }
                if before.state == .publishing, after.text != before.text || after.version != before.version {
                    violation("the text changed while a post was in flight")
                }
                guard reply.accepted else { continue }
                if before.state.isFinal { violation("a command was accepted on a final draft") }
                oracle.accepted(command, by: actor).forEach(violation)
            case 6:
                // A repeated delivery (a platform retry, a replayed command) of an earlier key: refused, nothing changes.
                guard let key = usedKeys.randomElement(using: &rng) else { continue }
                let before = try await store.draft(id)
                do {
                    _ = try await store.updateDraft(id, at: now) { draft in
                        Decisions.command(
                            .approve(version: nil),
                            on: draft,
                            by: Actor(bob),
                            platform: .slack,
                            policy: policy,
                            reviewChannel: nil,
                            at: now,
                            delivery: key,
                            prefix: []
                        )
                    }
                    violation("a repeated delivery key was accepted")
                } catch is DuplicateDelivery {
                    outcome.duplicatesRefused += 1
                }
                let after = try await store.draft(id)
                if before?.state != after?.state || before?.version != after?.version
                    || before?.approvals != after?.approvals
                {
                    violation("a refused duplicate changed the draft")
                }
            case 7, 8:
                let version: Int
                let job: Int64
                if let current = inFlight, Bool.random(using: &rng) {
                    version = current.version
                    job = current.job
                } else if !publishJobs.isEmpty {
                    version = publishJobs.removeFirst()
                    job = nextJob
                    nextJob += 1
                } else {
                    continue
                }
                let decision = try await store.updateDraft(id, at: now) { draft in
                    Decisions.claimPost(draft, version: version, policy: policy, at: now, jobID: job)
                }
                guard case .post(let claimed)? = decision, let claim = claimed.claim else { continue }
                // The platform would be asked to post `claimed.text` now: check it against the oracle.
                let firstPost = oracle.postedVersion == nil
                oracle.claimed(claimed, at: now).forEach(violation)
                if firstPost { outcome.posts += 1 }
                inFlight = (claim.version, job, claimed.text, claim.approver)
            case 9:
                guard let current = inFlight else { continue }
                _ = try await store.updateDraft(id, at: now) { draft in
                    (
                        Decisions.recordPost(
                            draft,
                            delivered: DeliveredMessage(messageID: "m\(seed)"),
                            reconciled: false,
                            at: now,
                            jobID: current.job
                        ), ()
                    )
                }
                let stored = try await store.draft(id)
                if stored?.state == .posted, stored?.text != current.text {
                    violation("the recorded post is not the claimed text")
                }
                inFlight = nil
            default:
                _ = try await store.updateDraft(id, at: now) { draft in (Decisions.expire(draft, at: now), ()) }
            }
        }
    }
}

/// Hands out sequence numbers to the concurrent runners.
final class SeedCounter: Sendable {
    private let value = Atomic<Int>(0)
    func take() -> Int { value.wrappingAdd(1, ordering: .relaxed).oldValue }
}
