/// Matching a certificate's DNS names against a host, as RFC 8461 requires for the policy host (§3.3) and
/// for MX hosts (§4.2): subject alternative name DNS-IDs only (the subject CN is never consulted,
/// RFC 9525 §6.3), case-insensitive, and a wildcard only as the complete leftmost label matching exactly
/// one label (`*.example.com` matches `mta-sts.example.com`, not `example.com` nor `a.b.example.com`;
/// `mta*.example.com` matches nothing). A wildcard directly above a top-level domain (`*.com`) matches
/// nothing either.
public enum CertificateIdentity {
    /// True when any of `dnsNames` (the certificate's SAN dNSName entries) covers `host`.
    public static func covers(_ dnsNames: [String], host: DomainName) -> Bool {
        dnsNames.contains { matches($0, host: host) }
    }

    /// True when one presented DNS-ID covers `host`.
    public static func matches(_ dnsName: String, host: DomainName) -> Bool {
        var bytes = Array(dnsName.utf8)
        guard !bytes.isEmpty, bytes.allSatisfy({ $0 < 0x80 }) else { return false }  // A-labels (IA5String) only
        if bytes.last == ASCII.dot { bytes.removeLast() }
        bytes = bytes.map(ASCII.lowercased)
        if bytes.starts(with: [ASCII.asterisk, ASCII.dot]) {
            let base = Array(bytes.dropFirst(2))
            guard DomainName.ldhProblem(base) == nil, base.contains(ASCII.dot) else { return false }
            let h = Array(host.value.utf8)
            guard let dot = h.firstIndex(of: ASCII.dot) else { return false }
            return h[(dot + 1)...].elementsEqual(base)
        }
        guard !bytes.contains(ASCII.asterisk) else { return false }
        return bytes.elementsEqual(host.value.utf8)
    }
}
