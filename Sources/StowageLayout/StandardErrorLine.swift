#if canImport(Glibc)
import Glibc
#endif
import Foundation

/// stderr, shared by the progress line and every other message: a message clears a
/// terminal's progress line before it is written, so the two never mix, and Ctrl-C
/// clears it before the process exits.
final class StandardErrorLine: @unchecked Sendable {
    static let shared = StandardErrorLine(output: StandardErrorLine.writeToStandardError)

    private let lock = NSLock()
    /// Where the bytes go: stderr, or a test's buffer.
    private let output: @Sendable (String) -> Void
    /// A progress line is on the terminal, with the cursor at its end.
    private var drawn = false
    private var interruptHandling = false

    /// Erases the terminal line the cursor is on and returns to its start.
    static let erase = "\r\u{1B}[2K"

    init(output: @escaping @Sendable (String) -> Void) {
        self.output = output
    }

    /// Shows a progress line: in place on a terminal (`live`), else as a line of its own;
    /// nothing once `stopped` says the progress is finished.
    func show(_ text: String, live: Bool, stopped: () -> Bool) {
        lock.withLock {
            guard !stopped() else { return }
            if live {
                put(Self.erase + Self.fit(text, columns: Self.columns()))
                drawn = true
            } else {
                put(text + "\n")
            }
        }
    }

    /// Clears the progress line, if one is drawn.
    func clear() {
        lock.withLock {
            if drawn { put(Self.erase) }
            drawn = false
        }
    }

    /// Writes a message, clearing the progress line first.
    func write(_ text: String) {
        lock.withLock {
            put(drawn ? Self.erase + text : text)
            drawn = false
        }
    }

    /// `text` cut to fit one terminal row (the last column left free: writing there makes
    /// some terminals wrap, and the next `\r` would then redraw on a new line).
    static func fit(_ text: String, columns: Int) -> String {
        guard columns > 1, text.count >= columns else { return text }
        return String(text.prefix(columns - 1))
    }

    /// The terminal's width, or 0 when it is not known.
    private static func columns() -> Int {
        var size = winsize()
        guard ioctl(2, UInt(TIOCGWINSZ), &size) == 0 else { return 0 }
        return Int(size.ws_col)
    }

    private func put(_ text: String) {
        output(text)
    }

    /// Writes all of `text` to fd 2, unbuffered.
    private static func writeToStandardError(_ text: String) {
        var text = text
        text.withUTF8 { bytes in
            var offset = 0
            while offset < bytes.count {
                let n = Glibc.write(2, bytes.baseAddress! + offset, bytes.count - offset)
                if n < 0 && errno == EINTR { continue }
                guard n > 0 else { return }
                offset += n
            }
        }
    }

    // MARK: - Ctrl-C

    /// The pipe the signal handler writes to: a thread waits on it, as a handler itself
    /// may not take locks or write Swift strings.
    nonisolated(unsafe) private static var interruptPipe: (read: Int32, write: Int32) = (-1, -1)

    /// Installs the SIGINT handler once: the line is cleared (under the lock, so never in
    /// the middle of a redraw) and the process exits 130, as a shell reports Ctrl-C.
    /// The handler is a function, not `SIG_IGN`, so programs started later get the default.
    func exitOnInterrupt() {
        let install: Bool = lock.withLock {
            defer { interruptHandling = true }
            return !interruptHandling
        }
        guard install else { return }
        var fds: [Int32] = [-1, -1]
        guard pipe(&fds) == 0 else { return }
        _ = fcntl(fds[0], F_SETFD, FD_CLOEXEC)
        _ = fcntl(fds[1], F_SETFD, FD_CLOEXEC)
        Self.interruptPipe = (fds[0], fds[1])
        let readEnd = fds[0]
        let waiter = Thread { [self] in
            // SIGINT reaches this thread even when the process started with it blocked
            // (a parent's mask is inherited): it waits here for the byte its handler writes.
            var interrupt = sigset_t()
            sigemptyset(&interrupt)
            sigaddset(&interrupt, SIGINT)
            pthread_sigmask(SIG_UNBLOCK, &interrupt, nil)
            var byte: UInt8 = 0
            while true {
                let n = read(readEnd, &byte, 1)
                if n == 1 { break }
                if n < 0 && errno == EINTR { continue }
                return
            }
            lock.lock()   // held until exit: no redraw after the clear
            if drawn { put(Self.erase) }
            _exit(130)
        }
        waiter.name = "stowage-interrupt"
        waiter.start()
        signal(SIGINT) { _ in
            var byte: UInt8 = 1
            _ = Glibc.write(StandardErrorLine.interruptPipe.write, &byte, 1)
        }
    }
}
