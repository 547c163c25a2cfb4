import HTTPTypes
import NIOCore

/// Serializes a response head (RFC 9112 §4, §5): status line, the handler's fields, then the fields the
/// server decides.
enum ResponseHeadWriter {
    /// How the connection is announced.
    enum ConnectionField {
        case none
        case close
        case keepAlive
    }

    /// How the body is framed.
    enum Framing: Equatable {
        case none
        case length(Int)
        case chunked
        case untilClose
    }

    /// Writes a status line and fields ending in the empty line.
    static func write(
        status: HTTPResponse.Status,
        fields: HTTPFields,
        framing: Framing,
        connection: ConnectionField,
        into buffer: inout ByteBuffer
    ) {
        buffer.writeStaticString("HTTP/1.1 ")
        buffer.writeString(String(status.code))
        buffer.writeStaticString(" ")
        buffer.writeString(status.reasonPhrase)
        buffer.writeStaticString("\r\n")
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
            buffer.writeString(String(n))
            buffer.writeStaticString("\r\n")
        case .chunked:
            buffer.writeStaticString("Transfer-Encoding: chunked\r\n")
        case .none, .untilClose:
            break
        }
        switch connection {
        case .close: buffer.writeStaticString("Connection: close\r\n")
        case .keepAlive: buffer.writeStaticString("Connection: keep-alive\r\n")
        case .none: break
        }
        buffer.writeStaticString("\r\n")
    }
}
