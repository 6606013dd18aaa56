import MTASTSDiscovery

/// One cached policy in `cache list --json` (one object per line) and `cache show --json`.
struct CachedPolicyJSON: Encodable {
    struct Failure: Encodable {
        let id: String
        let at: String
    }

    /// Which regime applied last (docs/dane.md): dane, mta-sts or deferred, and why.
    struct DANE: Encodable {
        let regime: String
        let reason: String
        let checked_at: String
        let expires_at: String

        init(_ d: StoredDANEStatus) {
            regime = d.regime.rawValue
            reason = d.reason
            checked_at = CacheCommand.iso(d.storedAt)
            expires_at = CacheCommand.iso(d.expiresAt)
        }
    }

    let domain: String
    let id: String
    let mode: String
    let max_age: Int
    let mx: [String]
    let fetched_at: String
    let expires_at: String
    let last_checked: String
    let last_used: String
    let valid: Bool
    /// Left out when no newer policy has failed to validate.
    let last_failure: Failure?
    /// `show` only, and only when the store keeps DANE statuses and has one for the domain.
    var dane: DANE?
    /// `show` only.
    var policy_text: String?

    init(_ e: CachedPolicy, now: Double) {
        domain = e.domain.value
        id = e.id
        mode = e.policy.mode.rawValue
        max_age = Int(e.policy.maxAge)
        mx = e.policy.mx.map(\.description)
        fetched_at = CacheCommand.iso(e.fetchedAt)
        expires_at = CacheCommand.iso(e.expiresAt)
        last_checked = CacheCommand.iso(e.lastChecked)
        last_used = CacheCommand.iso(e.lastUsed)
        valid = e.isValid(at: now)
        last_failure = if let f = e.failedID, let at = e.failedAt { Failure(id: f, at: CacheCommand.iso(at)) } else { nil }
    }

    /// The scalar fields as `cache show` prints them, one `key: value` line each, in this order.
    var textLines: [String] {
        [("domain", domain), ("id", id), ("mode", mode), ("max_age", String(max_age)), ("fetched_at", fetched_at),
         ("expires_at", expires_at), ("last_checked", last_checked), ("last_used", last_used), ("valid", String(valid))]
            .map { "\($0): \($1)" }
    }
}
