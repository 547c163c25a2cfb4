import Foundation
import HTTPTypes
import NIOCore
import NIOSSL
import Testing

@testable import HTTPChatCGI
@testable import HTTPChatCore
@testable import HTTPChatServer

/// An empty scripts folder, removed when the value goes: enough for a responder whose environment is built
/// in-process, no script run.
private final class ScriptsFolder {
    let path: String

    init() throws {
        path = FileManager.default.temporaryDirectory.appendingPathComponent("httpchat-cgi-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    func responder(_ configure: (inout CGIOptions) -> Void = { _ in }) throws -> CGIResponder {
        var options = CGIOptions()
        configure(&options)
        return try CGIResponder(directory: path, options: options)
    }

    deinit { try? FileManager.default.removeItem(atPath: path) }
}

/// `Host` (HTTPTypes keeps `.host` for HTTP/2's `:authority`).
private let hostField = HTTPField.Name("Host")!

/// The variables every request gets, whatever it sends.
private let alwaysSet: Set<String> = [
    "GATEWAY_INTERFACE", "SERVER_SOFTWARE", "SERVER_NAME", "SERVER_PORT", "SERVER_PROTOCOL", "REQUEST_METHOD",
    "QUERY_STRING", "SCRIPT_NAME", "PATH_INFO", "REMOTE_ADDR", "PATH", "REQUEST_SCHEME",
]

@Suite("CGI environment")
struct CGIEnvironmentTests {
    @Test("the RFC 3875 meta-variables of a request from a socket")
    func metaVariables() throws {
        let folder = try ScriptsFolder()
        let cgi = try folder.responder { $0.serverName = "example.test"; $0.documentRoot = "/srv/site" }
        let request = Request(
            method: .post, target: "/cgi-bin/s.sh/a/b?x=1&y=%20z", version: .http1_0,
            headerFields: [.contentType: "application/x-www-form-urlencoded", .contentLength: "11", hostField: "example.test:8080"],
            remoteAddress: try SocketAddress(ipAddress: "192.0.2.7", port: 51_000),
            localAddress: try SocketAddress(ipAddress: "127.0.0.1", port: 8080)
        )
        let env = cgi.environment(for: request, bodyLength: 11, scriptName: "/cgi-bin/s.sh", pathInfo: "/a/b")
        let want: [String: String] = [
            "GATEWAY_INTERFACE": "CGI/1.1",
            "SERVER_SOFTWARE": "HTTPChat/\(HTTPChatVersion.string)",
            "SERVER_NAME": "example.test",
            "SERVER_PORT": "8080",
            "SERVER_PROTOCOL": "HTTP/1.0",
            "REQUEST_METHOD": "POST",
            "QUERY_STRING": "x=1&y=%20z",
            "SCRIPT_NAME": "/cgi-bin/s.sh",
            "PATH_INFO": "/a/b",
            "PATH_TRANSLATED": "/srv/site/a/b",
            "REMOTE_ADDR": "192.0.2.7",
            "PATH": "/usr/local/bin:/usr/bin:/bin",
            "REQUEST_SCHEME": "http",
            "CONTENT_LENGTH": "11",
            "CONTENT_TYPE": "application/x-www-form-urlencoded",
            "HTTP_HOST": "example.test:8080",
        ]
        #expect(env == want, "got \(env.sorted { $0.key < $1.key })")
    }

    @Test("a request from no socket: the configured port, no address, an empty query, no body variables")
    func inProcessRequest() throws {
        let cgi = try ScriptsFolder().responder { $0.serverPort = 8123 }
        let env = cgi.environment(for: Request(method: .get, target: "/cgi-bin/s"), bodyLength: 0, scriptName: "/cgi-bin/s", pathInfo: "")
        #expect(Set(env.keys) == alwaysSet, "got \(env.keys.sorted())")
        #expect(env["SERVER_PORT"] == "8123")
        #expect(env["SERVER_NAME"] == "localhost")
        #expect(env["SERVER_PROTOCOL"] == "HTTP/1.1")
        #expect(env["REMOTE_ADDR"] == "")
        #expect(env["QUERY_STRING"] == "")
        #expect(env["PATH_INFO"] == "")
    }

    @Test("over TLS a script sees HTTPS=on and REQUEST_SCHEME=https; over plain HTTP, no HTTPS and http")
    func httpsVariables() throws {
        let cgi = try ScriptsFolder().responder()
        var request = Request(method: .get, target: "/cgi-bin/s")
        let plain = cgi.environment(for: request, bodyLength: nil, scriptName: "/cgi-bin/s", pathInfo: "")
        #expect(plain["HTTPS"] == nil)
        #expect(plain["REQUEST_SCHEME"] == "http")
        request.tls = TLSConnectionInfo(version: .tlsv13, applicationProtocol: "http/1.1", peerCertificate: nil)
        let secure = cgi.environment(for: request, bodyLength: nil, scriptName: "/cgi-bin/s", pathInfo: "")
        #expect(secure["HTTPS"] == "on")
        #expect(secure["REQUEST_SCHEME"] == "https")
    }

    @Test("behind a trusted proxy a script sees the forwarded client, scheme and host")
    func forwardedVariables() throws {
        let cgi = try ScriptsFolder().responder()
        var request = Request(
            method: .get, target: "/cgi-bin/s", headerFields: [HTTPField.Name("Host")!: "inner:8080"],
            remoteAddress: try SocketAddress(ipAddress: "203.0.113.5", port: 0)
        )
        request.peerAddress = try SocketAddress(ipAddress: "10.0.0.7", port: 5000)
        request.forwardedScheme = "https"
        request.forwardedHost = "shop.example"
        let env = cgi.environment(for: request, bodyLength: nil, scriptName: "/cgi-bin/s", pathInfo: "")
        #expect(env["REMOTE_ADDR"] == "203.0.113.5")
        #expect(env["HTTPS"] == "on")
        #expect(env["REQUEST_SCHEME"] == "https")
        #expect(env["HTTP_HOST"] == "shop.example")
    }

    @Test("an IPv6 peer's address", arguments: [("::1", "::1"), ("2001:db8::2", "2001:db8::2")])
    func ipv6Peer(_ address: String, _ want: String) throws {
        let cgi = try ScriptsFolder().responder()
        let request = Request(method: .get, target: "/", remoteAddress: try SocketAddress(ipAddress: address, port: 1))
        let env = cgi.environment(for: request, bodyLength: nil, scriptName: "/s", pathInfo: "")
        #expect(env["REMOTE_ADDR"] == want, "got \(String(describing: env["REMOTE_ADDR"]))")
    }

    @Test("QUERY_STRING is the raw query, without the ?", arguments: [
        ("/s", ""), ("/s?", ""), ("/s?a", "a"), ("/s?a=1&b=%2F+c", "a=1&b=%2F+c"), ("/s?a?b", "a?b"),
        ("http://h/s?q=1", "q=1"),
    ])
    func queryString(_ target: String, _ want: String) throws {
        let cgi = try ScriptsFolder().responder()
        let env = cgi.environment(for: Request(method: .get, target: target), bodyLength: nil, scriptName: "/s", pathInfo: "")
        #expect(env["QUERY_STRING"] == want, "\(target): got \(String(describing: env["QUERY_STRING"])), want \(want)")
    }

    @Test("PATH_TRANSLATED maps PATH_INFO through the document root, and only when both are there", arguments: [
        ("/srv" as String?, "/a/b c", "/srv/a/b c" as String?), ("/srv", "", nil), (nil, "/a", nil), ("/srv", "/", "/srv/"),
    ])
    func pathTranslated(_ root: String?, _ pathInfo: String, _ want: String?) throws {
        let cgi = try ScriptsFolder().responder { $0.documentRoot = root }
        let env = cgi.environment(for: Request(method: .get, target: "/"), bodyLength: nil, scriptName: "/s", pathInfo: pathInfo)
        #expect(env["PATH_TRANSLATED"] == want, "root \(String(describing: root)), info \(pathInfo): got \(String(describing: env["PATH_TRANSLATED"]))")
    }

    /// (body length, whether the request had a Content-Length field, CONTENT_LENGTH).
    @Test("CONTENT_LENGTH is the body's exact size when there is a body, or when the request declared one", arguments: [
        (nil as Int?, false, nil as String?), (nil, true, nil), (0, false, nil), (0, true, "0"), (5, false, "5"), (5, true, "5"),
        (8 * 1024 * 1024, false, "8388608"),
    ])
    func contentLength(_ length: Int?, _ declared: Bool, _ want: String?) throws {
        let cgi = try ScriptsFolder().responder()
        let fields: HTTPFields = declared ? [.contentLength: String(length ?? 0)] : [:]
        let env = cgi.environment(for: Request(method: .post, target: "/", headerFields: fields), bodyLength: length, scriptName: "/s", pathInfo: "")
        #expect(env["CONTENT_LENGTH"] == want, "length \(String(describing: length)), declared \(declared): got \(String(describing: env["CONTENT_LENGTH"]))")
        #expect(env["HTTP_CONTENT_LENGTH"] == nil)
    }

    /// (field name, value, the variable it becomes, or nil when it is not passed).
    static let fieldMapping: [(String, String, String?)] = [
        ("User-Agent", "curl/8", "HTTP_USER_AGENT"),
        ("Accept", "*/*", "HTTP_ACCEPT"),
        ("X-Forwarded-For", "198.51.100.1", "HTTP_X_FORWARDED_FOR"),
        ("x-lower-case", "v", "HTTP_X_LOWER_CASE"),
        ("X-123", "v", "HTTP_X_123"),
        ("Cookie", "a=1", "HTTP_COOKIE"),
        ("Path", "/evil", "HTTP_PATH"),
        // httpoxy (CVE-2016-5385): Proxy would be HTTP_PROXY, which HTTP clients read as their proxy.
        ("Proxy", "http://evil:8080", nil),
        // Credentials stay with the server.
        ("Authorization", "Basic dTpw", nil),
        ("Proxy-Authorization", "Basic dTpw", nil),
        // Passed as CONTENT_TYPE and CONTENT_LENGTH, never twice.
        ("Content-Type", "text/plain", nil),
        ("Content-Length", "3", nil),
        // Names other than letters, digits and `-` would alias another field's variable or be no shell name.
        ("X_Forwarded_For", "203.0.113.9", nil),
        ("Proxy_", "x", nil),
        ("X.Dot", "v", nil),
        ("X~Tilde", "v", nil),
        ("X+Plus", "v", nil),
        ("X!Bang", "v", nil),
        ("X'Quote", "v", nil),
        ("X|Pipe", "v", nil),
    ]

    @Test("request fields become HTTP_ variables, uppercased with - as _; some never do", arguments: fieldMapping)
    func fieldVariables(_ name: String, _ value: String, _ variable: String?) throws {
        let cgi = try ScriptsFolder().responder()
        let fieldName = try #require(HTTPField.Name(name), "\(name) is no field name")
        let request = Request(method: .post, target: "/", headerFields: [fieldName: value])
        let env = cgi.environment(for: request, bodyLength: nil, scriptName: "/s", pathInfo: "")
        let extra = Set(env.keys).subtracting(alwaysSet).subtracting(["CONTENT_TYPE", "CONTENT_LENGTH"])
        if let variable {
            #expect(extra == [variable], "\(name): got \(extra.sorted()), want \(variable)")
            #expect(env[variable] == value, "\(name): got \(String(describing: env[variable])), want \(value)")
        } else {
            #expect(extra.isEmpty, "\(name): got \(extra.sorted()), want no HTTP_ variable")
        }
    }

    @Test("X_Forwarded_For cannot overwrite X-Forwarded-For, in either order")
    func underscoreCannotAlias() throws {
        let cgi = try ScriptsFolder().responder()
        for order in [["X-Forwarded-For", "X_Forwarded_For"], ["X_Forwarded_For", "X-Forwarded-For"]] {
            var fields = HTTPFields()
            for name in order {
                fields.append(HTTPField(name: HTTPField.Name(name)!, value: name == "X-Forwarded-For" ? "real" : "spoofed"))
            }
            let env = cgi.environment(for: Request(method: .get, target: "/", headerFields: fields), bodyLength: nil, scriptName: "/s", pathInfo: "")
            #expect(env["HTTP_X_FORWARDED_FOR"] == "real", "\(order): got \(String(describing: env["HTTP_X_FORWARDED_FOR"]))")
        }
    }

    @Test("repeated fields join into one variable with commas, in order")
    func repeatedFields() throws {
        let cgi = try ScriptsFolder().responder()
        var fields = HTTPFields()
        fields.append(HTTPField(name: .accept, value: "text/html"))
        fields.append(HTTPField(name: HTTPField.Name("X-Trace")!, value: "1"))
        fields.append(HTTPField(name: .accept, value: "application/json"))
        fields.append(HTTPField(name: HTTPField.Name("x-trace")!, value: "2"))
        let env = cgi.environment(for: Request(method: .get, target: "/", headerFields: fields), bodyLength: nil, scriptName: "/s", pathInfo: "")
        #expect(env["HTTP_ACCEPT"] == "text/html, application/json")
        #expect(env["HTTP_X_TRACE"] == "1, 2")
    }

    @Test("several Cookie fields join with \"; \", the separator of cookie pairs (RFC 6265 §5.4)")
    func cookiesJoin() throws {
        let cgi = try ScriptsFolder().responder()
        var fields = HTTPFields()
        fields.append(HTTPField(name: .cookie, value: "a=1"))
        fields.append(HTTPField(name: .cookie, value: "b=2; c=3"))
        let env = cgi.environment(for: Request(method: .get, target: "/", headerFields: fields), bodyLength: nil, scriptName: "/s", pathInfo: "")
        #expect(env["HTTP_COOKIE"] == "a=1; b=2; c=3")
    }

    @Test("an absolute-form target's authority is HTTP_HOST, over the Host field (RFC 9112 §3.2.2)", arguments: [
        ("http://target.example/s", "other.example", "target.example"),
        ("http://target.example:81/s?q", "other.example", "target.example:81"),
        ("http://user@target.example/s", "other.example", "target.example"),
        ("/s", "other.example", "other.example"),
    ])
    func absoluteFormHost(_ target: String, _ host: String, _ want: String) throws {
        let cgi = try ScriptsFolder().responder()
        let request = Request(method: .get, target: target, headerFields: [hostField: host])
        let env = cgi.environment(for: request, bodyLength: nil, scriptName: "/s", pathInfo: "")
        #expect(env["HTTP_HOST"] == want, "\(target): got \(String(describing: env["HTTP_HOST"])), want \(want)")
    }

    @Test("REQUEST_METHOD is the method as sent", arguments: ["GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "PROPFIND"])
    func requestMethod(_ method: String) throws {
        let cgi = try ScriptsFolder().responder()
        let request = Request(method: try #require(HTTPRequest.Method(method)), target: "/")
        #expect(cgi.environment(for: request, bodyLength: nil, scriptName: "/s", pathInfo: "")["REQUEST_METHOD"] == method)
    }
}
