import Foundation
import MTASTSCore
import MTASTSDiscovery
import Testing
@testable import MTASTSChecker
@testable import mta_sts

/// Text from the domain in `check`'s and `lookup`'s output: escaped in text, exact in JSON.
@Suite("Escaping of foreign text in the text output")
struct TextEscapingTests {
    /// A deployment whose record, MX banner, SMTP reply, certificate names and CNAME target carry control characters.
    static func hostile() -> CheckReport {
        CheckRules.evaluate(Fake.with {
            $0.txt = Fake.txt("v=STSv1; id=abc123;\u{1B}]0;owned\u{07}")
            $0.txtChain = ["_mta-sts.provider.example\r\nerror[forged] nothing"]
            $0.tlsrpt = Fake.txt("v=TLSRPTv1; rua=mailto:tlsrpt@example.com\u{9B}2J")
            var probe = Fake.smtp(.protocolError("the greeting was `554 \u{1B}[2Jgo away`, not 220"))
            probe.banner = "mx1.example.com \u{1B}[31mESMTP"
            $0.mxHosts[0].probes = [probe]
            $0.hostProbes[0].tls = .success(Fake.tls(["mta-sts.example.com\u{1B}[8m"]))
        })
    }

    static func text(_ report: CheckReport, color: Bool) throws -> String {
        CheckText(style: Style(enabled: color), network: try NetworkOptions.parse([]), smtpPort: 25).render(report).description
    }

    @Test("Without colour the text has no control character but the line ends; each foreign one shows as \\xNN")
    func plain() throws {
        let out = try Self.text(Self.hostile(), color: false)
        #expect(!out.unicodeScalars.contains { TerminalText.isControl($0) && $0 != "\n" }, "\(out)")
        for shown in [#""v=STSv1; id=abc123;\x1b]0;owned\x07""#, #"_mta-sts.provider.example\x0d\x0aerror[forged] nothing"#,
                      #"`554 \x1b[2Jgo away`"#, #"mta-sts.example.com\x1b[8m"#, #"tlsrpt@example.com\x9b2J"#] {
            #expect(out.contains(shown), "missing \(shown) in:\n\(out)")
        }
        #expect(!out.contains("\nerror[forged]"))
    }

    @Test("With colour the only escape sequences are our own colours")
    func coloured() throws {
        let out = try Self.text(Self.hostile(), color: true)
        let ours = try Regex(#"\x1B\[(0|1|2|32|1;31|1;33|1;36)m"#)
        #expect(out.contains(ours))
        let rest = out.replacing(ours, with: "")
        #expect(!rest.unicodeScalars.contains { TerminalText.isControl($0) && $0 != "\n" }, "\(rest)")
    }

    @Test("--json keeps the exact text (JSON's own escaping)")
    func json() throws {
        let report = Self.hostile()
        let line = try JSONOutput.line(CheckJSON(report))
        #expect(line.contains(#"v=STSv1; id=abc123;\u001b]0;owned\u0007"#), "\(line)")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
        let record = try #require(object["record"] as? [String: Any])
        #expect(record["texts"] as? [String] == ["v=STSv1; id=abc123;\u{1B}]0;owned\u{07}"])
        #expect(record["cname_chain"] as? [String] == ["_mta-sts.provider.example\r\nerror[forged] nothing"])
        let address = try #require(((object["mx"] as? [[String: Any]])?.first?["addresses"] as? [[String: Any]])?.first)
        #expect(address["banner"] as? String == "mx1.example.com \u{1B}[31mESMTP")
        #expect(address["error"] as? String == "the greeting was `554 \u{1B}[2Jgo away`, not 220")
    }

    @Test("Diagnostics quote the input escaped, with the caret under the escaped text")
    func diagnostics() throws {
        let input = Array("v=STSv1; id=\u{1B}[2J;".utf8)
        let diagnostics = STSRecord.parse(input).diagnostics
        let out = DiagnosticPrinter(style: Style(enabled: false), source: "record", input: input).render(diagnostics)
        #expect(!diagnostics.isEmpty)
        #expect(!out.unicodeScalars.contains { TerminalText.isControl($0) && $0 != "\n" }, "\(out)")
        #expect(out.contains(#"v=STSv1; id=\x1b[2J;"#), "\(out)")
    }
}
