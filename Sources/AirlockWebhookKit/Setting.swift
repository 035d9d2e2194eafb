import Foundation

/// One setting, declared once: its nested key (`slack.signing_secret`), from which its environment variable
/// (`AIRLOCK_SLACK_SIGNING_SECRET`) follows, its default, whether it is a secret, and one line of help. The
/// settings catalogue is made of these; the README's table and `Deploy/airlock.example.yaml` are generated from it.
public struct Setting: Sendable, Hashable {
    /// The file's nested key; a trailing `<name>` stands for any name (`mcp.token.<name>`).
    public var key: String
    /// What applies when it is unset (nil: nothing, the feature is off).
    public var defaultValue: String?
    /// A value the example configuration file shows (nil: shown commented out).
    public var example: String?
    /// Never logged, never echoed in an error, kept out of the example file.
    public var isSecret: Bool
    /// Together with the platform's other `enables` settings, turns the platform on (all or none must be set).
    public var enables: Bool
    public var help: String

    public init(
        _ key: String,
        default defaultValue: String? = nil,
        example: String? = nil,
        secret: Bool = false,
        enables: Bool = false,
        help: String
    ) {
        self.key = key
        self.defaultValue = defaultValue
        self.example = example
        self.isSecret = secret
        self.enables = enables
        self.help = help
    }

    /// `AIRLOCK_` + the key in upper case, dots and dashes as underscores.
    public var environmentName: String {
        "AIRLOCK_"
            + key.uppercased().replacingOccurrences(of: ".", with: "_").replacingOccurrences(of: "-", with: "_")
    }

    /// True when `key` is this setting (or one of its `<name>` family).
    public func matches(_ key: String) -> Bool {
        if self.key.hasSuffix("<name>") { return key.hasPrefix(self.key.dropLast("<name>".count)) }
        return key == self.key
    }
}
