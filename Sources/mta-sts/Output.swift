import ArgumentParser
import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import MTASTSCore
import MTASTSDiscovery

/// `--json` and `--color`, shared by the checking commands.
struct OutputOptions: ParsableArguments {
    enum ColorChoice: String, ExpressibleByArgument, CaseIterable {
        case auto, always, never
    }

    @Flag(help: "Print machine-readable JSON (the documented schema) instead of text.")
    var json = false

    @Option(help: "Colour the text output: auto (on a terminal unless NO_COLOR is set), always, never.")
    var color: ColorChoice = .auto

    var style: Style {
        switch color {
        case .always: Style(enabled: true)
        case .never: Style(enabled: false)
        case .auto: Style(enabled: isatty(STDOUT_FILENO) != 0 && ProcessInfo.processInfo.environment["NO_COLOR"] == nil)
        }
    }
}

/// Text that ``Style`` can colour: `String` for the commands that print only their own words and the user's
/// input, ``TerminalText`` for those that print what a domain's DNS and servers sent (`check`, `lookup`).
protocol Styleable: ExpressibleByStringLiteral {
    static func wrapped(_ text: Self, in code: String) -> Self
}

extension String: Styleable {
    static func wrapped(_ text: String, in code: String) -> String { "\u{1B}[\(code)m\(text)\u{1B}[0m" }
}

extension TerminalText: Styleable {
    /// Our own escape sequences around `text`, kept (`text` is escaped already).
    static func wrapped(_ text: TerminalText, in code: String) -> TerminalText {
        TerminalText(verbatim: "\u{1B}[\(code)m") + text + TerminalText(verbatim: "\u{1B}[0m")
    }
}

/// ANSI styling, or none.
struct Style {
    let enabled: Bool
    private func wrap<T: Styleable>(_ code: String, _ s: T) -> T { enabled ? T.wrapped(s, in: code) : s }
    func bold<T: Styleable>(_ s: T) -> T { wrap("1", s) }
    func red<T: Styleable>(_ s: T) -> T { wrap("1;31", s) }
    func yellow<T: Styleable>(_ s: T) -> T { wrap("1;33", s) }
    func cyan<T: Styleable>(_ s: T) -> T { wrap("1;36", s) }
    func green<T: Styleable>(_ s: T) -> T { wrap("32", s) }
    func dim<T: Styleable>(_ s: T) -> T { wrap("2", s) }

    func severity<T: Styleable>(_ severity: Diagnostic.Severity) -> T {
        switch severity {
        case .error: red("error")
        case .warning: yellow("warning")
        case .info: cyan("note")
        }
    }
}

/// Renders diagnostics like a compiler: `file:line:column: severity[code]: message`, the source line with a
/// caret under the problem, the fix and the RFC rule.
struct DiagnosticPrinter {
    let style: Style
    /// Name shown in front of each diagnostic (file name, `<stdin>`, `record`).
    let source: String
    /// The input the diagnostics point into.
    let input: [UInt8]

    func render(_ diagnostics: [Diagnostic]) -> String {
        diagnostics.map(render).joined()
    }

    /// One diagnostic; its message, fix and source line are escaped (they may quote the input).
    func render(_ d: Diagnostic) -> String {
        var place = TerminalText(source)
        if let loc = d.location {
            // A TXT record is one line: show it as line 1.
            if let column = loc.column { place += ":\(loc.line ?? 1):\(column)" }
        }
        var out: TerminalText = style.bold(place + ":") + " " + style.severity(d.severity) + style.bold("[\(d.code)]") + ": \(d.message)\n"
        if let loc = d.location, let excerpt = excerpt(loc) { out += excerpt }
        if let fix = d.fix { out += "    " + style.green("= fix:") + " \(fix)\n" }
        out += "    " + style.dim("= rule: \(d.rfcSection)") + "\n"
        return out.description
    }

    /// The line holding `loc`, escaped, with a caret marker under the escaped form of the marked bytes.
    private func excerpt(_ loc: Diagnostic.Location) -> TerminalText? {
        guard loc.offset <= input.count else { return nil }
        let lineStart = input[..<loc.offset].lastIndex(of: 0x0A).map { $0 + 1 } ?? 0
        var lineEnd = input[loc.offset...].firstIndex(of: 0x0A) ?? input.count
        if lineEnd > lineStart, input[lineEnd - 1] == 0x0D { lineEnd -= 1 }
        func shown(_ bytes: ArraySlice<UInt8>) -> TerminalText { TerminalText(String(decoding: bytes, as: UTF8.self)) }
        let offset = min(loc.offset, lineEnd)
        let prefixCount = shown(input[lineStart..<offset]).count
        let width = max(1, shown(input[offset..<min(lineEnd, offset + loc.length)]).count)
        let number = String(loc.line ?? 1)
        let gutter = String(repeating: " ", count: number.count)
        let caret: TerminalText = style.red("^\(String(repeating: "~", count: width - 1))")
        return "  " + style.dim("\(number) |") + " \(shown(input[lineStart..<lineEnd]))\n  " + style.dim("\(gutter) |") + " "
            + "\(String(repeating: " ", count: prefixCount))" + caret + "\n"
    }
}

/// An optional that JSON output always writes, as `null` when absent, so scripts can index the key without
/// checks. (Synthesized `Encodable` leaves nil optionals out; the keys that may be left out stay plain optionals.)
@propertyWrapper
struct NullWhenAbsent<Value: Encodable>: Encodable {
    var wrappedValue: Value?

    init(wrappedValue: Value?) { self.wrappedValue = wrappedValue }

    func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        if let wrappedValue { try c.encode(wrappedValue) } else { try c.encodeNil() }
    }
}

/// One diagnostic in JSON output. Keys are always present (null when unknown).
struct DiagnosticJSON: Encodable {
    let code: String
    let severity: String
    let message: String
    @NullWhenAbsent var fix: String?
    let rfc: String
    @NullWhenAbsent var line: Int?
    @NullWhenAbsent var column: Int?
    @NullWhenAbsent var offset: Int?

    init(_ d: Diagnostic) {
        code = d.code.rawValue
        severity = d.severity.rawValue
        message = d.message
        fix = d.fix
        rfc = d.rfcSection
        line = d.location?.line
        column = d.location?.column
        offset = d.location?.offset
    }
}

/// A policy in JSON output (`policy check`, `lookup`).
struct PolicyJSON: Encodable {
    let version = "STSv1"
    let mode: String
    let max_age: UInt32
    let mx: [String]
    let extensions: [String: String]

    init(_ p: STSPolicy) {
        mode = p.mode.rawValue
        max_age = p.maxAge
        mx = p.mx.map(\.description)
        extensions = Dictionary(p.extensions.map { ($0.name, $0.value) }, uniquingKeysWith: { a, _ in a })
    }
}

/// The DANE status in `--json` output: `lookup` per domain, `check` per MX.
struct DANEJSON: Encodable {
    struct Host: Encodable {
        let name: String
        let preference: UInt16
        /// usable | unusable | none | failed | not-checked
        let tlsa: String
        let records: [String]
        let detail: String?

        init(_ h: DANEStatus.Host) {
            name = h.name
            preference = h.preference
            switch h.tlsa {
            case .usable(let r): (tlsa, records, detail) = ("usable", r.map(\.description), nil)
            case .unusable(let r): (tlsa, records, detail) = ("unusable", r.map(\.description), "no record is usable for SMTP (RFC 7672 §3.1)")
            case .none(let why): (tlsa, records, detail) = ("none", [], why)
            case .failed(let why): (tlsa, records, detail) = ("failed", [], why)
            case .notChecked: (tlsa, records, detail) = ("not-checked", [], "MX RRset not DNSSEC-secure")
            }
        }

        var summary: String {
            switch tlsa {
            case "usable": "TLSA " + records.joined(separator: ", ")
            case "not-checked": "TLSA not looked up (\(detail ?? ""))"
            default: "TLSA \(tlsa)" + (detail.map { " (\($0))" } ?? "") + (records.isEmpty ? "" : ": " + records.joined(separator: ", "))
            }
        }
    }

    let regime: String
    let reason: String
    let mx_dnssec: String
    let hosts: [Host]

    init(_ d: DANEStatus) {
        regime = d.regime.rawValue
        reason = d.reason
        mx_dnssec = switch d.mx {
        case .secure: "secure"
        case .insecure: "insecure"
        case .bogus: "bogus"
        case .unavailable: "unavailable"
        }
        hosts = d.hosts.map(Host.init)
    }
}

enum JSONOutput {
    /// Prints `value` as one line of JSON with sorted keys (stable output for scripts and diffs).
    static func print(_ value: some Encodable) throws {
        Swift.print(try line(value))
    }

    /// `value` as one line of JSON with sorted keys (JSON lines for batch output).
    static func line(_ value: some Encodable) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return String(decoding: try encoder.encode(value), as: UTF8.self)
    }
}

enum Input {
    /// Reads a file's bytes exactly, or standard input for `-` or nil. A failure is printed (`cannot read PATH: why`)
    /// and thrown as ``Exit/ioError``.
    static func read(_ path: String?) throws -> (name: String, bytes: [UInt8]) {
        let standardInput = path == nil || path == "-"
        let name = standardInput ? "<stdin>" : path!
        let fd = standardInput ? STDIN_FILENO : open(name, O_RDONLY | O_CLOEXEC)
        var bytes: [UInt8] = []
        var failure = fd < 0 ? errno : 0
        if fd >= 0 {
            var st = stat()
            if fstat(fd, &st) == 0, (st.st_mode & S_IFMT) == S_IFDIR { failure = EISDIR }
            var chunk = [UInt8](repeating: 0, count: (st.st_mode & S_IFMT) == S_IFREG ? max(Int(st.st_size) + 1, 4096) : 65536)
            while failure == 0 {
                let n = chunk.withUnsafeMutableBytes { systemRead(fd, $0.baseAddress, $0.count) }
                if n > 0 { bytes += chunk[..<n] } else if n == 0 { break } else if errno != EINTR { failure = errno }
            }
            if !standardInput { close(fd) }
        }
        guard failure == 0 else {
            FileHandle.standardError.write(Data("mta-sts: error: cannot read \(name): \(String(cString: strerror(failure)))\n".utf8))
            throw Exit.ioError
        }
        return (name, bytes)
    }
}

/// read(2) (unqualified `read` inside ``Input`` would be ``Input/read(_:)``).
private func systemRead(_ fd: Int32, _ buffer: UnsafeMutableRawPointer?, _ count: Int) -> Int {
    read(fd, buffer, count)
}

/// Writes to standard error.
func printError(_ message: String) {
    FileHandle.standardError.write(Data((message + "\n").utf8))
}
