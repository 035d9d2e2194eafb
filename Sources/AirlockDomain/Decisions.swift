public import Foundation

/// The answer to a command, shown only to its sender.
public struct CommandReply: Hashable, Sendable {
    public var text: String
    public var accepted: Bool

    public init(text: String, accepted: Bool) {
        self.text = text
        self.accepted = accepted
    }
}

/// What the publisher may do after its claim transaction.
public enum PostDecision: Hashable, Sendable {
    /// Post `draft` (claimed as `draft.claim`); when `claim.attempts > 1`, first look for an earlier post.
    case post(Draft)
    /// Nothing to post (already posted, or the gate refused — recorded).
    case done
}

/// Every decision the workflow makes, as pure functions from what is stored to the `Changes` a store writes.
/// They run inside the store's transaction (`DraftStore.updateDraft`), so a decision and its effects are atomic.
public enum Decisions {
    /// A verified question: the draft, its `question` audit entry and the agent job.
    public static func question(
        asker: Actor,
        text: String,
        target: ThreadRef?,
        platform: PlatformName,
        id: DraftID,
        ttl: Duration,
        at now: Date,
        inbound: AuditEvent,
        delivery: DeliveryKey?
    ) -> Changes {
        let draft = Draft(id: id, requester: asker.person, question: text, target: target, createdAt: now, ttl: ttl)
        var inbound = inbound
        inbound.actor = asker.person
        inbound.draftID = id
        inbound.detail["outcome"] = "accepted"
        let requested = AuditEvent(
            kind: .question,
            platform: platform,
            actor: asker.person,
            draftID: id,
            detail: ["question": text, "target": target?.description ?? "direct message"]
        )
        return Changes(delivery: delivery, draft: draft, audit: [inbound, requested], jobs: [.answer(draftID: id)])
    }

    /// A command on a draft: the gate's decision and everything it writes (refusals included).
    public static func command(
        _ command: DraftCommand,
        on stored: Draft,
        by actor: Actor,
        platform: PlatformName,
        policy: ApprovalPolicy,
        reviewChannel: String?,
        at now: Date,
        delivery: DeliveryKey?,
        prefix: [AuditEvent],
        revision: ScreenedText? = nil
    ) -> (Changes, CommandReply) {
        var draft = stored
        var audit = prefix
        var commandDetail = ["command": command.name, "version": String(draft.version)]
        let confidential = !(revision?.restricted.isEmpty ?? true) || stored.sources.contains(where: \.restricted)
        if confidential, case .revise = command {
            // The delivery carrying the revision holds its text too: recorded by length and hash only.
            for index in audit.indices where audit[index].kind == .inbound {
                if let body = audit[index].detail["body"] { audit[index].detail["body"] = Confidential.summary(body) }
            }
        }
        switch command {
        case .revise(let text): commandDetail["text"] = confidential ? Confidential.summary(text) : text
        case .reject(let reason?): commandDetail["reason"] = reason
        case .approve(let shown?), .publish(let shown?): commandDetail["shown_version"] = String(shown)
        default: break
        }
        audit.append(
            AuditEvent(
                kind: .command,
                platform: platform,
                actor: actor.person,
                draftID: draft.id,
                detail: commandDetail
            )
        )
        if let expired = Gate.expireIfDue(draft, at: now) {
            draft = expired
            audit.append(expiredEvent(expired, platform: platform, by: "command"))
        }
        do {
            var (next, event) =
                try Gate.apply(command, to: draft, by: actor, at: now, policy: policy) as (Draft, GateEvent)
            var (changes, reply) = accepted(
                event,
                next: next,
                actor: actor,
                platform: platform,
                policy: policy,
                reviewChannel: reviewChannel,
                audit: audit,
                delivery: delivery
            )
            if case .revised = event, let revision {
                // What the screening found stays with the new version: its redactions, and the restricted documents
                // it reproduces (the draft becomes restricted: never publishable).
                next = changes.draft ?? next
                next.redactions = revision.secrets
                for source in revision.restricted where !next.sources.contains(source) { next.sources.append(source) }
                changes.draft = next
                if let index = changes.audit.lastIndex(where: { $0.kind == .revised }) {
                    if !revision.secrets.isEmpty {
                        changes.audit[index].detail["redactions"] = revision.secrets.map(\.kind).joined(separator: "; ")
                    }
                    if !revision.restricted.isEmpty {
                        changes.audit[index].detail["restricted_sources"] = revision.restricted.map(\.label).joined(
                            separator: "; "
                        )
                    }
                    if !revision.hiddenMarkup.isEmpty {
                        changes.audit[index].detail["hidden_markup"] = revision.hiddenMarkup.joined(separator: "; ")
                    }
                }
                var notes: [String] = []
                if !revision.secrets.isEmpty {
                    notes.append("Removed before it was stored: \(Messages.counted(revision.secrets.map(\.kind))).")
                }
                if !revision.hiddenMarkup.isEmpty {
                    notes.append(
                        "Replaced markup that would be invisible to approvers: \(Messages.counted(revision.hiddenMarkup))."
                    )
                }
                if !revision.restricted.isEmpty {
                    notes.append(
                        "It reproduces restricted documents (\(revision.restricted.map(\.file).joined(separator: ", "))): this draft can never be published."
                    )
                }
                if !notes.isEmpty { reply.text += " " + notes.joined(separator: " ") }
                // The requester's copy of the new version shows the same.
                for index in changes.jobs.indices {
                    if case .directMessage(let to, _, let id, .revisedDraft) = changes.jobs[index] {
                        changes.jobs[index] = .directMessage(
                            to: to,
                            message: Messages.draftForRequester(next),
                            draftID: id,
                            purpose: .revisedDraft
                        )
                    }
                }
            }
            return (changes, reply)
        } catch {
            audit.append(
                AuditEvent(
                    kind: .refusal,
                    platform: platform,
                    actor: actor.person,
                    draftID: draft.id,
                    detail: ["command": command.name, "reason": error.code, "told": error.userMessage]
                )
            )
            var jobs: [JobPayload] = []
            switch error {
            case .notShown, .changedSinceShown, .versionRequired:
                // An authorised approver who was not shown this text is sent it now; once it is delivered they
                // count as shown it, and approve what they saw.
                jobs.append(
                    .reviewRequest(
                        to: actor.person,
                        draftID: draft.id,
                        version: draft.version,
                        message: Messages.reviewRequest(draft)
                    )
                )
                audit.append(
                    AuditEvent(
                        kind: .reviewSent,
                        platform: platform,
                        actor: actor.person,
                        draftID: draft.id,
                        detail: ["version": String(draft.version), "content_hash": draft.contentHash]
                    )
                )
            default:
                break
            }
            let changed = draft != stored ? draft : nil
            return (
                Changes(delivery: delivery, draft: changed, audit: audit, jobs: jobs),
                CommandReply(text: error.userMessage, accepted: false)
            )
        }
    }

    private static func accepted(
        _ event: GateEvent,
        next stored: Draft,
        actor: Actor,
        platform: PlatformName,
        policy: ApprovalPolicy,
        reviewChannel: String?,
        audit prefix: [AuditEvent],
        delivery: DeliveryKey?
    ) -> (Changes, CommandReply) {
        var next = stored
        var audit = prefix
        var jobs: [JobPayload] = []
        let text: String
        switch event {
        case .publishRequested:
            audit.append(
                AuditEvent(
                    kind: .publishRequested,
                    platform: platform,
                    actor: actor.person,
                    draftID: next.id,
                    detail: ["version": String(next.version), "content_hash": next.contentHash]
                )
            )
            // Listed approvers, and the security group when the advice is flagged (one of them must approve).
            var candidates = policy.listedApprovers
            if !next.risks.isEmpty {
                candidates += policy.listedSecurityApprovers.filter { !candidates.contains($0) }
            }
            let reviewers = candidates.filter {
                !policy.isSamePerson($0, next.requester)
                    && policy.isListed($0, scope: nil, target: next.publishPlatform)
            }
            let review = Messages.reviewRequest(next)
            for reviewer in reviewers {
                jobs.append(.reviewRequest(to: reviewer, draftID: next.id, version: next.version, message: review))
            }
            var asked = reviewers.map(\.description)
            if let reviewChannel {
                jobs.append(
                    .reviewChannel(
                        platform: next.requester.platform,
                        channel: reviewChannel,
                        message: review,
                        draftID: next.id
                    )
                )
                asked.append("the review channel")
            }
            if !reviewers.isEmpty || reviewChannel != nil {
                audit.append(
                    AuditEvent(
                        kind: .reviewSent,
                        platform: platform,
                        draftID: next.id,
                        detail: [
                            "version": String(next.version), "content_hash": next.contentHash,
                            "to": asked.joined(separator: ", "),
                        ]
                    )
                )
            }
            text =
                asked.isEmpty
                ? "Publish requested for draft `\(next.id)` v\(next.version). Ask a colleague to approve it with /approve \(next.id) v\(next.version); they will be shown the text first."
                : "Publish requested for draft `\(next.id)` v\(next.version). Waiting for approval; asked: \(asked.joined(separator: ", "))."
        case .approvalRecorded(let approver, let version, let remaining):
            audit.append(approval(next, by: approver, version: version, remaining: remaining, platform: platform))
            text =
                "Your approval of draft `\(next.id)` v\(version) is recorded. Its advice was flagged (\(next.risks.map(\.category.label).joined(separator: "; "))), so it needs \(remaining) more approval(s) from another approver before it is posted."
        case .approved(let approver, let version):
            audit.append(approval(next, by: approver, version: version, remaining: nil, platform: platform))
            jobs.append(.publish(draftID: next.id, version: version))
            text =
                "Approved draft `\(next.id)` v\(version). It will be posted in \(next.target?.description ?? "its thread") now."
        case .rejected(let person, let reason):
            audit.append(
                AuditEvent(
                    kind: .rejected,
                    platform: platform,
                    actor: person,
                    draftID: next.id,
                    detail: ["reason": reason ?? ""]
                )
            )
            if !policy.isSamePerson(person, next.requester) {
                jobs.append(
                    .directMessage(
                        to: next.requester,
                        message: Messages.rejected(next, by: person, reason: reason),
                        draftID: next.id,
                        purpose: .rejected
                    )
                )
            }
            text = "Draft `\(next.id)` rejected. Nothing will be posted."
        case .followUpRequested(let version, let instruction):
            audit.append(
                AuditEvent(
                    kind: .followUpRequested,
                    platform: platform,
                    actor: actor.person,
                    draftID: next.id,
                    detail: ["version": String(version), "instruction": instruction]
                )
            )
            jobs.append(.followUp(draftID: next.id, version: version, instruction: instruction))
            text =
                "Asked the agent for a new version of draft `\(next.id)` (from v\(version)): \"\(instruction.prefix(200))\". It comes by DM as v\(version + 1); its publish request and approvals will be cleared."
        case .revised(let version, let cleared):
            audit.append(
                AuditEvent(
                    kind: .revised,
                    platform: platform,
                    actor: actor.person,
                    draftID: next.id,
                    detail: [
                        "version": String(version), "cleared_approvals": String(cleared),
                        "content_hash": next.contentHash,
                    ]
                )
            )
            jobs.append(
                .directMessage(
                    to: next.requester,
                    message: Messages.draftForRequester(next),
                    draftID: next.id,
                    purpose: .revisedDraft
                )
            )
            text =
                "Draft `\(next.id)` is now version \(version); its publish request and \(cleared) approval(s) were cleared. Send /publish \(next.id) to ask again."
        }
        return (
            Changes(delivery: delivery, draft: next, audit: audit, jobs: jobs), CommandReply(text: text, accepted: true)
        )
    }

    /// The agent's answer to a requested draft (nothing when the draft moved on meanwhile).
    public static func answer(
        _ current: Draft,
        with answer: AgentAnswer,
        backend: AgentBackend,
        duration: Duration,
        jobID: Int64,
        screened: ScreenedText? = nil,
        redactedPrompt: String? = nil,
        place: Place? = nil,
        thread: ThreadRead? = nil
    ) -> Changes {
        guard current.state == .requested else { return Changes(completedJob: jobID) }
        var current = current
        // Thread text that reproduces a restricted document makes the draft restricted, like any other input.
        for source in thread?.restricted ?? [] where !current.sources.contains(source) {
            current.sources.append(source)
        }
        // What the draft answers is the thread's question: shown as such to the requester and the approvers.
        if let root = thread?.messages.first, root.text != current.question {
            current.question = "\(root.text) — asked by \(root.author) in the thread; the request: \(current.question)"
        }
        // Where the answer would go, as the platform says now: shown to approvers, bound into the content hash.
        if let place, current.target?.place == nil { current.target?.place = place }
        // Secrets are removed before anything is stored or sent; the prompt recorded in the audit log is redacted
        // the same way. Callers screen outside the transaction and pass the result in.
        let answered = Gate.answer(
            current,
            screened: screened ?? ScreenedText(answer.text),
            sources: answer.sources,
            riskFlags: answer.riskFlags
        )
        // A draft that quotes restricted documents is recorded by length and hash: the audit log (exported, kept
        // forever) never holds restricted text.
        let restricted = answered.sources.contains(where: \.restricted)
        let prompt = redactedPrompt ?? SecretRedactor.redact(answer.prompt ?? current.question).text
        var detail = [
            "backend": backend.rawValue, "model": answer.model ?? "",
            "prompt": restricted ? Confidential.summary(prompt) : prompt,
            "answer": restricted ? Confidential.summary(answered.text) : answered.text,
            "sources": answered.sources.map(\.label).joined(separator: "; "),
            "restricted_sources": answered.sources.filter(\.restricted).map(\.label).joined(separator: "; "),
            "redactions": answered.redactions.map(\.kind).joined(separator: "; "),
            "risks": answered.risks.map(\.description).joined(separator: "; "),
            "risk_flags": answered.riskFlags.joined(separator: "; "),
            "duration_ms": String(duration.milliseconds), "content_hash": answered.contentHash,
        ]
        if let thread, !thread.messages.isEmpty {
            // What the agent read: message ids and a hash of each, never the text.
            detail["thread_read"] = thread.messages.map {
                "\($0.id) sha256:\(ContentHash.sha256Hex($0.text).prefix(16))"
            }
            .joined(separator: ", ")
        }
        if let calls = answer.toolCalls, !calls.isEmpty { detail["tool_calls"] = calls.joined(separator: "; ") }
        if let tokens = answer.inputTokens { detail["input_tokens"] = String(tokens) }
        if let tokens = answer.outputTokens { detail["output_tokens"] = String(tokens) }
        return Changes(
            draft: answered,
            audit: [
                AuditEvent(kind: .agentRun, platform: current.requester.platform, draftID: current.id, detail: detail)
            ],
            jobs: [
                .directMessage(
                    to: current.requester,
                    message: Messages.draftForRequester(answered, read: thread?.summary),
                    draftID: current.id,
                    purpose: .draftAnswer
                )
            ],
            completedJob: jobID
        )
    }

    /// The agent's new version after a follow-up: version N+1, publish request and approvals cleared (like a
    /// revision), the requester shown what changed. Nothing when the draft moved on meanwhile.
    public static func followedUp(
        _ current: Draft,
        fromVersion version: Int,
        instruction: String,
        answer: AgentAnswer,
        screened: ScreenedText,
        backend: AgentBackend,
        jobID: Int64
    ) -> Changes {
        guard current.version == version, !current.state.isFinal, current.state != .publishing,
            current.state != .requested
        else {
            return Changes(completedJob: jobID)
        }
        var next = current
        let cleared = next.approvals.count
        next.text = screened.text
        next.redactions = screened.secrets
        next.risks = screened.risks
        next.riskFlags = answer.riskFlags
        var sources = answer.sources
        for source in current.sources.filter(\.restricted) + screened.restricted where !sources.contains(source) {
            sources.append(source)
        }
        next.sources = sources
        next.version += 1
        next.publishRequest = nil
        next.approvals = []
        next.state = .revised
        let restricted = next.sources.contains(where: \.restricted)
        let change = Messages.changes(from: current.text, to: next.text)
        var message = Messages.draftForRequester(next)
        message.text = "You asked: \"\(instruction.prefix(200))\"\n" + change + "\n\n" + message.text
        return Changes(
            draft: next,
            audit: [
                AuditEvent(
                    kind: .revised,
                    platform: current.requester.platform,
                    draftID: current.id,
                    detail: [
                        "version": String(next.version), "cleared_approvals": String(cleared),
                        "content_hash": next.contentHash,
                        "by": "agent follow-up", "backend": backend.rawValue,
                        "text": restricted ? Confidential.summary(next.text) : next.text,
                    ]
                )
            ],
            jobs: [
                .directMessage(to: current.requester, message: message, draftID: current.id, purpose: .revisedDraft)
            ],
            completedJob: jobID
        )
    }

    /// What the agent read of a thread, for the audit log and the requester's DM.
    public struct ThreadRead: Sendable {
        public var messages: [ThreadMessage]
        public var place: String?
        public var restricted: [SourceRef]

        public init(messages: [ThreadMessage], place: String?, restricted: [SourceRef] = []) {
            self.messages = messages
            self.place = place
            self.restricted = restricted
        }

        /// `Read: 3 messages in #ops-help thread by alice, dave.`
        public var summary: String? {
            guard !messages.isEmpty else { return nil }
            var authors: [String] = []
            for message in messages where !authors.contains(message.author) { authors.append(message.author) }
            let count = messages.count == 1 ? "1 message" : "\(messages.count) messages"
            return
                "Read: \(count) in the \(place ?? "") thread by \(authors.joined(separator: ", ")) (their text is data: nothing in it changes who approves or where this goes)."
        }
    }

    /// What may be recorded of a confidential text: its length and hash.
    public enum Confidential {
        public static func summary(_ text: String) -> String {
            "[restricted: \(text.count) characters, sha256 \(ContentHash.sha256Hex(text).prefix(16))]"
        }
    }

    /// The publisher's claim: re-checks the gate on the stored draft and, when it holds, moves the draft to
    /// `publishing` with the exact version, hash and approval it will post. A repeated claim (after a crash or
    /// a retry) keeps the first claim and counts the attempt.
    public static func claimPost(
        _ draft: Draft,
        version: Int,
        policy: ApprovalPolicy,
        at now: Date,
        jobID: Int64,
        currentPlace: Place? = nil
    ) -> (Changes, PostDecision) {
        let platform = draft.target?.platform ?? draft.requester.platform
        if draft.state == .posted { return (Changes(completedJob: jobID), .done) }
        if draft.state == .approved, let was = draft.target?.place, let now_ = currentPlace,
            now_.visibility > was.visibility
        {
            // The thread became more public since the answer was written and approved: nothing is posted, and the
            // requester and the approvers are told.
            var failed = draft
            failed.state = .failed
            let message = Messages.targetMorePublic(draft, was: was, now: now_)
            let told = [draft.requester] + draft.approvals.filter { $0.version == draft.version }.map(\.approver)
            return (
                Changes(
                    draft: failed,
                    audit: [
                        AuditEvent(
                            kind: .publishRefused,
                            platform: platform,
                            draftID: draft.id,
                            detail: [
                                "reason": "target_more_public", "version": String(version), "was": was.description,
                                "now": now_.description,
                            ]
                        )
                    ],
                    jobs: told.map {
                        .directMessage(to: $0, message: message, draftID: draft.id, purpose: .publishRefused)
                    },
                    completedJob: jobID
                ),
                .done
            )
        }
        if draft.state == .publishing, var claim = draft.claim {
            guard claim.version == version else { return (Changes(completedJob: jobID), .done) }
            claim.attempts += 1
            var next = draft
            next.claim = claim
            return (
                Changes(draft: next, audit: [claimedEvent(next, claim: claim, platform: platform)]),
                .post(next)
            )
        }
        let approval: Approval
        do throws(Refusal) {
            approval = try Gate.authorizePost(draft, policy: policy, at: now)
            guard approval.version == version else {
                throw Refusal.staleVersion(shown: version, current: draft.version)
            }
        } catch {
            var changes = Changes(
                audit: [
                    AuditEvent(
                        kind: .publishRefused,
                        platform: platform,
                        draftID: draft.id,
                        detail: ["reason": error.code, "version": String(version)]
                    )
                ],
                completedJob: jobID
            )
            if let expired = Gate.expireIfDue(draft, at: now) {
                changes.draft = expired
                changes.audit.append(expiredEvent(expired, platform: platform, by: "publisher"))
            }
            return (changes, .done)
        }
        var next = draft
        let claim = PostClaim(
            version: draft.version,
            contentHash: draft.contentHash,
            approver: approval.approver,
            attempts: 1,
            claimedAt: now
        )
        next.claim = claim
        next.state = .publishing
        return (Changes(draft: next, audit: [claimedEvent(next, claim: claim, platform: platform)]), .post(next))
    }

    /// Records the platform's acceptance of the claimed post — the claim's version, hash and approver, never
    /// whatever the draft says now — and tells requester and approver.
    public static func recordPost(
        _ draft: Draft,
        delivered: DeliveredMessage,
        reconciled: Bool,
        at now: Date,
        jobID: Int64
    ) -> Changes {
        guard draft.state == .publishing, let claim = draft.claim, let target = draft.target else {
            return Changes(completedJob: jobID)
        }
        var posted = draft
        posted.state = .posted
        posted.posted = PostedRef(messageID: delivered.messageID, permalink: delivered.permalink, at: now)
        return Changes(
            draft: posted,
            audit: [
                AuditEvent(
                    kind: .posted,
                    platform: target.platform,
                    actor: claim.approver,
                    draftID: draft.id,
                    detail: [
                        "version": String(claim.version), "content_hash": claim.contentHash,
                        "thread": target.description, "message_id": delivered.messageID,
                        "permalink": delivered.permalink ?? "", "requester": draft.requester.description,
                        "approver": claim.approver.description, "attempt": String(claim.attempts),
                        "reconciled": reconciled ? "true" : "false",
                    ]
                )
            ],
            jobs: [draft.requester, claim.approver].map { person in
                .directMessage(
                    to: person,
                    message: Messages.posted(posted, link: delivered.permalink),
                    draftID: draft.id,
                    purpose: .postedNotice
                )
            },
            completedJob: jobID
        )
    }

    /// A job given up for good: recorded, and for an agent run or a post the draft ends as `failed` and its
    /// requester is told. Decided on the stored draft, in the transaction that marks the job failed.
    public static func jobFailed(_ job: Job, draft: Draft?, error: String) -> Changes {
        var changes = Changes(
            audit: [
                AuditEvent(
                    kind: .jobFailed,
                    draftID: job.payload.draftID,
                    detail: ["job": job.payload.kind.rawValue, "attempts": String(job.attempt), "error": error]
                )
            ],
            failedJob: FailedJob(id: job.id, error: error)
        )
        guard var draft else { return changes }
        switch job.payload {
        case .answer where draft.state == .requested:
            draft.state = .failed
            changes.draft = draft
            changes.jobs = [
                .directMessage(
                    to: draft.requester,
                    message: Messages.agentFailed(draft),
                    draftID: draft.id,
                    purpose: .agentFailed
                )
            ]
        case .followUp:
            // The draft stays as it was; its requester is told.
            changes.jobs = [
                .directMessage(
                    to: draft.requester,
                    message: OutboundMessage(
                        text:
                            "The agent could not produce a new version of draft `\(draft.id)` (\(error.prefix(200))). The draft is unchanged: v\(draft.version)."
                    ),
                    draftID: draft.id,
                    purpose: .agentFailed
                )
            ]
        case .publish where draft.state == .publishing || draft.state == .approved:
            // Final: nothing retries it, and a post whose last attempt timed out may exist, so no later version
            // may be published over it. The requester can ask again.
            draft.state = .failed
            changes.draft = draft
            changes.jobs = [
                .directMessage(
                    to: draft.requester,
                    message: Messages.publishFailed(draft, reason: error),
                    draftID: draft.id,
                    purpose: .publishFailed
                )
            ]
        default:
            break
        }
        return changes
    }

    /// A review message the platform accepted: its approver now counts as shown that version (recorded with the
    /// delivery, in one transaction). `sent` is the delivery's `dm_sent` entry.
    public static func reviewDelivered(
        _ draft: Draft,
        to person: PersonID,
        version: Int,
        sent: AuditEvent,
        jobID: Int64
    ) -> Changes {
        var audit = sent
        audit.detail["shown_version"] = String(version)
        return Changes(draft: Gate.markShown(draft, to: person, version: version), audit: [audit], completedJob: jobID)
    }

    /// The TTL sweep's decision on one draft.
    public static func expire(_ draft: Draft, at now: Date) -> Changes {
        guard let expired = Gate.expireIfDue(draft, at: now) else { return Changes() }
        return Changes(
            draft: expired,
            audit: [expiredEvent(expired, platform: expired.requester.platform, by: "ttl_sweep")]
        )
    }

    static func expiredEvent(_ draft: Draft, platform: PlatformName, by: String) -> AuditEvent {
        AuditEvent(
            kind: .expired,
            platform: platform,
            draftID: draft.id,
            detail: ["by": by, "expires_at": String(draft.expiresAt.millis)]
        )
    }

    static func claimedEvent(_ draft: Draft, claim: PostClaim, platform: PlatformName) -> AuditEvent {
        AuditEvent(
            kind: .publishClaimed,
            platform: platform,
            draftID: draft.id,
            detail: [
                "version": String(claim.version), "attempt": String(claim.attempts), "content_hash": claim.contentHash,
                "approver": claim.approver.description,
            ]
        )
    }
}

/// The audit entry of an approval (the evidence the publisher's claim relies on); `remaining` when more are needed.
private func approval(
    _ draft: Draft,
    by approver: PersonID,
    version: Int,
    remaining: Int?,
    platform: PlatformName
) -> AuditEvent {
    var detail = [
        "version": String(version), "content_hash": draft.contentHash, "requester": draft.requester.description,
    ]
    detail["remaining"] = remaining.map(String.init)
    return AuditEvent(kind: .approval, platform: platform, actor: approver, draftID: draft.id, detail: detail)
}

extension Duration {
    /// Whole milliseconds.
    public var milliseconds: Int64 {
        let parts = components
        return parts.seconds * 1000 + parts.attoseconds / 1_000_000_000_000_000
    }
}
