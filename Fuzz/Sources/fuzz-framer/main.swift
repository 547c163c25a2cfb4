// The chat framer: for any terminator and any cut of the input into reads, the data events and the
// terminators found put back together are the input, byte for byte.
import FuzzSupport
import HTTPChat
import NIOCore

@_cdecl("fuzz_framer_main")
public func main(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    runFuzzer(argc, argv) { data, size in data.map { fuzzFramer($0, size) } ?? 0 }
}

func fuzzFramer(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let input = FuzzInput(data, size).bytes
    guard input.count >= 2 else { return 0 }
    let mode = input[0]
    let body = input.dropFirst(2)
    let terminator: Terminator
    var delimiter: [UInt8] = []
    switch mode % 3 {
    case 0:
        delimiter = Array(body.prefix(Int(input[1] % 4) + 1))
        guard !delimiter.isEmpty else { return 0 }
        terminator = .delimiter(delimiter)
    case 1:
        terminator = .count(Int(input[1]))
    default:
        terminator = .none
    }
    let limit = mode & 0x80 != 0 ? 8 : 1 << 20
    for every in [false, true] {
        var framer = ChatFramer(terminator: terminator, maxDelimitedLength: limit)
        var rebuilt: [UInt8] = []
        var failed = false
        for read in FuzzInput.reads(of: body, every: every) {
            framer.append(read)
            while true {
                let event: ChatEvent?
                do { event = try framer.next() } catch {
                    failed = true
                    break
                }
                guard let event else { break }
                switch event {
                case .data(let bytes): rebuilt += bytes.readableBytesView
                case .terminator:
                    if case .delimiter = terminator { rebuilt += delimiter }
                }
            }
            if failed { break }
        }
        if failed { continue }  // an over-long frame: refused, nothing to compare
        rebuilt += framer.takeBufferedBytes().readableBytesView
        precondition(rebuilt == Array(body), "framing lost or invented bytes (mode \(mode), every \(every))")
    }
    return 0
}
