import AirlockAgents
import AirlockApp
import AirlockDomain
import AirlockSQLite
import AirlockTesting
import Foundation
import Testing

/// A knowledge-base folder written for one test.
func knowledgeBase(_ files: [String: String]) throws -> String {
    let folder = FileManager.default.temporaryDirectory.appendingPathComponent("kb-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
    for (name, text) in files {
        try text.write(to: folder.appendingPathComponent(name), atomically: true, encoding: .utf8)
    }
    return folder.path
}

/// Runs a fake model API for the duration of `body`.
func withFakeModel<T: Sendable>(_ body: @Sendable (FakeModelAPI) async throws -> T) async throws -> T {
    let model = FakeModelAPI()
    return try await withServices([model.application()]) { try await body(model) }
}

@Suite("Agent backends over real HTTP")
struct AgentBackendTests {
    @Test("OpenAI-compatible: request shape, key in the header only, passages as context, tokens in the audit entry")
    func openAI() async throws {
        try await withFakeModel { model in
            try await withFakeSlack { slack in
                let base = try await model.baseURL() + "/v1"
                try await withAirlock(
                    slack: slack,
                    database: temporaryDatabase(),
                    configure: { config in
                        config.agent = .openAI(
                            baseURL: base,
                            apiKey: "sk-test-openai-key-0123456789",
                            model: "local-llama"
                        )
                    }
                ) { app in
                    _ = try await askQuestion(app, slack)
                    let request = try #require(model.requests.first)
                    #expect(request.path == "/v1/chat/completions")
                    #expect(request.headers["authorization"] == "Bearer sk-test-openai-key-0123456789")
                    #expect(request.json["model"] as? String == "local-llama")
                    let messages = try #require(request.json["messages"] as? [any Sendable])
                    let user = try #require((messages.last as? [String: any Sendable])?["content"] as? String)
                    #expect(user.contains("[1] database-credential-rotation.md"))
                    #expect(user.contains("Question: how do I rotate the database credentials?"))
                    let dm = try #require(slack.directMessages(to: requester).first)
                    #expect(dm.text.contains("through the secrets manager [1]"))
                    #expect(dm.text.contains("Sources: database-credential-rotation.md"))
                    let run = try #require(try await auditEntries(app.store).first { $0.kind == "agent_run" })
                    for field in [
                        #""backend":"openai""#, #""input_tokens":"321""#, #""output_tokens":"45""#,
                        #""model":"local-llama""#,
                    ] {
                        #expect(run.detail.contains(field), "\(field) missing from \(run.detail.prefix(300))")
                    }
                    #expect(!run.detail.contains("sk-test-openai-key"))
                }
            }
        }
    }

    @Test("Anthropic: /v1/messages with x-api-key and anthropic-version")
    func anthropic() async throws {
        try await withFakeModel { model in
            try await withFakeSlack { slack in
                let base = try await model.baseURL()
                try await withAirlock(
                    slack: slack,
                    database: temporaryDatabase(),
                    configure: { config in
                        config.agent = .anthropic(baseURL: base, apiKey: "ant-test-key-abcdef", model: "claude-test")
                    }
                ) { app in
                    _ = try await askQuestion(app, slack)
                    let request = try #require(model.requests.first)
                    #expect(request.path == "/v1/messages")
                    #expect(request.headers["x-api-key"] == "ant-test-key-abcdef")
                    #expect(request.headers["anthropic-version"] == "2023-06-01")
                    #expect(request.json["max_tokens"] != nil && request.json["system"] != nil)
                    #expect(slack.directMessages(to: requester).first?.text.contains("secrets manager [1]") == true)
                }
            }
        }
    }

    @Test(
        "5xx twice then an answer: retried with backoff; 5xx every time or a timeout: the requester is told the agent failed"
    )
    func failures() async throws {
        try await withFakeModel { model in
            try await withFakeSlack { slack in
                let base = try await model.baseURL() + "/v1"
                try await withAirlock(
                    slack: slack,
                    database: temporaryDatabase(),
                    configure: { config in
                        config.agent = .openAI(baseURL: base, apiKey: nil, model: "m")
                        // Long enough for two retries with backoff on a loaded machine; the timeout case waits longer.
                        config.agentTimeout = .seconds(8)
                    }
                ) { app in
                    model.inject([.status(503), .status(429, retryAfter: "0")])
                    _ = try await askQuestion(app, slack)
                    #expect(model.requests.count == 3)
                    model.inject([.status(500), .status(500), .status(500)])
                    _ = try await app.event(
                        SlackEvents.mention(eventID: "EvFail1", user: approver, text: "<@U0BOT> how do restores work?")
                    )
                    #expect(
                        await eventually(timeout: .seconds(30)) {
                            slack.directMessages(to: approver).contains {
                                $0.text.contains("could not produce an answer")
                            }
                        }
                    )
                    model.inject([.delay(.seconds(10))])
                    _ = try await app.event(
                        SlackEvents.mention(
                            eventID: "EvFail2",
                            user: secondApprover,
                            text: "<@U0BOT> how do restores work?"
                        )
                    )
                    #expect(
                        await eventually(timeout: .seconds(30)) {
                            slack.directMessages(to: secondApprover).contains {
                                $0.text.contains("could not produce an answer")
                            }
                        }
                    )
                    #expect(slack.directMessages(to: secondApprover).allSatisfy { !$0.text.contains("Draft answer") })
                    let failed = try await app.store.drafts(DraftFilter(states: [.failed]))
                    #expect(failed.count == 2)
                }
            }
        }
    }

    @Test(
        "Command backend: JSON in and out; non-zero exit, invalid JSON and a timeout fail the run",
        arguments: [
            (
                #"cat >/dev/null; printf '{"answer":"Use opsctl [1].","model":"script-1","input_tokens":12}'"#, true,
                "Use opsctl [1]."
            ),
            ("cat >/dev/null; echo oops >&2; exit 3", false, ""),
            ("cat >/dev/null; echo 'half an answer'", false, ""),
            ("sleep 30", false, ""),
        ]
    )
    func command(_ script: String, _ succeeds: Bool, _ expected: String) async throws {
        try await withFakeSlack { slack in
            try await withAirlock(
                slack: slack,
                database: temporaryDatabase(),
                configure: { config in
                    config.agent = .command(script)
                    // Room for a shell to start on a loaded machine; the sleeping script is killed at it.
                    config.agentTimeout = .seconds(6)
                }
            ) { app in
                _ = try await app.event(
                    SlackEvents.mention(
                        eventID: "EvCmd",
                        user: requester,
                        text: "<@U0BOT> when do production deploys run?"
                    )
                )
                let arrived = await eventually(timeout: .seconds(20)) { !slack.directMessages(to: requester).isEmpty }
                #expect(arrived)
                let dm = try #require(slack.directMessages(to: requester).first)
                if succeeds {
                    #expect(dm.text.contains(expected))
                    let run = try #require(try await auditEntries(app.store).first { $0.kind == "agent_run" })
                    #expect(run.detail.contains(#""backend":"command""#) && run.detail.contains(#""model":"script-1""#))
                } else {
                    #expect(dm.text.contains("could not produce an answer"), "\(dm.text)")
                    #expect(try await app.store.drafts(DraftFilter()).first?.state == .failed)
                }
            }
        }
    }

    @Test("The command backend gets the question and the retrieved passages on stdin")
    func commandInput() async throws {
        let capture = FileManager.default.temporaryDirectory.appendingPathComponent("cmd-\(UUID()).json").path
        try await withFakeSlack { slack in
            try await withAirlock(
                slack: slack,
                database: temporaryDatabase(),
                configure: { config in
                    config.agent = .command("cat > \(capture); printf '{\"answer\":\"ok [1]\"}'")
                }
            ) { app in
                _ = try await askQuestion(app, slack)
                let input =
                    try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: capture)))
                    as? [String: Any]
                #expect(input?["question"] as? String == "how do I rotate the database credentials?")
                #expect(input?["requester"] as? String == "slack:\(requester)")
                #expect(((input?["passages"] as? [[String: Any]])?.first?["file"] as? String)?.hasSuffix(".md") == true)
            }
        }
    }
}

@Suite("The LLM backends' bounded tool loop")
struct ToolLoopTests {
    static func configure(_ backend: String, _ base: String, _ config: inout AirlockConfig) {
        config.agent =
            backend == "openai"
            ? .openAI(baseURL: base + "/v1", apiKey: nil, model: "m")
            : .anthropic(baseURL: base, apiKey: "ant-test-key-abcdef", model: "claude-test")
    }

    @Test(
        "Tool calls first (search_docs, read_doc, a restricted doc, a forbidden tool), then the answer: every call recorded, the forbidden one refused, nothing posted",
        arguments: ["openai", "anthropic"]
    )
    func toolCalls(_ backend: String) async throws {
        let kb = try knowledgeBase([
            "deploy-rollback.md":
                "# Deploys\n\n## Rolling back\nRoll back with opsctl deploy rollback and watch the error rate for ten minutes.\n",
            "payroll.md":
                "---\nvisibility: restricted\nreaders: slack:U0FINANCE\n---\n# Payroll\n\n## Run\nThe payroll run starts on the 25th of each month.\n",
        ])
        try await withFakeModel { model in
            model.scriptToolCalls([
                ("search_docs", ["query": "roll back deploy"]), ("read_doc", ["file": "deploy-rollback.md"]),
                ("read_doc", ["file": "payroll.md"]),
                ("post_message", ["channel": "C0001", "text": "posting this publicly"]),
            ])
            model.setAnswer("Roll back with opsctl deploy rollback [1].")
            try await withFakeSlack { slack in
                let base = try await model.baseURL()
                try await withAirlock(
                    slack: slack,
                    database: temporaryDatabase(),
                    configure: { config in
                        standardApprovers(&config)
                        config.kbDirectory = kb
                        Self.configure(backend, base, &config)
                    }
                ) { app in
                    let id = try await askQuestion(app, slack, text: "<@U0BOT> when do production deploys run?")
                    #expect(model.requests.count == 5, "four tool rounds, then the answer")
                    // What each tool returned went back to the model, in the backend's own format.
                    let last = String(describing: model.requests.last?.json["messages"] ?? "")
                    #expect(last.contains("opsctl deploy rollback"), "the tool results did not reach the model")
                    #expect(
                        last.contains("no readable document payroll.md") && !last.contains("25th"),
                        "a restricted doc reached a non-reader's model"
                    )
                    #expect(last.contains("there is no tool post_message"))
                    let tools = String(describing: model.requests.first?.json["tools"] ?? "")
                    #expect(
                        tools.contains("search_docs") && tools.contains("read_doc") && tools.contains("read_thread")
                            && !tools.contains("post")
                    )
                    let run = try #require(
                        try await auditEntries(app.store).first { $0.kind == "agent_run" && $0.draftID == id.rawValue }
                    )
                    for part in [
                        #"search_docs(\"roll back deploy\")"#, #"read_doc(\"deploy-rollback.md\")"#,
                        #"refused unknown tool \"post_message\""#,
                    ] {
                        #expect(run.detail.contains(part), "\(part) not recorded in \(run.detail.prefix(600))")
                    }
                    #expect(slack.publicMessages.isEmpty, "a tool call posted something")
                    #expect(try await app.store.draft(id)?.state == .answered)
                }
            }
        }
    }

    @Test(
        "A model that keeps calling tools is stopped after its rounds: the run fails, the requester is told, the reason recorded",
        arguments: ["openai", "anthropic"]
    )
    func runaway(_ backend: String) async throws {
        try await withFakeModel { model in
            model.setRunaway(true)
            try await withFakeSlack { slack in
                let base = try await model.baseURL()
                try await withAirlock(
                    slack: slack,
                    database: temporaryDatabase(),
                    configure: { config in
                        standardApprovers(&config)
                        Self.configure(backend, base, &config)
                    }
                ) { app in
                    _ = try await app.event(
                        SlackEvents.mention(
                            eventID: "EvRunaway",
                            user: requester,
                            text: "<@U0BOT> when do production deploys run?"
                        )
                    )
                    #expect(
                        await eventually {
                            slack.directMessages(to: requester).contains {
                                $0.text.contains("could not produce an answer")
                            }
                        }
                    )
                    #expect(model.requests.count == 7, "\(model.requests.count) requests")
                    #expect(
                        try await auditEntries(app.store).contains {
                            $0.kind == "job_failed" && $0.detail.contains("kept calling tools")
                        }
                    )
                    #expect(try await app.store.drafts(DraftFilter(states: [.failed])).count == 1)
                }
            }
        }
    }

    @Test(
        "MCP tools: only the allowed, read-only ones are offered; their output is redacted before the model sees it; every call recorded; an unreachable server is left out",
        arguments: ["openai", "anthropic"]
    )
    func mcpTools(_ backend: String) async throws {
        let mcp = FakeMCPServer()
        try await withServices([try await mcp.application()]) {
            try await withFakeModel { model in
                model.scriptToolCalls([
                    ("tickets__search_tickets", ["query": "canary rollback"]),
                    ("tickets__get_ticket", ["number": 4312]),
                    ("tickets__close_ticket", ["number": 4312]), ("tickets__comment_on_ticket", ["text": "fixed"]),
                ])
                model.setAnswer("The canary was reset by hand (OPS-4312); roll back with opsctl deploy rollback [1].")
                try await withFakeSlack { slack in
                    let base = try await model.baseURL()
                    let endpoint = try #require(URL(string: try await mcp.url()))
                    try await withAirlock(
                        slack: slack,
                        database: temporaryDatabase(),
                        configure: { config in
                            standardApprovers(&config)
                            Self.configure(backend, base, &config)
                            config.mcpServers = [
                                MCPServer(
                                    name: "tickets",
                                    endpoint: endpoint,
                                    allowedTools: ["search_tickets", "get_ticket", "close_ticket"],
                                    bearerToken: "mcp-test-token-0123456789"
                                ),
                                MCPServer(
                                    name: "wiki",
                                    endpoint: URL(string: "http://127.0.0.1:1/mcp")!,
                                    allowedTools: ["search"]
                                ),
                            ]
                        }
                    ) { app in
                        let id = try await askQuestion(
                            app,
                            slack,
                            text: "<@U0BOT> why is the payments canary stuck at 5%?"
                        )
                        let offered = String(describing: model.requests.first?.json["tools"] ?? "")
                        #expect(offered.contains("tickets__search_tickets") && offered.contains("tickets__get_ticket"))
                        #expect(
                            !offered.contains("close_ticket") && !offered.contains("comment_on_ticket"),
                            "a writing tool was offered"
                        )
                        // The server saw exactly the two reading calls, with the model's typed arguments.
                        #expect(mcp.recordedCalls.map(\.name) == ["search_tickets", "get_ticket"])
                        #expect(
                            mcp.recordedCalls.last.map {
                                "\($0.arguments["number"].map(String.init(describing:)) ?? "")"
                            } == "4312",
                            "the integer argument arrived as \(String(describing: mcp.recordedCalls.last?.arguments))"
                        )
                        #expect(
                            mcp.authorizations.allSatisfy { $0 == "Bearer mcp-test-token-0123456789" }
                                && !mcp.authorizations.isEmpty
                        )
                        let last = String(describing: model.requests.last?.json["messages"] ?? "")
                        #expect(
                            last.contains("OPS-4312: rollback of the payments deploy"),
                            "the MCP result did not reach the model"
                        )
                        #expect(!last.contains("Kx9vT2qLm8Zr4Wp"), "a secret in a tool result reached the model")
                        #expect(last.contains("there is no tool tickets__close_ticket"))
                        let run = try #require(
                            try await auditEntries(app.store).first {
                                $0.kind == "agent_run" && $0.draftID == id.rawValue
                            }
                        )
                        for part in [
                            "mcp tickets.search_tickets(", "mcp tickets.get_ticket(",
                            #"refused unknown tool \"tickets__close_ticket\""#,
                            "left out close_ticket", "mcp wiki: unavailable",
                        ] {
                            #expect(run.detail.contains(part), "\(part) not recorded in \(run.detail.prefix(900))")
                        }
                        #expect(!run.detail.contains("mcp-test-token") && !run.detail.contains("Kx9vT2qLm8Zr4Wp"))
                        #expect(slack.publicMessages.isEmpty)
                        #expect(slack.directMessages(to: requester).contains { $0.text.contains("OPS-4312") })
                    }
                }
            }
        }
    }

    @Test(
        "MCP settings say what to fix",
        arguments: [
            ("wiki", "", "is not name=URL"), ("Wiki=http://h/mcp", "Wiki:x", "lowercase"),
            ("wiki=file:///etc/passwd", "wiki:x", "not an http(s) URL"),
            ("wiki=http://h/mcp", "", "has no tool allowed"),
            ("wiki=http://h/mcp", "jira:search", "not server:tool for a server"),
        ]
    )
    func mcpSettings(_ servers: String, _ tools: String, _ message: String) {
        #expect(throws: MCPServer.ConfigError.self) { try MCPServer.parse(servers: servers, tools: tools) }
        do { _ = try MCPServer.parse(servers: servers, tools: tools) } catch {
            #expect("\(error)".contains(message), "\(error)")
        }
    }
}
