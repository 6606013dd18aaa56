import ArgumentParser
import Foundation
import MTASTSCore

struct PolicyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "policy",
        abstract: "Check, match against, or create an MTA-STS policy file.",
        subcommands: [Check.self, Match.self, New.self]
    )
}

extension STSPolicy.Mode: ExpressibleByArgument {}

extension PolicyCommand {
    struct Check: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Check a policy file by RFC 8461 §3.2.",
            discussion: """
                Reads the file's bytes exactly (standard input for '-' or no file). `valid` is the strict RFC \
                verdict; warnings name what is legal but risky or read differently by real senders. \
                Exit 0 when valid, 1 when not.
                """
        )

        @OptionGroup var output: OutputOptions

        @Argument(help: "The policy file, or '-' for standard input (the default).")
        var file: String?

        func run() throws {
            let (name, bytes) = try Input.read(file)
            let strict = STSPolicy.parse(bytes, reading: .strict)
            let sender = STSPolicy.parse(bytes, reading: .sender)
            if output.json {
                try JSONOutput.print(PolicyCheckJSON(strict: strict, sender: sender))
            } else {
                let style = output.style
                var out = DiagnosticPrinter(style: style, source: name, input: bytes).render(strict.diagnostics)
                if let p = strict.policy {
                    out += style.bold(name + ":") + " " + style.green("valid") + ": mode \(p.mode.rawValue), max_age \(p.maxAge)"
                        + ", mx " + (p.mx.isEmpty ? "(none)" : p.mx.map(\.description).joined(separator: " ")) + "\n"
                } else {
                    let e = strict.diagnostics.errors.count, w = strict.diagnostics.warnings.count
                    out += style.bold(name + ":") + " " + style.red("invalid") + ": \(e) error\(e == 1 ? "" : "s")"
                        + (w > 0 ? ", \(w) warning\(w == 1 ? "" : "s")" : "")
                    if let p = sender.policy {
                        out += " (a tolerant sender would still apply it: mode \(p.mode.rawValue))"
                    }
                    out += "\n"
                }
                print(out, terminator: "")
            }
            if strict.policy == nil { throw Exit.invalid }
        }
    }

    struct Match: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Say whether a policy's mx patterns allow an MX host (RFC 8461 §4.1).",
            discussion: """
                The policy is read as a sender applies it (blank lines skipped, a trailing dot on mx removed). \
                Exit 0 when HOST is allowed, 1 when not (the reason and a pattern that would work are printed), \
                2 when the policy is not usable.
                """
        )

        @OptionGroup var output: OutputOptions

        @Argument(help: "The policy file, or '-' for standard input.")
        var file: String

        @Argument(help: "The MX host name (U-labels, upper case and a trailing dot are fine).")
        var host: String

        func run() throws {
            let name: DomainName
            do { name = try DomainName(host) } catch { throw ValidationError(error.description) }
            let (source, bytes) = try Input.read(file)
            let result = STSPolicy.parse(bytes, reading: .sender)
            guard let policy = result.policy else {
                let printer = DiagnosticPrinter(style: output.style, source: source, input: bytes)
                printError(printer.render(result.diagnostics.errors) + "mta-sts: error: \(source) is not a usable policy")
                throw Exit.ioError
            }
            let match = policy.match(name)
            if output.json {
                try JSONOutput.print(MatchJSON(host: name, policy: policy, match: match))
            } else {
                let style = output.style
                switch match {
                case .matched(let pattern):
                    print("\(style.bold(name.value)) is \(style.green("allowed")) by `mx: \(pattern)` (mode \(policy.mode.rawValue))")
                case .notMatched(let reason, let suggestion):
                    print("\(style.bold(name.value)) is \(style.red("not allowed")): \(reason)")
                    if let suggestion { print("    \(style.green("= fix:")) add `mx: \(suggestion)`") }
                }
            }
            if !match.isMatch { throw Exit.invalid }
        }
    }

    struct New: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print a correct policy file (CRLF line endings, final newline).",
            discussion: "Example: mta-sts policy new --mode enforce --mx '*.mx.example.net' --max-age 604800 > mta-sts.txt"
        )

        @Option(help: "enforce, testing or none.")
        var mode: STSPolicy.Mode

        @Option(help: "An MX host or `*.domain` pattern (A-labels; U-labels are converted). Repeat for each.")
        var mx: [String] = []

        @Option(help: "Seconds senders may cache the policy (0 to 31557600; 604800 is one week).")
        var maxAge: UInt64

        func validate() throws {
            if maxAge > UInt64(STSLimits.maxAgeCeiling) {
                throw ValidationError("--max-age \(maxAge) is above the RFC 8461 maximum of 31557600 seconds")
            }
            if mode != .none && mx.isEmpty { throw ValidationError("mode \(mode.rawValue) needs at least one --mx") }
            _ = try patterns()
        }

        /// Each `--mx` through the same rules as a policy's mx lines; U-labels are converted to A-labels here,
        /// because a generator should write what the user meant.
        func patterns() throws -> [MXPattern] {
            try mx.map { value in
                var text = value
                if value.utf8.contains(where: { $0 >= 0x80 }) {
                    let wildcard = value.hasPrefix("*.")
                    guard let name = try? DomainName(String(value.dropFirst(wildcard ? 2 : 0))) else {
                        throw ValidationError("--mx '\(value)' is not a valid host name or pattern")
                    }
                    text = (wildcard ? "*." : "") + name.value
                }
                let (pattern, diagnostics) = MXPattern.parse(Array(text.utf8))
                guard let pattern else {
                    let d = diagnostics.errors[0]
                    throw ValidationError("--mx '\(value)': \(d.message)" + (d.fix.map { " (\($0))" } ?? ""))
                }
                for w in diagnostics.warnings { printError("mta-sts: warning: --mx '\(value)': \(w.message)") }
                return pattern
            }
        }

        func run() throws {
            let policy = STSPolicy(mode: mode, maxAge: UInt32(maxAge), mx: try patterns())
            if mode != .none, maxAge < UInt64(STSLimits.shortMaxAgeWarning) {
                printError("mta-sts: warning: a max_age under one day (86400) gives little protection against downgrade")
            }
            print(policy.text, terminator: "")
        }
    }
}

/// `policy check --json` (a documented contract: keys are only ever added).
struct PolicyCheckJSON: Encodable {
    let valid: Bool
    /// Whether a tolerant sender would apply the policy (see `PolicyReading.sender`).
    let sender_valid: Bool
    let policy: PolicyJSON?
    let errors: [DiagnosticJSON]
    let warnings: [DiagnosticJSON]
    let notes: [DiagnosticJSON]

    init(strict: PolicyParseResult, sender: PolicyParseResult) {
        valid = strict.policy != nil
        sender_valid = sender.policy != nil
        policy = (strict.policy ?? sender.policy).map(PolicyJSON.init)
        errors = strict.diagnostics.errors.map(DiagnosticJSON.init)
        warnings = strict.diagnostics.warnings.map(DiagnosticJSON.init)
        notes = strict.diagnostics.notes.map(DiagnosticJSON.init)
    }
}

/// `policy match --json`.
struct MatchJSON: Encodable {
    let host: String
    let allowed: Bool
    let mode: String
    @NullWhenAbsent var pattern: String?
    @NullWhenAbsent var reason: String?
    @NullWhenAbsent var suggestion: String?

    init(host: DomainName, policy: STSPolicy, match: MXMatch) {
        self.host = host.value
        mode = policy.mode.rawValue
        switch match {
        case .matched(let p):
            allowed = true
            pattern = p.description
            reason = nil
            suggestion = nil
        case .notMatched(let r, let s):
            allowed = false
            pattern = nil
            reason = r
            suggestion = s?.description
        }
    }
}
