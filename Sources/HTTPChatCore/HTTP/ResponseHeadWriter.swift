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

    /// The cached status line and standard phrase of each common status, indexed by `code - 100`: one array
    /// read per response instead of two dictionary lookups.
    private static let statusTable: [(line: String, phrase: String)?] = {
        var table = [(line: String, phrase: String)?](repeating: nil, count: 500)
        for status in commonStatuses {
            table[status.code - 100] = (statusLines[status.code]!, status.reasonPhrase)
        }
        return table
    }()

    /// The cached status line for `status`, when it is a common one carrying its code's standard phrase (a
    /// status made from a bare code, `HTTPResponse.Status(code: 404)`, has an empty phrase and gets it too).
    @inline(__always)
    private static func cachedLine(_ status: HTTPResponse.Status) -> String? {
        let code = status.code
        guard code >= 100, code < 600, let entry = statusTable[code - 100] else { return nil }
        return status.reasonPhrase.isEmpty || status.reasonPhrase == entry.phrase ? entry.line : nil
    }

    /// Writes a status line and fields ending in the empty line. A status made from a bare code
    /// (`HTTPResponse.Status(code: 404)`, as generated code does) gets its standard reason phrase.
    ///
    /// The head goes into `buffer` in a few raw copies, one per field plus one for the status line and one for
    /// the server's fields, not a `ByteBuffer` write per piece (a tenth of the instructions per response).
    package static func write(
        status: HTTPResponse.Status,
        fields: HTTPFields,
        framing: Framing,
        connection: ConnectionField,
        into buffer: inout ByteBuffer
    ) {
        if let line = cachedLine(status) {
            buffer.writeRaw(line.utf8.count) { out in out.append(line) }
        } else {
            let phrase = status.reasonPhrase
            buffer.writeRaw(9 + 20 + 1 + phrase.utf8.count + 2) { out in
                out.append("HTTP/1.1 " as StaticString)
                out.appendDecimal(status.code)
                out.append(" " as StaticString)
                out.append(phrase)
                out.append("\r\n" as StaticString)
            }
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
            field.withUnsafeBytesOfValue { value in
                let name = field.name.rawName
                buffer.writeRaw(name.utf8.count + 2 + value.count + 2) { out in
                    out.append(name)
                    out.append(": " as StaticString)
                    out.append(UnsafeRawBufferPointer(value))
                    out.append("\r\n" as StaticString)
                }
            }
        }
        let date = hasDate ? nil : HTTPDate.now()
        // "Date: " 6 + the date + CRLF; "Content-Length: " 16 + at most 20 digits + CRLF; the longest Connection
        // field 24; the empty line 2.
        buffer.writeRaw(8 + (date?.utf8.count ?? 0) + 38 + 28 + 24 + 2) { out in
            if let date {
                out.append("Date: " as StaticString)
                out.append(date)
                out.append("\r\n" as StaticString)
            }
            switch framing {
            case .length(let n):
                out.append("Content-Length: " as StaticString)
                out.appendDecimal(n)
                out.append("\r\n" as StaticString)
            case .chunked:
                out.append("Transfer-Encoding: chunked\r\n" as StaticString)
            case .none, .untilClose:
                break
            }
            switch connection {
            case .close: out.append("Connection: close\r\n" as StaticString)
            case .keepAlive: out.append("Connection: keep-alive\r\n" as StaticString)
            case .upgrade: out.append("Connection: Upgrade\r\n" as StaticString)
            case .none: break
            }
            out.append("\r\n" as StaticString)
        }
    }
}

/// Bytes copied into a buffer's writable space, bounds-checked against the room reserved for them.
struct RawHeadOutput {
    private let base: UnsafeMutableRawBufferPointer
    /// Bytes written so far.
    private(set) var count = 0

    init(_ base: UnsafeMutableRawBufferPointer) { self.base = base }

    @inline(__always)
    mutating func append(_ bytes: UnsafeRawBufferPointer) {
        guard bytes.count > 0 else { return }
        precondition(count + bytes.count <= base.count, "response head overran the room reserved for it")
        (base.baseAddress! + count).copyMemory(from: bytes.baseAddress!, byteCount: bytes.count)
        count += bytes.count
    }

    @inline(__always)
    mutating func append(_ text: StaticString) {
        append(UnsafeRawBufferPointer(start: text.utf8Start, count: text.utf8CodeUnitCount))
    }

    @inline(__always)
    mutating func append(_ text: String) {
        var text = text
        text.withUTF8 { append(UnsafeRawBufferPointer($0)) }
    }

    /// A non-negative integer in decimal.
    mutating func appendDecimal(_ value: Int) {
        var digits: (UInt64, UInt64, UInt64) = (0, 0, 0)  // 24 bytes: room for Int.max's 19 digits
        withUnsafeMutableBytes(of: &digits) { raw in
            var n = value
            var at = raw.count
            repeat {
                at -= 1
                raw[at] = UInt8(ascii: "0") + UInt8(n % 10)
                n /= 10
            } while n > 0
            append(UnsafeRawBufferPointer(rebasing: raw[at...]))
        }
    }
}

extension ByteBuffer {
    /// Reserves `room` writable bytes and lets `fill` copy into them; the writer index moves by what it wrote.
    @inline(__always)
    mutating func writeRaw(_ room: Int, _ fill: (inout RawHeadOutput) -> Void) {
        writeWithUnsafeMutableBytes(minimumWritableBytes: room) { raw in
            var out = RawHeadOutput(raw)
            fill(&out)
            return out.count
        }
    }
}
