import Foundation
@testable import StowageLayout
import Testing

@Suite("TransferProgress: sizes, rates, times left and the line they make")
struct TransferProgressTests {
    @Test func sizesArePowersOfAThousandWithOneDecimal() {
        #expect(TransferProgress.format(0) == "0 B")
        #expect(TransferProgress.format(999) == "999 B")
        #expect(TransferProgress.format(1000) == "1.0 kB")
        #expect(TransferProgress.format(1_234_567) == "1.2 MB")
        #expect(TransferProgress.format(1_600_000_000) == "1.6 GB")
        #expect(TransferProgress.format(3_000_000_000_000) == "3.0 TB")
    }

    @Test func aSizeJustUnderTheNextUnitIsShownInIt() {
        #expect(TransferProgress.format(999_960) == "1.0 MB")
        #expect(TransferProgress.format(999_949) == "999.9 kB")
    }

    @Test func ratesArePerSecondAndNeverNegative() {
        #expect(TransferProgress.formatRate(85_300_000) == "85.3 MB/s")
        #expect(TransferProgress.formatRate(0) == "0 B/s")
        #expect(TransferProgress.formatRate(-5) == "0 B/s")
    }

    @Test func timesLeftAreSecondsThenMinutesThenHours() {
        #expect(TransferProgress.formatDuration(0) == "0s")
        #expect(TransferProgress.formatDuration(12.2) == "13s")
        #expect(TransferProgress.formatDuration(59) == "59s")
        #expect(TransferProgress.formatDuration(60) == "1m00s")
        #expect(TransferProgress.formatDuration(245) == "4m05s")
        #expect(TransferProgress.formatDuration(3720) == "1h02m")
        #expect(TransferProgress.formatDuration(.infinity) == ">99h")
    }

    @Test func theTimeLeftIsTheRemainderOverTheRate() {
        #expect(TransferProgress.eta(remaining: 100, rate: 10) == 10)
        #expect(TransferProgress.eta(remaining: 0, rate: 0) == 0)
        #expect(TransferProgress.eta(remaining: 100, rate: 0) == nil)
    }

    @Test func theRateIsOverTheRecentWindow() {
        var window = RateWindow(span: 5, now: 0)
        #expect(window.add(100, at: 1) == 100)
        #expect(window.add(200, at: 2) == 100)
        // After the span, the older samples go: the rate is since the last one before it (200 at 2 s).
        _ = window.add(300, at: 6)
        #expect(window.add(1300, at: 8) == 1100.0 / 6)
        #expect(window.add(1300, at: 8) == 1100.0 / 6)
    }

    @Test func theLineHasTheTotalRateTimeLeftBlobsAndTheLargestBlob() {
        let snapshot = Snapshot(
            verb: "importing", counts: .init(blobsDone: 3, blobs: 7, done: 500_000_000, total: 1_600_000_000),
            largest: .init(label: "1a2b3c4d5e6f", done: 120_000_000, size: 400_000_000))
        #expect(
            snapshot.line(rate: 100_000_000)
                == "importing 500.0 MB / 1.6 GB (31%), 100.0 MB/s, ETA 11s, 3/7 blobs, blob 1a2b3c4d5e6f 120.0 MB / 400.0 MB")
    }

    @Test func withoutATotalTheLineHasTheBytesAndTheRateOnly() {
        let snapshot = Snapshot(verb: "importing", counts: .init(blobsDone: 0, blobs: 0, done: 2_000_000, total: 0))
        #expect(snapshot.line(rate: 0) == "importing 2.0 MB, 0 B/s")
    }

    @Test func aStalledTransferHasNoTimeLeftAndMoreThanTheTotalIsAHundredPercent() {
        let stalled = Snapshot(verb: "pushing", counts: .init(blobsDone: 0, blobs: 1, done: 0, total: 1000))
        #expect(stalled.line(rate: 0) == "pushing 0 B / 1.0 kB (0%), 0 B/s, ETA --, 0/1 blobs")
        let over = Snapshot(verb: "pulling", counts: .init(blobsDone: 1, blobs: 1, done: 1500, total: 1000))
        #expect(over.line(rate: 10) == "pulling 1.5 kB / 1.0 kB (100%), 10 B/s, ETA 0s, 1/1 blobs")
    }

    @Test func partsAreCountedEachAndTogether() {
        let progress = TransferProgress(verb: "syncing", mode: .none)
        let a = progress.part("a.example")
        let b = progress.part("b.example")
        a.expect(1000)
        b.expect(3000)
        let item = b.begin("1a2b3c4d5e6f", size: 3000)
        item.advance(1500)
        a.advance(1000)
        a.blobFinished()
        let snapshot = progress.snapshot()
        #expect(snapshot.counts.done == 2500)
        #expect(snapshot.counts.total == 4000)
        #expect(
            snapshot.line(rate: 0)
                == "syncing 2.5 kB / 4.0 kB (62%), 0 B/s, ETA --, a.example 1/1 blobs 1.0 kB / 1.0 kB; b.example 0/1 blobs 1.5 kB / 3.0 kB, blob 1a2b3c4d5e6f 1.5 kB / 3.0 kB")
        #expect(progress.transferred == 2500)
    }

    @Test func theLargestBlobInFlightIsShownUntilItFinishes() {
        let progress = TransferProgress(verb: "verifying", mode: .none)
        progress.expect(10)
        progress.expect(1000)
        let small = progress.begin("small", size: 10)
        let large = progress.begin("large", size: 1000)
        large.advance(400)
        #expect(progress.snapshot().largest?.label == "large")
        #expect(progress.snapshot().largest?.done == 400)
        large.finish()
        #expect(progress.snapshot().largest?.label == "small")
        #expect(progress.snapshot().counts.blobsDone == 1)
        small.cancel()
        small.finish()
        #expect(progress.snapshot().largest == nil)
        #expect(progress.snapshot().counts.blobsDone == 1)
    }

    @Test func anEntryOfAnArchiveCountsItsOwnBytesOnly() {
        let progress = TransferProgress(verb: "importing", mode: .none)
        progress.expect(100, blobs: 0)
        let entry = progress.begin("layer", size: 500, countsOverall: false)
        entry.advance(300)
        progress.advance(60)
        let snapshot = progress.snapshot()
        #expect(snapshot.counts.done == 60)
        #expect(snapshot.largest?.done == 300)
        #expect(snapshot.line(rate: 0).contains("blobs") == false)
    }

    @Test func aLineIsCutToTheTerminalLeavingTheLastColumnFree() {
        #expect(StandardErrorLine.fit("abcdef", columns: 4) == "abc")
        #expect(StandardErrorLine.fit("abc", columns: 4) == "abc")
        #expect(StandardErrorLine.fit("abcd", columns: 4) == "abc")
        #expect(StandardErrorLine.fit("abcdef", columns: 0) == "abcdef")
    }

    /// What a `StandardErrorLine` wrote, one string a write.
    final class Written: @unchecked Sendable {
        private let lock = NSLock()
        private var writes: [String] = []
        func append(_ text: String) { lock.withLock { writes.append(text) } }
        var all: [String] { lock.withLock { writes } }
    }

    @Test func aMessageClearsTheTerminalLineFirstAndTheLineComesBackAfter() {
        let written = Written()
        let line = StandardErrorLine(output: written.append)
        let erase = StandardErrorLine.erase
        line.show("importing 1", live: true, stopped: { false })
        line.write("warning: something\n")
        line.write("note: more\n")
        line.show("importing 2", live: true, stopped: { false })
        line.clear()
        line.clear()
        #expect(written.all == [erase + "importing 1", erase + "warning: something\n", "note: more\n", erase + "importing 2", erase])
    }

    @Test func aPlainLineIsALineOfItsOwnAndAFinishedProgressShowsNothing() {
        let written = Written()
        let line = StandardErrorLine(output: written.append)
        line.show("importing 1", live: false, stopped: { false })
        line.show("importing 2", live: true, stopped: { true })
        line.clear()
        line.write("done\n")
        #expect(written.all == ["importing 1\n", "done\n"])
    }

    @Test func autoIsTtyOnATerminalAndPlainElsewhere() {
        #expect(ProgressMode.auto.resolved(stderrIsTerminal: true) == .tty)
        #expect(ProgressMode.auto.resolved(stderrIsTerminal: false) == .plain)
        #expect(ProgressMode.none.resolved(stderrIsTerminal: true) == .none)
        #expect(ProgressMode.plain.resolved(stderrIsTerminal: true) == .plain)
        #expect(ProgressMode.tty.resolved(stderrIsTerminal: false) == .tty)
    }
}
