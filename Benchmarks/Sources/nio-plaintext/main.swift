// The peer for the plaintext benchmark: a plain NIOHTTP1 server with one handler, as SwiftNIO's own examples
// write it. GET /plaintext -> "Hello, World!".
//
//     swift run -c release nio-plaintext PORT [THREADS]
import NIOCore
import NIOHTTP1
import NIOPosix

final class PlaintextHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private var keepAlive = true
    private let body = ByteBuffer(string: "Hello, World!")

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            keepAlive = head.isKeepAlive
        case .body:
            break
        case .end:
            var headers = HTTPHeaders()
            headers.add(name: "Content-Type", value: "text/plain")
            headers.add(name: "Content-Length", value: "13")
            let head = HTTPResponseHead(version: .http1_1, status: .ok, headers: headers)
            context.write(wrapOutboundOut(.head(head)), promise: nil)
            context.write(wrapOutboundOut(.body(.byteBuffer(body))), promise: nil)
            let keep = keepAlive
            context.writeAndFlush(wrapOutboundOut(.end(nil))).assumeIsolated().whenComplete { _ in
                if !keep { context.close(promise: nil) }
            }
        }
    }
}

let args = CommandLine.arguments
let port = args.count > 1 ? Int(args[1]) ?? 8081 : 8081
let threads = args.count > 2 ? Int(args[2]) ?? 1 : 1
let group = MultiThreadedEventLoopGroup(numberOfThreads: threads)
let channel = try await ServerBootstrap(group: group)
    .serverChannelOption(.backlog, value: 256)
    .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
    .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
    .childChannelInitializer { channel in
        channel.eventLoop.makeCompletedFuture {
            try channel.pipeline.syncOperations.configureHTTPServerPipeline(withErrorHandling: true)
            try channel.pipeline.syncOperations.addHandler(PlaintextHandler())
        }
    }
    .bind(host: "127.0.0.1", port: port)
    .get()
print("nio-plaintext listening on http://127.0.0.1:\(channel.localAddress!.port!)/")
try await channel.closeFuture.get()
