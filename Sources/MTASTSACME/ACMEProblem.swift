import Foundation

/// A problem document (RFC 7807; RFC 8555 §6.7): the server's reason for refusing a request, or for an order,
/// authorization or challenge that failed. Thrown as is, so a caller can branch on `type` and log `detail`.
public struct ACMEProblem: Error, Sendable, Equatable, CustomStringConvertible {
    /// RFC 8555 §6.7 error types: `urn:ietf:params:acme:error:<name>`.
    public static let namespace = "urn:ietf:params:acme:error:"

    /// RFC 8555 §6.7.1: a subproblem is a problem document about one identifier.
    public struct Subproblem: Sendable, Equatable, Decodable {
        public var type: String
        public var detail: String?
        public var identifier: ACMEIdentifier?

        enum CodingKeys: String, CodingKey { case type, detail, identifier }

        public init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            type = ACMEProblem.problemType(try c.decodeIfPresent(String.self, forKey: .type))
            detail = try c.decodeIfPresent(String.self, forKey: .detail)
            identifier = try c.decodeIfPresent(ACMEIdentifier.self, forKey: .identifier)
        }
    }

    public var type: String
    public var detail: String?
    /// The HTTP status: the document's own `status`, else the response's.
    public var status: Int?
    /// RFC 8555 §6.7.1: per-identifier problems of one request (e.g. two rejected names in one order).
    public var subproblems: [Subproblem]
    public var identifier: ACMEIdentifier?
    /// The response's Retry-After (RFC 8555 §6.6: how long a rate-limited client waits), nil when it sent none.
    public var retryAfter: Duration?

    public init(type: String, detail: String? = nil, status: Int? = nil, subproblems: [Subproblem] = [],
                identifier: ACMEIdentifier? = nil) {
        self.type = type
        self.detail = detail
        self.status = status
        self.subproblems = subproblems
        self.identifier = identifier
    }

    /// The ACME error name (`badNonce`, `rejectedIdentifier`, ...), or nil for a type outside the ACME namespace.
    public var acmeName: String? {
        type.hasPrefix(Self.namespace) ? String(type.dropFirst(Self.namespace.count)) : nil
    }

    public func isACME(_ name: String) -> Bool { acmeName == name }

    public var description: String {
        var text = type
        if let status { text += " (HTTP \(status))" }
        if let detail, !detail.isEmpty { text += ": " + detail }
        for sub in subproblems {
            text += "; " + (sub.identifier.map { "\($0.value): " } ?? "") + sub.type + (sub.detail.map { " " + $0 } ?? "")
        }
        return text
    }

    /// The problem in an error response, or a stand-in naming the status when the body is not a problem document
    /// (a proxy's HTML page, an empty 503).
    static func from(_ response: ACMEResponse) -> ACMEProblem {
        if var problem = try? JSONDecoder().decode(ACMEProblem.self, from: Data(response.body)) {
            problem.status = problem.status ?? response.status
            problem.retryAfter = response.retryAfter(now: Date())
            return problem
        }
        let text = String(decoding: response.body.prefix(200), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        var problem = ACMEProblem(type: "about:blank", detail: text.isEmpty ? "HTTP \(response.status) without a problem document" : text,
                                  status: response.status)
        problem.retryAfter = response.retryAfter(now: Date())
        return problem
    }
}

extension ACMEProblem: Decodable {
    /// RFC 7807 §4.2: a missing type means "about:blank"; so does an empty one, which names no problem type (and
    /// would leave the description, or a subproblem's part of it, without its type; both found by the `acme` fuzz
    /// target: Fuzz/regressions/acme/problem-empty-type and subproblem-empty-type).
    static func problemType(_ type: String?) -> String {
        guard let type, !type.isEmpty else { return "about:blank" }
        return type
    }

    enum CodingKeys: String, CodingKey { case type, detail, status, subproblems, identifier }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        type = Self.problemType(try c.decodeIfPresent(String.self, forKey: .type))
        detail = try c.decodeIfPresent(String.self, forKey: .detail)
        status = try c.decodeIfPresent(Int.self, forKey: .status)
        subproblems = try c.decodeIfPresent([Subproblem].self, forKey: .subproblems) ?? []
        identifier = try c.decodeIfPresent(ACMEIdentifier.self, forKey: .identifier)
    }
}

/// Failures that are not the server's problem documents.
public enum ACMEClientError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The server's answer breaks RFC 8555 (no Location for a new order, JSON that is not the object, ...).
    case badResponse(String)
    /// Polling an authorization or order passed its bounded wait.
    case timedOut(String)
    /// The operation needs an account URL (`kid`) and none is known yet.
    case noAccount
    /// The server's directory lacks a resource this operation needs (e.g. `renewalInfo` for ARI).
    case unsupported(String)

    public var description: String {
        switch self {
        case .badResponse(let text): "bad ACME response: \(text)"
        case .timedOut(let text): "timed out: \(text)"
        case .noAccount: "no ACME account: create or find one first"
        case .unsupported(let text): "the ACME server does not offer \(text)"
        }
    }
}
