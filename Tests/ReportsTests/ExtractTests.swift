import Foundation
import MTASTSReports
import Testing

/// Report mails as senders build them (RFC 8460 §5.3) and as forwarders and archives mangle them.
@Suite struct ExtractTests {
    static let base64Gzip = Data(gzip(Array(sampleReport.utf8))).base64EncodedString(options: .lineLength76Characters)

    static func mail(_ part: String, lineEnding: String = "\r\n") -> String {
        """
        From: noreply-smtp-tls-reporting@sender.example
        To: tlsrpt@example.com
        Subject: Report Domain: example.com
          Submitter: sender.example
          Report-ID: <r-1@sender.example>
        TLS-Report-Domain: example.com
        TLS-Report-Submitter: sender.example
        MIME-Version: 1.0
        Content-Type: multipart/report; report-type="tlsrpt";
        \tboundary="----=_Part_7"

        This is a multipart message in MIME format.

        ------=_Part_7
        Content-Type: text/plain; charset="us-ascii"

        This is an aggregate TLS report from sender.example

        \(part)
        ------=_Part_7--

        """.replacingOccurrences(of: "\n", with: lineEnding)
    }

    static func one(_ text: String) throws -> TLSReport {
        let results = TLSReportParser.extract(Array(text.utf8))
        try #require(results.count == 1)
        return try results[0].get()
    }

    @Test(arguments: ["\r\n", "\n"])
    func aBase64GzipPart(lineEnding: String) throws {
        let part = """
            ------=_Part_7
            Content-Type: application/tlsrpt+gzip;
             name="sender.example!example.com!1772323200!1772409599!001.json.gz"
            Content-Transfer-Encoding: base64
            Content-Disposition: attachment;
             filename="sender.example!example.com!1772323200!1772409599!001.json.gz"

            \(Self.base64Gzip)
            """
        let report = try Self.one(Self.mail(part, lineEnding: lineEnding))
        #expect(report.reportID == "r-1" && report.totalFailed == 2 && report.notes.isEmpty)
    }

    @Test func aQuotedPrintableJSONPart() throws {
        let qp = sampleReport.replacingOccurrences(of: "=", with: "=3D")
            .replacingOccurrences(of: "\"policies\"", with: "=\n\"policies\"")
        let report = try Self.one(Self.mail("""
            ------=_Part_7
            Content-Type: application/tlsrpt+json
            Content-Transfer-Encoding: quoted-printable

            \(qp)
            """))
        #expect(report.policies.first?.policyDomain == "example.com")
    }

    @Test func anApplicationGzipAttachmentNamedByRFC2231() throws {
        let report = try Self.one(Self.mail("""
            ------=_Part_7
            Content-Type: application/octet-stream
            Content-Transfer-Encoding: base64
            Content-Disposition: attachment;
             filename*0*=utf-8''sender.example%21example.com%21;
             filename*1="1772323200!1772409599.json.gz"

            \(Self.base64Gzip)
            """))
        #expect(report.organizationName == "Sender Inc.")
    }

    @Test func aForwardedReportMail() throws {
        let inner = Self.mail("""
            ------=_Part_7
            Content-Type: application/tlsrpt+json

            \(sampleReport)
            """)
        let outer = """
            From: admin@example.com\r
            Subject: Fwd: report\r
            Content-Type: multipart/mixed; boundary=outer\r
            \r
            --outer\r
            Content-Type: message/rfc822\r
            \r
            \(inner)\r
            --outer--\r

            """
        #expect(try Self.one(outer).reportID == "r-1")
    }

    @Test func anMboxOfTwoMessages() throws {
        let json = Self.mail("""
            ------=_Part_7
            Content-Type: application/tlsrpt+json

            \(sampleReport)
            """, lineEnding: "\n")
        let other = sampleReport.replacingOccurrences(of: "\"r-1\"", with: "\"r-2\"")
        let mbox = "From MAILER-DAEMON Sat Mar  2 04:00:00 2026\n" + json + "\n"
            + "From MAILER-DAEMON Sat Mar  2 04:00:01 2026\nContent-Type: application/tlsrpt+json\n\n" + other + "\n"
        let ids = TLSReportParser.extract(Array(mbox.utf8)).map { (try? $0.get())?.reportID }
        #expect(ids == ["r-1", "r-2"])
    }

    @Test func gzipMembersAreOneStreamAndTrailingPaddingIsIgnored() throws {
        let json = Array(sampleReport.utf8)
        let members = gzip(Array(json.prefix(100))) + gzip(Array(json.dropFirst(100))) + [0, 0, 0, 0]
        let report = try TLSReportParser.extract(members)[0].get()
        #expect(report == (try TLSReportParser.parse(json: json).get()))
    }

    @Test func aBrokenPartIsRejectedWithItsReason() throws {
        let results = TLSReportParser.extract(Array(Self.mail("""
            ------=_Part_7
            Content-Type: application/tlsrpt+gzip
            Content-Transfer-Encoding: base64

            \(Self.base64Gzip.prefix(40))
            """).utf8))
        guard results.count == 1, case .failure(let r) = results[0] else { Issue.record("\(results)"); return }
        #expect(r.reason.hasPrefix("gzip: truncated"))
    }

    @Test("Header fields and parameters lose the spaces and tabs (RFC 5322 WSP) at their ends, and only those")
    func whiteSpaceAroundFields() throws {
        let spaced = Self.mail("------=_Part_7\nContent-Transfer-Encoding: \t BASE64 \t\nContent-Type:\t application/octet-stream ;"
            + " \t name = \"report.json.gz\" \t\n\n" + Self.base64Gzip)
        #expect(try Self.one(spaced).reportID == "r-1")
        // A no-break space (U+00A0) is not WSP: the type stays `\u{A0}application/tlsrpt+json`, which is no report type.
        let results = TLSReportParser.extract(Array(Self.mail("------=_Part_7\nContent-Type: \u{A0}application/tlsrpt+json\n\n"
            + sampleReport).utf8))
        guard results.count == 1, case .failure(let r) = results[0] else { Issue.record("\(results)"); return }
        #expect(r.reason.contains("\u{A0}application/tlsrpt+json"))
    }

    @Test("The JSON kept with a report is the text it was read from: the input, the decompressed gzip, the mail's decoded part")
    func keptJSON() throws {
        let json = Array(sampleReport.utf8)
        for input in [Array("\r\n  ".utf8) + json, gzip(json), Array(Self.mail("------=_Part_7\nContent-Type: application/tlsrpt+gzip\n"
                + "Content-Transfer-Encoding: base64\n\n" + Self.base64Gzip).utf8)] {
            let found = try #require(TLSReportParser.reports(in: input).first).get()
            #expect(found.json == json)
            #expect(TLSReportParser.parse(json: found.json) == .success(found.report))
            #expect(TLSReportParser.extract(input) == [.success(found.report)])
        }
    }
}
