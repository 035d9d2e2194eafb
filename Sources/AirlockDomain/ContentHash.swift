public import Crypto
public import Foundation

/// The SHA-256 that approvals bind to: the exact answer text, its target thread and its requester.
public enum ContentHash {
    /// Hex SHA-256 over a length-prefixed encoding, so no two different inputs encode alike.
    public static func of(text: String, target: ThreadRef?, requester: PersonID) -> String {
        var encoder = CanonicalEncoder(tag: "airlock-content-v1")
        encoder.append(text)
        encoder.append(target?.description ?? "")
        encoder.append(requester.description)
        // Where it goes and who can read it there, when recorded: approvals bind to that too.
        if let place = target?.place {
            encoder.append(place.name)
            encoder.append(place.visibility.rawValue)
        }
        return encoder.sha256Hex()
    }

    /// Plain hex SHA-256 of a text's UTF-8 bytes.
    public static func sha256Hex(_ text: String) -> String {
        SHA256.hash(data: Data(text.utf8)).map { String(format: "%02x", $0) }.joined()
    }
}

/// Length-prefixed field encoding (`<utf8 length>:<bytes>,`), the input of every hash Airlock computes.
public struct CanonicalEncoder: Sendable {
    private var bytes: [UInt8] = []

    public init(tag: String) { append(tag) }

    public mutating func append(_ field: String) { Self.appendField(field.utf8, to: &bytes) }

    /// Appends one field as `<byte count>:<bytes>,` — the whole layout, shared with `audit verify`'s byte-level check.
    public static func appendField(_ field: some Collection<UInt8>, to out: inout [UInt8]) {
        out.append(contentsOf: String(field.count).utf8)
        out.append(UInt8(ascii: ":"))
        out.append(contentsOf: field)
        out.append(UInt8(ascii: ","))
    }

    public func sha256Hex() -> String { Self.hex(SHA256.hash(data: bytes)) }

    /// HMAC-SHA256 of the encoded fields under `key`, hex.
    public func hmacHex(key: SymmetricKey) -> String {
        Self.hex(HMAC<SHA256>.authenticationCode(for: bytes, using: key))
    }

    static func hex(_ digest: some Sequence<UInt8>) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var hex: [UInt8] = []
        hex.reserveCapacity(64)
        for byte in digest {
            hex.append(digits[Int(byte >> 4)])
            hex.append(digits[Int(byte & 0x0f)])
        }
        return String(decoding: hex, as: UTF8.self)
    }
}
