import NIOCore

/// Every way the tests cut one input into reads: whole, each single split point, each pair of split points
/// for short inputs, and one byte at a time.
func splits(of bytes: [UInt8], pairsUpTo maxPairLength: Int = 64) -> [[ByteBuffer]] {
    var result: [[ByteBuffer]] = [[ByteBuffer(bytes: bytes)]]
    let n = bytes.count
    if n > 1 {
        for i in 1..<n {
            result.append([ByteBuffer(bytes: bytes[..<i]), ByteBuffer(bytes: bytes[i...])])
        }
    }
    if n <= maxPairLength, n > 2 {
        for i in 1..<(n - 1) {
            for j in (i + 1)..<n {
                result.append([
                    ByteBuffer(bytes: bytes[..<i]), ByteBuffer(bytes: bytes[i..<j]), ByteBuffer(bytes: bytes[j...]),
                ])
            }
        }
    }
    result.append(bytes.map { ByteBuffer(bytes: [$0]) })
    return result
}

extension Array where Element == UInt8 {
    /// The bytes of a string, for readable test tables.
    init(_ string: String) { self = Array(string.utf8) }
}
