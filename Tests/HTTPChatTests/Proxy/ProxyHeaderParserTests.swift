import NIOCore
import Testing

@testable import HTTPChatCore

/// What reading a connection's first bytes with the parser gave: the header, or the error, and the bytes the
/// framer still holds after the header (what the protocol behind it reads).
struct ProxyRead {
    var header: ProxyHeader?
    var error: ProxyHeaderError?
    var rest: [UInt8] = []
}

/// Feeds `reads` through a framer with the terminators the parser names, as ``ProxyProtocolReader`` does.
func readProxyHeader(_ reads: [ByteBuffer], maxV2Length: Int = 4096) -> ProxyRead {
    var parser = ProxyHeaderParser(maxV2Length: maxV2Length)
    var framer = ChatFramer(terminator: parser.terminator, maxDelimitedLength: 64 * 1024)
    var out = ProxyRead()
    for read in reads {
        framer.append(read)
        while let event = try? framer.next() {
            if out.header != nil {
                if case .data(let bytes) = event { out.rest += bytes.readableBytesView }
                continue
            }
            do {
                switch event {
                case .data(let bytes):
                    try parser.collect(bytes)
                case .terminator:
                    if let header = try parser.terminatorFound() {
                        out.header = header
                        framer.terminator = .none
                    } else {
                        framer.terminator = parser.terminator
                    }
                }
            } catch {
                out.error = error
                return out
            }
        }
    }
    return out
}

/// A v2 header: the signature, version/command, family, length, then `block`.
func proxyV2(command: UInt8 = 0x21, family: UInt8, block: [UInt8]) -> [UInt8] {
    ProxyHeaderParser.v2Signature + [command, family, UInt8(block.count >> 8), UInt8(block.count & 0xFF)] + block
}

struct ValidProxyCase: Sendable, CustomStringConvertible {
    var name: String
    var bytes: [UInt8]
    var source: String?
    var sourcePort: Int?
    var destination: String?
    var version: ProxyHeader.Version
    var description: String { name }
}

let followingRequest = Array("GET / HTTP/1.1\r\nHost: x\r\n\r\n".utf8)

let validProxyCases: [ValidProxyCase] = [
    .init(name: "v1 TCP4", bytes: Array("PROXY TCP4 192.0.2.1 198.51.100.2 56324 443\r\n".utf8),
          source: "192.0.2.1", sourcePort: 56324, destination: "198.51.100.2", version: .v1),
    .init(name: "v1 TCP6", bytes: Array("PROXY TCP6 2001:db8::1 2001:db8::2 0 65535\r\n".utf8),
          source: "2001:db8::1", sourcePort: 0, destination: "2001:db8::2", version: .v1),
    .init(name: "v1 UNKNOWN", bytes: Array("PROXY UNKNOWN\r\n".utf8), version: .v1),
    .init(name: "v1 UNKNOWN at the spec's 107 bytes",
          bytes: Array("PROXY UNKNOWN ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 65535\r\n".utf8),
          version: .v1),
    .init(name: "v2 PROXY TCP4 with TLVs (ALPN, authority, NOOP padding)",
          bytes: proxyV2(family: 0x11, block: [203, 0, 113, 7, 10, 0, 0, 1, 0x1F, 0x90, 0x00, 0x50]
                         + [0x01, 0x00, 0x02] + Array("h2".utf8) + [0x02, 0x00, 0x04] + Array("a.io".utf8) + [0x04, 0x00, 0x00]),
          source: "203.0.113.7", sourcePort: 8080, destination: "10.0.0.1", version: .v2),
    .init(name: "v2 PROXY TCP6",
          bytes: proxyV2(family: 0x21, block: [0x20, 0x01, 0x0d, 0xb8] + [UInt8](repeating: 0, count: 11) + [5]
                         + [UInt8](repeating: 0, count: 15) + [1] + [0xFF, 0xFF, 0x01, 0xBB]),
          source: "2001:db8::5", sourcePort: 65535, destination: "::1", version: .v2),
    .init(name: "v2 LOCAL (a health check), no block", bytes: proxyV2(command: 0x20, family: 0x00, block: []), version: .v2),
    .init(name: "v2 LOCAL with addresses, ignored", bytes: proxyV2(command: 0x20, family: 0x11, block: [UInt8](repeating: 9, count: 12)), version: .v2),
    .init(name: "v2 PROXY UNSPEC", bytes: proxyV2(family: 0x00, block: []), version: .v2),
    .init(name: "v2 PROXY UNIX", bytes: proxyV2(family: 0x31, block: [UInt8](repeating: 0x61, count: 216)), version: .v2),
]

struct MalformedProxyCase: Sendable, CustomStringConvertible {
    var name: String
    var bytes: [UInt8]
    var description: String { name }
}

let malformedProxyCases: [MalformedProxyCase] = [
    .init(name: "plain HTTP, no header", bytes: followingRequest),
    .init(name: "a lowercase signature", bytes: Array("proxy TCP4 192.0.2.1 198.51.100.2 1 2\r\n".utf8)),
    .init(name: "v1 without a port", bytes: Array("PROXY TCP4 192.0.2.1 198.51.100.2 56324\r\n".utf8)),
    .init(name: "v1 with two spaces", bytes: Array("PROXY TCP4 192.0.2.1  198.51.100.2 1 2\r\n".utf8)),
    .init(name: "v1 with a trailing space", bytes: Array("PROXY TCP4 192.0.2.1 198.51.100.2 1 2 \r\n".utf8)),
    .init(name: "v1 TCP4 naming an IPv6 address", bytes: Array("PROXY TCP4 2001:db8::1 192.0.2.2 1 2\r\n".utf8)),
    .init(name: "v1 TCP6 naming an IPv4 address", bytes: Array("PROXY TCP6 192.0.2.1 2001:db8::2 1 2\r\n".utf8)),
    .init(name: "v1 port past 65535", bytes: Array("PROXY TCP4 192.0.2.1 198.51.100.2 65536 443\r\n".utf8)),
    .init(name: "v1 negative port", bytes: Array("PROXY TCP4 192.0.2.1 198.51.100.2 -1 443\r\n".utf8)),
    .init(name: "v1 host name for an address", bytes: Array("PROXY TCP4 example.com 198.51.100.2 1 443\r\n".utf8)),
    .init(name: "v1 address out of range", bytes: Array("PROXY TCP4 192.0.2.256 198.51.100.2 1 443\r\n".utf8)),
    .init(name: "v1 unknown protocol", bytes: Array("PROXY UDP4 192.0.2.1 198.51.100.2 1 2\r\n".utf8)),
    .init(name: "v1 bare LF", bytes: Array("PROXY TCP4 192.0.2.1 198.51.100.2 1 2\nGET / HTTP/1.1\r\n\r\n".utf8)),
    .init(name: "v1 NUL in the line", bytes: Array("PROXY TCP4 192.0.2.1\u{0}198.51.100.2 1 2\r\n".utf8)),
    .init(name: "v1 longer than 107 bytes", bytes: Array(("PROXY UNKNOWN " + String(repeating: "a", count: 200) + "\r\n").utf8)),
    .init(name: "v1 line of 108 bytes",
          bytes: Array("PROXY UNKNOWN ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 655355\r\n".utf8)),
    .init(name: "v1 TCP6 source with a zone", bytes: Array("PROXY TCP6 fe80::1%eth0 2001:db8::2 1 2\r\n".utf8)),
    .init(name: "v1 TCP6 source with %lo", bytes: Array("PROXY TCP6 fe80::1%lo 2001:db8::2 1 2\r\n".utf8)),
    .init(name: "v1 TCP6 source with a numeric zone", bytes: Array("PROXY TCP6 fe80::1%1 2001:db8::2 1 2\r\n".utf8)),
    .init(name: "v1 TCP6 destination with a zone", bytes: Array("PROXY TCP6 2001:db8::1 fe80::2%eth0 1 2\r\n".utf8)),
    .init(name: "v1 TCP4 with a zone", bytes: Array("PROXY TCP4 192.0.2.1%eth0 198.51.100.2 1 2\r\n".utf8)),
    .init(name: "v2 version 1", bytes: proxyV2(command: 0x11, family: 0x11, block: [UInt8](repeating: 1, count: 12))),
    .init(name: "v2 command 2", bytes: proxyV2(command: 0x22, family: 0x11, block: [UInt8](repeating: 1, count: 12))),
    .init(name: "v2 family 4", bytes: proxyV2(family: 0x41, block: [UInt8](repeating: 1, count: 12))),
    .init(name: "v2 transport 3", bytes: proxyV2(family: 0x13, block: [UInt8](repeating: 1, count: 12))),
    .init(name: "v2 block too short for IPv4", bytes: proxyV2(family: 0x11, block: [1, 2, 3, 4])),
    .init(name: "v2 block too short for IPv6", bytes: proxyV2(family: 0x21, block: [UInt8](repeating: 1, count: 12))),
    .init(name: "v2 TLV longer than the block", bytes: proxyV2(family: 0x11, block: [UInt8](repeating: 1, count: 12) + [0x01, 0x00, 0x09, 0x61])),
    .init(name: "v2 truncated TLV head", bytes: proxyV2(family: 0x11, block: [UInt8](repeating: 1, count: 12) + [0x01, 0x00])),
    .init(name: "v2 length over the bound", bytes: ProxyHeaderParser.v2Signature + [0x21, 0x11, 0x10, 0x01]),
    .init(name: "v2 signature with one byte wrong", bytes: [0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0B, 0x21, 0x00, 0x00, 0x00]),
]

@Suite("PROXY header parser")
struct ProxyHeaderParserTests {
    @Test("a valid v1 or v2 header is read at every split point, and every byte after it is left for HTTP", arguments: validProxyCases)
    func validAtEverySplit(_ c: ValidProxyCase) throws {
        for reads in splits(of: c.bytes + followingRequest, pairsUpTo: 40) {
            let out = readProxyHeader(reads)
            #expect(out.error == nil, "\(c.name): got \(String(describing: out.error)), want a header")
            let header = try #require(out.header, "\(c.name): no header from \(reads.map(\.readableBytes))")
            #expect(header.version == c.version)
            #expect(header.source?.ipAddress == c.source, "\(c.name): got \(String(describing: header.source)), want \(String(describing: c.source))")
            #expect(header.destination?.ipAddress == c.destination, "\(c.name): got \(String(describing: header.destination))")
            if let port = c.sourcePort { #expect(header.source?.port == port, "\(c.name): port") }
            #expect(out.rest == followingRequest, "\(c.name): got rest \(String(decoding: out.rest, as: UTF8.self).debugDescription)")
        }
    }

    @Test("a malformed header throws at every split point, before any byte after it is handed on", arguments: malformedProxyCases)
    func malformedAtEverySplit(_ c: MalformedProxyCase) {
        for reads in splits(of: c.bytes + followingRequest, pairsUpTo: 30) {
            let out = readProxyHeader(reads)
            #expect(out.header == nil && out.error != nil, "\(c.name): got header \(String(describing: out.header)), want an error (reads \(reads.map(\.readableBytes)))")
            #expect(out.rest.isEmpty, "\(c.name): bytes handed on after a bad header")
        }
    }

    @Test("a header cut short is neither read nor refused: the reader's timeout ends it", arguments: validProxyCases)
    func truncatedWaits(_ c: ValidProxyCase) {
        for length in 0..<c.bytes.count {
            let out = readProxyHeader([ByteBuffer(bytes: c.bytes[..<length])])
            #expect(out.header == nil && out.error == nil, "\(c.name) cut at \(length): got \(String(describing: out.header)) \(String(describing: out.error))")
        }
    }

    @Test("a v2 block of exactly maxV2Length bytes is read; one more is refused")
    func v2Bound() {
        let tlvs = { (n: Int) in [0x04, UInt8(n >> 8), UInt8(n & 0xFF)] + [UInt8](repeating: 0, count: n) }
        let addresses: [UInt8] = [192, 0, 2, 1, 192, 0, 2, 2, 0, 1, 0, 2]
        let atBound = proxyV2(family: 0x11, block: addresses + tlvs(300 - 12 - 3))
        let ok = readProxyHeader([ByteBuffer(bytes: atBound + followingRequest)], maxV2Length: 300)
        #expect(ok.header?.source?.ipAddress == "192.0.2.1", "\(String(describing: ok.error))")
        let over = proxyV2(family: 0x11, block: addresses + tlvs(301 - 12 - 3))
        let refused = readProxyHeader([ByteBuffer(bytes: over + followingRequest)], maxV2Length: 300)
        #expect(refused.header == nil && refused.error != nil)
    }
}
