import HTTPTypes
import Testing

@testable import HTTPChatCore
@testable import HTTPChatServer

@Suite("Request target")
struct RequestTargetTests {
    /// (target, rawPath, rawQuery, absoluteFormAuthority).
    static let targets: [(String, String, String?, String?)] = [
        ("/", "/", nil, nil),
        ("/a%20b?x=1", "/a%20b", "x=1", nil),
        ("/p?", "/p", "", nil),
        ("/p?a?b", "/p", "a?b", nil),
        ("/p?a=1#frag", "/p", "a=1", nil),
        ("/p#frag", "/p", nil, nil),
        ("//a//b", "//a//b", nil, nil),
        ("/a:b//c", "/a:b//c", nil, nil),  // origin form: no scheme, whatever the colon
        ("*", "*", nil, nil),
        ("host:443", "host:443", nil, nil),  // authority form (CONNECT)
        ("http://h/p?q", "/p", "q", "h"),
        ("http://h?q", "/", "q", "h"),
        ("http://h", "/", nil, "h"),
        ("http://h#f", "/", nil, "h"),
        ("http://h:8080/a/b", "/a/b", nil, "h:8080"),
        ("https://user:pw@h/p", "/p", nil, "h"),
        ("http://a@b@c/", "/", nil, "c"),
        ("http://h/p@x", "/p@x", nil, "h"),
        ("http://h//p", "//p", nil, "h"),
        ("http://[::1]:8080/p", "/p", nil, "[::1]:8080"),
    ]

    @Test("a target's path, query and authority, in every request-target form", arguments: targets)
    func parts(_ target: String, _ path: String, _ query: String?, _ authority: String?) {
        let request = Request(method: .get, target: target)
        #expect(request.rawPath == path, "\(target): rawPath \(request.rawPath), want \(path)")
        #expect(request.rawQuery.map(String.init) == query, "\(target): rawQuery \(String(describing: request.rawQuery)), want \(String(describing: query))")
        #expect(request.absoluteFormAuthority.map(String.init) == authority,
                "\(target): authority \(String(describing: request.absoluteFormAuthority)), want \(String(describing: authority))")
    }

    @Test("path is the decoded raw path, nil when malformed", arguments: [
        ("/a%20b?x=%zz", "/a b" as String?), ("/%2F", "//"), ("/a%zz", nil), ("/a%00", nil), ("http://h/%C3%A9", "/é"), ("/a+b", "/a+b"),
    ])
    func decodedPath(_ target: String, _ want: String?) {
        let got = Request(method: .get, target: target).path
        #expect(got == want, "\(target): got \(String(describing: got)), want \(String(describing: want))")
    }

    @Test("query values are form-decoded; the first of a repeated name wins; a missing one is nil")
    func queryValues() {
        let request = Request(method: .get, target: "/s?q=swift+nio&n=1&n=2&e=&bad=%zz&%C3%A9=acute")
        #expect(request.query("q") == "swift nio")
        #expect(request.query("n") == "1")
        #expect(request.query("e") == "")
        #expect(request.query("bad") == nil, "a malformed pair is skipped")
        #expect(request.query("é") == "acute")
        #expect(request.query("missing") == nil)
        #expect(request.queryItems.map(\.name) == ["q", "n", "n", "e", "é"])
        #expect(Request(method: .get, target: "/s").queryItems.isEmpty)
    }

    /// (target, canonical segments; nil when refused with 400).
    static let segments: [(String, [String]?)] = [
        ("/", []),
        ("", []),
        ("/a/b", ["a", "b"]),
        ("//a///b//", ["a", "b"]),
        ("/./a/./b/.", ["a", "b"]),
        ("/a%2Fb", ["a/b"]),  // a decoded separator stays inside its segment
        ("/%2e", []),  // an encoded . is a .
        ("/.a/..b", [".a", "..b"]),
        ("/%252e%252e", ["%2e%2e"]),  // decoded once
        ("/..", nil),
        ("/a/../b", nil),
        ("/a/%2e%2e/b", nil),
        ("/a/%2E%2E", nil),
        ("/a/.%2e", nil),
        ("/a%zz", nil),
        ("/a%00b", nil),
        ("/%C0%AE%C0%AE", nil),  // overlong ..
        ("http://h/a/./b?x", ["a", "b"]),
        ("/a?/../b", ["a"]),  // the query is not the path
    ]

    @Test("pathSegments: decoded once, empty and . dropped, .. refused", arguments: segments)
    func canonicalSegments(_ target: String, _ want: [String]?) {
        let request = Request(method: .get, target: target)
        do {
            let got = try request.pathSegments
            #expect(got == want, "\(target): got \(got), want \(String(describing: want))")
        } catch {
            #expect(want == nil, "\(target): refused, want \(String(describing: want))")
            #expect(error.status == .badRequest, "\(target): \(error.status)")
        }
    }

    @Test("encoded segments: one leading slash, unreserved characters only", arguments: [
        ([], false, "/"), ([], true, "/"), (["a"], false, "/a"), (["a", "b"], true, "/a/b/"), (["a b", "c/d"], false, "/a%20b/c%2Fd"),
        (["é"], false, "/%C3%A9"), ([".a", "..b"], false, "/.a/..b"),
    ] as [([String], Bool, String)])
    func encodedPath(_ segments: [String], _ trailingSlash: Bool, _ want: String) throws {
        let got = CanonicalPath.encoded(segments, trailingSlash: trailingSlash)
        #expect(got == want, "\(segments): got \(got), want \(want)")
        #expect(try CanonicalPath.segments(Substring(got)) == segments, "\(segments): \(got) does not read back")
    }

    @Test("path predicates ask the bytes", arguments: [
        ("a/b", true, false, false), ("a\\b", true, false, false), (".git", false, true, false), ("a.", false, false, false),
        (".\u{301}x", false, true, false), ("x/", true, false, true), ("", false, false, false),
        ("a\u{06DD}/", true, false, true),
    ])
    func predicates(_ name: String, _ separator: Bool, _ hidden: Bool, _ trailing: Bool) {
        #expect(CanonicalPath.hasSeparator(name) == separator, "\(name.debugDescription) separator")
        #expect(CanonicalPath.isHidden(name) == hidden, "\(name.debugDescription) hidden")
        #expect(CanonicalPath.hasTrailingSlash(Substring(name)) == trailing, "\(name.debugDescription) trailing")
    }

    @Test("query names are compared on bytes: %E2%84%AA (KELVIN SIGN) is not the parameter K")
    func queryNamesOnBytes() {
        let request = Request(method: .get, target: "/?%E2%84%AA=forged&K=real&A%CC%8A=decomposed")
        #expect(request.query("K") == "real", "got \(String(describing: request.query("K")))")
        #expect(request.query("\u{00C5}") == nil, "a precomposed name finds no decomposed one")
        var form = MultipartForm()
        form.fields = [("\u{212A}", "forged"), ("K", "real")]
        #expect(form.field("K") == "real")
    }
}
