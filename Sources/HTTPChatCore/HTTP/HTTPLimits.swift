package import NIOCore

/// Bounds on what a client may send, and how long it may take. Every value has a documented default and can
/// be changed; each limit maps to one status when exceeded.
public struct HTTPLimits: Sendable, Hashable {
    /// The longest request line, in bytes (414; 501 when it is the method that runs past it). Default 8 KiB.
    public var maxRequestLineLength: Int = 8 * 1024
    /// The largest header section, request line included, in bytes (431). Default 32 KiB.
    public var maxHeaderBytes: Int = 32 * 1024
    /// The most header fields (431); trailers count against it too. Default 100.
    public var maxHeaderCount: Int = 100
    /// The largest request body, in bytes, whether collected or streamed (413). Default 8 MiB.
    public var maxBodyBytes: Int = 8 * 1024 * 1024
    /// The longest chunk-size line of a chunked body, extensions included (400). Default 4 KiB.
    public var maxChunkLineLength: Int = 4 * 1024
    /// The largest body, in bytes, that is read whole before the responder runs: a body whose
    /// `Content-Length` is at most this arrives collected (`RequestBody/bufferedBytes`), so the responder
    /// gets it without waiting; larger and chunked bodies stream. Zero streams every body with bytes.
    /// Default 64 KiB.
    public var maxCollectedBodyBytes: Int = 64 * 1024
    /// How long a client may take to send a request head, from its first byte (or from the connection's
    /// start); then the server answers 408 and closes. `nil` turns it off. Default 10 s.
    public var headerReadTimeout: Duration? = .seconds(10)
    /// How long a client may pause while sending a request body (nginx's `client_body_timeout`): the time
    /// between two reads, not for the whole body. It does not run while the server itself holds the body back
    /// (its consumer is busy, or `100 Continue` is not sent yet). When it passes, the server answers 408 if
    /// the request has no response yet, and closes. `nil` turns it off. Default 60 s.
    public var bodyReadTimeout: Duration? = .seconds(60)
    /// How long an idle keep-alive connection stays open between requests. A response still going out at the
    /// deadline restarts the count, so a long download is never cut (``ChatConfiguration/sendTimeout`` drops
    /// clients that stop reading). `nil` turns it off. Default 60 s.
    public var idleTimeout: Duration? = .seconds(60)
    /// How long a graceful shutdown waits for a request on a connection that has none in progress (idle
    /// between requests, or just accepted) before closing it. A request that arrives meanwhile is answered,
    /// with `Connection: close`. Closing at once races a client whose next request is already on its way:
    /// it reads the close instead of an answer (wrk counted one error per connection at every rolling
    /// restart). `nil` closes such connections at once. Default 1 s.
    public var shutdownIdleGrace: Duration? = .seconds(1)
    /// The methods accepted (RFC 9110 §9.1: an unrecognized method is answered 501). `nil` accepts any valid
    /// token. Default: ``HTTPLimits/registeredMethods``.
    public var acceptedMethods: Set<String>? = HTTPLimits.registeredMethods {
        didSet { acceptsGetAndHead = Self.acceptsGetAndHead(acceptedMethods) }
    }

    /// Whether ``acceptedMethods`` takes both GET and HEAD, kept with it: the parser's fast path for the two
    /// commonest methods, instead of hashing the method name per request.
    private(set) var acceptsGetAndHead = true  // the default set has both

    private static func acceptsGetAndHead(_ methods: Set<String>?) -> Bool {
        guard let methods else { return true }
        return methods.contains("GET") && methods.contains("HEAD")
    }

    /// The methods of the IANA HTTP Method Registry, plus the common extensions (`PURGE`, `M-SEARCH`,
    /// `NOTIFY`, `SUBSCRIBE`, `UNSUBSCRIBE`, `SOURCE`).
    public static let registeredMethods: Set<String> = [
        "ACL", "BASELINE-CONTROL", "BIND", "CHECKIN", "CHECKOUT", "CONNECT", "COPY", "DELETE", "GET", "HEAD",
        "LABEL", "LINK", "LOCK", "MERGE", "MKACTIVITY", "MKCALENDAR", "MKCOL", "MKREDIRECTREF", "MKWORKSPACE",
        "MOVE", "OPTIONS", "ORDERPATCH", "PATCH", "POST", "PRI", "PROPFIND", "PROPPATCH", "PUT", "QUERY",
        "REBIND", "REPORT", "SEARCH", "TRACE", "UNBIND", "UNCHECKOUT", "UNLINK", "UNLOCK", "UPDATE",
        "UPDATEREDIRECTREF", "VERSION-CONTROL",
        "PURGE", "M-SEARCH", "NOTIFY", "SUBSCRIBE", "UNSUBSCRIBE", "SOURCE",
    ]

    /// The defaults.
    public init() {}
}

/// One copy of a server's limits that its connections share by reference.
package final class SharedLimits: Sendable {
    /// The limits.
    package let limits: HTTPLimits
    /// The timeouts of `limits`, converted for the event loop once.
    package let timeouts: ConnectionTimeouts
    /// Wraps `limits`.
    package init(_ limits: HTTPLimits) {
        self.limits = limits
        self.timeouts = ConnectionTimeouts(limits)
    }
}

/// The connection timeouts of ``HTTPLimits`` as the event loop counts them (`TimeAmount`), converted once per
/// server: a deadline is then one addition, not a `Duration` conversion per request.
package struct ConnectionTimeouts: Sendable, Equatable {
    /// ``HTTPLimits/idleTimeout``.
    package let idle: TimeAmount?
    /// ``HTTPLimits/headerReadTimeout``.
    package let headerRead: TimeAmount?
    /// ``HTTPLimits/bodyReadTimeout``.
    package let bodyRead: TimeAmount?
    /// ``HTTPLimits/shutdownIdleGrace``.
    package let shutdownIdle: TimeAmount?

    /// Converts the timeouts of `limits`.
    package init(_ limits: HTTPLimits) {
        idle = limits.idleTimeout.map(TimeAmount.init)
        headerRead = limits.headerReadTimeout.map(TimeAmount.init)
        bodyRead = limits.bodyReadTimeout.map(TimeAmount.init)
        shutdownIdle = limits.shutdownIdleGrace.map(TimeAmount.init)
    }
}
