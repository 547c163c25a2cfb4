import CZlib
import NIOCore

/// Decompresses gzip data (the test oracle for GzipProducer); nil when the data is not valid gzip.
func gunzip(_ data: ByteBuffer) -> [UInt8]? {
    let stream = UnsafeMutablePointer<z_stream>.allocate(capacity: 1)
    stream.initialize(to: z_stream())
    defer {
        inflateEnd(stream)
        stream.deallocate()
    }
    guard inflateInit2_(stream, 15 + 16, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size)) == Z_OK else { return nil }
    var input = Array(data.readableBytesView)
    var output: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 64 * 1024)
    let ok: Bool = input.withUnsafeMutableBufferPointer { inp in
        stream.pointee.next_in = inp.baseAddress
        stream.pointee.avail_in = uInt(inp.count)
        while true {
            let rc: Int32 = chunk.withUnsafeMutableBufferPointer { out in
                stream.pointee.next_out = out.baseAddress
                stream.pointee.avail_out = uInt(out.count)
                return inflate(stream, Z_NO_FLUSH)
            }
            output += chunk[0..<(chunk.count - Int(stream.pointee.avail_out))]
            if rc == Z_STREAM_END { return stream.pointee.avail_in == 0 }
            if rc != Z_OK { return false }
        }
    }

    return ok ? output : nil
}
