public import AirlockDomain
public import Foundation
public import Logging
public import ServiceLifecycle

/// Every `interval`: expires drafts past their TTL (so `/drafts` and the pending gauge stay true without
/// anyone touching them) and prunes dedupe keys older than `dedupeRetention` and finished jobs older than a week.
/// Deliveries whose signed creation time is older than the retention less a day are refused by the conversation
/// (`Conversation.replayWindow`), so a key is never pruned while its delivery could still be replayed.
/// Drafts and the audit log are never pruned.
public struct HousekeepingWorker: Service {
    let store: any AirlockStore
    let logger: Logger
    let now: @Sendable () -> Date
    var interval: Duration = .seconds(60)
    /// How long dedupe keys are kept (GitHub, Discourse and Mattermost sign no timestamp of their own).
    public var dedupeRetention: Duration = Conversation.defaultReplayWindow + .seconds(86_400)

    public init(store: any AirlockStore, logger: Logger, now: @escaping @Sendable () -> Date, interval: Duration) {
        self.store = store
        self.logger = logger
        self.now = now
        self.interval = interval
    }

    /// Expires every draft past its TTL, each in its own transaction with the decision made on the stored draft.
    public func expireDueDrafts(at: Date) async throws -> Int {
        var expired = 0
        for id in try await store.draftsPastTTL(at: at, limit: 500) {
            let changed = try await store.updateDraft(id, at: at) { draft -> (Changes, Bool) in
                let changes = Decisions.expire(draft, at: at)
                return (changes, changes.draft != nil)
            }
            if changed == true { expired += 1 }
        }
        return expired
    }

    public func run() async throws {
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            do {
                let at = now()
                let expired = try await expireDueDrafts(at: at)
                if expired > 0 { logger.info("Expired drafts", metadata: ["drafts.expired": "\(expired)"]) }
                try await store.prune(
                    deliveriesBefore: at.addingTimeInterval(-dedupeRetention.timeInterval),
                    jobsBefore: at.addingTimeInterval(-7 * 86_400)
                )
            } catch {
                logger.error("Housekeeping failed", metadata: ["error": "\(error)"])
            }
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: interval) }
        }
    }
}
