import Foundation
import MTASTSCore
@testable import MTASTSPolicyHost
import Testing

/// Policy files: the size cap is exact, and a bad file keeps what is served and says why.
@Suite("Policy file source")
struct FileSourceTests {
    static let policy = "version: STSv1\nmode: testing\nmx: mx.example\nmax_age: 86400\n"

    func file(_ bytes: [UInt8]) throws -> String {
        let path = NSTemporaryDirectory() + "filesource-\(UUID().uuidString).txt"
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        return path
    }

    @Test("The 64 KiB cap is exact: one byte over is refused, however the reads fall (4096-byte reads before)",
          arguments: [STSLimits.policyBodyCap + 1, STSLimits.policyBodyCap + 100, STSLimits.policyBodyCap + 4095])
    func capExact(size: Int) throws {
        let path = try file(Array(Self.policy.utf8) + [UInt8](repeating: UInt8(ascii: "\n"), count: size - Self.policy.utf8.count))
        #expect(throws: PolicyHostConfiguration.Invalid.self) { try FileSource.read(path) }
        #expect((try? FileSource.read(path)) == nil)
    }

    @Test("A file of exactly the cap is read whole")
    func capReached() throws {
        let size = STSLimits.policyBodyCap
        let path = try file(Array(Self.policy.utf8) + [UInt8](repeating: UInt8(ascii: "\n"), count: size - Self.policy.utf8.count))
        #expect(try FileSource.read(path).count == size)
    }

    @Test("An invalid new version keeps the served policy and is the source's problem until the file is valid again")
    func problem() throws {
        let path = try file(Array(Self.policy.utf8))
        let source = try FileSource.load(path: path, cacheControl: "max-age=60")
        #expect(source.problem == nil)
        try Data("mode: enforce\n".utf8).write(to: URL(fileURLWithPath: path))
        #expect(throws: PolicyHostConfiguration.Invalid.self) { try source.reload() }
        #expect(source.problem?.contains("policy-version-missing") == true)
        #expect(source.slot.last?.policy.mode == .testing)
        try Data(Self.policy.replacingOccurrences(of: "testing", with: "enforce").utf8).write(to: URL(fileURLWithPath: path))
        #expect(try source.reload()?.mode == .enforce)
        #expect(source.problem == nil)
    }
}
