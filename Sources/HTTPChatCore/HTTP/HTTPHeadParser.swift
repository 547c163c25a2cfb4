import HTTPTypes
public import NIOCore

/// Parses a request head, strictly (RFC 9112, RFC 9110). Pure: bytes in, a head or an error out.
///
/// The input is everything before the `\r\n\r\n` that ends the head. Leading empty lines are skipped
/// (RFC 9112 §2.2). Lines end in CRLF; a bare CR or LF is an error, as are obs-fold, whitespace before a
/// colon, invalid tokens and control characters in values.
public enum HTTPHeadParser {
    /// Parses one head.
    ///
    /// - Parameters:
    ///   - head: the head's bytes, without the final empty line.
    ///   - limits: the request line, header count and body limits to apply.
    /// - Returns: the head, with framing and persistence decided.
    /// - Throws: ``HTTPParseError`` describing the first problem found.
    public static func parse(_ head: ByteBuffer, limits: HTTPLimits) throws(HTTPParseError) -> HTTPRequestHead {
        let result = head.withUnsafeReadableBytes { bytes in
            Result { () throws(HTTPParseError) -> HTTPRequestHead in try parse(bytes, limits: limits) }
        }
        return try result.get()
    }

    // MARK: - Bytes (the shared tables are HTTPGrammar's)

    /// Whether `bytes[range]` equals the lower-case ASCII `name`, ignoring case.
    @inline(__always)
    static func equalsLowercased(_ bytes: UnsafeRawBufferPointer, _ range: Range<Int>, _ name: StaticString) -> Bool {
        guard range.count == name.utf8CodeUnitCount else { return false }
        let n = name.utf8Start
        var i = 0
        for at in range {
            if HTTPGrammar.lower(bytes[at]) != n[i] { return false }
            i += 1
        }
        return true
    }

    /// The elements of a comma-separated list value (RFC 9110 §5.6.1), each without the OWS around it and
    /// with ASCII letters lowercased; empty elements kept. Split, trimmed and compared on bytes: split on
    /// `Character`s, a comma that a combining or prepended scalar joins is not cut, and `lowercased()` maps
    /// U+212A KELVIN SIGN to `k`, so `chun\u{212A}ed` was read as `chunked` where a proxy in front sees an
    /// unknown coding: a request smuggling gap.
    static func listElements(_ value: UnsafeRawBufferPointer) -> [[UInt8]] {
        value.split(separator: UInt8(ascii: ","), omittingEmptySubsequences: false).map { element in
            HTTPGrammar.trimmingOWS(element).map(HTTPGrammar.lower)
        }
    }

    // MARK: - Parser

    static func parse(_ b: UnsafeRawBufferPointer, limits: HTTPLimits) throws(HTTPParseError) -> HTTPRequestHead {
        let n = b.count
        var p = 0
        while p + 1 < n && b[p] == HTTPGrammar.cr && b[p + 1] == HTTPGrammar.lf { p += 2 }  // leading empty lines
        guard p < n else { throw .bad("empty request") }

        // Request line: method SP request-target SP HTTP-version (RFC 9112 §3).
        let lineEnd = try endOfLine(b, from: p)
        if lineEnd - p > limits.maxRequestLineLength {
            throw requestLineTooLong(UnsafeRawBufferPointer(rebasing: b[p..<lineEnd]), limits: limits)
        }
        var q = p
        while q < lineEnd && HTTPGrammar.isTokenByte[Int(b[q])] { q += 1 }
        guard q > p, q < lineEnd, b[q] == HTTPGrammar.sp else { throw .bad("invalid method") }
        let methodRange = p..<q
        q += 1
        let targetStart = q
        while q < lineEnd && b[q] != HTTPGrammar.sp {
            guard b[q] > 0x20 && b[q] < 0x7F else { throw .bad("invalid byte in request target") }
            // No request-target form has a fragment (RFC 9112 §3.2; RFC 9110 §7.1: a client sends the URI
            // without it). Serving the path before the `#` would be autocorrecting an invalid request line,
            // which RFC 9112 §3 says not to do.
            if b[q] == UInt8(ascii: "#") { throw .bad("fragment in the request target") }
            q += 1
        }
        guard q > targetStart, q < lineEnd else { throw .bad("invalid request target") }
        let targetRange = targetStart..<q
        q += 1
        let version = try parseVersion(b, q..<lineEnd)

        let methodName: String
        let method: HTTPRequest.Method
        if let common = commonMethod(b, methodRange), limits.acceptsGetAndHead {
            (methodName, method) = common  // no String to make, no set to hash
        } else {
            methodName = String(decoding: UnsafeRawBufferPointer(rebasing: b[methodRange]), as: UTF8.self)
            if let accepted = limits.acceptedMethods, !accepted.contains(methodName) {
                throw HTTPParseError(.notImplemented, "method \(methodName)")
            }
            guard let parsed = HTTPRequest.Method(methodName) else { throw .bad("invalid method") }
            method = parsed
        }
        try checkTargetForm(b, targetRange, method: methodName)
        let target = String(decoding: UnsafeRawBufferPointer(rebasing: b[targetRange]), as: UTF8.self)

        // Field lines (RFC 9112 §5).
        var fields = HTTPFields()
        var hostCount = 0
        var hostValid = true
        var contentLength: Int?
        var codings: [[UInt8]] = []
        var sawTransferEncoding = false
        var close = false
        var keepAliveToken = false
        var expectation: [UInt8]?
        var count = 0

        p = lineEnd
        while p < n {
            p += 2  // CRLF of the previous line
            let end = try endOfLine(b, from: p)
            guard end > p else { throw .bad("empty line inside the head") }
            guard b[p] != HTTPGrammar.sp && b[p] != HTTPGrammar.htab else { throw .bad("obs-fold or whitespace before a field line") }
            var c = p
            while c < end && HTTPGrammar.isTokenByte[Int(b[c])] { c += 1 }
            guard c > p, c < end, b[c] == HTTPGrammar.colon else { throw .bad("invalid field name") }
            let nameRange = p..<c
            var vs = c + 1
            var ve = end
            while vs < ve && (b[vs] == HTTPGrammar.sp || b[vs] == HTTPGrammar.htab) { vs += 1 }
            while ve > vs && (b[ve - 1] == HTTPGrammar.sp || b[ve - 1] == HTTPGrammar.htab) { ve -= 1 }
            var ascii = true
            for i in vs..<ve {
                let c = b[i]
                guard HTTPGrammar.isValueByte(c) else { throw .bad("control character in a field value") }
                if c >= 0x80 { ascii = false }
            }
            count += 1
            if count > limits.maxHeaderCount {
                throw HTTPParseError(.headersTooLarge, "more than \(limits.maxHeaderCount) fields")
            }
            let value = UnsafeRawBufferPointer(rebasing: b[vs..<ve])
            let nameString = String(decoding: UnsafeRawBufferPointer(rebasing: b[nameRange]), as: UTF8.self)
            guard let name = HTTPField.Name(nameString) else { throw .bad("invalid field name") }
            if ascii {
                // ASCII decodes to the same bytes; HTTPTypes keeps a String value without a byte-by-byte copy.
                fields.append(HTTPField(name: name, value: String(decoding: value, as: UTF8.self)))
            } else {
                fields.append(HTTPField(name: name, value: value))  // obs-text: kept as bytes, not repaired
            }

            switch nameRange.count {
            case 4 where equalsLowercased(b, nameRange, "host"):
                hostCount += 1
                hostValid = hostValid && isValidHost(value)
            case 14 where equalsLowercased(b, nameRange, "content-length"):
                let length = try parseContentLength(value)
                if let previous = contentLength, previous != length {
                    throw .bad("differing Content-Length values")
                }
                contentLength = length
            case 17 where equalsLowercased(b, nameRange, "transfer-encoding"):
                sawTransferEncoding = true
                for coding in Self.listElements(value) {
                    guard !coding.isEmpty else { throw .bad("empty transfer coding") }
                    codings.append(coding)
                }
            case 10 where equalsLowercased(b, nameRange, "connection"):
                for token in Self.listElements(value) {
                    if token.elementsEqual("close".utf8) { close = true } else if token.elementsEqual("keep-alive".utf8) { keepAliveToken = true }
                }
            case 6 where equalsLowercased(b, nameRange, "expect"):
                let text = value.map(HTTPGrammar.lower)
                expectation = expectation.map { $0 + [UInt8(ascii: ",")] + text } ?? text
            default:
                break
            }
            p = end
        }

        // Host (RFC 9112 §3.2): exactly one in HTTP/1.1, at most one otherwise, always well-formed.
        if version == .http1_1 && hostCount == 0 { throw .bad("missing Host") }
        if hostCount > 1 { throw .bad("more than one Host") }
        if !hostValid { throw .bad("invalid Host") }

        // Framing (RFC 9112 §6.1, §6.3).
        var framing = BodyFraming.none
        if sawTransferEncoding {
            if version == .http1_0 { throw .bad("Transfer-Encoding in an HTTP/1.0 request") }
            if contentLength != nil { throw .bad("both Content-Length and Transfer-Encoding") }
            let isChunked = { (coding: [UInt8]) in coding.elementsEqual("chunked".utf8) }
            let chunkedCount = codings.filter(isChunked).count
            if chunkedCount > 1 || (chunkedCount == 1 && !isChunked(codings.last!)) {
                throw .bad("chunked is not the final transfer coding, or appears twice")
            }
            if codings.count != 1 || chunkedCount != 1 {
                let named = codings.map { String(decoding: $0, as: UTF8.self) }.joined(separator: ", ")
                throw HTTPParseError(.notImplemented, "transfer coding \(named)")
            }
            framing = .chunked
        } else if let length = contentLength {
            // 413 at once, before any of the body (RFC 9110 §15.5.14: content larger than the server will
            // process); not 400, which Http11Probe's MAL-POST-CL-HUGE-NO-BODY wants: the length is well-formed.
            if length > limits.maxBodyBytes {
                throw HTTPParseError(.contentTooLarge, "Content-Length \(length)")
            }
            framing = length > 0 ? .length(length) : .none
        }

        // Expect (RFC 9110 §10.1.1): only 100-continue is known; HTTP/1.0 expectations are ignored.
        var expectsContinue = false
        if let expectation, version == .http1_1 {
            guard HTTPGrammar.trimmingOWS(expectation[...]).elementsEqual("100-continue".utf8) else {
                throw HTTPParseError(.expectationFailed, "Expect: \(String(decoding: expectation, as: UTF8.self))")
            }
            expectsContinue = true
        }

        let keepAlive = version == .http1_1 ? !close : (keepAliveToken && !close)
        return HTTPRequestHead(
            method: method,
            target: target,
            version: version,
            headerFields: fields,
            framing: framing,
            keepAlive: keepAlive,
            expectsContinue: expectsContinue
        )
    }

    /// GET or HEAD, by their bytes (methods are case-sensitive, RFC 9110 §9.1).
    @inline(__always)
    static func commonMethod(_ b: UnsafeRawBufferPointer, _ r: Range<Int>) -> (String, HTTPRequest.Method)? {
        let at = r.lowerBound
        if r.count == 3, b[at] == UInt8(ascii: "G"), b[at + 1] == UInt8(ascii: "E"), b[at + 2] == UInt8(ascii: "T") {
            return ("GET", .get)
        }
        if r.count == 4, b[at] == UInt8(ascii: "H"), b[at + 1] == UInt8(ascii: "E"), b[at + 2] == UInt8(ascii: "A"),
            b[at + 3] == UInt8(ascii: "D")
        {
            return ("HEAD", .head)
        }
        return nil
    }

    /// The error for a request line longer than ``HTTPLimits/maxRequestLineLength``, from its first bytes (it
    /// may not have ended yet): 414 only when the method is one the server accepts and the target is what is
    /// long; 501 when the method is longer than the limit or not accepted (RFC 9112 §3: "A server that receives a
    /// method longer than any that it implements SHOULD respond with a 501"); 400 when it is not a token.
    ///
    /// - Parameters:
    ///   - line: the request line's bytes so far, leading empty lines skipped.
    ///   - limits: the accepted methods.
    /// - Returns: the error to answer.
    static func requestLineTooLong(_ line: UnsafeRawBufferPointer, limits: HTTPLimits) -> HTTPParseError {
        // Only the first maxRequestLineLength bytes are judged: the decoder may have more or fewer of the line
        // when it decides, and the verdict must not depend on how the bytes were cut.
        let n = min(line.count, limits.maxRequestLineLength)
        var i = 0
        while i < n && HTTPGrammar.isTokenByte[Int(line[i])] { i += 1 }
        guard i < n else { return HTTPParseError(.notImplemented, "a method of \(i) bytes or more") }
        guard i > 0, line[i] == HTTPGrammar.sp else { return .bad("invalid method") }
        let method = String(decoding: UnsafeRawBufferPointer(rebasing: line[0..<i]), as: UTF8.self)
        if let accepted = limits.acceptedMethods, !accepted.contains(method) {
            return HTTPParseError(.notImplemented, "method of \(i) bytes")
        }
        return HTTPParseError(.uriTooLong, "request line longer than \(limits.maxRequestLineLength) bytes")
    }

    /// The index of the CR ending the line that starts at `from`, or the end of the head. A bare CR or LF
    /// is an error.
    @inline(__always)
    static func endOfLine(_ b: UnsafeRawBufferPointer, from: Int) throws(HTTPParseError) -> Int {
        var i = from
        let n = b.count
        while i < n {
            let c = b[i]
            if c == HTTPGrammar.cr {
                guard i + 1 < n, b[i + 1] == HTTPGrammar.lf else { throw .bad("bare CR") }
                return i
            }
            if c == HTTPGrammar.lf { throw .bad("bare LF") }
            i += 1
        }
        return n
    }

    /// The request target must be one of RFC 9112 §3.2's four forms: origin-form (`/path?query`),
    /// absolute-form (`scheme:...`), authority-form (CONNECT only) or asterisk-form (`*`: OPTIONS and extension
    /// methods).
    private static func checkTargetForm(_ b: UnsafeRawBufferPointer, _ range: Range<Int>, method: String) throws(HTTPParseError) {
        let first = b[range.lowerBound]
        if first == UInt8(ascii: "/") { return }
        if method == "CONNECT" { return }  // authority-form: host:port
        if range.count == 1 && first == UInt8(ascii: "*") {
            // OPTIONS, and extension methods that use it (SSDP's M-SEARCH); never the other RFC 9110 methods.
            guard !["GET", "HEAD", "POST", "PUT", "DELETE", "TRACE", "PATCH"].contains(method) else {
                throw .bad("asterisk-form target for \(method)")
            }
            return
        }
        // absolute-form starts with a scheme: ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ) ":".
        func isAlpha(_ c: UInt8) -> Bool { (0x41...0x5A).contains(c) || (0x61...0x7A).contains(c) }
        guard isAlpha(first) else { throw .bad("invalid request target form") }
        var i = range.lowerBound + 1
        while i < range.upperBound {
            let c = b[i]
            if c == UInt8(ascii: ":") { return }
            guard isAlpha(c) || (0x30...0x39).contains(c) || c == UInt8(ascii: "+") || c == UInt8(ascii: "-") || c == UInt8(ascii: ".") else {
                throw .bad("invalid request target form")
            }
            i += 1
        }
        throw .bad("invalid request target form")
    }

    static func parseVersion(_ b: UnsafeRawBufferPointer, _ r: Range<Int>) throws(HTTPParseError) -> HTTPVersion {
        guard r.count == 8,
            b[r.lowerBound] == UInt8(ascii: "H"), b[r.lowerBound + 1] == UInt8(ascii: "T"),
            b[r.lowerBound + 2] == UInt8(ascii: "T"), b[r.lowerBound + 3] == UInt8(ascii: "P"),
            b[r.lowerBound + 4] == UInt8(ascii: "/"), b[r.lowerBound + 6] == UInt8(ascii: "."),
            HTTPGrammar.isDigit(b[r.lowerBound + 5]), HTTPGrammar.isDigit(b[r.lowerBound + 7])
        else { throw .bad("invalid HTTP version") }
        let version = HTTPVersion(
            major: Int(b[r.lowerBound + 5] - UInt8(ascii: "0")),
            minor: Int(b[r.lowerBound + 7] - UInt8(ascii: "0"))
        )
        guard version.major == 1 else { throw HTTPParseError(.versionNotSupported, "\(version)") }
        // RFC 9110 §2.5: a higher minor version of a major version we implement SHOULD be processed as the
        // highest minor version we conform to (and answered in it: responses are always HTTP/1.1).
        return version.minor == 0 ? .http1_0 : .http1_1
    }

    /// `1*DIGIT`, without sign or inner whitespace, with an overflow check (RFC 9110 §8.6).
    static func parseContentLength(_ v: UnsafeRawBufferPointer) throws(HTTPParseError) -> Int {
        guard !v.isEmpty else { throw .bad("empty Content-Length") }
        var n = 0
        for c in v {
            guard HTTPGrammar.isDigit(c) else { throw .bad("invalid Content-Length") }
            let (times10, o1) = n.multipliedReportingOverflow(by: 10)
            let (sum, o2) = times10.addingReportingOverflow(Int(c - UInt8(ascii: "0")))
            guard !o1, !o2 else { throw .bad("Content-Length overflows") }
            n = sum
        }
        return n
    }

    /// `uri-host [ ":" port ]` (RFC 9110 §7.2, RFC 3986 §3.2.2); empty is allowed: reg-name may be empty, and
    /// RFC 9112 §3.2 has a client send `Host:` with an empty value when the target URI has no authority. (Some
    /// suites, Http11Probe's COMP-HOST-EMPTY-VALUE, want it refused; the grammar does not.)
    static func isValidHost(_ v: UnsafeRawBufferPointer) -> Bool {
        var i = 0
        let n = v.count
        if n > 0 && v[0] == UInt8(ascii: "[") {
            i = 1
            while i < n && v[i] != UInt8(ascii: "]") {
                let c = v[i]
                guard HTTPGrammar.isHex(c) || c == HTTPGrammar.colon || c == UInt8(ascii: ".") else { return false }
                i += 1
            }
            guard i < n else { return false }
            i += 1
        } else {
            while i < n && v[i] != HTTPGrammar.colon {
                let c = v[i]
                if c == UInt8(ascii: "%") {
                    guard i + 2 < n, HTTPGrammar.isHex(v[i + 1]), HTTPGrammar.isHex(v[i + 2]) else { return false }
                    i += 3
                    continue
                }
                guard isUnreservedOrSubDelim(c) else { return false }
                i += 1
            }
        }
        guard i < n else { return true }
        guard v[i] == HTTPGrammar.colon else { return false }
        i += 1
        while i < n {
            guard HTTPGrammar.isDigit(v[i]) else { return false }
            i += 1
        }
        return true
    }

    /// RFC 3986 unreserved and sub-delims.
    static let isHostByte = HTTPGrammar.alphanumericTable(plus: "-._~!$&'()*+,;=")

    @inline(__always)
    static func isUnreservedOrSubDelim(_ c: UInt8) -> Bool { isHostByte[Int(c)] }
}
