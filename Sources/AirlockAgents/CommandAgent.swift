public import AirlockDomain
import Dispatch
public import Foundation

/// An external agent: `AIRLOCK_AGENT_COMMAND` runs under `/bin/sh -c` with a JSON request on stdin and must print
/// one JSON answer on stdout. A non-zero exit, a timeout or output that is not the expected JSON fails the run.
public struct CommandAgent: AnalysisAgent {
    public let backend = AgentBackend.command
    let command: String
    let index: KnowledgeIndex
    let timeout: Duration

    public init(command: String, index: KnowledgeIndex, timeout: Duration) {
        self.command = command
        self.index = index
        self.timeout = timeout
    }

    struct Request: Encodable {
        struct PassageDTO: Encodable {
            var number: Int
            var file: String
            var section: String?
            var text: String
            var restricted: Bool
        }
        var question: String
        var requester: String
        var platform: String
        var draft_id: String
        var thread: String?
        /// The thread the mention was made in, up to the mention (screened), oldest first.
        var thread_messages: [ThreadMessage]
        var passages: [PassageDTO]
    }

    struct Response: Decodable {
        struct Source: Decodable {
            var file: String
            var section: String?
        }
        var answer: String
        var sources: [Source]?
        var model: String?
        var input_tokens: Int?
        var output_tokens: Int?
        var complete: Bool?
    }

    public func answer(_ question: AgentQuestion) async throws -> AgentAnswer {
        let context = AgentContext(
            passages: RetrievalAgent.relevant(
                try await index.search(question.searchText, limit: 5, readers: question.readerIdentities)
            )
        )
        let request = Request(
            question: question.text,
            requester: question.requester.description,
            platform: question.requester.platform.rawValue,
            draft_id: question.draftID.rawValue,
            thread: nil,
            thread_messages: question.thread,
            passages: context.passages.enumerated().map {
                .init(number: $0 + 1, file: $1.file, section: $1.section, text: $1.body, restricted: $1.restricted)
            }
        )
        let input = try JSONEncoder().encode(request)
        let (status, output) = try await ProcessRunner.run(shell: command, input: input, timeout: timeout)
        guard status == 0 else { throw AgentFailure("the agent command exited with status \(status)") }
        let response: Response
        do {
            response = try JSONDecoder().decode(Response.self, from: output)
        } catch {
            throw AgentFailure("the agent command did not print a JSON answer ({\"answer\": …})")
        }
        let text = response.answer.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !text.isEmpty, response.complete != false else {
            throw AgentFailure("the agent command returned no complete answer")
        }
        // Sources it names must be passages it was given; otherwise the citations come from the text.
        let given = Set(context.passages.map(\.file))
        let named = (response.sources ?? []).filter { given.contains($0.file) }.map { source in
            context.passages.first {
                $0.file == source.file && ($0.section == source.section || source.section == nil)
            }?.source
                ?? SourceRef(file: source.file, section: source.section)
        }
        return AgentAnswer(
            text: text,
            sources: context.withRestricted(named.isEmpty ? context.cited(in: text) : named),
            riskFlags: named.isEmpty ? context.citationFlags(for: text) : [],
            model: response.model ?? "command",
            prompt: question.text,
            inputTokens: response.input_tokens,
            outputTokens: response.output_tokens
        )
    }
}

/// Runs a shell command with stdin, collecting stdout (bounded). On timeout or cancellation the process is
/// killed and the call returns at once (a grandchild that keeps the pipe open cannot hold the run hostage).
enum ProcessRunner {
    static let maxOutput = 4 << 20

    /// Resumes its continuation once, with whichever result arrives first.
    final class OneShot: @unchecked Sendable {
        // Safe: `continuation` is only touched under `lock`.
        private let lock = NSLock()
        private var continuation: CheckedContinuation<(Int32, Data), any Error>?
        init(_ continuation: CheckedContinuation<(Int32, Data), any Error>) { self.continuation = continuation }
        func resume(_ result: Result<(Int32, Data), any Error>) {
            let waiting: CheckedContinuation<(Int32, Data), any Error>? = lock.withLock {
                defer { continuation = nil }
                return continuation
            }
            waiting?.resume(with: result)
        }
    }

    /// Spawned with `posix_spawn` (Foundation's `Process.run()` crashed now and then inside `run()` on Linux when
    /// processes were started from several threads); pipes are read and the child reaped on plain threads.
    static func run(shell command: String, input: Data, timeout: Duration) async throws -> (Int32, Data) {
        // Close-on-exec, set under the spawn lock: a command spawned meanwhile by another job must not inherit these
        // ends (it would hold this child's stdin open, and a `cat` here would never see its end). The child's 0, 1
        // and 2 are dup2'd copies, which do not inherit the flag.
        var pipes: [[Int32]] = [[0, 0], [0, 0], [0, 0]]
        let made = ProcessLauncher.spawn { () -> Int32 in
            for index in pipes.indices {
                guard pipe(&pipes[index]) == 0 else {
                    for fd in pipes[..<index].joined() { close(fd) }
                    return -1
                }
                for fd in pipes[index] { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
            }
            return 0
        }
        guard made == 0 else { throw AgentFailure("the agent command could not be started") }
        let (stdinPipe, stdoutPipe, stderrPipe) = (pipes[0], pipes[1], pipes[2])
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, stdinPipe[0], 0)
        posix_spawn_file_actions_adddup2(&actions, stdoutPipe[1], 1)
        posix_spawn_file_actions_adddup2(&actions, stderrPipe[1], 2)
        for fd in stdinPipe + stdoutPipe + stderrPipe { posix_spawn_file_actions_addclose(&actions, fd) }
        let argv: [UnsafeMutablePointer<CChar>?] = [strdup("/bin/sh"), strdup("-c"), strdup(command), nil]
        defer { for pointer in argv { free(pointer) } }
        // Its own process group, so a timeout kills what the command started too (not only the shell), and nothing it
        // left behind keeps the output pipe open.
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETPGROUP))
        posix_spawnattr_setpgroup(&attributes, 0)
        var pid: pid_t = 0
        let spawned = ProcessLauncher.spawn { posix_spawn(&pid, "/bin/sh", &actions, &attributes, argv, environ) }
        close(stdinPipe[0])
        close(stdoutPipe[1])
        close(stderrPipe[1])
        guard spawned == 0 else {
            close(stdinPipe[1]); close(stdoutPipe[0]); close(stderrPipe[0])
            throw AgentFailure("the agent command could not be started")
        }
        let child = Child(pid: pid)
        let (writeEnd, readEnd, errorEnd) = (stdinPipe[1], stdoutPipe[0], stderrPipe[0])
        let box = Box()
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { continuation in
                let shot = OneShot(continuation)
                box.set(shot)
                Thread.detachNewThread {
                    // A child that exits without reading its input must not kill us with SIGPIPE: write() fails instead.
                    input.withUnsafeBytes { bytes in
                        var offset = 0
                        while offset < bytes.count {
                            let written = send(
                                writeEnd,
                                bytes.baseAddress! + offset,
                                bytes.count - offset,
                                Int32(MSG_NOSIGNAL)
                            )
                            if written < 0, errno == ENOTSOCK {
                                let plain = write(writeEnd, bytes.baseAddress! + offset, bytes.count - offset)
                                if plain <= 0 { break }
                                offset += plain
                            } else if written <= 0 {
                                break
                            } else {
                                offset += written
                            }
                        }
                    }
                    close(writeEnd)
                }
                Thread.detachNewThread {
                    var chunk = [UInt8](repeating: 0, count: 16 * 1024)
                    while read(errorEnd, &chunk, chunk.count) > 0 {}
                    close(errorEnd)
                }
                Thread.detachNewThread {
                    var output = Data()
                    var chunk = [UInt8](repeating: 0, count: 64 * 1024)
                    while true {
                        let count = read(readEnd, &chunk, chunk.count)
                        if count <= 0 { break }
                        if output.count < maxOutput {
                            output.append(contentsOf: chunk[0..<min(count, maxOutput - output.count)])
                        }
                    }
                    close(readEnd)
                    shot.resume(.success((child.waitForExit(), output)))
                }
                DispatchQueue.global().asyncAfter(deadline: .now() + .milliseconds(Int(timeout.milliseconds))) {
                    child.kill()
                    shot.resume(.failure(AgentFailure("the agent command did not answer within \(timeout)")))
                }
            }
        } onCancel: {
            child.kill()
            box.shot?.resume(.failure(CancellationError()))
        }
    }

    /// A spawned child: killed at most while it has not been reaped (its pid cannot have been reused), reaped once.
    final class Child: @unchecked Sendable {
        // Safe: `reaped` and `status` are only touched under `lock`.
        private let lock = NSLock()
        private let pid: pid_t
        private var reaped = false
        private var status: Int32 = 0

        init(pid: pid_t) { self.pid = pid }

        func kill() {
            lock.withLock {
                // The whole group: the shell and whatever it started.
                if !reaped { _ = Foundation.kill(-pid, SIGKILL) }
            }
        }

        /// Blocks until the child exits; its exit code (128 + signal when killed).
        func waitForExit() -> Int32 {
            var raw: Int32 = 0
            while waitpid(pid, &raw, 0) < 0 && errno == EINTR {}
            return lock.withLock {
                reaped = true
                let signal = raw & 0x7f
                status = signal == 0 ? (raw >> 8) & 0xff : 128 + signal
                return status
            }
        }
    }

    final class Box: @unchecked Sendable {
        // Safe: `stored` is only touched under `lock`.
        private let lock = NSLock()
        private var stored: OneShot?
        func set(_ shot: OneShot) { lock.withLock { stored = shot } }
        var shot: OneShot? { lock.withLock { stored } }
    }
}

/// Starts child processes one at a time (the command agent here, the tests' servers and homeserver), so no two
/// spawns in this process overlap.
public enum ProcessLauncher {
    private static let lock = NSLock()

    /// Runs a `posix_spawn` call under the lock; returns its result.
    public static func spawn(_ body: () -> Int32) -> Int32 {
        lock.lock()
        defer { lock.unlock() }
        return body()
    }

    public static func run(_ process: Process) throws {
        lock.lock()
        defer { lock.unlock() }
        try process.run()
    }
}
