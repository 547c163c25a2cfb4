#if canImport(Glibc)
import Glibc
#endif
import HTTPTypes
import NIOCore
import TestSupport
import Testing

@testable import HTTPChatCore
@testable import HTTPChatServer

/// The 256-byte block `/big` repeats.
private let block = (0..<256).map { UInt8(truncatingIfNeeded: $0 &* 7) }

/// A server whose `/big` answers `size` bytes (`block` repeated; size a multiple of 256), with short timeouts.
private func startBig(size: Int, configure: (inout ServerConfiguration) -> Void) async throws -> HTTPServer {
    let router = Router()
    var bytes = ByteBuffer()
    for _ in 0..<size / 256 { bytes.writeBytes(block) }
    let body = bytes
    router.get("/big") { _ in Response(headerFields: [.contentType: "application/octet-stream"], body: ResponseBody(bytes: body)) }
    router.get("/small") { _ in .text("small") }
    var configuration = ServerConfiguration(host: "127.0.0.1", port: 0)
    configuration.threads = 1
    configure(&configuration)
    return try await HTTPServer.start(configuration: configuration, responder: try router.build())
}

/// Reads a response head from `socket`, returning its Content-Length.
private func readHead(_ socket: TestSocket) throws -> Int {
    var length = -1
    while true {
        let line = try socket.readLine()
        if line.isEmpty { return length }
        if line.lowercased().hasPrefix("content-length:") { length = Int(line.dropFirst(15).trimmingPrefix(" ")) ?? -1 }
    }
}

/// Polls `condition` every 50 ms for up to `seconds`.
private func eventually(_ seconds: Double, _ condition: () -> Bool) async throws -> Bool {
    let deadline = ContinuousClock.now + .milliseconds(Int(seconds * 1000))
    while ContinuousClock.now < deadline {
        if condition() { return true }
        try await Task.sleep(for: .milliseconds(50))
    }
    return condition()
}

@Suite("Timeouts live", .serialized)
struct TimeoutLiveTests {
    @Test("a slow reader whose download outlasts the idle timeout gets every byte")
    func slowDownloadOutlastsIdleTimeout() async throws {
        let size = 8 << 20
        let server = try await startBig(size: size) { c in
            c.limits.idleTimeout = .milliseconds(300)
            c.limits.headerReadTimeout = .milliseconds(200)  // its timer is the one armed when the download starts
            c.chat.sendTimeout = .seconds(5)
        }
        let port = server.port
        let (received, elapsed) = try await blocking { () -> ([UInt8], Duration) in
            let socket = try TestSocket(port: port, receiveBuffer: 32 * 1024)
            let start = ContinuousClock.now
            try socket.send("GET /big HTTP/1.1\r\nHost: x\r\n\r\n")
            let length = try readHead(socket)
            var got: [UInt8] = []
            got.reserveCapacity(length)
            while got.count < length {
                let piece = try socket.readSome(max: 64 * 1024)
                if piece.isEmpty { break }
                got += piece
                usleep(5_000)
            }
            return (got, ContinuousClock.now - start)
        }
        #expect(elapsed > Duration.milliseconds(900), "the download must outlast the idle timeout for this test to mean anything")
        #expect(received.count == size)
        let intact = received.withUnsafeBytes { all in
            stride(from: 0, to: all.count, by: 256).allSatisfy { memcmp(all.baseAddress! + $0, block, 256) == 0 }
        }
        #expect(intact)  // a Bool: Swift Testing would diff two 8 MiB arrays for minutes
        await server.shutdown(gracePeriod: .seconds(1))
    }

    /// NIO's write buffer water mark is ChatConfiguration's: with the default the stalled socket stops taking
    /// writes (the channel turns unwritable); with a huge one it never does and the bytes wait below the mark,
    /// where the idle timer (keep-alive) or the pending close has to start the watch.
    @Test(
        "a client that stops reading is closed at the send timeout, on keep-alive or behind a close",
        arguments: ["GET /big HTTP/1.1\r\nHost: x\r\n\r\n", "GET /big HTTP/1.0\r\n\r\n"], [256 << 10, 64 << 20]
    )
    func stalledReaderClosed(request: String, highWaterMark: Int) async throws {
        let server = try await startBig(size: 16 << 20) { c in
            c.limits.idleTimeout = .milliseconds(300)
            c.chat.sendTimeout = .milliseconds(500)
            c.chat.outputHighWaterMark = highWaterMark
        }
        let socket = try TestSocket(port: server.port, receiveBuffer: 16 * 1024)
        try socket.send(request)
        // The response has started (so the connection was accepted): a few bytes are there to read. Watching
        // connectionCount reach 1 instead lost the race on a loaded machine, where the whole stall and close
        // could pass between two polls.
        let first = try await blocking { try socket.readSome(max: 512) }
        #expect(!first.isEmpty)
        #expect(try await eventually(8) { server.connectionCount == 0 }, "the stalled connection is still open")
        let rest = try await blocking { try socket.readToEnd() }
        #expect(rest.count < 16 << 20, "the whole body went out: the client did not stall the server")
        // The server still answers others.
        let other = try TestSocket(port: server.port)
        try other.send("GET /small HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        #expect(String(decoding: try await blocking { try other.readToEnd() }, as: UTF8.self).hasSuffix("small"))
        await server.shutdown(gracePeriod: .seconds(1))
    }
}
