import Foundation
import Logging
import MTASTSACME
import MTASTSCore
import MTASTSDiscovery
@testable import MTASTSPolicyHost
import NIOCore
import Testing
import TestSupport

/// The client and the policy host together against pebble: pebble validates tls-alpn-01 on the policy host's own
/// HTTPS listener (its `acme-tls/1` handshakes answered from `PolicyHost.challenges`), and the issued certificate,
/// swapped in with `PolicyHost.certificates`, is what the next handshake for the name gets.
@Suite(.serialized) struct PolicyHostTLSALPNTests {
    /// The policy host's challenge registry as the client's responder (what the coming lifecycle does).
    struct Responder: ACMEChallengeResponder {
        let challenges: ChallengeCertificates
        func present(type: String, name: String, token: String, keyAuthorization: String) async throws {
            let c = try TLSALPNChallenge.certificate(for: name, keyAuthorization: keyAuthorization)
            try challenges.set(name: name, certificatePEM: c.certificatePEM, keyPEM: c.privateKeyPEM)
        }
        func remove(type: String, name: String, token: String) async { challenges.remove(name: name) }
    }

    struct NoNetwork: DNSResolver, PolicyFetcher {
        func query(_ name: String, _ type: DNSRecordType) async -> DNSAnswer { DNSAnswer(.failure("not asked")) }
        func fetch(host: DomainName, addresses: [IPAddress]) async -> PolicyFetchResult {
            PolicyFetchResult(.failure(FetchFailure(code: .connectFailed, message: "not asked")), attempts: [])
        }
    }

    @Test func pebbleValidatesOnThePolicyHostsListenerAndTheIssuedCertificateIsServed() async throws {
        let testbed = try Testbed.shared()
        let certs = (testbed.caFile as NSString).deletingLastPathComponent + "/certs"
        let pebble = try await offPool { try Pebble(dnsServer: testbed.dnsServer) }
        defer { pebble.stop() }
        // mta-sts.deflt.host.test is 127.0.4.1 in the test world's DNS: the listener is there, on pebble's tlsPort.
        let configuration = try PolicyHostConfiguration.parse("""
            https: 127.0.4.1:\(pebble.tlsPort)
            certificate: \(certs)/host-default.chain.pem
            key: \(certs)/host-default.key
            request_timeout: 3600
            domains:
              deflt.host.test: {mode: testing, mx: [mx.deflt.host.test], max_age: 86400}
            """)
        let host = try PolicyHost(configuration: configuration, discovery: PolicyDiscovery(resolver: NoNetwork(), fetcher: NoNetwork()),
                                  load: { () throws(PolicyHostConfiguration.Invalid) in configuration }, logger: Logger(label: "test"))
        let listener = try await host.bind(.init(host: "127.0.4.1", port: pebble.tlsPort), tls: true)
        let transport = try NIOACMETransport(.init(extraTrustRootsFile: pebble.caFile, timeout: .seconds(3600)))
        let client = ACMEClient(directoryURL: pebble.directoryURL, accountKey: AccountKey(), transport: transport)
        _ = try await client.createAccount()
        let issued = try await client.issue(dnsNames: ["mta-sts.deflt.host.test"], challengeType: ACMEChallenge.tlsALPN01,
                                            responder: Responder(challenges: host.challenges))
        #expect(issued.chain.dnsNames == ["mta-sts.deflt.host.test"])
        #expect(host.challenges.names.isEmpty)  // removed once the authorization was settled

        try host.certificates.set(domain: try DomainName("deflt.host.test"), chainPEM: issued.chain.pem, keyPEM: issued.privateKeyPEM)
        let (port, chainPEM) = (pebble.tlsPort, issued.chain.pem)
        let (served, expected) = try await offPool {
            (try runProgram("/bin/sh", ["-c", "openssl s_client -connect 127.0.4.1:\(port) -servername mta-sts.deflt.host.test < /dev/null 2>/dev/null"
                + " | openssl x509 -noout -fingerprint -sha256"]).stdout,
             try runProgram("/usr/bin/openssl", ["x509", "-noout", "-fingerprint", "-sha256"], stdin: Array(chainPEM.utf8)).stdout)
        }
        #expect(expected.hasPrefix("sha256 Fingerprint=") && served == expected, "\(served) \(expected)")
        try? await listener.close()
    }
}
