/// The RFC 8460 §4.3 result types (the registry of §6.6), each with a cause and a fix in plain words, for the
/// views: a report says only the name, the domain owner needs to know what to change.
extension TLSReport {
    /// The result types RFC 8460 §4.3 defines, in its order: negotiation (§4.3.1), policy (§4.3.2) and the
    /// general `validation-failure` (§4.3.3).
    public static let resultTypes: [String] = [
        "starttls-not-supported", "certificate-host-mismatch", "certificate-expired", "certificate-not-trusted",
        "validation-failure", "tlsa-invalid", "dnssec-invalid", "dane-required", "sts-policy-fetch-error",
        "sts-policy-invalid", "sts-webpki-invalid",
    ]

    /// Why a sender reports `resultType` and what the receiving domain can do about it; unknown types (a sender's
    /// own name, a draft's name) get a generic explanation that says so.
    public static func explain(resultType: String) -> (cause: String, fix: String) {
        switch resultType.lowercased() {
        case "starttls-not-supported":
            return ("The receiving MX did not offer STARTTLS in its EHLO reply, so the sender could not start TLS.",
                    "Enable STARTTLS on every MX named in the policy (Postfix: smtpd_tls_security_level = may with a certificate and key), and check that no middlebox strips it.")
        case "certificate-host-mismatch":
            return ("The MX's certificate does not name the host the sender connected to (neither in its subject alternative names nor by a matching wildcard).",
                    "Install a certificate whose names include the MX host name exactly as published in the MX record and in the policy's mx lines; `mta-sts check` shows the names each MX presents.")
        case "certificate-expired":
            return ("The MX's certificate was past its notAfter date when the sender connected.",
                    "Renew the certificate on the MX and reload the mail server; automate renewal and make the reload part of it.")
        case "certificate-not-trusted":
            return ("The MX's certificate chain does not lead to a root the sender trusts: self-signed, a private CA, or intermediates missing from the chain.",
                    "Serve a certificate from a public CA with its full intermediate chain (Postfix: the chain file in smtpd_tls_chain_files).")
        case "validation-failure":
            return ("The sender could not validate the session for a reason not covered by a more specific type (often a TLS handshake failure, a protocol or cipher mismatch, or a DNS problem).",
                    "Look at the failure's additional-information and failure-reason-code, then run `mta-sts check` on the domain to see the MX's TLS answer as a strict sender does.")
        case "tlsa-invalid":
            return ("The DANE TLSA records for the MX did not match the certificate it presented, or were malformed.",
                    "Publish TLSA records for the certificate or key the MX serves now (roll them before changing the key), or remove the stale records.")
        case "dnssec-invalid":
            return ("The sender's DNSSEC validation of the MX or TLSA records failed (bogus signatures, expired RRSIGs, a broken chain of trust).",
                    "Fix the zone's signing (re-sign, check the DS record at the parent) so the records validate.")
        case "dane-required":
            return ("The sender requires DANE for this domain but found no usable TLSA records.",
                    "Publish TLSA records for each MX in a DNSSEC-signed zone, or ask the sender why it requires DANE.")
        case "sts-policy-fetch-error":
            return ("The sender found the _mta-sts TXT record but could not fetch https://mta-sts.<domain>/.well-known/mta-sts.txt (DNS, connection, TLS or HTTP error, a redirect, or a non-200 answer).",
                    "Make the policy host answer 200 with the policy over HTTPS with a publicly trusted certificate for mta-sts.<domain>; `mta-sts check` shows what the policy host answers now.")
        case "sts-policy-invalid":
            return ("The sender fetched the policy but could not parse it (wrong content type, a syntax error, a missing version, mode, mx or max_age line).",
                    "Serve the policy as text/plain in the RFC 8461 §3.2 syntax; `mta-sts check` names the offending line.")
        case "sts-webpki-invalid":
            return ("The certificate of the policy host mta-sts.<domain> was not valid for the sender (expired, untrusted, or not naming mta-sts.<domain>).",
                    "Serve a publicly trusted certificate that names mta-sts.<domain> on the policy host, with its intermediates.")
        default:
            return ("'\(resultType)' is not an RFC 8460 result type; the sender uses its own name for a failure.",
                    "Read the failure's additional-information and failure-reason-code and the sender's documentation; run `mta-sts check` on the domain to see whether its MX and policy host work now.")
        }
    }
}
