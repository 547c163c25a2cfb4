// The Hummingbird 2 peer: GET /plaintext -> "Hello, World!", and the files of ROOT through Hummingbird's own
// FileMiddleware, on one event loop thread unless told otherwise.
//
//     swift run -c release hb-server PORT ROOT [THREADS]
import Hummingbird
import Logging
import NIOPosix

let args = CommandLine.arguments
let port = args.count > 1 ? Int(args[1]) ?? 8082 : 8082
let root = args.count > 2 ? args[2] : "."
let threads = args.count > 3 ? Int(args[3]) ?? 1 : 1

var logger = Logger(label: "hb-server")
logger.logLevel = .warning
let router = Router()
router.add(middleware: FileMiddleware(root, searchForIndexHtml: true, logger: logger))
router.get("plaintext") { _, _ in "Hello, World!" }
let app = Application(
    router: router,
    configuration: .init(address: .hostname("127.0.0.1", port: port), serverName: "hb-server"),
    onServerRunning: { channel in
        print("hb-server listening on http://127.0.0.1:\(channel.localAddress?.port ?? 0)/")
    },
    eventLoopGroupProvider: .shared(MultiThreadedEventLoopGroup(numberOfThreads: threads)),
    logger: logger
)
try await app.runService()
