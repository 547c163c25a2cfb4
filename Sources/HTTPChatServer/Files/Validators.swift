import HTTPChatCore
public import HTTPTypes

/// A representation's validators (RFC 9110 §8.8): an entity tag and a modification time.
public struct Validators: Sendable, Hashable {
    /// The entity tag, quoted, with `W/` when weak: `"9f3c0a1b2c4d5e6f"`.
    public var etag: String
    /// Seconds since the epoch of the last modification.
    public var lastModified: Int

    /// Creates validators.
    ///
    /// - Parameters:
    ///   - etag: the quoted entity tag.
    ///   - lastModified: seconds since the epoch.
    public init(etag: String, lastModified: Int) {
        self.etag = etag
        self.lastModified = lastModified
    }

    /// The strong ETag HTTPChat derives for a file: `"<16 hex digits>"`, a 64-bit FNV-1a hash of its device,
    /// inode, size and modification time in nanoseconds. It changes whenever the file is replaced (new inode or
    /// device), resized or written (new mtime); it is the same across restarts and in every process serving the
    /// file (the hash is unseeded, unlike Swift's `Hasher`); and it does not show the inode number, which an
    /// `"<inode>-<size>-<mtime>"` tag gave away (CVE-2003-1418).
    ///
    /// The hash hides the inode from a casual reader, not from a search: a client that knows the size
    /// (Content-Length) and an mtime whose nanoseconds are zero (Last-Modified gives the seconds) could try
    /// inode numbers until one matches.
    ///
    /// - Parameters:
    ///   - device: the device the file is on (`st_dev`).
    ///   - inode: the file's inode number.
    ///   - size: its size.
    ///   - mtimeSeconds: its modification time, seconds since the epoch.
    ///   - mtimeNanoseconds: its modification time, the nanoseconds part.
    /// - Returns: the validators for it.
    public static func forFile(device: UInt64, inode: UInt64, size: Int, mtimeSeconds: Int, mtimeNanoseconds: Int) -> Validators {
        let ns = UInt64(truncatingIfNeeded: mtimeSeconds) &* 1_000_000_000 &+ UInt64(truncatingIfNeeded: mtimeNanoseconds)
        var hash = FNV1a64()
        for word in [device, inode, UInt64(truncatingIfNeeded: size), ns] { hash.combine(word) }
        let hex = String(hash.value, radix: 16)
        let tag = "\"" + String(repeating: "0", count: 16 - hex.count) + hex + "\""
        return Validators(etag: tag, lastModified: mtimeSeconds)
    }

    /// The same validators for another representation of the resource (a gzip variant, say): the suffix is
    /// added inside the quotes.
    ///
    /// - Parameter suffix: what distinguishes the variant.
    /// - Returns: the variant's validators.
    public func variant(_ suffix: String) -> Validators {
        Validators(etag: String(etag.dropLast()) + "-" + suffix + "\"", lastModified: lastModified)
    }
}

/// The outcome of the conditional headers (RFC 9110 §13.2.2).
public enum Precondition: Equatable, Sendable {
    /// Send the representation (ranges allowed).
    case proceed
    /// Send the whole representation, ignoring Range: `If-Range` did not match.
    case proceedIgnoringRange
    /// 304 Not Modified.
    case notModified
    /// 412 Precondition Failed.
    case failed
}

extension Validators {
    /// Evaluates `If-Match`, `If-Unmodified-Since`, `If-None-Match`, `If-Modified-Since` and `If-Range`, in the
    /// order RFC 9110 §13.2.2 gives.
    ///
    /// - Parameters:
    ///   - fields: the request's fields.
    ///   - method: the request's method (304 only for GET and HEAD).
    /// - Returns: what to do.
    public func evaluate(_ fields: HTTPFields, method: HTTPRequest.Method) -> Precondition {
        let getOrHead = method == .get || method == .head
        if let ifMatch = fields[values: .ifMatch].joinedList() {
            if !Self.matches(ifMatch, etag, weak: false) { return .failed }
        } else if let since = fields[.ifUnmodifiedSince], let date = HTTPDate.parse(since) {
            if lastModified > date { return .failed }
        }
        if let ifNoneMatch = fields[values: .ifNoneMatch].joinedList() {
            if Self.matches(ifNoneMatch, etag, weak: true) { return getOrHead ? .notModified : .failed }
        } else if getOrHead, let since = fields[.ifModifiedSince], let date = HTTPDate.parse(since) {
            if lastModified <= date { return .notModified }
        }
        if method == .get, fields[.range] != nil, let ifRange = fields[.ifRange] {
            let value = Substring(ifRange).trimmingOWS()
            if value.hasPrefix("\"") || value.hasPrefix("W/") {
                // A strong comparison: a weak tag never matches (RFC 9110 §13.1.5).
                if value.hasPrefix("W/") || value != Substring(etag) || etag.hasPrefix("W/") { return .proceedIgnoringRange }
            } else if HTTPDate.parse(value) != lastModified {
                return .proceedIgnoringRange
            }
        }
        return .proceed
    }

    /// Whether an If-Match / If-None-Match list matches `etag` (`*` matches any).
    static func matches(_ list: String, _ etag: String, weak: Bool) -> Bool {
        let ours = opaque(etag, weak: weak)
        for element in list.split(separator: ",") {
            let candidate = element.trimmingOWS()
            if candidate == "*" { return true }
            guard let theirs = opaque(String(candidate), weak: weak) else { continue }
            if let ours, theirs == ours { return true }
        }
        return false
    }

    /// The opaque tag for comparison: weak comparison ignores `W/`; strong comparison refuses weak tags.
    private static func opaque(_ tag: String, weak: Bool) -> String? {
        if tag.hasPrefix("W/") { return weak ? String(tag.dropFirst(2)) : nil }
        return tag
    }
}

/// The 64-bit FNV-1a hash (Fowler, Noll, Vo): unseeded, so the same input hashes the same in every process.
struct FNV1a64 {
    private(set) var value: UInt64 = 0xCBF2_9CE4_8422_2325

    /// Mixes in the eight bytes of `word`, least significant first.
    mutating func combine(_ word: UInt64) {
        for shift in stride(from: 0, to: 64, by: 8) {
            value ^= (word >> UInt64(shift)) & 0xFF
            value = value &* 0x0000_0100_0000_01B3
        }
    }
}

extension Array where Element == String {
    /// The values joined as one list, or nil when there are none.
    func joinedList() -> String? { isEmpty ? nil : joined(separator: ", ") }
}

// Here, not beside FileInfo in Producers/: validators are the file server's concern, and this keeps Producers
// from reaching up into Files.
extension FileInfo {
    /// The file's strong validators (see
    /// ``Validators/forFile(device:inode:size:mtimeSeconds:mtimeNanoseconds:)``).
    public var validators: Validators {
        .forFile(device: device, inode: inode, size: size, mtimeSeconds: mtimeSeconds, mtimeNanoseconds: mtimeNanoseconds)
    }
}
