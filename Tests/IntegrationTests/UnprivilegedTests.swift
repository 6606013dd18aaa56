import Foundation
import TestSupport
import Testing

/// The daemons run as their own unprivileged users (contrib/*.service, the Debian package), while the tests run as
/// root, where a wrong socket option passes unseen: NIO's `.socketOption(.tcp_nodelay)` is SOL_SOCKET option 1, which
/// is SO_DEBUG, allowed to root only; as any other user every accepted connection was closed and every policy fetch
/// failed. These run the binary as `nobody` (setpriv), from a copy in a directory every user can enter.
@Suite("mta-sts as an unprivileged user")
struct UnprivilegedTests {
    /// The binary and the test CA, copied where `nobody` can read them (the build and the world may sit under 0700).
    static let files: Result<(binary: String, ca: String), Error> = Result {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("mta-sts-unprivileged-\(getpid())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o755])
        let binary = dir.appendingPathComponent("mta-sts").path
        let ca = dir.appendingPathComponent("ca.pem").path
        try? FileManager.default.removeItem(atPath: binary)
        // Copied by cp, not in this process: a descriptor open for writing here would be inherited by the processes
        // other tests spawn meanwhile, and exec of the copy would fail with "Text file busy" (ETXTBSY).
        let copy = spawnAndWait("/bin/cp", [mtastsBinary, binary])
        guard copy.status == 0 else { throw CopyFailed(output: copy.output) }
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: binary)
        try Data(contentsOf: URL(fileURLWithPath: try Testbed.shared().caFile)).write(to: URL(fileURLWithPath: ca))
        try FileManager.default.setAttributes([.posixPermissions: 0o644], ofItemAtPath: ca)
        return (binary, ca)
    }

    struct CopyFailed: Error { let output: String }

    static let asNobody = ["--reuid=nobody", "--regid=nogroup", "--clear-groups"]

    @Test("lookup fetches a policy over HTTPS as nobody")
    func lookup() throws {
        let (binary, ca) = try Self.files.get()
        let world = try Testbed.shared()
        let run = spawnAndWait("/usr/bin/setpriv", Self.asNobody + [binary, "lookup", "--dns-server", world.dnsServer, "--ca-file", ca,
                                                                   "good.t.test"])
        #expect(run.status == 0, "\(run.output)")
        #expect(run.output.contains("outcome: valid"), "\(run.output)")
    }

    @Test("The resolver answers socketmap queries as nobody")
    func resolver() throws {
        let (binary, _) = try Self.files.get()
        let port = freePort()
        let daemon = Process()
        daemon.executableURL = URL(fileURLWithPath: "/usr/bin/setpriv")
        daemon.arguments = Self.asNobody + [binary, "resolver", "--listen", "127.0.0.1:\(port)", "--cache", "memory"]
        daemon.standardOutput = FileHandle.nullDevice
        daemon.standardError = FileHandle.nullDevice
        try daemon.run()
        defer { kill(daemon.processIdentifier, SIGKILL); daemon.waitUntilExit() }
        var listening = false
        for _ in 0..<250 where !listening {
            if let fd = try? connectTCP(port: port) { close(fd); listening = true } else { usleep(20_000) }
        }
        #expect(listening)
        // A literal next hop: answered without DNS.
        #expect(try socketmapQuery(port: port, keys: ["[127.0.0.1]:25"]) == ["NOTFOUND "])
    }
}
