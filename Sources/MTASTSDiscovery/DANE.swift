import MTASTSCore

/// A TLSA record (RFC 6698 §2.1).
public struct TLSARecord: Sendable, Hashable, CustomStringConvertible {
    public var usage: UInt8
    public var selector: UInt8
    public var matchingType: UInt8
    public var data: [UInt8]

    public init(usage: UInt8, selector: UInt8, matchingType: UInt8, data: [UInt8]) {
        self.usage = usage
        self.selector = selector
        self.matchingType = matchingType
        self.data = data
    }

    public init?(rdata: [UInt8]) {
        guard rdata.count >= 4 else { return nil }
        self.init(usage: rdata[0], selector: rdata[1], matchingType: rdata[2], data: Array(rdata[3...]))
    }

    /// Usable for SMTP (RFC 7672 §3.1): DANE-TA(2) or DANE-EE(3) — PKIX-TA(0) and PKIX-EE(1) are not used
    /// with SMTP —, selector Cert(0) or SPKI(1), matching type Full(0), SHA2-256(1) or SHA2-512(2) with a
    /// digest of the right length. A host whose TLSA records are all unusable has no DANE authentication.
    public var isUsable: Bool {
        guard usage == 2 || usage == 3, selector <= 1, !data.isEmpty else { return false }
        switch matchingType {
        case 0: return true
        case 1: return data.count == 32
        case 2: return data.count == 64
        default: return false
        }
    }

    /// Presentation form, as `dig` prints it: `3 1 1 ab12…`.
    public var description: String {
        "\(usage) \(selector) \(matchingType) " + data.map { String($0, radix: 16, uppercase: false).leftPadded(2) }.joined()
    }
}

extension String {
    fileprivate func leftPadded(_ width: Int) -> String { String(repeating: "0", count: max(0, width - count)) + self }
}

/// Whether DANE (RFC 7672) governs delivery to a domain, and so whether MTA-STS may apply at all:
/// RFC 8461 §2 — a sender MUST NOT let MTA-STS override a failing DANE validation.
public struct DANEStatus: Sendable, Hashable {
    /// What a sender does for the domain.
    public enum Regime: String, Sendable, Hashable {
        /// DANE applies: at least one MX host has usable TLSA records in a DNSSEC-secure MX RRset. The
        /// sender authenticates by TLSA, never by the MTA-STS policy.
        case dane
        /// DANE does not apply (insecure MX RRset, or no MX host with usable TLSA): MTA-STS as usual.
        case mtaSTS = "mta-sts"
        /// The DNSSEC answers needed to decide are bogus or failed, so DANE may apply but cannot be
        /// evaluated: the mail must wait (RFC 7672 §2.2: a failed TLSA lookup is not "no TLSA").
        case deferred
    }

    /// The MX RRset's DNSSEC state.
    public enum MXState: Sendable, Hashable {
        case secure, insecure
        /// No MX RRset usable (NXDOMAIN, lookup failure): the sender's own MX lookup decides.
        case unavailable(String)
        case bogus(String)
    }

    /// One MX host's TLSA state (`_25._tcp.<host>`).
    public enum TLSAState: Sendable, Hashable {
        /// Secure TLSA RRset with at least one usable record (all records kept).
        case usable([TLSARecord])
        /// Secure TLSA RRset whose records are all unusable for SMTP.
        case unusable([TLSARecord])
        /// No TLSA records (secure or insecure denial), or an insecure TLSA RRset.
        case none(String)
        /// The lookup failed or the answer is bogus: DANE may apply to this host but cannot be evaluated.
        case failed(String)
        /// Not looked up (the MX RRset is not secure, so TLSA records could not be trusted anyway).
        case notChecked
    }

    public struct Host: Sendable, Hashable {
        public var name: String
        public var preference: UInt16
        public var tlsa: TLSAState

        public init(name: String, preference: UInt16, tlsa: TLSAState) {
            self.name = name
            self.preference = preference
            self.tlsa = tlsa
        }
    }

    public var regime: Regime
    public var mx: MXState
    public var hosts: [Host]
    /// One line for logs and `lookup`: why this regime.
    public var reason: String
    /// How long the DNS answers behind this status may be trusted (the smallest TTL seen).
    public var ttl: UInt32

    public init(regime: Regime, mx: MXState, hosts: [Host], reason: String, ttl: UInt32) {
        self.regime = regime
        self.mx = mx
        self.hosts = hosts
        self.reason = reason
        self.ttl = ttl
    }

    /// The most MX hosts whose TLSA records are looked up (more is abuse or a mistake; Postfix itself tries
    /// few addresses per delivery).
    public static let maxHosts = 16

    /// The TLSA owner name for an MX host on port 25 (RFC 7672 §2.2.2).
    public static func tlsaName(_ host: String) -> String { "_25._tcp." + host }

    /// The rules, as a pure function of the answers: `mx` for the domain's MX question, `tlsa` by MX host.
    ///
    /// - MX bogus → deferred (the MX list itself cannot be trusted).
    /// - MX not secure (insecure, NXDOMAIN, failure) → MTA-STS (RFC 7672 §2.2.1: DANE needs a secure MX RRset;
    ///   an MX failure also stops the sender's own delivery, which then retries).
    /// - MX secure: any host with usable TLSA → DANE. Otherwise any host whose TLSA lookup failed or is
    ///   bogus → deferred. Otherwise (no TLSA, only unusable TLSA, insecure TLSA) → MTA-STS.
    /// A secure NODATA MX answer means the domain itself is the host (implicit MX, RFC 5321 §5.1).
    public static func evaluate(domain: DomainName, mx: DNSAnswer, tlsa: [String: DNSAnswer]) -> DANEStatus {
        var ttl = mx.ttl
        let mxState: MXState
        let hosts: [(name: String, preference: UInt16)]
        if case .bogus(let why) = mx.dnssec {
            return DANEStatus(regime: .deferred, mx: .bogus(why), hosts: [],
                              reason: "the MX RRset of \(domain) is DNSSEC-bogus (\(why)): no MX host can be trusted", ttl: ttl)
        }
        switch mx.result {
        case .records, .nodata:
            hosts = mxHosts(domain, mx)
            mxState = mx.dnssec == .secure ? .secure : .insecure
        case .nxdomain:
            return DANEStatus(regime: .mtaSTS, mx: .unavailable("NXDOMAIN"), hosts: [], reason: "\(domain) does not exist (NXDOMAIN)", ttl: ttl)
        case .failure(let why):
            return DANEStatus(regime: .mtaSTS, mx: .unavailable(why), hosts: [],
                              reason: "the MX lookup failed (\(why)); the sender's own MX lookup decides", ttl: ttl)
        }
        guard mxState == .secure else {
            return DANEStatus(regime: .mtaSTS, mx: mxState, hosts: hosts.map { Host(name: $0.name, preference: $0.preference, tlsa: .notChecked) },
                              reason: "the MX RRset is not DNSSEC-signed: DANE does not apply", ttl: ttl)
        }
        var checked: [Host] = []
        for host in hosts {
            let state: TLSAState
            if let answer = tlsa[host.name] {
                ttl = min(ttl, answer.ttl)
                state = Self.state(answer)
            } else {
                state = .failed("not looked up")
            }
            checked.append(Host(name: host.name, preference: host.preference, tlsa: state))
        }
        let usable = checked.filter { if case .usable = $0.tlsa { true } else { false } }
        let failed = checked.filter { if case .failed = $0.tlsa { true } else { false } }
        let regime: Regime
        let reason: String
        if !usable.isEmpty {
            regime = .dane
            let names = usable.map(\.name).joined(separator: ", ")
            reason = usable.count == checked.count
                ? "DANE: secure MX RRset and usable TLSA records for every MX host (\(names))"
                : "DANE: secure MX RRset and usable TLSA records for \(names); \(checked.count - usable.count) other MX host(s) have none"
        } else if let first = failed.first, case .failed(let why) = first.tlsa {
            regime = .deferred
            reason = "the TLSA lookup for \(tlsaName(first.name)) failed (\(why)) under a secure MX RRset: DANE may apply but cannot be evaluated"
        } else {
            regime = .mtaSTS
            reason = "secure MX RRset but no MX host has usable TLSA records: DANE does not apply"
        }
        return DANEStatus(regime: regime, mx: .secure, hosts: checked, reason: reason, ttl: ttl)
    }

    /// The MX hosts in preference order (at most ``maxHosts``; the null MX "." dropped); for a NODATA answer
    /// the domain itself (implicit MX, RFC 5321 §5.1).
    static func mxHosts(_ domain: DomainName, _ mx: DNSAnswer) -> [(name: String, preference: UInt16)] {
        switch mx.result {
        case .records(let rdata):
            let hosts = rdata.compactMap(DNSRecordData.mx).filter { $0.host != "." }.map { (name: $0.host.lowercased(), preference: $0.preference) }
            return Array(hosts.sorted { ($0.preference, $0.name) < ($1.preference, $1.name) }.prefix(maxHosts))
        case .nodata:
            return [(domain.value, 0)]
        case .nxdomain, .failure:
            return []
        }
    }

    private static func state(_ answer: DNSAnswer) -> TLSAState {
        if case .bogus(let why) = answer.dnssec { return .failed("DNSSEC bogus: \(why)") }
        switch answer.result {
        case .nxdomain, .nodata:
            return .none(answer.dnssec == .secure ? "no TLSA records (secure denial)" : "no TLSA records")
        case .failure(let why):
            return .failed(why)
        case .records(let rdata):
            guard answer.dnssec == .secure else { return .none("TLSA records are not DNSSEC-signed, so unusable") }
            let records = rdata.compactMap(TLSARecord.init(rdata:))
            return records.contains(where: \.isUsable) ? .usable(records) : .unusable(records)
        }
    }

    /// Asks `resolver` for the domain's MX RRset and, when it is secure, each host's TLSA RRset (in parallel),
    /// then applies ``evaluate(domain:mx:tlsa:)``.
    public static func lookup(_ domain: DomainName, resolver: any DNSResolver) async -> DANEStatus {
        let mx = await resolver.query(domain.value, .mx)
        let names = mx.dnssec == .secure ? Set(mxHosts(domain, mx).map(\.name)) : []
        let answers = await withTaskGroup(of: (String, DNSAnswer).self) { group in
            for name in names {
                group.addTask { (name, await resolver.query(tlsaName(name), .tlsa)) }
            }
            var all: [String: DNSAnswer] = [:]
            for await (name, answer) in group { all[name] = answer }
            return all
        }
        return evaluate(domain: domain, mx: mx, tlsa: answers)
    }
}
