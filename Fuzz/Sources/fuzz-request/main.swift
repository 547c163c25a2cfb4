// The request decoder (framer + HTTPRequestDecoder, as a connection runs them): whatever the bytes, the
// requests decoded and the verdict do not depend on how the bytes were cut into reads.
import FuzzSupport

@_cdecl("fuzz_request_main")
public func main(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    runFuzzer(argc, argv) { data, size in data.map { fuzzRequest($0, size) } ?? 0 }
}

func fuzzRequest(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let input = FuzzInput(data, size).bytes
    checkRequestSplitInvariance(input)
    return 0
}
