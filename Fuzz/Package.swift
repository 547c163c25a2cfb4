// swift-tools-version:6.0
// libFuzzer targets for HTTPChat's parsers. A separate package: neither the root package nor CI's tests build
// it (CI runs a short smoke run through Fuzz/run). Build and run:
//
//     Fuzz/run TARGET [libFuzzer flags]      targets: framer request chunked headers multipart path websocket
import PackageDescription

let targets = ["framer", "request", "chunked", "headers", "multipart", "path", "websocket"]

let package = Package(
    name: "HTTPChatFuzz",
    dependencies: [
        // Named, so the product reference holds whatever the checkout folder is called.
        .package(name: "HTTPChat", path: ".."),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-http-types.git", from: "1.8.0"),
    ],
    targets: [
        .target(name: "CFuzzer"),
        .target(
            name: "FuzzSupport",
            dependencies: [
                "CFuzzer",
                .product(name: "HTTPChat", package: "HTTPChat"),
                // decodeRequestStream, the driver the decoder's tests share.
                .product(name: "HTTPChatTesting", package: "HTTPChat"),
                .product(name: "NIOCore", package: "swift-nio"),
            ]
        ),
    ] + targets.map { name in
        .executableTarget(
            name: "fuzz-\(name)",
            dependencies: [
                "FuzzSupport",
                .product(name: "HTTPChat", package: "HTTPChat"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
            ],
            swiftSettings: [.unsafeFlags(["-parse-as-library"])]
        )
    },
    swiftLanguageModes: [.v6]
)
