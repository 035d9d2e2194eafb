public import Foundation

/// The restricted documents' text, as a check: which restricted documents a text reproduces (a run of words shared
/// with one of their passages). Implemented by the knowledge index; the domain only asks.
public protocol RestrictedContent: Sendable {
    /// The restricted documents `text` reproduces, empty when none.
    func overlap(_ text: String) -> [SourceRef]
}

/// No restricted documents.
public struct NoRestrictedContent: RestrictedContent {
    public init() {}
    public func overlap(_ text: String) -> [SourceRef] { [] }
}

/// Word shingles: the fingerprints of every run of `size` consecutive words (lower-cased letters and digits), used
/// to find restricted text pasted or paraphrased word for word into another text.
public enum Shingles {
    public static let size = 8

    /// The words of `text`, lower-cased, letters and digits only.
    public static func words(_ text: String) -> [Substring] {
        text.lowercased().split(whereSeparator: { !($0.isLetter || $0.isNumber) })
    }

    /// One 64-bit fingerprint per run of `size` words (FNV-1a over the words and separators).
    public static func of(_ text: String, size: Int = Shingles.size) -> Set<UInt64> {
        let words = words(text)
        guard words.count >= size else { return [] }
        var result = Set<UInt64>()
        for start in 0...(words.count - size) {
            var hash: UInt64 = 0xcbf2_9ce4_8422_2325
            for word in words[start..<(start + size)] {
                for byte in word.utf8 {
                    hash ^= UInt64(byte)
                    hash &*= 0x0000_0100_0000_01B3
                }
                hash ^= 0x20
                hash &*= 0x0000_0100_0000_01B3
            }
            result.insert(hash)
        }
        return result
    }
}

/// Makes a text safe to post publicly on one platform: mass mentions become visible text instead of pings, bare
/// links are shown as code (no preview, onebox or unfurl of something nobody approved). What it returns is what
/// approvers are shown and what is posted: the draft holds it.
public struct Neutraliser: Sendable, Hashable {
    /// Mentions that notify many people (`@channel`, `@all`, `@here`, `@everyone`, `@room`), matched as words.
    public var massMentions: [String]
    /// Every `@name` (Discourse: a group mention looks like a user mention).
    public var everyMention: Bool
    /// `@org/team` (GitHub team mentions).
    public var teamMentions: Bool
    /// Slack's `<!channel>`, `<!here>`, `<!everyone>`, `<!subteam^…>` and `<@U…>` control sequences.
    public var slackControls: Bool
    /// Bare `http(s)://` links shown as code, so no preview is made of them.
    public var codeLinks: Bool

    public init(
        massMentions: [String] = [],
        everyMention: Bool = false,
        teamMentions: Bool = false,
        slackControls: Bool = false,
        codeLinks: Bool = true
    ) {
        self.massMentions = massMentions
        self.everyMention = everyMention
        self.teamMentions = teamMentions
        self.slackControls = slackControls
        self.codeLinks = codeLinks
    }

    /// Nothing changed (platforms that render plain text and ping nobody from it).
    public static let none = Neutraliser(codeLinks: false)

    nonisolated(unsafe) static let link = try! NSRegularExpression(pattern: #"(?<![`(<\[])\bhttps?://[^\s<>`)\]]+"#)
    nonisolated(unsafe) static let team = try! NSRegularExpression(
        pattern: #"(?<![`\w])@[A-Za-z0-9][A-Za-z0-9-]*/[A-Za-z0-9][A-Za-z0-9_.-]*"#
    )
    nonisolated(unsafe) static let mention = try! NSRegularExpression(
        pattern: #"(?<![`\w@.])@[A-Za-z0-9_][A-Za-z0-9_.-]*[A-Za-z0-9_]|(?<![`\w@.])@[A-Za-z0-9_]"#
    )

    /// The text as it may be posted.
    public func apply(_ text: String) -> String {
        var out = text
        if slackControls {
            // `<!channel>` and friends, user and group mentions: shown as text, never as controls.
            out = out.replacingOccurrences(of: "<!", with: "&lt;!").replacingOccurrences(of: "<@", with: "&lt;@")
        }
        if teamMentions { out = Self.wrap(Self.team, in: out) }
        if everyMention {
            out = Self.wrap(Self.mention, in: out)
        } else if !massMentions.isEmpty {
            let alternatives = massMentions.map { NSRegularExpression.escapedPattern(for: $0) }.joined(separator: "|")
            let pattern = try! NSRegularExpression(
                pattern: "(?<![`\\w])(?:\(alternatives))\\b",
                options: [.caseInsensitive]
            )
            out = Self.wrap(pattern, in: out)
        }
        if codeLinks { out = Self.wrap(Self.link, in: out) }
        return out
    }

    static func wrap(_ regex: NSRegularExpression, in text: String) -> String {
        let range = NSRange(text.startIndex..., in: text)
        return regex.stringByReplacingMatches(in: text, range: range, withTemplate: "`$0`")
    }
}

/// Markup that a Markdown renderer hides (HTML comments, link reference definitions): readable in the raw post,
/// invisible in the review. Replaced by a visible marker in everything that may be published.
public enum HiddenMarkup {
    nonisolated(unsafe) static let comment = try! NSRegularExpression(pattern: #"<!--[\s\S]*?(?:-->|$)"#)
    nonisolated(unsafe) static let reference = try! NSRegularExpression(
        pattern: #"(?m)^ {0,3}\[[^\]\n]{1,999}\]:[ \t]*\S.*$"#
    )

    /// The text with hidden markup replaced visibly, and the kinds replaced.
    public static func strip(_ text: String) -> (text: String, removed: [String]) {
        guard text.contains("<!--") || text.contains("]:") else { return (text, []) }
        var out = text
        var removed: [String] = []
        for (regex, kind, marker) in [
            (comment, "HTML comment", "[hidden HTML comment removed]"),
            (reference, "link reference definition", "[hidden link reference definition removed]"),
        ] {
            let range = NSRange(out.startIndex..., in: out)
            let count = regex.numberOfMatches(in: out, range: range)
            guard count > 0 else { continue }
            removed += Array(repeating: kind, count: count)
            out = regex.stringByReplacingMatches(
                in: out,
                range: range,
                withTemplate: NSRegularExpression.escapedTemplate(for: marker)
            )
        }
        return (out, removed)
    }
}

/// Every text that crosses a trust boundary goes through here before it is stored, sent or audited.
public enum Screening {
    /// Text that may become public (an agent's answer, a revision): secrets redacted, hidden markup replaced
    /// visibly, neutralised for the platform it would be posted on, checked against restricted documents, and its
    /// advice classified.
    public static func publishable(
        _ raw: String,
        neutraliser: Neutraliser?,
        restricted: any RestrictedContent
    ) -> ScreenedText {
        let (redacted, secrets) = SecretRedactor.redact(raw)
        let (visible, hidden) = HiddenMarkup.strip(redacted)
        let text = neutraliser?.apply(visible) ?? visible
        // Checked on the raw text too: neutralising or redacting must not hide a pasted restricted passage.
        var tainted = restricted.overlap(raw)
        for source in restricted.overlap(text) where !tainted.contains(source) { tainted.append(source) }
        return ScreenedText(
            text: text,
            secrets: secrets,
            risks: RiskClassifier.classify(text),
            restricted: tainted,
            hiddenMarkup: hidden
        )
    }

    /// Text that comes in (a question, a thread message): secrets redacted and checked against restricted documents.
    public static func inbound(_ raw: String, restricted: any RestrictedContent) -> ScreenedText {
        let (redacted, secrets) = SecretRedactor.redact(raw)
        return ScreenedText(
            text: redacted,
            secrets: secrets,
            risks: [],
            restricted: restricted.overlap(raw),
            hiddenMarkup: []
        )
    }
}
