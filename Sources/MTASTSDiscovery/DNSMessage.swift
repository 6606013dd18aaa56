/// A DNS response message (RFC 1035 §4.1), parsed just far enough for the stub resolver of the `trust-ad`
/// mode: the header's RCODE and AD bit and the answer section, with compressed names in MX and CNAME
/// rdata expanded so the result reads like libunbound's rdata. Pure; malformed input gives nil.
public struct DNSMessage: Sendable, Hashable {
    public struct Record: Sendable, Hashable {
        /// Owner name, lowercased, without the trailing dot.
        public var name: String
        public var type: UInt16
        public var ttl: UInt32
        /// Rdata with any domain names uncompressed (MX exchange, CNAME target).
        public var rdata: [UInt8]
    }

    public var id: UInt16
    public var rcode: UInt8
    /// The AD (authentic data) bit (RFC 4035 §3.2.3): the resolver validated every answer.
    public var authenticData: Bool
    public var truncated: Bool
    public var answers: [Record]

    public init?(_ bytes: [UInt8]) {
        guard bytes.count >= 12 else { return nil }
        id = UInt16(bytes[0]) << 8 | UInt16(bytes[1])
        guard bytes[2] & 0x80 != 0 else { return nil }  // QR: a response
        truncated = bytes[2] & 0x02 != 0
        authenticData = bytes[3] & 0x20 != 0
        rcode = bytes[3] & 0x0F
        let qdcount = Int(bytes[4]) << 8 | Int(bytes[5])
        let ancount = Int(bytes[6]) << 8 | Int(bytes[7])
        var offset = 12
        for _ in 0..<qdcount {
            guard let (_, next) = Self.name(bytes, at: offset), next + 4 <= bytes.count else { return nil }
            offset = next + 4
        }
        var answers: [Record] = []
        for _ in 0..<ancount {
            guard let (name, next) = Self.name(bytes, at: offset), next + 10 <= bytes.count else { return nil }
            let type = UInt16(bytes[next]) << 8 | UInt16(bytes[next + 1])
            let ttl = bytes[(next + 4)..<(next + 8)].reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
            let length = Int(bytes[next + 8]) << 8 | Int(bytes[next + 9])
            let start = next + 10
            guard start + length <= bytes.count else { return nil }
            var rdata = Array(bytes[start..<(start + length)])
            switch type {
            case DNSRecordType.cname.rawValue:
                guard let (target, _) = Self.name(bytes, at: start) else { return nil }
                rdata = Self.wire(target)
            case DNSRecordType.mx.rawValue:
                guard length >= 3, let (exchange, _) = Self.name(bytes, at: start + 2) else { return nil }
                rdata = Array(bytes[start..<(start + 2)]) + Self.wire(exchange)
            default:
                break
            }
            answers.append(Record(name: name, type: type, ttl: ttl, rdata: rdata))
            offset = start + length
        }
        self.answers = answers
    }

    /// The answer to a question for `name` and `type`: CNAMEs followed from `name` (in the order the answer
    /// section gives them), then that owner's records of the type.
    public func records(for name: String, _ type: DNSRecordType) -> (records: [Record], canonicalName: String) {
        var owner = name.lowercased()
        if owner.hasSuffix("."), owner.count > 1 { owner.removeLast() }
        var hops = 0
        while hops < 16, let alias = answers.first(where: { $0.name == owner && $0.type == DNSRecordType.cname.rawValue }),
              let target = DNSRecordData.name(alias.rdata[...]) {
            owner = target.lowercased()
            hops += 1
        }
        return (answers.filter { $0.name == owner && $0.type == type.rawValue }, owner)
    }

    /// A possibly compressed name at `offset`: its text (lowercased, no trailing dot; "." for the root) and
    /// the offset just past it in the message (not past any pointer target).
    static func name(_ bytes: [UInt8], at offset: Int) -> (String, Int)? {
        var labels: [String] = []
        var i = offset
        var end: Int? = nil
        var jumps = 0
        var total = 0
        while true {
            guard i < bytes.count else { return nil }
            let n = Int(bytes[i])
            if n == 0 {
                return (labels.isEmpty ? "." : labels.joined(separator: "."), end ?? i + 1)
            }
            if n & 0xC0 == 0xC0 {
                guard i + 1 < bytes.count, jumps < 32 else { return nil }
                if end == nil { end = i + 2 }
                i = (n & 0x3F) << 8 | Int(bytes[i + 1])
                jumps += 1
                continue
            }
            guard n < 64, i + 1 + n <= bytes.count else { return nil }
            total += n + 1
            guard total <= 255 else { return nil }
            labels.append(String(decoding: bytes[(i + 1)..<(i + 1 + n)], as: UTF8.self).lowercased())
            i += 1 + n
        }
    }

    /// A dotted name in uncompressed wire form.
    static func wire(_ name: String) -> [UInt8] {
        guard name != "." else { return [0] }
        var out: [UInt8] = []
        for label in name.split(separator: ".") {
            out.append(UInt8(label.utf8.count))
            out += label.utf8
        }
        return out + [0]
    }
}
