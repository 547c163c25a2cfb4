import HTTPChat
import LineChat
import TestSupport
import Testing

/// LineChat over real loopback sockets, as `nc` users meet it.
@Suite("LineChat live")
struct LineChatLiveTests {
    /// Connects and reads the welcome line, returning the socket and the guest name.
    func join(_ port: Int) throws -> (TestSocket, String) {
        let socket = try TestSocket(port: port)
        let welcome = try socket.readLine()
        let name = welcome.split(separator: " ").first { $0.hasPrefix("guest") }.map { String($0.dropLast()) } ?? ""
        #expect(welcome.hasPrefix("* welcome, you are guest"), "got \(welcome)")
        return (socket, name)
    }

    @Test("a plain line reaches the others as NAME: text, with \\r\\n or \\n line ends")
    func broadcastsLines() async throws {
        let (listener, _) = try await LineChatServer.start(port: 0)
        let (alice, _) = try join(listener.port)
        let (bob, _) = try join(listener.port)
        #expect(try alice.readLine().hasSuffix("joined"))
        try alice.send("/nick alice\r\n")
        #expect(try alice.readLine() == "* you are now alice")
        let renamed = try bob.readLine()
        #expect(renamed.hasSuffix("is now alice"), "got \(renamed)")
        try alice.send("hello there\r\nsecond\n")
        #expect(try bob.readLine() == "alice: hello there")
        #expect(try bob.readLine() == "alice: second")
        await listener.shutdown(gracePeriod: .seconds(2))
    }

    @Test("/send N forwards exactly N raw bytes unchanged, even ones that look like lines")
    func sendsCountedBytes() async throws {
        let (listener, _) = try await LineChatServer.start(port: 0)
        let (alice, _) = try join(listener.port)
        let (bob, _) = try join(listener.port)
        _ = try alice.readLine()  // bob joined
        try alice.send("/nick alice\n")
        _ = try alice.readLine()
        _ = try bob.readLine()
        let payload: [UInt8] = Array("line\r\n/quit\n".utf8) + [0, 255, 13] + Array(repeating: 7, count: 100_000)
        try alice.send(Array("/send \(payload.count)\n".utf8) + payload + Array("after\n".utf8))
        let sent = try bob.readLine()
        #expect(sent == "* alice sent \(payload.count) bytes", "got \(sent)")
        #expect(try bob.read(exactly: payload.count) == payload)
        #expect(try bob.readLine() == "alice: after")
        await listener.shutdown(gracePeriod: .seconds(2))
    }

    @Test("/send split across many small writes still frames exactly N bytes")
    func sendsDripFed() async throws {
        let (listener, _) = try await LineChatServer.start(port: 0)
        let (alice, _) = try join(listener.port)
        let (bob, _) = try join(listener.port)
        _ = try alice.readLine()
        let message = Array("/send 5\r\nab\ncdhi\n".utf8)
        for byte in message { try alice.send([byte]) }
        let header = try bob.readLine()
        #expect(header.hasSuffix("sent 5 bytes"), "got \(header)")
        #expect(try bob.read(exactly: 5) == Array("ab\ncd".utf8))
        #expect(try bob.readLine().hasSuffix(": hi"))
        await listener.shutdown(gracePeriod: .seconds(2))
    }

    @Test("/quit answers, then closes after pending output")
    func quits() async throws {
        let (listener, _) = try await LineChatServer.start(port: 0)
        let (alice, _) = try join(listener.port)
        try alice.send("/quit\n")
        #expect(String(decoding: try alice.readToEnd(), as: UTF8.self) == "* bye\r\n")
        await listener.shutdown(gracePeriod: .seconds(2))
    }

    @Test("bad commands get an error line and the connection stays usable")
    func rejectsBadCommands() async throws {
        let (listener, _) = try await LineChatServer.start(port: 0)
        let (alice, _) = try join(listener.port)
        let (bob, _) = try join(listener.port)
        _ = try alice.readLine()
        try alice.send("/send -1\n/send x\n/send 99999999999\n/nick \n/dance\n/nick bob\n")
        #expect(try alice.readLine().hasPrefix("* error: usage: /send N"))
        #expect(try alice.readLine().hasPrefix("* error: usage: /send N"))
        #expect(try alice.readLine().hasPrefix("* error: /send takes at most"))
        #expect(try alice.readLine().hasPrefix("* error: a name is"))
        #expect(try alice.readLine() == "* error: unknown command /dance")
        #expect(try alice.readLine() == "* you are now bob")
        #expect(try bob.readLine().hasSuffix(" is now bob"))
        try bob.send("/nick bob\n")
        #expect(try bob.readLine() == "* error: bob is taken")
        await listener.shutdown(gracePeriod: .seconds(2))
    }

    @Test("a line longer than the limit is refused and the connection closed; others are unaffected")
    func boundsLines() async throws {
        let (listener, _) = try await LineChatServer.start(port: 0, maxLineLength: 64)
        let (alice, _) = try join(listener.port)
        let (bob, _) = try join(listener.port)
        _ = try alice.readLine()
        try alice.send(String(repeating: "x", count: 1000))
        let rest = String(decoding: try alice.readToEnd(), as: UTF8.self)
        #expect(rest == "* error: line too long\r\n")
        let left = try bob.readLine()
        #expect(left.hasSuffix("left"), "got \(left)")
        try bob.send("/quit\n")
        #expect(try bob.readLine() == "* bye")
        await listener.shutdown(gracePeriod: .seconds(2))
    }

    @Test("shutdown closes every connection and the listener; the room empties")
    func shutsDown() async throws {
        let (listener, room) = try await LineChatServer.start(port: 0)
        let (alice, _) = try join(listener.port)
        #expect(room.names.count == 1)
        await listener.shutdown(gracePeriod: .seconds(2))
        #expect(try alice.readToEnd().isEmpty)
        #expect(throws: (any Error).self) { try TestSocket(port: listener.port) }
        #expect(room.names.isEmpty)
    }
}
