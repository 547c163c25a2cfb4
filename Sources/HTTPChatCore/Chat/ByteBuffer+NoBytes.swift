internal import NIOCore

extension ByteBuffer {
    /// One shared empty buffer. Assigning it lets go of a buffer's storage without allocating, where `clear()`
    /// on a buffer that shares its storage (a slice of a read buffer, say) would allocate a fresh copy of the
    /// whole capacity: an idle keep-alive connection would hold that copy until its next request.
    static let noBytes = ByteBuffer()
}
