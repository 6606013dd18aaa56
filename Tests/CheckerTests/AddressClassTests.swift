import Foundation
import MTASTSDiscovery
import Testing
@testable import MTASTSChecker

@Suite("--public-only: address classes")
struct AddressClassTests {
    /// An address in text form (inet_pton), as the tables below write them.
    static func address(_ text: String) -> IPAddress {
        var v4 = in_addr(), v6 = in6_addr()
        if inet_pton(AF_INET, text, &v4) == 1 { return IPAddress(bytes: withUnsafeBytes(of: &v4) { Array($0) })! }
        precondition(inet_pton(AF_INET6, text, &v6) == 1, text)
        return IPAddress(bytes: withUnsafeBytes(of: &v6) { Array($0) })!
    }

    @Test("Which addresses count as public (one range a line, with its reason)", arguments: [
        ("8.8.8.8", true), ("192.0.2.1", true), ("172.32.0.1", true), ("2a00:1450::1", true),
        ("127.0.5.1", false),  // loopback
        ("10.1.2.3", false), ("172.16.0.1", false), ("192.168.1.1", false),  // RFC 1918
        ("169.254.1.1", false), ("100.64.0.1", false), ("0.0.0.0", false), ("198.18.0.1", false),
        ("224.0.0.1", false), ("255.255.255.255", false),
        ("192.0.0.1", false), ("192.0.0.170", false),  // 192.0.0.0/24 IETF protocol assignments
        ("::1", false), ("::", false), ("fe80::1", false), ("fec0::1", false), ("fd00::1", false), ("ff02::1", false),
        ("2001:db8::1", false), ("100::1", false),
        ("::ffff:127.0.0.1", false), ("::ffff:8.8.8.8", true),  // IPv4-mapped: the IPv4 address decides
        ("::10.0.0.1", false), ("::8.8.8.8", true),  // IPv4-compatible (deprecated)
        ("64:ff9b::7f00:1", false), ("64:ff9b::a00:1", false), ("64:ff9b::c0a8:101", false),  // NAT64 of loopback, RFC 1918
        ("64:ff9b::808:808", true),  // NAT64 of 8.8.8.8
        ("64:ff9b:1::a00:1", false),  // local-use NAT64 prefix (RFC 8215)
        ("2002:a00:1::", false), ("2002:7f00:1::1", false), ("2002:a9fe:101::", false),  // 6to4 of RFC 1918, loopback, link-local
        ("2002:808:808::1", true),  // 6to4 of 8.8.8.8
    ] as [(String, Bool)])
    func publicAddresses(_ text: String, _ expected: Bool) {
        #expect(Self.address(text).isPublic == expected)
    }

    @Test("The embedded IPv4 address of each IPv6 form that carries one", arguments: [
        ("::ffff:192.0.2.7", "192.0.2.7"), ("::192.0.2.7", "192.0.2.7"), ("64:ff9b::c000:207", "192.0.2.7"),
        ("2002:c000:207:1::2", "192.0.2.7"), ("2a00:1450::1", nil), ("64:ff9b:1::c000:207", nil), ("192.0.2.7", nil),
    ] as [(String, String?)])
    func embedded(_ text: String, _ expected: String?) {
        #expect(Self.address(text).embeddedIPv4?.description == expected)
    }
}
