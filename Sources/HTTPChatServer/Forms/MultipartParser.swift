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
    /// The file name, sanitized (``MultipartParser/sanitizeFilename(_:)``): no directories, no control, format
    /// (bidi) or line-separator characters, at most 255 bytes; nil for a plain field.
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

    /// The `boundary` parameter of a multipart `Content-Type`, or nil.
    public static func boundary(in contentType: String) -> String? {
        let parts = contentType.split(separator: ";")
        guard let type = parts.first, type.trimmingOWS().lowercased().hasPrefix("multipart/") else { return nil }
        for param in parts.dropFirst() {
            let kv = param.split(separator: "=", maxSplits: 1)
            guard kv.count == 2, kv[0].trimmingOWS().lowercased() == "boundary" else { continue }
            var value = kv[1].trimmingOWS()
            if value.hasPrefix("\"") && value.hasSuffix("\"") && value.count >= 2 { value = value.dropFirst().dropLast() }
            guard (1...70).contains(value.utf8.count), !value.hasSuffix(" "),
                value.utf8.allSatisfy({ $0 >= 0x20 && $0 < 0x7F })
            else { return nil }
            return String(value)
        }
        return nil
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
                let text = String(buffer: line)
                if text.hasPrefix("--") {
                    state = .epilogue
                    ended = true
                    framer.terminator = .none
                    return .end
                }
                guard text.utf8.allSatisfy({ $0 == 32 || $0 == 9 }) else { throw .malformed("bad boundary line") }
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
        if !ended, state == .boundaryLine, String(buffer: line).hasPrefix("--") { ended = true }
        guard ended else { throw .malformed("the body ended before its closing boundary") }
    }

    private mutating func parseHeaderLine() throws(MultipartError) {
        let text = String(buffer: line)
        guard let colon = text.firstIndex(of: ":") else { throw .malformed("bad part header") }
        let name = text[..<colon]
        guard !name.isEmpty, name.utf8.allSatisfy({ HTTPGrammar.isTokenByte[Int($0)] }) else {
            throw .malformed("bad part header name")
        }
        let value = text[text.index(after: colon)...].trimmingOWS()
        guard value.utf8.allSatisfy({ HTTPGrammar.isValueByte($0) }) else { throw .malformed("bad part header value") }
        headers.append((name.lowercased(), String(value)))
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
    /// hold `;` and escaped quotes.
    static func dispositionParameters(_ value: String) -> (type: String, values: [String: String]) {
        var values: [String: String] = [:]
        var chars = Substring(value)
        func takeToken() -> String {
            let end = chars.firstIndex { $0 == ";" || $0 == "=" } ?? chars.endIndex
            defer { chars = chars[end...] }
            return String(chars[..<end].trimmingOWS())
        }
        let type = takeToken().lowercased()
        while chars.first == ";" {
            chars = chars.dropFirst()
            let key = takeToken().lowercased()
            guard chars.first == "=" else { continue }
            chars = chars.dropFirst()
            chars = chars.droppingLeadingOWS()
            var v = ""
            if chars.first == "\"" {
                chars = chars.dropFirst()
                while let c = chars.first, c != "\"" {
                    if c == "\\", let next = chars.dropFirst().first {
                        v.append(next)
                        chars = chars.dropFirst(2)
                    } else {
                        v.append(c)
                        chars = chars.dropFirst()
                    }
                }
                chars = chars.dropFirst()
                chars = chars.drop { $0 != ";" }
            } else {
                let end = chars.firstIndex(of: ";") ?? chars.endIndex
                v = String(chars[..<end].trimmingOWS())
                chars = chars[end...]
            }
            if !key.isEmpty, values[key] == nil { values[key] = v }
        }
        return (type, values)
    }

    /// A file name safe to show and to use inside a folder: the last path component (of `/` or `\`), without
    /// controls, format characters (bidi overrides and isolates, zero-width characters) and line and paragraph
    /// separators, which make a name display as another or break a line, not `.` or `..`, with no
    /// leading or trailing spaces or dots, at most 255 bytes; nil when nothing is left.
    ///
    /// ```swift
    /// MultipartParser.sanitizeFilename("invoice\u{202E}gpj.exe")   // "invoicegpj.exe" (raw, it displays as "invoiceexe.jpg")
    /// ```
    public static func sanitizeFilename(_ raw: String) -> String? {
        let last = raw.split(whereSeparator: { $0 == "/" || $0 == "\\" }).last.map(String.init) ?? ""
        var scalars = String.UnicodeScalarView()
        scalars.append(contentsOf: last.unicodeScalars.filter { !isRemovedFromFilenames($0) })
        var name = String(scalars)
        name = name.trimmingCharacters(in: " .")
        guard !name.isEmpty else { return nil }
        while name.utf8.count > 255 { name.removeLast() }
        return name
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

extension String {
    func trimmingCharacters(in set: String) -> String {
        var s = Substring(self)
        while let f = s.first, set.contains(f) { s.removeFirst() }
        while let l = s.last, set.contains(l) { s.removeLast() }
        return String(s)
    }
}
