import AirlockFuzzTargets
import Foundation

// Built normally: `airlock-fuzz TARGET FILE|DIR...` replays inputs through a target and prints what each became.
// Built with `-sanitize=fuzzer,address -DFUZZING` (Fuzz/run.sh): libFuzzer's entry point below drives the target
// named by AIRLOCK_FUZZ_TARGET, and libFuzzer supplies `main`.

#if FUZZING
let fuzzTarget = ProcessInfo.processInfo.environment["AIRLOCK_FUZZ_TARGET"] ?? "slack-events"

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOne(_ start: UnsafeRawPointer?, _ count: Int) -> CInt {
    guard let start else { return 0 }
    FuzzTargets.run(fuzzTarget, Data(bytes: start, count: count))
    return 0
}

@_silgen_name("LLVMFuzzerRunDriver")
func LLVMFuzzerRunDriver(
    _ argc: UnsafeMutablePointer<CInt>,
    _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
    _ callback: @convention(c) (UnsafeRawPointer?, Int) -> CInt
) -> CInt

// SwiftPM links an executable's entry point under `<product>_main` (so tests can link it); hand control to
// libFuzzer's driver from there.
@_cdecl("airlock_fuzz_main")
public func fuzzMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    var count = argc
    var arguments = argv
    return LLVMFuzzerRunDriver(&count, &arguments) { fuzzOne($0, $1) }
}
#else
@main
struct AirlockFuzz {
    static func main() {
        let arguments = CommandLine.arguments.dropFirst()
        guard let target = arguments.first, FuzzTargets.names.contains(target) else {
            FileHandle.standardError.write(
                Data(
                    "usage: airlock-fuzz TARGET FILE|DIR...\ntargets: \(FuzzTargets.names.joined(separator: ", "))\n"
                        .utf8
                )
            )
            exit(2)
        }
        var files: [URL] = []
        for path in arguments.dropFirst() {
            let url = URL(fileURLWithPath: path)
            if let children = try? FileManager.default.contentsOfDirectory(at: url, includingPropertiesForKeys: nil) {
                files += children.sorted { $0.path < $1.path }
            } else {
                files.append(url)
            }
        }
        for file in files {
            guard let data = try? Data(contentsOf: file) else { continue }
            print("\(file.lastPathComponent): \(FuzzTargets.run(target, data))")
        }
    }
}
#endif
