public import Foundation

/// Who sent a command.
public struct Actor: Hashable, Sendable, Codable {
    public var person: PersonID
    public var isBot: Bool
    /// Where the platform says this person acts from (Slack workspace, Discord guild, Mattermost team, Matrix
    /// homeserver, GitHub owner, Discourse site), for `AIRLOCK_OPEN_APPROVAL`; nil when the platform did not say.
    public var scope: String?
    /// The name people know them by (Discourse username, GitHub login); display only, never an identity.
    public var displayName: String?

    public init(_ person: PersonID, isBot: Bool = false, scope: String? = nil, displayName: String? = nil) {
        self.person = person
        self.isBot = isBot
        self.scope = scope
        self.displayName = displayName
    }
}

/// A command on one draft.
public enum DraftCommand: Hashable, Sendable {
    /// `/publish <id> [vN]`: the requester asks for the current text to go public; `version` is set when a button
    /// or the typed command named the version the requester saw.
    case publish(version: Int?)
    /// `/approve <id> [vN]`: a second person approves; `version` is the version they were shown (button or typed).
    case approve(version: Int?)
    /// `/reject <id> [reason]`.
    case reject(reason: String?)
    /// `/revise <id> <text>`: the requester replaces the answer text verbatim.
    case revise(text: String)
    /// `/ask <id> <instruction>`: the requester asks the agent for a new version ("shorter", "what about staging?").
    case ask(instruction: String)

    /// The command's name as typed (`publish`, `approve`, …).
    public var name: String {
        switch self {
        case .publish: "publish"
        case .approve: "approve"
        case .reject: "reject"
        case .revise: "revise"
        case .ask: "ask"
        }
    }
}

/// Why the gate refused a command. `userMessage` is safe to show in chat.
public enum Refusal: Error, Hashable, Sendable, CustomStringConvertible {
    case unknownDraft(String)
    case notRequester(command: String, requester: PersonID)
    case botActor
    case selfApproval
    case notAuthorised(PersonID)
    case notAnswered
    case noPublicThread
    case alreadyPending
    case noPendingPublish
    case staleVersion(shown: Int, current: Int)
    case alreadyApproved(by: PersonID)
    case finalState(DraftState)
    case expired
    case emptyRevision
    case notParticipant
    case postInFlight
    case notShown
    case changedSinceShown(shown: Int, current: Int)
    case versionRequired(current: Int)
    case restrictedSource(files: [String])
    case needsSecurityApprover(reasons: [String])
    case tooLongToReview(length: Int, limit: Int)
    case notInAuditLog

    /// A short machine-readable code for audit and metrics.
    public var code: String {
        switch self {
        case .unknownDraft: "unknown_draft"
        case .notRequester: "not_requester"
        case .botActor: "bot_actor"
        case .selfApproval: "self_approval"
        case .notAuthorised: "not_authorised"
        case .notAnswered: "not_answered"
        case .noPublicThread: "no_public_thread"
        case .alreadyPending: "already_pending"
        case .noPendingPublish: "no_pending_publish"
        case .staleVersion: "stale_version"
        case .alreadyApproved: "already_approved"
        case .finalState: "final_state"
        case .expired: "expired"
        case .emptyRevision: "empty_revision"
        case .notParticipant: "not_participant"
        case .postInFlight: "post_in_flight"
        case .notShown: "not_shown"
        case .changedSinceShown: "changed_since_shown"
        case .versionRequired: "version_required"
        case .restrictedSource: "restricted_source"
        case .needsSecurityApprover: "needs_security_approver"
        case .tooLongToReview: "too_long_to_review"
        case .notInAuditLog: "not_in_audit_log"
        }
    }

    /// What the sender is told.
    public var userMessage: String {
        switch self {
        case .unknownDraft(let id):
            "There is no draft `\(id)`. Send /drafts to list yours."
        case .notRequester(let command, _):
            "Only the person who asked can \(command) this draft."
        case .botActor:
            "Bots cannot approve or publish drafts."
        case .selfApproval:
            "You asked this question, so you cannot approve its answer: a second person must approve."
        case .notAuthorised(let person):
            "\(person) may not approve this draft: approvers are listed in AIRLOCK_APPROVERS (or a scope in AIRLOCK_OPEN_APPROVAL), and approve only drafts posted on a platform where they have a listed or linked account."
        case .notAnswered:
            "The agent has not answered yet; wait for the DM with the draft."
        case .noPublicThread:
            "This question was asked in a direct message, so there is no public thread to publish to."
        case .alreadyPending:
            "A publish request for this exact text is already waiting for approval."
        case .noPendingPublish:
            "Nothing to approve: the requester has not asked to publish the current text (/publish)."
        case .staleVersion(let shown, let current):
            "The draft changed since you saw it (you saw version \(shown), it is now version \(current)); look again before approving."
        case .alreadyApproved(let person):
            "This text was already approved by \(person)."
        case .finalState(let state):
            "This draft is \(state.rawValue.replacingOccurrences(of: "_", with: " ")); it can no longer change."
        case .expired:
            "This draft has expired; ask the question again for a fresh answer."
        case .emptyRevision:
            "A revision needs the new answer text: /revise <id> <text>."
        case .notParticipant:
            "Only the requester or an approver can reject this draft."
        case .postInFlight:
            "This draft is being posted right now; it can no longer be revised or rejected."
        case .notShown:
            "You were not sent this draft for review, so you cannot approve it. I have sent it to you by DM: read it, then approve the version you were shown."
        case .changedSinceShown(let shown, let current):
            "The draft changed since you were shown it (you saw version \(shown), it is now version \(current)). I have sent you the current text: read it, then /approve with its version."
        case .versionRequired(let current):
            "This draft changed since you were first sent it. Read the latest review message, then approve that exact text with /approve <id> v\(current)."
        case .restrictedSource(let files):
            "This draft draws on restricted documents (\(files.joined(separator: ", "))): it was for you only and can never be published, revised or not. If the thread needs an answer, ask a new question whose answer uses only public docs, or ask the documents' owner."
        case .needsSecurityApprover(let reasons):
            "This answer was flagged — \(reasons.joined(separator: "; ")) — so it needs an approver from AIRLOCK_SECURITY_APPROVERS."
        case .notInAuditLog:
            "The publish request or approval this post would rely on is not in the audit log, so nothing is posted."
        case .tooLongToReview(let length, let limit):
            "This answer is \(length) characters long; at most \(limit) can be shown to approvers and posted in its thread. Shorten it with /revise before publishing."
        }
    }

    public var description: String { "refused(\(code))" }
}

/// What an accepted command changed, for the caller to record and act on.
public enum GateEvent: Hashable, Sendable {
    /// The requester asked to publish: show the draft to approvers.
    case publishRequested
    /// An approver approved; the gate is open and the publisher should post `version`.
    case approved(by: PersonID, version: Int)
    /// An approval was recorded, but the draft needs `remaining` more (flagged advice, no security group).
    case approvalRecorded(by: PersonID, version: Int, remaining: Int)
    /// The draft ended.
    case rejected(by: PersonID, reason: String?)
    /// A new version replaced the text; earlier publish and approvals are void.
    case revised(version: Int, clearedApprovals: Int)
    /// The requester asked the agent for a new version of `version`.
    case followUpRequested(version: Int, instruction: String)
}

/// The gate's rules as pure functions of (draft, command, actor, time, policy).
public enum Gate {
    /// Applies a command; throws the refusal the sender is told, changes nothing then.
    public static func apply(
        _ command: DraftCommand,
        to draft: Draft,
        by actor: Actor,
        at now: Date,
        policy: ApprovalPolicy
    ) throws(Refusal) -> (draft: Draft, event: GateEvent) {
        if actor.isBot { throw .botActor }
        if draft.state.isFinal { throw .finalState(draft.state) }
        let isRequester = policy.isSamePerson(actor.person, draft.requester)
        var next = draft
        switch command {
        case .publish(let shownVersion):
            guard isRequester else { throw .notRequester(command: "publish", requester: draft.requester) }
            try checkOpen(draft, at: now)
            guard draft.target != nil else { throw .noPublicThread }
            if let shownVersion, shownVersion != draft.version {
                throw .staleVersion(shown: shownVersion, current: draft.version)
            }
            if [.publishRequested, .approved, .publishing].contains(draft.state) { throw .alreadyPending }
            let restricted = draft.sources.filter(\.restricted).map(\.file)
            guard restricted.isEmpty else { throw .restrictedSource(files: Array(Set(restricted)).sorted()) }
            let length = draft.text.count
            let limit = policy.maxPublicLength(on: draft.publishPlatform)
            guard length <= limit else { throw .tooLongToReview(length: length, limit: limit) }
            next.publishRequest = PublishRequest(version: draft.version, contentHash: draft.contentHash, at: now)
            next.state = .publishRequested
            next.evidence.entries.append(
                .init(
                    kind: .publishRequested,
                    actor: actor.person,
                    version: draft.version,
                    contentHash: draft.contentHash
                )
            )
            return (next, .publishRequested)

        case .approve(let shownVersion):
            if isRequester { throw .selfApproval }
            guard policy.isListed(actor.person, scope: actor.scope ?? "", target: draft.publishPlatform) else {
                throw .notAuthorised(actor.person)
            }
            try checkOpen(draft, at: now)
            if draft.state == .publishing || draft.state == .approved {
                throw .alreadyApproved(by: draft.claim?.approver ?? draft.approvals.last?.approver ?? actor.person)
            }
            if let existing = draft.approvals.first(where: {
                $0.version == draft.version && policy.isSamePerson($0.approver, actor.person)
            }) {
                throw .alreadyApproved(by: existing.approver)
            }
            let requirement = Self.requirement(for: draft, policy: policy)
            if requirement.needsSecurityApprover, !policy.isSecurityApprover(actor.person) {
                throw .needsSecurityApprover(reasons: draft.risks.map(\.description))
            }
            guard draft.state == .publishRequested, let request = draft.publishRequest,
                request.version == draft.version, request.contentHash == draft.contentHash
            else { throw .noPendingPublish }
            // The approval binds to what this approver was shown: the current version must have been sent to
            // them, and once they were sent more than one version, they must name the one they approve.
            if let shownVersion, shownVersion != draft.version {
                throw .staleVersion(shown: shownVersion, current: draft.version)
            }
            let seen = Self.shownVersions(of: actor.person, in: draft, policy: policy)
            guard let lastSeen = seen.max() else { throw .notShown }
            guard seen.contains(draft.version) else {
                throw .changedSinceShown(shown: lastSeen, current: draft.version)
            }
            if shownVersion == nil, seen.count > 1 { throw .versionRequired(current: draft.version) }
            next.approvals.append(
                Approval(approver: actor.person, version: draft.version, contentHash: draft.contentHash, at: now)
            )
            next.evidence.entries.append(
                .init(kind: .approval, actor: actor.person, version: draft.version, contentHash: draft.contentHash)
            )
            let given = next.approvals.filter { $0.version == draft.version }.count
            guard given >= requirement.count else {
                return (
                    next,
                    .approvalRecorded(by: actor.person, version: draft.version, remaining: requirement.count - given)
                )
            }
            next.state = .approved
            return (next, .approved(by: actor.person, version: draft.version))

        case .reject(let reason):
            let isApprover =
                !isRequester && policy.isListed(actor.person, scope: actor.scope ?? "", target: draft.publishPlatform)
            guard isRequester || isApprover else { throw .notParticipant }
            if draft.state == .publishing { throw .postInFlight }
            if draft.hasExpired(at: now) { throw .expired }
            next.state = .rejected
            next.rejectionReason = reason
            return (next, .rejected(by: actor.person, reason: reason))

        case .revise(let text):
            guard isRequester else { throw .notRequester(command: "revise", requester: draft.requester) }
            if draft.state == .publishing { throw .postInFlight }
            try checkOpen(draft, at: now)
            let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
            guard !trimmed.isEmpty else { throw .emptyRevision }
            let cleared = draft.approvals.count
            next.text = text
            next.risks = RiskClassifier.classify(text)
            next.version += 1
            next.publishRequest = nil
            next.approvals = []
            next.state = .revised
            return (next, .revised(version: next.version, clearedApprovals: cleared))

        case .ask(let instruction):
            guard isRequester else { throw .notRequester(command: "ask", requester: draft.requester) }
            if draft.state == .publishing { throw .postInFlight }
            try checkOpen(draft, at: now)
            let trimmed = instruction.trimmingCharacters(in: .whitespacesAndNewlines)
            guard !trimmed.isEmpty else { throw .emptyRevision }
            return (next, .followUpRequested(version: draft.version, instruction: trimmed))
        }
    }

    /// How many distinct approvals the current text needs, and whether one must come from the security group.
    public static func requirement(
        for draft: Draft,
        policy: ApprovalPolicy
    ) -> (count: Int, needsSecurityApprover: Bool) {
        guard !draft.risks.isEmpty else { return (1, false) }
        return policy.securityApprovers.isEmpty ? (2, false) : (1, true)
    }

    /// The versions `person` (any of their linked accounts) was sent for review.
    static func shownVersions(of person: PersonID, in draft: Draft, policy: ApprovalPolicy) -> Set<Int> {
        let canonical = policy.canonical(person)
        return draft.reviewers.reduce(into: Set<Int>()) { all, entry in
            if policy.canonical(entry.key) == canonical { all.formUnion(entry.value) }
        }
    }

    /// Records that `person` received `version` for review. Called only in the transaction that records the
    /// platform's acceptance of that review message: an approver whose DM failed was never shown the text.
    public static func markShown(_ draft: Draft, to person: PersonID, version: Int) -> Draft {
        var next = draft
        next.reviewers[person, default: []].insert(version)
        return next
    }

    /// Marks a draft expired once its TTL has passed, approved ones included (a post not yet claimed by then
    /// is not made); nil when nothing changes. A claimed post in flight is not expired: it is reconciled.
    public static func expireIfDue(_ draft: Draft, at now: Date) -> Draft? {
        guard !draft.state.isFinal, draft.state != .publishing, draft.hasExpired(at: now) else { return nil }
        var next = draft
        next.state = .expired
        return next
    }

    /// The publisher's check, made in the transaction that claims the post: the current text was
    /// asked to be published by its requester and approved by a distinct authorised human.
    public static func authorizePost(_ draft: Draft, policy: ApprovalPolicy, at now: Date) throws(Refusal) -> Approval {
        guard draft.state == .approved else {
            if draft.state.isFinal { throw .finalState(draft.state) }
            throw .noPendingPublish
        }
        guard draft.target != nil else { throw .noPublicThread }
        if draft.hasExpired(at: now) { throw .expired }
        let limit = policy.maxPublicLength(on: draft.publishPlatform)
        guard draft.text.count <= limit else { throw .tooLongToReview(length: draft.text.count, limit: limit) }
        let hash = draft.contentHash
        guard let request = draft.publishRequest, request.version == draft.version, request.contentHash == hash
        else { throw .noPendingPublish }
        // The publish request and every approval relied on must be in the audit log: a row written into the
        // database by hand (state, approval, job) posts nothing.
        guard
            draft.evidence.contains(
                .publishRequested,
                by: { policy.isSamePerson($0, draft.requester) },
                version: draft.version,
                contentHash: hash
            )
        else { throw .notInAuditLog }
        let restricted = draft.sources.filter(\.restricted).map(\.file)
        guard restricted.isEmpty else { throw .restrictedSource(files: restricted) }
        var distinct: [Approval] = []
        for approval in draft.approvals
        where approval.version == draft.version && approval.contentHash == hash
            && draft.evidence.contains(
                .approval,
                by: { $0 == approval.approver },
                version: draft.version,
                contentHash: hash
            )
            && !policy.isSamePerson(approval.approver, draft.requester)
            && policy.isListed(approval.approver, scope: nil, target: draft.publishPlatform)
            && !distinct.contains(where: { policy.isSamePerson($0.approver, approval.approver) })
        {
            distinct.append(approval)
        }
        let requirement = requirement(for: draft, policy: policy)
        if distinct.count < requirement.count,
            draft.approvals.contains(where: {
                $0.version == draft.version && $0.contentHash == hash
                    && !draft.evidence.contains(
                        .approval,
                        by: { [approver = $0.approver] in $0 == approver },
                        version: draft.version,
                        contentHash: hash
                    )
            })
        {
            // An approval row the audit log does not hold: written by hand, not by the gate.
            throw .notInAuditLog
        }
        if requirement.needsSecurityApprover, !distinct.contains(where: { policy.isSecurityApprover($0.approver) }) {
            throw .needsSecurityApprover(reasons: draft.risks.map(\.description))
        }
        guard distinct.count >= requirement.count, let approval = distinct.last else { throw .noPendingPublish }
        return approval
    }
}

extension Gate {
    /// Applies the agent's first answer to a requested draft.
    public static func answer(
        _ draft: Draft,
        text: String,
        sources: [SourceRef],
        riskFlags: [String]
    ) -> Draft {
        answer(draft, screened: ScreenedText(text), sources: sources, riskFlags: riskFlags)
    }

    /// Applies an answer already screened (redacted and classified) — the costly part done outside any transaction.
    public static func answer(
        _ draft: Draft,
        screened: ScreenedText,
        sources: [SourceRef],
        riskFlags: [String]
    ) -> Draft {
        var next = draft
        next.text = screened.text
        next.redactions = screened.secrets
        next.risks = screened.risks
        // Restricted documents the question already reproduced, the agent read or the answer reproduces all make the
        // draft restricted, whatever the answer cites.
        var all = sources
        for source in draft.sources.filter(\.restricted) + screened.restricted where !all.contains(source) {
            all.append(source)
        }
        next.sources = all
        next.riskFlags = riskFlags
        next.version = 1
        next.state = .answered
        return next
    }

    private static func checkOpen(_ draft: Draft, at now: Date) throws(Refusal) {
        if draft.hasExpired(at: now) { throw .expired }
        if draft.state == .requested { throw .notAnswered }
    }
}

/// A text after screening (`Screening`): secrets redacted, hidden markup replaced, neutralised, risks classified,
/// and the restricted documents it reproduces.
public struct ScreenedText: Hashable, Sendable {
    public var text: String
    public var secrets: [RedactedSecret]
    public var risks: [RiskFinding]
    /// Restricted documents the text reproduces: a draft holding it is restricted and never publishable.
    public var restricted: [SourceRef]
    /// Hidden markup replaced by visible markers.
    public var hiddenMarkup: [String]

    public init(
        text: String,
        secrets: [RedactedSecret],
        risks: [RiskFinding],
        restricted: [SourceRef],
        hiddenMarkup: [String]
    ) {
        self.text = text
        self.secrets = secrets
        self.risks = risks
        self.restricted = restricted
        self.hiddenMarkup = hiddenMarkup
    }

    /// Secrets redacted and risks classified only (no platform, no restricted documents).
    public init(_ raw: String) {
        self = Screening.publishable(raw, neutraliser: nil, restricted: NoRestrictedContent())
    }
}
