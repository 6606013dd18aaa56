import MTASTSCore
import MTASTSDiscovery

/// The `_smtp._tls.<domain>` TXT record of RFC 8460 §3: `v=TLSRPTv1; rua=mailto:…,https://…`.
public struct TLSRPTRecord: Hashable, Sendable {
    /// The reporting URIs in record order (only `mailto:` and `https:` are usable).
    public var rua: [String]

    /// What the RRset gives: one record, or why not (a finding code and its message).
    public enum Selection: Sendable, Hashable {
        case record(TLSRPTRecord, unusable: [String])
        case none
        case multiple(Int)
        case invalid(String)

        /// The record, when there is exactly one usable.
        public var record: TLSRPTRecord? {
            if case .record(let r, _) = self { r } else { nil }
        }

        /// The status `check` reports for a TXT RRset that gave this selection.
        public var status: RecordStatus {
            switch self {
            case .record: .valid
            case .none: .missing
            case .multiple: .multiple
            case .invalid: .invalid
            }
        }
    }

    /// RFC 8460 §3: discard records that do not begin with `v=TLSRPTv1`; exactly one must remain; it needs
    /// `rua=` with at least one URI; `mailto:` and `https:` are the usable schemes.
    public static func select(_ texts: [String]) -> Selection {
        let candidates = texts.filter { isCandidate($0) }
        guard !candidates.isEmpty else { return .none }
        guard candidates.count == 1 else { return .multiple(candidates.count) }
        return parse(candidates[0])
    }

    static func isCandidate(_ text: String) -> Bool {
        guard text.hasPrefix("v=TLSRPTv1") else { return false }
        let rest = text.dropFirst("v=TLSRPTv1".count)
        return rest.drop(while: { $0 == " " || $0 == "\t" }).first == ";"
    }

    /// Parses one candidate record by the RFC 8460 §3 ABNF.
    public static func parse(_ text: String) -> Selection {
        let fields = text.split(separator: ";", omittingEmptySubsequences: false)
            .map { $0.trimmingWSP() }
        var uris: [String] = []
        var sawRUA = false
        for field in fields.dropFirst() where !field.isEmpty {
            guard let eq = field.firstIndex(of: "=") else { return .invalid("the field `\(field)` has no `=`") }
            let name = field[..<eq], value = field[field.index(after: eq)...]
            guard name == "rua" else { continue }  // extensions are ignored (RFC 8460 §3)
            if sawRUA { continue }  // the first rua wins
            sawRUA = true
            let list = value.split(separator: ",", omittingEmptySubsequences: false).map { $0.trimmingWSP() }
            guard !list.isEmpty, list.allSatisfy({ !$0.isEmpty }) else { return .invalid("the rua list `\(value)` has an empty URI") }
            uris = list.map(String.init)
        }
        guard sawRUA else { return .invalid("the record has no `rua=` field") }
        let unusable = uris.filter { uri in
            let lower = uri.lowercased()
            if lower.hasPrefix("mailto:") { return !uri.dropFirst(7).contains("@") }
            if lower.hasPrefix("https://") { return uri.count <= 8 }
            return true
        }
        return .record(TLSRPTRecord(rua: uris), unusable: unusable)
    }
}

extension Substring {
    fileprivate func trimmingWSP() -> Substring {
        var s = self
        while let f = s.first, f == " " || f == "\t" { s = s.dropFirst() }
        while let l = s.last, l == " " || l == "\t" { s = s.dropLast() }
        return s
    }
}
