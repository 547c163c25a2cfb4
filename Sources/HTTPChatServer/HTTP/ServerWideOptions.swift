import HTTPChatCore
import HTTPTypes

/// `OPTIONS *`: a question about the server in general, not about any resource (RFC 9110 §9.3.7; the
/// asterisk-form of RFC 9112 §3.2.4). The one place it is decided.
///
/// The connection answers it before any responder runs, as Go's net/http does: a router routes paths and a
/// file server serves files, so left to them `*` was a 404 or a 405, and every responder would have to repeat
/// the answer. It is `204 No Content` with `Allow` listing the methods of RFC 9110 §9.3 a responder may serve
/// (GET, HEAD, POST, PUT, DELETE, OPTIONS) and PATCH, less those ``HTTPLimits/acceptedMethods`` refuses;
/// CONNECT and TRACE are left out, as HTTPChat neither tunnels nor reflects requests. `OPTIONS` with any other
/// target, and other methods with `*` (SSDP's `M-SEARCH *`), go to the responder as usual.
enum ServerWideOptions {
    /// The methods `Allow` may list, in the order it lists them.
    static let methods = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]

    /// The server's own answer to `head`, when it is `OPTIONS *`.
    ///
    /// - Parameters:
    ///   - head: the request head.
    ///   - limits: the server's limits (their accepted methods trim `Allow`).
    /// - Returns: 204 with `Allow` for `OPTIONS *`; nil for every other request.
    static func response(to head: HTTPRequestHead, limits: HTTPLimits) -> Response? {
        guard head.method == .options, head.target == "*" else { return nil }
        let allowed = methods.filter { limits.acceptedMethods?.contains($0) ?? true }
        return Response(status: .noContent, headerFields: [.allow: allowed.joined(separator: ", ")])
    }
}
