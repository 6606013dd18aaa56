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

/// The checker's own finding codes, with their usual severity and the RFC section they enforce.
/// Severities of MX and verdict findings scale with the policy's mode (an uncovered MX breaks delivery
/// under `enforce`, is reported under `testing`, and does nothing under `none`).
public struct FindingCode: Hashable, Sendable, CustomStringConvertible {
    public let rawValue: String
    public let severity: Diagnostic.Severity
    public let rfcSection: String

    init(_ rawValue: String, _ severity: Diagnostic.Severity, _ rfcSection: String) {
        self.rawValue = rawValue
        self.severity = severity
        self.rfcSection = rfcSection
    }

    public var description: String { rawValue }

    // MARK: TXT record (RFC 8461 §3.1)
    public static let txtMissing = Self("txt-missing", .error, "RFC 8461 §3.1")
    public static let txtDNSFailure = Self("txt-dns-failure", .error, "RFC 8461 §3.1")
    public static let txtAtApex = Self("txt-at-apex", .error, "RFC 8461 §3.1")
    public static let txtSPF = Self("txt-spf", .warning, "RFC 8461 §3.1")
    public static let txtCNAME = Self("txt-cname", .info, "RFC 8461 §8.2")

    // MARK: Policy host (RFC 8461 §3.3, §7)
    public static let hostDNSFailure = Self("host-dns-failure", .error, "RFC 8461 §3.3")
    public static let hostNoAddress = Self("host-no-address", .error, "RFC 8461 §3.3")
    public static let hostConnectFailed = Self("host-connect-failed", .error, "RFC 8461 §3.3")
    public static let hostTLSFailed = Self("host-tls-failed", .error, "RFC 8461 §7.2")
    public static let hostTLSVersion = Self("host-tls-version", .error, "RFC 8461 §7.2")
    public static let hostCertExpired = Self("host-cert-expired", .error, "RFC 8461 §3.3")
    public static let hostCertNotYetValid = Self("host-cert-not-yet-valid", .error, "RFC 8461 §3.3")
    public static let hostCertSelfSigned = Self("host-cert-self-signed", .error, "RFC 8461 §3.3")
    public static let hostCertUntrusted = Self("host-cert-untrusted", .error, "RFC 8461 §3.3")
    public static let hostCertName = Self("host-cert-name", .error, "RFC 8461 §3.3")
    public static let hostCertExpiring = Self("host-cert-expiring", .warning, "RFC 8461 §3.3")
    public static let hostHTTPStatus = Self("host-http-status", .error, "RFC 8461 §3.3")
    public static let hostHTTPRedirect = Self("host-http-redirect", .error, "RFC 8461 §3.3")
    public static let hostContentType = Self("host-content-type", .error, "RFC 8461 §3.2")
    public static let hostTooLarge = Self("host-too-large", .error, "RFC 8461 §3.3")
    public static let hostTimeout = Self("host-timeout", .error, "RFC 8461 §3.3")
    public static let hostHTTPError = Self("host-http-error", .error, "RFC 8461 §3.3")
    public static let hostSlow = Self("host-slow", .warning, "RFC 8461 §3.3")
    public static let hostInconsistent = Self("host-inconsistent", .error, "RFC 8461 §3.3")
    public static let hostNoSNI = Self("host-no-sni", .info, "RFC 8461 §7.1")
    public static let addressNotPublic = Self("address-not-public", .error, "RFC 8461 §10")

    // MARK: MX coverage (RFC 8461 §4.1)
    public static let mxDNSFailure = Self("mx-dns-failure", .error, "RFC 8461 §4")
    public static let mxImplicit = Self("mx-implicit", .info, "RFC 8461 §4.1")
    public static let mxNull = Self("mx-null", .warning, "RFC 7505 §3")
    public static let mxNotCovered = Self("mx-not-covered", .error, "RFC 8461 §4.1")
    public static let mxPatternUnused = Self("mx-pattern-unused", .warning, "RFC 8461 §4.1")
    public static let mxNoAddress = Self("mx-no-address", .error, "RFC 8461 §4")

    // MARK: SMTP STARTTLS per MX address (RFC 8461 §4.2, §5; RFC 3207)
    public static let smtpConnectFailed = Self("smtp-connect-failed", .error, "RFC 8461 §5")
    public static let smtpProtocol = Self("smtp-protocol", .error, "RFC 5321 §4.2")
    public static let smtpStartTLSMissing = Self("smtp-starttls-missing", .error, "RFC 8461 §4")
    public static let smtpStartTLSRefused = Self("smtp-starttls-refused", .error, "RFC 3207 §4")
    public static let smtpStartTLSInjection = Self("smtp-starttls-injection", .error, "RFC 3207 §5")
    public static let smtpTLSFailed = Self("smtp-tls-failed", .error, "RFC 8461 §4.2")
    public static let smtpTLSVersion = Self("smtp-tls-version", .error, "RFC 8461 §7.2")
    public static let smtpCertExpired = Self("smtp-cert-expired", .error, "RFC 8461 §4.2")
    public static let smtpCertNotYetValid = Self("smtp-cert-not-yet-valid", .error, "RFC 8461 §4.2")
    public static let smtpCertSelfSigned = Self("smtp-cert-self-signed", .error, "RFC 8461 §4.2")
    public static let smtpCertUntrusted = Self("smtp-cert-untrusted", .error, "RFC 8461 §4.2")
    public static let smtpCertName = Self("smtp-cert-name", .error, "RFC 8461 §4.2")
    public static let smtpCertExpiring = Self("smtp-cert-expiring", .warning, "RFC 8461 §4.2")
    public static let smtpSNIRequired = Self("smtp-sni-required", .warning, "RFC 8461 §7.1")
    public static let smtpProbesCapped = Self("smtp-probes-capped", .warning, "RFC 5321 §5.1")

    // MARK: TLS-RPT (RFC 8460 §3)
    public static let tlsrptMissing = Self("tlsrpt-missing", .warning, "RFC 8460 §3")
    public static let tlsrptDNSFailure = Self("tlsrpt-dns-failure", .warning, "RFC 8460 §3")
    public static let tlsrptMultiple = Self("tlsrpt-multiple", .error, "RFC 8460 §3")
    public static let tlsrptInvalid = Self("tlsrpt-invalid", .error, "RFC 8460 §3")
    public static let tlsrptRUAInvalid = Self("tlsrpt-rua-invalid", .error, "RFC 8460 §3")

    // MARK: DANE precedence (RFC 8461 §2; RFC 7672)
    public static let daneApplies = Self("dane-applies", .info, "RFC 8461 §2")
    public static let daneMXBogus = Self("dane-mx-bogus", .error, "RFC 7672 §2.2.1")
    public static let daneTLSAFailed = Self("dane-tlsa-failed", .error, "RFC 7672 §2.2")
    public static let daneTLSAUnusable = Self("dane-tlsa-unusable", .warning, "RFC 7672 §3.1")
    public static let daneTLSAMismatch = Self("dane-tlsa-mismatch", .error, "RFC 7672 §3")

    // MARK: Verdict (RFC 8461 §5)
    public static let modeTesting = Self("mode-testing", .info, "RFC 8461 §5")
    public static let modeNone = Self("mode-none", .info, "RFC 8461 §5")
    public static let verdictNoPolicy = Self("verdict-no-policy", .error, "RFC 8461 §3.3")
    public static let verdictDefer = Self("verdict-defer", .error, "RFC 8461 §5")
    public static let verdictMXSkipped = Self("verdict-mx-skipped", .warning, "RFC 8461 §5")

    /// Every code, in documentation order. docs/check.md lists each one (a test checks this).
    public static let all: [Self] = [
        .txtMissing, .txtDNSFailure, .txtAtApex, .txtSPF, .txtCNAME,
        .hostDNSFailure, .hostNoAddress, .hostConnectFailed, .hostTLSFailed, .hostTLSVersion, .hostCertExpired,
        .hostCertNotYetValid, .hostCertSelfSigned, .hostCertUntrusted, .hostCertName, .hostCertExpiring,
        .hostHTTPStatus, .hostHTTPRedirect, .hostContentType, .hostTooLarge, .hostTimeout, .hostHTTPError,
        .hostSlow, .hostInconsistent, .hostNoSNI, .addressNotPublic,
        .mxDNSFailure, .mxImplicit, .mxNull, .mxNotCovered, .mxPatternUnused, .mxNoAddress,
        .smtpConnectFailed, .smtpProtocol, .smtpStartTLSMissing, .smtpStartTLSRefused, .smtpStartTLSInjection,
        .smtpTLSFailed, .smtpTLSVersion, .smtpCertExpired, .smtpCertNotYetValid, .smtpCertSelfSigned,
        .smtpCertUntrusted, .smtpCertName, .smtpCertExpiring, .smtpSNIRequired, .smtpProbesCapped,
        .tlsrptMissing, .tlsrptDNSFailure, .tlsrptMultiple, .tlsrptInvalid, .tlsrptRUAInvalid,
        .daneApplies, .daneMXBogus, .daneTLSAFailed, .daneTLSAUnusable, .daneTLSAMismatch,
        .modeTesting, .modeNone, .verdictNoPolicy, .verdictDefer, .verdictMXSkipped,
    ]
}

extension Array where Element == Finding {
    public var hasErrors: Bool { contains { $0.severity == .error } }
    public func count(_ severity: Finding.Severity) -> Int { filter { $0.severity == severity }.count }
}
