import MTASTSCore
import MTASTSDiscovery
// The probes' values carry the one judgement's ``CertificateReport``; users of the checker see it too.
@_exported import MTASTSCertificates

// The values the probes produce. The rules (CheckRules) turn them into findings without any I/O, so every
// rule is testable with hand-made observations.

/// One TLS handshake as observed (the chain is accepted whatever it is, then judged).
public struct TLSObservation: Sendable, Hashable {
    /// `TLSv1.3`, `TLSv1.2`, ...
    public var version: String
    /// The chain exactly as presented, leaf first (DER).
    public var chainDER: [[UInt8]]
    public var certificate: CertificateReport

    public init(version: String, chainDER: [[UInt8]], certificate: CertificateReport) {
        self.version = version
        self.chainDER = chainDER
        self.certificate = certificate
    }

    /// RFC 8461 §7.2: TLS 1.2 or later.
    public var versionAcceptable: Bool { version == "TLSv1.2" || version == "TLSv1.3" }
}

/// Why a connection gave no TLS session.
public enum ConnectionFailure: Error, Sendable, Hashable {
    case connect(String)
    case timeout(String)
    case handshake(String)
    /// `--public-only`: the address was not contacted.
    case notPublic
}

/// The policy host at one of its addresses: the TLS session, then the strict fetch.
public struct PolicyHostProbe: Sendable {
    public var address: IPAddress
    public var tls: Result<TLSObservation, ConnectionFailure>
    /// The strict fetch at this address alone (nil when not attempted).
    public var fetch: PolicyFetchResult?
    /// The same handshake without SNI (what clients that send none get; RFC 8461 §7.1, checklist C43).
    public var withoutSNI: Result<TLSObservation, ConnectionFailure>?
    public var elapsed: Duration

    public init(address: IPAddress, tls: Result<TLSObservation, ConnectionFailure>, fetch: PolicyFetchResult?,
                withoutSNI: Result<TLSObservation, ConnectionFailure>? = nil, elapsed: Duration) {
        self.address = address
        self.tls = tls
        self.fetch = fetch
        self.withoutSNI = withoutSNI
        self.elapsed = elapsed
    }

    /// The body when this address served a policy.
    public var body: [UInt8]? {
        if case .body(let b)? = fetch?.outcome { return b }
        return nil
    }
}

/// One SMTP STARTTLS session with one MX address.
public struct SMTPProbe: Sendable, Hashable {
    public enum Failure: Error, Sendable, Hashable {
        case connection(ConnectionFailure)
        /// No 220 greeting, EHLO refused, a malformed reply.
        case protocolError(String)
        /// EHLO did not offer STARTTLS.
        case starttlsMissing
        /// STARTTLS was answered with something other than 220.
        case starttlsRefused(String)
        /// Bytes arrived after the 220 to STARTTLS and before the handshake (RFC 3207 §5, CVE-2011-0411 class).
        case injection(String)
    }

    public var address: IPAddress
    public var port: Int
    public var banner: String?
    /// The EHLO keywords offered before TLS.
    public var ehloKeywords: [String]
    public var tls: TLSObservation?
    /// True when EHLO was sent again over TLS and answered 250 (RFC 3207 §4.2).
    public var ehloAfterTLS: Bool
    public var failure: Failure?
    /// The STARTTLS handshake again without SNI: SMTP servers must not require it (RFC 8461 §7.1).
    public var withoutSNI: Result<TLSObservation, ConnectionFailure>?
    public var elapsed: Duration

    public init(address: IPAddress, port: Int, banner: String? = nil, ehloKeywords: [String] = [], tls: TLSObservation? = nil,
                ehloAfterTLS: Bool = false, failure: Failure? = nil, elapsed: Duration = .zero) {
        self.address = address
        self.port = port
        self.banner = banner
        self.ehloKeywords = ehloKeywords
        self.tls = tls
        self.ehloAfterTLS = ehloAfterTLS
        self.failure = failure
        self.elapsed = elapsed
    }
}

/// An MX host: its DNS data and one probe per address.
public struct MXObservation: Sendable {
    public var host: DomainName
    public var preference: UInt16
    public var addresses: [IPAddress]
    /// A/AAAA lookup failures ("A: SERVFAIL").
    public var addressFailures: [String]
    public var probes: [SMTPProbe]
    /// The last addresses, not probed: over the limit of addresses per domain (``SMTPLimits/addressesPerDomain``).
    public var unprobed: [IPAddress]

    public init(host: DomainName, preference: UInt16, addresses: [IPAddress] = [], addressFailures: [String] = [],
                probes: [SMTPProbe] = [], unprobed: [IPAddress] = []) {
        self.host = host
        self.preference = preference
        self.addresses = addresses
        self.addressFailures = addressFailures
        self.probes = probes
        self.unprobed = unprobed
    }
}

/// Everything the probes learned about one domain: the input of ``CheckRules/evaluate(_:)``.
public struct Observations: Sendable {
    public var domain: DomainName
    /// Unix seconds when the check ran (certificate expiry is judged against it).
    public var now: Int64
    public var publicOnly: Bool
    public var txt: DNSAnswer
    /// The CNAME chain from `_mta-sts.DOMAIN` to the name holding the record, one hop per entry (empty: no CNAME).
    public var txtChain: [String] = []
    /// The apex TXT RRset, asked only when `_mta-sts` has no record (a record published at the wrong name).
    public var apexTXT: DNSAnswer?
    public var hostAnswers: [DNSRecordType: DNSAnswer]
    public var hostProbes: [PolicyHostProbe]
    /// The MX RRset, as the one DNS path answers it.
    public var mx: DNSAnswer
    public var mxHosts: [MXObservation]
    public var tlsrpt: DNSAnswer
    /// What a DANE-aware sender finds (MX RRset DNSSEC state, TLSA per MX host); nil with DNSSEC off.
    public var dane: DANEStatus?
    public var elapsed: Duration

    public init(domain: DomainName, now: Int64, publicOnly: Bool = false, txt: DNSAnswer, apexTXT: DNSAnswer? = nil,
                hostAnswers: [DNSRecordType: DNSAnswer] = [:], hostProbes: [PolicyHostProbe] = [], mx: DNSAnswer,
                mxHosts: [MXObservation] = [], tlsrpt: DNSAnswer, dane: DANEStatus? = nil, elapsed: Duration = .zero) {
        self.domain = domain
        self.now = now
        self.publicOnly = publicOnly
        self.txt = txt
        self.apexTXT = apexTXT
        self.hostAnswers = hostAnswers
        self.hostProbes = hostProbes
        self.mx = mx
        self.mxHosts = mxHosts
        self.tlsrpt = tlsrpt
        self.dane = dane
        self.elapsed = elapsed
    }
}

extension ConnectionFailure: CustomStringConvertible {
    public var description: String {
        switch self {
        case .connect(let why): "could not connect: \(why)"
        case .timeout(let stage): "timed out \(stage)"
        case .handshake(let why): "TLS handshake failed: \(why)"
        case .notPublic: "not a public address (--public-only)"
        }
    }
}

extension SMTPProbe.Failure: CustomStringConvertible {
    public var description: String {
        switch self {
        case .connection(let c): c.description
        case .protocolError(let why): why
        case .starttlsMissing: "STARTTLS not offered"
        case .starttlsRefused(let reply): "STARTTLS refused: \(reply)"
        case .injection(let bytes): "plaintext after STARTTLS: \(bytes)"
        }
    }
}
