public import AirlockDomain
import Foundation
internal import MCP

/// The read-only tools a model may call while it writes a draft. None of them can post, DM, approve or reach a URL:
/// they read the team's docs (only what the requester may read) and the thread already fetched. Every call and the
/// size of what it returned is recorded; a tool name not listed here is refused and recorded. Tools from MCP
/// servers (`MCPSession`) are added only when the operator allowed them, and their output is redacted and bounded.
struct ToolBox: Sendable {
    let index: KnowledgeIndex
    let question: AgentQuestion
    var mcp: MCPSession? = nil
    /// Tool rounds before the run is given up (a model that keeps calling tools).
    static let maxRounds = 6

    struct Spec: Sendable {
        var name: String
        var description: String
        /// JSON Schema of the tool's arguments.
        var schema: Value

        /// A tool whose parameters are all required strings: name → description.
        init(name: String, description: String, parameters: [(String, String)]) {
            self.name = name
            self.description = description
            self.schema = .object([
                "type": "object",
                "properties": .object(
                    Dictionary(
                        uniqueKeysWithValues: parameters.map {
                            ($0.0, Value.object(["type": "string", "description": .string($0.1)]))
                        }
                    )
                ),
                "required": .array(parameters.map { .string($0.0) }),
            ])
        }

        init(name: String, description: String, schema: Value) {
            self.name = name
            self.description = description
            self.schema = schema
        }
    }

    static let builtIn: [Spec] = [
        Spec(
            name: "search_docs",
            description: "Search the team's documentation; returns the most relevant passages, numbered.",
            parameters: [("query", "what to search for")]
        ),
        Spec(
            name: "read_doc",
            description: "Read one document of the team's documentation in full, by its file name.",
            parameters: [("file", "the file name, as shown in a passage's citation")]
        ),
        Spec(
            name: "read_thread",
            description: "Read the thread you were asked about again, message by message.",
            parameters: []
        ),
    ]

    /// What both LLM backends start a run with: the passages the question retrieves (only what the requester may
    /// read), the user prompt built from them and the thread, and the run's tools.
    static func start(
        index: KnowledgeIndex,
        question: AgentQuestion,
        mcp: [MCPServer]
    ) async throws -> (context: AgentContext, user: String, tools: ToolBox) {
        let context = AgentContext(
            passages: RetrievalAgent.relevant(
                try await index.search(question.searchText, limit: 5, readers: question.readerIdentities)
            )
        )
        let user = AgentPrompt.user(
            question: question.text,
            thread: question.thread,
            followUp: question.followUp,
            context: context
        )
        return (context, user, await open(index: index, question: question, mcp: mcp))
    }

    /// The tools for one run: the built-in ones, and the allowed tools of the MCP servers listed (connected now).
    static func open(index: KnowledgeIndex, question: AgentQuestion, mcp servers: [MCPServer]) async -> ToolBox {
        guard !servers.isEmpty else { return ToolBox(index: index, question: question) }
        let session = MCPSession(timeout: .seconds(10))
        await session.open(servers)
        return ToolBox(index: index, question: question, mcp: session)
    }

    /// The tools offered to the model in this run: the built-in ones, then the MCP tools the operator allowed.
    func specs() async -> [Spec] {
        Self.builtIn + (await mcp?.specs ?? [])
    }

    /// What a tool call returned, and the passages it put into the model's context.
    struct Result: Sendable {
        var text: String
        var passages: [Passage]
        var record: String
    }

    func run(_ name: String, arguments: [String: Value]) async -> Result {
        switch name {
        case "search_docs":
            let query = arguments["query"]?.stringValue ?? ""
            let found = (try? await index.search(query, limit: 3, readers: question.readerIdentities)) ?? []
            let text =
                found.isEmpty
                ? "(nothing matched)"
                : found.map { "[\($0.source.label)]\n\($0.body)" }.joined(separator: "\n\n")
            return Result(
                text: text,
                passages: found,
                record: "search_docs(\(Self.quoted(query))) → \(text.count) characters"
            )
        case "read_doc":
            let file = arguments["file"]?.stringValue ?? ""
            let passages = (try? await index.passages(inFile: file, readers: question.readerIdentities)) ?? []
            let text =
                passages.isEmpty
                ? "(no readable document \(file))"
                : String(passages.map { "[\($0.source.label)]\n\($0.body)" }.joined(separator: "\n\n").prefix(8_000))
            return Result(
                text: text,
                passages: passages,
                record: "read_doc(\(Self.quoted(file))) → \(text.count) characters"
            )
        case "read_thread":
            let text =
                question.thread.isEmpty
                ? "(no thread: the question was asked directly)"
                : AgentPrompt.quoted(question.thread)
            return Result(text: text, passages: [], record: "read_thread() → \(text.count) characters")
        default:
            if let mcp, await mcp.has(name) { return await mcp.call(name, arguments: arguments) }
            let allowed = await specs().map(\.name).joined(separator: ", ")
            return Result(
                text: "error: there is no tool \(name); the tools are \(allowed)",
                passages: [],
                record: "refused unknown tool \(Self.quoted(String(name.prefix(60))))"
            )
        }
    }

    static func quoted(_ text: String) -> String { "\"\(text.prefix(80).replacingOccurrences(of: "\"", with: "'"))\"" }

    /// The passages a draft cites or was given by tools: restricted ones always count (see `AgentContext`).
    static func merge(_ context: inout AgentContext, _ passages: [Passage]) {
        for passage in passages
        where !context.passages.contains(where: { $0.file == passage.file && $0.section == passage.section }) {
            context.passages.append(passage)
        }
    }
}

/// A tool call's arguments: a JSON object, kept as the model sent it (re-sent verbatim to Anthropic, passed to MCP).
struct ToolArguments: Codable, Sendable {
    var values: [String: Value]

    init(_ values: [String: Value]) { self.values = values }

    init(from decoder: any Decoder) throws {
        values = (try? decoder.singleValueContainer().decode([String: Value].self)) ?? [:]
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(values)
    }

    /// From OpenAI's `arguments` string (JSON text); an unreadable one is empty.
    static func parse(_ text: String) -> ToolArguments {
        (try? JSONDecoder().decode(ToolArguments.self, from: Data(text.utf8))) ?? ToolArguments([:])
    }
}

/// JSON Schema for a tool's parameters, as the model APIs take it.
struct ToolSchema: Encodable, Sendable {
    var schema: Value
    init(_ spec: ToolBox.Spec) { schema = spec.schema }
    func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(schema)
    }
}

/// A tool the model asked for, and what it got back.
struct ToolRequest: Sendable {
    var id: String
    var name: String
    var arguments: [String: Value]
}

struct ToolReply: Sendable {
    var id: String
    var text: String
}

/// What one model round returned: tool calls to run, or the answer.
enum ModelTurn: Sendable {
    case tools([ToolRequest])
    case answer(text: String, model: String?)
}

extension ToolBox {
    /// The bounded loop both LLM backends share: `round` sends the previous round's tool replies (none at first)
    /// in the backend's own wire format and returns what the model did; each tool call is run, recorded and its
    /// passages added to `context`; more than `maxRounds` rounds of tool calls fail the run.
    func loop(
        context: inout AgentContext,
        _ round: ([ToolReply]) async throws -> ModelTurn
    ) async throws -> (text: String, model: String?, calls: [String]) {
        do {
            let result = try await rounds(context: &context, round)
            await mcp?.close()
            return result
        } catch {
            await mcp?.close()
            throw error
        }
    }

    private func rounds(
        context: inout AgentContext,
        _ round: ([ToolReply]) async throws -> ModelTurn
    ) async throws -> (text: String, model: String?, calls: [String]) {
        var calls: [String] = await mcp?.notes ?? []
        var replies: [ToolReply] = []
        for _ in 0...Self.maxRounds {
            switch try await round(replies) {
            case .answer(let text, let model):
                return (text, model, calls)
            case .tools(let requests):
                replies = []
                for request in requests {
                    let result = await run(request.name, arguments: request.arguments)
                    calls.append(result.record)
                    Self.merge(&context, result.passages)
                    replies.append(ToolReply(id: request.id, text: result.text))
                }
            }
        }
        throw AgentFailure(
            "the model kept calling tools (more than \(Self.maxRounds) rounds): \(calls.suffix(3).joined(separator: "; "))"
        )
    }
}
