package import NIOCore

/// IP address literals read strictly, the one reading PROXY headers, forwarding fields and trusted-proxy
/// networks share.
///
/// `SocketAddress(ipAddress:port:)` alone is lenient where a trust decision must not be: text with `%` goes
/// to `getaddrinfo`, which takes a zone (`fe80::1%eth0`, `%lo`, `%1`) and names another address than the
/// bytes say, and the text reaches `inet_pton` as a C string, so a NUL would end it early (`1.2.3.4\0junk`).
/// Here only the bytes an IPv4 dotted quad or an RFC 4291 §2.2 IPv6 text form can hold are let through
/// (digits, hex letters, `:` and `.`, at most 45 of them, `INET6_ADDRSTRLEN` less its NUL), decided on bytes;
/// `inet_pton` then checks the form.
package enum IPLiteral {
    /// The longest IPv6 text form (`ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255`).
    static let maxLength = 45

    /// The address `text` spells, or nil when it is not an IPv4 or IPv6 literal without a zone.
    ///
    /// - Parameters:
    ///   - text: the literal, without brackets or port.
    ///   - port: the port to give the address.
    /// - Returns: the address, or nil.
    package static func address<Text: StringProtocol>(_ text: Text, port: Int) -> SocketAddress? {
        let bytes = text.utf8
        guard !bytes.isEmpty, bytes.count <= maxLength, bytes.allSatisfy(isLiteralByte) else { return nil }
        return try? SocketAddress(ipAddress: String(text), port: port)
    }

    private static func isLiteralByte(_ b: UInt8) -> Bool {
        switch b {
        case UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "a")...UInt8(ascii: "f"),
            UInt8(ascii: "A")...UInt8(ascii: "F"), UInt8(ascii: ":"), UInt8(ascii: "."):
            true
        default:
            false
        }
    }
}
