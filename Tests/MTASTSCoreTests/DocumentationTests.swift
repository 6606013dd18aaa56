import Foundation
import Testing
@testable import MTASTSCore

@Suite("Documentation")
struct DocumentationTests {
    static let repo = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    @Test("Every diagnostic code is listed in Code.all and documented in docs/diagnostics.md")
    func codesDocumented() throws {
        let doc = try String(contentsOf: Self.repo.appendingPathComponent("docs/diagnostics.md"), encoding: .utf8)
        for code in Diagnostic.Code.all {
            #expect(doc.contains("| `\(code.rawValue)` |"), "\(code) is not documented")
        }
        // Code.all must hold every code declared in Diagnostic.swift.
        let source = try String(contentsOf: Self.repo.appendingPathComponent("Sources/MTASTSCore/Diagnostic.swift"), encoding: .utf8)
        let declared = source.matches(of: /static let \w+ = Self\("([a-z0-9-]+)"/).map { String($0.1) }
        #expect(Set(declared) == Set(Diagnostic.Code.all.map(\.rawValue)))
        #expect(declared.count == Diagnostic.Code.all.count)
    }
}
