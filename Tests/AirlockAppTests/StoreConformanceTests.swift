import AirlockDomain
import AirlockSQLite
import AirlockPostgres
import AirlockTesting
import Foundation
import Testing

@Suite("Store contract")
struct StoreConformanceTests {
    @Test("SQLite meets the store contract", arguments: StoreConformance.Check.allCases)
    func sqlite(_ check: StoreConformance.Check) async throws {
        try await StoreConformance { try SQLiteStore.open(url: temporaryDatabase()) }.run(check)
    }

    @Test(
        "PostgreSQL meets the same store contract (when AIRLOCK_TEST_POSTGRES_URL is set)",
        .enabled(if: PostgresTesting.url != nil), arguments: StoreConformance.Check.allCases)
    func postgres(_ check: StoreConformance.Check) async throws {
        let stores = StoreBox()
        try await StoreConformance {
            let store = try await PostgresTesting.freshStore()
            stores.add(store)
            return store
        }.run(check)
        for store in stores.all { await store.shutdown() }
    }
}

final class StoreBox: @unchecked Sendable {
    // Safe: guarded by `lock`.
    private let lock = NSLock()
    private var stores: [PostgresStore] = []
    func add(_ store: PostgresStore) { lock.withLock { stores.append(store) } }
    var all: [PostgresStore] { lock.withLock { stores } }
}
