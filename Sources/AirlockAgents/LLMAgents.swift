public import AirlockDomain
public import AsyncHTTPClient
public import Foundation
import NIOCore
import NIOHTTP1

/// One HTTP call to a model API: JSON in, JSON out, bounded retries on 429/5xx. The API key travels in a header
/// and is never part of an error or a log line.
struct ModelAPI: Sendable {
    let http: HTTPClient
    let url: String
    let headers: [(String, String)]
    let timeout: Duration
    let retry: RetryPolicy

    func post<Response: Decodable>(_ body: some Encodable, as: Response.Type) async throws -> Response {
        let payload = try JSONEncoder().encode(body)
        var attempt = 0
        while true {
            attempt += 1
            var request = HTTPClientRequest(url: url)
            request.method = .POST
            request.headers.add(name: "Content-Type", value: "application/json")
            for (name, value) in headers { request.headers.add(name: name, value: value) }
            request.body = .bytes(ByteBuffer(bytes: payload))
            let status: Int
            let bytes: ByteBuffer
            let retryAfter: String?
            do {
                let response = try await http.execute(request, timeout: .milliseconds(timeout.milliseconds))
                status = Int(response.status.code)
                retryAfter = response.headers.first(name: "Retry-After")
                bytes = try await response.body.collect(upTo: 8 << 20)
            } catch is CancellationError {
                throw CancellationError()
            } catch {
                if attempt < retry.attempts {
                    try await Task.sleep(for: retry.delay(attempt: attempt, retryAfter: nil))
                    continue
                }
                throw AgentFailure("the model API could not be reached (\(type(of: error)))")
            }
            if status == 429 || status >= 500 {
                if attempt < retry.attempts {
                    try await Task.sleep(for: retry.delay(attempt: attempt, retryAfter: retryAfter))
                    continue
                }
                throw AgentFailure("the model API answered HTTP \(status) \(attempt) times")
            }
            guard status == 200 else { throw AgentFailure("the model API refused the request (HTTP \(status))") }
            do {
                return try JSONDecoder().decode(Response.self, from: Data(bytes.readableBytesView))
            } catch {
                throw AgentFailure("the model API's answer is not the expected JSON")
            }
        }
    }
}

/// Any OpenAI-compatible `/v1/chat/completions` server (OpenAI, llama.cpp server, vLLM, Ollama).
public struct OpenAIAgent: AnalysisAgent {
    public let backend = AgentBackend.openAI
    let api: ModelAPI
    let model: String
    let index: KnowledgeIndex
    let mcp: [MCPServer]

    /// `baseURL` includes `/v1`; Airlock appends `/chat/completions`. `mcp` lists the MCP servers whose allowed
    /// tools the model may call.
    public init(
        http: HTTPClient,
        baseURL: String,
        apiKey: String?,
        model: String,
        index: KnowledgeIndex,
        timeout: Duration,
        mcp: [MCPServer] = []
    ) {
        let base = baseURL.hasSuffix("/") ? String(baseURL.dropLast()) : baseURL
        var headers: [(String, String)] = []
        if let apiKey, !apiKey.isEmpty { headers.append(("Authorization", "Bearer \(apiKey)")) }
        self.api = ModelAPI(
            http: http,
            url: base + "/chat/completions",
            headers: headers,
            timeout: timeout,
            retry: RetryPolicy()
        )
        self.model = model
        self.index = index
        self.mcp = mcp
    }

    struct Request: Encodable {
        struct Message: Encodable {
            var role: String
            var content: String?
            var tool_calls: [ToolCall]?
            var tool_call_id: String?
        }
        struct Tool: Encodable {
            struct Function: Encodable {
                var name: String
                var description: String
                var parameters: ToolSchema
            }
            var type = "function"
            var function: Function
        }
        var model: String
        var messages: [Message]
        var tools: [Tool]?
        var temperature: Double = 0
        var stream = false
    }

    struct ToolCall: Codable {
        struct Function: Codable {
            var name: String
            var arguments: String
        }
        var id: String
        var type: String?
        var function: Function
    }

    struct Response: Decodable {
        struct Choice: Decodable {
            struct Message: Decodable {
                var content: String?
                var tool_calls: [ToolCall]?
            }
            var message: Message
            var finish_reason: String?
        }
        struct Usage: Decodable {
            var prompt_tokens: Int?
            var completion_tokens: Int?
        }
        var model: String?
        var choices: [Choice]
        var usage: Usage?
    }

    /// A bounded tool loop: the model may call the read-only tools (`ToolBox`) for at most `ToolBox.maxRounds`
    /// rounds; every call is recorded, an unknown tool is refused (the model is told), a model that keeps calling
    /// tools fails the run.
    public func answer(_ question: AgentQuestion) async throws -> AgentAnswer {
        var (context, user, tools) = try await ToolBox.start(index: index, question: question, mcp: mcp)
        let specs = await tools.specs().map {
            Request.Tool(function: .init(name: $0.name, description: $0.description, parameters: ToolSchema($0)))
        }
        var messages: [Request.Message] = [
            .init(role: "system", content: AgentPrompt.system), .init(role: "user", content: user),
        ]
        var inputTokens = 0
        var outputTokens = 0
        let (text, answeredBy, calls) = try await tools.loop(context: &context) { replies in
            for reply in replies { messages.append(.init(role: "tool", content: reply.text, tool_call_id: reply.id)) }
            let response = try await api.post(
                Request(model: model, messages: messages, tools: specs),
                as: Response.self
            )
            inputTokens += response.usage?.prompt_tokens ?? 0
            outputTokens += response.usage?.completion_tokens ?? 0
            guard let choice = response.choices.first else { throw AgentFailure("the model returned no answer") }
            if let requested = choice.message.tool_calls, !requested.isEmpty {
                messages.append(.init(role: "assistant", content: choice.message.content, tool_calls: requested))
                return .tools(
                    requested.map {
                        ToolRequest(
                            id: $0.id,
                            name: $0.function.name,
                            arguments: ToolArguments.parse($0.function.arguments).values
                        )
                    }
                )
            }
            guard let text = choice.message.content?.trimmingCharacters(in: .whitespacesAndNewlines), !text.isEmpty
            else {
                throw AgentFailure("the model returned no answer")
            }
            guard choice.finish_reason != "length" else {
                throw AgentFailure("the model's answer was cut off (finish_reason=length)")
            }
            return .answer(text: text, model: response.model)
        }
        return context.answer(
            text: text,
            model: answeredBy ?? model,
            prompt: user,
            inputTokens: inputTokens,
            outputTokens: outputTokens,
            toolCalls: calls
        )
    }
}

/// Anthropic's Messages API (`/v1/messages`, `x-api-key`, `anthropic-version`).
public struct AnthropicAgent: AnalysisAgent {
    public let backend = AgentBackend.anthropic
    public static let apiVersion = "2023-06-01"
    let api: ModelAPI
    let model: String
    let index: KnowledgeIndex
    let maxTokens: Int
    let mcp: [MCPServer]

    /// `baseURL` does not include `/v1`; Airlock appends `/v1/messages`.
    public init(
        http: HTTPClient,
        baseURL: String,
        apiKey: String,
        model: String,
        index: KnowledgeIndex,
        timeout: Duration,
        maxTokens: Int = 1024,
        mcp: [MCPServer] = []
    ) {
        let base = baseURL.hasSuffix("/") ? String(baseURL.dropLast()) : baseURL
        self.api = ModelAPI(
            http: http,
            url: base + "/v1/messages",
            headers: [("x-api-key", apiKey), ("anthropic-version", Self.apiVersion)],
            timeout: timeout,
            retry: RetryPolicy()
        )
        self.model = model
        self.index = index
        self.maxTokens = maxTokens
        self.mcp = mcp
    }

    struct Request: Encodable {
        struct Block: Encodable {
            var type: String
            var text: String?
            var id: String?
            var name: String?
            var input: ToolArguments?
            var tool_use_id: String?
            var content: String?
        }
        struct Message: Encodable {
            var role: String
            var content: [Block]
        }
        struct Tool: Encodable {
            var name: String
            var description: String
            var input_schema: ToolSchema
        }
        var model: String
        var max_tokens: Int
        var system: String
        var messages: [Message]
        var tools: [Tool]?
        var temperature: Double = 0
    }

    struct Response: Decodable {
        struct Block: Decodable {
            var type: String
            var text: String?
            var id: String?
            var name: String?
            var input: ToolArguments?
        }
        struct Usage: Decodable {
            var input_tokens: Int?
            var output_tokens: Int?
        }
        var model: String?
        var content: [Block]
        var stop_reason: String?
        var usage: Usage?
    }

    /// The same bounded tool loop as the OpenAI backend, with `tool_use` and `tool_result` blocks.
    public func answer(_ question: AgentQuestion) async throws -> AgentAnswer {
        var (context, user, tools) = try await ToolBox.start(index: index, question: question, mcp: mcp)
        let specs = await tools.specs().map {
            Request.Tool(name: $0.name, description: $0.description, input_schema: ToolSchema($0))
        }
        var messages: [Request.Message] = [.init(role: "user", content: [.init(type: "text", text: user)])]
        var inputTokens = 0
        var outputTokens = 0
        let (text, answeredBy, calls) = try await tools.loop(context: &context) { replies in
            if !replies.isEmpty {
                messages.append(
                    .init(
                        role: "user",
                        content: replies.map { .init(type: "tool_result", tool_use_id: $0.id, content: $0.text) }
                    )
                )
            }
            let response = try await api.post(
                Request(
                    model: model,
                    max_tokens: maxTokens,
                    system: AgentPrompt.system,
                    messages: messages,
                    tools: specs
                ),
                as: Response.self
            )
            inputTokens += response.usage?.input_tokens ?? 0
            outputTokens += response.usage?.output_tokens ?? 0
            let uses = response.content.filter { $0.type == "tool_use" }
            if !uses.isEmpty {
                messages.append(
                    .init(
                        role: "assistant",
                        content: response.content.map {
                            .init(
                                type: $0.type,
                                text: $0.text,
                                id: $0.id,
                                name: $0.name,
                                input: $0.type == "tool_use" ? ($0.input ?? ToolArguments([:])) : nil
                            )
                        }
                    )
                )
                return .tools(
                    uses.map { ToolRequest(id: $0.id ?? "", name: $0.name ?? "", arguments: $0.input?.values ?? [:]) }
                )
            }
            let text = response.content.filter { $0.type == "text" }.compactMap(\.text).joined()
                .trimmingCharacters(in: .whitespacesAndNewlines)
            guard !text.isEmpty else { throw AgentFailure("the model returned no text") }
            guard response.stop_reason != "max_tokens" else {
                throw AgentFailure("the model's answer was cut off (stop_reason=max_tokens)")
            }
            return .answer(text: text, model: response.model)
        }
        return context.answer(
            text: text,
            model: answeredBy ?? model,
            prompt: user,
            inputTokens: inputTokens,
            outputTokens: outputTokens,
            toolCalls: calls
        )
    }
}
