import AirlockDomain
import AirlockWorkflow
import Foundation
import Prometheus
import Testing

@Suite("Outbound guard: rate limits and a circuit per platform")
struct OutboundGuardTests {
    struct Boom: Error {}

    @Test("After a 429 every call to that platform waits for Retry-After; other platforms are not held back")
    func rateLimitPauses() async throws {
        let guardian = OutboundGuard()
        let metrics = AirlockMetrics()
        let t0 = Date(timeIntervalSince1970: 1_800_000_000)
        await #expect(throws: PlatformError.self) {
            try await guardian.call(.slack, at: t0, metrics: metrics) { () async throws -> Int in
                throw PlatformError.rateLimited(retryAfter: .seconds(30))
            }
        }
        var calls = 0
        do {
            _ = try await guardian.call(.slack, at: t0.addingTimeInterval(10), metrics: metrics) { calls += 1 }
            Issue.record("a paused platform was called")
        } catch PlatformError.rateLimited(let after) {
            #expect(after > .seconds(19) && after <= .milliseconds(20_001))
        }
        #expect(calls == 0)
        _ = try await guardian.call(.sandbox, at: t0.addingTimeInterval(10), metrics: metrics) { calls += 1 }
        _ = try await guardian.call(.slack, at: t0.addingTimeInterval(31), metrics: metrics) { calls += 1 }
        #expect(calls == 2)
    }

    @Test("Five transient failures in a row open the circuit for the cooldown; a success closes it")
    func circuit() async throws {
        let guardian = OutboundGuard(threshold: 5, cooldown: 30)
        let metrics = AirlockMetrics()
        let t0 = Date(timeIntervalSince1970: 1_800_000_000)
        for n in 0..<5 {
            await #expect(throws: PlatformError.self) {
                try await guardian.call(.slack, at: t0.addingTimeInterval(Double(n)), metrics: metrics) {
                    () async throws -> Int in
                    throw PlatformError.transient("HTTP 503")
                }
            }
        }
        #expect(throws: PlatformError.self) { try guardian.check(.slack, at: t0.addingTimeInterval(10)) }
        #expect(throws: Never.self) { try guardian.check(.slack, at: t0.addingTimeInterval(40)) }
        let text = String(decoding: metrics.registry.emitToBuffer(), as: UTF8.self)
        #expect(text.contains(#"airlock_outbound_paused_total{platform="slack",reason="circuit_open"} 1"#), "\(text)")
    }
}
