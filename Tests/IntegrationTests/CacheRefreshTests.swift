import Foundation
import MTASTSStoreSQLite
import TestSupport
import Testing

/// `mta-sts cache refresh` against the real test world: the command opens the store as a tool does and drives the
/// resolver's cache engine over the one network stack (issue 15: it no longer builds a whole daemon).
@Suite("mta-sts cache refresh against the test world")
struct CacheRefreshTests {
    @Test("A missing store is an error (2); a valid policy is fetched and stored (0); an invalid one is not (1)")
    func refresh() throws {
        let world = try Testbed.shared()
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("refresh-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/cache.sqlite"
        let flags = ["--cache", "sqlite:" + path, "--dns-server", world.dnsServer, "--ca-file", world.caFile]

        let missing = try runMTASTS(["cache", "refresh"] + flags + ["good.t.test"])
        #expect(missing.status == 2 && missing.stderr.contains("no policy store at \(path)"), "\(missing.stderr)")
        #expect(!FileManager.default.fileExists(atPath: path), "a tool never creates a store")

        _ = try SQLitePolicyStore(path: path)  // an empty store, as the daemon creates it
        let good = try runMTASTS(["cache", "refresh"] + flags + ["good.t.test"])
        #expect(good.status == 0, "\(good.stderr)")
        #expect(good.stdout.hasPrefix("good.t.test: enforce, id good1, valid until "), "\(good.stdout)")
        let show = try runMTASTS(["cache", "show", "--cache", "sqlite:" + path, "good.t.test"])
        #expect(show.status == 0 && show.stdout.contains("id: good1"), "\(show.stdout)\(show.stderr)")

        let bad = try runMTASTS(["cache", "refresh"] + flags + ["badpolicy.t.test"])
        #expect(bad.status == 1 && bad.stderr.contains("badpolicy.t.test: no valid policy could be fetched"), "\(bad.stderr)")
        #expect(try runMTASTS(["cache", "show", "--cache", "sqlite:" + path, "badpolicy.t.test"]).status == 1)
    }
}
