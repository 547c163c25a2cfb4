import CZlib
package import NIOCore

/// The file that touches zlib: ``Deflater``, a gzip-format deflate stream (RFC 1952) and zlib's CRC-32 for the
/// ZIP archives (``crc32(_:updating:)``); ``MessageDeflater`` and ``MessageInflater``, the raw deflate streams
/// of WebSocket's permessage-deflate (RFC 7692). Nothing else sees `z_stream` or a zlib call.
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

/// Why compressed data could not be inflated.
package enum InflateError: Error, Equatable {
    /// The data is not a deflate stream.
    case invalidData
    /// The inflated bytes would pass the limit given.
    case tooLarge
}

/// A raw deflate stream (RFC 1951, no wrapper) for permessage-deflate's messages (RFC 7692 §7.2.1): each
/// message is compressed and flushed to a byte boundary, and the flush's empty stored block (`00 00 FF FF`) is
/// left off. With `contextTakeover` false the window is dropped after each message, so each is compressed on
/// its own.
package final class MessageDeflater: @unchecked Sendable {
    // @unchecked: the stream is used by one sender at a time, under the lock of its WebSocketOutbound.
    private let stream: UnsafeMutablePointer<z_stream>
    private let contextTakeover: Bool

    /// A stream with a window of `2^windowBits` bytes (9 to 15; zlib's raw deflate has no 8).
    package init(windowBits: Int32, contextTakeover: Bool, level: Int32 = 6) {
        stream = .allocate(capacity: 1)
        stream.initialize(to: z_stream())
        self.contextTakeover = contextTakeover
        // memLevel 8 is zlib's default; negative windowBits: no zlib or gzip wrapper.
        let rc = deflateInit2_(stream, level, Z_DEFLATED, -max(9, min(15, windowBits)), 8, Z_DEFAULT_STRATEGY,
                               ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size))
        precondition(rc == Z_OK, "deflateInit2 failed: \(rc)")
    }

    deinit {
        deflateEnd(stream)
        stream.deinitialize(count: 1)
        stream.deallocate()
    }

    /// One message, compressed.
    package func compress(_ message: ByteBuffer) -> ByteBuffer {
        var output = ByteBuffer()
        message.withUnsafeReadableBytes { raw in
            stream.pointee.next_in = UnsafeMutablePointer(mutating: raw.bindMemory(to: Bytef.self).baseAddress)
            stream.pointee.avail_in = uInt(raw.count)
            while true {
                var rc: Int32 = Z_OK
                output.writeWithUnsafeMutableBytes(minimumWritableBytes: max(raw.count / 2, 1024)) { out in
                    stream.pointee.next_out = out.bindMemory(to: Bytef.self).baseAddress
                    stream.pointee.avail_out = uInt(out.count)
                    rc = deflate(stream, Z_SYNC_FLUSH)
                    return out.count - Int(stream.pointee.avail_out)
                }
                precondition(rc == Z_OK || rc == Z_BUF_ERROR, "deflate failed: \(rc)")
                // Done when all input is taken and zlib left room: the flush is complete.
                if stream.pointee.avail_in == 0 && stream.pointee.avail_out > 0 { break }
            }
            stream.pointee.next_in = nil
            stream.pointee.avail_in = 0
        }
        if output.readableBytesView.suffix(4).elementsEqual([0x00, 0x00, 0xFF, 0xFF]) {
            output.moveWriterIndex(to: output.writerIndex - 4)
        }
        if !contextTakeover { deflateReset(stream) }
        return output
    }
}

/// A raw inflate stream for permessage-deflate's messages, bounded: inflation stops with
/// ``InflateError/tooLarge`` as soon as a message's output would pass its limit, whatever the input's ratio,
/// so a decompression bomb costs at most the limit in memory.
package final class MessageInflater {
    private let stream: UnsafeMutablePointer<z_stream>
    private let contextTakeover: Bool

    /// A stream for a peer whose window is `2^windowBits` bytes (8 to 15; 8 is inflated as 9, which covers it).
    package init(windowBits: Int32, contextTakeover: Bool) {
        stream = .allocate(capacity: 1)
        stream.initialize(to: z_stream())
        self.contextTakeover = contextTakeover
        let rc = inflateInit2_(stream, -max(9, min(15, windowBits)), ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size))
        precondition(rc == Z_OK, "inflateInit2 failed: \(rc)")
    }

    deinit {
        inflateEnd(stream)
        stream.deinitialize(count: 1)
        stream.deallocate()
    }

    /// Inflates the next compressed piece of a message, appending to `output`, which may hold at most `limit`
    /// bytes. With `last`, the message ends here (the flush block the sender left off is put back).
    package func inflate(_ input: ByteBuffer, last: Bool, into output: inout ByteBuffer, limit: Int) throws(InflateError) {
        try feed(input, into: &output, limit: limit)
        if last {
            try feed(ByteBuffer(bytes: [0x00, 0x00, 0xFF, 0xFF]), into: &output, limit: limit)
            if !contextTakeover { inflateReset(stream) }
        }
    }

    private func feed(_ input: ByteBuffer, into output: inout ByteBuffer, limit: Int) throws(InflateError) {
        var failure: InflateError?
        input.withUnsafeReadableBytes { raw in
            stream.pointee.next_in = UnsafeMutablePointer(mutating: raw.bindMemory(to: Bytef.self).baseAddress)
            stream.pointee.avail_in = uInt(raw.count)
            defer {
                stream.pointee.next_in = nil
                stream.pointee.avail_in = 0
            }
            while failure == nil {
                let room = limit - output.readableBytes
                // One byte past the limit is asked for, so that output that would pass it is seen.
                let chunk = min(room + 1, 64 * 1024)
                var rc: Int32 = Z_OK
                var full = false
                output.writeWithUnsafeMutableBytes(minimumWritableBytes: chunk) { out in
                    let count = min(out.count, chunk)
                    stream.pointee.next_out = out.bindMemory(to: Bytef.self).baseAddress
                    stream.pointee.avail_out = uInt(count)
                    rc = zlibInflate(stream, Z_SYNC_FLUSH)
                    full = stream.pointee.avail_out == 0
                    return count - Int(stream.pointee.avail_out)
                }
                if output.readableBytes > limit {
                    failure = .tooLarge
                } else if rc == Z_STREAM_END {
                    // A final block: permessage-deflate never sends one, but it is well-formed deflate.
                    inflateReset(stream)
                    if stream.pointee.avail_in == 0 { break }
                } else if rc != Z_OK && rc != Z_BUF_ERROR {
                    failure = .invalidData
                } else if stream.pointee.avail_in == 0 && !full {
                    break
                }
            }
        }
        if let failure { throw failure }
    }
}

/// zlib's `inflate`, under a name that does not clash with ``MessageInflater/inflate(_:last:into:limit:)``.
private func zlibInflate(_ stream: UnsafeMutablePointer<z_stream>, _ flush: Int32) -> Int32 {
    inflate(stream, flush)
}
