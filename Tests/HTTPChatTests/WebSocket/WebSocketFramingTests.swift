import HTTPTypes
import NIOCore
import Testing

@testable import HTTPChatCore
@testable import HTTPChatServer
import HTTPChatTesting

/// A client frame's bytes, built by hand so that tests can make the frames a good client never would.
func clientFrame(
    _ first: UInt8, _ payload: [UInt8], masked: Bool = true, length: LengthForm = .shortest,
    mask: [UInt8] = [0xA1, 0x02, 0xFE, 0x47]
) -> [UInt8] {
    var out: [UInt8] = [first]
    let maskBit: UInt8 = masked ? 0x80 : 0
    let n = payload.count
    switch length {
    case .shortest where n <= 125: out.append(maskBit | UInt8(n))
    case .shortest where n <= 0xFFFF, .sixteen:
        out.append(maskBit | 126)
        out += [UInt8(n >> 8 & 0xFF), UInt8(n & 0xFF)]
    case .shortest, .sixtyFour:
        out.append(maskBit | 127)
        out += (0..<8).reversed().map { UInt8(UInt64(n) >> (8 * UInt64($0)) & 0xFF) }
    case .raw(let bytes):
        out.append(maskBit | bytes[0])
        out += bytes.dropFirst()
    }
    if masked {
        out += mask
        out += payload.enumerated().map { $0.element ^ mask[$0.offset & 3] }
    } else {
        out += payload
    }
    return out
}

enum LengthForm {
    case shortest, sixteen, sixtyFour
    /// The 7-bit length byte (without the mask bit) and any extended bytes, as given.
    case raw([UInt8])
}

/// FIN with an opcode.
func fin(_ opcode: UInt8) -> UInt8 { 0x80 | opcode }

@Suite("WebSocket framing")
struct WebSocketFramingTests {
    static let stream: [UInt8] =
        clientFrame(fin(0x1), Array("héllo".utf8))
        + clientFrame(0x02, [1, 2, 3])                      // binary, not final
        + clientFrame(fin(0x9), Array("ping!".utf8))        // a ping between fragments
        + clientFrame(0x00, [4, 5])
        + clientFrame(fin(0x0), [6])
        + clientFrame(fin(0x1), [UInt8](repeating: 0x61, count: 300))     // a 16-bit length
        + clientFrame(fin(0x2), [UInt8](repeating: 7, count: 70_000))     // a 64-bit length
        + clientFrame(fin(0xA), [])
        + clientFrame(fin(0x1), [])                          // an empty text message
        + clientFrame(fin(0x8), [0x03, 0xE8] + Array("bye".utf8))

    static let expected: [DecodedWebSocketEvent] = [
        .message(.text("héllo")),
        .ping(Array("ping!".utf8)),
        .message(.binary(ByteBuffer(bytes: [1, 2, 3, 4, 5, 6]))),
        .message(.text(String(repeating: "a", count: 300))),
        .message(.binary(ByteBuffer(bytes: [UInt8](repeating: 7, count: 70_000)))),
        .pong([]),
        .message(.text("")),
        .close(.normalClosure, "bye"),
    ]

    @Test("a stream of frames reads the same at every split point: fragments joined, a ping between them, every length form")
    func everySplitPoint() {
        #expect(decodeWebSocketStream([ByteBuffer(bytes: Self.stream)]).events == Self.expected)
        var cut = 1
        while cut < Self.stream.count {
            let run = decodeWebSocketStream([ByteBuffer(bytes: Self.stream[..<cut]), ByteBuffer(bytes: Self.stream[cut...])])
            #expect(run.error == nil && run.events == Self.expected, "cut at \(cut): \(run.events) \(String(describing: run.error))")
            if run.events != Self.expected { break }
            // Every byte in the headers; then larger steps through the 70,000-byte payload.
            cut += cut < 400 || cut > Self.stream.count - 64 ? 1 : 997
        }
        let bytewise = decodeWebSocketStream(Self.stream.map { ByteBuffer(bytes: [$0]) })
        #expect(bytewise.events == Self.expected)
    }

    /// Frames RFC 6455 says a server must refuse, with the close code each gets.
    static let invalid: [(String, [UInt8], UInt16)] = [
        ("an unmasked frame", clientFrame(fin(0x1), Array("hi".utf8), masked: false), 1002),
        ("RSV1 without permessage-deflate", clientFrame(0x80 | 0x40 | 0x1, Array("hi".utf8)), 1002),
        ("RSV2", clientFrame(0x80 | 0x20 | 0x1, []), 1002),
        ("RSV3", clientFrame(0x80 | 0x10 | 0x2, []), 1002),
        ("reserved opcode 3", clientFrame(fin(0x3), []), 1002),
        ("reserved control opcode 0xB", clientFrame(fin(0xB), []), 1002),
        ("a ping of 126 bytes", clientFrame(fin(0x9), [UInt8](repeating: 0, count: 126)), 1002),
        ("a fragmented ping", clientFrame(0x09, []), 1002),
        ("a close of one byte", clientFrame(fin(0x8), [0x03]), 1002),
        ("close code 1005 (never sent)", clientFrame(fin(0x8), [0x03, 0xED]), 1002),
        ("close code 999", clientFrame(fin(0x8), [0x03, 0xE7]), 1002),
        ("close code 1004 (reserved)", clientFrame(fin(0x8), [0x03, 0xEC]), 1002),
        ("close code 2999", clientFrame(fin(0x8), [0x0B, 0xB7]), 1002),
        ("close code 5000", clientFrame(fin(0x8), [0x13, 0x88]), 1002),
        ("a close reason that is not UTF-8", clientFrame(fin(0x8), [0x03, 0xE8, 0xC0, 0x80]), 1007),
        ("text that is not UTF-8 (an overlong NUL)", clientFrame(fin(0x1), [0xC0, 0x80]), 1007),
        ("text with a surrogate", clientFrame(fin(0x1), [0xED, 0xA0, 0x80]), 1007),
        ("text above U+10FFFF", clientFrame(fin(0x1), [0xF4, 0x90, 0x80, 0x80]), 1007),
        ("text ending mid-character", clientFrame(fin(0x1), [0x61, 0xE2, 0x82]), 1007),
        ("a continuation with no message", clientFrame(fin(0x0), [1]), 1002),
        ("a new message inside a fragmented one", clientFrame(0x01, [0x61]) + clientFrame(fin(0x1), [0x62]), 1002),
        ("a 16-bit length under 126", clientFrame(fin(0x2), [1, 2], length: .sixteen), 1002),
        ("a 64-bit length under 65,536", clientFrame(fin(0x2), [1, 2], length: .sixtyFour), 1002),
        ("a 64-bit length with its top bit set", clientFrame(fin(0x2), [], length: .raw([127, 0x80, 0, 0, 0, 0, 0, 0, 1])), 1002),
        ("a frame over the frame limit", clientFrame(fin(0x2), [], length: .raw([127, 0, 0, 0, 1, 0, 0, 0, 0])), 1009),
        ("a message over the message limit, in fragments",
         clientFrame(0x02, [UInt8](repeating: 0, count: 60_000)) + clientFrame(fin(0x0), [UInt8](repeating: 0, count: 60_000)), 1009),
    ]

    @Test("every frame a server must refuse is refused with its close code, at every split point", arguments: invalid.indices)
    func refusals(index: Int) {
        let (name, bytes, code) = Self.invalid[index]
        // Short inputs at every split (and every pair of splits); the two 60,000-byte fragments at every cut
        // through their headers and every 997th byte between.
        let cuts = bytes.count <= 256 ? splits(of: bytes, pairsUpTo: 24)
            : [[ByteBuffer(bytes: bytes)]] + (Array(1..<24) + Array(stride(from: 24, to: bytes.count, by: 997)) + Array(60_000..<60_024))
                .map { [ByteBuffer(bytes: bytes[..<$0]), ByteBuffer(bytes: bytes[$0...])] }
        for reads in cuts {
            let run = decodeWebSocketStream(reads, maxFrameBytes: 100_000, maxMessageBytes: 100_000)
            #expect(run.error?.code.rawValue == code, "\(name): \(String(describing: run.error)) \(run.events)")
        }
    }

    @Test("invalid UTF-8 is refused at the frame that holds it, before the message ends (fail fast)")
    func utf8FailsFast() {
        let first = clientFrame(0x01, Array("ok so far ".utf8) + [0xE2, 0x82])  // a character cut across frames: fine
        let second = clientFrame(0x00, [0xAC] + Array(" then ".utf8) + [0xFF])      // 0xFF: never UTF-8
        let run = decodeWebSocketStream([ByteBuffer(bytes: first + second)])
        #expect(run.error?.code == .invalidPayload)
        let good = decodeWebSocketStream([ByteBuffer(bytes: first + clientFrame(fin(0x0), [0xAC]))])
        #expect(good.events == [.message(.text("ok so far €"))])
    }

    @Test("the UTF-8 check agrees with Swift's decoding on every 1-3 byte sequence, whole and cut anywhere")
    func utf8AgreesWithSwift() {
        var sequences: [[UInt8]] = (0...255).map { [UInt8($0)] }
        for a in UInt8(0xC0)...0xFF { for b in stride(from: 0, through: 255, by: 3) { sequences.append([a, UInt8(b)]) } }
        for a in UInt8(0xE0)...0xF4 { for b in stride(from: 0x70, through: 0xC0, by: 5) { sequences.append([a, UInt8(b), 0x80]) } }
        sequences.append([0xF0, 0x9F, 0x98, 0x80])  // 😀
        for bytes in sequences {
            let swift = String(validating: bytes, as: UTF8.self) != nil
            var whole = UTF8Validator()
            let ours = whole.take(bytes) && whole.isComplete
            #expect(ours == swift, "\(bytes.map { String($0, radix: 16) })")
            for cut in 1..<max(bytes.count, 1) {
                var split = UTF8Validator()
                let cutResult = split.take(bytes[..<cut]) && split.take(bytes[cut...]) && split.isComplete
                #expect(cutResult == swift)
            }
        }
    }

    @Test("server frames use the shortest length, no mask; a masked client frame decodes back")
    func encoding() {
        #expect(Array(WebSocketFrame(opcode: .text, payload: ByteBuffer(string: "hi")).serverBytes.readableBytesView) == [0x81, 0x02, 0x68, 0x69])
        let medium = WebSocketFrame(opcode: .binary, payload: ByteBuffer(repeating: 1, count: 200)).serverBytes
        #expect(Array(medium.readableBytesView.prefix(4)) == [0x82, 126, 0x00, 200])
        let large = WebSocketFrame(fin: false, opcode: .binary, payload: ByteBuffer(repeating: 1, count: 70_000)).serverBytes
        #expect(Array(large.readableBytesView.prefix(10)) == [0x02, 127, 0, 0, 0, 0, 0, 0x01, 0x11, 0x70])
        var masked = ByteBuffer()
        WebSocketFrame(opcode: .text, payload: ByteBuffer(string: "Hello")).write(into: &masked, mask: (0x37, 0xFA, 0x21, 0x3D))
        // RFC 6455 §5.7's example: a masked "Hello".
        #expect(Array(masked.readableBytesView) == [0x81, 0x85, 0x37, 0xFA, 0x21, 0x3D, 0x7F, 0x9F, 0x4D, 0x51, 0x58])
        #expect(decodeWebSocketStream([masked]).events == [.message(.text("Hello"))])
    }

    @Test("permessage-deflate: compressed messages inflate, fragmented or whole, with context taken over")
    func deflateRoundTrip() {
        let deflater = MessageDeflater(windowBits: 15, contextTakeover: true)
        let text = String(repeating: "the quick brown fox ", count: 200)
        let first = Array(deflater.compress(ByteBuffer(string: text)).readableBytesView)
        let second = Array(deflater.compress(ByteBuffer(string: text)).readableBytesView)  // refers back to the first
        #expect(first.count < text.utf8.count / 10)
        #expect(second.count < first.count)
        let half = first.count / 2
        let bytes = clientFrame(0x80 | 0x40 | 0x1, first)
            + clientFrame(0x40 | 0x1, Array(second[..<half])) + clientFrame(fin(0x0), Array(second[half...]))
        for reads in [[ByteBuffer(bytes: bytes)], bytes.map { ByteBuffer(bytes: [$0]) }] {
            let run = decodeWebSocketStream(reads, compressed: true)
            #expect(run.error == nil)
            #expect(run.events == [.message(.text(text)), .message(.text(text))])
        }
    }

    @Test("unmasking eight bytes at a time agrees with the byte-by-byte XOR of RFC 6455 §5.3 for every length and offset")
    func unmaskAgrees() {
        let mask: [UInt8] = [0x9C, 0x01, 0x7F, 0xE3]
        let key = UInt32(mask[0]) << 24 | UInt32(mask[1]) << 16 | UInt32(mask[2]) << 8 | UInt32(mask[3])
        for length in 0...40 {
            for offset in 0..<3 {  // unaligned starts too
                let plain = (0..<length).map { UInt8(truncatingIfNeeded: $0 &* 37 &+ offset) }
                var storage = [UInt8](repeating: 0xEE, count: offset) + plain.enumerated().map { $1 ^ mask[$0 & 3] } + [0xEE]
                storage.withUnsafeMutableBytes { all in
                    WebSocketFrameDecoder.unmask(UnsafeMutableRawBufferPointer(rebasing: all[offset..<(offset + length)]), mask: key)
                }
                #expect(Array(storage[offset..<(offset + length)]) == plain, "length \(length) offset \(offset)")
                #expect(storage.last == 0xEE && storage.prefix(offset).allSatisfy { $0 == 0xEE }, "wrote outside the payload")
                // Out of place, into storage of its own (a payload that shared a large read buffer).
                let masked = plain.enumerated().map { $1 ^ mask[$0 & 3] }
                var target = [UInt8](repeating: 0xEE, count: offset + length + 1)
                masked.withUnsafeBytes { source in
                    target.withUnsafeMutableBytes { all in
                        WebSocketFrameDecoder.unmask(
                            source, into: UnsafeMutableRawBufferPointer(rebasing: all[offset..<(offset + length)]), mask: key
                        )
                    }
                }
                #expect(Array(target[offset..<(offset + length)]) == plain, "out of place: length \(length) offset \(offset)")
                #expect(target.last == 0xEE && target.prefix(offset).allSatisfy { $0 == 0xEE }, "wrote outside the target")
            }
        }
    }

    @Test("a small message taken from a large read buffer gets storage of its own size: it does not keep the read buffer alive")
    func smallPayloadDoesNotPinTheReadBuffer() throws {
        var read = ByteBufferAllocator().buffer(capacity: 64 * 1024)
        read.writeBytes(clientFrame(fin(0x2), [1, 2, 3, 4, 5]))
        var decoder = WebSocketFrameDecoder(maxFrameBytes: 1 << 20)
        var frame: WebSocketFrame?
        while frame == nil {
            guard case .count(let n) = decoder.terminator, var piece = read.readSlice(length: n) else {
                Issue.record("the frame did not decode")
                return
            }
            if read.readableBytes == 0 { read = ByteBuffer() }  // as the framer lets go of a drained read buffer
            decoder.collect(piece)
            piece = ByteBuffer()
            frame = try decoder.terminatorFound()
        }
        #expect(frame.map { Array($0.payload.readableBytesView) } == [1, 2, 3, 4, 5])
        #expect((frame?.payload.storageCapacity ?? .max) < 1024, "\(frame?.payload.storageCapacity ?? 0) bytes held")
    }

    @Test("a decompression bomb stops at the message limit: 64 KiB of zeros in, 1009 out, memory bounded by the limit")
    func deflateBomb() {
        let deflater = MessageDeflater(windowBits: 15, contextTakeover: false)
        let bomb = Array(deflater.compress(ByteBuffer(repeating: 0, count: 200 << 20)).readableBytesView)  // 200 MiB of zeros
        #expect(bomb.count < 256 * 1024)
        let run = decodeWebSocketStream([ByteBuffer(bytes: clientFrame(0x80 | 0x40 | 0x2, bomb))],
                                        maxFrameBytes: 1 << 20, maxMessageBytes: 1 << 20, compressed: true)
        #expect(run.error?.code == .messageTooBig)
        let garbage = decodeWebSocketStream([ByteBuffer(bytes: clientFrame(0x80 | 0x40 | 0x2, [0xFF, 0xFF, 0xFF, 0xFF]))], compressed: true)
        #expect(garbage.error?.code == .invalidPayload)
    }
}

@Suite("WebSocket handshake")
struct WebSocketHandshakeTests {
    private func request(_ fields: [String: String], method: HTTPRequest.Method = .get, version: HTTPVersion = .http1_1) -> Request {
        var headerFields = HTTPFields()
        for (name, value) in fields.sorted(by: { $0.key < $1.key }) { headerFields.append(HTTPField(name: HTTPField.Name(name)!, value: value)) }
        return Request(method: method, target: "/ws", version: version, headerFields: headerFields)
    }

    private let valid = ["Upgrade": "websocket", "Connection": "keep-alive, Upgrade", "Sec-WebSocket-Version": "13",
                         "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ=="]

    @Test("RFC 6455's example key gives its accept value; subprotocols are chosen in the server's order")
    func accepts() throws {
        var fields = valid
        fields["Sec-WebSocket-Protocol"] = "chat.v1, chat.v2"
        let handshake = try WebSocketHandshake.negotiate(request(fields), subprotocols: ["chat.v2", "chat.v1"], compression: true)
        #expect(handshake.accept == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=")
        #expect(handshake.subprotocol == "chat.v2")
        #expect(handshake.deflate == nil)
        #expect(try WebSocketHandshake.negotiate(request(valid), subprotocols: ["x"], compression: true).subprotocol == nil)
        #expect(SHA1.digest(Array("abc".utf8)).map { String(format: "%02x", $0) }.joined() == "a9993e364706816aba3e25717850c26c9cd0d89d")
        #expect(Base64.encode(Array("any carnal pleas".utf8)) == "YW55IGNhcm5hbCBwbGVhcw==")
    }

    @Test("a request that is no handshake is 426 with Upgrade; a malformed one 400; another version 426 with the version")
    func refusals() {
        func status(_ fields: [String: String], method: HTTPRequest.Method = .get, version: HTTPVersion = .http1_1) -> (Int, HTTPFields)? {
            do {
                _ = try WebSocketHandshake.negotiate(request(fields, method: method, version: version), subprotocols: [], compression: true)
                return nil
            } catch {
                return (error.status.code, error.headerFields)
            }
        }
        #expect(status([:])?.0 == 426)
        #expect(status([:])?.1[HTTPField.Name("Upgrade")!] == "websocket")
        #expect(status(valid, method: .post)?.0 == 400)
        #expect(status(valid, version: .http1_0)?.0 == 400)
        var noConnection = valid
        noConnection["Connection"] = "keep-alive"
        #expect(status(noConnection)?.0 == 400)
        var closing = valid
        closing["Connection"] = "close, Upgrade"
        #expect(status(closing)?.0 == 400)  // not the connection's 500 for an upgrade it cannot make
        // Tokens are compared on bytes: a Kelvin sign is no k, and a scalar glued to a comma hides nothing.
        var kelvin = valid
        kelvin["Upgrade"] = "websoc\u{212A}et"
        #expect(status(kelvin)?.0 == 426, "an Upgrade only lowercased() reads as websocket was taken for one")
        var glued = valid
        glued["Connection"] = "Upgrade, x\u{0600},close"
        #expect(status(glued)?.0 == 400, "a close token after a glued comma was missed")
        var version8 = valid
        version8["Sec-WebSocket-Version"] = "8"
        #expect(status(version8)?.0 == 426)
        #expect(status(version8)?.1[HTTPField.Name("Sec-WebSocket-Version")!] == "13")
        for key in ["", "short", "dGhlIHNhbXBsZSBub25jZQ", "dGhlIHNhbXBsZSBub25jZQ==x", "AAAAAAAAAAAAAAAAAAAAAAAA"] {
            var bad = valid
            bad["Sec-WebSocket-Key"] = key
            #expect(status(bad)?.0 == 400, "key \(key)")
        }
    }

    @Test("permessage-deflate offers are accepted, parameters echoed, and offers with unknown or bad parameters declined", arguments: [
        ("permessage-deflate", "permessage-deflate"),
        ("permessage-deflate; client_max_window_bits", "permessage-deflate"),
        ("permessage-deflate; client_max_window_bits=10", "permessage-deflate; client_max_window_bits=10"),
        ("permessage-deflate; server_no_context_takeover; client_no_context_takeover",
         "permessage-deflate; server_no_context_takeover; client_no_context_takeover"),
        ("permessage-deflate; server_max_window_bits=12", "permessage-deflate; server_max_window_bits=12"),
        ("permessage-deflate; server_max_window_bits=8", nil),
        ("permessage-deflate; server_max_window_bits=8, permessage-deflate", "permessage-deflate"),
        ("permessage-deflate; server_max_window_bits=016", nil),
        ("permessage-deflate; mystery=1", nil),
        ("permessage-deflate; server_no_context_takeover; server_no_context_takeover", nil),
        ("x-webkit-deflate-frame", nil),
    ] as [(String, String?)])
    func extensions(offer: String, answer: String?) {
        #expect(PerMessageDeflate.accept([offer])?.responseValue == answer)
    }
}
