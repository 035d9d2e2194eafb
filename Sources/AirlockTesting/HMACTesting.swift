import Crypto
public import Foundation

/// HMAC-SHA256 hex, for signing hand-made webhook deliveries in tests.
public enum HMACTesting {
    public static func sha256Hex(key: String, _ body: Data) -> String {
        HMAC<SHA256>.authenticationCode(for: body, using: SymmetricKey(data: Data(key.utf8))).map { String(format: "%02x", $0) }.joined()
    }
}
