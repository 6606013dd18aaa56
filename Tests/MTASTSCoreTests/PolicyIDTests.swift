import Testing
@testable import MTASTSCore

@Suite("Policy ids (RFC 8461 §3.1)")
struct PolicyIDTests {
    @Test("Timestamp ids", arguments: [
        (Int64(0), "19700101T000000"),
        (1_686_843_000, "20230615T153000"),
        (951_782_400, "20000229T000000"),
        (4_102_444_799, "20991231T235959"),
        (-1, "19691231T235959"),
    ])
    func timestamp(_ seconds: Int64, _ expected: String) {
        #expect(PolicyID.timestamp(unixSeconds: seconds) == expected)
        #expect(PolicyID.isValid(PolicyID.timestamp(unixSeconds: seconds)))
    }

    @Test("SHA-256 matches the FIPS 180-4 vectors")
    func sha256() {
        func hex(_ s: String) -> String { SHA256.hash(Array(s.utf8)).map { String(format2: $0) }.joined() }
        #expect(hex("") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        #expect(hex("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        #expect(hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq")
            == "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
        #expect(hex(String(repeating: "a", count: 1000)) == "41edece42d63e8d9bf515a9ba6932e1c20cbc9f5a5d134645adb5db1b9737ea3")
    }

    @Test("Content-hash ids are stable, change with the policy and fit the id syntax")
    func contentHash() throws {
        let a = try #require(STSPolicy.parse("version: STSv1\nmode: enforce\nmx: a.example\nmax_age: 86400\n").policy)
        let sameInCRLF = try #require(STSPolicy.parse("version: STSv1\r\nmode: enforce\r\nmx: a.example\r\nmax_age: 86400").policy)
        var b = a
        b.maxAge = 86401
        let id = PolicyID.contentHash(of: a)
        #expect(id.utf8.count == 32 && PolicyID.isValid(id))
        #expect(id == PolicyID.contentHash(of: sameInCRLF))
        #expect(id != PolicyID.contentHash(of: b))
        #expect(STSRecord(id: id) != nil)
    }

    @Test("Id validity", arguments: [("a", true), (String(repeating: "Z9", count: 16), true), (String(repeating: "a", count: 33), false),
                                      ("", false), ("a-b", false), ("ü", false)])
    func validity(_ id: String, _ valid: Bool) { #expect(PolicyID.isValid(id) == valid) }
}

extension String {
    init(format2 byte: UInt8) { self = (byte < 16 ? "0" : "") + String(byte, radix: 16) }
}
