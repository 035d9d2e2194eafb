public import AirlockDomain
import Foundation

/// Slack behind the domain's `ChatPlatform`: DMs via `conversations.open` + `chat.postMessage`, the public
/// reply threaded with `thread_ts` and tagged with message metadata `airlock_publish`.
public actor SlackPlatform: ChatPlatform {
    public nonisolated let name = PlatformName.slack
    let client: SlackClient
    private var dmChannels: [String: String] = [:]

    public init(client: SlackClient) {
        self.client = client
    }

    public func sendDirectMessage(_ message: OutboundMessage, to person: PersonID) async throws -> DeliveredMessage {
        guard person.platform == .slack else { throw PlatformError.permanent("not a Slack user: \(person)") }
        let channel = try await dmChannel(for: person.id)
        let ts = try await client.postMessage(
            channel: channel, text: message.text, blocks: Self.blocks(for: message))
        return DeliveredMessage(messageID: "\(channel)/\(ts)")
    }

    public func postPublicReply(_ text: String, in thread: ThreadRef, marker: PublishMarker) async throws
        -> DeliveredMessage
    {
        let ts = try await client.postMessage(
            channel: thread.channel, text: text, threadTS: thread.thread,
            metadata: [
                "event_type": PublishMarker.eventType,
                "event_payload": ["draft_id": marker.draftID.rawValue, "version": marker.version],
            ])
        let link = try? await client.permalink(channel: thread.channel, messageTS: ts)
        return DeliveredMessage(messageID: ts, permalink: link)
    }

    public func findPublishedReply(in thread: ThreadRef, marker: PublishMarker) async throws -> DeliveredMessage? {
        let messages = try await client.replies(channel: thread.channel, threadTS: thread.thread)
        for message in messages {
            guard let metadata = message["metadata"] as? [String: Any],
                metadata["event_type"] as? String == PublishMarker.eventType,
                let payload = metadata["event_payload"] as? [String: Any],
                payload["draft_id"] as? String == marker.draftID.rawValue,
                let ts = message["ts"] as? String
            else { continue }
            let link = try? await client.permalink(channel: thread.channel, messageTS: ts)
            return DeliveredMessage(messageID: ts, permalink: link)
        }
        return nil
    }

    public func postReviewRequest(_ message: OutboundMessage, in channel: String) async throws -> DeliveredMessage {
        let ts = try await client.postMessage(channel: channel, text: message.text, blocks: Self.blocks(for: message))
        return DeliveredMessage(messageID: "\(channel)/\(ts)")
    }

    private func dmChannel(for user: String) async throws -> String {
        if let channel = dmChannels[user] { return channel }
        let channel = try await client.openDirectMessage(user: user)
        dmChannels[user] = channel
        return channel
    }

    /// Block Kit: the text, then one button per action (value `<draft id>:<version>`).
    static func blocks(for message: OutboundMessage) -> [[String: Any]]? {
        guard !message.actions.isEmpty else { return nil }
        let text = message.text.count > 2900 ? String(message.text.prefix(2900)) + " …" : message.text
        let buttons: [[String: Any]] = message.actions.map { action in
            var button: [String: Any] = [
                "type": "button", "action_id": action.command, "value": action.value,
                "text": ["type": "plain_text", "text": action.command.capitalized],
            ]
            if action.command == "approve" || action.command == "publish" { button["style"] = "primary" }
            if action.command == "reject" { button["style"] = "danger" }
            return button
        }
        return [
            ["type": "section", "text": ["type": "mrkdwn", "text": text]],
            ["type": "actions", "elements": buttons],
        ]
    }
}
