public import AirlockDomain
public import Foundation
public import Logging
public import ServiceLifecycle

/// Runs durable jobs: agent runs, DMs and public posts. Several loops claim jobs from the database, so a
/// crash loses nothing: a claimed job whose lease runs out is claimed again.
public struct JobWorker: Service {
    let store: any AirlockStore
    let platforms: [PlatformName: any ChatPlatform]
    let agent: any AnalysisAgent
    let policy: ApprovalPolicy
    let agentTimeout: Duration
    let signal: JobSignal
    let metrics: AirlockMetrics
    let logger: Logger
    let concurrency: Int
    /// The clock jobs are scheduled by (the same one the conversation stamps them with).
    var now: @Sendable () -> Date = Date.init
    /// How long a claimed job is hidden from other workers; a crashed worker's jobs come back after it.
    public var lease: Duration = .seconds(120)
    var idlePoll: Duration = .milliseconds(500)
    var maxAttempts = 8
    /// Shared by every loop of this worker: per-platform pauses after 429s and a circuit after repeated failures.
    let outbound = OutboundGuard()
    /// Where each person's DMs go (their account, or a linked one on a platform that can DM).
    let directRoute: DirectMessageRoute
    /// Webhooks in flight: during a burst only the first loop claims jobs (see `InboundLoad`).
    public var inboundLoad = InboundLoad()
    /// How much of a thread the agent reads.
    public var threadLimits = ThreadLimits()
    /// The restricted documents, to check every agent answer against (whatever it cites).
    public var restricted: any RestrictedContent = NoRestrictedContent()

    public init(
        store: any AirlockStore,
        platforms: [PlatformName: any ChatPlatform],
        agent: any AnalysisAgent,
        policy: ApprovalPolicy,
        agentTimeout: Duration,
        signal: JobSignal,
        metrics: AirlockMetrics,
        logger: Logger,
        concurrency: Int,
        now: @escaping @Sendable () -> Date = Date.init
    ) {
        self.store = store
        self.platforms = platforms
        self.agent = agent
        self.policy = policy
        self.agentTimeout = agentTimeout
        self.signal = signal
        self.metrics = metrics
        self.logger = logger
        self.concurrency = concurrency
        self.now = now
        self.directRoute = DirectMessageRoute(
            capable: Set(platforms.filter { $0.value.canSendDirectMessages }.keys),
            policy: policy
        )
    }

    public func run() async throws {
        await withDiscardingTaskGroup { group in
            for index in 0..<max(1, concurrency) {
                group.addTask { await loop(index) }
            }
        }
    }

    private func loop(_ index: Int) async {
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            if !inboundLoad.mayClaim(worker: index) {
                // Webhooks are waiting for their acks: give way, look again shortly.
                try? await Task.sleep(for: .milliseconds(10))
                continue
            }
            let seen = signal.generation
            let job: Job?
            do {
                job = try await store.claimJob(at: now(), lease: lease)
            } catch {
                logger.error("Cannot claim a job", metadata: ["error": "\(error)"])
                job = nil
            }
            if let job {
                await withLeaseRenewal(job) { await process(job) }
                continue
            }
            _ = try? await cancelWhenGracefulShutdown { await signal.wait(after: seen, upTo: idlePoll) }
        }
    }

    /// Runs `body` while renewing the job's lease every third of it, so a job that runs long (a slow model, a
    /// platform pausing us) is not claimed and run a second time by another worker; a crashed worker stops
    /// renewing and its job comes back after one lease.
    private func withLeaseRenewal(_ job: Job, _ body: @escaping @Sendable () async -> Void) async {
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await body() }
            group.addTask {
                while !Task.isCancelled {
                    try? await Task.sleep(for: lease / 3)
                    if Task.isCancelled { return }
                    do {
                        try await store.extendLease(job.id, until: now().addingTimeInterval(lease.timeInterval))
                    } catch {
                        logger.warning(
                            "Cannot renew a job's lease",
                            metadata: ["job": "\(job.id)", "error": "\(error)"]
                        )
                    }
                }
            }
            await group.next()
            group.cancelAll()
        }
    }

    func process(_ job: Job) async {
        do {
            switch job.payload {
            case .answer(let id):
                try await answer(id, job: job)
            case .directMessage(let person, let message, let draftID, let purpose):
                try await sendDirectMessage(message, to: person, draftID: draftID, purpose: purpose, job: job)
            case .followUp(let id, let version, let instruction):
                try await followUp(id, version: version, instruction: instruction, job: job)
            case .reviewRequest(let person, let draftID, let version, let message):
                try await sendDirectMessage(
                    message,
                    to: person,
                    draftID: draftID,
                    purpose: .reviewRequest,
                    job: job,
                    reviewVersion: version
                )
            case .publish(let id, let version):
                try await Publisher(
                    store: store,
                    platforms: platforms,
                    policy: policy,
                    metrics: metrics,
                    signal: signal,
                    now: now,
                    outbound: outbound
                ).publish(id, version: version, job: job)
            case .reviewChannel(let name, let channel, let message, let draftID):
                guard let platform = platforms[name] else {
                    throw PlatformError.permanent("platform \(name) is not enabled")
                }
                let delivered = try await outbound.call(name, at: now(), metrics: metrics) {
                    try await platform.postReviewRequest(message, in: channel)
                }
                try await store.commit(
                    Changes(
                        audit: [
                            AuditEvent(
                                kind: .reviewPosted,
                                platform: name,
                                draftID: draftID,
                                detail: ["channel": channel, "message_id": delivered.messageID]
                            )
                        ],
                        completedJob: job.id
                    ),
                    at: now()
                )
            }
        } catch {
            await handleFailure(error, job: job)
        }
    }

    private func answer(_ id: DraftID, job: Job) async throws {
        guard let draft = try await store.draft(id), draft.state == .requested else {
            try await store.commit(Changes(completedJob: job.id), at: now())
            return
        }
        // Where the answer would go and who can read it there (nil where the platform cannot tell or the lookup
        // failed: the review then says the audience is unknown).
        var place: Place?
        if let target = draft.target, let platform = platforms[target.platform] {
            place = try? await platform.place(of: target)
        }
        let recordedPlace = place
        let (thread, threadTaint) = await readThread(of: draft)
        let readThread = Decisions.ThreadRead(
            messages: thread,
            place: place?.name ?? draft.target?.channel,
            restricted: threadTaint
        )
        let started = ContinuousClock.now
        let question = AgentQuestion(
            text: draft.question,
            requester: draft.requester,
            draftID: id,
            readerIdentities: policy.readerIdentities(of: draft.requester),
            thread: thread
        )
        let answer = try await withTimeout(agentTimeout) { [agent] in try await agent.answer(question) }
        let elapsed = ContinuousClock.now - started
        metrics.agentRun(elapsed)
        let backend = agent.backend
        let jobID = job.id
        // Redaction, markup, neutralisation, restricted-overlap and risk rules run here, not inside the write
        // transaction. The text is neutralised for the platform it would be posted on: approvers see what is posted.
        let screened = Screening.publishable(
            answer.text,
            neutraliser: policy.traits[draft.publishPlatform]?.neutraliser,
            restricted: restricted
        )
        let prompt = SecretRedactor.redact(answer.prompt ?? draft.question).text
        _ = try await store.updateDraft(id, at: now()) { current -> (Changes, Void) in
            (
                Decisions.answer(
                    current,
                    with: answer,
                    backend: backend,
                    duration: elapsed,
                    jobID: jobID,
                    screened: screened,
                    redactedPrompt: prompt,
                    place: recordedPlace,
                    thread: readThread
                ), ()
            )
        }
        signal.notify()
    }

    /// The thread the mention was made in (the question is often someone else's, above the mention), read up to
    /// the mention, bounded, and screened like every inbound text before the agent sees a word of it; with the
    /// restricted documents it reproduces.
    private func readThread(of draft: Draft) async -> ([ThreadMessage], [SourceRef]) {
        var thread: [ThreadMessage] = []
        var threadTaint: [SourceRef] = []
        guard let target = draft.target, target.mention != nil, let platform = platforms[target.platform] else {
            return ([], [])
        }
        let read: [ThreadMessage]
        do {
            read = try await outbound.call(target.platform, at: now(), metrics: metrics) {
                try await platform.readThread(target, limits: threadLimits)
            }
        } catch {
            // Answered without the thread (the DM then reads no "Read:" line); recorded in the log.
            logger.warning("Cannot read the thread", metadata: ["platform": "\(target.platform)", "error": "\(error)"])
            read = []
        }
        for message in threadLimits.bound(read) {
            let screened = Screening.inbound(message.text, restricted: restricted)
            thread.append(ThreadMessage(id: message.id, author: message.author, text: screened.text))
            for source in screened.restricted where !threadTaint.contains(source) { threadTaint.append(source) }
        }
        return (thread, threadTaint)
    }

    /// A follow-up: the agent answers again with the requester's instruction and its previous draft; the result is
    /// the next version (publish request and approvals cleared), screened like every answer.
    private func followUp(_ id: DraftID, version: Int, instruction: String, job: Job) async throws {
        guard let draft = try await store.draft(id), draft.version == version, !draft.state.isFinal,
            draft.state != .publishing
        else {
            try await store.commit(Changes(completedJob: job.id), at: now())
            return
        }
        let (thread, _) = await readThread(of: draft)
        let question = AgentQuestion(
            text: draft.question,
            requester: draft.requester,
            draftID: id,
            readerIdentities: policy.readerIdentities(of: draft.requester),
            thread: thread,
            followUp: .init(instruction: instruction, previousAnswer: draft.text)
        )
        let answer = try await withTimeout(agentTimeout) { [agent] in try await agent.answer(question) }
        let screened = Screening.publishable(
            answer.text,
            neutraliser: policy.traits[draft.publishPlatform]?.neutraliser,
            restricted: restricted
        )
        let backend = agent.backend
        let jobID = job.id
        _ = try await store.updateDraft(id, at: now()) { current -> (Changes, Void) in
            (
                Decisions.followedUp(
                    current,
                    fromVersion: version,
                    instruction: instruction,
                    answer: answer,
                    screened: screened,
                    backend: backend,
                    jobID: jobID
                ), ()
            )
        }
        signal.notify()
    }

    private func sendDirectMessage(
        _ message: OutboundMessage,
        to person: PersonID,
        draftID: DraftID?,
        purpose: DMPurpose,
        job: Job,
        reviewVersion: Int? = nil
    ) async throws {
        guard let target = directRoute.destination(for: person), let platform = platforms[target.platform] else {
            throw PlatformError.permanent(
                "\(person) cannot be reached privately: no enabled platform that can DM them or a linked account"
            )
        }
        let originalRecipient = person
        let person = target
        var message = message
        message.deliveryKey = "job-\(job.id)"
        if purpose == .draftAnswer || purpose == .revisedDraft { message.followUpOn = draftID }
        let keyed = message
        // A retried DM job first looks for the copy a crashed attempt may have sent (where the platform can tell).
        var found: DeliveredMessage?
        if job.attempt > 1 {
            found = try await outbound.call(person.platform, at: now(), metrics: metrics) {
                try await platform.findDirectMessage(to: person, deliveryKey: "job-\(job.id)")
            }
        }
        let delivered: DeliveredMessage
        if let found {
            delivered = found
        } else {
            delivered = try await outbound.call(person.platform, at: now(), metrics: metrics) {
                try await platform.sendDirectMessage(keyed, to: person)
            }
        }
        metrics.directMessage(platform: person.platform.rawValue)
        let sent = AuditEvent(
            kind: .dmSent,
            platform: person.platform,
            actor: person,
            draftID: draftID,
            detail: [
                "to": person.description, "purpose": purpose.rawValue, "message_id": delivered.messageID,
                // A DM quoting restricted documents is recorded by length and hash only.
                "text": message.confidential == true ? Decisions.Confidential.summary(message.text) : message.text,
            ]
        )
        if let reviewVersion, let draftID {
            // The reviewer counts as shown this version from now on, in the transaction recording the delivery.
            let reviewer = originalRecipient
            let jobID = job.id
            let applied = try await store.updateDraft(draftID, at: now()) { draft -> (Changes, Bool) in
                (Decisions.reviewDelivered(draft, to: reviewer, version: reviewVersion, sent: sent, jobID: jobID), true)
            }
            if applied == true { return }
        }
        try await store.commit(Changes(audit: [sent], completedJob: job.id), at: now())
        if purpose == .draftAnswer, let draftID { await tellThread(draftID, person: originalRecipient) }
    }

    /// A silent bot reads as a broken one: where the platform can show something to the requester only, the thread
    /// says a private answer was sent (never any of its text). Best effort: a failure is logged, nothing retried.
    private func tellThread(_ id: DraftID, person: PersonID) async {
        guard let draft = try? await store.draft(id), let target = draft.target, target.platform == person.platform,
            let platform = platforms[target.platform]
        else { return }
        let text =
            "I've sent you a private answer to this thread by DM (draft `\(id)`). Nothing is posted here unless you publish it and a second person approves it."
        do {
            _ = try await platform.tellPrivately(text, to: person, in: target)
        } catch {
            logger.notice(
                "Cannot show the private notice in the thread",
                metadata: ["platform": "\(target.platform)", "error": "\(error)"]
            )
        }
    }

    private func handleFailure(_ error: any Error, job: Job) async {
        let now = now()
        let retryAt: Date?
        switch error {
        case PlatformError.rateLimited(let after):
            retryAt = now.addingTimeInterval(after.timeInterval)
        case PlatformError.permanent:
            retryAt = nil
        case _ where job.payload.kind.runsAgent:
            // Agent backends retry what is worth retrying themselves (429/5xx); a failed run is told to the
            // requester at once rather than after minutes of backoff.
            retryAt = nil
        default:
            retryAt =
                job.attempt < maxAttempts ? now.addingTimeInterval(min(300, pow(2, Double(job.attempt - 1)))) : nil
        }
        let reason = "\(error)"
        do {
            if let retryAt, job.attempt < maxAttempts * 4 {
                logger.warning(
                    "Job failed; will retry",
                    metadata: ["job.id": "\(job.id)", "job.kind": "\(job.payload.kind.rawValue)", "error": "\(reason)"]
                )
                try await store.retryJob(job.id, runAt: retryAt, error: reason)
            } else {
                logger.error(
                    "Job failed for good",
                    metadata: ["job.id": "\(job.id)", "job.kind": "\(job.payload.kind.rawValue)", "error": "\(reason)"]
                )
                try await recordFailure(job, reason: reason, at: now)
                metrics.jobFailed(kind: job.payload.kind.rawValue)
                signal.notify()
            }
        } catch {
            logger.error("Cannot record a job failure", metadata: ["job.id": "\(job.id)", "error": "\(error)"])
        }
    }

    /// Gives a job up: the decision (draft failed, requester told) is made on the stored draft inside the
    /// transaction that marks the job failed.
    private func recordFailure(_ job: Job, reason: String, at now: Date) async throws {
        if let id = job.payload.draftID {
            let applied = try await store.updateDraft(id, at: now) { draft -> (Changes, Bool) in
                (Decisions.jobFailed(job, draft: draft, error: reason), true)
            }
            if applied == true { return }
        }
        try await store.commit(Decisions.jobFailed(job, draft: nil, error: reason), at: now)
    }
}

/// Why an agent run was cut short.
public struct AgentTimeout: Error, CustomStringConvertible {
    public var limit: Duration
    public var description: String { "the agent did not answer within \(limit)" }
}

/// Runs `body`, throwing `AgentTimeout` when it takes longer than `limit`.
public func withTimeout<T: Sendable>(
    _ limit: Duration,
    _ body: @escaping @Sendable () async throws -> T
) async throws -> T {
    try await withThrowingTaskGroup(of: T.self) { group in
        group.addTask { try await body() }
        group.addTask {
            try await Task.sleep(for: limit)
            throw AgentTimeout(limit: limit)
        }
        defer { group.cancelAll() }
        guard let result = try await group.next() else { throw AgentTimeout(limit: limit) }
        return result
    }
}
