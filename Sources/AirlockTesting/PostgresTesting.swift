public import AirlockPostgres
public import Foundation
public import Logging
import PostgresNIO

/// PostgreSQL for tests: `AIRLOCK_TEST_POSTGRES_URL` names a server (CI starts a throwaway cluster); each test gets
/// a fresh database of its own on it.
public enum PostgresTesting {
    /// The server URL, when the PostgreSQL tests are enabled.
    public static var url: String? {
        ProcessInfo.processInfo.environment["AIRLOCK_TEST_POSTGRES_URL"].flatMap { $0.isEmpty ? nil : $0 }
    }

    /// Creates an empty database on the test server and returns its URL.
    public static func freshDatabase() async throws -> String {
        guard let url, var components = URLComponents(string: url) else { throw PostgresStoreError.testServerMissing }
        let name = "airlock_t_" + UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased().prefix(20)
        try await execute("CREATE DATABASE \(name)", on: url)
        components.path = "/" + name
        return components.string ?? url
    }

    /// Runs one SQL statement on the database at `url` (as an attacker with database access would); throws the
    /// server's refusal.
    public static func execute(_ sql: String, on url: String) async throws {
        guard let components = URLComponents(string: url), let host = components.host else {
            throw PostgresStoreError.testServerMissing
        }
        let client = PostgresClient(
            configuration: .init(
                host: host,
                port: components.port ?? 5432,
                username: components.user ?? "postgres",
                password: components.password,
                database: String(components.path.dropFirst()),
                tls: .disable
            )
        )
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await client.run() }
            defer { group.cancelAll() }
            try await client.query(PostgresQuery(unsafeSQL: sql))
        }
    }

    /// Opens a store on a fresh database.
    public static func freshStore(
        logger: Logger = Logger(label: "pg-test", factory: { _ in SwiftLogNoOpLogHandler() })
    ) async throws
        -> PostgresStore
    {
        try await PostgresStore.open(url: try await freshDatabase(), logger: logger)
    }
}
