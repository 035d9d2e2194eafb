public import AirlockDomain
import Foundation

/// The read-only tools a model may call while it writes a draft. None of them can post, DM, approve or reach a URL:
/// they read the team's docs (only what the requester may read) and the thread already fetched. Every call and the
/// size of what it returned is recorded; a tool name not listed here is refused and recorded.
struct ToolBox: Sendable {
    let index: KnowledgeIndex
    let question: AgentQuestion
    /// Tool rounds before the run is given up (a model that keeps calling tools).
    static let maxRounds = 6

    struct Spec: Sendable {
        var name: String
        var description: String
        /// Parameter name → description (all strings, all required).
        var parameters: [(String, String)]
    }

    static let specs: [Spec] = [
        Spec(
            name: "search_docs", description: "Search the team's documentation; returns the most relevant passages, numbered.",
            parameters: [("query", "what to search for")]),
        Spec(
            name: "read_doc", description: "Read one document of the team's documentation in full, by its file name.",
            parameters: [("file", "the file name, as shown in a passage's citation")]),
        Spec(name: "read_thread", description: "Read the thread you were asked about again, message by message.", parameters: []),
    ]

    /// What a tool call returned, and the passages it put into the model's context.
    struct Result: Sendable {
        var text: String
        var passages: [Passage]
        var record: String
    }

    func run(_ name: String, arguments: [String: String]) async -> Result {
        switch name {
        case "search_docs":
            let query = arguments["query"] ?? ""
            let found = (try? await index.search(query, limit: 3, readers: question.readerIdentities)) ?? []
            let text = found.isEmpty
                ? "(nothing matched)"
                : found.map { "[\($0.source.label)]\n\($0.body)" }.joined(separator: "\n\n")
            return Result(text: text, passages: found, record: "search_docs(\(Self.quoted(query))) → \(text.count) characters")
        case "read_doc":
            let file = arguments["file"] ?? ""
            let passages = (try? await index.passages(inFile: file, readers: question.readerIdentities)) ?? []
            let text = passages.isEmpty
                ? "(no readable document \(file))"
                : String(passages.map { "[\($0.source.label)]\n\($0.body)" }.joined(separator: "\n\n").prefix(8_000))
            return Result(text: text, passages: passages, record: "read_doc(\(Self.quoted(file))) → \(text.count) characters")
        case "read_thread":
            let text = question.thread.isEmpty
                ? "(no thread: the question was asked directly)"
                : AgentPrompt.quoted(question.thread)
            return Result(text: text, passages: [], record: "read_thread() → \(text.count) characters")
        default:
            let allowed = Self.specs.map(\.name).joined(separator: ", ")
            return Result(
                text: "error: there is no tool \(name); the tools are \(allowed)", passages: [],
                record: "refused unknown tool \(Self.quoted(String(name.prefix(60))))")
        }
    }

    static func quoted(_ text: String) -> String { "\"\(text.prefix(80).replacingOccurrences(of: "\"", with: "'"))\"" }

    /// The passages a draft cites or was given by tools: restricted ones always count (see `AgentContext`).
    static func merge(_ context: inout AgentContext, _ passages: [Passage]) {
        for passage in passages where !context.passages.contains(where: { $0.file == passage.file && $0.section == passage.section }) {
            context.passages.append(passage)
        }
    }
}

/// A tool call's arguments: a JSON object whose scalar values are read as strings.
struct ToolArguments: Codable, Sendable {
    var values: [String: String]

    init(_ values: [String: String]) { self.values = values }

    struct Key: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }

    init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: Key.self)
        var values: [String: String] = [:]
        for key in container.allKeys {
            if let text = try? container.decode(String.self, forKey: key) {
                values[key.stringValue] = text
            } else if let number = try? container.decode(Double.self, forKey: key) {
                values[key.stringValue] = String(number)
            } else if let flag = try? container.decode(Bool.self, forKey: key) {
                values[key.stringValue] = String(flag)
            }
        }
        self.values = values
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: Key.self)
        for (key, value) in values { try container.encode(value, forKey: Key(stringValue: key)) }
    }

    /// From OpenAI's `arguments` string (JSON text); an unreadable one is empty.
    static func parse(_ text: String) -> ToolArguments {
        (try? JSONDecoder().decode(ToolArguments.self, from: Data(text.utf8))) ?? ToolArguments([:])
    }
}

/// JSON Schema for a tool's parameters.
struct ToolSchema: Encodable, Sendable {
    struct Property: Encodable, Sendable {
        var type = "string"
        var description: String
    }
    var type = "object"
    var properties: [String: Property]
    var required: [String]

    init(_ spec: ToolBox.Spec) {
        properties = Dictionary(uniqueKeysWithValues: spec.parameters.map { ($0.0, Property(description: $0.1)) })
        required = spec.parameters.map(\.0)
    }
}

/// A tool the model asked for, and what it got back.
struct ToolRequest: Sendable {
    var id: String
    var name: String
    var arguments: [String: String]
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
        context: inout AgentContext, _ round: ([ToolReply]) async throws -> ModelTurn
    ) async throws -> (text: String, model: String?, calls: [String]) {
        var calls: [String] = []
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
        throw AgentFailure("the model kept calling tools (more than \(Self.maxRounds) rounds): \(calls.suffix(3).joined(separator: "; "))")
    }
}
