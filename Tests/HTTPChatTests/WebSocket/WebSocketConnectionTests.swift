import HTTPTypes
import NIOConcurrencyHelpers
import NIOCore
import Testing

@testable import HTTPChatCore
@testable import HTTPChatServer
import HTTPChatTesting

/// What a handler saw, for tests to read once it is done.
final class HandlerLog: Sendable {
    let messages = NIOLockedValueBox<[WebSocketMessage]>([])
    let ended = NIOLockedValueBox<WebSocketCloseCode?>(nil)
    let finished = NIOLockedValueBox(false)

    func waitUntilFinished() async throws -> Bool {
        for _ in 0..<2000 where !finished.withLockedValue({ $0 }) { try await Task.sleep(for: .milliseconds(1)) }
        return finished.withLockedValue { $0 }
    }
}

@Suite("WebSocket connections, in-process")
struct WebSocketConnectionTests {
    private func site(_ log: HandlerLog = HandlerLog(), options: WebSocketOptions = WebSocketOptions()) throws -> any HTTPResponder {
        let router = Router()
        router.webSocket("/echo", options: options) { inbound, outbound in
            for await message in inbound {
                log.messages.withLockedValue { $0.append(message) }
                switch message {
                case .text("close please"): await outbound.close(code: WebSocketCloseCode(rawValue: 4000), reason: "as asked")
                case .text("throw"): throw HTTPError(.badRequest)
                case .text(let text): try await outbound.send(text: text)
                case .binary(let bytes): try await outbound.send(binary: bytes)
                }
            }
            log.ended.withLockedValue { $0 = outbound.closeCode }
            log.finished.withLockedValue { $0 = true }
        }
        router.get("/plain") { _ in .text("plain") }
        router.get("/bad-upgrade") { _ in .switchingProtocols(headerFields: [:]) { WebSocketFramingProbe() } }
        return try router.build()
    }

    @Test("the 101 carries Upgrade, Connection: Upgrade and the accept value; messages echo; a client close is echoed and the server closes")
    func echoAndClose() async throws {
        let log = HandlerLog()
        let socket = try await InProcessWebSocket.connect(to: try site(log), path: "/echo")
        #expect(socket.handshake.headerFields[HTTPField.Name("Upgrade")!] == "websocket")
        #expect(socket.handshake.headerFields[.connection] == "Upgrade")
        #expect(socket.handshake.headerFields[HTTPField.Name("Sec-WebSocket-Accept")!] == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=")
        try await socket.send(text: "hello")
        #expect(try await socket.receiveMessage() == .text("hello"))
        try await socket.send(binary: ByteBuffer(bytes: [0, 1, 2, 255]))
        #expect(try await socket.receiveMessage() == .binary(ByteBuffer(bytes: [0, 1, 2, 255])))
        try await socket.send(WebSocketFrame(opcode: .close, payload: ByteBuffer(bytes: [0x03, 0xE9] + Array("bye".utf8))))
        let close = try #require(try await socket.receive())
        #expect(close.opcode == .close)
        #expect(Array(close.payload.readableBytesView) == [0x03, 0xE9])  // the code echoed
        #expect(try await socket.receive(timeout: .milliseconds(200)) == nil)
        #expect(!socket.connection.isOpen)
        #expect(try await log.waitUntilFinished())
        #expect(log.ended.withLockedValue { $0 } == .goingAway)
    }

    @Test("a ping is answered with a pong of the same payload, even between the fragments of a message")
    func pingPong() async throws {
        let socket = try await InProcessWebSocket.connect(to: try site(), path: "/echo")
        try await socket.send(WebSocketFrame(fin: false, opcode: .text, payload: ByteBuffer(string: "frag")))
        try await socket.send(WebSocketFrame(opcode: .ping, payload: ByteBuffer(string: "are you there")))
        let pong = try #require(try await socket.receive())
        #expect(pong.opcode == .pong)
        #expect(String(buffer: pong.payload) == "are you there")
        try await socket.send(WebSocketFrame(opcode: .continuation, payload: ByteBuffer(string: "ment")))
        #expect(try await socket.receiveMessage() == .text("fragment"))
    }

    @Test("a protocol error closes with its code: an unmasked frame 1002, bad UTF-8 1007, too big 1009")
    func protocolErrors() async throws {
        var options = WebSocketOptions()
        options.maxMessageBytes = 1000
        for (bytes, code) in [
            (clientFrame(fin(0x1), Array("hi".utf8), masked: false), UInt16(1002)),
            (clientFrame(fin(0x1), [0xFF]), 1007),
            (clientFrame(fin(0x2), [UInt8](repeating: 0, count: 1001)), 1009),
        ] {
            let log = HandlerLog()
            let socket = try await InProcessWebSocket.connect(to: try site(log, options: options), path: "/echo")
            try await socket.sendRaw(bytes)
            let close = try #require(try await socket.receive())
            #expect(close.opcode == .close)
            var payload = close.payload
            #expect(payload.readInteger(as: UInt16.self) == code)
            #expect(try await socket.receive(timeout: .milliseconds(100)) == nil)
            #expect(!socket.connection.isOpen)
            #expect(try await log.waitUntilFinished())
            #expect(log.messages.withLockedValue { $0 }.isEmpty)
        }
    }

    @Test("the handler closes: its code goes out after its messages, later sends throw, and the server waits for the client's close until the timeout")
    func serverClose() async throws {
        var options = WebSocketOptions()
        options.closeTimeout = .seconds(3)
        let socket = try await InProcessWebSocket.connect(to: try site(options: options), path: "/echo")
        try await socket.send(text: "one")
        try await socket.send(text: "close please")
        #expect(try await socket.receiveMessage() == .text("one"))
        let close = try #require(try await socket.receive())
        #expect(close.opcode == .close)
        var payload = close.payload
        #expect(payload.readInteger(as: UInt16.self) == 4000)
        #expect(String(buffer: payload) == "as asked")
        #expect(socket.connection.isOpen)  // waiting for the client's close frame
        await socket.connection.advanceTime(by: .seconds(2))
        #expect(socket.connection.isOpen)
        await socket.connection.advanceTime(by: .seconds(2))
        _ = try await socket.receive(timeout: .milliseconds(50))
        #expect(!socket.connection.isOpen)
    }

    @Test("a handler that throws closes with 1011; one that returns closes with 1000")
    func handlerEnds() async throws {
        let socket = try await InProcessWebSocket.connect(to: try site(), path: "/echo")
        try await socket.send(text: "throw")
        let close = try #require(try await socket.receive())
        var payload = close.payload
        #expect(close.opcode == .close && payload.readInteger(as: UInt16.self) == 1011)

        let router = Router()
        router.webSocket("/hello") { _, outbound in try await outbound.send(text: "hi and bye") }
        let short = try await InProcessWebSocket.connect(to: try router.build(), path: "/hello")
        #expect(try await short.receiveMessage() == .text("hi and bye"))
        let normal = try #require(try await short.receive())
        var normalPayload = normal.payload
        #expect(normal.opcode == .close && normalPayload.readInteger(as: UInt16.self) == 1000)
        try await short.send(WebSocketFrame(opcode: .close, payload: ByteBuffer(bytes: [0x03, 0xE8])))
        _ = try await short.receive(timeout: .milliseconds(50))
        #expect(!short.connection.isOpen)
    }

    @Test("a silent client is pinged after the idle interval and dropped when the ping goes unanswered; an answer keeps it")
    func idlePings() async throws {
        var options = WebSocketOptions()
        options.pingInterval = .seconds(30)
        options.pingTimeout = .seconds(10)
        let socket = try await InProcessWebSocket.connect(to: try site(options: options), path: "/echo")
        await socket.connection.advanceTime(by: .seconds(31))
        let ping = try #require(try await socket.receive())
        #expect(ping.opcode == .ping)
        try await socket.send(WebSocketFrame(opcode: .pong, payload: ping.payload))
        await socket.connection.advanceTime(by: .seconds(11))
        #expect(socket.connection.isOpen)  // answered: the next ping is 30 s after the pong
        await socket.connection.advanceTime(by: .seconds(20))
        let second = try #require(try await socket.receive())
        #expect(second.opcode == .ping)
        await socket.connection.advanceTime(by: .seconds(11))  // no answer this time
        let close = try #require(try await socket.receive())
        var payload = close.payload
        #expect(close.opcode == .close && payload.readInteger(as: UInt16.self) == 1011)
        #expect(!socket.connection.isOpen)
    }

    @Test("subprotocols, compression and the origin check are negotiated in the handshake")
    func negotiation() async throws {
        var options = WebSocketOptions()
        options.subprotocols = ["chat.v2"]
        options.acceptsOrigin = { $0 == "https://good.example" }
        let router = Router()
        router.webSocket("/room", options: options) { inbound, outbound in
            for await message in inbound { if case .text(let t) = message { try await outbound.send(text: t + t) } }
        }
        let site = try router.build()
        let socket = try await InProcessWebSocket.connect(to: site, path: "/room", headerFields: [
            HTTPField.Name("Origin")!: "https://good.example",
            HTTPField.Name("Sec-WebSocket-Protocol")!: "chat.v1, chat.v2",
            HTTPField.Name("Sec-WebSocket-Extensions")!: "permessage-deflate; client_max_window_bits",
        ])
        #expect(socket.handshake.headerFields[HTTPField.Name("Sec-WebSocket-Protocol")!] == "chat.v2")
        #expect(socket.handshake.headerFields[HTTPField.Name("Sec-WebSocket-Extensions")!] == "permessage-deflate")
        // A compressed message from the client, and the server's compressed answer.
        let deflater = MessageDeflater(windowBits: 15, contextTakeover: true)
        try await socket.send(WebSocketFrame(rsv1: true, opcode: .text, payload: deflater.compress(ByteBuffer(string: "abc"))))
        let answer = try #require(try await socket.receive())
        #expect(answer.rsv1)
        let inflater = MessageInflater(windowBits: 15, contextTakeover: true)
        var plain = ByteBuffer()
        try inflater.inflate(answer.payload, last: true, into: &plain, limit: 100)
        #expect(String(buffer: plain) == "abcabc")

        await #expect(throws: InProcessWebSocket.Failure.self) {
            _ = try await InProcessWebSocket.connect(to: site, path: "/room", headerFields: [HTTPField.Name("Origin")!: "https://evil.example"])
        }
        let refused = try await InProcessConnection(responder: site)
        try await refused.send("GET /room HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nOrigin: https://evil.example\r\n\r\n")
        #expect(try await refused.readResponse()?.status == 403)
    }

    @Test("no 101 goes out any other way: a plain GET to a WebSocket route is 426, an Upgrade to a normal route is served normally, a 101 for a request that did not ask is 500")
    func onlyRealUpgrades() async throws {
        let connection = try await InProcessConnection(responder: try site())
        try await connection.send("GET /echo HTTP/1.1\r\nHost: x\r\n\r\n")
        let plain = try #require(try await connection.readResponse())
        #expect(plain.status == 426)
        #expect(plain.headerFields[HTTPField.Name("Upgrade")!] == "websocket")
        try await connection.send("GET /plain HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
        let served = try #require(try await connection.readResponse())
        #expect(served.status == 200 && served.text == "plain")
        try await connection.send("GET /bad-upgrade HTTP/1.1\r\nHost: x\r\n\r\n")
        #expect(try await connection.readResponse()?.status == 500)
        // And still HTTP afterwards.
        try await connection.send("GET /plain HTTP/1.1\r\nHost: x\r\n\r\n")
        #expect(try await connection.readResponse()?.text == "plain")
    }

    @Test("frames sent in the same write as the handshake are read by the WebSocket, not as HTTP")
    func bytesAfterTheHandshake() async throws {
        let connection = try await InProcessConnection(responder: try site())
        var bytes = ByteBuffer(string: "GET /echo HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n")
        bytes.writeBytes(clientFrame(fin(0x1), Array("early".utf8)))
        try await connection.send(bytes)
        #expect(try await connection.readResponse(head: true)?.status == 101)
        var frame: WebSocketFrame?
        var pending = ByteBuffer()
        for _ in 0..<1000 where frame == nil {
            var more = try await connection.takeOutput()
            pending.writeBuffer(&more)
            frame = try InProcessWebSocket.parse(&pending)
            if frame == nil { try await Task.sleep(for: .milliseconds(1)) }
        }
        #expect(frame?.opcode == .text)
        #expect(frame.map { String(buffer: $0.payload) } == "early")
    }

    @Test("sends from several tasks on other executors at once arrive whole, each task's in its order, and none after the close frame")
    func concurrentSendersAndClose() async throws {
        let router = Router()
        router.webSocket("/fan") { inbound, outbound in
            for await _ in inbound {
                // Four senders off the connection's loop, racing each other and, after a while, the close.
                await withTaskGroup(of: Void.self) { group in
                    for sender in 0..<4 {
                        group.addTask {
                            for n in 0..<300 {
                                do { try await outbound.send(text: "\(sender)-\(n)") } catch { return }
                            }
                        }
                    }
                    group.addTask {
                        try? await Task.sleep(for: .milliseconds(2))
                        await outbound.close(code: .normalClosure)
                    }
                }
                return
            }
        }
        let socket = try await InProcessWebSocket.connect(to: try router.build(), path: "/fan")
        try await socket.send(text: "go")
        var next = [Int](repeating: 0, count: 4)
        var sawClose = false
        while let frame = try await socket.receive(timeout: .seconds(10)) {
            #expect(!sawClose, "a frame after the close frame: \(frame.opcode)")
            if frame.opcode == .close {
                sawClose = true
                try await socket.send(WebSocketFrame(opcode: .close, payload: ByteBuffer(bytes: [0x03, 0xE8])))
                continue
            }
            let parts = String(buffer: frame.payload).split(separator: "-").compactMap { Int($0) }
            try #require(parts.count == 2 && (0..<4).contains(parts[0]), "a torn message: \(String(buffer: frame.payload))")
            #expect(parts[1] == next[parts[0]], "sender \(parts[0]) out of order")
            next[parts[0]] = parts[1] + 1
        }
        #expect(sawClose)
    }

    @Test("messages that arrive in one read are echoed in one flush, not one write and flush each")
    func burstEchoesShareAFlush() async throws {
        let socket = try await InProcessWebSocket.connect(to: try site(), path: "/echo")
        try await socket.send(text: "warm-up")
        #expect(try await socket.receiveMessage() == .text("warm-up"))
        let flushes = FlushCounter()
        try await socket.connection.channel.pipeline.addHandler(flushes, position: .first)
        var burst = ByteBuffer()
        for n in 0..<16 {
            WebSocketFrame(opcode: .text, payload: ByteBuffer(string: "m\(n)")).write(into: &burst, mask: (1, 2, 3, 4))
        }
        try await socket.connection.send(burst)
        for n in 0..<16 { #expect(try await socket.receiveMessage() == .text("m\(n)")) }
        #expect(flushes.count.withLockedValue { $0 } == 1)
    }
}

/// Counts the flushes that reach the socket.
final class FlushCounter: ChannelOutboundHandler, Sendable {
    typealias OutboundIn = IOData
    let count = NIOLockedValueBox(0)
    func flush(context: ChannelHandlerContext) {
        count.withLockedValue { $0 += 1 }
        context.flush()
    }
}

/// A protocol that is never started (a 101 for a request that did not ask is refused first).
final class WebSocketFramingProbe: ChatProtocol {
    func collectIncomingData(_ data: ByteBuffer, chat: ChatChannel) {}
    func foundTerminator(chat: ChatChannel) {}
}
