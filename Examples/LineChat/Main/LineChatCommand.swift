import ArgumentParser
#if canImport(Glibc)
import Glibc
#endif
import HTTPChat
import LineChat

/// `line-chat`: a multi-user chat room over TCP, usable with `nc`.
@main
struct LineChatCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "line-chat",
        abstract: "A chat room over TCP on HTTPChat's chat layer (try: nc 127.0.0.1 PORT).",
        discussion: "Lines: /nick NAME, /send N then N raw bytes, /quit; anything else is said to the room."
    )

    @Option(help: "The address to listen on.")
    var host = "127.0.0.1"

    @Option(help: "The port to listen on (0 picks a free one).")
    var port = 7000

    @Option(help: "The longest line accepted, in bytes.")
    var maxLine = 4096

    mutating func run() async throws {
        let listener: ChatListener
        do {
            (listener, _) = try await LineChatServer.start(host: host, port: port, maxLineLength: maxLine)
        } catch {
            throw HTTPServer.explained(error, host: host, port: port)
        }
        print("line-chat listening on tcp://\(host):\(listener.port)/")
        fflush(nil)  // flush stdout: scripts read the port from this line
        try await listener.onClose.get()
    }
}
