// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "Stowage",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "stowage", targets: ["stowage"]),
        .library(name: "StowageModel", targets: ["StowageModel"]),
        .library(name: "StowageLayout", targets: ["StowageLayout"]),
        .library(name: "StowageArchive", targets: ["StowageArchive"]),
        .library(name: "StowageCopy", targets: ["StowageCopy"]),
        .library(name: "StowageRegistry", targets: ["StowageRegistry"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-crypto", from: "3.12.3"),
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.37.0"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.37.6"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
    ],
    targets: [
        .systemLibrary(
            name: "CArchive",
            pkgConfig: "libarchive",
            providers: [.apt(["libarchive-dev"])]
        ),
        .target(
            name: "StowageModel",
            dependencies: [.product(name: "Crypto", package: "swift-crypto")]
        ),
        .target(name: "StowageLayout", dependencies: ["StowageModel"]),
        .target(
            name: "StowageArchive",
            dependencies: ["CArchive", "StowageModel", "StowageLayout"]
        ),
        .target(
            name: "StowageRegistry",
            dependencies: [
                "StowageModel",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ]
        ),
        .target(
            name: "StowageCopy",
            dependencies: [
                "StowageModel", "StowageLayout", "StowageArchive", "StowageRegistry",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Yams", package: "Yams"),
            ]
        ),
        .executableTarget(
            name: "stowage",
            dependencies: [
                "StowageModel", "StowageLayout", "StowageArchive", "StowageCopy", "StowageRegistry",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        .target(
            name: "StowageTestSupport",
            dependencies: [
                "StowageModel", "StowageLayout", "StowageArchive",
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            path: "Tests/StowageTestSupport"
        ),
        .testTarget(name: "StowageModelTests", dependencies: ["StowageModel"]),
        .testTarget(name: "StowageLayoutTests", dependencies: ["StowageLayout", "StowageTestSupport"]),
        .testTarget(name: "StowageArchiveTests", dependencies: ["StowageArchive", "StowageLayout", "StowageTestSupport"]),
        .target(
            name: "RegistryTestSupport",
            dependencies: [
                "StowageTestSupport",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ],
            path: "Tests/RegistryTestSupport"
        ),
        .testTarget(name: "StowageCopyTests", dependencies: ["StowageCopy", "StowageTestSupport"]),
        .testTarget(name: "StowageRegistryTests", dependencies: ["StowageRegistry", "RegistryTestSupport"]),
        .testTarget(
            name: "IntegrationTests",
            dependencies: [
                "stowage", "StowageModel", "StowageTestSupport", "RegistryTestSupport",
                .product(name: "Yams", package: "Yams"),
            ]
        ),
    ]
)
