import Foundation
import TestSupport
import Testing

/// A site whose scripts carry a marker in their source that must never reach a client.
final class HostileCGISite {
    let path: String
    static let marker = "SOURCE-MARKER-never-sent"

    init() throws {
        path = FileManager.default.temporaryDirectory.appendingPathComponent("httpserve-cgisec-\(UUID().uuidString)").path
        let fm = FileManager.default
        try fm.createDirectory(atPath: path + "/cgi-bin/sub", withIntermediateDirectories: true)
        func script(_ name: String, _ body: String) {
            _ = fm.createFile(atPath: path + "/cgi-bin/" + name, contents: Data("#!/bin/sh\n# \(Self.marker)\n\(body)".utf8))
            chmod(path + "/cgi-bin/" + name, 0o755)
        }
        script("x.sh", "printf 'Content-Type: text/plain\\n\\nran x'\n")
        script("env.sh", "printf 'Content-Type: text/plain\\n\\n'; env | sort; echo BODY; cat\n")
        script("hop.sh", "printf 'Location: /cgi-bin/x.sh\\n\\n'\n")
        script("loop.sh", "printf 'Location: /cgi-bin/loop.sh\\n\\n'\n")
        script("nap.sh", "sleep 1; printf 'Content-Type: text/plain\\n\\nrested'\n")
        script("long-nap.sh", "sleep 4; printf 'Content-Type: text/plain\\n\\nrested'\n")
        script("deaf.sh", "printf 'Content-Type: text/plain\\n\\nheard nothing'\n")  // never reads its input
        // A child that leaves the process group keeps the script's stdout open for 30 s.
        script("escape.sh", "printf 'Content-Type: text/plain\\n\\nstarted'; setsid sleep 30 & exit 0\n")
        for code in ["100 Continue", "101 Switching Protocols", "102", "103 Early Hints", "0", "42", "600", "999", "20x", "2000"] {
            script("status-\(code.prefix(while: { $0 != " " })).sh", "printf 'Status: \(code)\\nContent-Type: text/plain\\n\\nbody'\n")
        }
        _ = fm.createFile(atPath: path + "/cgi-bin/sub/.secret", contents: Data("dotfile".utf8))
        try fm.createSymbolicLink(atPath: path + "/scripts", withDestinationPath: "cgi-bin")
        _ = fm.createFile(atPath: path + "/page.txt", contents: Data("static page".utf8))
    }

    deinit { try? FileManager.default.removeItem(atPath: path) }
}

/// Sends raw request bytes and reads until the server closes (the request asks it to); a chunked body is
/// returned decoded, after the head.
func rawExchange(_ port: Int, _ request: String) async throws -> String {
    let raw = try await blocking {
        let socket = try TestSocket(port: port, timeoutSeconds: 10)
        try socket.send(request)
        return String(decoding: try socket.readToEnd(), as: UTF8.self)
    }
    guard let end = raw.range(of: "\r\n\r\n"), raw[..<end.lowerBound].lowercased().contains("transfer-encoding: chunked") else {
        return raw
    }
    var rest = raw[end.upperBound...]
    var body = ""
    while let line = rest.range(of: "\r\n"), let size = Int(rest[..<line.lowerBound], radix: 16), size > 0 {
        let start = line.upperBound
        guard let stop = rest.utf8.index(start, offsetBy: size, limitedBy: rest.endIndex) else { break }
        body += rest[start..<stop]
        guard let next = rest.utf8.index(stop, offsetBy: 2, limitedBy: rest.endIndex) else { break }
        rest = rest[next...]  // past the chunk's CRLF (one Character, two bytes)
    }
    return String(raw[..<end.upperBound]) + body
}

@Suite("httpserve CGI security", .serialized)
struct CGISecurityTests {
    @Test("no spelling of a script's path returns its source or lists cgi-bin: it runs, or is not found")
    func noSourceDisclosure() async throws {
        let site = try HostileCGISite()
        let serve = try Serve([site.path, "--port", "0", "--cgi"])
        for target in ["/cgi-bin/x.sh", "//cgi-bin/x.sh", "/./cgi-bin/x.sh", "///cgi-bin/x.sh", "/%63gi-bin/x.sh",
                       "/cgi%2Dbin/x.sh", "/cgi-bin/./x.sh", "/cgi-bin//x.sh", "http://localhost//cgi-bin/x.sh", "/cgi-bin/%78.sh"] {
            let out = try await rawExchange(serve.port, "GET \(target) HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
            #expect(!out.contains(HostileCGISite.marker), "\(target) returned the script's source")
            #expect(out.hasPrefix("HTTP/1.1 200 ") && out.hasSuffix("ran x"), "\(target): \(out)")
        }
        // Listings and links into the scripts' folder: never its names.
        for target in ["/cgi-bin/", "//cgi-bin/", "/./cgi-bin/", "/%63gi-bin/", "/scripts/", "/scripts/x.sh", "/cgi-bin"] {
            let out = try await rawExchange(serve.port, "GET \(target) HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
            #expect(!out.contains(HostileCGISite.marker) && !out.contains("x.sh"), "\(target): \(out)")
            #expect(out.hasPrefix("HTTP/1.1 404 "), "\(target): \(out.prefix(40))")
        }
        let root = try await rawExchange(serve.port, "GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        #expect(root.contains("page.txt") && !root.contains("cgi-bin") && !root.contains("scripts"), "\(root)")
        #expect(await serve.stop() == 0)
    }

    @Test("a script that exits without reading a large body neither kills nor wedges the server")
    func scriptIgnoresBody() async throws {
        let site = try HostileCGISite()
        let serve = try Serve([site.path, "--port", "0", "--cgi"])
        let body = String(repeating: "x", count: 8 << 20)  // far past what a pipe buffers
        let request = "POST /cgi-bin/deaf.sh HTTP/1.1\r\nHost: localhost\r\nContent-Length: \(body.utf8.count)\r\n"
            + "Connection: close\r\n\r\n"
        let port = serve.port
        let out = try await blocking {
            let socket = try TestSocket(port: port, timeoutSeconds: 10)
            try socket.send(request)
            try? socket.send(body)  // the server may stop reading once the script is gone
            return String(decoding: try socket.readToEnd(), as: UTF8.self)
        }
        // All of the answer arrives (the body is chunked, to its last chunk): no reset destroyed it.
        #expect(out.hasPrefix("HTTP/1.1 200 ") && out.hasSuffix("\r\nheard nothing\r\n0\r\n\r\n"), "\(out.prefix(300))")
        let after = try await sh("curl -s \(serve.base)/cgi-bin/x.sh")
        #expect(after == "ran x", "the server still serves: \(after)")
        #expect(await serve.stop() == 0)
    }

    @Test("a local redirect to another script runs it; a redirect loop is bounded (502)")
    func localRedirects() async throws {
        let site = try HostileCGISite()
        let serve = try Serve([site.path, "--port", "0", "--cgi"])
        let hop = try await sh("curl -s -w ' %{http_code}' \(serve.base)/cgi-bin/hop.sh")
        #expect(hop == "ran x 200", "\(hop)")
        let loop = try await sh("curl -s -o /dev/null -w '%{http_code}' --max-time 10 \(serve.base)/cgi-bin/loop.sh")
        #expect(loop == "502", "\(loop)")
        #expect(await serve.stop() == 0)
    }

    @Test("the environment: no HTTP_PROXY (httpoxy), no underscore aliases, one CONTENT_LENGTH, the real port, the absolute-form host")
    func environment() async throws {
        let site = try HostileCGISite()
        // a.example: the absolute-form target's host below, allowed on this loopback server.
        let serve = try Serve([site.path, "--port", "0", "--cgi", "--allowed-host", "a.example"])
        let port = serve.port
        let env = try await rawExchange(port, "POST /cgi-bin/env.sh/p/q HTTP/1.1\r\nHost: localhost\r\nProxy: http://evil.example:1\r\n"
            + "X-Forwarded-For: 10.0.0.1\r\nX_Forwarded_For: 6.6.6.6\r\nContent-Length: 5\r\nContent-Length: 5\r\n"
            + "Connection: close\r\n\r\nhello")
        #expect(env.hasPrefix("HTTP/1.1 200 "), "\(env)")
        #expect(!env.contains("HTTP_PROXY"), "httpoxy: \(env)")
        #expect(env.contains("HTTP_X_FORWARDED_FOR=10.0.0.1\n") && !env.contains("6.6.6.6"), "\(env)")
        #expect(env.contains("CONTENT_LENGTH=5\n"), "\(env)")
        #expect(env.contains("SERVER_PORT=\(port)\n"), "\(env)")
        #expect(env.contains("PATH_INFO=/p/q\n"), "\(env)")
        let realRoot = URL(fileURLWithPath: site.path).resolvingSymlinksInPath().path
        #expect(env.contains("PATH_TRANSLATED=\(realRoot)/p/q\n"), "PATH_TRANSLATED maps through the document root: \(env)")
        #expect(env.hasSuffix("BODY\nhello"), "\(env)")

        let chunked = try await rawExchange(port, "POST /cgi-bin/env.sh HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n"
            + "Connection: close\r\n\r\n3\r\nabc\r\n4\r\ndefg\r\n0\r\n\r\n")
        #expect(chunked.contains("CONTENT_LENGTH=7\n") && chunked.hasSuffix("BODY\nabcdefg"), "\(chunked)")

        let absolute = try await rawExchange(port, "GET http://a.example/cgi-bin/env.sh HTTP/1.1\r\nHost: b.example\r\nConnection: close\r\n\r\n")
        #expect(absolute.contains("HTTP_HOST=a.example\n") && !absolute.contains("b.example"), "\(absolute)")
        #expect(await serve.stop() == 0)
    }

    @Test("PATH_INFO and script names with dot-segments or encoded slashes are refused (400)", arguments: [
        "/cgi-bin/env.sh/../../etc/passwd", "/cgi-bin/env.sh/%2e%2e/%2e%2e/etc/passwd", "/cgi-bin/env.sh/..%2f..%2fetc/passwd",
        "/cgi-bin/env.sh/a%2F..%2F..%2Fb", "/cgi-bin/sub%2F.secret", "/cgi-bin/sub%5C.secret",
    ])
    func pathInfoTraversal(target: String) async throws {
        let site = try HostileCGISite()
        let serve = try Serve([site.path, "--port", "0", "--cgi"])
        let out = try await rawExchange(serve.port, "GET \(target) HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        #expect(out.hasPrefix("HTTP/1.1 400 "), "\(target): \(out)")
        #expect(!out.contains("dotfile") && !out.contains("root:"), "\(out)")
        #expect(await serve.stop() == 0)
    }

    @Test("a script's interim, upgrade or invalid Status is a 502, never sent as the answer",
          arguments: ["100", "101", "102", "103", "0", "42", "600", "999", "20x", "2000"])
    func scriptStatus(code: String) async throws {
        let site = try HostileCGISite()
        let serve = try Serve([site.path, "--port", "0", "--cgi"])
        let out = try await rawExchange(serve.port, "GET /cgi-bin/status-\(code).sh HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        #expect(out.hasPrefix("HTTP/1.1 502 "), "Status \(code): \(out)")
        #expect(await serve.stop() == 0)
    }

    @Test("--cgi-max caps scripts running at once: past it 503 with Retry-After")
    func concurrencyCap() async throws {
        let site = try HostileCGISite()
        let serve = try Serve([site.path, "--port", "0", "--cgi", "--cgi-max", "2"])
        let out = try await sh("""
            for i in 1 2 3 4 5; do curl -s -o /dev/null -D /tmp/cgimax.$$.$i -w '%{http_code}\\n' \(serve.base)/cgi-bin/nap.sh & done
            wait; cat /tmp/cgimax.$$.* | grep -i '^retry-after' | sort | uniq -c; rm -f /tmp/cgimax.$$.*
            """)
        let codes = out.split(separator: "\n").map(String.init).filter { $0.count == 3 }
        #expect(codes.filter { $0 == "200" }.count == 2, "\(out)")
        #expect(codes.filter { $0 == "503" }.count == 3, "\(out)")
        #expect(out.contains("3 Retry-After: 1") || out.contains("3 retry-after: 1"), "\(out)")
        // The slot is taken before a chunked body is buffered: with every slot busy, a chunked upload that
        // never ends is refused at once instead of being held in memory. (It waits until both naps run, and they
        // nap 4 s: a fixed 0.3 s and 1 s naps were not enough for python to start and connect on a loaded
        // machine, with the deployment tests' wrk beside it.)
        let busy = try await sh("""
            curl -s -o /dev/null \(serve.base)/cgi-bin/long-nap.sh & curl -s -o /dev/null \(serve.base)/cgi-bin/long-nap.sh &
            for i in $(seq 100); do [ "$(pgrep -fc 'cgi-bin/long-nap[.]sh')" -ge 2 ] && break; sleep 0.05; done
            python3 -c 'import socket,sys; s=socket.create_connection(("127.0.0.1", \(serve.port))); s.settimeout(3); s.sendall(b"POST /cgi-bin/env.sh HTTP/1.1\\r\\nHost: localhost\\r\\nTransfer-Encoding: chunked\\r\\n\\r\\n5\\r\\nhello\\r\\n"); print(s.recv(100).split(b"\\r\\n")[0].decode())'
            wait
            """)
        #expect(busy.hasPrefix("HTTP/1.1 503"), "\(busy)")
        // Slots come back: once they are done, scripts run again.
        #expect(try await sh("curl -s \(serve.base)/cgi-bin/nap.sh") == "rested")
        #expect(await serve.stop() == 0)
    }

    @Test("a child that escaped the process group cannot hold the response past --cgi-timeout")
    func escapedChild() async throws {
        let site = try HostileCGISite()
        let serve = try Serve([site.path, "--port", "0", "--cgi", "--cgi-timeout", "1"])
        let started = Date()
        let out = try await sh("curl -s --max-time 20 -w ' %{http_code}' \(serve.base)/cgi-bin/escape.sh; echo \" exit=$?\"")
        let took = Date().timeIntervalSince(started)
        #expect(out.hasPrefix("started 200"), "\(out)")
        #expect(took < 5, "the response was held \(took) s by the escaped child")
        _ = try? await sh("pkill -f '^sleep 30$' || true")
        #expect(await serve.stop() == 0)
    }
}
