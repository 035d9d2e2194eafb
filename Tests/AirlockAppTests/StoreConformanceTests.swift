import AirlockDomain
import AirlockSQLite
import AirlockTesting
import Testing

@Suite("Store contract")
struct StoreConformanceTests {
    @Test("SQLite meets the store contract", arguments: StoreConformance.Check.allCases)
    func sqlite(_ check: StoreConformance.Check) async throws {
        try await StoreConformance { try SQLiteStore.open(url: temporaryDatabase()) }.run(check)
    }
}
