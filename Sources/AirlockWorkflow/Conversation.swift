public import AirlockDomain
public import Foundation
import Synchronization

/// The conversation's use cases: record an inbound item, ask the agent, apply a command through the gate. Every
/// decision comes from `Decisions` and is written by the store in one transaction with its effects (draft
/// change, audit entries, jobs, the delivery's dedupe key).
public struct Conversation: Sendable {
    let store: any AirlockStore
    let policy: ApprovalPolicy
    let reviewChannels: [PlatformName: String]
    let draftTTL: Duration
    let signal: JobSignal
    let metrics: AirlockMetrics
    let now: @Sendable () -> Date
    /// Where DMs can reach a person (nil: nowhere); a question nobody can be answered about privately is refused.
    let directRoute: DirectMessageRoute?
    /// At most this many questions (agent runs) per requester in `questionWindow`; nil: no limit.
    public var questionLimit: Int? = nil
    public var questionWindow: Duration = .seconds(3600)
    let questionTimes = QuestionTimes()
    /// Deliveries signed as written longer ago than this are refused as possible replays (their dedupe keys may be
    /// pruned); the housekeeping keeps keys a day longer.
    public var replayWindow: Duration = Conversation.defaultReplayWindow
    /// The restricted documents, to check questions and revisions against.
    public var restricted: any RestrictedContent = NoRestrictedContent()
    public static let defaultReplayWindow: Duration = .seconds(30 * 86_400)

    public init(
        store: any AirlockStore,
        policy: ApprovalPolicy,
        reviewChannels: [PlatformName: String] = [:],
        draftTTL: Duration,
        signal: JobSignal,
        metrics: AirlockMetrics,
        now: @escaping @Sendable () -> Date = Date.init,
        directRoute: DirectMessageRoute? = nil
    ) {
        self.directRoute = directRoute
        self.store = store
        self.policy = policy
        self.reviewChannels = reviewChannels
        self.draftTTL = draftTTL
        self.signal = signal
        self.metrics = metrics
        self.now = now
    }

    /// Records one verified inbound item (deduplicated on its delivery key) and acts on it.
    public func receive(
        _ item: InboundItem,
        platform: PlatformName,
        route: String,
        redactedBody: String
    ) async throws -> InboundResult {
        let at = now()
        // Free text in a body (a question, a command) may hold a token: the recorded body is redacted like any answer.
        var inbound = AuditEvent(
            kind: .inbound,
            platform: platform,
            detail: item.detail.merging([
                "route": route, "body": item.recordBody ? SecretRedactor.redact(redactedBody).text : "[not recorded]",
            ]) { _, new in new }
        )
        if let sentAt = item.sentAt, sentAt < at.addingTimeInterval(-replayWindow.timeInterval) {
            inbound.detail["outcome"] = "ignored"
            inbound.detail["reason"] =
                "stale_delivery: written more than \(Int(replayWindow.timeInterval / 86_400)) days ago (a possible replay)"
            inbound.detail["body"] = "[not recorded]"
            try await store.commit(Changes(audit: [inbound]), at: at)
            metrics.inbound(platform: platform.rawValue, outcome: .stale)
            return .ignored("stale_delivery")
        }
        do {
            switch item.action {
            case .ignored(let reason):
                inbound.detail["outcome"] = "ignored"
                inbound.detail["reason"] = reason
                try await store.commit(Changes(delivery: item.delivery, audit: [inbound]), at: at)
                metrics.inbound(platform: platform.rawValue, outcome: .ignored)
                return .ignored(reason)

            case .refused(let reason, let told):
                inbound.detail["outcome"] = "refused"
                let refusal = AuditEvent(
                    kind: .refusal,
                    platform: platform,
                    detail: ["route": route, "reason": reason, "told": told]
                )
                try await store.commit(Changes(delivery: item.delivery, audit: [inbound, refusal]), at: at)
                metrics.inbound(platform: platform.rawValue, outcome: .refusedIdentifier)
                return .replied(text: told, accepted: false)

            case .question(let asker, let text, let target):
                if let directRoute, directRoute.destination(for: asker.person) == nil {
                    // No private channel to the asker: refused and recorded, never answered publicly instead.
                    inbound.actor = asker.person
                    inbound.detail["outcome"] = "refused"
                    let told =
                        "\(asker.person.platform) has no private messages and \(asker.person) has no linked chat account (AIRLOCK_IDENTITIES), so Airlock cannot answer privately. Nothing was posted."
                    let refusal = AuditEvent(
                        kind: .refusal,
                        platform: platform,
                        actor: asker.person,
                        detail: ["reason": "no_private_channel", "told": told]
                    )
                    try await store.commit(Changes(delivery: item.delivery, audit: [inbound, refusal]), at: at)
                    metrics.inbound(platform: platform.rawValue, outcome: .refusedNoDM)
                    return .ignored("no_private_channel")
                }
                if let limit = questionLimit, try await overLimit(asker.person, limit: limit, at: at) {
                    inbound.actor = asker.person
                    inbound.detail["outcome"] = "refused"
                    let minutes = max(1, Int(questionWindow.timeInterval / 60))
                    let told =
                        "You have asked \(limit) questions in the last \(minutes) minutes, the most Airlock answers per person (AIRLOCK_QUESTIONS_PER_HOUR). Nothing was run; ask again later."
                    let refusal = AuditEvent(
                        kind: .refusal,
                        platform: platform,
                        actor: asker.person,
                        detail: ["reason": "rate_limited", "told": told, "limit": String(limit)]
                    )
                    let tell: [JobPayload] =
                        directRoute?.destination(for: asker.person) == nil
                        ? []
                        : [
                            .directMessage(
                                to: asker.person,
                                message: OutboundMessage(text: told),
                                draftID: nil,
                                purpose: .refusal
                            )
                        ]
                    try await store.commit(
                        Changes(delivery: item.delivery, audit: [inbound, refusal], jobs: tell),
                        at: at
                    )
                    signal.notify()
                    metrics.inbound(platform: platform.rawValue, outcome: .refusedRateLimit)
                    return .replied(text: told, accepted: false)
                }
                let id = DraftID.new(at: at)
                // The question is stored, audited and shown to approvers: secrets out, restricted text noted (a draft
                // whose question reproduces a restricted document is restricted from the start).
                let screened = Screening.inbound(text, restricted: restricted)
                var changes = Decisions.question(
                    asker: asker,
                    text: screened.text,
                    target: target,
                    platform: platform,
                    id: id,
                    ttl: draftTTL,
                    at: at,
                    inbound: inbound,
                    delivery: item.delivery
                )
                if !screened.restricted.isEmpty {
                    changes.draft?.sources = screened.restricted
                    for index in changes.audit.indices where changes.audit[index].kind == .inbound {
                        if let body = changes.audit[index].detail["body"] {
                            changes.audit[index].detail["body"] = Decisions.Confidential.summary(body)
                        }
                    }
                    if let index = changes.audit.firstIndex(where: { $0.kind == .question }) {
                        changes.audit[index].detail["question"] = Decisions.Confidential.summary(screened.text)
                        changes.audit[index].detail["restricted_sources"] = screened.restricted.map(\.label).joined(
                            separator: "; "
                        )
                    }
                }
                if !screened.secrets.isEmpty, let index = changes.audit.firstIndex(where: { $0.kind == .question }) {
                    changes.audit[index].detail["redactions"] = screened.secrets.map(\.kind).joined(separator: "; ")
                }
                try await store.commit(changes, at: at)
                signal.notify()
                metrics.inbound(platform: platform.rawValue, outcome: .accepted)
                return .accepted(id)

            case .command(let actor, let command, let route):
                inbound.actor = actor.person
                inbound.detail["outcome"] = "accepted"
                metrics.inbound(platform: platform.rawValue, outcome: .accepted)
                let reply = try await handle(
                    command,
                    from: actor,
                    platform: platform,
                    delivery: item.delivery,
                    inbound: inbound,
                    replyByDM: route == .directMessage
                )
                return route == .directMessage ? .accepted(nil) : .replied(text: reply.text, accepted: reply.accepted)
            }
        } catch is DuplicateDelivery {
            var duplicate = inbound
            duplicate.detail["outcome"] = "duplicate"
            duplicate.detail["body"] = nil
            duplicate.draftID = nil
            try await store.commit(Changes(audit: [duplicate]), at: at)
            metrics.inbound(platform: platform.rawValue, outcome: .duplicate)
            return .duplicate
        }
    }

    /// Applies a command and returns what its sender is told. Refusals are recorded too. `inbound` (the
    /// delivery's own audit entry), the delivery key and, with `replyByDM`, the DM carrying the answer are
    /// written in the same transaction as the decision.
    public func handle(
        _ parsed: Result<ChatCommand, ChatCommand.ParseError>,
        from actor: Actor,
        platform: PlatformName,
        delivery: DeliveryKey? = nil,
        inbound: AuditEvent? = nil,
        replyByDM: Bool = false
    ) async throws -> CommandReply {
        let at = now()
        let prefix = inbound.map { [$0] } ?? []
        @Sendable func withReply(_ changes: Changes, _ reply: CommandReply) -> Changes {
            guard replyByDM else { return changes }
            var changes = changes
            changes.jobs.append(
                .directMessage(
                    to: actor.person,
                    message: OutboundMessage(text: reply.text),
                    draftID: nil,
                    purpose: .commandReply
                )
            )
            return changes
        }
        defer { if replyByDM { signal.notify() } }
        let command: ChatCommand
        switch parsed {
        case .failure(let error):
            let refusal = AuditEvent(
                kind: .refusal,
                platform: platform,
                actor: actor.person,
                detail: ["command": "unparsed", "reason": error.code, "told": error.userMessage]
            )
            let reply = CommandReply(text: error.userMessage, accepted: false)
            try await store.commit(withReply(Changes(delivery: delivery, audit: prefix + [refusal]), reply), at: at)
            metrics.command(platform: platform.rawValue, command: "unknown", outcome: "refused")
            return reply
        case .success(let value):
            command = value
        }

        switch command {
        case .help:
            let event = AuditEvent(kind: .command, platform: platform, actor: actor.person, detail: ["command": "help"])
            let reply = CommandReply(text: ChatCommand.usage, accepted: true)
            try await store.commit(withReply(Changes(delivery: delivery, audit: prefix + [event]), reply), at: at)
            metrics.command(platform: platform.rawValue, command: "help", outcome: "accepted")
            return reply

        case .listDrafts:
            let event = AuditEvent(
                kind: .command,
                platform: platform,
                actor: actor.person,
                detail: ["command": "drafts"]
            )
            let reply = CommandReply(text: try await listing(for: actor.person), accepted: true)
            try await store.commit(withReply(Changes(delivery: delivery, audit: prefix + [event]), reply), at: at)
            metrics.command(platform: platform.rawValue, command: "drafts", outcome: "accepted")
            return reply

        case .onDraft(let rawID, let draftCommand):
            let name = draftCommand.name
            let policy = self.policy
            let reviewChannels = self.reviewChannels
            let result: CommandReply?
            if let id = DraftID(rawID) {
                // A revision is screened like an answer (outside the transaction): secrets out, hidden markup
                // replaced, neutralised for the draft's thread, checked against restricted documents.
                var command = draftCommand
                var screened: ScreenedText?
                if case .revise(let text) = draftCommand, let stored = try await store.draft(id) {
                    let check = Screening.publishable(
                        text,
                        neutraliser: policy.traits[stored.publishPlatform]?.neutraliser,
                        restricted: restricted
                    )
                    command = .revise(text: check.text)
                    screened = check
                }
                let revision = screened
                let final = command
                result = try await store.updateDraft(id, at: at) { draft -> (Changes, CommandReply) in
                    let (changes, reply) = Decisions.command(
                        final,
                        on: draft,
                        by: actor,
                        platform: platform,
                        policy: policy,
                        reviewChannel: reviewChannels[draft.requester.platform],
                        at: at,
                        delivery: delivery,
                        prefix: prefix,
                        revision: revision
                    )
                    return (withReply(changes, reply), reply)
                }
            } else {
                result = nil
            }
            guard let reply = result else {
                let refusal = Refusal.unknownDraft(rawID)
                let event = AuditEvent(
                    kind: .refusal,
                    platform: platform,
                    actor: actor.person,
                    detail: [
                        "command": name, "draft": String(rawID.prefix(40)), "reason": refusal.code,
                        "told": refusal.userMessage,
                    ]
                )
                let reply = CommandReply(text: refusal.userMessage, accepted: false)
                try await store.commit(withReply(Changes(delivery: delivery, audit: prefix + [event]), reply), at: at)
                metrics.command(platform: platform.rawValue, command: name, outcome: "refused")
                return reply
            }
            metrics.command(
                platform: platform.rawValue,
                command: name,
                outcome: reply.accepted ? "accepted" : "refused"
            )
            signal.notify()
            if reply.accepted, case .approve = draftCommand, let id = DraftID(rawID),
                let draft = try? await store.draft(id), let asked = draft.publishRequest?.at,
                let approved = draft.approvals.last?.at
            {
                metrics.approvalWait(approved.timeIntervalSince(asked))
            }
            return reply
        }
    }

    /// True when `person` already asked `limit` questions within the window; otherwise counts this one. Kept in
    /// memory (a sliding window per requester, per process): no database read on the ack path. With several replicas
    /// each applies the limit to what it receives.
    func overLimit(_ person: PersonID, limit: Int, at now: Date) async throws -> Bool {
        questionTimes.admit(person, limit: limit, window: questionWindow.timeInterval, at: now) == false
    }

    /// The sender's drafts and those they were sent for review that still wait for an approval.
    func listing(for person: PersonID) async throws -> String {
        // The person's drafts from every linked account (a GitHub question is listed on the linked chat account).
        var mine: [Draft] = []
        for account in policy.accounts(of: person) {
            mine += try await store.drafts(DraftFilter(requester: account, limit: 20))
        }
        mine = Array(mine.sorted { $0.createdAt > $1.createdAt }.prefix(20))
        let pending = try await store.drafts(DraftFilter(reviewer: person, states: [.publishRequested], limit: 50))
            .filter {
                !policy.isSamePerson(person, $0.requester)
                    && policy.isListed(person, scope: nil, target: $0.publishPlatform)
            }
        var lines: [String] = []
        lines.append(mine.isEmpty ? "You have no drafts." : "Your drafts:")
        lines.append(contentsOf: mine.map { "• " + Messages.listing($0) })
        if !pending.isEmpty {
            lines.append("Waiting for your approval:")
            lines.append(
                contentsOf: pending.map { "• " + Messages.listing($0) + " — /approve \($0.id) v\($0.version)" }
            )
        }
        return lines.joined(separator: "\n")
    }
}

/// When each requester's recent questions arrived (a sliding window per person).
final class QuestionTimes: Sendable {
    private let times = Mutex<[PersonID: [Date]]>([:])

    /// Records a question at `now` and returns true, or returns false (recording nothing) when `limit` were
    /// already asked within `window` seconds.
    func admit(_ person: PersonID, limit: Int, window: TimeInterval, at now: Date) -> Bool {
        times.withLock { times in
            let since = now.addingTimeInterval(-window)
            var recent = (times[person] ?? []).filter { $0 > since }
            guard recent.count < limit else {
                times[person] = recent
                return false
            }
            recent.append(now)
            times[person] = recent
            if times.count > 100_000 { times = times.filter { $0.value.contains { $0 > since } } }
            return true
        }
    }
}
