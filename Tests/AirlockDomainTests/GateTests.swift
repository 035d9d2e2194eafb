import AirlockDomain
import Foundation
import Testing

let alice = PersonID(platform: .slack, id: "UALICE")
let bob = PersonID(platform: .slack, id: "UBOB")
let carol = PersonID(platform: .slack, id: "UCAROL")
let mallory = PersonID(platform: .slack, id: "UMAL")
let aliceOnGitHub = PersonID(platform: PlatformName("github"), id: "alice-gh")
let thread = ThreadRef(platform: .slack, channel: "C1", thread: "1700000000.000100")
let start = Date(timeIntervalSince1970: 1_700_000_000)

/// The requester's publish, then the review shown to everyone who might approve (as `Decisions` records it).
func publishAndShow(_ draft: Draft, _ policy: ApprovalPolicy, at now: Date = start) throws -> Draft {
    var published = try Gate.apply(.publish(version: nil), to: draft, by: Actor(alice), at: now, policy: policy).draft
    for person in [bob, carol, mallory, aliceOnGitHub] {
        published = Gate.markShown(published, to: person, version: published.version)
    }
    return published
}

func answeredDraft(ttl: Duration = .seconds(3600)) -> Draft {
    let draft = Draft(id: .random(), requester: alice, question: "How?", target: thread, createdAt: start, ttl: ttl)
    return Gate.answer(draft, text: "Like this.", sources: [], riskFlags: [])
}

@Suite("Gate rules")
struct GateTests {
    let policy = ApprovalPolicy(approvers: [bob, carol, alice])

    @Test("publish → approve by a second listed person opens the gate for exactly the current text")
    func happyPath() throws {
        let draft = answeredDraft()
        let (requested, event) = try Gate.apply(
            .publish(version: nil),
            to: draft,
            by: Actor(alice),
            at: start,
            policy: policy
        )
        #expect(event == .publishRequested)
        let published = Gate.markShown(requested, to: bob, version: requested.version)
        #expect(published.publishRequest?.contentHash == draft.contentHash)
        let (approved, approval) = try Gate.apply(
            .approve(version: nil),
            to: published,
            by: Actor(bob),
            at: start,
            policy: policy
        )
        #expect(approval == .approved(by: bob, version: 1))
        let granted = try Gate.authorizePost(approved, policy: policy, at: start)
        #expect(granted.approver == bob)
        #expect(granted.contentHash == ContentHash.of(text: "Like this.", target: thread, requester: alice))
    }

    @Test(
        "Refusals",
        arguments: [
            (
                "stranger publishes", DraftCommand.publish(version: nil), "UMAL", false,
                Refusal.notRequester(command: "publish", requester: alice)
            ),
            ("requester approves", .approve(version: nil), "UALICE", true, .selfApproval),
            ("unlisted approver", .approve(version: nil), "UMAL", true, .notAuthorised(mallory)),
            ("approve before publish", .approve(version: nil), "UBOB", false, .noPendingPublish),
            ("stale button", .approve(version: 7), "UBOB", true, .staleVersion(shown: 7, current: 1)),
            ("stranger revises", .revise(text: "x"), "UMAL", false, .notRequester(command: "revise", requester: alice)),
            ("empty revision", .revise(text: "   "), "UALICE", false, .emptyRevision),
            ("stranger rejects", .reject(reason: nil), "UMAL", false, .notParticipant),
        ]
    )
    func refusals(
        _ name: String,
        _ command: DraftCommand,
        _ actorID: String,
        _ published: Bool,
        _ expected: Refusal
    ) throws {
        var draft = answeredDraft()
        if published { draft = try publishAndShow(draft, policy) }
        let actor = Actor(PersonID(platform: .slack, id: actorID))
        #expect(throws: expected) { try Gate.apply(command, to: draft, by: actor, at: start, policy: policy) }
    }

    @Test("Bots can do nothing, even listed ones")
    func botsRefused() throws {
        let published = try publishAndShow(answeredDraft(), policy)
        #expect(throws: Refusal.botActor) {
            try Gate.apply(
                .approve(version: nil),
                to: published,
                by: Actor(bob, isBot: true),
                at: start,
                policy: policy
            )
        }
    }

    @Test("A linked account of the requester counts as the requester (no approving from another account)")
    func linkedAccountsAreOnePerson() throws {
        let linked = ApprovalPolicy(approvers: [bob, aliceOnGitHub], identityLinks: [aliceOnGitHub: alice])
        let published = try publishAndShow(answeredDraft(), linked)
        #expect(throws: Refusal.selfApproval) {
            try Gate.apply(.approve(version: nil), to: published, by: Actor(aliceOnGitHub), at: start, policy: linked)
        }
    }

    @Test("Open approval only for the scopes named: a human of that workspace, nobody else, nobody by default")
    func openPolicy() throws {
        let open = ApprovalPolicy().withOpenApproval([.slack: ["T0TEAM"]])
        let published = try publishAndShow(answeredDraft(), open)
        #expect(throws: Never.self) {
            try Gate.apply(
                .approve(version: nil),
                to: published,
                by: Actor(mallory, scope: "T0TEAM"),
                at: start,
                policy: open
            )
        }
        // Another workspace, an actor whose workspace the platform did not say, another platform: refused.
        for actor in [Actor(mallory, scope: "T0ELSE"), Actor(mallory)] {
            #expect(throws: Refusal.notAuthorised(mallory)) {
                try Gate.apply(.approve(version: nil), to: published, by: actor, at: start, policy: open)
            }
        }
        let outsider = PersonID(platform: PlatformName("discord"), id: "1")
        #expect(throws: Refusal.notAuthorised(outsider)) {
            try Gate.apply(
                .approve(version: nil),
                to: published,
                by: Actor(outsider, scope: "T0TEAM"),
                at: start,
                policy: open
            )
        }
        // No approver listed and no open scope: nobody can approve at all.
        let closed = ApprovalPolicy()
        #expect(!closed.canAnyoneApprove)
        #expect(throws: Refusal.notAuthorised(mallory)) {
            try Gate.apply(
                .approve(version: nil),
                to: try publishAndShow(answeredDraft(), closed),
                by: Actor(mallory, scope: "T0TEAM"),
                at: start,
                policy: closed
            )
        }
    }

    @Test("A group listed without known members authorises nobody (fails closed)")
    func unknownGroupFailsClosed() throws {
        let (groupOnly, invalid) = ApprovalPolicy.parse(approvers: "group:sre")
        #expect(invalid.isEmpty)
        let published = try publishAndShow(answeredDraft(), groupOnly)
        #expect(throws: Refusal.notAuthorised(bob)) {
            try Gate.apply(.approve(version: nil), to: published, by: Actor(bob), at: start, policy: groupOnly)
        }
    }

    @Test("A revision clears publish and approvals and changes the content hash")
    func revisionClears() throws {
        var draft = try publishAndShow(answeredDraft(), policy)
        draft = try Gate.apply(.approve(version: nil), to: draft, by: Actor(bob), at: start, policy: policy).draft
        let before = draft.contentHash
        let (revised, event) = try Gate.apply(
            .revise(text: "Better."),
            to: draft,
            by: Actor(alice),
            at: start,
            policy: policy
        )
        #expect(event == .revised(version: 2, clearedApprovals: 1))
        #expect(revised.approvals.isEmpty && revised.publishRequest == nil && revised.state == .revised)
        #expect(revised.contentHash != before)
        #expect(throws: Refusal.noPendingPublish) { try Gate.authorizePost(revised, policy: policy, at: start) }
    }

    @Test("A tampered approval (hash of other text) does not authorise a post")
    func tamperedApprovalRefused() throws {
        var draft = try publishAndShow(answeredDraft(), policy)
        draft = try Gate.apply(.approve(version: nil), to: draft, by: Actor(bob), at: start, policy: policy).draft
        draft.text = "Something nobody approved."
        #expect(throws: Refusal.noPendingPublish) { try Gate.authorizePost(draft, policy: policy, at: start) }
    }

    @Test("TTL: expired drafts refuse publish, approve, revise and reject; expiry is a final state")
    func expiry() throws {
        let draft = answeredDraft(ttl: .seconds(60))
        let later = start.addingTimeInterval(61)
        #expect(throws: Refusal.expired) {
            try Gate.apply(.publish(version: nil), to: draft, by: Actor(alice), at: later, policy: policy)
        }
        #expect(throws: Refusal.expired) {
            try Gate.apply(.revise(text: "x"), to: draft, by: Actor(alice), at: later, policy: policy)
        }
        #expect(throws: Refusal.expired) {
            try Gate.apply(.reject(reason: nil), to: draft, by: Actor(alice), at: later, policy: policy)
        }
        let expired = try #require(Gate.expireIfDue(draft, at: later))
        #expect(expired.state == .expired)
        #expect(Gate.expireIfDue(draft, at: start) == nil)
    }

    @Test("Draft ids are 22 random characters and only well-formed ids parse")
    func draftIDs() {
        let ids = (0..<1000).map { _ in DraftID.random().rawValue }
        #expect(Set(ids).count == 1000)
        #expect(ids.allSatisfy { $0.count == 22 })
        #expect(DraftID("abc") == nil)
        #expect(DraftID("../../etc") == nil)
        #expect(DraftID(String(repeating: "a", count: 41)) == nil)
        #expect(DraftID("Ab_-12") != nil)
    }

    @Test("A new draft's id sorts by its creation time, is well formed and is still random after the time")
    func newDraftIDs() throws {
        let start = Date(timeIntervalSince1970: 1_790_000_000)
        let times = (0..<500).map { start.addingTimeInterval(Double($0 * 7919 % 500) * 0.001 * 37) }
        let ids = times.map { DraftID.new(at: $0) }
        #expect(ids.allSatisfy { $0.rawValue.count == 22 && DraftID($0.rawValue) == $0 })
        let byTime = zip(times, ids).sorted { $0.0 < $1.0 }.map(\.1.rawValue)
        #expect(byTime.map { $0.prefix(7) } == byTime.map { $0.prefix(7) }.sorted())
        let sameMoment = (0..<1000).map { _ in DraftID.new(at: start).rawValue }
        #expect(Set(sameMoment).count == 1000)
        #expect(Set(sameMoment.map { $0.prefix(7) }).count == 1)
        // Later in the same second sorts later, across a digit carry too.
        #expect(
            DraftID.new(at: Date(timeIntervalSince1970: 61.999)).rawValue
                < DraftID.new(at: Date(timeIntervalSince1970: 62.0)).rawValue
        )
    }

    @Test(
        "Durations parse as the settings write them",
        arguments: [
            ("90s", 90.0), ("15m", 900.0), ("24h", 86400.0), ("7d", 604800.0), ("250ms", 0.25), ("60", 60.0),
        ]
    )
    func durations(_ text: String, _ seconds: Double) throws {
        #expect(try #require(Duration(parsing: text)).timeInterval == seconds)
    }

    @Test("Bad durations are refused", arguments: ["", "soon", "-5m", "0s", "12x"])
    func badDurations(_ text: String) {
        #expect(Duration(parsing: text) == nil)
    }
}

@Suite("Command parsing")
struct CommandParsingTests {
    @Test(
        "Slash commands, the /airlock umbrella and DM lines",
        arguments: [
            ("/publish", "AbCdEf123", ChatCommand.onDraft(rawID: "AbCdEf123", command: .publish(version: nil))),
            ("/airlock", "approve AbCdEf123", .onDraft(rawID: "AbCdEf123", command: .approve(version: nil))),
            (
                "/reject", "AbCdEf123 wrong runbook",
                .onDraft(rawID: "AbCdEf123", command: .reject(reason: "wrong runbook"))
            ),
            (
                "/revise", "AbCdEf123 Line one\nline two",
                .onDraft(rawID: "AbCdEf123", command: .revise(text: "Line one\nline two"))
            ),
            ("/drafts", "", .listDrafts),
            ("/airlock", "", .help),
        ]
    )
    func parses(_ name: String, _ text: String, _ expected: ChatCommand) {
        #expect(ChatCommand.parse(name: name, text: text) == .success(expected))
    }

    @Test("DM lines that are not commands are questions")
    func directMessages() {
        #expect(ChatCommand.parseDirectMessage("how do I restore a backup?") == nil)
        #expect(
            ChatCommand.parseDirectMessage("publish AbCdEf123")
                == .success(.onDraft(rawID: "AbCdEf123", command: .publish(version: nil)))
        )
    }

    @Test("Errors say what to fix")
    func errors() {
        #expect(ChatCommand.parse(name: "/airlock", text: "frob") == .failure(.unknownCommand("frob")))
        #expect(ChatCommand.parse(name: "/approve", text: "") == .failure(.missingDraftID(command: "approve")))
        #expect(ChatCommand.parse(name: "/approve", text: "x/y") == .failure(.malformedDraftID("x/y")))
    }
}

@Suite("Platform rules in the gate")
struct PlatformRulesTests {
    let discord = PlatformName("discord")

    @Test("A text longer than the target platform's public limit is refused at /publish, before anyone approves")
    func lengthAtPublish() throws {
        let policy = ApprovalPolicy(approvers: [bob]).withTraits([
            .slack: PlatformTraits(idCase: .upper, maxPublicLength: 100, scopeName: "workspace")
        ])
        var draft = answeredDraft()
        draft.text = String(repeating: "a", count: 150)
        #expect(throws: Refusal.tooLongToReview(length: 150, limit: 100)) {
            try Gate.apply(.publish(version: nil), to: draft, by: Actor(alice), at: start, policy: policy)
        }
    }

    @Test(
        "An approver listed on one platform approves only drafts posted there, unless linked to an account on the other"
    )
    func approversAreScopedToTheirPlatform() throws {
        let discordThread = ThreadRef(platform: discord, channel: "200000000000000002", thread: "-")
        let requesterOnDiscord = PersonID(platform: discord, id: "300000000000000003")
        let bobOnDiscord = PersonID(platform: discord, id: "400000000000000004")
        func draft(_ policy: ApprovalPolicy) throws -> Draft {
            let asked = Draft(
                id: .random(),
                requester: requesterOnDiscord,
                question: "How?",
                target: discordThread,
                createdAt: start,
                ttl: .seconds(3600)
            )
            var published = try Gate.apply(
                .publish(version: nil),
                to: Gate.answer(asked, text: "Like this.", sources: [], riskFlags: []),
                by: Actor(requesterOnDiscord),
                at: start,
                policy: policy
            ).draft
            published = Gate.markShown(published, to: bob, version: 1)
            return published
        }
        let slackOnly = ApprovalPolicy(approvers: [bob])
        #expect(throws: Refusal.notAuthorised(bob)) {
            try Gate.apply(.approve(version: 1), to: try draft(slackOnly), by: Actor(bob), at: start, policy: slackOnly)
        }
        let linked = slackOnly.linking([(bob, bobOnDiscord)])
        #expect(throws: Never.self) {
            try Gate.apply(.approve(version: 1), to: try draft(linked), by: Actor(bob), at: start, policy: linked)
        }
        #expect(linked.unlinkedCrossPlatformApprovers.isEmpty)
        #expect(ApprovalPolicy(approvers: [bob, bobOnDiscord]).unlinkedCrossPlatformApprovers.count == 2)
    }

    @Test("Id case comes from the platform's traits: a platform without them compares exactly")
    func caseFromTraits() {
        let mattermost = PlatformName("mattermost")
        let upper = PersonID(platform: mattermost, id: "ABC")
        let lower = PersonID(platform: mattermost, id: "abc")
        #expect(!ApprovalPolicy().isSamePerson(upper, lower))
        let policy = ApprovalPolicy().withTraits([
            mattermost: PlatformTraits(idCase: .lower, maxPublicLength: 16_000, scopeName: "team")
        ])
        #expect(policy.isSamePerson(upper, lower))
    }
}
