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
        case malformedVersion(command: String, text: String)

        public var code: String {
            switch self {
            case .malformedVersion: "malformed_version"
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
            case .malformedVersion(let command, let text):
                "`\(text.prefix(40))` is not a version: use `/\(command) <id> v<number>` with the version you were shown."
            case .malformedDraftID(let text):
                "`\(text.prefix(60))` is not a draft id (6–40 letters, digits, _ or -). Send /drafts to list yours."
            }
        }
    }

    /// The commands, one line.
    public static let usage =
        "Commands: /publish <id>, /approve <id> v<version>, /reject <id> [reason], /revise <id> <text>, /ask <id> <instruction>, /drafts."

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
        case "publish", "approve", "reject", "revise", "ask":
            let (rawID, argument) = splitFirstWord(rest)
            guard !rawID.isEmpty else { return .failure(.missingDraftID(command: command)) }
            guard DraftID(rawID) != nil else { return .failure(.malformedDraftID(rawID)) }
            let draftCommand: DraftCommand
            switch command {
            case "publish", "approve":
                // An optional `vN` names the version the sender was shown.
                var version: Int?
                if !argument.isEmpty {
                    guard argument.hasPrefix("v") || argument.hasPrefix("V"), let number = Int(argument.dropFirst()),
                        number > 0
                    else { return .failure(.malformedVersion(command: command, text: argument)) }
                    version = number
                }
                draftCommand = command == "publish" ? .publish(version: version) : .approve(version: version)
            case "reject": draftCommand = .reject(reason: argument.isEmpty ? nil : argument)
            case "ask": draftCommand = .ask(instruction: argument)
            default: draftCommand = .revise(text: argument)
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
        guard ["publish", "approve", "reject", "revise", "ask", "drafts", "airlock"].contains(word) else { return nil }
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

/// How a command's answer reaches its sender.
public enum ReplyRoute: Hashable, Sendable {
    /// In the HTTP response to the delivery (Slack slash commands: an ephemeral message).
    case inResponse
    /// By a private message (a command typed in a DM, a button click).
    case directMessage
}

/// What an adapter made of one verified inbound delivery.
public enum InboundAction: Hashable, Sendable {
    /// Someone asked the bot a question; `target` is the public thread (nil for a DM).
    case question(asker: Actor, text: String, target: ThreadRef?)
    /// Someone sent a command (DM line, slash command or button); `reply` says how they are answered.
    case command(actor: Actor, command: Result<ChatCommand, ChatCommand.ParseError>, reply: ReplyRoute)
    /// A well-formed delivery Airlock does not act on (a bot's message, an edit, another event type).
    case ignored(reason: String)
    /// A well-formed command Airlock refuses before the gate (its sender is not someone Airlock can name):
    /// recorded with `reason`, and `told` is the answer in the response.
    case refused(reason: String, told: String)
}
