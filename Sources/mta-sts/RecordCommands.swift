import ArgumentParser
import Foundation
import MTASTSCore
import MTASTSPolicyHost

struct RecordCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "record",
        abstract: "Check or create the _mta-sts TXT record.",
        subcommands: [Check.self, New.self]
    )
}

extension RecordCommand {
    struct Check: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Check TXT record text by RFC 8461 §3.1.",
            discussion: """
                One argument checks one record. Several arguments are the whole RRset at _mta-sts.<domain> (each \
                argument one record, its strings already joined), and the selection rule applies: exactly one \
                record may begin with `v=STSv1;`. Exit 0 when there is a usable record, 1 when not.
                """
        )

        @OptionGroup var output: OutputOptions

        @Argument(help: "The TXT record text, e.g. 'v=STSv1; id=20240101T000000;'. Several: the RRset.")
        var records: [String]

        func validate() throws {
            if records.isEmpty { throw ValidationError("give at least one TXT record") }
        }

        func run() throws {
            let bytes = records.map { Array($0.utf8) }
            let selection = RecordSelection(rrset: bytes)
            if output.json {
                try JSONOutput.print(RecordCheckJSON(selection))
            } else {
                print(render(selection, bytes: bytes), terminator: "")
            }
            if selection.record == nil { throw Exit.invalid }
        }

        private func render(_ selection: RecordSelection, bytes: [[UInt8]]) -> String {
            let style = output.style
            // Point into the one candidate when there is one; otherwise diagnostics have no location.
            let candidate = bytes.first(where: { STSRecord.isCandidate($0) }) ?? bytes[0]
            let printer = DiagnosticPrinter(style: style, source: "record", input: candidate)
            var out = printer.render(selection.diagnostics)
            switch selection {
            case .record(let record, _):
                out += style.green("valid") + ": policy id \(style.bold(record.id))"
                if !record.extensions.isEmpty {
                    out += ", extensions " + record.extensions.map { "\($0.name)=\($0.value)" }.joined(separator: ", ")
                }
                out += "\n"
            case .none:
                out += style.red("no usable record") + ": none begins with `v=STSv1;`\n"
            case .multiple(let count, _):
                out += style.red("no usable record") + ": \(count) records begin with `v=STSv1;`\n"
            case .invalid:
                out += style.red("no usable record") + ": the STS record is malformed\n"
            }
            return out
        }
    }

    struct New: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print a correct _mta-sts TXT record.",
            discussion: """
                The id defaults to a fresh timestamp id (UTC, e.g. 20230615T153000). With --policy the id is a \
                stable content hash of that policy: the same policy always gives the same id, and any change \
                to it gives a new one. With --for DOMAIN --config FILE (the policy host's configuration) it prints \
                the zone line for that domain: the TXT with the content hash of the policy `mta-sts serve` serves, \
                or for a proxied domain the CNAME to the provider's _mta-sts. Publish the policy first, then the record.
                """
        )

        @Option(help: "The policy id: 1 to 32 letters and digits.")
        var id: String?

        @Option(help: "Derive the id from this policy file's content (a stable hash).")
        var policy: String?

        @Option(name: .customLong("for"), help: "A domain of the policy host's configuration (with --config).")
        var domain: String?

        @Option(help: "The policy host's YAML configuration (with --for).")
        var config: String?

        func validate() throws {
            if id != nil && policy != nil { throw ValidationError("give --id or --policy, not both") }
            if (domain == nil) != (config == nil) { throw ValidationError("--for and --config go together") }
            if domain != nil && (id != nil || policy != nil) { throw ValidationError("--for takes neither --id nor --policy") }
            if let id, !PolicyID.isValid(id) {
                throw ValidationError("the id '\(id)' is not 1 to 32 letters and digits (A-Z, a-z, 0-9)")
            }
        }

        func run() throws {
            if let domain, let config {
                let c = try PolicyHostSource.load(config)
                let entry = try ZoneCommand.select([domain], from: c)[0]
                do {
                    print(ZoneSnippet.recordLine(entry.name, try ZoneSnippet.record(for: entry), ttl: c.zone.ttl))
                } catch { throw PolicyHostSource.fail(error) }
                return
            }
            var recordID = id ?? PolicyID.timestamp(unixSeconds: Int64(Date().timeIntervalSince1970))
            if let policy {
                let (name, bytes) = try Input.read(policy)
                let result = STSPolicy.parse(bytes)
                guard let parsed = result.policy else {
                    let printer = DiagnosticPrinter(style: Style(enabled: false), source: name, input: bytes)
                    printError(printer.render(result.diagnostics.errors) + "mta-sts: error: \(name) is not a valid policy")
                    throw Exit.invalid
                }
                recordID = PolicyID.contentHash(of: parsed)
            }
            print(STSRecord(id: recordID)!.description)
        }
    }
}

/// `record check --json` (a documented contract: keys are only ever added).
struct RecordCheckJSON: Encodable {
    let valid: Bool
    /// "record", "none", "multiple" or "invalid": which case of the RFC 8461 §3.1 selection rule applied.
    let selection: String
    /// Left out without a record (so are `extensions`).
    let id: String?
    let extensions: [String: String]?
    let errors: [DiagnosticJSON]
    let warnings: [DiagnosticJSON]
    let notes: [DiagnosticJSON]

    init(_ s: RecordSelection) {
        valid = s.record != nil
        switch s {
        case .record: selection = "record"
        case .none: selection = "none"
        case .multiple: selection = "multiple"
        case .invalid: selection = "invalid"
        }
        id = s.record?.id
        extensions = s.record.map { Dictionary($0.extensions.map { ($0.name, $0.value) }, uniquingKeysWith: { a, _ in a }) }
        errors = s.diagnostics.errors.map(DiagnosticJSON.init)
        warnings = s.diagnostics.warnings.map(DiagnosticJSON.init)
        notes = s.diagnostics.notes.map(DiagnosticJSON.init)
    }
}
