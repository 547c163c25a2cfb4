import HTTPChat
import NIOCore

func webSocketSnippet(router: Router) {
    // snippet: websocket
    var options = WebSocketOptions()
    options.acceptsOrigin = { $0 == "https://app.example" }   // browsers send Origin; refuse other sites' pages
    router.webSocket("/echo", options: options) { inbound, outbound in
        for await message in inbound {                          // ends when the client closes or goes away
            switch message {
            case .text(let text): try await outbound.send(text: text)       // waits for a slow client
            case .binary(let bytes): try await outbound.send(binary: bytes)
            }
        }
    }                                                           // returning closes with 1000, throwing with 1011
    // end snippet
}

func webSocketArticleSnippet(router: Router) {
    // snippet: docc-websocket
    router.webSocket("/rooms/:room") { inbound, outbound in
        let room = inbound.request.parameters["room"] ?? "lobby"   // the handshake's request, as routed
        try await outbound.send(text: "welcome to \(room)")
        for await message in inbound {
            guard case .text(let line) = message else {
                await outbound.close(code: .unsupportedData, reason: "text only")
                return
            }
            try await outbound.send(text: "\(room): \(line)")
        }
    }
    // end snippet
}

func webSocketGroupArticleSnippet(router: Router) {
    // snippet: docc-websocket-group
    let room = WebSocketGroup<ObjectIdentifier>()         // dropped members are closed with 1008
    router.webSocket("/room") { inbound, outbound in
        let id = ObjectIdentifier(outbound)
        room.add(outbound, as: id)
        defer { room.remove(id) }
        for await message in inbound {
            guard case .text(let line) = message else { continue }
            room.broadcast(text: line)                     // never waits for any member
        }
    }
    // end snippet
}
