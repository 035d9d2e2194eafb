public import AirlockDomain
import Foundation

/// The built-in agent: answers with the most relevant passages of the team's own docs and cites them.
/// Works offline; never invents text beyond what the docs say.
public struct RetrievalAgent: AnalysisAgent {
    public let backend = AgentBackend.retrieval
    let index: KnowledgeIndex
    let maxPassages: Int

    public init(index: KnowledgeIndex, maxPassages: Int = 3) {
        self.index = index
        self.maxPassages = maxPassages
    }

    public func answer(_ question: AgentQuestion) async throws -> AgentAnswer {
        // A follow-up asking for less ("shorter", "brief") quotes only the best passage.
        let brief =
            question.followUp.map {
                ["short", "brief", "concise", "tl;dr", "summar"].contains(where: $0.instruction.lowercased().contains)
            } ?? false
        let found = Self.relevant(
            try await index.search(
                question.searchText,
                limit: brief ? 1 : maxPassages,
                readers: question.readerIdentities
            )
        )
        let query = KnowledgeIndex.matchQuery(for: question.searchText) ?? ""
        guard !found.isEmpty else {
            return AgentAnswer(
                text: "I found nothing in the team's docs that answers this. Please ask a person who owns the area.",
                sources: [],
                riskFlags: ["no matching documentation: low confidence"],
                model: "fts5-bm25",
                prompt: query
            )
        }
        let (text, passages) = Extract.answer(passages: found, question: question.searchText, brief: brief)
        var seen = Set<SourceRef>()
        let sources = passages.map(\.source).filter { seen.insert($0).inserted }
        // Risk is judged on the passages the answer was drawn from, not only on the sentences kept: a step the
        // extract leaves out still describes what the reader will do.
        let material = ([text] + passages.map(\.body)).joined(separator: "\n")
        return AgentAnswer(
            text: text,
            sources: sources,
            riskFlags: RiskScanner.flags(question: question.text, answer: material, passages: passages),
            model: "fts5-bm25",
            prompt: query
        )
    }

    /// Drops passages far weaker than the best one (bm25 scores are negative; lower is better), so a
    /// passage that shares one common word with the question is not quoted as if it answered it.
    static func relevant(_ passages: [Passage], ratio: Double = 0.4) -> [Passage] {
        guard let best = passages.first?.score, best < 0 else { return passages }
        return passages.filter { $0.score <= best * ratio }
    }

}

/// The offline agent's short answer: from each passage, the parts that answer the question, each cited `[n]`,
/// then the list of sources. A part is a prose sentence, or a whole list or code block: a procedure is never cut
/// to some of its steps (a missing step is wrong advice). Parts are chosen by the question's words they hold; a
/// first passage none of whose parts holds one gives its first two parts; a later one is left out.
enum Extract {
    enum Part: Equatable {
        case sentence(String)
        case block(String)

        var text: String {
            switch self {
            case .sentence(let text), .block(let text): text
            }
        }
    }

    /// The answer text and the passages it quotes.
    static func answer(passages: [Passage], question: String, brief: Bool) -> (text: String, used: [Passage]) {
        let terms = self.terms(question)
        var lines = ["From our docs:", ""]
        var used: [Passage] = []
        for passage in passages {
            let chosen = choose(parts(of: passage.body), terms: terms, limit: brief ? 2 : 4, fallback: used.isEmpty)
            guard !chosen.isEmpty else { continue }
            used.append(passage)
            let number = used.count - 1
            for part in chosen {
                switch part {
                case .sentence(let text): lines.append("\(text) [\(number + 1)]")
                case .block(let text): lines.append(text + "\n[\(number + 1)]")
                }
            }
        }
        lines.append("")
        for (number, passage) in used.enumerated() {
            lines.append(
                "[\(number + 1)] \(passage.source.label)\(passage.restricted ? " [RESTRICTED: for you only]" : "")"
            )
        }
        return (lines.joined(separator: "\n"), used)
    }

    /// The question's words, plus each pair of neighbours written as one (`roll back` → `rollback`).
    static func terms(_ question: String) -> Set<String> {
        let plain = question.lowercased().split(whereSeparator: { !($0.isLetter || $0.isNumber) }).map(String.init)
        var result = Set(words(question))
        for (a, b) in zip(plain, plain.dropFirst()) where a.count > 1 && b.count > 1 { result.insert(stem(a + b)) }
        return result
    }

    /// The passage's parts in order: lists and code fences whole, prose split into sentences.
    static func parts(of body: String) -> [Part] {
        var result: [Part] = []
        var prose: [String] = []
        var block: [String] = []
        var inFence = false
        func flushProse() {
            let paragraph = prose.joined(separator: " ").trimmingCharacters(in: .whitespaces)
            prose = []
            guard !paragraph.isEmpty else { return }
            result += sentences(paragraph).map(Part.sentence)
        }
        func flushBlock() {
            if !block.isEmpty { result.append(.block(block.joined(separator: "\n"))) }
            block = []
        }
        for raw in body.components(separatedBy: "\n") {
            let line = raw.trimmingCharacters(in: .whitespaces)
            if line.hasPrefix("```") {
                if inFence {
                    block.append(raw); flushBlock(); inFence = false
                } else {
                    flushProse(); flushBlock(); block.append(raw); inFence = true
                }
                continue
            }
            if inFence { block.append(raw); continue }
            if line.isEmpty { flushProse(); flushBlock(); continue }
            let isItem = isListItem(line)
            if isItem || (!block.isEmpty && raw.hasPrefix(" ")) {
                flushProse()
                block.append(raw)
            } else {
                flushBlock()
                prose.append(line)
            }
        }
        flushProse()
        flushBlock()
        return result
    }

    /// `- `, `* `, `+ ` or `1. ` / `1) `: a Markdown list item (by hand: the regular expression this replaced was a
    /// visible share of every answer's CPU).
    static func isListItem(_ line: String) -> Bool {
        let bytes = Array(line.utf8.prefix(12))
        func spaceAt(_ index: Int) -> Bool { index < bytes.count && (bytes[index] == 0x20 || bytes[index] == 0x09) }
        guard let first = bytes.first else { return false }
        if first == UInt8(ascii: "-") || first == UInt8(ascii: "*") || first == UInt8(ascii: "+") { return spaceAt(1) }
        var index = 0
        while index < bytes.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[index]) { index += 1 }
        guard index > 0, index < bytes.count, bytes[index] == UInt8(ascii: ".") || bytes[index] == UInt8(ascii: ")")
        else { return false }
        return spaceAt(index + 1)
    }

    /// Splits prose after `.`, `!` or `?` followed by a space and an upper-case letter, a digit or a quote.
    static func sentences(_ paragraph: String) -> [String] {
        var result: [String] = []
        var current = ""
        let characters = Array(paragraph)
        for (i, c) in characters.enumerated() {
            current.append(c)
            if ".!?".contains(c), i + 2 < characters.count, characters[i + 1] == " ",
                characters[i + 2].isUppercase || characters[i + 2].isNumber || "`\"(".contains(characters[i + 2])
            {
                result.append(current.trimmingCharacters(in: .whitespaces))
                current = ""
            }
        }
        let rest = current.trimmingCharacters(in: .whitespaces)
        if !rest.isEmpty { result.append(rest) }
        return result
    }

    /// The best-scoring parts (question words they hold), at most `limit`, in the passage's order; a sentence
    /// ending in `:` brings the block after it.
    static func choose(_ parts: [Part], terms: Set<String>, limit: Int, fallback: Bool) -> [Part] {
        let scores = parts.map { Set(words($0.text)).intersection(terms).count }
        var keep = Set(
            scores.indices.filter { scores[$0] > 0 }.sorted { (scores[$0], -$0) > (scores[$1], -$1) }.prefix(limit)
        )
        if keep.isEmpty && fallback { keep = Set(parts.indices.prefix(2)) }
        for i in keep.sorted() where i + 1 < parts.count {
            if case .sentence(let text) = parts[i], text.hasSuffix(":"), case .block = parts[i + 1] {
                keep.insert(i + 1)
            }
        }
        return keep.sorted().map { parts[$0] }
    }

    /// Lower-cased words without stop words, with a crude stem (`rotating`, `rotated`, `rotates` → `rotat`).
    static func words(_ text: String) -> [String] {
        text.lowercased().split(whereSeparator: { !($0.isLetter || $0.isNumber) }).map(String.init)
            .filter { $0.count > 1 && !KnowledgeIndex.stopWords.contains($0) }
            .map(stem)
    }

    static func stem(_ word: String) -> String {
        for suffix in ["ing", "ed", "es", "s", "e"] where word.count > suffix.count + 3 && word.hasSuffix(suffix) {
            return String(word.dropLast(suffix.count))
        }
        return word
    }
}

/// Flags what a reviewer should look at twice before an answer goes public.
public enum RiskScanner {
    static let rules: [(flag: String, words: [String])] = [
        (
            "mentions credentials or secrets: check nothing sensitive is quoted",
            ["password", "secret", "credential", "api key", "token", "private key", "ssh key"]
        ),
        (
            "describes destructive or irreversible operations",
            ["delete", "drop ", "truncate", "rm -rf", "wipe", "revoke", "force-push", "--force"]
        ),
        ("touches production systems", ["production", "prod ", "prod-", "live database"]),
        ("concerns customer or personal data", ["customer data", "personal data", "pii", "gdpr", "email address"]),
    ]

    /// The flags that apply to a question, its answer and the passages used.
    public static func flags(question: String, answer: String, passages: [Passage]) -> [String] {
        // Byte search: `String.contains` went through Foundation's locale-aware search, most of this function's time.
        let haystack = Array((question + "\n" + answer).lowercased().utf8)
        var flags = rules.filter { rule in rule.words.contains { haystack.firstRange(of: Array($0.utf8)) != nil } }
            .map(\.flag)
        if passages.count == 1 { flags.append("only one matching passage: answer may be incomplete") }
        return flags
    }
}
