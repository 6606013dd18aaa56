import ArgumentParser
import MTASTSCore
import MTASTSPolicyHost
import MTASTSStorePostgres

/// `mta-sts certs renew [DOMAIN] --config FILE`: renew ACME certificates now. The running `serve` holds the ports that
/// answer challenges, so this command does not order itself: it leaves a renewal request in `acme.storage` (a file
/// per name in a directory, a row in PostgreSQL, where any fleet host may take it), and the daemon orders those names
/// at its next tick (within a minute), whatever their schedule and backoff say, then saves and serves the new
/// certificate without a restart (docs/acme.md).
struct CertsRenewCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "renew",
        abstract: "Have the running `serve` renew ACME certificates within a minute (all ACME domains, or the ones named).",
        discussion: """
            Leaves a request per name in acme.storage (<storage>/renew/mta-sts.<domain>, or a row in PostgreSQL, \
            taken by whichever fleet host ticks first); `serve` orders the name at its next tick (each minute), saves \
            the certificate in the store and serves it, and removes the request. Exit 1 when the configuration has no \
            acme section, 2 when the request cannot be written.
            """
    )

    @OptionGroup var source: PolicyHostSource

    @Argument(help: "Configured ACME domains (all of them when none is given).")
    var domains: [String] = []

    func run() async throws {
        let c = try source.load()
        guard let acme = c.acme else {
            printError("mta-sts: error: \(source.config) has no acme section")
            throw Exit.invalid
        }
        let managed = c.acmeDomains
        let selected = domains.isEmpty ? managed : try ZoneCommand.select(domains, from: c).map(\.name)
        for d in selected where !managed.contains(d) {
            throw ValidationError("\(d) has its own certificate and key: its certificate does not come from ACME")
        }
        // A directory's requests are files (the directory is not opened as a store: `serve` owns it); PostgreSQL's are rows.
        var pg: PostgresCertificateStore?
        if case .postgres = acme.storage {
            do { pg = try await CertsListCommand.openStore(acme.storage) as? PostgresCertificateStore } catch {
                printError("mta-sts: error: \(error)")
                throw Exit.ioError
            }
        }
        guard let requests = RenewalQueue(acme.storage, store: pg) else {
            printError("mta-sts: error: \(acme.storage) cannot take renewal requests")
            throw Exit.ioError
        }
        for d in selected {
            guard let name = d.policyHost?.value else { continue }
            do { try await requests.request(name) } catch {
                printError("mta-sts: error: \(error)")
                await pg?.shutdown()
                throw Exit.ioError
            }
            print("renewal requested: \(name) (the running serve orders it within a minute)")
        }
        await pg?.shutdown()
    }
}
