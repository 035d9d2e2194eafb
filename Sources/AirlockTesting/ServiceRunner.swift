public import Foundation
public import Logging
public import ServiceLifecycle
import Synchronization

/// Runs services in a group for the duration of `body`, then shuts them down gracefully and waits.
public func withServices<T: Sendable>(
    _ services: [any Service],
    logger: Logger = Logger(label: "airlock.test"),
    _ body: @Sendable () async throws -> T
) async throws -> T {
    try await withServiceGroup(
        ServiceGroup(configuration: .init(services: services.map { .init(service: $0) }, logger: logger)),
        body
    )
}

/// Runs a built service group (`AirlockRuntime.makeServiceGroup`) for the duration of `body`, then shuts it
/// down gracefully and waits.
public func withServiceGroup<T: Sendable>(
    _ group: ServiceGroup,
    _ body: @Sendable () async throws -> T
) async throws -> T {
    try await withThrowingTaskGroup(of: Void.self) { tasks in
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

/// Hands out the port a server reports once it is listening (to any number of readers).
public final class PortBox: Sendable {
    private let value = Mutex<Int?>(nil)

    public init() {}

    /// Called by the server's `onServerRunning`.
    public func set(_ port: Int) { value.withLock { $0 = port } }

    /// Waits (up to 30 s) for the port.
    public func port() async throws -> Int {
        let deadline = ContinuousClock.now + .seconds(30)
        while ContinuousClock.now < deadline {
            if let port = value.withLock({ $0 }) { return port }
            try await Task.sleep(for: .milliseconds(5))
        }
        throw CancellationError()
    }
}
