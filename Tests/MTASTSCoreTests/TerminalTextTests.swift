import Testing
import MTASTSCore

@Suite("Terminal text: foreign text is escaped, our own is kept")
struct TerminalTextTests {
    @Test("Control characters become \\xNN, a backslash \\\\, everything else stays", arguments: [
        ("v=STSv1; id=abc;", "v=STSv1; id=abc;"),  // nothing to do
        ("\u{1B}]0;owned\u{07}", #"\x1b]0;owned\x07"#),  // window title (OSC ... BEL)
        ("\u{1B}[2J\u{1B}[H", #"\x1b[2J\x1b[H"#),  // clear screen, cursor home
        ("ok\r\nforged log line", #"ok\x0d\x0aforged log line"#),  // a line of its own
        ("a\tb\u{0}c", #"a\x09b\x00c"#),  // tab and NUL
        ("del\u{7F}", #"del\x7f"#),  // DEL
        ("csi\u{9B}31m nel\u{85}", #"csi\x9b31m nel\x85"#),  // C1: CSI, NEL
        (#"\x1b"#, #"\\x1b"#),  // a literal backslash cannot pass for an escape
        ("mx.bücher.example ✓ \u{A0}", "mx.bücher.example ✓ \u{A0}"),  // other scripts, NBSP (not C1) kept
        ("\u{FFFD}", "\u{FFFD}"),  // what invalid UTF-8 was decoded to
    ])
    func escaping(_ input: String, _ expected: String) {
        #expect(TerminalText.escaped(input) == expected)
        #expect(TerminalText(input).description == expected)
    }

    @Test("Literals and TerminalText values are kept; interpolated values are escaped")
    func interpolation() {
        let banner = "mx.example ESMTP\u{1B}[31m"
        let ours = TerminalText(verbatim: "\u{1B}[1m") + "bold" + TerminalText(verbatim: "\u{1B}[0m")
        let line: TerminalText = "\(ours) banner \(banner) port \(25)\n"
        #expect(line.description == "\u{1B}[1mbold\u{1B}[0m banner mx.example ESMTP\\x1b[31m port 25\n")
        let foreign = "a\nb", esc = "\u{1B}"
        let joined = [TerminalText(foreign), "c"].joined(separator: ", ")
        #expect(joined.description == #"a\x0ab, c"#)
        #expect(TerminalText(esc).count == 4)
        // A literal is ours, even in the initializer's form (SE-0213): only values are foreign.
        #expect(TerminalText("\u{1B}").count == 1)
    }
}
