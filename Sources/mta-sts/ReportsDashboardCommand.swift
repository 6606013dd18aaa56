import ArgumentParser
import Crypto
import Foundation
import MTASTSAdminHTTP
import MTASTSReports
import NIOCore
import UnixSignals

extension ReportsCommand {
    /// `mta-sts reports dashboard`: the stored reports as an HTML page with SVG charts, and `/metrics`, on the admin
    /// listener (connection cap, idle timeout). Every request reads the store, so an import shows on the next reload.
    struct Dashboard: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Serve an HTML dashboard of the stored reports and their /metrics (Prometheus) until SIGINT/SIGTERM.",
            discussion: """
                GET / shows the daily sessions per domain, failures by result type, sender and MX, and the newest failing \
                reports with their explanation; ?domain=D and ?since=YYYY-MM-DD narrow it. GET /metrics: sessions by domain \
                and result, failures by result type, of the whole store. No authentication: it listens on loopback by \
                default; see docs/reports.md for an SSH tunnel or a reverse proxy. Exit 2 when the store cannot be used or \
                the address cannot be bound.
                """
        )
        @OptionGroup var store: ReportStoreOption
        @Option(help: "HOST:PORT to listen on (default 127.0.0.1:8462).") var listen = "127.0.0.1:8462"
        @Option(help: "Days shown when the page names no ?since= (default 30, today included).") var days = 30

        func validate() throws {
            if ResolverCommand.hostPort(listen) == nil { throw ValidationError("--listen must be HOST:PORT, not '\(listen)'") }
            if days < 1 { throw ValidationError("--days must be at least 1") }
        }

        func run() async throws {
            guard let (host, port) = ResolverCommand.hostPort(listen) else { throw Exit.ioError }
            let store = try await self.store.open(creating: false)
            let pages = DashboardRoutes(store: store, days: days)
            let listener = AdminListener(routes: [:], requestRoutes: ["/": pages.page, "/metrics": pages.metrics])
            let signals = await UnixSignalsSequence(trapping: .sigterm, .sigint)
            let channel: any Channel
            do { channel = try await listener.serve(host: host, port: port) } catch {
                printError("mta-sts: error: cannot listen on \(listen): \(error)")
                await store.close()
                throw Exit.ioError
            }
            let bound = channel.localAddress.map { a in a.port.map { "\(host.contains(":") ? "[\(host)]" : host):\($0)" } ?? "\(a)" } ?? listen
            // Unbuffered: a supervisor or a test reading the output sees the address at once.
            FileHandle.standardOutput.write(Data("dashboard on http://\(bound)/ (metrics: http://\(bound)/metrics); SIGINT or SIGTERM stops it\n".utf8))
            for await _ in signals { break }
            try? await channel.close()
            await store.close()
        }
    }
}

/// The dashboard's two routes over one open store.
struct DashboardRoutes: Sendable {
    let store: any ReportStore
    /// The window when the page names no `since`.
    let days: Int

    /// Only the stylesheet, by its hash; no script, no frame, forms only back to this listener.
    static let securityHeaders: [(name: String, value: String)] = {
        let hash = Data(SHA256.hash(data: Data(DashboardPage.stylesheet.utf8))).base64EncodedString()
        return [("Content-Security-Policy", "default-src 'none'; style-src 'sha256-\(hash)'; form-action 'self'; base-uri 'none'; "
                 + "frame-ancestors 'none'"),
                ("X-Content-Type-Options", "nosniff"), ("Referrer-Policy", "no-referrer"), ("Cache-Control", "no-store")]
    }()

    @Sendable func page(_ request: AdminListener.Request) async -> AdminListener.Reply {
        let now = Int64(Date().timeIntervalSince1970)
        var domain = request.query["domain"]?.lowercased()
        while domain?.hasSuffix(".") == true { domain?.removeLast() }
        if domain == "" { domain = nil }
        let since: Int64
        if let text = request.query["since"], !text.isEmpty {
            guard let day = CivilDate.day(text) else {
                return .init(status: .badRequest, body: "since must be a date YYYY-MM-DD\n", headers: Self.securityHeaders)
            }
            since = day
        } else {
            since = DailySessions.day(of: now) - Int64(days - 1) * 86400
        }
        do {
            let rows = try await store.summaryRows(domain: nil, since: since)
            let shown = domain.map { d in rows.filter { $0.domain == d } } ?? rows
            let dashboard = MTASTSReports.Dashboard(
                summary: ReportSummary(rows: shown, rejected: try await store.rejectionCount(since: since)),
                daily: try await store.dailySessions(domain: domain, since: since),
                failing: try await store.failingReports(domain: domain, since: since, limit: DashboardPage.failingLimit)
                    .map { MTASTSReports.Dashboard.FailingReport($0, domain: domain) },
                allDomains: Set(rows.map(\.domain)).sorted(), domain: domain, since: since, now: now)
            return .init(contentType: "text/html; charset=utf-8", body: DashboardPage.html(dashboard), headers: Self.securityHeaders)
        } catch {
            return .init(status: .serviceUnavailable, body: "the report store cannot be read: \(error)\n", headers: Self.securityHeaders)
        }
    }

    @Sendable func metrics(_ request: AdminListener.Request) async -> AdminListener.Reply {
        do {
            let summary = ReportSummary(rows: try await store.summaryRows(domain: nil, since: nil),
                                        rejected: try await store.rejectionCount(since: nil))
            return .prometheus(DashboardMetrics.exposition(summary))
        } catch {
            return .init(status: .serviceUnavailable, body: "the report store cannot be read: \(error)\n")
        }
    }
}
