import AirlockStorage
import Foundation
import Logging
import ServiceLifecycle

/// Every `interval`: expires drafts past their TTL (so `/drafts` and the pending gauge stay true without
/// anyone touching them) and prunes dedupe keys older than a day (Slack retries within 5 minutes) and
/// finished jobs older than a week. Drafts and the audit log are never pruned.
struct HousekeepingWorker: Service {
    let store: any AirlockStore
    let logger: Logger
    let now: @Sendable () -> Date
    var interval: Duration = .seconds(60)

    func run() async throws {
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            do {
                let at = now()
                let expired = try await store.expireDueDrafts(at: at)
                if expired > 0 { logger.info("Expired drafts", metadata: ["drafts.expired": "\(expired)"]) }
                try await store.prune(
                    deliveriesBefore: at.addingTimeInterval(-86_400), jobsBefore: at.addingTimeInterval(-7 * 86_400))
            } catch {
                logger.error("Housekeeping failed", metadata: ["error": "\(error)"])
            }
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: interval) }
        }
    }
}
