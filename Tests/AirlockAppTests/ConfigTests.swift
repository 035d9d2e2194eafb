import AirlockApp
import AirlockDomain
import AirlockSlack
import AirlockTesting
import AirlockWebhookKit
import Foundation
import Testing

@Suite("Configuration from environment and file")
struct ConfigTests {
    func write(_ text: String, ext: String) throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("airlock-\(UUID().uuidString).\(ext)")
            .path
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    @Test("The example YAML file is read, and the environment wins over it")
    func yamlAndEnvironment() async throws {
        let example = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("Deploy/airlock.example.yaml").path
        let config = try await AirlockConfig.load(
            environment: [
                "AIRLOCK_HTTP_PORT": "9999", "AIRLOCK_SLACK_SIGNING_SECRET": "s3cret",
                "AIRLOCK_SLACK_BOT_TOKEN": "xoxb-1",
                "AIRLOCK_DRAFT_TTL": "2h",
            ],
            file: example
        )
        #expect(config.port == 9999)
        #expect(config.host == "0.0.0.0")
        #expect(config.database == "sqlite:/var/lib/airlock/airlock.sqlite")
        #expect(
            config.policy.approvers == [
                PersonID(platform: .slack, id: "U0APPROVER1"), PersonID(platform: .slack, id: "U0APPROVER2"),
            ]
        )
        #expect(config.draftTTL == .seconds(7200))
        #expect(config.slack?.signingSecret == "s3cret")
        #expect(config.slack?.apiURL == "https://slack.com/api")
    }

    @Test("A JSON file works too")
    func json() async throws {
        let path = try write(
            #"{"http": {"port": "8181"}, "approvers": "slack:UA", "slack": {"api_url": "http://127.0.0.1:1/api"}}"#,
            ext: "json"
        )
        let config = try await AirlockConfig.load(environment: [:], file: path)
        #expect(config.port == 8181)
        #expect(config.slack == nil, "no secret: Slack stays disabled")
        #expect(config.policy.approvers == [PersonID(platform: .slack, id: "UA")])
    }

    @Test(
        "Mistakes are reported with the setting to fix and never echo a secret",
        arguments: [
            (["AIRLOCK_SLACK_SIGNING_SECRET": "topsecret-value"], "AIRLOCK_SLACK_BOT_TOKEN is missing"),
            (["AIRLOCK_SLACK_BOT_TOKEN": "xoxb-topsecret-value"], "AIRLOCK_SLACK_SIGNING_SECRET is missing"),
            (["AIRLOCK_HTTP_PORT": "eighty"], "AIRLOCK_HTTP_PORT"),
            (["AIRLOCK_DRAFT_TTL": "forever"], "AIRLOCK_DRAFT_TTL"),
            (["AIRLOCK_APPROVERS": "slack:U1,bob"], "bob"),
            (["AIRLOCK_AGENT": "openai"], "AIRLOCK_AGENT=openai"),
        ]
    )
    func mistakes(_ environment: [String: String], _ expected: String) async throws {
        do {
            _ = try await AirlockConfig.load(environment: environment, file: nil)
            Issue.record("expected a configuration error")
        } catch let error as ConfigError {
            #expect(error.description.contains(expected), "\(error)")
            #expect(!error.description.contains("topsecret"))
        }
    }

    @Test("A missing config file is a clear error")
    func missingFile() async throws {
        await #expect(throws: ConfigError.self) {
            try await AirlockConfig.load(environment: [:], file: "/nonexistent/airlock.yaml")
        }
    }
}

@Suite("Settings catalogue")
struct SettingsCatalogueTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    @Test("The README's settings table is the catalogue's (regenerate with `airlock settings`)")
    func readmeTable() throws {
        let readme = try String(contentsOf: Self.root.appendingPathComponent("README.md"), encoding: .utf8)
        let marker = try #require(readme.range(of: "<!-- settings:"))
        let start = try #require(readme.range(of: "-->\n", range: marker.upperBound..<readme.endIndex))
        let end = try #require(readme.range(of: "<!-- /settings -->"))
        #expect(String(readme[start.upperBound..<end.lowerBound]) == SettingsCatalogue.markdownTable())
    }

    @Test("Deploy/airlock.example.yaml is the catalogue's (regenerate with `airlock settings --yaml`)")
    func exampleFile() throws {
        let file = try String(
            contentsOf: Self.root.appendingPathComponent("Deploy/airlock.example.yaml"),
            encoding: .utf8
        )
        #expect(file == SettingsCatalogue.exampleYAML())
    }

    @Test("Every setting is named once, its default is what an empty configuration gets, secrets have no example")
    func catalogueIsConsistent() async throws {
        let all = SettingsCatalogue.all
        #expect(Set(all.map(\.environmentName)).count == all.count)
        #expect(all.filter { $0.isSecret && $0.example != nil }.isEmpty)
        let empty = try await AirlockConfig.load(environment: [:], file: nil)
        #expect(SettingsCatalogue.setting("http.host")?.defaultValue == empty.host)
        #expect(SettingsCatalogue.setting("http.port")?.defaultValue == String(empty.port))
        #expect(SettingsCatalogue.setting("database")?.defaultValue == empty.database)
        #expect(SettingsCatalogue.setting("agent")?.defaultValue == empty.agent.name)
        #expect(
            SettingsCatalogue.setting("draft_ttl").flatMap { $0.defaultValue.flatMap(Duration.init(parsing:)) }
                == empty.draftTTL
        )
        #expect(
            SettingsCatalogue.setting("agent_timeout").flatMap { $0.defaultValue.flatMap(Duration.init(parsing:)) }
                == empty.agentTimeout
        )
        #expect(
            SettingsCatalogue.setting("job_lease").flatMap { $0.defaultValue.flatMap(Duration.init(parsing:)) }
                == empty.jobLease
        )
        #expect(
            SettingsCatalogue.setting("questions_per_hour")?.defaultValue == empty.questionsPerHour.map(String.init)
        )
    }

    @Test("Every platform's enabling settings are what its half-configured error names")
    func platformSettings() async throws {
        for setting in SettingsCatalogue.all where setting.enables {
            await #expect(throws: ConfigError.self, "\(setting.environmentName) alone") {
                try await AirlockConfig.load(environment: [setting.environmentName: "x"], file: nil)
            }
        }
    }
}
