import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// ``CertificateStore`` in a directory (`acme.storage`, default `/var/lib/mta-sts-serve/acme`), for one host:
///
///     account.key                      the account key (PEM)
///     certificates/<name>.pem          the chain (leaf first), then its key: one file, so one rename replaces both
///     locks/<name>                     flock(2) files of the order locks
///     status/<name>.json               the last attempt's outcome: {"at": <Unix seconds>, "last_error": <text or null>}
///
/// Directories are 0700 and files 0600 (private keys). Every write goes to a temporary file beside the target
/// (`.<file>.tmp-<pid>-<n>`), is fsynced, renamed over the target, and the directory is fsynced: after a crash or
/// `kill -9` the file is the old one or the new one, and a leftover temporary file is never read; it is removed
/// when the store is next opened and its writer is gone.
public final class DirectoryCertificateStore: CertificateStore {
    public let directory: String
    /// Largest file read (a chain and key are a few KiB): a stray huge file is an error, not an allocation.
    static let maxFileSize = 1 << 20

    /// Creates the directories when missing and sets them to 0700; removes dead writers' temporary files.
    public init(directory: String) throws(CertificateStoreError) {
        self.directory = directory
        for d in [directory, directory + "/certificates", directory + "/locks", directory + "/status"] {
            if mkdir(d, 0o700) != 0 && errno != EEXIST { throw Self.failure("cannot create the directory", d) }
            if chmod(d, 0o700) != 0 { throw Self.failure("cannot set the mode of", d) }
        }
        Self.removeDeadTemporaryFiles(in: directory)
        Self.removeDeadTemporaryFiles(in: directory + "/certificates")
        Self.removeDeadTemporaryFiles(in: directory + "/status")
    }

    var accountPath: String { directory + "/account.key" }
    func certificatePath(_ name: String) -> String { directory + "/certificates/" + name + ".pem" }

    public func loadAccountKey() async throws -> String? {
        try Self.read(accountPath)
    }

    public func saveAccountKey(_ pem: String) async throws -> String {
        if try Self.write(Array(pem.utf8), to: accountPath, replace: false) { return pem }
        guard let stored = try Self.read(accountPath) else { throw CertificateStoreError("\(accountPath) vanished after it was found") }
        return stored
    }

    public func loadCertificate(name: String) async throws -> StoredCertificate? {
        let path = certificatePath(try CertificateStoreName.checked(name))
        guard let text = try Self.read(path) else { return nil }
        return try PEMBundle.split(text, source: path)
    }

    public func saveCertificate(_ certificate: StoredCertificate, name: String) async throws {
        _ = try Self.write(Array(PEMBundle.join(certificate).utf8), to: certificatePath(try CertificateStoreName.checked(name)), replace: true)
    }

    public func names() async throws -> [String] {
        try Self.entries(directory + "/certificates")
            .filter { !$0.hasPrefix(".") && $0.hasSuffix(".pem") }
            .map { String($0.dropLast(4)) }
            .sorted()
    }

    public func withOrderLock<T: Sendable>(name: String, _ body: @escaping @Sendable () async throws -> T) async throws -> T? {
        let path = directory + "/locks/" + (try CertificateStoreName.checked(name))
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw Self.failure("cannot open the lock file", path) }
        defer { close(fd) }  // releases the lock
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            if errno == EWOULDBLOCK { return nil }
            throw Self.failure("cannot lock", path)
        }
        return try await body()
    }

    func statusPath(_ name: String) -> String { directory + "/status/" + name + ".json" }

    /// The record as written by ``saveStatus(name:lastError:at:)``; its keys are fixed (`at`, `last_error`).
    private struct StatusRecord: Codable {
        var at: Double
        var last_error: String?
    }

    public func saveStatus(name: String, lastError: String?, at: Date) async throws {
        let path = statusPath(try CertificateStoreName.checked(name))
        let data = try JSONEncoder().encode(StatusRecord(at: at.timeIntervalSince1970, last_error: lastError))
        _ = try Self.write(Array(data), to: path, replace: true)
    }

    public func status(name: String) async throws -> CertificateStatus? {
        let path = statusPath(try CertificateStoreName.checked(name))
        guard let text = try Self.read(path) else { return nil }
        guard let r = try? JSONDecoder().decode(StatusRecord.self, from: Data(text.utf8)) else {
            throw CertificateStoreError("\(path) is not a status record (corrupt)")
        }
        return CertificateStatus(lastError: r.last_error, at: Date(timeIntervalSince1970: r.at))
    }

    // MARK: files

    /// The file's text, nil when it does not exist.
    static func read(_ path: String) throws(CertificateStoreError) -> String? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        if fd < 0 {
            if errno == ENOENT { return nil }
            throw failure("cannot read", path)
        }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 16384)
        while true {
            let n = chunk.withUnsafeMutableBytes { readBytes(fd, $0) }
            if n < 0 { if errno == EINTR { continue }; throw failure("cannot read", path) }
            if n == 0 { break }
            bytes += chunk[0..<n]
            if bytes.count > maxFileSize { throw CertificateStoreError("\(path) is over \(maxFileSize) bytes") }
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Writes `bytes` to `path` through a synced temporary file: renamed over it (`replace`), or linked to it only
    /// if it does not exist (returns false when it did).
    static func write(_ bytes: [UInt8], to path: String, replace: Bool) throws(CertificateStoreError) -> Bool {
        let slash = path.lastIndex(of: "/")!
        let dir = String(path[..<slash]), file = String(path[path.index(after: slash)...])
        let temporary = dir + "/." + file + ".tmp-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw failure("cannot create", temporary) }
        var done = false
        defer { if !done { unlink(temporary) } }
        do {
            defer { close(fd) }
            guard fchmod(fd, 0o600) == 0 else { throw failure("cannot set the mode of", temporary) }
            var written = 0
            while written < bytes.count {
                let n = bytes[written...].withUnsafeBytes { writeBytes(fd, $0) }
                if n < 0 { if errno == EINTR { continue }; throw failure("cannot write", temporary) }
                written += n
            }
            guard fsync(fd) == 0 else { throw failure("cannot sync", temporary) }
        }
        if replace {
            guard rename(temporary, path) == 0 else { throw failure("cannot replace", path) }
            done = true
        } else {
            let linked = link(temporary, path) == 0
            if !linked && errno != EEXIST { throw failure("cannot create", path) }
            unlink(temporary)
            done = true
            if !linked { return false }
        }
        let dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard dfd >= 0 else { throw failure("cannot open", dir) }
        defer { close(dfd) }
        guard fsync(dfd) == 0 else { throw failure("cannot sync", dir) }
        return true
    }

    static func entries(_ dir: String) throws(CertificateStoreError) -> [String] {
        guard let d = opendir(dir) else { throw failure("cannot list", dir) }
        defer { closedir(d) }
        var names: [String] = []
        while let e = readdir(d) {
            let name = withUnsafeBytes(of: e.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            if name != "." && name != ".." { names.append(name) }
        }
        return names
    }

    /// Removes `.<file>.tmp-<pid>-<n>` files whose writer process no longer exists (a crash mid-write).
    static func removeDeadTemporaryFiles(in dir: String) {
        for name in (try? entries(dir)) ?? [] where name.hasPrefix(".") {
            guard let r = name.firstRange(of: ".tmp-"), let pid = Int32(name[r.upperBound...].prefix { $0 != "-" }) else { continue }
            if kill(pid, 0) != 0 && errno == ESRCH { unlink(dir + "/" + name) }
        }
    }

    static func failure(_ what: String, _ path: String) -> CertificateStoreError {
        CertificateStoreError("\(what) \(path): \(String(cString: strerror(errno)))")
    }
}

// read(2) and write(2) under names the store's own `read`/`write` do not shadow.
private func readBytes(_ fd: Int32, _ buffer: UnsafeMutableRawBufferPointer) -> Int { read(fd, buffer.baseAddress, buffer.count) }
private func writeBytes(_ fd: Int32, _ buffer: UnsafeRawBufferPointer) -> Int { write(fd, buffer.baseAddress, buffer.count) }

/// A stored certificate file: the chain's PEM blocks, then the key's.
enum PEMBundle {
    static func join(_ c: StoredCertificate) -> String {
        let chain = c.chainPEM.hasSuffix("\n") ? c.chainPEM : c.chainPEM + "\n"
        return chain + (c.keyPEM.hasSuffix("\n") ? c.keyPEM : c.keyPEM + "\n")
    }

    /// Splits a stored file back; a file without a certificate or with not exactly one private key is corrupt.
    static func split(_ text: String, source: String) throws(CertificateStoreError) -> StoredCertificate {
        var chain = "", key = "", block = "", inKey = false, keys = 0
        // CRLF is one Character in Swift: split on both.
        for line in text.split(omittingEmptySubsequences: false, whereSeparator: { $0 == "\n" || $0 == "\r\n" }) {
            if line.hasPrefix("-----BEGIN ") {
                block = ""
                inKey = line.hasSuffix("PRIVATE KEY-----")
                if inKey { keys += 1 }
            }
            block += line + "\n"
            if line.hasPrefix("-----END ") {
                if inKey { key += block } else if line == "-----END CERTIFICATE-----" { chain += block }
                block = ""
            }
        }
        guard !chain.isEmpty, keys == 1, !key.isEmpty else {
            throw CertificateStoreError("\(source) is not a certificate chain followed by its one private key (corrupt)")
        }
        return StoredCertificate(chainPEM: chain, keyPEM: key)
    }
}
