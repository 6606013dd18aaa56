import Foundation
import TestSupport

/// A child process in its own process group (Chromium starts helpers: a timeout kills them all), started with
/// posix_spawn and waited for with waitpid, its output in files; for the blocking calls, run them off the
/// cooperative pool (offPool).
final class Spawned: @unchecked Sendable {
    let pid: pid_t
    private let lock = NSLock()
    private var status: Int32??  // nil: running; .some(nil): killed or ended by a signal

    private init(pid: pid_t) { self.pid = pid }

    /// Starts `path` with its standard output and error appended to `output` (created by the open, never replaced:
    /// FileManager.createFile writes atomically, a rename that, as root, put a regular file in place of /dev/null);
    /// nil when it cannot be started.
    static func start(_ path: String, _ args: [String], output: String, environment: [String: String]? = nil) -> Spawned? {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, output, O_WRONLY | O_APPEND | O_CREAT, 0o600)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        closeInheritedDescriptors(&actions)  // no other test's pipe ends (see spawnAndWait)
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETPGROUP))
        posix_spawnattr_setpgroup(&attributes, 0)
        let argv = ([path] + args).map { strdup($0) } + [nil]
        defer { for a in argv { free(a) } }
        let env = environment.map { $0.map { strdup("\($0.key)=\($0.value)") } + [nil] }
        defer { for e in env ?? [] { free(e) } }
        var pid: pid_t = 0
        let spawned = env.map { e in e.withUnsafeBufferPointer { posix_spawn(&pid, path, &actions, &attributes, argv, $0.baseAddress) } }
            ?? posix_spawn(&pid, path, &actions, &attributes, argv, environ)
        return spawned == 0 ? Spawned(pid: pid) : nil
    }

    /// Runs a program to its end (killed, with its process group, after `seconds`): its exit status (nil when it was
    /// killed or died of a signal) and its output. Chromium writes its noise to standard error.
    static func run(_ path: String, _ args: [String], home: String, seconds: Double) -> (status: Int32?, stdout: String, stderr: String) {
        try? FileManager.default.createDirectory(atPath: home, withIntermediateDirectories: true)
        let out = home + "/out-\(UUID().uuidString)", err = out + ".err"
        defer { try? FileManager.default.removeItem(atPath: out); try? FileManager.default.removeItem(atPath: err) }
        let environment = ["HOME": home, "PATH": "/usr/bin:/bin", "XDG_CONFIG_HOME": home + "/.config", "XDG_CACHE_HOME": home + "/.cache"]
        // Standard output to one file, standard error to another: the shell-free way is a second spawn's dup2, so
        // wrap the program in /bin/sh with the redirections (the arguments are passed, not interpolated).
        guard let child = start("/bin/sh", ["-c", "exec \"$0\" \"$@\" >'\(out)' 2>'\(err)'", path] + args, output: "/dev/null",
                                environment: environment) else { return (nil, "", "cannot start \(path)") }
        let status = child.wait(seconds: seconds)
        return (status ?? nil, (try? String(contentsOfFile: out, encoding: .utf8)) ?? "", (try? String(contentsOfFile: err, encoding: .utf8)) ?? "")
    }

    /// Waits until something accepts on 127.0.0.1:`port`; false when the child ended or the time ran out.
    func waitForPort(_ port: Int, seconds: Double) -> Bool {
        let end = Date().addingTimeInterval(seconds)
        while Date() < end {
            if let fd = try? connectTCP(port: port) {
                close(fd)
                return true
            }
            if poll() != nil { return false }
            usleep(20_000)
        }
        return false
    }

    /// Waits for the end: .some(status) when it ended (nil inside for a signal), nil when the time ran out (then it
    /// and its group are killed).
    func wait(seconds: Double) -> Int32?? {
        let end = Date().addingTimeInterval(seconds)
        while Date() < end {
            if let s = poll() { return s }
            usleep(20_000)
        }
        kill(-pid, SIGKILL)
        _ = waitBlocking()
        return nil
    }

    /// Sends `signal` to the child and waits for it: its exit status, nil when it died of a signal or did not end in time.
    @discardableResult
    func stop(signal: Int32 = SIGKILL, seconds: Double = 3600) -> Int32? {
        if let s = lock.withLock({ status }) { return s }
        kill(pid, signal)
        return wait(seconds: seconds) ?? nil
    }

    /// The status once it ended (without blocking), nil while it runs.
    private func poll() -> Int32?? {
        lock.withLock {
            if let s = status { return s }
            var raw: Int32 = 0
            guard waitpid(pid, &raw, WNOHANG) == pid else { return nil }
            status = .some(Self.exitStatus(raw))
            return status
        }
    }

    private func waitBlocking() -> Int32? {
        lock.withLock {
            if let s = status { return s }
            var raw: Int32 = 0
            while waitpid(pid, &raw, 0) == -1 && errno == EINTR {}
            status = .some(Self.exitStatus(raw))
            return Self.exitStatus(raw)
        }
    }

    /// WIFEXITED / WEXITSTATUS by hand (the macros are not imported).
    private static func exitStatus(_ raw: Int32) -> Int32? { (raw & 0x7f) == 0 ? (raw >> 8) & 0xff : nil }
}
