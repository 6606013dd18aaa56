/// The numbers RFC 8461 fixes, each once, beside the rule that sets it.
public enum STSLimits {
    /// The largest `max_age` a policy may carry, in seconds (about one year). RFC 8461 §3.2.
    public static let maxAgeCeiling: UInt32 = 31_557_600
    /// `max_age` is `1*10DIGIT`. RFC 8461 §3.2 (ABNF).
    public static let maxAgeDigits = 10
    /// A policy id is `1*32(ALPHA / DIGIT)`. RFC 8461 §3.1 (ABNF).
    public static let idLength = 1...32
    /// Extension names are `(ALPHA / DIGIT) *31(ALPHA / DIGIT / "_" / "-" / ".")`. RFC 8461 §3.1, §3.2.
    public static let extensionNameLength = 1...32
    /// Senders may stop reading a policy body after 64 KiB. RFC 8461 §3.3 (suggested limit).
    public static let policyBodyCap = 64 * 1024
    /// Senders may give up on a policy fetch after one minute. RFC 8461 §3.3 (suggested limit).
    public static let fetchTimeoutSeconds = 60
    /// After a failed fetch, wait at least this long before fetching the same policy id again. RFC 8461 §3.3.
    public static let fetchRetryBackoffSeconds = 300
    /// A DNS label is at most 63 octets; a name at most 253 characters in text form. RFC 1035 §2.3.4.
    public static let labelLength = 63
    public static let nameLength = 253
    /// Below this `max_age` an enforce policy barely protects against downgrade (one day). RFC 8461 §3.2 guidance.
    public static let shortMaxAgeWarning: UInt32 = 86_400
}
