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

    /// The segments of `rawPath` a file may be found at: the shared ``CanonicalPath`` reading (decoded once,
    /// empty and `.` segments dropped, `..` refused), and further a decoded `/` or backslash refused, and names
    /// starting with `.` not found unless `hidden`; an upload's temporary name (``UploadStore/tempPrefix``) is
    /// never found, even with `hidden`.
    static func segments(_ rawPath: Substring, hidden: Bool) throws(Refusal) -> [String] {
        let canonical: [String]
        do {
            canonical = try CanonicalPath.segments(rawPath)
        } catch {
            throw .badRequest
        }
        for name in canonical {
            if CanonicalPath.hasSeparator(name) { throw .badRequest }
            if CanonicalPath.isHidden(name) && !hidden { throw .notFound }
            if UploadStore.isTemporary(name) { throw .notFound }
        }
        return canonical
    }

    /// The components of `path` (an absolute path: the root, then `/` and names) below `root`.
    static func components(of path: String, below root: String) -> [String] {
        CanonicalPath.split(Substring(Substring(path).utf8.dropFirst(root.utf8.count))).map(String.init)
    }

    /// `stat` of a real path.
    static func info(_ path: String) -> FileInfo? {
        var st = stat()
        guard stat(path, &st) == 0 else { return nil }
        return FileInfo(st)
    }
}
