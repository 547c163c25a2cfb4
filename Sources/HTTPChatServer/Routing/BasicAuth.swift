import HTTPTypes

/// Middleware for HTTP Basic authentication (RFC 7617): requests without a valid `Authorization: Basic`
/// for one of the configured users are answered `401` with a `WWW-Authenticate` challenge. Passwords are kept
/// as SHA-256 digests and compared in constant time (every user is checked, whatever matched), so neither
/// timing nor an early exit tells a guesser how close they came. The password never reaches a log: the
/// middleware does not log, and ``AccessLog`` writes no `Authorization`.
///
/// Over plain HTTP the password crosses the network readable: use it with HTTPS (``TLSSettings``).
///
/// ```swift
/// let auth = try BasicAuth(["alice:wonderland", "bob:sha256:" + hexDigestOfBobsPassword])
/// let site = files.wrapped(in: [auth])
/// ```
public struct BasicAuth: HTTPMiddleware {
    /// A user and the SHA-256 of their password.
    public struct User: Sendable, Hashable {
        /// The user name (no `:`).
        public let name: String
        let digest: [UInt8]

        /// A user with a password given in clear.
        ///
        /// - Parameters:
        ///   - name: the user name.
        ///   - password: the password; only its digest is kept.
        public init(name: String, password: String) {
            self.name = name
            self.digest = SHA256.digest(Array(password.utf8))
        }

        /// A user with the hex SHA-256 of their password (`printf %s PASSWORD | sha256sum`).
        ///
        /// - Parameters:
        ///   - name: the user name.
        ///   - sha256Hex: 64 hex digits.
        /// - Throws: ``BasicAuthError`` when the digest is not 64 hex digits.
        public init(name: String, sha256Hex: String) throws {
            let hex = Array(sha256Hex.utf8)
            guard hex.count == 64, let bytes = Self.decodeHex(hex) else {
                throw BasicAuthError("the SHA-256 of \(name)'s password must be 64 hex digits")
            }
            self.name = name
            self.digest = bytes
        }

        private static func decodeHex(_ hex: [UInt8]) -> [UInt8]? {
            func nibble(_ c: UInt8) -> UInt8? {
                switch c {
                case UInt8(ascii: "0")...UInt8(ascii: "9"): return c - UInt8(ascii: "0")
                case UInt8(ascii: "a")...UInt8(ascii: "f"): return c - UInt8(ascii: "a") + 10
                case UInt8(ascii: "A")...UInt8(ascii: "F"): return c - UInt8(ascii: "A") + 10
                default: return nil
                }
            }
            var out: [UInt8] = []
            for i in stride(from: 0, to: hex.count, by: 2) {
                guard let high = nibble(hex[i]), let low = nibble(hex[i + 1]) else { return nil }
                out.append(high << 4 | low)
            }
            return out
        }
    }

    /// Who may enter.
    public let users: [User]
    /// The realm named in the challenge.
    public let realm: String

    /// Users from `user:password` or `user:sha256:HEX` specifications (`httpserve --auth`).
    ///
    /// - Parameters:
    ///   - specifications: one per user.
    ///   - realm: the protection space's name (default `"restricted"`).
    /// - Throws: ``BasicAuthError`` for a specification without a `:`, an empty name, or a bad digest.
    public init(_ specifications: [String], realm: String = "restricted") throws {
        try self.init(users: specifications.map(Self.user), realm: realm)
    }

    /// The middleware for `users`.
    ///
    /// - Parameters:
    ///   - users: who may enter (at least one).
    ///   - realm: the protection space's name; printable ASCII without `"` or `\`.
    /// - Throws: ``BasicAuthError`` when there is no user or the realm cannot be quoted.
    public init(users: [User], realm: String = "restricted") throws {
        guard !users.isEmpty else { throw BasicAuthError("basic authentication needs at least one user") }
        guard realm.utf8.allSatisfy({ $0 >= 0x20 && $0 < 0x7F && $0 != UInt8(ascii: "\"") && $0 != UInt8(ascii: "\\") }) else {
            throw BasicAuthError("the realm must be printable ASCII without quotes or backslashes")
        }
        self.users = users
        self.realm = realm
    }

    /// One `user:password` or `user:sha256:HEX`, split at the first `:` byte (as a client's credentials are:
    /// split on `Character`s, a colon followed by a combining mark was not found).
    static func user(_ specification: String) throws -> User {
        let bytes = Array(specification.utf8)
        guard let colon = bytes.firstIndex(of: UInt8(ascii: ":")) else {
            throw BasicAuthError("'--auth' wants USER:PASSWORD or USER:sha256:HEX (no ':' found)")
        }
        let name = String(decoding: bytes[..<colon], as: UTF8.self)
        let secret = bytes[(colon + 1)...]
        guard !name.isEmpty else { throw BasicAuthError("the user name before ':' is empty") }
        if secret.starts(with: "sha256:".utf8) {
            return try User(name: name, sha256Hex: String(decoding: secret.dropFirst(7), as: UTF8.self))
        }
        return User(name: name, password: String(decoding: secret, as: UTF8.self))
    }

    /// `next`'s answer for a known user with the right password; 401 with a challenge otherwise.
    public func respond(to request: Request, next: any HTTPResponder) async throws -> Response {
        if let (name, password) = Self.credentials(request.headerFields), authenticate(name, password) {
            return try await next.respond(to: request)
        }
        var response = Response.text("Authentication required\n", status: .unauthorized)
        response.headerFields[.wwwAuthenticate] = "Basic realm=\"\(realm)\", charset=\"UTF-8\""
        return response
    }

    /// Whether `name` and `password` belong to a user. Every user is compared, in constant time each.
    func authenticate(_ name: [UInt8], _ password: [UInt8]) -> Bool {
        let digest = SHA256.digest(password)
        let nameDigest = SHA256.digest(name)
        var found = false
        for user in users {
            let nameMatches = SHA256.constantTimeEqual(SHA256.digest(Array(user.name.utf8)), nameDigest)
            let passwordMatches = SHA256.constantTimeEqual(user.digest, digest)
            found = found || (nameMatches && passwordMatches)
        }
        return found
    }

    /// The user-id and password of an `Authorization: Basic` field (RFC 7617 §2: the scheme is
    /// case-insensitive; the user-id is everything before the first `:`). Read on bytes, the scheme's letters
    /// folded as ASCII only.
    static func credentials(_ fields: HTTPFields) -> (name: [UInt8], password: [UInt8])? {
        guard let value = fields[.authorization] else { return nil }
        let bytes = Array(value.utf8)
        let space = UInt8(ascii: " ")
        guard let end = bytes.firstIndex(of: space),
            bytes[..<end].map({ $0 >= 0x41 && $0 <= 0x5A ? $0 + 0x20 : $0 }).elementsEqual("basic".utf8),
            let decoded = Base64.decode(bytes[end...].filter { $0 != space }),
            let colon = decoded.firstIndex(of: UInt8(ascii: ":"))
        else { return nil }
        return (Array(decoded[..<colon]), Array(decoded[(colon + 1)...]))
    }
}

/// A basic-authentication setting that cannot be used.
public struct BasicAuthError: Error, CustomStringConvertible, Sendable {
    /// What is wrong (never the password).
    public let description: String
    init(_ description: String) { self.description = description }
}

/// Standard base64 (RFC 4648 §4), strict: padding required, nothing outside the alphabet.
enum Base64 {
    static func decode(_ text: [UInt8]) -> [UInt8]? {
        guard text.count % 4 == 0 else { return nil }
        func value(_ c: UInt8) -> UInt8? {
            switch c {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"): return c - UInt8(ascii: "A")
            case UInt8(ascii: "a")...UInt8(ascii: "z"): return c - UInt8(ascii: "a") + 26
            case UInt8(ascii: "0")...UInt8(ascii: "9"): return c - UInt8(ascii: "0") + 52
            case UInt8(ascii: "+"): return 62
            case UInt8(ascii: "/"): return 63
            default: return nil
            }
        }
        var out: [UInt8] = []
        out.reserveCapacity(text.count / 4 * 3)
        for start in stride(from: 0, to: text.count, by: 4) {
            let quad = text[start..<start + 4]
            let padding = quad.reversed().prefix { $0 == UInt8(ascii: "=") }.count
            guard padding <= 2, start + 4 == text.count || padding == 0 else { return nil }
            var bits: UInt32 = 0
            for (i, c) in quad.enumerated() {
                if i >= 4 - padding {
                    bits <<= 6
                    continue
                }
                guard let v = value(c) else { return nil }
                bits = bits << 6 | UInt32(v)
            }
            out.append(UInt8(truncatingIfNeeded: bits >> 16))
            if padding < 2 { out.append(UInt8(truncatingIfNeeded: bits >> 8)) }
            if padding < 1 { out.append(UInt8(truncatingIfNeeded: bits)) }
        }
        return out
    }
}
