public import HTTPChat
public import NIOCore
public import NIOPosix

/// Starts a chat room server.
public enum LineChatServer {
    /// Binds a listener whose connections share one new ``ChatRoom``.
    ///
    /// - Parameters:
    ///   - host: the address to bind.
    ///   - port: the port; `0` picks a free one.
    ///   - maxLineLength: the longest line accepted (default 4 KiB).
    ///   - group: the event loops.
    /// - Returns: the listener and its room.
    /// - Throws: when the address cannot be bound.
    public static func start(
        host: String = "127.0.0.1",
        port: Int,
        maxLineLength: Int = 4096,
        group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton
    ) async throws -> (listener: ChatListener, room: ChatRoom) {
        let room = ChatRoom()
        var configuration = ChatConfiguration()
        configuration.maxDelimitedLength = maxLineLength
        let listener = try await ChatListener.bind(
            host: host, port: port, configuration: configuration, group: group
        ) {
            LineChatSession(room: room)
        }
        return (listener, room)
    }
}
