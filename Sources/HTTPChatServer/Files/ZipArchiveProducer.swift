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
/// bytes when they are reached, each file's bytes are sent from its descriptor with `sendfile` (file regions,
/// which a TLS transport turns into bounded reads), and nothing holds more than one file or one record batch
/// at a time, so memory stays constant whatever the archive's size.
///
/// ## The CRC-32, and why the length is exact
///
/// A stored entry's CRC-32 is over its bytes, and `sendfile` never shows them to this process. The layout
/// puts it after the data (a data descriptor, bit 3) and in the central directory, so no byte before a file's
/// data depends on it and the length comes from sizes alone. While a file is sent, its CRC is computed on
/// NIO's thread pool by reading a second descriptor of the same open file (a `NIOFileHandle` may not be used by
/// two threads at once) in steps of ``crcStep`` (8 MiB, `pread` in 256 KiB pieces into one buffer); the file's bytes are sent only up to where the CRC has read, one step behind it,
/// so the reading runs while the previous region is on the wire and `sendfile` finds the pages just read in
/// the page cache (each file is read from the disk once in the usual case). The descriptor waits for the
/// last step. Files up to ``inlineLimit`` come as bytes from the provider (read in the open's own hop) and
/// their CRC is computed at once.
///
/// A byte range needs the CRCs of the descriptors and central records it covers. A range that starts inside a
/// file reads that file from its start (the CRC steps go first, unsent); central records need every file's
/// CRC, so those not computed by this response are computed before the directory, one file after another, on
/// the pool. Computed CRCs are kept in a ``ZipCRCCache`` by the file's device, inode, size and modification
/// time, so a resumed download of an archive this server sent needs no second pass.
///
/// ## Changes on disk
///
/// Each file is opened when it is reached (through the same ``FileProvider``, so the root and link rules are
/// those of the plan) and must have the size and identity the plan recorded; the CRC's last step checks
/// `fstat` again. Any difference, an open that fails, or a short read ends the producer with `.abort`: the
/// connection closes before `Content-Length` bytes, so the client never sees a body that looks whole.
/// Folders and empty files are taken as planned (no bytes of theirs are sent).
struct ZipArchiveProducer: ChatProducer {
    /// How far a CRC step reads before the bytes up to it may be sent.
    static let crcStep = 8 * 1024 * 1024
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

    /// A file being sent, with its CRC so far.
    private struct Session {
        var index: Int
        var contents: FileContents
        /// What the CRC steps read: a second descriptor of the same open file (or the bytes themselves).
        var reader: FileContents
        /// Whether its CRC is still to be computed (needed by a requested range and not known).
        var wantCRC: Bool
        var crc: UInt32 = 0
        /// How many bytes from the start the CRC covers.
        var crcOffset = 0
        /// The step in flight: its result box, where it ends, and the future to wait on.
        var step: (box: Outcome<UInt32>, end: Int, done: EventLoopFuture<Void>)?
    }

    /// An entry opened for sending, with a second descriptor for its CRC steps when they are wanted.
    private struct Opened: Sendable {
        var lookup: FileLookup
        var reader: OpenFile?
    }

    private enum Waiting {
        case open(Int, Outcome<Opened>, EventLoopFuture<Void>)
        case crcs(Outcome<[Int: UInt32]>, EventLoopFuture<Void>)
    }

    /// Sends `parts` of the archive `layout` describes.
    ///
    /// - Parameters:
    ///   - layout: the archive.
    ///   - provider: where the entries are opened (the plan's provider).
    ///   - cache: CRCs already known, and where new ones are kept.
    ///   - parts: what to send in order: literal bytes, and `.file(range)` for a range of the archive.
    init(layout: ZipLayout, provider: any FileProvider, cache: ZipCRCCache, parts: [FilePartsProducer.Part]) {
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
                guard case .success(let opened) = result, case .file(let file) = opened.lookup, file.info == layout.entries[index].info else {
                    return .abort
                }
                let reader: FileContents?
                switch file.contents {
                case .bytes: reader = file.contents
                case .descriptor: reader = opened.reader.map { .descriptor($0) }
                }
                // Without a reader (the CRC was cached when the open began), a CRC still missing is computed
                // from a fresh open when the descriptor is reached.
                var s = Session(
                    index: index, contents: file.contents, reader: reader ?? file.contents,
                    wantCRC: reader != nil && crcNeeded(index) && crc(index) == nil
                )
                if s.wantCRC, case .bytes(let bytes) = file.contents, bytes.readableBytes <= Self.inlineLimit {
                    s.crc = bytes.withUnsafeReadableBytes { Deflater.crc32($0, updating: 0) }
                    s.crcOffset = bytes.readableBytes
                    finish(&s)
                }
                session = s
            case .crcs(let box, let done):
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
        session = nil
        waiting = nil
    }

    // MARK: - Pieces

    /// Sends `[from, to)` of a record that starts at `pieceStart`.
    private mutating func send(_ record: ByteBuffer, pieceStart: Int, from: Int, to: Int) -> ChatProducerOutput {
        cursor = to
        return .bytes(record.getSlice(at: record.readerIndex + (from - pieceStart), length: to - from)!)
    }

    /// Sends bytes `[from, to)` of entry `i`'s file, opening it first and never past what its CRC covers.
    private mutating func sendData(_ i: Int, from: Int, to: Int, _ context: ChatProducerContext) -> ChatProducerOutput {
        guard var s = session, s.index == i else {
            session = nil
            let entry = layout.entries[i]
            let provider = self.provider
            let wantCRC = crcNeeded(i) && crc(i) == nil
            let promise = context.eventLoop.makePromise(of: Opened.self)
            promise.completeWithTask {
                let lookup = try await provider.open(entry.path, memoryLimit: Self.inlineLimit)
                guard wantCRC, case .file(let file) = lookup, case .descriptor(let open) = file.contents else {
                    return Opened(lookup: lookup, reader: nil)
                }
                // The CRC steps read from a second descriptor (F_DUPFD_CLOEXEC, off the loop): NIO's file handle
                // refuses to be used from two threads at once, and the event loop sends from the first one
                // while the pool reads.
                let copy = fcntl(open.descriptor, F_DUPFD_CLOEXEC, 0)  // the raw one: the handle may be lent out
                guard copy >= 0 else { throw ZipCRC.Changed() }
                return Opened(lookup: lookup, reader: OpenFile(takingOwnershipOf: copy))
            }
            let (box, done) = Outcome.of(promise.futureResult)
            waiting = .open(i, box, done)
            return .wait(done)
        }
        var to = to
        if s.wantCRC {
            if let step = s.step, let result = step.box.take() {
                s.step = nil
                guard case .success(let crc) = result else { return .abort }
                s.crc = crc
                s.crcOffset = step.end
                finish(&s)
            }
            let size = layout.entries[i].size
            if s.wantCRC && s.step == nil && s.crcOffset < size {
                let range = s.crcOffset..<min(size, s.crcOffset + Self.crcStep)
                let check = range.upperBound == size ? layout.entries[i].info : nil
                let future = ZipCRC.step(s.reader, range, crc: s.crc, check: check, on: context.eventLoop)
                let (box, done) = Outcome.of(future)
                s.step = (box, range.upperBound, done)
            }
            if s.wantCRC {
                guard s.crcOffset > from else {
                    session = s
                    return .wait(s.step!.done)
                }
                to = min(to, s.crcOffset)
            }
        }
        session = s
        cursor! += to - from
        switch s.contents {
        case .bytes(let bytes):
            return .bytes(bytes.getSlice(at: bytes.readerIndex + from, length: to - from)!)
        case .descriptor(let file):
            let region = FileRegion(fileHandle: file.handle(on: context.eventLoop), readerIndex: from, endIndex: to)
            let written = context.eventLoop.makePromise(of: Void.self)
            // The region holds the descriptor until it is written (or the write fails): the session may let
            // go of the file before that.
            written.futureResult.whenComplete { _ in withExtendedLifetime(file) {} }
            return .notifying(.fileRegion(region), written)
        }
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

    /// Records a session's CRC once it covers the whole file.
    private mutating func finish(_ s: inout Session) {
        let e = layout.entries[s.index]
        guard s.crcOffset == e.size else { return }
        s.wantCRC = false
        crcs[s.index] = s.crc
        cache.store(s.crc, for: e.info)
    }

    /// Computes the CRCs of `indices` on the pool, one file after another, and waits.
    private mutating func computeCRCs(_ indices: [Int], _ context: ChatProducerContext) -> ChatProducerOutput {
        let entries = indices.map { ($0, layout.entries[$0]) }
        let provider = self.provider
        let cache = self.cache
        let promise = context.eventLoop.makePromise(of: [Int: UInt32].self)
        promise.completeWithTask {
            var found: [Int: UInt32] = [:]
            for (i, entry) in entries { found[i] = try await ZipCRC.compute(entry, provider: provider, cache: cache) }
            return found
        }
        let (box, done) = Outcome.of(promise.futureResult)
        waiting = .crcs(box, done)
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

    /// Carries `crc` on over `range` of `contents` on NIO's thread pool; with `check`, the file's `fstat`
    /// afterwards must still match it.
    static func step(_ contents: FileContents, _ range: Range<Int>, crc: UInt32, check: FileInfo?, on loop: any EventLoop) -> EventLoopFuture<UInt32> {
        NIOThreadPool.singleton.runIfActive(eventLoop: loop) { try update(contents, range, crc: crc, check: check) }
    }

    /// The CRC of an entry's whole file: from the cache, or opened through `provider` (it must match the plan)
    /// and read in steps on the pool, then cached.
    static func compute(_ entry: ZipLayout.Entry, provider: any FileProvider, cache: ZipCRCCache) async throws -> UInt32 {
        if entry.size == 0 { return 0 }
        if let known = cache.crc(for: entry.info) { return known }
        guard case .file(let file) = try await provider.open(entry.path, memoryLimit: ZipArchiveProducer.inlineLimit),
            file.info == entry.info
        else { throw Changed() }
        var crc: UInt32 = 0
        var offset = 0
        while offset < entry.size {
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
