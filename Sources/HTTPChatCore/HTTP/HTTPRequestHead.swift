public import HTTPTypes

/// An HTTP version number, `HTTP/major.minor`.
public struct HTTPVersion: Hashable, Sendable, CustomStringConvertible {
    /// The major version.
    public var major: Int
    /// The minor version.
    public var minor: Int

    /// Creates a version.
    ///
    /// - Parameters:
    ///   - major: the major number.
    ///   - minor: the minor number.
    public init(major: Int, minor: Int) {
        self.major = major
        self.minor = minor
    }

    /// HTTP/1.0.
    public static let http1_0 = HTTPVersion(major: 1, minor: 0)
    /// HTTP/1.1.
    public static let http1_1 = HTTPVersion(major: 1, minor: 1)

    /// `HTTP/1.1`, for example.
    public var description: String { "HTTP/\(major).\(minor)" }
}

/// How a request's body is delimited (RFC 9112 §6.3).
public enum BodyFraming: Hashable, Sendable {
    /// No body.
    case none
    /// `Content-Length` bytes.
    case length(Int)
    /// `Transfer-Encoding: chunked`.
    case chunked
}

/// A parsed request head: the request line, the fields, and what they say about framing and persistence.
public struct HTTPRequestHead: Sendable, Hashable {
    /// The method.
    public var method: HTTPRequest.Method
    /// The request target exactly as sent (origin-form, absolute-form, authority-form or `*`).
    public var target: String
    /// The version.
    public var version: HTTPVersion
    /// The header fields, in order.
    public var headerFields: HTTPFields
    /// How the body is delimited.
    public var framing: BodyFraming
    /// Whether the connection may carry another request after this one (RFC 9112 §9.3).
    public var keepAlive: Bool
    /// Whether the client sent `Expect: 100-continue` in an HTTP/1.1 request.
    public var expectsContinue: Bool
}
