import MTASTSReports
import Testing

/// A minimal RFC 8460 §4.4 report for building inputs.
let sampleReport = """
    {"organization-name":"Sender Inc.","date-range":{"start-datetime":"2026-03-01T00:00:00Z",\
    "end-datetime":"2026-03-01T23:59:59Z"},"contact-info":"tlsrpt@sender.example","report-id":"r-1",\
    "policies":[{"policy":{"policy-type":"sts","policy-string":["version: STSv1","mode: enforce",\
    "mx: mx.example.com","max_age: 86400"],"policy-domain":"example.com","mx-host":["mx.example.com"]},\
    "summary":{"total-successful-session-count":10,"total-failure-session-count":2},\
    "failure-details":[{"result-type":"certificate-expired","sending-mta-ip":"192.0.2.1",\
    "receiving-mx-hostname":"mx.example.com","receiving-ip":"198.51.100.7","failed-session-count":2}]}]}
    """

/// The one rejection `extract` gives for `bytes`, or nil when it gave anything else.
func rejection(_ bytes: [UInt8], max: Int = 10 << 20) -> String? {
    let results = TLSReportParser.extract(bytes, maxDecompressedBytes: max)
    guard results.count == 1, case .failure(let r) = results[0] else { return nil }
    return r.reason
}

@Suite struct BadInputTests {
    @Test func theSampleIsAReport() throws {
        let report = try TLSReportParser.parse(json: Array(sampleReport.utf8)).get()
        #expect(report.notes.isEmpty)
        #expect(report.start == 1_772_323_200 && report.end == 1_772_409_599)
        #expect(report.totalSuccessful == 10 && report.totalFailed == 2)
        let gzipped = try TLSReportParser.extract(gzip(Array(sampleReport.utf8)))[0].get()
        #expect(gzipped == report)
    }

    @Test func truncatedGzipIsRejected() throws {
        let whole = gzip(Array(sampleReport.utf8))
        let reason = try #require(rejection(Array(whole.prefix(whole.count / 2))))
        #expect(reason.contains("gzip: truncated"), "\(reason)")
        // Cut inside the 8-byte trailer: the deflate data is whole, the CRC and length are not.
        let trailer = try #require(rejection(Array(whole.dropLast(3))))
        #expect(trailer.contains("gzip: truncated"), "\(trailer)")
    }

    @Test func aGzipBombIsRejectedNotExpanded() throws {
        // 1 GiB of zeros, about 1 MB compressed; the cap stops the inflate after 10 MiB.
        let bomb = gzip([UInt8](repeating: 0, count: 1 << 20), repeat: 1024)
        #expect(bomb.count < 2 << 20)
        let reason = try #require(rejection(bomb))
        #expect(reason.contains("more than 10485760 bytes"), "\(reason)")
        // The cap is the caller's: a report larger than it is refused too.
        let small = try #require(rejection(gzip(Array(sampleReport.utf8)), max: 100))
        #expect(small.contains("more than 100 bytes"), "\(small)")
    }

    @Test func corruptGzipIsRejected() throws {
        var bytes = gzip(Array(sampleReport.utf8))
        for i in 12..<40 { bytes[i] ^= 0x5A }
        let reason = try #require(rejection(bytes))
        #expect(reason.hasPrefix("gzip: "), "\(reason)")
    }

    @Test func nonJSONIsRejected() throws {
        let direct = TLSReportParser.parse(json: Array("{\"organization-name\": ".utf8))
        guard case .failure(let r) = direct else { Issue.record("parsed"); return }
        #expect(r.reason.hasPrefix("not JSON"), "\(r)")
        let text = try #require(rejection(Array("this is not a report at all\n".utf8)))
        #expect(text.contains("not JSON"), "\(text)")
        let gzipText = try #require(rejection(gzip(Array("hello".utf8))))
        #expect(gzipText.hasPrefix("not JSON"), "\(gzipText)")
        #expect(rejection(Array("[1, 2]".utf8)) == "not a report: the JSON is an array, not an object")
        #expect(rejection([]) == "empty input")
        // Found by the fuzzer (Fuzz/regressions/reports/mbox-from-line-only): an mbox of one `From ` line.
        #expect(rejection(Array("From MAILER-DAEMON Mon Mar  2 04:00:00 2026".utf8)) == "an mbox without a message")
    }

    @Test(arguments: ["policies", "report-id", "organization-name", "date-range"])
    func aReportWithoutARequiredFieldIsRejected(field: String) throws {
        var object = try #require(jsonObject(sampleReport))
        object.removeValue(forKey: field)
        let reason = try #require(rejection(Array(jsonText(object).utf8)))
        #expect(reason.hasPrefix("not a report: no `\(field)`"), "\(reason)")
    }

    @Test func policiesThatAreNotAnArrayOrObjectAreRejected() throws {
        let text = sampleReport.replacingOccurrences(of: "\"policies\":[", with: "\"policies\":7,\"x\":[")
        #expect(rejection(Array(text.utf8)) == "not a report: `policies` is an integer, not an array")
    }

    @Test func aMessageWithoutAReportPartIsRejected() throws {
        let message = """
            From: someone@example.net\r
            To: tlsrpt@example.com\r
            Subject: hello\r
            MIME-Version: 1.0\r
            Content-Type: multipart/mixed; boundary="b1"\r
            \r
            --b1\r
            Content-Type: text/plain\r
            \r
            Just a note, no report.\r
            --b1\r
            Content-Type: image/png; name="x.png"\r
            Content-Transfer-Encoding: base64\r
            \r
            iVBORw0KGgo=\r
            --b1--\r

            """
        let reason = try #require(rejection(Array(message.utf8)))
        #expect(reason == "no application/tlsrpt part (the message has multipart/mixed, text/plain, image/png)")
        // Many parts: each type once, at most eight named.
        let parts = (0..<20).map { "--b1\r\nContent-Type: text/x-\($0 % 10)\r\n\r\nx\r\n" }.joined()
        let many = try #require(rejection(Array("Content-Type: multipart/mixed; boundary=b1\r\n\r\n\(parts)--b1--\r\n".utf8)))
        #expect(many == "no application/tlsrpt part (the message has multipart/mixed, text/x-0, text/x-1, text/x-2, "
            + "text/x-3, text/x-4, text/x-5, text/x-6, ...)")
    }
}
