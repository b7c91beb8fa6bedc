/// A version read from an image tag: `v1.2.3`, `1.2.3`, `1.2`, `v2`, `1.2.3-rc.1`, `1.2.3+build`.
///
/// A leading `v` is dropped, missing minor or patch numbers count as 0, build metadata
/// (`+…`) is ignored. Versions order as semver 2.0 says: a pre-release (`-rc.1`) comes
/// before its release, and its dot-separated parts compare numerically when numeric.
public struct SemanticVersion: Sendable, Hashable, Comparable, CustomStringConvertible {
    /// The major, minor and patch numbers.
    public var major: Int, minor: Int, patch: Int
    /// The pre-release parts (`["rc", "1"]` of `-rc.1`); empty for a release.
    public var prerelease: [String]

    /// Whether this is a pre-release (or a variant such as `1.2.3-alpine`, which reads the same).
    public var isPrerelease: Bool { !prerelease.isEmpty }

    /// A version from its parts.
    public init(major: Int, minor: Int = 0, patch: Int = 0, prerelease: [String] = []) {
        self.major = major
        self.minor = minor
        self.patch = patch
        self.prerelease = prerelease
    }

    /// Reads a tag as a version, or nil when it is not one (`latest`, `stable`, `1.2.3.4`).
    public init?(tag: String) {
        var text = Substring(tag)
        if text.first == "v" || text.first == "V" { text = text.dropFirst() }
        if let plus = text.firstIndex(of: "+") { text = text[..<plus] }
        var pre: [String] = []
        if let dash = text.firstIndex(of: "-") {
            let parts = text[text.index(after: dash)...].split(separator: ".", omittingEmptySubsequences: false)
            guard !parts.isEmpty, parts.allSatisfy({ !$0.isEmpty }) else { return nil }
            pre = parts.map(String.init)
            text = text[..<dash]
        }
        let numbers = text.split(separator: ".", omittingEmptySubsequences: false)
        guard (1...3).contains(numbers.count) else { return nil }
        var values: [Int] = []
        for number in numbers {
            guard !number.isEmpty, number.count <= 9, number.allSatisfy(\.isASCIIDigitCharacter), let value = Int(number) else { return nil }
            values.append(value)
        }
        while values.count < 3 { values.append(0) }
        self.init(major: values[0], minor: values[1], patch: values[2], prerelease: pre)
    }

    public var description: String {
        "\(major).\(minor).\(patch)" + (prerelease.isEmpty ? "" : "-" + prerelease.joined(separator: "."))
    }

    public static func < (lhs: SemanticVersion, rhs: SemanticVersion) -> Bool {
        if lhs.major != rhs.major { return lhs.major < rhs.major }
        if lhs.minor != rhs.minor { return lhs.minor < rhs.minor }
        if lhs.patch != rhs.patch { return lhs.patch < rhs.patch }
        switch (lhs.prerelease.isEmpty, rhs.prerelease.isEmpty) {
        case (true, true), (true, false): return false
        case (false, true): return true
        case (false, false): break
        }
        for (left, right) in zip(lhs.prerelease, rhs.prerelease) where left != right {
            switch (Int(left), Int(right)) {
            case let (l?, r?): return l < r
            case (.some, nil): return true
            case (nil, .some): return false
            case (nil, nil): return left < right
            }
        }
        return lhs.prerelease.count < rhs.prerelease.count
    }
}

/// A semver range such as `>=1.2 <2`, `^1.4`, `~1.2.3`, `1.2.x`, `>=1 <1.5 || >=2`:
/// comparators separated by spaces must all hold, alternatives separated by `||` any.
///
/// Pre-releases (`1.3.0-rc.1`, and variant tags such as `1.3.0-alpine`) match only a
/// comparator that names a pre-release of the same major, minor and patch, as npm and
/// Helm have it; list them by name or glob otherwise.
public struct SemanticVersionRange: Sendable, CustomStringConvertible {
    /// One `OP VERSION` test.
    struct Comparator: Sendable {
        enum Operation: String, Sendable { case less = "<", lessOrEqual = "<=", greater = ">", greaterOrEqual = ">=", equal = "=" }
        var operation: Operation
        var version: SemanticVersion

        func holds(for candidate: SemanticVersion) -> Bool {
            switch operation {
            case .less: candidate < version
            case .lessOrEqual: candidate <= version
            case .greater: candidate > version
            case .greaterOrEqual: candidate >= version
            case .equal: candidate == version
            }
        }
    }

    /// The alternatives, each a list of comparators that must all hold.
    let alternatives: [[Comparator]]
    /// The range as written.
    public let description: String

    /// Parses a range; the error says which part is wrong.
    public init(parsing text: String) throws {
        description = text
        var alternatives: [[Comparator]] = []
        for alternative in text.components(separatedBy: "||") {
            var comparators: [Comparator] = []
            for word in alternative.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "," }) {
                comparators += try Self.comparators(String(word), in: text)
            }
            guard !comparators.isEmpty else {
                throw StowageError(.usage, "semver range '\(text)' has an empty alternative")
            }
            alternatives.append(comparators)
        }
        self.alternatives = alternatives
    }

    /// Whether `version` is in the range.
    public func contains(_ version: SemanticVersion) -> Bool {
        alternatives.contains { comparators in
            guard comparators.allSatisfy({ $0.holds(for: version) }) else { return false }
            guard version.isPrerelease else { return true }
            return comparators.contains {
                $0.version.isPrerelease && ($0.version.major, $0.version.minor, $0.version.patch) == (version.major, version.minor, version.patch)
            }
        }
    }

    /// The comparators one word stands for: `>=1.2`, `<2`, `^1.4`, `~1.2`, `1.2.x`, `=1.2.3`, `1.2.3`.
    private static func comparators(_ word: String, in text: String) throws -> [Comparator] {
        let invalid = StowageError(
            .usage, "semver range '\(text)': '\(word)' is not a comparison such as >=1.2, <2, ^1.4, ~1.2.3, 1.2.x or 1.2.3")
        var rest = Substring(word)
        var operation: Comparator.Operation?
        for candidate in [Comparator.Operation.greaterOrEqual, .lessOrEqual, .greater, .less, .equal] where rest.hasPrefix(candidate.rawValue) {
            operation = candidate
            rest = rest.dropFirst(candidate.rawValue.count)
            break
        }
        var shorthand: Character?
        if operation == nil, let first = rest.first, first == "^" || first == "~" {
            shorthand = first
            rest = rest.dropFirst()
        }
        // A wildcard part (1.2.x, 1.*) ends the version: it is a range over what follows.
        var parts = rest.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
        var wildcard = false
        if let index = parts.firstIndex(where: { ["x", "X", "*"].contains($0) }) {
            guard parts[index...].allSatisfy({ ["x", "X", "*"].contains($0) }), operation == nil, shorthand == nil else { throw invalid }
            parts = Array(parts[..<index])
            wildcard = true
        }
        if parts.isEmpty && wildcard { return [Comparator(operation: .greaterOrEqual, version: SemanticVersion(major: 0))] }
        guard let version = SemanticVersion(tag: parts.joined(separator: ".")) else { throw invalid }
        let given = parts.joined(separator: ".").split(separator: "-")[0].split(separator: ".").count
        let upper: SemanticVersion
        if let shorthand {
            if shorthand == "^" {
                upper = version.major > 0 ? SemanticVersion(major: version.major + 1)
                    : version.minor > 0 || given < 3 ? SemanticVersion(major: 0, minor: version.minor + 1)
                    : SemanticVersion(major: 0, minor: 0, patch: version.patch + 1)
            } else {
                upper = given == 1 ? SemanticVersion(major: version.major + 1) : SemanticVersion(major: version.major, minor: version.minor + 1)
            }
        } else if operation == nil && (wildcard || given < 3) {
            // `1.2` and `1.2.x` mean every 1.2 release.
            upper = given == 1 ? SemanticVersion(major: version.major + 1) : SemanticVersion(major: version.major, minor: version.minor + 1)
        } else {
            return [Comparator(operation: operation ?? .equal, version: version)]
        }
        return [Comparator(operation: .greaterOrEqual, version: version), Comparator(operation: .less, version: upper)]
    }
}

extension Character {
    fileprivate var isASCIIDigitCharacter: Bool { isASCII && isNumber }
}
