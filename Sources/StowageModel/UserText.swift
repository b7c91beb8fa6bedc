/// Text from untrusted places (registries, archives, layouts) made fit for a one-line message.
public enum UserText {
    /// Removes terminal escape sequences (CSI, OSC and two-character escapes), turns every
    /// other control character (C0, DEL, C1) into a space, and cuts the text at `limit`
    /// characters with an ellipsis.
    public static func clean(_ text: String, limit: Int = 300) -> String {
        var out = String.UnicodeScalarView()
        var scalars = text.unicodeScalars.makeIterator()
        while let scalar = scalars.next() {
            if scalar == "\u{1B}" || scalar.value == 0x9B {
                skipEscape(introducedBy: scalar, &scalars)
                continue
            }
            if scalar.value < 0x20 || (0x7F...0x9F).contains(scalar.value) {
                if out.last != " " { out.append(" ") }
                continue
            }
            out.append(scalar)
        }
        var cleaned = String(out)
        if cleaned.count > limit { cleaned = String(cleaned.prefix(limit)) + "…" }
        return cleaned
    }

    /// Shows every control character (C0, DEL, C1) and backslash visibly, as `\u{1B}`
    /// and `\\`, so text from a layout (a name in `index.json`) prints on one line
    /// and cannot drive the terminal, yet nothing of it is hidden.
    public static func escaped(_ text: String) -> String {
        // Most text (names, digests, media types) is printable ASCII: it is its own escape.
        if text.utf8.allSatisfy({ (0x20...0x7E).contains($0) && $0 != UInt8(ascii: "\\") }) { return text }
        var out = ""
        for scalar in text.unicodeScalars {
            if scalar.value < 0x20 || (0x7F...0x9F).contains(scalar.value) {
                out += "\\u{\(String(scalar.value, radix: 16, uppercase: true))}"
            } else if scalar == "\\" {
                out += "\\\\"
            } else {
                out.unicodeScalars.append(scalar)
            }
        }
        return out
    }

    private static func skipEscape(introducedBy first: Unicode.Scalar, _ scalars: inout String.UnicodeScalarView.Iterator) {
        var kind = first == "\u{1B}" ? scalars.next() : "["
        if first.value == 0x9B { kind = "[" }
        switch kind {
        case "["?:
            // CSI: parameters and intermediates, then one final byte in 0x40...0x7E.
            while let next = scalars.next(), !(0x40...0x7E).contains(next.value) {}
        case "]"?:
            // OSC: up to BEL or ESC \.
            while let next = scalars.next() {
                if next == "\u{07}" { break }
                if next == "\u{1B}" { _ = scalars.next(); break }
            }
        default:
            break  // a two-character escape: already consumed
        }
    }
}
