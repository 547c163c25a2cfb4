import Foundation
import HTTPTypes
import NIOCore
import Testing

@testable import HTTPChatCore
@testable import HTTPChatServer
import HTTPChatTesting

@Suite("Cookies")
struct CookiesTests {
    private func parse(_ fields: [String]) -> [String] {
        Cookies(fields: fields).map { "\($0.name)=\($0.value)" }
    }

    @Test("Cookie fields parse as RFC 6265 §5.4 pairs", arguments: [
        (["a=1"], ["a=1"]),
        (["a=1; b=2; c=3"], ["a=1", "b=2", "c=3"]),
        (["a=1", "b=2"], ["a=1", "b=2"]),
        (["foo="], ["foo="]),
        (["b=x=y"], ["b=x=y"]),
        (["a=hello world"], ["a=hello world"]),
        (["  a = 1 ;b=2  "], ["a=1", "b=2"]),
        (["===;;;"], []),
        (["novalue; =x; ok=1"], ["ok=1"]),
        (["q=\"quoted\""], ["q=quoted"]),
        (["q=\""], ["q=\""]),
        ([""], []),
        (["a=1;a=2"], ["a=1", "a=2"]),
    ])
    func parses(_ fields: [String], _ want: [String]) {
        #expect(parse(fields) == want)
    }

    @Test("lookup by name takes the first; every value is there; at most 256 pairs are read")
    func lookupAndBound() {
        let cookies = Cookies(fields: ["sid=new; theme=dark", "sid=old"])
        #expect(cookies["sid"] == "new")
        #expect(cookies.values(named: "sid") == ["new", "old"])
        #expect(cookies["missing"] == nil)
        let many = Cookies(fields: [(0..<1000).map { "k\($0)=v" }.joined(separator: "; ")])
        #expect(many.pairs.count == Cookies.limit)
        #expect(Request(method: .get, target: "/", headerFields: [.cookie: "a=1"]).cookies["a"] == "1")
    }

    @Test("Set-Cookie carries every attribute, in a fixed order")
    func setCookieField() throws {
        let cookie = try SetCookie(
            name: "__Host-session", value: "abc123", expires: Date(timeIntervalSince1970: 1_700_000_000), maxAge: 3600,
            path: "/", secure: true, httpOnly: true, sameSite: .lax, partitioned: true
        )
        #expect(cookie.fieldValue == "__Host-session=abc123; Expires=Tue, 14 Nov 2023 22:13:20 GMT; Max-Age=3600; Path=/; Secure; HttpOnly; SameSite=Lax; Partitioned")
        #expect(try SetCookie(name: "a", value: "1", domain: "example.com").fieldValue == "a=1; Domain=example.com")
        #expect(try SetCookie(name: "q", value: "\"quoted\"").fieldValue == "q=\"quoted\"")
        #expect(try SetCookie.deleting("a", path: "/x").fieldValue == "a=; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Max-Age=0; Path=/x")
        var response = Response.text("ok")
        response.setCookie(try SetCookie(name: "a", value: "1"))
        response.setCookie(try SetCookie(name: "b", value: "2"))
        #expect(response.headerFields[values: .setCookie] == ["a=1", "b=2"])
    }

    @Test("nothing can inject a field or an attribute", arguments: [
        ("a b", "1"), ("a=b", "1"), ("a;b", "1"), ("", "1"), ("a\r\nX-Evil: 1", "1"),
        ("a", "1; Domain=evil.example"), ("a", "1\r\nSet-Cookie: b=2"), ("a", "x y"), ("a", "x,y"), ("a", "x\\y"),
        ("a", "\u{7F}"), ("a", "é"), ("a", "\"x\"y\""),
    ])
    func refusesInjection(_ name: String, _ value: String) {
        #expect(throws: CookieError.self) { try SetCookie(name: name, value: value) }
    }

    @Test("domain, path and the prefix and SameSite rules are enforced")
    func rules() {
        #expect(throws: CookieError.self) { try SetCookie(name: "a", value: "1", domain: "evil.example; Secure") }
        #expect(throws: CookieError.self) { try SetCookie(name: "a", value: "1", path: "/x; Domain=e") }
        #expect(throws: CookieError.self) { try SetCookie(name: "a", value: "1", path: "relative") }
        #expect(throws: CookieError.self) { try SetCookie(name: "a", value: "1", sameSite: SetCookie.SameSite.none) }
        #expect(throws: CookieError.self) { try SetCookie(name: "a", value: "1", partitioned: true) }
        #expect(throws: CookieError.self) { try SetCookie(name: "__Secure-a", value: "1") }
        #expect(throws: CookieError.self) { try SetCookie(name: "__Host-a", value: "1", domain: "e.x", path: "/", secure: true) }
        #expect(throws: CookieError.self) { try SetCookie(name: "__Host-a", value: "1", secure: true) }
        #expect((try? SetCookie(name: "a", value: "1", secure: true, sameSite: SetCookie.SameSite.none)) != nil)
    }

    @Test("live: curl stores a Set-Cookie in its jar and sends it back; the handler reads it from request.cookies")
    func curlRoundTrip() async throws {
        let router = Router()
        router.get("/login") { _ in
            var response = Response.text("in")
            response.setCookie(try SetCookie(name: "session", value: "s3cr3t", path: "/", httpOnly: true, sameSite: .strict))
            response.setCookie(try SetCookie(name: "theme", value: "dark", path: "/"))
            return response
        }
        router.get("/whoami") { request in .text("\(request.cookies["session"] ?? "-") \(request.cookies["theme"] ?? "-")") }
        let server = try await HTTPServer.start(configuration: .init(host: "127.0.0.1", port: 0), responder: try router.build())
        let jar = FileManager.default.temporaryDirectory.appendingPathComponent("jar-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: jar) }
        let url = "http://127.0.0.1:\(server.port)"
        _ = try await curlOutput(["-s", "-c", jar, "\(url)/login"])
        #expect(try await curlOutput(["-s", "-b", jar, "\(url)/whoami"]) == "s3cr3t dark")
        await server.shutdown(gracePeriod: .seconds(1))
    }

    @Test("split and looked up on bytes: U+037E (canonically a ;) stays in its value, U+212A (canonically K) is no K")
    func bytesNotCharacters() {
        let jar = Cookies(fields: ["lang=en\u{037E}session=attacker; session=real"])
        #expect(jar.pairs.map(\.name) == ["lang", "session"], "got \(jar.pairs)")
        #expect(jar["session"] == "real" && jar.values(named: "session") == ["real"], "got \(jar.pairs)")
        #expect(jar["lang"] == "en\u{037E}session=attacker")
        let kelvin = Cookies(fields: ["\u{212A}=forged; K=real"])
        #expect(kelvin["K"] == "real" && kelvin.values(named: "K") == ["real"], "got \(kelvin.pairs)")
        let mark = Cookies(fields: ["a=1;\u{0301}b=2", "c=\u{0301}3"])
        #expect(mark.pairs.map(\.name) == ["a", "\u{0301}b", "c"] && mark["c"] == "\u{0301}3", "got \(mark.pairs)")
        #expect(Cookies(fields: ["q=\"\u{0301}x\""])["q"] == "\u{0301}x")
    }
}
