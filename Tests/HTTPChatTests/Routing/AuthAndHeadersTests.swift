import Foundation
import HTTPTypes
import NIOCore
import Testing

@testable import HTTPChatCore
@testable import HTTPChatServer
import HTTPChatTesting

private func hex(_ bytes: [UInt8]) -> String { bytes.map { String(format: "%02x", $0) }.joined() }

private func basic(_ credentials: String) -> HTTPFields {
    [.authorization: "Basic " + Data(credentials.utf8).base64EncodedString()]
}

@Suite("SHA-256 and base64")
struct DigestTests {
    @Test("SHA-256 matches Python's hashlib at every padding boundary", arguments: [
        (0, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
        (3, "6ab0dba1f4f1dfbb37b4f9eeb092c09fca4900ad32bdcd147d8dde35d6c87c35"),
        (55, "e7313d333c272e639f790978283f9eb392e843d0f29b7016828bb1daa4aac70b"),
        (56, "4324d65f3c103567f5589c710bc08f8523f929a9272e3af36fc968e52abc6c27"),
        (63, "81c80242132f230c3bd41b3e63bbcff16107339549214a99614ff26664625055"),
        (64, "39e3d7b6b5d075d37d053ad89b24b41bef4f3c29760c84447cab3f3be1882241"),
        (65, "aacca6ff74fdbb296d165a45cecfa04e5127bc008770fbbdd48006f2d2fae95e"),
        (119, "9ce7368e4daf32341631b492e80359dc9f594b48453cd0dd5bf0b19279cc177e"),
        (120, "7836b787757e95e58b3ca5aec90b1b004e8deba1e50e9675af9cabf1a13a04b5"),
    ])
    func sha256(_ length: Int, _ want: String) {
        let message = (0..<length).map { UInt8(($0 * 7 + 3) % 256) }
        #expect(hex(SHA256.digest(message)) == want)
    }

    @Test("FIPS 180-2's 'abc'")
    func abc() { #expect(hex(SHA256.digest(Array("abc".utf8))) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad") }

    @Test("base64 decodes strictly: padding required, nothing outside the alphabet", arguments: [
        ("YWxpY2U6czNjcmV0", "alice:s3cret"), ("YQ==", "a"), ("YWI=", "ab"), ("", ""),
    ])
    func base64(_ text: String, _ want: String) {
        #expect(Base64.decode(Array(text.utf8)) == Array(want.utf8))
    }

    @Test("base64 refuses", arguments: ["YQ", "YQ=", "Y===", "YQ==YQ==", "YW!j", "YW\nj"])
    func base64Refuses(_ text: String) {
        #expect(Base64.decode(Array(text.utf8)) == nil)
    }
}

@Suite("Basic authentication")
struct BasicAuthTests {
    let site: any HTTPResponder

    init() throws {
        let router = Router()
        router.get("/secret") { _ in .text("in") }
        site = try router.build().wrapped(in: [
            try BasicAuth(["alice:wonderland", "bob:sha256:f52fbd32b2b3b86ff88ef6c490628285f482af15ddcb29541f94bcf526a3f6c7", "carol:a:b"]),
        ])
    }

    private func status(_ fields: HTTPFields) async throws -> (HTTPResponse.Status, String?) {
        let response = try await site.respond(to: Request(method: .get, target: "/secret", headerFields: fields))
        return (response.status, response.headerFields[.wwwAuthenticate])
    }

    @Test("no credentials, a wrong password, an unknown user, garbage: 401 with a Basic challenge")
    func refuses() async throws {
        for fields: HTTPFields in [
            [:], basic("alice:alice"), basic("mallory:wonderland"), basic("alice"), basic("alice:wonderland "),
            [.authorization: "Basic !!!"], [.authorization: "Bearer abc"], [.authorization: "Basic"],
            basic("bob:sha256:f52fbd32b2b3b86ff88ef6c490628285f482af15ddcb29541f94bcf526a3f6c7"),
        ] {
            let (code, challenge) = try await status(fields)
            #expect(code == .unauthorized, "\(fields)")
            #expect(challenge == "Basic realm=\"restricted\", charset=\"UTF-8\"")
        }
    }

    @Test("the right password in clear, by digest, with a ':' inside it, and a lower-case scheme get in")
    func admits() async throws {
        #expect(try await status(basic("alice:wonderland")).0 == .ok)
        #expect(try await status(basic("bob:hunter2")).0 == .ok)
        #expect(try await status(basic("carol:a:b")).0 == .ok)
        let lower: HTTPFields = [.authorization: "basic " + Data("alice:wonderland".utf8).base64EncodedString()]
        #expect(try await status(lower).0 == .ok)
    }

    @Test("a specification is split at its first ':' byte, even when a combining mark follows it")
    func splitOnBytes() async throws {
        let auth = try BasicAuth(["dave:\u{301}pw"])
        #expect(auth.users.map(\.name) == ["dave"])
        let router = Router()
        router.get("/") { _ in .text("in") }
        let site = try router.build().wrapped(in: [auth])
        let fields: HTTPFields = [.authorization: "Basic " + Data("dave:\u{301}pw".utf8).base64EncodedString()]
        let response = try await site.respond(to: Request(method: .get, target: "/", headerFields: fields))
        #expect(response.status == .ok, "got \(response.status)")
    }

    @Test("specifications that cannot work are refused by name, never echoing the password")
    func badSpecifications() throws {
        for (spec, message) in [
            ("alice", "'--auth' wants USER:PASSWORD or USER:sha256:HEX (no ':' found)"),
            (":pw", "the user name before ':' is empty"),
            ("bob:sha256:abc", "the SHA-256 of bob's password must be 64 hex digits"),
            ("bob:sha256:" + String(repeating: "g", count: 64), "the SHA-256 of bob's password must be 64 hex digits"),
        ] {
            #expect(throws: BasicAuthError.self) { try BasicAuth([spec]) }
            do {
                _ = try BasicAuth([spec])
            } catch {
                #expect("\(error)" == message)
            }
        }
        #expect(throws: BasicAuthError.self) { try BasicAuth([]) }
        #expect(throws: BasicAuthError.self) { try BasicAuth(["a:b"], realm: "say \"hi\"") }
    }
}

@Suite("Response headers")
struct ResponseHeadersTests {
    @Test("configured fields go on every answer, errors included, replacing the response's own")
    func setsFields() async throws {
        let router = Router()
        router.get("/ok") { _ in Response(headerFields: [HTTPField.Name("X-Frame-Options")!: "SAMEORIGIN"], body: .init(string: "ok")) }
        let site = try router.build().wrapped(in: [try ResponseHeaders(["X-Frame-Options: DENY", "Content-Security-Policy:  default-src 'self' "])])
        let ok = try await site.respond(to: Request(method: .get, target: "/ok"))
        #expect(ok.headerFields[HTTPField.Name("X-Frame-Options")!] == "DENY")
        #expect(ok.headerFields[HTTPField.Name("Content-Security-Policy")!] == "default-src 'self'")
        let missing = try await site.respond(to: Request(method: .get, target: "/nope"))
        #expect(missing.status == .notFound)
        #expect(missing.headerFields[HTTPField.Name("X-Frame-Options")!] == "DENY")
    }

    @Test("a name configured twice is sent twice, in order, replacing the response's own values of that name")
    func repeatedNames() async throws {
        let router = Router()
        router.get("/ok") { _ in
            Response(headerFields: [HTTPField.Name("Link")!: "</own>; rel=next", HTTPField.Name("X-Other")!: "kept"], body: .init(string: "ok"))
        }
        let site = try router.build().wrapped(in: [try ResponseHeaders(["Link: </a.css>; rel=preload", "X-Frame-Options: DENY", "Link: </b.js>; rel=preload"])])
        let ok = try await site.respond(to: Request(method: .get, target: "/ok"))
        #expect(ok.headerFields[values: HTTPField.Name("Link")!] == ["</a.css>; rel=preload", "</b.js>; rel=preload"])
        #expect(ok.headerFields[HTTPField.Name("X-Frame-Options")!] == "DENY")
        #expect(ok.headerFields[HTTPField.Name("X-Other")!] == "kept")
    }

    @Test("a line that is not a field, a framing field, a control character: refused with the reason", arguments: [
        ("X-Frame-Options DENY", "'X-Frame-Options DENY' is not 'Name: value'"),
        ("Bad Name: x", "'Bad Name' is not a field name (letters, digits and !#$%&'*+-.^_`|~ only)"),
        (": x", "'' is not a field name (letters, digits and !#$%&'*+-.^_`|~ only)"),
        ("Content-Length: 5", "Content-Length is set by the server and cannot be configured"),
        ("transfer-encoding: chunked", "transfer-encoding is set by the server and cannot be configured"),
        ("Connection: close", "Connection is set by the server and cannot be configured"),
        ("X-A: a\u{01}b", "the value of X-A holds a control character"),
        ("Content-Encoding: identity", "Content-Encoding is set by the server and cannot be configured"),
        ("content-type: text/plain", "content-type is set by the server and cannot be configured"),
        ("ETag: \"x\"", "ETag is set by the server and cannot be configured"),
        ("Last-Modified: Tue, 08 Dec 2026 00:00:00 GMT", "Last-Modified is set by the server and cannot be configured"),
        ("Vary: *", "Vary is set by the server and cannot be configured"),
        ("X-A: a\rb", "the value of X-A holds a control character"),
    ])
    func refuses(_ line: String, _ message: String) {
        do {
            _ = try ResponseHeaders([line])
            Issue.record("accepted \(line)")
        } catch {
            #expect("\(error)" == message)
        }
    }
}

@Suite("Access log: bytes actually sent")
struct AccessLogBytesTests {
    private func logFile() -> String {
        FileManager.default.temporaryDirectory.appendingPathComponent("access-\(UUID().uuidString).log").path
    }

    private func lines(_ path: String, count: Int) async throws -> [String] {
        for _ in 0..<200 {
            let text = (try? String(contentsOfFile: path, encoding: .utf8)) ?? ""
            let lines = text.split(separator: "\n").map(String.init)
            if lines.count >= count { return lines }
            try await Task.sleep(for: .milliseconds(10))
        }
        return []
    }

    @Test("a producer body cut short logs what was handed out; a whole one its length; HEAD logs 0; a stream what it wrote")
    func countsBytes() async throws {
        let path = logFile()
        defer { try? FileManager.default.removeItem(atPath: path) }
        let router = Router()
        router.get("/big") { _ in Response(body: ResponseBody(producer: BufferProducer(ByteBuffer(repeating: 7, count: 300_000)), length: 300_000)) }
        router.get("/stream") { _ in Response(body: .stream { writer in
            try await writer.write("hello ")
            try await writer.write("world")
        }) }
        let site = try router.build().wrapped(in: [try AccessLog.file(path)])

        // Cut: one 64 KiB chunk pulled, then the connection goes (the producer is cancelled).
        let cut = try await site.respond(to: Request(method: .get, target: "/big"))
        guard case .producer(var producer, _) = cut.body.storage else { Issue.record("not a producer"); return }
        let context = ChatProducerContext(allocator: ByteBufferAllocator(), eventLoop: EmbeddedEventLoopStandIn.loop, preferredChunkSize: 65_536)
        _ = producer.more(context)
        producer.cancel()
        let first = try await lines(path, count: 1)
        #expect(first.first?.contains("\"GET /big HTTP/1.1\" 200 65536 ") == true, "\(first)")

        let whole = try await site.respond(to: Request(method: .get, target: "/big"))
        _ = try await whole.body.collect()
        let head = try await site.respond(to: Request(method: .head, target: "/big"))
        _ = head
        let stream = try await site.respond(to: Request(method: .get, target: "/stream"))
        #expect(String(buffer: try await stream.body.collect()) == "hello world")
        let all = try await lines(path, count: 4)
        #expect(all.count == 4, "\(all)")
        #expect(all.contains { $0.contains("\"GET /big HTTP/1.1\" 200 300000 ") }, "\(all)")
        #expect(all.contains { $0.contains("\"HEAD /big HTTP/1.1\" 200 0 ") }, "\(all)")
        #expect(all.contains { $0.contains("\"GET /stream HTTP/1.1\" 200 11 ") }, "\(all)")
    }

    @Test("a body never sent (the response dropped) is still logged, with 0 bytes")
    func droppedBody() async throws {
        let path = logFile()
        defer { try? FileManager.default.removeItem(atPath: path) }
        let router = Router()
        router.get("/big") { _ in Response(body: ResponseBody(producer: BufferProducer(ByteBuffer(repeating: 7, count: 1000)), length: 1000)) }
        let site = try router.build().wrapped(in: [try AccessLog.file(path)])
        do {
            _ = try await site.respond(to: Request(method: .get, target: "/big"))
        }
        let logged = try await lines(path, count: 1)
        #expect(logged.first?.contains("\"GET /big HTTP/1.1\" 200 0 ") == true, "\(logged)")
    }
}

/// An event loop for pulling a producer by hand (BufferProducer never waits on it).
private enum EmbeddedEventLoopStandIn {
    static let loop: any EventLoop = NIOSingletons.posixEventLoopGroup.next()
}

@Suite("Precompressed siblings")
struct PrecompressedTests {
    private func site() -> FileServer {
        let js = String(repeating: "function f() { return 1 }\n", count: 200)
        return FileServer(provider: InMemoryFileProvider(files: [
            "app.js": ByteBuffer(string: js),
            "app.js.br": ByteBuffer(string: "BROTLI-BYTES-0123456789"),
            "app.js.zst": ByteBuffer(string: "ZSTD-BYTES"),
            "app.js.gz": ByteBuffer(string: "GZIP-BYTES"),
            "only.css": ByteBuffer(string: String(repeating: "a { color: red }\n", count: 200)),
            "only.css.zst": ByteBuffer(string: "ZSTD-CSS"),
        ]))
    }

    @Test("the client's preference picks the sibling; ties go br, zstd, gzip", arguments: [
        ("br, gzip, zstd", "br", "BROTLI-BYTES-0123456789"),
        ("gzip, zstd", "zstd", "ZSTD-BYTES"),
        ("gzip", "gzip", "GZIP-BYTES"),
        ("br;q=0.5, gzip;q=0.9", "gzip", "GZIP-BYTES"),
        ("br;q=0, zstd;q=0, *", "gzip", "GZIP-BYTES"),
        ("*", "br", "BROTLI-BYTES-0123456789"),
        ("x-gzip", "gzip", "GZIP-BYTES"),
    ])
    func picks(_ accept: String, _ coding: String, _ body: String) async throws {
        let (r, bytes) = try await get(site(), "/app.js", [.acceptEncoding: accept])
        #expect(r.status == .ok)
        #expect(r.headerFields[.contentEncoding] == coding)
        #expect(String(buffer: bytes) == body)
        #expect(r.headerFields[.contentType] == "text/javascript; charset=utf-8")
        #expect(r.headerFields[.vary] == "Accept-Encoding")
    }

    @Test("identity when nothing acceptable is there: no Accept-Encoding, identity only, or only br for a file with only .zst")
    func identity() async throws {
        for accept in [nil, "identity", "br;q=0, gzip;q=0, zstd;q=0"] as [String?] {
            var fields: [HTTPField.Name: String] = [:]
            if let accept { fields[.acceptEncoding] = accept }
            let (r, bytes) = try await get(site(), "/app.js", fields)
            #expect(r.headerFields[.contentEncoding] == nil, "\(String(describing: accept))")
            #expect(bytes.readableBytes == 5200)
        }
        let (css, _) = try await get(site(), "/only.css", [.acceptEncoding: "br"])
        #expect(css.headerFields[.contentEncoding] == nil)
        let (zst, zbody) = try await get(site(), "/only.css", [.acceptEncoding: "br, zstd"])
        #expect(zst.headerFields[.contentEncoding] == "zstd" && String(buffer: zbody) == "ZSTD-CSS")
    }

    @Test("a Range applies to the sibling's bytes, under the sibling's own ETag")
    func rangeOnSibling() async throws {
        let files = site()
        let (whole, _) = try await get(files, "/app.js", [.acceptEncoding: "br"])
        let (part, bytes) = try await get(files, "/app.js", [.acceptEncoding: "br", .range: "bytes=7-11"])
        #expect(part.status == .partialContent)
        #expect(part.headerFields[.contentRange] == "bytes 7-11/23")
        #expect(String(buffer: bytes) == "BYTES")
        let identity = try await get(files, "/app.js").0
        #expect(whole.headerFields[.eTag] != identity.headerFields[.eTag])
        let resumed = try await get(files, "/app.js", [.acceptEncoding: "br", .range: "bytes=7-11", .ifRange: whole.headerFields[.eTag]!])
        #expect(resumed.0.status == .partialContent)
    }

    @Test("a 416 carries no content type; a folder redirect's body says text/plain")
    func emptyAndRedirectTypes() async throws {
        let files = FileServer(provider: InMemoryFileProvider(files: ["a.txt": ByteBuffer(string: "abc"), "d/x.txt": ByteBuffer(string: "x")]))
        let (unsatisfiable, _) = try await get(files, "/a.txt", [.range: "bytes=10-20"])
        #expect(unsatisfiable.status == .rangeNotSatisfiable)
        #expect(unsatisfiable.headerFields[.contentType] == nil)
        #expect(unsatisfiable.headerFields[.contentRange] == "bytes */3")
        let (moved, body) = try await get(files, "/d")
        #expect(moved.status == .movedPermanently)
        #expect(moved.headerFields[.contentType] == "text/plain; charset=utf-8")
        #expect(String(buffer: body) == "Moved to /d/\n")
    }
}
