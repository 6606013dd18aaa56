@testable import MTASTSReports
import Testing

/// The report reader's JSON scanner: RFC 8259 exactly, the kinds kept, and where the text stops being JSON.
@Suite struct JSONScannerTests {
    private func parse(_ text: String) -> Result<JSONValue, JSONScanner.Failure> { JSONScanner.parse(Array(text.utf8)) }

    private func value(_ text: String) throws -> JSONValue { try parse(text).get() }

    @Test("Values keep their kind: integers, numbers with a fraction, strings, booleans, null, nesting")
    func kinds() throws {
        let v = try value(#" {"a": 42, "b": "42", "c": 1.5, "d": true, "e": null, "f": [1, {"g": []}], "h": {}} "#)
        #expect(v == .object(["a": .int(42), "b": .string("42"), "c": .double(1.5), "d": .bool(true), "e": .null,
                              "f": .array([.int(1), .object(["g": .array([])])]), "h": .object([:])]))
        // Integral values written with a fraction or an exponent are integers (as JSONDecoder read them);
        // beyond 64 bits a number.
        #expect(try value("1.0") == .int(1) && value("1e2") == .int(100) && value("-0") == .int(0))
        #expect(try value("9223372036854775807") == .int(.max) && value("-9223372036854775808") == .int(.min))
        #expect(try value("9223372036854775808") == .double(9_223_372_036_854_775_808))
        #expect(try value("2.5E-1") == .double(0.25))
    }

    @Test("Strings: every escape, surrogate pairs, UTF-8 passed through; a repeated name keeps its last value")
    func strings() throws {
        #expect(try value(#""a\"\\\/\b\f\n\r\t\u00e9\ud83d\ude00 é""#) == .string("a\"\\/\u{8}\u{C}\n\r\t\u{E9}\u{1F600} é"))
        #expect(try value(#"{"k": 1, "k": 2}"#) == .object(["k": .int(2)]))
    }

    @Test("Not JSON, each with its reason and byte offset", arguments: [
        (#"{"a":1} trailing"#, "unexpected text after the value", 8),
        (#"{"a":1,}"#, "expected a member name in double quotes, found '}'", 7),
        ("[1,]", "unexpected character ']'", 3),
        ("[1 2]", "expected ',' or ']' in an array, found '2'", 3),
        (#"{"a" 1}"#, "expected ':' after a member name, found '1'", 5),
        ("01", "a number with a leading zero", 1),
        ("1.", "a '.' without digits after it", 2),
        ("1e", "an exponent without digits", 2),
        ("-", "a '-' without digits", 1),
        ("1e999", "a number out of range", 0),
        ("tru", "unexpected character 't'", 0),
        ("'a'", "unexpected character '''", 0),
        ("\"a\u{01}\"", "control character byte 0x1 in a string (escape it)", 2),
        (#""\x""#, "invalid escape \\'x'", 2),
        (#""\u12""#, "\\u needs four hex digits", 5),
        (#""\ud83d""#, "a high surrogate without a low one", 6),
        (#""\ude00""#, "a low surrogate without a high one", 6),
        ("\"abc", "unterminated string", 4),
        ("", "unexpected end of the text", 0),
        (#"{"a": [1"#, "unexpected end of the text in an array", 8),
        ("// c\n1", "unexpected character '/'", 0),
    ] as [(String, String, Int)])
    func rejected(_ text: String, _ message: String, _ offset: Int) {
        guard case .failure(let f) = parse(text) else {
            Issue.record("accepted \(text)")
            return
        }
        #expect(f.message == message && f.offset == offset, "\(text): \(f.message) at \(f.offset)")
    }

    @Test("Bytes that are not UTF-8 in a string are refused, not replaced")
    func invalidUTF8() {
        guard case .failure(let f) = JSONScanner.parse([0x22, 0x61, 0xC3, 0x28, 0x22]) else {
            Issue.record("accepted invalid UTF-8")
            return
        }
        #expect(f.message == "a string that is not UTF-8")
    }

    @Test("Nesting is capped: hostile depth is an error, not a stack overflow")
    func depth() throws {
        let ok = String(repeating: "[", count: JSONScanner.maxDepth) + String(repeating: "]", count: JSONScanner.maxDepth)
        _ = try value(ok)
        let deep = String(repeating: "[", count: 100_000)
        guard case .failure(let f) = parse(deep) else {
            Issue.record("accepted 100,000 levels")
            return
        }
        #expect(f.message == "nested deeper than \(JSONScanner.maxDepth) levels" && f.offset == JSONScanner.maxDepth)
    }

    @Test("The reader's rejection names the scanner's reason and offset")
    func rejection() {
        guard case .failure(let r) = JSONValue.decode(Array(#"{"a":1} trailing"#.utf8)) else {
            Issue.record("accepted")
            return
        }
        #expect(r.reason == "not JSON (unexpected text after the value at byte 8)")
    }
}
