import Foundation

/// A command as typed, before the draft is loaded: `/publish <id>`, `/airlock approve <id>`, `revise <id> text`.
public enum ChatCommand: Hashable, Sendable {
    case onDraft(rawID: String, command: DraftCommand)
    case listDrafts
    case help

    /// Why a command line could not be read; `userMessage` is what the sender is told.
    public enum ParseError: Error, Hashable, Sendable {
        case unknownCommand(String)
        case missingDraftID(command: String)
        case malformedDraftID(String)

        public var code: String {
            switch self {
            case .unknownCommand: "unknown_command"
            case .missingDraftID: "missing_draft_id"
            case .malformedDraftID: "malformed_draft_id"
            }
        }

        public var userMessage: String {
            switch self {
            case .unknownCommand(let name):
                "Unknown command `\(name)`. " + ChatCommand.usage
            case .missingDraftID(let command):
                "`\(command)` needs a draft id, e.g. `/\(command) AbC123xyz`. Send /drafts to list yours."
            case .malformedDraftID(let text):
                "`\(text.prefix(60))` is not a draft id (6–40 letters, digits, _ or -). Send /drafts to list yours."
            }
        }
    }

    /// The commands, one line.
    public static let usage =
        "Commands: /publish <id>, /approve <id>, /reject <id> [reason], /revise <id> <text>, /drafts."

    /// Parses a command name (with or without `/`) and its argument text. `airlock` is the umbrella command.
    public static func parse(name: String, text: String) -> Result<ChatCommand, ParseError> {
        var command = name.trimmingCharacters(in: .whitespaces).lowercased()
        if command.hasPrefix("/") { command.removeFirst() }
        var rest = text.trimmingCharacters(in: .whitespacesAndNewlines)
        if command == "airlock" {
            let (sub, remainder) = splitFirstWord(rest)
            if sub.isEmpty { return .success(.help) }
            command = sub.lowercased()
            if command.hasPrefix("/") { command.removeFirst() }
            rest = remainder
        }
        switch command {
        case "drafts", "list": return .success(.listDrafts)
        case "help": return .success(.help)
        case "publish", "approve", "reject", "revise":
            let (rawID, argument) = splitFirstWord(rest)
            guard !rawID.isEmpty else { return .failure(.missingDraftID(command: command)) }
            guard DraftID(rawID) != nil else { return .failure(.malformedDraftID(rawID)) }
            let draftCommand: DraftCommand =
                switch command {
                case "publish": .publish
                case "approve": .approve(version: nil)
                case "reject": .reject(reason: argument.isEmpty ? nil : argument)
                default: .revise(text: argument)
                }
            return .success(.onDraft(rawID: rawID, command: draftCommand))
        default:
            return .failure(.unknownCommand(command.isEmpty ? name : command))
        }
    }

    /// Reads a DM line such as `publish AbC123` or `/approve AbC123`; nil when it is not a command (a question).
    public static func parseDirectMessage(_ text: String) -> Result<ChatCommand, ParseError>? {
        let (first, rest) = splitFirstWord(text.trimmingCharacters(in: .whitespacesAndNewlines))
        var word = first.lowercased()
        if word.hasPrefix("/") { word.removeFirst() }
        guard ["publish", "approve", "reject", "revise", "drafts", "airlock"].contains(word) else { return nil }
        return parse(name: word, text: rest)
    }

    static func splitFirstWord(_ text: String) -> (String, String) {
        let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
        guard let space = trimmed.firstIndex(where: { $0.isWhitespace }) else { return (trimmed, "") }
        return (
            String(trimmed[..<space]),
            String(trimmed[space...]).trimmingCharacters(in: .whitespacesAndNewlines)
        )
    }
}

/// What an adapter made of one verified inbound delivery.
public enum InboundAction: Hashable, Sendable {
    /// Someone asked the bot a question; `target` is the public thread (nil for a DM).
    case question(asker: Actor, text: String, target: ThreadRef?)
    /// Someone sent a command (DM line, slash command or button).
    case command(actor: Actor, command: Result<ChatCommand, ChatCommand.ParseError>)
    /// A well-formed delivery Airlock does not act on (a bot's message, an edit, another event type).
    case ignored(reason: String)
}

