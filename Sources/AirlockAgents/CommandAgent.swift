public import AirlockDomain
import Dispatch
public import Foundation

/// An external agent: `AIRLOCK_AGENT_COMMAND` runs under `/bin/sh -c` with a JSON request on stdin and must print
/// one JSON answer on stdout. A non-zero exit, a timeout or output that is not the expected JSON fails the run.
public struct CommandAgent: AnalysisAgent {
    public let backend = "command"
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
        let context = AgentContext(passages: RetrievalAgent.relevant(try await index.search(question.text, limit: 5, readers: question.readerIdentities)))
        let request = Request(
            question: question.text, requester: question.requester.description,
            platform: question.requester.platform.rawValue, draft_id: question.draftID.rawValue, thread: nil,
            passages: context.passages.enumerated().map {
                .init(number: $0 + 1, file: $1.file, section: $1.section, text: $1.body, restricted: $1.restricted)
            })
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
        guard !text.isEmpty, response.complete != false else { throw AgentFailure("the agent command returned no complete answer") }
        // Sources it names must be passages it was given; otherwise the citations come from the text.
        let given = Set(context.passages.map(\.file))
        let named = (response.sources ?? []).filter { given.contains($0.file) }.map { source in
            context.passages.first { $0.file == source.file && ($0.section == source.section || source.section == nil) }?.source
                ?? SourceRef(file: source.file, section: source.section)
        }
        return AgentAnswer(
            text: text, sources: context.withRestricted(named.isEmpty ? context.cited(in: text) : named),
            riskFlags: named.isEmpty ? context.citationFlags(for: text) : [], model: response.model ?? "command",
            prompt: question.text, inputTokens: response.input_tokens, outputTokens: response.output_tokens)
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

    static func run(shell command: String, input: Data, timeout: Duration) async throws -> (Int32, Data) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        process.arguments = ["-c", command]
        let stdin = Pipe()
        let stdout = Pipe()
        let stderr = Pipe()
        process.standardInput = stdin
        process.standardOutput = stdout
        process.standardError = stderr
        let exited = DispatchSemaphore(value: 0)
        process.terminationHandler = { _ in exited.signal() }
        do {
            try ProcessLauncher.run(process)
        } catch {
            throw AgentFailure("the agent command could not be started")
        }
        let pid = process.processIdentifier
        @Sendable func kill() { if process.isRunning { _ = Foundation.kill(pid, SIGKILL) } }
        let box = Box()
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { continuation in
                let shot = OneShot(continuation)
                box.set(shot)
                DispatchQueue.global().async {
                    try? stdin.fileHandleForWriting.write(contentsOf: input)
                    try? stdin.fileHandleForWriting.close()
                }
                DispatchQueue.global().async { _ = try? stderr.fileHandleForReading.readToEnd() }
                DispatchQueue.global().async {
                    var output = Data()
                    while let chunk = try? stdout.fileHandleForReading.read(upToCount: 64 * 1024), !chunk.isEmpty {
                        if output.count < maxOutput { output.append(chunk.prefix(maxOutput - output.count)) }
                    }
                    exited.wait()
                    shot.resume(.success((process.terminationStatus, output)))
                }
                DispatchQueue.global().asyncAfter(deadline: .now() + .milliseconds(Int(timeout.milliseconds))) {
                    kill()
                    shot.resume(.failure(AgentFailure("the agent command did not answer within \(timeout)")))
                }
            }
        } onCancel: {
            kill()
            box.shot?.resume(.failure(CancellationError()))
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

/// Starts child processes one at a time. Foundation's `Process.run()` on Linux is not safe to call from several
/// threads at once (seen as a crash inside `run()` while another process was being started); every spawn in this
/// process — the command agent, test servers — goes through this lock.
public enum ProcessLauncher {
    private static let lock = NSLock()

    public static func run(_ process: Process) throws {
        lock.lock()
        defer { lock.unlock() }
        try process.run()
    }
}
