import HTTPChatCore
import Dispatch
import HTTPTypes
import NIOConcurrencyHelpers
import NIOCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Middleware that writes one line per request in the Combined Log Format (Apache's and nginx's default):
/// `host - - [day/Mon/year:HH:MM:SS +0000] "METHOD target HTTP/1.1" status bytes "referer" "user-agent"`.
/// Lines are written on a serial queue, never on an event loop.
///
/// `bytes` is what was sent of the body, not what it was meant to be: a line is written when the body is
/// done, so a download the client cut short logs the bytes handed to the socket until then, and a body
/// that failed part-way logs what went out before. Bodies in memory go out whole with the head and are
/// logged at once. The time is the request's arrival.
public struct AccessLog: HTTPMiddleware {
    private let sink: AccessLogSink

    /// Logs to standard output.
    public static var standardOutput: AccessLog { AccessLog(sink: AccessLogSink(fd: STDOUT_FILENO, owned: false)) }

    /// Logs to a file, appending (created if missing).
    ///
    /// - Parameter path: the log file.
    /// - Returns: the middleware.
    /// - Throws: ``AccessLogError`` when the file cannot be opened.
    public static func file(_ path: String) throws -> AccessLog {
        let fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw AccessLogError.cannotOpen(path, errno: errno) }
        return AccessLog(sink: AccessLogSink(fd: fd, owned: true))
    }

    private init(sink: AccessLogSink) {
        self.sink = sink
    }

    /// Runs the chain and logs the outcome once the body is sent (or given up); an error is logged as the
    /// status and body size the client is sent for it (`ErrorResponse`), then rethrown.
    public func respond(to request: Request, next: any HTTPResponder) async throws -> Response {
        let time = time(nil)
        do {
            var response = try await next.respond(to: request)
            let status = response.status.code
            let sink = sink
            response.whenBodyDone(method: request.method) { sent in
                sink.write(Self.line(request, status: status, bytes: sent, time: time))
            }
            return response
        } catch {
            let answer = ErrorResponse(error).response
            sink.write(Self.line(request, status: answer.status.code, bytes: answer.body.length, time: time))
            throw error
        }
    }

    /// One Combined Log Format line (with the newline).
    ///
    /// Every field the client chose (the request line, `Referer`, `User-Agent`) is escaped as nginx does: each
    /// byte outside printable ASCII (below 0x20, 0x7F and above) and each `"` and `\` is written `\xHH`. Field
    /// values are escaped from their raw bytes, the target from its UTF-8, so whatever a client sends the line
    /// is one line of printable ASCII: no CR, LF or U+0085, U+2028, U+2029 to start a forged line, no bidi
    /// override or other format character to disguise one, no terminal escape, and invalid UTF-8 stays visible
    /// byte for byte.
    static func line(_ request: Request, status: Int, bytes: Int?, time: Int) -> String {
        let host = request.remoteAddress?.ipAddress ?? "-"
        let sent = request.method == .head ? "0" : bytes.map(String.init) ?? "-"
        var out: [UInt8] = []
        out.reserveCapacity(160 + request.target.utf8.count)
        out += "\(host) - - [\(HTTPDate.commonLogFormat(time))] \"".utf8
        escape("\(request.method.rawValue) \(request.target) \(request.version)".utf8, into: &out)
        out += "\" \(status) \(sent) ".utf8
        quoted(request.headerFields[fields: .referer], into: &out)
        out.append(UInt8(ascii: " "))
        quoted(request.headerFields[fields: .userAgent], into: &out)
        out.append(UInt8(ascii: "\n"))
        return String(decoding: out, as: UTF8.self)
    }

    /// `"value"` of the fields' raw bytes, escaped, joined with `, ` when repeated; `"-"` when there are none.
    private static func quoted(_ fields: [HTTPField], into out: inout [UInt8]) {
        out.append(UInt8(ascii: "\""))
        if fields.isEmpty { out.append(UInt8(ascii: "-")) }
        for (i, field) in fields.enumerated() {
            if i > 0 { out += ", ".utf8 }
            field.withUnsafeBytesOfValue { escape($0, into: &out) }
        }
        out.append(UInt8(ascii: "\""))
    }

    /// Appends `bytes`, each one outside printable ASCII, and `"` and `\`, as `\xHH`.
    static func escape(_ bytes: some Sequence<UInt8>, into out: inout [UInt8]) {
        for b in bytes {
            if b >= 0x20 && b < 0x7F && b != UInt8(ascii: "\"") && b != UInt8(ascii: "\\") {
                out.append(b)
            } else {
                out.append(UInt8(ascii: "\\"))
                out.append(UInt8(ascii: "x"))
                out.append(hexDigits[Int(b >> 4)])
                out.append(hexDigits[Int(b & 0x0F)])
            }
        }
    }

    private static let hexDigits = Array("0123456789ABCDEF".utf8)
}

/// Why an access log could not be opened.
public enum AccessLogError: Error, CustomStringConvertible {
    /// The file could not be opened for appending.
    case cannotOpen(String, errno: Int32)

    /// A message for people.
    public var description: String {
        switch self {
        case .cannotOpen(let path, let code): return "cannot open access log \(path): \(String(cString: strerror(code)))"
        }
    }
}

/// Writes lines to a descriptor on a serial queue.
final class AccessLogSink: Sendable {
    private let fd: Int32
    private let owned: Bool
    private let queue = DispatchQueue(label: "httpchat.access-log")

    init(fd: Int32, owned: Bool) {
        self.fd = fd
        self.owned = owned
    }

    deinit {
        if owned { close(fd) }
    }

    func write(_ line: String) {
        queue.async { [fd] in
            var bytes = Array(line.utf8)
            var at = 0
            while at < bytes.count {
                let n = bytes.withUnsafeMutableBytes { systemWrite(fd, $0.baseAddress! + at, $0.count - at) }
                if n <= 0 { break }
                at += n
            }
        }
    }
}

#if canImport(Glibc)
private let systemWrite = Glibc.write
#elseif canImport(Darwin)
private let systemWrite = Darwin.write
#endif
