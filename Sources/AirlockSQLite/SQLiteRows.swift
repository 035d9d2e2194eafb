import AirlockDomain
import AirlockStoreKit
import Foundation
import GRDB

/// A string bound so that SQLite keeps every byte and gives the same string back.
///
/// GRDB binds a `String` as a NUL-terminated C string and reads one with `String(cString:)`, so a value with
/// an embedded NUL would be cut short on the way in and on the way out: the text read back would differ from
/// the text hashed. Text without NUL is stored as TEXT (readable in SQL, as before); text with a NUL is stored
/// as a BLOB of its exact UTF-8 bytes. Reading accepts both.
struct ExactText: DatabaseValueConvertible {
    var value: String

    init(_ value: String) { self.value = value }

    var databaseValue: DatabaseValue {
        value.utf8.contains(0) ? Data(value.utf8).databaseValue : value.databaseValue
    }

    static func fromDatabaseValue(_ dbValue: DatabaseValue) -> ExactText? {
        switch dbValue.storage {
        case .string(let text): ExactText(text)
        case .blob(let data): ExactText(String(decoding: data, as: UTF8.self))
        default: nil
        }
    }
}

extension SQLValue {
    /// As SQLite binds it: text exactly (`ExactText`), NULL as NULL.
    var databaseValue: DatabaseValue {
        switch self {
        case .integer(let value): value?.databaseValue ?? .null
        case .text(let value): value.map { ExactText($0).databaseValue } ?? .null
        }
    }

    /// A column value read back (text exactly, integers as integers).
    init(_ value: DatabaseValue) {
        switch value.storage {
        case .int64(let integer): self = .integer(integer)
        case .double(let double): self = .integer(Int64(double))
        case .string, .blob: self = .text(ExactText.fromDatabaseValue(value)?.value)
        case .null: self = .text(nil)
        }
    }
}

/// A GRDB row as the kernel reads it (text exactly).
struct SQLiteRow: StoredRow {
    let row: Row
    func integer(_ column: String) throws -> Int64? { row[column] }
    func text(_ column: String) throws -> String? { (row[column] as ExactText?)?.value }
}

extension Database {
    /// Runs a kernel statement, prepared once per connection and reused.
    func run(_ statement: SQLStatement) throws {
        try cachedStatement(sql: statement.sql).execute(arguments: Self.arguments(statement))
    }

    func rows(_ statement: SQLStatement) throws -> [SQLiteRow] {
        try Row.fetchAll(cachedStatement(sql: statement.sql), arguments: Self.arguments(statement)).map(SQLiteRow.init)
    }

    func row(_ statement: SQLStatement) throws -> SQLiteRow? {
        try Row.fetchOne(cachedStatement(sql: statement.sql), arguments: Self.arguments(statement)).map(SQLiteRow.init)
    }

    static func arguments(_ statement: SQLStatement) -> StatementArguments {
        StatementArguments(statement.values.map(\.databaseValue))
    }
}

/// Reading a draft and writing a plan, on the writer's connection.
enum SQLiteRows {
    static func loadDraft(_ db: Database, id: DraftID) throws -> Draft? {
        let key = SQLValue.text(id.rawValue)
        guard let row = try db.row(SQLStatement(DraftMapping.selectByID, [key])) else { return nil }
        var children: [DraftMapping.Child: [[SQLValue]]] = [:]
        for child in DraftMapping.Child.allCases {
            children[child] = try db.rows(SQLStatement(child.query, [key])).map { row in
                row.row.databaseValues.map(SQLValue.init)
            }
        }
        return try DraftMapping.draft(from: row, children: children)
    }

    /// Records the delivery (a duplicate throws before anything is written), runs the rows, chains the audit.
    static func apply(_ plan: WritePlan, db: Database, key: AuditKey) throws {
        if let delivery = plan.delivery {
            guard try db.row(StoreSQL.insertDeliveries([(delivery, plan.at)])) != nil else { throw DuplicateDelivery() }
        }
        for statement in plan.statements { try db.run(statement) }
        try append(plan.audit, db: db, key: key)
    }

    static func append(_ audit: [PlannedAudit], db: Database, key: AuditKey) throws {
        guard !audit.isEmpty else { return }
        let head = try db.row(SQLStatement(AuditRows.head)).map {
            (seq: $0.row["seq"] as Int64, hash: $0.row["hash"] as String)
        }
        for statement in AuditRows.append(audit, after: head, key: key).statements { try db.run(statement) }
    }
}
