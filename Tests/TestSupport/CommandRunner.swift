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

/// Runs a program to its end with posix_spawn and waitpid, its output (both streams) through a file: for scripts that
/// start daemons (Foundation's Process, waiting on a run loop, hung there while other tests held the cooperative
/// threads, and a daemon that inherited its pipes would keep them open).
public func spawnAndWait(_ path: String, _ args: [String]) -> (status: Int32, output: String) {
    let log = FileManager.default.temporaryDirectory.appendingPathComponent("mta-sts-spawn-\(getpid())-\(UUID().uuidString).log").path
    defer { try? FileManager.default.removeItem(atPath: log) }
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
    posix_spawn_file_actions_addopen(&actions, 1, log, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
    posix_spawn_file_actions_adddup2(&actions, 1, 2)
    // Nothing else of this process: a daemon started here (Dovecot, PostgreSQL) would otherwise keep the write ends of
    // other tests' pipes open for its whole life, and their reads to the end of output would never end.
    closeInheritedDescriptors(&actions)
    let argv = ([path] + args).map { strdup($0) } + [nil]
    defer { for a in argv { free(a) } }
    // The calling thread (Foundation's Thread, Swift's pool) blocks most signals, and a child inherits its mask: a daemon
    // started from here (Dovecot) would never see the SIGTERM that stops it. The child starts with none blocked.
    var attributes = posix_spawnattr_t()
    posix_spawnattr_init(&attributes)
    defer { posix_spawnattr_destroy(&attributes) }
    var none = sigset_t()
    sigemptyset(&none)
    posix_spawnattr_setsigmask(&attributes, &none)
    posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK))
    var pid: pid_t = 0
    let spawned = posix_spawn(&pid, path, &actions, &attributes, argv, environ)
    guard spawned == 0 else { return (-1, "posix_spawn \(path): \(String(cString: strerror(spawned)))") }
    var status: Int32 = 0
    while waitpid(pid, &status, 0) == -1 && errno == EINTR {}
    let output = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
    // WIFEXITED / WEXITSTATUS by hand (macros are not imported).
    return ((status & 0x7f) == 0 ? (status >> 8) & 0xff : -1, output)
}

/// Adds a close action for every descriptor of this process above standard error (glibc ignores one that is closed
/// by then). Foundation's pipes are not close-on-exec, so a daemon spawned while another test reads a child's output
/// to its end would otherwise hold that pipe open for its whole life, and the read would never end.
public func closeInheritedDescriptors(_ actions: inout posix_spawn_file_actions_t) {
    let open = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd")) ?? []
    for fd in open.compactMap(Int32.init) where fd > 2 {
        posix_spawn_file_actions_addclose(&actions, fd)
    }
}
