import AirlockDomain
import AirlockStorage
import Foundation
import Logging
import ServiceLifecycle

/// Runs durable jobs: agent runs, DMs and public posts. Several loops claim jobs from the database, so a
/// crash loses nothing: a claimed job whose lease runs out is claimed again.
struct JobWorker: Service {
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
    var lease: Duration = .seconds(120)
    var idlePoll: Duration = .milliseconds(500)
    var maxAttempts = 8

    func run() async throws {
        await withDiscardingTaskGroup { group in
            for _ in 0..<max(1, concurrency) {
                group.addTask { await loop() }
            }
        }
    }

    private func loop() async {
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            let seen = signal.generation
            let job: Job?
            do {
                job = try await store.claimJob(at: now(), lease: lease)
            } catch {
                logger.error("Cannot claim a job", metadata: ["error": "\(error)"])
                job = nil
            }
            if let job {
                await process(job)
                continue
            }
            _ = try? await cancelWhenGracefulShutdown { await signal.wait(after: seen, upTo: idlePoll) }
        }
    }

    func process(_ job: Job) async {
        do {
            switch job.payload {
            case .answer(let id):
                try await answer(id, job: job)
            case .directMessage(let person, let message, let draftID, let purpose):
                try await sendDirectMessage(message, to: person, draftID: draftID, purpose: purpose, job: job)
            case .publish(let id, let version):
                try await Publisher(store: store, platforms: platforms, policy: policy, metrics: metrics, signal: signal, now: now)
                    .publish(id, version: version, job: job)
            case .reviewChannel(let name, let channel, let message, let draftID):
                guard let platform = platforms[name] else { throw PlatformError.permanent("platform \(name) is not enabled") }
                let delivered = try await platform.postReviewRequest(message, in: channel)
                try await store.completeJob(
                    job.id,
                    changes: Changes(audit: [
                        AuditEvent(
                            kind: "review_posted", platform: name, draftID: draftID,
                            detail: ["channel": channel, "message_id": delivered.messageID])
                    ]), at: now())
            }
        } catch {
            await handleFailure(error, job: job)
        }
    }

    private func answer(_ id: DraftID, job: Job) async throws {
        guard let draft = try await store.draft(id), draft.state == .requested else {
            try await store.completeJob(job.id, changes: Changes(), at: now())
            return
        }
        let started = ContinuousClock.now
        let question = AgentQuestion(text: draft.question, requester: draft.requester, draftID: id)
        let answer = try await withTimeout(agentTimeout) { [agent] in try await agent.answer(question) }
        let elapsed = ContinuousClock.now - started
        metrics.agentRun(elapsed)
        let backend = agent.backend
        let jobID = job.id
        _ = try await store.updateDraft(id, at: now()) { current -> (Changes, Void) in
            guard current.state == .requested else { return (Changes(completedJob: jobID), ()) }
            let answered = Gate.answer(current, text: answer.text, sources: answer.sources, riskFlags: answer.riskFlags)
            var detail = [
                "backend": backend, "model": answer.model ?? "", "prompt": answer.prompt ?? current.question,
                "answer": answer.text, "sources": answered.sources.map(\.label).joined(separator: "; "),
                "risk_flags": answered.riskFlags.joined(separator: "; "),
                "duration_ms": String(Int(elapsed.timeInterval * 1000)), "content_hash": answered.contentHash,
            ]
            if let tokens = answer.inputTokens { detail["input_tokens"] = String(tokens) }
            if let tokens = answer.outputTokens { detail["output_tokens"] = String(tokens) }
            return (
                Changes(
                    draft: answered,
                    audit: [AuditEvent(kind: "agent_run", platform: current.requester.platform, draftID: id, detail: detail)],
                    jobs: [
                        .directMessage(
                            to: current.requester, message: Messages.draftForRequester(answered), draftID: id,
                            purpose: "draft_answer")
                    ],
                    completedJob: jobID), ()
            )
        }
        signal.notify()
    }

    private func sendDirectMessage(
        _ message: OutboundMessage,
        to person: PersonID,
        draftID: DraftID?,
        purpose: String,
        job: Job
    ) async throws {
        guard let platform = platforms[person.platform] else {
            throw PlatformError.permanent("platform \(person.platform) is not enabled")
        }
        let delivered = try await platform.sendDirectMessage(message, to: person)
        metrics.directMessage(platform: person.platform.rawValue)
        try await store.completeJob(
            job.id,
            changes: Changes(audit: [
                AuditEvent(
                    kind: "dm_sent", platform: person.platform, actor: person, draftID: draftID,
                    detail: ["to": person.description, "purpose": purpose, "message_id": delivered.messageID, "text": message.text])
            ]), at: now())
    }

    private func handleFailure(_ error: any Error, job: Job) async {
        let now = now()
        let retryAt: Date?
        switch error {
        case PlatformError.rateLimited(let after):
            retryAt = now.addingTimeInterval(after.timeInterval)
        case PlatformError.permanent:
            retryAt = nil
        default:
            retryAt = job.attempt < maxAttempts ? now.addingTimeInterval(min(300, pow(2, Double(job.attempt - 1)))) : nil
        }
        let reason = "\(error)"
        do {
            if let retryAt, job.attempt < maxAttempts * 4 {
                logger.warning(
                    "Job failed; will retry",
                    metadata: ["job.id": "\(job.id)", "job.kind": "\(job.payload.kind)", "error": "\(reason)"])
                try await store.retryJob(job.id, runAt: retryAt, error: reason)
            } else {
                logger.error(
                    "Job failed for good",
                    metadata: ["job.id": "\(job.id)", "job.kind": "\(job.payload.kind)", "error": "\(reason)"])
                try await store.failJob(job.id, changes: try await failureChanges(job, reason: reason), error: reason, at: now)
                signal.notify()
            }
        } catch {
            logger.error("Cannot record a job failure", metadata: ["job.id": "\(job.id)", "error": "\(error)"])
        }
    }

    private func failureChanges(_ job: Job, reason: String) async throws -> Changes {
        let event = AuditEvent(
            kind: "job_failed", draftID: job.payload.draftID,
            detail: ["job": job.payload.kind, "attempts": String(job.attempt), "error": reason])
        switch job.payload {
        case .answer(let id):
            guard var draft = try await store.draft(id), draft.state == .requested else { return Changes(audit: [event]) }
            draft.state = .failed
            return Changes(
                draft: draft, audit: [event],
                jobs: [.directMessage(to: draft.requester, message: Messages.agentFailed(draft), draftID: id, purpose: "agent_failed")])
        case .publish(let id, _):
            guard let draft = try await store.draft(id) else { return Changes(audit: [event]) }
            return Changes(
                audit: [event],
                jobs: [
                    .directMessage(
                        to: draft.requester, message: Messages.publishFailed(draft, reason: reason), draftID: id,
                        purpose: "publish_failed")
                ])
        case .directMessage, .reviewChannel:
            return Changes(audit: [event])
        }
    }
}

/// Why an agent run was cut short.
struct AgentTimeout: Error, CustomStringConvertible {
    var limit: Duration
    var description: String { "the agent did not answer within \(limit)" }
}

/// Runs `body`, throwing `AgentTimeout` when it takes longer than `limit`.
func withTimeout<T: Sendable>(_ limit: Duration, _ body: @escaping @Sendable () async throws -> T) async throws -> T {
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
