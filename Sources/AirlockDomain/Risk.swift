public import Foundation

/// What an answer's advice does that a security-minded reviewer must look at.
public enum RiskCategory: String, Hashable, Sendable, Codable, CaseIterable, Comparable {
    case accessControl = "access_control"
    case credentials
    case securityControls = "security_controls"
    case dataDeletionOrExport = "data_deletion_or_export"
    case destructiveCommand = "destructive_command"

    public static func < (a: RiskCategory, b: RiskCategory) -> Bool { a.rawValue < b.rawValue }

    /// A short phrase for messages.
    public var label: String {
        switch self {
        case .accessControl: "changes access control or permissions"
        case .credentials: "shares or rotates credentials"
        case .securityControls: "disables a security control"
        case .dataDeletionOrExport: "deletes or exports data"
        case .destructiveCommand: "runs a destructive command"
        }
    }
}

/// A rule that matched, with the words that made it match (shown to requester and approver).
public struct RiskFinding: Hashable, Sendable, Codable {
    public var category: RiskCategory
    public var reason: String

    public init(category: RiskCategory, reason: String) {
        self.category = category
        self.reason = reason
    }

    /// `changes access control or permissions ("grant … admin")`.
    public var description: String { "\(category.label) (\"\(reason)\")" }
}

/// Classifies an answer's advice by rules. Each rule is a regular expression over the lower-cased text; the first
/// matching phrase is the finding's reason.
public enum RiskClassifier {
    struct Rule: @unchecked Sendable {
        // Safe: NSRegularExpression is immutable and thread-safe for matching.
        let category: RiskCategory
        let regex: NSRegularExpression
        /// Lower-cased words one of which the text must contain for the rule to be tried.
        let hints: [String]
    }

    static func rule(_ category: RiskCategory, _ pattern: String, hints: [String]) -> Rule {
        Rule(
            category: category,
            regex: try! NSRegularExpression(pattern: pattern, options: [.caseInsensitive]),
            hints: hints
        )
    }

    static let rules: [Rule] = [
        rule(
            .accessControl,
            #"\b(?:grant|give|add|assign|elevate|promote)(?:s|ed|ing)?\b[^.\n]{0,60}\b(?:admin|administrator|owner|root|superuser|sudo|write access|full access|permission|role)s?\b"#,
            hints: ["grant", "give", "add", "assign", "elevate", "promote"]
        ),
        rule(
            .accessControl,
            #"\b(?:chmod\s+(?:-r\s+)?(?:777|666|o\+w|a\+w)|setfacl|iam:\*|"action"\s*:\s*"\*"|principal"?\s*:\s*"\*")"#,
            hints: ["chmod", "setfacl", "iam:", "\"action\"", "principal"]
        ),
        rule(
            .accessControl,
            #"\b(?:make|set)\b[^.\n]{0,40}\b(?:public|world[- ]readable|everyone)\b"#,
            hints: ["make", "set"]
        ),
        rule(
            .accessControl,
            #"\b(?:add|invite)\b[^.\n]{0,40}\bto\b[^.\n]{0,30}\b(?:admins?|owners?|sudoers|wheel)\b"#,
            hints: ["add", "invite"]
        ),
        rule(
            .credentials,
            #"\b(?:share|shares|sharing|send|sends|sent|paste|pasted|post|posts|posted|email|emailed|give|gives)\b[^.\n]{0,50}\b(?:password|passwords|credentials?|secret|token|api key|private key|ssh key)s?\b"#,
            hints: ["share", "send", "sent", "paste", "post", "email", "give"]
        ),
        rule(
            .credentials,
            #"\b(?:the|our|shared|admin|root|master)\s+(?:password|passphrase)\s+(?:is|=|:)"#,
            hints: ["password", "passphrase"]
        ),
        rule(
            .credentials,
            #"\b(?:rotate|reset|regenerate|revoke)(?:s|d|ing)?\b[^.\n]{0,40}\b(?:password|credentials?|secret|token|key)s?\b"#,
            hints: ["rotate", "reset", "regenerate", "revoke"]
        ),
        rule(
            .securityControls,
            #"\b(?:disable|turn off|bypass|skip|deactivate)(?:s|d|ed|ing)?\b[^.\n]{0,40}\b(?:mfa|2fa|two-factor|firewall|tls|ssl verification|certificate check|audit log|auditing|logging|antivirus|selinux|sso|waf|rate limit)s?\b"#,
            hints: ["disable", "turn off", "bypass", "skip", "deactivate"]
        ),
        rule(
            .securityControls,
            #"(?:--insecure|-k\b|verify\s*=\s*false|--no-verify|setenforce 0|ufw disable)"#,
            hints: ["insecure", "-k", "verify", "no-verify", "setenforce", "ufw"]
        ),
        rule(
            .dataDeletionOrExport,
            #"\b(?:delete|drop|truncate|purge|wipe|erase)(?:s|d|ed|ing)?\b[^.\n]{0,40}\b(?:table|database|data|records|rows|bucket|backups?|logs?|users?)\b"#,
            hints: ["delete", "drop", "truncate", "purge", "wipe", "erase"]
        ),
        rule(
            .dataDeletionOrExport,
            #"\b(?:export|dump|download|copy|extract)(?:s|ed|ing)?\b[^.\n]{0,40}\b(?:customer|user|personal|production)\b[^.\n]{0,20}\b(?:data|records|table|database|emails?)\b"#,
            hints: ["export", "dump", "download", "copy", "extract"]
        ),
        rule(
            .dataDeletionOrExport,
            #"\b(?:pg_dump|mysqldump|mongoexport)\b"#,
            hints: ["pg_dump", "mysqldump", "mongoexport"]
        ),
        rule(
            .destructiveCommand,
            #"(?:\brm\s+-[a-z]*r[a-z]*f|\brm\s+-[a-z]*f[a-z]*r|\bmkfs\b|\bdd\s+if=|--force\b|\bforce[- ]push|git\s+push\s+-f\b|git\s+reset\s+--hard|kubectl\s+delete|terraform\s+destroy|drop\s+database|curl[^|\n]*\|\s*(?:sudo\s+)?(?:ba)?sh)"#,
            hints: ["rm ", "mkfs", "dd ", "force", "push", "reset", "kubectl", "terraform", "drop", "curl"]
        ),
    ]

    /// Every category that applies, with the first phrase that made each apply. A single line break is read as
    /// the space it renders as (Markdown joins wrapped lines), so a hard-wrapped "grant them the\nadmin role" is
    /// found; a blank line still ends the paragraph.
    public static func classify(_ raw: String) -> [RiskFinding] {
        let text = unwrapped(raw)
        var findings: [RiskFinding] = []
        let range = NSRange(location: 0, length: (text as NSString).length)
        let bytes = Array(text.utf8)
        for rule in rules
        where !findings.contains(where: { $0.category == rule.category })
            && rule.hints.contains(where: { Identifier.containsLowercased(bytes, Array($0.utf8)) })
        {
            let matches = rule.regex.matches(in: text, range: range)
            // "do not delete audit logs" is a warning, not advice to delete them.
            if let match = matches.first(where: { !isNegated(text as NSString, before: $0.range.location) }) {
                let phrase = (text as NSString).substring(with: match.range)
                let short = phrase.count > 60 ? String(phrase.prefix(57)) + "…" : phrase
                findings.append(
                    RiskFinding(category: rule.category, reason: short.replacingOccurrences(of: "\n", with: " "))
                )
            }
        }
        return findings.sorted { $0.category < $1.category }
    }

    static func unwrapped(_ text: String) -> String {
        guard text.contains("\n") else { return text }
        var result = ""
        result.reserveCapacity(text.utf8.count)
        var previous: Character = " "
        var characters = text.makeIterator()
        var pending = characters.next()
        while let c = pending {
            let next = characters.next()
            if c == "\n", previous != "\n", next != "\n", next != nil {
                result.append(" ")
            } else {
                result.append(c)
            }
            previous = c
            pending = next
        }
        return result
    }

    static let negations = [
        "not", "never", "don't", "don’t", "do not", "must not", "mustn't", "should not", "shouldn't", "no need to",
        "avoid", "without", "cannot", "can't", "won't", "will not", "never ever",
    ]

    /// True only when a negation governs the matched verb: it is the word (or words) right before the match, in
    /// the same clause ("do not delete", "never disable", "without disabling"). A negation elsewhere — "It is not
    /// hard: disable MFA", "Do not wait; grant them admin" — does not cancel the finding.
    static func isNegated(_ text: NSString, before location: Int) -> Bool {
        let start = max(0, location - 24)
        var window = text.substring(with: NSRange(location: start, length: location - start)).lowercased()
        while let last = window.last, last == " " || last == "\t" { window.removeLast() }
        for adverb in [" ever", " accidentally", " just", " simply"] where window.hasSuffix(adverb) {
            window.removeLast(adverb.count)
        }
        return negations.contains { negation in
            guard window.hasSuffix(negation) else { return false }
            let before = window.dropLast(negation.count).last
            return before == nil || !(before!.isLetter || before!.isNumber)
        }
    }
}
