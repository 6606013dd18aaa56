import Foundation
import MTASTSCore
// The SPI gives RFC 5280 path validation without the validity-period check, so trust and expiry are
// separate reasons (an expired leaf issued by a CA younger than the leaf's notBefore is expired, not untrusted).
@_spi(DisableValidityCheck) import X509

/// The one certificate judgement, used by `mta-sts check` (every chain it captures) and by the strict policy
/// fetch (`lookup`, the resolver, the policy host's proxy) to explain a certificate it refused. It judges a
/// presented chain the way a sender does: swift-certificates parses the chain and its `Verifier` (RFC 5280 path
/// building) decides trust; expiry comes from the parsed leaf; the name check is the core's
/// ``CertificateIdentity`` (SAN DNS-IDs only, whole-label wildcards) over ``CertificateReader/dnsNames(_:)``.
public struct CertificateEvaluator: Sendable {
    private let extraRoots: [Certificate]

    /// - Parameter extraRootsPEM: PEM text of extra trust roots (the `--ca-file`), beside the system's.
    public init(extraRootsPEM: String? = nil) throws {
        extraRoots = try extraRootsPEM.map(CertificateReader.certificates) ?? []
    }

    /// - Parameters:
    ///   - chain: DER certificates as presented, leaf first.
    ///   - host: the name the client connected to (SNI).
    ///   - now: the time to judge expiry at.
    public func evaluate(chain: [[UInt8]], host: DomainName, now: Date) async -> CertificateReport {
        guard let first = chain.first, let leaf = try? Certificate(derEncoded: first) else {
            return CertificateReport(subject: "?", issuer: "?", dnsNames: [], notBefore: 0, notAfter: 0, chainLength: chain.count,
                                     problems: [.unparseable], trustDetail: "the server sent no parseable certificate")
        }
        let intermediates = chain.dropFirst().compactMap { try? Certificate(derEncoded: $0) }
        let names = CertificateReader.dnsNames(leaf)
        var problems: [CertificateReport.Problem] = []
        if now > leaf.notValidAfter { problems.append(.expired) }
        if now < leaf.notValidBefore { problems.append(.notYetValid) }
        // Trust is judged without validity periods, so an expired but otherwise good chain reads "expired"
        // and not also "untrusted". The system roots are read at the first judgement (not at startup: a
        // resolver that never meets a bad certificate never parses them).
        let roots = CertificateStore.systemTrustRoots.appending(contentsOf: extraRoots)
        var verifier = Verifier(rootCertificates: roots) { RFC5280Policy.withValidityCheckDisabled() }
        var detail: String?
        switch await verifier.validate(leaf: leaf, intermediates: CertificateStore(intermediates)) {
        case .validCertificate:
            break
        case .couldNotValidate(let failures):
            if leaf.subject == leaf.issuer {
                problems.append(.selfSigned)
            } else {
                problems.append(.untrusted)
                detail = failures.first.map { String(describing: $0.policyFailureReason) }
                    ?? "no issuer of \(leaf.issuer) among the presented chain and the trust roots"
            }
        }
        if !CertificateIdentity.covers(names, host: host) { problems.append(.nameMismatch) }
        return CertificateReport(subject: String(describing: leaf.subject), issuer: String(describing: leaf.issuer), dnsNames: names,
                                 notBefore: Int64(leaf.notValidBefore.timeIntervalSince1970),
                                 notAfter: Int64(leaf.notValidAfter.timeIntervalSince1970),
                                 chainLength: chain.count, problems: problems, trustDetail: detail)
    }
}
