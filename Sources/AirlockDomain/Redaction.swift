public import Foundation

/// One secret found in a text and replaced by a marker.
public struct RedactedSecret: Hashable, Sendable, Codable {
    /// What it looked like (`AWS access key id`, `Slack token`, …), never the value.
    public var kind: String
    public init(kind: String) { self.kind = kind }
}

/// Finds credentials in an answer before it is stored or sent and replaces each by `[redacted: <kind>]`.
///
/// Rules are specific shapes (AWS key ids, GitHub/Slack tokens, JWTs, PEM private keys, passwords inside URLs) plus
/// assignments to secret-looking names whose value is long and random enough; placeholders (`<password>`,
/// `${TOKEN}`, `changeme`, all-caps variable names) are left alone.
public enum SecretRedactor {
    struct Rule: @unchecked Sendable {
        // Safe: NSRegularExpression is immutable once built and documented as thread-safe for matching.
        let kind: String
        let regex: NSRegularExpression
        /// The capture group to replace (0 = the whole match).
        let group: Int
        /// Extra check on the captured value.
        let accept: @Sendable (String) -> Bool
        /// The rule can only match text that contains one of these (lower-cased); checked before the regex runs.
        let hints: [String]
    }

    static func rule(
        _ kind: String,
        _ pattern: String,
        group: Int = 0,
        hints: [String],
        accept: @escaping @Sendable (String) -> Bool = { _ in true }
    ) -> Rule {
        // The patterns are constants of this file; a typo is a programming error caught by the tests.
        Rule(
            kind: kind,
            regex: try! NSRegularExpression(pattern: pattern, options: []),
            group: group,
            accept: accept,
            hints: hints
        )
    }

    static let rules: [Rule] = [
        rule(
            "PEM private key",
            #"-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----[\s\S]*?-----END [A-Z0-9 ]*PRIVATE KEY-----"#,
            hints: ["private key-----"]
        ),
        rule(
            "AWS access key id",
            #"\b(?:AKIA|ASIA|AGPA|AIDA|AROA)[A-Z0-9]{16}\b"#,
            hints: ["akia", "asia", "agpa", "aida", "aroa"]
        ),
        rule(
            "AWS secret access key",
            #"(?i)aws_?secret_?access_?key["']?\s*[:=]\s*["']?([A-Za-z0-9/+=]{40})\b"#,
            group: 1,
            hints: ["secret"]
        ),
        rule("GitHub token", #"\b(?:ghp|gho|ghu|ghs|ghr)_[A-Za-z0-9]{36,255}\b"#, hints: ["gh"]),
        rule("GitHub token", #"\bgithub_pat_[A-Za-z0-9_]{22,255}\b"#, hints: ["github_pat_"]),
        rule("Slack token", #"\bxox[abposre]-[A-Za-z0-9-]{10,}"#, hints: ["xox"]),
        rule(
            "Slack webhook URL",
            #"https://hooks\.slack\.com/(?:services|workflows)/[A-Za-z0-9/_-]+"#,
            hints: ["hooks.slack.com"]
        ),
        rule("JWT", #"\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}"#, hints: ["eyj"]),
        rule("API key", #"\bsk-(?:proj-|ant-)?[A-Za-z0-9_-]{20,}"#, hints: ["sk-"]),
        rule(
            "password in a URL",
            #"\b[a-zA-Z][a-zA-Z0-9+.-]*://[^\s:/@]+:([^\s@/]+)@"#,
            group: 1,
            hints: ["://"],
            accept: { !isPlaceholder($0) }
        ),
        rule(
            "secret assignment",
            #"(?i)\b[a-z0-9_-]*?(?:password|passwd|pwd|secret|token|api[_-]?key|access[_-]?key|client[_-]?secret|private[_-]?key)\b["']?\s*[:=]\s*["']?([^\s"'`,;]{8,})"#,
            group: 1,
            hints: ["pass", "pwd", "secret", "token", "key"],
            accept: { !isPlaceholder($0) && looksRandom($0) }
        ),
    ]

    /// True when one of `names` (lower-case ASCII) is followed, within a few characters, by `:` or `=` and then a
    /// value that is not `[redacted…`: the cheap test before the assignment rule's regex.
    static func hasUnredactedAssignment(_ bytes: [UInt8], names: [String]) -> Bool {
        let redacted = Array("[redacted".utf8)
        for name in names {
            let needle = Array(name.utf8)
            guard needle.count <= bytes.count else { continue }
            var index = 0
            while index + needle.count <= bytes.count {
                var matched = true
                for offset in 0..<needle.count where Identifier.lower(bytes[index + offset]) != needle[offset] {
                    matched = false
                    break
                }
                if matched {
                    // The rest of the name (`word` of `password`, `_key`), an optional quote, spaces, then `:` or `=`.
                    var cursor = index + needle.count
                    func isNameByte(_ b: UInt8) -> Bool {
                        (48...57).contains(b) || (65...90).contains(b) || (97...122).contains(b)
                            || b == UInt8(ascii: "_") || b == UInt8(ascii: "-")
                    }
                    while cursor < bytes.count, isNameByte(bytes[cursor]) { cursor += 1 }
                    if cursor < bytes.count, bytes[cursor] == UInt8(ascii: "\"") || bytes[cursor] == UInt8(ascii: "'") {
                        cursor += 1
                    }
                    while cursor < bytes.count,
                        [UInt8(ascii: " "), UInt8(ascii: "\t"), UInt8(ascii: "\n"), UInt8(ascii: "\r")].contains(
                            bytes[cursor]
                        )
                    {
                        cursor += 1
                    }
                    if cursor < bytes.count, bytes[cursor] == UInt8(ascii: ":") || bytes[cursor] == UInt8(ascii: "=") {
                        var value = cursor + 1
                        while value < bytes.count,
                            [
                                UInt8(ascii: " "), UInt8(ascii: "\t"), UInt8(ascii: "\n"), UInt8(ascii: "\r"),
                                UInt8(ascii: "\""), UInt8(ascii: "'"),
                            ].contains(bytes[value])
                        {
                            value += 1
                        }
                        if value < bytes.count, !bytes[value...].starts(with: redacted) { return true }
                    }
                }
                index += 1
            }
        }
        return false
    }

    /// The text with every secret replaced, and what was replaced (kinds only).
    public static func redact(_ text: String) -> (text: String, secrets: [RedactedSecret]) {
        var output = text
        var found: [RedactedSecret] = []
        let bytes = Array(text.utf8)
        for rule in rules where rule.hints.contains(where: { Identifier.containsLowercased(bytes, Array($0.utf8)) }) {
            // The assignment rule's names (`token`, `key`…) are in every recorded body as field names whose values
            // were already replaced: run its regex only where a name is followed by a value that is not.
            if rule.kind == "secret assignment", !hasUnredactedAssignment(bytes, names: rule.hints) { continue }
            let source = output as NSString
            let matches = rule.regex.matches(in: output, range: NSRange(location: 0, length: source.length))
            guard !matches.isEmpty else { continue }
            var rebuilt = ""
            var cursor = 0
            for match in matches {
                let range = match.range(at: rule.group)
                guard range.location != NSNotFound else { continue }
                let value = source.substring(with: range)
                guard rule.accept(value), !value.hasPrefix("[redacted") else { continue }
                rebuilt += source.substring(with: NSRange(location: cursor, length: range.location - cursor))
                rebuilt += "[redacted: \(rule.kind)]"
                cursor = range.location + range.length
                found.append(RedactedSecret(kind: rule.kind))
            }
            rebuilt += source.substring(from: cursor)
            output = rebuilt
        }
        return (output, found)
    }

    /// `<password>`, `${TOKEN}`, `{{ secret }}`, `$PASSWORD`, `YOUR_API_KEY`, `changeme`, `xxxxxxxx`, `********`…
    static func isPlaceholder(_ value: String) -> Bool {
        let lowered = value.lowercased()
        if value.contains("<") || value.contains("${") || value.contains("{{") || value.hasPrefix("$")
            || value.hasPrefix("%")
        {
            return true
        }
        if value.allSatisfy({ $0.isUppercase || $0 == "_" || $0.isNumber }) && value.contains(where: \.isLetter) {
            return true
        }
        if ["changeme", "example", "placeholder", "password", "redacted", "secret", "your", "dummy", "sample"]
            .contains(where: { lowered.contains($0) })
        {
            return true
        }
        if Set(value).count <= 2 { return true }
        return false
    }

    /// Long enough and mixed enough to be a real secret: ≥ 3.0 bits of entropy per character and at least two of
    /// lower case, upper case, digits, symbols.
    static func looksRandom(_ value: String) -> Bool {
        let characters = Array(value)
        guard characters.count >= 8 else { return false }
        var counts: [Character: Int] = [:]
        for c in characters { counts[c, default: 0] += 1 }
        let n = Double(characters.count)
        let entropy = counts.values.reduce(0.0) { sum, count in
            let p = Double(count) / n
            return sum - p * log2(p)
        }
        let classes = [
            characters.contains(where: \.isLowercase), characters.contains(where: \.isUppercase),
            characters.contains(where: \.isNumber), characters.contains(where: { !$0.isLetter && !$0.isNumber }),
        ].filter { $0 }.count
        return entropy >= 3.0 && classes >= 2
    }
}
