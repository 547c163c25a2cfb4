import HTTPTypes
import NIOCore
import Testing

@testable import HTTPChatCore
@testable import HTTPChatServer
import HTTPChatTesting

/// Answers `METHOD target body` as text, after reading the whole body.
let echo = ResponderFunction { request in
    let body = try await request.body.collect(upTo: 1 << 20)
    var response = Response.text("\(request.method.rawValue) \(request.target) \(String(buffer: body))")
    if let trailers = request.trailerFields {
        response.headerFields[HTTPField.Name("X-Trailers")!] = trailers.map { "\($0.name)=\($0.value)" }.joined(separator: ",")
    }
    return response
}

@Suite("HTTP connection")
struct HTTPConnectionTests {
    @Test("pipelined requests sent in one write are answered in order on one connection")
    func pipelining() async throws {
        let c = try await InProcessConnection(responder: echo)
        try await c.send(
            "GET /a HTTP/1.1\r\nHost: x\r\n\r\nPOST /b HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nxyz"
                + "PUT /c HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhi\r\n0\r\n\r\n"
        )
        let a = try await c.readResponse()
        let b = try await c.readResponse()
        let cc = try await c.readResponse()
        #expect(a?.text == "GET /a ")
        #expect(b?.text == "POST /b xyz")
        #expect(cc?.text == "PUT /c hi")
        #expect(c.isOpen)
    }

    @Test("a slow responder's pipelined successors wait their turn")
    func pipeliningWithSlowFirst() async throws {
        let slowFirst = ResponderFunction { request in
            if request.target == "/slow" { try await Task.sleep(for: .milliseconds(50)) }
            return .text(request.target)
        }
        let c = try await InProcessConnection(responder: slowFirst)
        try await c.send("GET /slow HTTP/1.1\r\nHost: x\r\n\r\nGET /fast HTTP/1.1\r\nHost: x\r\n\r\n")
        #expect(try await c.readResponse()?.text == "/slow")
        #expect(try await c.readResponse()?.text == "/fast")
    }

    @Test("HTTP/1.0 closes after the response unless it asks for keep-alive")
    func http10KeepAlive() async throws {
        let c = try await InProcessConnection(responder: echo)
        try await c.send("GET /k HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
        let kept = try #require(try await c.readResponse())
        #expect(kept.headerFields[.connection] == "keep-alive")
        #expect(c.isOpen)
        try await c.send("GET /c HTTP/1.0\r\n\r\n")
        let closed = try #require(try await c.readResponse())
        #expect(closed.headerFields[.connection] == "close")
        #expect(try await c.closes(), "an HTTP/1.0 request without keep-alive: still open")
    }

    @Test("Connection: close is honoured after the response")
    func connectionClose() async throws {
        let c = try await InProcessConnection(responder: echo)
        try await c.send("GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\nGET /ignored HTTP/1.1\r\nHost: x\r\n\r\n")
        let r = try #require(try await c.readResponse())
        #expect(r.headerFields[.connection] == "close")
        #expect(try await c.readResponse(timeout: .milliseconds(100)) == nil)
        #expect(!c.isOpen)
    }

    @Test("an HTTP/1.2 request is answered as HTTP/1.1, kept alive without Connection: keep-alive")
    func higherMinorVersionIsHTTP11() async throws {
        let c = try await InProcessConnection(responder: echo)
        try await c.send("GET /v HTTP/1.2\r\nHost: x\r\n\r\n")
        let r = try #require(try await c.readResponse())
        #expect(r.status == 200, "got \(r.status), want 200")
        #expect(r.text == "GET /v ")
        #expect(r.headerFields[.connection] == nil)
        #expect(c.isOpen)
    }

    @Test("HEAD gets the GET response's fields and no body")
    func headHasNoBody() async throws {
        let c = try await InProcessConnection(responder: ResponderFunction { _ in .text("twelve bytes") })
        try await c.send("HEAD / HTTP/1.1\r\nHost: x\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n")
        let head = try #require(try await c.readResponse(head: true))
        #expect(head.headerFields[.contentLength] == "12")
        #expect(head.body.readableBytes == 0)
        #expect(try await c.readResponse()?.text == "twelve bytes")
    }

    @Test("204 and 304 carry no body and no Content-Length")
    func noBodyStatuses() async throws {
        let c = try await InProcessConnection(responder: ResponderFunction { request in
            Response(status: request.target == "/204" ? .noContent : .notModified, body: .init(string: "ignored"))
        })
        try await c.send("GET /204 HTTP/1.1\r\nHost: x\r\n\r\nGET /304 HTTP/1.1\r\nHost: x\r\n\r\nGET /204 HTTP/1.1\r\nHost: x\r\n\r\n")
        for want in [204, 304, 204] {
            let r = try #require(try await c.readResponse())
            #expect(r.status == want)
            #expect(r.headerFields[.contentLength] == nil)
        }
    }

    @Test("Expect: 100-continue gets 100 Continue when the body is read, then the response")
    func continueWhenRead() async throws {
        let c = try await InProcessConnection(responder: echo)
        try await c.send("PUT /up HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n")
        let interim = try #require(try await c.readResponse())
        #expect(interim.status == 100)
        try await c.send("data")
        #expect(try await c.readResponse()?.text == "PUT /up data")
    }

    @Test("a responder that rejects without reading the body sends no 100 and closes")
    func noContinueWhenRejected() async throws {
        let c = try await InProcessConnection(responder: ResponderFunction { _ in throw HTTPError(.unauthorized) })
        try await c.send("PUT /up HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n")
        let r = try #require(try await c.readResponse())
        #expect(r.status == 401)
        #expect(r.headerFields[.connection] == "close")
    }

    @Test("an unknown expectation is 417")
    func expectationFailed() async throws {
        let c = try await InProcessConnection(responder: echo)
        try await c.send("PUT / HTTP/1.1\r\nHost: x\r\nExpect: teapot\r\nContent-Length: 1\r\n\r\nx")
        #expect(try await c.readResponse()?.status == 417)
    }

    @Test("chunked bodies with extensions and trailers reach the responder de-chunked, with trailers")
    func chunkedWithTrailers() async throws {
        let c = try await InProcessConnection(responder: echo)
        let body = "4;ext=1\r\nWiki\r\n5\r\npedia\r\n0\r\nX-Sum: abc\r\n\r\n"
        try await c.send("POST /t HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" + body)
        let r = try #require(try await c.readResponse())
        #expect(r.text == "POST /t Wikipedia")
        #expect(r.headerFields[HTTPField.Name("X-Trailers")!] == "X-Sum=abc")
    }

    @Test("parse errors answer their status with Connection: close, then close", arguments: [
        ("GET / HTTP/1.1\r\nHost: x\r\nBad Name: 1\r\n\r\n", 400),
        ("GET / HTTP/3.0\r\nHost: x\r\n\r\n", 505),
        ("GET /path#frag HTTP/1.1\r\nHost: x\r\n\r\n", 400),
        ("BREW / HTTP/1.1\r\nHost: x\r\n\r\n", 501),
        ("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999\r\n\r\n", 413),
        ("GET /" + String(repeating: "a", count: 9000) + " HTTP/1.1\r\n", 414),
        (String(repeating: "A", count: 100_000) + " / HTTP/1.1\r\nHost: x\r\n\r\n", 501),
        ("GET / HTTP/1.1\r\nHost: x\r\nX: " + String(repeating: "a", count: 40000), 431),
    ])
    func parseErrors(_ raw: String, _ status: Int) async throws {
        let c = try await InProcessConnection(responder: echo)
        try await c.send(raw)
        let r = try #require(try await c.readResponse())
        #expect(r.status == status)
        #expect(r.headerFields[.connection] == "close")
        #expect(!r.text.contains("Content-Length"), "internal detail leaked: \(r.text)")
        #expect(try await c.closes(), "still open after \(status)")
    }

    @Test("a chunked body whose trailer section ends in a bare LF is answered 400 at once, with no clock advanced")
    func bareLFTrailerAnsweredAtOnce() async throws {
        let c = try await InProcessConnection(responder: echo)
        try await c.send("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\n")
        let r = try #require(try await c.readResponse())
        #expect(r.status == 400, "got \(r.status), want 400")
        #expect(r.headerFields[.connection] == "close")
    }

    @Test("OPTIONS * is answered by the server itself: 204 with Allow, whatever the responder would say")
    func optionsAsteriskIsServerWide() async throws {
        let router = Router()
        router.get("/") { _ in .text("root") }
        let refusing = ResponderFunction { _ in throw HTTPError(.methodNotAllowed) }
        for responder in [try router.build() as any HTTPResponder, refusing] {
            let c = try await InProcessConnection(responder: responder)
            try await c.send("OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n")
            let r = try #require(try await c.readResponse())
            #expect(r.status == 204, "got \(r.status), want 204")
            #expect(r.headerFields[.allow] == "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS", "got \(String(describing: r.headerFields[.allow]))")
            #expect(c.isOpen)
        }
        var limits = HTTPLimits()
        limits.acceptedMethods = ["GET", "HEAD", "OPTIONS", "M-SEARCH"]
        let c = try await InProcessConnection(responder: echo, limits: limits)
        try await c.send("OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\nOPTIONS /a HTTP/1.1\r\nHost: x\r\n\r\nM-SEARCH * HTTP/1.1\r\nHost: x\r\n\r\n")
        #expect(try await c.readResponse()?.headerFields[.allow] == "GET, HEAD, OPTIONS", "Allow lists only accepted methods")
        #expect(try await c.readResponse()?.text == "OPTIONS /a ", "OPTIONS on a path goes to the responder")
        #expect(try await c.readResponse()?.text == "M-SEARCH * ", "another method with * goes to the responder")
    }

    @Test("a malformed chunk after the responder started replaces its answer with 400")
    func badChunkWhileResponding() async throws {
        let c = try await InProcessConnection(responder: echo)
        try await c.send("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nab\r\nzz\r\n")
        let r = try #require(try await c.readResponse())
        #expect(r.status == 400)
        #expect(r.headerFields[.connection] == "close")
    }

    @Test("an HTTPError becomes its status and message; other errors become a bare 500")
    func errors() async throws {
        struct Secret: Error {}
        let c = try await InProcessConnection(responder: ResponderFunction { request in
            if request.target == "/teapot" { throw HTTPError(.init(code: 418), "short and stout") }
            throw Secret()
        })
        try await c.send("GET /teapot HTTP/1.1\r\nHost: x\r\n\r\nGET /boom HTTP/1.1\r\nHost: x\r\n\r\n")
        let teapot = try #require(try await c.readResponse())
        #expect(teapot.status == 418)
        #expect(teapot.text == "short and stout\n")
        let boom = try #require(try await c.readResponse())
        #expect(boom.status == 500)
        #expect(!boom.text.contains("Secret"))
        #expect(c.isOpen, "a handler error is not a protocol error")
    }

    @Test("a body of unknown length is sent chunked to 1.1 clients and close-delimited to 1.0")
    func unknownLengthBodies() async throws {
        let streaming = ResponderFunction { _ in
            Response(body: .stream { writer in
                try await writer.write("one,")
                try await writer.write("two")
            })
        }
        let c = try await InProcessConnection(responder: streaming)
        try await c.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        let r = try #require(try await c.readResponse())
        #expect(r.headerFields[.transferEncoding] == "chunked")
        #expect(r.text == "one,two")
        let c10 = try await InProcessConnection(responder: streaming)
        try await c10.send("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
        let r10 = try #require(try await c10.readResponse())
        #expect(r10.headerFields[.transferEncoding] == nil)
        #expect(r10.headerFields[.connection] == "close")
        #expect(r10.text == "one,two")
    }

    @Test("a streamed body whose writer throws midway is cut short: no last chunk, the connection closes")
    func streamFailureAborts() async throws {
        struct Broken: Error {}
        let failing = ResponderFunction { _ in
            Response(body: .stream { writer in
                try await writer.write("first part,")
                throw Broken()
            })
        }
        let c = try await InProcessConnection(responder: failing)
        try await c.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        #expect(try await c.closes(within: .seconds(5)), "still open after the body's writer threw")
        let raw = try await c.pendingOutput()
        #expect(raw.contains("Transfer-Encoding: chunked\r\n"), "\(raw)")
        #expect(raw.hasSuffix("b\r\nfirst part,\r\n"), "the body must end without the last chunk: \(raw)")
        #expect(!raw.contains("\r\n0\r\n\r\n"), "\(raw)")
    }

    @Test("a body of exactly maxCollectedBodyBytes arrives collected; one byte more streams")
    func collectedBodyBoundary() async throws {
        var limits = HTTPLimits()
        limits.maxCollectedBodyBytes = 8
        let how = ResponderFunction { request in
            let collected = request.body.bufferedBytes != nil
            let body = try await request.body.collect(upTo: 1 << 20)
            return .text("\(collected ? "collected" : "streamed") \(body.readableBytes)")
        }
        let c = try await InProcessConnection(responder: how, limits: limits)
        try await c.send("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 8\r\n\r\n12345678")
        let atLimit = try await c.readResponse()?.text
        #expect(atLimit == "collected 8", "got \(String(describing: atLimit)), want collected 8")
        try await c.send("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 9\r\n\r\n123456789")
        let overLimit = try await c.readResponse()?.text
        #expect(overLimit == "streamed 9", "got \(String(describing: overLimit)), want streamed 9")
    }

    @Test("a large streamed request body reaches the responder whole, with backpressure")
    func streamedRequestBody() async throws {
        let counter = ResponderFunction { request in
            var total = 0
            for try await chunk in request.body {
                total += chunk.readableBytes
                try await Task.sleep(for: .microseconds(100))  // a slow consumer
            }
            return .text("\(total)")
        }
        let c = try await InProcessConnection(responder: counter)
        let size = 1 << 20
        try await c.send("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: \(size)\r\n\r\n")
        let chunk = String(repeating: "z", count: 16 * 1024)
        for _ in 0..<(size / chunk.utf8.count) { try await c.send(chunk) }
        #expect(try await c.readResponse()?.text == "\(size)")
    }

    @Test("the header-read timeout answers 408 to a client that stalls mid-head, and closes")
    func headerTimeout() async throws {
        var limits = HTTPLimits()
        limits.headerReadTimeout = .seconds(2)
        let c = try await InProcessConnection(responder: echo, limits: limits)
        try await c.send("GET / HTTP/1.1\r\nHo")
        await c.advanceTime(by: .seconds(1))
        #expect(c.isOpen)
        await c.advanceTime(by: .seconds(2))
        let r = try #require(try await c.readResponse())
        #expect(r.status == 408)
        #expect(!c.isOpen)
    }

    @Test("a connection that never sends anything is closed at the header-read timeout without an answer")
    func silentConnection() async throws {
        var limits = HTTPLimits()
        limits.headerReadTimeout = .seconds(2)
        let c = try await InProcessConnection(responder: echo, limits: limits)
        await c.advanceTime(by: .seconds(3))
        #expect(!c.isOpen)
        #expect(try await c.pendingOutput() == "")
    }

    @Test("an idle keep-alive connection closes at the idle timeout, not before")
    func idleTimeout() async throws {
        var limits = HTTPLimits()
        limits.idleTimeout = .seconds(5)
        limits.headerReadTimeout = .seconds(1)
        let c = try await InProcessConnection(responder: echo, limits: limits)
        try await c.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        #expect(try await c.readResponse() != nil)
        await c.advanceTime(by: .seconds(4))
        #expect(c.isOpen, "idle for 4 s of 5")
        try await c.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        #expect(try await c.readResponse() != nil)
        await c.advanceTime(by: .seconds(4))
        #expect(c.isOpen, "the idle clock restarts after each response")
        await c.advanceTime(by: .seconds(2))
        #expect(!c.isOpen)
    }

    @Test("timeouts are Durations kept to the nanosecond: a 1.5 s idle timeout has not fired 1 ns before, and has at 1.5 s")
    func fractionalTimeout() async throws {
        var limits = HTTPLimits()
        limits.idleTimeout = .seconds(1.5)
        let c = try await InProcessConnection(responder: echo, limits: limits)
        try await c.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        #expect(try await c.readResponse() != nil)
        await c.advanceTime(by: .seconds(1.5) - .nanoseconds(1))
        #expect(c.isOpen, "idle for 1 ns less than 1.5 s")
        await c.advanceTime(by: .nanoseconds(1))
        #expect(try await c.closes(), "still open at 1.5 s")
    }

    @Test("a client that stops mid-body gets 408 at the body-read timeout, collected or streamed, and is closed")
    func bodyTimeout() async throws {
        var limits = HTTPLimits()
        limits.bodyReadTimeout = .seconds(2)  // shorter than the header-read timeout's 10 s: it still counts
        limits.maxCollectedBodyBytes = 16
        for (length, how) in [(10, "collected"), (1000, "streamed")] {
            let c = try await InProcessConnection(responder: echo, limits: limits)
            try await c.send("POST /up HTTP/1.1\r\nHost: x\r\nContent-Length: \(length)\r\n\r\nabc")
            await c.advanceTime(by: .milliseconds(1500))
            #expect(c.isOpen, "\(how): 1.5 s of 2 without body bytes")
            await c.advanceTime(by: .seconds(1))
            let r = try #require(try await c.readResponse(), "\(how)")
            #expect(r.status == 408, "\(how)")
            #expect(r.headerFields[.connection] == "close", "\(how)")
            #expect(try await c.closes(), "\(how): still open after 408")
        }
    }

    @Test("the body-read timeout counts from the last bytes: a body that trickles in slower than it in total is read")
    func bodyTimeoutIsBetweenReads() async throws {
        var limits = HTTPLimits()
        limits.bodyReadTimeout = .seconds(2)
        for length in [5, 100_000] {  // collected and streamed
            let c = try await InProcessConnection(responder: ResponderFunction { request in
                .text("\(try await request.body.collect(upTo: 1 << 20).readableBytes)")
            }, limits: limits)
            try await c.send("POST /up HTTP/1.1\r\nHost: x\r\nContent-Length: \(length)\r\n\r\n")
            var sent = 0
            for i in 0..<5 {
                await c.advanceTime(by: .milliseconds(1500))
                let n = i == 4 ? length - sent : length / 5
                try await c.send(String(repeating: "b", count: n))
                sent += n
            }
            #expect(try await c.readResponse()?.text == "\(length)", "7.5 s in all, never 2 s without bytes")
            #expect(c.isOpen)
        }
    }

    /// A connection with a 2 s body-read timeout whose responder reads nothing until `open` yields, then
    /// answers the body's size.
    private func gatedConnection() async throws -> (InProcessConnection, AsyncStream<Void>.Continuation) {
        var limits = HTTPLimits()
        limits.bodyReadTimeout = .seconds(2)
        let (gate, open) = AsyncStream<Void>.makeStream()
        let c = try await InProcessConnection(responder: ResponderFunction { request in
            for await _ in gate { break }
            return .text("\(try await request.body.collect(upTo: 1 << 20).readableBytes)")
        }, limits: limits)
        return (c, open)
    }

    @Test("the body-read timeout does not run while the server holds the body back: 100 Continue not yet sent")
    func bodyTimeoutWaitsForContinue() async throws {
        let (c, open) = try await gatedConnection()
        try await c.send("PUT /up HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n")
        await c.advanceTime(by: .seconds(5))
        #expect(c.isOpen)
        #expect(try await c.pendingOutput() == "", "no 408 while the client waits for 100 Continue")
        open.yield()
        #expect(try await c.readResponse()?.status == 100)
        try await c.send("data")
        #expect(try await c.readResponse()?.text == "4")
    }

    @Test("the body-read timeout does not run while the server holds the body back: its consumer is slow")
    func bodyTimeoutWaitsForConsumer() async throws {
        let (c, open) = try await gatedConnection()  // reads nothing for a while: the body's buffer fills, input pauses
        try await c.send("POST /up HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n")
        for _ in 0..<20 { try await c.send(String(repeating: "b", count: 5000)) }
        await c.advanceTime(by: .seconds(5))
        #expect(c.isOpen)
        #expect(try await c.pendingOutput() == "", "no 408 while the server is the one not reading")
        open.yield()
        #expect(try await c.readResponse()?.text == "100000")
    }

    @Test("end of input after pipelined requests: every one is answered, then the connection closes")
    func halfCloseAnswersAll() async throws {
        let c = try await InProcessConnection(responder: echo)
        try await c.send("GET /1 HTTP/1.1\r\nHost: x\r\n\r\nGET /2 HTTP/1.1\r\nHost: x\r\n\r\n")
        await c.finishSending()
        #expect(try await c.readResponse()?.text == "GET /1 ")
        #expect(try await c.readResponse()?.text == "GET /2 ")
        #expect(try await c.closes(), "still open after the last response to a half-closed client")
    }

    @Test("a streamed body the responder ignores is discarded, and the next request on the connection is answered")
    func ignoredBodyIsDrained() async throws {
        let c = try await InProcessConnection(responder: ResponderFunction { request in .text("saw \(request.target)") })
        let size = 512 * 1024
        try await c.send("PUT /big HTTP/1.1\r\nHost: x\r\nContent-Length: \(size)\r\n\r\n")
        #expect(try await c.readResponse()?.text == "saw /big")
        let chunk = String(repeating: "q", count: 32 * 1024)
        for _ in 0..<(size / chunk.utf8.count) { try await c.send(chunk) }
        try await c.send("GET /next HTTP/1.1\r\nHost: x\r\n\r\n")
        #expect(try await c.readResponse()?.text == "saw /next")
        #expect(c.isOpen)
    }
}
