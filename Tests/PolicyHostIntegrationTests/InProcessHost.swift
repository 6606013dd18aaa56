import Foundation
import Logging
import MTASTSCore
import MTASTSDiscovery
@testable import MTASTSPolicyHost
import NIOCore
import TestSupport

/// A policy host in this test process with one HTTPS listener on 127.0.0.1 (a free port), so a test can set
/// challenge and installed certificates through the API the ACME lifecycle uses, and real clients (openssl,
/// curl) connect to it. Certificates are the testbed CA's (`host-*.chain.pem`).
final class InProcessHost: Sendable {
    let host: PolicyHost
    let channel: any Channel
    let port: Int
    let testbed: Testbed
    let certs: String

    /// Static domains: static.host.test (its own certificate), acme.host.test and swap.host.test (none).
    init(requestTimeout: Double = 3600) async throws {
        testbed = try await offPool { try Testbed.shared() }
        certs = (testbed.caFile as NSString).deletingLastPathComponent + "/certs"
        let yaml = """
            https: 127.0.0.1:0
            certificate: \(certs)/host-default.chain.pem
            key: \(certs)/host-default.key
            request_timeout: \(requestTimeout)
            access_log: false
            domains:
              static.host.test: {mode: enforce, mx: [mx1.static.host.test], max_age: 604800, certificate: \(certs)/host-static.chain.pem, key: \(certs)/host-static.key}
              acme.host.test: {mode: testing, mx: [mx.acme.host.test], max_age: 86400}
              swap.host.test: {mode: testing, mx: [mx.swap.host.test], max_age: 86400}
            """
        let configuration = try PolicyHostConfiguration.parse(yaml)
        host = try PolicyHost(configuration: configuration, discovery: PolicyDiscovery(resolver: NoNetwork(), fetcher: NoNetwork()),
                              load: { () throws(PolicyHostConfiguration.Invalid) in configuration }, logger: Logger(label: "test"))
        channel = try await host.bind(.init(host: "127.0.0.1", port: 0), tls: true)
        port = channel.localAddress?.port ?? 0
    }

    func stop() async { try? await channel.close() }

    /// `openssl s_client` to this host with SNI `name` and the ALPN list `alpn` (nil: none), stdin closed.
    /// `waitForClose`: keep reading until the server closes (`-ign_eof`), at most 60 s.
    func handshake(_ name: String?, alpn: String? = nil, waitForClose: Bool = false) throws -> Handshake {
        var args = ["60", "openssl", "s_client", "-connect", "127.0.0.1:\(port)"]
        if let name { args += ["-servername", name] } else { args += ["-noservername"] }
        if let alpn { args += ["-alpn", alpn] }
        if waitForClose { args.append("-ign_eof") }
        let run = try runProgram("/usr/bin/timeout", args)
        return Handshake(run: run, fingerprint: try fingerprint(pem: run.stdout))
    }

    /// curl for the policy of `name` (SNI and Host), trusting the test CA.
    func curl(_ name: String, _ extra: [String] = []) throws -> CommandRun {
        try runProgram("/usr/bin/curl", ["-sS", "--max-time", "60", "--cacert", testbed.caFile, "--resolve", "\(name):\(port):127.0.0.1"]
            + extra + ["https://\(name):\(port)/.well-known/mta-sts.txt"])
    }
}

struct Handshake {
    let run: CommandRun
    /// SHA-256 fingerprint of the server's certificate; "" when none was presented.
    let fingerprint: String
    /// What s_client says was negotiated ("acme-tls/1", "http/1.1", or nil for none).
    var alpn: String? {
        guard let line = run.stdout.split(separator: "\n").first(where: { $0.hasPrefix("ALPN protocol: ") }) else { return nil }
        return String(line.dropFirst("ALPN protocol: ".count))
    }
}

/// The SHA-256 fingerprint (`AA:BB:...`) of the first certificate in `pem`; "" when there is none.
func fingerprint(pem: String) throws -> String {
    guard pem.contains("-----BEGIN CERTIFICATE-----") else { return "" }
    let r = try runProgram("/usr/bin/openssl", ["x509", "-noout", "-fingerprint", "-sha256"], stdin: Array(pem.utf8))
    return r.stdout.split(separator: "=", maxSplits: 1).last.map { $0.trimmingCharacters(in: .whitespacesAndNewlines) } ?? ""
}

/// A fresh self-signed P-256 certificate for `dnsNames` and its key (PEM), made by openssl.
func selfSigned(_ dnsNames: [String]) throws -> (certificate: String, key: String) {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("mta-sts-selfsigned-\(UUID().uuidString)").path
    try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let r = try runProgram("/usr/bin/openssl", ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                                                "-keyout", dir + "/key.pem", "-out", dir + "/cert.pem", "-days", "2", "-subj", "/CN=\(dnsNames[0])",
                                                "-addext", "subjectAltName=" + dnsNames.map { "DNS:\($0)" }.joined(separator: ",")])
    guard r.status == 0 else { throw TestbedError(description: "openssl req: \(r.stderr)") }
    return (try String(contentsOfFile: dir + "/cert.pem", encoding: .utf8), try String(contentsOfFile: dir + "/key.pem", encoding: .utf8))
}

/// Discovery that is never asked (static policies only).
struct NoNetwork: DNSResolver, PolicyFetcher {
    func query(_ name: String, _ type: DNSRecordType) async -> DNSAnswer { DNSAnswer(.failure("no network in this test")) }
    func fetch(host: DomainName, addresses: [IPAddress]) async -> PolicyFetchResult {
        PolicyFetchResult(.failure(FetchFailure(code: .connectFailed, message: "no network in this test")), attempts: [])
    }
}
