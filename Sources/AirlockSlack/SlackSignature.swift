import AirlockWebhookKit
import Crypto
public import Foundation

/// Why a Slack request's signature was refused (never carries the secret or the body).
public enum SlackSignatureError: Error, Hashable, Sendable, CustomStringConvertible {
    case missingHeaders
    case malformedTimestamp
    case staleTimestamp
    case malformedSignature
    case mismatch

    public var code: String {
        switch self {
        case .missingHeaders: "missing_signature"
        case .malformedTimestamp: "malformed_timestamp"
        case .staleTimestamp: "stale_timestamp"
        case .malformedSignature: "malformed_signature"
        case .mismatch: "bad_signature"
        }
    }

    public var description: String {
        switch self {
        case .missingHeaders: "X-Slack-Signature or X-Slack-Request-Timestamp is missing"
        case .malformedTimestamp: "X-Slack-Request-Timestamp is not a number of seconds"
        case .staleTimestamp: "X-Slack-Request-Timestamp is more than 5 minutes from now"
        case .malformedSignature: "X-Slack-Signature is not v0=<64 hex digits>"
        case .mismatch: "X-Slack-Signature does not match the body"
        }
    }
}

/// Slack's v0 request signing: HMAC-SHA256 over `v0:<timestamp>:<raw body>`, 5-minute window.
public struct SlackSignatureVerifier: Sendable {
    private let key: SymmetricKey
    /// Largest accepted distance between the request's timestamp and now, past or future.
    public let window: TimeInterval = 300

    public init(signingSecret: String) {
        self.key = SymmetricKey(data: Data(signingSecret.utf8))
    }

    /// Throws unless the headers sign `body` within the replay window; compares in constant time.
    public func verify(
        timestamp: String?,
        signature: String?,
        body: some DataProtocol,
        now: Date
    ) throws(SlackSignatureError) {
        guard let timestamp, let signature else { throw .missingHeaders }
        guard let seconds = Int64(timestamp.trimmingCharacters(in: .whitespaces)) else { throw .malformedTimestamp }
        guard abs(now.timeIntervalSince1970 - TimeInterval(seconds)) <= window else { throw .staleTimestamp }
        guard signature.hasPrefix("v0="), let mac = Hex.decode(signature.dropFirst(3)), mac.count == 32 else {
            throw .malformedSignature
        }
        var message = Data("v0:\(timestamp):".utf8)
        message.append(contentsOf: body)
        guard HMAC<SHA256>.isValidAuthenticationCode(mac, authenticating: message, using: key) else { throw .mismatch }
    }

    /// `v0=<hex>` for a body (used by tests, the demo and the benchmark to sign like Slack).
    public func signature(timestamp: String, body: some DataProtocol) -> String {
        var message = Data("v0:\(timestamp):".utf8)
        message.append(contentsOf: body)
        let mac = HMAC<SHA256>.authenticationCode(for: message, using: key)
        return "v0=" + Hex.encode(mac)
    }
}
