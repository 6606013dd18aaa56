import Foundation

/// The real-peer test world of scripts/testbed.sh (NSD with real zones, nginx and a fault server over HTTPS
/// with a throwaway CA), started once per test process.
///
/// When `MTASTS_TESTBED` names a directory that `scripts/testbed.sh up` prepared (scripts/test.sh does
/// this), that world is used. Otherwise the first test that needs it starts one in a temporary directory
/// and stops it when the process exits. A world that cannot start is a test failure, never a skip.
public struct Testbed: Sendable {
    /// NSD, as `HOST:PORT` for `--dns-server`.
    public let dnsServer: String
    /// The throwaway CA that signed the test certificates.
    public let caFile: String
    /// DNSKEYs of the signed test zones (`sec.test`, `bogus.test`).
    public let trustAnchor: String
    /// A DNS address where nothing answers.
    public let deadDNSServer: String
    /// Where the policy bodies live (tests may rewrite `cachectl.txt`).
    public let wwwDir: String

    /// The world, or why it could not be had.
    public static func shared() throws -> Testbed { try started.get() }

    private static let started: Result<Testbed, TestbedError> = {
        let env = ProcessInfo.processInfo.environment
        if let dir = env["MTASTS_TESTBED"], !dir.isEmpty { return load(dir) }
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("mta-sts-testbed-\(getpid())").path
        let script = repositoryRoot.appendingPathComponent("scripts/testbed.sh").path
        do {
            let run = try runProgram(script, ["up", dir])
            guard run.status == 0 else {
                _ = try? runProgram(script, ["down", dir])  // stop what a start that failed half-way left running
                return .failure(TestbedError(description: "scripts/testbed.sh up failed (exit \(run.status)):\n\(run.stdout)\(run.stderr)"))
            }
        } catch {
            return .failure(TestbedError(description: "cannot run scripts/testbed.sh: \(error)"))
        }
        startedDirectory.value = dir
        atexit {
            if let dir = startedDirectory.value {
                _ = try? runProgram(repositoryRoot.appendingPathComponent("scripts/testbed.sh").path, ["down", dir])
            }
        }
        return load(dir)
    }()

    private static let startedDirectory = LockedBox<String?>(nil)

    private static func load(_ dir: String) -> Result<Testbed, TestbedError> {
        guard let text = try? String(contentsOfFile: dir + "/env", encoding: .utf8) else {
            return .failure(TestbedError(description: "no \(dir)/env: is the testbed up?"))
        }
        var values: [String: String] = [:]
        for line in text.split(separator: "\n") {
            let parts = line.split(separator: "=", maxSplits: 1).map(String.init)
            if parts.count == 2 { values[parts[0]] = parts[1].trimmingCharacters(in: CharacterSet(charactersIn: "\"'")) }
        }
        guard let dns = values["DNS_SERVER"], let ca = values["CA_FILE"], let ta = values["TRUST_ANCHOR"],
              let dead = values["DEAD_DNS_SERVER"], let www = values["WWW_DIR"] else {
            return .failure(TestbedError(description: "\(dir)/env lacks a key: \(values)"))
        }
        return .success(Testbed(dnsServer: dns, caFile: ca, trustAnchor: ta, deadDNSServer: dead, wwwDir: www))
    }
}

public struct TestbedError: Error, CustomStringConvertible {
    public let description: String
    public init(description: String) { self.description = description }
}
