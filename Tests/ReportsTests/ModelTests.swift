import MTASTSReports
import Testing

@Suite struct ReportModelTests {
    @Test func totalsSumOverPolicies() {
        let report = TLSReport(organizationName: "o", reportID: "r", startDatetime: "", endDatetime: "",
                               policies: [.init(policyType: "sts", policyDomain: "a", successful: 2, failed: 1),
                                          .init(policyType: "sts", policyDomain: "b", successful: 3, failed: 4)])
        #expect(report.totalSuccessful == 5)
        #expect(report.totalFailed == 5)
    }
}
