public import AirlockDomain
public import Foundation
import Synchronization

/// Keeps the job workers from hammering a platform: after a 429 every call to that platform waits until its
/// `Retry-After`; after `threshold` transient failures in a row the circuit opens for `cooldown` (calls are
/// rescheduled, not made); one success closes it.
public final class OutboundGuard: Sendable {
    struct State {
        var pausedUntil: [PlatformName: Date] = [:]
        var failures: [PlatformName: Int] = [:]
    }

    private let state = Mutex(State())
    let threshold: Int
    let cooldown: TimeInterval

    public init(threshold: Int = 5, cooldown: TimeInterval = 30) {
        self.threshold = threshold
        self.cooldown = cooldown
    }

    /// Throws `PlatformError.rateLimited` (so the job is rescheduled) while `platform` is paused.
    public func check(_ platform: PlatformName, at now: Date) throws {
        if let until = state.withLock({ $0.pausedUntil[platform] }), until > now {
            throw PlatformError.rateLimited(retryAfter: .milliseconds(Int64(until.timeIntervalSince(now) * 1000) + 1))
        }
    }

    /// Runs one platform call through the guard.
    public func call<T>(
        _ platform: PlatformName,
        at now: Date,
        metrics: AirlockMetrics,
        _ body: () async throws -> T
    ) async throws -> T {
        try check(platform, at: now)
        do {
            let value = try await body()
            state.withLock { $0.failures[platform] = 0 }
            return value
        } catch let error as PlatformError {
            switch error {
            case .rateLimited(let after):
                state.withLock { $0.pausedUntil[platform] = now.addingTimeInterval(after.timeInterval) }
                metrics.outboundPaused(platform: platform.rawValue, reason: "rate_limited")
            case .transient:
                let opened = state.withLock { state -> Bool in
                    state.failures[platform, default: 0] += 1
                    guard state.failures[platform, default: 0] >= threshold else { return false }
                    state.failures[platform] = 0
                    state.pausedUntil[platform] = now.addingTimeInterval(cooldown)
                    return true
                }
                if opened { metrics.outboundPaused(platform: platform.rawValue, reason: "circuit_open") }
            case .permanent:
                break
            }
            throw error
        }
    }
}
