public import AirlockWebhookKit
import Configuration
import Foundation

/// Every setting Airlock reads, declared once: the core's here, each platform's in its module. `AirlockConfig`
/// reads through it only (an undeclared key is a programming error), and the README's table and
/// `Deploy/airlock.example.yaml` are generated from it (`airlock settings --markdown | --yaml`; a test fails when
/// either drifts).
public enum SettingsCatalogue {
    public static let core: [Setting] = [
        Setting("http.host", default: "127.0.0.1", example: "0.0.0.0", help: "listen address"),
        Setting("http.port", default: "8080", example: "8080", help: "listen port (0-65535)"),
        Setting(
            "database",
            default: "sqlite:airlock.sqlite",
            example: "sqlite:/var/lib/airlock/airlock.sqlite",
            help:
                "`sqlite:PATH` (one process) or `postgres://user:pass@host:5432/db` (several replicas; `?sslmode=require` for TLS)"
        ),
        Setting(
            "approvers",
            example: "slack:U0APPROVER1,slack:U0APPROVER2",
            help:
                "comma list of `platform:user-id` or `group:NAME`. An approver approves only drafts that will be posted on a platform where they are listed or have a linked account (`AIRLOCK_IDENTITIES`); approvers listed on several platforms without links are warned about at start. Empty and no `AIRLOCK_OPEN_APPROVAL`: `serve` refuses to start (nobody could approve)"
        ),
        Setting(
            "open_approval",
            help:
                "only with no approver listed: any other human of these scopes may approve drafts posted on that platform, e.g. `slack:T0TEAM` (workspace), `matrix:example.org` (homeserver), `discord:<guild id>`, `mattermost:<team id>`, `github:<repository owner>`, `discourse:<site host>`. Bots never approve"
        ),
        Setting(
            "security_approvers",
            help: "comma list of `platform:id`: flagged advice needs one of them (two approvers when unset)"
        ),
        Setting(
            "identities",
            help:
                "JSON file linking one person's accounts, e.g. `{\"github:583231\": \"slack:U0REQ\"}` (a value may be a list): links are undirected and transitive, ids are compared in each platform's case rules, and linked accounts count as one person (no approving your own request from another account); an unreadable or malformed file is a start-up error"
        ),
        Setting(
            "draft_ttl",
            default: "24h",
            example: "24h",
            help: "after this a draft can no longer be published, approved, revised or rejected"
        ),
        Setting(
            "questions_per_hour",
            default: "30",
            help:
                "agent runs per requester per hour; over it the question is refused, recorded and the requester told by DM (`0` = no limit)"
        ),
        Setting(
            "job_lease",
            default: "120s",
            help:
                "how long a claimed job stays with its worker before another takes it over after a crash (at least the agent timeout + 1 s)"
        ),
        Setting(
            "agent",
            default: "retrieval",
            example: "retrieval",
            help: "`retrieval`, `openai`, `anthropic` or `command` (see \"The analysis agents\")"
        ),
        Setting("agent_timeout", default: "60s", example: "60s", help: "per agent run"),
        Setting(
            "kb_dir",
            help:
                "folder of `.md`/`.txt` files, re-indexed at start when it changed (unset: the bundled sample docs)"
        ),
        Setting("openai.base_url", default: "https://api.openai.com/v1", help: "OpenAI-compatible server (with `/v1`)"),
        Setting(
            "openai.api_key",
            secret: true,
            help: "API key (required for api.openai.com; optional for a local server)"
        ),
        Setting("openai.model", help: "model name (required with `AIRLOCK_AGENT=openai`)"),
        Setting(
            "anthropic.base_url",
            default: "https://api.anthropic.com",
            help: "Anthropic Messages API (without `/v1`)"
        ),
        Setting("anthropic.api_key", secret: true, help: "API key (required with `AIRLOCK_AGENT=anthropic`)"),
        Setting("anthropic.model", help: "model name (required with `AIRLOCK_AGENT=anthropic`)"),
        Setting("agent_command", help: "external agent command (JSON on stdin/stdout), run under `/bin/sh -c`"),
        Setting(
            "mcp.servers",
            help:
                "MCP servers (Streamable HTTP) the LLM backends may call tools on: `name=URL,…`; needs `AIRLOCK_AGENT=openai` or `anthropic`"
        ),
        Setting(
            "mcp.tools",
            help:
                "the allowed tools, `name:tool,…`; a server with none listed is a start-up error, a tool not listed is never offered"
        ),
        Setting("mcp.token.<name>", secret: true, help: "bearer token for MCP server `<name>` (`-` written `_`)"),
        Setting(
            "audit_key",
            secret: true,
            help: "(≥ 16 bytes): audit entries are HMAC-SHA256 under it; `audit verify` needs it too"
        ),
        Setting(
            "metrics_token",
            secret: true,
            help:
                "(≥ 16 characters): `GET /metrics` answers only `Authorization: Bearer <token>` (401 otherwise); unset, `/metrics` is off (404), since the webhook listener faces the internet"
        ),
        Setting("log_format", default: "text", help: "`json` for one JSON object per log line"),
    ]

    /// The core's settings, then each registered platform's.
    public static let all: [Setting] = core + registeredPlatforms.flatMap { $0.settings }

    /// The declared setting for `key`, if any.
    public static func setting(_ key: String) -> Setting? { all.first { $0.matches(key) } }

    /// The README's settings table.
    public static func markdownTable() -> String {
        var lines = ["| variable | default | meaning |", "|---|---|---|"]
        for setting in all {
            let value = setting.defaultValue.map { "`\($0)`" } ?? "—"
            lines.append(
                "| `\(setting.environmentName)` | \(value) | \(setting.isSecret ? "secret " : "")\(setting.help) |"
            )
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// `Deploy/airlock.example.yaml`: every setting with its help; examples set, the rest commented out, secrets
    /// never in the file.
    public static func exampleYAML() -> String {
        var out = """
            # Example configuration for `airlock serve --config airlock.yaml` (generated by `airlock settings --yaml`).
            # Every key can also come from an environment variable (AIRLOCK_ + the key in upper case, dots → underscores);
            # the environment wins. Keep secrets in the environment or a secret store, not in this file.

            """
        var group: String?
        for setting in all where !setting.key.hasSuffix("<name>") {
            let parts = setting.key.split(separator: ".", maxSplits: 1).map(String.init)
            let (section, name) = parts.count == 2 ? (parts[0], parts[1]) : (nil, parts[0])
            if section != group {
                if let section {
                    let anySet = all.contains { $0.key.hasPrefix(section + ".") && $0.example != nil && !$0.isSecret }
                    out += "\(anySet ? "" : "# ")\(section):\n"
                }
                group = section
            }
            let indent = section == nil ? "" : "  "
            let help = setting.help.replacingOccurrences(of: "`", with: "")
            out += "\(indent)# \(setting.isSecret ? "secret, set \(setting.environmentName) instead: " : "")\(help)\n"
            if let example = setting.example, !setting.isSecret {
                out += "\(indent)\(name): \(example)\n"
            } else {
                out += "\(indent)# \(name):\(setting.defaultValue.map { " \($0)" } ?? "")\n"
            }
        }
        return out
    }
}

/// The one reader of settings: every key must be declared in the catalogue, and a secret is read as one (never
/// logged by swift-configuration's access reporting).
struct CatalogueReader: SettingsReader {
    let reader: ConfigReader

    /// The value set, or nil.
    func string(_ key: String) -> String? {
        guard let setting = SettingsCatalogue.setting(key) else {
            preconditionFailure("setting \(key) is not declared in SettingsCatalogue or its platform module")
        }
        return reader.string(forKey: ConfigKey(key), isSecret: setting.isSecret)
    }

    func secret(_ key: String) -> String? { string(key) }

    /// The value set, else the declared default.
    func value(_ key: String) -> String? { string(key) ?? SettingsCatalogue.setting(key)?.defaultValue }
}
