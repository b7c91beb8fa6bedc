import StowageLayout
import StowageModel

extension ArchiveImporter {
    /// What importing the archive at `path` would do, changing nothing: the images and
    /// names it would add, the blobs and bytes it would copy, and (`missing`) the blobs
    /// it references that neither it nor the layout holds, which would fail the import.
    ///
    /// The archive is read once; blobs the layout lacks are not written anywhere, and
    /// only JSON blobs (manifests, indexes, configs) are read into memory and checked.
    /// No lock is taken and no blob of the layout is touched, so a read-only layout,
    /// or one that does not exist yet, can be planned against. oci-archives only.
    public func dryRun(_ path: String, tag: RefName? = nil, referrers policy: ReferrerPolicy = .all) throws -> ImportReport {
        try importBlobs(path, tag: tag, policy: policy, dryRun: true).report
    }
}
