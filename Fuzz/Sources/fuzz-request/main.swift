// The request decoder (framer + HTTPRequestDecoder, as a connection runs them): whatever the bytes, the
// requests decoded and the verdict do not depend on how the bytes were cut into reads.
import FuzzSupport
import NIOCore
@testable import HTTPChat

@_cdecl("fuzz_request_main")
public func main(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    runFuzzer(argc, argv) { data, size in data.map { fuzzRequest($0, size) } ?? 0 }
}

func fuzzRequest(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let input = FuzzInput(data, size).bytes
    checkSplitInvariance(input)
    return 0
}

func checkSplitInvariance(_ input: [UInt8]) {
    var limits = HTTPLimits()
    limits.maxHeaderBytes = 4096
    limits.maxBodyBytes = 1 << 16
    let whole = decodeRequestStream([ByteBuffer(bytes: input)], limits: limits)
    for every in [false, true] {
        let cut = decodeRequestStream(FuzzInput.reads(of: input, every: every), limits: limits)
        precondition(cut.requests == whole.requests, "requests differ when cut: \(cut.requests) vs \(whole.requests)")
        precondition(cut.error?.kind == whole.error?.kind, "verdict differs when cut: \(String(describing: cut.error)) vs \(String(describing: whole.error))")
    }
    for request in whole.requests {
        precondition(request.body.utf8.count <= input.count, "a body longer than the input")
    }
}
