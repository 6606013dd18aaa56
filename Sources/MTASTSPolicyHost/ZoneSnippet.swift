import Foundation
import MTASTSCore

/// DNS records for a hosted domain, as zone-file lines: the `_mta-sts` TXT with a content-hash id (or, for a
/// proxied domain, the CNAME to the provider's `_mta-sts`, so the id follows the provider's policy), the
/// `mta-sts` host records, and `_smtp._tls` when a TLS-RPT address is configured.
public enum ZoneSnippet {
    /// What a domain publishes at `_mta-sts`.
    public enum Record: Sendable, Equatable {
        /// `v=STSv1; id=<content hash>;`, the id changing exactly when the served policy changes.
        case txt(STSRecord)
        /// A CNAME to the provider's `_mta-sts.<upstream>`.
        case cname(String)
    }

    /// The `_mta-sts` record for a configured domain. Reads a `file` source's policy now (it must be valid).
    public static func record(for domain: PolicyHostConfiguration.Domain) throws(PolicyHostConfiguration.Invalid) -> Record {
        switch domain.source {
        case .fixed(let policy):
            return .txt(STSRecord(id: PolicyID.contentHash(of: policy))!)
        case .file(let path):
            let policy = try FileSource.validate(try FileSource.read(path), path: path)
            return .txt(STSRecord(id: PolicyID.contentHash(of: policy))!)
        case .proxy(let upstream, _):
            return .cname(upstream.recordName + ".")
        }
    }

    /// The `_mta-sts` line.
    public static func recordLine(_ domain: DomainName, _ record: Record, ttl: Int) -> String {
        switch record {
        case .txt(let r): "\(domain.recordName).\t\(ttl)\tIN\tTXT\t\"\(r.description)\""
        case .cname(let target): "\(domain.recordName).\t\(ttl)\tIN\tCNAME\t\(target)"
        }
    }

    /// The whole snippet for one domain.
    public static func render(_ domain: PolicyHostConfiguration.Domain, zone: PolicyHostConfiguration.ZoneSettings)
        throws(PolicyHostConfiguration.Invalid) -> String
    {
        let record = try record(for: domain)
        let host = domain.name.policyHost!.value + "."
        var lines = ["; \(domain.name): MTA-STS (RFC 8461). Serve the policy first, then publish or change the id."]
        lines.append(recordLine(domain.name, record, ttl: zone.ttl))
        if let target = zone.host {
            lines.append("\(host)\t\(zone.ttl)\tIN\tCNAME\t\(target.hasSuffix(".") ? target : target + ".")")
        } else if zone.addresses.isEmpty {
            lines.append("; \(host) needs A/AAAA records of this policy host (set zone.addresses or zone.host)")
        }
        for a in zone.addresses {
            lines.append("\(host)\t\(zone.ttl)\tIN\t\(addressType(a) ?? "A")\t\(a)")
        }
        if let rua = domain.tlsrpt {
            lines.append("_smtp._tls.\(domain.name).\t\(zone.ttl)\tIN\tTXT\t\"v=TLSRPTv1; rua=\(rua)\"")
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// "A" or "AAAA" for an IP address literal, nil for anything else.
    public static func addressType(_ text: String) -> String? {
        var v4 = in_addr()
        var v6 = in6_addr()
        if inet_pton(AF_INET, text, &v4) == 1 { return "A" }
        if inet_pton(AF_INET6, text, &v6) == 1 { return "AAAA" }
        return nil
    }
}
