import AirlockDomain
import AirlockSandbox
import AirlockSlack
import AirlockStorage
import Crypto
import Foundation
import HTTPTypes
public import Hummingbird
import Logging
import NIOCore
import Prometheus

/// Per-request state for every Airlock route.
public struct AirlockRequestContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    public init(source: Source) { self.coreContext = .init(source: source) }
    /// Bodies over 1 MiB get 413 before anything is parsed.
    public var maxUploadSize: Int { 1024 * 1024 }
}

/// What the routes need.
struct RouteDependencies: Sendable {
    let conversation: Conversation
    let store: any AirlockStore
    let readiness: @Sendable () async -> Bool
    let metrics: AirlockMetrics
    let slack: SlackRouteSettings?
    let sandboxToken: String?
    let now: @Sendable () -> Date
}

/// Slack inbound settings resolved at start-up.
struct SlackRouteSettings: Sendable {
    let verifier: SlackSignatureVerifier
    let bot: SlackBotIdentity
}

/// States a draft is "pending" in for the `airlock_pending_drafts` gauge.
let pendingStates: Set<DraftState> = [.requested, .answered, .revised, .publishRequested, .approved]

/// Builds the router: health, metrics and the enabled platforms' inbound routes.
func buildRouter(_ deps: RouteDependencies) -> Router<AirlockRequestContext> {
    let router = Router(context: AirlockRequestContext.self)
    router.get("/healthz") { _, _ in "ok\n" }
    router.get("/readyz") { _, _ -> Response in
        let ready = (try? await withTimeout(.seconds(2)) { await deps.readiness() }) ?? false
        return Response(
            status: ready ? .ok : .serviceUnavailable,
            body: .init(byteBuffer: ByteBuffer(string: ready ? "ready\n" : "database not ready\n")))
    }
    router.get("/metrics") { _, _ -> Response in
        if let pending = try? await deps.store.countDrafts(states: pendingStates) {
            deps.metrics.pendingDrafts(pending)
        }
        var headers = HTTPFields()
        headers[.contentType] = "text/plain; version=0.0.4; charset=utf-8"
        return Response(
            status: .ok, headers: headers,
            body: .init(byteBuffer: ByteBuffer(bytes: deps.metrics.registry.emitToBuffer())))
    }
    if let slack = deps.slack {
        SlackRoutes(deps: deps, slack: slack).register(on: router)
    }
    if let token = deps.sandboxToken {
        SandboxRoutes(deps: deps, token: token).register(on: router)
    }
    return router
}

/// Reads the body (413 over 1 MiB, recorded) for a platform route.
func collectBody(
    _ request: inout Request,
    context: AirlockRequestContext,
    deps: RouteDependencies,
    platform: PlatformName,
    route: String
) async throws -> Data {
    do {
        let buffer = try await request.collectBody(upTo: context.maxUploadSize)
        return Data(buffer.readableBytesView)
    } catch {
        try await refuse(
            deps: deps, platform: platform, route: route, outcome: "too_large", status: .contentTooLarge,
            message: "body is larger than 1 MiB")
    }
}

/// Records a refused inbound request, counts it and throws the HTTP error its sender gets.
func refuse(
    deps: RouteDependencies,
    platform: PlatformName,
    route: String,
    outcome: String,
    status: HTTPResponse.Status,
    message: String,
    body: String? = nil
) async throws -> Never {
    var detail = ["route": route, "reason": outcome, "status": String(status.code), "told": message]
    if let body { detail["body"] = body }
    try await deps.store.appendAudit(
        [AuditEvent(kind: "inbound_refused", platform: platform, detail: detail)], at: deps.now())
    deps.metrics.inbound(platform: platform.rawValue, outcome: outcome)
    throw HTTPError(status, message: message)
}

/// Requires the request's content type to be `expected` (after the signature check).
func requireContentType(
    _ request: Request,
    _ expected: String,
    deps: RouteDependencies,
    platform: PlatformName,
    route: String
) async throws {
    let type = request.headers[.contentType]?.split(separator: ";").first?.trimmingCharacters(in: .whitespaces) ?? ""
    guard type.lowercased() == expected else {
        try await refuse(
            deps: deps, platform: platform, route: route, outcome: "bad_request", status: .unsupportedMediaType,
            message: "Content-Type must be \(expected), got '\(type.prefix(80))'")
    }
}

/// A JSON response.
func jsonResponse(_ object: [String: Any], status: HTTPResponse.Status = .ok) -> Response {
    let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data("{}".utf8)
    var headers = HTTPFields()
    headers[.contentType] = "application/json; charset=utf-8"
    return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: data)))
}

/// Slack's three inbound routes.
struct SlackRoutes: Sendable {
    let deps: RouteDependencies
    let slack: SlackRouteSettings

    func register(on router: Router<AirlockRequestContext>) {
        router.post("/slack/events") { request, context in try await events(request, context: context) }
        router.post("/slack/commands") { request, context in try await commands(request, context: context) }
        router.post("/slack/interactions") { request, context in try await interactions(request, context: context) }
    }

    /// Checks the v0 signature before anything is parsed; refusals are 401 and recorded.
    private func verified(_ request: inout Request, context: AirlockRequestContext, route: String) async throws -> Data {
        let body = try await collectBody(&request, context: context, deps: deps, platform: .slack, route: route)
        do {
            try slack.verifier.verify(
                timestamp: request.headers[HTTPField.Name("X-Slack-Request-Timestamp")!],
                signature: request.headers[HTTPField.Name("X-Slack-Signature")!],
                body: body, now: deps.now())
        } catch {
            context.logger.notice("Slack request refused", metadata: ["airlock.reason": "\(error.code)"])
            try await refuse(
                deps: deps, platform: .slack, route: route, outcome: "bad_signature", status: .unauthorized,
                message: "request signature refused: \(error.description)")
        }
        return body
    }

    func events(_ request: Request, context: AirlockRequestContext) async throws -> Response {
        let route = "/slack/events"
        var request = request
        let body = try await verified(&request, context: context, route: route)
        try await requireContentType(request, "application/json", deps: deps, platform: .slack, route: route)
        let envelope: SlackEnvelope
        do {
            envelope = try SlackInbound.parseEvents(body, bot: slack.bot)
        } catch {
            try await refuse(
                deps: deps, platform: .slack, route: route, outcome: "bad_request", status: .badRequest,
                message: error.description, body: "[\(body.count) bytes]")
        }
        let redacted = SlackInbound.redactedJSON(body)
        switch envelope {
        case .urlVerification(let challenge):
            _ = try await deps.conversation.receive(
                .ignored(reason: "url_verification"), platform: .slack, delivery: nil, route: route, redactedBody: redacted)
            return jsonResponse(["challenge": challenge])
        case .other(let type):
            _ = try await deps.conversation.receive(
                .ignored(reason: "type \(type)"), platform: .slack, delivery: nil, route: route, redactedBody: redacted)
            return Response(status: .ok)
        case .event(let eventID, let action):
            var detail = ["event_id": eventID]
            if let retry = request.headers[HTTPField.Name("X-Slack-Retry-Num")!] {
                detail["retry_num"] = String(retry.prefix(8))
                detail["retry_reason"] = String((request.headers[HTTPField.Name("X-Slack-Retry-Reason")!] ?? "").prefix(40))
            }
            _ = try await deps.conversation.receive(
                action, platform: .slack, delivery: DeliveryKey(platform: .slack, key: eventID), route: route,
                redactedBody: redacted, detail: detail)
            return Response(status: .ok)
        }
    }

    /// A verified `application/x-www-form-urlencoded` body (slash commands, interactivity), decoded.
    private func verifiedForm(_ request: Request, context: AirlockRequestContext, route: String) async throws
        -> [String: String]
    {
        var request = request
        let body = try await verified(&request, context: context, route: route)
        try await requireContentType(
            request, "application/x-www-form-urlencoded", deps: deps, platform: .slack, route: route)
        return SlackInbound.formFields(body)
    }

    /// Records a signed form Airlock cannot read and answers 400 with what is missing.
    private func refuseForm(_ error: SlackParseError, fields: [String: String], route: String) async throws -> Never {
        try await refuse(
            deps: deps, platform: .slack, route: route, outcome: "bad_request", status: .badRequest,
            message: error.description, body: SlackInbound.redactedForm(fields))
    }

    func commands(_ request: Request, context: AirlockRequestContext) async throws -> Response {
        let route = "/slack/commands"
        let fields = try await verifiedForm(request, context: context, route: route)
        if fields["ssl_check"] == "1" { return Response(status: .ok) }
        let slash: SlackInbound.SlashCommand
        do {
            slash = try SlackInbound.parseSlashCommand(fields)
        } catch where error.isInvalidIdentifier {
            // Signed and well-formed, but not from a Slack user Airlock can name: told and recorded, never gated.
            let told = "Airlock cannot act on this command: \(error.description)."
            try await deps.store.appendAudit(
                [
                    AuditEvent(
                        kind: "refusal", platform: .slack,
                        detail: [
                            "route": route, "reason": "invalid_identifier", "told": told,
                            "body": SlackInbound.redactedForm(fields),
                        ])
                ], at: deps.now())
            deps.metrics.inbound(platform: "slack", outcome: "refused_identifier")
            return jsonResponse(["response_type": "ephemeral", "text": told])
        } catch {
            try await refuseForm(error, fields: fields, route: route)
        }
        let actor = Actor(PersonID(platform: .slack, id: slash.userID))
        let inbound = AuditEvent(
            kind: "inbound", platform: .slack, actor: actor.person,
            detail: ["route": route, "body": SlackInbound.redactedForm(fields), "outcome": "accepted"])
        deps.metrics.inbound(platform: "slack", outcome: "accepted")
        let reply = try await deps.conversation.handle(
            ChatCommand.parse(name: slash.command, text: slash.text), from: actor, platform: .slack, inbound: inbound)
        return jsonResponse(["response_type": "ephemeral", "text": reply.text])
    }

    func interactions(_ request: Request, context: AirlockRequestContext) async throws -> Response {
        let route = "/slack/interactions"
        let fields = try await verifiedForm(request, context: context, route: route)
        let action: InboundAction
        do {
            action = try SlackInbound.parseInteraction(fields)
        } catch {
            try await refuseForm(error, fields: fields, route: route)
        }
        _ = try await deps.conversation.receive(
            action, platform: .slack, delivery: nil, route: route, redactedBody: SlackInbound.redactedForm(fields))
        return Response(status: .ok)
    }
}

/// The sandbox platform's inbound routes (demo and tests only), guarded by a bearer token.
struct SandboxRoutes: Sendable {
    let deps: RouteDependencies
    let token: String

    func register(on router: Router<AirlockRequestContext>) {
        router.post("/sandbox/messages") { request, context -> Response in
            let route = "/sandbox/messages"
            var request = request
            let body = try await authorised(&request, context: context, route: route)
            let parsed: (id: String?, action: InboundAction)
            do {
                parsed = try SandboxInbound.parseMessage(body)
            } catch {
                try await refuse(
                    deps: deps, platform: .sandbox, route: route, outcome: "bad_request", status: .badRequest,
                    message: "\(error)")
            }
            let outcome = try await deps.conversation.receive(
                parsed.action, platform: .sandbox,
                delivery: parsed.id.map { DeliveryKey(platform: .sandbox, key: $0) }, route: route,
                redactedBody: String(decoding: body, as: UTF8.self))
            switch outcome {
            case .accepted(let id): return jsonResponse(["outcome": "accepted", "draft": id?.rawValue ?? ""])
            case .duplicate: return jsonResponse(["outcome": "duplicate"])
            case .ignored(let reason): return jsonResponse(["outcome": "ignored", "reason": reason])
            }
        }
        router.post("/sandbox/commands") { request, context -> Response in
            let route = "/sandbox/commands"
            var request = request
            let body = try await authorised(&request, context: context, route: route)
            guard case .command(let actor, let command) = try? SandboxInbound.parseCommand(body) else {
                try await refuse(
                    deps: deps, platform: .sandbox, route: route, outcome: "bad_request", status: .badRequest,
                    message: "expected JSON {\"user\", \"command\", \"text\"?}")
            }
            let inbound = AuditEvent(
                kind: "inbound", platform: .sandbox, actor: actor.person,
                detail: ["route": route, "body": String(decoding: body, as: UTF8.self), "outcome": "accepted"])
            let reply = try await deps.conversation.handle(command, from: actor, platform: .sandbox, inbound: inbound)
            return jsonResponse(["text": reply.text, "accepted": reply.accepted])
        }
    }

    private func authorised(_ request: inout Request, context: AirlockRequestContext, route: String) async throws -> Data {
        let body = try await collectBody(&request, context: context, deps: deps, platform: .sandbox, route: route)
        let presented = request.headers[.authorization] ?? ""
        let expected = "Bearer \(token)"
        guard SHA256.hash(data: Data(presented.utf8)) == SHA256.hash(data: Data(expected.utf8)) else {
            try await refuse(
                deps: deps, platform: .sandbox, route: route, outcome: "bad_signature", status: .unauthorized,
                message: "missing or wrong bearer token")
        }
        return body
    }
}
