import Glibc
import Synchronization

/// A child process started with `posix_spawn`, its signal mask emptied and its dispositions
/// reset. Foundation's `Process` hands the child the spawning thread's mask, in which SIGTERM is
/// blocked in the test runner: NSD then ignores SIGTERM (measured: it only died of SIGKILL).
final class ChildProcess: Sendable {
    let pid: pid_t
    private let exited = Mutex(false)

    /// Starts `path` with `arguments`, stdin from /dev/null, stdout and stderr appended to `output`.
    init(_ path: String, _ arguments: [String], output: String) throws {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, output, O_WRONLY | O_CREAT | O_APPEND, 0o644)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)

        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var mask = sigset_t()
        sigemptyset(&mask)
        posix_spawnattr_setsigmask(&attributes, &mask)
        var defaults = sigset_t()
        sigemptyset(&defaults)
        for signal in [SIGHUP, SIGINT, SIGQUIT, SIGPIPE, SIGTERM, SIGCHLD, SIGUSR1, SIGUSR2] { sigaddset(&defaults, signal) }
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))

        let argv: [UnsafeMutablePointer<CChar>?] = ([path] + arguments).map { strdup($0) } + [nil]
        defer { for argument in argv { free(argument) } }
        var child: pid_t = 0
        let status = posix_spawn(&child, path, &actions, &attributes, argv, environ)
        guard status == 0 else { throw SocketError.system("posix_spawn \(path)", status) }
        pid = child
    }

    /// Reaps the child if it has exited.
    var isRunning: Bool {
        exited.withLock { exited in
            if exited { return false }
            var status: Int32 = 0
            let result = waitpid(pid, &status, WNOHANG)
            if result == pid || (result < 0 && errno == ECHILD) { exited = true }
            return !exited
        }
    }

    /// SIGTERM, then SIGKILL after `grace`; returns once the child is reaped.
    func terminate(grace: Duration = .seconds(5)) {
        guard isRunning else { return }
        kill(pid, SIGTERM)
        let deadline = ContinuousClock.now + grace
        while isRunning, ContinuousClock.now < deadline { usleep(2_000) }
        if isRunning {
            kill(pid, SIGKILL)
            while isRunning { usleep(2_000) }
        }
    }
}
