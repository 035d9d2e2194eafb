// swift-tools-version:6.1
import PackageDescription

let swiftSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("MemberImportVisibility"),
    .enableUpcomingFeature("InternalImportsByDefault"),
]

let package = Package(
    name: "airlock",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "airlock", targets: ["airlock"])
    ],
    dependencies: [
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/groue/GRDB.swift.git", from: "7.10.0"),
        .package(url: "https://github.com/swift-server/async-http-client.git", from: "1.37.0"),
        .package(url: "https://github.com/apple/swift-crypto.git", from: "4.5.2"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        .package(url: "https://github.com/apple/swift-configuration.git", from: "1.4.0", traits: [.defaults, "YAML"]),
        .package(url: "https://github.com/apple/swift-system.git", from: "1.4.0"),
        .package(url: "https://github.com/vapor/postgres-nio.git", from: "1.33.2"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/modelcontextprotocol/swift-sdk.git", from: "0.12.1"),
    ],
    targets: [
        .target(
            name: "AirlockDomain",
            dependencies: [.product(name: "Crypto", package: "swift-crypto")],
            swiftSettings: swiftSettings
        ),
        // The storage kernel: one schema's statements, the draft mapping and the plan both stores apply.
        .target(
            name: "AirlockStoreKit",
            dependencies: ["AirlockDomain"],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "AirlockSQLite",
            dependencies: [
                "AirlockDomain", "AirlockStoreKit",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "GRDBSQLite", package: "GRDB.swift"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "AirlockPostgres",
            dependencies: [
                "AirlockDomain", "AirlockStoreKit",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "AirlockAgents",
            dependencies: [
                "AirlockDomain",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "MCP", package: "swift-sdk"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "AirlockWorkflow",
            dependencies: [
                "AirlockDomain",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "AirlockWebhookKit",
            dependencies: [
                "AirlockDomain",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        // One module per chat platform, each behind AirlockWebhookKit's PlatformModule.
        .target(
            name: "AirlockSlack",
            dependencies: [
                "AirlockDomain", "AirlockWebhookKit",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "AirlockMattermost",
            dependencies: [
                "AirlockDomain", "AirlockWebhookKit", .product(name: "Logging", package: "swift-log"),
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "AirlockDiscourse",
            dependencies: [
                "AirlockDomain", "AirlockWebhookKit", .product(name: "Logging", package: "swift-log"),
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "AirlockDiscord",
            dependencies: [
                "AirlockDomain", "AirlockWebhookKit", .product(name: "Logging", package: "swift-log"),
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "AirlockGitHub",
            dependencies: [
                "AirlockDomain", "AirlockWebhookKit", .product(name: "Logging", package: "swift-log"),
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "AirlockMatrix",
            dependencies: ["AirlockDomain", "AirlockWebhookKit", .product(name: "Logging", package: "swift-log")],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "AirlockSandbox",
            dependencies: ["AirlockDomain", "AirlockWebhookKit"],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "AirlockApp",
            dependencies: [
                "AirlockDomain", "AirlockSQLite", "AirlockPostgres", "AirlockAgents", "AirlockWorkflow",
                "AirlockWebhookKit",
                "AirlockSlack", "AirlockMattermost", "AirlockDiscourse", "AirlockDiscord", "AirlockGitHub",
                "AirlockMatrix", "AirlockSandbox",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Configuration", package: "swift-configuration"),
                .product(name: "SystemPackage", package: "swift-system"),
            ],
            swiftSettings: swiftSettings
        ),
        // Benchmarks shipped as `airlock bench`: their own load generator and loopback fake, no test support.
        .target(
            name: "AirlockBench",
            dependencies: [
                "AirlockApp", "AirlockDomain", "AirlockSQLite", "AirlockSlack",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "AirlockFuzzTargets",
            dependencies: [
                "AirlockDomain", "AirlockWebhookKit", "AirlockSlack", "AirlockMattermost", "AirlockDiscourse",
                "AirlockGitHub",
                "AirlockDiscord", "AirlockMatrix",
            ],
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "airlock-fuzz",
            dependencies: ["AirlockFuzzTargets"],
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "airlock",
            dependencies: [
                "AirlockApp", "AirlockDomain", "AirlockSQLite", "AirlockBench", "AirlockAgents",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "AirlockTesting",
            dependencies: [
                "AirlockDomainTesting", "AirlockApp", "AirlockSlack", "AirlockDomain", "AirlockSQLite",
                "AirlockSandbox", "AirlockWorkflow",
                "AirlockWebhookKit", "AirlockMattermost", "AirlockDiscourse", "AirlockDiscord", "AirlockGitHub",
                "AirlockMatrix",
                "AirlockPostgres",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "MCP", package: "swift-sdk"),
            ],
            swiftSettings: swiftSettings
        ),
        // What the domain's tests need (seeded generators, the gate oracle): the domain only, no server or store.
        .target(
            name: "AirlockDomainTesting",
            dependencies: ["AirlockDomain"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "AirlockDomainTests",
            dependencies: ["AirlockDomain", "AirlockDomainTesting"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "AirlockAppTests",
            dependencies: [
                "AirlockApp", "AirlockTesting", "AirlockDomainTesting", "AirlockSQLite", "AirlockSlack",
                "AirlockAgents", "AirlockDomain",
                "AirlockWorkflow", "AirlockWebhookKit", "AirlockMattermost", "AirlockDiscourse", "AirlockDiscord",
                "AirlockGitHub", "AirlockMatrix",
                "AirlockPostgres", "AirlockFuzzTargets",
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Logging", package: "swift-log"),
            ],
            exclude: ["Fixtures"],
            swiftSettings: swiftSettings
        ),
    ]
)
