import Testing
@testable import MTASTSCore

@Suite("TXT record (RFC 8461 §3.1)")
struct RecordTests {
    @Test(arguments: recordVectors)
    func vector(_ v: RecordVector) {
        let result = STSRecord.parse(v.text)
        let codes = result.diagnostics.map(\.code.rawValue)
        #expect(result.record?.id == v.id, "diagnostics: \(result.diagnostics.map(\.message))")
        if let code = v.code { #expect(codes.contains(code), "codes were \(codes)") }
        if v.id == nil {
            #expect(result.diagnostics.hasErrors)
        } else {
            // Parse → serialise → parse is the identity.
            let record = result.record!
            #expect(STSRecord.parse(record.description).record == record)
        }
        for d in result.diagnostics where d.severity == .error { #expect(d.fix != nil, "\(d.code) has no fix") }
    }

    @Test(arguments: rrsetVectors)
    func rrset(_ v: RRsetVector) {
        let selection = RecordSelection(rrset: v.records)
        switch (selection, v.outcome) {
        case (.record(let r, _), .record(let id)): #expect(r.id == id)
        case (.none, .none), (.multiple, .multiple), (.invalid, .invalid): break
        default: Issue.record("got \(selection) for \(v.records)")
        }
    }

    @Test("Discarded look-alike records are explained")
    func ignoredExplained() throws {
        let selection = RecordSelection(rrset: ["v=STSv1", "v=stsv1; id=a"])
        let ignored = selection.diagnostics.filter { $0.code == .recordIgnored }
        try #require(ignored.count == 2)
        #expect(ignored[0].message.contains("followed by `;`"))
        #expect(ignored[1].message.contains("case-sensitive"))
    }

    @Test("Extensions are kept in order and serialised")
    func extensions() throws {
        let record = try #require(STSRecord.parse("v=STSv1;id=x1;a=1;b.c-d_e=~!").record)
        #expect(record.extensions.map(\.name) == ["a", "b.c-d_e"])
        #expect(record.description == "v=STSv1; id=x1; a=1; b.c-d_e=~!;")
        #expect(STSRecord(id: "bad-id") == nil)
        #expect(STSRecord(id: "ok1")?.description == "v=STSv1; id=ok1;")
    }
}
