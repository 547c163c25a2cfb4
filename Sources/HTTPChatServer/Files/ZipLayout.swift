import NIOCore

/// The byte layout of a store-only ZIP archive of a folder (PKWARE's APPNOTE.TXT 6.3): where every record
/// and every file's bytes go, the archive's exact length, and the records themselves as bytes. Pure: it
/// knows names, sizes and modification times, never a file's contents; the CRC-32 each file's records need
/// is a parameter (``ZipArchiveProducer`` computes it while sending).
///
/// For each entry, in order: a local file header, the file's bytes unchanged (method 0, stored), and for a
/// file a data descriptor (general-purpose bit 3) carrying the CRC-32 and sizes after the bytes; then the
/// central directory, one record per entry; then the end records. The local header holds no CRC (bit 3
/// says it follows the data), so every byte before a file's data is known from the plan alone, and the
/// CRC is needed only after the data it is computed over: the archive streams, its `Content-Length` is
/// exact before any file is read, and a `Range` maps onto fixed offsets.
///
/// - Names are UTF-8 with bit 11 set, `/`-separated, relative to the folder; folders end in `/` (so empty
///   folders appear). Folders have no data and no descriptor.
/// - Times are MS-DOS date and time in UTC (clamped to 1980 to 2107), plus the extended-timestamp extra field
///   (0x5455) with the modification time in seconds since the epoch, which Info-ZIP and 7-Zip prefer.
/// - Attributes: made by Unix, `0644` for files and `0755` for folders (with the MS-DOS folder bit).
/// - ZIP64 (APPNOTE 4.3.9, 4.4.1.4, 4.5.3) where a value does not fit: a file of 0xFFFFFFFF bytes or more
///   gets the ZIP64 extra field (0x0001) in its local header (sizes zero there, bit 3) and an 8-byte-size data
///   descriptor; a central record gets the extra field holding the sizes and local-header offset that reach
///   0xFFFFFFFF; 65,535 entries or more, or a central directory that starts or measures 0xFFFFFFFF or more,
///   add the ZIP64 end of central directory record and its locator before the classic end record, whose
///   fields that overflow are then all ones.
struct ZipLayout: Sendable {
    /// A file or folder in the archive.
    struct Entry: Sendable, Hashable {
        /// Its segments below the provider's root (to open it).
        var path: [String]
        /// Its name in the archive, UTF-8: relative to the archived folder, `/`-separated, a folder's ending in `/`.
        var name: [UInt8]
        /// What `stat` said when the archive was planned: a file whose size or identity differs when it is
        /// sent aborts the response.
        var info: FileInfo

        var isDirectory: Bool { info.isDirectory }
        /// The bytes stored: the file's size, zero for a folder.
        var size: Int { info.isDirectory ? 0 : info.size }
    }

    /// A record or a file's bytes, by the entry it belongs to.
    enum Piece: Equatable, Sendable {
        case localHeader(Int)
        case data(Int)
        case descriptor(Int)
        case central(Int)
        case end
    }

    /// The most a 2- or 4-byte field holds before ZIP64 takes over (the all-ones value means "see ZIP64").
    static let limit16 = 0xFFFF
    static let limit32 = 0xFFFF_FFFF

    let entries: [Entry]
    /// Where each entry's local header starts; one more element: where the central directory starts.
    let localOffsets: [Int]
    /// Where each entry's central record starts; one more element: where the end records start.
    let centralOffsets: [Int]
    /// The central directory's start and size.
    let centralStart: Int
    let centralSize: Int
    /// Whether the ZIP64 end records are written.
    let zip64End: Bool
    /// The archive's length in bytes.
    let length: Int

    /// Lays out the archive of `entries`, in the order given.
    init(_ entries: [Entry]) {
        self.entries = entries
        var offset = 0
        var locals: [Int] = []
        locals.reserveCapacity(entries.count + 1)
        for e in entries {
            locals.append(offset)
            offset += Self.localHeaderLength(e) + e.size + Self.descriptorLength(e)
        }
        locals.append(offset)
        centralStart = offset
        var centrals: [Int] = []
        centrals.reserveCapacity(entries.count + 1)
        for (i, e) in entries.enumerated() {
            centrals.append(offset)
            offset += Self.centralLength(e, offset: locals[i])
        }
        centrals.append(offset)
        centralSize = offset - centralStart
        zip64End = entries.count >= Self.limit16 || centralSize >= Self.limit32 || centralStart >= Self.limit32
        length = offset + (zip64End ? 56 + 20 : 0) + 22
        localOffsets = locals
        centralOffsets = centrals
    }

    // MARK: - Names

    /// Whether one name, a file's or a folder's, may become a component of an entry name. Decided on the
    /// name's UTF-8 bytes, never on `Character`s (a combining or format scalar must not hide a separator).
    /// Names that fail are left out of the archive, not rewritten: a replacement (`a\b` -> `a_b`) could
    /// collide with a name beside it, and the file would still be there under another name.
    ///
    /// Refused: the empty name, `.` and `..`; any `/` (a provider's name is one component); any `\`, which
    /// Windows extractors read as a folder separator (`..\..\x` would climb out of the folder extracted
    /// into); C0 controls, DEL and C1 controls (U+0080 to U+009F), NUL among them; and U+FFFD, which is what
    /// a name that was not valid UTF-8 on disk reads as (it could not be opened by that spelling, and would
    /// cut the archive short). An absolute name cannot arise: names are joined below the archived folder from
    /// components that hold no `/`.
    ///
    /// - Parameter name: a folder entry's name.
    /// - Returns: whether it may go into an archive.
    static func isSafeComponent(_ name: String) -> Bool {
        var count = 0
        var dots = 0
        var previous: UInt8 = 0
        var beforePrevious: UInt8 = 0
        for byte in name.utf8 {
            count += 1
            if byte == UInt8(ascii: ".") { dots += 1 }
            switch byte {
            case 0x00...0x1F, 0x7F, UInt8(ascii: "/"), UInt8(ascii: "\\"):
                return false
            case 0x80...0x9F where previous == 0xC2:  // U+0080 to U+009F
                return false
            case 0xBD where previous == 0xBF && beforePrevious == 0xEF:  // U+FFFD
                return false
            default:
                break
            }
            beforePrevious = previous
            previous = byte
        }
        return count > 0 && !(dots == count && count <= 2)
    }

    // MARK: - Lengths

    /// A file whose size does not fit 4 bytes carries ZIP64 sizes in its local header and descriptor.
    static func zip64Local(_ e: Entry) -> Bool { e.size >= limit32 }

    static func localHeaderLength(_ e: Entry) -> Int { 30 + e.name.count + 9 + (zip64Local(e) ? 20 : 0) }

    static func descriptorLength(_ e: Entry) -> Int { e.isDirectory ? 0 : (zip64Local(e) ? 24 : 16) }

    /// How many 8-byte fields the central record's ZIP64 extra holds: both sizes when the size overflows, the
    /// local header's offset when it does.
    static func zip64CentralFields(_ e: Entry, offset: Int) -> Int { (e.size >= limit32 ? 2 : 0) + (offset >= limit32 ? 1 : 0) }

    static func centralLength(_ e: Entry, offset: Int) -> Int {
        let fields = zip64CentralFields(e, offset: offset)
        return 46 + e.name.count + 9 + (fields > 0 ? 4 + 8 * fields : 0)
    }

    /// Version needed to extract: 4.5 with ZIP64 anywhere in the entry's records, else 2.0 (folders).
    static func versionNeeded(_ e: Entry, offset: Int) -> UInt16 {
        zip64Local(e) || zip64CentralFields(e, offset: offset) > 0 ? 45 : 20
    }

    /// Version made by: Unix (3, so external attributes hold a mode), APPNOTE 6.3.
    static let madeBy: UInt16 = 3 << 8 | 63

    // MARK: - Where an offset falls

    /// The piece holding the archive byte at `offset` (`0 <= offset < length`), with its start and length;
    /// pieces of no length (an empty file's data) are never answered.
    func piece(at offset: Int) -> (piece: Piece, start: Int, length: Int) {
        precondition(offset >= 0 && offset < length, "offset \(offset) outside the archive (\(length) bytes)")
        if offset < centralStart {
            let i = Self.lastIndex(in: localOffsets, notAbove: offset)
            let e = entries[i]
            let header = localOffsets[i]
            let data = header + Self.localHeaderLength(e)
            let descriptor = data + e.size
            if offset < data { return (.localHeader(i), header, data - header) }
            if offset < descriptor { return (.data(i), data, e.size) }
            return (.descriptor(i), descriptor, Self.descriptorLength(e))
        }
        let endStart = centralOffsets[entries.count]
        if offset >= endStart { return (.end, endStart, length - endStart) }
        let i = Self.lastIndex(in: centralOffsets, notAbove: offset)
        return (.central(i), centralOffsets[i], centralOffsets[i + 1] - centralOffsets[i])
    }

    /// The last index whose value is at most `offset`, in an ascending array whose first value is at most
    /// `offset`; among equal values (entries of no length cannot be, but be safe) the last.
    private static func lastIndex(in offsets: [Int], notAbove offset: Int) -> Int {
        var low = 0
        var high = offsets.count - 1  // offsets[low] <= offset always
        while low < high {
            let mid = (low + high + 1) / 2
            if offsets[mid] <= offset { low = mid } else { high = mid - 1 }
        }
        return low
    }

    // MARK: - The records

    /// Entry `i`'s local file header (APPNOTE 4.3.7).
    func localHeader(_ i: Int) -> ByteBuffer {
        let e = entries[i]
        let (time, date) = Self.dosDateTime(e.info.mtimeSeconds)
        let zip64 = Self.zip64Local(e)
        var b = ByteBuffer()
        b.reserveCapacity(Self.localHeaderLength(e))
        b.writeInteger(UInt32(0x0403_4B50), endianness: .little)
        b.writeInteger(Self.versionNeeded(e, offset: localOffsets[i]), endianness: .little)
        b.writeInteger(Self.flags(e), endianness: .little)
        b.writeInteger(UInt16(0), endianness: .little)  // method 0: stored
        b.writeInteger(time, endianness: .little)
        b.writeInteger(date, endianness: .little)
        b.writeInteger(UInt32(0), endianness: .little)  // CRC-32: in the data descriptor (bit 3); zero for a folder
        let size: UInt32 = zip64 ? 0xFFFF_FFFF : 0  // bit 3: the sizes follow the data (a folder's are zero)
        b.writeInteger(size, endianness: .little)
        b.writeInteger(size, endianness: .little)
        b.writeInteger(UInt16(e.name.count), endianness: .little)
        b.writeInteger(UInt16(9 + (zip64 ? 20 : 0)), endianness: .little)
        b.writeBytes(e.name)
        Self.writeTimestamp(e, into: &b)
        if zip64 {
            b.writeInteger(UInt16(0x0001), endianness: .little)
            b.writeInteger(UInt16(16), endianness: .little)
            b.writeInteger(UInt64(0), endianness: .little)  // original size: in the descriptor
            b.writeInteger(UInt64(0), endianness: .little)  // compressed size: likewise
        }
        return b
    }

    /// Entry `i`'s data descriptor (APPNOTE 4.3.9), with its signature; sizes are 8 bytes when its local
    /// header has the ZIP64 extra field. Folders have none.
    func descriptor(_ i: Int, crc: UInt32) -> ByteBuffer {
        let e = entries[i]
        var b = ByteBuffer()
        b.writeInteger(UInt32(0x0807_4B50), endianness: .little)
        b.writeInteger(crc, endianness: .little)
        if Self.zip64Local(e) {
            b.writeInteger(UInt64(e.size), endianness: .little)
            b.writeInteger(UInt64(e.size), endianness: .little)
        } else {
            b.writeInteger(UInt32(e.size), endianness: .little)
            b.writeInteger(UInt32(e.size), endianness: .little)
        }
        return b
    }

    /// Appends entry `i`'s central directory record (APPNOTE 4.3.12) to `b`.
    func writeCentral(_ i: Int, crc: UInt32, into b: inout ByteBuffer) {
        let e = entries[i]
        let offset = localOffsets[i]
        let (time, date) = Self.dosDateTime(e.info.mtimeSeconds)
        let fields = Self.zip64CentralFields(e, offset: offset)
        b.writeInteger(UInt32(0x0201_4B50), endianness: .little)
        b.writeInteger(Self.madeBy, endianness: .little)
        b.writeInteger(Self.versionNeeded(e, offset: offset), endianness: .little)
        b.writeInteger(Self.flags(e), endianness: .little)
        b.writeInteger(UInt16(0), endianness: .little)
        b.writeInteger(time, endianness: .little)
        b.writeInteger(date, endianness: .little)
        b.writeInteger(e.isDirectory ? 0 : crc, endianness: .little)
        let size = UInt32(min(e.size, Self.limit32))
        b.writeInteger(size, endianness: .little)  // compressed: stored, so the same
        b.writeInteger(size, endianness: .little)
        b.writeInteger(UInt16(e.name.count), endianness: .little)
        b.writeInteger(UInt16(9 + (fields > 0 ? 4 + 8 * fields : 0)), endianness: .little)
        b.writeInteger(UInt16(0), endianness: .little)  // comment length
        b.writeInteger(UInt16(0), endianness: .little)  // disk number start
        b.writeInteger(UInt16(0), endianness: .little)  // internal attributes
        let external: UInt32 = e.isDirectory ? (0o40755 << 16) | 0x10 : 0o100644 << 16
        b.writeInteger(external, endianness: .little)
        b.writeInteger(UInt32(min(offset, Self.limit32)), endianness: .little)
        b.writeBytes(e.name)
        Self.writeTimestamp(e, into: &b)
        if fields > 0 {
            b.writeInteger(UInt16(0x0001), endianness: .little)
            b.writeInteger(UInt16(8 * fields), endianness: .little)
            if e.size >= Self.limit32 {
                b.writeInteger(UInt64(e.size), endianness: .little)
                b.writeInteger(UInt64(e.size), endianness: .little)
            }
            if offset >= Self.limit32 { b.writeInteger(UInt64(offset), endianness: .little) }
        }
    }

    /// The end records: the ZIP64 end of central directory record and locator when needed (APPNOTE 4.3.14,
    /// 4.3.15), then the end of central directory record (4.3.16).
    func end() -> ByteBuffer {
        var b = ByteBuffer()
        let count = entries.count
        if zip64End {
            let recordStart = centralStart + centralSize
            b.writeInteger(UInt32(0x0606_4B50), endianness: .little)
            b.writeInteger(UInt64(44), endianness: .little)  // the record's size after this field
            b.writeInteger(Self.madeBy, endianness: .little)
            b.writeInteger(UInt16(45), endianness: .little)
            b.writeInteger(UInt32(0), endianness: .little)  // this disk
            b.writeInteger(UInt32(0), endianness: .little)  // the disk the central directory starts on
            b.writeInteger(UInt64(count), endianness: .little)
            b.writeInteger(UInt64(count), endianness: .little)
            b.writeInteger(UInt64(centralSize), endianness: .little)
            b.writeInteger(UInt64(centralStart), endianness: .little)
            b.writeInteger(UInt32(0x0706_4B50), endianness: .little)
            b.writeInteger(UInt32(0), endianness: .little)  // the disk holding the ZIP64 end record
            b.writeInteger(UInt64(recordStart), endianness: .little)
            b.writeInteger(UInt32(1), endianness: .little)  // disks in all
        }
        b.writeInteger(UInt32(0x0605_4B50), endianness: .little)
        b.writeInteger(UInt16(0), endianness: .little)
        b.writeInteger(UInt16(0), endianness: .little)
        b.writeInteger(UInt16(min(count, Self.limit16)), endianness: .little)
        b.writeInteger(UInt16(min(count, Self.limit16)), endianness: .little)
        b.writeInteger(UInt32(min(centralSize, Self.limit32)), endianness: .little)
        b.writeInteger(UInt32(min(centralStart, Self.limit32)), endianness: .little)
        b.writeInteger(UInt16(0), endianness: .little)  // comment length
        return b
    }

    /// Bit 11 (names are UTF-8) always; bit 3 (CRC and sizes in a data descriptor) for files.
    private static func flags(_ e: Entry) -> UInt16 { e.isDirectory ? 0x0800 : 0x0808 }

    /// The extended-timestamp extra field (0x5455) with the modification time only: the same 9 bytes in the
    /// local header and the central record.
    private static func writeTimestamp(_ e: Entry, into b: inout ByteBuffer) {
        b.writeInteger(UInt16(0x5455), endianness: .little)
        b.writeInteger(UInt16(5), endianness: .little)
        b.writeInteger(UInt8(1), endianness: .little)  // flags: modification time present
        b.writeInteger(UInt32(bitPattern: Int32(clamping: e.info.mtimeSeconds)), endianness: .little)
    }

    // MARK: - Times

    /// MS-DOS time and date (APPNOTE 4.4.6) of `seconds` since the epoch, in UTC: 2-second resolution, years
    /// 1980 to 2107 (earlier or later times are clamped to the range's ends).
    static func dosDateTime(_ seconds: Int) -> (time: UInt16, date: UInt16) {
        let first = 315_532_800  // 1980-01-01T00:00:00Z
        let last = 4_354_819_198  // 2107-12-31T23:59:58Z
        let s = min(max(seconds, first), last)
        let days = s / 86_400
        let second = s % 86_400
        // Days since the epoch to a civil date, in eras of 400 years that start on 1 March.
        let z = days + 719_468
        let era = z / 146_097
        let dayOfEra = z - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let m = (5 * dayOfYear + 2) / 153
        let day = dayOfYear - (153 * m + 2) / 5 + 1
        let month = m < 10 ? m + 3 : m - 9
        let year = yearOfEra + era * 400 + (month <= 2 ? 1 : 0)
        let time = (second / 3600) << 11 | (second % 3600 / 60) << 5 | (second % 60) / 2
        let date = (year - 1980) << 9 | month << 5 | day
        return (UInt16(time), UInt16(date))
    }

    // MARK: - Validators

    /// The archive's validators: a strong ETag hashing every entry's name, kind, size, modification time and
    /// identity (device and inode), so any change to what the archive would hold changes it; Last-Modified is
    /// the newest modification time among the entries and the folder itself.
    func validators(folderModified: Int) -> Validators {
        var hash = FNV1a64()
        hash.combine(1)  // the layout's version: change it with the format
        hash.combine(UInt64(entries.count))
        var newest = folderModified
        for e in entries {
            hash.combine(UInt64(e.name.count))
            var word: UInt64 = 0
            for (k, byte) in e.name.enumerated() {
                word |= UInt64(byte) << UInt64(8 * (k % 8))
                if k % 8 == 7 {
                    hash.combine(word)
                    word = 0
                }
            }
            hash.combine(word)
            hash.combine(e.isDirectory ? 1 : 0)
            hash.combine(UInt64(e.size))
            hash.combine(UInt64(truncatingIfNeeded: e.info.mtimeSeconds))
            hash.combine(UInt64(truncatingIfNeeded: e.info.mtimeNanoseconds))
            hash.combine(e.info.device)
            hash.combine(e.info.inode)
            newest = max(newest, e.info.mtimeSeconds)
        }
        let hex = String(hash.value, radix: 16)
        return Validators(etag: "\"" + String(repeating: "0", count: 16 - hex.count) + hex + "-zip\"", lastModified: newest)
    }
}
