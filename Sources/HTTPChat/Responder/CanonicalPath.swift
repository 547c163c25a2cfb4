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
enum CanonicalPath {
    /// Why a path has no canonical form.
    enum Refusal: Error, Equatable {
        /// A malformed escape, invalid or overlong UTF-8, NUL, or a `..` segment.
        case malformed
    }

    /// The canonical segments of `rawPath`.
    ///
    /// - Parameter rawPath: the path as sent, still percent-encoded (``Request/rawPath``).
    /// - Returns: the decoded segments, without empty and `.` ones.
    /// - Throws: ``Refusal/malformed``.
    static func segments(_ rawPath: Substring) throws(Refusal) -> [String] {
        var out: [String] = []
        for part in rawPath.split(separator: "/", omittingEmptySubsequences: true) {
            guard let name = PercentEncoding.decode(part) else { throw .malformed }
            if name == "." { continue }
            if name == ".." { throw .malformed }
            out.append(name)
        }
        return out
    }

    /// `/a/b` for `["a", "b"]`, each segment percent-encoded but for RFC 3986 unreserved characters: one
    /// leading slash whatever the request sent, so a path built from it never reads as `//host` (a
    /// protocol-relative URL a browser would follow off-site).
    ///
    /// - Parameters:
    ///   - segments: decoded segments, none empty.
    ///   - trailingSlash: whether to end in `/`.
    /// - Returns: the encoded path; `/` for no segments.
    static func encoded(_ segments: [String], trailingSlash: Bool = false) -> String {
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
