public import HTTPChat
public import NIOCore

/// One participant's connection to a ``ChatRoom``: a line protocol with one counted frame (`/send N`).
///
/// Lines end in `\r\n` or `\n`. `/nick NAME` renames, a plain line goes to the others as `NAME: text`,
/// `/send N` followed by exactly N raw bytes goes to the others as `* NAME sent N bytes` and the bytes
/// unchanged, `/quit` closes after pending output. Lines are bounded by the chat layer's
/// ``ChatConfiguration/maxDelimitedLength``.
public final class LineChatSession: ChatProtocol {
    private enum Reading {
        case line
        case payload(Int)
    }

    private let room: ChatRoom
    private var id = 0
    private var name = ""
    private var collected = ByteBuffer()
    private var reading = Reading.line

    /// Creates a session in `room`.
    ///
    /// - Parameter room: the room the connection joins.
    public init(room: ChatRoom) {
        self.room = room
    }

    /// Joins the room and greets the peer.
    public func channelOpened(_ chat: ChatChannel) {
        chat.terminator = .delimiter("\n")
        (id, name) = room.join(chat)
        // Tell the room before answering the newcomer: once the welcome is out, the newcomer's client may act
        // (and others may join) at any moment.
        room.broadcast(chat.allocator.buffer(string: "* \(name) joined\r\n"), except: id)
        chat.push("* welcome, you are \(name). Commands: /nick NAME, /send N, /quit\r\n")
    }

    /// Collects a line or a payload.
    public func collectIncomingData(_ data: ByteBuffer, chat: ChatChannel) {
        var data = data
        collected.writeBuffer(&data)
    }

    /// Acts on a whole line, or broadcasts a finished payload.
    public func foundTerminator(chat: ChatChannel) {
        switch reading {
        case .payload(let n):
            var message = chat.allocator.buffer(capacity: n + 64)
            message.writeString("* \(name) sent \(n) bytes\r\n")
            message.writeBuffer(&collected)
            room.broadcast(message, except: id)
            reading = .line
            chat.terminator = .delimiter("\n")
        case .line:
            var line = String(buffer: collected)
            if line.hasSuffix("\r") { line.removeLast() }
            handle(line, chat: chat)
        }
        collected.clear()
    }

    /// A line longer than the limit: say so and hang up.
    public func inputFailed(_ error: ChatFramingError, chat: ChatChannel) {
        chat.push("* error: line too long\r\n")
        chat.closeWhenDone()
    }

    /// Leaves the room.
    public func channelClosed(chat: ChatChannel) {
        if let name = room.leave(id) {
            room.broadcast(chat.allocator.buffer(string: "* \(name) left\r\n"), except: id)
        }
    }

    private func handle(_ line: String, chat: ChatChannel) {
        if line.isEmpty { return }
        guard line.hasPrefix("/") else {
            room.broadcast(chat.allocator.buffer(string: "\(name): \(line)\r\n"), except: id)
            return
        }
        let parts = line.split(separator: " ", maxSplits: 1, omittingEmptySubsequences: true)
        let argument = parts.count > 1 ? String(parts[1]) : ""
        switch parts[0] {
        case "/nick":
            guard Self.isValidName(argument) else {
                chat.push("* error: a name is 1 to 32 visible characters without spaces\r\n")
                return
            }
            let old = name
            guard room.rename(id, to: argument) else {
                chat.push("* error: \(argument) is taken\r\n")
                return
            }
            name = argument
            room.broadcast(chat.allocator.buffer(string: "* \(old) is now \(name)\r\n"), except: id)
            chat.push("* you are now \(name)\r\n")
        case "/send":
            guard let n = Int(argument), n >= 0, argument.allSatisfy(\.isASCII) else {
                chat.push("* error: usage: /send N (a byte count)\r\n")
                return
            }
            guard n <= room.maxSendBytes else {
                chat.push("* error: /send takes at most \(room.maxSendBytes) bytes\r\n")
                return
            }
            reading = .payload(n)
            chat.terminator = .count(n)
        case "/quit":
            chat.push("* bye\r\n")
            chat.closeWhenDone()
        default:
            chat.push("* error: unknown command \(parts[0])\r\n")
        }
    }

    static func isValidName(_ name: String) -> Bool {
        (1...32).contains(name.count) && name.unicodeScalars.allSatisfy { scalar in
            !scalar.properties.isWhitespace && scalar.properties.generalCategory != .control
        }
    }
}
