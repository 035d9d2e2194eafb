public import AirlockDomain
public import Foundation
public import Logging
public import PostgresNIO
import Synchronization

/// Airlock's storage on PostgreSQL, shared by several `airlock serve` replicas.
///
/// - Every decision runs in one transaction: `updateDraft` locks the draft row (`FOR UPDATE`), lets the domain
///   decide, and writes the `Changes`.
/// - Deliveries are deduplicated by their primary key across replicas (`ON CONFLICT DO NOTHING`, rollback on a
///   duplicate).
/// - Jobs are claimed with `FOR UPDATE SKIP LOCKED` and leased by time.
/// - The audit chain stays linear under concurrent writers: every transaction that appends locks the chain's
///   head row (`audit_head … FOR UPDATE`, held to the commit) and reads it in the same statement, so appends are
///   serialised; a `BEFORE INSERT` trigger refuses any row that does not extend the head (and moves it), and
///   triggers refuse `UPDATE`, `DELETE` and `TRUNCATE` on `audit_log`.
/// - Concurrent decisions of one replica share a transaction (`PostgresBatcher`): one head lock, one audit insert
///   and one WAL flush per batch.
/// - Migrations run under a session advisory lock, so replicas starting together apply them once.
public final class PostgresStore: Sendable {
    let client: PostgresClient
    let logger: Logger
    let auditKey: AuditKey
    let batcher: PostgresBatcher
    private let runner: Task<Void, Never>

    static let migrationLock: Int64 = 0x4149_524C_4F43_4B02

    /// Connects to `postgres://user:pass@host:port/db` (the client runs until `shutdown()`), then migrates.
    public static func open(url: String, auditKey: AuditKey = .none, logger: Logger) async throws -> PostgresStore {
        guard let components = URLComponents(string: url),
            ["postgres", "postgresql"].contains(components.scheme ?? ""),
            let host = components.host
        else { throw PostgresStoreError("AIRLOCK_DATABASE must look like postgres://user:password@host:5432/database") }
        let tlsMode = components.queryItems?.first { $0.name == "sslmode" }?.value ?? "disable"
        let tls: PostgresClient.Configuration.TLS =
            tlsMode == "disable" ? .disable : .prefer(try .clientDefault)
        var configuration = PostgresClient.Configuration(
            host: host,
            port: components.port ?? 5432,
            username: components.user ?? "postgres",
            password: components.password?.removingPercentEncoding,
            database: String(components.path.dropFirst()),
            tls: tls
        )
        configuration.options.connectTimeout = .seconds(5)
        let store = PostgresStore(
            client: PostgresClient(configuration: configuration),
            auditKey: auditKey,
            logger: logger
        )
        do {
            // Bounded: an unreachable server is an error within seconds, not a hang.
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await store.migrate() }
                group.addTask {
                    try await Task.sleep(for: .seconds(15))
                    throw PostgresStoreError("no answer within 15 s")
                }
                defer { group.cancelAll() }
                try await group.next()
            }
        } catch {
            await store.shutdown()
            throw PostgresStoreError(
                "cannot reach or migrate the PostgreSQL database at \(host): \(Self.describe(error))"
            )
        }
        return store
    }

    init(client: PostgresClient, auditKey: AuditKey, logger: Logger) {
        self.client = client
        self.auditKey = auditKey
        self.logger = logger
        self.batcher = PostgresBatcher(client: client, key: auditKey, logger: logger)
        self.runner = Task { await client.run() }
    }

    public var isAuditKeyed: Bool { auditKey.isKeyed }

    public func close() async { await shutdown() }

    /// Stops the connection pool.
    public func shutdown() async {
        runner.cancel()
        _ = await runner.value
    }

    /// True when the database answers and every migration is applied.
    public func isReady() async -> Bool {
        do {
            let rows = try await client.query("SELECT max(version) FROM airlock_migrations", logger: logger)
            for try await version in rows.decode(Int?.self) { return version == PostgresSchema.migrations.count }
            return false
        } catch {
            return false
        }
    }

    /// Applies pending migrations under an advisory lock.
    func migrate() async throws {
        try await client.withConnection { connection in
            try await connection.query("SELECT pg_advisory_lock(\(Self.migrationLock))", logger: self.logger)
            do {
                try await connection.query(
                    "CREATE TABLE IF NOT EXISTS airlock_migrations (version INT PRIMARY KEY, applied_at BIGINT NOT NULL)",
                    logger: self.logger
                )
                var applied = 0
                for try await version in try await connection.query(
                    "SELECT COALESCE(max(version), 0) FROM airlock_migrations",
                    logger: self.logger
                )
                .decode(Int.self) {
                    applied = version
                }
                for (index, statements) in PostgresSchema.migrations.enumerated() where index + 1 > applied {
                    try await connection.withTransaction(logger: self.logger) { connection in
                        for statement in statements {
                            try await connection.query(PostgresQuery(unsafeSQL: statement), logger: self.logger)
                        }
                        try await connection.query(
                            "INSERT INTO airlock_migrations (version, applied_at) VALUES (\(index + 1), \(Date().millis))",
                            logger: self.logger
                        )
                    }
                }
            } catch {
                _ = try? await connection.query("SELECT pg_advisory_unlock(\(Self.migrationLock))", logger: self.logger)
                throw error
            }
            try await connection.query("SELECT pg_advisory_unlock(\(Self.migrationLock))", logger: self.logger)
        }
    }

    /// Runs `body` in a transaction; an error thrown by `body` comes out as itself (not wrapped).
    func transaction<T: Sendable>(_ body: @escaping @Sendable (PostgresConnection) async throws -> T) async throws -> T
    {
        do {
            return try await client.withTransaction(logger: logger) { connection in try await body(connection) }
        } catch let error as PostgresTransactionError {
            throw error.closureError ?? error
        }
    }

    static func describe(_ error: any Error) -> String {
        if let error = error as? PSQLError {
            return error.serverInfo?[.message] ?? "\(error.code)"
        }
        if let error = error as? PostgresTransactionError, let inner = error.closureError { return describe(inner) }
        return "\(type(of: error))"
    }
}

/// A PostgreSQL store problem; never holds a password.
public struct PostgresStoreError: Error, Sendable, CustomStringConvertible {
    public var description: String
    init(_ description: String) { self.description = description }

    /// Tests asked for PostgreSQL without `AIRLOCK_TEST_POSTGRES_URL`.
    public static let testServerMissing = PostgresStoreError("AIRLOCK_TEST_POSTGRES_URL is not set")
}

/// PostgreSQL `text` cannot hold NUL. A value that contains one (or starts with the marker) is stored as the marker
/// and its base64 UTF-8 bytes; everything else as is — so SQL readers see plain text, and every value reads back
/// exactly as written.
enum PGText {
    static let marker = "\u{1}b64:"

    static func encode(_ value: String) -> String {
        value.utf8.contains(0) || value.hasPrefix(marker) ? marker + Data(value.utf8).base64EncodedString() : value
    }

    static func encode(_ value: String?) -> String? { value.map { encode($0) } }

    static func decode(_ value: String) -> String {
        guard value.hasPrefix(marker), let data = Data(base64Encoded: String(value.dropFirst(marker.count))) else {
            return value
        }
        return String(decoding: data, as: UTF8.self)
    }

    static func decode(_ value: String?) -> String? { value.map { decode($0) } }
}

extension PostgresStore: GroupCommitting {
    public var groupCommitted: (batches: Int, writes: Int, busy: Duration) { batcher.counters.withLock { $0 } }
}
