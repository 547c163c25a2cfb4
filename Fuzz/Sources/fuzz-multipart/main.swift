// The multipart/form-data parser: the first line is the boundary, the rest the body. The events do not
// depend on how the body was cut into reads, and part data never exceeds the body.
import FuzzSupport
import HTTPChat
import NIOCore

@_cdecl("fuzz_multipart_main")
public func main(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    runFuzzer(argc, argv) { data, size in data.map { fuzzMultipart($0, size) } ?? 0 }
}

func fuzzMultipart(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let input = FuzzInput(data, size).bytes
    guard let newline = input.firstIndex(of: 10), newline > 0 else { return 0 }
    let boundary = String(decoding: input[..<newline], as: UTF8.self)
    let body = input[(newline + 1)...]
    var limits = MultipartLimits()
    limits.maxParts = 50
    limits.maxPartHeaderBytes = 1024
    limits.maxPreambleBytes = 1024
    let whole = run(boundary, [ByteBuffer(bytes: body)], limits)
    for every in FuzzInput.cutsEveryByte(body.count) ? [false, true] : [false] {
        let cut = run(boundary, FuzzInput.reads(of: body, every: every), limits)
        precondition(cut.heads == whole.heads && cut.data == whole.data, "events differ when cut")
        precondition(cut.error == whole.error, "verdict differs when cut: \(String(describing: cut.error)) vs \(String(describing: whole.error))")
    }
    precondition(whole.data.reduce(0) { $0 + $1.count } <= body.count, "more part data than body")
    return 0
}

func run(_ boundary: String, _ reads: [ByteBuffer], _ limits: MultipartLimits) -> (heads: [MultipartPartHead], data: [[UInt8]], error: MultipartError?) {
    var parser = MultipartParser(boundary: boundary, limits: limits)
    var heads: [MultipartPartHead] = []
    var data: [[UInt8]] = []
    do throws(MultipartError) {
        for read in reads {
            parser.append(read)
            while let event = try parser.next() {
                switch event {
                case .partHead(let head):
                    heads.append(head)
                    data.append([])
                case .partData(let bytes):
                    data[data.count - 1] += bytes.readableBytesView
                case .partEnd, .end:
                    break
                }
            }
        }
        try parser.finish()
    } catch {
        return (heads, data, error)
    }
    return (heads, data, nil)
}
