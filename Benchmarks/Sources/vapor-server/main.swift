// The Vapor 4 peer: GET /plaintext -> "Hello, World!", and the files of ROOT through Vapor's own
// FileMiddleware, on one event loop thread unless told otherwise.
//
//     swift run -c release vapor-server PORT ROOT [THREADS]
import NIOPosix
import Vapor

let args = CommandLine.arguments
let port = args.count > 1 ? Int(args[1]) ?? 8083 : 8083
let root = args.count > 2 ? args[2] : "."
let threads = args.count > 3 ? Int(args[3]) ?? 1 : 1

var environment = Environment(name: "production", arguments: ["vapor-server", "serve"])
let app = try await Application.make(environment, .shared(MultiThreadedEventLoopGroup(numberOfThreads: threads)))
app.logger.logLevel = .warning
app.http.server.configuration.hostname = "127.0.0.1"
app.http.server.configuration.port = port
let directory = root.hasSuffix("/") ? root : root + "/"
app.middleware.use(FileMiddleware(publicDirectory: directory, defaultFile: "index.html"))
app.get("plaintext") { _ in "Hello, World!" }
print("vapor-server listening on http://127.0.0.1:\(port)/")
try await app.execute()
try await app.asyncShutdown()
