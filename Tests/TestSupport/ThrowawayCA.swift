import Foundation

/// A certificate chain from a CA made for one test (openssl), so a test controls the lifetime: a leaf for `names`
/// valid for `days` from now, signed by a fresh CA named `caName`. PEM texts; `chain` is the leaf then the CA.
public struct ThrowawayChain: Sendable {
    public let leaf: String
    public let key: String
    public let ca: String
    public var chain: String { leaf + ca }

    public init(names: [String], days: Int, caName: String = "Throwaway Test CA") throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("mta-sts-throwaway-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
        let ca = try runProgram("/usr/bin/openssl", ["req", "-x509"] + ec + ["-keyout", dir + "/ca.key", "-out", dir + "/ca.pem",
                                                                          "-days", "30", "-subj", "/CN=\(caName)"])
        guard ca.status == 0 else { throw TestbedError(description: "openssl req (CA): \(ca.stderr)") }
        let leaf = try runProgram("/usr/bin/openssl", ["req", "-x509"] + ec + [
            "-keyout", dir + "/leaf.key", "-out", dir + "/leaf.pem", "-days", "\(days)", "-subj", "/CN=\(names[0])",
            "-CA", dir + "/ca.pem", "-CAkey", dir + "/ca.key",
            "-addext", "subjectAltName=" + names.map { "DNS:\($0)" }.joined(separator: ","), "-addext", "basicConstraints=critical,CA:FALSE"])
        guard leaf.status == 0 else { throw TestbedError(description: "openssl req (leaf): \(leaf.stderr)") }
        self.leaf = try String(contentsOfFile: dir + "/leaf.pem", encoding: .utf8)
        key = try String(contentsOfFile: dir + "/leaf.key", encoding: .utf8)
        self.ca = try String(contentsOfFile: dir + "/ca.pem", encoding: .utf8)
    }

    /// Writes the chain and key to fresh temporary files; returns their paths.
    public func files() throws -> (chain: String, key: String) {
        (try temporaryFile(Array(chain.utf8), suffix: "-chain.pem"), try temporaryFile(Array(key.utf8), suffix: "-key.pem"))
    }
}

/// The first certificate's validity in `pem` as openssl reads it (whole seconds), to compare with what the code reads.
public func certificateValidity(pem: String) throws -> (notBefore: Date, notAfter: Date) {
    let r = try runProgram("/usr/bin/openssl", ["x509", "-noout", "-startdate", "-enddate", "-dateopt", "iso_8601"], stdin: Array(pem.utf8))
    let f = DateFormatter()
    f.locale = Locale(identifier: "en_US_POSIX")
    f.dateFormat = "yyyy-MM-dd HH:mm:ssX"
    let dates = r.stdout.split(separator: "\n").compactMap { $0.split(separator: "=", maxSplits: 1).last.flatMap { f.date(from: String($0)) } }
    guard dates.count == 2 else { throw TestbedError(description: "openssl x509: \(r.stdout) \(r.stderr)") }
    return (dates[0], dates[1])
}
