// chat-room: a browser chat room on WebSocket, served by the same HTTPChat server as its page.
//
//     swift run chat-room --port 8095      # then open http://127.0.0.1:8095/ in two windows
//
// GET / is the page; /chat is the room's WebSocket (each text message goes to everyone, with the sender's
// name); /echo is a WebSocket that sends every message back as it came (text or binary), used by the tests
// and the benchmark.
import ArgumentParser
import HTTPChat
import Logging
import NIOCore
import ServiceLifecycle

#if canImport(Glibc)
import Glibc
#endif

/// Who is in the room: names here, connections in a `WebSocketGroup`, whose broadcast never waits for a member
/// (one that stops reading is dropped with close code 1008 once its queue is full; the others go on).
actor Room {
    let members = WebSocketGroup<Int>()
    private var names: [Int: String] = [:]
    private var next = 0

    func join(_ outbound: WebSocketOutbound) -> (id: Int, name: String) {
        next += 1
        let name = "guest\(next)"
        names[next] = name
        members.add(outbound, as: next)
        return (next, name)
    }

    func leave(_ id: Int) -> String? {
        members.remove(id)
        return names.removeValue(forKey: id)
    }

    func rename(_ id: Int, to name: String) { names[id] = name }

    func name(_ id: Int) -> String { names[id] ?? "?" }
}

@main
struct ChatRoomCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "chat-room", abstract: "A browser chat room on WebSocket, and a WebSocket echo at /echo."
    )

    @Option(help: "The address to listen on.")
    var host = "127.0.0.1"

    @Option(help: "The port (0 picks a free one).")
    var port = 8095

    @Option(help: "Event loop threads (default: one per core).")
    var threads: Int?

    mutating func run() async throws {
        let router = Self.router(room: Room())
        var configuration = ServerConfiguration(host: host, port: port)
        if let threads { configuration.threads = threads }
        let logger = Logger(label: "chat-room")
        let service = HTTPService(configuration: configuration, responder: try router.build(), logger: logger) { [host] server in
            print("chat-room listening on http://\(host):\(server.port)/")
            fflush(nil)  // scripts read the port from this line
        }
        let group = ServiceGroup(services: [service], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)
        do {
            try await group.run()
        } catch {
            throw HTTPServer.explained(error, host: host, port: port)
        }
    }

    static func router(room: Room) -> Router {
        let router = Router()
        router.get("/") { _ in
            Response(headerFields: [.contentType: "text/html; charset=utf-8"], body: ResponseBody(string: page))
        }
        var echo = WebSocketOptions()
        echo.maxMessageBytes = 64 << 20
        echo.maxFrameBytes = 64 << 20
        router.webSocket("/echo", options: echo) { inbound, outbound in
            for await message in inbound {
                switch message {
                case .text(let text): try await outbound.send(text: text)
                case .binary(let bytes): try await outbound.send(binary: bytes)
                }
            }
        }
        var chat = WebSocketOptions()
        chat.maxMessageBytes = 4096
        router.webSocket("/chat", options: chat) { inbound, outbound in
            let (id, name) = await room.join(outbound)
            broadcast("* \(name) joined", in: room)
            for await message in inbound {
                guard case .text(let text) = message else { continue }
                if text.hasPrefix("/nick "), case let new = text.dropFirst(6).trimmingCharacters(), !new.isEmpty, new.count <= 32 {
                    let old = await room.name(id)
                    await room.rename(id, to: new)
                    broadcast("* \(old) is now \(new)", in: room)
                } else {
                    broadcast("\(await room.name(id)): \(text)", in: room)
                }
            }
            if let gone = await room.leave(id) { broadcast("* \(gone) left", in: room) }
        }
        return router
    }

    /// Sends to every member without waiting for any of them.
    static func broadcast(_ line: String, in room: Room) {
        room.members.broadcast(text: line)
    }

    static let page = """
        <!doctype html>
        <html lang="en">
        <meta charset="utf-8">
        <meta name="viewport" content="width=device-width, initial-scale=1">
        <title>chat-room</title>
        <style>
          body { font: 16px/1.4 system-ui, sans-serif; margin: 0; display: flex; flex-direction: column; height: 100vh; background: #f6f7f9; }
          header { padding: 12px 16px; background: #1f2937; color: #fff; font-weight: 600; }
          header span { font-weight: 400; opacity: .7; margin-left: 8px; }
          #log { flex: 1; overflow-y: auto; padding: 12px 16px; margin: 0; list-style: none; }
          #log li { margin: 4px 0; }
          #log li.event { color: #6b7280; font-style: italic; }
          form { display: flex; gap: 8px; padding: 12px 16px; background: #fff; border-top: 1px solid #e5e7eb; }
          input { flex: 1; font: inherit; padding: 8px 10px; border: 1px solid #d1d5db; border-radius: 6px; }
          button { font: inherit; padding: 8px 16px; border: 0; border-radius: 6px; background: #2563eb; color: #fff; }
        </style>
        <header>chat-room <span id="state">connecting…</span></header>
        <ul id="log"></ul>
        <form id="form"><input id="text" autocomplete="off" placeholder="Say something, or /nick NAME" autofocus><button>Send</button></form>
        <script>
          const log = document.getElementById("log"), state = document.getElementById("state");
          const socket = new WebSocket((location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/chat");
          // ?nick=NAME&say=TEXT: join under NAME and say TEXT once connected (for links, and for the tests).
          const params = new URLSearchParams(location.search);
          socket.onopen = () => {
            state.textContent = "connected";
            document.title = "chat-room: connected";
            if (params.get("nick")) socket.send("/nick " + params.get("nick"));
            if (params.get("say")) socket.send(params.get("say"));
          };
          socket.onclose = () => { state.textContent = "disconnected"; };
          socket.onmessage = (event) => {
            const item = document.createElement("li");
            item.textContent = event.data;  // text, never HTML
            if (event.data.startsWith("* ")) item.className = "event";
            log.appendChild(item);
            log.scrollTop = log.scrollHeight;
          };
          document.getElementById("form").onsubmit = (event) => {
            event.preventDefault();
            const input = document.getElementById("text");
            if (input.value && socket.readyState === WebSocket.OPEN) socket.send(input.value);
            input.value = "";
          };
        </script>
        </html>
        """
}

extension Substring {
    fileprivate func trimmingCharacters() -> String {
        String(drop { $0 == " " }.reversed().drop { $0 == " " }.reversed())
    }
}
