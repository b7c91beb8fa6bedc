/// The fast path for manifests: read by `JSONReader` field by field, their descriptors
/// by `DescriptorScanner` when they have the usual shape, with every field Stowage does
/// not model kept as it was. A walk of a layout of twenty thousand images reads twenty
/// thousand manifests, and Foundation's decoder spent most of verify's time on them.
///
/// The reader is strict (duplicate keys, invalid UTF-8 and deep nesting are refused), so
/// what it accepts the `Codable` path accepts too, with the same result. A document it
/// refuses goes to the `Codable` path, which decides and words the error: the fast path
/// never changes what is accepted, only how fast.
extension Manifest {
    /// Reads a manifest from `reader`; `what` names it in errors.
    init(reading reader: JSONReader, what: String) throws {
        var fields = DocumentFields()
        var config: Descriptor?
        var layers: [Descriptor] = []
        let scanner = DescriptorScanner(shared: reader.internedString)
        try reader.readObject { key in
            let field = JSONField(what: what, path: key)
            switch key {
            case "config": config = try reader.readDescriptor(field, scanner: scanner)
            case "layers":
                if try reader.skipNull() { return }
                try reader.readDescriptors(field, scanner: scanner) { descriptor, _ in layers.append(descriptor) }
            default: try fields.read(key, from: reader, field: field, scanner: scanner)
            }
        }
        try reader.expectEnd()
        let schemaVersion = try fields.requiredSchemaVersion(what: what)
        guard let config else { throw JSONField(what: what, path: "").missing("config") }
        self.init(mediaType: fields.mediaType, config: config, layers: layers, annotations: fields.annotations)
        self.schemaVersion = schemaVersion
        self.artifactType = fields.artifactType
        self.subject = fields.subject
        self.unknownFields = fields.unknown
    }

    /// The manifest in `bytes` when the fast reader takes it; nil sends the caller to the
    /// `Codable` path, which reports what is wrong.
    static func readFast(_ bytes: [UInt8], what: String) -> Manifest? {
        try? Manifest(reading: JSONReader(what: what, bytes: bytes), what: what)
    }
}
