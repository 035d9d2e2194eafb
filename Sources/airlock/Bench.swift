import AirlockBench
import ArgumentParser

struct Bench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Benchmarks that print figures (build with -c release for meaningful numbers).",
        subcommands: [SlackIngest.self, SeedAudit.self])

    struct SlackIngest: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "slack-ingest",
            abstract: "Signed /slack/events ingest on loopback (in-process fake Slack), then mention → DM latency.")
        @Option(help: "Requests to send.") var requests = 5000
        @Option(help: "Concurrent connections.") var connections = 32
        @Option(help: "Mentions sent one at a time to time mention → DM.") var mentions = 50

        func validate() throws {
            guard requests > 0, connections > 0, mentions >= 0 else {
                throw ValidationError("--requests and --connections must be positive, --mentions zero or more")
            }
        }

        func run() async throws {
            print(try await IngestBenchmark.run(requests: requests, connections: connections, sequentialMentions: mentions))
        }
    }

    struct SeedAudit: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "seed-audit", abstract: "Fill a database with N valid audit entries and time `audit verify`.")
        @Option(help: "Entries to add.") var entries = 100_000
        @OptionGroup var db: DatabaseOption

        func run() async throws {
            print(try await AuditSeedBenchmark.run(entries: entries, database: db.url))
        }
    }
}
