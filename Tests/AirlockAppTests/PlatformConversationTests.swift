import AirlockApp
import AirlockDiscord
import AirlockDiscourse
import AirlockDomain
import AirlockGitHub
import AirlockMatrix
import AirlockMattermost
import AirlockSQLite
import AirlockTesting
import AirlockWebhookKit
import AsyncHTTPClient
import Foundation
import NIOCore
import Synchronization
import Testing

/// A message a platform fake holds: where it went and what it says.
struct FakeMessage: Sendable {
    var place: String
    var text: String
    var isPublic: Bool
    var thread: String?
}

/// Drives one platform's side of the conversation against its loopback fake.
protocol ConversationDriver: Sendable {
    var name: String { get }
    var api: FakeAPI { get }
    /// Enables the platform in `config`, pointed at the fake.
    func configure(_ config: inout AirlockConfig, fakeBase: String)
    /// The platform's id for a test person (`requester`, `approver`, `stranger`).
    func id(_ who: String) -> String
    /// Mentions the bot with a question from `who` in the public thread.
    func mention(_ app: AirlockUnderTest, from who: String, text: String) async throws -> Int
    /// Sends a command (`publish`, `approve`, …) as `who`; returns the text the sender is told.
    func command(
        _ app: AirlockUnderTest,
        from who: String,
        _ command: String,
        _ argument: String
    ) async throws -> String
    /// Messages delivered so far.
    var messages: [FakeMessage] { get }
    /// The thread the mention was made in (where the answer must go).
    var mentionThread: String { get }
    /// True when the platform's people are answered on linked Slack accounts (GitHub).
    var keepsSlack: Bool { get }
    func attach(slack: FakeSlack)
    /// Last adjustments to the configuration (identity links).
    func adjust(_ config: inout AirlockConfig)

    // The adversarial steps (issue: trust boundaries), each through the platform's own wire format.
    /// A message from `who` carrying `marker` in a place that looks private but is not `who`'s own channel with the
    /// bot (a public room the outsider invited the bot to as "direct", another person's direct room, a PM topic
    /// among several people). False when the platform has no such inbound path.
    func foreignPrivate(_ app: AirlockUnderTest, from who: String, marker: String) async throws -> Bool
    /// Delivers one signed mention twice, changing only what the platform does not sign.
    func replayMention(_ app: AirlockUnderTest, from who: String, text: String) async throws
    /// Whether commands can come from "botacct", an account the platform's own data marks as a bot.
    var botsSendCommands: Bool { get }
    /// Makes the platform refuse private messages to `who` (blocked DMs, a 403).
    func blockDMs(to who: String, _ blocked: Bool)
    /// Mentions that ping many people on this platform (they must reach a public post as code, never live).
    var massMentions: [String] { get }
    /// True when bare links must reach a public post as code (no preview); false where the platform is told not
    /// to preview them (`checkPublicPost` checks how).
    var linksAsCode: Bool { get }
    /// Platform-specific checks of the public post's wire request (Discord SUPPRESS_EMBEDS, Matrix `m.mentions`).
    func checkPublicPost()
}

extension ConversationDriver {
    var keepsSlack: Bool { false }
    func attach(slack: FakeSlack) {}
    func adjust(_ config: inout AirlockConfig) {}
    func foreignPrivate(_ app: AirlockUnderTest, from who: String, marker: String) async throws -> Bool { false }
    var botsSendCommands: Bool { true }
    var linksAsCode: Bool { true }
    func checkPublicPost() {}
    func replayMention(_ app: AirlockUnderTest, from who: String, text: String) async throws {
        for _ in 0..<2 { #expect(try await mention(app, from: who, text: text) == 200) }
    }

    func dms(to who: String) -> [String] { messages.filter { !$0.isPublic && $0.place == "dm:" + id(who) }.map(\.text) }
    var publicPosts: [FakeMessage] { messages.filter(\.isPublic) }

    /// Waits for a new DM to `who` after `count` and returns it.
    func nextDM(to who: String, after count: Int) async -> String {
        _ = await eventually { dms(to: who).count > count }
        return dms(to: who).dropFirst(count).last ?? ""
    }
}

extension ConversationDriver {
    /// Runs Airlock with this platform enabled against its loopback fake (and the fake Slack only where the driver
    /// needs it), `approvers` listed on this platform, the driver's own adjustments, then `configure`.
    func run(
        approvers: [String] = ["requester", "approver"],
        database: String = temporaryDatabase(),
        configure: @escaping @Sendable (inout AirlockConfig) -> Void = { _ in },
        _ body: @Sendable (AirlockUnderTest) async throws -> Void
    ) async throws {
        try await withFakeAPI(api) { api in
            let base = try await api.baseURL()
            try await withFakeSlack { slack in
                attach(slack: slack)
                try await withAirlock(
                    slack: slack,
                    database: database,
                    configure: { config in
                        if !keepsSlack { config.slack = nil }
                        self.configure(&config, fakeBase: base)
                        let platform = PlatformName(name)
                        config.policy = ApprovalPolicy(
                            approvers: Set(approvers.map { PersonID(platform: platform, id: id($0)) })
                        )
                        adjust(&config)
                        configure(&config)
                    },
                    body
                )
            }
        }
    }
}

@Suite("Every platform walks the whole conversation against its loopback fake")
struct PlatformConversationTests {
    static var drivers: [any ConversationDriver] {
        [MattermostDriver(), DiscourseDriver(), DiscordDriver(), GitHubDriver(), MatrixDriver()]
    }

    @Test(
        "mention → private DM → refusals → publish + approve → one threaded post → audit verify",
        arguments: drivers.map(\.name)
    )
    func conversation(_ name: String) async throws {
        let driver = try #require(Self.drivers.first { $0.name == name })
        let database = temporaryDatabase()
        try await driver.run(database: database) { app in
            #expect(try await driver.mention(app, from: "requester", text: "when do production deploys run?") == 200)
            #expect(
                await eventually { driver.dms(to: "requester").contains { $0.contains("Draft answer") } },
                "no DM with the draft"
            )
            #expect(driver.publicPosts.isEmpty, "something was written publicly before approval")
            let draft = try #require(try await app.store.drafts(DraftFilter()).first)
            let id = draft.id.rawValue
            #expect(draft.requester == PersonID(platform: PlatformName(driver.name), id: driver.id("requester")))

            let stranger = try await driver.command(app, from: "stranger", "publish", id)
            #expect(stranger.contains("Only the person who asked"), "\(stranger)")
            let publish = try await driver.command(app, from: "requester", "publish", id)
            #expect(publish.contains("Publish requested"), "\(publish)")
            #expect(
                await eventually { driver.dms(to: "approver").contains { $0.contains("/approve \(id) v1") } },
                "no review DM"
            )
            #expect(
                await waitShown(app, draft.id, ["\(driver.name):\(driver.id("approver"))"]),
                "the review DM was never recorded as delivered"
            )
            let own = try await driver.command(app, from: "requester", "approve", "\(id) v1")
            #expect(own.contains("cannot approve"), "\(own)")
            // Where the reply is a DM (Discourse, Matrix), it and the "now public" DM go out from concurrent jobs,
            // in either order: the reply may be any of the DMs after the command.
            let sent = driver.dms(to: "approver").count
            let approved = try await driver.command(app, from: "approver", "approve", "\(id) v1")
            let toldApproved = approved.contains("Approved")
            #expect(
                await eventually {
                    toldApproved || driver.dms(to: "approver").dropFirst(sent).contains { $0.contains("Approved") }
                },
                "\(approved) \(driver.dms(to: "approver").dropFirst(sent))"
            )
            _ = try await waitForState(app, draft.id, .posted)
            #expect(driver.publicPosts.count == 1)
            let post = try #require(driver.publicPosts.first)
            #expect(post.thread == driver.mentionThread, "posted outside the original thread")
            #expect(post.text.contains("opsctl deploy rollback"))
            // Both are told by DM with the link; only then is the next DM to the approver a command reply.
            #expect(await eventually { driver.dms(to: "approver").contains { $0.contains("now public") } })
            #expect(await eventually { driver.dms(to: "requester").contains { $0.contains("now public") } })
            let again = try await driver.command(app, from: "approver", "approve", "\(id) v1")
            #expect(again.contains("posted"), "\(again)")
            #expect(driver.publicPosts.count == 1)
        }
        #expect(try await Operations.verifyAudit(try SQLiteStore.open(url: database)).0)
    }

    @Test(
        "adversarial steps: replayed body, foreign private channel, sock puppet, bot approver, blocked reviewer DM",
        arguments: drivers.map(\.name)
    )
    func adversarial(_ name: String) async throws {
        let driver = try #require(Self.drivers.first { $0.name == name })
        let database = temporaryDatabase()
        // The bot account is listed too: it is refused for being a bot, not for being unlisted.
        try await driver.run(approvers: ["requester", "approver", "botacct"], database: database) { app in
            let person = { (who: String) in PersonID(platform: PlatformName(driver.name), id: driver.id(who)) }
            // 1. The same signed mention twice (only unsigned parts changed): one draft, one answer.
            try await driver.replayMention(app, from: "requester", text: "when do production deploys run?")
            #expect(
                await eventually { driver.dms(to: "requester").contains { $0.contains("Draft answer") } },
                "no DM with the draft"
            )
            let draft = try #require(try await app.store.drafts(DraftFilter()).first)
            let id = draft.id.rawValue
            // 2. A message in somebody else's private-looking place: nothing is asked, nothing written there, its
            // text not recorded. The requester's next command proves the deliveries before it were handled.
            let marker = "FOREIGN-\(UUID().uuidString.prefix(8))"
            let foreign = try await driver.foreignPrivate(app, from: "stranger", marker: marker)
            let listing = try await driver.command(app, from: "requester", "drafts", "")
            #expect(listing.contains(id), "\(listing)")
            if foreign {
                #expect(
                    try await app.store.drafts(DraftFilter()).count == 1,
                    "a foreign private message became a question"
                )
                let recorded = try await auditEntries(app.store).filter { $0.detail.contains(marker) }
                #expect(recorded.isEmpty, "a foreign private message's text was recorded: \(recorded.map(\.kind))")
                #expect(!driver.messages.contains { $0.text.contains(marker) })
            }
            // 3. A sock puppet (another account of nobody listed) cannot approve.
            let puppet = try await driver.command(app, from: "puppet", "approve", "\(id) v1")
            #expect(puppet.contains("may not approve"), "\(puppet)")
            // 4. Reviews go to the approver, whose private messages are blocked: publish.
            driver.blockDMs(to: "approver", true)
            #expect(try await driver.command(app, from: "requester", "publish", id).contains("Publish requested"))
            // 5. A bot account, even a listed one, cannot approve.
            if driver.botsSendCommands {
                let bot = try await driver.command(app, from: "botacct", "approve", "\(id) v1")
                // Where replies come by DM, the review of step 4 (a listed bot is sent one) may arrive first.
                let told = await eventually {
                    bot.contains("Bots cannot") || driver.dms(to: "botacct").contains { $0.contains("Bots cannot") }
                }
                #expect(told, "\(bot)")
            }
            // 6. The approver never received the text: the approval is refused, and the draft stays unposted.
            #expect(
                await eventually {
                    (try? await auditEntries(app.store).contains {
                        $0.kind == "job_failed" && $0.detail.contains("review_request")
                    }) == true
                }
            )
            let blind = try await driver.command(app, from: "approver", "approve", "\(id) v1")
            #expect(!blind.contains("Approved"), "\(blind)")
            #expect(try await app.store.draft(draft.id)?.reviewers[person("approver")] == nil)
            #expect(try await app.store.draft(draft.id)?.state == .publishRequested)
            #expect(driver.publicPosts.isEmpty)
            // Once the approver can receive it, the review is sent again on their next try, then they approve.
            driver.blockDMs(to: "approver", false)
            _ = try await driver.command(app, from: "approver", "approve", "\(id) v1")
            // Shown on whichever of the approver's accounts the review went to (GitHub: the linked Slack one).
            #expect(
                await eventually {
                    let reviewers = (try? await app.store.draft(draft.id))?.reviewers ?? [:]
                    let approverAccount = PersonID(platform: PlatformName(driver.name), id: driver.id("approver"))
                    return reviewers[approverAccount] != nil
                        || reviewers.keys.contains { driver.keepsSlack && $0.platform == .slack }
                }
            )
            let sent = driver.dms(to: "approver").count
            let approved = try await driver.command(app, from: "approver", "approve", "\(id) v1")
            let toldApproved = approved.contains("Approved")
            #expect(
                await eventually {
                    toldApproved || driver.dms(to: "approver").dropFirst(sent).contains { $0.contains("Approved") }
                },
                "\(approved)"
            )
            _ = try await waitForState(app, draft.id, .posted)
            #expect(driver.publicPosts.count == 1)
            #expect(try await app.store.drafts(DraftFilter()).count == 1)
        }
        #expect(try await Operations.verifyAudit(try SQLiteStore.open(url: database)).0)
    }

    @Test(
        "a hostile revision (mass mentions, a bare link) is reviewed and posted neutralised, exactly as shown",
        arguments: drivers.map(\.name)
    )
    func neutralised(_ name: String) async throws {
        let driver = try #require(Self.drivers.first { $0.name == name })
        try await driver.run { app in
            #expect(try await driver.mention(app, from: "requester", text: "when do production deploys run?") == 200)
            #expect(await eventually { driver.dms(to: "requester").contains { $0.contains("Draft answer") } })
            let draft = try #require(try await app.store.drafts(DraftFilter()).first)
            let id = draft.id.rawValue
            let hostile =
                "Roll back with opsctl deploy rollback. @channel @all @here @everyone @room @acme/security @sre see https://evil.example/preview"
            let revised = try await driver.command(app, from: "requester", "revise", "\(id) \(hostile)")
            #expect(await eventually { (try? await app.store.draft(draft.id))?.version == 2 })
            // Both DMs of the revision (the reply where it is a DM, and the new version) are in before the next command.
            #expect(
                await eventually {
                    let dms = driver.dms(to: "requester")
                    return dms.contains { $0.contains("Revised draft") }
                        && (revised.contains("is now version 2") || dms.contains { $0.contains("is now version 2") })
                }
            )
            let stored = try #require(try await app.store.draft(draft.id)?.text)
            let published = try await driver.command(app, from: "requester", "publish", id)
            #expect(published.contains("Publish requested"), "\(published)")
            #expect(await waitShown(app, draft.id, ["\(driver.name):\(driver.id("approver"))"]))
            // Approvers are shown exactly the text that will be posted.
            #expect(driver.dms(to: "approver").contains { $0.contains(stored) })
            let sent = driver.dms(to: "approver").count
            let approved = try await driver.command(app, from: "approver", "approve", "\(id) v2")
            #expect(
                await eventually {
                    approved.contains("Approved")
                        || driver.dms(to: "approver").dropFirst(sent).contains { $0.contains("Approved") }
                }
            )
            _ = try await waitForState(app, draft.id, .posted)
            let post = try #require(driver.publicPosts.first).text
            #expect(post.hasPrefix(stored))
            // Outside code spans, nothing pings many people and no link is left to preview.
            let live = post.split(separator: "`", omittingEmptySubsequences: false).enumerated().filter {
                $0.offset % 2 == 0
            }
            .map(\.element).joined(separator: " ")
            for mention in driver.massMentions { #expect(!live.contains(mention), "\(mention) is live in: \(post)") }
            if driver.linksAsCode { #expect(!live.contains("https://"), "a bare link in: \(post)") }
            driver.checkPublicPost()
        }
    }
}

@Suite("Platforms that cannot answer privately fail closed")
struct FailClosedTests {
    @Test("GitHub: a requester with no linked chat account is refused, recorded, and nothing is posted anywhere")
    func githubWithoutLink() async throws {
        let driver = GitHubDriver()
        try await withFakeAPI(driver.api) { api in
            let base = try await api.baseURL()
            try await withFakeSlack { slack in
                driver.attach(slack: slack)
                try await withAirlock(
                    slack: slack,
                    database: temporaryDatabase(),
                    configure: { driver.configure(&$0, fakeBase: base) }
                ) { app in
                    #expect(
                        try await driver.mention(app, from: "stranger", text: "when do production deploys run?") == 200
                    )
                    let refusal = try await auditEntries(app.store).first { $0.kind == "refusal" }
                    #expect(refusal?.detail.contains("no_private_channel") == true)
                    #expect(refusal?.actor == "github:\(driver.id("stranger"))")
                    #expect(try await app.store.drafts(DraftFilter()).isEmpty)
                    #expect(driver.messages.isEmpty, "something was sent")
                    #expect(api.calls("POST", "/graphql").isEmpty, "something was posted on GitHub")
                }
            }
        }
    }
}

@Suite("Platform inbound rules over HTTP")
struct PlatformInboundTests {
    @Test("Matrix: no token 401 M_UNAUTHORIZED, a wrong one 403 M_FORBIDDEN; a retried transaction does nothing twice")
    func matrixTransactions() async throws {
        let driver = MatrixDriver()
        try await driver.run(approvers: ["approver"]) { app in
            let body = Data(#"{"events":[]}"#.utf8)
            let missing = try await app.send(
                "/_matrix/app/v1/transactions/1",
                body: body,
                headers: [("Content-Type", "application/json")],
                method: "PUT"
            )
            #expect(missing.status == 401 && missing.body.contains("M_UNAUTHORIZED"))
            let wrong = try await app.send(
                "/_matrix/app/v1/transactions/1",
                body: body,
                headers: [("Content-Type", "application/json"), ("Authorization", "Bearer nope")],
                method: "PUT"
            )
            #expect(wrong.status == 403 && wrong.body.contains("M_FORBIDDEN"))
            let event: [String: Any] = [
                "type": "m.room.message", "sender": "@requester:test", "room_id": "!ops:test",
                "event_id": "$same",
                "content": [
                    "msgtype": "m.text", "body": "airlock: when do production deploys run?",
                    "m.mentions": ["user_ids": ["@airlock:test"]],
                ],
            ]
            let payload = try JSONSerialization.data(withJSONObject: ["events": [event]])
            for _ in 0..<2 {
                let response = try await app.send(
                    "/_matrix/app/v1/transactions/7",
                    body: payload,
                    headers: [("Content-Type", "application/json"), ("Authorization", "Bearer hs-token")],
                    method: "PUT"
                )
                #expect(response.status == 200 && response.body == "{}")
            }
            #expect(await eventually { driver.dms(to: "requester").count == 1 })
            #expect(try await app.store.drafts(DraftFilter()).count == 1)
        }
    }

    @Test("Discord: a bad signature is 401 (Discord probes for this) and a PING gets a PONG")
    func discordProbe() async throws {
        let driver = DiscordDriver()
        try await driver.run(approvers: ["approver"]) { app in
            let body = Data(#"{"type":1}"#.utf8)
            let stamp = String(Int(Date().timeIntervalSince1970))
            let bad = try await app.send(
                "/discord/interactions",
                body: body,
                headers: [
                    ("Content-Type", "application/json"), ("X-Signature-Timestamp", stamp),
                    ("X-Signature-Ed25519", String(repeating: "0", count: 128)),
                ]
            )
            #expect(bad.status == 401)
            let good = try await app.send(
                "/discord/interactions",
                body: body,
                headers: [
                    ("Content-Type", "application/json"), ("X-Signature-Timestamp", stamp),
                    (
                        "X-Signature-Ed25519",
                        Ed25519Testing.sign(seedHex: driver.seed, timestamp: stamp, body: body)
                    ),
                ]
            )
            #expect(good.status == 200 && good.body == #"{"type":1}"#)
        }
    }
}
