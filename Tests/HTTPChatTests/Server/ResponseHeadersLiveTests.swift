import TestSupport
import Testing

@testable import HTTPChatCore
@testable import HTTPChatServer

/// Sends `request` raw and reads the answer's head (to the empty line).
private func rawHead(port: Int, _ request: String) async throws -> String {
    let socket = try TestSocket(port: port, timeoutSeconds: 5)
    try socket.send(request)
    return try await blocking {
        var lines: [String] = []
        while true {
            let line = try socket.readLine()
            if line.isEmpty { break }
            lines.append(line)
        }
        return lines.joined(separator: "\n")
    }
}

@Suite("Server-wide response fields, live", .serialized)
struct ResponseHeadersLiveTests {
    static let cases: [(String, String, String)] = [
        ("200 from the responder", "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n", "200"),
        ("404 from the responder", "GET /missing HTTP/1.1\r\nHost: x\r\n\r\n", "404"),
        ("health", "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n", "200"),
        ("400 for a line that is not a field", "GET / HTTP/1.1\r\nHost: x\r\nNo colon here\r\n\r\n", "400"),
        ("408 for a head that stalls", "GET / HTTP/1.1\r\nHost: x\r\n", "408"),
        ("413 for a body over the limit", "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n", "413"),
        ("431 for a head over the limit", "GET / HTTP/1.1\r\nHost: x\r\nX-Big: \(String(repeating: "a", count: 3000))\r\n\r\n", "431"),
        ("501 for an unknown transfer coding", "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", "501"),
        ("204 for OPTIONS *", "OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n", "204"),
    ]

    @Test("responseHeaders go on every answer the server writes: the responder's, health, and its own 400, 408, 413, 431, 501; a repeated name keeps every value")
    func everyAnswer() async throws {
        var configuration = ServerConfiguration(host: "127.0.0.1", port: 0)
        configuration.threads = 1
        configuration.limits.headerReadTimeout = .milliseconds(500)
        configuration.limits.maxBodyBytes = 10
        configuration.limits.maxHeaderBytes = 2048
        configuration.responseHeaders = try ResponseHeaders([
            "X-Frame-Options: DENY", "Link: </a.css>; rel=preload", "Link: </b.js>; rel=preload",
        ])
        let readiness = Readiness()
        configuration.readiness = readiness
        let site = HealthCheck(path: "/healthz", readiness: readiness, next: try liveRouter())
        let server = try await HTTPServer.start(configuration: configuration, responder: site)
        for (name, request, status) in Self.cases {
            let head = try await rawHead(port: server.port, request)
            #expect(head.hasPrefix("HTTP/1.1 \(status) "), "\(name): got \(head)")
            let lines = head.split(separator: "\n")
            #expect(lines.filter { $0 == "X-Frame-Options: DENY" }.count == 1, "\(name): got \(head)")
            #expect(lines.filter { $0.hasPrefix("Link: ") } == ["Link: </a.css>; rel=preload", "Link: </b.js>; rel=preload"], "\(name): got \(head)")
        }
        await server.shutdown(gracePeriod: .seconds(1))
    }
}
