import Logging
import MTASTSACME
import MTASTSCertificateStore

/// Answers the challenges of this host's orders on its own listeners: tls-alpn-01 (RFC 8737) by a challenge
/// certificate in ``PolicyHost/challenges``, http-01 (RFC 8555 §8.3) by a key authorization in
/// ``PolicyHost/challengeTokens``. With a shared store (a fleet), the challenge is also published there, and `present`
/// returns only once every host has had time to pick it up (``ChallengeSync/propagation``): the CA's validation may
/// reach any of them.
public struct PolicyHostChallengeResponder: ACMEChallengeResponder {
    public let challenges: ChallengeCertificates
    public let tokens: ChallengeTokens
    public let shared: (any SharedCertificateStore)?

    public init(challenges: ChallengeCertificates, tokens: ChallengeTokens, shared: (any SharedCertificateStore)? = nil) {
        self.challenges = challenges
        self.tokens = tokens
        self.shared = shared
    }

    public func present(type: String, name: String, token: String, keyAuthorization: String) async throws {
        let pending = PendingChallenge(type: type, name: name, token: token, keyAuthorization: keyAuthorization)
        try ChallengeSync.install(pending, challenges: challenges, tokens: tokens)
        guard let shared else { return }
        do {
            try await shared.publishChallenge(pending)
            try await Task.sleep(for: ChallengeSync.propagation)
        } catch {
            // Not presented: the caller will not call `remove`, so nothing may stay behind.
            await remove(type: type, name: name, token: token)
            throw error
        }
    }

    public func remove(type: String, name: String, token: String) async {
        ChallengeSync.uninstall(type: type, name: name, token: token, challenges: challenges, tokens: tokens)
        try? await shared?.withdrawChallenge(PendingChallenge(type: type, name: name, token: token, keyAuthorization: ""))
    }
}

/// In a fleet (PostgreSQL `acme.storage`), every host answers the challenges any host published: each second it reads
/// the pending ones from the store, installs the new ones and removes those withdrawn.
struct ChallengeSync {
    /// How often the store is read.
    static let interval = Duration.seconds(1)
    /// How long the ordering host waits after publishing before it asks the CA to validate: three reads of every host.
    static let propagation = Duration.seconds(3)

    let store: any SharedCertificateStore
    let challenges: ChallengeCertificates
    let tokens: ChallengeTokens
    let logger: Logger

    func run() async {
        var installed: Set<PendingChallenge> = []
        var failing = false
        while !Task.isCancelled {
            do {
                // Only policy host names: a row for any other name (whoever wrote it) is never answered.
                let now = Set(try await store.pendingChallenges().filter(Self.answerable))
                // Withdrawn ones first: a tls-alpn-01 certificate is kept by name, and a new challenge for the same name
                // must not be removed with the old one.
                for c in installed.subtracting(now) {
                    Self.uninstall(type: c.type, name: c.name, token: c.token, challenges: challenges, tokens: tokens)
                }
                for c in now.subtracting(installed) {
                    do { try Self.install(c, challenges: challenges, tokens: tokens) } catch {
                        logger.error("shared ACME challenge not usable", metadata: ["name": "\(c.name)", "type": "\(c.type)", "reason": "\(error)"])
                    }
                }
                installed = now
                if failing { logger.notice("shared ACME challenges readable again") }
                failing = false
            } catch {
                if !failing { logger.error("shared ACME challenges cannot be read; retrying each second", metadata: ["reason": "\(error)"]) }
                failing = true
            }
            do { try await Task.sleep(for: Self.interval) } catch { break }
        }
        for c in installed { Self.uninstall(type: c.type, name: c.name, token: c.token, challenges: challenges, tokens: tokens) }
    }

    /// A challenge any fleet host may answer: for an `mta-sts.` name (what the lifecycle orders) of a known type.
    static func answerable(_ c: PendingChallenge) -> Bool {
        (try? CertificateStoreName.checked(c.name)) != nil && c.name.hasPrefix("mta-sts.") && ["tls-alpn-01", "http-01"].contains(c.type)
    }

    static func install(_ c: PendingChallenge, challenges: ChallengeCertificates, tokens: ChallengeTokens) throws {
        switch c.type {
        case "tls-alpn-01":
            let certificate = try TLSALPNChallenge.certificate(for: c.name, keyAuthorization: c.keyAuthorization)
            try challenges.set(name: c.name, certificatePEM: certificate.certificatePEM, keyPEM: certificate.privateKeyPEM)
        case "http-01":
            tokens.set(name: c.name, token: c.token, keyAuthorization: c.keyAuthorization)
        default:
            throw CertificateStoreError("challenge type \(c.type) is not answered by this host")
        }
    }

    static func uninstall(type: String, name: String, token: String, challenges: ChallengeCertificates, tokens: ChallengeTokens) {
        if type == "http-01" { tokens.remove(name: name, token: token) } else { challenges.remove(name: name) }
    }
}
