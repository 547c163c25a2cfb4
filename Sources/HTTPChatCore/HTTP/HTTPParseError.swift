public import HTTPTypes

/// Why a request could not be read. Every parse failure is one of these, and ``status`` maps it to the one
/// status the client is sent (RFC 9110 §15.5, RFC 9112). The ``detail`` is for logs only; it never reaches
/// the client.
public struct HTTPParseError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The class of failure.
    public enum Kind: Hashable, Sendable {
        /// Malformed syntax or an ambiguous message (400).
        case badRequest
        /// The request line is longer than ``HTTPLimits/maxRequestLineLength`` because of its target (414).
        case uriTooLong
        /// The header section is larger than ``HTTPLimits/maxHeaderBytes`` or has more than
        /// ``HTTPLimits/maxHeaderCount`` fields (431).
        case headersTooLarge
        /// The body is larger than ``HTTPLimits/maxBodyBytes`` (413).
        case contentTooLarge
        /// A method or transfer coding this server does not implement, or a method longer than
        /// ``HTTPLimits/maxRequestLineLength`` (501).
        case notImplemented
        /// An HTTP version other than 1.0 and 1.1 (505).
        case versionNotSupported
        /// An `Expect` other than `100-continue` (417).
        case expectationFailed
        /// The client stopped sending a request body for longer than ``HTTPLimits/bodyReadTimeout`` (408).
        case requestTimeout
    }

    /// The class of failure.
    public let kind: Kind
    /// What was wrong, for logs.
    public let detail: String

    /// Creates an error.
    ///
    /// - Parameters:
    ///   - kind: the class of failure.
    ///   - detail: what was wrong, for logs.
    public init(_ kind: Kind, _ detail: String) {
        self.kind = kind
        self.detail = detail
    }

    /// The response status for this failure: the one place parse failures become statuses.
    public var status: HTTPResponse.Status {
        switch kind {
        case .badRequest: return .badRequest
        case .uriTooLong: return .uriTooLong
        case .headersTooLarge: return .requestHeaderFieldsTooLarge
        case .contentTooLarge: return .contentTooLarge
        case .notImplemented: return .notImplemented
        case .versionNotSupported: return .httpVersionNotSupported
        case .expectationFailed: return .expectationFailed
        case .requestTimeout: return .requestTimeout
        }
    }

    /// The status and the detail.
    public var description: String { "\(status.code) \(status.reasonPhrase): \(detail)" }

    /// A 400 with `detail`.
    package static func bad(_ detail: String) -> HTTPParseError { HTTPParseError(.badRequest, detail) }
}
