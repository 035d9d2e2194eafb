public import Foundation

/// A button under a message that runs a gate command on a draft.
public struct MessageAction: Hashable, Sendable, Codable {
    /// `publish`, `approve` or `reject`.
    public var command: String
    public var draftID: DraftID
    public var version: Int

    public init(command: String, draftID: DraftID, version: Int) {
        self.command = command
        self.draftID = draftID
        self.version = version
    }

    /// The button's value: `<draft id>:<version>`.
    public var value: String { "\(draftID.rawValue):\(version)" }

    /// Reads a button value back.
    public static func parse(value: String) -> (DraftID, Int)? {
        let parts = value.split(separator: ":")
        guard parts.count == 2, let id = DraftID(String(parts[0])), let version = Int(parts[1]) else { return nil }
        return (id, version)
    }
}

/// A private message to one person.
public struct OutboundMessage: Hashable, Sendable, Codable {
    public var text: String
    public var actions: [MessageAction]
    /// Set by the job worker (`job-<id>`): platforms that can tag a message with it find a copy sent before a
    /// crash instead of sending it twice.
    public var deliveryKey: String?
    /// True when the text quotes restricted documents: the audit log records its length and hash, never the text.
    public var confidential: Bool?
    /// The draft a reply to this message is a follow-up on (the requester's draft DMs): platforms that can tag a
    /// message carry it, so a reply in the DM becomes `/ask` on that draft.
    public var followUpOn: DraftID?

    public init(text: String, actions: [MessageAction] = [], deliveryKey: String? = nil, confidential: Bool? = nil) {
        self.text = text
        self.actions = actions
        self.deliveryKey = deliveryKey
        self.confidential = confidential
    }
}

/// What a platform answers when it accepted a message.
public struct DeliveredMessage: Hashable, Sendable, Codable {
    public var messageID: String
    public var permalink: String?

    public init(messageID: String, permalink: String? = nil) {
        self.messageID = messageID
        self.permalink = permalink
    }
}

/// Identifies a public post as Airlock's post of one draft version (Slack message metadata).
public struct PublishMarker: Hashable, Sendable, Codable {
    public var draftID: DraftID
    public var version: Int

    public init(draftID: DraftID, version: Int) {
        self.draftID = draftID
        self.version = version
    }

    /// Slack metadata event type.
    public static let eventType = "airlock_publish"

    /// The public post's closing words, `(draft <id> v<version>)`: platforms without message metadata recognise
    /// their own post of this version by it.
    public var footer: String { "(draft \(draftID) v\(version))" }
}

/// How an outbound platform call failed; the job queue decides from it whether to retry.
public enum PlatformError: Error, Hashable, Sendable, CustomStringConvertible {
    /// Over the rate limit: retry after this long.
    case rateLimited(retryAfter: Duration)
    /// Network error, timeout or 5xx: retry with backoff.
    case transient(String)
    /// The platform refused for good (bad channel, missing scope…): do not retry.
    case permanent(String)

    public var description: String {
        switch self {
        case .rateLimited(let after): "rate limited (retry after \(after))"
        case .transient(let reason): "transient failure: \(reason)"
        case .permanent(let reason): "refused: \(reason)"
        }
    }
}

/// The outbound half of a chat platform: private messages and the one public reply.
///
/// The analysis agent never gets one of these; only the job worker and the publisher do.
public protocol ChatPlatform: Sendable {
    var name: PlatformName { get }
    /// False for a platform without private messages (GitHub): its people are DM'd on a linked account.
    var canSendDirectMessages: Bool { get }
    /// Sends a private message that only `person` can see.
    func sendDirectMessage(_ message: OutboundMessage, to person: PersonID) async throws -> DeliveredMessage
    /// Posts `text` publicly as a reply in `thread`, tagged with `marker`.
    func postPublicReply(_ text: String, in thread: ThreadRef, marker: PublishMarker) async throws -> DeliveredMessage
    /// Looks in `thread` for a reply carrying `marker` (after a crash between posting and recording it).
    func findPublishedReply(in thread: ThreadRef, marker: PublishMarker) async throws -> DeliveredMessage?
    /// Looks for a private message already sent to `person` with `deliveryKey` (after a crash); nil when the
    /// platform cannot tell, and then the message may arrive twice.
    func findDirectMessage(to person: PersonID, deliveryKey: String) async throws -> DeliveredMessage?
    /// Shows a pending publish in the operator-configured review channel, which only approvers can read.
    func postReviewRequest(_ message: OutboundMessage, in channel: String) async throws -> DeliveredMessage
    /// The thread's place as the platform says now (name, who can read it); nil when this platform cannot tell.
    /// Throws when it can tell but the lookup failed.
    func place(of thread: ThreadRef) async throws -> Place?
    /// The thread's messages up to (not including) the mention, oldest first, within `limits` (the root always
    /// kept, then the newest); empty where the platform has no thread to read. Read-only: no platform call here
    /// posts or changes anything.
    func readThread(_ thread: ThreadRef, limits: ThreadLimits) async throws -> [ThreadMessage]
    /// Shows `text` in `thread` to `person` only (Slack and Mattermost ephemeral messages); false where the platform
    /// cannot show anything to one person only — then nothing is shown there at all.
    func tellPrivately(_ text: String, to person: PersonID, in thread: ThreadRef) async throws -> Bool
}

extension ChatPlatform {
    public func tellPrivately(_ text: String, to person: PersonID, in thread: ThreadRef) async throws -> Bool { false }
    public func readThread(_ thread: ThreadRef, limits: ThreadLimits) async throws -> [ThreadMessage] { [] }
    public func place(of thread: ThreadRef) async throws -> Place? { nil }
    public var canSendDirectMessages: Bool { true }
    public func findDirectMessage(to person: PersonID, deliveryKey: String) async throws -> DeliveredMessage? { nil }
}

/// Where a person's private messages go: their own account when its platform can DM them, else a linked account
/// (`AIRLOCK_IDENTITIES`) on an enabled platform that can. Nil means nobody can be told privately — and then
/// nothing is answered at all (never publicly instead).
public struct DirectMessageRoute: Sendable {
    let capable: Set<PlatformName>
    let policy: ApprovalPolicy

    public init(capable: Set<PlatformName>, policy: ApprovalPolicy) {
        self.capable = capable
        self.policy = policy
    }

    public func destination(for person: PersonID) -> PersonID? {
        policy.accounts(of: person).first { capable.contains($0.platform) }
    }
}

/// A question for the analysis agent.
/// One message of the thread a question was asked in. Data for the agent, never instructions: it is screened
/// like every inbound text before any model sees it.
public struct ThreadMessage: Hashable, Sendable, Codable {
    public var id: String
    /// The author as people know them (display name), or their id when the platform did not say.
    public var author: String
    public var text: String

    public init(id: String, author: String, text: String) {
        self.id = id
        self.author = author
        self.text = text
    }
}

/// How much of a thread the agent reads.
public struct ThreadLimits: Hashable, Sendable {
    public var maxMessages: Int
    public var maxCharacters: Int

    public init(maxMessages: Int = 40, maxCharacters: Int = 12_000) {
        self.maxMessages = maxMessages
        self.maxCharacters = maxCharacters
    }

    /// Keeps the root (the first message) and then the newest messages that fit, in order.
    public func bound(_ messages: [ThreadMessage]) -> [ThreadMessage] {
        guard let root = messages.first else { return [] }
        var kept: [ThreadMessage] = []
        var characters = root.text.count
        for message in messages.dropFirst().reversed() {
            guard kept.count + 1 < maxMessages, characters + message.text.count <= maxCharacters else { break }
            kept.append(message)
            characters += message.text.count
        }
        return [ThreadMessage(id: root.id, author: root.author, text: String(root.text.prefix(maxCharacters)))]
            + kept.reversed()
    }
}

public struct AgentQuestion: Hashable, Sendable, Codable {
    /// The requester's instruction: their mention minus the bot's name ("can you answer this?"), or the whole
    /// question when they asked it themselves.
    public var text: String
    public var requester: PersonID
    public var draftID: DraftID
    /// Who the requester is as a reader of restricted documents: every linked account (`platform:id`) and
    /// `group:NAME` for each group they belong to. A restricted passage is retrieved only when its document's
    /// `readers:` names one of them.
    public var readerIdentities: [String]
    /// The thread the mention was made in, up to the mention (screened: secrets redacted). Empty when the mention
    /// is the whole question.
    public var thread: [ThreadMessage]
    /// A follow-up: the requester's instruction ("shorter", "what about staging?") and the draft it applies to.
    public var followUp: FollowUp?

    public struct FollowUp: Hashable, Sendable, Codable {
        public var instruction: String
        public var previousAnswer: String
        public init(instruction: String, previousAnswer: String) {
            self.instruction = instruction
            self.previousAnswer = previousAnswer
        }
    }

    public init(
        text: String,
        requester: PersonID,
        draftID: DraftID,
        readerIdentities: [String] = [],
        thread: [ThreadMessage] = [],
        followUp: FollowUp? = nil
    ) {
        self.text = text
        self.requester = requester
        self.draftID = draftID
        self.readerIdentities = readerIdentities
        self.thread = thread
        self.followUp = followUp
    }

    /// What to search the docs for: the thread's root question first (it weighs most), then the rest of the
    /// thread, then the instruction.
    public var searchText: String {
        let extra = followUp.map { [$0.instruction] } ?? []
        guard let root = thread.first else { return ([text] + extra).joined(separator: "\n") }
        return ([root.text] + thread.dropFirst().map(\.text).reversed() + [text] + extra).joined(separator: "\n")
    }
}

/// The agent's answer: text, where it came from and what to be careful about.
public struct AgentAnswer: Hashable, Sendable, Codable {
    public var text: String
    public var sources: [SourceRef]
    public var riskFlags: [String]
    public var model: String?
    public var prompt: String?
    public var inputTokens: Int?
    public var outputTokens: Int?
    /// Each tool call the model made and what it got (`search_docs("…") → 1,234 characters`, refusals too).
    public var toolCalls: [String]?

    public init(
        text: String,
        sources: [SourceRef],
        riskFlags: [String],
        model: String? = nil,
        prompt: String? = nil,
        inputTokens: Int? = nil,
        outputTokens: Int? = nil
    ) {
        self.text = text
        self.sources = sources
        self.riskFlags = riskFlags
        self.model = model
        self.prompt = prompt
        self.inputTokens = inputTokens
        self.outputTokens = outputTokens
    }
}

/// The analysis agents Airlock ships (`AIRLOCK_AGENT`), by the names settings and the audit log use.
public enum AgentBackend: String, Hashable, Sendable {
    case retrieval, openAI = "openai", anthropic, command
}

/// Answers questions. It only returns text: it holds no platform and cannot post anything.
public protocol AnalysisAgent: Sendable {
    var backend: AgentBackend { get }
    func answer(_ question: AgentQuestion) async throws -> AgentAnswer
}

/// A store that writes concurrent decisions in shared transactions (group commit): what it wrote so far, for
/// `airlock bench`'s figures.
public protocol GroupCommitting: Sendable {
    var groupCommitted: (batches: Int, writes: Int, busy: Duration) { get }
}
