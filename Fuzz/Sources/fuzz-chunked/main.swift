// The chunked body decoder: the input follows a chunked request head, so every mutation lands in chunk
// sizes, extensions, data, CRLFs and trailers. Same property as the request target: cuts change nothing.
import FuzzSupport
import NIOCore
@testable import HTTPChat

let head = Array("POST /upload HTTP/1.1\r\nHost: fuzz\r\nTransfer-Encoding: chunked\r\n\r\n".utf8)

@_cdecl("fuzz_chunked_main")
public func main(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    runFuzzer(argc, argv) { data, size in data.map { fuzzChunked($0, size) } ?? 0 }
}

func fuzzChunked(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let input = head + FuzzInput(data, size).bytes
    var limits = HTTPLimits()
    limits.maxBodyBytes = 1 << 16
    let whole = decodeRequestStream([ByteBuffer(bytes: input)], limits: limits)
    for every in [false, true] {
        let cut = decodeRequestStream(FuzzInput.reads(of: input, every: every), limits: limits)
        precondition(cut.requests == whole.requests, "requests differ when cut")
        precondition(cut.error?.kind == whole.error?.kind, "verdict differs when cut: \(String(describing: cut.error)) vs \(String(describing: whole.error))")
    }
    if let first = whole.requests.first {
        precondition(first.body.utf8.count <= size, "a de-chunked body longer than its chunks")
    }
    return 0
}
