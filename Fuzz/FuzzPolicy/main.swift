// libFuzzer harness for the policy parser (RFC 8461 §3.2), under both readings. MX patterns are parsed as
// part of the policy (every `mx:` line goes through `MXPattern.parse`), so they need no harness of their own.
//
// Compiled by scripts/fuzz.sh together with Sources/MTASTSCore/*.swift into one module, so there is no
// `import MTASTSCore`. Every check is an `invariant` (a `precondition` that keeps its message in -O), so a
// violated invariant is a crash that libFuzzer saves as a reproducer.

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzPolicy(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let input = Array(UnsafeBufferPointer(start: data, count: size))
    let strict = STSPolicy.parse(input, reading: .strict)
    let sender = STSPolicy.parse(input, reading: .sender)
    check(strict, input: input, "strict")
    check(sender, input: input, "sender")

    // The sender reading only relaxes: a policy valid by the RFC is applied unchanged by a sender.
    if let policy = strict.policy {
        invariant(sender.policy == policy, "strict-valid policy differs under the sender reading")
    }
    // ... and it relaxes only the three documented rules.
    if sender.policy != nil {
        let relaxed: Set<Diagnostic.Code> = [.policyBlankLine, .mxTrailingDot, .policyMaxAgeTooLarge]
        for d in strict.diagnostics.errors {
            invariant(relaxed.contains(d.code), "sender accepts a policy with strict error \(d.code)")
        }
    }
    return 0
}

private func check(_ result: PolicyParseResult, input: [UInt8], _ reading: String) {
    for d in result.diagnostics {
        invariant(!d.message.isEmpty, "\(reading): \(d.code) has an empty message")
        if d.severity == .error {
            invariant(d.fix != nil, "\(reading): error diagnostic \(d.code) has no fix")
        }
        if let loc = d.location {
            invariant((0...input.count).contains(loc.offset),
                      "\(reading): \(d.code) offset \(loc.offset) outside 0...\(input.count)")
            // Stricter than the offset: the whole span lies inside the input.
            invariant(loc.length >= 0 && loc.offset + loc.length <= input.count,
                      "\(reading): \(d.code) span \(loc.offset)+\(loc.length) outside the input (\(input.count) bytes)")
            if let line = loc.line { invariant(line >= 1, "\(reading): \(d.code) line \(line) < 1") }
            if let column = loc.column { invariant(column >= 1, "\(reading): \(d.code) column \(column) < 1") }
        }
    }
    guard let policy = result.policy else {
        invariant(result.diagnostics.hasErrors, "\(reading): nil policy without an error diagnostic")
        return
    }
    invariant(!result.diagnostics.hasErrors, "\(reading): a policy was returned together with an error diagnostic")
    invariant(policy.maxAge <= STSLimits.maxAgeCeiling, "\(reading): max_age \(policy.maxAge) above the ceiling")
    invariant(policy.mode == .none || !policy.mx.isEmpty, "\(reading): mode \(policy.mode) without mx")
    invariant(Set(policy.mx).count == policy.mx.count, "\(reading): duplicate mx patterns kept")
    invariant(Set(policy.extensions.map(\.name)).count == policy.extensions.count, "\(reading): duplicate extension names kept")

    // The canonical text is a valid policy under both readings, gives back the same policy, and is stable.
    let text = policy.text
    for again in [STSPolicy.parse(text, reading: .strict), STSPolicy.parse(text, reading: .sender)] {
        invariant(!again.diagnostics.hasErrors,
                  "\(reading): parse(policy.text) reports \(again.diagnostics.errors.map(\.code)) for \(text.debugDescription)")
        invariant(again.policy == policy, "\(reading): parse(policy.text) gives a different policy for \(text.debugDescription)")
        invariant(again.policy?.text == text, "\(reading): policy.text is not stable")
    }
    invariant(policy.lines.map { $0 + "\r\n" }.joined() == text, "\(reading): policy.lines does not match policy.text")

    // Each mx pattern is normalised: its text parses back to itself, its domain is a fixed point.
    for pattern in policy.mx {
        let (again, diagnostics) = MXPattern.parse(Array(pattern.description.utf8), tolerant: false)
        invariant(again == pattern && !diagnostics.hasErrors, "\(reading): mx \(pattern) does not parse back to itself")
        invariant((try? DomainName(pattern.domain.value)) == pattern.domain, "\(reading): mx domain \(pattern.domain) is not normalised")
    }
}

/// `precondition` that keeps its message in `-O` builds (the standard one drops it), so a libFuzzer crash
/// report says which invariant broke. Traps via `fatalError`, which libFuzzer records as a crash.
func invariant(_ condition: @autoclosure () -> Bool, _ message: @autoclosure () -> String,
               file: StaticString = #file, line: UInt = #line) {
    if !condition() { fatalError("invariant violated: " + message(), file: file, line: line) }
}
