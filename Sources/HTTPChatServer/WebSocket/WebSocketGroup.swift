import NIOConcurrencyHelpers
public import NIOCore

/// WebSocket connections that messages go out to together (a chat room, a live feed), where no member can hold
/// up the others.
///
/// A broadcast never waits. Each member's messages queue on its own connection, up to that route's
/// ``WebSocketOptions/outboundHighWaterMark``; a member whose client does not read past that is dropped: removed
/// from the group and closed with ``dropCode`` (1008 by default), while everyone else gets the message. A
/// fan-out written with `await send` for each member instead waits for the slowest reader, and one client that
/// reads nothing stalls the room.
///
/// ```swift
/// let room = WebSocketGroup<ObjectIdentifier>()
/// router.webSocket("/chat") { inbound, outbound in
///     let id = ObjectIdentifier(outbound)
///     room.add(outbound, as: id)
///     defer { room.remove(id) }
///     for await message in inbound {
///         if case .text(let text) = message { room.broadcast(text: text) }
///     }
/// }
/// ```
public final class WebSocketGroup<ID: Hashable & Sendable>: Sendable {
    private let members = NIOLockedValueBox<[ID: WebSocketOutbound]>([:])

    /// The close code a member gets when it is dropped for falling behind.
    public let dropCode: WebSocketCloseCode
    /// The close reason sent with ``dropCode``.
    public let dropReason: String

    /// An empty group.
    ///
    /// - Parameters:
    ///   - dropCode: the close code for a member that falls behind; default 1008 (policy violation). 1013 (try
    ///     again later) also fits a feed the client may rejoin.
    ///   - dropReason: the close reason sent with it.
    public init(dropCode: WebSocketCloseCode = .policyViolation, dropReason: String = "too slow to read") {
        self.dropCode = dropCode
        self.dropReason = dropReason
    }

    /// Adds a member, replacing any member with the same id.
    ///
    /// - Parameters:
    ///   - outbound: the member's connection.
    ///   - id: how the member is known in the group.
    public func add(_ outbound: WebSocketOutbound, as id: ID) {
        members.withLockedValue { $0[id] = outbound }
    }

    /// Removes a member (its connection stays as it is).
    ///
    /// - Parameter id: the member.
    /// - Returns: its connection, or nil when it was not in the group (it left, or was dropped).
    @discardableResult
    public func remove(_ id: ID) -> WebSocketOutbound? {
        members.withLockedValue { $0.removeValue(forKey: id) }
    }

    /// Whether `id` is a member.
    ///
    /// - Parameter id: the member.
    /// - Returns: true while it is in the group.
    public func contains(_ id: ID) -> Bool {
        members.withLockedValue { $0[id] != nil }
    }

    /// The number of members.
    public var count: Int { members.withLockedValue { $0.count } }

    /// Sends a text message to every member (but `excluded`) without waiting.
    ///
    /// - Parameters:
    ///   - text: the text.
    ///   - excluded: a member not to send it to (the sender, say).
    /// - Returns: the members dropped by this broadcast: those that had fallen behind (closed with ``dropCode``)
    ///   and those whose connection had closed.
    @discardableResult
    public func broadcast(text: String, excluding excluded: ID? = nil) -> [ID] {
        broadcast(.text, ByteBuffer(string: text), excluding: excluded)
    }

    /// Sends a binary message to every member (but `excluded`) without waiting.
    ///
    /// - Parameters:
    ///   - binary: the bytes.
    ///   - excluded: a member not to send them to.
    /// - Returns: the members dropped by this broadcast.
    @discardableResult
    public func broadcast(binary: ByteBuffer, excluding excluded: ID? = nil) -> [ID] {
        broadcast(.binary, binary, excluding: excluded)
    }

    private func broadcast(_ opcode: WebSocketOpcode, _ payload: ByteBuffer, excluding excluded: ID?) -> [ID] {
        let everyone = members.withLockedValue { $0 }
        // One uncompressed frame for every member that does not compress; a buffer shared, never copied.
        let frame = WebSocketFrame(opcode: opcode, payload: payload).serverBytes
        var dropped: [ID] = []
        for (id, outbound) in everyone where id != excluded {
            guard !outbound.trySend(opcode, payload, frame: frame) else { continue }
            dropped.append(id)
        }
        guard !dropped.isEmpty else { return [] }
        var removed: [WebSocketOutbound] = []
        members.withLockedValue { members in
            for id in dropped {
                // Only the connection that fell behind: a member re-added meanwhile under the same id stays.
                if let current = members[id], current === everyone[id] {
                    members.removeValue(forKey: id)
                    removed.append(current)
                }
            }
        }
        for outbound in removed where outbound.closeCode == nil {
            outbound.closeNow(code: dropCode, reason: dropReason)
        }
        return dropped
    }
}
