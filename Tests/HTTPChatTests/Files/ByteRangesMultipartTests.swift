import Testing

@testable import HTTPChatCore
@testable import HTTPChatServer

@Suite("multipart/byteranges layout")
struct ByteRangesMultipartTests {
    @Test(
        "parts carry the boundary, their type and Content-Range, slices in order, and the length adds up",
        arguments: [
            (
                [0..<2, 1000..<1002], 100_000, "application/octet-stream", "b1",
                [
                    ByteRanges.Multipart.Piece.text("--b1\r\nContent-Type: application/octet-stream\r\nContent-Range: bytes 0-1/100000\r\n\r\n"),
                    .slice(0..<2),
                    .text("\r\n--b1\r\nContent-Type: application/octet-stream\r\nContent-Range: bytes 1000-1001/100000\r\n\r\n"),
                    .slice(1000..<1002),
                    .text("\r\n--b1--\r\n"),
                ]
            ),
            (
                [5..<6], 6, "text/plain", "x",
                [.text("--x\r\nContent-Type: text/plain\r\nContent-Range: bytes 5-5/6\r\n\r\n"), .slice(5..<6), .text("\r\n--x--\r\n")]
            ),
            (
                [0..<10, 100..<200, 990..<1000], 1000, "text/html; charset=utf-8", "httpchat-0",
                [
                    .text("--httpchat-0\r\nContent-Type: text/html; charset=utf-8\r\nContent-Range: bytes 0-9/1000\r\n\r\n"),
                    .slice(0..<10),
                    .text("\r\n--httpchat-0\r\nContent-Type: text/html; charset=utf-8\r\nContent-Range: bytes 100-199/1000\r\n\r\n"),
                    .slice(100..<200),
                    .text("\r\n--httpchat-0\r\nContent-Type: text/html; charset=utf-8\r\nContent-Range: bytes 990-999/1000\r\n\r\n"),
                    .slice(990..<1000),
                    .text("\r\n--httpchat-0--\r\n"),
                ]
            ),
        ] as [([Range<Int>], Int, String, String, [ByteRanges.Multipart.Piece])]
    )
    func layout(ranges: [Range<Int>], completeLength: Int, type: String, boundary: String, want: [ByteRanges.Multipart.Piece]) {
        let body = ByteRanges.Multipart(ranges: ranges, completeLength: completeLength, partType: type, boundary: boundary)
        #expect(body.pieces == want, "got \(body.pieces), want \(want)")
        #expect(body.contentType == "multipart/byteranges; boundary=\(boundary)")
        let total = want.reduce(0) { sum, piece in
            switch piece {
            case .text(let t): return sum + t.utf8.count
            case .slice(let r): return sum + r.count
            }
        }
        #expect(body.length == total, "got length \(body.length), want \(total)")
    }

    @Test("Content-Range names the first and last byte and the complete length", arguments: [
        (0..<1, 1, "bytes 0-0/1"), (10..<20, 100_000, "bytes 10-19/100000"), (999..<1000, 1000, "bytes 999-999/1000"),
    ])
    func contentRange(range: Range<Int>, length: Int, want: String) {
        #expect(ByteRanges.contentRange(range, completeLength: length) == want)
    }

    @Test("random boundaries differ and are tokens")
    func randomBoundaries() {
        let a = ByteRanges.Multipart.randomBoundary()
        let b = ByteRanges.Multipart.randomBoundary()
        #expect(a != b, "two boundaries were both \(a)")
        #expect(a.hasPrefix("httpchat-") && a.utf8.allSatisfy { HTTPGrammar.isTokenByte[Int($0)] }, "\(a)")
    }
}
