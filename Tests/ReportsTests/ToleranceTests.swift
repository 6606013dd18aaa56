import MTASTSReports
import Testing

/// What real senders get wrong is read and noted (docs/reports.md, "What is accepted").
@Suite struct ToleranceTests {
    static func parsed(_ edit: (String) -> String) throws -> TLSReport {
        try TLSReportParser.parse(json: Array(edit(sampleReport).utf8)).get()
    }

    @Test func mxHostAsAStringIsOneHost() throws {
        let report = try Self.parsed { $0.replacingOccurrences(of: "\"mx-host\":[\"mx.example.com\"]", with: "\"mx-host\":\"mx.example.com\"") }
        #expect(report.policies[0].mxHosts == ["mx.example.com"])
        #expect(report.notes == ["mx-host is a string (RFC 8460 text form)"])
    }

    @Test func countsAsNumericStringsAreCounted() throws {
        let report = try Self.parsed {
            $0.replacingOccurrences(of: "\"total-successful-session-count\":10", with: "\"total-successful-session-count\":\"10\"")
                .replacingOccurrences(of: "\"failed-session-count\":2", with: "\"failed-session-count\":\" 2\"")
        }
        #expect(report.totalSuccessful == 10 && report.policies[0].failures[0].failedSessions == 2)
        #expect(report.notes == ["total-successful-session-count is a string", "failed-session-count is a string"])
    }

    @Test func emptyAndMissingFieldsAreAbsent() throws {
        let report = try Self.parsed {
            $0.replacingOccurrences(of: "\"sending-mta-ip\":\"192.0.2.1\"", with: "\"sending-mta-ip\":\"\"")
                .replacingOccurrences(of: "\"receiving-ip\":\"198.51.100.7\",", with: "")
                .replacingOccurrences(of: "\"contact-info\":\"tlsrpt@sender.example\",", with: "")
        }
        #expect(report.contactInfo == nil)
        #expect(report.policies[0].failures[0].sendingMTAIP == nil && report.policies[0].failures[0].receivingIP == nil)
        #expect(report.notes == ["missing contact-info", "failure detail without receiving-ip", "empty-string sending-mta-ip"])
    }

    @Test func unknownTypesAndExtraKeysAreKeptAndNoted() throws {
        let report = try Self.parsed {
            $0.replacingOccurrences(of: "\"certificate-expired\"", with: "\"quantum-flux\"")
                .replacingOccurrences(of: "\"policy-type\":\"sts\"", with: "\"policy-type\":\"STS\",\"policy-mode\":\"enforce\"")
                .replacingOccurrences(of: "\"example.com\",\"mx-host\"", with: "\"Example.COM.\",\"mx-host\"")
                .replacingOccurrences(of: "\"report-id\":\"r-1\"", with: "\"report-id\":\"r-1\",\"x-vendor\":{}")
        }
        #expect(report.policies[0].policyType == "sts" && report.policies[0].policyDomain == "example.com")
        #expect(report.policies[0].failures[0].resultType == "quantum-flux")
        #expect(Set(report.notes) == ["extra key x-vendor", "non-standard policy-type 'STS'", "extra policy key policy-mode",
                                      "policy-domain not normalized (case or trailing dot)", "non-standard result-type 'quantum-flux'"])
    }

    @Test func uLabelsAreKeptAndNoted() throws {
        let report = try Self.parsed { $0.replacingOccurrences(of: "example.com", with: "bücher.example") }
        #expect(report.policies[0].policyDomain == "bücher.example")
        #expect(report.notes == ["policy-domain is not an A-label (non-ASCII)", "mx-host is not an A-label (non-ASCII)"])
    }

    @Test func datetimesAsUnixSeconds() throws {
        func times(_ start: String, _ end: String) throws -> (Int64?, Int64?, [String]) {
            let r = try Self.parsed {
                $0.replacingOccurrences(of: "2026-03-01T00:00:00Z", with: start).replacingOccurrences(of: "2026-03-01T23:59:59Z", with: end)
            }
            return (r.start, r.end, r.notes)
        }
        #expect(try times("2026-03-01T01:00:00+01:00", "2026-03-01T23:59:59.999z") == (1_772_323_200, 1_772_409_599, []))
        #expect(try times("2024-02-29T00:00:00", "2024-03-01T00:00:00Z") == (1_709_164_800, 1_709_251_200, ["date-time without UTC offset (read as UTC)"]))
        #expect(try times("2026-02-30T00:00:00Z", "2026-03-01") == (nil, 1_772_323_200, ["invalid start-datetime '2026-02-30T00:00:00Z'", "date-time is a bare date (read as 00:00:00 UTC)"]))
        #expect(try times("2026-03-02T00:00:00Z", "2026-03-01T00:00:00Z").2 == ["end-datetime not after start-datetime"])
    }

    @Test func everyRFCResultTypeIsExplainedAndAnUnknownOneSaysSo() {
        let generic = TLSReport.explain(resultType: "made-up")
        #expect(generic.cause.contains("'made-up' is not an RFC 8460 result type"))
        #expect(TLSReport.resultTypes.count == 11)
        for type in TLSReport.resultTypes {
            let e = TLSReport.explain(resultType: type)
            #expect(e.cause != generic.cause && !e.fix.isEmpty, "\(type)")
        }
        #expect(TLSReport.explain(resultType: "STARTTLS-Not-Supported").cause.contains("STARTTLS"))
    }
}
