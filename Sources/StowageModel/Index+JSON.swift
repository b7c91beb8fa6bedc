/// The fast path for indexes (and a layout's `index.json`): parsed by `JSONReader`
/// entry by entry and written by `JSONWriter`, with every field Stowage does not
/// model kept as it was. `JSONCoding` uses it for every `Index`, so there is one
/// way an index becomes bytes.
extension Index {
    /// Reads an index from `reader`, one entry at a time: memory grows with the entries
    /// kept, never with a copy of the whole document.
    public init(reading reader: JSONReader, what: String) throws {
        var schemaVersion: Int?
        var mediaType: MediaType?
        var artifactType: String?
        var manifests: [Descriptor] = []
        var subject: Descriptor?
        var annotations: [String: String]?
        var unknown: [String: JSONValue] = [:]
        try reader.readObject { key in
            let field = JSONField(what: what, path: key)
            switch key {
            case "schemaVersion": schemaVersion = try field.int(reader.readValue())
            case "mediaType": mediaType = try field.optionalString(reader.readValue()).map(MediaType.init(rawValue:))
            case "artifactType": artifactType = try field.optionalString(reader.readValue())
            case "manifests":
                guard try reader.nextIsArray() else {
                    _ = try reader.readValue()
                    throw field.wrongType()
                }
                var position = 0
                try reader.readArray {
                    manifests.append(try Descriptor(reading: reader, field: field.child("\(position)")))
                    position += 1
                }
            case "subject":
                if try !reader.skipNull() { subject = try Descriptor(reading: reader, field: field) }
            case "annotations": annotations = try field.optionalStringMap(reader.readValue())
            default: unknown[key] = try reader.readValue()
            }
        }
        try reader.expectEnd()
        guard let schemaVersion else { throw JSONField(what: what, path: "").missing("schemaVersion") }
        self.init(mediaType: mediaType, manifests: manifests, annotations: annotations)
        self.schemaVersion = schemaVersion
        self.artifactType = artifactType
        self.subject = subject
        self.unknownFields = unknown
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
                writer.write(descriptor.json)
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

extension Descriptor {
    /// Reads a descriptor straight from `reader`, field by field, with no tree in between.
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
            let child = field.child(key)
            // A known field that is null is absent, as with Codable; an unknown one is kept as it is.
            if Descriptor.knownKeys.contains(key), try reader.skipNull() { return }
            switch key {
            case "mediaType": mediaType = try child.string(reader.readValue())
            case "digest": digest = try child.string(reader.readValue())
            case "size": size = try child.int64(reader.readValue())
            case "urls": urls = try child.stringArray(reader.readValue())
            case "annotations":
                guard try reader.nextIsObject() else {
                    _ = try reader.readValue()
                    throw child.wrongType()
                }
                var map: [String: String] = [:]
                try reader.readObject { name in map[name] = try child.string(reader.readValue()) }
                annotations = map
            case "platform": platform = try Platform(json: reader.readValue(), field: child)
            case "artifactType": artifactType = try child.string(reader.readValue())
            case "data": data = try child.string(reader.readValue())
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

    static let knownKeys = ["mediaType", "digest", "size", "urls", "annotations", "platform", "artifactType", "data"]

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
}

extension Platform {
    init(json: JSONValue, field: JSONField) throws {
        guard case .object(let members) = json else { throw field.wrongType() }
        func member(_ key: String) -> JSONValue? { members[key].flatMap { $0 == .null ? nil : $0 } }
        guard let architecture = member("architecture") else { throw field.missing("architecture") }
        guard let os = member("os") else { throw field.missing("os") }
        self.init(
            os: try field.child("os").string(os), architecture: try field.child("architecture").string(architecture),
            variant: try member("variant").map { try field.child("variant").string($0) },
            osVersion: try member("os.version").map { try field.child("os.version").string($0) },
            osFeatures: try member("os.features").map { try field.child("os.features").stringArray($0) })
        var unknown = members
        for key in ["architecture", "os", "variant", "os.version", "os.features"] { unknown[key] = nil }
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

    /// Writes an array element by element.
    mutating func writeArray<T>(_ items: [T], _ element: (T, inout JSONWriter) -> Void) {
        appendByte(UInt8(ascii: "["))
        for (i, item) in items.enumerated() {
            if i > 0 { appendByte(UInt8(ascii: ",")) }
            element(item, &self)
        }
        appendByte(UInt8(ascii: "]"))
    }
}

/// Where a value sits in a document, for errors in the words `JSONCoding` uses.
struct JSONField {
    var what: String
    var path: String

    func child(_ name: String) -> JSONField {
        JSONField(what: what, path: path.isEmpty ? name : "\(path).\(name)")
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
