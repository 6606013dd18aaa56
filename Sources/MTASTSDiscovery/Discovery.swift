import MTASTSCore

/// How a discovery ended. The raw values are the `outcome` of `mta-sts lookup --json` (a contract).
public enum DiscoveryOutcome: String, Sendable, CaseIterable {
    /// A usable record and a valid policy.
    case valid
    /// No `_mta-sts` TXT record (NXDOMAIN, NODATA, or none that begins with `v=STSv1;`).
    case noRecord = "no-record"
    /// Several `v=STSv1;` records: no usable policy (RFC 8461 §3.1).
    case multipleRecords = "multiple-records"
    /// One `v=STSv1;` record, but malformed: no usable policy.
    case recordInvalid = "record-invalid"
    /// The TXT lookup failed (SERVFAIL, timeout, bogus DNSSEC): temporary; a cached policy still applies.
    case dnsError = "dns-error"
    /// The policy could not be fetched: connection, HTTP status, redirect, type, size, timeout.
    case fetchError = "fetch-error"
    /// The policy host's certificate is not valid for it: untrusted, expired, wrong name.
    case webpkiInvalid = "webpki-invalid"
    /// The policy body does not parse.
    case policyInvalid = "policy-invalid"

    /// The TLS-RPT result type (RFC 8460 §4.3.2.2) a sender reports for this outcome, when it reports one.
    public var tlsrptResultType: String? {
        switch self {
        case .fetchError: "sts-policy-fetch-error"
        case .webpkiInvalid: "sts-webpki-invalid"
        case .policyInvalid: "sts-policy-invalid"
        default: nil
        }
    }

    /// True when the domain asked for MTA-STS but the policy could not be had (TLS-RPT reportable, §6).
    public var isPolicyFailure: Bool { tlsrptResultType != nil }
}

/// One thing a discovery asked and what came back, for people reading `mta-sts lookup`.
public struct DiscoveryStep: Sendable {
    /// `TXT _mta-sts.example.com`, `A mta-sts.example.com`, `GET https://mta-sts.example.com/...`
    public let question: String
    /// A one-line summary of the answer.
    public let answer: String
    public let dnssec: DNSSECStatus?
    public let elapsed: Duration
}

/// Why a discovery did not end `valid`: a stable code and a message (`mta-sts lookup --json` `error`).
public struct DiscoveryError: Sendable, Hashable {
    /// The discovery's own codes, or the fetch's or the core parser's code that decided the outcome. The printed code
    /// (`description`) is the documented string (docs/lookup.md).
    public enum Code: Sendable, Hashable, CustomStringConvertible {
        /// The TXT query failed (SERVFAIL, timeout): RFC 8461 §3.1 leaves the domain without a usable record now.
        case dnsFailure
        /// `_mta-sts.<domain>` does not exist.
        case txtNXDomain
        /// `_mta-sts.<domain>` exists without TXT records.
        case txtNoData
        /// The policy host's address query failed. (No address at all is the fetch's `host-not-found`.)
        case hostDNSFailure
        /// The record's first error (RFC 8461 §3.1 grammar and selection).
        case record(Diagnostic.Code)
        /// The fetch failed (RFC 8461 §3.3).
        case fetch(FetchFailure.Code)
        /// The policy's first error (RFC 8461 §3.2).
        case policy(Diagnostic.Code)
        /// The policy was rejected without an error diagnostic to name.
        case policyInvalid

        public var description: String {
            switch self {
            case .dnsFailure: "dns-failure"
            case .txtNXDomain: "txt-nxdomain"
            case .txtNoData: "txt-nodata"
            case .hostDNSFailure: "host-dns-failure"
            case .record(let code), .policy(let code): code.rawValue
            case .fetch(let code): code.rawValue
            case .policyInvalid: "policy-invalid"
            }
        }
    }

    public let code: Code
    public let message: String

    public init(code: Code, message: String) {
        self.code = code
        self.message = message
    }
}

/// Everything one discovery learned.
public struct DiscoveryResult: Sendable {
    public let domain: DomainName
    public let outcome: DiscoveryOutcome
    public let record: STSRecord?
    /// The TTL of the TXT answer (also bounds negative caching).
    public let recordTTL: UInt32?
    public let recordDNSSEC: DNSSECStatus?
    public let policy: STSPolicy?
    /// The policy body exactly as served, when one was received.
    public let policyBody: [UInt8]?
    public let error: DiscoveryError?
    /// Diagnostics from the record and the policy (warnings of a valid policy included).
    public let diagnostics: [Diagnostic]
    public let steps: [DiscoveryStep]
}

/// RFC 8461 §3: look up the `_mta-sts` TXT record, resolve the policy host with the same resolver, fetch
/// and parse the policy. Every outcome is a value; nothing here throws.
public struct PolicyDiscovery: Sendable {
    public let resolver: any DNSResolver
    public let fetcher: any PolicyFetcher

    public init(resolver: any DNSResolver, fetcher: any PolicyFetcher) {
        self.resolver = resolver
        self.fetcher = fetcher
    }

    /// The TXT half of discovery: what the `_mta-sts.<domain>` RRset says.
    public struct RecordLookup: Sendable {
        public let outcome: DiscoveryOutcome
        public let record: STSRecord?
        public let ttl: UInt32?
        public let dnssec: DNSSECStatus?
        public let error: DiscoveryError?
        public let diagnostics: [Diagnostic]
        public let step: DiscoveryStep
    }

    /// Looks up and selects the TXT record (RFC 8461 §3.1). CNAMEs are followed by the resolver, so a
    /// provider delegation (`_mta-sts.example.com CNAME _mta-sts.provider.net`) gives the provider's record.
    public func lookupRecord(_ domain: DomainName) async -> RecordLookup {
        let name = domain.recordName
        let clock = ContinuousClock()
        let start = clock.now
        let answer = await resolver.query(name, .txt)
        let elapsed = clock.now - start
        let via = answer.canonicalName.map { " (via CNAME to \($0))" } ?? ""
        func step(_ summary: String) -> DiscoveryStep {
            DiscoveryStep(question: "TXT \(name)", answer: summary + via, dnssec: answer.dnssec, elapsed: elapsed)
        }
        func result(_ outcome: DiscoveryOutcome, _ record: STSRecord? = nil, _ error: DiscoveryError?,
                    _ diagnostics: [Diagnostic] = [], _ summary: String) -> RecordLookup {
            RecordLookup(outcome: outcome, record: record, ttl: answer.ttl, dnssec: answer.dnssec, error: error,
                         diagnostics: diagnostics, step: step(summary))
        }
        switch answer.result {
        case .failure(let reason):
            return result(.dnsError, nil, DiscoveryError(code: .dnsFailure, message: "TXT \(name): \(reason)"), [], reason)
        case .nxdomain:
            return result(.noRecord, nil, DiscoveryError(code: .txtNXDomain, message: "\(name) does not exist (NXDOMAIN)"), [], "NXDOMAIN")
        case .nodata:
            return result(.noRecord, nil, DiscoveryError(code: .txtNoData, message: "\(name) has no TXT records (NODATA)"), [], "NODATA")
        case .records(let rdata):
            let texts = rdata.map { DNSRecordData.txt($0) ?? [] }
            let shown = texts.map { "\"" + String(decoding: $0, as: UTF8.self) + "\"" }.joined(separator: " ")
            let selection = RecordSelection(rrset: texts)
            let firstError = selection.diagnostics.errors.first
            let error = firstError.map { DiscoveryError(code: .record($0.code), message: $0.message) }
            switch selection {
            case .record(let record, let diagnostics):
                return result(.valid, record, nil, diagnostics, shown)
            case .none(let diagnostics):
                return result(.noRecord, nil, error, diagnostics, shown)
            case .multiple(_, let diagnostics):
                return result(.multipleRecords, nil, error, diagnostics, shown)
            case .invalid(let diagnostics):
                return result(.recordInvalid, nil, error, diagnostics, shown)
            }
        }
    }

    /// The HTTPS half of discovery: what the policy host serves.
    public struct PolicyFetch: Sendable {
        /// `.valid`, `.fetchError`, `.webpkiInvalid` or `.policyInvalid`.
        public let outcome: DiscoveryOutcome
        public let policy: STSPolicy?
        /// The body exactly as served, when one was received.
        public let body: [UInt8]?
        public let error: DiscoveryError?
        public let diagnostics: [Diagnostic]
        public let steps: [DiscoveryStep]
    }

    /// A whole discovery: the record, then (if there is one) the policy host's addresses and the policy.
    public func discover(_ domain: DomainName) async -> DiscoveryResult {
        let lookup = await lookupRecord(domain)
        guard lookup.outcome == .valid, let record = lookup.record else {
            return DiscoveryResult(domain: domain, outcome: lookup.outcome, record: nil, recordTTL: lookup.ttl,
                                   recordDNSSEC: lookup.dnssec, policy: nil, policyBody: nil, error: lookup.error,
                                   diagnostics: lookup.diagnostics, steps: [lookup.step])
        }
        let fetch = await fetchPolicy(domain)
        return DiscoveryResult(domain: domain, outcome: fetch.outcome, record: record, recordTTL: lookup.ttl,
                               recordDNSSEC: lookup.dnssec, policy: fetch.policy, policyBody: fetch.body, error: fetch.error,
                               diagnostics: lookup.diagnostics + fetch.diagnostics, steps: [lookup.step] + fetch.steps)
    }

    /// Resolves the policy host with our resolver, fetches the policy with the strict fetcher and parses it
    /// as a sender applies it (RFC 8461 §3.2, §3.3).
    public func fetchPolicy(_ domain: DomainName) async -> PolicyFetch {
        guard let host = domain.policyHost else {
            return PolicyFetch(outcome: .fetchError, policy: nil, body: nil,
                               error: DiscoveryError(code: .fetch(.hostNotFound), message: "mta-sts.\(domain) is longer than DNS allows"),
                               diagnostics: [], steps: [])
        }
        var (addresses, steps, addressError) = await resolveAddresses(host)
        if let addressError {
            return PolicyFetch(outcome: .fetchError, policy: nil, body: nil, error: addressError, diagnostics: [], steps: steps)
        }
        let clock = ContinuousClock()
        let start = clock.now
        let fetched = await fetcher.fetch(host: host, addresses: addresses)
        let elapsed = clock.now - start
        let url = "https://\(host)\(policyPath)"
        for attempt in fetched.attempts {
            steps.append(DiscoveryStep(question: "GET \(url) at \(attempt.address)", answer: attempt.summary, dnssec: nil,
                                       elapsed: attempt.elapsed))
        }
        if fetched.attempts.isEmpty {
            steps.append(DiscoveryStep(question: "GET \(url)", answer: "not attempted", dnssec: nil, elapsed: elapsed))
        }
        switch fetched.outcome {
        case .failure(let failure):
            return PolicyFetch(outcome: failure.isWebPKI ? .webpkiInvalid : .fetchError, policy: nil, body: nil,
                               error: DiscoveryError(code: .fetch(failure.code), message: failure.message), diagnostics: [], steps: steps)
        case .body(let body):
            // Applied as a sender reads it: blank lines and a trailing dot on mx are tolerated (warned).
            let parsed = STSPolicy.parse(body, reading: .sender)
            guard let policy = parsed.policy else {
                let first = parsed.diagnostics.errors.first
                let error = DiscoveryError(code: first.map { .policy($0.code) } ?? .policyInvalid,
                                           message: first.map { "the policy is invalid: \($0.message)" } ?? "the policy is invalid")
                return PolicyFetch(outcome: .policyInvalid, policy: nil, body: body, error: error,
                                   diagnostics: parsed.diagnostics, steps: steps)
            }
            return PolicyFetch(outcome: .valid, policy: policy, body: body, error: nil, diagnostics: parsed.diagnostics, steps: steps)
        }
    }

    /// A and AAAA of the policy host, asked together; A addresses are tried first.
    private func resolveAddresses(_ host: DomainName) async -> ([IPAddress], [DiscoveryStep], DiscoveryError?) {
        let clock = ContinuousClock()
        let start = clock.now
        async let a = resolver.query(host.value, .a)
        async let aaaa = resolver.query(host.value, .aaaa)
        let answers = await [(DNSRecordType.a, a), (DNSRecordType.aaaa, aaaa)]
        let elapsed = clock.now - start
        var addresses: [IPAddress] = []
        var steps: [DiscoveryStep] = []
        var failures: [String] = []
        for (type, answer) in answers {
            let summary: String
            switch answer.result {
            case .records(let rdata):
                let found = rdata.compactMap(DNSRecordData.address)
                addresses += found
                summary = found.map(\.description).joined(separator: " ")
            case .nxdomain: summary = "NXDOMAIN"
            case .nodata: summary = "NODATA"
            case .failure(let reason):
                summary = reason
                failures.append("\(type): \(reason)")
            }
            steps.append(DiscoveryStep(question: "\(type) \(host)", answer: summary, dnssec: answer.dnssec, elapsed: elapsed))
        }
        if !addresses.isEmpty { return (addresses, steps, nil) }
        if !failures.isEmpty {
            return ([], steps, DiscoveryError(code: .hostDNSFailure,
                                              message: "the policy host \(host) could not be resolved: " + failures.joined(separator: "; ")))
        }
        return ([], steps, DiscoveryError(code: .fetch(.hostNotFound), message: "the policy host \(host) has no A or AAAA record"))
    }
}
