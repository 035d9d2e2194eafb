public import AirlockDomain
public import AsyncHTTPClient
public import Foundation
public import Logging

/// Where a platform module reads its settings (`slack.signing_secret` ↔ `AIRLOCK_SLACK_SIGNING_SECRET`).
public protocol SettingsReader: Sendable {
    func string(_ key: String) -> String?
    /// A secret: never logged, never echoed in an error.
    func secret(_ key: String) -> String?
}

/// A configuration mistake in a platform's settings; names the settings to fix, never a secret value.
public struct PlatformSettingsError: Error, Sendable, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }

    /// Reads the settings of one platform: all of its `enables` settings set turns it on, none of them leaves it
    /// off (nil), some of them is this error naming the missing ones.
    public static func require(
        _ settings: [Setting],
        platform: String,
        from reader: any SettingsReader
    ) throws -> [String: String]? {
        var values: [String: String] = [:]
        var missing: [String] = []
        for setting in settings where setting.enables {
            if let value = setting.isSecret ? reader.secret(setting.key) : reader.string(setting.key), !value.isEmpty {
                values[setting.key] = value
            } else {
                missing.append(setting.environmentName)
            }
        }
        if values.isEmpty { return nil }
        guard missing.isEmpty else {
            throw PlatformSettingsError(
                "\(platform) is half configured: \(missing.joined(separator: ", ")) \(missing.count == 1 ? "is" : "are") missing"
            )
        }
        return values
    }
}

/// What a platform needs from the process to start.
public struct PlatformContext: Sendable {
    public var http: HTTPClient
    public var logger: Logger
    /// Records an outbound API call in the audit log (method, status, duration; never a token or a body).
    public var recordAPICall: @Sendable (_ platform: PlatformName, _ detail: [String: String]) async -> Void
    public var now: @Sendable () -> Date

    public init(
        http: HTTPClient,
        logger: Logger,
        recordAPICall: @escaping @Sendable (PlatformName, [String: String]) async -> Void,
        now: @escaping @Sendable () -> Date
    ) {
        self.http = http
        self.logger = logger
        self.recordAPICall = recordAPICall
        self.now = now
    }
}

/// A started platform: its inbound adapter (routes), its outbound side, and its optional review channel.
public struct PlatformBinding: Sendable {
    public var inbound: any InboundAdapter
    public var outbound: any ChatPlatform
    public var reviewChannel: String?

    public init(inbound: any InboundAdapter, outbound: any ChatPlatform, reviewChannel: String? = nil) {
        self.inbound = inbound
        self.outbound = outbound
        self.reviewChannel = reviewChannel
    }
}

/// One chat platform, as a module: it reads its own settings, learns its bot identity at start and provides
/// its inbound adapter and its `ChatPlatform`. Adding a platform = one module + one registration line.
public protocol PlatformModule: Sendable {
    static var name: PlatformName { get }
    /// The platform's own rules the domain applies (id case, public length, what an open-approval scope names).
    /// Required, so a new platform cannot forget them.
    static var traits: PlatformTraits { get }
    /// Every setting the module reads, declared once (the settings catalogue, the README table, the example file).
    static var settings: [Setting] { get }
    /// The platform's settings; nil when it is not enabled; throws `PlatformSettingsError` when half set.
    static func configure(_ settings: any SettingsReader) throws -> Self?
    /// Learns the bot's identity (failing with a message naming the setting to fix) and builds the adapters.
    func start(_ context: PlatformContext) async throws -> PlatformBinding
}
