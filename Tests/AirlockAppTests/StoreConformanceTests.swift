import AirlockApp
import AirlockDomain
import AirlockPostgres
import AirlockSQLite
import AirlockTesting
import Foundation
import Logging
import Synchronization
import Testing

@Suite("Store contract")
struct StoreConformanceTests {
    @Test("SQLite meets the store contract", arguments: StoreConformance.Check.allCases)
    func sqlite(_ check: StoreConformance.Check) async throws {
        try await StoreConformance { try SQLiteStore.open(url: temporaryDatabase()) }.run(check)
    }

    @Test(
        "PostgreSQL meets the same store contract (when AIRLOCK_TEST_POSTGRES_URL is set)",
        .enabled(if: PostgresTesting.url != nil),
        arguments: StoreConformance.Check.allCases
    )
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

@Suite("SQLite group commit")
struct GroupCommitTests {
    @Test(
        "400 concurrent deliveries, 100 of them repeats: each repeat is refused alone, every other one is stored once, the chain stays intact"
    )
    func concurrentWritesShareTransactions() async throws {
        let store = try SQLiteStore.open(url: temporaryDatabase())
        let keys = (0..<300).map { "event-\($0)" } + (0..<100).map { "event-\($0 * 3)" }
        let outcomes = try await withThrowingTaskGroup(of: Bool.self) { group in
            for key in keys.shuffled() {
                group.addTask {
                    do {
                        try await store.commit(
                            Changes(
                                delivery: DeliveryKey(platform: .slack, key: key),
                                audit: [AuditEvent(kind: .inbound, platform: .slack, detail: ["key": key])]
                            ),
                            at: Date()
                        )
                        return true
                    } catch is DuplicateDelivery {
                        return false
                    }
                }
            }
            return try await group.reduce(into: [Bool]()) { $0.append($1) }
        }
        #expect(outcomes.filter { $0 }.count == 300)
        #expect(outcomes.filter { !$0 }.count == 100)
        let box = Mutex<[String]>([])
        try await store.exportAudit(since: nil, draftID: nil) { entry in
            if entry.kind == "inbound" { box.withLock { $0.append(entry.detail) } }
        }
        let recorded = box.withLock { $0 }
        #expect(recorded.count == 300, "a refused repeat left an entry, or an accepted one lost its entry")
        #expect(Set(recorded).count == 300)
        guard case .intact(let entries, _) = try await store.verifyAudit() else {
            Issue.record("audit chain broken")
            return
        }
        #expect(entries == 300)
        let (batches, writes, _) = store.groupCommitted
        #expect(writes == 400)
        #expect(batches < writes, "no two writes ever shared a transaction")
    }
}

@Suite("PostgreSQL audit verify")
struct PostgresAuditVerifyTests {
    @Test(
        "The database refuses audit rows that do not extend the chain: a gap, a wrong link, an old seq, a forged tail in a multi-row insert (when AIRLOCK_TEST_POSTGRES_URL is set)",
        .enabled(if: PostgresTesting.url != nil)
    )
    func insertsMustExtendTheChain() async throws {
        let url = try await PostgresTesting.freshDatabase()
        let store = try await PostgresStore.open(
            url: url,
            logger: Logger(label: "t", factory: { _ in SwiftLogNoOpLogHandler() })
        )
        try await store.appendAudit(
            [AuditEvent(kind: .tool("a")), AuditEvent(kind: .tool("b")), AuditEvent(kind: .tool("c"))],
            at: Date()
        )
        guard case .intact(_, let head) = try await store.verifyAudit(expectedHead: nil) else {
            Issue.record("not intact"); return
        }
        let row = "INSERT INTO audit_log (seq, at, kind, detail, prev_hash, hash) VALUES "
        for forgery in [
            row + "(9, 0, 'x', '{}', '\(head)', 'h')",
            row + "(4, 0, 'x', '{}', 'not-the-head', 'h')",
            row + "(4, 0, 'x', '{}', '\(head)', 'h1'), (5, 0, 'y', '{}', 'not-h1', 'h2')",
            row + "(4, 0, 'x', '{}', '\(head)', 'h1'), (6, 0, 'y', '{}', 'h1', 'h2')",
        ] {
            await #expect(throws: (any Error).self, "\(forgery)") {
                try await PostgresTesting.execute(forgery, on: url)
            }
        }
        #expect(try await Operations.verifyAudit(store).0)
        // A row that does extend the head is accepted by the database (verify then catches its made-up hash).
        try await PostgresTesting.execute(
            row + "(4, 0, 'x', '{}', '\(head)', 'h1'), (5, 0, 'y', '{}', 'h1', 'h2')",
            on: url
        )
        #expect(!(try await Operations.verifyAudit(store).0))
        await store.shutdown()
    }

    @Test(
        "verify reads one snapshot: writers appending meanwhile are never reported as tampering (when AIRLOCK_TEST_POSTGRES_URL is set)",
        .enabled(if: PostgresTesting.url != nil)
    )
    func verifyUnderConcurrentWriters() async throws {
        let store = try await PostgresTesting.freshStore()
        // More than one page, so the verifier reads several queries while the writers keep appending.
        for batch in 0..<25 {
            try await store.appendAudit(
                (0..<500).map { AuditEvent(kind: .tool("seed"), detail: ["n": "\(batch)-\($0)"]) },
                at: Date()
            )
        }
        let results = try await withThrowingTaskGroup(of: [Bool].self) { group in
            group.addTask {
                for n in 0..<300 {
                    try await store.appendAudit(
                        [AuditEvent(kind: .tool("concurrent"), detail: ["n": "\(n)"])],
                        at: Date()
                    )
                }
                return []
            }
            group.addTask {
                var verdicts: [Bool] = []
                for _ in 0..<4 {
                    if case .intact = try await store.verifyAudit(expectedHead: nil) {
                        verdicts.append(true)
                    } else {
                        verdicts.append(false)
                    }
                }
                return verdicts
            }
            var all: [Bool] = []
            for try await verdicts in group { all += verdicts }
            return all
        }
        #expect(
            results.count == 4 && results.allSatisfy { $0 },
            "verify reported tampering that did not happen: \(results)"
        )
        await store.shutdown()
    }
}
