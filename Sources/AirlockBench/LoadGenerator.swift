import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import Synchronization

/// A closed-loop HTTP/1.1 load generator in the spirit of `wrk`: `connections` keep-alive connections, each with
/// one request in flight, sending pre-built requests from a shared list until it is used up. Requests are built
/// (and signed) before the clock starts; the generator only writes, reads and times, so it costs the shared CPU
/// as little as it can. The same generator drives Airlock and the peer.
struct LoadGenerator {
    struct Prepared: Sendable {
        var head: HTTPRequestHead
        var body: ByteBuffer
    }

    struct Result: Sendable {
        var latenciesMillis: [Double]
        var failures: Int
        var seconds: Double
    }

    let host: String
    /// Connection `i` goes to `ports[i % ports.count]` (several replicas behind no balancer).
    let ports: [Int]

    init(host: String, port: Int) { self.init(host: host, ports: [port]) }
    init(host: String, ports: [Int]) {
        self.host = host
        self.ports = ports
    }

    func run(_ requests: [Prepared], connections: Int) async throws -> Result {
        let work = WorkList(requests)
        let group = MultiThreadedEventLoopGroup.singleton
        let started = ContinuousClock.now
        let results = try await withThrowingTaskGroup(of: ([Double], Int).self) { tasks in
            for connection in 0..<connections {
                let port = ports[connection % ports.count]
                tasks.addTask {
                    let done = group.any().makePromise(of: ([Double], Int).self)
                    let channel = try await ClientBootstrap(group: group)
                        .channelOption(.socketOption(.tcp_nodelay), value: 1)
                        .channelInitializer { channel in
                            channel.eventLoop.makeCompletedFuture {
                                try channel.pipeline.syncOperations.addHTTPClientHandlers()
                                try channel.pipeline.syncOperations.addHandler(LoadHandler(work: work, done: done))
                            }
                        }
                        .connect(host: host, port: port).get()
                    let result = try await done.futureResult.get()
                    try? await channel.close()
                    return result
                }
            }
            var all: ([Double], Int) = ([], 0)
            for try await (latencies, failures) in tasks {
                all.0 += latencies
                all.1 += failures
            }
            return all
        }
        let seconds = (ContinuousClock.now - started).millisecondsDouble / 1000
        return Result(
            latenciesMillis: results.0,
            failures: results.1 + (requests.count - results.0.count),
            seconds: seconds
        )
    }
}

/// The shared list of requests, handed out one at a time.
final class WorkList: Sendable {
    let requests: [LoadGenerator.Prepared]
    private let next = Atomic<Int>(0)

    init(_ requests: [LoadGenerator.Prepared]) { self.requests = requests }

    func take() -> LoadGenerator.Prepared? {
        let index = next.wrappingAdd(1, ordering: .relaxed).oldValue
        return index < requests.count ? requests[index] : nil
    }
}

/// One connection: send, wait for the whole response, time it, send the next.
final class LoadHandler: ChannelInboundHandler, @unchecked Sendable {
    // Safe: used only on its channel's event loop.
    typealias InboundIn = HTTPClientResponsePart
    typealias OutboundOut = HTTPClientRequestPart

    let work: WorkList
    let done: EventLoopPromise<([Double], Int)>
    var latencies: [Double] = []
    var failures = 0
    var sentAt = NIODeadline.now()
    var status: HTTPResponseStatus = .ok
    var finished = false

    init(work: WorkList, done: EventLoopPromise<([Double], Int)>) {
        self.work = work
        self.done = done
    }

    func channelActive(context: ChannelHandlerContext) {
        sendNext(context)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head): status = head.status
        case .body: break
        case .end:
            latencies.append(Double((NIODeadline.now() - sentAt).nanoseconds) / 1e6)
            if status != .ok { failures += 1 }
            sendNext(context)
        }
    }

    func sendNext(_ context: ChannelHandlerContext) {
        guard let request = work.take() else {
            finish()
            return
        }
        sentAt = .now()
        context.write(wrapOutboundOut(.head(request.head)), promise: nil)
        context.write(wrapOutboundOut(.body(.byteBuffer(request.body))), promise: nil)
        context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        failures += 1
        finish()
        context.close(promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        finish()
    }

    func finish() {
        guard !finished else { return }
        finished = true
        done.succeed((latencies, failures))
    }
}
