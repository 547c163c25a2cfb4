public import HTTPTypes

/// A representation's validators (RFC 9110 §8.8): an entity tag and a modification time.
public struct Validators: Sendable, Hashable {
    /// The entity tag, quoted, with `W/` when weak: `"1a2b-3c-5f0e1d2c"`.
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

    /// The strong ETag HTTPChat derives for a file: `"<inode>-<size>-<mtime in nanoseconds>"` in hex. It changes
    /// whenever the file is replaced (new inode), resized or written (new mtime).
    ///
    /// - Parameters:
    ///   - inode: the file's inode number.
    ///   - size: its size.
    ///   - mtimeNanoseconds: its modification time.
    /// - Returns: the validators for it.
    public static func forFile(inode: UInt64, size: Int, mtimeSeconds: Int, mtimeNanoseconds: Int) -> Validators {
        let ns = UInt64(truncatingIfNeeded: mtimeSeconds) &* 1_000_000_000 &+ UInt64(truncatingIfNeeded: mtimeNanoseconds)
        let tag = "\"\(String(inode, radix: 16))-\(String(size, radix: 16))-\(String(ns, radix: 16))\""
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

extension Array where Element == String {
    /// The values joined as one list, or nil when there are none.
    func joinedList() -> String? { isEmpty ? nil : joined(separator: ", ") }
}
