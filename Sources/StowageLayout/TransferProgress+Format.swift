/// What a progress line shows at one moment, and how it reads.
struct Snapshot {
    /// Blobs and bytes, done and to do.
    struct Counts {
        var blobsDone: Int
        var blobs: Int
        var done: Int64
        var total: Int64
    }

    /// A blob in flight.
    struct Blob {
        var label: String
        var done: Int64
        var size: Int64
    }

    var verb: String
    var counts: Counts
    var parts: [(label: String, counts: Counts)] = []
    var largest: Blob?

    /// `importing 512.0 MB / 1.6 GB (31%), 85.3 MB/s, ETA 13s, 3/7 blobs, blob 1a2b3c4d5e6f 120.0 MB / 400.0 MB`;
    /// without a total (an archive read from a pipe), the bytes done and the rate only.
    func line(rate: Double) -> String {
        var fields: [String] = []
        let (done, total) = (counts.done, counts.total)
        if total > 0 {
            let percent = min(100, Int(Double(done) * 100 / Double(total)))
            fields.append("\(verb) \(TransferProgress.format(done)) / \(TransferProgress.format(total)) (\(percent)%)")
        } else {
            fields.append("\(verb) \(TransferProgress.format(done))")
        }
        fields.append(TransferProgress.formatRate(rate))
        if total > 0 {
            fields.append("ETA " + (TransferProgress.eta(remaining: total - done, rate: rate).map(TransferProgress.formatDuration) ?? "--"))
        }
        if parts.isEmpty {
            if counts.blobs > 0 { fields.append("\(counts.blobsDone)/\(counts.blobs) blobs") }
        } else {
            fields.append(parts.map { label, counts in
                "\(label) \(counts.blobsDone)/\(counts.blobs) blobs \(TransferProgress.format(counts.done)) / \(TransferProgress.format(counts.total))"
            }.joined(separator: "; "))
        }
        if let blob = largest {
            fields.append("blob \(blob.label) \(TransferProgress.format(blob.done)) / \(TransferProgress.format(blob.size))")
        }
        return fields.joined(separator: ", ")
    }
}

extension TransferProgress {
    /// `1.2 MB`-style sizes for people (powers of 1000, as disk and network speeds are quoted).
    public static func format(_ bytes: Int64) -> String {
        let units = ["B", "kB", "MB", "GB", "TB"]
        var value = Double(bytes)
        var unit = 0
        while value >= 1000 && unit < units.count - 1 {
            value /= 1000
            unit += 1
        }
        guard unit > 0 else { return "\(bytes) B" }
        // One decimal, without Foundation's formatter: listings format thousands of sizes.
        var tenths = Int64((value * 10).rounded())
        // 999.96 kB rounds to 1000.0 kB: say 1.0 MB.
        if tenths >= 10_000 && unit < units.count - 1 {
            tenths = 10
            unit += 1
        }
        return "\(tenths / 10).\(tenths % 10) \(units[unit])"
    }

    /// `85.3 MB/s`.
    public static func formatRate(_ bytesPerSecond: Double) -> String {
        format(Int64(max(0, bytesPerSecond).rounded())) + "/s"
    }

    /// The seconds left for `remaining` bytes at `rate`, or nil when the rate says nothing.
    static func eta(remaining: Int64, rate: Double) -> Double? {
        guard remaining > 0 else { return 0 }
        guard rate > 0, rate.isFinite else { return nil }
        return Double(remaining) / rate
    }

    /// `13s`, `4m05s`, `1h02m`: a time left, to the second under an hour, else to the minute.
    public static func formatDuration(_ seconds: Double) -> String {
        guard seconds.isFinite, seconds < 100 * 3600 else { return ">99h" }
        let whole = Int(max(0, seconds).rounded(.up))
        if whole < 60 { return "\(whole)s" }
        func twoDigits(_ value: Int) -> String { value < 10 ? "0\(value)" : "\(value)" }
        if whole < 3600 { return "\(whole / 60)m\(twoDigits(whole % 60))s" }
        return "\(whole / 3600)h\(twoDigits(whole / 60 % 60))m"
    }
}
