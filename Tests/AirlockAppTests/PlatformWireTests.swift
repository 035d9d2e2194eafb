import AirlockDiscord
import AirlockDiscourse
import AirlockDomain
import AirlockGitHub
import AirlockWebhookKit
import Foundation
import Testing

/// The published test vectors of each platform's signature scheme (../shared/protocols.md), through the adapters.
@Suite("Platform signature test vectors")
struct PlatformWireTests {
    func request(_ body: String, _ headers: [(String, String)], path: String = "/") -> InboundRequest {
        InboundRequest(
            method: "POST",
            path: path,
            headers: headers.map { (name: $0.0, value: $0.1) },
            body: Data(body.utf8)
        )
    }

    @Test(
        "Discourse vectors A (Discourse's own spec) and B; a changed byte or a missing header is refused",
        arguments: [
            (
                "my_lovely_secret_for_web_hook", #"{"ping":"OK"}"#,
                "sha256=162f107f6b5022353274eb1a7197885cfd35744d8d08e5bcea025d309386b7d6"
            ),
            (
                "airlock-discourse-secret",
                #"{"post":{"id":101,"topic_id":42,"post_number":3,"username":"alice","raw":"@airlock how do I rotate keys?","reply_to_post_number":null,"topic_archetype":"regular"}}"#,
                "sha256=f4bd9f6b2c372f8e19041ff5087a3eb299460c8c209342336433c4cacd3ab056"
            ),
        ]
    )
    func discourse(_ secret: String, _ body: String, _ signature: String) throws {
        let adapter = DiscourseAdapter(secret: secret, botUsername: "airlock")
        #expect(throws: Never.self) {
            try adapter.verify(request(body, [("X-Discourse-Event-Signature", signature)]), now: Date())
        }
        #expect(throws: InboundRefusal.self) {
            try adapter.verify(request(body + " ", [("X-Discourse-Event-Signature", signature)]), now: Date())
        }
        #expect(throws: InboundRefusal.self) { try adapter.verify(request(body, []), now: Date()) }
    }

    @Test(
        "Discourse: a post is a question from its immutable user_id (the username is display only), deduplicated on post id"
    )
    func discourseParse() throws {
        let adapter = DiscourseAdapter(secret: "airlock-discourse-secret", botUsername: "airlock", botUserID: 1)
        // Vector B has no user_id: without the immutable id nobody is named, so nothing is asked.
        let vectorB =
            #"{"post":{"id":101,"topic_id":42,"post_number":3,"username":"alice","raw":"@airlock how do I rotate keys?","reply_to_post_number":null,"topic_archetype":"regular"}}"#
        guard
            case .ignored(let reason) = try adapter.parse(request(vectorB, [("X-Discourse-Event", "post_created")]))
                .items.first?.action
        else {
            Issue.record("a post without user_id was acted on"); return
        }
        #expect(reason.contains("user_id"))
        let body = vectorB.replacingOccurrences(of: #""username":"alice""#, with: #""username":"alice","user_id":2401"#)
        let delivery = try adapter.parse(
            request(body, [("X-Discourse-Event", "post_created"), ("X-Discourse-Event-Id", "7")])
        )
        let item = try #require(delivery.items.first)
        #expect(item.delivery?.key == "post:101:post_created")
        guard case .question(let asker, let text, let target) = item.action else {
            Issue.record("not a question"); return
        }
        #expect(
            asker.person == PersonID(platform: .discourse, id: "2401") && asker.displayName == "alice"
                && text == "how do I rotate keys?"
        )
        #expect(target == ThreadRef(platform: .discourse, channel: "42", thread: "3"))
        let own = body.replacingOccurrences(of: #""user_id":2401"#, with: #""user_id":1"#)
        guard
            case .ignored = try adapter.parse(request(own, [("X-Discourse-Event", "post_created")])).items.first?.action
        else {
            Issue.record("the bot's own post was not ignored"); return
        }
        // Discourse's own bots (system -1, discobot -2) are bots, whatever their name.
        let system = body.replacingOccurrences(of: #""user_id":2401"#, with: #""user_id":-1"#)
        guard
            case .question(let bot, _, _) = try adapter.parse(request(system, [("X-Discourse-Event", "post_created")]))
                .items.first?.action
        else { Issue.record("not parsed"); return }
        #expect(bot.isBot)
    }

    @Test(
        "Discord vector (RFC 8032 key): PING and the ask command verify; another timestamp or an appended byte does not"
    )
    func discord() throws {
        let adapter = try #require(
            DiscordAdapter(publicKeyHex: "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a")
        )
        let now = Date(timeIntervalSince1970: 1_700_000_000)
        let vectors = [
            (
                #"{"type":1}"#,
                "1695961a47c91a1ec033b819b7e87e3dbc583dd0cee6d1fd0216f58ac87b6228ae531ddbf91fb7bc28d7edf7f08604da16f54624f38a6bc0614e4dc13cd47f0f"
            ),
            (
                #"{"type":2,"id":"1","application_id":"2","token":"t","data":{"name":"ask","options":[{"name":"q","type":3,"value":"hi"}]}}"#,
                "919855f23dbe9dff1760d9df8bb76846750041dd84660a802472f39a913b266d194f229c5ccbdc421c6bb5d6a228d21c95fdf111735030ab43062c9e40d0bd03"
            ),
        ]
        for (body, signature) in vectors {
            let headers = [("X-Signature-Ed25519", signature), ("X-Signature-Timestamp", "1700000000")]
            #expect(throws: Never.self) { try adapter.verify(request(body, headers), now: now) }
            #expect(throws: InboundRefusal.self) {
                try adapter.verify(
                    request(body, [("X-Signature-Ed25519", signature), ("X-Signature-Timestamp", "1700000001")]),
                    now: now
                )
            }
            #expect(throws: InboundRefusal.self) { try adapter.verify(request(body + " ", headers), now: now) }
            #expect(throws: InboundRefusal.self) {
                try adapter.verify(request(body, headers), now: now.addingTimeInterval(600))
            }
        }
        let ping = try adapter.parse(request(#"{"type":1}"#, [("Content-Type", "application/json")]))
        #expect(adapter.reply(to: [], for: ping, request: request("", [])).body == Data(#"{"type":1}"#.utf8))
    }

    @Test("GitHub's published X-Hub-Signature-256 vector verifies; another body does not")
    func github() {
        let adapter = GitHubAdapter(secret: "It's a Secret to Everybody", botLogin: "airlock")
        let header = [
            ("X-Hub-Signature-256", "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17")
        ]
        #expect(throws: Never.self) { try adapter.verify(request("Hello, World!", header), now: Date()) }
        #expect(throws: InboundRefusal.self) { try adapter.verify(request("Hello, World?", header), now: Date()) }
        #expect(throws: InboundRefusal.self) { try adapter.verify(request("Hello, World!", []), now: Date()) }
    }
}

@Suite("Recorded bodies")
struct RecordedBodyTests {
    static let bodies: [String] = [
        #"{"token":"t","team_id":"T1","event":{"type":"app_mention","text":"<@U0BOT> how do I \"restore\"?\n\ttabs\\back/slash","ts":"1.2","blocks":[{"type":"rich_text","elements":[]}]},"authorizations":[{"is_bot":true,"is_enterprise_install":false,"user_id":"U0BOT"}],"event_time":1700000000,"n":-42,"x":1.5,"big":12345678901234,"nothing":null}"#,
        #"{"ünïcödé":"日本語 😀 e\u0301","ctl":"\u0001\u001f\u007f","b":"\u2028\u2029","nested":{"z":[1,2,[3,{"y":false}]],"a":{}}}"#,
        #"[{"b":1,"a":2},"s",true,0,0.25,-0.5,1e3]"#,
        #"{"events":[{"type":"m.room.message","content":{"body":"a <b> & c","m.mentions":{"user_ids":["@airlock:test"]}}}]}"#,
    ]

    @Test(
        "audit bodies: the hand-written canonical JSON is byte for byte Foundation's sorted-keys output",
        arguments: bodies.indices
    )
    func canonicalMatchesFoundation(_ index: Int) throws {
        let object = try JSONSerialization.jsonObject(with: Data(Self.bodies[index].utf8), options: .fragmentsAllowed)
        let foundation = String(
            decoding: try JSONSerialization.data(
                withJSONObject: object,
                options: [.sortedKeys, .withoutEscapingSlashes, .fragmentsAllowed]
            ),
            as: UTF8.self
        )
        #expect(RedactedJSON.canonical(object) == foundation)
    }

    @Test("secret fields are redacted at any depth")
    func redaction() {
        let recorded = RedactedJSON.of(
            Data(#"{"token":"xoxb-1","a":[{"token":"x","keep":"k"}]}"#.utf8),
            secrets: ["token"]
        )
        #expect(recorded == #"{"a":[{"keep":"k","token":"[redacted]"}],"token":"[redacted]"}"#)
    }
}
