/// The word a user most likely meant when they typed one that does not exist: a
/// command, a key of a set file.
public enum Suggestion {
    /// The one name of `names` within a small edit of `typed` (a letter missing, extra,
    /// wrong or two swapped: one such edit for names of up to 4 letters, two for longer),
    /// or that `typed` is the start of; nil when none or several are equally close.
    public static func closest(to typed: String, among names: [String]) -> String? {
        let starting = names.filter { $0.hasPrefix(typed) }
        if typed.count >= 2, starting.count == 1 { return starting[0] }
        let scored = names.map { (name: $0, distance: distance(typed, $0)) }
            .filter { $0.distance <= ($0.name.count <= 4 ? 1 : 2) }
        guard let best = scored.map(\.distance).min() else { return nil }
        let closest = scored.filter { $0.distance == best }
        return closest.count == 1 ? closest[0].name : nil
    }

    /// The optimal string alignment distance: insertions, deletions, substitutions and
    /// swaps of two neighbouring letters, each counting one.
    static func distance(_ a: String, _ b: String) -> Int {
        let a = Array(a), b = Array(b)
        guard !a.isEmpty else { return b.count }
        guard !b.isEmpty else { return a.count }
        var table = [[Int]](repeating: [Int](repeating: 0, count: b.count + 1), count: a.count + 1)
        for i in 0...a.count { table[i][0] = i }
        for j in 0...b.count { table[0][j] = j }
        for i in 1...a.count {
            for j in 1...b.count {
                let cost = a[i - 1] == b[j - 1] ? 0 : 1
                table[i][j] = min(table[i - 1][j] + 1, table[i][j - 1] + 1, table[i - 1][j - 1] + cost)
                if i > 1, j > 1, a[i - 1] == b[j - 2], a[i - 2] == b[j - 1] {
                    table[i][j] = min(table[i][j], table[i - 2][j - 2] + 1)
                }
            }
        }
        return table[a.count][b.count]
    }
}
