import ArgumentParser

/// `mta-sts certs`: the policy host's certificates (issue 12, item 6). Each subcommand lives in its own file.
struct CertsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "certs",
        abstract: "The policy host's certificates: renew ACME certificates.",
        subcommands: [CertsRenewCommand.self]
    )
}
