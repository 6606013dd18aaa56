import Foundation
import TestSupport

/// One `mta-sts serve` process with its configuration file and log.
final class ServeProcess: @unchecked Sendable {
    let process = Process()
    let configPath: String
    let log: URL

    /// Writes `yaml` and starts `mta-sts serve`; returns once `ready` (an address:port) accepts connections.
    init(_ name: String, yaml: String, ready: (host: String, port: Int), extra: [String] = []) throws {
        configPath = try temporaryFile(Array(yaml.utf8), suffix: "-\(name).yml")
        log = FileManager.default.temporaryDirectory.appendingPathComponent("serve-\(name)-\(UUID().uuidString).log")
        _ = FileManager.default.createFile(atPath: log.path, contents: nil)
        process.executableURL = URL(fileURLWithPath: mtastsBinary)
        process.arguments = ["serve", "--config", configPath, "--log-level", "info"] + extra
        let handle = try FileHandle(forWritingTo: log)
        process.standardOutput = handle
        process.standardError = handle
        try process.run()
        for _ in 0..<250 {
            if let fd = try? connectTCP(host: ready.host, port: ready.port, timeout: 2) { close(fd); return }
            if !process.isRunning { break }
            usleep(20_000)
        }
        throw TestbedError(description: "mta-sts serve (\(name)) did not listen on \(ready.host):\(ready.port): \(logText)")
    }

    var logText: String { (try? String(contentsOf: log, encoding: .utf8)) ?? "" }

    func rewrite(_ yaml: String) throws { try Data(yaml.utf8).write(to: URL(fileURLWithPath: configPath)) }

    func signal(_ s: Int32) { kill(process.processIdentifier, s) }

    func stop() {
        guard process.isRunning else { return }
        kill(process.processIdentifier, SIGTERM)
        process.waitUntilExit()
    }
}

/// The policy host's test world on the testbed (NSD zone host.test, the test CA): the provider's
/// `mta-sts serve` on 127.0.4.2 (the upstream) and the hosting `mta-sts serve` on 127.0.4.1 (HTTPS :443,
/// plain HTTP :80, admin :9461) with static, file, default and proxied domains. Started once per test
/// process, stopped at exit.
struct HostWorld: Sendable {
    static let hostAddr = "127.0.4.1"
    static let providerAddr = "127.0.4.2"
    static let adminPort = 9461

    let testbed: Testbed
    let certs: String
    let host: ServeProcess
    let provider: ServeProcess
    /// The file policy of file.host.test (tests rewrite it).
    let policyFile: String

    /// Started on a thread of its own (it waits for processes; see ``offPool(_:)``).
    static func shared() async throws -> HostWorld { try await offPool { try started.get() } }

    static let providerPolicy = "version: STSv1\r\nmode: enforce\r\nmx: *.mx.provider.host.test\r\nmax_age: 604800\r\n"
    static let filePolicy = "version: STSv1\nmode: testing\nmx: mx.file.host.test\nmax_age: 86400\n"

    private static let started: Result<HostWorld, TestbedError> = {
        do { return .success(try HostWorld()) } catch let e as TestbedError { return .failure(e) } catch {
            return .failure(TestbedError(description: "\(error)"))
        }
    }()

    private init() throws {
        testbed = try Testbed.shared()
        certs = (testbed.caFile as NSString).deletingLastPathComponent + "/certs"
        policyFile = try temporaryFile(Array(Self.filePolicy.utf8), suffix: "-file.host.test.txt")
        provider = try ServeProcess("provider", yaml: """
            https: \(Self.providerAddr):443
            certificate: \(certs)/host-provider.chain.pem
            key: \(certs)/host-provider.key
            domains:
              provider.host.test: {mode: enforce, mx: ["*.mx.provider.host.test"], max_age: 604800}
            """, ready: (Self.providerAddr, 443))
        host = try ServeProcess("host", yaml: Self.hostConfig(certs: certs, testbed: testbed, policyFile: policyFile),
                                ready: (Self.hostAddr, 443))
        let (h, p) = (host, provider)
        Self.processes.withLock { $0 = [h, p] }
        atexit { HostWorld.processes.withLock { $0 }.forEach { $0.stop() } }
    }

    static let processes = LockedValue<[ServeProcess]>([])

    static func hostConfig(certs: String, testbed: Testbed, policyFile: String, extraDomains: String = "") -> String {
        func cert(_ name: String) -> String { "certificate: \(certs)/host-\(name).chain.pem, key: \(certs)/host-\(name).key" }
        let upstream = "https://mta-sts.provider.host.test/.well-known/mta-sts.txt"
        return """
            https: \(hostAddr):443
            http: \(hostAddr):80
            admin: \(hostAddr):\(adminPort)
            certificate: \(certs)/host-default.chain.pem
            key: \(certs)/host-default.key
            dns_servers: \(testbed.dnsServer)
            ca_file: \(testbed.caFile)
            request_timeout: 2
            file_check_interval: 0.2
            mx_guard_interval: 1
            zone: {addresses: [\(hostAddr)]}
            default: {mode: testing, mx: [mx.deflt.host.test], max_age: 86400}
            domains:
              static.host.test: {mode: enforce, mx: [mx1.static.host.test, "*.mx.static.host.test"], max_age: 604800, \(cert("static")), tlsrpt: "mailto:tlsrpt@static.host.test"}
              file.host.test: {file: \(policyFile), \(cert("file"))}
              deflt.host.test: {\(cert("deflt"))}
              customer.host.test: {proxy: "\(upstream)", \(cert("customer"))}
              guarded.host.test: {proxy: "\(upstream)", mx_guard: true, \(cert("guarded"))}
              moved.host.test: {proxy: "\(upstream)", mx_guard: true, \(cert("moved"))}
            \(extraDomains)
            """
    }

    // MARK: clients

    /// curl against a policy host at `address` (SNI and Host = `name`), trusting the test CA.
    func curl(_ name: String, at address: String = HostWorld.hostAddr, path: String = "/.well-known/mta-sts.txt", _ extra: [String] = []) throws -> CommandRun {
        try runProgram("/usr/bin/curl", ["-sS", "--max-time", "10", "--cacert", testbed.caFile, "--resolve", "\(name):443:\(address)"]
            + extra + ["https://\(name)\(path)"])
    }

    /// Status code and headers+body of one curl request (`-i`).
    func status(_ name: String, at address: String = HostWorld.hostAddr, path: String = "/.well-known/mta-sts.txt", _ extra: [String] = []) throws -> Int {
        Int(try curl(name, at: address, path: path, ["-o", "/dev/null", "-w", "%{http_code}"] + extra).stdout) ?? -1
    }

    /// Subject and SAN of the certificate served for SNI `name`, as openssl s_client sees it.
    func certificate(sni name: String, at address: String = HostWorld.hostAddr) throws -> String {
        try runProgram("/bin/sh", ["-c", "openssl s_client -connect \(address):443 -servername \(name) < /dev/null 2>/dev/null"
            + " | openssl x509 -noout -subject -ext subjectAltName 2>&1 | tr -s ' \\n' ' ' | sed 's/ $//'"]).stdout
    }

    /// Polls `condition` every 50 ms for up to `seconds`, off the cooperative pool; true once it holds (a
    /// throw counts as not yet).
    static func eventually(_ seconds: Double = 15, _ condition: @escaping @Sendable () throws -> Bool) async -> Bool {
        (try? await offPool {
            let end = Date().addingTimeInterval(seconds)
            while Date() < end {
                if (try? condition()) == true { return true }
                usleep(50_000)
            }
            return (try? condition()) == true
        }) ?? false
    }
}

final class LockedValue<T>: @unchecked Sendable {
    private let lock = NSLock()
    private var value: T
    init(_ value: T) { self.value = value }
    func withLock<R>(_ body: (inout T) -> R) -> R { lock.withLock { body(&value) } }
}
