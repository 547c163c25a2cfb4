import NIOCore
import Testing

@testable import HTTPChatServer

/// Little-endian bytes of `value`, `count` bytes long: the tests' own writer, independent of ZipLayout's.
private func le(_ value: UInt64, _ count: Int) -> [UInt8] {
    (0..<count).map { UInt8(truncatingIfNeeded: value >> UInt64(8 * $0)) }
}

/// The pieces, one after another.
private func cat(_ pieces: [UInt8]...) -> [UInt8] { pieces.flatMap { $0 } }

private func entry(_ name: String, size: Int, directory: Bool = false, mtime: Int = 1_704_067_200, inode: UInt64 = 1) -> ZipLayout.Entry {
    ZipLayout.Entry(
        path: name.split(separator: "/").map(String.init), name: Array(name.utf8),
        info: FileInfo(size: size, isDirectory: directory, mtimeSeconds: mtime, inode: inode)
    )
}

@Suite("ZIP layout")
struct ZipLayoutTests {
    @Test("CRC-32 is the IEEE one: the check value of 123456789, and the same over pieces")
    func crc() {
        let bytes = Array("123456789".utf8)
        let whole = bytes.withUnsafeBytes { Deflater.crc32($0, updating: 0) }
        #expect(whole == 0xCBF4_3926, "got \(String(whole, radix: 16))")
        let first = bytes[..<4].withUnsafeBytes { Deflater.crc32($0, updating: 0) }
        let both = bytes[4...].withUnsafeBytes { Deflater.crc32($0, updating: first) }
        #expect(both == whole)
        #expect([UInt8]().withUnsafeBytes { Deflater.crc32($0, updating: 0) } == 0)
    }

    @Test("MS-DOS times in UTC, clamped to 1980...2107", arguments: [
        (315_532_800, UInt16(0), UInt16(0x0021)),  // 1980-01-01 00:00:00
        (0, 0, 0x0021),  // before 1980: the first DOS day
        (1_704_067_200, 0, 0x5821),  // 2024-01-01 00:00:00
        (951_831_930, 0x6DAF, 0x285D),  // 2000-02-29 13:45:30 (seconds halved)
        (4_354_819_198, 0xBF7D, 0xFF9F),  // 2107-12-31 23:59:58
        (9_999_999_999, 0xBF7D, 0xFF9F),  // past 2107: the last DOS time
    ])
    func dosTimes(seconds: Int, time: UInt16, date: UInt16) {
        let got = ZipLayout.dosDateTime(seconds)
        #expect(got.time == time && got.date == date, "got \(String(got.time, radix: 16)) \(String(got.date, radix: 16))")
    }

    @Test("a small archive, byte by byte: local headers, data, descriptors, central directory, end record")
    func smallArchiveBytes() throws {
        let entries = [
            entry("a.txt", size: 5), entry("empty/", size: 0, directory: true), entry("sub/", size: 0, directory: true),
            entry("sub/b.txt", size: 0),
        ]
        let layout = ZipLayout(entries)
        let crcs: [UInt32] = [0x3610_A686, 0, 0, 0]  // CRC-32 of "hello" (zlib.crc32(b'hello')), then none
        let contents: [[UInt8]] = [Array("hello".utf8), [], [], []]
        let mtime = le(1_704_067_200, 4)
        var want: [UInt8] = []
        var offsets: [Int] = []
        for (i, e) in entries.enumerated() {
            offsets.append(want.count)
            let file = !e.isDirectory
            want += cat([0x50, 0x4B, 0x03, 0x04], le(20, 2), le(file ? 0x0808 : 0x0800, 2), le(0, 2))
            want += cat(le(0, 2), le(0x5821, 2))  // 2024-01-01 00:00:00
            want += cat(le(0, 4), le(0, 4), le(0, 4))  // CRC and sizes follow (bit 3), or are zero
            want += cat(le(UInt64(e.name.count), 2), le(9, 2), e.name)
            want += cat([0x55, 0x54, 5, 0, 1], mtime)
            want += contents[i]
            if file { want += cat([0x50, 0x4B, 0x07, 0x08], le(UInt64(crcs[i]), 4), le(UInt64(e.size), 4), le(UInt64(e.size), 4)) }
        }
        let centralStart = want.count
        for (i, e) in entries.enumerated() {
            let file = !e.isDirectory
            want += cat([0x50, 0x4B, 0x01, 0x02], [63, 3], le(20, 2), le(file ? 0x0808 : 0x0800, 2), le(0, 2))
            want += cat(le(0, 2), le(0x5821, 2), le(UInt64(crcs[i]), 4), le(UInt64(e.size), 4), le(UInt64(e.size), 4))
            want += cat(le(UInt64(e.name.count), 2), le(9, 2), le(0, 2), le(0, 2), le(0, 2))
            want += cat(le(file ? 0o100644 << 16 : 0o40755 << 16 | 0x10, 4), le(UInt64(offsets[i]), 4), e.name)
            want += cat([0x55, 0x54, 5, 0, 1], mtime)
        }
        let centralSize = want.count - centralStart
        want += cat([0x50, 0x4B, 0x05, 0x06], le(0, 2), le(0, 2), le(4, 2), le(4, 2))
        want += cat(le(UInt64(centralSize), 4), le(UInt64(centralStart), 4), le(0, 2))

        #expect(layout.length == want.count, "length: got \(layout.length), want \(want.count)")
        #expect(layout.centralStart == centralStart && layout.centralSize == centralSize && !layout.zip64End)
        // Assemble the archive piece by piece, as the producer walks it.
        var got: [UInt8] = []
        var offset = 0
        while offset < layout.length {
            let (piece, start, length) = layout.piece(at: offset)
            #expect(start == offset && length > 0, "pieces tile the archive: \(piece) at \(start), offset \(offset)")
            switch piece {
            case .localHeader(let i): got += Array(layout.localHeader(i).readableBytesView)
            case .data(let i): got += contents[i]
            case .descriptor(let i): got += Array(layout.descriptor(i, crc: crcs[i]).readableBytesView)
            case .central(let i):
                var b = ByteBuffer()
                layout.writeCentral(i, crc: crcs[i], into: &b)
                got += Array(b.readableBytesView)
            case .end: got += Array(layout.end().readableBytesView)
            }
            offset = start + length
        }
        #expect(got == want)
        if got != want, let first = zip(got, want).enumerated().first(where: { $0.element.0 != $0.element.1 }) {
            Issue.record("first difference at byte \(first.offset): got \(first.element.0), want \(first.element.1)")
        }
        // Every offset inside a piece answers that piece.
        #expect(layout.piece(at: offsets[0] + 40).piece == .localHeader(0))
        #expect(layout.piece(at: offsets[1] - 1).piece == .descriptor(0))
        #expect(layout.piece(at: offsets[3] + 47).piece == .localHeader(3) && layout.piece(at: offsets[3] + 48).piece == .descriptor(3), "an empty file's data is skipped")
        #expect(layout.piece(at: centralStart).piece == .central(0))
        #expect(layout.piece(at: layout.length - 1).piece == .end)
    }

    @Test("ZIP64: a 5 GiB file's local header, descriptor and central record; an offset past 4 GiB; the ZIP64 end records")
    func zip64Records() {
        let size = 5 << 30
        let layout = ZipLayout([entry("big.bin", size: size), entry("after.txt", size: 3, inode: 2)])
        let afterOffset = 30 + 7 + 9 + 20 + size + 24
        #expect(layout.localOffsets == [0, afterOffset, afterOffset + 30 + 9 + 9 + 3 + 16])

        let local = Array(layout.localHeader(0).readableBytesView)
        let wantLocal: [UInt8] = cat(
            [0x50, 0x4B, 0x03, 0x04], le(45, 2), le(0x0808, 2), le(0, 2), le(0, 2), le(0x5821, 2), le(0, 4),
            le(0xFFFF_FFFF, 4), le(0xFFFF_FFFF, 4), le(7, 2), le(29, 2), Array("big.bin".utf8),
            [0x55, 0x54, 5, 0, 1], le(1_704_067_200, 4), le(1, 2), le(16, 2), le(0, 8), le(0, 8)
        )
        #expect(local == wantLocal)
        #expect(Array(layout.descriptor(0, crc: 0xDEAD_BEEF).readableBytesView)
            == cat([0x50, 0x4B, 0x07, 0x08], le(0xDEAD_BEEF, 4), le(UInt64(size), 8), le(UInt64(size), 8)))
        #expect(Array(layout.descriptor(1, crc: 7).readableBytesView) == cat([0x50, 0x4B, 0x07, 0x08], le(7, 4), le(3, 4), le(3, 4)))
        #expect(Array(layout.localHeader(1).readableBytesView)[28..<30] == [9, 0], "a small file after 4 GiB has no ZIP64 field in its local header")

        var big = ByteBuffer()
        layout.writeCentral(0, crc: 0xDEAD_BEEF, into: &big)
        let wantBig: [UInt8] = cat(
            [0x50, 0x4B, 0x01, 0x02, 63, 3], le(45, 2), le(0x0808, 2), le(0, 2), le(0, 2), le(0x5821, 2),
            le(0xDEAD_BEEF, 4), le(0xFFFF_FFFF, 4), le(0xFFFF_FFFF, 4), le(7, 2), le(9 + 20, 2), le(0, 6),
            le(0o100644 << 16, 4), le(0, 4), Array("big.bin".utf8), [0x55, 0x54, 5, 0, 1], le(1_704_067_200, 4),
            le(1, 2), le(16, 2), le(UInt64(size), 8), le(UInt64(size), 8)
        )
        #expect(Array(big.readableBytesView) == wantBig)

        var after = ByteBuffer()
        layout.writeCentral(1, crc: 7, into: &after)
        let wantAfter: [UInt8] = cat(
            [0x50, 0x4B, 0x01, 0x02, 63, 3], le(45, 2), le(0x0808, 2), le(0, 2), le(0, 2), le(0x5821, 2), le(7, 4),
            le(3, 4), le(3, 4), le(9, 2), le(9 + 12, 2), le(0, 6), le(0o100644 << 16, 4), le(0xFFFF_FFFF, 4),
            Array("after.txt".utf8), [0x55, 0x54, 5, 0, 1], le(1_704_067_200, 4), le(1, 2), le(8, 2),
            le(UInt64(afterOffset), 8)
        )
        #expect(Array(after.readableBytesView) == wantAfter)

        let centralStart = layout.localOffsets[2]
        let centralSize = wantBig.count + wantAfter.count
        #expect(layout.centralStart == centralStart && layout.centralSize == centralSize && layout.zip64End)
        let end = Array(layout.end().readableBytesView)
        let recordAt = centralStart + centralSize
        let wantEnd: [UInt8] = cat(
            [0x50, 0x4B, 0x06, 0x06], le(44, 8), [63, 3], le(45, 2), le(0, 4), le(0, 4), le(2, 8), le(2, 8),
            le(UInt64(centralSize), 8), le(UInt64(centralStart), 8), [0x50, 0x4B, 0x06, 0x07], le(0, 4),
            le(UInt64(recordAt), 8), le(1, 4), [0x50, 0x4B, 0x05, 0x06], le(0, 2), le(0, 2), le(2, 2), le(2, 2),
            le(UInt64(centralSize), 4), le(0xFFFF_FFFF, 4), le(0, 2)
        )
        #expect(end == wantEnd)
        #expect(layout.length == recordAt + 56 + 20 + 22)
        #expect(layout.piece(at: 66 + size - 1).piece == .data(0) && layout.piece(at: 66 + size).piece == .descriptor(0))
    }

    @Test("65,535 entries or more take the ZIP64 end records; 65,534 do not")
    func zip64ByCount() {
        let many = (0..<65_535).map { entry("d\($0)/", size: 0, directory: true, inode: UInt64($0)) }
        let layout = ZipLayout(many)
        #expect(layout.zip64End)
        let end = Array(layout.end().readableBytesView)
        #expect(end.count == 56 + 20 + 22)
        #expect(Array(end[0..<4]) == [0x50, 0x4B, 0x06, 0x06] && Array(end[24..<40]) == cat(le(65_535, 8), le(65_535, 8)))
        #expect(Array(end[(76 + 8)..<(76 + 12)]) == [0xFF, 0xFF, 0xFF, 0xFF], "the classic count fields are all ones")
        let fewer = ZipLayout(Array(many.dropLast()))
        #expect(!fewer.zip64End)
        #expect(Array(fewer.end().readableBytesView)[8..<12] == [0xFE, 0xFF, 0xFE, 0xFF])
    }

    @Test("Content-Disposition: ASCII names quoted, others as filename*=UTF-8'' with a safe fallback")
    func contentDisposition() {
        #expect(FileServer.attachment("site.zip") == "attachment; filename=\"site.zip\"")
        #expect(FileServer.attachment("café ü.zip") == "attachment; filename=\"caf_ _.zip\"; filename*=UTF-8''caf%C3%A9%20%C3%BC.zip")
        let hostile = FileServer.attachment("a\"b\\c%41\r\nX: y.zip")
        #expect(hostile == "attachment; filename=\"a_b_c_41__X: y.zip\"; filename*=UTF-8''a%22b%5Cc%2541%0D%0AX%3A%20y.zip", "got \(hostile)")
        #expect(!hostile.contains("\r") && !hostile.contains("\n"))
    }
}
