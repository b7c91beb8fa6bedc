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
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-crypto", from: "3.12.3"),
    ],
    targets: [
        .systemLibrary(
            name: "CArchive",
            pkgConfig: "libarchive",
            providers: [.apt(["libarchive-dev"])]
        ),
        .target(name: "StowageModel"),
        .target(
            name: "StowageLayout",
            dependencies: [
                "StowageModel",
                .product(name: "Crypto", package: "swift-crypto"),
            ]
        ),
        .target(
            name: "StowageArchive",
            dependencies: ["CArchive", "StowageModel", "StowageLayout"]
        ),
        .target(
            name: "StowageCopy",
            dependencies: ["StowageModel", "StowageLayout", "StowageArchive"]
        ),
        .executableTarget(
            name: "stowage",
            dependencies: [
                "StowageModel", "StowageLayout", "StowageArchive", "StowageCopy",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        .target(
            name: "StowageTestSupport",
            dependencies: ["StowageModel", "StowageLayout", "StowageArchive"],
            path: "Tests/StowageTestSupport"
        ),
        .testTarget(name: "StowageModelTests", dependencies: ["StowageModel"]),
        .testTarget(name: "StowageLayoutTests", dependencies: ["StowageLayout", "StowageTestSupport"]),
        .testTarget(name: "StowageArchiveTests", dependencies: ["StowageArchive", "StowageLayout", "StowageTestSupport"]),
        .testTarget(name: "StowageCopyTests", dependencies: ["StowageCopy", "StowageTestSupport"]),
        .testTarget(
            name: "IntegrationTests",
            dependencies: ["stowage", "StowageModel", "StowageTestSupport"]
        ),
    ]
)
