import Foundation
import HTTPTypes
public import Hummingbird
import Logging
public import MCP
import NIOCore
import Synchronization

/// A loopback MCP server (Streamable HTTP, JSON responses): the MCP SDK's own `Server` behind its
/// `StatelessHTTPServerTransport`, served by Hummingbird. It offers a ticket tracker's tools — two that read,
/// one the server marks destructive, one it marks as writing — and records every `tools/call`.
public final class FakeMCPServer: Sendable {
    public struct Call: Sendable {
        public var name: String
        public var arguments: [String: Value]
    }

    private let calls = Mutex<[Call]>([])
    private let bearer = Mutex<[String]>([])
    let portBox = PortBox()

    public init() {}

    public var recordedCalls: [Call] { calls.withLock { $0 } }
    /// The `Authorization` header of every HTTP request.
    public var authorizations: [String] { bearer.withLock { $0 } }

    public static let tools: [Tool] = [
        Tool(
            name: "search_tickets",
            description: "Search the ticket tracker.",
            inputSchema: .object([
                "type": "object", "properties": .object(["query": .object(["type": "string"])]),
                "required": .array(["query"]),
            ]),
            annotations: .init(readOnlyHint: true)
        ),
        Tool(
            name: "get_ticket",
            description: "Read one ticket by number.",
            inputSchema: .object(["type": "object", "properties": .object(["number": .object(["type": "integer"])])])
        ),
        Tool(
            name: "close_ticket",
            description: "Close a ticket.",
            inputSchema: .object(["type": "object", "properties": .object(["number": .object(["type": "integer"])])]),
            annotations: .init(readOnlyHint: false, destructiveHint: true)
        ),
        Tool(
            name: "comment_on_ticket",
            description: "Comment on a ticket.",
            inputSchema: .object(["type": "object", "properties": .object(["text": .object(["type": "string"])])]),
            annotations: .init(readOnlyHint: false)
        ),
    ]

    /// Serves until cancelled.
    public func application() async throws -> some ApplicationProtocol {
        let server = Server(name: "fake-tickets", version: "1.0", capabilities: .init(tools: .init()))
        await server.withMethodHandler(ListTools.self) { _ in .init(tools: Self.tools) }
        await server.withMethodHandler(CallTool.self) { params in
            self.calls.withLock { $0.append(Call(name: params.name, arguments: params.arguments ?? [:])) }
            switch params.name {
            case "search_tickets":
                return .init(
                    content: [.text("OPS-4312: rollback of the payments deploy left the canary at 5% (open)")],
                    isError: false
                )
            case "get_ticket":
                let number = params.arguments?["number"]?.intValue ?? -1
                return .init(
                    content: [
                        .text(
                            "Ticket OPS-\(number): the canary was reset by hand. Deploy key used: password=Kx9vT2qLm8Zr4Wp"
                        )
                    ],
                    isError: false
                )
            default:
                return .init(content: [.text("done")], isError: false)
            }
        }
        let transport = StatelessHTTPServerTransport()
        try await server.start(transport: transport)

        let router = Router()
        router.post("/mcp") { request, _ -> Response in
            var request = request
            let body = try await request.collectBody(upTo: 1 << 20)
            var headers: [String: String] = [:]
            for field in request.headers { headers[field.name.rawName] = field.value }
            self.bearer.withLock { $0.append(request.headers[.authorization] ?? "") }
            let reply = await transport.handleRequest(
                MCP.HTTPRequest(method: "POST", headers: headers, body: Data(body.readableBytesView), path: "/mcp")
            )
            var fields = HTTPFields()
            for (name, value) in reply.headers {
                if let field = HTTPField.Name(name) { fields[field] = value }
            }
            return Response(
                status: .init(code: reply.statusCode),
                headers: fields,
                body: .init(byteBuffer: ByteBuffer(bytes: reply.bodyData ?? Data()))
            )
        }
        return Application(
            router: router,
            configuration: .init(address: .hostname("127.0.0.1", port: 0), serverName: "fake-mcp"),
            onServerRunning: { [portBox] channel in portBox.set(channel.localAddress?.port ?? 0) },
            logger: Logger(label: "fake-mcp", factory: { _ in SwiftLogNoOpLogHandler() })
        )
    }

    public func url() async throws -> String { "http://127.0.0.1:\(try await portBox.port())/mcp" }
}
