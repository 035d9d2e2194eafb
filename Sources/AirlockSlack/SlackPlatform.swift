public import AirlockDomain
import AirlockWebhookKit
import Foundation

/// Slack behind the domain's `ChatPlatform`: DMs via `conversations.open` + `chat.postMessage`, the public
/// reply threaded with `thread_ts` and tagged with message metadata `airlock_publish`.
public actor SlackPlatform: ChatPlatform {
    public nonisolated let name = PlatformName.slack
    let client: SlackClient
    private var dmChannels: [String: String] = [:]
    private var displayNames: [String: String] = [:]

    public init(client: SlackClient) {
        self.client = client
    }

    public func sendDirectMessage(_ message: OutboundMessage, to person: PersonID) async throws -> DeliveredMessage {
        guard person.platform == .slack else { throw PlatformError.permanent("not a Slack user: \(person)") }
        let channel = try await dmChannel(for: person.id)
        let ts = try await client.postMessage(
            channel: channel,
            text: Self.escaped(message.text),
            blocks: Self.blocks(for: message),
            metadata: message.deliveryKey.map { key in
                var payload: [String: SlackMetadata.Value] = ["key": .string(key)]
                if let draft = message.followUpOn { payload["draft"] = .string(draft.rawValue) }
                return SlackMetadata(eventType: Self.dmEventType, eventPayload: payload)
            }
        )
        return DeliveredMessage(messageID: "\(channel)/\(ts)")
    }

    static let dmEventType = "airlock_dm"

    public func findDirectMessage(to person: PersonID, deliveryKey: String) async throws -> DeliveredMessage? {
        guard person.platform == .slack else { return nil }
        let channel = try await dmChannel(for: person.id)
        for message in try await client.history(channel: channel, limit: 100) {
            guard message.metadata?.payload("key", ifType: Self.dmEventType) == deliveryKey, let ts = message.ts
            else { continue }
            return DeliveredMessage(messageID: "\(channel)/\(ts)")
        }
        return nil
    }

    /// Slack's control sequences (`<!channel>`, `<@U…>`, `<url|label>`) start with `<`: escaping `&`, `<` and `>`
    /// makes the text show literally, so a draft cannot ping a channel or hide a link behind a label.
    static func escaped(_ text: String) -> String {
        var out = ""
        out.reserveCapacity(text.utf8.count)
        for character in text {
            switch character {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            default: out.append(character)
            }
        }
        return out
    }

    public func postPublicReply(
        _ text: String,
        in thread: ThreadRef,
        marker: PublishMarker
    ) async throws
        -> DeliveredMessage
    {
        let ts = try await client.postMessage(
            channel: thread.channel,
            text: Self.escaped(text),
            threadTS: thread.thread,
            metadata: SlackMetadata(
                eventType: PublishMarker.eventType,
                eventPayload: ["draft_id": .string(marker.draftID.rawValue), "version": .integer(marker.version)]
            )
        )
        let link = try? await client.permalink(channel: thread.channel, messageTS: ts)
        return DeliveredMessage(messageID: ts, permalink: link)
    }

    public func findPublishedReply(in thread: ThreadRef, marker: PublishMarker) async throws -> DeliveredMessage? {
        // Every page of the thread (`response_metadata.next_cursor`), bounded; a post of another version of the same
        // draft is not this post.
        var cursor: String?
        for _ in 0..<200 {
            let page = try await client.replies(channel: thread.channel, threadTS: thread.thread, cursor: cursor)
            for message in page.messages {
                guard let metadata = message.metadata,
                    metadata.payload("draft_id", ifType: PublishMarker.eventType) == marker.draftID.rawValue,
                    metadata.payload("version", ifType: PublishMarker.eventType).flatMap({ Int($0) }) == marker.version,
                    let ts = message.ts
                else { continue }
                let link = try? await client.permalink(channel: thread.channel, messageTS: ts)
                return DeliveredMessage(messageID: ts, permalink: link)
            }
            guard let next = page.nextCursor, !next.isEmpty else { return nil }
            cursor = next
        }
        throw PlatformError.transient("conversations.replies: thread longer than 200 pages")
    }

    /// `conversations.replies` up to the mention (the thread's root first; the bot's own messages left out), pages
    /// followed within the limits; authors by display name (`users.info`, cached).
    public func readThread(_ thread: ThreadRef, limits: ThreadLimits) async throws -> [ThreadMessage] {
        guard let mention = thread.mention, let until = Double(mention) else { return [] }
        var messages: [ThreadMessage] = []
        var cursor: String?
        pages: for _ in 0..<50 {
            let page = try await client.replies(channel: thread.channel, threadTS: thread.thread, cursor: cursor)
            for message in page.messages {
                guard let ts = message.ts, let stamp = Double(ts) else { continue }
                if stamp >= until { break pages }
                guard message.botID == nil, let text = message.text, !text.isEmpty else { continue }
                let user = message.user
                messages.append(ThreadMessage(id: ts, author: user ?? "someone", text: text))
            }
            guard let next = page.nextCursor, !next.isEmpty else { break }
            cursor = next
        }
        var bounded = limits.bound(messages)
        for index in bounded.indices where SlackIdentifiers.isUser(bounded[index].author) {
            bounded[index].author = try await name(of: bounded[index].author)
        }
        return bounded
    }

    private func name(of user: String) async throws -> String {
        if let known = displayNames[user] { return known }
        let name = (try? await client.displayName(user: user)) ?? nil
        displayNames[user] = name ?? user
        return name ?? user
    }

    /// `chat.postEphemeral` in the thread: only `person` sees it.
    public func tellPrivately(_ text: String, to person: PersonID, in thread: ThreadRef) async throws -> Bool {
        guard person.platform == .slack else { return false }
        try await client.postEphemeral(
            channel: thread.channel,
            user: person.id,
            text: Self.escaped(text),
            threadTS: thread.thread
        )
        return true
    }

    /// `conversations.info` (scopes `channels:read`, `groups:read`): private channel or public.
    public func place(of thread: ThreadRef) async throws -> Place? {
        let info = try await client.conversationInfo(channel: thread.channel)
        return Place(name: info.name, visibility: info.isPrivate ? .private : .public)
    }

    public func postReviewRequest(_ message: OutboundMessage, in channel: String) async throws -> DeliveredMessage {
        let ts = try await client.postMessage(
            channel: channel,
            text: Self.escaped(message.text),
            blocks: Self.blocks(for: message)
        )
        return DeliveredMessage(messageID: "\(channel)/\(ts)")
    }

    private func dmChannel(for user: String) async throws -> String {
        if let channel = dmChannels[user] { return channel }
        let channel = try await client.openDirectMessage(user: user)
        dmChannels[user] = channel
        return channel
    }

    /// Block Kit: the whole text in as many sections as it needs (a section holds 3,000 characters; nothing is
    /// cut, so approvers see every character that would be posted), then one button per action.
    static func blocks(for message: OutboundMessage) -> [SlackBlock]? {
        guard !message.actions.isEmpty else { return nil }
        let buttons = message.actions.map { action in
            SlackBlock.Button(
                actionID: action.command,
                value: action.value,
                text: SlackBlock.Text(type: "plain_text", text: action.command.capitalized),
                style: action.command == "approve" || action.command == "publish"
                    ? "primary" : action.command == "reject" ? "danger" : nil
            )
        }
        return sectionTexts(escaped(message.text)).map(SlackBlock.section) + [.actions(buttons)]
    }

    /// Section texts of at most 2,900 characters (a section holds 3,000).
    static func sectionTexts(_ text: String) -> [String] { TextChunks.split(text, limit: 2900) }
}
