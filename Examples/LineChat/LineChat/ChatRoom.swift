import HTTPChat
import NIOCore
import NIOConcurrencyHelpers

/// The shared state of one chat room: who is in it, under which name, and how to reach them.
///
/// Members live on different event loops; the room keeps only `Sendable` handles and hops to each member's
/// loop to push.
public final class ChatRoom: Sendable {
    struct Member: Sendable {
        var name: String
        let chat: NIOLoopBound<ChatChannel>
    }

    private struct State {
        var members: [Int: Member] = [:]
        var nextID = 1
    }

    private let state = NIOLockedValueBox(State())
    /// The largest payload `/send N` accepts, in bytes.
    public let maxSendBytes: Int

    /// Creates an empty room.
    ///
    /// - Parameter maxSendBytes: the largest `/send` payload (default 1 MiB).
    public init(maxSendBytes: Int = 1 << 20) {
        self.maxSendBytes = maxSendBytes
    }

    /// The names of everyone in the room, sorted.
    public var names: [String] { state.withLockedValue { $0.members.values.map(\.name).sorted() } }

    /// Adds a member under a fresh `guestN` name.
    func join(_ chat: ChatChannel) -> (id: Int, name: String) {
        let bound = NIOLoopBound(chat, eventLoop: chat.eventLoop)
        return state.withLockedValue { state in
            let id = state.nextID
            state.nextID += 1
            let name = "guest\(id)"
            state.members[id] = Member(name: name, chat: bound)
            return (id, name)
        }
    }

    /// Renames a member; fails when another member has the name.
    func rename(_ id: Int, to name: String) -> Bool {
        state.withLockedValue { state in
            if state.members.contains(where: { $0.key != id && $0.value.name == name }) { return false }
            state.members[id]?.name = name
            return true
        }
    }

    func leave(_ id: Int) -> String? {
        state.withLockedValue { $0.members.removeValue(forKey: id)?.name }
    }

    /// Pushes `bytes` to every member but `sender`, each on its own event loop.
    func broadcast(_ bytes: ByteBuffer, except sender: Int) {
        let others = state.withLockedValue { state in state.members.filter { $0.key != sender }.map(\.value) }
        for member in others {
            let loop = member.chat.eventLoop
            if loop.inEventLoop {
                member.chat.value.push(bytes)
            } else {
                loop.execute { member.chat.value.push(bytes) }
            }
        }
    }
}
