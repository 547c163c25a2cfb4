// The WebSocket frame reader and message assembly, with permessage-deflate on for inputs whose first byte is
// odd: cuts into reads change nothing (the same events, the same close code), no message is larger than the
// limit, text is always valid UTF-8, and inflation never passes the limit whatever the input's ratio.
import FuzzSupport
import HTTPChat
import HTTPChatTesting
import NIOCore

@_cdecl("fuzz_websocket_main")
public func main(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    runFuzzer(argc, argv) { data, size in data.map { fuzzWebSocket($0, size) } ?? 0 }
}

func fuzzWebSocket(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let input = FuzzInput(data, size).bytes
    guard let first = input.first else { return 0 }
    let compressed = first & 1 == 1
    let bytes = Array(input.dropFirst())
    let limit = 1 << 16
    let whole = decodeWebSocketStream([ByteBuffer(bytes: bytes)], maxFrameBytes: limit, maxMessageBytes: limit, compressed: compressed)
    for every in FuzzInput.cutsEveryByte(bytes.count) ? [false, true] : [false] {
        let cut = decodeWebSocketStream(FuzzInput.reads(of: bytes, every: every), maxFrameBytes: limit,
                                        maxMessageBytes: limit, compressed: compressed)
        precondition(cut.events == whole.events, "events differ when cut: \(cut.events) vs \(whole.events)")
        precondition(cut.error?.code == whole.error?.code, "verdict differs when cut: \(String(describing: cut.error)) vs \(String(describing: whole.error))")
    }
    for event in whole.events {
        switch event {
        case .message(.text(let text)):
            precondition(text.utf8.count <= limit, "a text message over the limit")
            precondition(String(validating: Array(text.utf8), as: UTF8.self) != nil, "text that is not UTF-8")
        case .message(.binary(let bytes)):
            precondition(bytes.readableBytes <= limit, "a binary message over the limit")
        case .ping(let payload), .pong(let payload):
            precondition(payload.count <= 125, "a control payload over 125 bytes")
        case .close(let code, _):
            precondition(code.map(\.isSendable) ?? true, "a close code a peer may not send was accepted")
        }
    }
    return 0
}
