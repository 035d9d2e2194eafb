public import Foundation
import HTTPTypes
public import Hummingbird
import Logging
import NIOCore
import Synchronization

/// A loopback HTTP API for a platform fake: every request is recorded and answered by `handler`.
public final class FakeAPI: Sendable {
    /// One recorded request.
    public struct Call: Sendable {
        public var method: String
        public var path: String
        public var query: [String: String]
        public var headers: [String: String]
        public var body: Data
        /// The body as a JSON object or array, when it is one.
        public var json: (any Sendable)? { (try? JSONSerialization.jsonObject(with: body)).map(FakeSlack.sendable) }
        public var object: [String: any Sendable] { json as? [String: any Sendable] ?? [:] }
    }

    /// An answer: status and a JSON value (or raw bytes).
    public struct Reply: Sendable {
        public var status: Int
        public var body: Data
        public var headers: [String: String]

        public init(status: Int = 200, json: Any, headers: [String: String] = [:]) {
            self.status = status
            self.body = (try? JSONSerialization.data(withJSONObject: json, options: [.fragmentsAllowed])) ?? Data()
            self.headers = headers
        }
    }

    private let recorded = Mutex<[Call]>([])
    private let handler: @Sendable (Call) async -> Reply
    let portBox = PortBox()

    public init(handler: @escaping @Sendable (Call) async -> Reply) { self.handler = handler }

    public var calls: [Call] { recorded.withLock { $0 } }
    public func calls(_ method: String, _ path: String) -> [Call] {
        calls.filter { $0.method == method && $0.path == path }
    }

    public func application() -> some ApplicationProtocol {
        let router = Router()
        let handle: @Sendable (Request, BasicRequestContext) async throws -> Response = { request, _ in
            try await self.respond(request)
        }
        router.get("**", use: handle)
        router.post("**", use: handle)
        router.put("**", use: handle)
        router.patch("**", use: handle)
        return Application(
            router: router,
            configuration: .init(address: .hostname("127.0.0.1", port: 0), serverName: "fake-api"),
            onServerRunning: { [portBox] channel in portBox.set(channel.localAddress?.port ?? 0) },
            logger: Logger(label: "fake-api", factory: { _ in SwiftLogNoOpLogHandler() })
        )
    }

    /// `http://127.0.0.1:PORT`.
    public func baseURL() async throws -> String { "http://127.0.0.1:\(try await portBox.port())" }

    private func respond(_ request: Request) async throws -> Response {
        var request = request
        let buffer = try await request.collectBody(upTo: 4 << 20)
        var query: [String: String] = [:]
        for (key, value) in request.uri.queryParameters { query[String(key)] = String(value) }
        var headers: [String: String] = [:]
        for field in request.headers { headers[field.name.canonicalName] = field.value }
        let call = Call(
            method: request.method.rawValue,
            path: request.uri.path,
            query: query,
            headers: headers,
            body: Data(buffer.readableBytesView)
        )
        recorded.withLock { $0.append(call) }
        let reply = await handler(call)
        var fields = HTTPFields()
        fields[.contentType] = "application/json"
        for (name, value) in reply.headers { if let field = HTTPField.Name(name) { fields[field] = value } }
        return Response(
            status: .init(code: reply.status),
            headers: fields,
            body: .init(byteBuffer: ByteBuffer(bytes: reply.body))
        )
    }
}

/// Runs a `FakeAPI` for the duration of `body`.
public func withFakeAPI<T: Sendable>(_ api: FakeAPI, _ body: @Sendable (FakeAPI) async throws -> T) async throws -> T {
    try await withServices([api.application()]) { try await body(api) }
}
