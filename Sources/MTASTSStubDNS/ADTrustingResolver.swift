import CResolv
import Dispatch
import Foundation
import MTASTSDiscovery

/// The `trust-ad` DNSSEC mode's resolver: glibc's stub resolver asking the configured resolvers (or one
/// given server) with the DO bit and believing their AD bit — exactly the trust Postfix's own DANE uses, so
/// our DANE decision and Postfix's agree. libunbound cannot do this (it clears the AD bit of every upstream
/// reply; NLnetLabs/unbound#571), so this is the one deliberate second DNS path, used only for the
/// DANE-deciding MX and TLSA questions (docs/dane.md).
///
/// Answers: AD set → `secure`; AD clear → `insecure`; a bogus answer reaches us as SERVFAIL (a validating
/// resolver never returns bogus data), i.e. `failure`.
public final class ADTrustingResolver: DNSResolver, Sendable {
    public struct SetupError: Error, CustomStringConvertible { public let description: String }

    private let server: (address: String, port: UInt16)?
    private let timeoutSeconds: Int32
    /// glibc's resolver blocks its thread for the whole exchange. A Dispatch queue would run only about one
    /// such query per core at a time (a burst of first lookups then waits in line past its deadline), so each
    /// query gets a thread of its own, at most this many at once.
    private static let maxConcurrent = 64
    private static let slots = DispatchSemaphore(value: maxConcurrent)

    /// - Parameters:
    ///   - server: `ADDR[:PORT]` (IPv4), or nil for the servers of /etc/resolv.conf.
    ///   - timeout: the time for one question, retries included.
    public init(server: String?, timeout: Duration) throws(SetupError) {
        if let server {
            let parts = server.split(separator: ":", omittingEmptySubsequences: false)
            guard parts.count <= 2, let address = parts.first, !address.isEmpty,
                  address.split(separator: ".").count == 4, address.allSatisfy({ $0.isNumber || $0 == "." }) else {
                throw SetupError(description: "trust-ad mode asks the DNS server with glibc's stub resolver, which takes an IPv4 address here: '\(server)' (use --dnssec validate for other servers)")
            }
            guard let port = parts.count == 2 ? UInt16(parts[1]) : 53 else {
                throw SetupError(description: "invalid DNS server port in '\(server)'")
            }
            self.server = (String(address), port)
        } else {
            self.server = nil
        }
        timeoutSeconds = Int32(max(1, timeout.components.seconds))
    }

    public func query(_ name: String, _ type: DNSRecordType) async -> DNSAnswer {
        await withCheckedContinuation { continuation in
            let thread = Thread {
                Self.slots.wait()
                defer { Self.slots.signal() }
                continuation.resume(returning: self.blockingQuery(name, type))
            }
            thread.stackSize = 512 << 10
            thread.start()
        }
    }

    private func blockingQuery(_ name: String, _ type: DNSRecordType) -> DNSAnswer {
        var buffer = [UInt8](repeating: 0, count: 65535)
        let n = buffer.withUnsafeMutableBufferPointer { out in
            mtasts_dns_query(server?.address ?? "", server?.port ?? 53, name, Int32(type.rawValue), timeoutSeconds,
                             out.baseAddress, Int32(out.count))
        }
        switch n {
        case -1: return DNSAnswer(.failure("no answer from \(serverDescription) (timeout)"))
        case -2: return DNSAnswer(.failure("cannot set up the stub resolver (/etc/resolv.conf)"))
        case ..<0: return DNSAnswer(.failure("cannot ask for \(name)"))
        default: break
        }
        guard let message = DNSMessage(Array(buffer[0..<Int(n)])) else {
            return DNSAnswer(.failure("malformed answer from \(serverDescription)"))
        }
        return Self.answer(message, name: name, type: type)
    }

    private var serverDescription: String { server.map { "\($0.address):\($0.port)" } ?? "the resolvers of /etc/resolv.conf" }

    /// A parsed response as a ``DNSAnswer`` (pure; tested with crafted messages).
    public static func answer(_ message: DNSMessage, name: String, type: DNSRecordType) -> DNSAnswer {
        let dnssec: DNSSECStatus = message.authenticData ? .secure : .insecure
        let (records, owner) = message.records(for: name, type)
        var asked = name.lowercased()
        if asked.hasSuffix("."), asked.count > 1 { asked.removeLast() }
        let canonical = owner == asked ? nil : owner
        switch message.rcode {
        case 0:
            guard !records.isEmpty else { return DNSAnswer(.nodata, dnssec: dnssec, canonicalName: canonical) }
            return DNSAnswer(.records(records.map(\.rdata)), ttl: records.map(\.ttl).min() ?? 0, dnssec: dnssec, canonicalName: canonical)
        case 3:
            return DNSAnswer(.nxdomain, dnssec: dnssec, canonicalName: canonical)
        case 2:
            return DNSAnswer(.failure("SERVFAIL (a validating resolver answers so for DNSSEC-bogus data, too)"))
        default:
            let names = [1: "FORMERR", 4: "NOTIMP", 5: "REFUSED"]
            return DNSAnswer(.failure(names[Int(message.rcode)] ?? "rcode \(message.rcode)"))
        }
    }
}
