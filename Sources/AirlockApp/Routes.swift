import AirlockDomain
import AirlockWebhookKit
import AirlockWorkflow
import Foundation
import HTTPTypes
public import Hummingbird
import Logging
import NIOCore
import Prometheus
import Synchronization

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
    let adapters: [any InboundAdapter]
    let refusals: RefusalRecorder
    let now: @Sendable () -> Date
    /// Counts webhooks in flight, so job workers give way to acks during a burst.
    var inboundLoad = InboundLoad()
    /// `AIRLOCK_METRICS_TOKEN`: `/metrics` answers only `Authorization: Bearer <token>`; without one it is off (the
    /// webhook listener faces the internet through the proxy).
    var metricsToken: String?
}

/// States a draft is "pending" in for the `airlock_pending_drafts` gauge.
let pendingStates: Set<DraftState> = [.requested, .answered, .revised, .publishRequested, .approved, .publishing]

/// Builds the router: health, metrics and every enabled platform's inbound routes.
func buildRouter(_ deps: RouteDependencies) -> Router<AirlockRequestContext> {
    let router = Router(context: AirlockRequestContext.self)
    router.get("/healthz") { _, _ in "ok\n" }
    router.get("/readyz") { _, _ -> Response in
        let ready = (try? await withTimeout(.seconds(2)) { await deps.readiness() }) ?? false
        return Response(
            status: ready ? .ok : .serviceUnavailable,
            body: .init(byteBuffer: ByteBuffer(string: ready ? "ready\n" : "database not ready\n"))
        )
    }
    router.get("/metrics") { request, _ -> Response in
        guard let token = deps.metricsToken else {
            return Response(
                status: .notFound,
                body: .init(
                    byteBuffer: ByteBuffer(
                        string: "metrics are off: set AIRLOCK_METRICS_TOKEN and scrape with it as a bearer token\n"
                    )
                )
            )
        }
        let presented =
            request.headers[.authorization].flatMap { $0.hasPrefix("Bearer ") ? String($0.dropFirst(7)) : nil } ?? ""
        guard SecretCompare.equal(presented, token) else {
            return Response(
                status: .unauthorized,
                headers: [.wwwAuthenticate: "Bearer"],
                body: .init(byteBuffer: ByteBuffer(string: "a bearer token is required\n"))
            )
        }
        if let pending = try? await deps.store.countDrafts(states: pendingStates) {
            deps.metrics.pendingDrafts(pending)
        }
        var headers = HTTPFields()
        headers[.contentType] = "text/plain; version=0.0.4; charset=utf-8"
        return Response(
            status: .ok,
            headers: headers,
            body: .init(byteBuffer: ByteBuffer(bytes: deps.metrics.registry.emitToBuffer()))
        )
    }
    for adapter in deps.adapters {
        let route = InboundRouteHandler(deps: deps, adapter: adapter)
        for path in adapter.routes {
            let handler: @Sendable (Request, AirlockRequestContext) async throws -> Response = { request, context in
                try await deps.inboundLoad.handling {
                    try await route.handle(request, context: context, route: path.path)
                }
            }
            switch path.method {
            case .post: router.post(RouterPath(path.path), use: handler)
            case .put: router.put(RouterPath(path.path), use: handler)
            }
        }
    }
    return router
}

/// The one route handler every platform shares: body (413), `verify` before anything is parsed (401/403),
/// `parse` (4xx), each item through the conversation, the adapter's wire answer. Refusals are recorded.
struct InboundRouteHandler: Sendable {
    let deps: RouteDependencies
    let adapter: any InboundAdapter

    func handle(_ request: Request, context: AirlockRequestContext, route: String) async throws -> Response {
        var request = request
        let platform = adapter.platform
        let body: Data
        do {
            let buffer = try await request.collectBody(upTo: context.maxUploadSize)
            body = Data(buffer.readableBytesView)
        } catch {
            return try await refused(
                InboundRefusal(outcome: .tooLarge, status: 413, message: "body is larger than 1 MiB"),
                route: route
            )
        }
        var parameters: [String: String] = [:]
        for (name, value) in context.parameters { parameters[String(name)] = String(value) }
        let inbound = InboundRequest(
            method: request.method.rawValue,
            path: route,
            headers: request.headers.map { (name: $0.name.rawName, value: $0.value) },
            body: body,
            parameters: parameters
        )
        let delivery: InboundDelivery
        do {
            try adapter.verify(inbound, now: deps.now())
            delivery = try adapter.parse(inbound)
        } catch {
            if error.outcome == .badSignature {
                context.logger.notice(
                    "\(platform.rawValue.capitalized) request refused",
                    metadata: ["airlock.reason": "\(error.outcome.rawValue)"]
                )
            }
            return try await refused(error, route: route)
        }
        var results: [InboundResult] = []
        for item in delivery.items {
            let admitted = await adapter.admit(item)
            results.append(
                try await deps.conversation.receive(
                    admitted,
                    platform: platform,
                    route: route,
                    redactedBody: delivery.redactedBody
                )
            )
        }
        return Self.response(adapter.reply(to: results, for: delivery, request: inbound))
    }

    /// Records (within the per-platform budget) and counts a refusal, and answers it.
    func refused(_ refusal: InboundRefusal, route: String) async throws -> Response {
        var detail = [
            "route": route, "reason": refusal.outcome.rawValue, "status": String(refusal.status),
            "told": refusal.message,
        ]
        if let body = refusal.recordedBody { detail["body"] = body }
        try await deps.refusals.record(
            AuditEvent(kind: .inboundRefused, platform: adapter.platform, detail: detail),
            store: deps.store,
            at: deps.now()
        )
        deps.metrics.inbound(platform: adapter.platform.rawValue, outcome: refusal.outcome)
        if let custom = refusal.responseBody { return Self.response(custom) }
        return Self.response(
            InboundResponse(
                status: refusal.status,
                contentType: "text/plain; charset=utf-8",
                body: Data((refusal.message + "\n").utf8)
            )
        )
    }

    static func response(_ answer: InboundResponse) -> Response {
        var headers = HTTPFields()
        if let type = answer.contentType { headers[.contentType] = type }
        for (name, value) in answer.headers {
            if let field = HTTPField.Name(name) { headers[field] = value }
        }
        return Response(
            status: HTTPResponse.Status(code: answer.status),
            headers: headers,
            body: .init(byteBuffer: ByteBuffer(bytes: answer.body))
        )
    }
}

/// Records unauthenticated refusals without letting a flood of them cost one fsynced audit row each: per
/// platform, at most `burst` entries per `window` are written one by one; beyond that they are counted and
/// written as one `inbound_refused_summary` entry when the window closes (at the next refusal after it).
final class RefusalRecorder: Sendable {
    struct Window {
        var start: Date
        var recorded = 0
        var suppressed = 0
    }

    let burst: Int
    let window: TimeInterval
    private let windows = Mutex<[PlatformName: Window]>([:])

    init(burst: Int = 20, window: TimeInterval = 10) {
        self.burst = burst
        self.window = window
    }

    func record(_ event: AuditEvent, store: any AirlockStore, at now: Date) async throws {
        let platform = event.platform ?? PlatformName("unknown")
        let (write, summary) = windows.withLock { windows -> (Bool, Int) in
            var current = windows[platform] ?? Window(start: now)
            var summary = 0
            if now.timeIntervalSince(current.start) >= window {
                summary = current.suppressed
                current = Window(start: now)
            }
            let write = current.recorded < burst
            if write { current.recorded += 1 } else { current.suppressed += 1 }
            windows[platform] = current
            return (write, summary)
        }
        var events: [AuditEvent] = []
        if summary > 0 {
            events.append(
                AuditEvent(
                    kind: .inboundRefusedSummary,
                    platform: platform,
                    detail: ["suppressed": String(summary), "window_seconds": String(Int(window))]
                )
            )
        }
        if write { events.append(event) }
        if !events.isEmpty { try await store.appendAudit(events, at: now) }
    }
}
