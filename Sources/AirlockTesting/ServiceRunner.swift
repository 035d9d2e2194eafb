public import Foundation
public import Logging
public import ServiceLifecycle

/// Runs services in a group for the duration of `body`, then shuts them down gracefully and waits.
public func withServices<T: Sendable>(
    _ services: [any Service],
    logger: Logger = Logger(label: "airlock.test"),
    _ body: @Sendable () async throws -> T
) async throws -> T {
    let group = ServiceGroup(configuration: .init(services: services.map { .init(service: $0) }, logger: logger))
    return try await withThrowingTaskGroup(of: Void.self) { tasks in
        tasks.addTask { try await group.run() }
        let result: T
        do {
            result = try await body()
        } catch {
            await group.triggerGracefulShutdown()
            try? await tasks.waitForAll()
            throw error
        }
        await group.triggerGracefulShutdown()
        try await tasks.waitForAll()
        return result
    }
}

/// Polls `condition` every 10 ms until it holds or `timeout` passes; returns whether it held.
public func eventually(
    timeout: Duration = .seconds(10),
    _ condition: @Sendable () async throws -> Bool
) async rethrows -> Bool {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if try await condition() { return true }
        try? await Task.sleep(for: .milliseconds(10))
    }
    return try await condition()
}

/// Hands out the port a server reports once it is listening.
public final class PortBox: Sendable {
    private let stream: AsyncStream<Int>
    private let continuation: AsyncStream<Int>.Continuation

    public init() {
        (stream, continuation) = AsyncStream.makeStream(of: Int.self)
    }

    /// Called by the server's `onServerRunning`.
    public func set(_ port: Int) { continuation.yield(port) }

    /// Waits for the port.
    public func port() async throws -> Int {
        var iterator = stream.makeAsyncIterator()
        guard let port = await iterator.next() else { throw CancellationError() }
        return port
    }
}
