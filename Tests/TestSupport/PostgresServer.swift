import Foundation
import Logging
import MTASTSStorePostgres
import PostgresNIO

/// The real PostgreSQL of scripts/postgres.sh, started once per test process.
///
/// When `MTASTS_POSTGRES_URL` is set (scripts/test.sh starts a server and sets it), that server is used.
/// Otherwise the first test that needs one starts it in a temporary directory and stops it when the process
/// exits. A server that cannot start is a test failure, never a skip.
public enum PostgresServer {
    public static func url() throws -> String { try started.get() }

    private static let started: Result<String, TestbedError> = {
        if let url = ProcessInfo.processInfo.environment["MTASTS_POSTGRES_URL"], !url.isEmpty { return .success(url) }
        let dir = directory
        let (status, output) = script(["up", dir])
        guard status == 0 else {
            return .failure(TestbedError(description: "scripts/postgres.sh up failed (exit \(status)):\n\(output)"))
        }
        atexit {
            _ = PostgresServer.script(["down", PostgresServer.directory])
            try? FileManager.default.removeItem(atPath: PostgresServer.directory)
        }
        guard let env = try? String(contentsOfFile: dir + "/env", encoding: .utf8),
              let line = env.split(separator: "\n").first(where: { $0.hasPrefix("POSTGRES_URL=") }) else {
            return .failure(TestbedError(description: "scripts/postgres.sh wrote no POSTGRES_URL to \(dir)/env"))
        }
        return .success(String(line.dropFirst("POSTGRES_URL=".count)))
    }()

    public static var directory: String { FileManager.default.temporaryDirectory.appendingPathComponent("mta-sts-postgres-\(getpid())").path }

    /// Runs scripts/postgres.sh to its end (``spawnAndWait(_:_:)``: Foundation's Process hung here).
    public static func script(_ args: [String]) -> (status: Int32, output: String) {
        spawnAndWait(repositoryRoot.appendingPathComponent("scripts/postgres.sh").path, args)
    }

    /// A URL whose sessions work in a new, empty schema: tests run in parallel on one database, each in its own
    /// schema, through the URL's libpq `options` parameter (as an operator could share a database).
    public static func freshURL() async throws -> String {
        let base = try url()
        let schema = "t_" + UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased().prefix(20)
        try await sql(base, "CREATE SCHEMA \(schema)")
        return base + (base.contains("?") ? "&" : "?") + "options=-c%20search_path%3D\(schema)"
    }

    /// Runs one statement on a plain session (like psql: no `mta_sts.writer` setting); returns the first column
    /// of each row as text (cast in the SQL when needed).
    @discardableResult
    public static func sql(_ url: String, _ statement: String) async throws -> [String?] {
        do { return try await plainSQL(url, statement) } catch {
            throw TestbedError(description: "\(statement): \(String(reflecting: error))")
        }
    }

    private static func plainSQL(_ url: String, _ statement: String) async throws -> [String?] {
        let configuration = try PostgresStoreConfiguration(url: url).connectionConfiguration()
        let logger = Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() })
        let connection = try await PostgresConnection.connect(on: PostgresConnection.defaultEventLoopGroup.next(),
                                                              configuration: configuration, id: 1, logger: logger).get()
        do {
            let rows = try await connection.query(PostgresQuery(unsafeSQL: statement), logger: logger)
            var out: [String?] = []
            for try await row in rows {
                out.append(row.count > 0 ? try row.makeRandomAccess()[0].decode(String?.self) : nil)
            }
            try? await connection.close()
            return out
        } catch {
            try? await connection.close()
            throw error
        }
    }

    /// A TCP port on 127.0.0.1 where nothing listens (bound, then released).
    public static func deadPort() -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) } }
        _ = withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) } }
        return Int(UInt16(bigEndian: address.sin_port))
    }
}

