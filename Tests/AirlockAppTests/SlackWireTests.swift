import AirlockDomain
import AirlockSlack
import Foundation
import Testing

@Suite("Slack wire format (protocols.md test vectors)")
struct SlackWireTests {
    static let vectorA = (
        secret: "8f742231b10e8888abcd99yyyzzz85a5", timestamp: "1531420618",
        body:
            "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c",
        signature: "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503"
    )
    static let vectorB = (
        secret: "airlock-test-signing-secret", timestamp: "1700000000",
        body:
            #"{"token":"x","team_id":"T0001","api_app_id":"A0001","event":{"type":"app_mention","user":"U0001","text":"<@U0BOT> hello","ts":"1700000000.000100","channel":"C0001","event_ts":"1700000000.000100"},"type":"event_callback","event_id":"Ev0001","event_time":1700000000}"#,
        signature: "v0=bbe5b4862119324a3a8c7b66c14bd36ec0a998d85e8d4a25ba471c57da4d3147"
    )

    @Test("Slack's published example (A) and Airlock's JSON event (B) verify; the signer reproduces them")
    func vectors() throws {
        for vector in [Self.vectorA, Self.vectorB] {
            let verifier = SlackSignatureVerifier(signingSecret: vector.secret)
            let now = Date(timeIntervalSince1970: TimeInterval(Int(vector.timestamp)!))
            try verifier.verify(
                timestamp: vector.timestamp,
                signature: vector.signature,
                body: Data(vector.body.utf8),
                now: now
            )
            #expect(verifier.signature(timestamp: vector.timestamp, body: Data(vector.body.utf8)) == vector.signature)
        }
        #expect(Data(Self.vectorB.body.utf8).count == 264)
    }

    @Test("Vector B: valid at ts and ts+300, invalid at ts+301 and with one byte appended")
    func window() throws {
        let verifier = SlackSignatureVerifier(signingSecret: Self.vectorB.secret)
        let body = Data(Self.vectorB.body.utf8)
        for offset in [0.0, 300.0, -300.0] {
            try verifier.verify(
                timestamp: Self.vectorB.timestamp,
                signature: Self.vectorB.signature,
                body: body,
                now: Date(timeIntervalSince1970: 1_700_000_000 + offset)
            )
        }
        #expect(throws: SlackSignatureError.staleTimestamp) {
            try verifier.verify(
                timestamp: Self.vectorB.timestamp,
                signature: Self.vectorB.signature,
                body: body,
                now: Date(timeIntervalSince1970: 1_700_000_301)
            )
        }
        #expect(throws: SlackSignatureError.mismatch) {
            try verifier.verify(
                timestamp: Self.vectorB.timestamp,
                signature: Self.vectorB.signature,
                body: body + Data("x".utf8),
                now: Date(timeIntervalSince1970: 1_700_000_000)
            )
        }
    }

    @Test("Vector B parses as a question from U0001 in C0001, threaded on its ts, mention stripped")
    func parseMention() throws {
        let bot = SlackBotIdentity(userID: "U0BOT", botID: "B0BOT", teamID: "T0001")
        let envelope = try SlackInbound.parseEvents(Data(Self.vectorB.body.utf8), bot: bot)
        let expected = InboundAction.question(
            asker: Actor(PersonID(platform: .slack, id: "U0001"), scope: "T0001"),
            text: "hello",
            target: ThreadRef(platform: .slack, channel: "C0001", thread: "1700000000.000100")
        )
        #expect(envelope == .event(eventID: "Ev0001", action: expected))
    }

    @Test("Redaction removes the verification token, response_url and trigger_id from recorded bodies")
    func redaction() {
        let fields = SlackInbound.formFields(Data(Self.vectorA.body.utf8))
        #expect(fields["command"] == "/webhook-collect")
        let redacted = SlackInbound.redactedForm(fields)
        #expect(!redacted.contains("xyzz0WbapA4vBCDEFasx0q6G"))
        #expect(!redacted.contains("96rGlfmibIGlgcZRskXaIFfN"))
        #expect(!redacted.contains("803a0bc887a14d10d2c447fce8b6703c"))
        #expect(redacted.contains("roadrunner"))
        #expect(!SlackInbound.redactedJSON(Data(Self.vectorB.body.utf8)).contains("\"token\":\"x\""))
    }
}
