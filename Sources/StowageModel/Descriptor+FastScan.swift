/// The fast path for the descriptors of a large `index.json`: entries in the shape
/// Stowage, skopeo, umoci and buildah write (`mediaType`, `digest`, `size`, an
/// `os`/`architecture`/`variant` platform, string annotations; strings without
/// escapes) are read straight from the reader's buffer, with no key strings, no
/// closures and no trees. Anything else, and anything wrong, is left to the general
/// reader, which reads the entry again from its first byte and reports what is wrong:
/// this scanner decides only whether it can go fast, never whether input is valid.
struct DescriptorScanner {
    /// Makes the strings that entries repeat (media types, operating systems,
    /// architectures); nil for invalid UTF-8. `JSONReader.internedString` keeps one copy
    /// of each for the whole document.
    var shared: (UnsafeRawBufferPointer) -> String? = { String(validating: $0, as: UTF8.self) }

    /// A descriptor read from the start of `bytes`, and how many bytes it took;
    /// nil when the entry needs the general reader.
    func scan(_ bytes: UnsafeRawBufferPointer) -> (value: Descriptor, used: Int)? {
        var cursor = JSONByteCursor(bytes: bytes)
        var mediaType: String?
        var digest: Digest?
        var size: Int64?
        var platform: Platform?
        var annotations: [String: String]?
        guard cursor.take(UInt8(ascii: "{")) else { return nil }
        repeat {
            guard let key = cursor.plainString() else { return nil }
            guard cursor.take(UInt8(ascii: ":")) else { return nil }
            switch key.count {
            case 9 where JSONByteCursor.equal(key, "mediaType") && mediaType == nil:
                guard let value = cursor.plainString(), let string = shared(value) else { return nil }
                mediaType = string
            case 6 where JSONByteCursor.equal(key, "digest") && digest == nil:
                guard let value = cursor.plainString(), value.count == 71, JSONByteCursor.equal(UnsafeRawBufferPointer(rebasing: value[..<7]), "sha256:"),
                    let parsed = Digest(hexUTF8: UnsafeRawBufferPointer(rebasing: value[7...]))
                else { return nil }
                digest = parsed
            case 4 where JSONByteCursor.equal(key, "size") && size == nil:
                guard let value = cursor.nonNegativeInteger() else { return nil }
                size = value
            case 8 where JSONByteCursor.equal(key, "platform") && platform == nil:
                guard let value = scanPlatform(&cursor) else { return nil }
                platform = value
            case 11 where JSONByteCursor.equal(key, "annotations") && annotations == nil:
                guard let value = Self.scanStringMap(&cursor) else { return nil }
                annotations = value
            default:
                return nil
            }
        } while cursor.take(UInt8(ascii: ","))
        guard cursor.take(UInt8(ascii: "}")), let mediaType, let digest, let size else { return nil }
        let descriptor = Descriptor(mediaType: MediaType(rawValue: mediaType), digest: digest, size: size, annotations: annotations, platform: platform)
        return (descriptor, cursor.position)
    }

    private func scanPlatform(_ cursor: inout JSONByteCursor) -> Platform? {
        guard cursor.take(UInt8(ascii: "{")) else { return nil }
        var os: String?
        var architecture: String?
        var variant: String?
        repeat {
            guard let key = cursor.plainString(), cursor.take(UInt8(ascii: ":")), let bytes = cursor.plainString(),
                let value = shared(bytes)
            else { return nil }
            switch key.count {
            case 2 where JSONByteCursor.equal(key, "os") && os == nil: os = value
            case 12 where JSONByteCursor.equal(key, "architecture") && architecture == nil: architecture = value
            case 7 where JSONByteCursor.equal(key, "variant") && variant == nil: variant = value
            default: return nil
            }
        } while cursor.take(UInt8(ascii: ","))
        guard cursor.take(UInt8(ascii: "}")), let os, let architecture else { return nil }
        return Platform(os: os, architecture: architecture, variant: variant)
    }

    private static func scanStringMap(_ cursor: inout JSONByteCursor) -> [String: String]? {
        guard cursor.take(UInt8(ascii: "{")) else { return nil }
        var map: [String: String] = [:]
        if cursor.take(UInt8(ascii: "}")) { return map }
        repeat {
            guard let key = cursor.plainString(), cursor.take(UInt8(ascii: ":")), let value = cursor.plainString(),
                let keyString = String(validating: key, as: UTF8.self), let valueString = String(validating: value, as: UTF8.self),
                map.updateValue(valueString, forKey: keyString) == nil
            else { return nil }
        } while cursor.take(UInt8(ascii: ","))
        return cursor.take(UInt8(ascii: "}")) ? map : nil
    }
}

extension JSONByteCursor {
    /// A non-negative integer in JSON's form (no leading zero, no fraction), below 10^18.
    mutating func nonNegativeInteger() -> Int64? {
        skipWhitespace()
        let first = position
        var value: Int64 = 0
        while position < bytes.count, (0x30...0x39).contains(bytes[position]), position - first < 18 {
            value = value * 10 + Int64(bytes[position] - 0x30)
            position += 1
        }
        let digits = position - first
        guard digits > 0, !(digits > 1 && bytes[first] == 0x30), position < bytes.count else { return nil }
        let next = bytes[position]
        guard next == UInt8(ascii: ",") || next == UInt8(ascii: "}") || Self.isWhitespace(next) else { return nil }
        return value
    }
}
