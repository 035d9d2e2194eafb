public import AirlockDomain
import Foundation

/// The built-in agent: answers with the most relevant passages of the team's own docs and cites them.
/// Works offline; never invents text beyond what the docs say.
public struct RetrievalAgent: AnalysisAgent {
    public let backend = "retrieval"
    let index: KnowledgeIndex
    let maxPassages: Int

    public init(index: KnowledgeIndex, maxPassages: Int = 3) {
        self.index = index
        self.maxPassages = maxPassages
    }

    public func answer(_ question: AgentQuestion) async throws -> AgentAnswer {
        // A follow-up asking for less ("shorter", "brief") quotes only the best passage.
        let brief = question.followUp.map { ["short", "brief", "concise", "tl;dr", "summar"].contains(where: $0.instruction.lowercased().contains) } ?? false
        let passages = Self.relevant(try await index.search(question.searchText, limit: brief ? 1 : maxPassages, readers: question.readerIdentities))
        let query = KnowledgeIndex.matchQuery(for: question.searchText) ?? ""
        guard !passages.isEmpty else {
            return AgentAnswer(
                text: "I found nothing in the team's docs that answers this. Please ask a person who owns the area.",
                sources: [],
                riskFlags: ["no matching documentation: low confidence"],
                model: "fts5-bm25",
                prompt: query)
        }
        var lines = ["From our docs:"]
        for (number, passage) in passages.enumerated() {
            lines.append("")
            lines.append("[\(number + 1)] \(passage.source.label)\(passage.restricted ? " [RESTRICTED: for you only]" : "")")
            lines.append(Self.excerpt(passage.body))
        }
        let text = lines.joined(separator: "\n")
        var seen = Set<SourceRef>()
        let sources = passages.map(\.source).filter { seen.insert($0).inserted }
        return AgentAnswer(
            text: text,
            sources: sources,
            riskFlags: RiskScanner.flags(question: question.text, answer: text, passages: passages),
            model: "fts5-bm25",
            prompt: query)
    }

    /// Drops passages far weaker than the best one (bm25 scores are negative; lower is better), so a
    /// passage that shares one common word with the question is not quoted as if it answered it.
    static func relevant(_ passages: [Passage], ratio: Double = 0.4) -> [Passage] {
        guard let best = passages.first?.score, best < 0 else { return passages }
        return passages.filter { $0.score <= best * ratio }
    }

    static func excerpt(_ body: String, limit: Int = 700) -> String {
        guard body.count > limit else { return body }
        let cut = body.prefix(limit)
        let end = cut.lastIndex(where: { $0 == "\n" || $0 == "." }) ?? cut.endIndex
        return String(body[..<end]) + " …"
    }
}

/// Flags what a reviewer should look at twice before an answer goes public.
public enum RiskScanner {
    static let rules: [(flag: String, words: [String])] = [
        ("mentions credentials or secrets: check nothing sensitive is quoted",
         ["password", "secret", "credential", "api key", "token", "private key", "ssh key"]),
        ("describes destructive or irreversible operations", ["delete", "drop ", "truncate", "rm -rf", "wipe", "revoke", "force-push", "--force"]),
        ("touches production systems", ["production", "prod ", "prod-", "live database"]),
        ("concerns customer or personal data", ["customer data", "personal data", "pii", "gdpr", "email address"]),
    ]

    /// The flags that apply to a question, its answer and the passages used.
    public static func flags(question: String, answer: String, passages: [Passage]) -> [String] {
        let haystack = (question + "\n" + answer).lowercased()
        var flags = rules.filter { rule in rule.words.contains { haystack.contains($0) } }.map(\.flag)
        if passages.count == 1 { flags.append("only one matching passage: answer may be incomplete") }
        return flags
    }
}
