import Testing
@testable import MTASTSCore

@Suite("Policy parsing (RFC 8461 §3.2)")
struct PolicyTests {
    @Test(arguments: policyVectors)
    func vector(_ v: PolicyVector) {
        let result = STSPolicy.parse(v.text)
        let codes = result.diagnostics.map(\.code.rawValue)
        switch v.expect {
        case .valid(let mode, let maxAge, let mx):
            #expect(result.diagnostics.errors.isEmpty, "unexpected errors: \(result.diagnostics.errors.map(\.message))")
            #expect(result.policy != nil)
            let policy = result.policy
            #expect(policy?.mode.rawValue == mode)
            #expect(policy?.maxAge == maxAge)
            #expect(policy?.mx.map(\.description) == mx)
            // Parse → serialise → parse is the identity on every valid case.
            if let policy {
                let again = STSPolicy.parse(policy.text)
                #expect(again.policy == policy)
                #expect(!again.diagnostics.contains { $0.code == .policyLineEndings }, "serialisation writes CRLF")
                #expect(policy.text.hasSuffix("\r\n"))
            }
        case .invalid(let code):
            #expect(result.policy == nil)
            #expect(result.diagnostics.errors.map(\.code.rawValue).contains(code), "errors were \(codes)")
        }
        if let warning = v.warning {
            #expect(codes.contains(warning), "diagnostics were \(codes)")
        }
        // Every diagnostic explains itself and points inside the input.
        for d in result.diagnostics {
            if let loc = d.location { #expect(loc.offset >= 0 && loc.offset + loc.length <= v.text.utf8.count, "\(d.code)") }
            #expect(!d.message.isEmpty)
            if d.severity == .error { #expect(d.fix != nil, "\(d.code) has no fix") }
        }
    }

    @Test("C31 a sender reading tolerates blank lines, trailing dots and a large max_age, with warnings")
    func senderReading() throws {
        let text = "version: STSv1\n\nmode: enforce\nmx: mail.example.com.\nmax_age: 99999999\n\n"
        #expect(STSPolicy.parse(text, reading: .strict).policy == nil)
        let lenient = STSPolicy.parse(text, reading: .sender)
        let policy = try #require(lenient.policy)
        #expect(policy.mx.map(\.description) == ["mail.example.com"])
        #expect(policy.maxAge == STSLimits.maxAgeCeiling)
        let warnings = Set(lenient.diagnostics.warnings.map(\.code))
        #expect(warnings.isSuperset(of: [.policyBlankLine, .mxTrailingDot, .policyMaxAgeTooLarge]))
        // Other errors stay errors for a sender.
        #expect(STSPolicy.parse("version: STSv1\nmode: Enforce\nmx: a.example\nmax_age: 1\n", reading: .sender).policy == nil)
    }

    @Test("Diagnostics name the line and column")
    func locations() throws {
        let result = STSPolicy.parse("version: STSv1\r\nmode: Enforce\r\nmx: a.example\r\nmax_age: 86400\r\n")
        let d = try #require(result.diagnostics.first { $0.code == .policyModeInvalid })
        #expect(d.location?.line == 2)
        #expect(d.location?.column == 7)
        #expect(d.location?.offset == 22)
        #expect(d.location?.length == 7)
        #expect(d.fix == "values are case-sensitive: write `mode: enforce`")
    }

    @Test("Extension, key-case, duplicate and short-max_age findings point at their own text")
    func findingLocations() throws {
        let text = "version: STSv1\nMode:   enforce\nmode: testing\nmx: a.example\nmax_age: 60\nbar: y\nmode: none\n"
        let result = STSPolicy.parse(text)
        func located(_ code: Diagnostic.Code) throws -> Diagnostic.Location {
            try #require(result.diagnostics.first { $0.code == code }?.location, "\(code)")
        }
        let bytes = Array(text.utf8)
        func at(_ s: String) -> Int { bytes.firstRange(of: Array(s.utf8))!.lowerBound }
        #expect(try located(.policyKeyCase).offset == at("Mode:"))
        #expect(try located(.policyKeyCase).length == 4)
        #expect(try located(.policyUnknownKey).offset == at("bar:"))
        #expect(try located(.policyDuplicateKey).offset == at("mode: none"))
        let short = try located(.policyMaxAgeShort)
        #expect(short.offset == at("60") && short.line == 5 && short.column == 10)
    }

    @Test("A BOM and a NUL are named with their byte offsets")
    func bomAndNUL() throws {
        let bytes: [UInt8] = [0xEF, 0xBB, 0xBF] + Array("version: STSv1\nmode: enforce\nmx: a.example\nmax_age: 1\u{0}\n".utf8)
        let result = STSPolicy.parse(bytes)
        let bom = try #require(result.diagnostics.first { $0.code == .policyBOM })
        #expect(bom.location?.offset == 0)
        #expect(bom.message.contains("byte order mark"))
        let nul = try #require(result.diagnostics.first { $0.code == .policyNUL })
        #expect(nul.location?.offset == bytes.firstIndex(of: 0))
        #expect(nul.location?.line == 4)
        #expect(nul.message.contains("offset \(bytes.firstIndex(of: 0)!)"))
    }

    @Test("Invalid UTF-8 is reported, not decoded away")
    func invalidUTF8() {
        for bad: [UInt8] in [[0xFF], [0xC3], [0xE0, 0x80, 0x80], [0xED, 0xA0, 0x80], [0xF4, 0x90, 0x80, 0x80]] {
            let bytes = Array("version: STSv1\nmode: none\nmax_age: 1\nfoo: ".utf8) + bad + [0x0A]
            let result = STSPolicy.parse(bytes)
            #expect(result.diagnostics.contains { $0.code == .policyNotUTF8 }, "\(bad)")
            #expect(result.policy == nil)
        }
        #expect(STSPolicy.parse(Array("version: STSv1\nmode: none\nmax_age: 1\nfoo: \u{1F600}\n".utf8)).policy != nil)
    }

    @Test("The canonical text is CRLF with a final newline, fields in a fixed order")
    func canonicalText() throws {
        let policy = try #require(STSPolicy.parse("mx: b.example\nmax_age: 5\nfoo: bar\nmode: testing\nmx: *.a.example\nversion: STSv1").policy)
        #expect(policy.text == "version: STSv1\r\nmode: testing\r\nmx: b.example\r\nmx: *.a.example\r\nmax_age: 5\r\nfoo: bar\r\n")
        #expect(policy.lines == ["version: STSv1", "mode: testing", "mx: b.example", "mx: *.a.example", "max_age: 5", "foo: bar"])
    }

    @Test("An invalid known field is reported once, not also as missing")
    func noCascade() {
        let result = STSPolicy.parse("version: STSv2\nmode: bad\nmx: a.example\nmax_age: x\n")
        let codes = result.diagnostics.map(\.code)
        #expect(codes.contains(.policyVersionInvalid) && codes.contains(.policyModeInvalid) && codes.contains(.policyMaxAgeInvalid))
        #expect(!codes.contains(.policyVersionMissing) && !codes.contains(.policyModeMissing) && !codes.contains(.policyMaxAgeMissing))
    }
}
