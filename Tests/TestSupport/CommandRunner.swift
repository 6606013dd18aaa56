import Foundation

/// The repository root (where Package.swift is).
public let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent()

/// One finished run of a program.
public struct CommandRun: Sendable {
    public let status: Int32
    public let stdout: String
    public let stderr: String

    /// stdout parsed as one JSON object (empty when it is not one).
    public var json: [String: Any] {
        (try? JSONSerialization.jsonObject(with: Data(stdout.utf8))) as? [String: Any] ?? [:]
    }
}

/// Runs the built `mta-sts` binary, which sits beside the test bundle in the build products directory.
public func runMTASTS(_ args: [String], stdin: [UInt8] = []) throws -> CommandRun {
    let binary = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().deletingLastPathComponent()
        .appendingPathComponent("mta-sts")
    return try runProgram(binary.path, args, stdin: stdin, environment: ["NO_COLOR": "1", "PATH": "/usr/bin:/bin"])
}

/// Runs a program to completion, feeding `stdin` and collecting both outputs.
public func runProgram(_ path: String, _ args: [String], stdin: [UInt8] = [], environment: [String: String]? = nil) throws -> CommandRun {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: path)
    p.arguments = args
    if let environment { p.environment = environment }
    let (i, o, e) = (Pipe(), Pipe(), Pipe())
    p.standardInput = i
    p.standardOutput = o
    p.standardError = e
    try p.run()
    i.fileHandleForWriting.write(Data(stdin))
    try i.fileHandleForWriting.close()
    // Read stderr on another thread so neither pipe can fill up and block the child.
    let errData = LockedBox(Data())
    let reader = Thread { errData.value = e.fileHandleForReading.readDataToEndOfFile() }
    reader.start()
    let out = o.fileHandleForReading.readDataToEndOfFile()
    p.waitUntilExit()
    while !reader.isFinished { usleep(1000) }
    return CommandRun(status: p.terminationStatus, stdout: String(decoding: out, as: UTF8.self),
                      stderr: String(decoding: errData.value, as: UTF8.self))
}

/// A value shared with one other thread, guarded by a lock.
final class LockedBox<T>: @unchecked Sendable {
    private let lock = NSLock()
    private var _value: T
    init(_ value: T) { _value = value }
    var value: T {
        get { lock.withLock { _value } }
        set { lock.withLock { _value = newValue } }
    }
}

/// Writes bytes to a new temporary file and returns its path.
public func temporaryFile(_ bytes: [UInt8], suffix: String = ".txt") throws -> String {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("mta-sts-test-\(UUID().uuidString)\(suffix)")
    try Data(bytes).write(to: url)
    return url.path
}
