#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

extension HTTPServer {
    /// The listening sockets systemd passed to this process (socket activation, `sd_listen_fds(3)`): when
    /// `LISTEN_PID` is this process's id and `LISTEN_FDS` a count, descriptors 3 to 3 + count - 1. Reading
    /// them unsets both variables (and `LISTEN_FDNAMES`), so that a child process does not take them for
    /// its own, and marks the descriptors close-on-exec. Put them in ``ServerConfiguration/listeningDescriptors``.
    ///
    /// ```swift
    /// var configuration = ServerConfiguration(host: "127.0.0.1", port: 8080)
    /// configuration.listeningDescriptors = HTTPServer.socketActivationDescriptors()
    /// ```
    ///
    /// - Returns: the passed descriptors; empty when the process was not socket-activated.
    public static func socketActivationDescriptors() -> [Int32] {
        defer {
            unsetenv("LISTEN_PID")
            unsetenv("LISTEN_FDS")
            unsetenv("LISTEN_FDNAMES")
        }
        guard let pidText = getenv("LISTEN_PID").map({ String(cString: $0) }), let pid = Int32(pidText), pid == getpid(),
            let countText = getenv("LISTEN_FDS").map({ String(cString: $0) }), let count = Int32(countText), count > 0,
            count < 1024
        else { return [] }
        let descriptors = (0..<count).map { 3 + $0 }  // SD_LISTEN_FDS_START
        for descriptor in descriptors { _ = fcntl(descriptor, F_SETFD, FD_CLOEXEC) }
        return descriptors
    }
}
