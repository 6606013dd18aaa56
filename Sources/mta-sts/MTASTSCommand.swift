import ArgumentParser

@main
struct MTASTSCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "mta-sts", abstract: "MTA-STS toolkit (RFC 8461).")
}
