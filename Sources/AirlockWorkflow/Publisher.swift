import AirlockDomain
import Foundation

/// The only component that posts publicly. Its claim transaction re-checks the gate (requester's publish and a
/// distinct authorised approval on the current content hash, within the TTL) and moves the draft to
/// `publishing` with the exact version and hash it will post — revise and reject are refused from then on.
/// On a later attempt it first looks in the thread for a post of that draft **and version**.
struct Publisher: Sendable {
    let store: any AirlockStore
    let platforms: [PlatformName: any ChatPlatform]
    let policy: ApprovalPolicy
    let metrics: AirlockMetrics
    let signal: JobSignal
    let now: @Sendable () -> Date
    let outbound: OutboundGuard

    func publish(_ id: DraftID, version: Int, job: Job) async throws {
        let policy = self.policy
        let at = now()
        let jobID = job.id
        // Who can read the thread now, for a first claim of a draft whose audience was recorded (a failed lookup is
        // retried: the post waits rather than going out unchecked).
        var currentPlace: Place?
        if let stored = try await store.draft(id), stored.state == .approved, let target = stored.target,
            target.place != nil,
            let platform = platforms[target.platform]
        {
            currentPlace = try await outbound.call(target.platform, at: at, metrics: metrics) {
                try await platform.place(of: target)
            }
        }
        let place = currentPlace
        let decision = try await store.updateDraft(id, at: at) { draft in
            Decisions.claimPost(draft, version: version, policy: policy, at: at, jobID: jobID, currentPlace: place)
        }
        guard case .post(let draft)? = decision, let claim = draft.claim else {
            if decision == nil { try await store.commit(Changes(completedJob: jobID), at: now()) }
            return
        }
        guard let target = draft.target, let platform = platforms[target.platform] else {
            throw PlatformError.permanent("platform \(draft.target?.platform.rawValue ?? "-") is not enabled")
        }
        let marker = PublishMarker(draftID: draft.id, version: claim.version)
        var delivered: DeliveredMessage?
        if claim.attempts > 1 {
            delivered = try await outbound.call(target.platform, at: now(), metrics: metrics) {
                try await platform.findPublishedReply(in: target, marker: marker)
            }
        }
        let reconciled = delivered != nil
        if delivered == nil {
            delivered = try await outbound.call(target.platform, at: now(), metrics: metrics) {
                try await platform.postPublicReply(
                    Messages.publicPost(draft, approver: claim.approver),
                    in: target,
                    marker: marker
                )
            }
            metrics.post(platform: target.platform.rawValue)
        }
        guard let delivered else { return }
        _ = try await store.updateDraft(id, at: now()) { current -> (Changes, Void) in
            (Decisions.recordPost(current, delivered: delivered, reconciled: reconciled, at: now(), jobID: jobID), ())
        }
        signal.notify()
    }
}
