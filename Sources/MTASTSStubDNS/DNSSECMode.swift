import Foundation
import MTASTSDiscovery

/// Where DNSSEC trust comes from (docs/dane.md). It decides whether DANE can be seen at all.
public enum DNSSECMode: String, Sendable, Hashable, CaseIterable {
    /// Believe the AD bit of the configured resolvers — the trust Postfix's own DANE uses (the default).
    case trustAD = "trust-ad"
    /// libunbound validates locally from a trust anchor (Debian's root key, or `--dns-trust-anchor`).
    case validate
    /// No DNSSEC: DANE is never detected, replies are MTA-STS only.
    case off

    /// Debian's `dns-root-data` root key, the anchor of `validate` when none is given.
    public static let rootAnchorFile = "/usr/share/dns/root.key"

    public struct SetupError: Error, CustomStringConvertible { public let description: String }

    /// The mode and the anchor libunbound loads, from what the operator gave: a trust anchor alone selects
    /// `validate`; `validate` alone uses the root key; `trust-ad` with an anchor is a contradiction.
    public static func resolve(mode: DNSSECMode?, anchor: String?) throws(SetupError) -> (mode: DNSSECMode, anchor: String?) {
        switch (mode, anchor) {
        case (nil, nil): return (.trustAD, nil)
        case (nil, let anchor?): return (.validate, anchor)
        case (.validate, nil):
            guard FileManager.default.isReadableFile(atPath: rootAnchorFile) else {
                throw SetupError(description: "dnssec validate needs a trust anchor: \(rootAnchorFile) is missing (apt install dns-root-data) and none was given (--dns-trust-anchor)")
            }
            return (.validate, rootAnchorFile)
        case (.trustAD, _?):
            throw SetupError(description: "a trust anchor selects dnssec validate; it cannot be used with dnssec trust-ad")
        case (let mode?, let anchor):
            return (mode, anchor)
        }
    }

    /// The resolver that answers the DANE-deciding questions (MX, TLSA) in this mode: the AD-trusting stub
    /// for `trust-ad` (asking the first configured server, or resolv.conf's), the validating `main` resolver
    /// for `validate`, none for `off`.
    public func daneResolver(main: any DNSResolver, servers: [String], timeout: Duration) throws(SetupError) -> (any DNSResolver)? {
        switch self {
        case .off: return nil
        case .validate: return main
        case .trustAD:
            do { return try ADTrustingResolver(server: servers.first, timeout: timeout) } catch {
                throw SetupError(description: error.description)
            }
        }
    }

    /// A startup check, as one log line and whether it passed: in `trust-ad` mode, does the resolver set the
    /// AD bit for a signed name; in `validate` mode, does the upstream serve the DNSSEC data the anchor needs.
    public func selfCheck(dane: any DNSResolver, anchor: String?) async -> (ok: Bool, message: String) {
        switch self {
        case .off:
            return (true, "DNSSEC off: DANE is not detected; replies follow MTA-STS only")
        case .trustAD:
            let answer = await dane.query(".", .dnskey)
            if answer.dnssec == .secure, case .records = answer.result {
                return (true, "DNSSEC trust-ad: the resolver validates (AD set for the root DNSKEY); DANE domains get dane replies")
            }
            return (false, "DNSSEC trust-ad: the resolver did not set the AD bit for the root DNSKEY (\(Self.summary(answer))): unless it validates the zones of your recipients, DANE is not detected and MTA-STS applies")
        case .validate:
            let zone = anchor.flatMap(Self.anchorZone) ?? "."
            let answer = await dane.query(zone, .dnskey)
            if answer.dnssec == .secure, case .records = answer.result {
                return (true, "DNSSEC validate: trust anchor for \(zone) verified against the upstream's DNSKEY")
            }
            return (false, "DNSSEC validate: the DNSKEY of \(zone) did not validate (\(Self.summary(answer))): does the upstream serve DNSSEC data (RRSIGs)? Signed answers will be bogus")
        }
    }

    private static func summary(_ answer: DNSAnswer) -> String {
        switch answer.result {
        case .records: "\(answer.dnssec)"
        case .nxdomain: "NXDOMAIN"
        case .nodata: "no DNSKEY"
        case .failure(let why): why
        }
    }

    /// The owner name of the first record in a DS/DNSKEY anchor file.
    static func anchorZone(_ path: String) -> String? {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return nil }
        for line in text.split(separator: "\n") {
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            guard !trimmed.isEmpty, !trimmed.hasPrefix(";"),
                  let owner = trimmed.split(whereSeparator: { $0 == " " || $0 == "\t" }).first else { continue }
            return String(owner)
        }
        return nil
    }
}
