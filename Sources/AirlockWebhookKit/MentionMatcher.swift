import Foundation

/// Finds `@name` mentions as whole words, the way chat platforms link them: `Hi @airlock,`, `**@airlock** …` and
/// `@airlock\nhow do I…` mention `airlock`; `@airlock-fan`, `@airlock.bot` and `x@airlock.example` do not.
public enum MentionMatcher {
    /// The text with every mention of `@name` removed (case-insensitive), and whether there was one.
    public static func strip(_ name: String, in text: String) -> (text: String, mentioned: Bool) {
        let needle = Array(("@" + name).lowercased())
        let characters = Array(text)
        var out: [Character] = []
        out.reserveCapacity(characters.count)
        var mentioned = false
        var index = 0
        while index < characters.count {
            if characters[index] == "@", matches(needle, in: characters, at: index) {
                mentioned = true
                index += needle.count
                continue
            }
            out.append(characters[index])
            index += 1
        }
        return (String(out).trimmingCharacters(in: .whitespacesAndNewlines), mentioned)
    }

    /// True when `text` mentions `@name`.
    public static func mentions(_ name: String, in text: String) -> Bool { strip(name, in: text).mentioned }

    static func matches(_ needle: [Character], in characters: [Character], at index: Int) -> Bool {
        guard index + needle.count <= characters.count else { return false }
        for offset in 0..<needle.count where characters[index + offset].lowercased() != String(needle[offset]) {
            return false
        }
        if index > 0, continuesAddress(characters[index - 1]) { return false }
        let after = index + needle.count
        guard after < characters.count else { return true }
        let next = characters[after]
        if next == "." {
            // A full stop ends a sentence; `@airlock.bot` is another name.
            return after + 1 >= characters.count || !isNameCharacter(characters[after + 1])
        }
        return !isNameCharacter(next)
    }

    /// Characters that continue a user name.
    static func isNameCharacter(_ c: Character) -> Bool { c.isLetter || c.isNumber || c == "_" || c == "-" }

    /// Characters that, just before `@`, make it part of an address or another token rather than a mention.
    static func continuesAddress(_ c: Character) -> Bool {
        isNameCharacter(c) || c == "." || c == "@" || c == "/" || c == "+"
    }
}
