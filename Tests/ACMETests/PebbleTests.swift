import Crypto
import Foundation
import MTASTSACME
import Testing
import TestSupport
import X509

/// The client against a real ACME server: Debian's pebble on loopback (one instance per test, in its own
/// directory), its DNS the test world's NSD, its validation ports the test's responders. The names are
/// testbed names that resolve to 127.0.0.1 (`ns.<zone>`; scripts/testbed/*.zone.in), where the responders listen.
@Suite(.serialized) struct PebbleTests {
    /// Pebble, the responders and a client with an account, torn down by `stop`.
    struct Setup {
        let pebble: Pebble
        let servers: ChallengeServers
        let transport: NIOACMETransport
        let client: ACMEClient

        private static func start(nonceReject: Int? = nil, tamper: Bool = false, settings: ACMEClient.Settings = .init(),
                          wrap: (NIOACMETransport) -> any ACMETransport = { $0 }) async throws -> Setup {
            let testbed = try Testbed.shared()
            let pebble = try await offPool { try Pebble(dnsServer: testbed.dnsServer, nonceReject: nonceReject) }
            do {
                let servers = try await ChallengeServers(httpPort: pebble.httpPort, tlsPort: pebble.tlsPort, tamper: tamper)
                let transport = try NIOACMETransport(.init(extraTrustRootsFile: pebble.caFile, timeout: .seconds(3600)))
                let client = ACMEClient(directoryURL: pebble.directoryURL, accountKey: AccountKey(), transport: wrap(transport),
                                        settings: settings)
                return Setup(pebble: pebble, servers: servers, transport: transport, client: client)
            } catch {
                pebble.stop()
                throw error
            }
        }

        /// Runs `body` with a started setup and stops it afterwards, whether `body` threw or not (a detached
        /// teardown could be cut short by the test process ending, leaving pebble running).
        static func with(nonceReject: Int? = nil, tamper: Bool = false, settings: ACMEClient.Settings = .init(),
                         wrap: (NIOACMETransport) -> any ACMETransport = { $0 }, _ body: (Setup) async throws -> Void) async throws {
            let setup = try await start(nonceReject: nonceReject, tamper: tamper, settings: settings, wrap: wrap)
            do { try await body(setup) } catch {
                await setup.stop()
                throw error
            }
            await setup.stop()
        }

        func stop() async {
            await servers.close()
            let pebble = self.pebble
            _ = try? await offPool { pebble.stop() }
        }
    }

    /// The issued chain verifies against pebble's root (fetched from its management port) for the name, today.
    static func verify(_ issued: ACMECertificate, name: String, setup: Setup) async throws -> CertificateValidationResult {
        let root = try Certificate(pemEncoded: try await setup.pebble.rootPEM(transport: setup.transport))
        let intermediates = try issued.chain.certificatesDER.dropFirst().map { try Certificate(derEncoded: $0) }
        var verifier = Verifier(rootCertificates: CertificateStore([root])) {
            RFC5280Policy(validationTime: Date())
            ServerIdentityPolicy(serverHostname: name, serverIP: nil)
        }
        return await verifier.validate(leaf: issued.chain.leaf, intermediates: CertificateStore(intermediates))
    }

    @Test func issuesByHTTP01AndTheChainVerifiesAgainstPebblesRoot() async throws {
        try await Setup.with { setup in
            let account = try await setup.client.createAccount(contact: ["mailto:hostmaster@t.test"])
            #expect(account.status == .valid)
            #expect(account.contact == ["mailto:hostmaster@t.test"])
            // Account lookup by key (onlyReturnExisting) finds the same account, and none for another key.
            #expect(try await setup.client.findAccount().url == account.url)
            let stranger = ACMEClient(directoryURL: setup.pebble.directoryURL, accountKey: AccountKey(), transport: setup.transport)
            let missing = await #expect(throws: ACMEProblem.self) { try await stranger.findAccount() }
            #expect(missing?.isACME("accountDoesNotExist") == true, "\(String(describing: missing))")

            let key = P256.Signing.PrivateKey()
            let issued = try await setup.client.issue(dnsNames: ["ns.t.test"], challengeType: ACMEChallenge.http01,
                                                      responder: setup.servers, certificateKey: key)
            #expect(issued.chain.dnsNames == ["ns.t.test"])
            #expect(issued.chain.leaf.publicKey == Certificate.PublicKey(key.publicKey))
            #expect(issued.chain.certificatesDER.count >= 2)  // leaf and pebble's intermediate
            #expect(issued.chain.notAfter > Date())
            #expect(issued.chain.renewalCertificateID != nil)
            #expect(setup.servers.answered.contains { $0.hasPrefix("http-01 ") })
            let result = try await Self.verify(issued, name: "ns.t.test", setup: setup)
            guard case .validCertificate = result else {
                Issue.record("the chain does not verify against pebble's root: \(result)")
                return
            }
            // Pebble 2.4's directory has no renewalInfo: ARI is reported as unsupported (the caller falls back to 2/3).
            await #expect(throws: ACMEClientError.unsupported("renewalInfo (RFC 9773)")) {
                try await setup.client.renewalInfo(certificateID: issued.chain.renewalCertificateID ?? "")
            }
        }
    }

    @Test func issuesByTLSALPN01() async throws {
        try await Setup.with { setup in
            _ = try await setup.client.createAccount()
            let issued = try await setup.client.issue(dnsNames: ["ns.host.test"], challengeType: ACMEChallenge.tlsALPN01,
                                                      responder: setup.servers)
            #expect(issued.chain.dnsNames == ["ns.host.test"])
            let result = try await Self.verify(issued, name: "ns.host.test", setup: setup)
            guard case .validCertificate = result else {
                Issue.record("the chain does not verify against pebble's root: \(result)")
                return
            }
            // Pebble validated over acme-tls/1 and got the challenge certificate (it validates from several perspectives).
            #expect(setup.servers.answered.contains("tls-alpn-01 ns.host.test"))
            #expect(!setup.servers.answered.contains { $0.hasPrefix("http-01") })
        }
    }
}
