import Foundation
import StowageModel

/// Which tags of a repository an image set wants: exact names, and patterns over the
/// repository's tag list (globs, a regex, a semver range), of which `latest: N` keeps
/// the N highest versions.
public struct TagSelection: Sendable {
    /// A pattern and where the set file gives it, for messages.
    public struct Pattern: Sendable {
        /// The glob or regular expression as written.
        public var pattern: String
        /// `FILE:LINE:COLUMN`.
        public var location: String

        /// A pattern given at `location`.
        public init(pattern: String, location: String) {
            self.pattern = pattern
            self.location = location
        }
    }

    /// Tags wanted by name; they need no tag list.
    public var exact: [String] = []
    /// Globs (`v1.*`, `1.2[0-9]`) matched against whole tags.
    public var globs: [Pattern] = []
    /// A regular expression that matches anywhere in a tag (anchor it with `^…$`), as
    /// skopeo sync's `images-by-tag-regex` has it.
    public var regex: Pattern?
    /// A semver range over the tags that read as versions.
    public var semver: (range: SemanticVersionRange, location: String)?
    /// Keep only the N highest versions of what the patterns select (of every version
    /// tag when no pattern is given).
    public var latest: (count: Int, location: String)?

    /// An empty selection.
    public init() {}

    /// Whether nothing is selected at all.
    public var isEmpty: Bool { exact.isEmpty && !needsTagList }

    /// Whether the repository's tag list must be read: any pattern or `latest`.
    public var needsTagList: Bool { !globs.isEmpty || regex != nil || semver != nil || latest != nil }

    /// Whether `text` is meant as a glob rather than a tag: it has `*`, `?` or `[`.
    public static func isGlob(_ text: String) -> Bool { text.contains { "*?[".contains($0) } }

    /// Whether a glob is well formed (its brackets close).
    static func isValidGlob(_ pattern: String) -> Bool {
        fnmatch(pattern, "", 0) != -1 && pattern.filter({ $0 == "[" }).count <= pattern.filter({ $0 == "]" }).count
    }

    /// The tags selected from `available` (the repository's tag list, or nil when it was
    /// not read), sorted; each pattern that matches no tag fails, naming it and where the
    /// set gives it, since a set that silently selects nothing hides a typo.
    public func select(from available: [String]?, repository: String) throws -> [String] {
        var chosen = Set(exact)
        guard needsTagList else { return chosen.sorted() }
        let tags = available ?? []
        func nothing(_ what: String, _ location: String) -> StowageError {
            StowageError(.notFound, "\(location): \(what) matches none of the \(tags.count) tags of \(repository)")
        }
        var candidates: Set<String>?
        for glob in globs {
            let matched = tags.filter { fnmatch(glob.pattern, $0, 0) == 0 }
            guard !matched.isEmpty else { throw nothing("glob '\(glob.pattern)'", glob.location) }
            candidates = (candidates ?? []).union(matched)
        }
        if let regex {
            let compiled = try Regex(regex.pattern)
            let matched = tags.filter { (try? compiled.firstMatch(in: $0)) != nil }
            guard !matched.isEmpty else { throw nothing("regex '\(regex.pattern)'", regex.location) }
            candidates = (candidates ?? []).union(matched)
        }
        if let semver {
            let matched = tags.filter { SemanticVersion(tag: $0).map(semver.range.contains) ?? false }
            guard !matched.isEmpty else { throw nothing("semver range '\(semver.range)'", semver.location) }
            candidates = (candidates ?? []).union(matched)
        }
        if let latest {
            // The highest releases among the candidates (pre-releases only when a pattern chose them).
            let pool = candidates ?? Set(tags.filter { SemanticVersion(tag: $0).map { !$0.isPrerelease } ?? false })
            let versions = pool.compactMap { tag in SemanticVersion(tag: tag).map { (tag, $0) } }
            guard !versions.isEmpty else { throw nothing("latest: \(latest.count) (tags that read as versions)", latest.location) }
            // Equal versions (v1.2 and 1.2.0) order by the tag text, so the choice is stable.
            let newest = versions.sorted { $0.1 != $1.1 ? $0.1 > $1.1 : $0.0 < $1.0 }.prefix(latest.count)
            candidates = Set(newest.map(\.0))
        }
        chosen.formUnion(candidates ?? [])
        return chosen.sorted()
    }
}
