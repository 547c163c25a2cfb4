// The Hummingbird WebSocket peer (hummingbird-websocket): a WebSocket at /echo that sends every message back as
// it came (text or binary), on one event loop thread unless told otherwise. The counterpart of HTTPChat's
// `chat-room --threads 1` /echo in Benchmarks/websocket.py.
//
//     swift run -c release hb-ws-server --port PORT [--threads N]
import Hummingbird
import HummingbirdWebSocket
import Logging
import NIOPosix

#if canImport(Glibc)
import Glibc
#endif

var port = 8096
var threads = 1
var arguments = CommandLine.arguments.dropFirst()
while let argument = arguments.popFirst() {
    switch argument {
    case "--port": port = Int(arguments.popFirst() ?? "") ?? port
    case "--threads": threads = Int(arguments.popFirst() ?? "") ?? threads
    default: port = Int(argument) ?? port  // positional PORT, like the other peers
    }
}

var logger = Logger(label: "hb-ws-server")
logger.logLevel = .warning

// Plain HTTP routes (none needed but a health answer) and a separate WebSocket router, as the README shows.
let router = Router()
router.get("/") { _, _ in "hb-ws-server" }
let wsRouter = Router(context: BasicWebSocketRequestContext.self)
wsRouter.ws("/echo") { inbound, outbound, _ in
    // Messages up to 64 MiB, like chat-room's /echo; each is written back with its own type.
    for try await message in inbound.messages(maxSize: 64 << 20) {
        switch message {
        case .text(let text): try await outbound.write(.text(text))
        case .binary(let bytes): try await outbound.write(.binary(bytes))
        }
    }
}
let app = Application(
    router: router,
    // No compression extension is configured: permessage-deflate is never negotiated.
    server: .http1WebSocketUpgrade(webSocketRouter: wsRouter),
    configuration: .init(address: .hostname("127.0.0.1", port: port), serverName: "hb-ws-server"),
    onServerRunning: { channel in
        print("hb-ws-server listening on http://127.0.0.1:\(channel.localAddress?.port ?? 0)/")
        fflush(nil)  // scripts read the port from this line
    },
    eventLoopGroupProvider: .shared(MultiThreadedEventLoopGroup(numberOfThreads: threads)),
    logger: logger
)
try await app.runService()
