import Foundation
import MTASTSCertificateStore
import MTASTSDiscovery

/// The ACME lifecycle's decisions as pure functions (issue 12, item 4): when a certificate is due, how long to wait
/// after a failure, and whether `mta-sts.<domain>` points at this host. ``ACMELifecycle`` does the I/O.
public enum ACMESchedule {
    /// First wait after a failed order, doubled per further failure up to ``backoffCeiling``.
    public static let backoffStart: Double = 60
    public static let backoffCeiling: Double = 6 * 3600
    /// How often the lifecycle looks at every name (and reloads certificates from the store).
    public static let tickInterval: Double = 60

    /// When to renew a certificate valid from `notBefore` to `notAfter`: inside the CA's suggested window when it
    /// offers one (RFC 9773 §4.2: a uniformly random point in it, `jitter` in 0..<1; a window already past means now),
    /// else at two thirds of the lifetime (``RenewalSchedule``, the rule `certs list` shows too).
    public static func renewalTime(notBefore: Date, notAfter: Date, window: (start: Date, end: Date)? = nil, jitter: Double = 0) -> Date {
        if let window, window.end > window.start {
            return window.start + window.end.timeIntervalSince(window.start) * min(max(jitter, 0), 1)
        }
        return RenewalSchedule.renewalTime(notBefore: notBefore, notAfter: notAfter)
    }

    /// Seconds to wait after the `failures`-th consecutive failure (1 = the first): 1 min doubling to 6 h, but never
    /// sooner than the CA's `Retry-After` (RFC 8555 §6.6: a rate-limited client waits as told, even beyond the ceiling).
    public static func backoff(failures: Int, retryAfter: Double? = nil) -> Double {
        let doublings = max(0, min(failures - 1, 20))
        let wait = min(backoffStart * pow(2, Double(doublings)), backoffCeiling)
        return max(wait, retryAfter ?? 0)
    }

    /// What DNS says about `mta-sts.<domain>` (A and AAAA, CNAMEs followed).
    public struct Resolution: Sendable, Equatable {
        public var addresses: [String]
        /// Where CNAMEs led, when the name is an alias.
        public var canonicalName: String?
        /// Set when the truth is unknown (SERVFAIL, timeout): retry later.
        public var failure: String?
        public init(addresses: [String], canonicalName: String? = nil, failure: String? = nil) {
            self.addresses = addresses
            self.canonicalName = canonicalName
            self.failure = failure
        }
    }

    public enum Precheck: Sendable, Equatable {
        case pointsHere
        /// No order: the CA would validate somewhere else, or nowhere.
        case notHere(String)
    }

    /// Issue 12, item 3: order only when `name` resolves to this host, as `mta-sts zone` tells customers to publish
    /// it: a CNAME to `zone.host`, or addresses all among `zone.addresses` (the CA may validate at any of them).
    /// Without zone settings there is nothing to compare: any name that resolves is taken as pointing here.
    public static func precheck(name: String, _ r: Resolution, zone: PolicyHostConfiguration.ZoneSettings) -> Precheck {
        if let failure = r.failure { return .notHere("\(name) could not be resolved: \(failure)") }
        if r.addresses.isEmpty { return .notHere("\(name) has no A or AAAA record") }
        if let host = zone.host {
            let target = normalized(r.canonicalName ?? name)
            return target == normalized(host) ? .pointsHere
                : .notHere("\(name) is not a CNAME to \(host) (zone.host)" + (r.canonicalName.map { ": it leads to \($0)" } ?? ""))
        }
        if !zone.addresses.isEmpty {
            let ours = Set(zone.addresses.compactMap(canonicalAddress))
            let foreign = r.addresses.filter { !ours.contains(canonicalAddress($0) ?? $0) }
            return foreign.isEmpty ? .pointsHere
                : .notHere("\(name) resolves to \(foreign.joined(separator: " ")), not in zone.addresses")
        }
        return .pointsHere
    }

    static func normalized(_ name: String) -> String {
        (name.hasSuffix(".") ? String(name.dropLast()) : name).lowercased()
    }

    /// One spelling per address (IPv6 written several ways compares equal).
    static func canonicalAddress(_ text: String) -> String? {
        var v4 = in_addr(), v6 = in6_addr()
        if inet_pton(AF_INET, text, &v4) == 1 { return withUnsafeBytes(of: &v4) { IPAddress(bytes: Array($0)) }?.description }
        if inet_pton(AF_INET6, text, &v6) == 1 { return withUnsafeBytes(of: &v6) { IPAddress(bytes: Array($0)) }?.description }
        return nil
    }
}
