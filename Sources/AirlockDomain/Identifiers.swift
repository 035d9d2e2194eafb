public import Foundation

/// A chat platform's short name as used in identities and routes (`slack`, `sandbox`, …).
public struct PlatformName: RawRepresentable, Hashable, Sendable, Codable, CustomStringConvertible {
    public let rawValue: String
    public init(rawValue: String) { self.rawValue = rawValue }
    public init(_ rawValue: String) { self.rawValue = rawValue }
    public var description: String { rawValue }

    /// Slack.
    public static let slack = PlatformName("slack")
    /// The built-in sandbox platform used by `airlock demo`.
    public static let sandbox = PlatformName("sandbox")
}

/// A person on a platform, written `platform:id` everywhere (settings, audit, `/drafts`).
public struct PersonID: Hashable, Sendable, Codable, CustomStringConvertible, Comparable {
    public let platform: PlatformName
    public let id: String

    public init(platform: PlatformName, id: String) {
        self.platform = platform
        self.id = id
    }

    /// Parses `platform:id`; nil when either side is empty.
    public init?(parsing text: String) {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        guard let colon = trimmed.firstIndex(of: ":") else { return nil }
        let platform = String(trimmed[..<colon])
        let id = String(trimmed[trimmed.index(after: colon)...])
        guard !platform.isEmpty, !id.isEmpty else { return nil }
        self.init(platform: PlatformName(platform.lowercased()), id: id)
    }

    public var description: String { "\(platform.rawValue):\(id)" }

    public static func < (lhs: PersonID, rhs: PersonID) -> Bool { lhs.description < rhs.description }

    public init(from decoder: any Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        guard let parsed = PersonID(parsing: text) else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "not platform:id"))
        }
        self = parsed
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }
}

/// A draft's id: 22 random characters from `[A-Za-z0-9]` (about 131 bits), so it cannot be guessed.
public struct DraftID: Hashable, Sendable, Codable, CustomStringConvertible {
    public let rawValue: String

    /// Accepts only ids that match `[A-Za-z0-9_-]{6,40}`.
    public init?(_ text: String) {
        guard (6...40).contains(text.count),
            text.unicodeScalars.allSatisfy({ DraftID.allowed.contains($0) })
        else { return nil }
        self.rawValue = text
    }

    /// A fresh random id.
    public static func random() -> DraftID {
        var generator = SystemRandomNumberGenerator()
        return random(using: &generator)
    }

    /// A random id from the given generator (tests pass a seeded one).
    public static func random(using generator: inout some RandomNumberGenerator) -> DraftID {
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789")
        let text = String((0..<22).map { _ in alphabet[Int.random(in: 0..<alphabet.count, using: &generator)] })
        return DraftID(uncheckedRawValue: text)
    }

    private init(uncheckedRawValue: String) { self.rawValue = uncheckedRawValue }

    public var description: String { rawValue }

    public init(from decoder: any Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        guard let id = DraftID(text) else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "bad draft id"))
        }
        self = id
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(rawValue)
    }

    private static let allowed = CharacterSet(
        charactersIn: "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-")
}

/// Where a question was asked and where its answer may be published: a thread in a channel.
public struct ThreadRef: Hashable, Sendable, Codable, CustomStringConvertible {
    public let platform: PlatformName
    /// The channel (Slack `C…`), topic or room.
    public let channel: String
    /// The thread's root message (Slack `thread_ts ?? ts`).
    public let thread: String

    public init(platform: PlatformName, channel: String, thread: String) {
        self.platform = platform
        self.channel = channel
        self.thread = thread
    }

    public var description: String { "\(platform.rawValue):\(channel)/\(thread)" }
}
