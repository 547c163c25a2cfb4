/// The one reading of a request path that every part of the server shares: the router, the file server and
/// CGI all decide on these segments, so no two of them can disagree about which resource a path names.
///
/// The raw path is split on `/`; each segment is percent-decoded once (`%252e` stays the literal `%2e`);
/// empty segments (`//`) and `.` segments are dropped; a `..` segment, raw or encoded (`%2e%2e`), is refused
/// rather than resolved (RFC 3986 §5.2.4 would climb above the mount point on some inputs, and no honest
/// client sends one: browsers resolve them before sending). A segment may still contain a decoded `/` or `\`
/// (`a%2Fb`): a router parameter may carry one, and the file server and CGI refuse them.
///
/// Before this was shared, the CGI decision looked at the raw path (`hasPrefix("/cgi-bin/")`) while the file
/// server canonicalized, so `//cgi-bin/x.sh` or `/%63gi-bin/x.sh` was served as a file: the script's source.
package enum CanonicalPath {
    /// Why a path has no canonical form.
    package enum Refusal: Error, Equatable {
        /// A malformed escape, invalid or overlong UTF-8, NUL, or a `..` segment.
        case malformed
    }

    /// The canonical segments of `rawPath`.
    ///
    /// - Parameter rawPath: the path as sent, still percent-encoded (``Request/rawPath``).
    /// - Returns: the decoded segments, without empty and `.` ones.
    /// - Throws: ``Refusal/malformed``.
    package static func segments(_ rawPath: Substring) throws(Refusal) -> [String] {
        var out: [String] = []
        for part in split(rawPath) {
            guard let name = PercentEncoding.decode(part) else { throw .malformed }
            if name == "." { continue }
            if name == ".." { throw .malformed }
            out.append(name)
        }
        return out
    }

    /// The non-empty pieces of `s` between `/` bytes. Split on UTF-8 bytes, never on Characters: Swift's
    /// `split(separator: "/")` compares grapheme clusters, and a prepended concatenation mark (U+06DD, say)
    /// joins the `/` after it into one cluster that is not `"/"`, so a Character split would keep
    /// `a\u{06DD}/b` as one name holding a slash (found by fuzz-path). The same goes for `contains("/")` and
    /// `hasPrefix(".")`: path code asks the bytes.
    ///
    /// - Parameter s: a path, or a piece of one.
    /// - Returns: the pieces, without empty ones.
    static func split(_ s: Substring) -> [Substring] {
        s.utf8.split(separator: UInt8(ascii: "/")).map { Substring($0) }
    }

    /// Whether `name` holds a `/` or `\` byte.
    package static func hasSeparator(_ name: some StringProtocol) -> Bool {
        name.utf8.contains { $0 == UInt8(ascii: "/") || $0 == UInt8(ascii: "\\") }
    }

    /// Whether `name` starts with a `.` byte (a dotfile), whatever combining mark may follow it.
    package static func isHidden(_ name: some StringProtocol) -> Bool {
        name.utf8.first == UInt8(ascii: ".")
    }

    /// Whether `path` ends in a `/` byte.
    package static func hasTrailingSlash(_ path: Substring) -> Bool {
        path.utf8.last == UInt8(ascii: "/")
    }

    /// `/a/b` for `["a", "b"]`, each segment percent-encoded but for RFC 3986 unreserved characters: one
    /// leading slash whatever the request sent, so a path built from it never reads as `//host` (a
    /// protocol-relative URL a browser would follow off-site).
    ///
    /// - Parameters:
    ///   - segments: decoded segments, none empty.
    ///   - trailingSlash: whether to end in `/`.
    /// - Returns: the encoded path; `/` for no segments.
    package static func encoded(_ segments: [String], trailingSlash: Bool = false) -> String {
        guard !segments.isEmpty else { return "/" }
        var out = ""
        for segment in segments {
            out += "/"
            out += PercentEncoding.encodeSegment(segment)
        }
        return trailingSlash ? out + "/" : out
    }
}

extension Request {
    /// The path's canonical segments: percent-decoded once, without empty or `.` segments, as the router, the
    /// file server and CGI all read it (`//a/./b%20c` is `["a", "b c"]`).
    ///
    /// - Throws: ``HTTPError`` 400 for a malformed escape, invalid UTF-8, NUL, or a `..` segment.
    public var pathSegments: [String] {
        get throws(HTTPError) {
            do {
                return try CanonicalPath.segments(rawPath)
            } catch {
                throw HTTPError(.badRequest, "malformed path")
            }
        }
    }
}
