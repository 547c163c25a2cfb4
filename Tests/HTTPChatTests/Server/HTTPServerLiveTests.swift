import HTTPTypes
import NIOCore
import TestSupport
import Testing

#if canImport(FoundationNetworking)
import Foundation
import FoundationNetworking
#else
import Foundation
#endif

@testable import HTTPChatCore
@testable import HTTPChatServer
import HTTPChatTesting

/// A router with the routes the live tests use.
func liveRouter() throws -> RouteTable {
    let router = Router()
    router.get("/hello") { _ in .text("hello") }
    router.post("/echo") { request in
        let body = try await request.body.collect(upTo: 16 << 20)
        return Response(headerFields: [.contentType: "application/octet-stream"], body: ResponseBody(bytes: body))
    }
    router.get("/slow") { _ in
        try await Task.sleep(for: .milliseconds(400))
        return .text("slow done")
    }
    router.get("/stream") { _ in
        Response(body: .stream { writer in
            for i in 0..<100 { try await writer.write("line \(i)\n") }
        })
    }
    return try router.build()
}

func startLive() async throws -> HTTPServer {
    var configuration = ServerConfiguration(host: "127.0.0.1", port: 0)
    configuration.threads = 2
    return try await HTTPServer.start(configuration: configuration, responder: try liveRouter())
}

/// Runs curl with `arguments`, returning stdout and stderr merged.
func curlOutput(_ arguments: [String]) async throws -> String {
    try await blocking { try runProcess("/bin/sh", ["-c", "curl " + arguments.map { "'\($0)'" }.joined(separator: " ") + " 2>&1"]) }
}

@Suite("HTTP server live", .serialized)
struct HTTPServerLiveTests {
    @Test("curl reuses one connection for two requests (keep-alive)")
    func curlKeepAlive() async throws {
        let server = try await startLive()
        let url = "http://127.0.0.1:\(server.port)/hello"
        let out = try await curlOutput(["-sv", url, url])
        #expect(out.components(separatedBy: "hello").count - 1 >= 2, "\(out)")
        #expect(out.contains("Re-using existing connection") || out.contains("Reusing existing connection"), "\(out)")
        await server.shutdown(gracePeriod: .seconds(1))
    }

    @Test("curl uploads a chunked body and a 100-continue body; both echo back byte for byte")
    func curlUploads() async throws {
        let server = try await startLive()
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("httpchat-upload-\(UInt32.random(in: 0...UInt32.max))").path
        let bytes = (0..<3_000_000).map { UInt8(truncatingIfNeeded: $0 &* 31) }
        #expect(FileManager.default.createFile(atPath: path, contents: Data(bytes)))
        defer { try? FileManager.default.removeItem(atPath: path) }
        let url = "http://127.0.0.1:\(server.port)/echo"
        let chunked = try await curlOutput(["-s", "-H", "Transfer-Encoding: chunked", "--data-binary", "@\(path)", url, "-o", path + ".1", "-w", "%{http_code}"])
        #expect(chunked == "200")
        #expect(FileManager.default.contents(atPath: path + ".1") == Data(bytes))
        let expect = try await curlOutput(["-sv", "-H", "Expect: 100-continue", "--data-binary", "@\(path)", url, "-o", path + ".2"])
        #expect(expect.contains("HTTP/1.1 100 Continue"), "\(expect)")
        #expect(FileManager.default.contents(atPath: path + ".2") == Data(bytes))
        try? FileManager.default.removeItem(atPath: path + ".1")
        try? FileManager.default.removeItem(atPath: path + ".2")
        await server.shutdown(gracePeriod: .seconds(1))
    }

    @Test("URLSession GETs, POSTs and reads a chunked stream")
    func urlSession() async throws {
        let server = try await startLive()
        let base = URL(string: "http://127.0.0.1:\(server.port)")!
        let session = URLSession(configuration: .ephemeral)
        let (hello, r1) = try await session.data(from: base.appendingPathComponent("hello"))
        #expect((r1 as? HTTPURLResponse)?.statusCode == 200)
        #expect(String(decoding: hello, as: UTF8.self) == "hello")
        var post = URLRequest(url: base.appendingPathComponent("echo"))
        post.httpMethod = "POST"
        post.httpBody = Data("posted".utf8)
        let (echoed, _) = try await session.data(for: post)
        #expect(String(decoding: echoed, as: UTF8.self) == "posted")
        let (streamed, _) = try await session.data(from: base.appendingPathComponent("stream"))
        let lines = String(decoding: streamed, as: UTF8.self).split(separator: "\n")
        #expect(lines.count == 100)
        #expect(lines.last == "line 99")
        let (_, missing) = try await session.data(from: base.appendingPathComponent("missing"))
        #expect((missing as? HTTPURLResponse)?.statusCode == 404)
        session.invalidateAndCancel()
        await server.shutdown(gracePeriod: .seconds(1))
    }

    @Test("raw-socket pipelining: three requests in one write, three responses in order")
    func rawPipelining() async throws {
        let server = try await startLive()
        let socket = try TestSocket(port: server.port)
        try socket.send("GET /slow HTTP/1.1\r\nHost: x\r\n\r\nPOST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nokGET /hello HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        let all = String(decoding: try await blocking { try socket.readToEnd() }, as: UTF8.self)
        let slow = all.range(of: "slow done")
        let ok = all.range(of: "\r\n\r\nok")
        let hello = all.range(of: "\r\n\r\nhello")
        #expect(slow != nil && ok != nil && hello != nil, "\(all)")
        if let slow, let ok, let hello {
            #expect(slow.lowerBound < ok.lowerBound && ok.lowerBound < hello.lowerBound, "\(all)")
        }
        await server.shutdown(gracePeriod: .seconds(1))
    }

    @Test("graceful shutdown: the request in flight completes with Connection: close, idle ones close, new ones are refused")
    func gracefulShutdown() async throws {
        // The request in flight is held by a gate, not a fixed sleep, so the test does not depend on when a
        // busy machine gets around to running the shutdown: the gate opens only once the shutdown has closed
        // the idle connection. One event loop: the shutdown reaches all of a loop's connections in one task, so
        // by then it has reached the busy one too. (On two loops the busy one's loop can lag, and its response
        // go out before the event, without `Connection: close`: that failed 1 run in 6. When each connection
        // was told in its own task, one loop failed too, on a loaded machine.)
        let (started, startedSignal) = AsyncStream<Void>.makeStream()
        let (gate, opener) = AsyncStream<Void>.makeStream()
        let router = Router()
        router.get("/hello") { _ in .text("hello") }
        router.get("/slow") { _ in
            startedSignal.yield(())
            for await _ in gate { break }
            return .text("slow done")
        }
        var configuration = ServerConfiguration(host: "127.0.0.1", port: 0)
        configuration.threads = 1
        let server = try await HTTPServer.start(configuration: configuration, responder: try router.build())
        let port = server.port
        let busy = try TestSocket(port: port)
        let idle = try TestSocket(port: port)
        try idle.send("GET /hello HTTP/1.1\r\nHost: x\r\n\r\n")
        _ = try await blocking { try idle.readLine() }
        try busy.send("GET /slow HTTP/1.1\r\nHost: x\r\n\r\n")
        for await _ in started { break }  // the request is in its handler
        let shutdown = Task { await server.shutdown(gracePeriod: .seconds(5)) }
        _ = try await blocking { try idle.readToEnd() }  // closed without waiting for the grace period
        opener.yield(())
        let answer = String(decoding: try await blocking { try busy.readToEnd() }, as: UTF8.self)
        #expect(answer.hasPrefix("HTTP/1.1 200 OK"), "\(answer)")
        #expect(answer.contains("Connection: close"), "\(answer)")
        #expect(answer.hasSuffix("slow done"), "\(answer)")
        await shutdown.value
        #expect(try await noLongerListening(port: port) { late in
            try late.send("GET /hello HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            return String(decoding: try late.readToEnd(), as: UTF8.self).hasSuffix("\r\n\r\nhello")
        })
    }

    @Test("responses carry an IMF-fixdate Date field")
    func dateField() async throws {
        let server = try await startLive()
        let socket = try TestSocket(port: server.port)
        try socket.send("GET /hello HTTP/1.1\r\nHost: x\r\n\r\n")
        let date = try await blocking { () -> String in
            var date = ""
            while true {
                let line = try socket.readLine()
                if line.isEmpty { return date }
                if line.hasPrefix("Date: ") { date = String(line.dropFirst(6)) }
            }
        }
        let pattern = #/^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d\d (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) \d{4} \d\d:\d\d:\d\d GMT$/#
        #expect(date.wholeMatch(of: pattern) != nil, "got \(date)")
        await server.shutdown(gracePeriod: .seconds(1))
    }

    @Test("a file-region body is sent with sendfile: whole and a sub-range arrive byte for byte")
    func fileRegionBody() async throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("httpchat-file-\(UInt32.random(in: 0...UInt32.max))").path
        let bytes = (0..<1_000_003).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ 3) }
        #expect(FileManager.default.createFile(atPath: path, contents: Data(bytes)))
        defer { try? FileManager.default.removeItem(atPath: path) }
        let router = Router()
        router.get("/whole") { _ in Response(body: try await .file(path: path)) }
        router.get("/part") { _ in Response(body: try await .file(path: path, range: 10..<5_000)) }
        router.get("/gone") { _ in Response(body: try await .file(path: path + ".missing")) }
        let server = try await HTTPServer.start(configuration: .init(host: "127.0.0.1", port: 0), responder: try router.build())
        let base = "http://127.0.0.1:\(server.port)"
        _ = try await curlOutput(["-s", base + "/whole", "-o", path + ".w"])
        #expect(FileManager.default.contents(atPath: path + ".w") == Data(bytes))
        _ = try await curlOutput(["-s", base + "/part", "-o", path + ".p"])
        #expect(FileManager.default.contents(atPath: path + ".p") == Data(bytes[10..<5_000]))
        #expect(try await curlOutput(["-s", "-o", "/dev/null", "-w", "%{http_code}", base + "/gone"]) == "500")
        let inProcess = try await ResponseBody.file(path: path, range: 0..<100).collect()
        #expect(Array(inProcess.readableBytesView) == Array(bytes[0..<100]))
        try? FileManager.default.removeItem(atPath: path + ".w")
        try? FileManager.default.removeItem(atPath: path + ".p")
        await server.shutdown(gracePeriod: .seconds(1))
    }

    @Test("two event loops send one cached large file to 24 curl clients at once, 4 times each: every body whole")
    func sharedFileOnTwoLoops() async throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("httpchat-shared-\(UInt32.random(in: 0...UInt32.max))").path
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let bytes = (0..<2_000_000).map { UInt8(truncatingIfNeeded: $0 &* 13 &+ $0 >> 9) }
        #expect(FileManager.default.createFile(atPath: folder + "/big.bin", contents: Data(bytes)))
        var configuration = ServerConfiguration(host: "127.0.0.1", port: 0)
        configuration.threads = 2
        let server = try await HTTPServer.start(configuration: configuration, responder: try FileServer(root: folder))
        let url = "http://127.0.0.1:\(server.port)/big.bin"
        // 24 clients, each fetching the file 4 times on one connection; each prints the sizes it got.
        let script = (0..<24).map { _ in "curl -s -w '%{size_download}\\n' \(Array(repeating: "-o /dev/null \(url)", count: 4).joined(separator: " ")) &" }
            .joined(separator: "\n") + "\nwait"
        let out = try await blocking { try runProcess("/bin/sh", ["-c", script + " 2>&1"]) }
        let sizes = out.split(separator: "\n").map(String.init)
        #expect(sizes.count == 96, "\(out.prefix(300))")
        #expect(sizes.allSatisfy { $0 == "2000000" }, "\(sizes.filter { $0 != "2000000" })")
        await server.shutdown(gracePeriod: .seconds(1))
    }
}

@Suite("Closing in stages, live")
struct LingeringCloseLiveTests {
    /// Answers sent before the request ended, while the client is still sending its 8 MiB body: a 413 at the
    /// head, and a 1 MiB answer from a handler that never reads the body (with `Connection: close`). The server
    /// shuts its sending side, drains what keeps coming and closes after, so no reset destroys the answer.
    static func earlyAnswer(_ target: String, linger: Duration?) async throws -> String {
        var configuration = ServerConfiguration(host: "127.0.0.1", port: 0)
        configuration.limits.maxBodyBytes = target == "/upload" ? 1 << 20 : 16 << 20
        configuration.chat.lingerTimeout = linger
        let router = Router()
        router.post("/ignore-body") { _ in .text(String(repeating: "a", count: 1 << 20)) }
        router.post("/upload") { request in .text("\(try await request.body.collect(upTo: 1 << 20).readableBytes)") }
        let server = try await HTTPServer.start(configuration: configuration, responder: try router.build())
        let port = server.port
        let answer = try await blocking {
            let socket = try TestSocket(port: port, timeoutSeconds: 10)
            try socket.send("POST \(target) HTTP/1.1\r\nHost: x\r\nContent-Length: \(8 << 20)\r\nConnection: close\r\n\r\n")
            let chunk = [UInt8](repeating: 0x78, count: 64 * 1024)
            for _ in 0..<128 { guard (try? socket.send(chunk)) != nil else { break } }
            return String(decoding: try socket.readToEnd(), as: UTF8.self)
        }
        await server.shutdown(gracePeriod: .seconds(1))
        return answer
    }

    @Test("an answer sent before the request ended reaches a client that is still sending", arguments: [
        "/upload", "/ignore-body", "/upload", "/ignore-body",
    ])
    func answerSurvivesUnreadUpload(target: String) async throws {
        let answer = try await Self.earlyAnswer(target, linger: .seconds(2))
        if target == "/upload" {
            #expect(answer.hasPrefix("HTTP/1.1 413 "), "\(answer.prefix(200))")
        } else {
            #expect(answer.hasPrefix("HTTP/1.1 200 ") && answer.hasSuffix(String(repeating: "a", count: 1000)), "\(answer.prefix(200))")
            #expect(answer.utf8.count > 1 << 20, "the whole answer: \(answer.utf8.count) bytes")
        }
    }

    @Test("a lingering connection closes once the peer closes its side, or after the linger time")
    func lingerEnds() async throws {
        var configuration = ServerConfiguration(host: "127.0.0.1", port: 0)
        configuration.chat.lingerTimeout = .milliseconds(300)
        let server = try await HTTPServer.start(configuration: configuration, responder: try liveRouter())
        let port = server.port
        // The client reads the answer to its end (the server's FIN) and then neither sends nor closes.
        let silent = try TestSocket(port: port)
        let sent = ContinuousClock.now
        try silent.send("GET /hello HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        let text = String(decoding: try silent.readToEnd(), as: UTF8.self)
        #expect(text.hasSuffix("hello"))
        while server.connectionCount > 0 && ContinuousClock.now - sent < .seconds(5) {
            try await Task.sleep(for: .milliseconds(20))
        }
        let lingered = ContinuousClock.now - sent
        #expect(server.connectionCount == 0, "closed after the linger time")
        #expect(lingered >= .milliseconds(300), "not before it: \(lingered)")
        await server.shutdown(gracePeriod: .seconds(1))

        // A peer that closes its side ends the linger at once, long before a 30 s linger time.
        configuration.chat.lingerTimeout = .seconds(30)
        let patient = try await HTTPServer.start(configuration: configuration, responder: try liveRouter())
        let polite = try TestSocket(port: patient.port)
        try polite.send("GET /hello HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        #expect(String(decoding: try polite.readToEnd(), as: UTF8.self).hasSuffix("hello"))
        polite.shutdownWrite()
        let closing = ContinuousClock.now
        while patient.connectionCount > 0 && ContinuousClock.now - closing < .seconds(10) {
            try await Task.sleep(for: .milliseconds(5))
        }
        #expect(patient.connectionCount == 0, "the peer's FIN ends the linger")
        await patient.shutdown(gracePeriod: .seconds(1))
    }
}


@Suite("Listen failures, live")
struct ListenFailureLiveTests {
    @Test("a port in use and an address not on this machine are explained; other errors are not the user's")
    func explained() async throws {
        let first = try await HTTPServer.start(
            configuration: ServerConfiguration(host: "127.0.0.1", port: 0), responder: try liveRouter()
        )
        let port = first.port
        do {
            let second = try await HTTPServer.start(
                configuration: ServerConfiguration(host: "127.0.0.1", port: port), responder: try liveRouter()
            )
            await second.shutdown(gracePeriod: .seconds(1))
            Issue.record("a second server bound the same port")
        } catch {
            let why = HTTPServer.listenFailure(error, host: "127.0.0.1", port: port)
            #expect(why == "port \(port) on 127.0.0.1 is in use (another server is listening there); try port 0 for a free one, or another port")
        }
        await first.shutdown(gracePeriod: .seconds(1))
        do {
            let stray = try await HTTPServer.start(
                configuration: ServerConfiguration(host: "10.9.9.9", port: 0), responder: try liveRouter()
            )
            await stray.shutdown(gracePeriod: .seconds(1))
            Issue.record("10.9.9.9 is not an address of this machine")
        } catch {
            #expect(HTTPServer.listenFailure(error, host: "10.9.9.9", port: 0)?.hasPrefix("the address 10.9.9.9 is not on this machine") == true)
        }
        #expect(HTTPServer.listenFailure(HTTPError(.notFound), host: "127.0.0.1", port: 1) == nil)
    }
}
