public import AirlockDomain
import CoreMetrics
public import Foundation
public import Prometheus

/// Airlock's metrics, registered in one Prometheus registry per app (so tests never share counters).
public struct AirlockMetrics: Sendable {
    public let registry: PrometheusCollectorRegistry
    let factory: PrometheusMetricsFactory

    public init(registry: PrometheusCollectorRegistry = PrometheusCollectorRegistry()) {
        self.registry = registry
        var factory = PrometheusMetricsFactory(registry: registry)
        factory.defaultDurationHistogramBuckets = [
            .milliseconds(5), .milliseconds(25), .milliseconds(100), .milliseconds(500), .seconds(1), .seconds(5),
            .seconds(15), .seconds(60), .seconds(300), .seconds(3600), .seconds(86400),
        ]
        self.factory = factory
    }

    public func inbound(platform: String, outcome: InboundOutcome) {
        Counter(
            label: "airlock_inbound_requests_total",
            dimensions: [("platform", platform), ("outcome", outcome.rawValue)],
            factory: factory
        )
        .increment()
    }

    public func command(platform: String, command: String, outcome: String) {
        Counter(
            label: "airlock_commands_total",
            dimensions: [("platform", platform), ("command", command), ("outcome", outcome)],
            factory: factory
        ).increment()
    }

    public func directMessage(platform: String) {
        Counter(label: "airlock_dms_total", dimensions: [("platform", platform)], factory: factory).increment()
    }

    public func post(platform: String) {
        Counter(label: "airlock_posts_total", dimensions: [("platform", platform)], factory: factory).increment()
    }

    public func agentRun(_ duration: Duration) {
        Timer(label: "airlock_agent_run_seconds", factory: factory).recordNanoseconds(Self.nanoseconds(duration))
    }

    public func approvalWait(_ seconds: TimeInterval) {
        Timer(label: "airlock_approval_wait_seconds", factory: factory).recordNanoseconds(Int64(max(0, seconds) * 1e9))
    }

    /// An outbound platform call that failed (`rate_limited`, `error`).
    public func outboundError(platform: String, kind: String) {
        Counter(
            label: "airlock_outbound_errors_total",
            dimensions: [("platform", platform), ("kind", kind)],
            factory: factory
        )
        .increment()
    }

    /// Calls to a platform held back (`rate_limited`: a 429's Retry-After; `circuit_open`: repeated failures).
    public func outboundPaused(platform: String, reason: String) {
        Counter(
            label: "airlock_outbound_paused_total",
            dimensions: [("platform", platform), ("reason", reason)],
            factory: factory
        )
        .increment()
    }

    /// Jobs given up for good (their dead-letter state is the job row `failed` and, for posts and agent runs, the
    /// draft `failed`).
    public func jobFailed(kind: String) {
        Counter(label: "airlock_jobs_failed_total", dimensions: [("kind", kind)], factory: factory).increment()
    }

    public func pendingDrafts(_ count: Int) {
        Gauge(label: "airlock_pending_drafts", factory: factory).record(count)
    }

    static func nanoseconds(_ duration: Duration) -> Int64 {
        let parts = duration.components
        return parts.seconds * 1_000_000_000 + parts.attoseconds / 1_000_000_000
    }
}
