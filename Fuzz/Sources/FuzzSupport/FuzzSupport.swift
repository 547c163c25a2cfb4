// What every fuzz target shares: the input as bytes, and a deterministic way to cut it into reads.
public import NIOCore
import CFuzzer
import HTTPChat
import HTTPChatTesting

/// Hands control to libFuzzer with `callback` as the target (each target's main calls this: SwiftPM names
/// every executable's entry point itself, so libFuzzer's own `main` cannot be used).
public func runFuzzer(
    _ argc: CInt,
    _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?,
    _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt
) -> CInt {
    var argc = argc
    var argv = argv
    return LLVMFuzzerRunDriver(&argc, &argv, callback)
}

/// The fuzzer's input.
public struct FuzzInput {
    /// The bytes.
    public let bytes: [UInt8]

    /// Wraps libFuzzer's buffer.
    public init(_ data: UnsafePointer<UInt8>, _ size: Int) {
        bytes = Array(UnsafeBufferPointer(start: data, count: size))
    }

    /// `bytes` cut into reads whose sizes come from a generator seeded by the input itself, so a crash
    /// reproduces from the input alone; `every` cuts after each byte instead. The reads are slices of one
    /// buffer (no allocation per read; under AddressSanitizer allocation is most of a run's time).
    public static func reads(of bytes: some Collection<UInt8>, every: Bool = false) -> [ByteBuffer] {
        let all = ByteBuffer(bytes: bytes)
        let count = all.readableBytes
        guard !every else { return (0..<count).map { all.getSlice(at: $0, length: 1)! } }
        var seed: UInt64 = 0x9E37_79B9_7F4A_7C15 ^ UInt64(count)
        for b in all.readableBytesView.prefix(16) { seed = (seed &* 31) &+ UInt64(b) }
        var out: [ByteBuffer] = []
        var at = 0
        while at < count {
            seed ^= seed << 13; seed ^= seed >> 7; seed ^= seed << 17
            let n = min(count - at, Int(seed % 7) + 1)
            out.append(all.getSlice(at: at, length: n)!)
            at += n
        }
        return out
    }

    /// Whether an input is short enough to also be cut after every byte. Beyond this a read per byte makes
    /// a run several times slower for little: the unit tests cut every request at every point, and longer
    /// inputs still get the random cuts.
    public static func cutsEveryByte(_ count: Int) -> Bool { count <= 512 }
}

/// The request decoder's property (framer + HTTPRequestDecoder, as a connection runs them): whatever the bytes,
/// the requests decoded and the verdict do not depend on how the bytes were cut into reads, and no body is
/// longer than the input.
public func checkRequestSplitInvariance(_ input: [UInt8]) {
    var limits = HTTPLimits()
    limits.maxHeaderBytes = 4096
    limits.maxBodyBytes = 1 << 16
    let whole = decodeRequestStream([ByteBuffer(bytes: input)], limits: limits)
    for every in FuzzInput.cutsEveryByte(input.count) ? [false, true] : [false] {
        let cut = decodeRequestStream(FuzzInput.reads(of: input, every: every), limits: limits)
        precondition(cut.requests == whole.requests, "requests differ when cut: \(cut.requests) vs \(whole.requests)")
        precondition(cut.error?.kind == whole.error?.kind, "verdict differs when cut: \(String(describing: cut.error)) vs \(String(describing: whole.error))")
    }
    for request in whole.requests {
        precondition(request.bodyBytes.count <= input.count, "a body longer than the input")
    }
}
