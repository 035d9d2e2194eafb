import AirlockAgents
import AirlockApp
import AirlockDomain
import AirlockSQLite
import ArgumentParser
import Foundation
import Logging

@main
struct Airlock: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "airlock",
        abstract: "A chat-ops bot whose AI answers reach the public thread only after a second person approves.",
        subcommands: [
            Serve.self, Demo.self, Audit.self, Drafts.self, KB.self, Migrate.self, Doctor.self, Commands.self,
            Bench.self, Settings.self,
        ]
    )

    /// Maps usage and configuration errors (`ConfigError`) to exit 2 and database errors (`StartupError`) to 3.
    static func main() async {
        do {
            var command = try parseAsRoot()
            if var async = command as? any AsyncParsableCommand {
                try await async.run()
            } else {
                try command.run()
            }
        } catch let error as StartupError {
            FileHandle.standardError.write(Data("airlock: \(error)\n".utf8))
            Self.exit(withError: ExitCode(3))
        } catch let error as ConfigError {
            FileHandle.standardError.write(Data("airlock: configuration error: \(error)\n".utf8))
            Self.exit(withError: ExitCode(2))
        } catch {
            if exitCode(for: error) == .validationFailure {
                FileHandle.standardError.write(Data((fullMessage(for: error) + "\n").utf8))
                Self.exit(withError: ExitCode(2))
            }
            Self.exit(withError: error)
        }
    }
}

/// `--database URL`, defaulting to `AIRLOCK_DATABASE` or `sqlite:airlock.sqlite`.
struct DatabaseOption: ParsableArguments {
    @Option(name: .long, help: "Database URL: sqlite:PATH (default: $AIRLOCK_DATABASE or sqlite:airlock.sqlite).")
    var database: String?

    var url: String {
        database ?? ProcessInfo.processInfo.environment["AIRLOCK_DATABASE"] ?? "sqlite:airlock.sqlite"
    }
}

func makeLogger(_ label: String = "airlock") -> Logger {
    var logger = Logger(label: label)
    logger.logLevel = ProcessInfo.processInfo.environment["LOG_LEVEL"].flatMap(Logger.Level.init(rawValue:)) ?? .info
    return logger
}

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Run the bot: HTTP server, job workers and publisher.")

    @Option(name: .long, help: "YAML or JSON config file; AIRLOCK_* environment variables win over it.")
    var config: String?

    func run() async throws {
        if ProcessInfo.processInfo.environment["AIRLOCK_LOG_FORMAT"] == "json" {
            LoggingSystem.bootstrap { JSONLogHandler(label: $0) }
        } else {
            LoggingSystem.bootstrap(StreamLogHandler.standardError)
        }
        let settings = try await AirlockConfig.load(environment: ProcessInfo.processInfo.environment, file: config)
        let logger = makeLogger()
        let runtime = try await buildAirlock(
            config: settings,
            dependencies: AirlockDependencies(),
            logger: logger,
            onServerRunning: { port in
                logger.info("Airlock listening", metadata: ["http.host": "\(settings.host)", "http.port": "\(port)"])
            }
        )
        try await runtime.run()
    }
}

struct Demo: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract:
            "Play the gated conversation on a loopback server with the sandbox platform (no accounts, no network)."
    )

    @Flag(name: .long, help: "Also print the server's logs.")
    var verbose = false

    func run() async throws {
        var logger = makeLogger()
        logger.logLevel = verbose ? .info : .critical
        do {
            try await AirlockApp.Demo(logger: logger).run()
        } catch let failure as DemoFailure {
            FileHandle.standardError.write(Data("demo failed: \(failure)\n".utf8))
            throw ExitCode(1)
        }
    }
}

struct Audit: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Check or export the hash-chained audit log.",
        subcommands: [Verify.self, Export.self]
    )

    struct Verify: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract:
                "Recompute the hash chain (read-only; HMAC-keyed when AIRLOCK_AUDIT_KEY is set); exit 1 naming the first bad entry."
        )
        @OptionGroup var db: DatabaseOption
        @Option(
            name: .customLong("expect-head"),
            help:
                "A head hash printed by an earlier verify: it must still be in the chain (catches entries cut from the end)."
        )
        var expectHead: String?

        func validate() throws {
            if let expectHead, expectHead.count != 64 || !expectHead.allSatisfy(\.isHexDigit) {
                throw ValidationError("--expect-head must be a 64-digit hex hash printed by `airlock audit verify`")
            }
        }

        func run() async throws {
            let store = try await Operations.openStore(db.url, mustExist: true)
            let (ok, summary) = try await Operations.verifyAudit(store, expectedHead: expectHead)
            print(summary)
            if !ok { throw ExitCode(1) }
        }
    }

    struct Export: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Write the audit log as JSON Lines to stdout (no secrets)."
        )
        @OptionGroup var db: DatabaseOption
        @Option(help: "Only entries at or after this ISO-8601 time, e.g. 2026-11-25T00:00:00Z.")
        var since: String?
        @Option(help: "Only entries about this draft id.")
        var draft: String?

        func validate() throws {
            if let since, ISO8601DateFormatter().date(from: since) == nil {
                throw ValidationError("--since must be an ISO-8601 time such as 2026-11-25T00:00:00Z")
            }
            if let draft, DraftIDCheck.isValid(draft) == false {
                throw ValidationError("--draft must be a draft id (6-40 letters, digits, _ or -)")
            }
        }

        func run() async throws {
            let store = try await Operations.openStore(db.url, mustExist: true)
            try await Operations.exportAudit(
                store,
                since: since.flatMap { ISO8601DateFormatter().date(from: $0) },
                draftID: draft.flatMap(DraftIDCheck.parse)
            ) { line in print(line) }
        }
    }
}

struct Drafts: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show drafts: state, requester, approvals, content hash.",
        subcommands: [List.self, Show.self],
        defaultSubcommand: List.self
    )

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List drafts, newest first.")
        @OptionGroup var db: DatabaseOption
        @Flag(help: "One JSON object per line.") var json = false

        func run() async throws {
            let store = try await Operations.openStore(db.url, mustExist: true)
            for line in try await Operations.listDrafts(store, json: json) { print(line) }
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show one draft.")
        @Argument(help: "The draft id.") var id: String
        @OptionGroup var db: DatabaseOption
        @Flag(help: "One JSON object.") var json = false

        func run() async throws {
            let store = try await Operations.openStore(db.url, mustExist: true)
            guard let lines = try await Operations.showDraft(store, id: id, json: json) else {
                FileHandle.standardError.write(Data("airlock: no draft '\(id)' (run `airlock drafts list`)\n".utf8))
                throw ExitCode(1)
            }
            for line in lines { print(line) }
        }
    }
}

struct KB: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "kb",
        abstract: "Manage the retrieval agent's knowledge base.",
        subcommands: [Index.self, Eval.self]
    )

    struct Eval: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract:
                "Measure retrieval: hit@1, hit@3 and latency on a question set (default: the bundled sample docs and their questions)."
        )
        @Option(help: "Folder of docs to index (default: the bundled sample docs).") var docs: String?
        @Option(
            help: "JSON file of [{\"question\": …, \"file\": …}] (default: the questions shipped for the sample docs)."
        )
        var cases: String?
        @Flag(
            help: "Ask each question in a thread's root under a generic mention (\"@airlock thoughts?\"), as forums do."
        )
        var threads = false

        func validate() throws {
            if docs != nil, cases == nil {
                throw ValidationError("--docs needs --cases: the shipped questions are about the bundled sample docs")
            }
        }

        func run() async throws {
            let evalCases: [EvalCase]
            if let cases {
                guard let data = FileManager.default.contents(atPath: cases),
                    let decoded = try? JSONDecoder().decode([EvalCase].self, from: data), !decoded.isEmpty
                else {
                    FileHandle.standardError.write(
                        Data("airlock: --cases \(cases) must be a JSON array of {\"question\", \"file\"}\n".utf8)
                    )
                    throw ExitCode(2)
                }
                evalCases = decoded
            } else {
                evalCases = KnowledgeEval.sampleCases
            }
            if threads {
                print(try await Operations.evaluateThreads(folder: docs, cases: evalCases))
            } else {
                print(try await Operations.evaluateKnowledgeBase(folder: docs, cases: evalCases))
            }
        }
    }

    struct Index: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "(Re)index a folder of Markdown/text docs.")
        @Argument(help: "Folder of .md/.txt files.") var directory: String
        @OptionGroup var db: DatabaseOption

        func run() async throws {
            guard SQLiteStore.path(of: db.url) != nil else {
                FileHandle.standardError.write(
                    Data(
                        "airlock: with PostgreSQL each replica indexes AIRLOCK_KB_DIR at start; kb index works on a sqlite: database\n"
                            .utf8
                    )
                )
                throw ExitCode(2)
            }
            let store = try Operations.openSQLite(db.url)
            do {
                let (documents, passages) = try await Operations.indexKnowledgeBase(store, folder: directory)
                print("indexed \(documents) documents, \(passages) passages from \(directory)")
                print(
                    "note: `airlock serve` indexes AIRLOCK_KB_DIR at start; set it to \(directory) to keep this index"
                )
            } catch let error as any CustomStringConvertible {
                FileHandle.standardError.write(Data("airlock: \(error)\n".utf8))
                throw ExitCode(2)
            }
        }
    }
}

struct Migrate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Apply schema migrations (serve also does it at start).")
    @OptionGroup var db: DatabaseOption

    func run() async throws {
        let store = try await Operations.openStore(db.url)
        print(
            await store.isReady()
                ? "database is migrated: \(db.url.split(separator: ":").first ?? "")" : "migration incomplete"
        )
    }
}

struct Commands: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Register a platform's commands (Discord application commands).",
        subcommands: [Register.self]
    )

    struct Register: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract:
                "Register the commands of a platform: `airlock commands register discord` (uses AIRLOCK_DISCORD_*)."
        )
        @Argument(help: "The platform (discord).") var platform: String
        @Option(help: "The command file (default: Commands/discord/commands.json).") var file =
            "Commands/discord/commands.json"
        @Option(name: .long, help: "YAML or JSON config file; AIRLOCK_* environment variables win over it.") var config:
            String?

        func run() async throws {
            guard platform == "discord" else {
                throw ValidationError(
                    "only discord has commands to register here (Slack: import Commands/slack/manifest.yaml)"
                )
            }
            guard let data = FileManager.default.contents(atPath: file) else {
                throw ValidationError(
                    "cannot read \(file): pass --file with the path to Commands/discord/commands.json"
                )
            }
            let count = try await Operations.registerDiscordCommands(
                environment: ProcessInfo.processInfo.environment,
                file: config,
                commands: data,
                logger: makeLogger()
            )
            print("registered \(count) Discord application commands")
        }
    }
}

struct Doctor: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract:
            "Check configuration, database and each enabled platform's credentials; print what to fix (exit 1 if something fails)."
    )
    @Option(name: .long, help: "YAML or JSON config file; AIRLOCK_* environment variables win over it.") var config:
        String?

    func run() async throws {
        var logger = makeLogger()
        logger.logLevel = .critical
        let (ok, lines) = await Operations.doctor(
            environment: ProcessInfo.processInfo.environment,
            file: config,
            logger: logger
        )
        for line in lines { print(line) }
        if !ok { throw ExitCode(1) }
    }
}

struct Settings: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract:
            "Print every setting: the README's table (--markdown, the default) or an example config file (--yaml)."
    )

    @Flag(help: "Print an example YAML configuration instead of the table.")
    var yaml = false

    func run() throws {
        print(yaml ? SettingsCatalogue.exampleYAML() : SettingsCatalogue.markdownTable(), terminator: "")
    }
}
