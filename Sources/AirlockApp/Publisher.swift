import AirlockDomain
import AirlockStorage
import Foundation

/// The only component that posts publicly. It claims the post in a transaction that re-checks the gate
/// (requester's publish and a distinct authorised approval, both on the current content hash), records
/// the claim before calling the platform, and after a crash looks in the thread before posting again.
struct Publisher: Sendable {
    let store: any AirlockStore
    let platforms: [PlatformName: any ChatPlatform]
    let policy: ApprovalPolicy
    let metrics: AirlockMetrics
    let signal: JobSignal
    let now: @Sendable () -> Date

    func publish(_ id: DraftID, version: Int, job: Job) async throws {
        let policy = self.policy
        let claim = try await store.claimPublication(id, version: version, at: now()) { draft in
            Result { () throws(Refusal) -> Approval in try Gate.authorizePost(draft, policy: policy) }
        }
        switch claim {
        case .alreadyPosted, .refused:
            try await store.completeJob(job.id, changes: Changes(), at: now())
        case .post(let draft, let approval, let attempt):
            guard let target = draft.target, let platform = platforms[target.platform] else {
                throw PlatformError.permanent("platform \(draft.target?.platform.rawValue ?? "-") is not enabled")
            }
            let marker = PublishMarker(draftID: draft.id, version: draft.version)
            var delivered: DeliveredMessage?
            var reconciled = false
            if attempt > 1 {
                delivered = try await platform.findPublishedReply(in: target, marker: marker)
                reconciled = delivered != nil
            }
            if delivered == nil {
                delivered = try await platform.postPublicReply(
                    Messages.publicPost(draft, approver: approval.approver), in: target, marker: marker)
            }
            guard let delivered else { return }
            let wasReconciled = reconciled
            metrics.post(platform: target.platform.rawValue)
            let jobID = job.id
            try await store.recordPublication(id, delivered: delivered, at: now()) { posted in
                Changes(
                    audit: [
                        AuditEvent(
                            kind: "posted", platform: target.platform, actor: approval.approver, draftID: id,
                            detail: [
                                "version": String(posted.version), "content_hash": posted.contentHash,
                                "thread": target.description, "message_id": delivered.messageID,
                                "permalink": delivered.permalink ?? "", "requester": posted.requester.description,
                                "approver": approval.approver.description, "attempt": String(attempt),
                                "reconciled": wasReconciled ? "true" : "false",
                            ])
                    ],
                    jobs: [posted.requester, approval.approver].map { person in
                        .directMessage(
                            to: person, message: Messages.posted(posted, link: delivered.permalink), draftID: id,
                            purpose: "posted_notice")
                    },
                    completedJob: jobID)
            }
            signal.notify()
        }
    }
}
