public import HTTPChatCore
public import HTTPChatServer
public import HTTPTypes
import NIOConcurrencyHelpers
public import NIOCore
public import NIOEmbedded

/// One HTTP connection served in-process, without sockets: write raw request bytes, read parsed responses.
/// For testing a responder exactly as the server runs it (parsing, pipelining, keep-alive, errors, timeouts),
/// with a clock the test controls.
///
/// ```swift
/// import HTTPChatTesting   // a test target depending on the HTTPChatTesting product
///
/// let connection = try await InProcessConnection(responder: try router.build())
/// try await connection.send("GET /hello HTTP/1.1\r\nHost: x\r\n\r\n")
/// let response = try await connection.readResponse()
/// #expect(response?.status == 200)
/// ```
public final class InProcessConnection: Sendable {
    /// The channel under the connection (a NIO testing channel).
    public let channel: NIOAsyncTestingChannel
    private let reader = LockedResponseReader()

    /// Opens a connection to `responder`. The request's ``/HTTPChatServer/Request/remoteAddress`` is 127.0.0.1:40000 and its
    /// ``/HTTPChatServer/Request/localAddress`` 127.0.0.1:80, as if a local client had connected.
    ///
    /// - Parameters:
    ///   - responder: answers the requests.
    ///   - limits: the limits and timeouts (timeouts run on the channel's clock: see ``advanceTime(by:)``).
    ///   - chat: the chat layer's configuration.
    /// - Throws: when the channel cannot be set up.
    public init(
        responder: any HTTPResponder,
        limits: HTTPLimits = HTTPLimits(),
        chat: ChatConfiguration = ChatConfiguration()
    ) async throws {
        channel = NIOAsyncTestingChannel()
        var chat = chat
        chat.maxDelimitedLength = limits.maxHeaderBytes
        let context = HTTPConnectionContext(responder: responder, limits: limits, logger: .init(label: "httpchat.test"))
        let channel = self.channel
        let client = try SocketAddress(ipAddress: "127.0.0.1", port: 40000)
        channel.remoteAddress = client
        channel.localAddress = try SocketAddress(ipAddress: "127.0.0.1", port: 80)
        try await channel.testingEventLoop.executeInContext { [chat] in
            try channel.pipeline.syncOperations.addHandler(FileRegionCopier())
            try ChatChannel.serve(context.makeConnection(), configuration: chat, on: channel)
        }
        try await channel.connect(to: client)
    }

    /// Sends request bytes.
    ///
    /// - Parameter bytes: raw bytes, as a client would write them.
    /// - Throws: when the connection is closed.
    public func send(_ bytes: ByteBuffer) async throws {
        try await channel.writeInbound(bytes)
    }

    /// Sends the UTF-8 bytes of `raw`.
    ///
    /// - Parameter raw: the request text, CRLFs included.
    /// - Throws: when the connection is closed.
    public func send(_ raw: String) async throws {
        try await send(ByteBuffer(string: raw))
    }

    /// Half-closes: the server sees the end of input.
    public func finishSending() async {
        channel.pipeline.fireUserInboundEventTriggered(ChannelEvent.inputClosed)
        await Task.yield()
    }

    /// Moves the connection's clock (timeouts fire).
    ///
    /// - Parameter amount: how far.
    public func advanceTime(by amount: Duration) async {
        await channel.testingEventLoop.advanceTime(by: TimeAmount(amount))
    }

    /// Whether the server still holds the connection open.
    public var isOpen: Bool { channel.isActive }

    /// Everything the server has written so far and not yet read as a response, as text.
    public func pendingOutput() async throws -> String {
        try await drain()
        return reader.withLock { String(buffer: $0.buffer) }
    }

    /// Takes every byte the server has written that no ``readResponse(head:timeout:)`` consumed: after a
    /// `101 Switching Protocols`, the new protocol's bytes.
    public func takeOutput() async throws -> ByteBuffer {
        try await drain()
        return reader.withLock { state in
            defer { state.buffer.clear() }
            return state.buffer
        }
    }

    /// Waits for the next complete response.
    ///
    /// - Parameters:
    ///   - head: whether it answers a HEAD request (no body follows).
    ///   - timeout: how long to wait, in real time (a safety net: a test machine loaded by other tests can take
    ///     seconds to run a task; default 30 s).
    /// - Returns: the response, or nil when none arrived in time or the connection closed without one.
    /// - Throws: when the bytes are not a well-formed response.
    public func readResponse(head: Bool = false, timeout: Duration = .seconds(30)) async throws -> TestResponse? {
        let clock = ContinuousClock()
        let deadline = clock.now + timeout
        while true {
            // Whether it closed is read before the output is drained: work finishing on another thread (a
            // file written on the thread pool, say) can write the answer and close in between, and a close seen
            // after the drain would lose that answer.
            let closed = !channel.isActive
            try await drain()
            if let response = try reader.withLock({ try $0.next(head: head, closed: closed) }) { return response }
            if closed || clock.now >= deadline { return nil }
            try await Task.sleep(for: .milliseconds(1))
        }
    }

    private func drain() async throws {
        // Work the loop queued for itself (a handler task started on it) runs only when the loop is run.
        await channel.testingEventLoop.run()
        while let data = try await channel.readOutbound(as: IOData.self) {
            guard case .byteBuffer(var bytes) = data else { continue }  // regions were copied at write time
            _ = reader.withLock { $0.buffer.writeBuffer(&bytes) }
        }
    }
}

/// Turns file-region writes into the bytes `sendfile` would send, at the moment of the write (a producer may
/// close its file as soon as the write is done, as on a real socket).
final class FileRegionCopier: ChannelOutboundHandler {
    typealias OutboundIn = IOData
    typealias OutboundOut = IOData

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        guard case .fileRegion(let region) = unwrapOutboundIn(data) else {
            context.write(data, promise: promise)
            return
        }
        do {
            var bytes = ByteBuffer()
            try region.fileHandle.withUnsafeFileDescriptor { fd in
                try bytes.writePositionalRead(fd: fd, offset: region.readerIndex, count: region.readableBytes)
            }
            context.write(wrapOutboundOut(.byteBuffer(bytes)), promise: promise)
        } catch {
            promise?.fail(error)
        }
    }
}

/// A response read back by ``InProcessConnection`` (or any test client).
public struct TestResponse: Sendable {
    /// The status code.
    public var status: Int
    /// The reason phrase.
    public var reason: String
    /// The fields, in order.
    public var headerFields: HTTPFields
    /// The body, de-chunked.
    public var body: ByteBuffer
    /// The body as text.
    public var text: String { String(buffer: body) }
}

/// Splits a byte stream into responses (RFC 9112 §6.3, client side).
struct ResponseReader {
    var buffer = ByteBuffer()

    mutating func next(head: Bool, closed: Bool) throws -> TestResponse? {
        let bytes = Array(buffer.readableBytesView)
        guard let headEnd = Self.find(Array("\r\n\r\n".utf8), in: bytes, from: 0) else { return nil }
        let lines = String(decoding: bytes[..<headEnd], as: UTF8.self).components(separatedBy: "\r\n")
        let statusParts = lines[0].split(separator: " ", maxSplits: 2, omittingEmptySubsequences: false)
        guard statusParts.count >= 2, statusParts[0].hasPrefix("HTTP/1."), let status = Int(statusParts[1]) else {
            throw ResponseReaderError(message: "bad status line: \(lines[0])")
        }
        var fields = HTTPFields()
        for line in lines.dropFirst() {
            guard let colon = line.firstIndex(of: ":"), let name = HTTPField.Name(String(line[..<colon])) else {
                throw ResponseReaderError(message: "bad field line: \(line)")
            }
            fields.append(HTTPField(name: name, value: String(line[line.index(after: colon)...].trimmingOWS())))
        }
        var at = headEnd + 4
        var body: [UInt8] = []
        if head || status < 200 || status == 204 || status == 304 {
            // no body
        } else if fields[.transferEncoding]?.lowercased() == "chunked" {
            while true {
                guard let lineEnd = Self.find(Array("\r\n".utf8), in: bytes, from: at) else { return nil }
                let sizeText = String(decoding: bytes[at..<lineEnd], as: UTF8.self).split(separator: ";")[0]
                guard let size = Int(sizeText, radix: 16) else { throw ResponseReaderError(message: "bad chunk size") }
                at = lineEnd + 2
                if size == 0 {
                    guard let end = Self.find(Array("\r\n".utf8), in: bytes, from: at) else { return nil }
                    at = end + 2  // no trailers expected from this server
                    break
                }
                guard bytes.count >= at + size + 2 else { return nil }
                body += bytes[at..<(at + size)]
                at += size + 2
            }
        } else if let length = fields[.contentLength].flatMap({ Int($0) }) {
            guard bytes.count >= at + length else { return nil }
            body = Array(bytes[at..<(at + length)])
            at += length
        } else {
            guard closed else { return nil }  // delimited by close
            body = Array(bytes[at...])
            at = bytes.count
        }
        buffer.moveReaderIndex(forwardBy: at)
        buffer.discardReadBytes()
        return TestResponse(
            status: status, reason: statusParts.count > 2 ? String(statusParts[2]) : "",
            headerFields: fields, body: ByteBuffer(bytes: body)
        )
    }

    static func find(_ needle: [UInt8], in hay: [UInt8], from: Int) -> Int? {
        guard hay.count >= needle.count, from <= hay.count - needle.count else { return nil }
        for i in from...(hay.count - needle.count) where hay[i] == needle[0] {
            if Array(hay[i..<(i + needle.count)]) == needle { return i }
        }
        return nil
    }
}

struct ResponseReaderError: Error, CustomStringConvertible {
    let message: String
    var description: String { message }
}

/// A ``ResponseReader`` behind a lock.
final class LockedResponseReader: Sendable {
    private let box = NIOLockedValueBox(ResponseReader())
    func withLock<T>(_ body: (inout ResponseReader) throws -> T) rethrows -> T {
        try box.withLockedValue { try body(&$0) }
    }
}
