import AirlockApp
import AirlockDomain
import AirlockPostgres
import AirlockSQLite
import AirlockTesting
import Foundation
import GRDB
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

@Suite("SQLite schema upgrade")
struct SQLiteUpgradeTests {
    /// A database written by the release before the storage kernel (camelCase columns, migrations v1–v5) opens
    /// with everything it held: the drafts with their reviewers, approvals and claim, the pending job, the chain.
    @Test("A database from the previous release keeps its drafts, jobs and audit chain after the snake_case migration")
    func previousReleaseOpens() async throws {
        let path = temporaryDatabase()
        let t0 = Date(millis: 1_765_000_000_000)
        let id = DraftID("d_0123456789abcdef")!
        let requester = PersonID(platform: .slack, id: "U0REQ")
        let approver = PersonID(platform: .slack, id: "U0APP")
        let target = ThreadRef(platform: .slack, channel: "C0GEN", thread: "1700000000.000100")
        do {
            let queue = try DatabaseQueue(path: String(path.dropFirst("sqlite:".count)))
            try SQLiteSchema.migrator.migrate(queue, upTo: "v5")
            let entry = AuditChain.entry(
                for: AuditEvent(
                    kind: .approval,
                    platform: .slack,
                    actor: approver,
                    draftID: id,
                    detail: ["version": "2", "content_hash": "h2"]
                ),
                at: t0,
                previousSeq: 0,
                previousHash: AuditChain.genesis
            )
            try await queue.write { db in
                try db.execute(
                    sql: """
                        INSERT INTO draft (id, requester, question, target, createdAt, expiresAt, state, version, text,
                            sources, riskFlags, publishVersion, publishHash, publishAt, updatedAt, risks, redactions)
                        VALUES (?, ?, 'How do we rotate keys?', ?, ?, ?, 'approved', 2, 'Rotate with --commit.', '[]',
                            '[]', 2, 'h2', ?, ?, '[]', '[]')
                        """,
                    arguments: [
                        id.rawValue, requester.description,
                        #"{"channel":"C0GEN","platform":"slack","thread":"1700000000.000100"}"#, t0.millis,
                        t0.millis + 86_400_000, t0.millis, t0.millis,
                    ]
                )
                try db.execute(
                    sql:
                        "INSERT INTO draftVersion (draftID, version, text, contentHash, createdAt) VALUES (?, 2, 'x', 'h2', ?)",
                    arguments: [id.rawValue, t0.millis]
                )
                try db.execute(
                    sql: "INSERT INTO reviewer (draftID, person, version) VALUES (?, ?, 2)",
                    arguments: [id.rawValue, approver.description]
                )
                try db.execute(
                    sql: "INSERT INTO approval (draftID, version, approver, contentHash, at) VALUES (?, 2, ?, 'h2', ?)",
                    arguments: [id.rawValue, approver.description, t0.millis]
                )
                try db.execute(
                    sql: "INSERT INTO job (kind, payload, draftID, runAt, createdAt) VALUES ('publish', ?, ?, ?, ?)",
                    arguments: [
                        #"{"publish":{"draftID":"\#(id.rawValue)","version":2}}"#, id.rawValue, t0.millis, t0.millis,
                    ]
                )
                try db.execute(
                    sql: """
                        INSERT INTO audit_log (seq, at, kind, platform, actor, draft_id, detail, prev_hash, hash)
                        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
                        """,
                    arguments: [
                        entry.seq, entry.atMillis, entry.kind, entry.platform, entry.actor, entry.draftID, entry.detail,
                        entry.prevHash, entry.hash,
                    ]
                )
            }
        }
        let store = try SQLiteStore.open(url: path)
        let draft = try #require(try await store.draft(id))
        #expect(draft.requester == requester && draft.target == target && draft.state == .approved)
        #expect(
            draft.version == 2 && draft.text == "Rotate with --commit." && draft.publishRequest?.contentHash == "h2"
        )
        #expect(draft.reviewers[approver] == [2])
        #expect(draft.approvals.map(\.approver) == [approver])
        #expect(draft.evidence.entries.map(\.actor) == [approver])
        let job = try #require(try await store.claimJob(at: t0.addingTimeInterval(1), lease: .seconds(30)))
        #expect(job.payload == .publish(draftID: id, version: 2))
        try await store.appendAudit(
            [AuditEvent(kind: .inbound, platform: .slack, detail: ["after": "upgrade"])],
            at: t0
        )
        guard case .intact(let entries, _) = try await store.verifyAudit() else {
            Issue.record("the chain must stay intact across the upgrade")
            return
        }
        #expect(entries == 2)
        #expect(await store.isReady())
    }
}

@Suite("In-memory store")
struct InMemoryStoreTests {
    @Test(
        "The in-memory store the workflow tests use meets the same store contract",
        arguments: StoreConformance.Check.allCases
    )
    func contract(_ check: StoreConformance.Check) async throws {
        try await StoreConformance { InMemoryStore() }.run(check)
    }
}
