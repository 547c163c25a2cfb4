import HTTPTypes
import Testing

@testable import HTTPChatCore
@testable import HTTPChatServer

@Suite("Range, validator and negotiation parsing")
struct FileHeaderParsingTests {
    @Test("byte ranges resolve against a length", arguments: [
        ("bytes=0-499", 1000, ByteRanges.Resolution.ranges([0..<500])),
        ("bytes=500-", 1000, .ranges([500..<1000])),
        ("bytes=-200", 1000, .ranges([800..<1000])),
        ("bytes=-2000", 1000, .ranges([0..<1000])),
        ("bytes=900-5000", 1000, .ranges([900..<1000])),
        ("bytes=0-0,-1", 1000, .ranges([0..<1, 999..<1000])),
        ("bytes=0-99,50-149,400-499", 1000, .ranges([0..<150, 400..<500])),
        ("bytes=0-9,20-29", 1000, .ranges([0..<30])),
        ("bytes=0-9, 200-209", 1000, .ranges([0..<10, 200..<210])),
        ("BYTES = 1-2", 10, .ranges([1..<3])),
        ("bytes=1000-", 1000, .unsatisfiable),
        ("bytes=-0", 1000, .unsatisfiable),
        ("bytes=5-", 0, .unsatisfiable),
        ("bytes=5-1", 1000, .whole),
        ("bytes=a-b", 1000, .whole),
        ("items=0-1", 1000, .whole),
        ("bytes=", 1000, .whole),
        ("bytes=0-99999999999999999999999", 1000, .ranges([0..<1000])),
    ])
    func ranges(_ header: String, _ length: Int, _ want: ByteRanges.Resolution) {
        #expect(ByteRanges.resolve(header, length: length) == want, "\(header)")
    }

    @Test("more range-specs than the cap are ignored as abuse")
    func rangeCap() {
        let many = "bytes=" + (0..<20).map { "\($0 * 1000)-\($0 * 1000 + 1)" }.joined(separator: ",")
        #expect(ByteRanges.resolve(many, length: 100_000, maxRanges: 16) == .whole)
        #expect(ByteRanges.resolve(many, length: 100_000, maxRanges: 32) != .whole)
    }

    @Test("HTTP-dates parse in all three forms and format as IMF-fixdate")
    func dates() {
        let want = 784_111_777
        #expect(HTTPDate.parse("Sun, 06 Nov 1994 08:49:37 GMT") == want)
        #expect(HTTPDate.parse("Sunday, 06-Nov-94 08:49:37 GMT") == want)
        #expect(HTTPDate.parse("Sun Nov  6 08:49:37 1994") == want)
        #expect(HTTPDate.format(want) == "Sun, 06 Nov 1994 08:49:37 GMT")
        #expect(HTTPDate.parse("Sun, 06 Nov 1994 25:49:37 GMT") == nil)
        #expect(HTTPDate.parse("yesterday") == nil)
    }

    @Test("a date with an absurd year is invalid, not a crash (found by fuzzing)")
    func absurdYear() {
        #expect(HTTPDate.parse("Sit, 01 Jan 207777099999999990 00:00:00 GMT") == nil)
        #expect(HTTPDate.parse("Sun, 01 Jan 99999999999 00:00:00 GMT") == nil)
        #expect(HTTPDate.parse("Sun Jan  1 00:00:00 9223372036854775807") == nil)
        #expect(HTTPDate.parse("Fri, 31 Dec 9999 23:59:59 GMT") != nil)
        var fields = HTTPFields()
        fields[.ifUnmodifiedSince] = "Sit, 01 Jan 207777099999999990 00:00:00 GMT"
        fields[.ifModifiedSince] = "Sit, 01 Jan 207777099999999990 00:00:00 GMT"
        #expect(Self.v.evaluate(fields, method: .get) == .proceed)
    }

    static let v = Validators(etag: "\"abc\"", lastModified: 1_000_000)
    static let before = HTTPDate.format(999_999)
    static let at = HTTPDate.format(1_000_000)

    @Test("conditional requests follow RFC 9110 §13.2.2", arguments: [
        ([HTTPField.Name.ifNoneMatch: "\"abc\""], HTTPRequest.Method.get, Precondition.notModified),
        ([.ifNoneMatch: "W/\"abc\""], .get, .notModified),
        ([.ifNoneMatch: "\"x\", \"abc\""], .get, .notModified),
        ([.ifNoneMatch: "*"], .get, .notModified),
        ([.ifNoneMatch: "\"x\""], .get, .proceed),
        ([.ifNoneMatch: "\"abc\""], .post, .failed),
        ([.ifMatch: "\"abc\""], .get, .proceed),
        ([.ifMatch: "W/\"abc\""], .get, .failed),
        ([.ifMatch: "\"zzz\""], .get, .failed),
        ([.ifMatch: "*"], .get, .proceed),
        ([.ifModifiedSince: at], .get, .notModified),
        ([.ifModifiedSince: before], .get, .proceed),
        ([.ifModifiedSince: "garbage"], .get, .proceed),
        ([.ifNoneMatch: "\"x\"", .ifModifiedSince: at], .get, .proceed),
        ([.ifUnmodifiedSince: before], .get, .failed),
        ([.ifUnmodifiedSince: at], .get, .proceed),
        ([.range: "bytes=0-1", .ifRange: "\"abc\""], .get, .proceed),
        ([.range: "bytes=0-1", .ifRange: "\"old\""], .get, .proceedIgnoringRange),
        ([.range: "bytes=0-1", .ifRange: "W/\"abc\""], .get, .proceedIgnoringRange),
        ([.range: "bytes=0-1", .ifRange: at], .get, .proceed),
        ([.range: "bytes=0-1", .ifRange: before], .get, .proceedIgnoringRange),
    ] as [([HTTPField.Name: String], HTTPRequest.Method, Precondition)])
    func conditionals(_ fields: [HTTPField.Name: String], _ method: HTTPRequest.Method, _ want: Precondition) {
        var f = HTTPFields()
        for (k, value) in fields { f[k] = value }
        #expect(Self.v.evaluate(f, method: method) == want, "\(fields)")
    }

    static let file = (device: UInt64(2049), inode: UInt64(0x1234_5678_9ABC), size: 4096, seconds: 1_700_000_000, nanoseconds: 123_456_789)

    static func tag(device: UInt64 = file.device, inode: UInt64 = file.inode, size: Int = file.size,
                    seconds: Int = file.seconds, nanoseconds: Int = file.nanoseconds) -> String {
        Validators.forFile(device: device, inode: inode, size: size, mtimeSeconds: seconds, mtimeNanoseconds: nanoseconds).etag
    }

    @Test("a file's ETag is a strong 64-bit hash that shows neither its inode nor its device")
    func etagHidesTheInode() {
        let tag = Self.tag()
        #expect(tag.count == 18 && tag.hasPrefix("\"") && tag.hasSuffix("\""), "got \(tag)")
        let hexDigits = tag.dropFirst().dropLast().allSatisfy { $0.isHexDigit }
        #expect(hexDigits, "got \(tag)")
        for shown in [String(Self.file.inode, radix: 16), String(Self.file.inode), String(Self.file.device, radix: 16), String(Self.file.device)] {
            #expect(!tag.lowercased().contains(shown), "\(tag) shows \(shown)")
        }
        #expect(Validators.forFile(device: 1, inode: 2, size: 3, mtimeSeconds: 4, mtimeNanoseconds: 5).lastModified == 4)
    }

    @Test("a file's ETag is the same in every process and after a restart: pinned to its FNV-1a value")
    func etagIsStable() {
        // FNV-1a 64 of device, inode, size, mtime ns (eight little-endian bytes each), computed independently.
        #expect(Self.tag() == "\"c935a35f82c87c86\"", "got \(Self.tag())")
        #expect(Self.tag(device: 0, inode: 1, size: 0, seconds: 0, nanoseconds: 0) == "\"e5da673c90210b44\"")
    }

    @Test("a file's ETag changes when its device, inode, size, mtime seconds or nanoseconds change")
    func etagChangesWithTheFile() {
        let base = Self.tag()
        let changed = [
            Self.tag(device: Self.file.device + 1), Self.tag(inode: Self.file.inode + 1), Self.tag(size: Self.file.size + 1),
            Self.tag(seconds: Self.file.seconds + 1), Self.tag(nanoseconds: Self.file.nanoseconds + 1),
        ]
        for (i, tag) in changed.enumerated() { #expect(tag != base, "change \(i) kept \(base)") }
        #expect(Set(changed).count == changed.count)
    }

    @Test("gzip negotiation honours q-values and *")
    func acceptEncoding() {
        func accepts(_ v: String?) -> Bool {
            var f = HTTPFields()
            if let v { f[.acceptEncoding] = v }
            return ContentNegotiation.acceptsGzip(f)
        }
        #expect(accepts("gzip"))
        #expect(accepts("br, gzip;q=0.5"))
        #expect(accepts("GZIP"))
        #expect(accepts("*"))
        #expect(!accepts("gzip;q=0"))
        #expect(!accepts("*;q=0"))
        #expect(!accepts("gzip;q=0, *"))
        #expect(!accepts("br"))
        #expect(!accepts("identity"))
        #expect(!accepts(nil))
    }

    @Test("content types come from the extension; text carries a charset")
    func mediaTypes() {
        #expect(MediaTypes.type(forName: "a/b/index.HTML") == "text/html; charset=utf-8")
        #expect(MediaTypes.type(forName: "app.mjs") == "text/javascript; charset=utf-8")
        #expect(MediaTypes.type(forName: "x.wasm") == "application/wasm")
        #expect(MediaTypes.type(forName: "font.woff2") == "font/woff2")
        #expect(MediaTypes.type(forName: "Makefile") == "application/octet-stream")
        #expect(MediaTypes.type(forName: ".bashrc") == "application/octet-stream")
        #expect(MediaTypes.isCompressible("image/svg+xml"))
        #expect(!MediaTypes.isCompressible("image/png"))
        // The common web types a static server meets (issue 17): none falls back to octet-stream.
        for (name, type) in [
            ("page.xhtml", "application/xhtml+xml"), ("lib.cjs", "text/javascript; charset=utf-8"),
            ("data.jsonld", "application/ld+json"), ("app.webmanifest", "application/manifest+json"),
            ("a.avif", "image/avif"), ("a.apng", "image/apng"), ("a.jxl", "image/jxl"), ("f.eot", "application/vnd.ms-fontobject"),
            ("b.epub", "application/epub+zip"), ("s.xsl", "application/xslt+xml"), ("app.js.map", "application/json"),
        ] {
            #expect(MediaTypes.type(forName: name) == type, "\(name)")
        }
        #expect(MediaTypes.isCompressible("application/xhtml+xml"))
        #expect(MediaTypes.isCompressible("application/ld+json"))
    }

    @Test("path segments: decoded once; traversal, encoded separators and bad UTF-8 refused", arguments: [
        ("/a/b.txt", ["a", "b.txt"] as [String]?, nil as PathResolution.Refusal?),
        ("/a//./b/", ["a", "b"], nil),
        ("/a%20b", ["a b"], nil),
        ("/%252e%252e/x", ["%2e%2e", "x"], nil),
        ("/../etc/passwd", nil, .badRequest),
        ("/a/%2e%2e/%2e%2e/etc", nil, .badRequest),
        ("/a%2fb", nil, .badRequest),
        ("/a%5c..%5cb", nil, .badRequest),
        ("/a\\b", nil, .badRequest),
        ("/a%00b", nil, .badRequest),
        ("/%c0%ae%c0%ae/etc", nil, .badRequest),
        ("/%e0%80%af", nil, .badRequest),
        ("/%zz", nil, .badRequest),
        ("/.git/config", nil, .notFound),
        ("/a/.env", nil, .notFound),
    ])
    func segments(_ raw: String, _ want: [String]?, _ refusal: PathResolution.Refusal?) {
        do {
            let got = try PathResolution.segments(Substring(raw), hidden: false)
            #expect(got == want, "\(raw)")
            #expect(refusal == nil, "\(raw) should be refused")
        } catch {
            #expect(error == refusal, "\(raw)")
        }
    }
}
