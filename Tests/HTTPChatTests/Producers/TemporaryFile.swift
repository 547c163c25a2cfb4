import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

@testable import HTTPChatCore
@testable import HTTPChatServer

/// A file of given bytes in the temporary folder, open for reading, removed when the value goes.
final class TemporaryFile {
    let path: String
    /// The file, opened once; producers under test share it.
    let file: OpenFile
    /// A second descriptor of the same file, for reading file regions back in the test.
    let fd: CInt

    init(bytes: [UInt8]) throws {
        path = FileManager.default.temporaryDirectory.appendingPathComponent("httpchat-producer-\(UUID().uuidString)").path
        guard FileManager.default.createFile(atPath: path, contents: Data(bytes)) else {
            throw CocoaError(.fileWriteUnknown)
        }
        let a = open(path, O_RDONLY | O_CLOEXEC)
        let b = open(path, O_RDONLY | O_CLOEXEC)
        guard a >= 0, b >= 0 else { throw CocoaError(.fileReadUnknown) }
        file = OpenFile(takingOwnershipOf: a)
        fd = b
    }

    /// Another descriptor of the file, owned by the OpenFile returned (for tests that watch it be released).
    func reopen() throws -> OpenFile {
        let d = open(path, O_RDONLY | O_CLOEXEC)
        guard d >= 0 else { throw CocoaError(.fileReadUnknown) }
        return OpenFile(takingOwnershipOf: d)
    }

    deinit {
        close(fd)
        try? FileManager.default.removeItem(atPath: path)
    }
}

/// Bytes that do not compress (a fixed-seed generator, so a failure reproduces).
func randomBytes(_ count: Int, seed: UInt64 = 0x9E37_79B9_7F4A_7C15) -> [UInt8] {
    var state = seed
    var out = [UInt8]()
    out.reserveCapacity(count)
    for _ in 0..<count {
        // xorshift64*
        state ^= state >> 12
        state ^= state << 25
        state ^= state >> 27
        out.append(UInt8(truncatingIfNeeded: (state &* 0x2545_F491_4F6C_DD1D) >> 56))
    }
    return out
}

/// Bytes that compress well: text lines with a counter.
func compressibleBytes(_ count: Int) -> [UInt8] {
    var out = [UInt8]()
    out.reserveCapacity(count + 64)
    var line = 0
    while out.count < count {
        out += Array("line \(line): the quick brown fox jumps over the lazy dog\n".utf8)
        line += 1
    }
    return Array(out.prefix(count))
}
