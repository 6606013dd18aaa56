import MTASTSCore
@testable import MTASTSDiscovery

/// DNS as plain data: answers by (name, type); anything unlisted is NXDOMAIN.
struct FakeResolver: DNSResolver {
    var answers: [String: [DNSRecordType: DNSAnswer]] = [:]

    mutating func txt(_ name: String, _ records: [String], canonical: String? = nil) {
        let rdata = records.map { text -> [UInt8] in
            // One character-string per 255 bytes, as DNS stores long TXT records.
            stride(from: 0, to: max(text.utf8.count, 1), by: 255).flatMap { start -> [UInt8] in
                let chunk = Array(text.utf8.dropFirst(start).prefix(255))
                return [UInt8(chunk.count)] + chunk
            }
        }
        answers[name, default: [:]][.txt] = DNSAnswer(.records(rdata), ttl: 300, canonicalName: canonical)
    }

    mutating func set(_ name: String, _ type: DNSRecordType, _ answer: DNSAnswer) { answers[name, default: [:]][type] = answer }

    mutating func a(_ name: String, _ addresses: [[UInt8]]) { set(name, .a, DNSAnswer(.records(addresses), ttl: 300)) }

    func query(_ name: String, _ type: DNSRecordType) async -> DNSAnswer {
        if let answer = answers[name]?[type] { return answer }
        return answers[name] == nil ? DNSAnswer(.nxdomain, ttl: 60) : DNSAnswer(.nodata, ttl: 60)
    }
}

/// A policy host as plain data: what each host name returns; counts nothing, decides nothing.
struct FakeFetcher: PolicyFetcher {
    var results: [String: PolicyFetchResult.Outcome] = [:]

    func fetch(host: DomainName, addresses: [IPAddress]) async -> PolicyFetchResult {
        let outcome = results[host.value] ?? .failure(FetchFailure(code: .connectFailed, message: "refused"))
        return PolicyFetchResult(outcome, attempts: addresses.map { .init(address: $0, summary: "fake", elapsed: .zero) })
    }
}
