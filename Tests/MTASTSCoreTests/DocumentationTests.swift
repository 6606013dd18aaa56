import Foundation
import Testing
@testable import MTASTSCore

@Suite("Documentation")
struct DocumentationTests {
    static let repo = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    @Test("docs/diagnostics.md documents exactly the diagnostic codes, in the catalogue's order")
    func codesDocumented() throws {
        let doc = try String(contentsOf: Self.repo.appendingPathComponent("docs/diagnostics.md"), encoding: .utf8)
        let documented = doc.matches(of: /^\| `([a-z0-9-]+)` \|/.anchorsMatchLineEndings()).map { String($0.1) }
        #expect(documented == Diagnostic.Code.allCases.map(\.rawValue))
    }
}
