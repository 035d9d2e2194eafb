import AirlockDiscord
import AirlockDiscourse
public import AirlockDomain
import AirlockGitHub
import AirlockMatrix
import AirlockMattermost
import AirlockSlack
import AirlockWebhookKit
public import Foundation

/// Every inbound parser and signature verifier as a fuzz target: `run(target, bytes)` must return for any
/// bytes — no trap, no hang, no unbounded allocation. libFuzzer drives it through `airlock-fuzz` (built with
/// `-sanitize=fuzzer,address`); the tests replay the committed seed corpora (`Fuzz/corpus/<target>/`) and seeded
/// mutations of them through the same function.
///
/// Input layout: for parsers the first byte picks a header variant (event type, retry header…) and the rest is
/// the body; for verifiers the input is `header-line \n header-line \n body`.
public enum FuzzTargets {
    public static let names = [
        "slack-events", "slack-commands", "slack-interactions", "slack-signature", "mattermost-webhook",
        "mattermost-commands", "discourse", "github", "body-signature", "discord", "discord-signature", "matrix",
    ]

    static let slack = SlackAdapter(
        verifier: SlackSignatureVerifier(signingSecret: "fuzz-signing-secret"),
        bot: SlackBotIdentity(userID: "U0BOT", botID: "B0BOT", teamID: "T0001", appID: "A0001")
    )
    static let mattermost = MattermostAdapter(
        botUserID: "bot0000000000000000000000a",
        botUsername: "airlock",
        commandToken: "fuzz-command-token",
        webhookToken: "fuzz-webhook-token"
    )
    static let discourse = DiscourseAdapter(secret: "fuzz-body-secret", botUsername: "airlock")
    static let github = GitHubAdapter(secret: "fuzz-body-secret", botLogin: "airlock-bot")
    // RFC 8032 test 1 public key.
    static let discord = DiscordAdapter(
        publicKeyHex: "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"
    )!
    static let matrix = MatrixAdapter(
        hsToken: "fuzz-hs-token",
        botUser: "@airlock:fuzz",
        rooms: MatrixRooms(),
        join: { _ in }
    )
    static let now = Date(timeIntervalSince1970: 1_700_000_000)

    /// Runs one input through one target. Returns what the adapter made of it (for the replay's summary).
    @discardableResult
    public static func run(_ target: String, _ data: Data) -> String {
        let variant = data.first ?? 0
        let rest = data.isEmpty ? Data() : data.dropFirst()
        switch target {
        case "slack-events":
            var headers: [(name: String, value: String)] = [("Content-Type", "application/json")]
            if variant & 1 == 1 {
                headers += [("X-Slack-Retry-Num", String(variant >> 1)), ("X-Slack-Retry-Reason", "http_timeout")]
            }
            return parse(slack, "/slack/events", headers, rest)
        case "slack-commands":
            return parse(slack, "/slack/commands", [("Content-Type", "application/x-www-form-urlencoded")], rest)
        case "slack-interactions":
            return parse(slack, "/slack/interactions", [("Content-Type", "application/x-www-form-urlencoded")], rest)
        case "slack-signature":
            let (lines, body) = split(data, lines: 2)
            return verify(
                slack,
                "/slack/events",
                [("X-Slack-Request-Timestamp", lines[0]), ("X-Slack-Signature", lines[1])],
                body
            )
        case "mattermost-webhook":
            return parse(
                mattermost,
                "/mattermost/webhook",
                [("Content-Type", variant & 1 == 0 ? "application/json" : "application/x-www-form-urlencoded")],
                rest
            )
        case "mattermost-commands":
            return parse(
                mattermost,
                "/mattermost/commands",
                [("Content-Type", "application/x-www-form-urlencoded"), ("Authorization", "Token fuzz-command-token")],
                rest
            )
        case "discourse":
            let events = ["post_created", "post_edited", "post_destroyed", "topic_created", "ping", ""]
            let event = events[Int(variant) % events.count]
            return parse(
                discourse,
                "/discourse/webhook",
                [
                    ("X-Discourse-Event", event),
                    ("X-Discourse-Event-Type", event.split(separator: "_").first.map(String.init) ?? ""),
                    ("X-Discourse-Event-Id", String(variant)), ("X-Discourse-Instance", "https://forum.fuzz"),
                ],
                rest
            )
        case "github":
            let events = ["discussion", "discussion_comment", "issue_comment", "ping", "push", ""]
            return parse(
                github,
                "/github/webhook",
                [
                    ("X-GitHub-Event", events[Int(variant) % events.count]), ("X-GitHub-Delivery", "d-\(variant)"),
                ],
                rest
            )
        case "body-signature":
            let (lines, body) = split(data, lines: 1)
            return verify(
                github,
                "/github/webhook",
                [("X-Hub-Signature-256", lines[0]), ("X-GitHub-Event", "ping")],
                body
            )
                + verify(discourse, "/discourse/webhook", [("X-Discourse-Event-Signature", lines[0])], body)
        case "discord":
            return parse(discord, "/discord/interactions", [("Content-Type", "application/json")], rest)
        case "discord-signature":
            let (lines, body) = split(data, lines: 2)
            return verify(
                discord,
                "/discord/interactions",
                [("X-Signature-Ed25519", lines[0]), ("X-Signature-Timestamp", lines[1])],
                body
            )
        case "matrix":
            return parse(
                matrix,
                "/_matrix/app/v1/transactions/:txnId",
                [("Authorization", "Bearer fuzz-hs-token")],
                rest,
                parameters: ["txnId": "t\(variant)"]
            )
        default:
            return "unknown target \(target)"
        }
    }

    static func parse(
        _ adapter: some InboundAdapter,
        _ path: String,
        _ headers: [(name: String, value: String)],
        _ body: Data,
        parameters: [String: String] = [:]
    ) -> String {
        let request = InboundRequest(
            method: path.hasPrefix("/_matrix") ? "PUT" : "POST",
            path: path,
            headers: headers,
            body: body,
            parameters: parameters
        )
        do {
            let delivery = try adapter.parse(request)
            let results = delivery.items.map { _ in InboundResult.ignored("fuzz") }
            _ = adapter.reply(to: results, for: delivery, request: request)
            return "parsed \(delivery.items.count) item(s)"
        } catch {
            return "refused \(error.status)"
        }
    }

    static func verify(
        _ adapter: some InboundAdapter,
        _ path: String,
        _ headers: [(name: String, value: String)],
        _ body: Data
    ) -> String {
        let request = InboundRequest(method: "POST", path: path, headers: headers, body: body)
        do {
            try adapter.verify(request, now: now)
            return "verified"
        } catch {
            return "refused \(error.status)"
        }
    }

    /// `count` header lines (lossy UTF-8, at most 512 bytes each) and the remaining body.
    static func split(_ data: Data, lines count: Int) -> ([String], Data) {
        var lines: [String] = []
        var rest = data[...]
        for _ in 0..<count {
            if let newline = rest.firstIndex(of: 0x0A) {
                lines.append(String(decoding: rest[..<newline].prefix(512), as: UTF8.self))
                rest = rest[rest.index(after: newline)...]
            } else {
                lines.append(String(decoding: rest.prefix(512), as: UTF8.self))
                rest = rest[rest.endIndex...]
            }
        }
        return (lines, Data(rest))
    }

    /// A small seeded mutator (byte flips, inserts, deletes, splices of interesting tokens) for the replay: not
    /// libFuzzer's coverage guidance, but it runs everywhere with the plain toolchain, so CI can use it.
    public static func mutate(_ data: Data, using rng: inout some RandomNumberGenerator) -> Data {
        var bytes = [UInt8](data)
        let tokens: [[UInt8]] = [
            Array("\"".utf8), Array("{".utf8), Array("}".utf8), Array("[".utf8), Array("]".utf8), Array(",".utf8),
            Array(":".utf8), Array("null".utf8), Array("true".utf8), Array("1e999".utf8), Array("-0".utf8),
            Array("\\u0000".utf8), Array("\\ud800".utf8), Array("%".utf8), Array("%00".utf8), Array("&".utf8),
            Array("=".utf8), Array("<@U0BOT>".utf8), Array("@airlock".utf8), [0x00], [0xFF], [0xC3],
            [0xE2, 0x80, 0xAE],
            Array(String(repeating: "[", count: 600).utf8), Array(String(repeating: "9", count: 40).utf8),
        ]
        for _ in 0..<Int.random(in: 1...4, using: &rng) {
            let position = bytes.isEmpty ? 0 : Int.random(in: 0...bytes.count, using: &rng)
            switch Int.random(in: 0..<5, using: &rng) {
            case 0 where !bytes.isEmpty && position < bytes.count:
                bytes[position] ^= UInt8(1 << Int.random(in: 0..<8, using: &rng))
            case 1: bytes.insert(contentsOf: tokens.randomElement(using: &rng)!, at: position)
            case 2 where !bytes.isEmpty:
                let end = min(bytes.count, position + Int.random(in: 1...16, using: &rng))
                if position < end { bytes.removeSubrange(position..<end) }
            case 3 where !bytes.isEmpty:
                let start = Int.random(in: 0..<bytes.count, using: &rng)
                let chunk = bytes[start..<min(bytes.count, start + Int.random(in: 1...32, using: &rng))]
                bytes.insert(contentsOf: chunk, at: position)
            default: bytes.insert(UInt8.random(in: 0...255, using: &rng), at: position)
            }
        }
        return Data(bytes.prefix(1 << 20))
    }
}
