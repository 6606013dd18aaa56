import Foundation

/// RFC 8555 §7.1.1: the directory. `renewalInfo` is RFC 9773's (ARI): present only when the server offers it.
public struct ACMEDirectory: Sendable, Equatable, Decodable {
    public struct Meta: Sendable, Equatable, Decodable {
        public var termsOfService: String?
        public var website: String?
        public var caaIdentities: [String]?
        public var externalAccountRequired: Bool?
    }

    public var newNonce: String
    public var newAccount: String
    public var newOrder: String
    public var revokeCert: String
    public var keyChange: String?
    public var renewalInfo: String?
    public var meta: Meta?
}

/// RFC 8555 §7.1.6: the states of accounts, orders, authorizations and challenges. A status this client does not
/// know is kept as `other`, not a decoding failure (a newer server may add one).
public enum ACMEStatus: Sendable, Equatable, Decodable {
    case pending, ready, processing, valid, invalid, deactivated, expired, revoked
    case other(String)

    public init(_ text: String) {
        self = switch text {
        case "pending": .pending
        case "ready": .ready
        case "processing": .processing
        case "valid": .valid
        case "invalid": .invalid
        case "deactivated": .deactivated
        case "expired": .expired
        case "revoked": .revoked
        default: .other(text)
        }
    }

    public init(from decoder: any Decoder) throws { self.init(try decoder.singleValueContainer().decode(String.self)) }

    /// No further change will come: polling stops here.
    var isFinal: Bool {
        switch self {
        case .valid, .invalid, .deactivated, .expired, .revoked: true
        default: false
        }
    }
}

/// RFC 8555 §9.7.7: `dns` identifiers are the only kind this client orders.
public struct ACMEIdentifier: Sendable, Equatable, Hashable, Codable {
    public var type: String
    public var value: String

    public init(type: String, value: String) {
        self.type = type
        self.value = value
    }

    public static func dns(_ name: String) -> ACMEIdentifier { .init(type: "dns", value: name) }
}

/// RFC 8555 §7.1.2. `url` is the account's Location: the `kid` of every later request.
public struct ACMEAccount: Sendable, Equatable, Decodable {
    public var url: String = ""
    public var status: ACMEStatus
    public var contact: [String]?
    public var orders: String?

    enum CodingKeys: String, CodingKey { case status, contact, orders }
}

/// RFC 8555 §7.1.3. `url` is the order's Location (the JSON does not name itself).
public struct ACMEOrder: Sendable, Equatable, Decodable {
    public var url: String = ""
    public var status: ACMEStatus
    public var expires: String?
    public var identifiers: [ACMEIdentifier]
    public var authorizations: [String]
    public var finalize: String
    public var certificate: String?
    /// Why the order became invalid.
    public var error: ACMEProblem?

    enum CodingKeys: String, CodingKey { case status, expires, identifiers, authorizations, finalize, certificate, error }
}

/// RFC 8555 §7.1.4.
public struct ACMEAuthorization: Sendable, Equatable, Decodable {
    public var url: String = ""
    public var identifier: ACMEIdentifier
    public var status: ACMEStatus
    public var expires: String?
    public var challenges: [ACMEChallenge]
    public var wildcard: Bool?

    enum CodingKeys: String, CodingKey { case identifier, status, expires, challenges, wildcard }

    /// The offered challenge of a type (`http-01`, `tls-alpn-01`, `dns-01`).
    public func challenge(_ type: String) -> ACMEChallenge? { challenges.first { $0.type == type } }
}

/// RFC 8555 §7.1.5, §8. `token` is present for http-01, dns-01 and tls-alpn-01.
public struct ACMEChallenge: Sendable, Equatable, Decodable {
    public static let http01 = "http-01"
    public static let tlsALPN01 = "tls-alpn-01"
    public static let dns01 = "dns-01"

    public var type: String
    public var url: String
    public var status: ACMEStatus
    public var token: String?
    public var validated: String?
    /// Why the validation failed.
    public var error: ACMEProblem?
}

/// RFC 9773 §4.2: when the CA suggests renewing, and when to ask again.
public struct ACMERenewalInfo: Sendable, Equatable {
    public var windowStart: Date
    public var windowEnd: Date
    public var explanationURL: String?
    /// From Retry-After (§4.3): when to poll again; nil when the server sent none.
    public var retryAfter: Duration?
}

extension JSONDecoder {
    /// Decodes an ACME object, naming what was expected when it is not one.
    static func acme<T: Decodable>(_ type: T.Type, from body: [UInt8], what: String) throws -> T {
        do { return try JSONDecoder().decode(type, from: Data(body)) } catch {
            throw ACMEClientError.badResponse("\(what) is not the expected JSON object: \(error)")
        }
    }
}
