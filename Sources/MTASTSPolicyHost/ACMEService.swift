import Foundation
import Logging
import MTASTSCertificateStore
import MTASTSCore
import ServiceLifecycle

/// Runs the ACME lifecycle: a tick at start, after each reload (new domains), and every minute (due names, and
/// certificates another host or `certs renew` put in the store). The store and the DNS resolver are the ones named
/// at start; a reload that changes `acme` takes effect at restart.
struct ACMEService: Service {
    let host: PolicyHost

    func run() async throws {
        guard let settings = host.state.configuration.acme else { return }
        await withTaskGroup(of: Void.self) { group in
            await loop(settings, group: &group)
            group.cancelAll()
        }
    }

    private func loop(_ settings: PolicyHostConfiguration.ACME, group: inout TaskGroup<Void>) async {
        var lifecycle: ACMELifecycle?
        var lastTick = -Double.infinity, seenVersion = -1
        while !Task.isCancelled {
            let version = host.stateVersion.load(ordering: .acquiring)
            if version != seenVersion || host.clock.now() - lastTick >= ACMESchedule.tickInterval {
                (seenVersion, lastTick) = (version, host.clock.now())
                if lifecycle == nil {
                    do {
                        let store = try await ACMELifecycle.openStore(settings)
                        lifecycle = make(settings, store: store)
                        // A fleet: answer the challenges of every host's orders, beside this host's ticks (which may be ordering).
                        if let shared = store as? any SharedCertificateStore {
                            let sync = ChallengeSync(store: shared, challenges: host.challenges, tokens: host.challengeTokens, logger: host.logger)
                            group.addTask { await sync.run() }
                        }
                    } catch {
                        host.logger.error("ACME storage cannot be opened; retrying in a minute",
                                          metadata: ["storage": "\(settings.storage)", "reason": "\(error)"])
                    }
                }
                let c = host.state.configuration
                await lifecycle?.tick(domains: c.acmeDomains, zone: c.zone)
            }
            do { try await cancelWhenGracefulShutdown { try await Task.sleep(for: .seconds(1)) } } catch { return }
        }
    }

    private func make(_ settings: PolicyHostConfiguration.ACME, store: any CertificateStore) -> ACMELifecycle {
        let certificates = host.certificates
        return ACMELifecycle(settings: settings, store: store, resolver: host.discovery.resolver, challenges: host.challenges,
                             tokens: host.challengeTokens, metrics: host.acmeMetrics, logger: host.logger) { domain, certificate throws in
            try certificates.set(domain: domain, chainPEM: certificate.chainPEM, keyPEM: certificate.keyPEM)
        }
    }
}
