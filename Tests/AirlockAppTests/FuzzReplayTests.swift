import AirlockDomainTesting
import AirlockFuzzTargets
import AirlockTesting
import Foundation
import Testing

/// The CI-sized fuzz run: every committed seed of every target, then seeded mutations of them, through the same
/// entry point libFuzzer drives (`Fuzz/run.sh` for the coverage-guided, sanitized run). A crash or trap fails the
/// whole test process; an input that takes over a second is reported.
@Suite("Fuzz corpora replay")
struct FuzzReplayTests {
    static let corpus = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Fuzz/corpus")
    static let mutationsPerTarget = Int(ProcessInfo.processInfo.environment["AIRLOCK_FUZZ_MUTATIONS"] ?? "") ?? 5000

    static func seeds(_ target: String) throws -> [(String, Data)] {
        let directory = corpus.appendingPathComponent(target)
        return try FileManager.default.contentsOfDirectory(at: directory, includingPropertiesForKeys: nil)
            .sorted { $0.path < $1.path }.map { ($0.lastPathComponent, try Data(contentsOf: $0)) }
    }

    @Test("every target has seeds, and the well-formed ones are understood", arguments: FuzzTargets.names)
    func seedsAreMeaningful(_ target: String) throws {
        let seeds = try Self.seeds(target)
        #expect(seeds.count >= 2, "seed corpus for \(target) is thin")
        let outcomes = seeds.map { FuzzTargets.run(target, $0.1) }
        if target.hasSuffix("signature") && target != "discord-signature" {
            #expect(outcomes.contains { $0.hasPrefix("verified") }, "no seed passes \(target)'s check: \(outcomes)")
        }
        #expect(outcomes.contains { $0.hasPrefix("refused") || $0.hasPrefix("parsed") })
        if !target.hasSuffix("signature") {
            #expect(outcomes.contains { $0.hasPrefix("parsed") }, "no seed parses for \(target): \(outcomes)")
        }
    }

    @Test("seeded mutations of the corpora: no crash, no slow input", arguments: FuzzTargets.names)
    func mutations(_ target: String) throws {
        var rng = SeededGenerator(seed: target.utf8.reduce(UInt64(0x5EED)) { $0 &* 31 &+ UInt64($1) })
        let seeds = try Self.seeds(target).map(\.1)
        var slowest: Duration = .zero
        for index in 0..<Self.mutationsPerTarget {
            var input = seeds[index % seeds.count]
            for _ in 0..<(1 + index % 3) { input = FuzzTargets.mutate(input, using: &rng) }
            let started = ContinuousClock.now
            _ = FuzzTargets.run(target, input)
            slowest = max(slowest, ContinuousClock.now - started)
        }
        #expect(slowest < .seconds(1), "an input took \(slowest)")
    }
}
