public import AirlockDomain
public import Foundation

/// A question and the document that answers it.
public struct EvalCase: Hashable, Sendable, Codable {
    public var question: String
    public var file: String

    public init(question: String, file: String) {
        self.question = question
        self.file = file
    }
}

/// What `airlock kb eval` prints.
public struct EvalFigures: Sendable, CustomStringConvertible {
    public var cases: Int
    public var hitAt1: Double
    public var hitAt3: Double
    public var latenciesMillis: [Double]
    public var misses: [EvalCase]

    public var description: String {
        let sorted = latenciesMillis.sorted()
        func percentile(_ p: Double) -> Double {
            guard !sorted.isEmpty else { return .nan }
            return sorted[min(sorted.count - 1, Int((Double(sorted.count) * p).rounded(.up)) - 1)]
        }
        var lines = [
            "retrieval agent on \(cases) questions",
            "  hit@1   \(String(format: "%.2f", hitAt1))",
            "  hit@3   \(String(format: "%.2f", hitAt3))",
            "  latency p50 \(String(format: "%.2f", percentile(0.5))) ms   p99 \(String(format: "%.2f", percentile(0.99))) ms (search + answer)",
        ]
        for miss in misses { lines.append("  miss: \(miss.question) (expected \(miss.file))") }
        return lines.joined(separator: "\n")
    }
}

/// Retrieval quality on a question set: does the document that answers each question come first / in the top 3?
public enum KnowledgeEval {
    /// The generic mentions people write under someone else's question.
    static let genericMentions = [
        "@airlock thoughts?", "@airlock can you answer this?", "@airlock any idea?", "@airlock help here?",
        "@airlock what do the docs say?", "cc @airlock",
    ]
    static let fillers = [
        "+1, same question here", "I think this was written down somewhere", "any update on this?",
        "we hit this last week too", "not sure, maybe ask the platform team",
    ]

    /// Each question as a forum thread: asked in the root by one person, a reply or two, then a generic mention.
    public static func threadCases(_ cases: [EvalCase]) -> [(EvalCase, [ThreadMessage], String)] {
        cases.enumerated().map { number, item in
            var thread = [ThreadMessage(id: "root-\(number)", author: "alice", text: item.question)]
            for reply in 0..<(number % 3) {
                thread.append(
                    ThreadMessage(
                        id: "r\(number)-\(reply)",
                        author: "dave",
                        text: fillers[(number + reply) % fillers.count]
                    )
                )
            }
            return (item, thread, genericMentions[number % genericMentions.count])
        }
    }

    /// Retrieval on threads (the question in the root, a generic mention) — the way forums invoke the bot — and,
    /// for comparison, on the mention alone (what answering the mention instead of the thread gets).
    public static func runThreads(
        agentIndex index: KnowledgeIndex,
        cases: [EvalCase]
    ) async throws -> (thread: EvalFigures, mentionOnly: EvalFigures) {
        let threads = threadCases(cases)
        let withThread = try await measure(
            index: index,
            threads.map { item, thread, mention in
                (
                    item,
                    AgentQuestion(
                        text: mention,
                        requester: .init(platform: .init("eval"), id: "eval"),
                        draftID: .random(),
                        thread: thread
                    )
                )
            }
        )
        let mentionOnly = try await measure(
            index: index,
            threads.map { item, _, mention in
                (
                    item,
                    AgentQuestion(
                        text: mention,
                        requester: .init(platform: .init("eval"), id: "eval"),
                        draftID: .random()
                    )
                )
            }
        )
        return (withThread, mentionOnly)
    }

    static func measure(index: KnowledgeIndex, _ questions: [(EvalCase, AgentQuestion)]) async throws -> EvalFigures {
        var top1 = 0
        var top3 = 0
        var latencies: [Double] = []
        var misses: [EvalCase] = []
        let agent = RetrievalAgent(index: index)
        for (item, question) in questions {
            let started = ContinuousClock.now
            let answer = try await agent.answer(question)
            let elapsed = ContinuousClock.now - started
            latencies.append(Double(elapsed.components.attoseconds) / 1e15 + Double(elapsed.components.seconds) * 1000)
            let files = answer.sources.map(\.file)
            if files.first == item.file { top1 += 1 }
            if files.prefix(3).contains(item.file) { top3 += 1 } else { misses.append(item) }
        }
        let n = Double(max(1, questions.count))
        return EvalFigures(
            cases: questions.count,
            hitAt1: Double(top1) / n,
            hitAt3: Double(top3) / n,
            latenciesMillis: latencies,
            misses: misses
        )
    }

    public static func run(agentIndex index: KnowledgeIndex, cases: [EvalCase]) async throws -> EvalFigures {
        try await measure(
            index: index,
            cases.map { item in
                (
                    item,
                    AgentQuestion(
                        text: item.question,
                        requester: .init(platform: .init("eval"), id: "eval"),
                        draftID: .random()
                    )
                )
            }
        )
    }

    /// Questions about the bundled sample docs, phrased as people ask them (not copied from the docs).
    public static let sampleCases: [EvalCase] = [
        .init(question: "how often do we rotate the postgres password?", file: "database-credential-rotation.md"),
        .init(
            question: "someone left the team, do we need new db credentials?",
            file: "database-credential-rotation.md"
        ),
        .init(
            question: "what are the steps to rotate the app's database password?",
            file: "database-credential-rotation.md"
        ),
        .init(question: "a db password got pasted in slack, what now?", file: "database-credential-rotation.md"),
        .init(
            question: "which dashboard do I watch during a credential rotation?",
            file: "database-credential-rotation.md"
        ),
        .init(
            question: "where does the new database password go in the secrets manager?",
            file: "database-credential-rotation.md"
        ),
        .init(question: "how do I declare an incident?", file: "incident-response.md"),
        .init(question: "what is the difference between SEV1 and SEV2?", file: "incident-response.md"),
        .init(question: "who is incident commander?", file: "incident-response.md"),
        .init(question: "how often should we post status updates during an outage?", file: "incident-response.md"),
        .init(question: "when is the postmortem due?", file: "incident-response.md"),
        .init(question: "does a sev1 page security?", file: "incident-response.md"),
        .init(question: "how do I roll back a bad release?", file: "deploy-rollback.md"),
        .init(question: "can I deploy to production on friday afternoon?", file: "deploy-rollback.md"),
        .init(question: "does a rollback revert database migrations?", file: "deploy-rollback.md"),
        .init(question: "should I use a feature flag or a rollback?", file: "deploy-rollback.md"),
        .init(question: "how long does opsctl deploy rollback take?", file: "deploy-rollback.md"),
        .init(question: "when do merges to main reach staging?", file: "deploy-rollback.md"),
        .init(question: "how do I get production access?", file: "access-requests.md"),
        .init(question: "how long does granted access last before it expires?", file: "access-requests.md"),
        .init(question: "who approves access to customer data?", file: "access-requests.md"),
        .init(question: "what is the break-glass role and who reviews it?", file: "access-requests.md"),
        .init(question: "what happens to SSO when an employee leaves?", file: "access-requests.md"),
        .init(question: "who files the offboarding ticket?", file: "access-requests.md"),
        .init(question: "when does the nightly postgres backup run?", file: "backups-and-restore.md"),
        .init(question: "how long are backups kept?", file: "backups-and-restore.md"),
        .init(question: "how do I restore the database to a point in time?", file: "backups-and-restore.md"),
        .init(question: "can I restore over the live database?", file: "backups-and-restore.md"),
        .init(question: "how often are restore drills run?", file: "backups-and-restore.md"),
        .init(question: "is object storage versioned?", file: "backups-and-restore.md"),
    ]
}
