import MTASTSCore

/// The DNS record types the toolkit asks for.
public enum DNSRecordType: UInt16, Sendable, CustomStringConvertible {
    case a = 1, cname = 5, mx = 15, txt = 16, aaaa = 28, dnskey = 48, tlsa = 52

    public var description: String {
        switch self {
        case .a: "A"
        case .cname: "CNAME"
        case .mx: "MX"
        case .txt: "TXT"
        case .aaaa: "AAAA"
        case .dnskey: "DNSKEY"
        case .tlsa: "TLSA"
        }
    }
}

/// What DNSSEC says about an answer.
public enum DNSSECStatus: Hashable, Sendable, CustomStringConvertible {
    /// Validated from a trust anchor (or, in trust-ad mode, the resolver's AD bit).
    case secure
    /// Not signed, or no trust anchor covers it.
    case insecure
    /// Signed but failed validation. Its data must never be used.
    case bogus(reason: String)

    public var description: String {
        switch self {
        case .secure: "secure"
        case .insecure: "insecure"
        case .bogus: "bogus"
        }
    }
}

/// One DNS answer, typed so callers cannot confuse "does not exist" with "could not find out".
public struct DNSAnswer: Sendable, Hashable {
    public enum Result: Sendable, Hashable {
        /// The RRset's records, as raw rdata (names uncompressed). Never empty.
        case records([[UInt8]])
        /// The name does not exist (NXDOMAIN).
        case nxdomain
        /// The name exists but has no records of the type (NODATA).
        case nodata
        /// SERVFAIL, REFUSED, a timeout or a bogus DNSSEC answer: the truth is unknown, try later.
        case failure(String)
    }

    public var result: Result
    /// Seconds the answer may be cached (the RRset's TTL, or the negative TTL).
    public var ttl: UInt32
    public var dnssec: DNSSECStatus
    /// The name the answer belongs to after following CNAMEs, when it differs from the name asked.
    public var canonicalName: String?

    public init(_ result: Result, ttl: UInt32 = 0, dnssec: DNSSECStatus = .insecure, canonicalName: String? = nil) {
        self.result = result
        self.ttl = ttl
        self.dnssec = dnssec
        self.canonicalName = canonicalName
    }
}

/// The one way DNS is asked, everywhere in the toolkit (TXT, MX, A, AAAA, TLSA). Implementations follow
/// CNAMEs, keep the DNSSEC status, never return the data of a bogus answer, and bound every query by
/// their own deadline (a failure, not a hang, when it passes).
public protocol DNSResolver: Sendable {
    /// - Parameters:
    ///   - name: a fully qualified name in A-label form, with or without the trailing dot.
    ///   - type: the record type.
    func query(_ name: String, _ type: DNSRecordType) async -> DNSAnswer
}
