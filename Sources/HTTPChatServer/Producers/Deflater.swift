import CZlib
import NIOCore

/// The one type that touches zlib: a gzip-format deflate stream (RFC 1952), and zlib's CRC-32 for the ZIP
/// archives (``crc32(_:updating:)``). Nothing else sees `z_stream` or a zlib call.
///
/// The `z_stream` lives at a fixed heap address, since zlib keeps a pointer back to it.
final class Deflater {
    private let stream: UnsafeMutablePointer<z_stream>
    private var finished = false

    /// Starts a stream.
    ///
    /// - Parameter level: 1 (fastest) to 9 (smallest); nginx's and ours default is 6.
    init(level: Int32 = 6) {
        stream = .allocate(capacity: 1)
        stream.initialize(to: z_stream())
        // windowBits 15 + 16: the gzip wrapper; memLevel 8 is zlib's default.
        let rc = deflateInit2_(stream, level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY, ZLIB_VERSION,
                               Int32(MemoryLayout<z_stream>.size))
        precondition(rc == Z_OK, "deflateInit2 failed: \(rc)")
    }

    deinit {
        deflateEnd(stream)
        stream.deinitialize(count: 1)
        stream.deallocate()
    }

    /// Compresses `input`, appending what zlib emits to `output`. With `finish`, the stream ends (trailer
    /// included) and later calls append nothing.
    func compress(_ input: ByteBuffer, finish: Bool, into output: inout ByteBuffer) {
        guard !finished else { return }
        input.withUnsafeReadableBytes { raw in
            stream.pointee.next_in = UnsafeMutablePointer(mutating: raw.bindMemory(to: Bytef.self).baseAddress)
            stream.pointee.avail_in = uInt(raw.count)
            let flush = finish ? Z_FINISH : Z_NO_FLUSH
            while true {
                var rc: Int32 = Z_OK
                let room = max(Int(deflateBound(stream, uLong(stream.pointee.avail_in))) / 4, 4096)
                output.writeWithUnsafeMutableBytes(minimumWritableBytes: room) { out in
                    stream.pointee.next_out = out.bindMemory(to: Bytef.self).baseAddress
                    stream.pointee.avail_out = uInt(out.count)
                    rc = deflate(stream, flush)
                    return out.count - Int(stream.pointee.avail_out)
                }
                if rc == Z_STREAM_END {
                    finished = true
                    break
                }
                precondition(rc == Z_OK || rc == Z_BUF_ERROR, "deflate failed: \(rc)")
                if !finish && stream.pointee.avail_in == 0 && stream.pointee.avail_out > 0 { break }
            }
            stream.pointee.next_in = nil
            stream.pointee.avail_in = 0
        }
    }
}

extension Deflater {
    /// The CRC-32 of ISO 3309 / ITU-T V.42 (the IEEE polynomial, reflected, as ZIP and gzip use it), carried on
    /// from `crc` over `bytes`: start with 0, feed the bytes in any pieces, and the result is the CRC of them
    /// all. zlib's `crc32`, which is much faster than a table in Swift; here because this is the type that
    /// touches zlib.
    ///
    /// - Parameters:
    ///   - bytes: the next bytes.
    ///   - crc: the CRC of the bytes before them (0 for none).
    /// - Returns: the CRC of everything so far.
    static func crc32(_ bytes: UnsafeRawBufferPointer, updating crc: UInt32) -> UInt32 {
        var value = uLong(crc)
        var rest = bytes[...]
        while !rest.isEmpty {
            let n = min(rest.count, 1 << 30)  // zlib's length is a uInt
            let piece = UnsafeRawBufferPointer(rebasing: rest.prefix(n))
            value = CZlib.crc32(value, piece.bindMemory(to: Bytef.self).baseAddress, uInt(n))
            rest = rest.dropFirst(n)
        }
        return UInt32(truncatingIfNeeded: value)
    }
}
