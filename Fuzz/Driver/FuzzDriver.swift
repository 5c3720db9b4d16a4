// libFuzzer's entry point (built only by `make fuzz`, with OFFSITE_FUZZ=1: see Package.swift and
// Fuzz/run). The target is chosen by OFFSITE_FUZZ_TARGET (pack-header, index, snapshot, …).
import Foundation
import OffsiteFuzzing

let target: FuzzTarget = {
    let name = ProcessInfo.processInfo.environment["OFFSITE_FUZZ_TARGET"] ?? ""
    guard let target = FuzzTarget(rawValue: name) else {
        let names = FuzzTarget.allCases.map(\.rawValue).joined(separator: ", ")
        fatalError("set OFFSITE_FUZZ_TARGET to one of: \(names)")
    }
    return target
}()

/// SwiftPM links executables with `main` aliased to `offsite_fuzz_main`: hand over to libFuzzer's.
@_cdecl("offsite_fuzz_main")
public func fuzzMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>) -> CInt {
    var argc = argc
    var argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = argv
    return LLVMFuzzerRunDriver(&argc, &argv, fuzz)
}

@_silgen_name("LLVMFuzzerRunDriver")
func LLVMFuzzerRunDriver(
    _ argc: UnsafeMutablePointer<CInt>, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
    _ callback: @convention(c) (UnsafePointer<UInt8>, Int) -> CInt
) -> CInt

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    do {
        try target.run(Array(UnsafeBufferPointer(start: data, count: size)))
    } catch {
        fatalError("\(target.rawValue): \(error)")
    }
    return 0
}
