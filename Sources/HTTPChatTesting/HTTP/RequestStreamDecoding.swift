public import HTTPChatCore
internal import HTTPTypes
public import NIOCore

/// A request as ``decodeRequestStream(_:limits:)`` delivered it. The body is kept as bytes, so requests compare
/// byte for byte however the body arrived (a UTF-8 sequence split across two reads stays one character).
public struct DecodedRequest: Equatable, CustomStringConvertible, Sendable {
    /// The method, as sent.
    public var method: String
    /// The request target, as sent.
    public var target: String
    /// The body's bytes, de-chunked.
    public var bodyBytes: [UInt8]
    /// The trailer fields, as `name: value` lines.
    public var trailers: [String]
    /// The body as text.
    public var body: String { String(decoding: bodyBytes, as: UTF8.self) }
    /// The request on one line, for test failures.
    public var description: String { "\(method) \(target) body=\(body.debugDescription) trailers=\(trailers)" }

    /// A request to compare with a decoded one.
    ///
    /// - Parameters:
    ///   - method: the method.
    ///   - target: the request target.
    ///   - body: the body, as text.
    ///   - trailers: the trailer fields, as `name: value` lines.
    public init(method: String, target: String, body: String, trailers: [String] = []) {
        self.method = method
        self.target = target
        self.bodyBytes = Array(body.utf8)
        self.trailers = trailers
    }
}

/// Runs a ``/HTTPChatCore/ChatFramer`` and an ``/HTTPChatCore/HTTPRequestDecoder`` together over `reads`, as a connection does, and returns
/// every complete request, the error that stopped decoding, if any, and whether bytes of an unfinished
/// message were left over (`pending`). The shared driver of the decoder's
/// tests, its fuzz targets and the differential test against NIOHTTP1.
///
/// - Parameters:
///   - reads: the bytes, cut into reads as a socket might deliver them.
///   - limits: the decoder's limits.
/// - Returns: the requests, the error that stopped decoding, and whether an unfinished message was left.
public func decodeRequestStream(_ reads: [ByteBuffer], limits: HTTPLimits = HTTPLimits()) -> (requests: [DecodedRequest], error: HTTPParseError?, pending: Bool) {
    var decoder = HTTPRequestDecoder(limits: limits)
    var framer = ChatFramer(terminator: decoder.terminator, maxDelimitedLength: limits.maxHeaderBytes)
    var requests: [DecodedRequest] = []
    var current: DecodedRequest?
    do throws(HTTPParseError) {
        for read in reads {
            framer.append(read)
            while true {
                let event: ChatEvent?
                do { event = try framer.next() } catch { throw decoder.framingFailed() }
                guard let event else { break }
                let decoded: HTTPRequestDecoder.Event?
                switch event {
                case .data(let bytes): decoded = try decoder.collect(bytes)
                case .terminator:
                    decoded = try decoder.terminatorFound()
                    framer.terminator = decoder.terminator
                }
                switch decoded {
                case .head(let head)?:
                    let request = DecodedRequest(method: head.method.rawValue, target: head.target, body: "")
                    if head.framing == .none { requests.append(request) } else { current = request }
                case .body(let bytes)?:
                    current?.bodyBytes += bytes.readableBytesView
                case .end(let trailers)?:
                    if var request = current {
                        request.trailers = trailers.map { $0.map { "\($0.name): \($0.value)" } } ?? []
                        requests.append(request)
                    }
                    current = nil
                case nil:
                    break
                }
            }
        }
    } catch {
        return (requests, error, false)
    }
    return (requests, nil, framer.bufferedByteCount > 0 || !decoder.isIdle)
}
