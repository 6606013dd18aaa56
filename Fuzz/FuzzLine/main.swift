import Glibc

// libFuzzer harness for the line query's MX filter (`mx_re`, docs/exim.md): a differential target.
//
// Compiled by scripts/fuzz.sh with the core's sources. The input is lines: every line but the last is an `mx`
// value, parsed by `MXPattern.parse` as a policy's are; the last is an MX host name. Exim filters MX hosts with
// `MXPattern.anchoredRegex`, the daemon's own matching is `MXPattern.matches` (RFC 8461 §4.1): the two must agree
// on every host, and the expression must hold none of the characters Exim's list syntax would take apart.

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzLine(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let input = Array(UnsafeBufferPointer(start: data, count: size))
    let lines = input.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false)
    guard lines.count >= 2, lines.count <= 17 else { return 0 }
    let patterns = lines.dropLast().compactMap { MXPattern.parse(Array($0)).0 }
    guard let regexText = MXPattern.anchoredRegex(patterns) else {
        invariant(patterns.isEmpty, "no expression for \(patterns.count) patterns")
        return 0
    }
    invariant(regexText.hasPrefix("^(") && regexText.hasSuffix(")$"), "not anchored: \(regexText)")
    // The final anchor is the only `$`; nothing that Exim's lists or expansions would take apart.
    invariant(!regexText.dropLast().contains { "\\:;{}\"' $".contains($0) || !$0.isASCII || $0.asciiValue! < 0x20 },
              "unsafe character in \(regexText)")
    guard let host = try? DomainName(String(decoding: lines.last!, as: UTF8.self)) else { return 0 }
    // POSIX extended syntax (glibc's regcomp, fast enough to fuzz): `^(a|b)$`, `[.]` and `[^.]+` mean there what
    // they mean to Exim's PCRE2.
    var regex = regex_t()
    invariant(regcomp(&regex, regexText, REG_EXTENDED | REG_NOSUB) == 0, "not a regular expression: \(regexText)")
    defer { regfree(&regex) }
    let byRegex = regexec(&regex, host.value, 0, nil, 0) == 0
    let byRule = patterns.contains { $0.matches(host) }
    invariant(byRegex == byRule, "\(host.value) vs \(regexText): regex \(byRegex), RFC 8461 §4.1 \(byRule)")
    return 0
}

private func invariant(_ condition: @autoclosure () -> Bool, _ message: @autoclosure () -> String) {
    if !condition() { fatalError("invariant violated: \(message())") }
}
