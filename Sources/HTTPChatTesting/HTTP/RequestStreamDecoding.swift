internal import HTTPTypes
internal import NIOCore

/// A request as ``decodeRequestStream(_:limits:)`` delivered it. The body is kept as bytes, so requests compare
/// byte for byte however the body arrived (a UTF-8 sequence split across two reads stays one character).
struct DecodedRequest: Equatable, CustomStringConvertible {
    var method: String
    var target: String
    var bodyBytes: [UInt8]
    var trailers: [String]
    /// The body as text.
    var body: String { String(decoding: bodyBytes, as: UTF8.self) }
    var description: String { "\(method) \(target) body=\(body.debugDescription) trailers=\(trailers)" }

    init(method: String, target: String, body: String, trailers: [String] = []) {
        self.method = method
        self.target = target
        self.bodyBytes = Array(body.utf8)
        self.trailers = trailers
    }
}

/// Runs a ``ChatFramer`` and an ``HTTPRequestDecoder`` together over `reads`, as a connection does, and returns
/// every complete request, the error that stopped decoding, if any, and whether bytes of an unfinished
/// message were left over (`pending`). The shared driver of the decoder's
/// tests, its fuzz targets and the differential test against NIOHTTP1.
func decodeRequestStream(_ reads: [ByteBuffer], limits: HTTPLimits = HTTPLimits()) -> (requests: [DecodedRequest], error: HTTPParseError?, pending: Bool) {
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
