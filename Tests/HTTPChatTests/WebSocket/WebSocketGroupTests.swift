import HTTPTypes
import NIOConcurrencyHelpers
import NIOCore
import Testing

@testable import HTTPChatCore
@testable import HTTPChatServer
import HTTPChatTesting

@Suite("WebSocket groups, in-process")
struct WebSocketGroupTests {
    /// A room: `/small` members queue at most 1 KiB, `/big` members the default 256 KiB. A member that sends
    /// "burst N" broadcasts N lines of 100 bytes in one go, without waiting in between.
    private func room(_ group: WebSocketGroup<Int>, dropped: NIOLockedValueBox<[Int]>) throws -> any HTTPResponder {
        let router = Router()
        let ids = NIOLockedValueBox(0)
        var small = WebSocketOptions()
        small.outboundHighWaterMark = 1024
        small.compression = false
        for (path, options) in [("/small", small), ("/big", WebSocketOptions())] {
            router.webSocket(path, options: options) { inbound, outbound in
                let id = ids.withLockedValue { $0 += 1; return $0 }
                group.add(outbound, as: id)
                defer { group.remove(id) }
                try await outbound.send(text: "you are \(id)")
                for await message in inbound {
                    guard case .text(let text) = message, text.hasPrefix("burst ") else { continue }
                    for index in 0..<Int(text.dropFirst(6))! {
                        let gone = group.broadcast(text: "\(index) " + String(repeating: "x", count: 100))
                        dropped.withLockedValue { $0 += gone }
                    }
                }
            }
        }
        return try router.build()
    }

    @Test("a broadcast never waits: a member past its queue is dropped with 1008 while the others get every message")
    func slowMemberIsDropped() async throws {
        let group = WebSocketGroup<Int>()
        let dropped = NIOLockedValueBox<[Int]>([])
        let site = try room(group, dropped: dropped)
        let slow = try await InProcessWebSocket.connect(to: site, path: "/small")
        #expect(try await slow.receiveMessage() == .text("you are 1"))
        let fast = try await InProcessWebSocket.connect(to: site, path: "/big")
        #expect(try await fast.receiveMessage() == .text("you are 2"))
        try await fast.send(text: "burst 200")
        for index in 0..<200 {
            guard case .text(let text) = try await fast.receiveMessage() else {
                Issue.record("message \(index) did not come")
                return
            }
            #expect(text.hasPrefix("\(index) "))
        }
        // The slow member got what fitted its queue, then the close frame with 1008.
        var received = 0
        var close: WebSocketFrame?
        while let frame = try await slow.receive(timeout: .seconds(5)) {
            if frame.opcode == .close {
                close = frame
                break
            }
            received += 1
        }
        #expect(received > 0 && received < 200, "got \(received) of 200 before the close")
        let payload = try #require(close?.payload)
        #expect(Array(payload.readableBytesView.prefix(2)) == [0x03, 0xF0], "close code 1008")
        #expect(dropped.withLockedValue { $0 } == [1])
        #expect(!group.contains(1) && group.contains(2))
    }

    @Test("a member that agreed permessage-deflate gets every broadcast as a compressed frame")
    func compressingMemberGetsEveryBroadcast() async throws {
        let group = WebSocketGroup<Int>()
        let dropped = NIOLockedValueBox<[Int]>([])
        let site = try room(group, dropped: dropped)
        // The default options agree permessage-deflate when offered: this member compresses.
        let compressed = try await InProcessWebSocket.connect(
            to: site, path: "/big",
            headerFields: [HTTPField.Name("Sec-WebSocket-Extensions")!: "permessage-deflate"]
        )
        #expect(compressed.handshake.headerFields[HTTPField.Name("Sec-WebSocket-Extensions")!] != nil)
        // The greeting (the test client does not inflate: the frames are checked for their compression bit).
        #expect(try await compressed.receive()?.rsv1 == true)
        try await compressed.send(text: "burst 50")
        var frames = 0
        while frames < 50, let frame = try await compressed.receive(timeout: .seconds(5)) {
            #expect(frame.rsv1, "a compressed frame")
            frames += 1
        }
        #expect(frames == 50)
        #expect(dropped.withLockedValue { $0 }.isEmpty)
    }
}
