// The chunked body decoder: the input follows a chunked request head, so every mutation lands in chunk
// sizes, extensions, data, CRLFs and trailers. Same property as the request target: cuts change nothing.
import FuzzSupport

let head = Array("POST /upload HTTP/1.1\r\nHost: fuzz\r\nTransfer-Encoding: chunked\r\n\r\n".utf8)

@_cdecl("fuzz_chunked_main")
public func main(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    runFuzzer(argc, argv) { data, size in data.map { fuzzChunked($0, size) } ?? 0 }
}

func fuzzChunked(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    checkRequestSplitInvariance(head + FuzzInput(data, size).bytes)
    return 0
}
