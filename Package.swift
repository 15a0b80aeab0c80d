// swift-tools-version:6.0
// Portcullis: an SMTP policy milter. Target layout and dependency direction: docs/architecture.md.
import PackageDescription

let package = Package(
    name: "portcullis",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "portcullis", targets: ["portcullis"])
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "5.0.1"),
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
        .package(url: "https://github.com/vapor/postgres-nio", from: "1.33.2"),
    ],
    targets: [
        // C: libmilter headers and the smfi_setmlreply shim. Imported by MilterAdapter only.
        .systemLibrary(name: "CMilter", providers: [.apt(["libmilter-dev"])]),
        // C: libunbound headers. Imported by DNSResolverC only.
        .systemLibrary(name: "CResolver", providers: [.apt(["libunbound-dev"])]),

        // Layer 0: values and ports. Standard library only.
        .target(name: "PolicyCore"),
        // Layer 1: pure evaluators.
        .target(name: "SPF", dependencies: ["PolicyCore"]),
        // Layer 2: the engine and the session state machine.
        .target(
            name: "PolicyEngine",
            dependencies: ["PolicyCore", .product(name: "Logging", package: "swift-log")]
        ),
        .target(name: "PolicyChecks", dependencies: ["PolicyEngine", "PolicyCore", "SPF"]),
        // Layer 3: adapters.
        .target(
            name: "PolicyConfig",
            dependencies: ["PolicyCore", "PolicyEngine", "PolicyChecks", "SPF", .product(name: "Yams", package: "Yams")]
        ),
        .target(
            name: "MilterAdapter",
            dependencies: [
                "CMilter", "PolicyCore", "PolicyEngine", .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .target(name: "StoreSQLite", dependencies: ["PolicyCore", .product(name: "GRDB", package: "GRDB.swift")]),
        .target(
            name: "DNSResolverC",
            dependencies: ["CResolver", "PolicyCore", .product(name: "Logging", package: "swift-log")]
        ),
        .target(
            name: "StorePostgres",
            dependencies: [
                "PolicyCore", .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // Layer 4: composition root and CLI.
        .target(
            name: "PolicyCLI",
            dependencies: [
                "PolicyCore", "PolicyEngine", "PolicyChecks", "PolicyConfig", "MilterAdapter", "DNSResolverC", "SPF", "StoreSQLite", "StorePostgres",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .executableTarget(name: "portcullis", dependencies: ["PolicyCLI"]),
        // Benchmarks (make bench): reports numbers, never fails on speed.
        .executableTarget(name: "portcullis-bench", dependencies: ["PolicyCore", "StoreSQLite", "StorePostgres"]),

        // Test support: fakes and builders.
        .target(
            name: "PolicyTesting",
            dependencies: ["PolicyCore", "PolicyEngine", .product(name: "Logging", package: "swift-log")]
        ),

        .testTarget(name: "PolicyCoreTests", dependencies: ["PolicyCore"]),
        .testTarget(
            name: "StoreSQLiteTests",
            dependencies: ["StoreSQLite", "PolicyCore", "PolicyTesting", .product(name: "GRDB", package: "GRDB.swift")]
        ),
        .testTarget(
            name: "PolicyEngineTests",
            dependencies: ["PolicyEngine", "PolicyChecks", "PolicyTesting", .product(name: "Logging", package: "swift-log")]
        ),
        .testTarget(name: "PolicyChecksTests", dependencies: ["PolicyChecks", "PolicyTesting"]),
        .testTarget(
            name: "PolicyConfigTests", dependencies: ["PolicyConfig", "PolicyChecks", "PolicyTesting"],
            resources: [.copy("Fixtures")]
        ),
        .testTarget(name: "MilterAdapterTests", dependencies: ["MilterAdapter", "PolicyCore"]),
        .testTarget(name: "MilterLiveTests", dependencies: ["PolicyCore"]),
        .testTarget(
            name: "StorePostgresTests",
            dependencies: [
                "StorePostgres", "PolicyCore", "PolicyTesting", .product(name: "Logging", package: "swift-log"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
            ]
        ),
        .testTarget(name: "DNSResolverCTests", dependencies: ["DNSResolverC", "PolicyCore"]),
        .testTarget(
            name: "SPFTests",
            dependencies: ["SPF", "PolicyCore", "PolicyTesting", .product(name: "Yams", package: "Yams")],
            resources: [.copy("Fixtures")]
        ),
    ],
    swiftLanguageModes: [.v6]
)
