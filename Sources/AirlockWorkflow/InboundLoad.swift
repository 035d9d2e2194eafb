import Synchronization

/// How many webhooks are being handled right now, so background work can give way to the ack path.
///
/// A platform waits for each webhook's answer (Slack retries after 3 s); an answer DM can wait a little. While at
/// least `pressure` webhooks are in flight, only the first job worker claims jobs and the others pause, so agent
/// runs and DMs do not take the CPU and the database writer from acks during a burst. One worker always runs, so
/// the queue still moves under sustained load, and the others resume as soon as the burst is over.
public final class InboundLoad: Sendable {
    private let inFlight = Atomic<Int>(0)
    /// In-flight webhooks at which extra workers pause.
    public let pressure: Int

    public init(pressure: Int = 4) {
        self.pressure = max(1, pressure)
    }

    /// Runs `body` counted as one webhook in flight.
    public func handling<T>(_ body: () async throws -> T) async rethrows -> T {
        inFlight.add(1, ordering: .relaxed)
        defer { inFlight.subtract(1, ordering: .relaxed) }
        return try await body()
    }

    /// Webhooks being handled now.
    public var current: Int { inFlight.load(ordering: .relaxed) }

    /// Whether the worker loop numbered `worker` (from 0) may claim a job now: the first always may, the others
    /// only while fewer than `pressure` webhooks are in flight.
    public func mayClaim(worker: Int) -> Bool {
        worker == 0 || current < pressure
    }
}
