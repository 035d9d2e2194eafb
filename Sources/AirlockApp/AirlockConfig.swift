public import AirlockAgents
import AirlockDiscord
import AirlockDiscourse
public import AirlockDomain
import AirlockGitHub
import AirlockMatrix
import AirlockMattermost
import AirlockSandbox
import AirlockSlack
public import AirlockWebhookKit
import Configuration
public import Foundation
import SystemPackage

/// A configuration problem; the message names the setting to fix and never includes a secret value.
public struct ConfigError: Error, Sendable, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// The platforms this build knows. Adding a platform is one module and one line here.
public let registeredPlatforms: [any PlatformModule.Type] = [
    SlackModule.self,
    MattermostModule.self,
    DiscourseModule.self,
    DiscordModule.self,
    GitHubModule.self,
    MatrixModule.self,
]

/// Each known platform's own rules (id case, public length, open-approval scope), from its module.
public func platformTraits() -> [PlatformName: PlatformTraits] {
    var traits: [PlatformName: PlatformTraits] = [.sandbox: SandboxPlatform.traits]
    for module in registeredPlatforms { traits[module.name] = module.traits }
    return traits
}

/// Which analysis agent answers, with its settings (`AIRLOCK_AGENT`).
public enum AgentSettings: Sendable, Equatable {
    case retrieval
    case openAI(baseURL: String, apiKey: String?, model: String)
    case anthropic(baseURL: String, apiKey: String, model: String)
    case command(String)

    public var name: String {
        switch self {
        case .retrieval: "retrieval"
        case .openAI: "openai"
        case .anthropic: "anthropic"
        case .command: "command"
        }
    }

    static func read(_ settings: CatalogueReader) throws -> AgentSettings {
        let name = settings.value("agent") ?? "retrieval"
        func required(_ key: String) throws -> String {
            guard let value = settings.string(key), !value.isEmpty else {
                throw ConfigError(
                    "AIRLOCK_AGENT=\(name) needs \(SettingsCatalogue.setting(key)?.environmentName ?? key)"
                )
            }
            return value
        }
        switch name {
        case "retrieval":
            return .retrieval
        case "openai":
            let base = settings.value("openai.base_url") ?? ""
            let key = settings.string("openai.api_key")
            if base.contains("api.openai.com"), key?.isEmpty ?? true {
                throw ConfigError("AIRLOCK_AGENT=openai needs AIRLOCK_OPENAI_API_KEY for \(base)")
            }
            return .openAI(baseURL: base, apiKey: key, model: try required("openai.model"))
        case "anthropic":
            return .anthropic(
                baseURL: settings.value("anthropic.base_url") ?? "",
                apiKey: try required("anthropic.api_key"),
                model: try required("anthropic.model")
            )
        case "command":
            return .command(try required("agent_command"))
        default:
            throw ConfigError(
                "AIRLOCK_AGENT=\(name.prefix(40)) is not an agent: use retrieval, openai, anthropic or command"
            )
        }
    }
}

/// Everything `airlock serve` needs, read from environment variables and an optional YAML/JSON file.
public struct AirlockConfig: Sendable {
    public var host: String = "127.0.0.1"
    public var port: Int = 8080
    public var database: String = "sqlite:airlock.sqlite"
    public var policy = ApprovalPolicy()
    public var draftTTL: Duration = .seconds(24 * 3600)
    public var agent: AgentSettings = .retrieval
    /// nil: the bundled sample knowledge base.
    public var kbDirectory: String?
    public var agentTimeout: Duration = .seconds(60)
    /// `AIRLOCK_MCP_SERVERS` + `AIRLOCK_MCP_TOOLS`: MCP servers whose allowed tools the LLM backends may call.
    public var mcpServers: [MCPServer] = []
    /// The enabled platforms, each with its own settings (read by its module).
    public var platforms: [any PlatformModule] = []
    /// Token the sandbox platform's inbound routes require; nil disables the sandbox (only the demo sets it).
    public var sandboxToken: String?
    /// `AIRLOCK_AUDIT_KEY`: audit entries are HMAC-SHA256 under it (a secret; never logged).
    public var auditKey: AuditKey = .none
    /// Job worker concurrency.
    public var workers: Int = 4
    /// How often drafts past their TTL are expired and old dedupe keys pruned.
    public var housekeepingInterval: Duration = .seconds(60)
    /// `AIRLOCK_JOB_LEASE`: how long a claimed job stays with its worker before another may take it over (after
    /// a crash). Must exceed the longest job (the agent timeout plus a platform call).
    public var jobLease: Duration = .seconds(120)
    /// `AIRLOCK_METRICS_TOKEN` (a secret): the bearer token `/metrics` requires; nil turns `/metrics` off.
    public var metricsToken: String?
    /// `AIRLOCK_QUESTIONS_PER_HOUR`: agent runs per requester per hour (nil: no limit).
    public var questionsPerHour: Int? = 30

    public init() {}

    /// Names of the settings that hold secrets (for redaction in logs).
    /// Reads the configuration: `AIRLOCK_*` environment variables win over the file's nested keys.
    public static func load(environment: [String: String], file: String?) async throws -> AirlockConfig {
        var providers: [any ConfigProvider] = [environmentProvider(environment)]
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
        return try read(CatalogueReader(reader: ConfigReader(providers: providers)))
    }

    static func read(_ settings: CatalogueReader) throws -> AirlockConfig {
        var config = AirlockConfig()
        config.host = settings.value("http.host") ?? config.host
        if let port = settings.string("http.port") {
            guard let value = Int(port), (0...65535).contains(value) else {
                throw ConfigError("AIRLOCK_HTTP_PORT must be a port number (0-65535), got '\(port)'")
            }
            config.port = value
        }
        config.database = settings.value("database") ?? config.database
        if let list = settings.string("approvers") {
            let (policy, invalid) = ApprovalPolicy.parse(approvers: list)
            guard invalid.isEmpty else {
                throw ConfigError(
                    "AIRLOCK_APPROVERS has entries that are not platform:id or group:NAME: \(invalid.joined(separator: ", "))"
                )
            }
            config.policy = policy
        }
        if let ttl = settings.string("draft_ttl") {
            guard let value = Duration(parsing: ttl) else {
                throw ConfigError("AIRLOCK_DRAFT_TTL must be a duration such as 30m, 24h or 7d, got '\(ttl)'")
            }
            config.draftTTL = value
        }
        if let timeout = settings.string("agent_timeout") {
            guard let value = Duration(parsing: timeout) else {
                throw ConfigError("AIRLOCK_AGENT_TIMEOUT must be a duration such as 60s, got '\(timeout)'")
            }
            config.agentTimeout = value
        }
        if let lease = settings.string("job_lease") {
            guard let value = Duration(parsing: lease), value >= .seconds(1) else {
                throw ConfigError(
                    "AIRLOCK_JOB_LEASE must be a duration of at least 1s, such as 120s, got '\(lease.prefix(40))'"
                )
            }
            config.jobLease = value
        }
        if let list = settings.string("open_approval") {
            let (scopes, invalid) = ApprovalPolicy.parse(openApproval: list)
            guard invalid.isEmpty, !scopes.isEmpty else {
                throw ConfigError(
                    "AIRLOCK_OPEN_APPROVAL must be a comma list of platform:scope (slack:T0TEAM, matrix:example.org, discord:<guild id>, mattermost:<team id>, github:<owner>, discourse:<host>), got '\(list.prefix(200))'"
                )
            }
            config.policy = config.policy.withOpenApproval(scopes)
        }
        if let limit = settings.string("questions_per_hour") {
            guard let value = Int(limit), value >= 0 else {
                throw ConfigError(
                    "AIRLOCK_QUESTIONS_PER_HOUR must be a whole number (0 = no limit), got '\(limit.prefix(40))'"
                )
            }
            config.questionsPerHour = value == 0 ? nil : value
        }
        config.agent = try AgentSettings.read(settings)
        if let servers = settings.string("mcp.servers"), !servers.isEmpty {
            do {
                config.mcpServers = try MCPServer.parse(
                    servers: servers,
                    tools: settings.string("mcp.tools") ?? "",
                    token: { settings.string("mcp.token.\($0.replacingOccurrences(of: "-", with: "_"))") }
                )
            } catch let error as MCPServer.ConfigError {
                throw ConfigError(error.description)
            }
            switch config.agent {
            case .openAI, .anthropic: break
            default:
                throw ConfigError(
                    "AIRLOCK_MCP_SERVERS needs an LLM agent (AIRLOCK_AGENT=openai or anthropic) to call its tools"
                )
            }
        }
        if let list = settings.string("security_approvers") {
            let (parsed, invalid) = ApprovalPolicy.parse(approvers: list)
            guard invalid.isEmpty, parsed.groups.isEmpty else {
                throw ConfigError(
                    "AIRLOCK_SECURITY_APPROVERS must be a comma list of platform:id, got '\(list.prefix(200))'"
                )
            }
            config.policy = config.policy.withSecurityApprovers(Set(parsed.listedApprovers))
        }
        config.kbDirectory = settings.string("kb_dir")
        if let path = settings.string("identities") {
            config.policy = config.policy.linking(try loadIdentities(path))
        }
        if let token = settings.string("metrics_token"), !token.isEmpty {
            guard token.count >= 16 else {
                throw ConfigError("AIRLOCK_METRICS_TOKEN must be at least 16 characters long")
            }
            config.metricsToken = token
        }
        config.auditKey = try auditKey(settings)
        config.policy = config.policy.withTraits(platformTraits())
        for module in registeredPlatforms {
            do {
                if let enabled = try module.configure(settings) {
                    config.platforms.append(enabled)
                }
            } catch let error as PlatformSettingsError {
                throw ConfigError(error.description)
            }
        }
        return config
    }

    /// `AIRLOCK_AUDIT_KEY` as a key (at least 16 bytes), or no key: read and checked here only (`serve` and the
    /// operator commands alike).
    static func auditKey(_ settings: CatalogueReader) throws -> AuditKey {
        guard let secret = settings.string("audit_key"), !secret.isEmpty else { return .none }
        guard let key = AuditKey(secret: secret) else {
            throw ConfigError("AIRLOCK_AUDIT_KEY must be at least 16 bytes long")
        }
        return key
    }

    /// The audit key from the environment alone (the operator commands, which take no config file).
    public static func auditKey(environment: [String: String]) throws -> AuditKey {
        try auditKey(CatalogueReader(reader: ConfigReader(providers: [environmentProvider(environment)])))
    }

    /// The `AIRLOCK_*` variables, without their prefix (`AIRLOCK_HTTP_PORT` is `http.port`'s `HTTP_PORT`).
    static func environmentProvider(_ environment: [String: String]) -> EnvironmentVariablesProvider {
        var stripped: [String: String] = [:]
        for (name, value) in environment where name.hasPrefix("AIRLOCK_") {
            stripped[String(name.dropFirst("AIRLOCK_".count))] = value
        }
        return EnvironmentVariablesProvider(environmentVariables: stripped)
    }

    /// Reads `AIRLOCK_IDENTITIES`: a JSON object linking accounts of one person (`"platform:id": "platform:id"`, or
    /// `"platform:id": ["platform:id", …]`). Links are undirected and transitive. Anything else is a start-up error.
    static func loadIdentities(_ path: String) throws -> [(PersonID, PersonID)] {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ConfigError("AIRLOCK_IDENTITIES file \(path) cannot be read")
        }
        guard let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            throw ConfigError(
                "AIRLOCK_IDENTITIES file \(path) must be a JSON object of \"platform:id\": \"platform:id\""
            )
        }
        var links: [(PersonID, PersonID)] = []
        for (account, value) in object.sorted(by: { $0.key < $1.key }) {
            let others: [String]
            if let one = value as? String {
                others = [one]
            } else if let many = value as? [String] {
                others = many
            } else {
                throw ConfigError(
                    "AIRLOCK_IDENTITIES: the value for '\(account.prefix(80))' must be \"platform:id\" or a list of them"
                )
            }
            for other in others {
                guard let from = PersonID(parsing: account), let to = PersonID(parsing: other) else {
                    throw ConfigError(
                        "AIRLOCK_IDENTITIES: '\(account.prefix(80))' → '\(other.prefix(80))' is not platform:id → platform:id"
                    )
                }
                links.append((from, to))
            }
        }
        return links
    }
}
