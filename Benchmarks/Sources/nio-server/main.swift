// The NIOHTTP1 peer: a plain NIOHTTP1 server with one handler, as SwiftNIO's own examples write it.
// GET /plaintext -> "Hello, World!"; GET /PATH -> the file ROOT/PATH, opened off the loop with NonBlockingFileIO
// and sent as a FileRegion (sendfile), like NIO's example HTTP server.
//
//     swift run -c release nio-server PORT ROOT [THREADS]
import NIOCore
import NIOHTTP1
import NIOPosix

final class PeerHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let fileIO: NonBlockingFileIO
    private let root: String
    private var keepAlive = true
    private var uri = ""
    private let body = ByteBuffer(string: "Hello, World!")

    init(fileIO: NonBlockingFileIO, root: String) {
        self.fileIO = fileIO
        self.root = root
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            keepAlive = head.isKeepAlive
            uri = head.uri
        case .body:
            break
        case .end:
            if uri == "/plaintext" {
                plaintext(context: context)
            } else {
                file(context: context)
            }
        }
    }

    private func plaintext(context: ChannelHandlerContext) {
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: "text/plain")
        headers.add(name: "Content-Length", value: "13")
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: .ok, headers: headers))), promise: nil)
        context.write(wrapOutboundOut(.body(.byteBuffer(body))), promise: nil)
        finish(context: context)
    }

    private func file(context: ChannelHandlerContext) {
        let path = root + (uri.split(separator: "?").first.map(String.init) ?? uri)
        let loopBound = NIOLoopBound(context, eventLoop: context.eventLoop)
        let handler = NIOLoopBound(self, eventLoop: context.eventLoop)
        fileIO.openFile(_deprecatedPath: path, eventLoop: context.eventLoop).whenComplete { result in
            let context = loopBound.value
            let this = handler.value
            switch result {
            case .success(let (handle, region)):
                var headers = HTTPHeaders()
                headers.add(name: "Content-Type", value: "application/octet-stream")
                headers.add(name: "Content-Length", value: String(region.readableBytes))
                context.write(this.wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: .ok, headers: headers))), promise: nil)
                context.writeAndFlush(this.wrapOutboundOut(.body(.fileRegion(region)))).whenComplete { _ in
                    try? handle.close()
                }
                this.finish(context: context)
            case .failure:
                var headers = HTTPHeaders()
                headers.add(name: "Content-Length", value: "0")
                context.write(this.wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: .notFound, headers: headers))), promise: nil)
                this.finish(context: context)
            }
        }
    }

    private func finish(context: ChannelHandlerContext) {
        let keep = keepAlive
        context.writeAndFlush(wrapOutboundOut(.end(nil))).assumeIsolated().whenComplete { _ in
            if !keep { context.close(promise: nil) }
        }
    }
}

let args = CommandLine.arguments
let port = args.count > 1 ? Int(args[1]) ?? 8081 : 8081
let root = args.count > 2 ? args[2] : "."
let threads = args.count > 3 ? Int(args[3]) ?? 1 : 1
let group = MultiThreadedEventLoopGroup(numberOfThreads: threads)
let fileIO = NonBlockingFileIO(threadPool: .singleton)
let channel = try await ServerBootstrap(group: group)
    .serverChannelOption(.backlog, value: 1024)
    .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
    .childChannelOption(.tcpOption(.tcp_nodelay), value: 1)
    .childChannelInitializer { channel in
        channel.eventLoop.makeCompletedFuture {
            try channel.pipeline.syncOperations.configureHTTPServerPipeline(withErrorHandling: true)
            try channel.pipeline.syncOperations.addHandler(PeerHandler(fileIO: fileIO, root: root))
        }
    }
    .bind(host: "127.0.0.1", port: port)
    .get()
print("nio-server listening on http://127.0.0.1:\(channel.localAddress!.port!)/")
try await channel.closeFuture.get()
