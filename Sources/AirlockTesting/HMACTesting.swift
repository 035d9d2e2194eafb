import AirlockWebhookKit
import Crypto
public import Foundation

/// HMAC-SHA256 hex, for signing hand-made webhook deliveries in tests.
public enum HMACTesting {
    public static func sha256Hex(key: String, _ body: Data) -> String {
        Hex.encode(HMAC<SHA256>.authenticationCode(for: body, using: SymmetricKey(data: Data(key.utf8))))
    }
}

/// Ed25519 signing, for hand-made Discord interactions in tests.
public enum Ed25519Testing {
    /// The public key (hex) of a 32-byte seed (hex).
    public static func publicKey(seedHex: String) -> String {
        let key = try! Curve25519.Signing.PrivateKey(rawRepresentation: Hex.decode(seedHex)!)
        return Hex.encode(key.publicKey.rawRepresentation)
    }

    /// Signs `timestamp + body` as Discord does; hex.
    public static func sign(seedHex: String, timestamp: String, body: Data) -> String {
        let key = try! Curve25519.Signing.PrivateKey(rawRepresentation: Hex.decode(seedHex)!)
        return Hex.encode(try! key.signature(for: Data(timestamp.utf8) + body))
    }
}
