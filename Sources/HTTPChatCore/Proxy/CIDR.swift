public import NIOCore

/// An IP network in CIDR notation (RFC 4632, RFC 4291 §2.3): `10.0.0.0/8`, `2001:db8::/32`, or one address
/// (`127.0.0.1` is `127.0.0.1/32`). What `ServerConfiguration`'s trusted proxies are made of.
///
/// An IPv4 network also contains the IPv4-mapped IPv6 form of its addresses (`::ffff:10.1.2.3`), which is
/// how a listener on `::` sees IPv4 clients.
///
/// ```swift
/// let proxies = try [CIDR("10.0.0.0/8"), CIDR("::1")]
/// proxies.contains { $0.contains(try SocketAddress(ipAddress: "10.9.8.7", port: 0)) }  // true
/// ```
public struct CIDR: Sendable, Hashable, CustomStringConvertible {
    /// The network's address bytes, 4 or 16, with the bits past the prefix cleared.
    let network: [UInt8]
    /// How many leading bits name the network: 0-32 for IPv4, 0-128 for IPv6.
    public let prefixLength: Int

    /// Parses `address` or `address/prefix`.
    ///
    /// - Parameter text: an IPv4 or IPv6 address, optionally followed by `/` and a prefix length in decimal.
    /// - Throws: ``CIDRError`` when the address is not an IP literal (hex digits, `:` and `.` only: a zone such as `%eth0` is
    ///   refused), or the prefix is not a number within the address's width.
    public init(_ text: String) throws(CIDRError) {
        let parts = text.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false)
        guard let first = parts.first, let address = IPLiteral.address(first, port: 0),
            let bytes = Self.bytes(of: address)
        else { throw CIDRError(text: text, reason: "not an IP address") }
        let width = bytes.count * 8
        var prefix = width
        if parts.count == 2 {
            let digits = parts[1]
            guard !digits.isEmpty, digits.count <= 3, digits.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }),
                let n = Int(digits), n <= width
            else { throw CIDRError(text: text, reason: "the prefix length must be 0 to \(width)") }
            prefix = n
        }
        self.prefixLength = prefix
        self.network = Self.masked(bytes, prefix)
    }

    /// Whether `address` is inside the network. Addresses that are not IP (Unix sockets) are in none.
    ///
    /// - Parameter address: the address to test; its port is ignored.
    /// - Returns: true when its first ``prefixLength`` bits are the network's.
    public func contains(_ address: SocketAddress) -> Bool {
        guard var bytes = Self.bytes(of: address) else { return false }
        if network.count == 4, bytes.count == 16, bytes[0..<10].allSatisfy({ $0 == 0 }), bytes[10] == 0xFF, bytes[11] == 0xFF {
            bytes = Array(bytes[12...])  // IPv4-mapped IPv6 (RFC 4291 §2.5.5.2)
        }
        guard bytes.count == network.count else { return false }
        return Self.masked(bytes, prefixLength) == network
    }

    /// `address/prefix`, the network address in its usual form.
    public var description: String {
        let address = try? SocketAddress(packedIPAddress: ByteBuffer(bytes: network), port: 0)
        return "\(address?.ipAddress ?? "?")/\(prefixLength)"
    }

    /// Whether any of `networks` contains `address` (false for nil).
    package static func any(_ networks: [CIDR], contain address: SocketAddress?) -> Bool {
        guard let address else { return false }
        return networks.contains { $0.contains(address) }
    }

    /// The 4 or 16 bytes of an IP address.
    static func bytes(of address: SocketAddress) -> [UInt8]? {
        switch address {
        case .v4(let a):
            return withUnsafeBytes(of: a.address.sin_addr) { Array($0) }
        case .v6(let a):
            return withUnsafeBytes(of: a.address.sin6_addr) { Array($0) }
        case .unixDomainSocket:
            return nil
        }
    }

    private static func masked(_ bytes: [UInt8], _ prefix: Int) -> [UInt8] {
        var out = bytes
        for i in out.indices {
            let bitsHere = max(0, min(8, prefix - i * 8))
            out[i] &= bitsHere == 0 ? 0 : UInt8(truncatingIfNeeded: 0xFF << (8 - bitsHere))
        }
        return out
    }
}

/// A CIDR text that is not a network.
public struct CIDRError: Error, Hashable, CustomStringConvertible {
    /// The text given.
    public let text: String
    /// What is wrong with it.
    public let reason: String
    /// `'text' is not a network: reason`.
    public var description: String { "'\(text)' is not a network (CIDR such as 10.0.0.0/8 or ::1): \(reason)" }
}
