public import AirlockDomain
public import AirlockWebhookKit
public import Foundation
import Synchronization

/// One message the sandbox platform delivered.
public struct SandboxMessage: Hashable, Sendable {
    public enum Place: Hashable, Sendable {
        /// A private DM only `to` can see.
        case direct(to: PersonID)
        /// A public reply in a thread everyone can see.
        case publicThread(ThreadRef)
        /// The approvers' private review channel.
        case reviewChannel(String)
    }

    public var id: String
    public var place: Place
    public var text: String
    public var actions: [MessageAction]
    public var marker: PublishMarker?

    /// True for a reply in a public thread (what everyone can see).
    public var isPublic: Bool {
        if case .publicThread = place { return true }
        return false
    }
}

/// The built-in chat platform of `airlock demo` and tests: it keeps every message it is asked to deliver
/// in memory, so the transcript shows exactly what went where.
/// The sandbox's channel messages (who wrote what, in which thread), kept in memory.
public final class SandboxChannels: Sendable {
    private let messages = Mutex<[ThreadMessage]>([])
    private let places = Mutex<[String: (channel: String, thread: String)]>([:])

    public init() {}

    func record(_ body: Data) {
        guard let dto = try? JSONDecoder().decode(SandboxInbound.MessageDTO.self, from: body),
            let channel = dto.channel,
            let id = dto.id
        else { return }
        messages.withLock { $0.append(ThreadMessage(id: id, author: dto.user, text: dto.text)) }
        places.withLock { $0[id] = (channel, dto.thread ?? id) }
    }

    /// The thread's messages before `mention`, oldest first.
    func thread(_ thread: ThreadRef) -> [ThreadMessage] {
        let where_ = places.withLock { $0 }
        var out: [ThreadMessage] = []
        for message in messages.withLock({ $0 }) {
            if message.id == thread.mention { break }
            if let place = where_[message.id], place.channel == thread.channel, place.thread == thread.thread {
                out.append(message)
            }
        }
        return out
    }
}

public actor SandboxPlatform: ChatPlatform {
    /// People's channel messages, shared with the sandbox's inbound adapter.
    public nonisolated let channels = SandboxChannels()

    /// The thread up to the mention, as the sandbox recorded it.
    public func readThread(_ thread: ThreadRef, limits: ThreadLimits) async throws -> [ThreadMessage] {
        limits.bound(channels.thread(thread))
    }

    /// Lower-case names; the demo's one scope is `sandbox`.
    public static let traits = PlatformTraits(idCase: .lower, maxPublicLength: 12_000, scopeName: "sandbox")
    public nonisolated let name = PlatformName.sandbox
    public private(set) var messages: [SandboxMessage] = []

    public init() {}

    public func sendDirectMessage(_ message: OutboundMessage, to person: PersonID) async throws -> DeliveredMessage {
        let id = "m\(messages.count + 1)"
        messages.append(
            SandboxMessage(id: id, place: .direct(to: person), text: message.text, actions: message.actions)
        )
        return DeliveredMessage(messageID: id)
    }

    public func postPublicReply(
        _ text: String,
        in thread: ThreadRef,
        marker: PublishMarker
    ) async throws
        -> DeliveredMessage
    {
        let id = "m\(messages.count + 1)"
        messages.append(
            SandboxMessage(id: id, place: .publicThread(thread), text: text, actions: [], marker: marker)
        )
        return DeliveredMessage(messageID: id, permalink: Self.permalink(thread: thread, id: id))
    }

    public func findPublishedReply(in thread: ThreadRef, marker: PublishMarker) async throws -> DeliveredMessage? {
        messages.first { $0.place == .publicThread(thread) && $0.marker == marker }
            .map { DeliveredMessage(messageID: $0.id, permalink: Self.permalink(thread: thread, id: $0.id)) }
    }

    /// The demo's channels are public.
    public func place(of thread: ThreadRef) async throws -> Place? {
        Place(name: "#\(thread.channel)", visibility: .public)
    }

    public func postReviewRequest(_ message: OutboundMessage, in channel: String) async throws -> DeliveredMessage {
        let id = "m\(messages.count + 1)"
        messages.append(
            SandboxMessage(id: id, place: .reviewChannel(channel), text: message.text, actions: message.actions)
        )
        return DeliveredMessage(messageID: id)
    }

    /// Messages after the first `count`.
    public func messages(after count: Int) -> [SandboxMessage] {
        Array(messages.dropFirst(count))
    }

    static func permalink(thread: ThreadRef, id: String) -> String {
        "sandbox://\(thread.channel)/\(thread.thread)/\(id)"
    }
}

/// The sandbox's inbound wire format (JSON, bearer token).
public enum SandboxInbound {
    struct MessageDTO: Decodable {
        var user: String
        var channel: String?
        var thread: String?
        var text: String
        var id: String?
    }

    struct CommandDTO: Decodable {
        var user: String
        var command: String
        var text: String?
    }

    /// Why a sandbox body was refused.
    public struct ParseError: Error, CustomStringConvertible {
        public var description: String
    }

    /// A message posted in a channel (`channel` set) or sent to the bot as a DM (`channel` nil).
    /// A channel message is a question only when it mentions `@airlock`. Returns the delivery id too.
    public static func parseMessage(_ body: Data) throws -> (id: String?, action: InboundAction) {
        guard let dto = try? JSONDecoder().decode(MessageDTO.self, from: body) else {
            throw ParseError(description: "expected JSON {\"user\", \"text\", \"channel\"?, \"thread\"?, \"id\"?}")
        }
        try checkIdentifiers(user: dto.user, others: [dto.channel, dto.thread, dto.id])
        let actor = Actor(PersonID(platform: .sandbox, id: dto.user.lowercased()), scope: "sandbox")
        guard let channel = dto.channel else {
            if let command = ChatCommand.parseDirectMessage(dto.text) {
                return (dto.id, .command(actor: actor, command: command, reply: .directMessage))
            }
            return (dto.id, .question(asker: actor, text: dto.text, target: nil))
        }
        guard dto.text.contains("@airlock") else { return (dto.id, .ignored(reason: "no mention of @airlock")) }
        let question = dto.text.replacingOccurrences(of: "@airlock", with: "").trimmingCharacters(in: .whitespaces)
        // A mention replying in someone's thread: the agent reads the thread up to it.
        let inThread = dto.thread != nil && dto.thread != dto.id
        let thread = ThreadRef(
            platform: .sandbox,
            channel: channel,
            thread: dto.thread ?? dto.id ?? "root",
            mention: inThread ? dto.id : nil
        )
        return (dto.id, .question(asker: actor, text: question, target: thread))
    }

    /// Sandbox ids (user, channel, thread, message id): `[A-Za-z0-9._-]{1,64}`.
    public static func isIdentifier(_ text: String) -> Bool {
        Identifier.isASCII(text, lengths: 1...64, extra: [".", "_", "-"])
    }

    static func checkIdentifiers(user: String, others: [String?]) throws {
        guard isIdentifier(user), others.allSatisfy({ $0.map(isIdentifier) ?? true }) else {
            throw ParseError(description: "user, channel, thread and id must match [A-Za-z0-9._-]{1,64}")
        }
    }

    /// A slash command.
    public static func parseCommand(_ body: Data) throws -> InboundAction {
        guard let dto = try? JSONDecoder().decode(CommandDTO.self, from: body) else {
            throw ParseError(description: "expected JSON {\"user\", \"command\", \"text\"?}")
        }
        try checkIdentifiers(user: dto.user, others: [])
        let actor = Actor(PersonID(platform: .sandbox, id: dto.user.lowercased()), scope: "sandbox")
        return .command(
            actor: actor,
            command: ChatCommand.parse(name: dto.command, text: dto.text ?? ""),
            reply: .inResponse
        )
    }
}

/// The sandbox's inbound side: `/sandbox/messages` and `/sandbox/commands`, guarded by a bearer token.
public struct SandboxAdapter: InboundAdapter {
    public let platform = PlatformName.sandbox
    public let routes = [InboundRoute(.post, "/sandbox/messages"), InboundRoute(.post, "/sandbox/commands")]
    let token: String
    /// Channel messages as people wrote them, for the platform to read threads from.
    let channels: SandboxChannels

    public init(token: String, channels: SandboxChannels = SandboxChannels()) {
        self.token = token
        self.channels = channels
    }

    public func verify(_ request: InboundRequest, now: Date) throws(InboundRefusal) {
        guard SecretCompare.equal(request.header("Authorization") ?? "", "Bearer \(token)") else {
            throw .badSignature("missing or wrong bearer token")
        }
    }

    public func parse(_ request: InboundRequest) throws(InboundRefusal) -> InboundDelivery {
        let body = String(decoding: request.body, as: UTF8.self)
        do {
            if request.path == "/sandbox/messages" {
                let (id, action) = try SandboxInbound.parseMessage(request.body)
                channels.record(request.body)
                return InboundDelivery(
                    items: [InboundItem(action: action, delivery: id.map { DeliveryKey(platform: .sandbox, key: $0) })],
                    redactedBody: body
                )
            }
            return InboundDelivery(
                items: [InboundItem(action: try SandboxInbound.parseCommand(request.body))],
                redactedBody: body
            )
        } catch {
            throw .badRequest("\(error)")
        }
    }

    struct MessageOutcome: Encodable {
        var outcome: String
        var draft: String?
        var reason: String?
    }

    struct CommandOutcome: Encodable {
        var text: String
        var accepted: Bool
    }

    public func reply(
        to results: [InboundResult],
        for delivery: InboundDelivery,
        request: InboundRequest
    ) -> InboundResponse {
        switch results.first {
        case .accepted(let id): .json(MessageOutcome(outcome: "accepted", draft: id?.rawValue ?? ""))
        case .duplicate: .json(MessageOutcome(outcome: "duplicate"))
        case .ignored(let reason): .json(MessageOutcome(outcome: "ignored", reason: reason))
        case .replied(let text, let accepted): .json(CommandOutcome(text: text, accepted: accepted))
        case nil: .ok
        }
    }
}
