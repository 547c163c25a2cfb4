// notes-service: the EmbeddedRouter example run as a swift-service-lifecycle service.
//
//     swift run notes-service [PORT]
//     curl -X POST -H 'Content-Type: application/json' -d '{"title":"a","body":"b"}' localhost:8090/notes
import EmbeddedRouter
import HTTPChat
import Logging
import ServiceLifecycle

#if canImport(Glibc)
import Glibc
#endif

let port = CommandLine.arguments.count > 1 ? Int(CommandLine.arguments[1]) ?? 8090 : 8090
let logger = Logger(label: "notes")
let service = HTTPService(
    configuration: ServerConfiguration(host: "127.0.0.1", port: port),
    responder: try NotesService.router(store: NoteStore(), logger: logger).build(),
    logger: logger
) { server in
    print("notes-service listening on http://127.0.0.1:\(server.port)/notes")
    fflush(nil)
}
let group = ServiceGroup(services: [service], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)
do {
    try await group.run()
} catch {
    // A port in use is the user's to fix: say so in a line, not a crash trace.
    guard let why = HTTPServer.listenFailure(error, host: "127.0.0.1", port: port) else { throw error }
    let line = "Error: \(why)\n"  // on stderr, as the other tools say it
    _ = line.withCString { write(2, $0, strlen($0)) }
    exit(1)
}
