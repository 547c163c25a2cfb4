import HTTPChatCore
import HTTPTypes
#if canImport(FoundationEssentials)
public import FoundationEssentials
#else
public import Foundation
#endif

/// The cookies a request carries (RFC 6265 §5.4): every `Cookie` field's `name=value` pairs, in order.
///
/// Pairs are separated by `;`; spaces around names and values are trimmed; a value may contain `=` (only the
/// first `=` separates); a value in double quotes loses them; a pair without `=` or with an empty name is
/// skipped; the same name may appear more than once (``values(named:)``). At most ``limit`` pairs are read,
/// so a request cannot make the server build a huge list (the head's size limit bounds the rest).
///
/// Split and compared on bytes, never on Characters: Swift's `Character` comparison is canonical equivalence,
/// so a Character split on `;` also splits at U+037E GREEK QUESTION MARK (a value holding it would read as
/// two cookies, the second of the sender's choosing), and a name lookup of `K` would find a cookie named
/// U+212A KELVIN SIGN.
///
/// ```swift
/// router.get("/hello") { request in .text("Hello, \(request.cookies["name"] ?? "stranger")") }
/// ```
public struct Cookies: Sendable, Sequence {
    /// The most pairs read from one request.
    public static let limit = 256

    /// The pairs, in the order sent.
    public let pairs: [(name: String, value: String)]

    /// Parses `Cookie` field values.
    ///
    /// - Parameter fields: the values of the request's `Cookie` fields, in order.
    public init(fields: [String]) {
        var pairs: [(name: String, value: String)] = []
        let quote = UInt8(ascii: "\"")
        outer: for field in fields {
            for piece in field.utf8.split(separator: UInt8(ascii: ";"), omittingEmptySubsequences: true) {
                guard pairs.count < Self.limit else { break outer }
                guard let eq = piece.firstIndex(of: UInt8(ascii: "=")) else { continue }
                let name = HTTPGrammar.trimmingOWS(piece[..<eq])
                guard !name.isEmpty else { continue }
                var value = HTTPGrammar.trimmingOWS(piece[piece.index(after: eq)...])
                if value.count >= 2, value.first == quote, value.last == quote { value = value.dropFirst().dropLast() }
                pairs.append((String(Substring(name)), String(Substring(value))))
            }
        }
        self.pairs = pairs
    }

    /// The first value of the cookie named `name`, or nil.
    public subscript(name: String) -> String? {
        pairs.first { $0.name.utf8.elementsEqual(name.utf8) }?.value
    }

    /// Every value sent for `name` (a browser sends one per matching path and domain, most specific first).
    ///
    /// - Parameter name: the cookie's name.
    /// - Returns: the values, in the order sent.
    public func values(named name: String) -> [String] {
        pairs.filter { $0.name.utf8.elementsEqual(name.utf8) }.map(\.value)
    }

    /// Iterates over the pairs.
    public func makeIterator() -> IndexingIterator<[(name: String, value: String)]> {
        pairs.makeIterator()
    }
}

extension Request {
    /// The request's cookies, from every `Cookie` field (see ``Cookies``).
    public var cookies: Cookies {
        Cookies(fields: headerFields[values: .cookie])
    }
}

/// A cookie to set on the client: one `Set-Cookie` field (RFC 6265 §4.1, with `SameSite` and `Partitioned`
/// from RFC 6265bis and CHIPS). Every part is checked when it is made, so nothing in a name, value, domain or
/// path can end the field, add an attribute, or start another field.
///
/// ```swift
/// var response = Response.text("signed in")
/// try response.setCookie(SetCookie(name: "session", value: token, maxAge: 3600, secure: true,
///                                  httpOnly: true, sameSite: .lax))
/// ```
public struct SetCookie: Sendable, Hashable {
    /// `SameSite`: when a browser sends the cookie with cross-site requests.
    public enum SameSite: String, Sendable, Hashable {
        /// Only same-site requests.
        case strict = "Strict"
        /// Same-site requests and top-level navigations to the site.
        case lax = "Lax"
        /// Every request; needs ``SetCookie/secure``.
        case none = "None"
    }

    /// The name (a token).
    public let name: String
    /// The value (cookie-octets: printable ASCII except space, `"`, `,`, `;` and `\`; optionally in quotes).
    public let value: String
    /// When it expires; nil (with no ``maxAge``) makes a session cookie.
    public let expires: Date?
    /// Seconds until it expires (0 or less: delete it now); wins over ``expires`` in browsers.
    public let maxAge: Int?
    /// The domain it is sent to (and its subdomains); nil: this host only.
    public let domain: String?
    /// The path prefix it is sent for.
    public let path: String?
    /// Sent over HTTPS only.
    public let secure: Bool
    /// Hidden from scripts (`document.cookie`).
    public let httpOnly: Bool
    /// Cross-site sending.
    public let sameSite: SameSite?
    /// Kept per top-level site (CHIPS); needs ``secure``.
    public let partitioned: Bool

    /// A cookie, checked.
    ///
    /// - Parameters:
    ///   - name: a token (RFC 9110 §5.6.2).
    ///   - value: cookie-octets, or a quoted string of them.
    ///   - expires: when it expires.
    ///   - maxAge: seconds until it expires.
    ///   - domain: the domain (letters, digits, `-`, `.`).
    ///   - path: the path (printable ASCII without `;`).
    ///   - secure: HTTPS only.
    ///   - httpOnly: hidden from scripts.
    ///   - sameSite: cross-site sending.
    ///   - partitioned: partitioned per top-level site.
    /// - Throws: ``CookieError`` naming what cannot be sent, including the rules of the `__Secure-` and
    ///   `__Host-` prefixes and `SameSite=None` or `Partitioned` without `Secure`.
    public init(
        name: String, value: String, expires: Date? = nil, maxAge: Int? = nil, domain: String? = nil,
        path: String? = nil, secure: Bool = false, httpOnly: Bool = false, sameSite: SameSite? = nil,
        partitioned: Bool = false
    ) throws {
        guard !name.isEmpty, name.utf8.allSatisfy({ HTTPGrammar.isTokenByte[Int($0)] }) else {
            throw CookieError("the cookie name '\(name)' is not a token")
        }
        var octets = Substring(value)
        if octets.count >= 2, octets.first == "\"", octets.last == "\"" { octets = octets.dropFirst().dropLast() }
        guard octets.utf8.allSatisfy(Self.isCookieOctet) else {
            throw CookieError("the value of cookie \(name) holds a character a cookie cannot carry (space, \", comma, ;, \\ or a control)")
        }
        if let domain {
            guard !domain.isEmpty, domain.utf8.allSatisfy({ Self.isDomainByte($0) }) else {
                throw CookieError("the domain of cookie \(name) is not a host name")
            }
        }
        if let path {
            guard path.hasPrefix("/"), path.utf8.allSatisfy({ $0 >= 0x20 && $0 < 0x7F && $0 != UInt8(ascii: ";") }) else {
                throw CookieError("the path of cookie \(name) must start with / and hold printable ASCII without ;")
            }
        }
        if sameSite == SameSite.none && !secure { throw CookieError("cookie \(name): SameSite=None needs Secure (browsers drop it otherwise)") }
        if partitioned && !secure { throw CookieError("cookie \(name): Partitioned needs Secure") }
        if name.hasPrefix("__Secure-") && !secure { throw CookieError("cookie \(name): the __Secure- prefix needs Secure") }
        if name.hasPrefix("__Host-") && (!secure || domain != nil || path != "/") {
            throw CookieError("cookie \(name): the __Host- prefix needs Secure, Path=/ and no Domain")
        }
        self.name = name
        self.value = value
        self.expires = expires
        self.maxAge = maxAge
        self.domain = domain
        self.path = path
        self.secure = secure
        self.httpOnly = httpOnly
        self.sameSite = sameSite
        self.partitioned = partitioned
    }

    /// A cookie that deletes `name` on the client (an empty value, `Max-Age=0`, and an expiry in the past);
    /// give the same domain and path it was set with.
    ///
    /// - Parameters:
    ///   - name: the cookie's name.
    ///   - domain: its domain, if it was set with one.
    ///   - path: its path, if it was set with one.
    /// - Returns: the cookie.
    /// - Throws: ``CookieError`` as ``init(name:value:expires:maxAge:domain:path:secure:httpOnly:sameSite:partitioned:)``.
    public static func deleting(_ name: String, domain: String? = nil, path: String? = nil) throws -> SetCookie {
        try SetCookie(name: name, value: "", expires: Date(timeIntervalSince1970: 0), maxAge: 0, domain: domain, path: path,
                      secure: name.hasPrefix("__Secure-") || name.hasPrefix("__Host-"))
    }

    /// The `Set-Cookie` field value.
    public var fieldValue: String {
        var out = "\(name)=\(value)"
        if let expires { out += "; Expires=" + HTTPDate.format(Int(expires.timeIntervalSince1970.rounded(.down))) }
        if let maxAge { out += "; Max-Age=\(maxAge)" }
        if let domain { out += "; Domain=\(domain)" }
        if let path { out += "; Path=\(path)" }
        if secure { out += "; Secure" }
        if httpOnly { out += "; HttpOnly" }
        if let sameSite { out += "; SameSite=\(sameSite.rawValue)" }
        if partitioned { out += "; Partitioned" }
        return out
    }

    /// RFC 6265 §4.1.1 cookie-octet.
    static func isCookieOctet(_ b: UInt8) -> Bool {
        b == 0x21 || (0x23...0x2B).contains(b) || (0x2D...0x3A).contains(b) || (0x3C...0x5B).contains(b) || (0x5D...0x7E).contains(b)
    }

    static func isDomainByte(_ b: UInt8) -> Bool {
        (b >= UInt8(ascii: "a") && b <= UInt8(ascii: "z")) || (b >= UInt8(ascii: "A") && b <= UInt8(ascii: "Z"))
            || (b >= UInt8(ascii: "0") && b <= UInt8(ascii: "9")) || b == UInt8(ascii: "-") || b == UInt8(ascii: ".")
    }
}

extension Response {
    /// Adds a `Set-Cookie` field (each cookie its own field, never joined: RFC 6265 §3).
    ///
    /// - Parameter cookie: the cookie.
    public mutating func setCookie(_ cookie: SetCookie) {
        headerFields.append(HTTPField(name: .setCookie, value: cookie.fieldValue))
    }
}

/// A cookie that cannot be set as asked.
public struct CookieError: Error, CustomStringConvertible, Sendable {
    /// What is wrong.
    public let description: String
    init(_ description: String) { self.description = description }
}
