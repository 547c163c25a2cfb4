public import HTTPTypes
public import NIOCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// The request side of HTTP/1.1 as a chat protocol, without the socket: asynchat's `http_request_handler`
/// generalized (RFC 9112 §6, §7). Pure: it is told what the framer collected and when a terminator was found,
/// and answers with events and the next ``terminator``.
///
/// 1. head: ``Terminator/delimiter(_:)-enum.case`` `\r\n\r\n`, bounded by the framer's limit;
/// 2. body: `.count(Content-Length)`; or chunked: `\r\n` for each size line, `.count(size)` for the data,
///    `.count(2)` for its CRLF, `\r\n` for each trailer line until an empty one;
/// 3. back to 1 for the next request.
///
/// Drive it with a ``ChatFramer`` whose terminator always follows ``terminator``: feed each `.data` to
/// ``collect(_:)`` and each `.terminator` to ``terminatorFound()``.
public struct HTTPRequestDecoder: Sendable {
    /// What the decoder found.
    public enum Event: Sendable, Equatable {
        /// A request head. When its framing is ``BodyFraming/none`` the request is complete at once; otherwise
        /// `.body` events and one `.end` follow.
        case head(HTTPRequestHead)
        /// Bytes of the body, de-chunked. Never empty.
        case body(ByteBuffer)
        /// The body is complete; the trailer fields of a chunked body, if any.
        case end(HTTPFields?)
    }

    private enum State: Sendable {
        case head
        case body
        case chunkSize
        case chunkData
        case chunkDataEnd
        case trailers
    }

    /// The head delimiter, shared so setting it allocates nothing.
    static let headDelimiter = Terminator.delimiter("\r\n\r\n")
    static let lineDelimiter = Terminator.delimiter("\r\n")

    /// The terminator the framer must use next.
    public private(set) var terminator: Terminator = HTTPRequestDecoder.headDelimiter
    /// The limits applied.
    public var limits: HTTPLimits { shared.limits }
    /// Held by reference: a server's connections all read its one copy (a copy each was ~110 bytes a connection).
    private let shared: SharedLimits

    private var state = State.head
    private var collected = ByteBuffer()
    private var requestLineChecked = false
    private var bodyBytes = 0
    private var trailers = HTTPFields()
    private var trailerBytes = 0

    /// Creates a decoder waiting for a head.
    ///
    /// - Parameter limits: the limits to apply.
    public init(limits: HTTPLimits = HTTPLimits()) {
        self.init(shared: SharedLimits(limits))
    }

    /// Creates a decoder that reads `shared`'s limits.
    package init(shared: SharedLimits) {
        self.shared = shared
    }

    /// Whether the decoder is between requests (waiting for a head, nothing of it received).
    public var isIdle: Bool {
        if case .head = state { return collected.readableBytes == 0 }
        return false
    }

    /// Whether the decoder is inside a head.
    public var isReadingHead: Bool {
        if case .head = state { return true }
        return false
    }

    /// Takes bytes the framer collected for the current frame.
    ///
    /// - Parameter data: a non-empty segment.
    /// - Returns: `.body` for body bytes; `nil` while a head or a line is being collected.
    /// - Throws: ``HTTPParseError`` when a line or section is over its limit, or holds a bare CR or LF
    ///   (refused as soon as it arrives: a line ended by a bare LF would otherwise wait for a CRLF forever).
    public mutating func collect(_ data: ByteBuffer) throws(HTTPParseError) -> Event? {
        switch state {
        case .body, .chunkData:
            bodyBytes += data.readableBytes
            return .body(data)
        case .head:
            let previous = collected.readableBytes > 0 ? collected.getInteger(at: collected.writerIndex - 1, as: UInt8.self) : nil
            append(data)
            if !requestLineChecked && collected.readableBytes > limits.maxRequestLineLength {
                try checkRequestLineLength()
            }
            // After the length check, so that a request line too long is 414 however the bytes are cut.
            if Self.hasBareLF(data, after: previous) { throw .bad("bare LF in the head") }
        case .chunkSize:
            if Self.firstLineBreak(data) != nil { throw .bad("bare CR or LF in a chunk-size line") }
            append(data)
            if collected.readableBytes > limits.maxChunkLineLength {
                throw .bad("chunk-size line longer than \(limits.maxChunkLineLength) bytes")
            }
        case .chunkDataEnd:
            append(data)
        case .trailers:
            // A break within the section's limit is 400; one past it is never reached (431), as byte by byte.
            let room = limits.maxHeaderBytes - trailerBytes - collected.readableBytes
            if let at = Self.firstLineBreak(data), at < room { throw .bad("bare CR or LF in the trailer section") }
            append(data)
            if trailerBytes + collected.readableBytes > limits.maxHeaderBytes {
                throw HTTPParseError(.headersTooLarge, "trailer section too large")
            }
        }
        return nil
    }

    /// The framer found the current terminator.
    ///
    /// - Returns: the event it completes, if any.
    /// - Throws: ``HTTPParseError`` for a malformed head, chunk line, chunk end or trailer.
    public mutating func terminatorFound() throws(HTTPParseError) -> Event? {
        switch state {
        case .head:
            defer {
                collected = .noBytes
                requestLineChecked = false
            }
            if Self.isOnlyEmptyLines(collected) { return nil }  // RFC 9112 §2.2: ignore leading CRLFs
            let head = try HTTPHeadParser.parse(collected, limits: limits)
            bodyBytes = 0
            switch head.framing {
            case .none:
                break
            case .length(let n):
                state = .body
                terminator = .count(n)
            case .chunked:
                state = .chunkSize
                terminator = Self.lineDelimiter
                trailers = HTTPFields()
                trailerBytes = 0
            }
            return .head(head)

        case .body:
            state = .head
            terminator = Self.headDelimiter
            return .end(nil)

        case .chunkSize:
            let size = try Self.parseChunkSizeLine(collected)
            collected = .noBytes
            if size == 0 {
                state = .trailers
                return nil
            }
            if size > limits.maxBodyBytes - bodyBytes {
                throw HTTPParseError(.contentTooLarge, "chunked body over \(limits.maxBodyBytes) bytes")
            }
            state = .chunkData
            terminator = .count(size)
            return nil

        case .chunkData:
            state = .chunkDataEnd
            terminator = .count(2)
            return nil

        case .chunkDataEnd:
            let ok = collected.readableBytes == 2
                && collected.getInteger(at: collected.readerIndex, as: UInt16.self) == 0x0D0A
            collected = .noBytes
            guard ok else { throw .bad("chunk data not followed by CRLF") }
            state = .chunkSize
            terminator = Self.lineDelimiter
            return nil

        case .trailers:
            if collected.readableBytes == 0 {
                state = .head
                terminator = Self.headDelimiter
                let fields = trailers
                trailers = HTTPFields()
                return .end(fields.isEmpty ? nil : fields)
            }
            trailerBytes += collected.readableBytes + 2
            try parseTrailer()
            collected = .noBytes
            return nil
        }
    }

    /// The error to answer when the framer's delimiter bound was hit in the current state.
    ///
    /// - Returns: for a request line that never ended, 414 (or 501 when it is the method that is too long: see
    ///   ``HTTPHeadParser``); 431 for a head or trailers too large; 400 for a chunk line.
    public func framingFailed() -> HTTPParseError {
        switch state {
        case .head:
            if !requestLineChecked, Self.requestLineEnd(collected) == nil {
                return requestLineTooLong()
            }
            return HTTPParseError(.headersTooLarge, "header section over the limit")
        case .trailers:
            return HTTPParseError(.headersTooLarge, "trailer section over the limit")
        default:
            return .bad("chunk line over the limit")
        }
    }

    // MARK: - Helpers

    private mutating func append(_ data: ByteBuffer) {
        if collected.readableBytes == 0 {
            collected = data
        } else {
            var data = data
            collected.writeBuffer(&data)
        }
    }

    private mutating func checkRequestLineLength() throws(HTTPParseError) {
        if let end = Self.requestLineEnd(collected), end <= limits.maxRequestLineLength {
            requestLineChecked = true
            return
        }
        throw requestLineTooLong()
    }

    /// 414, or 501 for an over-long method, judged on the bytes of the request line collected so far.
    private func requestLineTooLong() -> HTTPParseError {
        collected.withUnsafeReadableBytes { b in
            var p = 0
            while p + 1 < b.count && b[p] == 13 && b[p + 1] == 10 { p += 2 }  // leading empty lines
            return HTTPHeadParser.requestLineTooLong(UnsafeRawBufferPointer(rebasing: b[p...]), limits: limits)
        }
    }

    /// The length of the request line in `head` (after leading empty lines), or nil when it has not ended.
    static func requestLineEnd(_ head: ByteBuffer) -> Int? {
        head.withUnsafeReadableBytes { b -> Int? in
            var p = 0
            while p + 1 < b.count && b[p] == 13 && b[p + 1] == 10 { p += 2 }
            var i = p
            while i < b.count {
                if b[i] == 13 || b[i] == 10 { return i - p }
                i += 1
            }
            return nil
        }
    }

    /// Where bytes collected for a CRLF-delimited line (a chunk-size line or a trailer line) hold their first CR
    /// or LF, if they do. The framer hands out a line's bytes before its CRLF and holds back a CR that may start it, so any CR
    /// or LF seen here is bare, which RFC 9112 §2.2 and §7.1 do not allow: the request is refused at once
    /// instead of waiting, until a timeout, for a CRLF a client ending its lines in LF never sends.
    static func firstLineBreak(_ data: ByteBuffer) -> Int? {
        data.withUnsafeReadableBytes { b in b.firstIndex { $0 == HTTPGrammar.lf || $0 == HTTPGrammar.cr } }
    }

    /// Whether head bytes hold an LF not preceded by CR (`previous` is the byte collected before `data`). A
    /// head whose lines end in bare LF never ends in the `\r\n\r\n` the framer waits for; refusing its first bare
    /// LF answers 400 at once rather than 408 at the header-read timeout. (A bare CR is left to the head parser:
    /// a CR at the end of a read may still be followed by LF.)
    static func hasBareLF(_ data: ByteBuffer, after previous: UInt8?) -> Bool {
        data.withUnsafeReadableBytes { b in
            guard let base = b.baseAddress else { return false }
            var from = 0
            while from < b.count, let hit = memchr(base + from, Int32(HTTPGrammar.lf), b.count - from) {
                let at = base.distance(to: UnsafeRawPointer(hit))
                if (at == 0 ? previous : b[at - 1]) != HTTPGrammar.cr { return true }
                from = at + 1
            }
            return false
        }
    }

    static func isOnlyEmptyLines(_ head: ByteBuffer) -> Bool {
        head.withUnsafeReadableBytes { b in
            var p = 0
            while p + 1 < b.count && b[p] == 13 && b[p + 1] == 10 { p += 2 }
            return p == b.count
        }
    }

    /// `chunk-size [ chunk-ext ]` (RFC 9112 §7.1), strictly: hex digits, then `;name[=token|quoted-string]`
    /// extensions with no whitespace.
    static func parseChunkSizeLine(_ line: ByteBuffer) throws(HTTPParseError) -> Int {
        let result = line.withUnsafeReadableBytes { b -> Result<Int, HTTPParseError> in
            var i = 0
            var size = 0
            while i < b.count, HTTPGrammar.isHex(b[i]) {
                let c = b[i]
                let digit = HTTPGrammar.isDigit(c) ? Int(c - 48) : Int(HTTPGrammar.lower(c) - 87)
                let (shifted, o1) = size.multipliedReportingOverflow(by: 16)
                let (sum, o2) = shifted.addingReportingOverflow(digit)
                if o1 || o2 { return .failure(.bad("chunk size overflows")) }
                size = sum
                i += 1
            }
            guard i > 0 else { return .failure(.bad("invalid chunk size")) }
            while i < b.count {
                guard b[i] == UInt8(ascii: ";") else { return .failure(.bad("invalid chunk extension")) }
                i += 1
                let nameStart = i
                while i < b.count, HTTPGrammar.isTokenByte[Int(b[i])] { i += 1 }
                guard i > nameStart else { return .failure(.bad("empty chunk extension name")) }
                guard i < b.count, b[i] == UInt8(ascii: "=") else { continue }
                i += 1
                if i < b.count, b[i] == UInt8(ascii: "\"") {
                    i += 1
                    var closed = false
                    while i < b.count {
                        let c = b[i]
                        if c == UInt8(ascii: "\"") {
                            closed = true
                            i += 1
                            break
                        }
                        if c == UInt8(ascii: "\\") {
                            guard i + 1 < b.count, HTTPGrammar.isValueByte(b[i + 1]) else {
                                return .failure(.bad("invalid quoted-pair in chunk extension"))
                            }
                            i += 2
                            continue
                        }
                        guard HTTPGrammar.isValueByte(c) else {
                            return .failure(.bad("invalid byte in chunk extension"))
                        }
                        i += 1
                    }
                    guard closed else { return .failure(.bad("unterminated quoted chunk extension")) }
                } else {
                    let valueStart = i
                    while i < b.count, HTTPGrammar.isTokenByte[Int(b[i])] { i += 1 }
                    guard i > valueStart else { return .failure(.bad("empty chunk extension value")) }
                }
            }
            return .success(size)
        }
        return try result.get()
    }

    private mutating func parseTrailer() throws(HTTPParseError) {
        if trailers.count >= limits.maxHeaderCount {
            throw HTTPParseError(.headersTooLarge, "too many trailer fields")
        }
        let result = collected.withUnsafeReadableBytes { b -> Result<HTTPField, HTTPParseError> in
            guard let first = b.first, first != 32, first != 9 else { return .failure(.bad("obs-fold in trailers")) }
            var c = 0
            while c < b.count, HTTPGrammar.isTokenByte[Int(b[c])] { c += 1 }
            guard c > 0, c < b.count, b[c] == UInt8(ascii: ":") else {
                return .failure(.bad("invalid trailer field name"))
            }
            var vs = c + 1
            var ve = b.count
            while vs < ve && (b[vs] == 32 || b[vs] == 9) { vs += 1 }
            while ve > vs && (b[ve - 1] == 32 || b[ve - 1] == 9) { ve -= 1 }
            for i in vs..<ve where !HTTPGrammar.isValueByte(b[i]) {
                return .failure(.bad("invalid byte in a trailer value"))
            }
            let name = String(decoding: UnsafeRawBufferPointer(rebasing: b[0..<c]), as: UTF8.self)
            guard let fieldName = HTTPField.Name(name) else { return .failure(.bad("invalid trailer field name")) }
            // Framing and routing fields are meaningless after the body (RFC 9110 §6.5.1); one sent there is a
            // confused or hostile client, and a proxy that merged it into the head would be misled.
            if fieldName == .transferEncoding || fieldName == .contentLength || fieldName.canonicalName == "host" {
                return .failure(.bad("framing field \(name) in trailers"))
            }
            return .success(HTTPField(name: fieldName, value: UnsafeRawBufferPointer(rebasing: b[vs..<ve])))
        }
        trailers.append(try result.get())
    }
}
