/// A JSON value with its kind kept (a count written `"42"` stays a string, `true` stays a boolean), so the report
/// reader can tell a tolerated deviation from the RFC 8460 form and say which it was.
enum JSONValue: Sendable, Equatable {
    case null
    case bool(Bool)
    case int(Int64)
    case double(Double)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])

    /// JSON bytes → value, or why they are not JSON (the scanner's reason and where).
    static func decode(_ bytes: [UInt8]) -> Result<JSONValue, TLSReportRejection> {
        switch JSONScanner.parse(bytes) {
        case .success(let value): .success(value)
        case .failure(let failure): .failure(TLSReportRejection("not JSON (\(failure.message) at byte \(failure.offset))"))
        }
    }

    /// The kind in words, for notes and rejections.
    var kind: String {
        switch self {
        case .null: "null"
        case .bool: "a boolean"
        case .int: "an integer"
        case .double: "a number"
        case .string: "a string"
        case .array: "an array"
        case .object: "an object"
        }
    }

    /// A scalar as text (a report-id written as a number is still an identifier).
    var scalarText: String? {
        switch self {
        case .string(let s): s
        case .int(let i): String(i)
        case .double(let d): String(d)
        case .bool(let b): String(b)
        default: nil
        }
    }
}
