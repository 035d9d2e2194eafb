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
                #expect(bot.contains("Bots cannot"), "\(bot)")
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
        try await withFakeAPI(driver.api) { api in
            let base = try await api.baseURL()
            try await withFakeSlack { slack in
                try await withAirlock(
                    slack: slack,
                    database: temporaryDatabase(),
                    configure: { config in
                        config.slack = nil
                        driver.configure(&config, fakeBase: base)
                        config.policy = ApprovalPolicy(approvers: [
                            PersonID(platform: PlatformName(driver.name), id: driver.id("approver"))
                        ])
                    }
                ) { app in
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
        }
    }

    @Test("Discord: a bad signature is 401 (Discord probes for this) and a PING gets a PONG")
    func discordProbe() async throws {
        let driver = DiscordDriver()
        try await withFakeAPI(driver.api) { api in
            let base = try await api.baseURL()
            try await withFakeSlack { slack in
                try await withAirlock(
                    slack: slack,
                    database: temporaryDatabase(),
                    configure: { config in
                        config.slack = nil
                        driver.configure(&config, fakeBase: base)
                        config.policy = ApprovalPolicy(approvers: [
                            PersonID(platform: PlatformName(driver.name), id: driver.id("approver"))
                        ])
                    }
                ) { app in
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
    }
}

// MARK: - Mattermost

final class MattermostDriver: ConversationDriver, @unchecked Sendable {
    // Safe: `state` is a Mutex; the rest is immutable.
    let name = "mattermost"
    let botID = "airlockbot0000000000000000"
    let state = Mutex<
        (
            posts: [(id: String, channel: String, message: String, root: String?, props: String?)], next: Int,
            blocked: Set<String>
        )
    >(([], 0, []))
    /// Faults for the fail-closed tests: the next public post is created but answered `201 {}`; the next thread
    /// reads answer a body that is not the documented schema.
    let faults = Mutex<(idlessPosts: Int, driftedThreads: Int)>((0, 0))
    /// The public channel's type as `GET /channels/{id}` reports it (`O` public, `P` private).
    let channelType = Mutex("O")
    /// People's posts in the mention's thread, before it: (id, user, message, create_at).
    let threadPosts = Mutex<[(id: String, user: String, message: String, createAt: Int)]>([])
    let channel = "townsquare000000000000000a"
    let rootPost = "rootpost000000000000000000"
    lazy var api: FakeAPI = FakeAPI { [unowned self] call in self.handle(call) }

    init() { _ = api }

    func id(_ who: String) -> String { (who + String(repeating: "0", count: 26)).prefix(26).lowercased() }
    var mentionThread: String { rootPost }

    func configure(_ config: inout AirlockConfig, fakeBase: String) {
        config.platforms.append(
            MattermostModule(
                serverURL: fakeBase,
                botToken: "mm-bot-token",
                commandToken: "mm-command-token",
                webhookToken: "mm-webhook-token"
            )
        )
    }

    func blockDMs(to who: String, _ blocked: Bool) {
        state.withLock { if blocked { $0.blocked.insert("dm-" + id(who)) } else { $0.blocked.remove("dm-" + id(who)) } }
    }
    var massMentions: [String] { ["@channel", "@all", "@here"] }

    func handle(_ call: FakeAPI.Call) -> FakeAPI.Reply {
        guard call.headers["authorization"] == "Bearer mm-bot-token" else {
            return .init(status: 401, json: ["id": "api.context.session_expired"])
        }
        switch (call.method, call.path) {
        case ("GET", "/api/v4/users/me"):
            return .init(json: ["id": botID, "username": "airlock", "is_bot": true])
        case ("GET", "/api/v4/channels/\(channel)"):
            return .init(json: [
                "id": channel, "name": "town-square", "display_name": "Town Square",
                "type": channelType.withLock { $0 },
            ])
        case ("GET", let path) where path.hasPrefix("/api/v4/users/"):
            // Mattermost's User model: `is_bot` is true for bot accounts.
            let user = String(path.dropFirst("/api/v4/users/".count))
            return .init(json: ["id": user, "username": user.prefix { $0 != "0" }, "is_bot": user == id("botacct")])
        case ("POST", "/api/v4/channels/direct"):
            let users = call.json as? [any Sendable] ?? []
            guard users.count == 2, (users[0] as? String) == botID, let user = users[1] as? String else {
                return .init(status: 400, json: ["id": "bad"])
            }
            return .init(status: 201, json: ["id": "dm-" + user, "type": "D"])
        case ("POST", "/api/v4/posts"):
            let object = call.object
            let channel = object["channel_id"] as? String ?? ""
            if state.withLock({ $0.blocked.contains(channel) }) {
                return .init(
                    status: 403,
                    json: ["id": "api.post.create_post.direct_channel.can_not_post.app_error", "status_code": 403]
                )
            }
            let props = (object["props"]).flatMap { try? JSONSerialization.data(withJSONObject: FakeSlack.plain($0)) }
                .map { String(decoding: $0, as: UTF8.self) }
            let id = state.withLock { state -> String in
                state.next += 1
                let id = String(format: "post%022d", state.next)
                state.posts.append(
                    (id, channel, object["message"] as? String ?? "", object["root_id"] as? String, props)
                )
                return id
            }
            let idless =
                object["root_id"] != nil
                && faults.withLock { faults in
                    guard faults.idlessPosts > 0 else { return false }
                    faults.idlessPosts -= 1
                    return true
                }
            return idless ? .init(status: 201, json: [String: String]()) : .init(status: 201, json: ["id": id])
        case ("GET", let path) where path.hasPrefix("/api/v4/posts/") && path.hasSuffix("/thread"):
            let drifted = faults.withLock { faults in
                guard faults.driftedThreads > 0 else { return false }
                faults.driftedThreads -= 1
                return true
            }
            if drifted { return .init(json: ["order": "post1", "posts": ["unexpected": true]]) }
            let root = path.split(separator: "/")[3]
            let posts = state.withLock { $0.posts }.filter { $0.root == String(root) }
            var map: [String: Any] = [:]
            var order: [String] = []
            // People's posts of a seeded thread, and the mention itself after them (Mattermost's Post model).
            let seeded = threadPosts.withLock { $0 }
            for post in seeded {
                map[post.id] = [
                    "id": post.id, "user_id": post.user, "message": post.message, "create_at": post.createAt,
                    "delete_at": 0,
                ]
                order.append(post.id)
            }
            if !seeded.isEmpty {
                map[rootPost] = [
                    "id": rootPost, "user_id": id("carol"), "message": "@airlock thoughts?", "create_at": 9_000,
                    "delete_at": 0,
                ]
                order.append(rootPost)
            }
            for post in posts {
                map[post.id] = [
                    "id": post.id, "user_id": botID, "message": post.message, "create_at": 10_000, "delete_at": 0,
                    "props": post.props.flatMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) } ?? [:],
                ]
                order.append(post.id)
            }
            return .init(json: ["order": order, "posts": map])
        default:
            return .init(status: 404, json: ["id": "api.context.404"])
        }
    }

    var messages: [FakeMessage] {
        state.withLock { $0.posts }.map { post in
            post.channel.hasPrefix("dm-")
                ? FakeMessage(
                    place: "dm:" + post.channel.dropFirst(3),
                    text: post.message,
                    isPublic: false,
                    thread: nil
                )
                : FakeMessage(place: post.channel, text: post.message, isPublic: true, thread: post.root)
        }
    }

    func post(_ app: AirlockUnderTest, _ path: String, _ fields: [(String, String)]) async throws -> TestResponse {
        try await app.send(
            path,
            body: Data(SlackForms.encode(fields).utf8),
            headers: [("Content-Type", "application/x-www-form-urlencoded")]
        )
    }

    func mention(_ app: AirlockUnderTest, from who: String, text: String) async throws -> Int {
        try await post(
            app,
            "/mattermost/webhook",
            [
                ("token", "mm-webhook-token"), ("team_id", "team"), ("channel_id", channel), ("user_id", id(who)),
                ("user_name", who), ("post_id", rootPost), ("text", "@airlock \(text)"), ("trigger_word", "@airlock"),
            ]
        ).status
    }

    func command(
        _ app: AirlockUnderTest,
        from who: String,
        _ command: String,
        _ argument: String
    ) async throws -> String {
        let response = try await post(
            app,
            "/mattermost/commands",
            [
                ("token", "mm-command-token"), ("team_id", "team"), ("channel_id", channel), ("user_id", id(who)),
                ("user_name", who), ("command", "/airlock"), ("text", "\(command) \(argument)"),
                ("trigger_id", UUID().uuidString),
            ]
        )
        return response.json["text"] as? String ?? response.body
    }
}

// MARK: - Discourse

final class DiscourseDriver: ConversationDriver, @unchecked Sendable {
    // Safe: `state` is a Mutex; the rest is immutable.
    struct Post {
        var id: Int
        var topic: Int
        var number: Int
        var username: String
        var raw: String
        var isPrivate: Bool
        var recipient: String?
        var replyTo: Int?
    }
    struct State {
        var posts: [Post] = []
        var nextID = 100
        var nextTopic = 500
        /// Private-message topics and who may read them (user ids).
        var allowed: [Int: Set<Int>] = [:]
        var blocked: Set<Int> = []
    }
    let name = "discourse"
    let secret = "airlock-discourse-secret"
    let botUserID = 1
    /// Immutable user ids; `botacct` is Discourse's own discobot (id -2).
    static let ids = ["requester": 11, "approver": 12, "stranger": 13, "puppet": 14, "botacct": -2, "airlock": 1]
    let state = Mutex(State())
    let topic = 42
    lazy var api: FakeAPI = FakeAPI { [unowned self] call in self.handle(call) }

    init() { _ = api }

    func id(_ who: String) -> String { String(Self.ids[who] ?? 99) }
    func username(_ userID: Int) -> String { Self.ids.first { $0.value == userID }?.key ?? "user\(userID)" }
    var mentionThread: String { "3" }

    func configure(_ config: inout AirlockConfig, fakeBase: String) {
        config.platforms.append(
            DiscourseModule(url: fakeBase, apiKey: "dk-key", apiUsername: "airlock", webhookSecret: secret)
        )
    }

    func blockDMs(to who: String, _ blocked: Bool) {
        let user = Self.ids[who] ?? 99
        state.withLock { if blocked { $0.blocked.insert(user) } else { $0.blocked.remove(user) } }
    }
    /// Any `@name` may be a group: every mention reaches the topic as code.
    var massMentions: [String] { ["@everyone", "@channel", "@acme/security", "@sre"] }

    func handle(_ call: FakeAPI.Call) -> FakeAPI.Reply {
        guard call.headers["api-key"] == "dk-key", call.headers["api-username"] == "airlock" else {
            return .init(status: 403, json: ["errors": ["invalid api key"]])
        }
        switch (call.method, call.path) {
        case ("GET", "/u/airlock.json"):
            return .init(json: ["user": ["id": botUserID, "username": "airlock"]])
        case ("GET", let path) where path.hasPrefix("/admin/users/"):
            let user = Int(path.dropFirst("/admin/users/".count).prefix { $0.isNumber || $0 == "-" }) ?? 0
            return .init(json: ["id": user, "username": username(user)])
        case ("POST", "/posts.json"):
            let body = call.object
            let refused = state.withLock { state -> Bool in
                let isPrivate = body["archetype"] as? String == "private_message"
                let topic = (body["topic_id"] as? Double).map(Int.init)
                let readers: Set<Int> =
                    isPrivate
                    ? [Self.ids[body["target_recipients"] as? String ?? ""] ?? 99]
                    : topic.flatMap { state.allowed[$0] } ?? []
                return !readers.intersection(state.blocked).isEmpty
            }
            if refused {
                return .init(status: 403, json: ["errors": ["You are not permitted to send messages to that user."]])
            }
            let post = state.withLock { state -> Post in
                state.nextID += 1
                let isPrivate = body["archetype"] as? String == "private_message"
                let topic: Int
                if isPrivate {
                    state.nextTopic += 1
                    topic = state.nextTopic
                    let recipient = Self.ids[body["target_recipients"] as? String ?? ""] ?? 99
                    state.allowed[topic] = [botUserID, recipient]
                } else {
                    topic = (body["topic_id"] as? Double).map(Int.init) ?? 0
                }
                let readers = state.allowed[topic]
                let post = Post(
                    id: state.nextID,
                    topic: topic,
                    number: state.posts.filter { $0.topic == topic }.count + 1,
                    username: "airlock",
                    raw: body["raw"] as? String ?? "",
                    isPrivate: readers != nil,
                    recipient: readers.flatMap {
                        $0.subtracting([botUserID]).count == 1
                            ? $0.subtracting([botUserID]).first.map(String.init) : "group"
                    },
                    replyTo: (body["reply_to_post_number"] as? Double).map(Int.init)
                )
                state.posts.append(post)
                return post
            }
            return .init(json: ["id": post.id, "topic_id": post.topic, "post_number": post.number])
        case ("GET", let path) where path.hasPrefix("/t/"):
            let topic = Int(path.dropFirst(3).prefix { $0.isNumber }) ?? 0
            let (posts, allowed) = state.withLock { state in
                (state.posts.filter { $0.topic == topic }, state.allowed[topic])
            }
            // Only the first post in `posts`; the rest by id in `stream`, like a long topic.
            var object: [String: Any] = [
                "archetype": allowed == nil ? "regular" : "private_message",
                "post_stream": [
                    "posts": posts.prefix(1).map {
                        ["id": $0.id, "username": $0.username, "post_number": $0.number, "cooked": "<p>\($0.raw)</p>"]
                    },
                    "stream": posts.map(\.id),
                ],
            ]
            if let allowed {
                object["details"] = [
                    "allowed_users": allowed.sorted().map { ["id": $0, "username": username($0)] },
                    "allowed_groups": [] as [Any],
                ]
            } else {
                object["details"] = ["created_by": ["id": 11]]
            }
            return .init(json: object)
        case ("GET", let path) where path.hasPrefix("/posts/"):
            let id = Int(path.dropFirst(7).prefix { $0.isNumber }) ?? 0
            guard let post = state.withLock({ $0.posts }).first(where: { $0.id == id }) else {
                return .init(status: 404, json: [:])
            }
            return .init(json: [
                "id": post.id, "username": post.username, "user_id": Self.ids[post.username] ?? 50,
                "post_number": post.number, "raw": post.raw,
            ])
        default:
            return .init(status: 404, json: ["errors": ["not found"]])
        }
    }

    /// What the bot wrote (people's posts seeded into topics are not the bot's messages).
    var messages: [FakeMessage] {
        state.withLock { $0.posts }.filter { $0.username == "airlock" }.map { post in
            post.isPrivate
                ? FakeMessage(place: "dm:" + (post.recipient ?? ""), text: post.raw, isPublic: false, thread: nil)
                : FakeMessage(
                    place: String(post.topic),
                    text: post.raw,
                    isPublic: true,
                    thread: post.replyTo.map(String.init)
                )
        }
    }

    func deliver(_ app: AirlockUnderTest, _ post: [String: Any]) async throws -> Int {
        let body = try JSONSerialization.data(withJSONObject: ["post": post])
        return try await deliver(app, body: body)
    }

    func deliver(_ app: AirlockUnderTest, body: Data) async throws -> Int {
        let signature = HMACTesting.sha256Hex(key: secret, body)
        return try await app.send(
            "/discourse/webhook",
            body: body,
            headers: [
                ("Content-Type", "application/json"), ("X-Discourse-Event", "post_created"),
                ("X-Discourse-Event-Type", "post"),
                ("X-Discourse-Event-Id", String(Int.random(in: 1...1_000_000))),
                ("X-Discourse-Event-Signature", "sha256=" + signature),
            ]
        ).status
    }

    func mentionBody(from who: String, text: String) -> [String: Any] {
        [
            "id": 1000 + Int.random(in: 0...999), "user_id": Self.ids[who] ?? 99, "username": who,
            "raw": "@airlock \(text)",
            "cooked": "<p><a class=\"mention\" href=\"/u/airlock\">@airlock</a> \(text)</p>", "topic_id": topic,
            "post_number": 3,
            "topic_archetype": "regular", "post_type": 1,
        ]
    }

    /// The mention, as a post of the topic too (so the topic reads as Discourse would show it).
    func mentionPost(from who: String, text: String) -> [String: Any] {
        let post = mentionBody(from: who, text: text)
        state.withLock { state in
            state.posts.append(
                Post(
                    id: post["id"] as! Int,
                    topic: topic,
                    number: 3,
                    username: who,
                    raw: "@airlock \(text)",
                    isPrivate: false
                )
            )
        }
        return post
    }

    func mention(_ app: AirlockUnderTest, from who: String, text: String) async throws -> Int {
        try await deliver(app, mentionPost(from: who, text: text))
    }

    func replayMention(_ app: AirlockUnderTest, from who: String, text: String) async throws {
        // Discourse signs no id or time: the same body (a new X-Discourse-Event-Id each time) is one post.
        let body = try JSONSerialization.data(withJSONObject: ["post": mentionPost(from: who, text: text)])
        for _ in 0..<2 { #expect(try await deliver(app, body: body) == 200) }
    }

    /// A post in a private-message topic: the one `who` shares with the bot (started by `who` if there is none).
    func command(
        _ app: AirlockUnderTest,
        from who: String,
        _ command: String,
        _ argument: String
    ) async throws -> String {
        let before = dms(to: who).count
        let user = Self.ids[who] ?? 99
        let privateTopic = state.withLock { state -> Int in
            if let topic = state.allowed.first(where: { $0.value == [botUserID, user] })?.key { return topic }
            state.nextTopic += 1
            state.allowed[state.nextTopic] = [botUserID, user]
            return state.nextTopic
        }
        _ = try await deliver(
            app,
            [
                "id": 5000 + Int.random(in: 0...99_999), "user_id": user, "username": who,
                "raw": "\(command) \(argument)",
                "topic_id": privateTopic, "post_number": 2, "topic_archetype": "private_message", "post_type": 1,
            ]
        )
        return await nextDM(to: who, after: before)
    }

    /// A group PM among the bot, the stranger and the requester: Discourse delivers it, Airlock must not read it.
    func foreignPrivate(_ app: AirlockUnderTest, from who: String, marker: String) async throws -> Bool {
        let topic = state.withLock { state -> Int in
            state.nextTopic += 1
            state.allowed[state.nextTopic] = [botUserID, Self.ids[who] ?? 99, Self.ids["requester"]!]
            return state.nextTopic
        }
        #expect(
            try await deliver(
                app,
                [
                    "id": 7000 + Int.random(in: 0...999), "user_id": Self.ids[who] ?? 99, "username": who,
                    "raw": "how do I read the payroll export? \(marker)", "topic_id": topic, "post_number": 1,
                    "topic_archetype": "private_message", "post_type": 1,
                ]
            ) == 200
        )
        return true
    }
}

// MARK: - Discord

final class DiscordDriver: ConversationDriver, @unchecked Sendable {
    // Safe: `state` is a Mutex; the rest is immutable.
    struct Message {
        var id: String
        var channel: String
        var content: String
        var replyTo: String?
    }
    let name = "discord"
    let seed = "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60"
    let botID = "100000000000000001"
    let channel = "200000000000000002"
    let state = Mutex<(messages: [Message], next: Int, blocked: Set<String>)>(([], 0, []))
    /// Other people's messages: (channel, id, username, content). `channelType` 11 makes `channel` a public thread
    /// whose parent is `parentChannel` (its starter message lives there, with the thread's id).
    let others = Mutex<[(String, String, String, String)]>([])
    let channelType = Mutex(0)
    let parentChannel = "210000000000000002"
    lazy var api: FakeAPI = FakeAPI { [unowned self] call in self.handle(call) }

    init() { _ = api }

    func id(_ who: String) -> String {
        switch who {
        case "requester": "300000000000000003"
        case "approver": "400000000000000004"
        case "puppet": "510000000000000005"
        case "botacct": "520000000000000005"
        default: "500000000000000005"
        }
    }
    var mentionThread: String { "-" }
    static let people = ["requester", "approver", "stranger", "puppet", "botacct"]

    func configure(_ config: inout AirlockConfig, fakeBase: String) {
        config.platforms.append(
            DiscordModule(
                applicationID: "600000000000000006",
                publicKey: Ed25519Testing.publicKey(seedHex: seed),
                botToken: "discord-bot-token",
                apiURL: fakeBase + "/api/v10"
            )
        )
    }

    func blockDMs(to who: String, _ blocked: Bool) {
        let channel = "7" + id(who).dropFirst()
        state.withLock { if blocked { $0.blocked.insert(channel) } else { $0.blocked.remove(channel) } }
    }
    var massMentions: [String] { ["@everyone", "@here"] }
    var linksAsCode: Bool { false }
    /// The public message is sent with SUPPRESS_EMBEDS and no allowed mentions.
    func checkPublicPost() {
        let posts = api.calls.filter { $0.method == "POST" && $0.path == "/api/v10/channels/\(channel)/messages" }
        #expect(posts.count == 1)
        #expect(posts.first?.object["flags"] as? Double == 4, "no SUPPRESS_EMBEDS")
        #expect(
            ((posts.first?.object["allowed_mentions"] as? [String: any Sendable])?["parse"] as? [any Sendable])?.isEmpty
                == true
        )
    }

    func handle(_ call: FakeAPI.Call) -> FakeAPI.Reply {
        guard call.headers["authorization"] == "Bot discord-bot-token" else {
            return .init(status: 401, json: ["message": "401: Unauthorized"])
        }
        switch (call.method, call.path) {
        case ("GET", "/api/v10/users/@me"):
            return .init(json: ["id": botID, "username": "airlock", "bot": true])
        case ("POST", "/api/v10/users/@me/channels"):
            let recipient = call.object["recipient_id"] as? String ?? ""
            return .init(json: ["id": "7" + recipient.dropFirst(), "type": 1])
        case ("POST", let path) where path.hasPrefix("/api/v10/channels/") && path.hasSuffix("/messages"):
            let channel = String(path.split(separator: "/")[3])
            if state.withLock({ $0.blocked.contains(channel) }) {
                return .init(status: 403, json: ["message": "Cannot send messages to this user", "code": 50007])
            }
            let content = call.object["content"] as? String ?? ""
            guard content.count <= 2000 else { return .init(status: 400, json: ["code": 50035]) }
            let reference = (call.object["message_reference"] as? [String: any Sendable])?["message_id"] as? String
            let id = state.withLock { state -> String in
                state.next += 1
                let id = String(format: "8%017d", state.next)
                state.messages.append(Message(id: id, channel: channel, content: content, replyTo: reference))
                return id
            }
            return .init(json: ["id": id, "channel_id": channel, "content": content, "author": ["id": botID]])
        case ("GET", let path) where path.hasSuffix("/messages"):
            let channel = String(path.split(separator: "/")[3])
            // Newest first, like Discord; `before` bounds by snowflake.
            let before = call.query["before"].flatMap { UInt64($0) } ?? .max
            var page: [[String: any Sendable]] = others.withLock { $0 }.filter {
                $0.0 == channel && (UInt64($0.1) ?? 0) < before
            }
            .map { ["id": $0.1, "content": $0.3, "author": ["id": "9" + $0.1.suffix(17), "username": $0.2]] }
            page += state.withLock { $0.messages }.filter { $0.channel == channel }.map {
                ["id": $0.id, "content": $0.content, "author": ["id": botID, "bot": true] as [String: any Sendable]]
                    as [String: any Sendable]
            }
            page.sort { (UInt64($0["id"] as? String ?? "") ?? 0) > (UInt64($1["id"] as? String ?? "") ?? 0) }
            return .init(json: Array(page.prefix(100)))
        case ("GET", let path) where path.split(separator: "/").count == 6 && path.contains("/messages/"):
            let parts = path.split(separator: "/").map(String.init)
            guard let found = others.withLock({ $0 }).first(where: { $0.0 == parts[3] && $0.1 == parts[5] }) else {
                return .init(status: 404, json: ["message": "Unknown Message", "code": 10008])
            }
            return .init(json: [
                "id": found.1, "content": found.3, "author": ["id": "9" + found.1.suffix(17), "username": found.2],
            ])
        case ("GET", let path) where path.split(separator: "/").count == 4 && path.hasPrefix("/api/v10/channels/"):
            let id = String(path.split(separator: "/")[3])
            let type = id == channel ? channelType.withLock { $0 } : 0
            var object: [String: any Sendable] = ["id": id, "type": type]
            if type == 11 { object["parent_id"] = parentChannel }
            return .init(json: object)
        default:
            return .init(status: 404, json: ["message": "404: Not Found"])
        }
    }

    var messages: [FakeMessage] {
        state.withLock { $0.messages }.map { message in
            message.channel.hasPrefix("7")
                ? FakeMessage(
                    place: "dm:" + self.user(ofDirectChannel: message.channel),
                    text: message.content,
                    isPublic: false,
                    thread: nil
                )
                : FakeMessage(
                    place: message.channel,
                    text: message.content,
                    isPublic: true,
                    thread: message.replyTo ?? "-"
                )
        }
    }

    func user(ofDirectChannel channel: String) -> String {
        Self.people.map(id).first { "7" + $0.dropFirst() == channel } ?? channel
    }

    func interaction(from who: String, name: String, options: [(String, String)]) throws -> Data {
        try JSONSerialization.data(withJSONObject: [
            "type": 2, "id": String(format: "9%017d", Int.random(in: 0...99_999_999)),
            "application_id": "600000000000000006",
            "token": "interaction-token", "version": 1, "guild_id": "110000000000000011", "channel_id": channel,
            "channel": ["id": channel, "type": channelType.withLock { $0 }],
            "member": ["user": ["id": id(who), "username": who, "bot": who == "botacct"]],
            "data": [
                "id": "1", "name": name, "type": 1,
                "options": options.map { ["name": $0.0, "type": 3, "value": $0.1] },
            ],
        ])
    }

    func send(_ app: AirlockUnderTest, _ body: Data) async throws -> TestResponse {
        let stamp = String(Int(Date().timeIntervalSince1970))
        return try await app.send(
            "/discord/interactions",
            body: body,
            headers: [
                ("Content-Type", "application/json"), ("X-Signature-Timestamp", stamp),
                ("X-Signature-Ed25519", Ed25519Testing.sign(seedHex: seed, timestamp: stamp, body: body)),
            ]
        )
    }

    func interact(
        _ app: AirlockUnderTest,
        from who: String,
        name: String,
        options: [(String, String)]
    ) async throws -> TestResponse {
        try await send(app, try interaction(from: who, name: name, options: options))
    }

    func mention(_ app: AirlockUnderTest, from who: String, text: String) async throws -> Int {
        let response = try await interact(app, from: who, name: "ask", options: [("question", text)])
        return response.status
    }

    func replayMention(_ app: AirlockUnderTest, from who: String, text: String) async throws {
        // The same signed interaction (same id) again, inside Discord's signature window.
        let body = try interaction(from: who, name: "ask", options: [("question", text)])
        for _ in 0..<2 { #expect(try await send(app, body).status == 200) }
    }

    func command(
        _ app: AirlockUnderTest,
        from who: String,
        _ command: String,
        _ argument: String
    ) async throws -> String {
        let parts = argument.split(separator: " ", maxSplits: 1).map(String.init)
        var options: [(String, String)] = []
        if let first = parts.first { options.append(("draft", first)) }
        if parts.count > 1 {
            options.append((command == "approve" || command == "publish" ? "version" : "text", parts[1]))
        }
        let response = try await interact(app, from: who, name: command, options: options)
        let data = response.json["data"] as? [String: any Sendable]
        #expect((data?["flags"] as? Double) == 64, "not ephemeral")
        return data?["content"] as? String ?? response.body
    }
}

// MARK: - GitHub (no DMs: people are answered, and send commands, on their linked Slack accounts)

final class GitHubDriver: ConversationDriver, @unchecked Sendable {
    // Safe: `state` is a Mutex; the rest is immutable.
    struct Comment {
        var id: String
        var discussion: String
        var replyTo: String?
        var body: String
    }
    let name = "github"
    let secret = "It's a Secret to Everybody"
    let discussion = "D_kwDOdiscussion7"
    let comment = "DC_kwDOcomment1"
    let state = Mutex<(comments: [Comment], slack: FakeSlack?)>(([], nil))
    /// People's posts in the discussion before the mention: the body first, then comments.
    let threadComments = Mutex<[(id: String, login: String, body: String)]>([])
    lazy var api: FakeAPI = FakeAPI { [unowned self] call in self.handle(call) }

    init() { _ = api }

    var keepsSlack: Bool { true }
    /// Commands come from the linked Slack accounts, where Slack's own bot rules apply.
    var botsSendCommands: Bool { false }
    func attach(slack: FakeSlack) { state.withLock { $0.slack = slack } }
    /// GitHub people are their numeric ids; logins are display only.
    func id(_ who: String) -> String {
        switch who {
        case "requester": "1001"
        case "approver": "1002"
        case "puppet": "1004"
        case "botacct": "1005"
        default: "1003"
        }
    }
    func slackID(_ who: String) -> String {
        switch who {
        case "requester": "U0REQ"
        case "approver": "U0APP"
        case "puppet": "U0PUP"
        default: "U0STR"
        }
    }
    var mentionThread: String { comment }

    func configure(_ config: inout AirlockConfig, fakeBase: String) {
        config.platforms.append(GitHubModule(webhookSecret: secret, token: "ghs-test-token", apiURL: fakeBase))
    }

    func adjust(_ config: inout AirlockConfig) {
        config.policy = config.policy.linking(
            ["requester", "approver"].map {
                (PersonID(platform: .github, id: id($0)), PersonID(platform: .slack, id: slackID($0)))
            }
        )
    }

    func blockDMs(to who: String, _ blocked: Bool) {
        state.withLock { $0.slack }?.blockDirectMessages(to: slackID(who), blocked)
    }
    var massMentions: [String] { ["@acme/security"] }
    /// GitHub makes no link previews in comments.
    var linksAsCode: Bool { false }

    func handle(_ call: FakeAPI.Call) -> FakeAPI.Reply {
        guard call.headers["authorization"] == "Bearer ghs-test-token" else {
            return .init(status: 401, json: ["message": "Bad credentials"])
        }
        switch (call.method, call.path) {
        case ("GET", "/user"):
            return .init(json: ["login": "airlock", "id": 9000, "type": "Bot"])
        case ("POST", "/graphql"):
            let query = call.object["query"] as? String ?? ""
            let variables = call.object["variables"] as? [String: any Sendable] ?? [:]
            if query.contains("addDiscussionComment") {
                let id = "DC_reply\(Int.random(in: 1000...9999))"
                state.withLock {
                    $0.comments.append(
                        Comment(
                            id: id,
                            discussion: variables["discussionId"] as? String ?? "",
                            replyTo: variables["replyToId"] as? String,
                            body: variables["body"] as? String ?? ""
                        )
                    )
                }
                return .init(json: [
                    "data": ["addDiscussionComment": ["comment": ["id": id, "url": "https://github.test/d/7#\(id)"]]]
                ])
            }
            if query.contains("ThreadRead") {
                // The discussion as GraphQL returns it: its body (the question), people's comments, then the mention.
                let people = threadComments.withLock { $0 }
                guard !people.isEmpty else {
                    return .init(json: ["data": NSNull(), "errors": [["message": "no thread here"]]])
                }
                return .init(json: [
                    "data": [
                        "node": [
                            "id": discussion, "body": people[0].body, "author": ["login": people[0].login],
                            "comments": [
                                "pageInfo": ["hasNextPage": false, "endCursor": NSNull()],
                                "nodes": people.dropFirst().map {
                                    [
                                        "id": $0.id, "body": $0.body, "author": ["login": $0.login],
                                        "replies": ["nodes": []],
                                    ]
                                }
                                    + [
                                        [
                                            "id": comment, "body": "@airlock thoughts?",
                                            "author": ["login": "requester-gh"], "replies": ["nodes": []],
                                        ]
                                    ],
                            ],
                        ]
                    ]
                ])
            }
            let nodes = state.withLock { $0.comments }.map {
                ["id": $0.id, "url": "u", "body": $0.body, "author": ["login": "airlock"], "replies": ["nodes": []]]
            }
            return .init(json: [
                "data": [
                    "node": ["comments": ["pageInfo": ["hasNextPage": false, "endCursor": NSNull()], "nodes": nodes]]
                ]
            ])
        default:
            return .init(status: 404, json: ["message": "Not Found"])
        }
    }

    var messages: [FakeMessage] {
        let (comments, slack) = state.withLock { ($0.comments, $0.slack) }
        var all = comments.map { FakeMessage(place: $0.discussion, text: $0.body, isPublic: true, thread: $0.replyTo) }
        for who in ["requester", "approver", "stranger", "puppet"] {
            all += (slack?.directMessages(to: slackID(who)) ?? []).map {
                FakeMessage(place: "dm:" + id(who), text: $0.text, isPublic: false, thread: nil)
            }
        }
        all += (slack?.publicMessages ?? []).map {
            FakeMessage(place: $0.channel, text: $0.text, isPublic: true, thread: $0.threadTS)
        }
        return all
    }

    func mentionBody(from who: String, text: String) throws -> Data {
        try JSONSerialization.data(withJSONObject: [
            "action": "created",
            "comment": [
                "id": 456, "node_id": comment, "body": "@airlock \(text)", "parent_id": NSNull(),
                "user": ["login": who + "-gh", "id": Int(id(who))!, "type": "User"],
            ],
            "discussion": [
                "id": 123, "node_id": discussion, "number": 7, "title": "Deploys", "body": "…",
                "user": ["login": "someone", "id": 1, "type": "User"],
            ],
            "repository": ["full_name": "acme/ops", "owner": ["login": "acme"]],
            "sender": ["login": who + "-gh", "id": Int(id(who))!, "type": "User"],
        ])
    }

    func deliver(_ app: AirlockUnderTest, _ body: Data) async throws -> Int {
        try await app.send(
            "/github/webhook",
            body: body,
            headers: [
                ("Content-Type", "application/json"), ("X-GitHub-Event", "discussion_comment"),
                ("X-GitHub-Delivery", UUID().uuidString),
                ("X-Hub-Signature-256", "sha256=" + HMACTesting.sha256Hex(key: secret, body)),
            ]
        ).status
    }

    func mention(_ app: AirlockUnderTest, from who: String, text: String) async throws -> Int {
        try await deliver(app, try mentionBody(from: who, text: text))
    }

    func replayMention(_ app: AirlockUnderTest, from who: String, text: String) async throws {
        // The same signed body under a new X-GitHub-Delivery (which GitHub does not sign).
        let body = try mentionBody(from: who, text: text)
        for _ in 0..<2 { #expect(try await deliver(app, body) == 200) }
    }

    func command(
        _ app: AirlockUnderTest,
        from who: String,
        _ command: String,
        _ argument: String
    ) async throws -> String {
        try await app.slash(user: slackID(who), command: "/\(command)", text: argument).text
    }
}

// MARK: - Matrix

final class MatrixDriver: ConversationDriver, @unchecked Sendable {
    // Safe: `state` is a Mutex; the rest is immutable.
    struct Event {
        var id: String
        var room: String
        var body: String
        var threadRoot: String?
        var tag: [String: any Sendable]?
        var txn: String
        var followUpOn: String? = nil
    }
    struct Room {
        var members: [String: String]
        var joinRule: String
    }
    struct State {
        var events: [Event] = []
        /// Rooms the bot created, by the person they were created for.
        var directs: [String: String] = [:]
        var rooms: [String: Room] = [:]
        var next = 0
        var mDirect: String?
        var blocked: Set<String> = []
        var created = 0
        /// People's messages: (event id, sender, body, origin_server_ts, thread root or nil for a root).
        var people: [(id: String, sender: String, body: String, ts: Int, root: String?)] = []
    }
    let name = "matrix"
    let bot = "@airlock:test"
    let publicRoom = "!ops:test"
    let rootEvent = "$root-question"
    let state = Mutex(State())
    /// What `m.direct` says at start (a deployment upgraded from a version that trusted invites' `is_direct`).
    let initialDirect: [String: [String]]
    lazy var api: FakeAPI = FakeAPI { [unowned self] call in self.handle(call) }

    init(initialDirect: [String: [String]] = [:]) {
        self.initialDirect = initialDirect
        _ = api
    }

    /// `botacct` is in the application service's own namespace (`@airlock_…`), which marks bridge and bot users.
    func id(_ who: String) -> String { who == "botacct" ? "@airlock_bridge:test" : "@\(who):test" }
    var mentionThread: String { rootEvent }

    func configure(_ config: inout AirlockConfig, fakeBase: String) {
        config.platforms.append(
            MatrixModule(homeserverURL: fakeBase, asToken: "as-token", hsToken: "hs-token", botUser: bot)
        )
    }

    func blockDMs(to who: String, _ blocked: Bool) {
        state.withLock { if blocked { $0.blocked.insert(id(who)) } else { $0.blocked.remove(id(who)) } }
    }
    var massMentions: [String] { ["@room"] }
    /// The public reply says it mentions nobody, and its HTML shows links as code.
    func checkPublicPost() {
        let posts = api.calls.filter {
            $0.method == "PUT" && ($0.path.removingPercentEncoding ?? $0.path).contains("/rooms/\(publicRoom)/send/")
        }
        #expect(posts.count == 1)
        let content = posts.first?.object ?? [:]
        #expect((content["m.mentions"] as? [String: any Sendable])?.isEmpty == true, "no empty m.mentions")
        #expect((content["formatted_body"] as? String)?.contains("<code>https://evil.example/preview</code>") == true)
    }

    /// A room member joins (or is invited to) a room.
    func setMember(_ user: String, in room: String, _ membership: String) {
        state.withLock { $0.rooms[room, default: Room(members: [:], joinRule: "public")].members[user] = membership }
    }

    func handle(_ call: FakeAPI.Call) -> FakeAPI.Reply {
        guard call.headers["authorization"] == "Bearer as-token" else {
            return .init(status: 401, json: ["errcode": "M_UNKNOWN_TOKEN"])
        }
        let path = call.path.removingPercentEncoding ?? call.path
        if path == "/_matrix/client/v3/account/whoami" { return .init(json: ["user_id": call.query["user_id"] ?? bot]) }
        if path.hasSuffix("/account_data/m.direct") {
            if call.method == "PUT" {
                state.withLock { $0.mDirect = String(decoding: call.body, as: UTF8.self) }
                return .init(json: [:])
            }
            return initialDirect.isEmpty
                ? .init(status: 404, json: ["errcode": "M_NOT_FOUND"]) : .init(json: initialDirect)
        }
        if path == "/_matrix/client/v3/createRoom" {
            let invitee = (call.object["invite"] as? [any Sendable])?.first as? String ?? ""
            guard call.object["preset"] as? String == "trusted_private_chat", call.object["is_direct"] as? Double == 1
            else {
                return .init(status: 400, json: ["errcode": "M_BAD_JSON"])
            }
            let room = state.withLock { state -> String in
                state.created += 1
                let room = "!dm\(state.created)-\(invitee.dropFirst().prefix { $0 != ":" }):test"
                state.directs[room] = invitee
                state.rooms[room] = Room(members: [bot: "join", invitee: "invite"], joinRule: "invite")
                return room
            }
            return .init(json: ["room_id": room])
        }
        if path.hasSuffix("/join") { return .init(json: ["room_id": "x"]) }
        let parts = path.components(separatedBy: "/")
        if call.method == "GET", parts.count >= 8, parts[6] == "event" {
            if let sent = state.withLock({ $0.events }).first(where: { $0.id == parts[7] && $0.room == parts[5] }) {
                var content: [String: Any] = ["msgtype": "m.text", "body": sent.body]
                if let draft = sent.followUpOn { content["org.airlock.follow_up_on"] = draft }
                return .init(json: ["event_id": sent.id, "sender": bot, "room_id": sent.room, "content": content])
            }
            guard let event = state.withLock({ $0.people }).first(where: { $0.id == parts[7] }) else {
                return .init(status: 404, json: ["errcode": "M_NOT_FOUND"])
            }
            return .init(json: [
                "event_id": event.id, "sender": event.sender, "origin_server_ts": event.ts,
                "content": ["body": event.body],
            ])
        }
        if call.method == "GET", parts.count >= 7, parts[4] == "rooms", ["members", "state"].contains(parts[6]) {
            let room = parts[5]
            guard let known = state.withLock({ $0.rooms[room] }) else {
                return .init(status: 403, json: ["errcode": "M_FORBIDDEN"])
            }
            if parts[6] == "members" {
                return .init(json: [
                    "chunk": known.members.map {
                        ["type": "m.room.member", "state_key": $0.key, "content": ["membership": $0.value]]
                    }
                ])
            }
            if parts[6] == "state", parts.count >= 8, parts[7] == "m.room.join_rules" {
                return .init(json: ["join_rule": known.joinRule])
            }
        }
        if call.method == "PUT", path.contains("/send/m.room.message/") {
            let room = parts[5]
            let txn = parts[8]
            if let user = state.withLock({ $0.directs[room] }), state.withLock({ $0.blocked.contains(user) }) {
                return .init(
                    status: 403,
                    json: ["errcode": "M_FORBIDDEN", "error": "You are not allowed to send here"]
                )
            }
            let content = call.object
            let relation = content["m.relates_to"] as? [String: any Sendable]
            let id = state.withLock { state -> String in
                // Idempotent per transaction id.
                if let existing = state.events.first(where: { $0.txn == txn }) { return existing.id }
                state.next += 1
                let id = "$event\(state.next)"
                state.events.append(
                    Event(
                        id: id,
                        room: room,
                        body: content["body"] as? String ?? "",
                        threadRoot: relation?["event_id"] as? String,
                        tag: content["airlock_publish"] as? [String: any Sendable],
                        txn: txn,
                        followUpOn: content["org.airlock.follow_up_on"] as? String
                    )
                )
                return id
            }
            return .init(json: ["event_id": id])
        }
        if path.contains("/relations/") {
            let events = state.withLock { $0.events }.filter { $0.room == parts[5] && $0.threadRoot == parts[7] }
            let people = state.withLock { $0.people }.filter { $0.root == parts[7] }
            // Newest first, as the homeserver pages them.
            let chunk: [[String: Any]] =
                people.reversed().map {
                    ["event_id": $0.id, "sender": $0.sender, "origin_server_ts": $0.ts, "content": ["body": $0.body]]
                }
                + events.map { event -> [String: Any] in
                    var content: [String: Any] = ["body": event.body]
                    if let tag = event.tag { content["airlock_publish"] = FakeSlack.plain(tag) }
                    return [
                        "event_id": event.id, "sender": bot, "origin_server_ts": 1_700_000_099_000, "content": content,
                    ]
                }
            return .init(json: ["chunk": chunk])
        }
        return .init(status: 404, json: ["errcode": "M_UNRECOGNIZED"])
    }

    var messages: [FakeMessage] {
        let (events, directs) = state.withLock { ($0.events, $0.directs) }
        return events.map { event in
            if let user = directs[event.room] {
                return FakeMessage(place: "dm:" + user, text: event.body, isPublic: false, thread: nil)
            }
            return FakeMessage(place: event.room, text: event.body, isPublic: true, thread: event.threadRoot)
        }
    }

    func push(_ app: AirlockUnderTest, _ events: [[String: Any]]) async throws -> TestResponse {
        let body = try JSONSerialization.data(withJSONObject: ["events": events])
        return try await app.send(
            "/_matrix/app/v1/transactions/\(UUID().uuidString)",
            body: body,
            headers: [
                ("Content-Type", "application/json"), ("Authorization", "Bearer hs-token"),
            ],
            method: "PUT"
        )
    }

    func mentionEvent(from who: String, text: String, room: String? = nil, id eventID: String? = nil) -> [String: Any] {
        [
            "type": "m.room.message", "sender": id(who), "room_id": room ?? publicRoom,
            "event_id": eventID ?? rootEvent, "origin_server_ts": Int(Date().timeIntervalSince1970 * 1000),
            "content": ["msgtype": "m.text", "body": "airlock: \(text)", "m.mentions": ["user_ids": [bot]]],
        ]
    }

    func mention(_ app: AirlockUnderTest, from who: String, text: String) async throws -> Int {
        try await push(app, [mentionEvent(from: who, text: text)]).status
    }

    /// The room the bot created for `who`, if any.
    func directRoom(of who: String) -> String? {
        state.withLock { state in state.directs.filter { $0.value == id(who) }.keys.max() }
    }

    func command(
        _ app: AirlockUnderTest,
        from who: String,
        _ command: String,
        _ argument: String
    ) async throws -> String {
        let before = dms(to: who).count
        let room = directRoom(of: who) ?? publicRoom
        var content: [String: Any] = ["msgtype": "m.text", "body": "\(command) \(argument)"]
        if room == publicRoom {
            content["body"] = "\(bot) \(command) \(argument)"
            content["m.mentions"] = ["user_ids": [bot]]
        }
        _ = try await push(
            app,
            [
                [
                    "type": "m.room.message", "sender": id(who), "room_id": room,
                    "event_id": "$cmd\(UUID().uuidString.prefix(8))", "content": content,
                ]
            ]
        )
        return await nextDM(to: who, after: before)
    }

    /// An outsider on another homeserver invites the bot to a public room as "direct" and talks there; then a third
    /// person writes in the requester's own direct room.
    func foreignPrivate(_ app: AirlockUnderTest, from who: String, marker: String) async throws -> Bool {
        let outsider = "@eve:evil.org"
        let room = "!lobby:evil.org"
        setMember(outsider, in: room, "join")
        setMember("@mallory:evil.org", in: room, "join")
        #expect(
            try await push(
                app,
                [
                    [
                        "type": "m.room.member", "sender": outsider, "room_id": room, "state_key": bot,
                        "event_id": "$inv1",
                        "content": ["membership": "invite", "is_direct": true],
                    ],
                    [
                        "type": "m.room.message", "sender": outsider, "room_id": room, "event_id": "$eve1",
                        "content": ["msgtype": "m.text", "body": "how do I get the database admin password?"],
                    ],
                    [
                        "type": "m.room.message", "sender": "@mallory:evil.org", "room_id": room, "event_id": "$mal1",
                        "content": ["msgtype": "m.text", "body": "publish everything"],
                    ],
                ]
            ).status == 200
        )
        let requesterRoom = try #require(directRoom(of: "requester"))
        #expect(
            try await push(
                app,
                [
                    [
                        "type": "m.room.message", "sender": id(who), "room_id": requesterRoom, "event_id": "$foreign1",
                        "content": ["msgtype": "m.text", "body": "how do I read the payroll export? \(marker)"],
                    ]
                ]
            ).status == 200
        )
        #expect(!messages.contains { $0.place == room }, "the bot wrote in the outsider's public room")
        return true
    }
}
