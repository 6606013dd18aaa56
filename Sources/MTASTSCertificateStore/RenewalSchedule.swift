import Foundation

/// When a certificate is renewed (issue 12, item 4): at two thirds of its lifetime, the rule certbot and lego
/// follow for 90-day certificates (30 days before expiry), which scales to short-lived ones (a 6-day certificate
/// is renewed after 4 days). The one place this rule lives: the ACME lifecycle schedules by it and `mta-sts certs
/// list` shows it. (A CA's renewal information, RFC 9773, when offered, takes precedence in the lifecycle.)
public enum RenewalSchedule {
    /// `notBefore + 2/3 × (notAfter − notBefore)`; `notBefore` itself for a lifetime that is not positive.
    public static func renewalTime(notBefore: Date, notAfter: Date) -> Date {
        let lifetime = notAfter.timeIntervalSince(notBefore)
        guard lifetime > 0 else { return notBefore }
        return notBefore.addingTimeInterval(lifetime * 2 / 3)
    }
}
