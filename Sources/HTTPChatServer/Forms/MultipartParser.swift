import HTTPChatCore
public import NIOCore

/// Limits for multipart bodies. Every value has a documented default.
public struct MultipartLimits: Sendable, Hashable {
    /// The most parts (413 beyond). Default 1000.
    public var maxParts = 1000
    /// The largest header section of one part, in bytes (431 for a request head; here 400). Default 16 KiB.
    public var maxPartHeaderBytes = 16 * 1024
    /// The most bytes between boundaries before the first (preamble) or in a boundary line. Default 16 KiB.
    public var maxPreambleBytes = 16 * 1024

    /// The defaults.
    public init() {}
}

/// The head of one part of a `multipart/form-data` body (RFC 7578).
public struct MultipartPartHead: Sendable, Hashable {
    /// The form field's name (`Content-Disposition: form-data; name="..."`).
    public var name: String
    /// The file name, sanitized (``MultipartParser/sanitizeFilename(_:)``): the last path component only, no
    /// `/` or `\`, no control, format (bidi) or line-separator characters, never `.`, `..` or a dotfile, at most
    /// 255 bytes. nil for a plain field, and for a file part whose name is empty or left nothing (a browser's
    /// empty file input sends `filename=""`).
    public var filename: String?
    /// The part's `Content-Type`, when given.
    public var contentType: String?
    /// Every header line of the part, in order, names lower-cased.
    public var headers: [(name: String, value: String)]

    /// Compares name, file name, type and headers.
    public static func == (a: MultipartPartHead, b: MultipartPartHead) -> Bool {
        a.name == b.name && a.filename == b.filename && a.contentType == b.contentType
            && a.headers.map(\.name) == b.headers.map(\.name) && a.headers.map(\.value) == b.headers.map(\.value)
    }

    /// Hashes name, file name and type.
    public func hash(into hasher: inout Hasher) {
        hasher.combine(name)
        hasher.combine(filename)
        hasher.combine(contentType)
    }
}

/// What the parser found.
public enum MultipartEvent: Sendable, Equatable {
    /// A part begins.
    case partHead(MultipartPartHead)
    /// Bytes of the current part's content. Never empty.
    case partData(ByteBuffer)
    /// The current part ended.
    case partEnd
    /// The closing boundary was seen; the body is complete.
    case end
}

/// Why a multipart body was refused.
public enum MultipartError: Error, Equatable, Sendable {
    /// Malformed: no boundary where one must be, bad part headers, no `name`, data after the end (400).
    case malformed(String)
    /// Over a ``MultipartLimits`` bound (413).
    case tooLarge(String)
}

/// A streaming `multipart/form-data` parser (RFC 7578, RFC 2046 §5.1) built on chat framing: the boundary
/// is a delimiter terminator, the seeds' idea applied again. Pure: bytes in, events out; part contents are
/// handed out as they arrive (slices of the input), so a file part of any size streams through in bounded
/// memory.
///
/// ```swift
/// var parser = try MultipartParser(contentType: "multipart/form-data; boundary=XyZ")
/// parser.append(chunk)
/// while let event = try parser.next() { ... }
/// try parser.finish()   // at the end of the body: throws unless the closing boundary was seen
/// ```
public struct MultipartParser: Sendable {
    private enum State: Sendable {
        case preamble
        case boundaryLine
        case headers
        case data
        case epilogue
    }

    private var framer: ChatFramer
    private let delimiter: [UInt8]
    private let limits: MultipartLimits
    private var state = State.preamble
    private var line = ByteBuffer()
    private var headers: [(String, String)] = []
    private var headerBytes = 0
    private var parts = 0
    private var ended = false

    /// Creates a parser for a body whose `Content-Type` is `contentType`.
    ///
    /// - Parameters:
    ///   - contentType: the request's `Content-Type`, with its `boundary` parameter.
    ///   - limits: the bounds.
    /// - Throws: ``MultipartError/malformed(_:)`` when the type is not multipart or the boundary is missing or
    ///   invalid (1 to 70 characters, RFC 2046 §5.1.1).
    public init(contentType: String, limits: MultipartLimits = MultipartLimits()) throws(MultipartError) {
        guard let boundary = Self.boundary(in: contentType) else { throw .malformed("no valid boundary") }
        self.init(boundary: boundary, limits: limits)
    }

    /// Creates a parser for `boundary`.
    ///
    /// - Parameters:
    ///   - boundary: the boundary, without the leading `--`.
    ///   - limits: the bounds.
    public init(boundary: String, limits: MultipartLimits = MultipartLimits()) {
        self.limits = limits
        // Every boundary is "CRLF--boundary"; the body is framed as if a CRLF came before its first byte, so
        // a boundary on the very first line is found the same way.
        self.delimiter = Array("\r\n--\(boundary)".utf8)
        self.framer = ChatFramer(terminator: .delimiter(delimiter), maxDelimitedLength: limits.maxPreambleBytes)
        framer.append(ByteBuffer(string: "\r\n"))
    }

    /// The `boundary` parameter of a multipart `Content-Type`, or nil. Split on `;` and `=` bytes, never on
    /// Characters (a combining mark after a `;` would hide it from a Character split).
    public static func boundary(in contentType: String) -> String? {
        let semicolon = UInt8(ascii: ";")
        let parts = contentType.utf8.split(separator: semicolon, omittingEmptySubsequences: false)
        guard let type = parts.first, Self.ows(type).lowercased().hasPrefix("multipart/") else { return nil }
        for param in parts.dropFirst() {
            guard let equals = param.firstIndex(of: UInt8(ascii: "=")) else { continue }
            guard Self.ows(param[..<equals]).lowercased() == "boundary" else { continue }
            var value = Array(HTTPGrammar.trimmingOWS(param[param.index(after: equals)...]))
            let quote = UInt8(ascii: "\"")
            if value.count >= 2, value.first == quote, value.last == quote { value = Array(value.dropFirst().dropLast()) }
            guard (1...70).contains(value.count), value.last != UInt8(ascii: " "),
                value.allSatisfy({ $0 >= 0x20 && $0 < 0x7F })
            else { return nil }
            return String(decoding: value, as: UTF8.self)
        }
        return nil
    }

    /// `bytes` without OWS, as a String.
    private static func ows(_ bytes: Substring.UTF8View) -> String {
        String(decoding: HTTPGrammar.trimmingOWS(bytes), as: UTF8.self)
    }

    /// Adds bytes of the body.
    public mutating func append(_ bytes: ByteBuffer) {
        framer.append(bytes)
    }

    /// The next event, or nil when more bytes are needed.
    ///
    /// - Throws: ``MultipartError`` for a malformed or over-large body.
    public mutating func next() throws(MultipartError) -> MultipartEvent? {
        while true {
            let event: ChatEvent?
            do {
                event = try framer.next()
            } catch {
                switch state {
                case .headers: throw .tooLarge("a part's header line is too long")
                default: throw .malformed("no boundary where one was expected")
                }
            }
            guard let event else { return nil }
            switch (state, event) {
            case (.preamble, .data):
                continue  // RFC 2046: the preamble is ignored
            case (.preamble, .terminator), (.data, .terminator):
                let wasData = state == .data
                state = .boundaryLine
                framer.terminator = .delimiter("\r\n")
                framer.maxDelimitedLength = 256
                line.clear()
                if wasData { return .partEnd }
            case (.boundaryLine, .data(var bytes)):
                line.writeBuffer(&bytes)
            case (.boundaryLine, .terminator):
                // "--" closes the body; otherwise only transport padding (spaces, tabs) may follow (RFC 2046).
                // Decided on bytes: a combining mark after "--" must not turn the close into another line.
                if Self.isClose(line) {
                    state = .epilogue
                    ended = true
                    framer.terminator = .none
                    return .end
                }
                guard line.readableBytesView.allSatisfy({ $0 == 32 || $0 == 9 }) else { throw .malformed("bad boundary line") }
                parts += 1
                if parts > limits.maxParts { throw .tooLarge("more than \(limits.maxParts) parts") }
                state = .headers
                headers = []
                headerBytes = 0
                line.clear()
                framer.maxDelimitedLength = limits.maxPartHeaderBytes
            case (.headers, .data(var bytes)):
                headerBytes += bytes.readableBytes
                if headerBytes > limits.maxPartHeaderBytes { throw .tooLarge("part headers too large") }
                line.writeBuffer(&bytes)
            case (.headers, .terminator):
                if line.readableBytes == 0 {
                    let head = try makeHead()
                    state = .data
                    framer.terminator = .delimiter(delimiter)
                    framer.maxDelimitedLength = Int.max
                    return .partHead(head)
                }
                try parseHeaderLine()
                line.clear()
                headerBytes += 2
            case (.data, .data(let bytes)):
                return .partData(bytes)
            case (.epilogue, .data):
                continue  // RFC 2046: the epilogue is ignored
            case (.epilogue, .terminator):
                continue
            }
        }
    }

    /// Call at the end of the body. A closing boundary without its final CRLF counts as closing.
    ///
    /// - Throws: ``MultipartError/malformed(_:)`` unless the closing boundary was seen.
    public mutating func finish() throws(MultipartError) {
        if !ended, state == .boundaryLine, Self.isClose(line) { ended = true }
        guard ended else { throw .malformed("the body ended before its closing boundary") }
    }

    /// Whether a boundary line's rest starts with `--` (the close delimiter), on bytes.
    private static func isClose(_ line: ByteBuffer) -> Bool {
        line.readableBytesView.starts(with: [UInt8(ascii: "-"), UInt8(ascii: "-")])
    }

    private mutating func parseHeaderLine() throws(MultipartError) {
        let bytes = line.readableBytesView
        guard let colon = bytes.firstIndex(of: UInt8(ascii: ":")) else { throw .malformed("bad part header") }
        let name = bytes[..<colon]
        guard !name.isEmpty, name.allSatisfy({ HTTPGrammar.isTokenByte[Int($0)] }) else {
            throw .malformed("bad part header name")
        }
        var value = bytes[bytes.index(after: colon)...]
        while let f = value.first, f == 0x20 || f == 0x09 { value = value.dropFirst() }
        while let l = value.last, l == 0x20 || l == 0x09 { value = value.dropLast() }
        guard value.allSatisfy({ HTTPGrammar.isValueByte($0) }) else { throw .malformed("bad part header value") }
        headers.append((String(decoding: name, as: UTF8.self).lowercased(), String(decoding: value, as: UTF8.self)))
    }

    private func makeHead() throws(MultipartError) -> MultipartPartHead {
        guard let disposition = headers.first(where: { $0.0 == "content-disposition" })?.1 else {
            throw .malformed("a part without Content-Disposition")
        }
        let params = Self.dispositionParameters(disposition)
        guard params.type == "form-data", let name = params.values["name"] else {
            throw .malformed("Content-Disposition is not form-data with a name")
        }
        let filename = params.values["filename"].flatMap(Self.sanitizeFilename)
        return MultipartPartHead(
            name: name, filename: filename,
            contentType: headers.first { $0.0 == "content-type" }?.1,
            headers: headers.map { (name: $0.0, value: $0.1) }
        )
    }

    /// `form-data; name="a"; filename="b.txt"` -> ("form-data", [name: a, filename: b.txt]). Quoted values may
    /// hold `;`. Read on bytes, never on Characters: a combining mark after a `"` or `;` must not hide it.
    ///
    /// In a quoted value a backslash escapes only a tspecial (`()<>@,;:\"/[]?=`, as Go's `mime` package
    /// reads it): browsers send a file's path or name with its backslashes unescaped (old ones send a whole
    /// Windows path, `C:\Windows\x.txt`), and curl escapes only `"` and `\`, so `\W` stays two characters and
    /// ``sanitizeFilename(_:)`` still sees the separators.
    static func dispositionParameters(_ value: String) -> (type: String, values: [String: String]) {
        let bytes = Array(value.utf8)
        var i = 0
        let semicolon = UInt8(ascii: ";"), equals = UInt8(ascii: "="), quote = UInt8(ascii: "\""), backslash = UInt8(ascii: "\\")
        func isOWS(_ b: UInt8) -> Bool { b == 0x20 || b == 0x09 }
        func text(_ slice: ArraySlice<UInt8>) -> String {
            var s = slice
            while let f = s.first, isOWS(f) { s = s.dropFirst() }
            while let l = s.last, isOWS(l) { s = s.dropLast() }
            return String(decoding: s, as: UTF8.self)
        }
        func takeToken() -> String {
            let start = i
            while i < bytes.count, bytes[i] != semicolon, bytes[i] != equals { i += 1 }
            return text(bytes[start..<i])
        }
        var values: [String: String] = [:]
        let type = takeToken().lowercased()
        while i < bytes.count, bytes[i] == semicolon {
            i += 1
            let key = takeToken().lowercased()
            guard i < bytes.count, bytes[i] == equals else { continue }
            i += 1
            while i < bytes.count, isOWS(bytes[i]) { i += 1 }
            var v: [UInt8] = []
            if i < bytes.count, bytes[i] == quote {
                i += 1
                while i < bytes.count, bytes[i] != quote {
                    if bytes[i] == backslash, i + 1 < bytes.count, Self.isTSpecial(bytes[i + 1]) {
                        v.append(bytes[i + 1])
                        i += 2
                    } else {
                        v.append(bytes[i])
                        i += 1
                    }
                }
                while i < bytes.count, bytes[i] != semicolon { i += 1 }  // the closing quote and anything after it
            } else {
                let start = i
                while i < bytes.count, bytes[i] != semicolon { i += 1 }
                v = Array(text(bytes[start..<i]).utf8)
            }
            if !key.isEmpty, values[key] == nil { values[key] = String(decoding: v, as: UTF8.self) }
        }
        return (type, values)
    }

    /// Whether `byte` is one of RFC 2045's tspecials.
    private static func isTSpecial(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "("), UInt8(ascii: ")"), UInt8(ascii: "<"), UInt8(ascii: ">"), UInt8(ascii: "@"), UInt8(ascii: ","),
            UInt8(ascii: ";"), UInt8(ascii: ":"), UInt8(ascii: "\\"), UInt8(ascii: "\""), UInt8(ascii: "/"), UInt8(ascii: "["),
            UInt8(ascii: "]"), UInt8(ascii: "?"), UInt8(ascii: "="):
            return true
        default:
            return false
        }
    }

    /// A file name safe to show and to store inside a folder, decided on Unicode scalars (never on Characters,
    /// where a format or combining scalar joins the separator after it into one Character a split misses):
    ///
    /// 1. only what follows the last `/` or `\` scalar (RFC 7578 §4.2; an old browser on Windows sends the
    ///    whole path, `C:\Users\me\x.txt` gives `x.txt`); a name ending in a separator names no file;
    /// 2. without controls, format characters (bidi overrides and isolates, zero-width characters, U+06DD)
    ///    and line and paragraph separators, which make a name display as another or break a line;
    /// 3. without leading and trailing dots and spaces (any space separator), so the result is never `.`,
    ///    `..` or a dotfile, and ends in no dot or space (Windows drops those);
    /// 4. at most 255 UTF-8 bytes (scalars dropped from the end, then step 3 again).
    ///
    /// The result has no `/`, `\`, NUL or other control. nil means "no usable name": the part's `filename`
    /// was empty (a browser's file input with no file chosen sends `filename=""`) or nothing was left; the
    /// caller chooses a name of its own or refuses the part, never falls back to the raw value.
    ///
    /// ```swift
    /// MultipartParser.sanitizeFilename("invoice\u{202E}gpj.exe")   // "invoicegpj.exe" (raw, it displays as "invoiceexe.jpg")
    /// MultipartParser.sanitizeFilename("a\u{6DD}/..\u{6DD}/etc\u{6DD}/passwd")   // "passwd"
    /// ```
    public static func sanitizeFilename(_ raw: String) -> String? {
        let all = raw.unicodeScalars
        let start = all.lastIndex { $0 == "/" || $0 == "\\" }.map { all.index(after: $0) } ?? all.startIndex
        var scalars = Array(all[start...]).filter { !isRemovedFromFilenames($0) }
        trimDotsAndSpaces(&scalars)
        var bytes = scalars.reduce(0) { $0 + UTF8.width($1) }
        while bytes > Self.maxFilenameBytes, let last = scalars.popLast() {
            bytes -= UTF8.width(last)
        }
        trimDotsAndSpaces(&scalars)
        guard !scalars.isEmpty else { return nil }
        var view = String.UnicodeScalarView()
        view.append(contentsOf: scalars)
        return String(view)
    }

    /// The longest file name ``sanitizeFilename(_:)`` returns, in UTF-8 bytes (the usual `NAME_MAX`).
    static let maxFilenameBytes = 255

    /// Drops `.` and space separators (Zs) from both ends.
    private static func trimDotsAndSpaces(_ scalars: inout [Unicode.Scalar]) {
        func trimmed(_ s: Unicode.Scalar) -> Bool { s == "." || s.properties.generalCategory == .spaceSeparator }
        while let f = scalars.first, trimmed(f) { scalars.removeFirst() }
        while let l = scalars.last, trimmed(l) { scalars.removeLast() }
    }

    /// Whether `scalar` is taken out of file names: controls (Cc: C0, DEL, and C1 with NEL U+0085), format
    /// characters (Cf: the bidi embeddings, overrides and isolates U+202A-U+202E and U+2066-U+2069, the marks
    /// U+200E/U+200F/U+061C, zero-width spaces and joiners, the soft hyphen, U+FEFF), and the line and paragraph
    /// separators U+2028 and U+2029. Each can make a name display as another (`invoice\u{202E}gpj.exe` shows as
    /// ending in `.jpg`), hide part of it, or break the line it is shown or logged on.
    ///
    /// - Parameter scalar: a scalar of a file name.
    /// - Returns: true when the scalar is removed.
    static func isRemovedFromFilenames(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.properties.generalCategory {
        case .control, .format, .lineSeparator, .paragraphSeparator: return true
        default: return false
        }
    }
}
