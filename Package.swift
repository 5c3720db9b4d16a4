// swift-tools-version:6.0
import PackageDescription

/// `make fuzz` (Fuzz/run) sets OFFSITE_FUZZ=1: offsite's own modules are instrumented for libFuzzer
/// and AddressSanitizer, and the `offsite-fuzz` driver exists. Dependencies are not instrumented.
/// Normal builds never see either.
let fuzzing = Context.environment["OFFSITE_FUZZ"] == "1"

/// One set of compiler settings shared by every target (docs/ARCHITECTURE.md, house rule 1).
var sharedSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("InternalImportsByDefault"),
]
if fuzzing { sharedSettings.append(.unsafeFlags(["-sanitize=fuzzer,address"])) }
/// `make sanitize` (scripts/sanitize) sets OFFSITE_TSAN=1 for its ThreadSanitizer build: OffsiteSync's
/// `Mutex` is then a pthread mutex, which ThreadSanitizer can see (Sources/OffsiteSync/Mutex.swift).
if Context.environment["OFFSITE_TSAN"] == "1" { sharedSettings.append(.define("OFFSITE_TSAN")) }
/// The format's hot loops (Poly1305, the chunker, pack and JSON parsing) are optimised in debug
/// builds too: unoptimised, generic integer arithmetic made Poly1305 alone about a quarter of the
/// CPU time of the offsite processes the tests start. `-enable-testing` still applies, so
/// `@testable import OffsiteFormat` works; stepping through this module in a debugger shows
/// optimised code.
let formatSettings = sharedSettings + [.unsafeFlags(["-O"], .when(configuration: .debug))]
/// CI's sanitizer subset (`scripts/sanitize --engine`, docs/RELIABILITY.md, Sanitizers) sets
/// OFFSITE_ENGINE_ONLY=1: the package is then the engine alone (format, storage, engine and their
/// tests) with swift-crypto its only dependency, so an instrumented build skips SwiftNIO, the HTTP
/// client and the orchestrator's packages and fits in CI's time. Normal builds never see it.
let engineOnly = Context.environment["OFFSITE_ENGINE_ONLY"] == "1"
let crypto: Package.Dependency = .package(url: "https://github.com/apple/swift-crypto", from: "4.5.0")

let package = Package(
    name: "offsite",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "offsite", targets: ["offsite"]),
        .library(name: "OffsiteEngine", targets: ["OffsiteEngine"]),
    ],
    dependencies: engineOnly
        ? [crypto]
        : [
            .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
            crypto,
            .package(url: "https://github.com/swift-server/async-http-client", from: "1.37.0"),
            .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
            // The HTTP client's TLS (already in the graph through it); offsite sets trust roots,
            // client certificates and verification for --cacert, --tls-client-cert, --insecure-tls.
            .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.37.0"),
            .package(url: "https://github.com/swiftlang/swift-subprocess", from: "1.0.2"),
            .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
            .package(url: "https://github.com/apple/swift-system", from: "1.5.0"),
        ],
    targets: [
        // libzstd from the system (Debian: libzstd-dev).
        .systemLibrary(
            name: "CZstd",
            pkgConfig: "libzstd",
            providers: [.apt(["libzstd-dev"]), .brew(["zstd"])]
        ),
        // The mutex every module uses (Synchronization's, or a pthread one under ThreadSanitizer).
        .target(
            name: "OffsiteSync",
            swiftSettings: sharedSettings
        ),
        .target(
            name: "OffsiteFormat",
            dependencies: [
                "CZstd",
                "OffsiteSync",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "_CryptoExtras", package: "swift-crypto"),
            ],
            swiftSettings: formatSettings
        ),
        .target(
            name: "OffsiteStorage",
            dependencies: ["OffsiteSync"],
            swiftSettings: sharedSettings
        ),
        // Linux headers Glibc's module leaves out (extended attributes).
        .systemLibrary(name: "CPosix"),
        .target(
            name: "OffsiteEngine",
            dependencies: ["OffsiteFormat", "OffsiteStorage", "CPosix"],
            swiftSettings: sharedSettings
        ),
        // Object storage over HTTP: S3 (and B2, MinIO through the S3 API), GCS, restic's REST server.
        .target(
            name: "OffsiteCloud",
            dependencies: [
                "OffsiteStorage",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOFoundationCompat", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "_CryptoExtras", package: "swift-crypto"),
            ],
            swiftSettings: sharedSettings
        ),
        .executableTarget(
            name: "offsite",
            dependencies: [
                "OffsiteEngine", "OffsiteFormat", "OffsiteStorage", "OffsiteCloud", "OffsiteJobs",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: sharedSettings
        ),
        // The orchestrator: configuration (.env files, offsite.yml), database and volume jobs run
        // through the offsite binary, schedules, metrics, drills.
        .target(
            name: "OffsiteJobs",
            dependencies: [
                // offsite doctor's signed S3 requests (bucket lifecycle rules).
                "OffsiteCloud",
                .product(name: "Subprocess", package: "swift-subprocess"),
                .product(name: "SystemPackage", package: "swift-system"),
                .product(name: "Yams", package: "Yams"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ],
            swiftSettings: sharedSettings
        ),
        // The parsers hostile input reaches, one entry point each (docs/RELIABILITY.md, Fuzzing):
        // run by the libFuzzer driver and by OffsiteFuzzingTests' corpus smoke.
        .target(
            name: "OffsiteFuzzing",
            dependencies: ["OffsiteFormat", "OffsiteEngine", "OffsiteCloud", "OffsiteJobs", "OffsiteSync", "OffsiteTesting"],
            path: "Fuzz/Targets",
            swiftSettings: sharedSettings
        ),
        .target(
            name: "OffsiteTesting",
            dependencies: ["OffsiteEngine", "OffsiteFormat", "OffsiteStorage", "CPosix"],
            swiftSettings: sharedSettings
        ),
        // Suite traits over OffsiteTesting's servers (swift-testing's TestScoping), apart from
        // OffsiteTesting so that the fuzz driver, which links OffsiteTesting, never links Testing.
        .target(
            name: "OffsiteTestTraits",
            dependencies: ["OffsiteTesting"],
            swiftSettings: sharedSettings
        ),
        .testTarget(
            name: "OffsiteCloudTests",
            dependencies: ["OffsiteCloud", "OffsiteStorage", "OffsiteTesting", "OffsiteTestTraits"],
            swiftSettings: sharedSettings
        ),
        .testTarget(
            name: "OffsiteFuzzingTests",
            dependencies: ["OffsiteFuzzing", "OffsiteTesting"],
            swiftSettings: sharedSettings
        ),
        .testTarget(
            name: "OffsiteFormatTests",
            dependencies: [
                "OffsiteFormat", "OffsiteTesting",
                // BoringSSL's ChaCha20-Poly1305 is the oracle for the Poly1305 implementation.
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "_CryptoExtras", package: "swift-crypto"),
            ],
            swiftSettings: sharedSettings
        ),
        .testTarget(
            name: "OffsiteStorageTests",
            dependencies: ["OffsiteStorage", "OffsiteTesting"],
            swiftSettings: sharedSettings
        ),
        .testTarget(
            name: "OffsiteEngineTests",
            dependencies: ["OffsiteEngine", "OffsiteFormat", "OffsiteStorage", "OffsiteTesting"],
            swiftSettings: sharedSettings
        ),
        .testTarget(
            name: "OffsiteJobsTests",
            // Depends on the executable: the end-to-end tests run `offsite run|daemon|drill`.
            dependencies: ["OffsiteJobs", "OffsiteFormat", "OffsiteTesting", "OffsiteTestTraits", "offsite"],
            swiftSettings: sharedSettings
        ),
        .testTarget(
            name: "OffsiteInteropTests",
            // Depends on the executable so that `swift test` builds the binary the tests run.
            dependencies: ["OffsiteEngine", "OffsiteFormat", "OffsiteStorage", "OffsiteTesting", "OffsiteTestTraits", "offsite"],
            swiftSettings: sharedSettings
        ),
    ]
)

if fuzzing {
    package.targets.append(
        .executableTarget(
            name: "offsite-fuzz",
            dependencies: ["OffsiteFuzzing"],
            path: "Fuzz/Driver",
            swiftSettings: sharedSettings + [.unsafeFlags(["-parse-as-library"])],
            linkerSettings: [.unsafeFlags(["-sanitize=fuzzer,address"])]
        ))
}

/// `scripts/microbench` sets OFFSITE_MICROBENCH=1 (with OFFSITE_ENGINE_ONLY=1, in its own release
/// build): the `offsite-microbench` executable (Benchmarks/Micro) and google/swift-benchmark join
/// the package. Normal builds never see either.
let microbench = Context.environment["OFFSITE_MICROBENCH"] == "1"

if engineOnly {
    let engine: Set = [
        "CZstd", "CPosix", "OffsiteSync", "OffsiteFormat", "OffsiteStorage", "OffsiteEngine", "OffsiteTesting",
        "OffsiteFormatTests", "OffsiteStorageTests", "OffsiteEngineTests",
    ]
    package.targets.removeAll { !engine.contains($0.name) }
    package.products.removeAll { $0.name != "OffsiteEngine" }
}

if microbench {
    package.dependencies.append(.package(url: "https://github.com/google/swift-benchmark", from: "0.1.2"))
    package.targets.append(
        .executableTarget(
            name: "offsite-microbench",
            dependencies: ["OffsiteEngine", "OffsiteFormat", .product(name: "Benchmark", package: "swift-benchmark")],
            path: "Benchmarks/Micro",
            swiftSettings: sharedSettings
        ))
}
