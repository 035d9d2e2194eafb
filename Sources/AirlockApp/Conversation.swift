public import AirlockDomain
public import AirlockStorage
public import Foundation
import Logging

/// What happened to an inbound delivery.
public enum InboundOutcome: Hashable, Sendable {
    case accepted(DraftID?)
    case duplicate
    case ignored(String)
}

/// The answer to a command, shown only to its sender.
public struct CommandReply: Hashable, Sendable {
    public var text: String
    public var accepted: Bool
}

/// The conversation's use cases: record a question, apply a command through the gate. Every decision and
/// refusal is written in the same transaction as its effects (draft change, audit entries, jobs).
public struct Conversation: Sendable {
    let store: any AirlockStore
    let policy: ApprovalPolicy
    let reviewChannels: [PlatformName: String]
    let draftTTL: Duration
    let signal: JobSignal
    let metrics: AirlockMetrics
    let now: @Sendable () -> Date

    init(
        store: any AirlockStore,
        policy: ApprovalPolicy,
        reviewChannels: [PlatformName: String] = [:],
        draftTTL: Duration,
        signal: JobSignal,
        metrics: AirlockMetrics,
        now: @escaping @Sendable () -> Date = Date.init
    ) {
        self.store = store
        self.policy = policy
        self.reviewChannels = reviewChannels
        self.draftTTL = draftTTL
        self.signal = signal
        self.metrics = metrics
        self.now = now
    }

    /// Records a verified inbound delivery (deduplicated on `delivery`) and acts on it.
    /// Commands sent as messages (DMs) are answered by DM.
    public func receive(
        _ action: InboundAction,
        platform: PlatformName,
        delivery: DeliveryKey?,
        route: String,
        redactedBody: String,
        detail: [String: String] = [:]
    ) async throws -> InboundOutcome {
        let at = now()
        var inbound = AuditEvent(
            kind: "inbound", platform: platform,
            detail: detail.merging(["route": route, "body": redactedBody]) { _, new in new })
        do {
            switch action {
            case .ignored(let reason):
                inbound.detail["outcome"] = "ignored"
                inbound.detail["reason"] = reason
                try await store.commit(Changes(delivery: delivery, audit: [inbound]), at: at)
                metrics.inbound(platform: platform.rawValue, outcome: "ignored")
                return .ignored(reason)

            case .question(let asker, let text, let target):
                let draft = Draft(
                    id: .random(), requester: asker.person, question: text, target: target, createdAt: at,
                    ttl: draftTTL)
                inbound.actor = asker.person
                inbound.draftID = draft.id
                inbound.detail["outcome"] = "accepted"
                let requested = AuditEvent(
                    kind: "question", platform: platform, actor: asker.person, draftID: draft.id,
                    detail: ["question": text, "target": target?.description ?? "direct message"])
                try await store.commit(
                    Changes(delivery: delivery, draft: draft, audit: [inbound, requested], jobs: [.answer(draftID: draft.id)]),
                    at: at)
                signal.notify()
                metrics.inbound(platform: platform.rawValue, outcome: "accepted")
                return .accepted(draft.id)

            case .command(let actor, let command):
                inbound.actor = actor.person
                inbound.detail["outcome"] = "accepted"
                let reply = try await handle(
                    command, from: actor, platform: platform, delivery: delivery, inbound: inbound)
                try await store.commit(
                    Changes(jobs: [
                        .directMessage(
                            to: actor.person, message: OutboundMessage(text: reply.text), draftID: nil,
                            purpose: "command_reply")
                    ]), at: at)
                signal.notify()
                metrics.inbound(platform: platform.rawValue, outcome: "accepted")
                return .accepted(nil)
            }
        } catch is DuplicateDelivery {
            var duplicate = inbound
            duplicate.detail["outcome"] = "duplicate"
            duplicate.detail["body"] = nil
            duplicate.draftID = nil
            try await store.commit(Changes(audit: [duplicate]), at: at)
            metrics.inbound(platform: platform.rawValue, outcome: "duplicate")
            return .duplicate
        }
    }

    /// Applies a command and returns what its sender is told. Refusals are recorded too.
    /// `inbound` (the delivery's own audit entry) and `delivery` are written in the same transaction.
    public func handle(
        _ parsed: Result<ChatCommand, ChatCommand.ParseError>,
        from actor: Actor,
        platform: PlatformName,
        delivery: DeliveryKey? = nil,
        inbound: AuditEvent? = nil
    ) async throws -> CommandReply {
        let at = now()
        let prefix = inbound.map { [$0] } ?? []
        let command: ChatCommand
        switch parsed {
        case .failure(let error):
            let refusal = AuditEvent(
                kind: "refusal", platform: platform, actor: actor.person,
                detail: ["command": "unparsed", "reason": error.code, "told": error.userMessage])
            try await store.commit(Changes(delivery: delivery, audit: prefix + [refusal]), at: at)
            metrics.command(platform: platform.rawValue, command: "unknown", outcome: "refused")
            return CommandReply(text: error.userMessage, accepted: false)
        case .success(let value):
            command = value
        }

        switch command {
        case .help:
            let event = AuditEvent(kind: "command", platform: platform, actor: actor.person, detail: ["command": "help"])
            try await store.commit(Changes(delivery: delivery, audit: prefix + [event]), at: at)
            metrics.command(platform: platform.rawValue, command: "help", outcome: "accepted")
            return CommandReply(text: ChatCommand.usage, accepted: true)

        case .listDrafts:
            let event = AuditEvent(kind: "command", platform: platform, actor: actor.person, detail: ["command": "drafts"])
            try await store.commit(Changes(delivery: delivery, audit: prefix + [event]), at: at)
            metrics.command(platform: platform.rawValue, command: "drafts", outcome: "accepted")
            return CommandReply(text: try await listing(for: actor.person), accepted: true)

        case .onDraft(let rawID, let draftCommand):
            let name = draftCommand.name
            guard let id = DraftID(rawID) else {
                return try await refuseUnknown(rawID, name: name, actor: actor, platform: platform, delivery: delivery, prefix: prefix, at: at)
            }
            let policy = self.policy
            let reviewChannels = self.reviewChannels
            let result = try await store.updateDraft(id, at: at) { draft -> (Changes, CommandReply) in
                Self.decide(
                    draftCommand, on: draft, by: actor, platform: platform, policy: policy,
                    reviewChannel: reviewChannels[draft.requester.platform], at: at, delivery: delivery, prefix: prefix)
            }
            guard let reply = result else {
                return try await refuseUnknown(rawID, name: name, actor: actor, platform: platform, delivery: delivery, prefix: prefix, at: at)
            }
            metrics.command(platform: platform.rawValue, command: name, outcome: reply.accepted ? "accepted" : "refused")
            if reply.accepted {
                signal.notify()
                if case .approve = draftCommand, let draft = try? await store.draft(id), let asked = draft.publishRequest?.at,
                    let approved = draft.approvals.last?.at
                {
                    metrics.approvalWait(approved.timeIntervalSince(asked))
                }
            }
            return reply
        }
    }

    private func refuseUnknown(
        _ rawID: String,
        name: String,
        actor: Actor,
        platform: PlatformName,
        delivery: DeliveryKey?,
        prefix: [AuditEvent],
        at: Date
    ) async throws -> CommandReply {
        let refusal = Refusal.unknownDraft(rawID)
        let event = AuditEvent(
            kind: "refusal", platform: platform, actor: actor.person,
            detail: ["command": name, "draft": String(rawID.prefix(40)), "reason": refusal.code, "told": refusal.userMessage])
        try await store.commit(Changes(delivery: delivery, audit: prefix + [event]), at: at)
        metrics.command(platform: platform.rawValue, command: name, outcome: "refused")
        return CommandReply(text: refusal.userMessage, accepted: false)
    }

    /// The gate decision and everything it writes, computed inside the draft's write transaction.
    static func decide(
        _ command: DraftCommand,
        on stored: Draft,
        by actor: Actor,
        platform: PlatformName,
        policy: ApprovalPolicy,
        reviewChannel: String?,
        at: Date,
        delivery: DeliveryKey?,
        prefix: [AuditEvent]
    ) -> (Changes, CommandReply) {
        var draft = stored
        var audit = prefix
        var commandDetail = ["command": command.name, "version": String(draft.version)]
        if case .revise(let text) = command { commandDetail["text"] = text }
        if case .reject(let reason?) = command { commandDetail["reason"] = reason }
        audit.append(AuditEvent(kind: "command", platform: platform, actor: actor.person, draftID: draft.id, detail: commandDetail))
        if let expired = Gate.expireIfDue(draft, at: at) {
            draft = expired
            audit.append(AuditEvent(kind: "expired", platform: platform, draftID: draft.id, detail: ["expires_at": "\(draft.expiresAt)"]))
        }
        do {
            let (next, event) = try Gate.apply(command, to: draft, by: actor, at: at, policy: policy)
            var jobs: [JobPayload] = []
            let text: String
            switch event {
            case .publishRequested:
                audit.append(AuditEvent(
                    kind: "publish_requested", platform: platform, actor: actor.person, draftID: next.id,
                    detail: ["version": String(next.version), "content_hash": next.contentHash]))
                let approvers = policy.approvers.filter {
                    !policy.isSamePerson($0, next.requester) && $0.platform == next.requester.platform
                }.sorted()
                let review = Messages.reviewRequest(next)
                for approver in approvers {
                    jobs.append(.directMessage(to: approver, message: review, draftID: next.id, purpose: "review_request"))
                }
                var asked = approvers.map(\.description)
                if let reviewChannel {
                    jobs.append(.reviewChannel(
                        platform: next.requester.platform, channel: reviewChannel, message: review,
                        draftID: next.id))
                    asked.append("the review channel")
                }
                text = asked.isEmpty
                    ? "Publish requested for draft `\(next.id)` v\(next.version). Ask a colleague to approve it with /approve \(next.id)."
                    : "Publish requested for draft `\(next.id)` v\(next.version). Waiting for approval; asked: \(asked.joined(separator: ", "))."
            case .approved(let approver, let version):
                audit.append(AuditEvent(
                    kind: "approval", platform: platform, actor: approver, draftID: next.id,
                    detail: ["version": String(version), "content_hash": next.contentHash, "requester": next.requester.description]))
                jobs.append(.publish(draftID: next.id, version: version))
                text = "Approved draft `\(next.id)` v\(version). It will be posted in \(next.target?.description ?? "its thread") now."
            case .rejected(let person, let reason):
                audit.append(AuditEvent(
                    kind: "rejected", platform: platform, actor: person, draftID: next.id,
                    detail: ["reason": reason ?? ""]))
                if !policy.isSamePerson(person, next.requester) {
                    jobs.append(.directMessage(
                        to: next.requester, message: Messages.rejected(next, by: person, reason: reason), draftID: next.id,
                        purpose: "rejected"))
                }
                text = "Draft `\(next.id)` rejected. Nothing will be posted."
            case .revised(let version, let cleared):
                audit.append(AuditEvent(
                    kind: "revised", platform: platform, actor: actor.person, draftID: next.id,
                    detail: ["version": String(version), "cleared_approvals": String(cleared), "content_hash": next.contentHash]))
                jobs.append(.directMessage(
                    to: next.requester, message: Messages.draftForRequester(next), draftID: next.id, purpose: "revised_draft"))
                text = "Draft `\(next.id)` is now version \(version); its publish request and \(cleared) approval(s) were cleared. Send /publish \(next.id) to ask again."
            }
            return (Changes(delivery: delivery, draft: next, audit: audit, jobs: jobs), CommandReply(text: text, accepted: true))
        } catch {
            audit.append(AuditEvent(
                kind: "refusal", platform: platform, actor: actor.person, draftID: draft.id,
                detail: ["command": command.name, "reason": error.code, "told": error.userMessage]))
            let changed = draft != stored ? draft : nil
            return (Changes(delivery: delivery, draft: changed, audit: audit), CommandReply(text: error.userMessage, accepted: false))
        }
    }

    /// The sender's drafts and those waiting for their approval.
    func listing(for person: PersonID) async throws -> String {
        let mine = try await store.drafts(DraftFilter(requester: person, limit: 20))
        let pending = try await store.drafts(DraftFilter(states: [.publishRequested], limit: 50)).filter {
            !policy.isSamePerson(person, $0.requester) && policy.isListed(person, forRequester: $0.requester)
        }
        var lines: [String] = []
        lines.append(mine.isEmpty ? "You have no drafts." : "Your drafts:")
        lines.append(contentsOf: mine.map { "• " + Messages.listing($0) })
        if !pending.isEmpty {
            lines.append("Waiting for your approval:")
            lines.append(contentsOf: pending.map { "• " + Messages.listing($0) + " — /approve \($0.id)" })
        }
        return lines.joined(separator: "\n")
    }
}
