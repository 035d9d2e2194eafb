public import Foundation

/// A chat platform's short name as used in identities and routes (`slack`, `sandbox`, …).
public struct PlatformName: RawRepresentable, Hashable, Sendable, Codable, CustomStringConvertible {
    public let rawValue: String
    public init(rawValue: String) { self.rawValue = rawValue }
    public init(_ rawValue: String) { self.rawValue = rawValue }
    public var description: String { rawValue }

    /// A platform name read from outside (configuration, a stored row): `[a-z][a-z0-9_-]{0,31}`; nil otherwise.
    public static func validated(_ text: String) -> PlatformName? {
        guard let first = text.unicodeScalars.first, ("a"..."z").contains(first), text.unicodeScalars.count <= 32,
            text.unicodeScalars.allSatisfy({
                ("a"..."z").contains($0) || ("0"..."9").contains($0) || $0 == "_" || $0 == "-"
            })
        else { return nil }
        return PlatformName(text)
    }

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

    /// Parses `platform:id`; nil when the platform is not a platform name or the id is not a plain token
    /// (see `Identifier.isPlainToken`).
    public init?(parsing text: String) {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        guard let colon = trimmed.firstIndex(of: ":") else { return nil }
        let id = String(trimmed[trimmed.index(after: colon)...])
        guard let platform = PlatformName.validated(String(trimmed[..<colon]).lowercased()), Identifier.isPlainToken(id)
        else { return nil }
        self.init(platform: platform, id: id)
    }

    public var description: String { "\(platform.rawValue):\(id)" }

    public static func < (lhs: PersonID, rhs: PersonID) -> Bool { lhs.description < rhs.description }

    public init(from decoder: any Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        guard let parsed = PersonID(parsing: text) else {
            throw DecodingError.dataCorrupted(
                .init(codingPath: decoder.codingPath, debugDescription: "not platform:id")
            )
        }
        self = parsed
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }
}

/// A draft's id: 22 characters from `[A-Za-z0-9]` that cannot be guessed. A new draft's id (`new(at:)`) starts
/// with its creation time, so ids made later sort later and the database's indexes on them grow at one end instead
/// of touching a random page per draft; the other 15 characters are random (about 89 bits).
public struct DraftID: Hashable, Sendable, Codable, CustomStringConvertible {
    public let rawValue: String

    /// Accepts only ids that match `[A-Za-z0-9_-]{6,40}`.
    public init?(_ text: String) {
        guard (6...40).contains(text.count),
            text.unicodeScalars.allSatisfy({ DraftID.allowed.contains($0) })
        else { return nil }
        self.rawValue = text
    }

    /// A new draft's id: the creation time in milliseconds as 7 base-62 digits (in ASCII order, good until the
    /// year 2081), then 15 random characters.
    public static func new(at date: Date) -> DraftID {
        var generator = SystemRandomNumberGenerator()
        return new(at: date, using: &generator)
    }

    /// `new(at:)` with the given generator (tests pass a seeded one).
    public static func new(at date: Date, using generator: inout some RandomNumberGenerator) -> DraftID {
        var millis = UInt64(max(0, date.millis))
        var prefix = [UInt8](repeating: 0, count: 7)
        for index in prefix.indices.reversed() {
            prefix[index] = orderedDigits[Int(millis % 62)]
            millis /= 62
        }
        return DraftID(
            uncheckedRawValue: String(decoding: prefix + randomCharacters(15, using: &generator), as: UTF8.self)
        )
    }

    /// 22 random characters (about 131 bits), for tokens that must reveal nothing.
    public static func random() -> DraftID {
        var generator = SystemRandomNumberGenerator()
        return random(using: &generator)
    }

    /// A random id from the given generator (tests pass a seeded one).
    ///
    /// Each character comes from one random byte below 248 (= 62 × 4, so `byte % 62` is uniform; larger bytes are
    /// drawn again), eight bytes per `next()`: three or four draws instead of one per character (the system
    /// generator makes a system call per draw).
    public static func random(using generator: inout some RandomNumberGenerator) -> DraftID {
        DraftID(uncheckedRawValue: String(decoding: randomCharacters(22, using: &generator), as: UTF8.self))
    }

    private static func randomCharacters(_ count: Int, using generator: inout some RandomNumberGenerator) -> [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(count)
        while bytes.count < count {
            var word = generator.next()
            for _ in 0..<8 where bytes.count < count {
                let byte = UInt8(truncatingIfNeeded: word)
                word >>= 8
                if byte < 248 { bytes.append(alphabet[Int(byte % 62)]) }
            }
        }
        return bytes
    }

    private static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789".utf8)
    /// The same 62 characters in ASCII order, so that the time prefix sorts as the time does.
    private static let orderedDigits = Array("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz".utf8)

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
        charactersIn: "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-"
    )
}

/// Where a question was asked and where its answer may be published: a thread in a channel.
public struct ThreadRef: Hashable, Sendable, Codable, CustomStringConvertible {
    public let platform: PlatformName
    /// The channel (Slack `C…`), topic or room.
    public let channel: String
    /// The thread's root message (Slack `thread_ts ?? ts`).
    public let thread: String
    /// What people call the place and who can read it, as the platform said when the question was answered; bound
    /// into the content hash and re-checked before the post. Nil where the platform cannot tell. Not part of the
    /// thread's identity.
    public var place: Place?
    /// The message that mentioned the bot, when it is not the thread's root (a reply under someone else's
    /// question): the agent reads the thread up to it. Not part of the thread's identity.
    public var mention: String?

    public init(platform: PlatformName, channel: String, thread: String, place: Place? = nil, mention: String? = nil) {
        self.platform = platform
        self.channel = channel
        self.thread = thread
        self.place = place
        self.mention = mention
    }

    public var description: String { "\(platform.rawValue):\(channel)/\(thread)" }

    public static func == (lhs: ThreadRef, rhs: ThreadRef) -> Bool {
        lhs.platform == rhs.platform && lhs.channel == rhs.channel && lhs.thread == rhs.thread
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(platform)
        hasher.combine(channel)
        hasher.combine(thread)
    }
}

/// A thread's place: its human name and who can read it.
public struct Place: Hashable, Sendable, Codable, CustomStringConvertible {
    /// Who can read a place, from fewest to most.
    public enum Visibility: String, Hashable, Sendable, Codable, Comparable {
        /// Invited members only (a private channel, an invite-only room, a private repository).
        case `private`
        /// Everyone in the organisation (an internal repository, a staff-only category).
        case organisation
        /// Anyone who can reach the platform (a public channel, a public repository, a public room).
        case `public`

        var rank: Int {
            switch self {
            case .private: 0
            case .organisation: 1
            case .public: 2
            }
        }

        public static func < (a: Visibility, b: Visibility) -> Bool { a.rank < b.rank }
    }

    public var name: String
    public var visibility: Visibility

    public init(name: String, visibility: Visibility) {
        self.name = name
        self.visibility = visibility
    }

    /// `#ops-help (private)`.
    public var description: String { "\(name) (\(visibility.rawValue))" }
}

/// The rules every identifier that crosses the edge obeys, whatever its platform's own grammar adds.
public enum Identifier {
    /// 1–255 Unicode scalars, none of them a control or format character (NUL, C0/C1, bidi overrides,
    /// zero-width joiners) or a separator (spaces, line and paragraph separators).
    public static func isPlainToken(_ text: String, maxLength: Int = 255) -> Bool {
        let scalars = text.unicodeScalars
        guard !scalars.isEmpty, scalars.count <= maxLength else { return false }
        return scalars.allSatisfy { scalar in
            switch scalar.properties.generalCategory {
            case .control, .format, .spaceSeparator, .lineSeparator, .paragraphSeparator, .surrogate, .unassigned,
                .privateUse:
                false
            default: true
            }
        }
    }

    /// True when every byte of `text` is an ASCII letter, digit or one of `extra`, and its length is in `lengths`.
    public static func isASCII(_ text: String, lengths: ClosedRange<Int>, extra: Set<Character> = []) -> Bool {
        let utf8 = text.utf8
        guard lengths.contains(utf8.count) else { return false }
        let allowed = Set(extra.compactMap(\.asciiValue))
        return utf8.allSatisfy { byte in
            (48...57).contains(byte) || (65...90).contains(byte) || (97...122).contains(byte) || allowed.contains(byte)
        }
    }

    /// ASCII-case-insensitive substring search over UTF-8 bytes (`needle` already lower-case ASCII). Cheap enough to
    /// run many times over an answer before deciding which regular expressions to try.
    public static func containsLowercased(_ haystack: [UInt8], _ needle: [UInt8]) -> Bool {
        guard !needle.isEmpty, haystack.count >= needle.count else { return needle.isEmpty }
        let first = needle[0]
        var index = 0
        let last = haystack.count - needle.count
        while index <= last {
            if lower(haystack[index]) == first {
                var matched = true
                var offset = 1
                while offset < needle.count {
                    if lower(haystack[index + offset]) != needle[offset] {
                        matched = false
                        break
                    }
                    offset += 1
                }
                if matched { return true }
            }
            index += 1
        }
        return false
    }

    @inline(__always) static func lower(_ byte: UInt8) -> UInt8 { (65...90).contains(byte) ? byte + 32 : byte }
}
