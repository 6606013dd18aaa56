import Foundation
import MTASTSCore
import Yams

/// Why a configuration cannot be used: the file, the key and what is wrong; for a bad policy, the core parser's
/// findings too.
public struct ConfigurationError: Error, CustomStringConvertible, Sendable {
    public let description: String
    public let diagnostics: [Diagnostic]
    /// True when a file could not be read or a setting could not be set up at all (exit 2); false when the
    /// content is wrong (exit 1).
    public let isIOError: Bool

    public init(_ description: String, diagnostics: [Diagnostic] = [], isIOError: Bool = false) {
        self.description = description
        self.diagnostics = diagnostics
        self.isIOError = isIOError
    }
}

/// The one typed reader of the YAML configurations (`resolver`, `serve`): every error names the file and the key,
/// unknown keys are errors (a typo must not silently change behaviour), `null` means "not set", and every duration
/// follows one rule.
public struct ConfigReader: Sendable {
    /// The file name (or `<config>`), the first word of every error.
    public let source: String
    /// The document that lists the keys, named when a key is unknown.
    public let keysDocument: String

    public init(source: String, keysDocument: String) {
        self.source = source
        self.keysDocument = keysDocument
    }

    /// Reads `path` as YAML; an empty document is an empty mapping.
    public static func load(path: String, keysDocument: String) throws(ConfigurationError) -> (map: [String: Any], reader: ConfigReader) {
        let text: String
        do { text = try String(contentsOfFile: path, encoding: .utf8) } catch {
            throw ConfigurationError("cannot read \(path): \(error.localizedDescription)", isIOError: true)
        }
        return try parse(text, source: path, keysDocument: keysDocument)
    }

    public static func parse(_ text: String, source: String, keysDocument: String) throws(ConfigurationError) -> (map: [String: Any], reader: ConfigReader) {
        let reader = ConfigReader(source: source, keysDocument: keysDocument)
        let root: Any?
        do { root = try Yams.load(yaml: text) } catch { throw reader.error("not valid YAML: \(error)") }
        guard let root else { return ([:], reader) }
        guard let map = root as? [String: Any] else { throw reader.error("the top level must be a mapping") }
        return (map, reader)
    }

    /// An error about this file.
    public func error(_ message: String, diagnostics: [Diagnostic] = []) -> ConfigurationError {
        ConfigurationError("\(source): \(message)", diagnostics: diagnostics)
    }

    public func only(_ map: [String: Any], _ keys: Set<String>, at prefix: String) throws(ConfigurationError) {
        if let unknown = map.keys.sorted().first(where: { !keys.contains($0) }) {
            throw error("unknown key '\(prefix)\(unknown)' (\(keysDocument) lists the keys)")
        }
    }

    public func mapping(_ v: Any?, _ key: String) throws(ConfigurationError) -> [String: Any]? {
        guard let v = present(v) else { return nil }
        if let m = v as? [String: Any] { return m }
        throw error("\(key) must be a mapping")
    }

    public func string(_ v: Any?, _ key: String) throws(ConfigurationError) -> String? {
        guard let v = present(v) else { return nil }
        if let s = v as? String { return s }
        throw error("\(key) must be a string")
    }

    /// One string or a list of strings.
    public func strings(_ v: Any?, _ key: String) throws(ConfigurationError) -> [String]? {
        guard let v = present(v) else { return nil }
        if let s = v as? String { return [s] }
        if let a = v as? [Any], let s = a as? [String] { return s }
        throw error("\(key) must be a string or a list of strings")
    }

    public func int(_ v: Any?, _ key: String) throws(ConfigurationError) -> Int? {
        guard let v = present(v) else { return nil }
        if let i = v as? Int { return i }
        throw error("\(key) must be a whole number")
    }

    public func bool(_ v: Any?, _ key: String) throws(ConfigurationError) -> Bool? {
        guard let v = present(v) else { return nil }
        if let b = v as? Bool { return b }
        throw error("\(key) must be true or false")
    }

    /// A duration in seconds: never negative (`idle_timeout: -1` would close every connection at once), zero only
    /// where `zero` says what it means, finite and at most 10^9 s (so every timer type can hold it).
    public func seconds(_ v: Any?, _ key: String, zero: String? = nil) throws(ConfigurationError) -> Double? {
        guard let v = present(v) else { return nil }
        let d = (v as? Int).map(Double.init) ?? (v as? Double)
        guard let d, d.isFinite, d <= 1e9, zero == nil ? d > 0 : d >= 0 else {
            throw error("\(key) must be a number of seconds, more than 0" + (zero.map { " (or 0: \($0))" } ?? "")
                        + " and at most 1000000000, not \(v)")
        }
        return d
    }

    /// A file mode: YAML 1.1 reads `0666` as octal 438 (as postfix-mta-sts-resolver's users write it); a string
    /// "0660" works too.
    public func mode(_ v: Any?, _ key: String) throws(ConfigurationError) -> UInt16? {
        guard let v = present(v) else { return nil }
        if let i = v as? Int, (0...0o7777).contains(i) { return UInt16(i) }
        if let s = v as? String, let i = UInt16(s, radix: 8), i <= 0o7777 { return i }
        throw error("\(key) must be a file mode such as 0660")
    }

    /// `key: ~` (YAML null) is the same as leaving the key out.
    private func present(_ v: Any?) -> Any? {
        guard let v, !(v is NSNull) else { return nil }
        return v
    }
}
