// Path resolution: any raw path either is refused or yields segments that can never leave the root.
import Foundation
import FuzzSupport
@testable import HTTPChatServer

@_cdecl("fuzz_path_main")
public func main(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    runFuzzer(argc, argv) { data, size in data.map { fuzzPath($0, size) } ?? 0 }
}

func fuzzPath(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let raw = String(decoding: UnsafeBufferPointer(start: data, count: size), as: UTF8.self)
    // The shared canonical reading: no empty, `.` or `..` segment, and re-encoding it reads back the same
    // (so a redirect built from it names the same resource, with one leading slash).
    if let canonical = try? CanonicalPath.segments(Substring(raw)) {
        // Asked of the bytes: `"%2F\u{65D}"` holds the escape though no Character equals "F" there (a combining
        // mark joins it), so a String `contains("%2f")` missed it (this harness's own bug, found by the smoke run).
        let bytes = Array(raw.utf8)
        let encodedSlash = bytes.indices.dropLast(2).contains { i in
            bytes[i] == UInt8(ascii: "%") && bytes[i + 1] == UInt8(ascii: "2") && (bytes[i + 2] | 0x20) == UInt8(ascii: "f")
        }
        for segment in canonical {
            precondition(!segment.isEmpty && segment != "." && segment != "..", "canonical \(segment.debugDescription) from \(raw.debugDescription)")
            // Asked of the bytes: a Character `contains("/")` misses a slash joined to a prepended mark.
            precondition(encodedSlash || !segment.utf8.contains(UInt8(ascii: "/")), "a slash inside \(segment.debugDescription)")
        }
        let encoded = CanonicalPath.encoded(canonical)
        precondition(encoded.hasPrefix("/") && !encoded.hasPrefix("//"), "encoded \(encoded.debugDescription)")
        precondition((try? CanonicalPath.segments(Substring(encoded))) == canonical, "round trip of \(raw.debugDescription)")
    }
    for hidden in [false, true] {
        guard let segments = try? PathResolution.segments(Substring(raw), hidden: hidden) else { continue }
        for segment in segments {
            precondition(!segment.isEmpty && segment != "." && segment != "..", "segment \(segment.debugDescription) from \(raw.debugDescription)")
            precondition(!segment.utf8.contains { $0 == UInt8(ascii: "/") || $0 == UInt8(ascii: "\\") || $0 == 0 }, "separator in \(segment.debugDescription)")
            precondition(hidden || segment.utf8.first != UInt8(ascii: "."), "dotfile \(segment.debugDescription) served")
        }
    }
    return 0
}
