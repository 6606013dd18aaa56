import Foundation
import PostgresNIO

/// Where the fleet store lives and how to reach it, read from a libpq-style URL:
///
///     postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE[?PARAM=VALUE&...]
///
/// `postgresql://` works too; USER and PASSWORD are percent-decoded; HOST may be `[IPv6]`; PORT defaults to 5432.
/// Parameters (libpq's names; any other is an error so a typo cannot go unnoticed):
/// - `sslmode`: `disable` (the default: plain TCP, for loopback or a private network) or `require`: TLS with the
///   server's certificate verified against the system's trust roots (or `sslrootcert`) and its name checked. That
///   is stricter than libpq's `require` (which encrypts without verifying), so `verify-full` is accepted as
///   the same thing; `prefer`, `allow` and `verify-ca` are refused rather than quietly weakened.
/// - `sslrootcert`: a PEM file of CA certificates to trust instead of the system's.
/// - `host`: a directory holding the server's UNIX socket (`.s.PGSQL.PORT`), instead of TCP (then the URL's
///   host part may be empty: `postgres://mtasts@/mtasts?host=/var/run/postgresql`); `port`: the port, as libpq
///   also takes it.
/// - `connect_timeout`: seconds (default 5) any store operation may wait for a connection before it fails.
/// - `application_name`, `options` (e.g. `-c search_path=mtasts`): passed to the server as libpq does.
/// - `password_file` (ours): a file holding the password, read once when the store is opened, a trailing newline
///   removed. A URL on the command line is visible to every local user (`/proc/PID/cmdline`); a file (mode 0600)
///   or `PGPASSWORD` is not. Without a password in the URL or a `password_file`, `PGPASSWORD` is used, as libpq does.
public struct PostgresStoreConfiguration: Sendable, Equatable {
    public enum TLSMode: Sendable, Equatable {
        case disable
        /// TLS, the certificate verified (against `rootCertificates`, a PEM file, or the system's roots) and
        /// its name checked against the host.
        case require(rootCertificates: String?)
    }

    public var host: String
    public var port: Int
    /// The directory of the server's UNIX socket, when connecting over one.
    public var socketDirectory: String?
    public var username: String
    public var password: String?
    public var database: String
    public var tls: TLSMode
    public var connectTimeout: Duration
    public var applicationName: String?
    /// The libpq `options` startup parameter (server settings for the session).
    public var options: String?

    public struct Invalid: Error, CustomStringConvertible, Equatable {
        public let description: String
    }

    public init(host: String, port: Int = 5432, username: String, password: String?, database: String, tls: TLSMode = .disable,
                connectTimeout: Duration = .seconds(5)) {
        self.host = host
        self.port = port
        self.username = username
        self.password = password
        self.database = database
        self.tls = tls
        self.connectTimeout = connectTimeout
    }

    /// Parses a `postgres://` URL and reads its `password_file` (the error never repeats the password).
    /// - Parameter environment: where `PGPASSWORD` comes from.
    public init(url: String, environment: [String: String] = ProcessInfo.processInfo.environment) throws(Invalid) {
        guard let components = URLComponents(string: url), let scheme = components.scheme?.lowercased(),
              scheme == "postgres" || scheme == "postgresql" else {
            throw Invalid(description: "\(Self.redacted(url)) is not a postgres://USER:PASSWORD@HOST:PORT/DATABASE URL "
                                     + "(percent-encode reserved characters in the password: # as %23, / as %2F, @ as %40)")
        }
        guard let user = components.user, !user.isEmpty else {
            throw Invalid(description: "\(Self.redacted(url)) names no user (postgres://USER@HOST/DATABASE)")
        }
        let database = String(components.path.drop { $0 == "/" })
        guard !database.isEmpty, !database.contains("/") else {
            throw Invalid(description: "\(Self.redacted(url)) names no database (postgres://USER@HOST/DATABASE)")
        }
        var host = components.host ?? ""
        if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        let port = components.port ?? 5432
        guard (1...65535).contains(port) else { throw Invalid(description: "\(Self.redacted(url)): port \(port) is out of range") }

        self.init(host: host, port: port, username: user, password: components.password,
                  database: database.removingPercentEncoding ?? database)
        var sslmode = "disable"
        var rootCertificates: String?
        var passwordFile: String?
        for item in components.queryItems ?? [] {
            let value = item.value ?? ""
            switch item.name {
            case "sslmode": sslmode = value
            case "sslrootcert": rootCertificates = value
            case "host": socketDirectory = value
            case "port":
                guard let p = Int(value), (1...65535).contains(p) else { throw Invalid(description: "port must be 1-65535, not '\(value)'") }
                self.port = p
            case "connect_timeout":
                guard let seconds = Double(value), seconds > 0 else {
                    throw Invalid(description: "connect_timeout must be a positive number of seconds, not '\(value)'")
                }
                connectTimeout = .seconds(seconds)
            case "application_name": applicationName = value
            case "options": options = value
            case "password_file": passwordFile = value
            default:
                throw Invalid(description: "\(Self.redacted(url)): unknown parameter '\(item.name)' (sslmode, sslrootcert, host, port, "
                                         + "connect_timeout, application_name, options, password_file)")
            }
        }
        if let passwordFile {
            guard password == nil else { throw Invalid(description: "give the password in the URL or in password_file, not both") }
            password = try Self.readPassword(passwordFile)
        } else if password == nil, let fromEnvironment = environment["PGPASSWORD"], !fromEnvironment.isEmpty {
            password = fromEnvironment
        }
        switch sslmode {
        case "disable": tls = .disable
        case "require", "verify-full": tls = .require(rootCertificates: rootCertificates)
        default:
            throw Invalid(description: "sslmode '\(sslmode)' is not supported: use disable, or require (TLS with a verified certificate)")
        }
        if socketDirectory == nil, host.isEmpty {
            throw Invalid(description: "\(Self.redacted(url)) names no host (postgres://USER@HOST/DATABASE, or ?host=/socket/dir)")
        }
        if let socketDirectory, !socketDirectory.hasPrefix("/") {
            throw Invalid(description: "host=\(socketDirectory): a UNIX socket directory must be an absolute path")
        }
        if socketDirectory != nil, tls != .disable {
            throw Invalid(description: "sslmode=require does not apply to a UNIX socket")
        }
    }

    /// The URL with its password replaced by `***`, for logs and messages. Done on the text, so it also holds for a
    /// URL that does not parse (a `#` or `/` in the password): everything between `://USER:` and the last `@` is
    /// hidden, and so is a `password=` parameter. Text that is not a URL at all is not shown.
    public static func redacted(_ url: String) -> String {
        guard let scheme = url.range(of: "://") else { return "(a DSN that is not a URL, not shown)" }
        var out = String(url[..<scheme.upperBound])
        var rest = url[scheme.upperBound...]
        if let at = rest.lastIndex(of: "@") {
            let userInfo = rest[..<at]
            out += userInfo.firstIndex(of: ":").map { userInfo[...$0] + "***" } ?? String(userInfo)
            rest = rest[at...]
        }
        guard let query = rest.firstIndex(of: "?") else { return out + rest }
        let parameters = rest[rest.index(after: query)...].split(separator: "&", omittingEmptySubsequences: false)
            .map { $0.lowercased().hasPrefix("password=") ? "password=***" : String($0) }
        return out + rest[...query] + parameters.joined(separator: "&")
    }

    /// The content of `path`, trailing CR/LF removed; the error names the file, never its content.
    static func readPassword(_ path: String) throws(Invalid) -> String {
        let data: Data
        do {
            let handle = try FileHandle(forReadingFrom: URL(fileURLWithPath: path))
            defer { try? handle.close() }
            data = try handle.read(upToCount: 4097) ?? Data()
        } catch {
            throw Invalid(description: "cannot read password_file \(path): \((error as NSError).localizedDescription)")
        }
        guard data.count <= 4096 else { throw Invalid(description: "password_file \(path) is longer than 4096 bytes") }
        guard var text = String(data: data, encoding: .utf8) else { throw Invalid(description: "password_file \(path) is not UTF-8 text") }
        while let last = text.unicodeScalars.last, last == "\n" || last == "\r" { text.unicodeScalars.removeLast() }
        guard !text.isEmpty else { throw Invalid(description: "password_file \(path) is empty") }
        return text
    }

    /// Where it connects, for messages: `HOST:PORT/DATABASE` or the socket path.
    public var endpoint: String {
        if let socketDirectory { return "\(socketDirectory)/.s.PGSQL.\(port) (database \(database))" }
        return (host.contains(":") ? "[\(host)]" : host) + ":\(port)/\(database)"
    }

    var socketPath: String? { socketDirectory.map { "\($0)/.s.PGSQL.\(port)" } }

    /// The TLS settings, built once (reading `sslrootcert`).
    func tlsConfiguration() throws -> TLSConfiguration? {
        guard case .require(let roots) = tls else { return nil }
        var tls = TLSConfiguration.makeClientConfiguration()
        tls.minimumTLSVersion = .tlsv12
        tls.certificateVerification = .fullVerification
        if let roots {
            do { tls.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(roots)) } catch {
                throw Invalid(description: "cannot read sslrootcert \(roots): \(error)")
            }
        }
        return tls
    }

    /// The startup parameters libpq would send for `application_name` and `options`, plus ours.
    func startupParameters(extraOptions: String) -> [(String, String)] {
        var out: [(String, String)] = []
        if let applicationName { out.append(("application_name", applicationName)) }
        let options = [options ?? "", extraOptions].filter { !$0.isEmpty }.joined(separator: " ")
        if !options.isEmpty { out.append(("options", options)) }
        return out
    }

    /// The pooled client's configuration; `extraOptions` is appended to the `options` startup parameter.
    func clientConfiguration(extraOptions: String = "") throws -> PostgresClient.Configuration {
        var c: PostgresClient.Configuration
        if let socketPath {
            c = .init(unixSocketPath: socketPath, username: username, password: password, database: database)
        } else {
            c = .init(host: host, port: port, username: username, password: password, database: database,
                      tls: try tlsConfiguration().map { .require($0) } ?? .disable)
        }
        c.options.connectTimeout = connectTimeout
        c.options.additionalStartupParameters = startupParameters(extraOptions: extraOptions)
        // Few connections: the cache writes through rarely and reads in bulk; a fleet shares the server.
        c.options.maximumConnections = 4
        return c
    }

    /// A single connection's configuration (the diagnosis when the pool cannot connect, and tests).
    public func connectionConfiguration(extraOptions: String = "") throws -> PostgresConnection.Configuration {
        var c: PostgresConnection.Configuration
        if let socketPath {
            c = .init(unixSocketPath: socketPath, username: username, password: password, database: database)
        } else {
            let tls: PostgresConnection.Configuration.TLS
            if let config = try tlsConfiguration() { tls = .require(try NIOSSLContext(configuration: config)) } else { tls = .disable }
            c = .init(host: host, port: port, username: username, password: password, database: database, tls: tls)
        }
        c.options.connectTimeout = TimeAmount(connectTimeout)
        c.options.additionalStartupParameters = startupParameters(extraOptions: extraOptions)
        return c
    }
}
