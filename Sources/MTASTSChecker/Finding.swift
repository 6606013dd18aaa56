import MTASTSCore

/// One result of `mta-sts check`: a stable code (scripts match on it; docs/check.md lists every one), a
/// severity, the RFC section behind the rule, what was found and what to do about it, and the thing it is
/// about (`_mta-sts.example.com`, `mta-sts.example.com 192.0.2.1`, `mx1.example.com 192.0.2.25`).
///
/// Record and policy problems keep the core's diagnostic codes (docs/diagnostics.md); everything the
/// checker adds has a ``FindingCode``.
public struct Finding: Hashable, Sendable {
    public typealias Severity = Diagnostic.Severity

    public var code: String
    public var severity: Severity
    public var rfc: String
    public var message: String
    public var fix: String?
    public var subject: String

    public init(_ code: FindingCode, _ severity: Severity? = nil, _ subject: String, _ message: String, fix: String? = nil) {
        self.code = code.rawValue
        self.severity = severity ?? code.severity
        self.rfc = code.rfcSection
        self.message = message
        self.fix = fix
        self.subject = subject
    }

    /// A core diagnostic (record or policy syntax) as a finding.
    public init(_ diagnostic: Diagnostic, subject: String) {
        code = diagnostic.code.rawValue
        severity = diagnostic.severity
        rfc = diagnostic.rfcSection
        var text = diagnostic.message
        if let line = diagnostic.location?.line { text = "line \(line): " + text }
        message = text
        fix = diagnostic.fix
        self.subject = subject
    }
}

/// The checker's own finding codes, with their usual severity and the RFC section they enforce. The raw value
/// is the code as printed and in JSON; the cases are in documentation order, and docs/check.md lists each one
/// (a test checks this against `allCases`). Severities of MX and verdict findings scale with the policy's mode
/// (an uncovered MX breaks delivery under `enforce`, is reported under `testing`, and does nothing under `none`).
public enum FindingCode: String, Hashable, Sendable, CaseIterable, CustomStringConvertible {
    // MARK: TXT record (RFC 8461 §3.1)
    case txtMissing = "txt-missing"
    case txtDNSFailure = "txt-dns-failure"
    case txtAtApex = "txt-at-apex"
    case txtSPF = "txt-spf"
    case txtCNAME = "txt-cname"

    // MARK: Policy host (RFC 8461 §3.3, §7)
    case hostDNSFailure = "host-dns-failure"
    case hostNoAddress = "host-no-address"
    case hostConnectFailed = "host-connect-failed"
    case hostTLSFailed = "host-tls-failed"
    case hostTLSVersion = "host-tls-version"
    case hostCertExpired = "host-cert-expired"
    case hostCertNotYetValid = "host-cert-not-yet-valid"
    case hostCertSelfSigned = "host-cert-self-signed"
    case hostCertUntrusted = "host-cert-untrusted"
    case hostCertName = "host-cert-name"
    case hostCertExpiring = "host-cert-expiring"
    case hostHTTPStatus = "host-http-status"
    case hostHTTPRedirect = "host-http-redirect"
    case hostContentType = "host-content-type"
    case hostTooLarge = "host-too-large"
    case hostTimeout = "host-timeout"
    case hostHTTPError = "host-http-error"
    case hostSlow = "host-slow"
    case hostInconsistent = "host-inconsistent"
    case hostNoSNI = "host-no-sni"
    case addressNotPublic = "address-not-public"

    // MARK: MX coverage (RFC 8461 §4.1)
    case mxDNSFailure = "mx-dns-failure"
    case mxImplicit = "mx-implicit"
    case mxNull = "mx-null"
    case mxNotCovered = "mx-not-covered"
    case mxPatternUnused = "mx-pattern-unused"
    case mxNoAddress = "mx-no-address"

    // MARK: SMTP STARTTLS per MX address (RFC 8461 §4.2, §5; RFC 3207)
    case smtpConnectFailed = "smtp-connect-failed"
    case smtpProtocol = "smtp-protocol"
    case smtpStartTLSMissing = "smtp-starttls-missing"
    case smtpStartTLSRefused = "smtp-starttls-refused"
    case smtpStartTLSInjection = "smtp-starttls-injection"
    case smtpTLSFailed = "smtp-tls-failed"
    case smtpTLSVersion = "smtp-tls-version"
    case smtpCertExpired = "smtp-cert-expired"
    case smtpCertNotYetValid = "smtp-cert-not-yet-valid"
    case smtpCertSelfSigned = "smtp-cert-self-signed"
    case smtpCertUntrusted = "smtp-cert-untrusted"
    case smtpCertName = "smtp-cert-name"
    case smtpCertExpiring = "smtp-cert-expiring"
    case smtpSNIRequired = "smtp-sni-required"
    case smtpProbesCapped = "smtp-probes-capped"

    // MARK: TLS-RPT (RFC 8460 §3)
    case tlsrptMissing = "tlsrpt-missing"
    case tlsrptDNSFailure = "tlsrpt-dns-failure"
    case tlsrptMultiple = "tlsrpt-multiple"
    case tlsrptInvalid = "tlsrpt-invalid"
    case tlsrptRUAInvalid = "tlsrpt-rua-invalid"

    // MARK: DANE precedence (RFC 8461 §2; RFC 7672)
    case daneApplies = "dane-applies"
    case daneMXBogus = "dane-mx-bogus"
    case daneTLSAFailed = "dane-tlsa-failed"
    case daneTLSAUnusable = "dane-tlsa-unusable"
    case daneTLSAMismatch = "dane-tlsa-mismatch"

    // MARK: Verdict (RFC 8461 §5)
    case modeTesting = "mode-testing"
    case modeNone = "mode-none"
    case verdictNoPolicy = "verdict-no-policy"
    case verdictDefer = "verdict-defer"
    case verdictMXSkipped = "verdict-mx-skipped"

    public var description: String { rawValue }
    public var severity: Diagnostic.Severity { rule.severity }
    public var rfcSection: String { rule.rfc }

    private var rule: (severity: Diagnostic.Severity, rfc: String) {
        switch self {
        case .txtMissing: (.error, "RFC 8461 §3.1")
        case .txtDNSFailure: (.error, "RFC 8461 §3.1")
        case .txtAtApex: (.error, "RFC 8461 §3.1")
        case .txtSPF: (.warning, "RFC 8461 §3.1")
        case .txtCNAME: (.info, "RFC 8461 §8.2")

        case .hostDNSFailure: (.error, "RFC 8461 §3.3")
        case .hostNoAddress: (.error, "RFC 8461 §3.3")
        case .hostConnectFailed: (.error, "RFC 8461 §3.3")
        case .hostTLSFailed: (.error, "RFC 8461 §7.2")
        case .hostTLSVersion: (.error, "RFC 8461 §7.2")
        case .hostCertExpired: (.error, "RFC 8461 §3.3")
        case .hostCertNotYetValid: (.error, "RFC 8461 §3.3")
        case .hostCertSelfSigned: (.error, "RFC 8461 §3.3")
        case .hostCertUntrusted: (.error, "RFC 8461 §3.3")
        case .hostCertName: (.error, "RFC 8461 §3.3")
        case .hostCertExpiring: (.warning, "RFC 8461 §3.3")
        case .hostHTTPStatus: (.error, "RFC 8461 §3.3")
        case .hostHTTPRedirect: (.error, "RFC 8461 §3.3")
        case .hostContentType: (.error, "RFC 8461 §3.2")
        case .hostTooLarge: (.error, "RFC 8461 §3.3")
        case .hostTimeout: (.error, "RFC 8461 §3.3")
        case .hostHTTPError: (.error, "RFC 8461 §3.3")
        case .hostSlow: (.warning, "RFC 8461 §3.3")
        case .hostInconsistent: (.error, "RFC 8461 §3.3")
        case .hostNoSNI: (.info, "RFC 8461 §7.1")
        case .addressNotPublic: (.error, "RFC 8461 §10")

        case .mxDNSFailure: (.error, "RFC 8461 §4")
        case .mxImplicit: (.info, "RFC 8461 §4.1")
        case .mxNull: (.warning, "RFC 7505 §3")
        case .mxNotCovered: (.error, "RFC 8461 §4.1")
        case .mxPatternUnused: (.warning, "RFC 8461 §4.1")
        case .mxNoAddress: (.error, "RFC 8461 §4")

        case .smtpConnectFailed: (.error, "RFC 8461 §5")
        case .smtpProtocol: (.error, "RFC 5321 §4.2")
        case .smtpStartTLSMissing: (.error, "RFC 8461 §4")
        case .smtpStartTLSRefused: (.error, "RFC 3207 §4")
        case .smtpStartTLSInjection: (.error, "RFC 3207 §5")
        case .smtpTLSFailed: (.error, "RFC 8461 §4.2")
        case .smtpTLSVersion: (.error, "RFC 8461 §7.2")
        case .smtpCertExpired: (.error, "RFC 8461 §4.2")
        case .smtpCertNotYetValid: (.error, "RFC 8461 §4.2")
        case .smtpCertSelfSigned: (.error, "RFC 8461 §4.2")
        case .smtpCertUntrusted: (.error, "RFC 8461 §4.2")
        case .smtpCertName: (.error, "RFC 8461 §4.2")
        case .smtpCertExpiring: (.warning, "RFC 8461 §4.2")
        case .smtpSNIRequired: (.warning, "RFC 8461 §7.1")
        case .smtpProbesCapped: (.warning, "RFC 5321 §5.1")

        case .tlsrptMissing: (.warning, "RFC 8460 §3")
        case .tlsrptDNSFailure: (.warning, "RFC 8460 §3")
        case .tlsrptMultiple: (.error, "RFC 8460 §3")
        case .tlsrptInvalid: (.error, "RFC 8460 §3")
        case .tlsrptRUAInvalid: (.error, "RFC 8460 §3")

        case .daneApplies: (.info, "RFC 8461 §2")
        case .daneMXBogus: (.error, "RFC 7672 §2.2.1")
        case .daneTLSAFailed: (.error, "RFC 7672 §2.2")
        case .daneTLSAUnusable: (.warning, "RFC 7672 §3.1")
        case .daneTLSAMismatch: (.error, "RFC 7672 §3")

        case .modeTesting: (.info, "RFC 8461 §5")
        case .modeNone: (.info, "RFC 8461 §5")
        case .verdictNoPolicy: (.error, "RFC 8461 §3.3")
        case .verdictDefer: (.error, "RFC 8461 §5")
        case .verdictMXSkipped: (.warning, "RFC 8461 §5")
        }
    }
}

extension Array where Element == Finding {
    public var hasErrors: Bool { contains { $0.severity == .error } }
    public func count(_ severity: Finding.Severity) -> Int { filter { $0.severity == severity }.count }
}
