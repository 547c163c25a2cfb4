// Where httpserve's Basic authentication credentials come from besides `--auth`, whose value every local
// user can read in `ps` and /proc/PID/cmdline: a file (`--auth-file`) and the environment (HTTPSERVE_AUTH,
// whose /proc/PID/environ only the same user and root can read).
import HTTPChat

#if canImport(Glibc)
import Glibc
#endif

enum AuthSources {
    /// The environment variable read for credentials.
    static let variable = "HTTPSERVE_AUTH"
    /// The largest credentials file read.
    static let maxFileBytes = 64 * 1024

    /// A source that cannot be used; the description says which and why, never a password.
    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    /// The credentials in `text`: one `USER:PASSWORD` or `USER:sha256:HEX` per line (LF or CRLF), empty lines
    /// skipped; at least one. Split on bytes; each line must be UTF-8 and is checked as `--auth` checks its value.
    ///
    /// - Parameters:
    ///   - text: the bytes.
    ///   - source: how to name where they came from in an error.
    /// - Returns: the specifications, in order.
    /// - Throws: ``Failure`` for no credential, invalid UTF-8, or a line `--auth` would refuse (the line's
    ///   number is given, not its text).
    static func credentials(in text: [UInt8], from source: String) throws -> [String] {
        var specifications: [String] = []
        for (index, raw) in text.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false).enumerated() {
            var line = raw[...]
            if line.last == UInt8(ascii: "\r") { line = line.dropLast() }
            if line.isEmpty { continue }
            guard let specification = String(validating: line, as: UTF8.self) else {
                throw Failure(description: "\(source) line \(index + 1) is not UTF-8")
            }
            guard line.allSatisfy({ $0 >= 0x20 && $0 != 0x7F }) else {
                throw Failure(description: "\(source) line \(index + 1) holds a control character")
            }
            do {
                _ = try BasicAuth([specification])
            } catch {
                throw Failure(description: "\(source) line \(index + 1): \(error)")
            }
            specifications.append(specification)
        }
        guard !specifications.isEmpty else {
            throw Failure(description: "\(source) holds no USER:PASSWORD line")
        }
        return specifications
    }

    /// Reads the credentials file at `path` (at start, before any event loop runs). Refused: a file that
    /// cannot be opened, is not a regular file, is larger than 64 KiB, or that group or others may read or
    /// write (as ssh refuses such a key: the password would be as visible as on the command line).
    ///
    /// - Parameter path: the file.
    /// - Returns: the specifications it holds.
    /// - Throws: ``Failure`` saying what is wrong.
    static func readFile(_ path: String) throws -> [String] {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else {
            throw Failure(description: "--auth-file '\(path)' cannot be read: \(String(cString: strerror(errno)))")
        }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG else {
            throw Failure(description: "--auth-file '\(path)' is not a regular file")
        }
        let mode = st.st_mode & 0o777
        guard mode & 0o077 == 0 else {
            throw Failure(description: "--auth-file '\(path)' can be read or written by other users (mode \(String(mode, radix: 8))): chmod 600 '\(path)'")
        }
        guard st.st_size <= maxFileBytes else {
            throw Failure(description: "--auth-file '\(path)' is larger than \(maxFileBytes) bytes")
        }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while bytes.count <= maxFileBytes {
            let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            guard n >= 0 else { throw Failure(description: "--auth-file '\(path)' cannot be read: \(String(cString: strerror(errno)))") }
            if n == 0 { break }
            bytes += chunk[..<n]
        }
        guard bytes.count <= maxFileBytes else {
            throw Failure(description: "--auth-file '\(path)' is larger than \(maxFileBytes) bytes")
        }
        return try credentials(in: bytes, from: "--auth-file '\(path)'")
    }

    /// The credentials in ``variable``, nil when it is not set.
    ///
    /// - Throws: ``Failure`` when it is set but holds no usable credential.
    static func fromEnvironment() throws -> [String]? {
        guard let value = getenv(variable) else { return nil }
        return try credentials(in: Array(String(cString: value).utf8), from: variable)
    }

    /// Removes ``variable`` from the environment, so that nothing started later (a CGI script builds its own
    /// environment, but a library might not) inherits the password.
    static func forgetEnvironment() {
        unsetenv(variable)
    }
}
