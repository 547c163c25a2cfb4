import CSpawn
import NIOConcurrencyHelpers

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A CGI script's process, started with `posix_spawn` as the leader of its own process group, and reaped
/// without blocking any thread: `reap` polls `waitpid(WNOHANG)` between short sleeps.
final class SpawnedProcess: Sendable {
    /// Why a script could not be started.
    struct StartError: Error, CustomStringConvertible {
        let call: String
        let code: CInt
        var description: String { "\(call): \(String(cString: strerror(code)))" }
    }

    let pid: pid_t
    /// Whether `waitpid` has collected the exit; checked and set under the lock, so `kill(pid)` never
    /// reaches a process that has reused the number.
    private let reaped = NIOLockedValueBox(false)

    private init(pid: pid_t) { self.pid = pid }

    /// Starts `path` with `environment` (nothing else is inherited) in `directory`, its standard streams on
    /// three new pipes.
    ///
    /// - Returns: the process and the parent's ends: the script's stdin (write), stdout and stderr (read).
    static func start(_ path: String, environment: [String: String], directory: String)
        throws -> (process: SpawnedProcess, stdin: CInt, stdout: CInt, stderr: CInt)
    {
        // A relative script path would be looked up from `directory` once the child has changed to it.
        let executable = path.hasPrefix("/") ? path : currentDirectory() + "/" + path
        var pipes: [CInt] = []
        defer { for fd in pipes { close(fd) } }  // whatever is still listed on the way out
        for _ in 0..<3 {
            var ends: [CInt] = [-1, -1]
            guard pipe(&ends) == 0 else { throw StartError(call: "pipe", code: errno) }
            for fd in ends { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
            pipes += ends
        }
        // pipes: [stdin read, stdin write, stdout read, stdout write, stderr read, stderr write]
        let argv = [strdup(executable)] + [nil]
        let envp = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer {
            for p in argv { free(p) }
            for p in envp { free(p) }
        }
        var pid: pid_t = 0
        let code = httpchat_spawn(executable, argv, envp, directory, pipes[0], pipes[3], pipes[5], &pid)
        guard code == 0 else { throw StartError(call: "posix_spawn", code: code) }
        let parentEnds = (stdin: pipes[1], stdout: pipes[2], stderr: pipes[4])
        pipes = [pipes[0], pipes[3], pipes[5]]  // the child's ends: closed here by the defer
        return (SpawnedProcess(pid: pid), parentEnds.stdin, parentEnds.stdout, parentEnds.stderr)
    }

    /// Kills the script and everything it started in its group: a child it left running (a `sleep`, say) would
    /// otherwise hold its stdout open after its death. The kernel does not reuse a number while a group of that
    /// number exists, so the group kill reaches only the script's own.
    func killGroup() {
        kill(-pid, SIGKILL)
        reaped.withLockedValue { done in
            if !done { kill(pid, SIGKILL) }
        }
    }

    /// Collects the exit status if the process has ended; true once it has been collected.
    func tryReap() -> Bool {
        reaped.withLockedValue { done in
            if done { return true }
            var status: CInt = 0
            let result = waitpid(pid, &status, WNOHANG)
            if result == pid || (result == -1 && errno == ECHILD) { done = true }
            return done
        }
    }

    /// Waits for the process to end without blocking a thread, killing its group if it is still running after
    /// `grace`, and reaps it (no zombie is left).
    func reap(killingAfterGrace grace: Duration) async {
        let clock = ContinuousClock()
        let start = clock.now
        var pause = Duration.milliseconds(1)
        var killed = false
        while !tryReap() {
            if !killed, clock.now - start >= grace {
                killGroup()
                killed = true
            }
            do {
                try await Task.sleep(for: pause)
            } catch {
                // Cancelled: no more sleeping. Kill now and keep collecting: a killed process ends at once.
                if !killed {
                    killGroup()
                    killed = true
                }
                await Task.yield()
            }
            pause = min(pause * 2, .milliseconds(50))
        }
    }

    private static func currentDirectory() -> String {
        guard let cwd = getcwd(nil, 0) else { return "." }  // glibc and Darwin allocate the buffer
        defer { free(cwd) }
        return String(cString: cwd)
    }
}
