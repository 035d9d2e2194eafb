public import AirlockDomain
import Configuration
import SystemPackage
public import Foundation

/// A configuration problem; the message names the setting to fix and never includes a secret value.
public struct ConfigError: Error, Sendable, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// Slack settings (enabled when the signing secret is set).
public struct SlackSettings: Sendable {
    public var signingSecret: String
    public var botToken: String
    public var apiURL: String
    public var reviewChannel: String?

    public init(signingSecret: String, botToken: String, apiURL: String = "https://slack.com/api", reviewChannel: String? = nil) {
        self.signingSecret = signingSecret
        self.botToken = botToken
        self.apiURL = apiURL
        self.reviewChannel = reviewChannel
    }
}

/// Everything `airlock serve` needs, read from environment variables and an optional YAML/JSON file.
public struct AirlockConfig: Sendable {
    public var host: String = "127.0.0.1"
    public var port: Int = 8080
    public var database: String = "sqlite:airlock.sqlite"
    public var policy = ApprovalPolicy()
    public var draftTTL: Duration = .seconds(24 * 3600)
    public var agent: String = "retrieval"
    /// nil: the bundled sample knowledge base.
    public var kbDirectory: String?
    public var agentTimeout: Duration = .seconds(60)
    public var slack: SlackSettings?
    /// Token the sandbox platform's inbound routes require; nil disables the sandbox (only the demo sets it).
    public var sandboxToken: String?
    /// Job worker concurrency.
    public var workers: Int = 4
    /// How often drafts past their TTL are expired and old dedupe keys pruned.
    public var housekeepingInterval: Duration = .seconds(60)

    public init() {}

    /// Names of the settings that hold secrets (for redaction in logs).
    var secrets: [String] { [slack?.signingSecret, slack?.botToken, sandboxToken].compactMap { $0 } }

    /// Reads the configuration: `AIRLOCK_*` environment variables win over the file's nested keys.
    public static func load(environment: [String: String], file: String?) async throws -> AirlockConfig {
        var stripped: [String: String] = [:]
        for (name, value) in environment where name.hasPrefix("AIRLOCK_") {
            stripped[String(name.dropFirst("AIRLOCK_".count))] = value
        }
        var providers: [any ConfigProvider] = [EnvironmentVariablesProvider(environmentVariables: stripped)]
        if let file {
            guard FileManager.default.fileExists(atPath: file) else {
                throw ConfigError("config file \(file) does not exist")
            }
            do {
                if file.hasSuffix(".json") {
                    providers.append(try await FileProvider<JSONSnapshot>(filePath: .init(file)))
                } else {
                    providers.append(try await FileProvider<YAMLSnapshot>(filePath: .init(file)))
                }
            } catch {
                throw ConfigError("cannot read config file \(file): it must be YAML or JSON (\(type(of: error)))")
            }
        }
        let reader = ConfigReader(providers: providers)
        return try read(reader)
    }

    static func read(_ reader: ConfigReader) throws -> AirlockConfig {
        var config = AirlockConfig()
        config.host = reader.string(forKey: "http.host", default: config.host)
        if let port = reader.string(forKey: "http.port") {
            guard let value = Int(port), (0...65535).contains(value) else {
                throw ConfigError("AIRLOCK_HTTP_PORT must be a port number (0-65535), got '\(port)'")
            }
            config.port = value
        }
        config.database = reader.string(forKey: "database", default: config.database)
        if let list = reader.string(forKey: "approvers") {
            let (policy, invalid) = ApprovalPolicy.parse(approvers: list)
            guard invalid.isEmpty else {
                throw ConfigError(
                    "AIRLOCK_APPROVERS has entries that are not platform:id or group:NAME: \(invalid.joined(separator: ", "))")
            }
            config.policy = policy
        }
        if let ttl = reader.string(forKey: "draft_ttl") {
            guard let value = Duration(parsing: ttl) else {
                throw ConfigError("AIRLOCK_DRAFT_TTL must be a duration such as 30m, 24h or 7d, got '\(ttl)'")
            }
            config.draftTTL = value
        }
        if let timeout = reader.string(forKey: "agent_timeout") {
            guard let value = Duration(parsing: timeout) else {
                throw ConfigError("AIRLOCK_AGENT_TIMEOUT must be a duration such as 60s, got '\(timeout)'")
            }
            config.agentTimeout = value
        }
        config.agent = reader.string(forKey: "agent", default: config.agent)
        guard config.agent == "retrieval" else {
            throw ConfigError(
                "AIRLOCK_AGENT=\(config.agent) is not available in this build yet; use 'retrieval' (the default)")
        }
        config.kbDirectory = reader.string(forKey: "kb_dir")
        if let path = reader.string(forKey: "identities") {
            config.policy.identityLinks = try loadIdentities(path)
            config.policy = ApprovalPolicy(
                approvers: config.policy.approvers, groups: config.policy.groups,
                groupMembers: config.policy.groupMembers, identityLinks: config.policy.identityLinks)
        }
        let secret = reader.string(forKey: "slack.signing_secret", isSecret: true)
        let token = reader.string(forKey: "slack.bot_token", isSecret: true)
        switch (secret, token) {
        case (nil, nil): break
        case (let secret?, let token?):
            config.slack = SlackSettings(
                signingSecret: secret, botToken: token,
                apiURL: reader.string(forKey: "slack.api_url", default: "https://slack.com/api"),
                reviewChannel: reader.string(forKey: "slack.review_channel"))
        case (nil, _):
            throw ConfigError("Slack is half configured: AIRLOCK_SLACK_SIGNING_SECRET is missing")
        case (_, nil):
            throw ConfigError("Slack is half configured: AIRLOCK_SLACK_BOT_TOKEN is missing")
        }
        return config
    }

    /// Reads `AIRLOCK_IDENTITIES`: a JSON object mapping an account to the person's primary account.
    static func loadIdentities(_ path: String) throws -> [PersonID: PersonID] {
        guard let data = FileManager.default.contents(atPath: path),
            let object = try? JSONSerialization.jsonObject(with: data) as? [String: String]
        else { throw ConfigError("AIRLOCK_IDENTITIES file \(path) must be a JSON object of \"platform:id\": \"platform:id\"") }
        var links: [PersonID: PersonID] = [:]
        for (account, person) in object {
            guard let from = PersonID(parsing: account), let to = PersonID(parsing: person) else {
                throw ConfigError("AIRLOCK_IDENTITIES: '\(account)' → '\(person)' is not platform:id → platform:id")
            }
            links[from] = to
        }
        return links
    }
}
