import Foundation

/// Just enough RFC 5322 / MIME (RFC 2045, 2046, 2231) to find the report in a report mail (RFC 8460 §5.3): the
/// headers, multipart bodies, base64 and quoted-printable, and the part that carries the report.
enum MIME {
    struct Entity {
        var headers: [(name: String, value: String)]
        var body: ArraySlice<UInt8>

        func header(_ name: String) -> String? {
            headers.first { $0.name.lowercased() == name.lowercased() }?.value
        }
    }

    /// The report parts of one message, in order, transfer encoding undone (still gzip or JSON), and the content
    /// types seen (for the rejection's words).
    static func reportParts(of message: ArraySlice<UInt8>) -> (found: [[UInt8]], typesSeen: [String]) {
        var found: [[UInt8]] = [], seen: [String] = []
        walk(entity(message), depth: 0, &found, &seen)
        return (found, seen)
    }

    /// Is `bytes` a header block (a field name and a colon on its first line)?
    static func looksLikeMessage(_ bytes: ArraySlice<UInt8>) -> Bool {
        guard let colon = bytes.prefix(200).firstIndex(of: 0x3A), colon > bytes.startIndex else { return false }
        return bytes[bytes.startIndex..<colon].allSatisfy { (0x21...0x7E).contains($0) }
    }

    static func entity(_ bytes: ArraySlice<UInt8>) -> Entity {
        var headers: [(name: String, value: String)] = []
        var i = bytes.startIndex
        while i < bytes.endIndex {
            let end = bytes[i...].firstIndex(of: 0x0A) ?? bytes.endIndex
            let line = trimCR(bytes[i..<end])
            i = end < bytes.endIndex ? end + 1 : end
            if line.isEmpty { break }
            if line.first == 0x20 || line.first == 0x09, !headers.isEmpty {
                // Folded (RFC 5322 §2.2.3): the continuation belongs to the field above.
                headers[headers.count - 1].value += " " + text(trimWSP(line))
            } else if let colon = line.firstIndex(of: 0x3A) {
                headers.append((text(trimWSP(line[line.startIndex..<colon])), text(trimWSP(line[(colon + 1)...]))))
            }
        }
        return Entity(headers: headers, body: bytes[i...])
    }

    static func walk(_ entity: Entity, depth: Int, _ found: inout [[UInt8]], _ seen: inout [String]) {
        let (type, params) = parameters(entity.header("Content-Type") ?? "text/plain")
        seen.append(type)
        if type.hasPrefix("multipart/"), let boundary = params["boundary"], depth < 8 {
            for part in parts(entity.body, boundary: boundary) { walk(self.entity(part), depth: depth + 1, &found, &seen) }
            return
        }
        if type == "message/rfc822", depth < 8 {
            // A forwarded report mail.
            walk(self.entity(decoded(entity)[...]), depth: depth + 1, &found, &seen)
            return
        }
        let disposition = parameters(entity.header("Content-Disposition") ?? "").params
        let filename = (disposition["filename"] ?? params["name"] ?? "").lowercased()
        let reportType = ["application/tlsrpt+gzip", "application/tlsrpt+json", "application/tlsrpt"].contains(type)
        // Some senders and forwarders attach the report as application/gzip, application/json, octet-stream or
        // even text/plain, named by RFC 8460 §5.1 (`….json` / `….json.gz`): the name decides, as the bytes do next.
        let named = filename.hasSuffix(".json") || filename.hasSuffix(".json.gz")
        guard reportType || named else { return }
        found.append(decoded(entity))
    }

    /// The body with its Content-Transfer-Encoding undone (7bit, 8bit, binary: as is).
    static func decoded(_ entity: Entity) -> [UInt8] {
        switch entity.header("Content-Transfer-Encoding")?.lowercased() {
        case "base64"?: base64(entity.body)
        case "quoted-printable"?: quotedPrintable(entity.body)
        default: Array(entity.body)
        }
    }

    /// The bodies between the `--boundary` delimiter lines (RFC 2046 §5.1.1); the line break before a delimiter
    /// belongs to it. A missing close delimiter ends the last part at the end of the body.
    static func parts(_ body: ArraySlice<UInt8>, boundary: String) -> [ArraySlice<UInt8>] {
        let delimiter = Array(("--" + boundary).utf8)
        var parts: [ArraySlice<UInt8>] = []
        var start: Int? = nil
        var i = body.startIndex
        while i < body.endIndex {
            let end = body[i...].firstIndex(of: 0x0A) ?? body.endIndex
            let line = trimCR(body[i..<end])
            if line.starts(with: delimiter) {
                let rest = line.dropFirst(delimiter.count)
                let closing = rest.starts(with: [0x2D, 0x2D])
                if closing || rest.allSatisfy({ $0 == 0x20 || $0 == 0x09 }) {
                    if let s = start { parts.append(body[s..<max(s, i - 1)]) }
                    start = closing ? nil : min(end + 1, body.endIndex)
                    if closing { return parts.map(trimCR) }
                }
            }
            i = end < body.endIndex ? end + 1 : end
        }
        if let s = start { parts.append(body[s...]) }
        return parts.map(trimCR)
    }

    /// `type/subtype; key=value; key="quoted"` → the lowercased type and the parameters (lowercased names),
    /// RFC 2231 continuations (`filename*0`, `filename*1`) joined and `*=charset''%XX` values decoded.
    static func parameters(_ value: String) -> (type: String, params: [String: String]) {
        var fields: [String] = [], current = "", quoted = false
        for c in value {
            if c == "\"" { quoted.toggle() }
            if c == ";" && !quoted { fields.append(current); current = "" } else { current.append(c) }
        }
        fields.append(current)
        let type = trimWSP(fields[0]).lowercased()
        var pieces: [(name: String, index: Int, value: String)] = []
        for field in fields.dropFirst() {
            guard let eq = field.firstIndex(of: "=") else { continue }
            var name = trimWSP(field[..<eq]).lowercased()
            var v = trimWSP(field[field.index(after: eq)...])
            if v.count >= 2, v.hasPrefix("\""), v.hasSuffix("\"") { v = String(v.dropFirst().dropLast()) }
            if name.hasSuffix("*") {
                name.removeLast()
                let afterCharset = v.split(separator: "'", maxSplits: 2, omittingEmptySubsequences: false)
                v = percentDecoded(afterCharset.count == 3 ? String(afterCharset[2]) : v)
            }
            var index = 0
            if let star = name.lastIndex(of: "*"), let n = Int(name[name.index(after: star)...]) {
                index = n
                name = String(name[..<star])
            }
            pieces.append((name, index, v))
        }
        var params: [String: String] = [:]
        for piece in pieces.sorted(by: { ($0.name, $0.index) < ($1.name, $1.index) }) {
            params[piece.name, default: ""] += piece.value
        }
        return (type, params)
    }

    static func percentDecoded(_ s: String) -> String {
        var out: [UInt8] = [], bytes = Array(s.utf8), i = 0
        while i < bytes.count {
            if bytes[i] == 0x25, i + 2 < bytes.count, let h = hex(bytes[i + 1]), let l = hex(bytes[i + 2]) {
                out.append(h << 4 | l)
                i += 3
            } else {
                out.append(bytes[i])
                i += 1
            }
        }
        return text(out[...])
    }

    /// RFC 2045 §6.8, lenient: characters outside the alphabet (line breaks) skipped, padding optional.
    static func base64(_ body: ArraySlice<UInt8>) -> [UInt8] {
        var out: [UInt8] = [], acc: UInt32 = 0, bits = 0
        out.reserveCapacity(body.count * 3 / 4)
        for c in body {
            let v: UInt8
            switch c {
            case 0x41...0x5A: v = c - 0x41
            case 0x61...0x7A: v = c - 0x61 + 26
            case 0x30...0x39: v = c - 0x30 + 52
            case 0x2B, 0x2D: v = 62
            case 0x2F, 0x5F: v = 63
            case 0x3D: return out
            default: continue
            }
            acc = acc << 6 | UInt32(v)
            bits += 6
            if bits >= 8 {
                bits -= 8
                out.append(UInt8(truncatingIfNeeded: acc >> UInt32(bits)))
            }
        }
        return out
    }

    /// RFC 2045 §6.7: `=XX` and soft line breaks (`=` at the end of a line).
    static func quotedPrintable(_ body: ArraySlice<UInt8>) -> [UInt8] {
        var out: [UInt8] = [], i = body.startIndex
        while i < body.endIndex {
            let c = body[i]
            if c == 0x3D, i + 2 < body.endIndex, let h = hex(body[i + 1]), let l = hex(body[i + 2]) {
                out.append(h << 4 | l)
                i += 3
            } else if c == 0x3D, i + 1 < body.endIndex, body[i + 1] == 0x0A {
                i += 2
            } else if c == 0x3D, i + 2 < body.endIndex, body[i + 1] == 0x0D, body[i + 2] == 0x0A {
                i += 3
            } else {
                out.append(c)
                i += 1
            }
        }
        return out
    }

    static func hex(_ c: UInt8) -> UInt8? {
        switch c {
        case 0x30...0x39: c - 0x30
        case 0x41...0x46: c - 0x41 + 10
        case 0x61...0x66: c - 0x61 + 10
        default: nil
        }
    }

    static func trimCR(_ line: ArraySlice<UInt8>) -> ArraySlice<UInt8> { line.last == 0x0D ? line.dropLast() : line }

    /// Without the white space (RFC 5322 WSP: space and tab) at either end. Bytes and characters alike, in pure
    /// Swift: Foundation's `trimmingCharacters(in:)` went through NSString and cost a tenth of a mail's parse.
    static func trimWSP(_ line: ArraySlice<UInt8>) -> ArraySlice<UInt8> {
        let isWSP = { (c: UInt8) in c == 0x20 || c == 0x09 }
        guard let first = line.firstIndex(where: { !isWSP($0) }), let last = line.lastIndex(where: { !isWSP($0) }) else {
            return line[line.endIndex...]
        }
        return line[first...last]
    }

    static func trimWSP<S: StringProtocol>(_ s: S) -> String {
        let isWSP = { (c: Character) in c == " " || c == "\t" }
        guard let first = s.firstIndex(where: { !isWSP($0) }), let last = s.lastIndex(where: { !isWSP($0) }) else {
            return ""
        }
        return String(s[first...last])
    }
    static func text(_ bytes: ArraySlice<UInt8>) -> String { String(decoding: bytes, as: UTF8.self) }
}
