import MTASTSStorePostgres
import Testing

@Suite("postgres:// URLs")
struct PostgresURLTests {
    typealias C = PostgresStoreConfiguration

    @Test("USER:PASSWORD@HOST:PORT/DATABASE, percent-decoded; port 5432 by default; TLS off by default")
    func basic() throws {
        let c = try C(url: "postgres://mta%40sts:p%3Aw%2Fd@db.example:6432/cache")
        #expect(c.username == "mta@sts")
        #expect(c.password == "p:w/d")
        #expect(c.host == "db.example")
        #expect(c.port == 6432)
        #expect(c.database == "cache")
        #expect(c.tls == .disable)
        #expect(c.connectTimeout == .seconds(5))
        let d = try C(url: "postgresql://mtasts@[::1]/mtasts")
        #expect(d.host == "::1")
        #expect(d.port == 5432)
        #expect(d.password == nil)
        #expect(d.endpoint == "[::1]:5432/mtasts")
    }

    @Test("Parameters: sslmode, sslrootcert, host (UNIX socket directory), connect_timeout, application_name, options")
    func parameters() throws {
        let c = try C(url: "postgres://u:p@db.example/cache?sslmode=require&sslrootcert=/etc/ssl/db-ca.pem&connect_timeout=2.5"
                          + "&application_name=mx1&options=-c%20search_path%3Dmtasts")
        #expect(c.tls == .require(rootCertificates: "/etc/ssl/db-ca.pem"))
        #expect(c.connectTimeout == .milliseconds(2500))
        #expect(c.applicationName == "mx1")
        #expect(c.options == "-c search_path=mtasts")
        #expect(try C(url: "postgres://u@h/d?sslmode=verify-full").tls == .require(rootCertificates: nil))
        #expect(try C(url: "postgres://u@h/d?sslmode=disable").tls == .disable)
        let socket = try C(url: "postgres://mtasts@/mtasts?host=/var/run/postgresql")
        #expect(socket.socketDirectory == "/var/run/postgresql")
        #expect(socket.endpoint == "/var/run/postgresql/.s.PGSQL.5432 (database mtasts)")
        #expect(try C(url: "postgres://mtasts@/mtasts?host=/run/pg&port=5433").endpoint == "/run/pg/.s.PGSQL.5433 (database mtasts)")
    }

    @Test("Refused, with a reason and without the password", arguments: [
        ("mysql://u:secret@h/d", "not a postgres://"),
        ("postgres://h/d", "names no user"),
        ("postgres://u:secret@h", "names no database"),
        ("postgres://u:secret@h/", "names no database"),
        ("postgres://u:secret@/d", "names no host"),
        ("postgres://u:secret@h/d?sslmode=prefer", "sslmode 'prefer' is not supported"),
        ("postgres://u:secret@h/d?sslmode=verify-ca", "sslmode 'verify-ca' is not supported"),
        ("postgres://u:secret@h/d?ssl=true", "unknown parameter 'ssl'"),
        ("postgres://u:secret@h/d?connect_timeout=0", "connect_timeout must be a positive number"),
        ("postgres://u:secret@h/d?port=0", "port must be 1-65535"),
        ("postgres://u:secret@/d?host=run/pg", "must be an absolute path"),
        ("postgres://u:secret@/d?host=/run/pg&sslmode=require", "does not apply to a UNIX socket"),
    ])
    func refused(url: String, reason: String) {
        do {
            _ = try C(url: url)
            Issue.record("\(url) was accepted")
        } catch {
            #expect(error.description.contains(reason), "\(error.description)")
            #expect(!error.description.contains("secret"))
        }
    }

    @Test("Redaction for logs")
    func redacted() {
        #expect(C.redacted("postgres://u:secret@h:5/d?sslmode=require") == "postgres://u:***@h:5/d?sslmode=require")
        #expect(C.redacted("postgres://u@h/d") == "postgres://u@h/d")
    }

    @Test("Redaction of a URL that does not parse: nothing between ://USER: and the last @, no password= parameter", arguments: [
        ("postgres://u:s3cr#t/x@h/d", "postgres://u:***@h/d"),
        ("postgres://u:s3/cr@t#x@h:5432/d?sslmode=require", "postgres://u:***@h:5432/d?sslmode=require"),
        ("postgres://u:s3cr%23t@h/d?application_name=a&password=s3cr#t", "postgres://u:***@h/d?application_name=a&password=***"),
        ("host=h user=u password=s3cr#t", "(a DSN that is not a URL, not shown)"),
    ])
    func redactedUnparsable(url: String, shown: String) {
        #expect(C.redacted(url) == shown)
    }

    @Test("A password with # or / that is not percent-encoded: refused with a hint, the password not repeated")
    func unencodedPassword() {
        for url in ["postgres://u:s3cr#t@h/d", "postgres://u:s3/cr#t@h:5432/d?sslmode=require", "postgres://u:s3cr/t@h/d"] {
            do {
                _ = try C(url: url, environment: [:])
                Issue.record("\(url) was accepted")
            } catch {
                #expect(error.description.contains("percent-encode"), "\(error.description)")
                #expect(!error.description.contains("s3cr") && !error.description.contains("#t"), "\(error.description)")
            }
        }
    }
}
