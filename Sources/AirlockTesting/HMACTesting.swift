import Crypto
public import Foundation

/// HMAC-SHA256 hex, for signing hand-made webhook deliveries in tests.
public enum HMACTesting {
    public static func sha256Hex(key: String, _ body: Data) -> String {
        HMAC<SHA256>.authenticationCode(for: body, using: SymmetricKey(data: Data(key.utf8))).map { String(format: "%02x", $0) }.joined()
    }
}

/// Ed25519 signing, for hand-made Discord interactions in tests.
public enum Ed25519Testing {
    /// The public key (hex) of a 32-byte seed (hex).
    public static func publicKey(seedHex: String) -> String {
        let key = try! Curve25519.Signing.PrivateKey(rawRepresentation: hexBytes(seedHex))
        return key.publicKey.rawRepresentation.map { String(format: "%02x", $0) }.joined()
    }

    /// Signs `timestamp + body` as Discord does; hex.
    public static func sign(seedHex: String, timestamp: String, body: Data) -> String {
        let key = try! Curve25519.Signing.PrivateKey(rawRepresentation: hexBytes(seedHex))
        let signature = try! key.signature(for: Data(timestamp.utf8) + body)
        return signature.map { String(format: "%02x", $0) }.joined()
    }

    static func hexBytes(_ hex: String) -> [UInt8] {
        var bytes: [UInt8] = []
        var index = hex.startIndex
        while index < hex.endIndex {
            let next = hex.index(index, offsetBy: 2)
            bytes.append(UInt8(hex[index..<next], radix: 16)!)
            index = next
        }
        return bytes
    }
}
