import CUnbound
import Dispatch
import MTASTSDiscovery

/// A ``DNSResolver`` on libunbound: one context for the process (shared cache), asynchronous queries
/// processed on a serial queue fed by `ub_fd`, and our own deadline on every query (libunbound alone can
/// take ~17 s to give up on a dead server).
public final class UnboundResolver: DNSResolver, @unchecked Sendable {
    public struct Configuration: Sendable {
        /// Upstream servers as `HOST` or `HOST:PORT` (IPv6 as `[ADDR]:PORT`); every query goes there.
        /// Empty: the system's resolvers from /etc/resolv.conf.
        public var servers: [String]
        /// A file of DS or DNSKEY records: validate locally from these anchors only (test zones, or the
        /// root key). Nil: no local validation, answers are `insecure`.
        public var trustAnchorFile: String?
        /// Deadline of one query.
        public var timeout: Duration
        /// Bytes for each of libunbound's answer caches (message and RRset); nil: libunbound's default (4 MiB each).
        /// A daemon that caches what it learned itself needs little here: the upstream resolver caches too, and
        /// unbound keeps even TTL-0 answers until the cache is full, a few small allocations per name asked.
        public var answerCacheBytes: Int?

        public init(servers: [String] = [], trustAnchorFile: String? = nil, timeout: Duration = .seconds(5),
                    answerCacheBytes: Int? = nil) {
            self.servers = servers
            self.trustAnchorFile = trustAnchorFile
            self.timeout = timeout
            self.answerCacheBytes = answerCacheBytes
        }
    }

    /// The context could not be set up (bad server address, unreadable anchor file, ...).
    public struct SetupError: Error, CustomStringConvertible {
        public let description: String
    }

    /// Special-use names that libunbound would answer locally (RFC 6761 and friends). A stub resolver
    /// answers nothing itself: these go upstream like every other name (tests use `.test`).
    static let transparentZones = ["test.", "invalid.", "onion.", "home.arpa."]

    private let context: OpaquePointer
    private let queue = DispatchQueue(label: "mta-sts.unbound")
    private let source: DispatchSourceRead
    private let timeout: Duration

    public init(_ configuration: Configuration) throws(SetupError) {
        guard let ctx = ub_ctx_create() else { throw SetupError(description: "libunbound: cannot create a context") }
        func check(_ rc: Int32, _ what: String) throws(SetupError) {
            guard rc == 0 else {
                ub_ctx_delete(ctx)
                throw SetupError(description: "libunbound: \(what): \(String(cString: ub_strerror(rc)))")
            }
        }
        // A forwarder on loopback (a local resolver, or the test world's NSD) must be asked.
        try check(ub_ctx_set_option(ctx, "do-not-query-localhost:", "no"), "do-not-query-localhost")
        if let bytes = configuration.answerCacheBytes {
            try check(ub_ctx_set_option(ctx, "msg-cache-size:", "\(bytes)"), "msg-cache-size")
            try check(ub_ctx_set_option(ctx, "rrset-cache-size:", "\(bytes)"), "rrset-cache-size")
        }
        if configuration.servers.isEmpty {
            try check(ub_ctx_resolvconf(ctx, nil), "reading /etc/resolv.conf")
        } else {
            for server in configuration.servers {
                guard let address = Self.unboundAddress(server) else {
                    ub_ctx_delete(ctx)
                    throw SetupError(description: "invalid DNS server '\(server)': use HOST or HOST:PORT ([ADDR]:PORT for IPv6)")
                }
                try check(ub_ctx_set_fwd(ctx, address), "forwarder \(server)")
            }
        }
        if let anchors = configuration.trustAnchorFile {
            try check(ub_ctx_add_ta_file(ctx, anchors), "trust anchor file \(anchors)")
        }
        try check(ub_ctx_async(ctx, 1), "async mode")
        // Zone changes finalise the context, so they come last.
        for zone in Self.transparentZones {
            try check(ub_ctx_zone_add(ctx, zone, "transparent"), "local zone \(zone)")
        }
        let fd = ub_fd(ctx)
        guard fd >= 0 else {
            ub_ctx_delete(ctx)
            throw SetupError(description: "libunbound: no file descriptor")
        }
        context = ctx
        timeout = configuration.timeout
        source = DispatchSource.makeReadSource(fileDescriptor: fd, queue: queue)
        source.setEventHandler { ub_process(ctx) }
        source.setCancelHandler { ub_ctx_delete(ctx) }
        source.resume()
    }

    deinit { source.cancel() }

    /// `HOST[:PORT]` → libunbound's `ADDR@PORT`; nil when the text is neither.
    public static func unboundAddress(_ server: String) -> String? {
        if server.hasPrefix("[") {
            guard let close = server.firstIndex(of: "]") else { return nil }
            let host = server[server.index(after: server.startIndex)..<close]
            let rest = server[server.index(after: close)...]
            if rest.isEmpty { return String(host) }
            guard rest.hasPrefix(":"), let port = UInt16(rest.dropFirst()) else { return nil }
            return "\(host)@\(port)"
        }
        let parts = server.split(separator: ":", omittingEmptySubsequences: false)
        switch parts.count {
        case 1: return server.isEmpty ? nil : server
        case 2:
            guard !parts[0].isEmpty, let port = UInt16(parts[1]) else { return nil }
            return "\(parts[0])@\(port)"
        default: return server  // a bare IPv6 address
        }
    }

    public func query(_ name: String, _ type: DNSRecordType) async -> DNSAnswer {
        await withCheckedContinuation { continuation in
            queue.async { self.start(name, type, continuation) }
        }
    }

    /// On `queue`: every state change of a query happens there, so the answer and the deadline cannot race.
    private func start(_ name: String, _ type: DNSRecordType, _ continuation: CheckedContinuation<DNSAnswer, Never>) {
        let pending = Pending(continuation)
        let box = Unmanaged.passRetained(pending)  // owned by libunbound until the callback or a cancel
        var id: Int32 = 0
        let rc = ub_resolve_async(context, name, Int32(type.rawValue), 1 /* IN */, box.toOpaque(), unboundCallback, &id)
        guard rc == 0 else {
            box.release()
            pending.finish(DNSAnswer(.failure("resolver error: \(String(cString: ub_strerror(rc)))")))
            return
        }
        let queryID = id
        let limit = timeout
        queue.asyncAfter(deadline: .now() + .nanoseconds(Int(limit.nanoseconds))) {
            guard pending.isWaiting else { return }
            // Cancelled queries never call back; if the cancel comes too late the callback owns the box.
            if ub_cancel(self.context, queryID) == 0 { box.release() }
            pending.finish(DNSAnswer(.failure("timeout after \(limit)")))
        }
    }
}

/// One query in flight; touched only on the resolver's queue.
private final class Pending: @unchecked Sendable {
    private var continuation: CheckedContinuation<DNSAnswer, Never>?
    init(_ continuation: CheckedContinuation<DNSAnswer, Never>) { self.continuation = continuation }
    var isWaiting: Bool { continuation != nil }
    func finish(_ answer: DNSAnswer) {
        continuation?.resume(returning: answer)
        continuation = nil
    }
}

/// libunbound's callback (runs inside `ub_process`, on the resolver's queue).
private let unboundCallback: ub_callback_type = { mydata, err, result in
    let pending = Unmanaged<Pending>.fromOpaque(mydata!).takeRetainedValue()
    defer { if let result { ub_resolve_free(result) } }
    guard err == 0, let result else {
        pending.finish(DNSAnswer(.failure("resolver error: \(String(cString: ub_strerror(err)))")))
        return
    }
    pending.finish(answer(from: result.pointee))
}

private func answer(from r: ub_result) -> DNSAnswer {
    let ttl = UInt32(clamping: max(0, Int(r.ttl)))
    var canonical: String? = nil
    if let c = r.canonname, let q = r.qname {
        let cn = String(cString: c), qn = String(cString: q)
        if cn.lowercased().trimmingDot != qn.lowercased().trimmingDot { canonical = cn.trimmingDot }
    }
    if r.bogus != 0 {
        // Never hand out bogus data (RFC 4035 §5.5): it is a failure with the validator's reason.
        let why = r.why_bogus.map { String(cString: $0) } ?? "DNSSEC validation failed"
        return DNSAnswer(.failure("DNSSEC bogus: \(why)"), ttl: ttl, dnssec: .bogus(reason: why), canonicalName: canonical)
    }
    let dnssec: DNSSECStatus = r.secure != 0 ? .secure : .insecure
    if r.nxdomain != 0 { return DNSAnswer(.nxdomain, ttl: ttl, dnssec: dnssec, canonicalName: canonical) }
    if r.rcode != 0 {
        let names = [1: "FORMERR", 2: "SERVFAIL", 4: "NOTIMP", 5: "REFUSED"]
        return DNSAnswer(.failure(names[Int(r.rcode)] ?? "rcode \(r.rcode)"), ttl: ttl, dnssec: dnssec, canonicalName: canonical)
    }
    guard r.havedata != 0, let data = r.data, let lengths = r.len else {
        return DNSAnswer(.nodata, ttl: ttl, dnssec: dnssec, canonicalName: canonical)
    }
    var records: [[UInt8]] = []
    var i = 0
    while let item = data[i] {
        let n = Int(lengths[i])
        records.append(item.withMemoryRebound(to: UInt8.self, capacity: n) { Array(UnsafeBufferPointer(start: $0, count: n)) })
        i += 1
    }
    return records.isEmpty
        ? DNSAnswer(.nodata, ttl: ttl, dnssec: dnssec, canonicalName: canonical)
        : DNSAnswer(.records(records), ttl: ttl, dnssec: dnssec, canonicalName: canonical)
}

extension String {
    fileprivate var trimmingDot: String { hasSuffix(".") ? String(dropLast()) : self }
}
