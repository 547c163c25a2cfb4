package import NIOCore
package import NIOPosix

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

extension ByteBuffer {
    /// Appends `count` bytes read with `pread` from `fd` at `offset` (blocking: not for event loops). With
    /// `allowShort`, the end of the file before `count` bytes ends the read instead of failing it.
    package mutating func writePositionalRead(fd: CInt, offset: Int, count: Int, allowShort: Bool = false) throws {
        var remaining = count
        var at = offset
        while remaining > 0 {
            var failure: CInt = 0
            let n = writeWithUnsafeMutableBytes(minimumWritableBytes: Swift.min(remaining, 1 << 20)) { buffer in
                let got = pread(fd, buffer.baseAddress, Swift.min(buffer.count, remaining), off_t(at))
                if got < 0 { failure = errno }
                return Swift.max(got, 0)  // the buffer takes no bytes from a failed read
            }
            if failure == EINTR { continue }
            if failure != 0 { throw IOError(errnoCode: failure, reason: "pread") }
            if n == 0 {
                if allowShort { return }
                throw IOError(errnoCode: EIO, reason: "pread: the file ended \(remaining) bytes early")
            }
            remaining -= n
            at += n
        }
    }
}

extension NIOThreadPool {
    /// `count` bytes of `fd` from `offset` (fewer at the end of the file), read with `pread` on this pool and
    /// delivered on `eventLoop`. Takes the raw descriptor: a `NIOFileHandle` lends its descriptor to one user
    /// at a time, and connections read the same cached file at once. The caller keeps the descriptor open
    /// until the future completes.
    package func positionalRead(
        fd: CInt, offset: Int, count: Int, allocator: ByteBufferAllocator, eventLoop: any EventLoop
    ) -> EventLoopFuture<ByteBuffer> {
        runIfActive(eventLoop: eventLoop) {
            var bytes = allocator.buffer(capacity: count)
            try bytes.writePositionalRead(fd: fd, offset: offset, count: count, allowShort: true)
            return bytes
        }
    }
}
