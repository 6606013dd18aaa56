import ArgumentParser
import Foundation
import MTASTSCertificateStore
import MTASTSCertificates
import MTASTSPolicyHost
import MTASTSStorePostgres

/// `mta-sts certs`: the policy host's certificates (issue 12, item 6). Each subcommand lives in its own file.
struct CertsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "certs",
        abstract: "The policy host's certificates: list them, renew ACME certificates.",
        subcommands: [CertsListCommand.self, CertsRenewCommand.self]
    )
}

/// `mta-sts certs list [--json] --config FILE`: one row per configured domain's `mta-sts.<domain>` (and per report
/// host with its own certificate): where its certificate comes from, who issued it, when it expires, when ACME renews
/// it and the last ACME error. Reads the configuration, the certificate files and `acme.storage`; orders nothing (a
/// directory store that does not exist yet is not created).
struct CertsListCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "list",
        abstract: "List the policy host's certificates: source (file, acme, none), issuer, expiry, next renewal, last error.",
        discussion: """
            Source `file`: the domain's own certificate in the configuration, or the default pair; `acme`: the \
            certificate in acme.storage (renewed at two thirds of its lifetime, or in the CA's renewal window); \
            `none`: ACME has no certificate for the name yet (the default one is served). --json prints an array of \
            objects with the keys name, source, issuer, not_after, days_left, next_renewal, last_error (null when \
            not known). Exit 2 when the configuration, a certificate or the store cannot be read. See docs/acme.md.
            """
    )

    @OptionGroup var source: PolicyHostSource

    @Flag(help: "A JSON array of objects instead of a table.")
    var json = false

    func run() async throws {
        let rows: [CertificateRow]
        do {
            let c = try PolicyHostConfiguration.load(path: source.config)
            rows = try await Self.rows(c, now: Date())
        } catch {
            printError("mta-sts: error: \(error)")
            throw Exit.ioError
        }
        if json { try JSONOutput.print(rows) } else { print(CertificateRow.table(rows), terminator: "") }
    }

    /// The rows of configuration `c`: each domain in order, then the report hosts with their own certificate.
    static func rows(_ c: PolicyHostConfiguration, now: Date) async throws -> [CertificateRow] {
        let store: (any CertificateStore)? = if let acme = c.acme { try await openStore(acme.storage) } else { nil }
        let pg = store as? PostgresCertificateStore
        do {
            let rows = try await rows(c, store: store, now: now)
            await pg?.shutdown()
            return rows
        } catch {
            await pg?.shutdown()
            throw error
        }
    }

    static func rows(_ c: PolicyHostConfiguration, store: (any CertificateStore)?, now: Date) async throws -> [CertificateRow] {
        var files: [String: CertificateReader.Leaf] = [:]  // the default pair is read once for all its domains
        func file(_ path: String) throws -> CertificateReader.Leaf {
            if let leaf = files[path] { return leaf }
            let text: String
            do { text = try String(contentsOfFile: path, encoding: .utf8) } catch { throw CertificateStoreError("cannot read \(path): \(error.localizedDescription)") }
            guard let leaf = CertificateReader.leaf(pem: text) else { throw CertificateStoreError("\(path) holds no readable certificate") }
            files[path] = leaf
            return leaf
        }
        var rows: [CertificateRow] = []
        for d in c.domains {
            guard let name = d.name.policyHost?.value else { continue }
            if let own = d.certificate {
                rows.append(CertificateRow(name: name, source: .file, leaf: try file(own.chain), now: now))
            } else if c.acme != nil {
                let lastError = try await store?.status(name: name)?.lastError
                guard let stored = try await store?.loadCertificate(name: name) else {
                    rows.append(CertificateRow(name: name, source: .none, leaf: nil, lastError: lastError, now: now))
                    continue
                }
                guard let leaf = CertificateReader.leaf(pem: stored.chainPEM) else {
                    throw CertificateStoreError("the stored certificate of \(name) cannot be read (corrupt)")
                }
                rows.append(CertificateRow(name: name, source: .acme, leaf: leaf, lastError: lastError, now: now))
            } else if let pair = c.certificate {
                rows.append(CertificateRow(name: name, source: .file, leaf: try file(pair.chain), now: now))
            } else {
                rows.append(CertificateRow(name: name, source: .none, leaf: nil, now: now))  // no HTTPS listener: nothing served
            }
        }
        for host in c.reports?.hosts ?? [] {
            guard let own = host.certificate else { continue }
            rows.append(CertificateRow(name: host.name.value, source: .file, leaf: try file(own.chain), now: now))
        }
        return rows
    }

    /// `acme.storage` opened for reading: nil for a directory that does not exist yet (`serve` has not run: nothing
    /// stored), which is not created here.
    static func openStore(_ storage: PolicyHostConfiguration.ACME.Storage) async throws -> (any CertificateStore)? {
        switch storage {
        case .directory(let path):
            guard FileManager.default.fileExists(atPath: path) else { return nil }
            return try DirectoryCertificateStore(directory: path)
        case .postgres(let url):
            let store = try PostgresCertificateStore(url: url)
            do { try await store.prepare() } catch {
                await store.shutdown()
                throw error
            }
            return store
        }
    }
}

/// One line of `certs list`: what is known of the certificate of one name.
struct CertificateRow: Encodable, Equatable {
    enum Source: String, Encodable { case file, acme, none }

    var name: String
    var source: Source
    var issuer: String?
    var notAfter: Date?
    var daysLeft: Int?
    /// ACME certificates only: ``RenewalSchedule/renewalTime(notBefore:notAfter:)``.
    var nextRenewal: Date?
    var lastError: String?

    init(name: String, source: Source, leaf: CertificateReader.Leaf?, lastError: String? = nil, now: Date) {
        self.name = name
        self.source = source
        issuer = leaf?.issuer
        notAfter = leaf?.notAfter
        // Whole days, truncated as `mta-sts check` counts them (CertificateReport.daysLeft).
        daysLeft = leaf.map { Int($0.notAfter.timeIntervalSince(now) / 86400) }
        nextRenewal = source == .acme ? leaf.map { RenewalSchedule.renewalTime(notBefore: $0.notBefore, notAfter: $0.notAfter) } : nil
        self.lastError = lastError
    }

    enum Key: String, CodingKey { case name, source, issuer, not_after, days_left, next_renewal, last_error }

    /// Every key always present (null when unknown), dates in ISO 8601 UTC: a stable shape for scripts.
    func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: Key.self)
        try c.encode(name, forKey: .name)
        try c.encode(source, forKey: .source)
        try c.encode(issuer, forKey: .issuer)
        try c.encode(notAfter.map(Self.iso), forKey: .not_after)
        try c.encode(daysLeft, forKey: .days_left)
        try c.encode(nextRenewal.map(Self.iso), forKey: .next_renewal)
        try c.encode(lastError, forKey: .last_error)
    }

    static func iso(_ date: Date) -> String { ISO8601DateFormatter().string(from: date) }

    /// The text table: a header and one line per row, columns padded, `-` for unknown.
    static func table(_ rows: [CertificateRow]) -> String {
        let header = ["NAME", "SOURCE", "NOT AFTER", "DAYS", "NEXT RENEWAL", "ISSUER", "LAST ERROR"]
        let lines = [header] + rows.map { r in
            [r.name, r.source.rawValue, r.notAfter.map(iso) ?? "-", r.daysLeft.map(String.init) ?? "-", r.nextRenewal.map(iso) ?? "-",
             r.issuer ?? "-", r.lastError ?? "-"]
        }
        let widths = header.indices.map { i in lines.map { $0[i].count }.max() ?? 0 }
        return lines.map { line in
            line.enumerated().map { i, cell in i == line.count - 1 ? cell : cell.padding(toLength: widths[i], withPad: " ", startingAt: 0) }
                .joined(separator: "  ")
        }.joined(separator: "\n") + "\n"
    }
}
