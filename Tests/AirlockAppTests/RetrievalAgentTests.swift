import AirlockApp
import AirlockDomain
import Foundation
import GRDB
import Testing

@testable import AirlockAgents

@Suite("The built-in retrieval agent (SQLite FTS5, bm25)")
struct RetrievalAgentTests {
    @Test(
        "Markdown list items are kept whole in an extract; other lines are prose",
        arguments: [
            ("- rotate the key", true), ("* step", true), ("+ step", true), ("1. run it", true), ("12) then", true),
            ("-rotate", false), ("1.5 seconds later", false), ("2024 was", false), ("**bold** text", false),
            ("", false),
            ("1.", false),
        ]
    )
    func listItems(_ line: String, _ isItem: Bool) {
        #expect(Extract.isListItem(line) == isItem)
    }

    func agent() async throws -> RetrievalAgent {
        let index = try KnowledgeIndex(writer: try DatabaseQueue())
        #expect(try await index.replace(with: SampleKnowledgeBase.documents) > 10)
        return RetrievalAgent(index: index)
    }

    func ask(_ agent: RetrievalAgent, _ text: String) async throws -> AgentAnswer {
        try await agent.answer(
            AgentQuestion(text: text, requester: PersonID(platform: .slack, id: "U1"), draftID: .random())
        )
    }

    @Test(
        "Questions are answered from the most relevant doc, cited as file § section",
        arguments: [
            ("How do I roll back a bad deploy?", "deploy-rollback.md"),
            ("restore the database from last night's backup", "backups-and-restore.md"),
            ("who can grant production access and for how long?", "access-requests.md"),
            ("what is a SEV1?", "incident-response.md"),
            ("rotate postgres credentials", "database-credential-rotation.md"),
        ]
    )
    func answersFromTheRightDoc(_ question: String, _ file: String) async throws {
        let answer = try await ask(try await agent(), question)
        #expect(answer.sources.first?.file == file, "\(answer.sources)")
        #expect(answer.text.contains("[1] \(file)"))
        #expect(answer.model == "fts5-bm25")
    }

    @Test("The answer is the sentences that answer, each cited, not whole passages; a procedure keeps all its steps")
    func extractive() async throws {
        let access = try await ask(try await agent(), "how do I request production access?")
        let body = access.text.components(separatedBy: "\n").filter { $0.hasSuffix("]") && !$0.hasPrefix("[") }
        #expect(
            !body.isEmpty && body.allSatisfy { $0.range(of: #" \[\d\]$"#, options: .regularExpression) != nil },
            "\(access.text)"
        )
        #expect(access.text.contains("Request production access through the access portal"))
        let passages = SampleKnowledgeBase.documents.map(\.text).joined()
        #expect(access.text.count < passages.count / 8, "not short: \(access.text.count) characters")
        // Asked how to rotate, the answer carries the whole numbered procedure, step 5 included.
        let rotate = try await ask(try await agent(), "what are the steps to rotate the database password?")
        for step in 1...5 { #expect(rotate.text.contains("\n\(step). "), "step \(step) missing: \(rotate.text)") }
        #expect(rotate.text.contains("opsctl db rotate --commit"))
    }

    @Test("A procedure is one part; prose is split into sentences")
    func parts() {
        let parts = Extract.parts(of: "Do this first. Then that.\n1. one\n2. two\n   more of two\n\n```\ncode\n```")
        #expect(
            parts == [
                .sentence("Do this first."), .sentence("Then that."), .block("1. one\n2. two\n   more of two"),
                .block("```\ncode\n```"),
            ]
        )
    }

    @Test("No match: says so and flags low confidence instead of inventing an answer")
    func noMatch() async throws {
        let answer = try await ask(try await agent(), "What's the office wifi password for guests in Lisbon?")
        let lisbon = try await ask(try await agent(), "zebra quantum xylophone")
        #expect(lisbon.sources.isEmpty)
        #expect(lisbon.text.contains("found nothing"))
        #expect(lisbon.riskFlags.contains { $0.contains("low confidence") })
        #expect(answer.riskFlags.contains { $0.contains("credentials") })
    }

    @Test("FTS syntax in a question is treated as words, never as a query error")
    func hostileQuery() async throws {
        let answer = try await ask(try await agent(), #"deploy" OR rollback* NEAR( "-- ; DROP TABLE kb_chunk"#)
        #expect(!answer.sources.isEmpty)
    }

    @Test("Re-indexing the same documents is a no-op; a folder on disk is read recursively")
    func indexing() async throws {
        let index = try KnowledgeIndex(writer: try DatabaseQueue())
        #expect(try await index.replace(with: SampleKnowledgeBase.documents) > 0)
        #expect(try await index.replace(with: SampleKnowledgeBase.documents) == 0)
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("kb-\(UUID().uuidString)/runbooks")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        try "# Pager\n\n## Escalation\nPage the secondary after 15 minutes without an ack.".write(
            to: folder.appendingPathComponent("pager.md"),
            atomically: true,
            encoding: .utf8
        )
        try Data([0xff, 0xfe]).write(to: folder.appendingPathComponent("binary.bin"))
        let documents = try KnowledgeIndex.documents(inFolder: folder.deletingLastPathComponent().path)
        #expect(documents.map(\.path) == ["runbooks/pager.md"])
        try await index.replace(with: documents)
        let hits = try await index.search("when do we escalate the page?", readers: [])
        #expect(hits.first?.file == "runbooks/pager.md")
        #expect(hits.first?.section == "Escalation")
        #expect(throws: KnowledgeError.self) { try KnowledgeIndex.documents(inFolder: "/nonexistent-kb") }
    }

    @Test("The shipped evaluation set: the document that answers each question is among the top three for ≥ 90%")
    func evaluationSet() async throws {
        let figures = try await Operations.evaluateKnowledgeBase(folder: nil, cases: KnowledgeEval.sampleCases)
        #expect(figures.cases >= 25)
        #expect(figures.hitAt3 >= 0.9, "\(figures)")
    }

    @Test("Re-indexing is incremental by content hash: unchanged docs are left alone, changed and removed ones follow")
    func incrementalIndex() async throws {
        let index = try KnowledgeIndex(writer: try DatabaseQueue())
        let docs = [
            KnowledgeDocument(path: "a.md", text: "# A\n\n## One\nalpha bravo\n\n## Two\ncharlie delta\n"),
            KnowledgeDocument(path: "b.md", text: "# B\n\n## Three\necho foxtrot\n"),
        ]
        #expect(try await index.replace(with: docs) == 3)
        #expect(try await index.replace(with: docs) == 0, "nothing changed, nothing re-indexed")
        let changed = [docs[0], KnowledgeDocument(path: "b.md", text: "# B\n\n## Three\ngolf hotel\n")]
        #expect(try await index.replace(with: changed) == 1, "only b.md is re-chunked")
        #expect(try await index.search("echo", readers: []).isEmpty)
        #expect(try await index.search("golf", readers: []).first?.file == "b.md")
        #expect(try await index.replace(with: [docs[0]]) == 0)
        #expect(try await index.search("golf", readers: []).isEmpty, "a removed doc leaves the index")
        let stats = try await index.stats()
        #expect(stats.documents == 1 && stats.passages == 2)
    }
}
