import Foundation

/// A JSON value with its kind kept (a count written `"42"` stays a string, `true` stays a boolean), so the report
/// reader can tell a tolerated deviation from the RFC 8460 form and say which it was.
enum JSONValue: Decodable, Sendable {
    case null
    case bool(Bool)
    case int(Int64)
    case double(Double)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])

    init(from decoder: any Decoder) throws {
        let c = try decoder.singleValueContainer()
        if c.decodeNil() {
            self = .null
        } else if let v = try? c.decode(Bool.self) {
            self = .bool(v)
        } else if let v = try? c.decode(Int64.self) {
            self = .int(v)
        } else if let v = try? c.decode(Double.self) {
            self = .double(v)
        } else if let v = try? c.decode(String.self) {
            self = .string(v)
        } else if let v = try? c.decode([JSONValue].self) {
            self = .array(v)
        } else {
            self = .object(try c.decode([String: JSONValue].self))
        }
    }

    /// JSON bytes → value, or why they are not JSON.
    static func decode(_ bytes: [UInt8]) -> Result<JSONValue, TLSReportRejection> {
        let data = Data(bytes)
        do {
            return .success(try JSONDecoder().decode(JSONValue.self, from: data))
        } catch {
            // JSONDecoder says only "not valid JSON"; JSONSerialization says where ("around character 8").
            var why = "\(error)"
            do {
                _ = try JSONSerialization.jsonObject(with: data, options: .fragmentsAllowed)
            } catch let error as NSError {
                why = error.userInfo[NSDebugDescriptionErrorKey] as? String ?? error.localizedDescription
            }
            return .failure(TLSReportRejection("not JSON (\(why.prefix(160)))"))
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
