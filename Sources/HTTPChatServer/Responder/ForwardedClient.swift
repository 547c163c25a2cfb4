package import HTTPChatCore
package import HTTPTypes
package import NIOCore

/// What a trusted proxy's forwarding fields say about the client: `Forwarded` (RFC 7239) when the request
/// has one, else `X-Forwarded-For`, `X-Forwarded-Proto` and `X-Forwarded-Host`. Pure: fields in, facts out.
///
/// The hops are read from the right, where the trusted proxy nearest the server wrote: each trusted proxy's
/// address is passed over, and the first address that is not a trusted proxy is the client (the leftmost,
/// when every hop is trusted). Everything left of it is the client's own claim and is never read. A hop that
/// names no address (`unknown`, an obfuscated `_name`, or text that is not an IP) ends the walk too: the
/// client is then the trusted hop right of it, or stays the peer. `Forwarded`'s `proto` and `host` come from
/// the element that named the client; `X-Forwarded-Proto` and `-Host` from their rightmost value. A scheme
/// other than `http` or `https`, a host that is not a host name or IP literal with an optional port, or a
/// `Forwarded` field that does not parse, is not used.
package struct ForwardedClient: Sendable, Hashable {
    /// The client's address; nil: the peer stands.
    package var address: SocketAddress?
    /// `http` or `https`, as the client spoke to the first proxy.
    package var scheme: String?
    /// The host (and port) the client asked for.
    package var host: String?

    /// The facts in `fields`, read with `trusted` as the trusted proxies. Call only for a request whose peer
    /// is a trusted proxy.
    ///
    /// - Parameters:
    ///   - fields: the request's fields.
    ///   - trusted: the trusted proxies.
    /// - Returns: what the fields say, or nil when they say nothing usable.
    package static func resolve(_ fields: HTTPFields, trusted: [CIDR]) -> ForwardedClient? {
        let forwarded = fields[values: forwardedField]
        if !forwarded.isEmpty {
            guard let elements = parseForwarded(forwarded.joined(separator: ",")) else { return nil }
            let hops = elements.map { element in element["for"].flatMap(node) }
            guard let stop = walk(hops, trusted: trusted) else { return nil }
            let element = elements[stop.element]
            return made(address: stop.address, scheme: element["proto"], host: element["host"])
        }
        let hops = listElements(fields[values: forwardedForField]).map(node)
        let address = walk(hops, trusted: trusted)?.address
        let scheme = listElements(fields[values: forwardedProtoField]).last
        let host = listElements(fields[values: forwardedHostField]).last
        return made(address: address, scheme: scheme, host: host)
    }

    private static func made(address: SocketAddress?, scheme: String?, host: String?) -> ForwardedClient? {
        let scheme = scheme.map { $0.lowercased() }.flatMap { $0 == "http" || $0 == "https" ? $0 : nil }
        let host = host.flatMap { isAuthority($0) ? $0 : nil }
        guard address != nil || scheme != nil || host != nil else { return nil }
        return ForwardedClient(address: address, scheme: scheme, host: host)
    }

    /// Walks `hops` from the right past trusted proxies. Returns the index of the element that ended the walk
    /// and the client's address (nil when the rightmost hop names none).
    static func walk(_ hops: [SocketAddress?], trusted: [CIDR]) -> (element: Int, address: SocketAddress?)? {
        guard !hops.isEmpty else { return nil }
        var known: SocketAddress?
        var index = hops.count - 1
        while true {
            guard let address = hops[index] else { return (index, known) }  // the trusted hop right of it, if any
            if !CIDR.any(trusted, contain: address) || index == 0 { return (index, address) }
            known = address
            index -= 1
        }
    }

    // MARK: - Lists and nodes

    /// The elements of a comma-separated field's values (RFC 9110 §5.6.1), each without the OWS around it,
    /// split and trimmed on bytes: split on `Character`s, a comma after a grapheme-joining scalar (U+0600, a
    /// prepended mark, joins the next character) would not split, and a client could glue its own claim to
    /// the hop a proxy appended after it.
    static func listElements(_ values: [String]) -> [String] {
        values.flatMap { value in
            value.utf8.split(separator: comma, omittingEmptySubsequences: false).map { element in
                String(decoding: HTTPGrammar.trimmingOWS(element), as: UTF8.self)
            }
        }
    }

    /// An address in `for=` or `X-Forwarded-For`: `192.0.2.1`, `192.0.2.1:4711`, `2001:db8::1`, `[2001:db8::1]`,
    /// `[2001:db8::1]:4711` (RFC 7239 §6). Nil for `unknown`, obfuscated names, zoned IPv6 (`fe80::1%eth0`,
    /// which names no client) and anything else (``IPLiteral``). Read on bytes.
    static func node(_ text: String) -> SocketAddress? {
        var host = Array(text.utf8)[...]
        var port = 0
        if host.first == openBracket {
            guard let close = host.firstIndex(of: closeBracket) else { return nil }
            let after = host[(close + 1)...]
            if !after.isEmpty {
                guard after.first == colon, let p = portNumber(after.dropFirst()) else { return nil }
                port = p
            }
            host = host[(host.startIndex + 1)..<close]
            guard host.contains(colon) else { return nil }
        } else if host.count(where: { $0 == colon }) == 1, let at = host.firstIndex(of: colon) {
            guard let p = portNumber(host[(at + 1)...]) else { return nil }
            port = p
            host = host[..<at]
        }
        return IPLiteral.address(String(decoding: host, as: UTF8.self), port: port)
    }

    /// A host name or IP literal, with an optional port: nothing that could change a URL built from it.
    /// Decided on bytes: a bracketed literal must be an IPv6 address (``IPLiteral``: no zone; `Character`'s
    /// `isHexDigit` also took fullwidth digits), a name only ASCII letters, digits, `-` and `.`.
    static func isAuthority(_ text: String) -> Bool {
        var host = Array(text.utf8)[...]
        if host.first == openBracket {
            guard let close = host.firstIndex(of: closeBracket) else { return false }
            let inside = String(decoding: host[(host.startIndex + 1)..<close], as: UTF8.self)
            guard case .v6 = IPLiteral.address(inside, port: 0) else { return false }
            host = host[(close + 1)...]
            return host.isEmpty || (host.first == colon && portNumber(host.dropFirst()) != nil)
        }
        if let at = host.firstIndex(of: colon) {
            guard portNumber(host[(at + 1)...]) != nil else { return false }
            host = host[..<at]
        }
        return !host.isEmpty && host.count <= 253
            && host.allSatisfy { b in
                (b >= 0x61 && b <= 0x7A) || (b >= 0x41 && b <= 0x5A) || (b >= 0x30 && b <= 0x39) || b == 0x2D || b == 0x2E
            }
    }

    private static func portNumber(_ bytes: ArraySlice<UInt8>) -> Int? {
        ProxyHeaderParser.port(String(decoding: bytes, as: UTF8.self))
    }

    private static let comma = UInt8(ascii: ",")
    private static let colon = UInt8(ascii: ":")
    private static let openBracket = UInt8(ascii: "[")
    private static let closeBracket = UInt8(ascii: "]")

    // MARK: - Forwarded (RFC 7239 §4)

    /// `Forwarded`'s elements, each a dictionary of its lowercased parameter names to their values (quoted
    /// strings unquoted). Nil when the field does not follow the grammar, or an element repeats a parameter.
    static func parseForwarded(_ value: String) -> [[String: String]]? {
        var elements: [[String: String]] = []
        var current: [String: String] = [:]
        var bytes = Array(value.utf8)[...]
        func skipOWS() { while let b = bytes.first, b == 0x20 || b == 0x09 { bytes.removeFirst() } }
        skipOWS()
        while true {
            // forwarded-pair = token "=" value; an element may be empty (`for=a,,for=b`, `;`).
            if let b = bytes.first, isToken(b) {
                let name = String(decoding: bytes.prefix(while: isToken), as: UTF8.self).lowercased()
                bytes = bytes.drop(while: isToken)
                guard bytes.first == UInt8(ascii: "=") else { return nil }
                bytes.removeFirst()
                let parsed: String
                if bytes.first == UInt8(ascii: "\"") {
                    bytes.removeFirst()
                    var out: [UInt8] = []
                    while true {
                        guard let b = bytes.popFirst() else { return nil }
                        if b == UInt8(ascii: "\"") { break }
                        if b == UInt8(ascii: "\\") {
                            guard let escaped = bytes.popFirst() else { return nil }
                            out.append(escaped)
                        } else {
                            guard b == 0x09 || (b >= 0x20 && b != 0x7F) else { return nil }
                            out.append(b)
                        }
                    }
                    parsed = String(decoding: out, as: UTF8.self)
                } else {
                    let token = bytes.prefix(while: isToken)
                    guard !token.isEmpty else { return nil }
                    bytes = bytes.drop(while: isToken)
                    parsed = String(decoding: token, as: UTF8.self)
                }
                guard current[name] == nil else { return nil }
                current[name] = parsed
            }
            skipOWS()
            guard let separator = bytes.popFirst() else {
                elements.append(current)
                return elements
            }
            switch separator {
            case UInt8(ascii: ";"): break
            case UInt8(ascii: ","):
                elements.append(current)
                current = [:]
            default: return nil
            }
            skipOWS()
        }
    }

    private static func isToken(_ b: UInt8) -> Bool { HTTPGrammar.isTokenByte[Int(b)] }

    private static let forwardedField = HTTPField.Name("Forwarded")!
    private static let forwardedForField = HTTPField.Name("X-Forwarded-For")!
    private static let forwardedProtoField = HTTPField.Name("X-Forwarded-Proto")!
    private static let forwardedHostField = HTTPField.Name("X-Forwarded-Host")!
}
