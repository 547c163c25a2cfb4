// swift-tools-version:6.0
// HTTPChat: an embeddable HTTP/1.x server built on asynchat-style chat framing over SwiftNIO.
import PackageDescription

let strict: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("InternalImportsByDefault"),
]

let package = Package(
    name: "HTTPChat",
    platforms: [.macOS(.v14)],
    products: [
        .library(name: "HTTPChat", targets: ["HTTPChat"]),
        // For tests of code built on HTTPChat: InProcessConnection, TestResponse, ResponseBody.collect().
        .library(name: "HTTPChatTesting", targets: ["HTTPChatTesting"]),
        .executable(name: "httpserve", targets: ["httpserve"]),
        .executable(name: "line-chat", targets: ["line-chat"]),
        .executable(name: "hello", targets: ["hello"]),
        .executable(name: "notes-service", targets: ["notes-service"]),
        .executable(name: "form-post", targets: ["form-post"]),
        .executable(name: "probe-target", targets: ["probe-target"]),
        .executable(name: "getting-started", targets: ["getting-started"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-http-types.git", from: "1.8.0"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.6"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        .package(url: "https://github.com/apple/swift-distributed-tracing.git", from: "1.7.3"),
    ],
    targets: [
        // zlib, seen only by Producers/Deflater.swift (Debian: libz-dev).
        .systemLibrary(name: "CZlib", path: "Sources/CZlib", providers: [.apt(["libz-dev"])]),
        // posix_spawn for CGI scripts (Sources/HTTPChatCGI/CGI/CGIRun.swift), with the glibc extensions Swift's
        // Glibc module does not show (chdir, closefrom).
        .target(name: "CSpawn", path: "Sources/CSpawn"),
        // The layers, each a target, so that SwiftPM holds the direction (ARCHITECTURE.md, "Targets"):
        // HTTPChatCore <- HTTPChatServer <- HTTPChatCGI <- HTTPChat (the umbrella an embedder imports);
        // HTTPChatTesting beside the umbrella, the one target that links NIOEmbedded.
        .target(
            name: "HTTPChatCore",
            dependencies: [
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
            ],
            swiftSettings: strict
        ),
        .target(
            name: "HTTPChatServer",
            dependencies: [
                "HTTPChatCore",
                "CZlib",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "NIOTLS", package: "swift-nio"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "Tracing", package: "swift-distributed-tracing"),
            ],
            swiftSettings: strict
        ),
        .target(
            name: "HTTPChatCGI",
            dependencies: [
                "HTTPChatCore",
                "HTTPChatServer",
                "CSpawn",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict
        ),
        .target(
            name: "HTTPChat",
            dependencies: ["HTTPChatCore", "HTTPChatServer", "HTTPChatCGI"],
            swiftSettings: strict
        ),
        .target(
            name: "HTTPChatTesting",
            dependencies: [
                "HTTPChatCore",
                "HTTPChatServer",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict
        ),
        .executableTarget(
            name: "httpserve",
            dependencies: [
                "HTTPChat",
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strict
        ),
        // Examples/LineChat: a non-HTTP protocol (a chat room) on the same chat layer.
        .target(
            name: "LineChat",
            dependencies: [
                "HTTPChat",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
            ],
            path: "Examples/LineChat/LineChat",
            swiftSettings: strict
        ),
        .executableTarget(
            name: "line-chat",
            dependencies: [
                "LineChat", "HTTPChat",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            path: "Examples/LineChat/Main",
            swiftSettings: strict
        ),
        .target(name: "TestSupport", path: "Tests/TestSupport", swiftSettings: strict),
        .executableTarget(
            name: "hello",
            dependencies: [
                "HTTPChat",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            path: "Examples/Hello",
            swiftSettings: strict
        ),
        .executableTarget(
            name: "form-post",
            dependencies: [
                "HTTPChat",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            path: "Examples/FormPost",
            swiftSettings: strict
        ),
        // Examples/ProbeTarget: the routes the Http11Probe conformance suite expects (.ci/run).
        .executableTarget(
            name: "probe-target",
            dependencies: [
                "HTTPChat",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            path: "Examples/ProbeTarget",
            swiftSettings: strict
        ),
        // Examples/GettingStarted: the README's first program, whole (ReadmeTests runs it and checks the README
        // shows exactly this file).
        .executableTarget(
            name: "getting-started",
            dependencies: [
                "HTTPChat",
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Examples/GettingStarted",
            swiftSettings: strict
        ),
        // Examples/ReadmeSnippets: the README's other code blocks, compiled (ReadmeTests matches them).
        .target(
            name: "ReadmeSnippets",
            dependencies: [
                "HTTPChat", "HTTPChatTesting",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Tracing", package: "swift-distributed-tracing"),
            ],
            path: "Examples/ReadmeSnippets",
            swiftSettings: strict
        ),
        // Examples/EmbeddedRouter: a JSON service embedding the router, with its own tests.
        .target(
            name: "EmbeddedRouter",
            dependencies: [
                "HTTPChat",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Examples/EmbeddedRouter/Notes",
            swiftSettings: strict
        ),
        .executableTarget(
            name: "notes-service",
            dependencies: [
                "EmbeddedRouter", "HTTPChat",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            path: "Examples/EmbeddedRouter/Main",
            swiftSettings: strict
        ),
        .testTarget(
            name: "EmbeddedRouterTests",
            dependencies: [
                "EmbeddedRouter", "HTTPChat", "HTTPChatTesting", "TestSupport",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Tests/EmbeddedRouterTests",
            swiftSettings: strict
        ),
        .testTarget(
            name: "HTTPChatTests",
            dependencies: [
                "HTTPChatCore", "HTTPChatServer", "HTTPChatCGI", "CSpawn", "HTTPChatTesting", "TestSupport", "CZlib",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                // Test-only: the reference parser for the differential test.
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "MetricsTestKit", package: "swift-metrics"),
                .product(name: "Tracing", package: "swift-distributed-tracing"),
                .product(name: "InMemoryTracing", package: "swift-distributed-tracing"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strict
        ),
        .testTarget(
            name: "HTTPServeTests",
            // ReadmeSnippets only so that swift build --build-tests compiles the README's snippets.
            dependencies: ["TestSupport", "ReadmeSnippets"],
            path: "Tests/HTTPServeTests",
            swiftSettings: strict
        ),
        .testTarget(
            name: "LineChatTests",
            dependencies: [
                "LineChat", "HTTPChat", "TestSupport",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ],
            path: "Tests/LineChatTests",
            swiftSettings: strict
        ),
    ],
    swiftLanguageModes: [.v6]
)
