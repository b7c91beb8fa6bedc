/// The fast path for indexes (and a layout's `index.json`): parsed by `JSONReader`
/// entry by entry and written by `JSONWriter`, with every field Stowage does not
/// model kept as it was. `JSONCoding` uses it for every `Index`, so there is one
/// way an index becomes bytes.
extension Index {
    /// Reads an index from `reader`, one entry at a time: memory grows with the entries
    /// kept, never with a copy of the whole document. Given the document's size,
    /// room for the entries is made once, after the first few show how large they are.
    public init(reading reader: JSONReader, what: String, documentSize: Int64? = nil) throws {
        var fields = DocumentFields()
        var manifests: [Descriptor] = []
        let scanner = DescriptorScanner(shared: reader.internedString)
        try reader.readObject { key in
            let field = JSONField(what: what, path: key)
            guard key == "manifests" else { return try fields.read(key, from: reader, field: field, scanner: scanner) }
            try reader.readDescriptors(field, scanner: scanner) { descriptor, position in
                manifests.append(descriptor)
                if position == 15, let documentSize, reader.bytesRead > 0 {
                    let perEntry = Swift.max(1, reader.bytesRead / 16)
                    manifests.reserveCapacity(Int(Swift.min(documentSize / perEntry, 4_000_000)) + 16)
                }
            }
        }
        try reader.expectEnd()
        let schemaVersion = try fields.requiredSchemaVersion(what: what)
        self.init(mediaType: fields.mediaType, manifests: manifests, annotations: fields.annotations)
        self.schemaVersion = schemaVersion
        self.artifactType = fields.artifactType
        self.subject = fields.subject
        self.unknownFields = fields.unknown
    }

    /// Parses an index from bytes.
    public static func parse(_ bytes: [UInt8], what: String) throws -> Index {
        try Index(reading: JSONReader(what: what, bytes: bytes), what: what)
    }

    /// The index as compact JSON with sorted keys: the same index always gives the same bytes.
    public var jsonBytes: [UInt8] {
        var bytes: [UInt8] = []
        // Appending to memory cannot fail.
        try! writeJSON { bytes.append(contentsOf: $0) }
        return bytes
    }

    /// Writes `jsonBytes` to `sink` in chunks of about `chunkSize` bytes, entry by entry,
    /// so a large `index.json` is never held whole in memory on its way to disk.
    public func writeJSON(chunkSize: Int = 1 << 20, _ sink: ([UInt8]) throws -> Void) throws {
        var writer = JSONWriter(capacity: Swift.min(chunkSize, 256 * (manifests.count + 1)) + 4096)
        var members: [String: JSONValue] = unknownFields
        members["schemaVersion"] = .int(Int64(schemaVersion))
        if let mediaType { members["mediaType"] = .string(mediaType.rawValue) }
        if let artifactType { members["artifactType"] = .string(artifactType) }
        if let subject { members["subject"] = subject.json }
        if let annotations { members["annotations"] = .stringMap(annotations) }
        members["manifests"] = .array([])
        var failure: Error?
        writer.writeObject(members) { key, writer in
            guard key == "manifests" else { return false }
            writer.writeArray(manifests) { descriptor, writer in
                descriptor.write(to: &writer)
                if writer.bytes.count >= chunkSize, failure == nil {
                    do { try sink(writer.takeBytes()) } catch { failure = error }
                }
            }
            return true
        }
        if let failure { throw failure }
        try sink(writer.takeBytes())
    }
}

/// The fields an index and a manifest have in common, read alike for both: each
/// document's reader takes its own fields (`manifests`; `config` and `layers`) and hands
/// every other key here, unknown ones included, which are kept as they are.
struct DocumentFields {
    var schemaVersion: Int?
    var mediaType: MediaType?
    var artifactType: String?
    var subject: Descriptor?
    var annotations: [String: String]?
    var unknown: [String: JSONValue] = [:]

    /// Reads the value at `key` of the document.
    mutating func read(_ key: String, from reader: JSONReader, field: JSONField, scanner: DescriptorScanner) throws {
        switch key {
        case "schemaVersion": schemaVersion = try field.int(reader.readValue())
        case "mediaType": mediaType = try field.optionalString(reader.readValue()).map(MediaType.init(rawValue:))
        case "artifactType": artifactType = try field.optionalString(reader.readValue())
        case "subject":
            if try !reader.skipNull() { subject = try reader.readDescriptor(field, scanner: scanner) }
        case "annotations": annotations = try field.optionalStringMap(reader.readValue())
        default: unknown[key] = try reader.readValue()
        }
    }

    /// The schema version, which both documents must state.
    func requiredSchemaVersion(what: String) throws -> Int {
        guard let schemaVersion else { throw JSONField(what: what, path: "").missing("schemaVersion") }
        return schemaVersion
    }
}

extension JSONReader {
    /// Reads the descriptor at `field`: through `scanner` when it has the usual shape,
    /// else field by field, which also words any error.
    func readDescriptor(_ field: JSONField, scanner: DescriptorScanner) throws -> Descriptor {
        if let fast = try readInPlace({ scanner.scan($0) }) { return fast }
        return try Descriptor(reading: self, field: field)
    }

    /// Reads the array of descriptors at `field` (`manifests`, `layers`), handing each to
    /// `each` with its position.
    func readDescriptors(_ field: JSONField, scanner: DescriptorScanner, _ each: (Descriptor, Int) -> Void) throws {
        guard try nextIsArray() else {
            _ = try readValue()
            throw field.wrongType()
        }
        var position = 0
        try readArray {
            each(try readDescriptor(field.element(position), scanner: scanner), position)
            position += 1
        }
    }
}

extension Descriptor {
    /// Reads a descriptor straight from `reader`, field by field, with no tree in between.
    /// A field's place in the document is spelled out only when there is an error to report.
    init(reading reader: JSONReader, field: JSONField) throws {
        guard try reader.nextIsObject() else {
            _ = try reader.readValue()
            throw field.wrongType()
        }
        var mediaType: String?
        var digest: String?
        var size: Int64?
        var urls: [String]?
        var annotations: [String: String]?
        var platform: Platform?
        var artifactType: String?
        var data: String?
        var unknown: [String: JSONValue] = [:]
        try reader.readObject { key in
            // A known field that is null is absent, as with Codable; an unknown one is kept as it is.
            if Descriptor.knownKeys.contains(key), try reader.skipNull() { return }
            switch key {
            case "mediaType": mediaType = try field.string(reader.readValue(), at: key)
            case "digest": digest = try field.string(reader.readValue(), at: key)
            case "size": size = try field.int64(reader.readValue(), at: key)
            case "urls": urls = try field.child(key).stringArray(reader.readValue())
            case "annotations": annotations = try reader.readStringMap(field: field, key: key)
            case "platform": platform = try Platform(reading: reader, in: field, at: key)
            case "artifactType": artifactType = try field.string(reader.readValue(), at: key)
            case "data": data = try field.string(reader.readValue(), at: key)
            default: unknown[key] = try reader.readValue()
            }
        }
        guard let mediaType else { throw field.missing("mediaType") }
        guard let digest else { throw field.missing("digest") }
        guard let size else { throw field.missing("size") }
        let parsedDigest: Digest
        do {
            parsedDigest = try Digest(digest)
        } catch let error as StowageError {
            throw error.prefixed(field.what)
        }
        guard size >= 0 else {
            throw StowageError(.invalidJSON, "descriptor \(parsedDigest) has a negative size \(size)").prefixed(field.what)
        }
        self.init(mediaType: MediaType(rawValue: mediaType), digest: parsedDigest, size: size, annotations: annotations, platform: platform)
        self.urls = urls
        self.artifactType = artifactType
        self.data = data
        unknownFields = unknown
    }

    /// The fields Stowage models, in the order `JSONWriter` writes keys.
    static let knownKeys = ["annotations", "artifactType", "data", "digest", "mediaType", "platform", "size", "urls"]

    /// The descriptor as a JSON object, unknown fields included.
    var json: JSONValue {
        var members = unknownFields
        members["mediaType"] = .string(mediaType.rawValue)
        members["digest"] = .string(digest.string)
        members["size"] = .int(size)
        if let urls { members["urls"] = .array(urls.map(JSONValue.string)) }
        if let annotations { members["annotations"] = .stringMap(annotations) }
        if let platform { members["platform"] = platform.json }
        if let artifactType { members["artifactType"] = .string(artifactType) }
        if let data { members["data"] = .string(data) }
        return .object(members)
    }

    /// Writes the bytes `writer.write(json)` would, without building the tree: the hot
    /// path of every `index.json` edit. Unknown fields are merged in key order.
    func write(to writer: inout JSONWriter) {
        // By position in `knownKeys`: comparing key strings for every entry costs more than writing it.
        writer.writeObject(unknown: unknownFields, known: Self.knownKeys) { key, writer in
            switch key {
            case 0:
                guard let annotations else { return false }
                writer.writeStringMap(annotations)
            case 1:
                guard let artifactType else { return false }
                writer.write(artifactType)
            case 2:
                guard let data else { return false }
                writer.write(data)
            case 3: writer.writeDigest(digest)
            case 4: writer.write(mediaType.rawValue)
            case 5:
                guard let platform else { return false }
                platform.write(to: &writer)
            case 6: writer.writeInteger(size)
            default:
                guard let urls else { return false }
                writer.writeArray(urls) { url, writer in writer.write(url) }
            }
            return true
        }
    }
}

extension Platform {
    /// The fields Stowage models, in the order `JSONWriter` writes keys.
    static let knownKeys = ["architecture", "os", "os.features", "os.version", "variant"]

    /// Reads the platform at `key` of the object `parent` straight from `reader`.
    init(reading reader: JSONReader, in parent: JSONField, at key: String) throws {
        guard try reader.nextIsObject() else {
            _ = try reader.readValue()
            throw parent.child(key).wrongType()
        }
        func string(_ value: JSONValue, _ name: String) throws -> String {
            guard case .string(let text) = value else { throw parent.child(key).child(name).wrongType() }
            return text
        }
        var architecture: String?
        var os: String?
        var variant: String?
        var osVersion: String?
        var osFeatures: [String]?
        var unknown: [String: JSONValue] = [:]
        try reader.readObject { name in
            if Platform.knownKeys.contains(name), try reader.skipNull() { return }
            switch name {
            case "architecture": architecture = try string(reader.readValue(), name)
            case "os": os = try string(reader.readValue(), name)
            case "variant": variant = try string(reader.readValue(), name)
            case "os.version": osVersion = try string(reader.readValue(), name)
            case "os.features": osFeatures = try parent.child(key).child(name).stringArray(reader.readValue())
            default: unknown[name] = try reader.readValue()
            }
        }
        guard let architecture else { throw parent.child(key).missing("architecture") }
        guard let os else { throw parent.child(key).missing("os") }
        self.init(os: os, architecture: architecture, variant: variant, osVersion: osVersion, osFeatures: osFeatures)
        unknownFields = unknown
    }

    var json: JSONValue {
        var members = unknownFields
        members["architecture"] = .string(architecture)
        members["os"] = .string(os)
        if let variant { members["variant"] = .string(variant) }
        if let osVersion { members["os.version"] = .string(osVersion) }
        if let osFeatures { members["os.features"] = .array(osFeatures.map(JSONValue.string)) }
        return .object(members)
    }

    /// Writes the bytes `writer.write(json)` would, without building the tree.
    func write(to writer: inout JSONWriter) {
        writer.writeObject(unknown: unknownFields, known: Self.knownKeys) { key, writer in
            switch key {
            case 0: writer.write(architecture)
            case 1: writer.write(os)
            case 2:
                guard let osFeatures else { return false }
                writer.writeArray(osFeatures) { feature, writer in writer.write(feature) }
            case 3:
                guard let osVersion else { return false }
                writer.write(osVersion)
            default:
                guard let variant else { return false }
                writer.write(variant)
            }
            return true
        }
    }
}

extension JSONReader {
    /// Reads the object of strings at `key` of the object `field` (annotations).
    func readStringMap(field: JSONField, key: String) throws -> [String: String] {
        guard try nextIsObject() else {
            _ = try readValue()
            throw field.child(key).wrongType()
        }
        var map: [String: String] = [:]
        try readObject { name in
            guard case .string(let text) = try readValue() else { throw field.child(key).child(name).wrongType() }
            map[name] = text
        }
        return map
    }
}

extension JSONValue {
    static func stringMap(_ map: [String: String]) -> JSONValue {
        .object(map.mapValues(JSONValue.string))
    }
}

extension JSONWriter {
    /// Writes an object whose members are in `members`, sorted; `special` may write a
    /// member's value itself (and returns true when it did).
    mutating func writeObject(_ members: [String: JSONValue], special: (String, inout JSONWriter) -> Bool) {
        appendByte(UInt8(ascii: "{"))
        for (i, key) in members.keys.sorted(by: JSONWriter.keyOrder).enumerated() {
            if i > 0 { appendByte(UInt8(ascii: ",")) }
            write(key)
            appendByte(UInt8(ascii: ":"))
            if !special(key, &self) { write(members[key]!) }
        }
        appendByte(UInt8(ascii: "}"))
    }

    /// Writes an object of a modelled type: `known` (sorted by `keyOrder`) are the fields
    /// `value` writes, given a field's position in `known` and returning false for an absent
    /// one; `unknown` are the fields kept as they were. Keys come out sorted, as `write(_:)` sorts them.
    mutating func writeObject(
        unknown: [String: JSONValue], known: [String], value: (Int, inout JSONWriter) -> Bool
    ) {
        appendByte(UInt8(ascii: "{"))
        var first = true
        func key(_ key: String) {
            if !first { appendByte(UInt8(ascii: ",")) }
            write(key)
            appendByte(UInt8(ascii: ":"))
        }
        func knownMember(_ position: Int) {
            // The key goes first; an absent field takes it back.
            let name = known[position]
            let mark = byteCount
            key(name)
            if value(position, &self) {
                first = false
            } else if let kept = unknown[name] {
                write(kept)
                first = false
            } else {
                truncate(to: mark)
            }
        }
        var knownPosition = 0
        let extra = unknown.isEmpty ? [] : unknown.keys.filter { !known.contains($0) }.sorted(by: Self.keyOrder)
        for name in extra {
            while knownPosition < known.count, Self.keyOrder(known[knownPosition], name) {
                knownMember(knownPosition)
                knownPosition += 1
            }
            key(name)
            write(unknown[name]!)
            first = false
        }
        while knownPosition < known.count {
            knownMember(knownPosition)
            knownPosition += 1
        }
        appendByte(UInt8(ascii: "}"))
    }

    /// Writes an array element by element.
    mutating func writeArray<T>(_ items: [T], _ element: (T, inout JSONWriter) -> Void) {
        appendByte(UInt8(ascii: "["))
        for (i, item) in items.enumerated() {
            if i > 0 { appendByte(UInt8(ascii: ",")) }
            element(item, &self)
        }
        appendByte(UInt8(ascii: "]"))
    }

    /// Writes an object of strings, keys sorted.
    mutating func writeStringMap(_ map: [String: String]) {
        appendByte(UInt8(ascii: "{"))
        let keys = map.count == 1 ? Array(map.keys) : map.keys.sorted(by: Self.keyOrder)
        for (i, key) in keys.enumerated() {
            if i > 0 { appendByte(UInt8(ascii: ",")) }
            write(key)
            appendByte(UInt8(ascii: ":"))
            write(map[key]!)
        }
        appendByte(UInt8(ascii: "}"))
    }

    /// Writes `"sha256:<hex>"`: a digest's characters never need escaping.
    mutating func writeDigest(_ digest: Digest) {
        appendBytes("\"sha256:".utf8)
        appendDigestHex(digest)
        appendByte(UInt8(ascii: "\""))
    }
}

/// Where a value sits in a document, for errors in the words `JSONCoding` uses.
/// The path is spelled out only when an error needs it: fields are read by the
/// hundred thousand, errors are rare.
struct JSONField {
    var what: String
    private var parent: String
    private var leaf: Leaf?

    private enum Leaf {
        case key(String)
        case position(Int)
    }

    init(what: String, path: String) {
        self.what = what
        parent = path
    }

    /// `what`'s dotted path to this value (`manifests.3.platform`).
    var path: String {
        let last: String
        switch leaf {
        case nil: return parent
        case .key(let key)?: last = key
        case .position(let position)?: last = String(position)
        }
        return parent.isEmpty ? last : "\(parent).\(last)"
    }

    func child(_ name: String) -> JSONField {
        var field = JSONField(what: what, path: leaf == nil ? parent : path)
        field.leaf = .key(name)
        return field
    }

    /// The element at `position` of the array here.
    func element(_ position: Int) -> JSONField {
        var field = JSONField(what: what, path: leaf == nil ? parent : path)
        field.leaf = .position(position)
        return field
    }

    /// The string at `key` of the object here.
    func string(_ value: JSONValue, at key: String) throws -> String {
        guard case .string(let text) = value else { throw child(key).wrongType() }
        return text
    }

    /// The integer at `key` of the object here.
    func int64(_ value: JSONValue, at key: String) throws -> Int64 {
        if case .int(let number) = value { return number }
        return try child(key).int64(value)
    }

    func missing(_ name: String) -> StowageError {
        StowageError(.invalidJSON, "\(what) lacks the required field '\(name)'")
    }

    func wrongType() -> StowageError {
        StowageError(.invalidJSON, "\(what) has a field of the wrong type at '\(path)'")
    }

    func string(_ value: JSONValue) throws -> String {
        guard case .string(let text) = value else { throw wrongType() }
        return text
    }

    func optionalString(_ value: JSONValue) throws -> String? {
        if value == .null { return nil }
        return try string(value)
    }

    func int(_ value: JSONValue) throws -> Int {
        Int(try int64(value))
    }

    func int64(_ value: JSONValue) throws -> Int64 {
        switch value {
        case .int(let number): return number
        case .double(let number) where number == number.rounded() && abs(number) < 9e18: return Int64(number)
        default: throw wrongType()
        }
    }

    func stringArray(_ value: JSONValue) throws -> [String] {
        guard case .array(let items) = value else { throw wrongType() }
        return try items.enumerated().map { i, item in try child("\(i)").string(item) }
    }

    func stringMap(_ value: JSONValue) throws -> [String: String] {
        guard case .object(let members) = value else { throw wrongType() }
        return try members.mapValues { try string($0) }
    }

    func optionalStringMap(_ value: JSONValue) throws -> [String: String]? {
        if value == .null { return nil }
        return try stringMap(value)
    }
}
