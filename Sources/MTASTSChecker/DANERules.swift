import Crypto
import MTASTSCore
import MTASTSDiscovery
import SwiftASN1
import X509

/// Whether a presented chain matches TLSA records (RFC 6698 §2.1; for SMTP, RFC 7672 §3.1).
public enum TLSAMatcher {
    /// The first usable record that the chain (DER, leaf first) satisfies, or nil. DANE-EE(3) is matched
    /// against the leaf alone (names and dates are not checked, RFC 7672 §3.1.1); DANE-TA(2) against the
    /// certificates above the leaf (the trust anchor must be in the presented chain, RFC 7672 §3.1.2).
    public static func match(_ records: [TLSARecord], chain: [[UInt8]]) -> TLSARecord? {
        for record in records where record.isUsable {
            let candidates = record.usage == 3 ? Array(chain.prefix(1)) : Array(chain.dropFirst())
            for der in candidates {
                guard let selected = select(der, record.selector), let digest = digest(selected, record.matchingType) else { continue }
                if digest == record.data { return record }
            }
        }
        return nil
    }

    /// Selector 0: the whole certificate; 1: its SubjectPublicKeyInfo (DER).
    static func select(_ der: [UInt8], _ selector: UInt8) -> [UInt8]? {
        if selector == 0 { return der }
        guard selector == 1, let certificate = try? Certificate(derEncoded: der) else { return nil }
        var serializer = DER.Serializer()
        guard (try? serializer.serialize(certificate.publicKey)) != nil else { return nil }
        return serializer.serializedBytes
    }

    /// Matching type 0: the data itself; 1: SHA2-256; 2: SHA2-512.
    static func digest(_ data: [UInt8], _ matchingType: UInt8) -> [UInt8]? {
        switch matchingType {
        case 0: data
        case 1: Array(SHA256.hash(data: data))
        case 2: Array(SHA512.hash(data: data))
        default: nil
        }
    }
}

/// One MX host's DANE result as `check` reports it: its TLSA state and, per probed address, whether the
/// certificate presented there matches (nil when nothing was presented or there is no usable record).
public struct DANEHostCheck: Sendable, Hashable {
    public var tlsa: DANEStatus.TLSAState
    public var matches: [(address: IPAddress, matched: TLSARecord?)]

    public static func == (a: Self, b: Self) -> Bool {
        a.tlsa == b.tlsa && a.matches.map(\.address) == b.matches.map(\.address) && a.matches.map(\.matched) == b.matches.map(\.matched)
    }
    public func hash(into h: inout Hasher) { h.combine(tlsa) }
}

extension CheckRules {
    /// DANE takes precedence (RFC 8461 §2): what a DANE-aware sender does with the domain, and whether each
    /// MX certificate matches its TLSA records.
    static func daneFindings(_ o: Observations, into f: inout [Finding]) -> [DomainName: DANEHostCheck] {
        guard let dane = o.dane else { return [:] }
        let domain = o.domain.value
        if case .bogus(let why) = dane.mx {
            f.append(Finding(.daneMXBogus, nil, domain, "the MX RRset fails DNSSEC validation (\(why)): DANE-aware senders cannot trust any MX and defer",
                             fix: "re-sign the zone (expired signatures, a changed DS/DNSKEY) and check it with `delv MX \(domain)`"))
            return [:]
        }
        var checks: [DomainName: DANEHostCheck] = [:]
        for host in dane.hosts {
            guard let name = try? DomainName(host.name) else { continue }
            let probes = o.mxHosts.first { $0.host == name }?.probes ?? []
            var matches: [(IPAddress, TLSARecord?)] = []
            let subject = DANEStatus.tlsaName(host.name)
            switch host.tlsa {
            case .usable(let records):
                for probe in probes {
                    guard let chain = probe.tls?.chainDER, !chain.isEmpty else { continue }
                    let matched = TLSAMatcher.match(records, chain: chain)
                    matches.append((probe.address, matched))
                    if matched == nil {
                        f.append(Finding(.daneTLSAMismatch, nil, "\(host.name) \(probe.address)",
                                         "the certificate presented matches none of the TLSA records of \(subject) (\(records.map(\.description).joined(separator: "; "))): DANE-aware senders do not deliver to this address",
                                         fix: "publish the TLSA record of the key in use (`3 1 1` + SHA-256 of its SubjectPublicKeyInfo) before rolling keys, or serve the key the record names"))
                    }
                }
            case .unusable(let records):
                f.append(Finding(.daneTLSAUnusable, nil, subject,
                                 "TLSA records exist but none is usable for SMTP (\(records.map(\.description).joined(separator: "; "))): DANE-aware senders treat \(host.name) as without DANE",
                                 fix: "publish DANE-EE `3 1 1` (or DANE-TA `2 x x`) records; PKIX-TA/PKIX-EE (0, 1) are not used for SMTP (RFC 7672 §3.1.3)"))
            case .failed(let why):
                f.append(Finding(.daneTLSAFailed, nil, subject,
                                 "the TLSA lookup failed under a DNSSEC-secure MX RRset (\(why)): DANE-aware senders cannot tell whether DANE applies and defer mail to \(host.name)",
                                 fix: "make the zone of \(host.name) answer TLSA queries with valid DNSSEC (a signed NODATA if there are no records)"))
            case .none, .notChecked:
                break
            }
            checks[name] = DANEHostCheck(tlsa: host.tlsa, matches: matches)
        }
        if dane.regime == .dane {
            let failing = checks.filter { $0.value.matches.contains { $0.matched == nil } }.map(\.key.value).sorted()
            f.append(Finding(.daneApplies, nil, domain,
                             "DANE applies (\(dane.reason)): DANE-aware senders authenticate the MX hosts by their TLSA records and MTA-STS does not override that"
                                + (failing.isEmpty ? "" : "; they cannot deliver to \(failing.joined(separator: ", "))"),
                             fix: nil))
        }
        return checks
    }
}
