/// Buffer sizes, bounds and the send timeout of a chat channel. Every value has a documented default.
public struct ChatConfiguration: Sendable, Hashable {
    /// asynchat's `ac_in_buffer_size`: the size of the first read buffer. Reads adapt between 64 bytes and
    /// `max(inBufferSize, 64 KiB)`: a read that fills the buffer makes the next one larger. Default 1 KiB,
    /// nginx's `client_header_buffer_size`: SwiftNIO keeps each connection's read buffer between reads, so this
    /// is what every idle keep-alive connection holds (16 KiB made 10,000 idle connections cost 160 MiB).
    public var inBufferSize: Int = 1024
    /// asynchat's `ac_out_buffer_size`: the chunk size producers are asked for. Default 64 KiB.
    public var outBufferSize: Int = 64 * 1024
    /// The most bytes a delimited frame may hold before its delimiter (see ``ChatFramer/maxDelimitedLength``).
    /// Default 64 KiB.
    public var maxDelimitedLength: Int = 64 * 1024
    /// Queued output, in bytes, above which producers are no longer pulled and the socket is no longer read.
    /// Default 256 KiB.
    public var outputHighWaterMark: Int = 256 * 1024
    /// Queued output, in bytes, below which pulling and reading resume. Default 64 KiB.
    public var outputLowWaterMark: Int = 64 * 1024
    /// How long output may wait for a peer that takes none of it (nginx's `send_timeout`): once the socket
    /// stops taking bytes, the connection is closed if no byte has gone out after this long (checked every
    /// `sendTimeout`, so a stall is cut between one and two timeouts after the last byte went out). A slow
    /// reader that keeps taking bytes is never cut. `nil` turns it off. Default 60 s.
    public var sendTimeout: Duration? = .seconds(60)
    /// How long ``ChatChannel/closeWhenDone()`` keeps reading, and dropping, what a peer still sends after the
    /// last output went out and the connection's sending side was shut down (a FIN sent), before it closes the
    /// socket; the socket closes at once when the peer closes its side. Closing while the peer still sends would
    /// make the kernel answer with a reset that can destroy the response in the peer's receive buffer (RFC 9112
    /// §9.6, Apache's lingering close). `nil` closes at once.
    public var lingerTimeout: Duration? = .seconds(2)

    /// The defaults.
    public init() {}

    /// Traps on values that cannot work: non-positive buffer sizes or timeout, or a low-water mark above the
    /// high one.
    func validate() {
        precondition(inBufferSize > 0 && outBufferSize > 0, "buffer sizes must be positive")
        precondition(sendTimeout.map { $0 > .zero } ?? true, "sendTimeout must be positive")
        precondition(lingerTimeout.map { $0 > .zero } ?? true, "lingerTimeout must be positive")
        precondition(maxDelimitedLength >= 0, "maxDelimitedLength must not be negative")
        precondition(
            outputLowWaterMark >= 0 && outputLowWaterMark <= outputHighWaterMark,
            "need 0 <= outputLowWaterMark <= outputHighWaterMark"
        )
    }
}
