import AirlockDomain

/// Draft-id validation for CLI options.
enum DraftIDCheck {
    static func isValid(_ text: String) -> Bool { DraftID(text) != nil }
    static func parse(_ text: String) -> DraftID? { DraftID(text) }
}
