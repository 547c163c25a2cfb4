/// The order people expect of file names: runs of ASCII digits compare as numbers (`file-2` before
/// `file-10`), the rest compares case-insensitively (`b` between `A` and `C`). Names equal under that order
/// (`file-02` and `file-2`, `A` and `a`) fall back to fewer leading zeros first, then to the names' own
/// order, so the result is total and stable.
///
/// A name's key is computed once (``init(_:)``), not at each comparison: a listing sorts thousands.
struct NaturalOrder: Comparable, Sendable {
    private enum Chunk: Comparable, Sendable {
        /// A digit run without its leading zeros (`"0"` is `""`); compared by length, then digit by digit,
        /// so numbers of any length compare without overflow.
        case number(Substring.UTF8View)
        /// Text, lowercased.
        case text(String)

        static func < (a: Chunk, b: Chunk) -> Bool {
            switch (a, b) {
            case (.number(let x), .number(let y)):
                return x.count != y.count ? x.count < y.count : x.lexicographicallyPrecedes(y)
            case (.number, .text):
                return true  // `2.txt` before `a.txt`, as digits sort before letters in ASCII
            case (.text, .number):
                return false
            case (.text(let x), .text(let y)):
                return x < y
            }
        }

        static func == (a: Chunk, b: Chunk) -> Bool {
            switch (a, b) {
            case (.number(let x), .number(let y)): return x.elementsEqual(y)
            case (.text(let x), .text(let y)): return x == y
            default: return false
            }
        }
    }

    private let chunks: [Chunk]
    private let zeros: [Int]
    /// The name itself: the last tie-break.
    let name: String

    /// The key of `name`.
    init(_ name: String) {
        self.name = name
        var chunks: [Chunk] = []
        var zeros: [Int] = []
        let utf8 = Substring(name).utf8
        var i = utf8.startIndex
        var textStart = i
        func isDigit(_ b: UInt8) -> Bool { b >= UInt8(ascii: "0") && b <= UInt8(ascii: "9") }
        func flushText(upTo end: Substring.UTF8View.Index) {
            if textStart < end { chunks.append(.text(String(Substring(utf8[textStart..<end])).lowercased())) }
        }
        while i != utf8.endIndex {
            guard isDigit(utf8[i]) else {
                i = utf8.index(after: i)
                continue
            }
            flushText(upTo: i)
            var end = i
            var leading = 0
            var significant = i
            var seenSignificant = false
            while end != utf8.endIndex, isDigit(utf8[end]) {
                if !seenSignificant {
                    if utf8[end] == UInt8(ascii: "0") {
                        leading += 1
                        significant = utf8.index(after: end)
                    } else {
                        seenSignificant = true
                    }
                }
                end = utf8.index(after: end)
            }
            chunks.append(.number(utf8[significant..<end]))
            zeros.append(leading)
            i = end
            textStart = end
        }
        flushText(upTo: utf8.endIndex)
        self.chunks = chunks
        self.zeros = zeros
    }

    static func < (a: NaturalOrder, b: NaturalOrder) -> Bool {
        if a.chunks != b.chunks { return a.chunks.lexicographicallyPrecedes(b.chunks) }
        if a.zeros != b.zeros { return a.zeros.lexicographicallyPrecedes(b.zeros) }
        return a.name < b.name
    }

    static func == (a: NaturalOrder, b: NaturalOrder) -> Bool {
        a.name == b.name
    }
}
