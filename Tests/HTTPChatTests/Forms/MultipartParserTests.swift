import NIOCore
import Testing

@testable import HTTPChatCore
@testable import HTTPChatServer

/// A part as the parser delivered it.
struct ParsedPart: Equatable, CustomStringConvertible {
    var name: String
    var filename: String?
    var contentType: String?
    var content: String
    var description: String { "\(name) file=\(filename ?? "-") type=\(contentType ?? "-") \(content.debugDescription)" }
}

func parseMultipart(_ reads: [ByteBuffer], boundary: String = "XyZ", limits: MultipartLimits = MultipartLimits()) -> (parts: [ParsedPart], error: MultipartError?) {
    var parser = MultipartParser(boundary: boundary, limits: limits)
    var parts: [ParsedPart] = []
    var current: ParsedPart?
    do {
        for read in reads {
            parser.append(read)
            while let event = try parser.next() {
                switch event {
                case .partHead(let head): current = ParsedPart(name: head.name, filename: head.filename, contentType: head.contentType, content: "")
                case .partData(let bytes):
                    #expect(bytes.readableBytes > 0)
                    current?.content += String(buffer: bytes)
                case .partEnd:
                    parts.append(current!)
                    current = nil
                case .end: break
                }
            }
        }
        try parser.finish()
    } catch {
        return (parts, error)
    }
    return (parts, nil)
}

@Suite("Multipart parsing")
struct MultipartParserTests {
    static let body = "preamble to ignore\r\n--XyZ\r\nContent-Disposition: form-data; name=\"title\"\r\n\r\nHello\r\nworld\r\n"
        + "--XyZ  \r\nContent-Disposition: form-data; name=\"upload\"; filename=\"../../etc/pass\\\\wd.txt\"\r\nContent-Type: text/plain\r\n\r\n"
        + "line 1\r\nnot --XyZ a boundary\r\n-- XyZ\r\n--XyZ\r\nContent-Disposition: form-data; name=\"empty\"\r\n\r\n\r\n--XyZ--\r\nepilogue"

    static let want = [
        ParsedPart(name: "title", filename: nil, contentType: nil, content: "Hello\r\nworld"),
        ParsedPart(name: "upload", filename: "wd.txt", contentType: "text/plain", content: "line 1\r\nnot --XyZ a boundary\r\n-- XyZ"),
        ParsedPart(name: "empty", filename: nil, contentType: nil, content: ""),
    ]

    @Test("a form with fields, a file and false boundaries parses the same at every split point")
    func everySplit() {
        let bytes = Array(Self.body.utf8)
        var count = 0
        for reads in splits(of: bytes, pairsUpTo: 0) {
            let got = parseMultipart(reads)
            #expect(got.error == nil, "reads \(reads.map(\.readableBytes)): \(String(describing: got.error))")
            #expect(got.parts == Self.want, "reads \(reads.map(\.readableBytes)): \(got.parts)")
            count += 1
        }
        #expect(count > bytes.count)
    }

    @Test("a body that starts with its boundary, and a closing boundary without CRLF, are accepted")
    func edges() {
        let body = "--XyZ\r\nContent-Disposition: form-data; name=a\r\n\r\n1\r\n--XyZ--"
        let got = parseMultipart([ByteBuffer(string: body)])
        #expect(got.error == nil)
        #expect(got.parts == [ParsedPart(name: "a", filename: nil, contentType: nil, content: "1")])
    }

    @Test("a boundary delimiter inside content (followed by other text) makes the body malformed, as RFC 2046 says")
    func delimiterInContent() {
        let body = "--XyZ\r\nContent-Disposition: form-data; name=a\r\n\r\nx\r\n--XyZnope\r\n--XyZ--"
        #expect(parseMultipart([ByteBuffer(string: body)]).error == .malformed("bad boundary line"))
    }

    @Test("malformed bodies are refused", arguments: [
        ("no boundary at all", MultipartError.malformed("the body ended before its closing boundary")),
        ("--XyZ\r\nContent-Type: text/plain\r\n\r\nx\r\n--XyZ--\r\n", .malformed("a part without Content-Disposition")),
        ("--XyZ\r\nContent-Disposition: attachment; name=a\r\n\r\nx\r\n--XyZ--\r\n", .malformed("Content-Disposition is not form-data with a name")),
        ("--XyZ\r\nContent-Disposition: form-data; name=a\r\n\r\nnever closed", .malformed("the body ended before its closing boundary")),
        ("--XyZ junk\r\nContent-Disposition: form-data; name=a\r\n\r\nx\r\n--XyZ--", .malformed("bad boundary line")),
        ("--XyZ\r\nBad Header: 1\r\n\r\nx\r\n--XyZ--", .malformed("bad part header name")),
    ])
    func malformed(_ body: String, _ want: MultipartError) {
        #expect(parseMultipart([ByteBuffer(string: body)]).error == want)
    }

    @Test("limits: too many parts and over-long part headers are 'too large'")
    func limits() {
        var limits = MultipartLimits()
        limits.maxParts = 2
        let three = (0..<3).map { "--XyZ\r\nContent-Disposition: form-data; name=f\($0)\r\n\r\nv\r\n" }.joined() + "--XyZ--\r\n"
        #expect(parseMultipart([ByteBuffer(string: three)], limits: limits).error == .tooLarge("more than 2 parts"))
        limits = MultipartLimits()
        limits.maxPartHeaderBytes = 64
        let long = "--XyZ\r\nContent-Disposition: form-data; name=\"" + String(repeating: "n", count: 200) + "\"\r\n\r\nv\r\n--XyZ--"
        #expect(parseMultipart([ByteBuffer(string: long)], limits: limits).error != nil)
    }

    @Test("a 20 MiB file part streams through in slices, never collected by the parser")
    func largeFileStreams() throws {
        var parser = MultipartParser(boundary: "XyZ")
        parser.append(ByteBuffer(string: "--XyZ\r\nContent-Disposition: form-data; name=f; filename=big.bin\r\n\r\n"))
        let chunk = ByteBuffer(repeating: 0x5A, count: 64 * 1024)
        var received = 0
        var largestEvent = 0
        for _ in 0..<320 {
            parser.append(chunk)
            while let event = try parser.next() {
                if case .partData(let b) = event {
                    received += b.readableBytes
                    largestEvent = max(largestEvent, b.readableBytes)
                }
            }
        }
        parser.append(ByteBuffer(string: "\r\n--XyZ--\r\n"))
        while let event = try parser.next() {
            if case .partData(let b) = event { received += b.readableBytes }
        }
        try parser.finish()
        #expect(received == 320 * 64 * 1024)
        #expect(largestEvent <= 64 * 1024)
    }

    @Test("file names lose the characters that make them display as another name or break a line", arguments: [
        ("invoice\u{202E}gpj.exe", "invoicegpj.exe"),  // RIGHT-TO-LEFT OVERRIDE: shown as "invoiceexe.jpg"
        ("report\u{2067}fdp.\u{2069}exe", "reportfdp.exe"),  // RIGHT-TO-LEFT ISOLATE ... POP DIRECTIONAL ISOLATE
        ("a\u{202A}b\u{202B}c\u{202C}d\u{202D}e", "abcde"),  // the other embeddings and overrides
        ("a\u{200E}b\u{200F}c\u{061C}d", "abcd"),  // LRM, RLM, ARABIC LETTER MARK
        ("pay\u{200B}pal\u{200C}\u{200D}\u{2060}.png", "paypal.png"),  // zero-width space, non-joiner, joiner, word joiner
        ("\u{FEFF}bom.txt\u{00AD}", "bom.txt"),  // BOM and soft hyphen
        ("line\u{2028}two\u{2029}three.txt", "linetwothree.txt"),  // LINE and PARAGRAPH SEPARATOR
        ("nel\u{85}c1\u{9B}31m.txt", "nelc131m.txt"),  // NEL and CSI: C1 controls
        ("a\u{0}b\u{1B}c\u{7F}d.txt", "abcd.txt"),  // C0 controls and DEL
        ("\u{202E} .\u{200B}", nil),  // nothing left once they are gone
        ("Résumé 2024 — ok.pdf", "Résumé 2024 — ok.pdf"),  // letters, spaces and punctuation stay
        ("日本語ファイル.txt", "日本語ファイル.txt"),
    ] as [(String, String?)])
    func invisibleCharactersRemoved(_ raw: String, _ want: String?) {
        let got = MultipartParser.sanitizeFilename(raw)
        #expect(got == want, "\(raw.unicodeScalars.map { String($0.value, radix: 16) }): got \(String(describing: got?.debugDescription)), want \(String(describing: want?.debugDescription))")
    }

    @Test("a part whose filename carries a right-to-left override reaches the handler without it, at every split point")
    func bidiFilenameInAPart() {
        let body = "--XyZ\r\nContent-Disposition: form-data; name=\"f\"; filename=\"invoice\u{202E}gpj.exe\"\r\n\r\nMZ\r\n--XyZ--\r\n"
        for reads in splits(of: Array(body.utf8), pairsUpTo: 0) {
            let got = parseMultipart(reads)
            #expect(got.parts == [ParsedPart(name: "f", filename: "invoicegpj.exe", contentType: nil, content: "MZ")], "reads \(reads.map(\.readableBytes)): got \(got.parts)")
        }
    }

    @Test("boundaries come from Content-Type; filenames are sanitized")
    func helpers() {
        #expect(MultipartParser.boundary(in: "multipart/form-data; boundary=----WebKitFormBoundary7MA4YWxk") == "----WebKitFormBoundary7MA4YWxk")
        #expect(MultipartParser.boundary(in: "multipart/form-data; charset=utf-8; boundary=\"a b\"") == "a b")
        #expect(MultipartParser.boundary(in: "text/plain; boundary=x") == nil)
        #expect(MultipartParser.boundary(in: "multipart/form-data") == nil)
        #expect(MultipartParser.boundary(in: "multipart/form-data; boundary=" + String(repeating: "x", count: 71)) == nil)
        #expect(MultipartParser.sanitizeFilename("C:\\Users\\me\\photo.jpg") == "photo.jpg")
        #expect(MultipartParser.sanitizeFilename("../../etc/passwd") == "passwd")
        #expect(MultipartParser.sanitizeFilename("a\u{0}b\u{1F}c.txt") == "abc.txt")
        #expect(MultipartParser.sanitizeFilename("..") == nil)
        #expect(MultipartParser.sanitizeFilename(String(repeating: "é", count: 300))!.utf8.count <= 255)
    }
}

// MARK: - File names decided on Unicode scalars

@Suite("Multipart file names")
struct MultipartFilenameTests {
    /// One scalar of every general category (but surrogates, which a String cannot hold), with a few that
    /// join the scalar after them into one Character: a split on Characters misses a separator behind them.
    static let representatives: [(Unicode.Scalar, Unicode.GeneralCategory)] = [
        ("A", .uppercaseLetter), ("a", .lowercaseLetter), ("\u{01C5}", .titlecaseLetter), ("\u{02B0}", .modifierLetter),
        ("\u{05D0}", .otherLetter), ("\u{1160}", .otherLetter), ("\u{0301}", .nonspacingMark), ("\u{FE0F}", .nonspacingMark),
        ("\u{0903}", .spacingMark), ("\u{20DD}", .enclosingMark), ("1", .decimalNumber), ("\u{2160}", .letterNumber),
        ("\u{00B2}", .otherNumber), ("_", .connectorPunctuation), ("-", .dashPunctuation), ("(", .openPunctuation),
        (")", .closePunctuation), ("\u{00AB}", .initialPunctuation), ("\u{00BB}", .finalPunctuation), (".", .otherPunctuation),
        ("+", .mathSymbol), ("$", .currencySymbol), ("^", .modifierSymbol), ("\u{1F3FB}", .modifierSymbol),
        ("\u{00A9}", .otherSymbol), ("\u{1F1E6}", .otherSymbol), (" ", .spaceSeparator), ("\u{3000}", .spaceSeparator),
        ("\u{2028}", .lineSeparator), ("\u{2029}", .paragraphSeparator), ("\u{0}", .control), ("\u{0D}", .control),
        ("\u{85}", .control), ("\u{06DD}", .format), ("\u{200D}", .format), ("\u{202E}", .format), ("\u{0600}", .format),
        ("\u{E000}", .privateUse), ("\u{0378}", .unassigned),
    ]

    /// Checks what `sanitizeFilename` must never return.
    static func problems(_ name: String?) -> [String] {
        guard let name else { return [] }
        var found: [String] = []
        if name.unicodeScalars.contains(where: { $0 == "/" || $0 == "\\" }) { found.append("a separator") }
        if name.isEmpty { found.append("empty") }
        if name.utf8.first == UInt8(ascii: ".") { found.append("a leading dot") }
        if name.utf8.count > 255 { found.append("over 255 bytes") }
        if name.unicodeScalars.contains(where: {
            [.control, .format, .lineSeparator, .paragraphSeparator].contains($0.properties.generalCategory)
        }) { found.append("a control, format or line-separator scalar") }
        return found
    }

    @Test("the representative table holds one scalar of each general category it claims")
    func tableIsHonest() {
        for (scalar, category) in Self.representatives {
            #expect(scalar.properties.generalCategory == category, "U+\(String(scalar.value, radix: 16)): got \(scalar.properties.generalCategory), want \(category)")
        }
        let covered = Set(Self.representatives.map { "\($0.1)" })
        #expect(covered.count == 29, "categories covered: \(covered.count) of 29 (all but surrogates)")
    }

    @Test("a scalar of any general category before or after / or \\ never lets a separator, a dot name or a control through")
    func everyCategoryAroundSeparators() {
        for (r, _) in Self.representatives {
            for sep in ["/", "\\"] {
                let r = String(r)
                let cases = [
                    "a\(r)\(sep)b", "a\(sep)\(r)b", "\(r)\(sep)\(r)", "\(r)\(sep)", "\(sep)\(r)", "\(r)\(sep)..\(r)",
                    "\(r).\(sep).\(r)", "..\(r)\(sep)..\(r)", ".\(r)", "\(r).", "\(r)\(r)\(sep)\(r)\(r)name\(r)\(r)",
                    "a\(r)\(sep)..\(r)\(sep)..\(r)\(sep)etc\(r)\(sep)passwd",
                    String(repeating: "é", count: 126) + "\(r)\(sep)" + String(repeating: "\(r)é", count: 200),
                ]
                for raw in cases {
                    let got = MultipartParser.sanitizeFilename(raw)
                    let bad = Self.problems(got)
                    #expect(bad.isEmpty, "\(raw.unicodeScalars.map { String($0.value, radix: 16) }): got \(String(describing: got?.debugDescription)) with \(bad)")
                }
                let path = "dir\(r)\(sep)..\(r)\(sep)..\(r)\(sep)passwd"
                #expect(MultipartParser.sanitizeFilename(path) == "passwd", "\(path.debugDescription): got \(String(describing: MultipartParser.sanitizeFilename(path)))")
            }
        }
    }

    @Test("U+06DD before each / or \\ no longer hides it: the attack's path comes back as its last name")
    func formatScalarHidingSeparator() {
        #expect(MultipartParser.sanitizeFilename("a\u{06dd}/..\u{06dd}/..\u{06dd}/etc\u{06dd}/passwd") == "passwd")
        #expect(MultipartParser.sanitizeFilename("a\u{06dd}\\..\u{06dd}\\..\u{06dd}\\etc\u{06dd}\\passwd") == "passwd")
        #expect(MultipartParser.sanitizeFilename("x\u{0301}/.\u{0301}htaccess") == "\u{0301}htaccess")
        #expect(MultipartParser.sanitizeFilename("..\u{200B}") == nil)
        #expect(MultipartParser.sanitizeFilename("dir/") == nil)
        #expect(MultipartParser.sanitizeFilename("") == nil)
        #expect(MultipartParser.sanitizeFilename("\u{3000}report.pdf.\u{A0}") == "report.pdf")
    }

    @Test("a part's filename with U+06DD before each separator arrives as its last name, slash and backslash forms")
    func formatScalarInAPart() {
        for raw in ["a\u{06dd}/..\u{06dd}/..\u{06dd}/etc\u{06dd}/passwd", "a\u{06dd}\\..\u{06dd}\\..\u{06dd}\\etc\u{06dd}\\passwd"] {
            let body = "--XyZ\r\nContent-Disposition: form-data; name=\"f\"; filename=\"\(raw)\"\r\n\r\nroot\r\n--XyZ--\r\n"
            let got = parseMultipart([ByteBuffer(string: body)])
            #expect(got.error == nil && got.parts == [ParsedPart(name: "f", filename: "passwd", contentType: nil, content: "root")], "got \(got.parts) \(String(describing: got.error))")
        }
    }

    @Test("a whole Windows path in a quoted filename keeps its last component; a backslash escapes only tspecials")
    func windowsPathFilename() {
        let cases: [(String, String?)] = [
            ("C:\\Windows\\x.txt", "x.txt"),  // an old browser on Windows: the whole path, backslashes as they are
            ("\\\\server\\share\\report.pdf", "report.pdf"),  // a UNC path
            ("photo.jpg", "photo.jpg"),
            ("a\\\\b.txt", "b.txt"),  // curl's escaped backslash: a\b.txt
            ("say \\\"hi\\\".txt", "say \"hi\".txt"),  // escaped quotes
            ("C:\\dir\\\\", nil),  // a folder (its last backslash escaped, as curl sends it): no file
        ]
        for (wire, want) in cases {
            let params = MultipartParser.dispositionParameters("form-data; name=\"f\"; filename=\"\(wire)\"")
            let got = params.values["filename"].flatMap(MultipartParser.sanitizeFilename)
            #expect(got == want, "filename=\"\(wire)\": got \(String(describing: got)), want \(String(describing: want))")
        }
    }

    @Test("Content-Disposition is read on bytes: a combining mark after a closing quote or ; hides neither")
    func dispositionOnBytes() {
        let params = MultipartParser.dispositionParameters("form-data; name=\"a\"\u{0301}; filename=\"evil.txt\"")
        #expect(params.values["name"] == "a" && params.values["filename"] == "evil.txt", "got \(params.values)")
        let unquoted = MultipartParser.dispositionParameters("form-data; name=a;\u{0301} filename=b.txt")
        #expect(unquoted.values["name"] == "a", "got \(unquoted.values)")
        #expect(MultipartParser.boundary(in: "multipart/form-data; boundary=abc;\u{0301} charset=x") == "abc")
    }
}
