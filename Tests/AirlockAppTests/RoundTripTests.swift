import AirlockApp
import AirlockDomain
import AirlockDomainTesting
import AirlockSQLite
import AirlockTesting
import Foundation
import Testing

/// Strings an attacker or an odd question can carry: NUL and other C0/C1 controls, lone-surrogate
/// replacement, combining marks, bidi overrides, emoji, and now and then a very long value.
struct HostileStrings: RandomNumberGenerator {
    var generator: SeededGenerator

    init(seed: UInt64) { generator = SeededGenerator(seed: seed &+ 0x9E37_79B9_7F4A_7C15) }

    mutating func next() -> UInt64 { generator.next() }

    static let pieces: [String] = [
        "\u{0}", "\u{1}", "\u{7}", "\u{8}", "\t", "\n", "\r", "\u{1B}[31m", "\u{7F}", "\u{85}", "\u{9F}",
        "\u{FFFD}", "e\u{301}", "\u{0300}\u{0301}\u{0302}", "\u{202E}", "\u{200B}", "\u{200D}", "\u{FEFF}",
        "\u{FFFF}", "\u{10FFFF}", "🔥", "👩‍👩‍👧", "\\", "\"", "'", "%00", "\\u0000", "<!channel>", "a", "Z", "0", " ",
        "日本語", "ع", "\u{E000}",
    ]

    mutating func string(maxPieces: Int = 12) -> String {
        if Int.random(in: 0..<40, using: &self) == 0 {
            // A very long value (64–200 KiB) with a NUL in the middle and at the end.
            let length = Int.random(in: 64_000...200_000, using: &self)
            return String(repeating: "x", count: length / 2) + "\u{0}" + String(repeating: "é", count: length / 4)
                + "\u{0}"
        }
        let count = Int.random(in: 0...maxPieces, using: &self)
        return (0..<count).map { _ in Self.pieces.randomElement(using: &self)! }.joined()
    }
}

@Suite("Stored values round-trip exactly")
struct RoundTripTests {
    @Test("Random hostile strings in every audit field and in draft text: read back equal, audit verify passes")
    func hostileStringsRoundTrip() async throws {
        let database = temporaryDatabase()
        let store = try SQLiteStore.open(url: database)
        var random = HostileStrings(seed: 9)
        var written: [AuditEvent] = []
        var drafts: [Draft] = []
        let at = Date(timeIntervalSince1970: 1_800_000_000.123)
        for _ in 0..<150 {
            let event = AuditEvent(
                kind: .tool(random.string()),
                platform: PlatformName(random.string()),
                actor: PersonID(platform: PlatformName(random.string()), id: random.string()),
                draftID: .random(using: &random),
                detail: [random.string(), "answer", ""].reduce(into: [String: String]()) { $0[$1] = random.string() }
            )
            written.append(event)
            var draft = Draft(
                id: .random(using: &random),
                requester: PersonID(platform: .slack, id: "U0REQ"),
                question: random.string(),
                target: ThreadRef(platform: .slack, channel: random.string(), thread: random.string()),
                createdAt: at,
                ttl: .seconds(3600)
            )
            draft = Gate.answer(
                draft,
                text: random.string(),
                sources: [SourceRef(file: random.string(), section: random.string())],
                riskFlags: [random.string()]
            )
            draft.rejectionReason = random.string()
            drafts.append(draft)
            try await store.commit(Changes(draft: draft, audit: [event], jobs: [.answer(draftID: draft.id)]), at: at)
        }

        // A fresh connection reads what is on disk.
        let reopened = try SQLiteStore.open(url: database)
        let (ok, summary) = try await Operations.verifyAudit(reopened)
        #expect(ok, "\(summary)")
        let entries = try await auditEntries(reopened)
        #expect(entries.count == written.count)
        for (entry, event) in zip(entries, written) {
            #expect(entry.kind == event.kind.rawValue)
            #expect(entry.platform == event.platform?.rawValue)
            #expect(entry.actor == event.actor?.description)
            #expect(entry.draftID == event.draftID?.rawValue)
            let detail = try JSONDecoder().decode([String: String].self, from: Data(entry.detail.utf8))
            #expect(detail == event.detail)
        }
        for draft in drafts {
            let read = try #require(try await reopened.draft(draft.id))
            #expect(read == draft, "draft \(draft.id) changed on its way through SQLite")
            #expect(read.contentHash == draft.contentHash)
        }
        var answered: [DraftID] = []
        while let job = try await reopened.claimJob(at: at.addingTimeInterval(1), lease: .seconds(60)) {
            guard case .answer(let id) = job.payload else { Issue.record("job \(job.payload) was not written"); break }
            answered.append(id)
        }
        #expect(answered == drafts.map(\.id), "the answer jobs did not read back as written")
        _ = store
    }

    @Test("Identifiers from outside obey the grammar: control characters, spaces and empty ids are not people")
    func identifierGrammar() {
        #expect(PersonID(parsing: "slack:U0REQ") != nil)
        #expect(PersonID(parsing: "matrix:@carol:example.org")?.id == "@carol:example.org")
        for bad in [
            "slack:UAPP\u{0}", "slack:U\u{202E}X", "slack:", ":U1", "sl ack:U1", "slack:U 1", "sl\u{0}ack:U1",
            "slack:U\u{200B}1",
        ] {
            #expect(PersonID(parsing: bad) == nil, "\(bad.debugDescription) was accepted as a person")
        }
        #expect(PlatformName.validated("slack") != nil)
        #expect(PlatformName.validated("Slack") == nil)
        #expect(PlatformName.validated("sla\u{0}ck") == nil)
    }

    @Test(
        "Signed Slack deliveries with NUL and control characters in their fields never reach the gate; audit verify passes"
    )
    func controlCharactersOnEverySlackRoute() async throws {
        let database = temporaryDatabase()
        try await withFakeSlack { slack in
            try await withAirlock(slack: slack, database: database, configure: standardApprovers) { app in
                let id = try await askQuestion(app, slack)
                try await publishAndWaitForReviewers(app, slack, id)
                let before = try await app.store.drafts(DraftFilter())
                var number = 0
                for bad in ["\u{0}", "\u{1}", "\n", "\u{7F}", "\u{85}", "\u{202E}", " ", "\u{200B}"] {
                    number += 1
                    // /slack/commands: a user id that is not a Slack user id is told, recorded, and not gated.
                    let (reply, response) = try await app.slash(
                        user: approver + bad,
                        command: "/approve",
                        text: id.rawValue
                    )
                    #expect(response.status == 200)
                    #expect(reply.contains("not a Slack user id"), "\(reply)")
                    let (idReply, _) = try await app.slash(
                        user: approver,
                        command: "/approve",
                        text: String(id.rawValue.prefix(5)) + bad + String(id.rawValue.dropFirst(5))
                    )
                    #expect(!idReply.contains("Approved"), "\(idReply)")
                    let (nameReply, _) = try await app.slash(
                        user: approver,
                        command: "/approve" + bad,
                        text: id.rawValue
                    )
                    #expect(!nameReply.contains("Approved"), "\(nameReply)")
                    // /slack/events: a mention from a bad user, in a bad channel or at a bad ts is 200 and ignored.
                    for event in [
                        SlackEvents.mention(eventID: "EvU\(number)", user: requester + bad, text: "<@U0BOT> hi"),
                        SlackEvents.mention(
                            eventID: "EvC\(number)",
                            user: requester,
                            text: "<@U0BOT> hi",
                            channel: "C0001" + bad
                        ),
                        SlackEvents.mention(
                            eventID: "EvT\(number)",
                            user: requester,
                            text: "<@U0BOT> hi",
                            ts: "1700000000.1" + bad
                        ),
                        SlackEvents.mention(eventID: "EvE\(number)" + bad, user: requester, text: "<@U0BOT> hi"),
                    ] {
                        #expect(try await app.event(event).status == 200)
                    }
                    // /slack/interactions: a click by a bad user id is 200 and ignored.
                    #expect(
                        try await app.click(user: approver + bad, action: "approve", value: "\(id):1").status == 200
                    )
                }
                let after = try await app.store.drafts(DraftFilter())
                #expect(after == before, "a delivery with a control character in an identifier changed a draft")
                #expect(slack.publicMessages.isEmpty, "nothing was posted publicly")
                let refusals = try await auditEntries(app.store).filter { $0.detail.contains("invalid_identifier") }
                #expect(refusals.count >= 8 * 5, "every refused or ignored delivery is recorded with its reason")

                // A question may legitimately carry odd text: it is answered and stored byte for byte.
                let odd = "what does \u{0}\u{1}e\u{301} \u{202E} mean?"
                _ = try await app.event(
                    SlackEvents.mention(eventID: "EvOdd", user: secondApprover, text: "<@U0BOT> " + odd)
                )
                #expect(
                    await eventually {
                        slack.directMessages(to: secondApprover).contains { $0.text.contains("Draft answer") }
                    }
                )
                let asked = try await app.store.drafts(
                    DraftFilter(requester: PersonID(platform: .slack, id: secondApprover))
                )
                #expect(asked.first?.question == odd)
            }
        }
        let (ok, summary) = try await Operations.verifyAudit(try SQLiteStore.open(url: database))
        #expect(ok, "\(summary)")
    }
}
