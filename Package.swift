// swift-tools-version:6.0
import Foundation
import PackageDescription

/// The commit `stowage version` prints: $STOWAGE_COMMIT when set (scripts/install sets it),
/// else the checkout's HEAD, with "-dirty" for uncommitted changes, else "unknown".
let buildCommit: String = {
    if let commit = ProcessInfo.processInfo.environment["STOWAGE_COMMIT"], !commit.isEmpty { return commit }
    guard let git = Context.gitInformation else { return "unknown" }
    return String(git.currentCommit.prefix(12)) + (git.hasUncommittedChanges ? "-dirty" : "")
}()

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
            name: "CStowageBuild",
            cSettings: [.define("STOWAGE_COMMIT", to: "\"\(buildCommit)\"")]
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
                "StowageModel", "StowageLayout", "StowageArchive", "StowageCopy", "StowageRegistry", "CStowageBuild",
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
            dependencies: ["stowage", "StowageModel", "StowageTestSupport", "RegistryTestSupport"]
        ),
    ]
)
