import NIOCore
import NIOPosix

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Turns a request path into a place under a root, safely. The pure half checks the path's segments; the
/// file-system half (run on NIO's thread pool) resolves symlinks and keeps the result inside the root.
enum PathResolution {
    /// Why a path was refused.
    enum Refusal: Error, Equatable {
        /// Malformed or hostile: bad escapes, NUL, `..`, an encoded slash or backslash (400).
        case badRequest
        /// Not served: hidden names, or outside the root (404, so nothing is revealed).
        case notFound
    }

    /// The decoded segments of `rawPath` below the mount point.
    ///
    /// Each segment is percent-decoded once (`%252e` stays `%2e`, a literal name); `.` segments and empty
    /// ones are dropped; `..` is refused rather than resolved, as are decoded `/`, `\`, NUL and invalid or
    /// overlong UTF-8; names starting with `.` are not found unless `hidden`.
    static func segments(_ rawPath: Substring, hidden: Bool) throws(Refusal) -> [String] {
        var out: [String] = []
        for part in rawPath.split(separator: "/", omittingEmptySubsequences: true) {
            guard let name = PercentEncoding.decode(part) else { throw .badRequest }
            if name == "." { continue }
            if name == ".." || name.contains("/") || name.contains("\\") { throw .badRequest }
            if name.hasPrefix(".") && !hidden { throw .notFound }
            out.append(name)
        }
        return out
    }

    /// The real path of `path` when it exists and stays inside `root` (itself a real path), or when
    /// `followSymlinks` lifts that; nil otherwise.
    static func realPath(_ path: String, root: String, followSymlinks: Bool) -> String? {
        guard let resolved = realpath(path, nil) else { return nil }
        defer { free(resolved) }
        let real = String(cString: resolved)
        if followSymlinks || real == root || real.hasPrefix(root == "/" ? "/" : root + "/") { return real }
        return nil
    }

    /// `stat` of a real path.
    static func info(_ path: String) -> FileInfo? {
        var st = stat()
        guard stat(path, &st) == 0 else { return nil }
        return FileInfo(st)
    }
}
