/// The `Range` header for byte ranges (RFC 9110 §14.1, §14.2), parsed and resolved against a length. Pure.
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

    private static func digits(_ s: Substring) -> Int? {
        guard !s.isEmpty, s.utf8.allSatisfy({ $0 >= 48 && $0 <= 57 }) else { return nil }
        return Int(s) ?? Int.max  // more digits than fit: as large as can be
    }
}
