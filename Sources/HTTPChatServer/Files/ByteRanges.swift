/// The `Range` header for byte ranges (RFC 9110 §14.1, §14.2), parsed and resolved against a length. Pure.
import HTTPChatCore

public enum ByteRanges {
    /// What to send.
    public enum Resolution: Equatable, Sendable {
        /// No usable Range: send the whole representation (200).
        case whole
        /// These ranges, sorted and coalesced (206; `multipart/byteranges` when more than one).
        case ranges([Range<Int>])
        /// None of the ranges overlaps the representation (416 with `Content-Range: bytes */length`).
        case unsatisfiable
    }

    /// One range-spec before it is resolved against a length.
    public enum Spec: Equatable, Sendable {
        /// `first-last` or `first-` (last nil).
        case fromTo(first: Int, last: Int?)
        /// `-n`: the last n bytes.
        case suffix(Int)
    }

    /// Parses `bytes=...`.
    ///
    /// - Parameter header: the field value.
    /// - Returns: the range-specs, or nil when the unit is not `bytes` or the syntax is invalid (the header is
    ///   then ignored, RFC 9110 §14.2).
    public static func parse(_ header: some StringProtocol) -> [Spec]? {
        let value = Substring(header).trimmingOWS()
        guard let eq = value.firstIndex(of: "="), value[..<eq].trimmingOWS().lowercased() == "bytes" else { return nil }
        var specs: [Spec] = []
        for element in value[value.index(after: eq)...].split(separator: ",", omittingEmptySubsequences: false) {
            let part = element.trimmingOWS()
            if part.isEmpty { continue }  // RFC 9110 §5.6.1: empty list elements are ignored
            guard let dash = part.firstIndex(of: "-") else { return nil }
            let first = part[..<dash]
            let last = part[part.index(after: dash)...]
            if first.isEmpty {
                guard let n = digits(last) else { return nil }
                specs.append(.suffix(n))
            } else {
                guard let f = digits(first) else { return nil }
                if last.isEmpty {
                    specs.append(.fromTo(first: f, last: nil))
                } else {
                    guard let l = digits(last), l >= f else { return nil }
                    specs.append(.fromTo(first: f, last: l))
                }
            }
        }
        return specs.isEmpty ? nil : specs
    }

    /// Resolves a Range header against a representation of `length` bytes.
    ///
    /// - Parameters:
    ///   - header: the Range field value, or nil.
    ///   - length: the representation's length.
    ///   - maxRanges: more specs than this is treated as abuse and the header is ignored (default 16).
    ///   - coalesceGap: ranges closer than this many bytes are merged (default 80, Apache's choice: a part
    ///     header costs about that much).
    /// - Returns: what to send.
    public static func resolve(_ header: String?, length: Int, maxRanges: Int = 16, coalesceGap: Int = 80) -> Resolution {
        guard let header, let specs = parse(header) else { return .whole }
        guard specs.count <= maxRanges else { return .whole }
        var ranges: [Range<Int>] = []
        for spec in specs {
            switch spec {
            case .fromTo(let first, let last):
                guard first < length else { continue }
                let end = min(last.map { $0 == Int.max ? Int.max : $0 + 1 } ?? length, length)
                ranges.append(first..<end)
            case .suffix(let n):
                guard n > 0, length > 0 else { continue }
                ranges.append(max(0, length - n)..<length)
            }
        }
        guard !ranges.isEmpty else { return .unsatisfiable }
        ranges.sort { $0.lowerBound < $1.lowerBound }
        var merged: [Range<Int>] = [ranges[0]]
        for r in ranges.dropFirst() {
            let last = merged[merged.count - 1]
            if r.lowerBound <= last.upperBound + coalesceGap {
                merged[merged.count - 1] = last.lowerBound..<max(last.upperBound, r.upperBound)
            } else {
                merged.append(r)
            }
        }
        return .ranges(merged)
    }

    /// The `Content-Range` value of one range of a representation (RFC 9110 §14.4): `bytes first-last/length`.
    ///
    /// - Parameters:
    ///   - range: a non-empty range.
    ///   - completeLength: the representation's length.
    /// - Returns: the field value.
    public static func contentRange(_ range: Range<Int>, completeLength: Int) -> String {
        "bytes \(range.lowerBound)-\(range.upperBound - 1)/\(completeLength)"
    }

    /// A `multipart/byteranges` body (RFC 9110 §14.6), laid out but not filled: the text between the parts
    /// and which slices of the representation go where, in order. Pure; the file server sends the slices
    /// from memory or with `sendfile`.
    ///
    /// Each part is `--boundary`, its `Content-Type` and `Content-Range`, a blank line, then the slice; parts
    /// after the first start with the CRLF that ends the one before, and the body ends `CRLF --boundary-- CRLF`.
    ///
    /// ```swift
    /// let body = ByteRanges.Multipart(ranges: [0..<2, 1000..<1002], completeLength: 100_000,
    ///                                 partType: "text/plain", boundary: "b")
    /// // body.pieces: [.text("--b\r\nContent-Type: text/plain\r\nContent-Range: bytes 0-1/100000\r\n\r\n"),
    /// //               .slice(0..<2), .text("\r\n--b\r\n..."), .slice(1000..<1002), .text("\r\n--b--\r\n")]
    /// ```
    public struct Multipart: Equatable, Sendable {
        /// One piece of the body, in order.
        public enum Piece: Equatable, Sendable {
            /// Literal text: a part's delimiter and head, or the closing delimiter.
            case text(String)
            /// A slice of the representation.
            case slice(Range<Int>)
        }

        /// The boundary between parts.
        public let boundary: String
        /// The answer's `Content-Type`: `multipart/byteranges; boundary=...`.
        public let contentType: String
        /// What to send, in order.
        public let pieces: [Piece]
        /// The body's length in bytes (the answer's `Content-Length`).
        public let length: Int

        /// Lays out the parts for `ranges`.
        ///
        /// - Parameters:
        ///   - ranges: non-empty ranges within the representation, as ``resolve(_:length:maxRanges:coalesceGap:)``
        ///     gives them (sorted, coalesced).
        ///   - completeLength: the representation's length (each part's `Content-Range` names it).
        ///   - partType: the representation's `Content-Type`, repeated in each part.
        ///   - boundary: the boundary (default ``randomBoundary()``); it must not occur in the slices, which a
        ///     random one of 64 bits makes unlikely enough for byte ranges (clients find parts by position too).
        public init(ranges: [Range<Int>], completeLength: Int, partType: String, boundary: String = Multipart.randomBoundary()) {
            var pieces: [Piece] = []
            var length = 0
            for (i, r) in ranges.enumerated() {
                let head = (i == 0 ? "" : "\r\n") + "--\(boundary)\r\nContent-Type: \(partType)\r\n"
                    + "Content-Range: \(ByteRanges.contentRange(r, completeLength: completeLength))\r\n\r\n"
                pieces.append(.text(head))
                pieces.append(.slice(r))
                length += head.utf8.count + r.count
            }
            let tail = "\r\n--\(boundary)--\r\n"
            pieces.append(.text(tail))
            length += tail.utf8.count
            self.boundary = boundary
            self.contentType = "multipart/byteranges; boundary=\(boundary)"
            self.pieces = pieces
            self.length = length
        }

        /// A fresh boundary: `httpchat-` and 64 random bits in hex.
        public static func randomBoundary() -> String {
            "httpchat-" + String(UInt64.random(in: 0...UInt64.max), radix: 16)
        }
    }

    private static func digits(_ s: Substring) -> Int? {
        guard !s.isEmpty, s.utf8.allSatisfy({ $0 >= 48 && $0 <= 57 }) else { return nil }
        return Int(s) ?? Int.max  // more digits than fit: as large as can be
    }
}
