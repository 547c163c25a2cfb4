import HTTPChatCore
import HTTPTypes

/// The server's side of the opening handshake (RFC 6455 §4.2): what a request must carry to be upgraded, and
/// the fields of the `101 Switching Protocols` that accepts it.
struct WebSocketHandshake: Sendable, Equatable {
    /// `Sec-WebSocket-Accept`: base64 of the SHA-1 of the key and RFC 6455's GUID.
    var accept: String
    /// The subprotocol chosen (`Sec-WebSocket-Protocol`), if any.
    var subprotocol: String?
    /// The permessage-deflate parameters agreed, if it was offered and accepted.
    var deflate: PerMessageDeflate?

    static let guid = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
    static let key = HTTPField.Name("Sec-WebSocket-Key")!
    static let version = HTTPField.Name("Sec-WebSocket-Version")!
    static let protocolField = HTTPField.Name("Sec-WebSocket-Protocol")!
    static let extensions = HTTPField.Name("Sec-WebSocket-Extensions")!
    static let acceptField = HTTPField.Name("Sec-WebSocket-Accept")!
    static let upgrade = HTTPField.Name("Upgrade")!

    /// Whether the request asks to become a WebSocket at all (`Upgrade: websocket`, a `Connection` with the
    /// `upgrade` token), as opposed to being a malformed attempt.
    static func isRequested(_ request: Request) -> Bool {
        // On bytes: `websoc\u{212A}et` (a Kelvin sign) is no `websocket`, though `lowercased()` made it one.
        HTTPGrammar.listElements(request.headerFields[values: upgrade]).contains { $0.elementsEqual("websocket".utf8) }
    }

    /// Checks the request and agrees on the subprotocol and extensions.
    ///
    /// - Parameters:
    ///   - request: the request.
    ///   - subprotocols: the server's subprotocols, preferred first.
    ///   - compression: whether permessage-deflate may be agreed.
    /// - Returns: the agreed handshake.
    /// - Throws: ``HTTPError`` 400 for a malformed handshake, 426 with `Sec-WebSocket-Version: 13` for another
    ///   version, 426 with `Upgrade: websocket` for a request that is no handshake at all.
    static func negotiate(_ request: Request, subprotocols: [String], compression: Bool) throws(HTTPError) -> WebSocketHandshake {
        guard isRequested(request) else {
            var fields = HTTPFields()
            fields[upgrade] = "websocket"
            fields[.connection] = "Upgrade"
            throw HTTPError(.init(code: 426, reasonPhrase: "Upgrade Required"), "a WebSocket handshake is expected here", headerFields: fields)
        }
        guard request.method == .get, request.version == .http1_1 else {
            throw HTTPError(.badRequest, "a WebSocket handshake is an HTTP/1.1 GET")
        }
        let connectionTokens = HTTPGrammar.listElements(request.headerFields[values: .connection])
        guard connectionTokens.contains(Array("upgrade".utf8)) else {
            throw HTTPError(.badRequest, "Connection must carry the upgrade token")
        }
        guard !connectionTokens.contains(Array("close".utf8)) else {
            // A client that asks for the connection to end cannot also ask for it to become a WebSocket.
            throw HTTPError(.badRequest, "Connection asks both to close and to upgrade")
        }
        let versions = request.headerFields[values: version]
        guard versions.count == 1, versions[0].trimmingOWSString() == "13" else {
            var fields = HTTPFields()
            fields[version] = "13"
            throw HTTPError(.init(code: 426, reasonPhrase: "Upgrade Required"), "only WebSocket version 13 is spoken", headerFields: fields)
        }
        let keys = request.headerFields[values: key]
        guard keys.count == 1, let decoded = Base64.decode(Array(keys[0].trimmingOWSString().utf8)), decoded.count == 16 else {
            throw HTTPError(.badRequest, "Sec-WebSocket-Key must be 16 bytes in base64")
        }
        let offered = request.headerFields[values: protocolField].flatMap { $0.split(separator: ",") }
            .map { String($0.trimmingOWS()) }
        let chosen = subprotocols.first { offered.contains($0) }
        let deflate = compression ? PerMessageDeflate.accept(request.headerFields[values: extensions]) : nil
        let digest = SHA1.digest(Array((String(keys[0].trimmingOWSString()) + guid).utf8))
        return WebSocketHandshake(accept: Base64.encode(digest), subprotocol: chosen, deflate: deflate)
    }

    /// The fields of the 101 (`Upgrade` and `Connection` are the connection's to write).
    var responseFields: HTTPFields {
        var fields = HTTPFields()
        fields[Self.upgrade] = "websocket"
        fields[Self.acceptField] = accept
        if let subprotocol { fields[Self.protocolField] = subprotocol }
        if let deflate { fields[Self.extensions] = deflate.responseValue }
        return fields
    }
}

/// permessage-deflate's agreed parameters (RFC 7692 §7.1).
struct PerMessageDeflate: Sendable, Equatable {
    /// The server drops its window after each message.
    var serverNoContextTakeover = false
    /// The client drops its window after each message.
    var clientNoContextTakeover = false
    /// The server's window, 9-15 (8 is never agreed: zlib's raw deflate cannot make one).
    var serverMaxWindowBits: Int32 = 15
    /// The client's window, 8-15.
    var clientMaxWindowBits: Int32 = 15
    /// Whether the client named `client_max_window_bits` (so the response may set it).
    var clientWindowNamed = false

    /// The first offer of `Sec-WebSocket-Extensions` values the server can accept, or nil. An offer with an
    /// unknown or repeated parameter, or a bad value, is declined (RFC 7692 §5: the next one is tried).
    static func accept(_ values: [String]) -> PerMessageDeflate? {
        let offers = values.flatMap { $0.split(separator: ",") }
        for offer in offers {
            let parts = offer.split(separator: ";").map { $0.trimmingOWS() }
            guard parts.first?.lowercased() == "permessage-deflate" else { continue }
            var agreed = PerMessageDeflate()
            var seen = Set<String>()
            var usable = true
            for parameter in parts.dropFirst() {
                let pair = parameter.split(separator: "=", maxSplits: 1).map { $0.trimmingOWS() }
                let name = pair[0].lowercased()
                var value = pair.count > 1 ? String(pair[1]) : nil
                if let quoted = value, quoted.count >= 2, quoted.hasPrefix("\""), quoted.hasSuffix("\"") {
                    value = String(quoted.dropFirst().dropLast())
                }
                guard seen.insert(name).inserted else { usable = false; break }
                switch name {
                case "server_no_context_takeover" where value == nil: agreed.serverNoContextTakeover = true
                case "client_no_context_takeover" where value == nil: agreed.clientNoContextTakeover = true
                case "server_max_window_bits":
                    guard let bits = value.flatMap({ Int32($0) }), (9...15).contains(bits), value?.first != "0" else {
                        usable = false
                        break
                    }
                    agreed.serverMaxWindowBits = bits
                case "client_max_window_bits":
                    agreed.clientWindowNamed = true
                    guard let value else { break }  // the client can take a limit, and we set none
                    guard let bits = Int32(value), (8...15).contains(bits), value.first != "0" else {
                        usable = false
                        break
                    }
                    agreed.clientMaxWindowBits = bits
                default:
                    usable = false
                }
                if !usable { break }
            }
            if usable { return agreed }
        }
        return nil
    }

    /// The response's `Sec-WebSocket-Extensions` value.
    var responseValue: String {
        var value = "permessage-deflate"
        if serverNoContextTakeover { value += "; server_no_context_takeover" }
        if clientNoContextTakeover { value += "; client_no_context_takeover" }
        if serverMaxWindowBits != 15 { value += "; server_max_window_bits=\(serverMaxWindowBits)" }
        if clientWindowNamed && clientMaxWindowBits != 15 { value += "; client_max_window_bits=\(clientMaxWindowBits)" }
        return value
    }
}

/// SHA-1 (FIPS 180-4), for `Sec-WebSocket-Accept` only: RFC 6455 fixes it there. Not for anything that needs a
/// secure hash.
enum SHA1 {
    static func digest(_ message: [UInt8]) -> [UInt8] {
        var h: [UInt32] = [0x67452301, 0xEFCDAB89, 0x98BADCFE, 0x10325476, 0xC3D2E1F0]
        var w = [UInt32](repeating: 0, count: 80)
        for block in DigestBlocks.words(of: message) {
            w.replaceSubrange(0..<16, with: block)
            for i in 16..<80 { w[i] = rotl(w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16], 1) }
            var (a, b, c, d, e) = (h[0], h[1], h[2], h[3], h[4])
            for i in 0..<80 {
                let (f, k): (UInt32, UInt32)
                switch i {
                case 0..<20: (f, k) = ((b & c) | (~b & d), 0x5A827999)
                case 20..<40: (f, k) = (b ^ c ^ d, 0x6ED9EBA1)
                case 40..<60: (f, k) = ((b & c) | (b & d) | (c & d), 0x8F1BBCDC)
                default: (f, k) = (b ^ c ^ d, 0xCA62C1D6)
                }
                let t = rotl(a, 5) &+ f &+ e &+ k &+ w[i]
                (e, d, c, b, a) = (d, c, rotl(b, 30), a, t)
            }
            h[0] = h[0] &+ a
            h[1] = h[1] &+ b
            h[2] = h[2] &+ c
            h[3] = h[3] &+ d
            h[4] = h[4] &+ e
        }
        return DigestBlocks.bytes(of: h)
    }

    private static func rotl(_ x: UInt32, _ n: UInt32) -> UInt32 { x << n | x >> (32 - n) }
}

extension Base64 {
    /// Standard base64 with padding.
    static func encode(_ bytes: [UInt8]) -> String {
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)
        var out: [UInt8] = []
        out.reserveCapacity((bytes.count + 2) / 3 * 4)
        for start in stride(from: 0, to: bytes.count, by: 3) {
            let chunk = bytes[start..<min(start + 3, bytes.count)]
            var bits = UInt32(0)
            for (i, byte) in chunk.enumerated() { bits |= UInt32(byte) << (16 - 8 * UInt32(i)) }
            for i in 0..<4 {
                out.append(i <= chunk.count ? alphabet[Int(bits >> (18 - 6 * UInt32(i)) & 0x3F)] : UInt8(ascii: "="))
            }
        }
        return String(decoding: out, as: UTF8.self)
    }
}
