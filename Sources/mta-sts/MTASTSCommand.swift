import ArgumentParser

@main
struct MTASTSCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mta-sts",
        abstract: "MTA-STS (RFC 8461) toolkit: records, policies, discovery, the Postfix policy resolver and the policy host.",
        discussion: """
            Exit status: 0 when the checked thing is valid (or the command succeeded), 1 when it is not valid, \
            2 for input/output and internal errors, 64 for usage errors.
            """,
        version: mtastsVersion,
        subcommands: [RecordCommand.self, PolicyCommand.self, LookupCommand.self, CheckCommand.self, ResolverCommand.self, CacheCommand.self,
                      ServeCommand.self, ZoneCommand.self, ReportsCommand.self, CertsCommand.self]
    )
}

/// Exit codes shared by every subcommand (documented in README.md).
enum Exit {
    /// The record or policy is not valid, or the host is not allowed.
    static let invalid = ExitCode(1)
    /// A file could not be read, or another input/output or internal error.
    static let ioError = ExitCode(2)
}
