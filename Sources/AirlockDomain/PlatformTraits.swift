/// What the domain needs to know about a platform's rules, supplied by the platform's own module (never decided by
/// a switch on platform names here): how its ids compare, how long a public post may be, and what an open-approval
/// scope names on it.
public struct PlatformTraits: Sendable, Hashable {
    /// How a platform's person ids compare.
    public enum IDCase: Sendable, Hashable {
        /// Exactly as given (Matrix user ids, numeric ids).
        case sensitive
        /// Upper-cased (Slack `U…` ids).
        case upper
        /// Lower-cased (Mattermost ids, the sandbox's names).
        case lower
    }

    public var idCase: IDCase
    /// The longest answer text that can be published there (the platform's limit less room for the footer),
    /// checked at `/publish` so nobody approves a text the platform will refuse.
    public var maxPublicLength: Int
    /// What an `AIRLOCK_OPEN_APPROVAL` scope names on this platform (`workspace id`, `homeserver`, …), for messages.
    public var scopeName: String
    /// How a text is made safe to post there (mass mentions, previews); applied when the draft's text is set, so
    /// approvers review exactly what would be posted.
    public var neutraliser: Neutraliser

    public init(idCase: IDCase, maxPublicLength: Int, scopeName: String, neutraliser: Neutraliser = .none) {
        self.idCase = idCase
        self.maxPublicLength = maxPublicLength
        self.scopeName = scopeName
        self.neutraliser = neutraliser
    }

    /// `id` in this platform's canonical case.
    public func canonical(_ id: String) -> String {
        switch idCase {
        case .sensitive: id
        case .upper: id.uppercased()
        case .lower: id.lowercased()
        }
    }
}
