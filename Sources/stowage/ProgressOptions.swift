import ArgumentParser
import StowageLayout

extension ProgressMode: ExpressibleByArgument {}

/// `--progress=auto|tty|plain|none`, shared by every command that moves or hashes bytes.
struct ProgressOptions: ParsableArguments {
    @Option(
        name: .long,
        help: ArgumentHelp(
            "Show progress on stderr as one line redrawn in place (tty), a line every 10 s for logs (plain), or not (none); auto: tty on a terminal, else plain.",
            valueName: "MODE"))
    var progress: ProgressMode = .auto

    /// The mode in force, with Ctrl-C set to clear the line and exit 130.
    func mode() -> ProgressMode {
        TransferProgress.exitOnInterrupt()
        return progress.resolved()
    }

    /// A progress line for `verb` ("importing"), shown as `--progress` says.
    func reporter(_ verb: String) -> TransferProgress {
        TransferProgress(verb: verb, mode: mode())
    }
}
