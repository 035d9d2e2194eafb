public import AirlockDomain
import Crypto
public import Foundation
public import GRDB
import Synchronization

/// One indexed passage of a document.
public struct Passage: Hashable, Sendable {
    public var file: String
    public var section: String?
    public var body: String
    /// bm25 score (lower is more relevant, as SQLite reports it).
    public var score: Double
    /// The document declares `visibility: restricted` in its front matter.
    public var restricted: Bool = false
    /// `readers:` of a restricted document (`platform:id`, `group:NAME`); nobody when empty.
    public var readers: [String] = []

    public init(
        file: String,
        section: String?,
        body: String,
        score: Double,
        restricted: Bool = false,
        readers: [String] = []
    ) {
        self.file = file
        self.section = section
        self.body = body
        self.score = score
        self.restricted = restricted
        self.readers = readers
    }

    /// True when someone with these reader identities may read it (always for a public passage).
    public func isReadable(by identities: [String]) -> Bool {
        !restricted || readers.contains { identities.contains($0) }
    }

    /// The passage as a citation.
    public var source: SourceRef { SourceRef(file: file, section: section, restricted: restricted) }
}

/// A document to index: its path relative to the knowledge-base folder, and its text.
public struct KnowledgeDocument: Hashable, Sendable {
    public var path: String
    public var text: String

    public init(path: String, text: String) {
        self.path = path
        self.text = text
    }
}

/// Why the knowledge base could not be read.
public enum KnowledgeError: Error, Sendable, CustomStringConvertible {
    case unreadableFolder(String)
    case emptyFolder(String)

    public var description: String {
        switch self {
        case .unreadableFolder(let path): "cannot read the knowledge-base folder \(path)"
        case .emptyFolder(let path): "the knowledge-base folder \(path) holds no .md or .txt files"
        }
    }
}

/// The retrieval agent's full-text index: SQLite FTS5 with bm25 ranking, in Airlock's database.
public struct KnowledgeIndex: Sendable, RestrictedContent {
    let writer: any DatabaseWriter
    /// Word shingles of every restricted passage → its citation, rebuilt whenever the index is brought up to date.
    let restrictedShingles = RestrictedShingles()

    /// Creates the index tables when missing.
    public init(writer: any DatabaseWriter) throws {
        self.writer = writer
        var migrator = DatabaseMigrator()
        migrator.registerMigration("kb-v1") { db in
            try db.execute(
                sql: """
                    CREATE VIRTUAL TABLE kb_chunk USING fts5(file UNINDEXED, section, body, tokenize = 'porter unicode61');
                    CREATE TABLE kb_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
                    """
            )
        }
        migrator.registerMigration("kb-v2") { db in
            try db.execute(
                sql: """
                    CREATE TABLE kb_doc (path TEXT PRIMARY KEY, hash TEXT NOT NULL, restricted INTEGER NOT NULL DEFAULT 0);
                    DELETE FROM kb_chunk;
                    DELETE FROM kb_meta;
                    """
            )
        }
        migrator.registerMigration("kb-v3") { db in
            // Readers of restricted documents; every document is re-read once so their front matter is taken in.
            try db.execute(
                sql: """
                    ALTER TABLE kb_doc ADD COLUMN readers TEXT NOT NULL DEFAULT '';
                    UPDATE kb_doc SET hash = '';
                    """
            )
        }
        try migrator.migrate(writer)
    }

    /// The restricted documents `text` reproduces (one shared run of `Shingles.size` words is enough).
    public func overlap(_ text: String) -> [SourceRef] { restrictedShingles.overlap(text) }

    /// Brings the index in line with `documents`, incrementally: a document whose content hash is unchanged is
    /// left alone, a changed or new one is re-chunked, one no longer present is removed.
    /// Returns the number of passages (re)indexed (0 when nothing changed).
    @discardableResult
    public func replace(with documents: [KnowledgeDocument]) async throws -> Int {
        let indexed = try await writer.write { db in
            var known: [String: String] = [:]
            for row in try Row.fetchAll(db, sql: "SELECT path, hash FROM kb_doc") { known[row["path"]] = row["hash"] }
            var count = 0
            var present = Set<String>()
            for document in documents {
                present.insert(document.path)
                let hash = Self.fingerprint([document])
                if known[document.path] == hash { continue }
                let (frontMatter, body) = FrontMatter.split(document.text)
                try db.execute(sql: "DELETE FROM kb_chunk WHERE file = ?", arguments: [document.path])
                for chunk in MarkdownChunker.chunks(of: body) {
                    try db.execute(
                        sql: "INSERT INTO kb_chunk (file, section, body) VALUES (?, ?, ?)",
                        arguments: [document.path, chunk.section, chunk.body]
                    )
                    count += 1
                }
                let readers = (frontMatter["readers"] ?? "").split(separator: ",")
                    .map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
                try db.execute(
                    sql: """
                        INSERT INTO kb_doc (path, hash, restricted, readers) VALUES (?, ?, ?, ?)
                        ON CONFLICT(path) DO UPDATE SET hash = excluded.hash, restricted = excluded.restricted,
                            readers = excluded.readers
                        """,
                    arguments: [
                        document.path, hash, frontMatter["visibility"]?.lowercased() == "restricted",
                        readers.joined(separator: ","),
                    ]
                )
            }
            for path in known.keys where !present.contains(path) {
                try db.execute(sql: "DELETE FROM kb_chunk WHERE file = ?", arguments: [path])
                try db.execute(sql: "DELETE FROM kb_doc WHERE path = ?", arguments: [path])
            }
            return count
        }
        try await rebuildRestrictedShingles()
        return indexed
    }

    /// Reads every restricted passage and keeps its shingles (in memory; each replica builds its own).
    func rebuildRestrictedShingles() async throws {
        let rows = try await writer.read { db in
            try Row.fetchAll(
                db,
                sql: """
                    SELECT kb_chunk.file AS file, section, body FROM kb_chunk JOIN kb_doc ON kb_doc.path = kb_chunk.file
                    WHERE kb_doc.restricted = 1
                    """
            ).map { row -> (SourceRef, String) in
                (SourceRef(file: row["file"], section: row["section"], restricted: true), row["body"])
            }
        }
        restrictedShingles.replace(rows)
    }

    /// Number of documents and passages indexed.
    public func stats() async throws -> (documents: Int, passages: Int) {
        try await writer.read { db in
            let documents = try Int.fetchOne(db, sql: "SELECT count(*) FROM kb_doc") ?? 0
            let passages = try Int.fetchOne(db, sql: "SELECT count(*) FROM kb_chunk") ?? 0
            return (documents, passages)
        }
    }

    /// The most relevant passages for a free-text question that a reader with `readers` identities may read: a
    /// restricted passage only when its document's `readers:` names one of them (none listed: nobody).
    public func search(_ question: String, limit: Int = 3, readers: [String]) async throws -> [Passage] {
        guard let query = Self.matchQuery(for: question) else { return [] }
        return try await writer.read { db in
            try Row.fetchAll(
                db,
                sql: """
                    SELECT kb_chunk.file AS file, section, body, bm25(kb_chunk, 0.0, 2.0, 1.0) AS score,
                        COALESCE(kb_doc.restricted, 0) AS restricted, COALESCE(kb_doc.readers, '') AS readers
                    FROM kb_chunk LEFT JOIN kb_doc ON kb_doc.path = kb_chunk.file
                    WHERE kb_chunk MATCH ? ORDER BY score LIMIT ?
                    """,
                arguments: [query, limit * 4]
            ).map { row in
                let readers: String = row["readers"]
                return Passage(
                    file: row["file"],
                    section: row["section"],
                    body: row["body"],
                    score: row["score"],
                    restricted: row["restricted"],
                    readers: readers.split(separator: ",").map(String.init)
                )
            }
            .filter { $0.isReadable(by: readers) }
            .prefix(limit).map { $0 }
        }
    }

    /// Every passage of one document, in order, when a reader with `readers` identities may read it; empty otherwise.
    public func passages(inFile file: String, readers: [String]) async throws -> [Passage] {
        try await writer.read { db in
            try Row.fetchAll(
                db,
                sql: """
                    SELECT kb_chunk.file AS file, section, body, COALESCE(kb_doc.restricted, 0) AS restricted,
                        COALESCE(kb_doc.readers, '') AS readers
                    FROM kb_chunk LEFT JOIN kb_doc ON kb_doc.path = kb_chunk.file WHERE kb_chunk.file = ? ORDER BY kb_chunk.rowid
                    """,
                arguments: [file]
            ).map { row in
                let readers: String = row["readers"]
                return Passage(
                    file: row["file"],
                    section: row["section"],
                    body: row["body"],
                    score: 0,
                    restricted: row["restricted"],
                    readers: readers.split(separator: ",").map(String.init)
                )
            }
            .filter { $0.isReadable(by: readers) }
        }
    }

    /// Reads every `.md`, `.markdown` and `.txt` file under `folder`.
    public static func documents(inFolder folder: String) throws -> [KnowledgeDocument] {
        let root = URL(fileURLWithPath: folder).standardizedFileURL
        guard let enumerator = FileManager.default.enumerator(at: root, includingPropertiesForKeys: nil) else {
            throw KnowledgeError.unreadableFolder(folder)
        }
        var documents: [KnowledgeDocument] = []
        for case let url as URL in enumerator where ["md", "markdown", "txt"].contains(url.pathExtension.lowercased()) {
            guard let text = try? String(contentsOf: url, encoding: .utf8) else { continue }
            let relative = url.standardizedFileURL.path.replacingOccurrences(of: root.path + "/", with: "")
            documents.append(KnowledgeDocument(path: relative, text: text))
        }
        guard !documents.isEmpty else { throw KnowledgeError.emptyFolder(folder) }
        return documents.sorted { $0.path < $1.path }
    }

    /// An FTS5 query OR-ing the question's meaningful words, each quoted (so no FTS syntax gets through).
    static func matchQuery(for question: String) -> String? {
        let words = question.lowercased()
            .split(whereSeparator: { !($0.isLetter || $0.isNumber) })
            .map(String.init)
            .filter { $0.count > 1 && !stopWords.contains($0) }
        var seen = Set<String>()
        let unique = words.filter { seen.insert($0).inserted }
        guard !unique.isEmpty else { return nil }
        return unique.prefix(32).map { "\"\($0)\"" }.joined(separator: " OR ")
    }

    static func fingerprint(_ documents: [KnowledgeDocument]) -> String {
        var encoder = CanonicalEncoder(tag: "airlock-kb-v1")
        for document in documents {
            encoder.append(document.path)
            encoder.append(document.text)
        }
        return encoder.sha256Hex()
    }

    static let stopWords: Set<String> = [
        "the", "a", "an", "and", "or", "of", "to", "in", "on", "for", "is", "are", "was", "be", "it", "this", "that",
        "how", "do", "does", "did", "what", "when", "where", "who", "why", "which", "can", "could", "should", "would",
        "we", "our", "us", "you", "your", "my", "me", "with", "from", "at", "by", "as", "if", "there", "any", "some",
        "airlock", "please", "hi", "hello", "hey", "thanks", "about", "into", "get", "have", "has", "need", "want",
        "after", "before", "someone", "something", "anyone", "then", "than", "also", "just", "like", "there", "here",
        "am", "i", "is", "was", "were", "will", "shall", "may", "might", "must", "not", "no", "yes", "so", "too",
    ]
}

/// `---`-delimited front matter at the top of a document (`visibility: restricted`), as simple `key: value` lines.
enum FrontMatter {
    static func split(_ text: String) -> (fields: [String: String], body: String) {
        let lines = text.components(separatedBy: .newlines)
        guard lines.first?.trimmingCharacters(in: .whitespaces) == "---",
            let end = lines.dropFirst().firstIndex(where: { $0.trimmingCharacters(in: .whitespaces) == "---" })
        else { return ([:], text) }
        var fields: [String: String] = [:]
        for line in lines[1..<end] {
            guard let colon = line.firstIndex(of: ":") else { continue }
            let key = line[..<colon].trimmingCharacters(in: .whitespaces).lowercased()
            let value = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
                .trimmingCharacters(in: CharacterSet(charactersIn: "\"'"))
            fields[key] = value
        }
        return (fields, lines[(end + 1)...].joined(separator: "\n"))
    }
}

/// Splits Markdown into heading-scoped passages of a few paragraphs.
enum MarkdownChunker {
    struct Chunk: Hashable {
        var section: String?
        var body: String
    }

    static func chunks(of text: String, maxCharacters: Int = 900) -> [Chunk] {
        var chunks: [Chunk] = []
        var section: String?
        var title: String?
        var buffer: [String] = []
        func flush() {
            let body = buffer.joined(separator: "\n").trimmingCharacters(in: .whitespacesAndNewlines)
            if !body.isEmpty { chunks.append(Chunk(section: section ?? title, body: body)) }
            buffer = []
        }
        for line in text.components(separatedBy: .newlines) {
            if line.hasPrefix("#") {
                flush()
                let heading = line.drop(while: { $0 == "#" }).trimmingCharacters(in: .whitespaces)
                if line.hasPrefix("# ") && title == nil { title = heading } else { section = heading }
                continue
            }
            buffer.append(line)
            if line.trimmingCharacters(in: .whitespaces).isEmpty,
                buffer.joined(separator: "\n").count > maxCharacters
            {
                flush()
            }
        }
        flush()
        return chunks
    }
}

/// The restricted passages' shingles, shared by every copy of the index value.
final class RestrictedShingles: Sendable {
    private let table = Mutex<[UInt64: SourceRef]>([:])

    func replace(_ passages: [(SourceRef, String)]) {
        var next: [UInt64: SourceRef] = [:]
        for (source, body) in passages {
            for shingle in Shingles.of(body) { next[shingle] = source }
        }
        table.withLock { $0 = next }
    }

    func overlap(_ text: String) -> [SourceRef] {
        let shingles = Shingles.of(text)
        guard !shingles.isEmpty else { return [] }
        let found = table.withLock { table in shingles.compactMap { table[$0] } }
        var seen = Set<String>()
        return found.filter { seen.insert($0.file).inserted }.map { SourceRef(file: $0.file, restricted: true) }.sorted
        { $0.file < $1.file }
    }
}
