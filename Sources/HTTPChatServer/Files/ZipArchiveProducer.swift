import HTTPChatCore
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Sends a folder's ZIP archive, or byte ranges of it, as ``ZipLayout`` lays it out: records are made as
/// bytes when they are reached, each file's bytes are read on NIO's thread pool in pieces of ``readChunk``
/// (the next piece read while the one before is on the wire), and nothing holds more than one file, two
/// pieces or one record batch at a time, so memory stays constant whatever the archive's size.
///
/// ## The CRC-32 is over the bytes sent
///
/// A stored entry's CRC-32 is over its bytes. The layout puts it after the data (a data descriptor, bit 3)
/// and in the central directory, so no byte before a file's data depends on it and the length comes from
/// sizes alone. The CRC is computed over the very bytes this producer reads and sends (not over a read of
/// its own ahead of a `sendfile`, which a file rewritten in place between the two would turn into the old
/// file's CRC over the new file's bytes: an archive that arrives whole and wrong). Files up to
/// ``inlineLimit`` come as bytes from the provider (read in the open's own hop) and are checksummed at once.
///
/// A byte range needs the CRCs of the descriptors and central records it covers. A range that starts inside a
/// file reads that file from its start (the pieces before the range are read for the CRC, unsent); central
/// records need every file's CRC, so those not computed by this response are computed before the directory,
/// one file after another, on the pool. Computed CRCs are kept in a ``ZipCRCCache`` by the file's device,
/// inode, size and modification time, so a resumed download of an archive this server sent needs no second
/// pass; a CRC from the cache is checked against the one computed whenever a file is sent from its start.
///
/// ## Changes on disk
///
/// Each file is opened when it is reached (through the same ``FileProvider``, so the root and link rules are
/// those of the plan) and must have the size and identity the plan recorded; after every piece read, `fstat`
/// must still say the size, modification time, inode and device the plan recorded (a write in place changes
/// the modification time). Any difference, an open that fails, a short read, or a computed CRC that differs
/// from a cached one ends the producer with `.abort`: the connection closes before `Content-Length` bytes, so
/// the client never sees a body that looks whole. Folders and empty files are taken as planned (no bytes of
/// theirs are sent).
struct ZipArchiveProducer: ChatProducer {
    /// How much a CRC pass over a file not being sent (for the central directory of a range) reads per pool job.
    static let crcStep = 8 * 1024 * 1024
    /// How much of a file is read per pool job while it is sent.
    static let readChunk = 256 * 1024
    /// Files up to this size are read with their open and checksummed inline (never more than this in memory).
    static let inlineLimit = 64 * 1024
    /// Central records are made in batches of about this many bytes.
    static let centralBatch = 64 * 1024

    private let layout: ZipLayout
    private let provider: any FileProvider
    private let cache: ZipCRCCache
    /// What to send: literal bytes (multipart heads) and ranges of the archive.
    private let parts: [FilePartsProducer.Part]
    /// The archive ranges requested (to know which CRCs are needed).
    private let requested: [Range<Int>]
    private var partIndex = 0
    /// The archive offset sent next, inside the current range part.
    private var cursor: Int?
    /// CRCs known, by entry.
    private var crcs: [Int: UInt32] = [:]
    /// The file being sent.
    private var session: Session?
    /// An open or a CRC pass this producer waits for.
    private var waiting: Waiting?
    /// The file server's slot for an archive under way (see ``WorkSlots``), held until this producer ends.
    private var slot: (any AnyObject & Sendable)?

    /// A file being sent, with its CRC so far.
    private struct Session {
        var index: Int
        var contents: FileContents
        /// Whether the CRC is being computed over the bytes read (they are read in order from the start).
        var computing: Bool
        var crc: UInt32 = 0
        /// How many bytes from the start the CRC covers.
        var crcOffset = 0
        /// The read in flight: its result box, the bytes it reads, and the future to wait on.
        var read: (box: Outcome<ByteBuffer>, range: Range<Int>, done: EventLoopFuture<Void>)?
    }

    private enum Waiting {
        case open(Int, Outcome<FileLookup>, EventLoopFuture<Void>)
        /// A CRC pass over files not sent (for central records), with its task: cancelled with the producer, as
        /// it may read many files.
        case crcs(Outcome<[Int: UInt32]>, EventLoopFuture<Void>, Task<Void, Never>)
    }

    /// Sends `parts` of the archive `layout` describes.
    ///
    /// - Parameters:
    ///   - layout: the archive.
    ///   - provider: where the entries are opened (the plan's provider).
    ///   - cache: CRCs already known, and where new ones are kept.
    ///   - parts: what to send in order: literal bytes, and `.file(range)` for a range of the archive.
    ///   - slot: held until the producer ends or is cancelled (the file server's cap on archives under way).
    init(
        layout: ZipLayout, provider: any FileProvider, cache: ZipCRCCache, parts: [FilePartsProducer.Part],
        slot: (any AnyObject & Sendable)? = nil
    ) {
        self.slot = slot
        self.layout = layout
        self.provider = provider
        self.cache = cache
        self.parts = parts
        self.requested = parts.compactMap { part in
            if case .file(let r) = part, !r.isEmpty { return r }
            return nil
        }
    }

    /// The next bytes or file region, a wait for an open or a CRC step, the end, or `.abort` when a file
    /// changed or could not be read.
    mutating func more(_ context: ChatProducerContext) -> ChatProducerOutput {
        if let waiting {
            switch waiting {
            case .open(let index, let box, let done):
                guard let result = box.take() else { return .wait(done) }
                self.waiting = nil
                guard case .success(let lookup) = result, case .file(let file) = lookup, file.info == layout.entries[index].info else {
                    return .abort
                }
                var s = Session(index: index, contents: file.contents, computing: true)
                if case .bytes(let bytes) = file.contents {
                    // Read whole with the open: these are the bytes sent, whatever range is asked for.
                    guard bytes.readableBytes == layout.entries[index].size else { return .abort }
                    s.crc = bytes.withUnsafeReadableBytes { Deflater.crc32($0, updating: 0) }
                    s.crcOffset = bytes.readableBytes
                    guard finish(&s) else { return .abort }
                }
                session = s
            case .crcs(let box, let done, _):
                guard let result = box.take() else { return .wait(done) }
                self.waiting = nil
                guard case .success(let found) = result else { return .abort }
                crcs.merge(found) { a, _ in a }
            }
        }
        while partIndex < parts.count {
            let range: Range<Int>
            switch parts[partIndex] {
            case .bytes(let b):
                partIndex += 1
                return .bytes(b)
            case .file(let r):
                range = r
            }
            let at = cursor ?? range.lowerBound
            guard at < range.upperBound else {
                partIndex += 1
                cursor = nil
                continue
            }
            cursor = at
            let (piece, start, length) = layout.piece(at: at)
            let end = min(start + length, range.upperBound)
            switch piece {
            case .localHeader(let i):
                return send(layout.localHeader(i), pieceStart: start, from: at, to: end)
            case .end:
                return send(layout.end(), pieceStart: start, from: at, to: end)
            case .descriptor(let i):
                guard let crc = crc(i) else { return computeCRCs([i], context) }
                return send(layout.descriptor(i, crc: crc), pieceStart: start, from: at, to: end)
            case .data(let i):
                return sendData(i, from: at - start, to: end - start, context)
            case .central(let i):
                return sendCentral(from: i, at: at, until: range.upperBound, context)
            }
        }
        return .end
    }

    /// Lets go of the file (a region on the wire holds its own reference until written).
    mutating func cancel() {
        if case .crcs(_, _, let task) = waiting { task.cancel() }  // a pass over many files stops between two steps
        session = nil
        waiting = nil
        slot = nil
    }

    // MARK: - Pieces

    /// Sends `[from, to)` of a record that starts at `pieceStart`.
    private mutating func send(_ record: ByteBuffer, pieceStart: Int, from: Int, to: Int) -> ChatProducerOutput {
        cursor = to
        return .bytes(record.getSlice(at: record.readerIndex + (from - pieceStart), length: to - from)!)
    }

    /// Sends bytes `[from, to)` of entry `i`'s file: opens it first, then reads it on the pool a piece at a
    /// time (from its start when its CRC is still wanted, the pieces before `from` unsent), checksumming what
    /// is read in order from the start, and sends what was read. The next piece is read while this one is
    /// on the wire.
    private mutating func sendData(_ i: Int, from: Int, to: Int, _ context: ChatProducerContext) -> ChatProducerOutput {
        guard var s = session, s.index == i else {
            session = nil
            let entry = layout.entries[i]
            let provider = self.provider
            let path = entry.path
            let promise = context.eventLoop.makePromise(of: FileLookup.self)
            promise.completeWithTask { try await provider.open(path, memoryLimit: Self.inlineLimit) }
            let (box, done) = Outcome.of(promise.futureResult)
            waiting = .open(i, box, done)
            return .wait(done)
        }
        let file: OpenFile
        switch s.contents {
        case .bytes(let bytes):
            session = s
            cursor! += to - from
            return .bytes(bytes.getSlice(at: bytes.readerIndex + from, length: to - from)!)
        case .descriptor(let open):
            file = open
        }
        let size = layout.entries[i].size
        if from > 0, s.crcOffset == 0, s.read == nil, crc(i) != nil || !crcNeeded(i) {
            s.computing = false  // the CRC is known or not needed: start at the range, not at the file's start
        }
        while true {
            if let read = s.read {
                guard let result = read.box.take() else {
                    session = s
                    return .wait(read.done)
                }
                s.read = nil
                guard case .success(let bytes) = result, bytes.readableBytes == read.range.count else { return .abort }
                if s.computing && read.range.lowerBound == s.crcOffset {
                    let prior = s.crc
                    s.crc = bytes.withUnsafeReadableBytes { Deflater.crc32($0, updating: prior) }
                    s.crcOffset = read.range.upperBound
                    guard finish(&s) else { return .abort }
                }
                let sent = read.range.clamped(to: from..<to)
                if sent.lowerBound == from && !sent.isEmpty {
                    // What was read for this range: send it, and read on while it is on the wire.
                    cursor! += sent.count
                    let next = sent.upperBound
                    if next < to { s.read = Self.read(file, next..<min(to, next + Self.readChunk), plan: layout.entries[i].info, context) }
                    session = s
                    return .bytes(bytes.getSlice(at: bytes.readerIndex + (sent.lowerBound - read.range.lowerBound), length: sent.count)!)
                }
                continue  // a piece before the range, read for the CRC only
            }
            // Nothing in flight: read the CRC's way up to the range first, then the range.
            let start = s.computing && s.crcOffset < from ? s.crcOffset : from
            let end = min(start < from ? from : to, start + Self.readChunk, size)
            guard start < end else { return .abort }  // not reached: `to` is inside the file
            s.read = Self.read(file, start..<end, plan: layout.entries[i].info, context)
        }
    }

    /// Reads `range` of `file` on NIO's thread pool, then checks with `fstat` that the file is still what the
    /// plan recorded (a write in place changes its modification time).
    private static func read(
        _ file: OpenFile, _ range: Range<Int>, plan: FileInfo, _ context: ChatProducerContext
    ) -> (box: Outcome<ByteBuffer>, range: Range<Int>, done: EventLoopFuture<Void>) {
        let allocator = context.allocator
        let future = NIOThreadPool.singleton.runIfActive(eventLoop: context.eventLoop) { () throws -> ByteBuffer in
            var bytes = allocator.buffer(capacity: range.count)
            // The raw descriptor: the cache shares the file, and its handle lends itself to one thread at a time.
            try bytes.writePositionalRead(fd: file.descriptor, offset: range.lowerBound, count: range.count, allowShort: true)
            var st = stat()
            guard bytes.readableBytes == range.count, fstat(file.descriptor, &st) == 0, FileInfo(st) == plan else {
                throw ZipCRC.Changed()
            }
            return bytes
        }
        let (box, done) = Outcome.of(future)
        return (box, range, done)
    }

    /// Sends central records from entry `i`'s, the one holding `at`, in a batch, once their CRCs are known.
    private mutating func sendCentral(from i: Int, at: Int, until limit: Int, _ context: ChatProducerContext) -> ChatProducerOutput {
        let count = layout.entries.count
        var last = i
        while last + 1 < count, layout.centralOffsets[last + 1] < min(limit, at + Self.centralBatch) { last += 1 }
        let missing = (i...last).filter { crc($0) == nil }
        if !missing.isEmpty {
            // Every CRC the requested ranges' central records need, in one pass.
            let needed = (0..<count).filter { j in
                crc(j) == nil && requested.contains { $0.overlaps(layout.centralOffsets[j]..<layout.centralOffsets[j + 1]) }
            }
            return computeCRCs(needed, context)
        }
        var batch = ByteBuffer()
        for j in i...last { layout.writeCentral(j, crc: crc(j)!, into: &batch) }
        return send(batch, pieceStart: layout.centralOffsets[i], from: at, to: min(limit, layout.centralOffsets[last + 1]))
    }

    // MARK: - CRCs

    /// Entry `i`'s CRC when known: zero for folders and empty files, else computed here or cached.
    private func crc(_ i: Int) -> UInt32? {
        let e = layout.entries[i]
        if e.size == 0 { return 0 }
        return crcs[i] ?? cache.crc(for: e.info)
    }

    /// Whether a requested range covers entry `i`'s descriptor or central record (which need its CRC).
    private func crcNeeded(_ i: Int) -> Bool {
        let e = layout.entries[i]
        let descriptorStart = layout.localOffsets[i] + ZipLayout.localHeaderLength(e) + e.size
        let spans = [descriptorStart..<layout.localOffsets[i + 1], layout.centralOffsets[i]..<layout.centralOffsets[i + 1]]
        return requested.contains { r in spans.contains { r.overlaps($0) } }
    }

    /// Records a session's CRC once it covers the whole file. Returns false when a CRC known before (cached
    /// for the same size, identity and modification time) differs: the bytes changed without the file's
    /// modification time saying so, and whatever was or will be sent under the old CRC would be wrong.
    private mutating func finish(_ s: inout Session) -> Bool {
        let e = layout.entries[s.index]
        guard s.crcOffset == e.size else { return true }
        s.computing = false
        if let known = crc(s.index), known != s.crc { return false }
        crcs[s.index] = s.crc
        cache.store(s.crc, for: e.info)
        return true
    }

    /// Computes the CRCs of `indices` on the pool, one file after another, and waits.
    private mutating func computeCRCs(_ indices: [Int], _ context: ChatProducerContext) -> ChatProducerOutput {
        let entries = indices.map { ($0, layout.entries[$0]) }
        let provider = self.provider
        let cache = self.cache
        let promise = context.eventLoop.makePromise(of: [Int: UInt32].self)
        let task = promise.completeWithTask {
            var found: [Int: UInt32] = [:]
            for (i, entry) in entries { found[i] = try await ZipCRC.compute(entry, provider: provider, cache: cache) }
            return found
        }
        let (box, done) = Outcome.of(promise.futureResult)
        waiting = .crcs(box, done, task)
        return .wait(done)
    }
}

/// The result of a future, kept for the producer's next pull (``ResultBox`` for any value).
final class Outcome<Value: Sendable>: Sendable {
    private let box = NIOLockedValueBox<Result<Value, any Error>?>(nil)

    /// Takes the result once it is there.
    func take() -> Result<Value, any Error>? { box.withLockedValue { r in defer { r = nil }; return r } }

    /// Boxes `future`'s result; the second value completes (always successfully) once the box is filled.
    static func of(_ future: EventLoopFuture<Value>) -> (Outcome<Value>, EventLoopFuture<Void>) {
        let outcome = Outcome<Value>()
        return (outcome, future.always { result in outcome.box.withLockedValue { $0 = result } }.map { _ in }.recover { _ in })
    }
}

/// CRCs computed over files, off the event loops.
enum ZipCRC {
    /// Why a CRC could not be computed: the file is not what the archive's plan recorded.
    struct Changed: Error {}

    /// The CRC of an entry's whole file: from the cache, or opened through `provider` (it must match the plan)
    /// and read in steps on the pool, then cached. Stops with `CancellationError` between two steps once its
    /// task is cancelled.
    static func compute(_ entry: ZipLayout.Entry, provider: any FileProvider, cache: ZipCRCCache) async throws -> UInt32 {
        if entry.size == 0 { return 0 }
        if let known = cache.crc(for: entry.info) { return known }
        try Task.checkCancellation()
        guard case .file(let file) = try await provider.open(entry.path, memoryLimit: ZipArchiveProducer.inlineLimit),
            file.info == entry.info
        else { throw Changed() }
        var crc: UInt32 = 0
        var offset = 0
        while offset < entry.size {
            try Task.checkCancellation()  // the response was dropped: read no more
            let end = min(entry.size, offset + ZipArchiveProducer.crcStep)
            let (from, value) = (offset, crc)
            crc = try await NIOThreadPool.singleton.runIfActive {
                try update(file.contents, from..<end, crc: value, check: end == entry.size ? entry.info : nil)
            }
            offset = end
        }
        cache.store(crc, for: entry.info)
        return crc
    }

    /// Reads `range` of `contents` (blocking: call it on the pool) and carries `crc` on over it.
    ///
    /// - Throws: ``Changed`` when the file ends early or, with `check`, no longer matches it.
    static func update(_ contents: FileContents, _ range: Range<Int>, crc: UInt32, check: FileInfo?) throws -> UInt32 {
        switch contents {
        case .bytes(let bytes):
            guard range.upperBound <= bytes.readableBytes else { throw Changed() }
            return bytes.withUnsafeReadableBytes { raw in
                Deflater.crc32(UnsafeRawBufferPointer(rebasing: raw[range]), updating: crc)
            }
        case .descriptor(let file):
            return try file.handle.withUnsafeFileDescriptor { fd -> UInt32 in
                let chunk = 256 * 1024
                let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: chunk, alignment: 16)
                defer { buffer.deallocate() }
                var crc = crc
                var offset = range.lowerBound
                while offset < range.upperBound {
                    let n = pread(fd, buffer.baseAddress, min(chunk, range.upperBound - offset), off_t(offset))
                    if n < 0 && errno == EINTR { continue }
                    guard n > 0 else { throw Changed() }
                    crc = Deflater.crc32(UnsafeRawBufferPointer(rebasing: buffer[..<n]), updating: crc)
                    offset += n
                }
                if let check {
                    var st = stat()
                    guard fstat(fd, &st) == 0, FileInfo(st) == check else { throw Changed() }
                }
                return crc
            }
        }
    }
}

/// CRC-32s of files already computed, by what `stat` says of them (device, inode, size, modification time
/// to the nanosecond): a file rewritten in place gets a new modification time, so a stale CRC is not reused.
/// Bounded: when it holds ``capacity`` CRCs it starts afresh.
final class ZipCRCCache: Sendable {
    /// The most CRCs kept (about 100 bytes each).
    let capacity: Int
    private let table = NIOLockedValueBox<[FileInfo: UInt32]>([:])

    init(capacity: Int = 100_000) {
        self.capacity = capacity
    }

    func crc(for info: FileInfo) -> UInt32? { table.withLockedValue { $0[info] } }

    func store(_ crc: UInt32, for info: FileInfo) {
        table.withLockedValue { table in
            if table.count >= capacity { table.removeAll(keepingCapacity: true) }
            table[info] = crc
        }
    }
}
