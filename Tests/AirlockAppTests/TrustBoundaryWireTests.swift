import AirlockDiscourse
import AirlockDomain
import AirlockGitHub
import AirlockMattermost
import AirlockTesting
import AirlockWebhookKit
import Foundation
import Testing

@Suite("Trust boundaries in the platforms' parsers")
struct TrustBoundaryWireTests {
    func request(_ body: String, _ headers: [(String, String)], path: String = "/") -> InboundRequest {
        InboundRequest(
            method: "POST",
            path: path,
            headers: [("Content-Type", "application/json")] + headers,
            body: Data(body.utf8)
        )
    }

    @Test(
        "Mentions are whole words: @airlock-fan, @airlock.bot and x@airlock.example are not; **@airlock**, 'Hi @airlock,' and '@airlock\\n' are",
        arguments: [
            ("@airlock-fan can you help?", false), ("mail x@airlock.example now", false), ("@airlock.bot hi", false),
            ("@airlocks hi", false), ("@airlock\nhow do I rotate keys?", true),
            ("Hi @airlock, how do I rotate keys?", true),
            ("**@airlock** how do I rotate keys?", true), ("thanks @airlock.", true), ("@AIRLOCK how?", true),
            ("(@airlock) how?", true),
        ]
    )
    func mentions(_ text: String, _ expected: Bool) {
        let (stripped, mentioned) = MentionMatcher.strip("airlock", in: text)
        #expect(mentioned == expected)
        if expected { #expect(!stripped.lowercased().contains("@airlock")) }
    }

    @Test(
        "Discourse: mentions that split on spaces missed are questions; a name that only starts like the bot's is not",
        arguments: [
            ("@airlock\nhow do I rotate keys?", true), ("Hi @airlock, how do I rotate keys?", true),
            ("**@airlock** how do I rotate keys?", true),
            ("@airlock-fan how do I rotate keys?", false),
        ]
    )
    func discourseMentions(_ raw: String, _ expected: Bool) throws {
        let adapter = DiscourseAdapter(secret: "s", botUsername: "airlock", botUserID: 1)
        let post: [String: Any] = [
            "id": 7, "user_id": 20, "username": "alice", "raw": raw, "topic_id": 42, "post_number": 3,
            "topic_archetype": "regular",
            "post_type": 1,
        ]
        let body = String(decoding: try JSONSerialization.data(withJSONObject: ["post": post]), as: UTF8.self)
        let action = try #require(
            try adapter.parse(request(body, [("X-Discourse-Event", "post_created")])).items.first?.action
        )
        if case .question(_, let text, _) = action {
            #expect(expected, "\(raw) became a question")
            #expect(text.hasSuffix("how do I rotate keys?") && !text.contains("@airlock"))
        } else {
            #expect(!expected, "\(raw) was not a question: \(action)")
        }
    }

    @Test(
        "GitHub: a delivery is what is signed — the same body under a new X-GitHub-Delivery is the same delivery; people are numeric ids"
    )
    func githubReplay() throws {
        let adapter = GitHubAdapter(secret: "s", botLogin: "airlock")
        let body = try String(
            contentsOfFile: realPayload("github/discussion_comment.created.payload.json"),
            encoding: .utf8
        )
        .replacingOccurrences(of: "\"body\": \"", with: "\"body\": \"@airlock how do I roll back? ")
        func parse(_ deliveryID: String) throws -> InboundItem {
            try #require(
                try adapter.parse(
                    request(body, [("X-GitHub-Event", "discussion_comment"), ("X-GitHub-Delivery", deliveryID)])
                ).items.first
            )
        }
        let first = try parse("72d3162e-cc78-11e3-81ab-4c9367dc0958")
        let replay = try parse("00000000-0000-0000-0000-000000000001")
        #expect(first.delivery != nil && first.delivery == replay.delivery)
        guard case .question(let asker, _, _) = first.action else {
            Issue.record("not a question: \(first.action)"); return
        }
        #expect(Int(asker.person.id) != nil, "a GitHub person is their numeric id, not the login \(asker.person.id)")
        #expect(asker.displayName != nil && asker.scope != nil)
        let other = body.replacingOccurrences(of: "roll back?", with: "roll forward?")
        let different = try #require(
            try adapter.parse(request(other, [("X-GitHub-Event", "discussion_comment"), ("X-GitHub-Delivery", "x")]))
                .items.first
        )
        #expect(different.delivery != first.delivery)
    }

    @Test("Mattermost: a command without trigger_id is deduplicated on its body")
    func mattermostCommandWithoutTrigger() throws {
        let adapter = MattermostAdapter(
            botUserID: "airlockbot0000000000000000",
            botUsername: "airlock",
            commandToken: "c",
            webhookToken: "w"
        )
        let form =
            "token=c&team_id=team&channel_id=townsquare000000000000000a&user_id=approver000000000000000000&command=%2Fairlock&text=approve+AbCdEf123456+v1"
        let make = {
            InboundRequest(
                method: "POST",
                path: "/mattermost/commands",
                headers: [("Content-Type", "application/x-www-form-urlencoded")],
                body: Data(form.utf8)
            )
        }
        let first = try #require(try adapter.parse(make()).items.first)
        let second = try #require(try adapter.parse(make()).items.first)
        #expect(first.delivery != nil && first.delivery == second.delivery)
    }
}

/// A platform's own published example payload under `Fixtures/` (see its README for the sources).
func realPayload(_ path: String) -> String {
    URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures/\(path)").path
}
