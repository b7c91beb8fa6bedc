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
        var schemaVersion: Int?
        var mediaType: MediaType?
        var artifactType: String?
        var config: Descriptor?
        var layers: [Descriptor] = []
        var subject: Descriptor?
        var annotations: [String: String]?
        var unknown: [String: JSONValue] = [:]
        let scanner = DescriptorScanner(shared: reader.internedString)
        func descriptor(_ field: JSONField) throws -> Descriptor {
            if let fast = try reader.readInPlace({ scanner.scan($0) }) { return fast }
            return try Descriptor(reading: reader, field: field)
        }
        try reader.readObject { key in
            let field = JSONField(what: what, path: key)
            switch key {
            case "schemaVersion": schemaVersion = try field.int(reader.readValue())
            case "mediaType": mediaType = try field.optionalString(reader.readValue()).map(MediaType.init(rawValue:))
            case "artifactType": artifactType = try field.optionalString(reader.readValue())
            case "config": config = try descriptor(field)
            case "layers":
                if try reader.skipNull() { return }
                guard try reader.nextIsArray() else {
                    _ = try reader.readValue()
                    throw field.wrongType()
                }
                var position = 0
                try reader.readArray {
                    layers.append(try descriptor(field.element(position)))
                    position += 1
                }
            case "subject":
                if try !reader.skipNull() { subject = try descriptor(field) }
            case "annotations": annotations = try field.optionalStringMap(reader.readValue())
            default: unknown[key] = try reader.readValue()
            }
        }
        try reader.expectEnd()
        guard let schemaVersion else { throw JSONField(what: what, path: "").missing("schemaVersion") }
        guard let config else { throw JSONField(what: what, path: "").missing("config") }
        self.init(mediaType: mediaType, config: config, layers: layers, annotations: annotations)
        self.schemaVersion = schemaVersion
        self.artifactType = artifactType
        self.subject = subject
        self.unknownFields = unknown
    }

    /// The manifest in `bytes` when the fast reader takes it; nil sends the caller to the
    /// `Codable` path, which reports what is wrong.
    static func readFast(_ bytes: [UInt8], what: String) -> Manifest? {
        try? Manifest(reading: JSONReader(what: what, bytes: bytes), what: what)
    }
}
