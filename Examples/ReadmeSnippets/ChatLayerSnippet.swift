// snippet: chat-layer
import HTTPChat
import NIOCore

/// Answers each line upper-cased.
final class Shout: ChatProtocol {
    var line = ByteBuffer()
    func channelOpened(_ chat: ChatChannel) { chat.terminator = .delimiter("\n") }
    func collectIncomingData(_ data: ByteBuffer, chat: ChatChannel) {
        var data = data
        line.writeBuffer(&data)
    }
    func foundTerminator(chat: ChatChannel) {
        chat.push(String(buffer: line).uppercased() + "\n")
        line.clear()
    }
}

// end snippet

func chatLayerSnippet() async throws -> ChatListener {
    // snippet: chat-layer
    let listener = try await ChatListener.bind(host: "127.0.0.1", port: 0) { Shout() }
    print("listening on \(listener.port)")
    try await listener.onClose.get()   // serves until the listener is shut down
    // end snippet
    return listener
}
