import NIOCore
import Testing

@testable import HTTPChatCore

/// What a consumer sees: the frames that ended, the bytes of the unfinished frame, the error if any.
struct FramedOutput: Equatable, CustomStringConvertible {
    var frames: [String] = []
    var partial = ""
    var error: ChatFramingError?

    var description: String { "frames: \(frames.debugDescription) partial: \(partial.debugDescription) error: \(String(describing: error))" }
}

/// Feeds `reads` into a framer, pulling events after each read like the channel adapter does.
/// `onTerminator(n, &framer)` runs after the n-th terminator (0-based) and may change the terminator.
/// Records an issue when a data event is empty.
func frame(
    _ reads: [ByteBuffer],
    terminator: Terminator,
    maxDelimitedLength: Int = 1 << 20,
    onTerminator: (Int, inout ChatFramer) -> Void = { _, _ in }
) -> FramedOutput {
    var framer = ChatFramer(terminator: terminator, maxDelimitedLength: maxDelimitedLength)
    var out = FramedOutput()
    var current: [UInt8] = []
    outer: for read in reads {
        framer.append(read)
        while true {
            do {
                guard let event = try framer.next() else { break }
                switch event {
                case .data(let bytes):
                    #expect(bytes.readableBytes > 0, "an empty data event was delivered")
                    current += bytes.readableBytesView
                case .terminator:
                    out.frames.append(String(decoding: current, as: UTF8.self))
                    current = []
                    onTerminator(out.frames.count - 1, &framer)
                }
            } catch {
                out.error = error
                break outer
            }
        }
    }
    out.partial = String(decoding: current, as: UTF8.self)
    return out
}

struct DelimiterCase: Sendable, CustomStringConvertible {
    var input: String
    var delimiter: String
    var frames: [String]
    var partial: String
    var description: String { "\(input.debugDescription) by \(delimiter.debugDescription)" }
}

@Suite("ChatFramer")
struct ChatFramerTests {
    static let delimiterCases: [DelimiterCase] = [
        .init(input: "a\r\nbc\r\n", delimiter: "\r\n", frames: ["a", "bc"], partial: ""),
        .init(input: "\r\n\r\n", delimiter: "\r\n", frames: ["", ""], partial: ""),
        .init(input: "no delimiter", delimiter: "\r\n", frames: [], partial: "no delimiter"),
        .init(input: "x\r\r\ny\r\n\r", delimiter: "\r\n", frames: ["x\r", "y"], partial: ""),
        .init(input: "GET / HTTP/1.1\r\nHost: x\r\n\r\nBODY", delimiter: "\r\n\r\n",
              frames: ["GET / HTTP/1.1\r\nHost: x"], partial: "BODY"),
        .init(input: "A\r\n\rx\r\n\r\nB\r\n\r", delimiter: "\r\n\r\n", frames: ["A\r\n\rx"], partial: "B"),
        .init(input: "\r\n\r\r\n\r\n", delimiter: "\r\n\r\n", frames: ["\r\n\r"], partial: ""),
        .init(input: "aaab", delimiter: "aab", frames: ["a"], partial: ""),
        .init(input: "abababab", delimiter: "abab", frames: ["", ""], partial: ""),
        .init(input: "--b--x--b--", delimiter: "--b--", frames: ["", "x"], partial: ""),
        .init(input: "héllo☃wörld☃", delimiter: "☃", frames: ["héllo", "wörld"], partial: ""),
        .init(input: "1\n22\n\n333", delimiter: "\n", frames: ["1", "22", ""], partial: "333"),
    ]

    @Test("a delimiter is found at every split point, false starts included", arguments: delimiterCases)
    func delimiterAtEverySplit(_ c: DelimiterCase) {
        for reads in splits(of: Array(c.input)) {
            let got = frame(reads, terminator: .delimiter(c.delimiter))
            #expect(got.frames == c.frames, "reads \(reads.map(\.readableBytes)): got \(got), want \(c.frames)")
            // A tail that might begin the delimiter stays held, so only what cannot is partial.
            #expect(got.partial == c.partial, "reads \(reads.map(\.readableBytes)): got \(got)")
        }
    }

    @Test("bytes held as a possible delimiter prefix are released when the prefix breaks")
    func heldPrefixReleased() throws {
        for reads in splits(of: Array("ab\r\r\rcd")) {
            let got = frame(reads, terminator: .delimiter("\r\n"))
            #expect(got.frames == [])
            #expect(got.partial == "ab\r\r\rcd", "got \(got)")
        }
        var framer = ChatFramer(terminator: .delimiter("\r\n"))
        framer.append(ByteBuffer(string: "ab\r"))
        #expect(try framer.next() == .data(ByteBuffer(string: "ab")))
        #expect(try framer.next() == nil)
        #expect(framer.bufferedByteCount == 1)
        framer.append(ByteBuffer(string: "x"))
        #expect(try framer.next() == .data(ByteBuffer(string: "\rx")))
    }

    @Test("a count terminator frames exactly n bytes at every split point, then reads .none")
    func countAtEverySplit() {
        for reads in splits(of: Array("abcdef")) {
            var after: Terminator?
            let got = frame(reads, terminator: .count(3)) { _, framer in after = framer.terminator }
            #expect(got.frames == ["abc"], "got \(got)")
            #expect(got.partial == "def")
            #expect(after == Terminator.none)
        }
    }

    @Test("a count terminator reads as the bytes still to come, as asynchat's does")
    func countCountsDown() throws {
        var framer = ChatFramer(terminator: .count(10))
        framer.append(ByteBuffer(string: "abcd"))
        #expect(try framer.next() == .data(ByteBuffer(string: "abcd")))
        #expect(framer.terminator == .count(6))
    }

    @Test("count(0) ends the frame at once without input")
    func countZero() throws {
        var framer = ChatFramer(terminator: .count(0))
        #expect(try framer.next() == .terminator)
        #expect(try framer.next() == nil)
        #expect(framer.terminator == Terminator.none)
    }

    @Test("terminator .none collects everything and never ends a frame")
    func noneCollectsAll() {
        for reads in splits(of: Array("a\r\nb\r\n\r\n")) {
            let got = frame(reads, terminator: .none)
            #expect(got.frames == [])
            #expect(got.partial == "a\r\nb\r\n\r\n")
        }
    }

    @Test("terminators switched inside foundTerminator frame already-buffered bytes (head, body, next head)")
    func switchInsideFoundTerminator() {
        let input = "POST /a HTTP/1.1\r\nContent-Length: 5\r\n\r\nhelloGET /b HTTP/1.1\r\n\r\nPOST"
        for reads in splits(of: Array(input), pairsUpTo: 80) {
            let got = frame(reads, terminator: .delimiter("\r\n\r\n")) { n, framer in
                framer.terminator = n == 0 ? .count(5) : .delimiter("\r\n\r\n")
            }
            #expect(got.frames == ["POST /a HTTP/1.1\r\nContent-Length: 5", "hello", "GET /b HTTP/1.1"], "got \(got)")
            #expect(got.partial == "POST")
        }
    }

    @Test("count(0) set inside foundTerminator fires before the next byte is framed")
    func countZeroInsideFoundTerminator() {
        for reads in splits(of: Array("H\n\nI\n")) {
            let got = frame(reads, terminator: .delimiter("\n")) { n, framer in
                framer.terminator = n == 0 ? .count(0) : .delimiter("\n")
            }
            #expect(got.frames == ["H", "", "", "I"], "got \(got)")
        }
    }

    @Test("a delimited frame up to the limit passes; one byte more is an error, at every split point")
    func delimiterBound() {
        for reads in splits(of: Array("12345678\r\nok\r\n")) {
            let got = frame(reads, terminator: .delimiter("\r\n"), maxDelimitedLength: 8)
            #expect(got.frames == ["12345678", "ok"], "got \(got)")
            #expect(got.error == nil)
        }
        for reads in splits(of: Array("123456789\r\n")) {
            let got = frame(reads, terminator: .delimiter("\r\n"), maxDelimitedLength: 8)
            #expect(got.error == .delimiterNotFound(limit: 8), "got \(got)")
            #expect(got.frames == [])
            #expect(got.partial == "12345678", "the bytes within the limit are handed out before the error")
        }
    }

    @Test("a delimiter that never comes stops at the limit instead of buffering without bound")
    func unboundedInputStops() {
        var framer = ChatFramer(terminator: .delimiter("\r\n\r\n"), maxDelimitedLength: 1024)
        var delivered = 0
        var failure: ChatFramingError?
        feeding: for _ in 0..<10_000 {
            framer.append(ByteBuffer(repeating: UInt8(ascii: "a"), count: 100))
            do {
                while let event = try framer.next() {
                    if case .data(let bytes) = event { delivered += bytes.readableBytes }
                }
            } catch {
                failure = error
                break feeding
            }
        }
        #expect(failure == .delimiterNotFound(limit: 1024))
        #expect(delivered == 1024)
        #expect(framer.bufferedByteCount <= 1024 + 100)
    }

    @Test("after the error, framing stays stopped until a terminator is set")
    func errorPersistsUntilReset() throws {
        var framer = ChatFramer(terminator: .delimiter("\n"), maxDelimitedLength: 2)
        framer.append(ByteBuffer(string: "abc\nxy\n"))
        #expect(try framer.next() == .data(ByteBuffer(string: "ab")))
        #expect(throws: ChatFramingError.delimiterNotFound(limit: 2)) { try framer.next() }
        #expect(throws: ChatFramingError.delimiterNotFound(limit: 2)) { try framer.next() }
        framer.maxDelimitedLength = 3
        #expect(throws: ChatFramingError.delimiterNotFound(limit: 3)) { try framer.next() }
        framer.terminator = .delimiter("\n")
        #expect(try framer.next() == .data(ByteBuffer(string: "c")))
        #expect(try framer.next() == .terminator)
        #expect(try framer.next() == .data(ByteBuffer(string: "xy")))
    }

    @Test("discardInput drops buffered bytes and starts a new frame")
    func discardInput() throws {
        var framer = ChatFramer(terminator: .delimiter("\r\n"))
        framer.append(ByteBuffer(string: "abc\r"))
        _ = try framer.next()
        framer.discardInput()
        #expect(framer.bufferedByteCount == 0)
        framer.append(ByteBuffer(string: "\nx\r\n"))
        #expect(try framer.next() == .data(ByteBuffer(string: "\nx")))
        #expect(try framer.next() == .terminator)
    }

    @Test("data events are slices of the read buffer when a frame lies within one read")
    func dataIsSliced() throws {
        var framer = ChatFramer(terminator: .delimiter("\n"))
        let read = ByteBuffer(string: "line one\nline two\n")
        framer.append(read)
        guard case .data(let first) = try framer.next() else { Issue.record("want data"); return }
        let sameStorage = read.withUnsafeReadableBytes { whole in
            first.withUnsafeReadableBytes { part in whole.baseAddress == part.baseAddress }
        }
        #expect(sameStorage, "the first frame should share the read's storage")
    }

    @Test("random inputs frame like a plain split on the delimiter, at random read sizes")
    func matchesReferenceSplit() {
        var rng = SplitMix(seed: 42)
        let alphabet: [UInt8] = Array("ab\r\n")
        let delimiters: [[UInt8]] = [Array("\r\n"), Array("\r\n\r\n"), Array("a"), Array("aba"), Array("\n\n")]
        for _ in 0..<2_000 {
            let delimiter = delimiters[Int(rng.next() % UInt64(delimiters.count))]
            let length = Int(rng.next() % 40)
            let input = (0..<length).map { _ in alphabet[Int(rng.next() % UInt64(alphabet.count))] }
            var reads: [ByteBuffer] = []
            var at = 0
            while at < input.count {
                let size = 1 + Int(rng.next() % 7)
                let end = Swift.min(input.count, at + size)
                reads.append(ByteBuffer(bytes: input[at..<end]))
                at = end
            }
            let got = frame(reads, terminator: .delimiter(delimiter))
            let want = referenceSplit(input, by: delimiter)
            #expect(got.frames == want.frames, "input \(String(decoding: input, as: UTF8.self).debugDescription) by \(String(decoding: delimiter, as: UTF8.self).debugDescription)")
            #expect(got.partial == want.rest)
        }
    }
}

/// The obvious, slow model: find the delimiter left to right and cut.
func referenceSplit(_ input: [UInt8], by delimiter: [UInt8]) -> (frames: [String], rest: String) {
    var frames: [String] = []
    var start = 0
    var i = 0
    while i + delimiter.count <= input.count {
        if Array(input[i..<(i + delimiter.count)]) == delimiter {
            frames.append(String(decoding: input[start..<i], as: UTF8.self))
            i += delimiter.count
            start = i
        } else {
            i += 1
        }
    }
    // The framer holds back the longest tail that could still begin a delimiter.
    var rest = Array(input[start...])
    for k in stride(from: Swift.min(delimiter.count - 1, rest.count), to: 0, by: -1)
    where Array(rest.suffix(k)) == Array(delimiter.prefix(k)) {
        rest.removeLast(k)
        break
    }
    return (frames, String(decoding: rest, as: UTF8.self))
}

/// A small deterministic generator, so failures reproduce.
struct SplitMix: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
