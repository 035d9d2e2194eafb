import AirlockAgents
import AirlockApp
import AirlockDomain
import AirlockMatrix
import AirlockSQLite
import AirlockTesting
import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import Synchronization
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// The Matrix conversation against a real Synapse homeserver (SQLite, 127.0.0.1), started and stopped by the test.
/// Runs when `AIRLOCK_TEST_SYNAPSE=1`; `AIRLOCK_SYNAPSE_PYTHON` names a Python with `matrix-synapse` installed
/// (`.ci/run` makes one in a virtualenv when it can).
@Suite(
    "Matrix against a real Synapse",
    .enabled(if: ProcessInfo.processInfo.environment["AIRLOCK_TEST_SYNAPSE"] == "1")
)
struct SynapseIntegrationTests {
    @Test("invite → mention → DM room → publish + approve by DM → one m.thread reply to the question → audit verify")
    func conversation() async throws {
        let airlockPort = try freeLoopbackPort()
        let synapse = try await SynapseServer.start(appServiceURL: "http://127.0.0.1:\(airlockPort)")
        defer { synapse.stop() }
        let hs = synapse.baseURL
        let bot = "@airlock:localhost"
        let alice = try await MatrixUser.register(hs, "alice")
        let bob = try await MatrixUser.register(hs, "bob")
        let carol = try await MatrixUser.register(hs, "carol")

        let database = temporaryDatabase()
        try await withFakeSlack { slack in
            try await withAirlock(
                slack: slack,
                database: database,
                configure: { config in
                    config.slack = nil
                    config.port = airlockPort
                    config.platforms.append(
                        MatrixModule(
                            homeserverURL: hs,
                            asToken: SynapseServer.asToken,
                            hsToken: SynapseServer.hsToken,
                            botUser: bot
                        )
                    )
                    config.policy = ApprovalPolicy(approvers: [
                        PersonID(platform: .matrix, id: alice.id), PersonID(platform: .matrix, id: bob.id),
                    ])
                }
            ) { app in
                // An outsider's public room, the bot invited to it as "direct": joined as a room like any other, never
                // taken for the outsider's private channel (checked at the end, once everything after it happened).
                let eve = try await MatrixUser.register(hs, "eve")
                let lobby = try await eve.createRoom(invite: [bot, carol.id], isDirect: true)
                try await carol.join(lobby)
                #expect(
                    await eventually(timeout: .seconds(30)) {
                        (try? await eve.joinedMembers(lobby).contains(bot)) == true
                    },
                    "the bot did not join"
                )
                _ = try await eve.send(
                    lobby,
                    ["msgtype": "m.text", "body": "how do I get the database admin password?"]
                )
                _ = try await carol.send(lobby, ["msgtype": "m.text", "body": "and the payroll export?"])

                // A public room with the bot invited: Airlock joins on the invite it is pushed.
                let room = try await alice.createRoom(invite: [bot, bob.id, carol.id])
                try await bob.join(room)
                try await carol.join(room)
                #expect(
                    await eventually(timeout: .seconds(30)) {
                        (try? await alice.joinedMembers(room).contains(bot)) == true
                    },
                    "the bot did not join"
                )

                let question = try await alice.send(
                    room,
                    [
                        "msgtype": "m.text", "body": "\(bot) when do production deploys run?",
                        "m.mentions": ["user_ids": [bot]],
                    ]
                )
                // The answer arrives in a direct room the bot creates with alice, and nowhere public.
                let aliceDM = try await alice.acceptDirectRoom(from: bot)
                #expect(
                    await eventually(timeout: .seconds(30)) {
                        (try? await alice.bodies(aliceDM, from: bot).contains { $0.contains("Draft answer") }) == true
                    }
                )
                #expect(
                    try await alice.messages(room).filter { $0.sender == bot }.isEmpty,
                    "the bot wrote in the public room before approval"
                )
                let draft = try #require(try await app.store.drafts(DraftFilter()).first)
                let id = draft.id.rawValue
                #expect(draft.requester == PersonID(platform: .matrix, id: alice.id))
                #expect(draft.target?.thread == question, "the draft is not bound to the question's event")

                // A stranger's publish (in the public room, mentioning the bot) is refused, by DM.
                _ = try await carol.send(
                    room,
                    ["msgtype": "m.text", "body": "\(bot) publish \(id)", "m.mentions": ["user_ids": [bot]]]
                )
                let carolDM = try await carol.acceptDirectRoom(from: bot)
                #expect(
                    await eventually(timeout: .seconds(30)) {
                        (try? await carol.bodies(carolDM, from: bot).contains {
                            $0.contains("Only the person who asked")
                        }) == true
                    }
                )

                // The forum story on a real homeserver: bob asks in the room, carol mentions the bot in bob's thread
                // and is answered, privately, with bob's question (read through the homeserver's thread relations).
                let bobQuestion = try await bob.send(
                    room,
                    ["msgtype": "m.text", "body": "how do I restore the database to a point in time?"]
                )
                _ = try await carol.send(
                    room,
                    [
                        "msgtype": "m.text", "body": "\(bot) thoughts?", "m.mentions": ["user_ids": [bot]],
                        "m.relates_to": ["rel_type": "m.thread", "event_id": bobQuestion],
                    ]
                )
                #expect(
                    await eventually(timeout: .seconds(30)) {
                        (try? await carol.bodies(carolDM, from: bot).contains {
                            $0.contains("Draft answer") && $0.contains("Read: 1 message") && $0.contains("bob")
                        }) == true
                    },
                    "carol's private answer does not come from bob's thread"
                )
                #expect(try await alice.messages(room).filter { $0.sender == bot }.isEmpty, "the bot wrote in the room")
                // Carol replies to her draft DM on the homeserver: a follow-up, version 2 of her draft.
                let carolDraftDM = try #require(
                    try await carol.messages(carolDM).last { $0.sender == bot && $0.body.contains("Draft answer") }
                )
                let carolDraft = try #require(
                    try await app.store.drafts(DraftFilter()).first { $0.requester.id == carol.id }
                )
                _ = try await carol.send(
                    carolDM,
                    [
                        "msgtype": "m.text", "body": "> <\(bot)> Draft answer …\n\nshorter please",
                        "m.relates_to": ["m.in_reply_to": ["event_id": carolDraftDM.id]],
                    ]
                )
                #expect(
                    await eventually(timeout: .seconds(30)) {
                        (try? await app.store.draft(carolDraft.id))?.version == 2
                    },
                    "the reply was not a follow-up"
                )
                #expect(
                    await eventually(timeout: .seconds(30)) {
                        (try? await carol.bodies(carolDM, from: bot).contains {
                            $0.contains("You asked: \"shorter please\"")
                        }) == true
                    }
                )

                _ = try await alice.send(aliceDM, ["msgtype": "m.text", "body": "publish \(id)"])
                #expect(
                    await eventually(timeout: .seconds(30)) {
                        (try? await alice.bodies(aliceDM, from: bot).contains { $0.contains("Publish requested") })
                            == true
                    }
                )
                let bobDM = try await bob.acceptDirectRoom(from: bot)
                #expect(
                    await eventually(timeout: .seconds(30)) {
                        (try? await bob.bodies(bobDM, from: bot).contains { $0.contains("/approve \(id) v1") }) == true
                    },
                    "no review DM"
                )
                _ = try await alice.send(aliceDM, ["msgtype": "m.text", "body": "approve \(id) v1"])
                #expect(
                    await eventually(timeout: .seconds(30)) {
                        (try? await alice.bodies(aliceDM, from: bot).contains { $0.contains("cannot approve") }) == true
                    }
                )
                #expect(try await app.store.draft(draft.id)?.state != .posted)

                _ = try await bob.send(bobDM, ["msgtype": "m.text", "body": "approve \(id) v1"])
                _ = try await waitForState(app, draft.id, .posted)
                // Exactly one post by the bot in the public room: a thread reply to the question.
                #expect(
                    await eventually(timeout: .seconds(30)) {
                        (try? await alice.messages(room).contains { $0.sender == bot }) == true
                    }
                )
                let posts = try await alice.messages(room).filter { $0.sender == bot }
                #expect(posts.count == 1, "\(posts.map(\.body))")
                let post = try #require(posts.first)
                #expect(
                    post.relType == "m.thread" && post.relatesTo == question,
                    "not a thread reply to the question: \(post)"
                )
                #expect(post.body.contains("opsctl deploy rollback"))
                #expect(
                    await eventually(timeout: .seconds(30)) {
                        (try? await alice.bodies(aliceDM, from: bot).contains { $0.contains("now public") }) == true
                    }
                )
                _ = try await bob.send(bobDM, ["msgtype": "m.text", "body": "approve \(id) v1"])
                #expect(
                    await eventually(timeout: .seconds(30)) {
                        (try? await bob.bodies(bobDM, from: bot).contains {
                            $0.contains("posted") && !$0.contains("now public")
                        }) == true
                    }
                )
                #expect(try await alice.messages(room).filter { $0.sender == bot }.count == 1)
                // Nothing was asked or written in the outsider's room.
                #expect(
                    try await eve.messages(lobby).filter { $0.sender == bot }.isEmpty,
                    "the bot wrote in the outsider's public room"
                )
                #expect(
                    try await app.store.drafts(DraftFilter()).count == 2,
                    "a message in the outsider's room became a question"
                )
            }
        }
        #expect(try await Operations.verifyAudit(try SQLiteStore.open(url: database)).0)
    }
}

/// A free TCP port on 127.0.0.1 (bound to port 0, read back, released). The homeserver's registration must name
/// Airlock's URL before either starts, so this one case cannot bind port 0 in the server itself.
func freeLoopbackPort() throws -> Int {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { throw POSIXError(.EMFILE) }
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    address.sin_port = 0
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let bound = withUnsafeMutablePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
            bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0
        }
    }
    guard bound else { throw POSIXError(.EADDRINUSE) }
    return Int(UInt16(bigEndian: address.sin_port))
}

/// A throwaway Synapse: generated keys, SQLite, one client listener on 127.0.0.1, Airlock registered as an
/// application service, registration open (loopback only) and rate limits raised for the test.
final class SynapseServer: @unchecked Sendable {
    // Safe: set once in `start`, then only read; `stop` is called once.
    static let asToken = "airlock-synapse-as-token"
    static let hsToken = "airlock-synapse-hs-token"
    let process: Process
    let directory: URL
    let baseURL: String

    private init(process: Process, directory: URL, baseURL: String) {
        self.process = process
        self.directory = directory
        self.baseURL = baseURL
    }

    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    static func start(appServiceURL: String) async throws -> SynapseServer {
        let python = ProcessInfo.processInfo.environment["AIRLOCK_SYNAPSE_PYTHON"] ?? "python3"
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent(
            "airlock-synapse-\(UUID().uuidString.prefix(8))"
        )
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let port = try freeLoopbackPort()
        let d = directory.path
        let limit = "{per_second: 1000, burst_count: 1000}"
        try """
        id: airlock
        url: "\(appServiceURL)"
        as_token: "\(asToken)"
        hs_token: "\(hsToken)"
        sender_localpart: airlock
        rate_limited: false
        namespaces:
          users: [{exclusive: true, regex: "@airlock:localhost"}]
          aliases: []
          rooms: []

        """.write(toFile: d + "/registration.yaml", atomically: true, encoding: .utf8)
        try """
        server_name: localhost
        pid_file: \(d)/homeserver.pid
        signing_key_path: \(d)/signing.key
        media_store_path: \(d)/media
        report_stats: false
        trusted_key_servers: []
        suppress_key_server_warning: true
        enable_registration: true
        enable_registration_without_verification: true
        app_service_config_files: [\(d)/registration.yaml]
        database: {name: sqlite3, args: {database: \(d)/homeserver.db}}
        listeners:
          - {port: \(port), bind_addresses: [127.0.0.1], type: http, tls: false, x_forwarded: false, resources: [{names: [client], compress: false}]}
        rc_message: \(limit)
        rc_registration: \(limit)
        rc_joins: {local: \(limit), remote: \(limit)}
        rc_invites: {per_room: \(limit), per_user: \(limit), per_issuer: \(limit)}
        rc_login: {address: \(limit), account: \(limit), failed_attempts: \(limit)}

        """.write(toFile: d + "/homeserver.yaml", atomically: true, encoding: .utf8)
        let log = d + "/homeserver.log"
        _ = FileManager.default.createFile(atPath: log, contents: nil)

        func launch(_ extra: [String]) throws -> Process {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            process.arguments = [python, "-m", "synapse.app.homeserver", "-c", d + "/homeserver.yaml"] + extra
            process.currentDirectoryURL = directory
            process.standardInput = FileHandle.nullDevice
            let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: log))
            handle.seekToEndOfFile()
            process.standardOutput = handle
            process.standardError = handle
            try ProcessLauncher.run(process)
            return process
        }
        func logTail() -> String {
            String((try? String(contentsOfFile: log, encoding: .utf8))?.suffix(2000) ?? "")
        }

        let keys = try launch(["--generate-keys"])
        let keyDeadline = ContinuousClock.now + .seconds(60)
        while keys.isRunning, ContinuousClock.now < keyDeadline { try await Task.sleep(for: .milliseconds(50)) }
        guard !keys.isRunning, keys.terminationStatus == 0 else {
            if keys.isRunning { keys.terminate() }
            throw Failure(
                description:
                    "synapse --generate-keys failed (is matrix-synapse installed for \(python)?):\n\(logTail())"
            )
        }
        let process = try launch([])
        let server = SynapseServer(process: process, directory: directory, baseURL: "http://127.0.0.1:\(port)")
        let up = await eventually(timeout: .seconds(90)) {
            guard process.isRunning else { return true }
            let response = try? await HTTPClient.shared.execute(
                HTTPClientRequest(url: server.baseURL + "/_matrix/client/versions"),
                timeout: .seconds(2)
            )
            return response?.status == .ok
        }
        guard up, process.isRunning else {
            server.stop()
            throw Failure(description: "Synapse did not start on 127.0.0.1:\(port):\n\(logTail())")
        }
        return server
    }

    func stop() {
        guard process.isRunning else { return }
        process.terminate()
        let deadline = Date().addingTimeInterval(20)
        while process.isRunning, Date() < deadline { usleep(50_000) }
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
    }
}

/// A Matrix account on the test homeserver, spoken to with the client-server API.
final class MatrixUser: Sendable {
    let baseURL: String
    let id: String
    let token: String
    /// The `/sync` position and invites seen but not yet accepted.
    let sync = Mutex<(since: String?, pending: [String])>((nil, []))

    init(baseURL: String, id: String, token: String) {
        self.baseURL = baseURL
        self.id = id
        self.token = token
    }

    struct Message: Sendable {
        var id: String
        var sender: String
        var body: String
        var relType: String?
        var relatesTo: String?
    }

    static func register(_ baseURL: String, _ name: String) async throws -> MatrixUser {
        let object = try await call(
            baseURL,
            token: nil,
            .POST,
            "/_matrix/client/v3/register",
            [
                "username": name, "password": "\(name)-password-123", "auth": ["type": "m.login.dummy"],
                "inhibit_login": false,
            ]
        )
        guard let id = object["user_id"] as? String, let token = object["access_token"] as? String else {
            throw SynapseServer.Failure(description: "register \(name): \(object)")
        }
        return MatrixUser(baseURL: baseURL, id: id, token: token)
    }

    static func call(
        _ baseURL: String,
        token: String?,
        _ method: HTTPMethod,
        _ path: String,
        _ body: [String: Any]? = nil
    ) async throws -> [String: Any] {
        var request = HTTPClientRequest(url: baseURL + path)
        request.method = method
        if let token { request.headers.add(name: "Authorization", value: "Bearer \(token)") }
        if let body {
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(bytes: try JSONSerialization.data(withJSONObject: body)))
        }
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(30))
        let bytes = try await response.body.collect(upTo: 8 << 20)
        let object = (try? JSONSerialization.jsonObject(with: Data(bytes.readableBytesView))) as? [String: Any] ?? [:]
        guard response.status == .ok else {
            throw SynapseServer.Failure(description: "\(method) \(path): \(response.status) \(String(buffer: bytes))")
        }
        return object
    }

    func call(_ method: HTTPMethod, _ path: String, _ body: [String: Any]? = nil) async throws -> [String: Any] {
        try await Self.call(baseURL, token: token, method, path, body)
    }

    static func segment(_ text: String) -> String {
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: "-._~")
        return text.addingPercentEncoding(withAllowedCharacters: allowed) ?? text
    }

    func createRoom(invite: [String], isDirect: Bool = false) async throws -> String {
        var body: [String: Any] = ["preset": "public_chat", "name": "ops", "invite": invite]
        if isDirect { body["is_direct"] = true }
        let object = try await call(.POST, "/_matrix/client/v3/createRoom", body)
        return object["room_id"] as? String ?? ""
    }

    func join(_ room: String) async throws {
        _ = try await call(.POST, "/_matrix/client/v3/rooms/\(Self.segment(room))/join", [:])
    }

    func joinedMembers(_ room: String) async throws -> [String] {
        let object = try await call(.GET, "/_matrix/client/v3/rooms/\(Self.segment(room))/joined_members")
        return Array((object["joined"] as? [String: Any] ?? [:]).keys)
    }

    func send(_ room: String, _ content: [String: Any]) async throws -> String {
        let path = "/_matrix/client/v3/rooms/\(Self.segment(room))/send/m.room.message/\(UUID().uuidString)"
        return try await call(.PUT, path, content)["event_id"] as? String ?? ""
    }

    /// Waits for an invite from `inviter` to a direct room, joins it and returns its id. Follows `/sync` with its
    /// `since` token (Synapse caches an identical initial sync for minutes, so repeating one would not see new invites).
    func acceptDirectRoom(from inviter: String) async throws -> String {
        let deadline = ContinuousClock.now + .seconds(30)
        while ContinuousClock.now < deadline {
            let since = sync.withLock { $0.since }
            let response = try await call(
                .GET,
                "/_matrix/client/v3/sync?timeout=1000" + (since.map { "&since=" + Self.segment($0) } ?? "")
            )
            let invites = (response["rooms"] as? [String: Any])?["invite"] as? [String: Any] ?? [:]
            let found = invites.compactMap { room, value -> String? in
                let events =
                    ((value as? [String: Any])?["invite_state"] as? [String: Any])?["events"] as? [[String: Any]] ?? []
                // Stripped state: the invite itself, sent by the inviter.
                let invited = events.contains {
                    $0["type"] as? String == "m.room.member" && $0["state_key"] as? String == id
                        && $0["sender"] as? String == inviter
                }
                return invited ? room : nil
            }
            sync.withLock {
                $0.since = response["next_batch"] as? String ?? $0.since
                $0.pending.append(contentsOf: found)
            }
            if let room = sync.withLock({ $0.pending.isEmpty ? nil : $0.pending.removeFirst() }) {
                try await join(room)
                return room
            }
        }
        throw SynapseServer.Failure(description: "\(id): no direct room from \(inviter)")
    }

    /// The room's text messages, oldest first.
    func messages(_ room: String) async throws -> [Message] {
        let object = try await call(.GET, "/_matrix/client/v3/rooms/\(Self.segment(room))/messages?dir=b&limit=200")
        let chunk = object["chunk"] as? [[String: Any]] ?? []
        return chunk.reversed().compactMap { event in
            guard event["type"] as? String == "m.room.message", let content = event["content"] as? [String: Any] else {
                return nil
            }
            let relation = content["m.relates_to"] as? [String: Any]
            return Message(
                id: event["event_id"] as? String ?? "",
                sender: event["sender"] as? String ?? "",
                body: content["body"] as? String ?? "",
                relType: relation?["rel_type"] as? String,
                relatesTo: relation?["event_id"] as? String
            )
        }
    }

    func bodies(_ room: String, from sender: String) async throws -> [String] {
        try await messages(room).filter { $0.sender == sender }.map(\.body)
    }
}
