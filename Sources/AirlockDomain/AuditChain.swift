public import Crypto
public import Foundation

/// How entry hashes are computed: plain SHA-256, or HMAC-SHA256 under `AIRLOCK_AUDIT_KEY` so that someone who can
/// write the database file but does not hold the key cannot re-hash a forged chain.
public struct AuditKey: Sendable {
    let key: SymmetricKey?

    /// Plain SHA-256 (anyone can recompute it; truncation and rewrites are caught only with an external head).
    public static let none = AuditKey(key: nil)

    /// HMAC-SHA256 under `secret` (at least 16 bytes).
    public init?(secret: String) {
        guard secret.utf8.count >= 16 else { return nil }
        self.key = SymmetricKey(data: Data(secret.utf8))
    }

    init(key: SymmetricKey?) { self.key = key }

    public var isKeyed: Bool { key != nil }
}

/// Something to record in the audit log (before it is chained).
/// What an audit entry records. The names are the stored `kind` column; a new kind is a new case.
public enum AuditKind: Hashable, Sendable {
    case inbound
    case inboundRefused
    case inboundRefusedSummary
    case command
    case refusal
    case question
    case agentRun
    case dmSent
    case reviewSent
    case reviewPosted
    case publishRequested
    case approval
    case publishClaimed
    case posted
    case publishRefused
    case revised
    case rejected
    case expired
    case jobFailed
    case apiCall
    case followUpRequested
    /// Entries written by tools and tests (benchmarks, fixtures), never by a decision.
    case tool(String)

    public var rawValue: String {
        switch self {
        case .inbound: "inbound"
        case .inboundRefused: "inbound_refused"
        case .inboundRefusedSummary: "inbound_refused_summary"
        case .command: "command"
        case .refusal: "refusal"
        case .question: "question"
        case .agentRun: "agent_run"
        case .dmSent: "dm_sent"
        case .reviewSent: "review_sent"
        case .reviewPosted: "review_posted"
        case .publishRequested: "publish_requested"
        case .approval: "approval"
        case .publishClaimed: "publish_claimed"
        case .posted: "posted"
        case .publishRefused: "publish_refused"
        case .revised: "revised"
        case .rejected: "rejected"
        case .expired: "expired"
        case .jobFailed: "job_failed"
        case .apiCall: "api_call"
        case .followUpRequested: "follow_up_requested"
        case .tool(let name): name
        }
    }
}

public struct AuditEvent: Hashable, Sendable {
    /// What happened.
    public var kind: AuditKind
    public var platform: PlatformName?
    public var actor: PersonID?
    public var draftID: DraftID?
    /// Free-form details; values are strings so the encoding stays canonical.
    public var detail: [String: String]

    public init(
        kind: AuditKind,
        platform: PlatformName? = nil,
        actor: PersonID? = nil,
        draftID: DraftID? = nil,
        detail: [String: String] = [:]
    ) {
        self.kind = kind
        self.platform = platform
        self.actor = actor
        self.draftID = draftID
        self.detail = detail
    }
}

/// One chained audit entry as stored.
public struct AuditEntry: Hashable, Sendable, Codable {
    public var seq: Int64
    /// Milliseconds since 1970 (kept integral so the hash is exact).
    public var atMillis: Int64
    public var kind: String
    public var platform: String?
    public var actor: String?
    public var draftID: String?
    /// Canonical JSON of the detail (sorted keys).
    public var detail: String
    public var prevHash: String
    public var hash: String

    public init(
        seq: Int64,
        atMillis: Int64,
        kind: String,
        platform: String?,
        actor: String?,
        draftID: String?,
        detail: String,
        prevHash: String,
        hash: String
    ) {
        self.seq = seq
        self.atMillis = atMillis
        self.kind = kind
        self.platform = platform
        self.actor = actor
        self.draftID = draftID
        self.detail = detail
        self.prevHash = prevHash
        self.hash = hash
    }

    /// The hash this entry must carry given its fields and `prevHash` (plain SHA-256).
    public var expectedHash: String { expectedHash(key: .none) }

    /// The first field of every entry's hashed encoding: which chain (plain SHA-256 or keyed HMAC) it belongs to.
    static func hashTag(key: AuditKey) -> String { key.isKeyed ? "airlock-audit-hmac-v1" : "airlock-audit-v1" }

    /// The hash this entry must carry under `key`.
    public func expectedHash(key: AuditKey) -> String {
        var encoder = CanonicalEncoder(tag: Self.hashTag(key: key))
        encoder.append(String(seq))
        encoder.append(String(atMillis))
        encoder.append(kind)
        encoder.append(platform ?? "")
        encoder.append(actor ?? "")
        encoder.append(draftID ?? "")
        encoder.append(detail)
        encoder.append(prevHash)
        guard let secret = key.key else { return encoder.sha256Hex() }
        return encoder.hmacHex(key: secret)
    }
}

/// Builds and checks the hash chain.
public enum AuditChain {
    /// The `prevHash` of the first entry.
    public static let genesis = String(repeating: "0", count: 64)

    /// Chains `event` after the entry with sequence `previousSeq` and hash `previousHash`.
    public static func entry(
        for event: AuditEvent,
        at date: Date,
        previousSeq: Int64,
        previousHash: String,
        key: AuditKey = .none,
        detailJSON: String? = nil
    ) -> AuditEntry {
        var entry = AuditEntry(
            seq: previousSeq + 1,
            atMillis: date.millis,
            kind: event.kind.rawValue,
            platform: event.platform?.rawValue,
            actor: event.actor?.description,
            draftID: event.draftID?.rawValue,
            detail: detailJSON ?? canonicalJSON(event.detail),
            prevHash: previousHash,
            hash: ""
        )
        entry.hash = entry.expectedHash(key: key)
        return entry
    }

    /// Sorted-key JSON of a string dictionary: the bytes `JSONEncoder` writes with `.sortedKeys` and
    /// `.withoutEscapingSlashes`, written directly (the encoder was a visible share of every write transaction).
    public static func canonicalJSON(_ detail: [String: String]) -> String {
        var out: [UInt8] = []
        out.reserveCapacity(64 + detail.reduce(0) { $0 + $1.key.utf8.count + $1.value.utf8.count + 6 })
        out.append(UInt8(ascii: "{"))
        var first = true
        for key in detail.keys.sorted() {
            if !first { out.append(UInt8(ascii: ",")) }
            first = false
            appendJSONString(key, to: &out)
            out.append(UInt8(ascii: ":"))
            appendJSONString(detail[key]!, to: &out)
        }
        out.append(UInt8(ascii: "}"))
        return String(decoding: out, as: UTF8.self)
    }

    /// Appends `string` as a JSON string literal in UTF-8, escaped as Foundation's writers do (`"`, `\\`, the C0
    /// controls; slashes and everything else as is). Shared with the recorded-body writer.
    ///
    /// Works on the UTF-8 bytes: every byte that needs escaping is ASCII, so runs between them are copied whole
    /// (a recorded body is mostly quotes to escape, and scalar-by-scalar appends were a tenth of the ingest CPU).
    public static func appendJSONString(_ string: String, to out: inout [UInt8]) {
        out.append(UInt8(ascii: "\""))
        var string = string
        string.withUTF8 { bytes in
            var start = 0
            for index in bytes.indices {
                let byte = bytes[index]
                guard byte < 0x20 || byte == 0x22 || byte == 0x5C else { continue }
                out.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[start..<index]))
                out.append(UInt8(ascii: "\\"))
                switch byte {
                case 0x22, 0x5C: out.append(byte)
                case 0x0A: out.append(UInt8(ascii: "n"))
                case 0x0D: out.append(UInt8(ascii: "r"))
                case 0x09: out.append(UInt8(ascii: "t"))
                case 0x08: out.append(UInt8(ascii: "b"))
                case 0x0C: out.append(UInt8(ascii: "f"))
                default:
                    let hex = Array("0123456789abcdef".utf8)
                    out.append(contentsOf: [
                        UInt8(ascii: "u"), UInt8(ascii: "0"), UInt8(ascii: "0"), hex[Int(byte >> 4)],
                        hex[Int(byte & 0xF)],
                    ])
                }
                start = index + 1
            }
            out.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[start...]))
        }
        out.append(UInt8(ascii: "\""))
    }
}

/// Streams entries in sequence order and reports the first one that breaks the chain.
public struct AuditChainVerifier: Sendable {
    /// Why an entry fails.
    public enum Failure: Hashable, Sendable, CustomStringConvertible {
        case gap(expectedSeq: Int64, found: Int64)
        case brokenLink(seq: Int64)
        case alteredEntry(seq: Int64)
        /// The head recorded earlier (`--expect-head`) is no longer in the chain: entries were cut from the end
        /// or the log was replaced.
        case expectedHeadMissing(hash: String, lastSeq: Int64)

        public var seq: Int64 {
            switch self {
            case .gap(_, let found): found
            case .brokenLink(let seq), .alteredEntry(let seq): seq
            case .expectedHeadMissing(_, let last): last
            }
        }

        public var description: String {
            switch self {
            case .gap(let expected, let found):
                "entry \(expected) is missing (next entry found is \(found)): an entry was deleted"
            case .brokenLink(let seq):
                "entry \(seq) does not point at the hash of the entry before it: an entry before it was deleted or altered"
            case .alteredEntry(let seq):
                "entry \(seq) does not match its hash: it was altered (or it was written under another AIRLOCK_AUDIT_KEY)"
            case .expectedHeadMissing(let hash, let last):
                "no entry has the expected head hash \(hash.prefix(16))…: entries after \(last) were removed or the log was replaced"
            }
        }
    }

    public private(set) var count: Int64 = 0
    /// The hash of the last entry checked (hex).
    public var headHash: String { String(decoding: head, as: UTF8.self) }
    private var head: [UInt8] = Array(AuditChain.genesis.utf8)
    private var digestHex = [UInt8](repeating: 0, count: 64)
    private var lastSeq: Int64 = 0
    private let key: AuditKey
    /// Set when an entry with this hash was seen (`audit verify --expect-head`).
    public private(set) var sawExpectedHead = false
    private let expectedHead: String?

    public init(key: AuditKey = .none, expectedHead: String? = nil) {
        self.key = key
        self.expectedHead = expectedHead?.lowercased()
    }

    /// Checks the next entry; returns the failure, or nil when it chains correctly.
    public mutating func check(_ entry: AuditEntry) -> Failure? {
        if entry.seq != lastSeq + 1 { return .gap(expectedSeq: lastSeq + 1, found: entry.seq) }
        if !entry.prevHash.utf8.elementsEqual(head) { return .brokenLink(seq: entry.seq) }
        if entry.expectedHash(key: key) != entry.hash { return .alteredEntry(seq: entry.seq) }
        if let expectedHead, entry.hash == expectedHead { sawExpectedHead = true }
        lastSeq = entry.seq
        head = Array(entry.hash.utf8)
        count += 1
        return nil
    }

    /// The same check as `check(_:)` on an entry's stored bytes, without building strings: `fields` are kind,
    /// platform, actor, draft id and detail as stored (UTF-8; empty for NULL), `prevHash` and `hash` the stored hex.
    /// `audit verify` reads a million entries this way. `scratch` is reused between calls.
    public mutating func check(
        seq: Int64,
        atMillis: Int64,
        fields: [UnsafeRawBufferPointer],
        prevHash: UnsafeRawBufferPointer,
        hash: UnsafeRawBufferPointer,
        scratch: inout [UInt8]
    ) -> Failure? {
        if seq != lastSeq + 1 { return .gap(expectedSeq: lastSeq + 1, found: seq) }
        if !head.elementsEqual(prevHash) { return .brokenLink(seq: seq) }
        scratch.removeAll(keepingCapacity: true)
        func append(_ bytes: some Collection<UInt8>) { CanonicalEncoder.appendField(bytes, to: &scratch) }
        append(AuditEntry.hashTag(key: key).utf8)
        append(String(seq).utf8)
        append(String(atMillis).utf8)
        for field in fields.prefix(5) { append(field) }
        append(prevHash)
        if let secret = key.key {
            Self.hex(HMAC<SHA256>.authenticationCode(for: scratch, using: secret), into: &digestHex)
        } else {
            Self.hex(SHA256.hash(data: scratch), into: &digestHex)
        }
        guard digestHex.elementsEqual(hash) else { return .alteredEntry(seq: seq) }
        if let expectedHead, expectedHead.utf8.elementsEqual(hash) { sawExpectedHead = true }
        lastSeq = seq
        head.withUnsafeMutableBytes { $0.copyMemory(from: hash) }
        count += 1
        return nil
    }

    private static let digits = Array("0123456789abcdef".utf8)

    private static func hex(_ digest: some Sequence<UInt8>, into out: inout [UInt8]) {
        var index = 0
        for byte in digest {
            out[index] = digits[Int(byte >> 4)]
            out[index + 1] = digits[Int(byte & 0x0f)]
            index += 2
        }
    }

    /// Called after the last entry: the table's reported last sequence must match what was read, and the
    /// expected head (if any) must have been seen.
    public func checkEnd(lastSeqInStore: Int64?) -> Failure? {
        if let last = lastSeqInStore, last != lastSeq { return .gap(expectedSeq: lastSeq + 1, found: last) }
        if let expectedHead, !sawExpectedHead { return .expectedHeadMissing(hash: expectedHead, lastSeq: lastSeq) }
        return nil
    }
}
