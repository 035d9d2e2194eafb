public import AirlockAgents
import AirlockDiscord
public import AirlockDomain
public import AirlockPostgres
public import AirlockSQLite
import AirlockWebhookKit
import AsyncHTTPClient
public import Foundation
public import Logging

/// The operator commands behind the CLI (`audit`, `drafts`, `kb`, `migrate`), as functions that return text.
public enum Operations {
    /// Opens the store or throws `StartupError.database` (exit 3). Commands that only read (`audit`, `drafts`)
    /// pass `mustExist` so that a mistyped path is an error instead of a new, empty, "intact" database.
    /// Read-only commands (`mustExist`) open the file read-only: they never create, migrate or write it.
    /// The audit key comes from `AIRLOCK_AUDIT_KEY`.
    public static func openStore(
        _ url: String,
        mustExist: Bool = false,
        environment: [String: String] = ProcessInfo.processInfo.environment
    ) async throws -> any ManagedStore {
        if StoreKind(url: url) == .postgres {
            do {
                return try await PostgresStore.open(
                    url: url,
                    auditKey: try auditKey(environment),
                    logger: Logger(label: "airlock.store", factory: { _ in SwiftLogNoOpLogHandler() })
                )
            } catch let error as PostgresStoreError {
                throw StartupError.database(error.description)
            }
        }
        return try openSQLite(url, mustExist: mustExist, environment: environment)
    }

    /// Opens a SQLite store (see `openStore`).
    public static func openSQLite(
        _ url: String,
        mustExist: Bool = false,
        environment: [String: String] = ProcessInfo.processInfo.environment
    ) throws -> SQLiteStore {
        if mustExist, let path = SQLiteStore.path(of: url), !FileManager.default.fileExists(atPath: path) {
            throw StartupError.database("no database at \(path): check --database or AIRLOCK_DATABASE")
        }
        let key = try auditKey(environment)
        do {
            return try SQLiteStore.open(url: url, auditKey: key, readOnly: mustExist)
        } catch let error as StorageError {
            if case .unsupportedURL = error { throw ConfigError("\(error)") }
            throw StartupError.database("\(error)")
        }
    }

    /// `AIRLOCK_AUDIT_KEY`, read and checked by the configuration (exit 2 when it is too short).
    static func auditKey(_ environment: [String: String]) throws -> AuditKey {
        do {
            return try AirlockConfig.auditKey(environment: environment)
        } catch let error as ConfigError {
            throw ConfigError(error.description)
        }
    }

    /// `audit verify`: (ok, one-line summary).
    public static func verifyAudit(
        _ store: any ManagedStore,
        expectedHead: String? = nil
    ) async throws -> (Bool, String) {
        let started = ContinuousClock.now
        switch try await store.verifyAudit(expectedHead: expectedHead) {
        case .intact(let entries, let head):
            if let unbacked = try await unbackedPost(store) { return (false, "audit log INCONSISTENT: \(unbacked)") }
            let keyed = store.isAuditKeyed ? "HMAC-keyed" : "unkeyed: keep the head hash elsewhere"
            let seconds = max(1e-6, Double((ContinuousClock.now - started).milliseconds) / 1000)
            let rate = String(format: "%.0f", Double(entries) / seconds)
            return (
                true, "audit log intact: \(entries) entries, head \(head) (\(keyed)); verified at \(rate) entries/s"
            )
        case .broken(let failure):
            return (false, "audit log BROKEN at entry \(failure.seq): \(failure)")
        }
    }

    /// The first `posted` entry without the `publish_requested` and `approval` entries it relies on (same draft,
    /// version and content hash; the approval by the approver named), earlier in the log; nil when every post is
    /// backed. A chain can be intact and still hold a post that nobody asked for or approved (rows written by hand).
    static func unbackedPost(_ store: any ManagedStore) async throws -> String? {
        final class State: @unchecked Sendable {
            // Safe: only touched from the export callback, which runs serially, then read after it returns.
            var requested = Set<String>()
            var approved = Set<String>()
            var failure: String?
        }
        let state = State()
        try await store.exportAudit(since: nil, draftID: nil) { entry in
            guard state.failure == nil, let draft = entry.draftID else { return }
            guard let object = try? JSONSerialization.jsonObject(with: Data(entry.detail.utf8)) as? [String: Any],
                let version = object["version"] as? String, let hash = object["content_hash"] as? String
            else { return }
            let key = "\(draft)|\(version)|\(hash)"
            switch entry.kind {
            case "publish_requested": state.requested.insert(key)
            case "approval": if let actor = entry.actor { state.approved.insert(key + "|" + actor) }
            case "posted":
                let approver = object["approver"] as? String ?? entry.actor ?? ""
                if !state.requested.contains(key) {
                    state.failure =
                        "entry \(entry.seq) posts draft \(draft) v\(version) with no publish_requested entry for that text"
                } else if !state.approved.contains(key + "|" + approver) {
                    state.failure =
                        "entry \(entry.seq) posts draft \(draft) v\(version) with no approval entry by \(approver) for that text"
                }
            default: break
            }
        }
        return state.failure
    }

    /// `audit export`: JSON Lines, one entry per line.
    public static func exportAudit(
        _ store: any ManagedStore,
        since: Date?,
        draftID: DraftID?,
        write: @escaping @Sendable (String) -> Void
    ) async throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        try await store.exportAudit(since: since, draftID: draftID) { entry in
            let line = ExportedEntry(entry)
            write(String(decoding: try encoder.encode(line), as: UTF8.self))
        }
    }

    struct ExportedEntry: Encodable {
        var seq: Int64
        var at: String
        var kind: String
        var platform: String?
        var actor: String?
        var draft_id: String?
        var detail: [String: String]
        var prev_hash: String
        var hash: String

        init(_ entry: AuditEntry) {
            seq = entry.seq
            at = ISO8601DateFormatter.airlock.string(
                from: Date(timeIntervalSince1970: TimeInterval(entry.atMillis) / 1000)
            )
            kind = entry.kind
            platform = entry.platform
            actor = entry.actor
            draft_id = entry.draftID
            detail = (try? JSONDecoder().decode([String: String].self, from: Data(entry.detail.utf8))) ?? [:]
            prev_hash = entry.prevHash
            hash = entry.hash
        }
    }

    /// `drafts list`.
    public static func listDrafts(_ store: any ManagedStore, json: Bool) async throws -> [String] {
        let drafts = try await store.drafts(DraftFilter(limit: 1000))
        if json { return try drafts.map(jsonLine) }
        if drafts.isEmpty { return ["no drafts"] }
        return drafts.map { draft in
            let approvers = draft.approvals.map(\.approver.description).joined(separator: ",")
            return [
                draft.id.rawValue, draft.state.rawValue, "v\(draft.version)", draft.requester.description,
                approvers.isEmpty ? "-" : approvers, String(draft.contentHash.prefix(12)),
            ].joined(separator: "  ")
        }
    }

    /// `drafts show ID`.
    public static func showDraft(_ store: any ManagedStore, id rawID: String, json: Bool) async throws -> [String]? {
        guard let id = DraftID(rawID), let draft = try await store.draft(id) else { return nil }
        if json { return [try jsonLine(draft)] }
        var lines = [
            "draft        \(draft.id)",
            "state        \(draft.state.rawValue) (version \(draft.version))",
            "requester    \(draft.requester)",
            "target       \(draft.target?.description ?? "direct message")",
            "created      \(ISO8601DateFormatter.airlock.string(from: draft.createdAt))",
            "expires      \(ISO8601DateFormatter.airlock.string(from: draft.expiresAt))",
            "content hash \(draft.contentHash)",
            "question     \(draft.question)",
        ]
        if let request = draft.publishRequest {
            lines.append(
                "publish      requested for v\(request.version) at \(ISO8601DateFormatter.airlock.string(from: request.at))"
            )
        }
        for approval in draft.approvals {
            lines.append(
                "approval     \(approval.approver) on v\(approval.version) hash \(approval.contentHash.prefix(12))"
            )
        }
        if let posted = draft.posted { lines.append("posted       \(posted.permalink ?? posted.messageID)") }
        if let reason = draft.rejectionReason { lines.append("rejected     \(reason)") }
        lines.append("sources      \(draft.sources.map(\.label).joined(separator: "; "))")
        lines.append("risk flags   \(draft.riskFlags.joined(separator: "; "))")
        lines.append("answer:")
        lines.append(contentsOf: draft.text.split(separator: "\n", omittingEmptySubsequences: false).map { "  " + $0 })
        return lines
    }

    static func jsonLine(_ draft: Draft) throws -> String {
        let object: [String: Any] = [
            "id": draft.id.rawValue, "state": draft.state.rawValue, "version": draft.version,
            "requester": draft.requester.description, "target": draft.target?.description ?? NSNull(),
            "question": draft.question, "text": draft.text, "content_hash": draft.contentHash,
            "approvals": draft.approvals.map {
                ["approver": $0.approver.description, "version": $0.version, "content_hash": $0.contentHash]
            },
            "publish_requested": draft.publishRequest != nil,
            "permalink": draft.posted?.permalink ?? NSNull(),
            "created_at": ISO8601DateFormatter.airlock.string(from: draft.createdAt),
            "expires_at": ISO8601DateFormatter.airlock.string(from: draft.expiresAt),
        ]
        let data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])
        return String(decoding: data, as: UTF8.self)
    }

    /// `kb eval`: indexes `folder` (or the sample docs) in a scratch database and measures retrieval on `cases`.
    public static func evaluateKnowledgeBase(folder: String?, cases: [EvalCase]) async throws -> EvalFigures {
        try await withEvalIndex(folder: folder) { try await KnowledgeEval.run(agentIndex: $0, cases: cases) }
    }

    /// `kb eval --threads`: each question asked in a thread's root under a generic mention; printed beside the
    /// same questions answered from the mention alone.
    public static func evaluateThreads(folder: String?, cases: [EvalCase]) async throws -> String {
        let (thread, mentionOnly) = try await withEvalIndex(folder: folder) {
            try await KnowledgeEval.runThreads(agentIndex: $0, cases: cases)
        }
        return """
            threads (question in the root, a generic mention such as "@airlock thoughts?"):
            \(thread)
            the same mentions without the thread (answering the mention, not the question):
              hit@1   \(String(format: "%.2f", mentionOnly.hitAt1))
              hit@3   \(String(format: "%.2f", mentionOnly.hitAt3))
            """
    }

    public static func withEvalIndex<T: Sendable>(
        folder: String?,
        _ body: (KnowledgeIndex) async throws -> T
    ) async throws -> T {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent(
            "airlock-eval-\(UUID().uuidString)"
        )
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let store = try SQLiteStore(path: directory.appendingPathComponent("eval.sqlite").path)
        let index = try KnowledgeIndex(writer: store.writer)
        try await index.replace(
            with: try folder.map(KnowledgeIndex.documents(inFolder:)) ?? SampleKnowledgeBase.documents
        )
        return try await body(index)
    }

    /// `commands register discord`: PUT the command file to the application's global commands.
    public static func registerDiscordCommands(
        environment: [String: String],
        file: String?,
        commands: Data,
        logger: Logger
    ) async throws -> Int {
        let config = try await AirlockConfig.load(environment: environment, file: file)
        guard let discord = config.platforms.lazy.compactMap({ $0 as? DiscordModule }).first else {
            throw ConfigError(
                "Discord is not configured: set AIRLOCK_DISCORD_APPLICATION_ID, AIRLOCK_DISCORD_PUBLIC_KEY and AIRLOCK_DISCORD_BOT_TOKEN"
            )
        }
        let context = PlatformContext(http: .shared, logger: logger, recordAPICall: { _, _ in }, now: Date.init)
        do {
            return try await DiscordCommands.register(discord, commands: commands, context: context)
        } catch let error as PlatformSettingsError {
            throw ConfigError(error.description)
        } catch {
            throw ConfigError("Discord refused the commands: \(error)")
        }
    }

    /// `doctor`: checks the configuration, the database and each enabled platform's credentials; returns
    /// (all good, report lines saying what to fix).
    public static func doctor(environment: [String: String], file: String?, logger: Logger) async -> (Bool, [String]) {
        var lines: [String] = []
        var ok = true
        let config: AirlockConfig
        do {
            config = try await AirlockConfig.load(environment: environment, file: file)
            lines.append("ok    configuration read (\(file ?? "environment only"))")
        } catch {
            return (false, ["FAIL  configuration: \(error)"])
        }
        do {
            let store = try await openStore(config.database, mustExist: true, environment: environment)
            let ready = await store.isReady()
            lines.append(
                ready
                    ? "ok    database reachable and migrated"
                    : "FAIL  database reachable but migrations are pending: run `airlock migrate`"
            )
            ok = ok && ready
            if !store.isAuditKeyed {
                lines.append(
                    "warn  AIRLOCK_AUDIT_KEY is not set: the audit chain is unkeyed (keep the head hash elsewhere)"
                )
            }
            await store.close()
        } catch {
            ok = false
            lines.append("FAIL  database: \(error)")
        }
        if config.platforms.isEmpty { lines.append("warn  no chat platform is enabled") }
        let context = PlatformContext(http: .shared, logger: logger, recordAPICall: { _, _ in }, now: Date.init)
        for module in config.platforms {
            do {
                _ = try await module.start(context)
                lines.append("ok    \(type(of: module).name): credentials accepted")
            } catch {
                ok = false
                lines.append("FAIL  \(type(of: module).name): \(error)")
            }
        }
        if !config.policy.canAnyoneApprove {
            ok = false
            lines.append(
                "FAIL  nobody can approve: set AIRLOCK_APPROVERS, or AIRLOCK_OPEN_APPROVAL with the scopes that may"
            )
        } else if config.policy.isOpen {
            let scopes = config.policy.openScopes.flatMap { platform, scopes in scopes.map { "\(platform):\($0)" } }
                .sorted()
            lines.append("warn  open approval: any other human of \(scopes.joined(separator: ", ")) may approve")
        }
        if config.policy.securityApprovers.isEmpty {
            lines.append("info  AIRLOCK_SECURITY_APPROVERS is empty: flagged answers need two approvers")
        }
        lines.append("info  agent: \(config.agent.name)")
        return (ok, lines)
    }

    /// `kb index DIR`: returns (documents, passages).
    public static func indexKnowledgeBase(_ store: SQLiteStore, folder: String) async throws -> (Int, Int) {
        let index = try KnowledgeIndex(writer: store.writer)
        let documents = try KnowledgeIndex.documents(inFolder: folder)
        try await index.replace(with: documents)
        let stats = try await index.stats()
        return (stats.documents, stats.passages)
    }
}

extension ISO8601DateFormatter {
    nonisolated(unsafe) static let airlock: ISO8601DateFormatter = {
        // Safe: ISO8601DateFormatter is thread-safe for formatting once configured, and it is never mutated after this.
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return formatter
    }()
}

/// The stores `AIRLOCK_DATABASE` can name, by its URL scheme: `sqlite:PATH` (also a bare path) and
/// `postgres://` / `postgresql://`.
public enum StoreKind: Sendable, Equatable {
    case sqlite
    case postgres

    public init(url: String) {
        let scheme = url.split(separator: ":", maxSplits: 1).first.map { $0.lowercased() } ?? ""
        self = ["postgres", "postgresql"].contains(scheme) ? .postgres : .sqlite
    }
}
