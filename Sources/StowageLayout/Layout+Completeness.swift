import StowageModel

extension Layout {
    /// Checks that everything `descriptor` reaches is in the layout before it is named,
    /// and refreshes the times of those blobs so that gc's grace period protects them
    /// until the name is written.
    ///
    /// A digest that no entry of `index.json` reaches may have lost part of its graph
    /// to gc; naming it would give a name to an image that cannot be used. The error
    /// says what is missing and how to bring it back. A referrer's `subject` and a
    /// non-distributable layer with `urls` may be absent.
    public func requireComplete(_ descriptor: Descriptor, label: String) throws {
        let graph = ContentGraph.walk(blobs, roots: [ReachabilityRoot(label: label, descriptor: descriptor)])
        var missing: [ContentEdge] = []
        var seen = Set<Digest>()
        for edge in graph.edges where edge.role != .subject && seen.insert(edge.descriptor.digest).inserted {
            if graph.documentIssues[edge.descriptor.digest] == nil, try blobs.containsRefreshing(edge.descriptor.digest) {
                continue
            }
            if edge.mayBeAbsent { continue }
            missing.append(edge)
        }
        if let first = missing.first {
            let more = missing.count > 1 ? " (and \(missing.count - 1) more blobs)" : ""
            let issue = graph.documentIssues[first.descriptor.digest]?.explanation ?? "is missing"
            throw StowageError(
                .notFound,
                "\(label) is not whole in layout \(root): \(first.summary) \(issue)\(more); "
                    + "import or pull the image again to bring it back")
        }
    }
}
