// libFuzzer harness for the TXT record parser (RFC 8461 §3.1) and the RRset selection rule.
//
// Compiled by scripts/fuzz.sh together with Sources/MTASTSCore/*.swift into one module, so there is no
// `import MTASTSCore`. Every check is an `invariant` (a `precondition` that keeps its message in -O): a
// violated invariant is a crash that libFuzzer saves as a reproducer, just like a trap inside the parser.
//
// Input: the whole input is one record for `STSRecord.parse`; split on 0x00 bytes it is also an RRset for
// `RecordSelection(rrset:)` (an empty input is the empty RRset).

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzRecord(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let input = Array(UnsafeBufferPointer(start: data, count: size))
    checkRecord(input)
    checkSelection(input)
    return 0
}

/// Invariants shared by every diagnostic list; `count` is the length of the bytes the locations refer to.
private func checkDiagnostics(_ diagnostics: [Diagnostic], count: Int, _ what: String) {
    for d in diagnostics {
        invariant(!d.message.isEmpty, "\(what): diagnostic \(d.code) has an empty message")
        if d.severity == .error {
            invariant(d.fix != nil, "\(what): error diagnostic \(d.code) has no fix")
        }
        if let loc = d.location {
            invariant((0...count).contains(loc.offset),
                      "\(what): \(d.code) offset \(loc.offset) outside 0...\(count)")
            invariant(loc.length >= 0 && loc.offset + loc.length <= count,
                      "\(what): \(d.code) span \(loc.offset)+\(loc.length) outside the input (\(count) bytes)")
            if let line = loc.line { invariant(line >= 1, "\(what): \(d.code) line \(line) < 1") }
                                               if let column = loc.column { invariant(column >= 1, "\(what): \(d.code) column \(column) < 1") }
                                                                                      }
    }
}

private func checkRecord(_ input: [UInt8]) {
    let result = STSRecord.parse(input)
    checkDiagnostics(result.diagnostics, count: input.count, "record")
    guard let record = result.record else {
        invariant(result.diagnostics.hasErrors, "record: nil record without an error diagnostic")
        return
    }
    invariant(!result.diagnostics.hasErrors, "record: a record was returned together with an error diagnostic")
    invariant(STSRecord(id: record.id) != nil, "record: returned id \(record.id) is not a valid policy id")
    // The canonical text parses back to the same record, and is itself canonical.
    let text = Array(record.description.utf8)
    invariant(STSRecord.isCandidate(text), "record: description \(record.description) is not an RRset candidate")
    let again = STSRecord.parse(text)
    invariant(again.record == record,
              "record: parse(description) differs: \(record.description) -> \(String(describing: again.record))")
    invariant(again.record?.description == record.description, "record: description is not stable")
}

private func checkSelection(_ input: [UInt8]) {
    let rrset: [[UInt8]] = input.isEmpty ? [] : input.split(separator: 0, omittingEmptySubsequences: false).map(Array.init)
    let candidates = rrset.filter { STSRecord.isCandidate($0) }
    let selection = RecordSelection(rrset: rrset)
    let longest = rrset.map(\.count).max() ?? 0
    checkDiagnostics(selection.diagnostics, count: longest, "rrset")
    switch selection {
    case .record(let record, let diagnostics):
        invariant(candidates.count == 1, "rrset: .record with \(candidates.count) candidates")
        invariant(!diagnostics.hasErrors, "rrset: .record with an error diagnostic")
        invariant(STSRecord.parse(candidates[0]).record == record, "rrset: .record differs from parsing the candidate")
        checkDiagnostics(diagnostics, count: candidates[0].count, "rrset record")
    case .invalid(let diagnostics):
        invariant(candidates.count == 1, "rrset: .invalid with \(candidates.count) candidates")
        invariant(diagnostics.hasErrors, "rrset: .invalid without an error diagnostic")
        invariant(STSRecord.parse(candidates[0]).record == nil, "rrset: .invalid but the candidate parses")
        checkDiagnostics(diagnostics, count: candidates[0].count, "rrset invalid")
    case .none(let diagnostics):
        invariant(candidates.isEmpty, "rrset: .none with \(candidates.count) candidates")
        invariant(diagnostics.hasErrors, "rrset: .none without an error diagnostic")
    case .multiple(let count, let diagnostics):
        invariant(count >= 2 && count == candidates.count, "rrset: .multiple(\(count)) with \(candidates.count) candidates")
        invariant(diagnostics.hasErrors, "rrset: .multiple without an error diagnostic")
    }
    invariant(selection.record == (candidates.count == 1 ? STSRecord.parse(candidates[0]).record : nil),
              "rrset: selection.record disagrees with the RFC 8461 §3.1 rule")
}

/// `precondition` that keeps its message in `-O` builds (the standard one drops it), so a libFuzzer crash
/// report says which invariant broke. Traps via `fatalError`, which libFuzzer records as a crash.
func invariant(_ condition: @autoclosure () -> Bool, _ message: @autoclosure () -> String,
               file: StaticString = #file, line: UInt = #line) {
    if !condition() { fatalError("invariant violated: " + message(), file: file, line: line) }
}
