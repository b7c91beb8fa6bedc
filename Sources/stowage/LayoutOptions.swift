import ArgumentParser
import Foundation
import StowageLayout
import StowageModel

/// `--layout DIR`, shared by every command.
struct LayoutOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("The OCI layout directory (default: $STOWAGE_LAYOUT).", valueName: "DIR"), completion: .directory)
    var layout: String?

    /// The layout path from the flag or the environment.
    func path() throws -> String {
        if let layout, !layout.isEmpty { return layout }
        if let fromEnvironment = ProcessInfo.processInfo.environment["STOWAGE_LAYOUT"], !fromEnvironment.isEmpty {
            return fromEnvironment
        }
        throw StowageError(.usage, "no layout given: pass --layout DIR or set STOWAGE_LAYOUT")
    }

    /// The layout path from the flag or the environment, nil when neither gives one.
    func givenPath() -> String? {
        try? path()
    }

    /// Opens the layout for reading; writes nothing.
    func open() throws -> Layout {
        try Layout.open(path())
    }

    /// Opens the layout for changes, creating it if needed.
    func create() throws -> Layout {
        try Layout.create(path())
    }
}
