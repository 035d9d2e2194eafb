import AirlockApp
import AirlockBench
import ArgumentParser
import Foundation

struct Bench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Benchmarks that print figures (build with -c release for meaningful numbers).",
        subcommands: [SlackIngest.self, SeedAudit.self, Soak.self]
    )

    struct SlackIngest: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "slack-ingest",
            abstract: "Signed /slack/events ingest on loopback (in-process fake Slack), then mention → DM latency."
        )
        @Option(help: "Requests to send.") var requests = 5000
        @Option(help: "Concurrent connections.") var connections = 32
        @Option(help: "Mentions sent one at a time to time mention → DM.") var mentions = 50
        @Option(help: "Job workers (agent runs and DMs) in the Airlock under test.") var workers = 4
        @Option(
            help:
                "Drive another server instead (the peer, e.g. Benchmarks/bolt/app.py): http://127.0.0.1:PORT/slack/events"
        ) var target: String?
        @Option(help: "The signing secret of --target (default: $BOLT_SIGNING_SECRET).") var signingSecret: String?
        @Option(
            help:
                "Database of the Airlock under test (default: a temporary SQLite file). A postgres:// URL must name an empty database: the run leaves its rows there, and the same load is first run on SQLite for comparison."
        ) var database: String?
        @Option(help: "Airlock replicas on a postgres:// database (connections are spread over them).") var replicas = 2

        func validate() throws {
            guard requests > 0, connections > 0, mentions >= 0 else {
                throw ValidationError("--requests and --connections must be positive, --mentions zero or more")
            }
            if let target, URL(string: target)?.port == nil {
                throw ValidationError("--target must be a URL with a port, such as http://127.0.0.1:3000/slack/events")
            }
        }

        func run() async throws {
            if let target, let url = URL(string: target) {
                guard let secret = signingSecret ?? ProcessInfo.processInfo.environment["BOLT_SIGNING_SECRET"] else {
                    throw ValidationError("--target needs --signing-secret (or BOLT_SIGNING_SECRET)")
                }
                print(
                    try await IngestBenchmark.runExternal(
                        url: url,
                        secret: secret,
                        requests: requests,
                        connections: connections
                    )
                )
                return
            }
            guard let database, StoreKind(url: database) == .postgres else {
                print(
                    try await IngestBenchmark.run(
                        requests: requests,
                        connections: connections,
                        sequentialMentions: mentions,
                        workers: workers,
                        database: database
                    )
                )
                return
            }
            // Side by side, on this machine, in this invocation: the embedded default first, then PostgreSQL.
            let sqlite = try await IngestBenchmark.run(
                requests: requests,
                connections: connections,
                sequentialMentions: mentions,
                workers: workers
            )
            print(sqlite)
            print("")
            let postgres = try await IngestBenchmark.run(
                requests: requests,
                connections: connections,
                sequentialMentions: mentions,
                workers: workers,
                database: database,
                replicas: replicas
            )
            print(postgres)
            print("")
            print(
                String(
                    format:
                        "PostgreSQL (%d replicas) / SQLite: %.2f× the throughput (%.0f vs %.0f req/s); p99 %.2f ms vs %.2f ms",
                    replicas,
                    postgres.requestsPerSecond / sqlite.requestsPerSecond,
                    postgres.requestsPerSecond,
                    sqlite.requestsPerSecond,
                    postgres.p99,
                    sqlite.p99
                )
            )
        }
    }

    struct Soak: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract:
                "Mixed load (mentions, publish, approve, retries, bad signatures) with RSS and open files sampled."
        )
        @Option(help: "How long, in minutes.") var minutes = 10.0
        @Option(help: "Requests per second.") var rate = 200
        @Option(help: "Seconds between samples.") var every = 30

        func validate() throws {
            guard minutes > 0, rate > 0, every > 0 else {
                throw ValidationError("--minutes, --rate and --every must be positive")
            }
        }

        func run() async throws {
            print(try await SoakBenchmark.run(duration: .seconds(minutes * 60), rate: rate, interval: .seconds(every)))
        }
    }

    struct SeedAudit: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "seed-audit",
            abstract: "Fill a database with N valid audit entries and time `audit verify`."
        )
        @Option(help: "Entries to add.") var entries = 100_000
        @OptionGroup var db: DatabaseOption

        func run() async throws {
            print(try await AuditSeedBenchmark.run(entries: entries, database: db.url))
        }
    }
}
