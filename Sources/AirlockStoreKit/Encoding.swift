public import AirlockDomain
public import Foundation

/// The JSON a store keeps in its text columns (thread references, source lists, risk findings, job payloads).
public enum Encoding {
    private static let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return encoder
    }()

    public static func json<T: Encodable>(_ value: T) throws -> String {
        String(decoding: try encoder.encode(value), as: UTF8.self)
    }

    /// A thread reference as stored: the JSON its `Codable` conformance reads, written without `JSONEncoder` when it
    /// has no recorded place or mention yet (a new draft's target was a visible share of the ack path).
    public static func encode(_ target: ThreadRef) throws -> String {
        guard target.place == nil, target.mention == nil else { return try json(target) }
        return AuditChain.canonicalJSON([
            "channel": target.channel, "platform": target.platform.rawValue, "thread": target.thread,
        ])
    }

    /// A job as stored. The answer job (one per question, on the ack path) is written directly in the shape of its
    /// synthesized `Codable` form; the others go through `JSONEncoder`.
    public static func encode(_ job: JobPayload) throws -> String {
        if case .answer(let id) = job {
            return "{\"answer\":" + AuditChain.canonicalJSON(["draftID": id.rawValue]) + "}"
        }
        return try json(job)
    }

    /// An empty list as the encoder writes it, without running it.
    static func encodeList<T: Encodable>(_ list: [T]) throws -> String { list.isEmpty ? "[]" : try json(list) }

    public static func decode<T: Decodable>(_ type: T.Type, _ text: String, table: String) throws -> T {
        do {
            return try JSONDecoder().decode(type, from: Data(text.utf8))
        } catch {
            throw StoreKitError.corruptRow(table: table, column: "\(T.self)")
        }
    }
}
