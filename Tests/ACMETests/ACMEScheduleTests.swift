import Foundation
@testable import MTASTSPolicyHost
import Testing

/// The lifecycle's pure decisions: when a certificate is due, the backoff after failures, the DNS precheck, and the
/// `acme:` configuration keys.
struct ACMEScheduleTests {
    let start = Date(timeIntervalSince1970: 1_800_000_000)

    @Test func dueAtTwoThirdsOfTheLifetimeWithoutARI() {
        let end = start + 90 * 86400
        #expect(ACMESchedule.renewalTime(notBefore: start, notAfter: end) == start + 60 * 86400)
    }

    @Test func ariWindowDecidesWhenOffered() {
        let end = start + 90 * 86400
        let window = (start: start + 10 * 86400, end: start + 12 * 86400)
        #expect(ACMESchedule.renewalTime(notBefore: start, notAfter: end, window: window, jitter: 0) == window.start)
        #expect(ACMESchedule.renewalTime(notBefore: start, notAfter: end, window: window, jitter: 0.5) == start + 11 * 86400)
        // RFC 9773 §4.2: a window that does not end after it starts is ignored (two thirds again).
        let bad = (start: window.end, end: window.start)
        #expect(ACMESchedule.renewalTime(notBefore: start, notAfter: end, window: bad, jitter: 0.5) == start + 60 * 86400)
    }

    @Test func backoffDoublesFromAMinuteUpToSixHours() {
        #expect((1...5).map { ACMESchedule.backoff(failures: $0) } == [60, 120, 240, 480, 960])
        #expect(ACMESchedule.backoff(failures: 9) == 15360)  // 60·2^8, still below the ceiling; 60·2^9 would pass it
        #expect(ACMESchedule.backoff(failures: 10) == 6 * 3600)
        #expect(ACMESchedule.backoff(failures: 1000) == 6 * 3600)
    }

    @Test func retryAfterIsHonouredEvenBeyondTheCeiling() {
        #expect(ACMESchedule.backoff(failures: 1, retryAfter: 3600) == 3600)
        #expect(ACMESchedule.backoff(failures: 3, retryAfter: 10) == 240)  // never sooner than the backoff
        #expect(ACMESchedule.backoff(failures: 30, retryAfter: 86400) == 86400)
    }

    @Test func precheckWithZoneAddresses() {
        var zone = PolicyHostConfiguration.ZoneSettings()
        zone.addresses = ["192.0.2.1", "2001:db8::1"]
        let name = "mta-sts.example.com"
        #expect(ACMESchedule.precheck(name: name, .init(addresses: ["192.0.2.1", "2001:db8:0:0::1"]), zone: zone) == .pointsHere)
        guard case .notHere(let why) = ACMESchedule.precheck(name: name, .init(addresses: ["192.0.2.1", "198.51.100.7"]), zone: zone) else {
            Issue.record("an address elsewhere must stop the order")
            return
        }
        #expect(why.contains("198.51.100.7"))
        #expect(ACMESchedule.precheck(name: name, .init(addresses: []), zone: zone) == .notHere("\(name) has no A or AAAA record"))
        #expect(ACMESchedule.precheck(name: name, .init(addresses: [], failure: "SERVFAIL"), zone: zone)
                == .notHere("\(name) could not be resolved: SERVFAIL"))
    }

    @Test func precheckWithZoneHostWantsTheCNAME() {
        var zone = PolicyHostConfiguration.ZoneSettings()
        zone.host = "policy.provider.net"
        let name = "mta-sts.example.com"
        #expect(ACMESchedule.precheck(name: name, .init(addresses: ["192.0.2.1"], canonicalName: "Policy.Provider.NET."), zone: zone) == .pointsHere)
        #expect(ACMESchedule.precheck(name: name, .init(addresses: ["192.0.2.1"], canonicalName: "elsewhere.example."), zone: zone)
                != .pointsHere)
        #expect(ACMESchedule.precheck(name: name, .init(addresses: ["192.0.2.1"]), zone: zone) != .pointsHere)  // an A record, no CNAME
    }

    @Test func acmeSectionIsParsedStrictly() throws {
        let base = "domains:\n  example.com: {mode: testing, mx: [mx.example.com], max_age: 86400}\n  own.example: {mode: testing, mx: [mx.own.example], max_age: 86400, certificate: /c.pem, key: /k.pem}\n"
        let c = try PolicyHostConfiguration.parse(base + """
            acme:
              directory: https://acme.example/dir
              contact: [mailto:hostmaster@example.net]
              storage: /srv/acme
              ca_file: /etc/acme-ca.pem
            """)
        let acme = try #require(c.acme)
        #expect(acme.directory == "https://acme.example/dir" && acme.contact == ["mailto:hostmaster@example.net"])
        #expect(acme.storage == .directory("/srv/acme") && acme.caFile == "/etc/acme-ca.pem" && acme.challenge == "tls-alpn-01")
        #expect(c.acmeDomains.map(\.value) == ["example.com"])  // own.example has its own certificate
        let defaults = try PolicyHostConfiguration.parse(base + "acme: {directory: https://a/dir}")
        #expect(defaults.acme?.storage == .directory("/var/lib/mta-sts-serve/acme"))
        let fleet = try PolicyHostConfiguration.parse(base + "acme: {directory: https://a/dir, storage: 'postgres://u@h/db'}")
        #expect(fleet.acme?.storage == .postgres(url: "postgres://u@h/db"))
        let none = try PolicyHostConfiguration.parse(base)
        #expect(none.acmeDomains.isEmpty)
        let http01 = try PolicyHostConfiguration.parse(base + "http: 0.0.0.0:80\nacme: {directory: https://a/dir, challenge: http-01}")
        #expect(http01.acme?.challenge == "http-01")
        // http-01 is validated on port 80: without a plain listener nobody would answer it.
        #expect(throws: PolicyHostConfiguration.Invalid.self) { try PolicyHostConfiguration.parse(base + "acme: {directory: https://a/dir, challenge: http-01}") }
        for bad in ["acme: {directory: https://a/dir, email: x}", "acme: {storage: /x}", "acme: {directory: http://a/dir}",
                    "acme: {directory: https://a/dir, challenge: dns-01}", "acme: {directory: https://a/dir, storage: relative}",
                    "acme: {directory: https://a/dir, contact: [hostmaster@example.net]}"] {
            #expect(throws: PolicyHostConfiguration.Invalid.self, "\(bad)") { try PolicyHostConfiguration.parse(base + bad) }
        }
    }
}
