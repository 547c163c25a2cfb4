import HTTPTypes
import NIOCore
import TestSupport
import Testing

@testable import HTTPChatCore
@testable import HTTPChatServer

/// Answers with what the server made of the request's origin.
private struct WhoResponder: HTTPResponder {
    func respond(to request: Request) async throws -> Response {
        .text("client=\(request.remoteAddress?.ipAddress ?? "-") peer=\(request.peerAddress?.ipAddress ?? "-") scheme=\(request.scheme) host=\(request.host ?? "-")")
    }
}

@Suite("PROXY protocol and trusted proxies, live", .serialized)
struct ProxyLiveTests {
    @Test("a PROXY v2 header from a trusted peer names the client to the responder; forwarding fields after it are judged by that client")
    func proxyThenFields() async throws {
        var configuration = ServerConfiguration(host: "127.0.0.1", port: 0)
        configuration.threads = 1
        configuration.proxyProtocol = true
        configuration.trustedProxies = [try CIDR("127.0.0.1")]
        let server = try await HTTPServer.start(configuration: configuration, responder: WhoResponder())
        let block: [UInt8] = [198, 51, 100, 4, 127, 0, 0, 1, 0x30, 0x39, 0x1F, 0x90]
        let socket = try TestSocket(port: server.port)
        // The client 198.51.100.4 is not a trusted proxy: its X-Forwarded-For is its own claim.
        try socket.send(proxyV2(family: 0x11, block: block) + Array("GET / HTTP/1.1\r\nHost: site\r\nX-Forwarded-For: 6.6.6.6\r\nConnection: close\r\n\r\n".utf8))
        let answer = String(decoding: try await blocking { try socket.readToEnd() }, as: UTF8.self)
        #expect(answer.hasSuffix("client=198.51.100.4 peer=127.0.0.1 scheme=http host=site"), "\(answer)")
        await server.shutdown(gracePeriod: .seconds(1))
    }

    @Test("after PROXY UNKNOWN or a v2 LOCAL header the proxy stays the client: forwarding fields on that connection are not believed",
          arguments: ["v1 UNKNOWN", "v2 LOCAL", "v2 UNSPEC"])
    func noClientNamedNoFieldsBelieved(_ header: String) async throws {
        var configuration = ServerConfiguration(host: "127.0.0.1", port: 0)
        configuration.threads = 1
        configuration.proxyProtocol = true
        configuration.trustedProxies = [try CIDR("127.0.0.1")]
        let server = try await HTTPServer.start(configuration: configuration, responder: WhoResponder())
        let bytes: [UInt8] = switch header {
        case "v1 UNKNOWN": Array("PROXY UNKNOWN\r\n".utf8)
        case "v2 LOCAL": proxyV2(command: 0x20, family: 0x00, block: [])
        default: proxyV2(family: 0x00, block: [])
        }
        let socket = try TestSocket(port: server.port)
        let request = "GET / HTTP/1.1\r\nHost: site\r\nX-Forwarded-For: 6.6.6.6\r\nX-Forwarded-Proto: https\r\n"
            + "X-Forwarded-Host: evil.example\r\nConnection: close\r\n\r\n"
        try socket.send(bytes + Array(request.utf8))
        let answer = String(decoding: try await blocking { try socket.readToEnd() }, as: UTF8.self)
        #expect(answer.hasSuffix("client=127.0.0.1 peer=127.0.0.1 scheme=http host=site"), "\(header): got \(answer)")
        await server.shutdown(gracePeriod: .seconds(1))
    }

    @Test("forwarding fields from a trusted peer set client, scheme and host; the PROXY protocol without trusted proxies is refused at start")
    func fieldsAndConfiguration() async throws {
        var configuration = ServerConfiguration(host: "127.0.0.1", port: 0)
        configuration.threads = 1
        configuration.trustedProxies = [try CIDR("127.0.0.0/8")]
        let server = try await HTTPServer.start(configuration: configuration, responder: WhoResponder())
        let socket = try TestSocket(port: server.port)
        try socket.send("GET / HTTP/1.1\r\nHost: inner\r\nForwarded: for=\"[2001:db8::3]:443\";proto=https;host=shop.example\r\nConnection: close\r\n\r\n")
        let answer = String(decoding: try await blocking { try socket.readToEnd() }, as: UTF8.self)
        #expect(answer.hasSuffix("client=2001:db8::3 peer=127.0.0.1 scheme=https host=shop.example"), "\(answer)")
        await server.shutdown(gracePeriod: .seconds(1))

        var lonely = ServerConfiguration(host: "127.0.0.1", port: 0)
        lonely.proxyProtocol = true
        await #expect(throws: ServerConfigurationError.self) {
            _ = try await HTTPServer.start(configuration: lonely, responder: WhoResponder())
        }
        // The header precedes the TLS handshake, but is read above TLS: refused at start, not failed per connection.
        let certs = try TestCertificates()
        var overTLS = ServerConfiguration(host: "127.0.0.1", port: 0)
        overTLS.proxyProtocol = true
        overTLS.trustedProxies = [try CIDR("127.0.0.1")]
        overTLS.tls = TLSSettings(certificateChainFile: certs.serverCert, privateKeyFile: certs.serverKey)
        await #expect(throws: ServerConfigurationError.self) {
            _ = try await HTTPServer.start(configuration: overTLS, responder: WhoResponder())
        }
    }

    @Test("reusePort: a second server listens on the same port beside the first; without it the port is in use")
    func reusePort() async throws {
        var configuration = ServerConfiguration(host: "127.0.0.1", port: 0)
        configuration.threads = 1
        configuration.reusePort = true
        let first = try await HTTPServer.start(configuration: configuration, responder: WhoResponder())
        configuration.port = first.port
        let second = try await HTTPServer.start(configuration: configuration, responder: WhoResponder())
        #expect(second.port == first.port)
        var plain = configuration
        plain.reusePort = false
        await #expect(throws: IOError.self) { _ = try await HTTPServer.start(configuration: plain, responder: WhoResponder()) }
        await first.shutdown(gracePeriod: .seconds(1))
        // The second still serves once the first is gone.
        let socket = try TestSocket(port: second.port)
        try socket.send("GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        let answer = String(decoding: try await blocking { try socket.readToEnd() }, as: UTF8.self)
        #expect(answer.hasPrefix("HTTP/1.1 200 OK"), "\(answer)")
        await second.shutdown(gracePeriod: .seconds(1))
    }
}
