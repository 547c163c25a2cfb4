public import HTTPChatCore
public import HTTPTypes
public import NIOCore
#if canImport(FoundationEssentials)
public import FoundationEssentials
#else
public import Foundation
#endif

/// A response: status, fields and a body. The server adds `Date`, `Content-Length` or chunked framing, and
/// `Connection` as the exchange needs.
///
/// ```swift
/// Response(status: .ok, body: .init(string: "Hello, World!"))
/// try Response.json(["message": "Hello, World!"])
/// ```
public struct Response: Sendable {
    /// The status: a final one, 200-599. Anything else (a 1xx, 101, or a code outside 100-599) is answered
    /// 500 with a log line, since as the whole answer it would desynchronize the client.
    public var status: HTTPResponse.Status
    /// The fields the handler sets. `Content-Length`, `Transfer-Encoding` and `Connection` are decided by the
    /// server from the body and the exchange; values set here for them are replaced.
    public var headerFields: HTTPFields
    /// The body.
    public var body: ResponseBody
    /// Set by ``switchingProtocols(headerFields:to:)``: the protocol the connection is handed to after the 101.
    package var upgrade: ProtocolUpgrade?

    /// Creates a response.
    ///
    /// - Parameters:
    ///   - status: the status (default 200).
    ///   - headerFields: the fields.
    ///   - body: the body (default empty).
    public init(status: HTTPResponse.Status = .ok, headerFields: HTTPFields = [:], body: ResponseBody = .empty) {
        self.status = status
        self.headerFields = headerFields
        self.body = body
    }

    /// A `text/plain; charset=utf-8` response.
    ///
    /// - Parameters:
    ///   - text: the body.
    ///   - status: the status (default 200).
    /// - Returns: the response.
    public static func text(_ text: String, status: HTTPResponse.Status = .ok) -> Response {
        var fields = HTTPFields()
        fields[.contentType] = "text/plain; charset=utf-8"
        return Response(status: status, headerFields: fields, body: ResponseBody(string: text))
    }

    /// An `application/json` response of `value` encoded with `encoder`.
    ///
    /// - Parameters:
    ///   - value: the value to encode.
    ///   - status: the status (default 200).
    ///   - encoder: the encoder (default: a plain `JSONEncoder`).
    /// - Returns: the response.
    /// - Throws: the encoder's error.
    public static func json<T: Encodable>(
        _ value: T,
        status: HTTPResponse.Status = .ok,
        encoder: JSONEncoder = JSONEncoder()
    ) throws -> Response {
        var fields = HTTPFields()
        fields[.contentType] = "application/json"
        let data = try encoder.encode(value)
        return Response(status: status, headerFields: fields, body: ResponseBody(bytes: ByteBuffer(bytes: data)))
    }
}

/// A response body: a producer pulled by the connection, possibly of unknown length (then sent chunked).
public struct ResponseBody: Sendable {
    package enum Storage: Sendable {
        case bytes(ByteBuffer)
        case producer(any ChatProducer, length: Int?)
        case stream(length: Int?, @Sendable (BodyWriter) async throws -> Void)
    }

    package let storage: Storage

    /// No body.
    public static let empty = ResponseBody(bytes: ByteBuffer())

    /// A body of these bytes.
    ///
    /// - Parameter bytes: the body.
    public init(bytes: ByteBuffer) { storage = .bytes(bytes) }

    /// A body of the UTF-8 bytes of `string`.
    ///
    /// - Parameter string: the body.
    public init(string: String) { storage = .bytes(ByteBuffer(string: string)) }

    /// A body pulled from a producer (bytes or file regions), lazily, while the socket is writable.
    ///
    /// - Parameters:
    ///   - producer: the producer; cancelled if the connection closes first.
    ///   - length: the exact byte count it produces, or nil to send it chunked. It is enforced: producing more,
    ///     or ending short, aborts the connection (the extra bytes would be read as the next response).
    public init(producer: some ChatProducer, length: Int?) { storage = .producer(producer, length: length) }

    /// A body the handler writes after returning the response, with backpressure: each `write` waits while
    /// the client is slow.
    ///
    /// ```swift
    /// Response(body: .stream { writer in
    ///     for i in 0..<3 { try await writer.write(ByteBuffer(string: "\(i)\n")) }
    /// })
    /// ```
    /// - Parameters:
    ///   - length: the exact byte count, or nil to send it chunked. It is enforced: writing more, or returning
    ///     short, aborts the connection.
    ///   - write: writes the body; returning ends it; throwing aborts the connection (the status is already sent).
    /// - Returns: the body.
    public static func stream(
        length: Int? = nil,
        _ write: @escaping @Sendable (BodyWriter) async throws -> Void
    ) -> ResponseBody {
        ResponseBody(storage: .stream(length: length, write))
    }

    private init(storage: Storage) { self.storage = storage }

    /// The byte count, when known.
    public var length: Int? {
        switch storage {
        case .bytes(let b): return b.readableBytes
        case .producer(_, let length): return length
        case .stream(let length, _): return length
        }
    }

    /// The bytes, when the body is a plain buffer (for tests and middleware).
    public var bytes: ByteBuffer? {
        if case .bytes(let b) = storage { return b }
        return nil
    }
}

extension Response {
    /// `101 Switching Protocols` (RFC 9110 §15.2.2, §7.8): the connection stops speaking HTTP and is handed,
    /// with every byte already received after this request, to the chat protocol `make` returns (called on
    /// the connection's event loop, after the 101 is queued). The connection writes `Connection: Upgrade`;
    /// `headerFields` carry `Upgrade` and the new protocol's fields.
    ///
    /// Only this answer can send a 101, and only to a request that asked for an upgrade (an `Upgrade` field)
    /// and whose body, if any, has been read: otherwise the client gets 500 and the log says why. A status
    /// of 101 set any other way is a 500 too.
    ///
    /// - Parameters:
    ///   - headerFields: `Upgrade` and the new protocol's fields.
    ///   - make: the protocol that frames the connection from here on.
    /// - Returns: the response.
    public static func switchingProtocols(
        headerFields: HTTPFields, to make: @escaping @Sendable () -> any ChatProtocol
    ) -> Response {
        var response = Response(status: .switchingProtocols, headerFields: headerFields)
        response.upgrade = ProtocolUpgrade(make: make)
        return response
    }
}

/// The protocol a ``Response/switchingProtocols(headerFields:to:)`` hands the connection to.
package struct ProtocolUpgrade: Sendable {
    /// Makes the protocol, on the connection's event loop.
    package let make: @Sendable () -> any ChatProtocol
}
