public import NIOCore

/// What runs between the socket and the chat layer of every accepted connection: nothing (plain TCP), or
/// handlers such as TLS that the listener adds to each connection's pipeline before the chat layer's.
///
/// The chat layer above runs unchanged. A transport that transforms the bytes in user space (TLS encrypts
/// them) cannot carry file regions, which the kernel sends with `sendfile`; with such a transport, every
/// producer's file regions are read into bytes off the event loop (``FileRegionReader``).
///
/// ```swift
/// let transport = ChatTransport(carriesFileRegions: false) { channel in
///     try channel.pipeline.syncOperations.addHandler(MyRecordLayer())
/// }
/// let listener = try await ChatListener.bind(host: "127.0.0.1", port: 0, transport: transport) { EchoProtocol() }
/// ```
public struct ChatTransport: Sendable {
    /// Whether file regions reach the socket as they are (`sendfile`). False makes the chat layer read them.
    public var carriesFileRegions: Bool
    /// Adds the transport's handlers to a new connection's pipeline; called on its event loop, before the
    /// chat layer's handler is added after them.
    public var prepare: @Sendable (any Channel) throws -> Void

    /// A transport from its handlers.
    ///
    /// - Parameters:
    ///   - carriesFileRegions: whether `FileRegion` writes may pass through the handlers.
    ///   - prepare: adds the handlers, with the pipeline's synchronous operations (it runs on the loop).
    public init(carriesFileRegions: Bool, prepare: @escaping @Sendable (any Channel) throws -> Void) {
        self.carriesFileRegions = carriesFileRegions
        self.prepare = prepare
    }

    /// Plain TCP: bytes and file regions straight to the socket.
    public static let plain = ChatTransport(carriesFileRegions: true) { _ in }
}
