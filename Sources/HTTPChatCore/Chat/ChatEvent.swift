public import NIOCore

/// One step of framed input, produced by ``ChatFramer/next()``.
public enum ChatEvent: Sendable, Equatable {
    /// Bytes of the current frame (asynchat's `collect_incoming_data`). Never empty.
    case data(ByteBuffer)
    /// The current frame ended (asynchat's `found_terminator`). The terminator may be changed before the next
    /// call to ``ChatFramer/next()``; bytes already buffered are then framed by the new terminator.
    case terminator
}

/// Why framing stopped.
public enum ChatFramingError: Error, Equatable, Sendable {
    /// The delimiter was not found within ``ChatFramer/maxDelimitedLength`` bytes of frame content.
    /// asynchat would keep buffering without bound; HTTPChat stops and lets the protocol answer
    /// (HTTP answers 431 or 414).
    case delimiterNotFound(limit: Int)
}
