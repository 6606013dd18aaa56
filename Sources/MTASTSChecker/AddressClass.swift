import MTASTSDiscovery

// `--public-only`: which addresses a checker run as a service may connect to. It must not be a way into the
// network it runs in (SSRF), so every special-purpose range of the IANA registries (RFC 6890) that is not
// globally reachable is refused, and an IPv6 address that carries an IPv4 address is judged by that IPv4
// address: a NAT64 gateway, a 6to4 relay or the kernel (IPv4-mapped) delivers to it.

extension IPAddress {
    /// False for loopback, private (RFC 1918, RFC 4193), link-local, CGNAT, unspecified, multicast and other
    /// special-purpose ranges, and for IPv6 forms of such IPv4 addresses (``embeddedIPv4``).
    public var isPublic: Bool {
        if let v4 = embeddedIPv4 { return v4.isPublic }
        let b = bytes
        if !isIPv6 {
            switch (b[0], b[1], b[2]) {
            case (0, _, _), (10, _, _), (127, _, _), (169, 254, _), (192, 168, _), (255, _, _): return false
            case (172, 16...31, _), (100, 64...127, _), (198, 18...19, _): return false
            case (192, 0, 0): return false  // IETF protocol assignments (RFC 6890 §2.2.2), e.g. DS-Lite's 192.0.0.0/29
            case (224...239, _, _), (240...254, _, _): return false
            default: return true
            }
        }
        if b[0..<6].elementsEqual([0, 0x64, 0xFF, 0x9B, 0, 1]) { return false }  // 64:ff9b:1::/48 local-use NAT64 (RFC 8215)
        if b[0] == 0x01 && b[1] == 0 && b[2..<8].allSatisfy({ $0 == 0 }) { return false }  // 100::/64 discard-only (RFC 6666)
        if b[0] & 0xFE == 0xFC { return false }  // fc00::/7 unique local (RFC 4193)
        if b[0] == 0xFE && b[1] & 0x80 == 0x80 { return false }  // fe80::/10 link-local, fec0::/10 former site-local (RFC 3879)
        if b[0] == 0xFF { return false }  // multicast
        if b[0] == 0x20 && b[1] == 0x01 && b[2] == 0x0D && b[3] == 0xB8 { return false }  // documentation (RFC 3849)
        return true
    }

    /// The IPv4 address an IPv6 address stands for, when it has one of the forms that carry one:
    /// IPv4-mapped `::ffff:0:0/96` and IPv4-compatible `::/96` (RFC 4291 §2.5.5; `::` and `::1` are in it
    /// and stand for 0.0.0.0 and 0.0.0.1, neither public), NAT64's well-known prefix `64:ff9b::/96`
    /// (RFC 6052 §2.1) and 6to4 `2002::/16` (RFC 3056 §2, the IPv4 address in bits 16–47).
    public var embeddedIPv4: IPAddress? {
        guard isIPv6 else { return nil }
        let b = bytes
        let lowTail = Array(b[12..<16])
        if b[0..<10].allSatisfy({ $0 == 0 }) && ((b[10] == 0xFF && b[11] == 0xFF) || (b[10] == 0 && b[11] == 0)) {
            return IPAddress(bytes: lowTail)
        }
        if b[0..<12].elementsEqual([0, 0x64, 0xFF, 0x9B, 0, 0, 0, 0, 0, 0, 0, 0]) { return IPAddress(bytes: lowTail) }
        if b[0] == 0x20 && b[1] == 0x02 { return IPAddress(bytes: Array(b[2..<6])) }
        return nil
    }
}
