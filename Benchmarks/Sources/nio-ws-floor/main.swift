// The floor of a WebSocket echo on SwiftNIO: one ChannelInboundHandler that reads the upgrade request, answers
// 101 (with a placeholder Sec-WebSocket-Accept: run ws-load with --any-accept against it), then unmasks every
// client frame and writes it back, synchronously, in channelRead, flushing once per read. No chat layer, no
// task, no validation beyond what the echo needs. Not a server to use: Benchmarks/run measures it beside
// chat-room and Hummingbird to show how much of a message's cost is SwiftNIO's and the kernel's, which no
// server built on SwiftNIO can go below.
//
//     swift run -c release nio-ws-floor --port PORT [--threads N]
import NIOCore
import NIOPosix

final class FloorEcho: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private var pending = ByteBuffer()
    private var upgraded = false
    private var wrote = false

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var bytes = unwrapInboundIn(data)
        pending.writeBuffer(&bytes)
        if !upgraded {
            guard let end = pending.readableBytesView.firstRange(of: Array("\r\n\r\n".utf8)) else { return }
            pending.moveReaderIndex(to: end.upperBound)
            upgraded = true
            let head = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                + "Sec-WebSocket-Accept: floor\r\n\r\n"
            context.write(wrapOutboundOut(context.channel.allocator.buffer(string: head)), promise: nil)
            wrote = true
        }
        while let frame = nextFrame(allocator: context.channel.allocator) {
            context.write(wrapOutboundOut(frame), promise: nil)
            wrote = true
        }
        if pending.readableBytes == 0 { pending.clear() }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        if wrote {
            wrote = false
            context.flush()
        }
    }

    /// The next whole client frame, unmasked, as a server frame; nil until one is buffered.
    private func nextFrame(allocator: ByteBufferAllocator) -> ByteBuffer? {
        let start = pending.readerIndex
        guard let first = pending.getInteger(at: start, as: UInt8.self),
            let second = pending.getInteger(at: start + 1, as: UInt8.self)
        else { return nil }
        var length = Int(second & 0x7F)
        var offset = start + 2
        if length == 126 {
            guard let l = pending.getInteger(at: offset, as: UInt16.self) else { return nil }
            length = Int(l)
            offset += 2
        } else if length == 127 {
            guard let l = pending.getInteger(at: offset, as: UInt64.self) else { return nil }
            length = Int(l)
            offset += 8
        }
        guard let mask = pending.getBytes(at: offset, length: 4), pending.writerIndex >= offset + 4 + length else {
            return nil
        }
        offset += 4
        var out = allocator.buffer(capacity: length + 10)
        out.writeInteger(first)
        if length <= 125 {
            out.writeInteger(UInt8(length))
        } else if length <= 0xFFFF {
            out.writeInteger(UInt8(126))
            out.writeInteger(UInt16(length))
        } else {
            out.writeInteger(UInt8(127))
            out.writeInteger(UInt64(length))
        }
        pending.withUnsafeReadableBytes { raw in
            let payload = UnsafeRawBufferPointer(rebasing: raw[(offset - start)..<(offset - start + length)])
            out.writeWithUnsafeMutableBytes(minimumWritableBytes: length) { target in
                for i in 0..<length { target[i] = payload[i] ^ mask[i & 3] }
                return length
            }
        }
        pending.moveReaderIndex(to: offset + length)
        return out
    }
}

var port = 8097
var threads = System.coreCount
var arguments = CommandLine.arguments.dropFirst().makeIterator()
while let argument = arguments.next() {
    switch argument {
    case "--port": port = Int(arguments.next() ?? "") ?? port
    case "--threads": threads = Int(arguments.next() ?? "") ?? threads
    default: fatalError("usage: nio-ws-floor [--port PORT] [--threads N]")
    }
}
let group = MultiThreadedEventLoopGroup(numberOfThreads: threads)
let channel = try ServerBootstrap(group: group)
    .serverChannelOption(.backlog, value: 1024)
    .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
    .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
    .childChannelInitializer { channel in
        channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(FloorEcho()) }
    }
    .bind(host: "127.0.0.1", port: port).wait()
print("nio-ws-floor on \(channel.localAddress!)")
try channel.closeFuture.wait()
