import Foundation
import MTASTSACME
import TestSupport

/// One Debian `pebble` (the ACME test server) on loopback, in a temporary directory of its own: its HTTPS
/// listener has a certificate from a throwaway CA made here (trusted by the client through `caFile`), its DNS is
/// the test world's NSD, and its validation ports are the test's challenge responders. Stopped by ``stop()``.
final class Pebble: @unchecked Sendable {
    static let binary = "/usr/bin/pebble"

    let directory: URL
    let process = Process()
    let port: Int, managementPort: Int
    /// Where pebble validates http-01 and tls-alpn-01 (on the address the name resolves to: 127.0.0.1).
    let httpPort: Int, tlsPort: Int
    var caFile: String { directory.appendingPathComponent("ca.pem").path }
    var log: String { (try? String(contentsOf: directory.appendingPathComponent("pebble.log"), encoding: .utf8)) ?? "" }
    /// `localhost`, not 127.0.0.1: pebble builds its URLs from the request's Host, and the certificate names localhost.
    var directoryURL: String { "https://localhost:\(port)/dir" }

    /// `nonceReject`: percentage of good nonces refused with badNonce (nil: pebble's default, 5 %). `validity`: the
    /// lifetime of issued certificates in seconds (nil: pebble's default, five years). `tlsPort`: where tls-alpn-01 is
    /// validated (nil: a free port; 443 for a policy host that senders reach as they do).
    init(dnsServer: String, nonceReject: Int? = nil, validity: Int? = nil, tlsPort: Int? = nil) throws {
        guard FileManager.default.isExecutableFile(atPath: Self.binary) else {
            throw TestbedError(description: "\(Self.binary) is missing: install Debian's pebble (scripts/setup.sh does)")
        }
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("pebble-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        (port, managementPort, httpPort, self.tlsPort) = (freePort(), freePort(), freePort(), tlsPort ?? freePort())
        try makeCertificates()
        var settings: [String: Any] = [
            "listenAddress": "127.0.0.1:\(port)", "managementListenAddress": "127.0.0.1:\(managementPort)",
            "certificate": "cert.pem", "privateKey": "key.pem", "httpPort": httpPort, "tlsPort": self.tlsPort,
            "ocspResponderURL": "", "externalAccountBindingRequired": false,
        ]
        if let validity { settings["certificateValidityPeriod"] = validity }
        let config: [String: Any] = ["pebble": settings]
        try JSONSerialization.data(withJSONObject: config).write(to: directory.appendingPathComponent("config.json"))
        process.executableURL = URL(fileURLWithPath: Self.binary)
        process.arguments = ["-config", "config.json", "-dnsserver", dnsServer]
        process.currentDirectoryURL = directory
        var environment = ["PEBBLE_VA_NOSLEEP": "1", "PEBBLE_AUTHZREUSE": "0", "PATH": "/usr/bin:/bin"]
        if let nonceReject { environment["PEBBLE_WFE_NONCEREJECT"] = String(nonceReject) }
        process.environment = environment
        let logPath = directory.appendingPathComponent("pebble.log").path
        _ = FileManager.default.createFile(atPath: logPath, contents: nil)
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: logPath))
        process.standardOutput = handle
        process.standardError = handle
        try process.run()
        // Up when both listeners accept (an hour at most: a deadline that is not the subject of the test).
        let up = waitUntil(within: 3600) {
            guard process.isRunning else { return true }
            for p in [port, managementPort] {
                guard let fd = try? connectTCP(host: "127.0.0.1", port: p, timeout: 2) else { return false }
                close(fd)
            }
            return true
        }
        guard up, process.isRunning else {
            stop()
            throw TestbedError(description: "pebble did not start: \(log)")
        }
    }

    /// The listener's certificate for localhost from a throwaway CA (scripts/testbed/certs.sh's recipe).
    private func makeCertificates() throws {
        let dir = directory.path
        let steps: [[String]] = [
            ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", "\(dir)/ca.key",
             "-out", "\(dir)/ca.pem", "-days", "30", "-subj", "/CN=ACME test CA",
             "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign"],
            ["req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", "\(dir)/key.pem",
             "-out", "\(dir)/cert.csr", "-subj", "/CN=localhost"],
            ["x509", "-req", "-in", "\(dir)/cert.csr", "-CA", "\(dir)/ca.pem", "-CAkey", "\(dir)/ca.key", "-CAcreateserial",
             "-out", "\(dir)/cert.pem", "-days", "30", "-extfile", "\(dir)/cert.ext"],
        ]
        try Data("subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n".utf8)
            .write(to: directory.appendingPathComponent("cert.ext"))
        for args in steps {
            let run = try runProgram("/usr/bin/openssl", args)
            guard run.status == 0 else { throw TestbedError(description: "openssl \(args[0]) failed: \(run.stderr)") }
        }
    }

    /// Pebble's issuing root (made anew at each start), from the management interface.
    func rootPEM(transport: NIOACMETransport) async throws -> String {
        let response = try await transport.send(ACMERequest(method: .get, url: "https://localhost:\(managementPort)/roots/0"))
        guard response.status == 200 else { throw TestbedError(description: "pebble /roots/0: HTTP \(response.status)") }
        return String(decoding: response.body, as: UTF8.self)
    }

    func stop() {
        if process.isRunning {
            // SIGKILL: pebble keeps nothing, and a SIGTERM may stay pending in the mask it inherited from a pool thread.
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
        try? FileManager.default.removeItem(at: directory)
    }
}
