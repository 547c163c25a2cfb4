public import NIOCore

/// Reads one PROXY protocol header, v1 or v2, from the frames a ``ChatFramer`` cuts with the terminators
/// this parser names (pure: bytes in, a ``ProxyHeader`` out; it never sees a socket).
///
/// The steps, each one terminator, so that not a byte past the header is consumed and what follows (the
/// HTTP request) stays in the framer for the next protocol:
/// 1. `.count(12)`: v2's 12-byte signature, or `PROXY ` and the first 6 bytes of a v1 line (the shortest
///    v1 line, `PROXY UNKNOWN\r\n`, is 15 bytes, so 12 never reach past it).
/// 2. v1: `.delimiter("\r\n")` for the rest of the line, held to 107 bytes in all (the spec's maximum).
///    v2: `.count(4)` for the version and command, the family and the length.
/// 3. v2: `.count(length)` for the addresses and the TLVs, held to ``maxV2Length``. TLVs are walked only to
///    check that each fits in the block, then skipped.
///
/// Anything else (no signature, a bad address or port, a version or command the spec does not define, a
/// line or block too long) throws ``ProxyHeaderError``.
///
/// ```swift
/// var parser = ProxyHeaderParser()
/// var framer = ChatFramer(terminator: parser.terminator)
/// framer.append(ByteBuffer(string: "PROXY TCP4 192.0.2.1 192.0.2.2 5000 80\r\nGET / HTTP/1.1\r\n"))
/// while let event = try framer.next() {
///     if case .data(let d) = event { try parser.collect(d) }
///     else if let header = try parser.terminatorFound() { print(header.source!); break }
///     else { framer.terminator = parser.terminator }
/// }
/// ```
public struct ProxyHeaderParser: Sendable {
    /// The longest v1 line, `PROXY` to CRLF (the spec's 107 bytes).
    public static let maxV1Length = 107
    /// v2's signature: `\r\n\r\n\0\r\nQUIT\n`.
    static let v2Signature: [UInt8] = [0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A]

    /// The most bytes of addresses and TLVs a v2 header may carry. The spec allows up to 65,535; addresses take
    /// at most 216 (Unix paths) and the TLVs HAProxy sends (ALPN, authority, SSL facts, unique ID) well under
    /// 2 KiB. Default 4096.
    public var maxV2Length: Int

    private enum Stage: Sendable {
        case start
        case v1
        case v2Fixed
        case v2Block(command: UInt8, family: UInt8)
        case done
    }

    private var stage = Stage.start
    private var collected: [UInt8] = []

    /// A parser at the start of a connection.
    ///
    /// - Parameter maxV2Length: the most bytes after v2's 16-byte fixed part (default 4096).
    public init(maxV2Length: Int = 4096) {
        precondition(maxV2Length >= 216, "maxV2Length must leave room for every address family (216 bytes)")
        self.maxV2Length = maxV2Length
    }

    /// The terminator for the next frame.
    public var terminator: Terminator {
        switch stage {
        case .start: .count(12)
        case .v1: .delimiter("\r\n")
        case .v2Fixed: .count(4)
        case .v2Block: .count(expectedBlockLength)
        case .done: .none
        }
    }

    private var expectedBlockLength = 0

    /// Bytes of the current frame.
    ///
    /// - Parameter data: the bytes the framer handed out.
    /// - Throws: ``ProxyHeaderError`` when a v1 line grows past 107 bytes.
    public mutating func collect(_ data: ByteBuffer) throws(ProxyHeaderError) {
        collected += data.readableBytesView
        if case .v1 = stage, 6 + collected.count + 2 > Self.maxV1Length {  // `PROXY `, the content, CRLF
            throw ProxyHeaderError("a v1 line longer than \(Self.maxV1Length) bytes")
        }
    }

    /// The current frame ended.
    ///
    /// - Returns: the header once it is complete; nil when another frame is needed (read ``terminator``).
    /// - Throws: ``ProxyHeaderError`` when the bytes are not a PROXY header.
    public mutating func terminatorFound() throws(ProxyHeaderError) -> ProxyHeader? {
        switch stage {
        case .start:
            if collected == Self.v2Signature {
                stage = .v2Fixed
            } else if collected.starts(with: Array("PROXY ".utf8)) {
                stage = .v1  // the 6 bytes after `PROXY ` stay collected: the start of the line's content
                collected.removeFirst(6)
                return nil
            } else {
                throw ProxyHeaderError("the connection does not start with a PROXY header")
            }
            collected = []
            return nil
        case .v1:
            let line = collected
            collected = []
            stage = .done
            return try Self.parseV1(line)
        case .v2Fixed:
            let (versionCommand, family) = (collected[0], collected[1])
            let length = Int(collected[2]) << 8 | Int(collected[3])
            collected = []
            guard versionCommand >> 4 == 2 else { throw ProxyHeaderError("version \(versionCommand >> 4) in a v2 header") }
            let command = versionCommand & 0x0F
            guard command <= 1 else { throw ProxyHeaderError("unknown v2 command \(command)") }
            guard length <= maxV2Length else { throw ProxyHeaderError("a v2 block of \(length) bytes, over \(maxV2Length)") }
            expectedBlockLength = length
            stage = .v2Block(command: command, family: family)
            if length == 0 { return try terminatorFound() }  // `.count(0)` would fire at once too
            return nil
        case .v2Block(let command, let family):
            let block = collected
            collected = []
            stage = .done
            return try Self.parseV2Block(block, command: command, family: family)
        case .done:
            return nil
        }
    }

    // MARK: - v1

    /// `TCP4 SRC DST SPORT DPORT`, `TCP6 ...` or `UNKNOWN ...` (the line without `PROXY ` and CRLF).
    static func parseV1(_ line: [UInt8]) throws(ProxyHeaderError) -> ProxyHeader {
        guard line.allSatisfy({ $0 >= 0x20 && $0 < 0x7F }) else { throw ProxyHeaderError("a control byte in a v1 line") }
        let words = line.split(separator: UInt8(ascii: " "), omittingEmptySubsequences: false).map { String(decoding: $0, as: UTF8.self) }
        // UNKNOWN: the rest of the line is ignored (the spec), and the connection's own addresses stand.
        if words.first == "UNKNOWN" { return ProxyHeader(version: .v1, source: nil, destination: nil) }
        guard words.count == 5, words[0] == "TCP4" || words[0] == "TCP6" else {
            throw ProxyHeaderError("a v1 line is TCP4, TCP6 or UNKNOWN with two addresses and two ports")
        }
        let wantsV6 = words[0] == "TCP6"
        guard let sourcePort = port(words[3]), let destinationPort = port(words[4]) else { throw ProxyHeaderError("a bad port in a v1 line") }
        let source = try address(words[1], port: sourcePort, v6: wantsV6)
        let destination = try address(words[2], port: destinationPort, v6: wantsV6)
        return ProxyHeader(version: .v1, source: source, destination: destination)
    }

    /// A decimal port, 0-65535, one to five digits.
    package static func port(_ text: String) -> Int? {
        guard !text.isEmpty, text.utf8.count <= 5, text.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }),
            let n = Int(text), n <= 65535
        else { return nil }
        return n
    }

    /// An IP literal of the line's family (`inet_pton`'s reading: no leading zeros in IPv4; no zone, as
    /// ``IPLiteral`` reads it).
    static func address(_ text: String, port: Int, v6: Bool) throws(ProxyHeaderError) -> SocketAddress {
        guard let address = IPLiteral.address(text, port: port) else {
            throw ProxyHeaderError("'\(text)' is not an IP address")
        }
        switch address {
        case .v4 where !v6, .v6 where v6: return address
        default: throw ProxyHeaderError("'\(text)' is not of the family the line names")
        }
    }

    // MARK: - v2

    /// The addresses (for `PROXY` over IPv4 or IPv6), then TLVs, which are checked to fit and skipped.
    static func parseV2Block(_ block: [UInt8], command: UInt8, family: UInt8) throws(ProxyHeaderError) -> ProxyHeader {
        let addressFamily = family >> 4, transport = family & 0x0F
        guard addressFamily <= 3, transport <= 2 else { throw ProxyHeaderError("unknown v2 family 0x\(String(family, radix: 16))") }
        // LOCAL: the proxy's own connection (a health check); the block, whatever it holds, is skipped.
        if command == 0 { return ProxyHeader(version: .v2, source: nil, destination: nil) }
        let addressLength: Int
        switch addressFamily {
        case 1: addressLength = 12  // IPv4: two addresses, two ports
        case 2: addressLength = 36  // IPv6
        case 3: addressLength = 216  // Unix: two 108-byte paths
        default: addressLength = 0  // UNSPEC
        }
        guard block.count >= addressLength else { throw ProxyHeaderError("a v2 block too short for its addresses") }
        try skipTLVs(block[addressLength...])
        // UNSPEC and UNIX name no IP client, and a datagram is not this connection: the peer stands.
        guard transport == 1, addressFamily == 1 || addressFamily == 2 else {
            return ProxyHeader(version: .v2, source: nil, destination: nil)
        }
        let width = addressFamily == 1 ? 4 : 16
        func port(at offset: Int) -> Int { Int(block[offset]) << 8 | Int(block[offset + 1]) }
        let source = try? SocketAddress(packedIPAddress: ByteBuffer(bytes: block[0..<width]), port: port(at: 2 * width))
        let destination = try? SocketAddress(packedIPAddress: ByteBuffer(bytes: block[width..<2 * width]), port: port(at: 2 * width + 2))
        guard let source, let destination else { throw ProxyHeaderError("bad v2 addresses") }
        return ProxyHeader(version: .v2, source: source, destination: destination)
    }

    /// Walks the type-length-value records after the addresses: each must fit in what is left.
    static func skipTLVs(_ rest: ArraySlice<UInt8>) throws(ProxyHeaderError) {
        var at = rest.startIndex
        while at < rest.endIndex {
            guard rest.endIndex - at >= 3 else { throw ProxyHeaderError("a truncated v2 TLV") }
            let length = Int(rest[at + 1]) << 8 | Int(rest[at + 2])
            guard rest.endIndex - at - 3 >= length else { throw ProxyHeaderError("a v2 TLV longer than the block") }
            at += 3 + length
        }
    }
}
