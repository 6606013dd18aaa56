import Foundation
import MTASTSCore
// The SPI gives RFC 5280 path validation without the validity-period check, so trust and expiry are
// separate reasons (an expired leaf issued by a CA younger than the leaf's notBefore is expired, not untrusted).
@_spi(DisableValidityCheck) import X509

/// Judges a presented chain the way a sender does, and says why it fails: swift-certificates parses the
/// chain and its `Verifier` (RFC 5280 path building) decides trust; expiry comes from the parsed leaf;
/// the name check is the core's ``CertificateIdentity`` (SAN DNS-IDs only, whole-label wildcards).
public struct CertificateEvaluator: Sendable {
    private let roots: CertificateStore

    /// - Parameter extraRootsPEM: PEM text of extra trust roots (the `--ca-file`), beside the system's.
    public init(extraRootsPEM: String? = nil) throws {
        var extra: [Certificate] = []
        if let pem = extraRootsPEM {
            let begin = "-----BEGIN CERTIFICATE-----", end = "-----END CERTIFICATE-----"
            for block in pem.components(separatedBy: end) {
                guard let start = block.range(of: begin) else { continue }
                let text = String(block[start.lowerBound...]).trimmingCharacters(in: .whitespacesAndNewlines)
                extra.append(try Certificate(pemEncoded: text + "\n" + end))
            }
        }
        roots = CertificateStore.systemTrustRoots.appending(contentsOf: extra)
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
        let names = Self.dnsNames(leaf)
        var problems: [CertificateReport.Problem] = []
        if now > leaf.notValidAfter { problems.append(.expired) }
        if now < leaf.notValidBefore { problems.append(.notYetValid) }
        // Trust is judged without validity periods, so an expired but otherwise good chain reads "expired"
        // and not also "untrusted".
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

    static func dnsNames(_ certificate: Certificate) -> [String] {
        guard let san = try? certificate.extensions.subjectAlternativeNames else { return [] }
        return san.compactMap { name in
            if case .dnsName(let n) = name { return n }
            return nil
        }
    }
}
