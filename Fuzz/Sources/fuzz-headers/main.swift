// Range and conditional header parsing: any Range value resolves to ranges inside the representation,
// sorted and disjoint, at most the cap; any set of conditional fields evaluates without trapping.
import FuzzSupport
import HTTPChat
import HTTPTypes

@_cdecl("fuzz_headers_main")
public func main(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    runFuzzer(argc, argv) { data, size in data.map { fuzzHeaders($0, size) } ?? 0 }
}

func fuzzHeaders(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let input = FuzzInput(data, size).bytes
    guard input.count >= 2 else { return 0 }
    let length = Int(input[0]) << 8 | Int(input[1])
    let text = String(decoding: input.dropFirst(2), as: UTF8.self)
    let lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)

    switch ByteRanges.resolve(lines[0], length: length, maxRanges: 16) {
    case .whole, .unsatisfiable:
        break
    case .ranges(let ranges):
        precondition(!ranges.isEmpty && ranges.count <= 16, "\(ranges.count) ranges")
        var previousEnd = -1
        for r in ranges {
            precondition(r.lowerBound >= 0 && r.upperBound <= length && !r.isEmpty, "range \(r) of \(length)")
            precondition(r.lowerBound > previousEnd, "ranges overlap or are unsorted")
            previousEnd = r.upperBound
        }
    }

    var fields = HTTPFields()
    let names: [HTTPField.Name] = [.ifMatch, .ifNoneMatch, .ifModifiedSince, .ifUnmodifiedSince, .ifRange, .range]
    for (name, value) in zip(names, lines.dropFirst()) where !value.isEmpty {
        fields.append(HTTPField(name: name, value: value))
    }
    let validators = Validators.forFile(device: 2049, inode: 42, size: length, mtimeSeconds: 1_700_000_000, mtimeNanoseconds: 5)
    for method in [HTTPRequest.Method.get, .head, .put] {
        _ = validators.evaluate(fields, method: method)
    }
    return 0
}
