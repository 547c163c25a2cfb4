import Foundation
import HTTPTypes
import NIOCore
import NIOSSL
import TestSupport
import Testing

@testable import HTTPChatCore
@testable import HTTPChatServer

/// Files for the HTTPS tests: a 16 MiB `big.bin` (xorshift bytes), a text page for gzip, `small.txt`.
private final class HTTPSSite: Sendable {
    let folder: String
    let big: Data
    let page: String

    init() throws {
        folder = FileManager.default.temporaryDirectory.appendingPathComponent("https-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        var bytes = [UInt8](repeating: 0, count: 16 << 20)
        var x: UInt32 = 88172645
        for i in bytes.indices {
            x ^= x << 13; x ^= x >> 17; x ^= x << 5
            bytes[i] = UInt8(truncatingIfNeeded: x)
        }
        big = Data(bytes)
        page = (0..<20_000).map { "<p>line \($0) of a page</p>\n" }.joined()
        _ = FileManager.default.createFile(atPath: folder + "/big.bin", contents: big)
        _ = FileManager.default.createFile(atPath: folder + "/page.html", contents: Data(page.utf8))
        _ = FileManager.default.createFile(atPath: folder + "/small.txt", contents: Data("small".utf8))
    }

    deinit { try? FileManager.default.removeItem(atPath: folder) }
}

/// `/whoami` tells what the handler sees of TLS; everything else is the folder.
private struct WhoAmI: HTTPResponder {
    let files: FileServer

    func respond(to request: Request) async throws -> Response {
        guard request.rawPath == "/whoami" else { return try await files.respond(to: request) }
        let version = request.tls?.version.map { "\($0)" } ?? "-"
        let alpn = request.tls?.applicationProtocol ?? "-"
        let peer = request.tls?.peerCertificate.map { "\($0)" } ?? "-"
        return .text("\(request.scheme) \(version) \(alpn) \(peer)")
    }
}

private func startHTTPS(
    _ certs: TestCertificates, site: HTTPSSite, clientCA: Bool = false, requireClient: Bool = true,
    headerTimeout: Duration = .seconds(10)
) async throws -> HTTPServer {
    var configuration = ServerConfiguration(host: "127.0.0.1", port: 0)
    configuration.threads = 2
    configuration.limits.headerReadTimeout = headerTimeout
    var tls = TLSSettings(
        certificateChainFile: certs.serverCert, privateKeyFile: certs.serverKey,
        clientCertificateAuthorityFile: clientCA ? certs.clientCA : nil
    )
    tls.requireClientCertificate = requireClient
    configuration.tls = tls
    return try await HTTPServer.start(configuration: configuration, responder: WhoAmI(files: try FileServer(root: site.folder)))
}

/// Runs a shell command, stdout and stderr merged.
private func shell(_ command: String) async throws -> String {
    try await blocking { try runProcess("/bin/sh", ["-c", command + " 2>&1"]) }
}

@Suite("HTTPS live", .serialized)
struct HTTPSLiveTests {
    let certs: TestCertificates
    private let site: HTTPSSite

    init() throws {
        certs = try TestCertificates()
        site = try HTTPSSite()
    }

    @Test("curl verifies the certificate and speaks TLS 1.3 with ALPN http/1.1; the handler sees https and no client certificate")
    func curlOverTLS() async throws {
        let server = try await startHTTPS(certs, site: site)
        #expect(server.isTLS && server.scheme == "https")
        let out = try await shell(
            "curl -sS --cacert \(certs.ca) -w '\\n%{http_version} %{ssl_verify_result}' https://127.0.0.1:\(server.port)/whoami"
        )
        #expect(out == "https tlsv13 http/1.1 -\n1.1 0", "\(out)")
        // Without the CA, curl refuses the server: the certificate is verified for real.
        let untrusted = try await shell("curl -sS -o /dev/null https://127.0.0.1:\(server.port)/whoami; echo exit=$?")
        #expect(untrusted.contains("exit=60"), "\(untrusted)")
        await server.shutdown(gracePeriod: .seconds(1))
    }

    @Test("openssl s_client: TLS 1.0 and 1.1 refused, 1.2 and 1.3 accepted with ALPN; CBC and RSA key exchange refused")
    func versionsAndSuites() async throws {
        let server = try await startHTTPS(certs, site: site)
        func handshake(_ flags: String) async throws -> String {
            try await shell("echo | timeout 10 openssl s_client -connect 127.0.0.1:\(server.port) -CAfile \(certs.ca) \(flags)")
        }
        for old in ["-tls1", "-tls1_1"] {
            let out = try await handshake(old)
            #expect(out.contains("Cipher is (NONE)") || out.contains("no protocols available"), "\(old): \(out)")
        }
        for (flag, name) in [("-tls1_2", "TLSv1.2"), ("-tls1_3", "TLSv1.3")] {
            let out = try await handshake("\(flag) -alpn http/1.1")
            #expect(out.contains("Protocol  : \(name)") || out.contains("New, \(name)"), "\(flag): \(out)")
            #expect(out.contains("ALPN protocol: http/1.1"), "\(flag): \(out)")
            #expect(out.contains("Verify return code: 0 (ok)"), "\(flag): \(out)")
        }
        for weak in ["ECDHE-ECDSA-AES128-SHA", "AES128-GCM-SHA256", "AES256-SHA"] {
            let out = try await handshake("-tls1_2 -cipher \(weak)")
            #expect(out.contains("Cipher is (NONE)"), "\(weak): \(out)")
        }
        await server.shutdown(gracePeriod: .seconds(1))
    }

    @Test("a 16 MiB file over HTTPS arrives whole; a range and a two-part range are exact; gzip decodes to the page")
    func filesOverTLS() async throws {
        let server = try await startHTTPS(certs, site: site)
        let base = "https://127.0.0.1:\(server.port)"
        let out = FileManager.default.temporaryDirectory.appendingPathComponent("big-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: out) }
        let status = try await shell("curl -sS --cacert \(certs.ca) -o \(out) -w '%{http_code} %{size_download}' \(base)/big.bin")
        #expect(status == "200 16777216", "\(status)")
        #expect(FileManager.default.contents(atPath: out) == site.big)

        let range = try await shell("curl -sS --cacert \(certs.ca) -r 1000000-1000999 -o \(out) -w '%{http_code}' \(base)/big.bin")
        #expect(range == "206")
        #expect(FileManager.default.contents(atPath: out) == site.big[1_000_000..<1_001_000])

        let parts = try await shell("curl -sS --cacert \(certs.ca) -r 0-9,16777200- -D - -o \(out) \(base)/big.bin")
        #expect(parts.contains("multipart/byteranges"), "\(parts)")
        let body = try #require(FileManager.default.contents(atPath: out))
        #expect(body.range(of: site.big[0..<10]) != nil)
        #expect(body.range(of: site.big[16_777_200...]) != nil)

        let gz = try await shell("curl -sS --cacert \(certs.ca) --compressed -D \(out).h -o \(out) \(base)/page.html; cat \(out).h")
        defer { try? FileManager.default.removeItem(atPath: out + ".h") }
        #expect(gz.lowercased().contains("content-encoding: gzip"), "\(gz)")
        #expect(String(decoding: FileManager.default.contents(atPath: out) ?? Data(), as: UTF8.self) == site.page)
        await server.shutdown(gracePeriod: .seconds(1))
    }

    @Test("16 curl clients download the cached 16 MiB file over HTTPS at once: every body whole")
    func sharedFileOverTLSAtOnce() async throws {
        let server = try await startHTTPS(certs, site: site)
        let url = "https://127.0.0.1:\(server.port)/big.bin"
        let script = (0..<16).map { _ in "curl -sS --cacert \(certs.ca) -o /dev/null -w '%{http_code} %{size_download}\\n' \(url) &" }
            .joined(separator: "\n") + "\nwait"
        let lines = try await shell(script).split(separator: "\n").map(String.init)
        #expect(lines.count == 16, "\(lines)")
        #expect(lines.allSatisfy { $0 == "200 16777216" }, "\(lines)")
        await server.shutdown(gracePeriod: .seconds(1))
    }

    @Test("Python requests verifies the server and reuses one TLS connection; ssl sees ALPN http/1.1")
    func pythonClients() async throws {
        let server = try await startHTTPS(certs, site: site)
        let out = try await shell("""
            python3 - <<'EOF'
            import requests, socket, ssl
            s = requests.Session()
            a = s.get('https://127.0.0.1:\(server.port)/whoami', verify='\(certs.ca)')
            b = s.get('https://127.0.0.1:\(server.port)/small.txt', verify='\(certs.ca)')
            print(a.status_code, a.text, '|', b.status_code, b.text)
            ctx = ssl.create_default_context(cafile='\(certs.ca)')
            ctx.set_alpn_protocols(['h2', 'http/1.1'])
            with socket.create_connection(('127.0.0.1', \(server.port))) as raw:
                with ctx.wrap_socket(raw, server_hostname='localhost') as tls:
                    print('alpn', tls.selected_alpn_protocol(), tls.version())
            EOF

            """)
        #expect(out.contains("200 https tlsv13 http/1.1 - | 200 small"), "\(out)")
        #expect(out.contains("alpn http/1.1 TLSv1.3"), "\(out)")
        await server.shutdown(gracePeriod: .seconds(1))
    }

    @Test("mutual TLS: no client certificate and one from another CA are refused; the trusted one reaches the handler")
    func mutualTLS() async throws {
        let server = try await startHTTPS(certs, site: site, clientCA: true)
        let url = "https://127.0.0.1:\(server.port)/whoami"
        let none = try await shell("curl -sS --cacert \(certs.ca) \(url); echo exit=$?")
        #expect(!none.contains("https tls") && !none.contains("exit=0"), "\(none)")
        let stranger = try await shell("curl -sS --cacert \(certs.ca) --cert \(certs.strangerCert) --key \(certs.strangerKey) \(url); echo exit=$?")
        #expect(!stranger.contains("https tls") && !stranger.contains("exit=0"), "\(stranger)")
        let trusted = try await shell("curl -sS --cacert \(certs.ca) --cert \(certs.clientCert) --key \(certs.clientKey) \(url)")
        #expect(trusted.hasPrefix("https tlsv13 http/1.1 <NIOSSLCertificate;"), "\(trusted)")
        #expect(trusted.contains("common_name=test-client"), "\(trusted)")
        // openssl agrees: the handshake is refused without a certificate (TLS 1.3 alerts after the handshake).
        let bare = try await shell("printf 'GET /whoami HTTP/1.1\\r\\nHost: x\\r\\n\\r\\n' | timeout 10 openssl s_client -quiet -connect 127.0.0.1:\(server.port) -CAfile \(certs.ca)")
        #expect(!bare.contains("https tls"), "\(bare)")
        await server.shutdown(gracePeriod: .seconds(1))
    }

    @Test("optional client certificates: a client without one is served, one presented must verify")
    func optionalClientCertificate() async throws {
        let server = try await startHTTPS(certs, site: site, clientCA: true, requireClient: false)
        let url = "https://127.0.0.1:\(server.port)/whoami"
        #expect(try await shell("curl -sS --cacert \(certs.ca) \(url)") == "https tlsv13 http/1.1 -")
        let trusted = try await shell("curl -sS --cacert \(certs.ca) --cert \(certs.clientCert) --key \(certs.clientKey) \(url)")
        #expect(trusted.contains("common_name=test-client"), "\(trusted)")
        let stranger = try await shell("curl -sS --cacert \(certs.ca) --cert \(certs.strangerCert) --key \(certs.strangerKey) \(url); echo exit=$?")
        #expect(!stranger.contains("https tls") && !stranger.contains("exit=0"), "\(stranger)")
        await server.shutdown(gracePeriod: .seconds(1))
    }

    @Test("plain HTTP to the TLS port gets a plain 400 that says to use https; other non-TLS bytes are closed silently")
    func plainHTTPOnTLSPort() async throws {
        let server = try await startHTTPS(certs, site: site)
        let port = server.port
        let answer = try await blocking { () -> String in
            let socket = try TestSocket(port: port)
            try socket.send("GET /page.html HTTP/1.1\r\nHost: x\r\nUser-Agent: test\r\n\r\n")
            return String(decoding: try socket.readToEnd(), as: UTF8.self)
        }
        #expect(answer.hasPrefix("HTTP/1.1 400 Bad Request\r\n"), "\(answer)")
        #expect(answer.contains("Connection: close\r\n"))
        #expect(answer.hasSuffix("\r\n\r\nThis port speaks HTTPS: use https:// instead of http://\n"), "\(answer)")
        let garbage = try await blocking { () -> [UInt8] in
            let socket = try TestSocket(port: port)
            try socket.send([0x00, 0x01, 0x02, 0x03])
            return try socket.readToEnd()
        }
        #expect(garbage.isEmpty)
        // curl with http:// on the TLS port reads the 400 as well.
        let curl = try await shell("curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:\(port)/")
        #expect(curl == "400")
        await server.shutdown(gracePeriod: .seconds(1))
    }

    @Test("a handshake that never finishes, silent or byte by byte, is closed at the header-read timeout while others are served")
    func stalledHandshakes() async throws {
        let server = try await startHTTPS(certs, site: site, headerTimeout: .seconds(1))
        let port = server.port
        let started = ContinuousClock.now
        async let silent: Duration = blocking {
            let socket = try TestSocket(port: port, timeoutSeconds: 8)
            _ = try socket.readToEnd()
            return ContinuousClock.now - started
        }
        async let trickle: Duration = blocking {
            let socket = try TestSocket(port: port, timeoutSeconds: 8)
            // The start of a TLS 1.2 ClientHello record, one byte every 150 ms, never complete.
            for byte: UInt8 in [0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03, 0x11, 0x22, 0x33, 0x44, 0x55] {
                do { try socket.send([byte]) } catch { break }  // closed under us: what we wait for
                usleep(150_000)
            }
            _ = try? socket.readToEnd()
            return ContinuousClock.now - started
        }
        let served = try await shell("curl -sS --cacert \(certs.ca) https://127.0.0.1:\(port)/small.txt")
        #expect(served == "small")
        let (a, b) = try await (silent, trickle)
        #expect(a >= .milliseconds(900) && a < .seconds(4), "silent closed after \(a)")
        #expect(b >= .milliseconds(900) && b < .seconds(4), "trickle closed after \(b)")
        #expect(try await shell("curl -sS --cacert \(certs.ca) https://127.0.0.1:\(port)/small.txt") == "small")
        await server.shutdown(gracePeriod: .seconds(1))
    }

    @Test("reloadTLS: new connections get the new certificate, an open connection keeps working; a bad pair is refused and the current one stays")
    func reload() async throws {
        let server = try await startHTTPS(certs, site: site)
        let renewed = TLSSettings(certificateChainFile: certs.renewedCert, privateKeyFile: certs.renewedKey)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
        process.arguments = ["-c", """
            import hashlib, http.client, ssl, sys
            ctx = ssl.create_default_context(cafile='\(certs.ca)')
            def conn():
                c = http.client.HTTPSConnection('127.0.0.1', \(server.port), context=ctx)
                c.connect()
                return c
            def get(c):
                c.request('GET', '/small.txt')
                r = c.getresponse()
                return '%d %s %s' % (r.status, r.read().decode(), hashlib.sha256(c.sock.getpeercert(True)).hexdigest()[:16])
            old = conn()
            print('before', get(old), flush=True)
            sys.stdin.readline()
            print('old', get(old), flush=True)
            print('new', get(conn()), flush=True)
            """]
        let input = Pipe(), output = Pipe()
        process.standardInput = input
        process.standardOutput = output
        try startUnblocked(process)
        let reader = output.fileHandleForReading
        let first = try await blocking { () -> String in
            var line = Data()
            while !line.contains(UInt8(ascii: "\n")) {
                let more = reader.availableData
                if more.isEmpty { break }  // the script ended early: its output says why
                line += more
            }
            return String(decoding: line, as: UTF8.self)
        }
        await #expect(throws: TLSSettingsError.self) {
            try await server.reloadTLS(TLSSettings(certificateChainFile: certs.renewedCert, privateKeyFile: certs.serverKey))
        }
        try await server.reloadTLS(renewed)
        input.fileHandleForWriting.write(Data("go\n".utf8))
        let rest = try await blocking { String(decoding: reader.readDataToEndOfFile(), as: UTF8.self) }
        process.waitUntilExit()
        let lines = (first + rest).split(separator: "\n").map(String.init)
        #expect(lines.count == 3, "\(lines)")
        let hash = { (line: String) in line.split(separator: " ").last.map(String.init) ?? "" }
        #expect(lines.first?.hasPrefix("before 200 small ") == true, "\(lines)")
        #expect(lines.count == 3 && lines[1].hasPrefix("old 200 small ") && hash(lines[1]) == hash(lines[0]), "\(lines)")
        #expect(lines.count == 3 && lines[2].hasPrefix("new 200 small ") && hash(lines[2]) != hash(lines[0]), "\(lines)")
        // A new connection's certificate is the renewed one, by openssl's reading too.
        let serial = try await shell("openssl x509 -in \(certs.renewedCert) -noout -serial")
        let seen = try await shell("echo | openssl s_client -connect 127.0.0.1:\(server.port) -CAfile \(certs.ca) 2>/dev/null | openssl x509 -noout -serial")
        #expect(seen == serial, "\(seen) vs \(serial)")
        await server.shutdown(gracePeriod: .seconds(1))
    }
}
