public import AirlockDomain
import Crypto
public import Foundation

/// Hex encoding and decoding (lower-case), shared by every signature check and hash.
public enum Hex {
    public static func encode(_ bytes: some Sequence<UInt8>) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var out: [UInt8] = []
        for byte in bytes {
            out.append(digits[Int(byte >> 4)])
            out.append(digits[Int(byte & 0x0f)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// nil unless `text` is an even number of hex digits.
    public static func decode(_ text: some StringProtocol) -> [UInt8]? {
        let utf8 = Array(text.utf8)
        guard utf8.count % 2 == 0 else { return nil }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(utf8.count / 2)
        var index = 0
        while index < utf8.count {
            guard let high = nibble(utf8[index]), let low = nibble(utf8[index + 1]) else { return nil }
            bytes.append(high << 4 | low)
            index += 2
        }
        return bytes
    }

    static func nibble(_ c: UInt8) -> UInt8? {
        switch c {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): c - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): c - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): c - UInt8(ascii: "A") + 10
        default: nil
        }
    }
}

/// Splits text for platforms that cap a message or a block: chunks of at most `limit` characters, cut after the
/// last line break in each window when there is one. Nothing is dropped; empty text gives one empty chunk.
public enum TextChunks {
    public static func split(_ text: String, limit: Int) -> [String] {
        var chunks: [String] = []
        var rest = Substring(text)
        while rest.count > limit {
            let window = rest.prefix(limit)
            let cut = window.lastIndex(of: "\n").map { rest.index(after: $0) } ?? window.endIndex
            chunks.append(String(rest[..<cut]))
            rest = rest[cut...]
        }
        if !rest.isEmpty || chunks.isEmpty { chunks.append(String(rest)) }
        return chunks
    }
}

/// `sha256=<hex>` HMAC-SHA256 signatures over the raw body (Discourse `X-Discourse-Event-Signature`, GitHub
/// `X-Hub-Signature-256`), compared in constant time.
public struct BodySignature: Sendable {
    let key: SymmetricKey
    let header: String

    public init(secret: String, header: String) {
        self.key = SymmetricKey(data: Data(secret.utf8))
        self.header = header
    }

    public func verify(_ request: InboundRequest) throws(InboundRefusal) {
        guard let value = request.header(header) else { throw .badSignature("\(header) is missing") }
        guard value.hasPrefix("sha256="), let mac = Hex.decode(value.dropFirst(7)), mac.count == 32 else {
            throw .badSignature("\(header) is not sha256=<64 hex digits>")
        }
        guard HMAC<SHA256>.isValidAuthenticationCode(mac, authenticating: request.body, using: key) else {
            throw .badSignature("\(header) does not match the body")
        }
    }
}

/// Constant-time comparisons for tokens and MACs.
public enum SecretCompare {
    /// True when both strings are equal; the time taken does not depend on where they differ.
    public static func equal(_ a: String, _ b: String) -> Bool {
        // Comparing fixed-size digests makes the time independent of both length and content.
        SHA256.hash(data: Data(a.utf8)) == SHA256.hash(data: Data(b.utf8))
    }
}

/// `application/x-www-form-urlencoded` bodies.
public enum FormBody {
    /// The fields of a form body; the first value of a repeated name wins.
    public static func fields(_ body: Data) -> [String: String] {
        let text = String(decoding: body, as: UTF8.self)
        var fields: [String: String] = [:]
        for pair in text.split(separator: "&") {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let name = decode(String(parts[0]))
            let value = parts.count > 1 ? decode(String(parts[1])) : ""
            if fields[name] == nil { fields[name] = value }
        }
        return fields
    }

    static func decode(_ text: String) -> String {
        let spaced = text.replacingOccurrences(of: "+", with: " ")
        return spaced.removingPercentEncoding ?? spaced
    }
}

/// Canonical JSON (sorted keys) of a parsed body with secret-bearing fields replaced by `[redacted]`.
public enum RedactedJSON {
    /// The body as canonical JSON with every field named in `secrets` (at any depth) redacted.
    public static func of(_ body: Data, secrets: Set<String>) -> String {
        guard let object = try? JSONSerialization.jsonObject(with: body) else {
            return "[unparseable body, \(body.count) bytes]"
        }
        return canonical(redact(object, secrets: secrets))
    }

    /// Form fields as canonical JSON, secrets redacted; fields named in `jsonFields` are parsed and redacted too.
    public static func ofForm(_ fields: [String: String], secrets: Set<String>, jsonFields: Set<String> = []) -> String
    {
        var object: [String: Any] = [:]
        for (name, value) in fields {
            if secrets.contains(name) {
                object[name] = "[redacted]"
            } else if jsonFields.contains(name), let inner = try? JSONSerialization.jsonObject(with: Data(value.utf8)) {
                object[name] = redact(inner, secrets: secrets)
            } else {
                object[name] = value
            }
        }
        return canonical(object)
    }

    static func redact(_ value: Any, secrets: Set<String>) -> Any {
        if let dictionary = value as? [String: Any] {
            var copy: [String: Any] = [:]
            for (key, inner) in dictionary {
                copy[key] = secrets.contains(key) ? "[redacted]" : redact(inner, secrets: secrets)
            }
            return copy
        }
        if let array = value as? [Any] { return array.map { redact($0, secrets: secrets) } }
        return value
    }

    /// Compact JSON with sorted keys, slashes unescaped: the same bytes as Foundation's
    /// `JSONSerialization.data(withJSONObject:options: [.sortedKeys, .withoutEscapingSlashes])`, written by hand
    /// because Foundation's writer (sorting `AnyHashable` keys, casting every value) was a quarter of the ingest
    /// path's CPU. Only what `JSONSerialization.jsonObject` produces is expected; anything else makes `{}`.
    public static func canonical(_ object: Any) -> String {
        var out: [UInt8] = []
        out.reserveCapacity(1024)
        guard write(object, into: &out) else { return "{}" }
        return String(decoding: out, as: UTF8.self)
    }

    static func write(_ value: Any, into out: inout [UInt8]) -> Bool {
        if let string = value as? String {
            escape(string, into: &out)
        } else if let dictionary = value as? [String: Any] {
            out.append(UInt8(ascii: "{"))
            var first = true
            for key in dictionary.keys.sorted() {
                if !first { out.append(UInt8(ascii: ",")) }
                first = false
                escape(key, into: &out)
                out.append(UInt8(ascii: ":"))
                guard write(dictionary[key]!, into: &out) else { return false }
            }
            out.append(UInt8(ascii: "}"))
        } else if let array = value as? [Any] {
            out.append(UInt8(ascii: "["))
            for (index, element) in array.enumerated() {
                if index > 0 { out.append(UInt8(ascii: ",")) }
                guard write(element, into: &out) else { return false }
            }
            out.append(UInt8(ascii: "]"))
        } else if let number = value as? NSNumber {
            switch UInt8(bitPattern: number.objCType.pointee) {
            case UInt8(ascii: "c"), UInt8(ascii: "B"):
                out.append(contentsOf: (number.boolValue ? "true" : "false").utf8)
            case UInt8(ascii: "d"), UInt8(ascii: "f"):
                let double = number.doubleValue
                guard double.isFinite else { return false }
                out.append(
                    contentsOf: (double == double.rounded(.towardZero) && abs(double) < 1e15
                        ? String(Int64(double)) : "\(double)").utf8
                )
            case UInt8(ascii: "Q"), UInt8(ascii: "L"), UInt8(ascii: "I"):
                out.append(contentsOf: String(number.uint64Value).utf8)
            default: out.append(contentsOf: String(number.int64Value).utf8)
            }
        } else if value is NSNull {
            out.append(contentsOf: "null".utf8)
        } else {
            return false
        }
        return true
    }

    static func escape(_ string: String, into out: inout [UInt8]) {
        AuditChain.appendJSONString(string, to: &out)
    }
}
