import AirlockDomain
public import Foundation
internal import Logging
internal import MCP

#if canImport(FoundationNetworking)
internal import FoundationNetworking
#endif

/// An MCP server the operator listed (`AIRLOCK_MCP_SERVERS`) and the tools of it the agent may call
/// (`AIRLOCK_MCP_TOOLS`). Nothing else of the server is used: no resources, prompts, sampling or elicitation.
public struct MCPServer: Sendable, Equatable {
    public var name: String
    public var endpoint: URL
    /// Tool names the operator allowed; a tool not listed is never offered to the model.
    public var allowedTools: Set<String>
    public var bearerToken: String?

    public init(name: String, endpoint: URL, allowedTools: Set<String>, bearerToken: String? = nil) {
        self.name = name
        self.endpoint = endpoint
        self.allowedTools = allowedTools
        self.bearerToken = bearerToken
    }

    public struct ConfigError: Error, CustomStringConvertible {
        public let description: String
    }

    /// `servers` is `name=URL,name=URL`; `tools` is `name:tool,name:tool`; `token(name)` gives a server's bearer
    /// token, if any. A tool for an unlisted server, a server with no allowed tool, or a URL that is not http(s)
    /// is a configuration error that says what to fix.
    public static func parse(
        servers: String,
        tools: String,
        token: (String) -> String? = { _ in nil }
    ) throws -> [MCPServer] {
        var result: [MCPServer] = []
        for entry in servers.split(separator: ",").map({ $0.trimmingCharacters(in: .whitespaces) }) where !entry.isEmpty
        {
            guard let equals = entry.firstIndex(of: "=") else {
                throw ConfigError(description: "AIRLOCK_MCP_SERVERS entry '\(entry)' is not name=URL")
            }
            let name = String(entry[..<equals])
            let url = String(entry[entry.index(after: equals)...])
            guard name.range(of: "^[a-z0-9-]{1,24}$", options: .regularExpression) != nil else {
                throw ConfigError(
                    description: "MCP server name '\(name)' must be 1-24 lowercase letters, digits or '-'"
                )
            }
            guard let endpoint = URL(string: url), ["http", "https"].contains(endpoint.scheme ?? ""),
                endpoint.host != nil
            else {
                throw ConfigError(description: "MCP server \(name): '\(url)' is not an http(s) URL")
            }
            guard !result.contains(where: { $0.name == name }) else {
                throw ConfigError(description: "MCP server \(name) is listed twice")
            }
            result.append(MCPServer(name: name, endpoint: endpoint, allowedTools: [], bearerToken: token(name)))
        }
        for entry in tools.split(separator: ",").map({ $0.trimmingCharacters(in: .whitespaces) }) where !entry.isEmpty {
            let parts = entry.split(separator: ":", maxSplits: 1).map(String.init)
            guard parts.count == 2, let at = result.firstIndex(where: { $0.name == parts[0] }) else {
                throw ConfigError(
                    description:
                        "AIRLOCK_MCP_TOOLS entry '\(entry)' is not server:tool for a server in AIRLOCK_MCP_SERVERS"
                )
            }
            result[at].allowedTools.insert(parts[1])
        }
        if let bare = result.first(where: { $0.allowedTools.isEmpty }) {
            throw ConfigError(
                description:
                    "MCP server \(bare.name) has no tool allowed: list them in AIRLOCK_MCP_TOOLS as \(bare.name):TOOL"
            )
        }
        return result
    }
}

/// The MCP servers' tools for one agent run: connected when the run starts, closed when it ends. A tool is offered
/// to the model only when the operator allowed it and the server does not mark it as writing
/// (`readOnlyHint: false` or `destructiveHint: true`). A server that cannot be reached is left out and recorded;
/// the answer is still written with the built-in tools.
actor MCPSession {
    struct Entry {
        var server: String
        var tool: String
        var client: Client
        var spec: ToolBox.Spec
    }

    private var entries: [String: Entry] = [:]
    private var clients: [Client] = []
    private(set) var notes: [String] = []
    let timeout: Duration

    init(timeout: Duration) { self.timeout = timeout }

    /// The name the model sees: `server__tool`, in the characters both model APIs accept.
    static func exposedName(server: String, tool: String) -> String {
        let safe = tool.map { $0.isLetter || $0.isNumber || $0 == "_" || $0 == "-" ? $0 : "_" }
        return String("\(server.replacingOccurrences(of: "-", with: "_"))__\(String(safe))".prefix(64))
    }

    func open(_ servers: [MCPServer]) async {
        for server in servers {
            do {
                let client = Client(name: "airlock", version: "1")
                let token = server.bearerToken
                let configuration = URLSessionConfiguration.ephemeral
                configuration.timeoutIntervalForRequest = TimeInterval(timeout.components.seconds)
                let transport = HTTPClientTransport(
                    endpoint: server.endpoint,
                    configuration: configuration,
                    streaming: false,
                    requestModifier: { request in
                        var request = request
                        if let token { request.setValue("Bearer \(token)", forHTTPHeaderField: "Authorization") }
                        return request
                    }
                )
                try await Self.bounded(timeout) { _ = try await client.connect(transport: transport) }
                clients.append(client)
                var offered: [String] = []
                var cursor: String?
                var pages = 0
                repeat {
                    let after = cursor
                    let page = try await Self.bounded(timeout) { try await client.listTools(cursor: after) }
                    for tool in page.tools where server.allowedTools.contains(tool.name) {
                        if tool.annotations.readOnlyHint == false || tool.annotations.destructiveHint == true {
                            notes.append("mcp \(server.name): left out \(tool.name) (the server marks it as writing)")
                            continue
                        }
                        let name = Self.exposedName(server: server.name, tool: tool.name)
                        let schema: Value =
                            tool.inputSchema.objectValue != nil ? tool.inputSchema : .object(["type": "object"])
                        entries[name] = Entry(
                            server: server.name,
                            tool: tool.name,
                            client: client,
                            spec: ToolBox.Spec(
                                name: name,
                                description: "(\(server.name)) " + String((tool.description ?? tool.name).prefix(500)),
                                schema: schema
                            )
                        )
                        offered.append(tool.name)
                    }
                    cursor = page.nextCursor
                    pages += 1
                } while cursor != nil && pages < 10
                let missing = server.allowedTools.subtracting(offered).sorted()
                if !missing.isEmpty {
                    notes.append(
                        "mcp \(server.name): allowed but not offered by the server: \(missing.joined(separator: ", "))"
                    )
                }
            } catch {
                notes.append("mcp \(server.name): unavailable (\(Self.describe(error)))")
            }
        }
    }

    var specs: [ToolBox.Spec] { entries.values.map(\.spec).sorted { $0.name < $1.name } }

    func has(_ name: String) -> Bool { entries[name] != nil }

    /// Calls an offered tool. What it returns is untrusted text: secrets are redacted and it is cut to 8,000
    /// characters before the model sees it; the call, its size and its hash are recorded.
    func call(_ name: String, arguments: [String: Value]) async -> ToolBox.Result {
        guard let entry = entries[name] else {
            return ToolBox.Result(
                text: "error: there is no tool \(name)",
                passages: [],
                record: "refused unknown tool \(ToolBox.quoted(name))"
            )
        }
        let label = "mcp \(entry.server).\(entry.tool)"
        do {
            let (content, isError) = try await Self.bounded(timeout) {
                try await entry.client.callTool(name: entry.tool, arguments: arguments)
            }
            var text = content.compactMap { item -> String? in
                if case .text(let text, _, _) = item { return text }
                return nil
            }.joined(separator: "\n")
            text = SecretRedactor.redact(text).text
            if text.count > 8_000 { text = String(text.prefix(8_000)) + "\n(cut at 8,000 characters)" }
            let digest = ContentHash.sha256Hex(text).prefix(12)
            if isError == true {
                return ToolBox.Result(
                    text: "error from \(entry.tool): \(text)",
                    passages: [],
                    record:
                        "\(label)(\(ToolBox.quoted(Self.render(arguments)))) → error, \(text.count) characters, sha256 \(digest)"
                )
            }
            return ToolBox.Result(
                text: text.isEmpty ? "(no text)" : text,
                passages: [],
                record:
                    "\(label)(\(ToolBox.quoted(Self.render(arguments)))) → \(text.count) characters, sha256 \(digest)"
            )
        } catch {
            return ToolBox.Result(
                text: "error: \(entry.tool) failed",
                passages: [],
                record: "\(label) failed (\(Self.describe(error)))"
            )
        }
    }

    func close() async {
        for client in clients { await client.disconnect() }
        clients = []
    }

    static func render(_ arguments: [String: Value]) -> String {
        arguments.keys.sorted().map { "\($0)=\(arguments[$0].map { $0.stringValue ?? $0.description } ?? "")" }.joined(
            separator: " "
        )
    }

    static func describe(_ error: any Error) -> String {
        String(SecretRedactor.redact(String(describing: error)).text.prefix(200))
    }

    /// Runs `body`, failing it after `timeout`.
    static func bounded<T: Sendable>(
        _ timeout: Duration,
        _ body: @escaping @Sendable () async throws -> T
    ) async throws -> T {
        try await withThrowingTaskGroup(of: T.self) { group in
            group.addTask { try await body() }
            group.addTask {
                try await Task.sleep(for: timeout)
                throw AgentFailure("timed out after \(timeout)")
            }
            guard let first = try await group.next() else { throw AgentFailure("no result") }
            group.cancelAll()
            return first
        }
    }
}
