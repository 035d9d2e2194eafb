import AirlockDomain
import AirlockDomainTesting
import Foundation
import Testing

/// Random sequences mixing restricted and public passages, revisions and secrets through the same screening and
/// decisions the workflow runs: no restricted text (an 8-word run of a restricted passage) and no secret ever
/// reaches a review message or a public post.
@Suite("Content properties over random sequences")
struct ContentPropertyTests {
    static let sequences = Int(ProcessInfo.processInfo.environment["AIRLOCK_CONTENT_SEQUENCES"] ?? "") ?? 10_000

    static let restricted = [
        "the merger with northwind closes on march third and the offer is forty dollars per share",
        "payroll for the zephyr team is paid from the cayman account on the last friday of each month",
        "the incident on tuesday exposed four hundred customer records through the reporting export",
    ]
    static let public_ = [
        "roll back a deploy with opsctl deploy rollback and watch the error rate for ten minutes",
        "book holidays in the hr tool two weeks ahead and tell your team lead",
        "rotate credentials through the secrets manager and never paste them in chat",
    ]

    /// The restricted passages as the knowledge index would hold them.
    struct Index: RestrictedContent {
        let table: [UInt64: SourceRef]
        init() {
            var table: [UInt64: SourceRef] = [:]
            for (number, passage) in ContentPropertyTests.restricted.enumerated() {
                for shingle in Shingles.of(passage) {
                    table[shingle] = SourceRef(file: "restricted-\(number).md", restricted: true)
                }
            }
            self.table = table
        }
        func overlap(_ text: String) -> [SourceRef] {
            Array(Set(Shingles.of(text).compactMap { table[$0] })).sorted { $0.file < $1.file }
        }
    }

    static let restrictedShingles = Set(restricted.flatMap { Shingles.of($0) })

    static func secret(_ rng: inout SeededGenerator) -> String {
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789")
        func random(_ count: Int) -> String { String((0..<count).map { _ in alphabet.randomElement(using: &rng)! }) }
        switch Int.random(in: 0..<4, using: &rng) {
        case 0: return "xoxb-\(Int.random(in: 1_000_000_000...9_999_999_999, using: &rng))-\(random(24))"
        case 1: return "ghp_\(random(36))"
        case 2: return "AKIA\(random(16).uppercased())"
        default: return "sk-proj-\(random(32))"
        }
    }

    /// Some public text, maybe a restricted passage, maybe a secret (which the check remembers).
    static func text(_ rng: inout SeededGenerator, restrictedAllowed: Bool, secrets: inout [String]) -> String {
        var parts = [public_.randomElement(using: &rng)!]
        if restrictedAllowed, Int.random(in: 0..<5, using: &rng) == 0 {
            parts.append(restricted.randomElement(using: &rng)!)
        }
        if Int.random(in: 0..<3, using: &rng) == 0 {
            let value = secret(&rng)
            secrets.append(value)
            parts.append("use \(value) for it")
        }
        if Int.random(in: 0..<5, using: &rng) == 0 {
            parts.append(
                "<!-- \((restrictedAllowed && Bool.random(using: &rng) ? restricted : public_).randomElement(using: &rng)!) -->"
            )
        }
        return parts.shuffled(using: &rng).joined(separator: ". ")
    }

    func leaks(_ text: String, secrets: [String]) -> [String] {
        var found: [String] = []
        if !Shingles.of(text).isDisjoint(with: Self.restrictedShingles) { found.append("restricted text") }
        for secret in secrets where text.contains(secret) { found.append("secret \(secret.prefix(8))…") }
        return found
    }

    @Test("zero restricted or secret text in any review message or public post over random sequences")
    func noLeaks() async {
        let index = Index()
        let requester = PersonID(platform: .slack, id: "UREQ")
        let approvers = [PersonID(platform: .slack, id: "UAPP"), PersonID(platform: .slack, id: "UAP2")]
        let policy = ApprovalPolicy(approvers: Set(approvers))
        let thread = ThreadRef(platform: .slack, channel: "C1", thread: "1.1")
        var failures: [String] = []
        var posts = 0
        var restrictedDrafts = 0
        for seed in 0..<Self.sequences where failures.count < 5 {
            // CPU-bound: give the shared test thread pool back now and then, so HTTP tests running beside it are not starved.
            if seed % 25 == 0 { await Task.yield() }
            var rng = SeededGenerator(seed: UInt64(seed) &* 6_700_417 &+ 3)
            var secrets: [String] = []
            let start = Date(timeIntervalSince1970: 1_700_000_000)
            // The question (maybe pasting a restricted passage or a secret), screened as it comes in.
            let asked = Screening.inbound(
                Self.text(&rng, restrictedAllowed: Int.random(in: 0..<3, using: &rng) == 0, secrets: &secrets),
                restricted: index
            )
            var draft = Draft(
                id: .random(using: &rng),
                requester: requester,
                question: asked.text,
                target: thread,
                createdAt: start,
                ttl: .seconds(3600)
            )
            draft.sources = asked.restricted
            // The agent's answer: a restricted passage only when the requester is a reader.
            let reader = Bool.random(using: &rng)
            let answerText = Self.text(&rng, restrictedAllowed: reader, secrets: &secrets)
            let cited =
                reader && Self.restricted.contains { answerText.contains($0) } && Bool.random(using: &rng)
                ? [SourceRef(file: "cited-restricted.md", restricted: true)] : []
            let screened = Screening.publishable(answerText, neutraliser: nil, restricted: index)
            draft =
                Decisions.answer(
                    draft,
                    with: AgentAnswer(text: answerText, sources: cited, riskFlags: []),
                    backend: .retrieval,
                    duration: .zero,
                    jobID: 1,
                    screened: screened
                ).draft ?? draft
            var reviews: [OutboundMessage] = []
            for _ in 0..<12 {
                let now = start.addingTimeInterval(Double(Int.random(in: 0...60, using: &rng)))
                // Mostly the right person for the command, sometimes anyone.
                let anyone = Actor(Bool.random(using: &rng) ? requester : approvers.randomElement(using: &rng)!)
                let command: DraftCommand
                var revision: ScreenedText?
                var actor = anyone
                switch Int.random(in: 0..<6, using: &rng) {
                case 0, 1:
                    command = .publish(version: nil)
                    if Int.random(in: 0..<4, using: &rng) > 0 { actor = Actor(requester) }
                case 2, 3:
                    command = .approve(version: draft.version)
                    if Int.random(in: 0..<4, using: &rng) > 0 { actor = Actor(approvers.randomElement(using: &rng)!) }
                default:
                    if Int.random(in: 0..<4, using: &rng) > 0 { actor = Actor(requester) }
                    let raw = Self.text(
                        &rng,
                        restrictedAllowed: Int.random(in: 0..<3, using: &rng) == 0,
                        secrets: &secrets
                    )
                    let check = Screening.publishable(raw, neutraliser: nil, restricted: index)
                    revision = check
                    command = .revise(text: check.text)
                }
                let (changes, _) = Decisions.command(
                    command,
                    on: draft,
                    by: actor,
                    platform: .slack,
                    policy: policy,
                    reviewChannel: nil,
                    at: now,
                    delivery: nil,
                    prefix: [],
                    revision: revision
                )
                if let next = changes.draft { draft = next }
                for job in changes.jobs {
                    if case .reviewRequest(let to, _, let version, let message) = job {
                        reviews.append(message)
                        draft =
                            Decisions.reviewDelivered(
                                draft,
                                to: to,
                                version: version,
                                sent: AuditEvent(kind: .dmSent),
                                jobID: 1
                            ).draft ?? draft
                    }
                }
            }
            if draft.sources.contains(where: \.restricted) { restrictedDrafts += 1 }
            for review in reviews {
                for leak in leaks(review.text, secrets: secrets) {
                    failures.append("seed \(seed): \(leak) in a review message")
                }
            }
            if draft.state == .approved {
                let (_, decision) = Decisions.claimPost(
                    draft,
                    version: draft.version,
                    policy: policy,
                    at: start,
                    jobID: 2
                )
                if case .post(let claimed) = decision {
                    posts += 1
                    let post = Messages.publicPost(claimed, approver: claimed.claim!.approver)
                    for leak in leaks(post, secrets: secrets) {
                        failures.append("seed \(seed): \(leak) in a public post")
                    }
                    if post.contains("<!--") { failures.append("seed \(seed): hidden markup in a public post") }
                }
            }
        }
        for failure in failures { Issue.record(Comment(rawValue: failure)) }
        #expect(failures.isEmpty)
        // The sequences reach the interesting part, or the test proves nothing.
        #expect(posts > Self.sequences / 20, "only \(posts) posts")
        #expect(restrictedDrafts > Self.sequences / 10, "only \(restrictedDrafts) restricted drafts")
        print(
            "content properties: \(Self.sequences) sequences, \(posts) posts, \(restrictedDrafts) restricted drafts, 0 leaks"
        )
    }
}
