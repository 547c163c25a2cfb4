package import HTTPTypes
package import NIOCore

/// Serializes a response head (RFC 9112 §4, §5): status line, the handler's fields, then the fields the
/// server decides.
package enum ResponseHeadWriter {
    /// How the connection is announced.
    package enum ConnectionField {
        case none
        case close
        case keepAlive
        /// `Connection: Upgrade`, on a 101.
        case upgrade
    }

    /// How the body is framed.
    package enum Framing: Equatable {
        case none
        case length(Int)
        case chunked
        case untilClose
    }

    /// The common statuses, whose status lines are made once.
    static let commonStatuses: [HTTPResponse.Status] = [
        .continue, .ok, .created, .accepted, .noContent, .partialContent, .movedPermanently, .found, .seeOther,
        .notModified, .temporaryRedirect, .permanentRedirect, .badRequest, .unauthorized, .forbidden, .notFound,
        .methodNotAllowed, .requestTimeout, .conflict, .preconditionFailed, .contentTooLarge, .uriTooLong,
        .unsupportedMediaType, .rangeNotSatisfiable, .expectationFailed, .requestHeaderFieldsTooLarge,
        .internalServerError, .notImplemented, .badGateway, .serviceUnavailable, .gatewayTimeout,
        .httpVersionNotSupported,
    ]

    /// The status lines of the common statuses, made once.
    static let statusLines: [Int: String] = Dictionary(
        uniqueKeysWithValues: commonStatuses.map { ($0.code, "HTTP/1.1 \($0.code) \($0.reasonPhrase)\r\n") }
    )

    /// The standard reason phrases of the common statuses: a cached line is written only for a status that
    /// carries its code's phrase (a handler may set another phrase for the same code).
    package static let reasonPhrases: [Int: String] = Dictionary(
        uniqueKeysWithValues: commonStatuses.map { ($0.code, $0.reasonPhrase) }
    )

    /// Writes a non-negative integer in decimal without making a String.
    static func writeDecimal(_ value: Int, into buffer: inout ByteBuffer) {
        var digits: (UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8,
                     UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8) =
            (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
        var n = value
        var count = 0
        withUnsafeMutableBytes(of: &digits) { raw in
            repeat {
                raw[19 - count] = UInt8(ascii: "0") + UInt8(n % 10)
                n /= 10
                count += 1
            } while n > 0
            buffer.writeBytes(UnsafeRawBufferPointer(rebasing: raw[(20 - count)...]))
        }
    }

    /// Writes a status line and fields ending in the empty line. A status made from a bare code
    /// (`HTTPResponse.Status(code: 404)`, as generated code does) gets its standard reason phrase.
    package static func write(
        status: HTTPResponse.Status,
        fields: HTTPFields,
        framing: Framing,
        connection: ConnectionField,
        into buffer: inout ByteBuffer
    ) {
        if let line = statusLines[status.code], status.reasonPhrase.isEmpty || status.reasonPhrase == reasonPhrases[status.code] {
            buffer.writeString(line)
        } else {
            buffer.writeStaticString("HTTP/1.1 ")
            writeDecimal(status.code, into: &buffer)
            buffer.writeStaticString(" ")
            buffer.writeString(status.reasonPhrase)
            buffer.writeStaticString("\r\n")
        }
        var hasDate = false
        for field in fields {
            switch field.name {
            case .contentLength, .transferEncoding, .connection:
                continue  // decided below, from the body and the exchange
            case .date:
                hasDate = true
            default:
                break
            }
            buffer.writeString(field.name.rawName)
            buffer.writeStaticString(": ")
            buffer.writeString(field.value)
            buffer.writeStaticString("\r\n")
        }
        if !hasDate {
            buffer.writeStaticString("Date: ")
            buffer.writeString(HTTPDate.now())
            buffer.writeStaticString("\r\n")
        }
        switch framing {
        case .length(let n):
            buffer.writeStaticString("Content-Length: ")
            writeDecimal(n, into: &buffer)
            buffer.writeStaticString("\r\n")
        case .chunked:
            buffer.writeStaticString("Transfer-Encoding: chunked\r\n")
        case .none, .untilClose:
            break
        }
        switch connection {
        case .close: buffer.writeStaticString("Connection: close\r\n")
        case .keepAlive: buffer.writeStaticString("Connection: keep-alive\r\n")
        case .upgrade: buffer.writeStaticString("Connection: Upgrade\r\n")
        case .none: break
        }
        buffer.writeStaticString("\r\n")
    }
}
