public import AirlockDomain
public import AirlockWebhookKit
public import Foundation
import Logging

/// Slack's inbound side: `/slack/events`, `/slack/commands`, `/slack/interactions`, each v0-signed.
public struct SlackAdapter: InboundAdapter {
    public let platform = PlatformName.slack
    public let routes: [InboundRoute] = [
        InboundRoute(.post, "/slack/events"), InboundRoute(.post, "/slack/commands"),
        InboundRoute(.post, "/slack/interactions"),
    ]
    let verifier: SlackSignatureVerifier
    let bot: SlackBotIdentity
    /// Reads the DM message a reply is written under (nil: replies stay questions).
    let client: SlackClient?

    public init(verifier: SlackSignatureVerifier, bot: SlackBotIdentity, client: SlackClient? = nil) {
        self.verifier = verifier
        self.bot = bot
        self.client = client
    }

    /// A DM line written in the thread of one of the bot's draft DMs is a follow-up on that draft: `/ask <id>
    /// <line>`. The draft comes from the parent message's metadata, which only the bot can have written; a reply
    /// under any other message (or when Slack cannot be asked) stays a question.
    public func admit(_ item: InboundItem) async -> InboundItem {
        guard let client else { return item }
        return await item.followUp { channel, parent in
            guard let page = try? await client.replies(channel: channel, threadTS: parent),
                let message = page.messages.first(where: { $0.ts == parent }),
                message.botID == bot.botID || message.user == bot.userID
            else { return nil }
            return message.metadata?.payload("draft", ifType: SlackPlatform.dmEventType)
        }
    }

    public func verify(_ request: InboundRequest, now: Date) throws(InboundRefusal) {
        do {
            try verifier.verify(
                timestamp: request.header("X-Slack-Request-Timestamp"),
                signature: request.header("X-Slack-Signature"),
                body: request.body,
                now: now
            )
        } catch {
            throw .badSignature("request signature refused: \(error.description)")
        }
    }

    public func parse(_ request: InboundRequest) throws(InboundRefusal) -> InboundDelivery {
        switch request.path {
        case "/slack/events": try events(request)
        case "/slack/commands": try command(request)
        default: try interaction(request)
        }
    }

    func events(_ request: InboundRequest) throws(InboundRefusal) -> InboundDelivery {
        guard request.mediaType == "application/json" else {
            throw .unsupportedMediaType(expected: "application/json", got: request.mediaType)
        }
        let envelope: SlackEnvelope
        do {
            envelope = try SlackInbound.parseEvents(request.body, bot: bot)
        } catch {
            throw .badRequest(error.description, recordedBody: "[\(request.body.count) bytes]")
        }
        let redacted = SlackInbound.redactedJSON(request.body)
        switch envelope {
        case .urlVerification(let challenge):
            return InboundDelivery(
                items: [InboundItem(action: .ignored(reason: "url_verification"))],
                redactedBody: redacted,
                immediateReply: .json(["challenge": challenge])
            )
        case .other(let type):
            return InboundDelivery(
                items: [InboundItem(action: .ignored(reason: "type \(type)"))],
                redactedBody: redacted
            )
        case .event(let eventID, let action, let inReplyTo):
            var detail = ["event_id": eventID]
            if let retry = request.header("X-Slack-Retry-Num") {
                detail["retry_num"] = String(retry.prefix(8))
                detail["retry_reason"] = String((request.header("X-Slack-Retry-Reason") ?? "").prefix(40))
            }
            var item = InboundItem(
                action: action,
                delivery: DeliveryKey(platform: .slack, key: eventID),
                detail: detail
            )
            item.inReplyTo = inReplyTo
            return InboundDelivery(items: [item], redactedBody: redacted)
        }
    }

    func form(_ request: InboundRequest) throws(InboundRefusal) -> [String: String] {
        guard request.mediaType == "application/x-www-form-urlencoded" else {
            throw .unsupportedMediaType(expected: "application/x-www-form-urlencoded", got: request.mediaType)
        }
        return SlackInbound.formFields(request.body)
    }

    /// A replayed signed request (same `trigger_id`) is caught by the delivery key and does nothing twice.
    static func triggerKey(_ trigger: String?) -> DeliveryKey? {
        guard let trigger, Identifier.isASCII(trigger, lengths: 1...128, extra: [".", "_", "-"]) else { return nil }
        return DeliveryKey(platform: .slack, key: "trigger:" + trigger)
    }

    func command(_ request: InboundRequest) throws(InboundRefusal) -> InboundDelivery {
        let fields = try form(request)
        let redacted = SlackInbound.redactedForm(fields)
        if fields["ssl_check"] == "1" { return InboundDelivery(items: [], redactedBody: redacted, immediateReply: .ok) }
        let slash: SlackInbound.SlashCommand
        do {
            slash = try SlackInbound.parseSlashCommand(fields)
        } catch  where error.isInvalidIdentifier {
            // Signed and well-formed, but not from someone Airlock can name: told and recorded, never gated.
            let told = "Airlock cannot act on this command: \(error.description)."
            return InboundDelivery(
                items: [InboundItem(action: .refused(reason: "invalid_identifier", told: told))],
                redactedBody: redacted
            )
        } catch {
            throw .badRequest(error.description, recordedBody: redacted)
        }
        if let reason = SlackInbound.foreignWorkspace(team: slash.teamID, app: slash.appID, bot: bot) {
            let told = "Airlock cannot act on this command: it came from another workspace or app."
            return InboundDelivery(
                items: [InboundItem(action: .refused(reason: reason, told: told))],
                redactedBody: redacted
            )
        }
        let actor = Actor(PersonID(platform: .slack, id: slash.userID), scope: slash.teamID ?? bot.teamID)
        let action = InboundAction.command(
            actor: actor,
            command: ChatCommand.parse(name: slash.command, text: slash.text),
            reply: .inResponse
        )
        return InboundDelivery(
            items: [InboundItem(action: action, delivery: Self.triggerKey(slash.triggerID))],
            redactedBody: redacted
        )
    }

    func interaction(_ request: InboundRequest) throws(InboundRefusal) -> InboundDelivery {
        let fields = try form(request)
        let redacted = SlackInbound.redactedForm(fields)
        do {
            let (action, trigger) = try SlackInbound.parseInteraction(fields, bot: bot)
            let key: DeliveryKey? = if case .command = action { Self.triggerKey(trigger) } else { nil }
            return InboundDelivery(items: [InboundItem(action: action, delivery: key)], redactedBody: redacted)
        } catch {
            throw .badRequest(error.description, recordedBody: redacted)
        }
    }

    struct Ephemeral: Encodable {
        var response_type = "ephemeral"
        var text: String
    }

    public func reply(
        to results: [InboundResult],
        for delivery: InboundDelivery,
        request: InboundRequest
    ) -> InboundResponse {
        if let immediate = delivery.immediateReply { return immediate }
        guard request.path == "/slack/commands" else { return .ok }
        // Slash commands always answer 200 with an ephemeral message, refusals included.
        switch results.first {
        case .replied(let text, _): return .json(Ephemeral(text: text))
        case .duplicate: return .json(Ephemeral(text: "This command was already received; nothing was done again."))
        default: return .json(Ephemeral(text: "Received."))
        }
    }
}

/// Slack as a platform module: `AIRLOCK_SLACK_SIGNING_SECRET` and `AIRLOCK_SLACK_BOT_TOKEN` enable it.
public struct SlackModule: PlatformModule {
    public static let name = PlatformName.slack
    /// Upper-case `U…` ids; a message holds 40,000 characters; a scope is a workspace (team) id. Slack's own
    /// client escapes `<`, `>` and `&` in every public post and turns unfurling off, so no further neutraliser.
    public static let traits = PlatformTraits(idCase: .upper, maxPublicLength: 39_000, scopeName: "workspace (team) id")
    public var signingSecret: String
    public var botToken: String
    public var apiURL: String
    public var reviewChannel: String?
    /// Optional: deliveries whose `api_app_id` differs are refused.
    public var appID: String?

    public init(
        signingSecret: String,
        botToken: String,
        apiURL: String = "https://slack.com/api",
        reviewChannel: String? = nil,
        appID: String? = nil
    ) {
        self.signingSecret = signingSecret
        self.botToken = botToken
        self.apiURL = apiURL
        self.reviewChannel = reviewChannel
        self.appID = appID
    }

    public static let settings: [Setting] = [
        Setting(
            "slack.signing_secret",
            secret: true,
            enables: true,
            help: "Slack app signing secret (Basic Information); with the bot token, enables Slack"
        ),
        Setting(
            "slack.bot_token",
            secret: true,
            enables: true,
            help: "Slack bot token `xoxb-…`; setting only one of the two is a start-up error naming the other"
        ),
        Setting(
            "slack.api_url",
            default: "https://slack.com/api",
            example: "https://slack.com/api",
            help: "Web API base (the tests point it at a loopback fake)"
        ),
        Setting(
            "slack.review_channel",
            help:
                "optional private channel where pending publishes are shown to approvers (with Approve / Reject buttons); invite the bot to it"
        ),
        Setting(
            "slack.app_id",
            help:
                "optional: deliveries whose `api_app_id` differs are refused (the workspace is always checked against `auth.test`'s `team_id`)"
        ),
    ]

    public static func configure(_ settings: any SettingsReader) throws -> SlackModule? {
        guard
            let values = try PlatformSettingsError.require(
                Self.settings,
                platform: "Slack",
                from: settings
            )
        else { return nil }
        return SlackModule(
            signingSecret: values["slack.signing_secret"]!,
            botToken: values["slack.bot_token"]!,
            apiURL: settings.string("slack.api_url") ?? "https://slack.com/api",
            reviewChannel: settings.string("slack.review_channel"),
            appID: settings.string("slack.app_id")
        )
    }

    public func start(_ context: PlatformContext) async throws -> PlatformBinding {
        let client = SlackClient(
            http: context.http,
            baseURL: apiURL,
            token: botToken,
            onCall: { call in
                var detail = [
                    "method": call.method, "status": call.httpStatus.map(String.init) ?? "none",
                    "duration_ms": String(call.duration.milliseconds),
                ]
                if let error = call.error { detail["error"] = error }
                await context.recordAPICall(.slack, detail)
            }
        )
        var bot: SlackBotIdentity
        do {
            bot = try await client.authTest()
        } catch {
            throw PlatformSettingsError(
                "Slack auth.test failed (\(error)): check AIRLOCK_SLACK_BOT_TOKEN and AIRLOCK_SLACK_API_URL"
            )
        }
        bot.appID = appID
        context.logger.info("Slack enabled", metadata: ["slack.bot_user": "\(bot.userID)"])
        return PlatformBinding(
            inbound: SlackAdapter(
                verifier: SlackSignatureVerifier(signingSecret: signingSecret),
                bot: bot,
                client: client
            ),
            outbound: SlackPlatform(client: client),
            reviewChannel: reviewChannel
        )
    }
}
