public import Foundation

/// An HTTP request as an inbound adapter sees it: no server framework types.
public struct InboundRequest: Sendable {
    public var method: String
    public var path: String
    /// Header fields in arrival order (names as sent).
    public var headers: [(name: String, value: String)]
    public var body: Data
    /// Values of the route's `:name` segments.
    public var parameters: [String: String]

    public init(
        method: String,
        path: String,
        headers: [(name: String, value: String)],
        body: Data,
        parameters: [String: String] = [:]
    ) {
        self.method = method
        self.path = path
        self.headers = headers
        self.body = body
        self.parameters = parameters
    }

    /// The first value of a header, matched case-insensitively.
    public func header(_ name: String) -> String? {
        let lowered = name.lowercased()
        return headers.first { $0.name.lowercased() == lowered }?.value
    }

    /// The media type of `Content-Type`, lower-cased, without parameters.
    public var mediaType: String {
        header("Content-Type")?.split(separator: ";").first?.trimmingCharacters(in: .whitespaces).lowercased() ?? ""
    }
}

/// The wire answer to an inbound request.
public struct InboundResponse: Sendable, Equatable {
    public var status: Int
    public var contentType: String?
    public var body: Data
    public var headers: [String: String]

    public init(status: Int = 200, contentType: String? = nil, body: Data = Data(), headers: [String: String] = [:]) {
        self.status = status
        self.contentType = contentType
        self.body = body
        self.headers = headers
    }

    /// An empty 200.
    public static let ok = InboundResponse()

    /// A JSON answer.
    public static func json(_ object: some Encodable, status: Int = 200) -> InboundResponse {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let body = (try? encoder.encode(object)) ?? Data("{}".utf8)
        return InboundResponse(status: status, contentType: "application/json; charset=utf-8", body: body)
    }
}

/// A route an adapter owns (`path` may hold `:name` segments).
public struct InboundRoute: Hashable, Sendable {
    public enum Method: String, Hashable, Sendable { case post = "POST", put = "PUT" }
    public var method: Method
    public var path: String

    public init(_ method: Method, _ path: String) {
        self.method = method
        self.path = path
    }
}

/// Why a request was refused before anything in it was acted on. Recorded, counted by `outcome`, answered
/// with `status` and `message` (or `responseBody` when the platform expects a body of its own).
/// What became of an inbound delivery (the `outcome` of `airlock_inbound_requests_total`, and the recorded reason).
public enum InboundOutcome: String, Hashable, Sendable {
    case accepted, duplicate, ignored, stale
    case forbidden
    case refusedIdentifier = "refused_identifier"
    case refusedNoDM = "refused_no_dm"
    case refusedRateLimit = "refused_rate_limit"
    case badSignature = "bad_signature"
    case badRequest = "bad_request"
    case tooLarge = "too_large"
}

public struct InboundRefusal: Error, Sendable, CustomStringConvertible {
    public var outcome: InboundOutcome
    public var status: Int
    public var message: String
    /// What may be recorded of the body (already redacted), if anything.
    public var recordedBody: String?
    /// A platform-specific error body (Matrix `{"errcode": …}`); nil → `message` as text.
    public var responseBody: InboundResponse?

    public init(
        outcome: InboundOutcome,
        status: Int,
        message: String,
        recordedBody: String? = nil,
        responseBody: InboundResponse? = nil
    ) {
        self.outcome = outcome
        self.status = status
        self.message = message
        self.recordedBody = recordedBody
        self.responseBody = responseBody
    }

    public var description: String { "\(status) \(outcome.rawValue): \(message)" }

    /// 401 for a missing or wrong signature.
    public static func badSignature(_ message: String) -> InboundRefusal {
        InboundRefusal(outcome: .badSignature, status: 401, message: message)
    }

    /// 400 for a body that does not parse.
    public static func badRequest(_ message: String, recordedBody: String? = nil) -> InboundRefusal {
        InboundRefusal(outcome: .badRequest, status: 400, message: message, recordedBody: recordedBody)
    }

    /// 415 for a wrong content type.
    public static func unsupportedMediaType(expected: String, got: String) -> InboundRefusal {
        InboundRefusal(
            outcome: .badRequest,
            status: 415,
            message: "Content-Type must be \(expected), got '\(got.prefix(80))'"
        )
    }
}

/// One thing a delivery asks of Airlock, with its dedupe key and what to record beside it.
public struct InboundItem: Sendable {
    public var action: InboundAction
    /// Deduplication key (Slack `event_id`, `trigger_id`; GitHub delivery id; Matrix txn + event id…).
    public var delivery: DeliveryKey?
    public var detail: [String: String]
    /// False for something Airlock must not keep (another person's message in a private channel, a private message
    /// in a topic that is not the bot's): only ids and the reason are recorded, never the body.
    public var recordBody: Bool
    /// When the platform says, in what it signed, the message was written (GitHub `created_at`, Discourse
    /// `created_at`, Mattermost `timestamp`, Matrix `origin_server_ts`): a delivery older than the dedupe keys are
    /// kept could be a replay whose key was pruned, and is refused.
    public var sentAt: Date?
    /// In a private conversation: the platform's id of the message this one replies to (a Slack DM thread). The
    /// adapter's `admit` may turn the item into a follow-up on the draft that message is about.
    public var inReplyTo: String?

    public init(
        action: InboundAction,
        delivery: DeliveryKey? = nil,
        detail: [String: String] = [:],
        recordBody: Bool = true,
        sentAt: Date? = nil
    ) {
        self.action = action
        self.delivery = delivery
        self.detail = detail
        self.recordBody = recordBody
        self.sentAt = sentAt
    }
}

/// A verified, parsed delivery: zero or more items and the body as it may be recorded (secrets redacted).
public struct InboundDelivery: Sendable {
    public var items: [InboundItem]
    public var redactedBody: String
    /// Answered as is, whatever the items' results (Slack `url_verification` challenge, Discord PONG).
    public var immediateReply: InboundResponse?

    public init(items: [InboundItem], redactedBody: String, immediateReply: InboundResponse? = nil) {
        self.items = items
        self.redactedBody = redactedBody
        self.immediateReply = immediateReply
    }
}

/// What the workflow did with one item.
public enum InboundResult: Hashable, Sendable {
    /// Recorded; a question created this draft.
    case accepted(DraftID?)
    /// Seen before: nothing done again.
    case duplicate
    /// Recorded as ignored.
    case ignored(String)
    /// A command answered in the response: `text` for its sender only, `accepted` false for a refusal.
    case replied(text: String, accepted: Bool)
}

/// The inbound half of a platform: its routes, its signature check, its parser and its wire answers.
///
/// The generic route layer calls `verify` on the raw request before anything is parsed, then `parse`, hands
/// each item to the conversation, and answers with `reply`.
public protocol InboundAdapter: Sendable {
    var platform: PlatformName { get }
    var routes: [InboundRoute] { get }
    /// Throws a 401/403 refusal unless the request is authentic (signature, token, replay window).
    func verify(_ request: InboundRequest, now: Date) throws(InboundRefusal)
    /// Reads a verified request; throws a 4xx refusal for a body that is not the platform's format.
    func parse(_ request: InboundRequest) throws(InboundRefusal) -> InboundDelivery
    /// The platform's wire answer once the items were handled.
    func reply(to results: [InboundResult], for delivery: InboundDelivery, request: InboundRequest) -> InboundResponse
    /// Checks that need the platform's API before an item is acted on (is this private topic really the sender's
    /// own channel with the bot? is this account a bot?). Returns the item to act on: as it came, or turned into
    /// an ignored or refused one. The default admits every item unchanged.
    func admit(_ item: InboundItem) async -> InboundItem
}

extension InboundAdapter {
    public func admit(_ item: InboundItem) async -> InboundItem { item }
}

extension InboundItem {
    /// A private question written as a reply (`inReplyTo` = `conversation/message`) to one of the bot's draft DMs
    /// becomes `/ask` on that draft. `draftOf(conversation, message)` reads the message back and returns the draft it
    /// is about only when the bot wrote it; otherwise (or for any other item) the item is returned unchanged.
    public func followUp(draftOf: (String, String) async -> String?) async -> InboundItem {
        guard let reply = inReplyTo, case .question(let asker, let text, nil) = action,
            let slash = reply.firstIndex(of: "/"),
            let draft = await draftOf(String(reply[..<slash]), String(reply[reply.index(after: slash)...]))
        else { return self }
        var followUp = self
        followUp.action = .command(
            actor: asker,
            command: .success(.onDraft(rawID: draft, command: .ask(instruction: text))),
            reply: .directMessage
        )
        followUp.detail["follow_up_reply_to"] = reply
        return followUp
    }
}
