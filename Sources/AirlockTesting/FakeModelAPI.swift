public import Foundation
import HTTPTypes
public import Hummingbird
import Logging
import NIOCore
import Synchronization

/// A loopback model API that speaks OpenAI's `/v1/chat/completions` and Anthropic's `/v1/messages` and records
/// every request (path, headers, JSON body), with scripted failures.
public final class FakeModelAPI: Sendable {
    /// A recorded request.
    public struct Request: Sendable {
        public var path: String
        public var headers: [String: String]
        public var json: [String: any Sendable]
    }

    /// What the next request gets instead of a normal answer.
    public enum Fault: Sendable {
        case status(Int, retryAfter: String? = nil)
        case delay(Duration)
        case garbage
    }

    struct State {
        var requests: [Request] = []
        var faults: [Fault] = []
        var answer = "Rotate the credentials through the secrets manager [1]."
        /// Tool calls answered before the text, one per response: (name, arguments).
        var toolCalls: [(String, [String: any Sendable])] = []
        /// Answers every request with a tool call (a runaway model).
        var runaway = false
    }

    private let state = Mutex(State())
    let portBox = PortBox()

    public init() {}

    public var requests: [Request] { state.withLock { $0.requests } }
    public func inject(_ faults: [Fault]) { state.withLock { $0.faults.append(contentsOf: faults) } }
    public func setAnswer(_ text: String) { state.withLock { $0.answer = text } }
    /// The next responses call these tools, one per response, before the text answer.
    public func scriptToolCalls(_ calls: [(String, [String: any Sendable])]) {
        state.withLock { $0.toolCalls += calls }
    }
    /// Every response calls a tool: the model never stops.
    public func setRunaway(_ on: Bool) { state.withLock { $0.runaway = on } }

    public func application() -> some ApplicationProtocol {
        let router = Router()
        router.post("/v1/chat/completions") { request, context in try await self.handle(request, openAI: true) }
        router.post("/v1/messages") { request, context in try await self.handle(request, openAI: false) }
        return Application(
            router: router,
            configuration: .init(address: .hostname("127.0.0.1", port: 0), serverName: "fake-model"),
            onServerRunning: { [portBox] channel in portBox.set(channel.localAddress?.port ?? 0) },
            logger: Logger(label: "fake-model", factory: { _ in SwiftLogNoOpLogHandler() })
        )
    }

    /// `http://127.0.0.1:PORT` (append `/v1` for the OpenAI base URL).
    public func baseURL() async throws -> String { "http://127.0.0.1:\(try await portBox.port())" }

    private func handle(_ request: Request_, openAI: Bool) async throws -> Response {
        var request = request
        let buffer = try await request.collectBody(upTo: 1 << 20)
        let object = (try? JSONSerialization.jsonObject(with: Data(buffer.readableBytesView)) as? [String: Any]) ?? [:]
        var headers: [String: String] = [:]
        for field in request.headers { headers[field.name.canonicalName] = field.value }
        let (fault, answer, tool) = state.withLock { state -> (Fault?, String, (String, [String: any Sendable])?) in
            state.requests.append(
                Request(path: request.uri.path, headers: headers, json: object.mapValues { FakeSlack.sendable($0) })
            )
            var tool: (String, [String: any Sendable])?
            if !state.toolCalls.isEmpty {
                tool = state.toolCalls.removeFirst()
            } else if state.runaway {
                tool = ("search_docs", ["query": "again"])
            }
            return (state.faults.isEmpty ? nil : state.faults.removeFirst(), state.answer, tool)
        }
        switch fault {
        case .status(let code, let retryAfter)?:
            var fields = HTTPFields()
            if let retryAfter { fields[.retryAfter] = retryAfter }
            return Response(
                status: .init(code: code),
                headers: fields,
                body: .init(byteBuffer: ByteBuffer(string: #"{"error":"scripted"}"#))
            )
        case .delay(let duration)?:
            try await Task.sleep(for: duration)
        case .garbage?:
            return Response(status: .ok, body: .init(byteBuffer: ByteBuffer(string: "<html>not json</html>")))
        case nil:
            break
        }
        let model = object["model"] as? String ?? "unknown"
        if let (name, arguments) = tool {
            // OpenAI `tool_calls` (arguments as JSON text) / Anthropic `tool_use` (input as an object).
            let id = "call_\(UUID().uuidString.prefix(8))"
            let argumentsText = String(decoding: try JSONSerialization.data(withJSONObject: arguments), as: UTF8.self)
            let body: [String: Any] =
                openAI
                ? [
                    "id": "chatcmpl-t", "object": "chat.completion", "model": model,
                    "choices": [
                        [
                            "index": 0, "finish_reason": "tool_calls",
                            "message": [
                                "role": "assistant", "content": NSNull(),
                                "tool_calls": [
                                    [
                                        "id": id, "type": "function",
                                        "function": ["name": name, "arguments": argumentsText],
                                    ]
                                ],
                            ],
                        ]
                    ],
                    "usage": ["prompt_tokens": 100, "completion_tokens": 10],
                ]
                : [
                    "id": "msg_t", "type": "message", "role": "assistant", "model": model, "stop_reason": "tool_use",
                    "content": [["type": "tool_use", "id": id, "name": name, "input": arguments]],
                    "usage": ["input_tokens": 100, "output_tokens": 10],
                ]
            var fields = HTTPFields()
            fields[.contentType] = "application/json"
            return Response(
                status: .ok,
                headers: fields,
                body: .init(byteBuffer: ByteBuffer(bytes: try JSONSerialization.data(withJSONObject: body)))
            )
        }
        let body: [String: Any] =
            openAI
            ? [
                "id": "chatcmpl-1", "object": "chat.completion", "model": model,
                "choices": [
                    ["index": 0, "message": ["role": "assistant", "content": answer], "finish_reason": "stop"]
                ],
                "usage": ["prompt_tokens": 321, "completion_tokens": 45, "total_tokens": 366],
            ]
            : [
                "id": "msg_1", "type": "message", "role": "assistant", "model": model,
                "content": [["type": "text", "text": answer]], "stop_reason": "end_turn",
                "usage": ["input_tokens": 321, "output_tokens": 45],
            ]
        let data = try JSONSerialization.data(withJSONObject: body)
        var fields = HTTPFields()
        fields[.contentType] = "application/json"
        return Response(status: .ok, headers: fields, body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }

    public typealias Request_ = Hummingbird.Request
}
