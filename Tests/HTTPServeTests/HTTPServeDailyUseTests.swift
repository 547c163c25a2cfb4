import Foundation
import TestSupport
import Testing

/// Reads `pipe` until `text` appears or `seconds` pass; returns what was read.
func readPipe(_ pipe: Pipe, until text: String, seconds: Double = 10) async throws -> String {
    try await blocking {
        let handle = pipe.fileHandleForReading
        var seen = Data()
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline, !String(decoding: seen, as: UTF8.self).contains(text) {
            var poller = pollfd(fd: handle.fileDescriptor, events: Int16(POLLIN), revents: 0)
            guard poll(&poller, 1, 100) > 0 else { continue }
            let more = handle.availableData
            if more.isEmpty { break }
            seen += more
        }
        return String(decoding: seen, as: UTF8.self)
    }
}

@Suite("httpserve daily use", .serialized)
struct HTTPServeDailyUseTests {
    @Test("a Combined Log Format line per request on stdout by default, with the bytes actually sent: a download cut short logs what went out")
    func accessLogByDefault() async throws {
        let folder = try BigFolder()
        let serve = try Serve([folder.path, "-p", "0", "--threads", "1"])
        #expect(try await sh("curl -s \(serve.base)/small.txt") == "small")
        _ = try await sh("curl -s -o /dev/null \(serve.base)/nothing-here")
        // Read the first 2 MiB of 16 MiB, then hang up.
        _ = try await python("""
            import socket
            s = socket.create_connection(('127.0.0.1', \(serve.port)))
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
            s.sendall(b'GET /big.bin HTTP/1.1\\r\\nHost: localhost\\r\\n\\r\\n')
            got = 0
            while got < 2 << 20:
                got += len(s.recv(65536))
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b'\\x01\\x00\\x00\\x00\\x00\\x00\\x00\\x00')
            s.close()
            """)
        let log = try await readPipe(serve.stdout, until: "\"GET /big.bin HTTP/1.1\"")
        let lines = log.split(separator: "\n").map(String.init)
        #expect(lines.contains { $0.hasPrefix("127.0.0.1 - - [") && $0.contains("\"GET /small.txt HTTP/1.1\" 200 5 \"-\" \"curl/") }, "\(log)")
        #expect(lines.contains { $0.contains("\"GET /nothing-here HTTP/1.1\" 404 ") && !$0.contains(" 404 - ") }, "\(log)")
        let big = try #require(lines.first { $0.contains("\"GET /big.bin HTTP/1.1\" 200 ") })
        let sent = try #require(Int(big.firstMatch(of: #/" 200 (\d+) /#)?.1 ?? ""))
        #expect(sent >= 2 << 20 && sent < 16 << 20, "logged \(sent) of 16 MiB for a download cut at 2 MiB: \(big)")
        #expect(await serve.stop() == 0)
    }

    @Test("--quiet prints nothing; --access-log FILE still writes the file")
    func quiet() async throws {
        let folder = try Folder()
        let log = folder.path + "/../access-\(UUID().uuidString).log"
        defer { try? FileManager.default.removeItem(atPath: log) }
        // Nothing is printed, so the port is chosen here (free a moment ago) instead of read from a start line.
        let port = try #require(Int(try await sh("python3 -c \"import socket; s = socket.socket(); s.bind(('127.0.0.1', 0)); print(s.getsockname()[1])\"").trimmingCharacters(in: .whitespacesAndNewlines)))
        let process = Process()
        process.executableURL = URL(fileURLWithPath: httpserveBinary)
        process.arguments = [folder.path, "-p", String(port), "--quiet", "--access-log", log]
        let stdout = Pipe()
        process.standardOutput = stdout
        try startUnblocked(process)
        defer { if process.isRunning { process.terminate() } }
        _ = try await sh("for i in $(seq 100); do curl -s -o /dev/null http://127.0.0.1:\(port)/ && break; sleep 0.05; done")
        #expect(try await sh("curl -s http://127.0.0.1:\(port)/sub/a.txt") == "a")
        try await Task.sleep(for: .milliseconds(200))
        #expect((try? String(contentsOfFile: log, encoding: .utf8))?.contains("\"GET /sub/a.txt HTTP/1.1\" 200 1 ") == true)
        kill(process.processIdentifier, SIGTERM)
        let rest = try await blocking { () -> String in
            process.waitUntilExit()
            return String(decoding: stdout.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        }
        #expect(process.terminationStatus == 0)
        #expect(rest.isEmpty, "\(rest)")
    }

    @Test("--auth: 401 with a challenge without credentials or with wrong ones, 200 with curl -u; the password is not in the log")
    func basicAuth() async throws {
        let folder = try Folder()
        let hash = try await sh("printf %s hunter2 | sha256sum | cut -d' ' -f1").trimmingCharacters(in: .whitespacesAndNewlines)
        let serve = try Serve([folder.path, "-p", "0", "--auth", "alice:wonderland", "--auth", "bob:sha256:\(hash)"])
        let url = "\(serve.base)/sub/a.txt"
        let none = try await sh("curl -s -D - -o /dev/null \(url)")
        #expect(none.hasPrefix("HTTP/1.1 401"), "\(none)")
        #expect(none.contains("WWW-Authenticate: Basic realm=\"httpserve\", charset=\"UTF-8\"\r\n"), "\(none)")
        #expect(try await sh("curl -s -o /dev/null -w '%{http_code}' -u alice:wrong \(url)") == "401")
        #expect(try await sh("curl -s -u alice:wonderland \(url)") == "a")
        #expect(try await sh("curl -s -u bob:hunter2 \(url)") == "a")
        let log = try await readPipe(serve.stdout, until: "\" 200 1 ")
        #expect(!log.contains("wonderland") && !log.contains("hunter2") && !log.contains("YWxpY2U"), "\(log)")
        #expect(await serve.stop() == 0)
        let bad = try await runToEnd([folder.path, "--auth", "alice"])
        #expect(bad.status != 0 && bad.stderr.contains("--auth: '--auth' wants USER:PASSWORD or USER:sha256:HEX"), "\(bad.stderr)")
    }

    @Test("--header adds fields to every answer, 404s too; a framing field or a broken line is refused at start")
    func headers() async throws {
        let folder = try Folder()
        let serve = try Serve([folder.path, "-p", "0", "--header", "X-Frame-Options: DENY", "--header", "Content-Security-Policy: default-src 'self'"])
        for path in ["/sub/a.txt", "/missing"] {
            let head = try await sh("curl -s -D - -o /dev/null \(serve.base)\(path)")
            #expect(head.contains("X-Frame-Options: DENY\r\n"), "\(path): \(head)")
            #expect(head.contains("Content-Security-Policy: default-src 'self'\r\n"), "\(path): \(head)")
        }
        #expect(await serve.stop() == 0)
        let framing = try await runToEnd([folder.path, "--header", "Content-Length: 3"])
        #expect(framing.status != 0 && framing.stderr.contains("Content-Length is set by the server and cannot be configured"), "\(framing.stderr)")
        let broken = try await runToEnd([folder.path, "--header", "X-A"])
        #expect(broken.status != 0 && broken.stderr.contains("'X-A' is not 'Name: value'"), "\(broken.stderr)")
    }

    @Test("localhost answers on 127.0.0.1 and on ::1, at the same port")
    func localhostBothFamilies() async throws {
        let folder = try Folder()
        let serve = try Serve([folder.path, "-b", "localhost", "-p", "0"])
        let port = try #require(Int(serve.firstLine.firstMatch(of: /localhost:(\d+)\//)?.1 ?? ""), "\(serve.firstLine)")
        #expect(try await sh("curl -s -4 http://127.0.0.1:\(port)/sub/a.txt") == "a")
        #expect(try await sh("curl -s -6 'http://[::1]:\(port)/sub/a.txt'") == "a")
        #expect(try await sh("curl -s http://localhost:\(port)/sub/a.txt") == "a")
        #expect(await serve.stop() == 0)
    }

    @Test("0.0.0.0 prints the loopback URL first, then each other address of the machine")
    func everyAddress() async throws {
        let folder = try Folder()
        let serve = try Serve([folder.path, "-b", "0.0.0.0", "-p", "0"])
        #expect(serve.firstLine.hasSuffix("at http://127.0.0.1:\(serve.port)/ (every address of this machine)"), "\(serve.firstLine)")
        let others = try await sh("hostname -I 2>/dev/null || true").split(separator: " ").map { $0.trimmingCharacters(in: .whitespacesAndNewlines) }
            .filter { !$0.isEmpty && !$0.contains(":") }
        if let address = others.first {
            let more = serve.initialOutput.contains(address) ? serve.initialOutput : try await readPipe(serve.stdout, until: address)
            #expect(more.contains("  also http://\(address):\(serve.port)/"), "\(more)")
            #expect(try await sh("curl -s http://\(address):\(serve.port)/sub/a.txt") == "a")
        }
        #expect(await serve.stop() == 0)
    }

    @Test("the first Ctrl-C says what is still open and waits; the second stops at once")
    func secondInterrupt() async throws {
        let folder = try BigFolder()
        let serve = try Serve([folder.path, "-p", "0", "--threads", "1"])
        // A download that reads nothing keeps its connection busy.
        let hold = try TestSocket(port: serve.port, receiveBuffer: 4096)
        try hold.send("GET /big.bin HTTP/1.1\r\nHost: localhost\r\n\r\n")
        _ = try hold.readSome(max: 1024)
        kill(serve.process.processIdentifier, SIGINT)
        let said = try await readPipe(serve.stdout, until: "Press Ctrl-C again to stop now.")
        #expect(said.contains("Shutting down (SIGINT): 1 connection still open; waiting up to 10 s. Press Ctrl-C again to stop now."), "\(said)")
        let started = Date()
        #expect(await serve.stop(SIGINT, seconds: 5) == 130)
        #expect(Date().timeIntervalSince(started) < 3)
        hold.close()
    }

    @Test("every example binary on a port in use says so and how to fix it, exits 1, and prints no trace", arguments: [
        "hello", "form-post", "probe-target", "line-chat", "notes-service",
    ])
    func examplesOnATakenPort(_ binary: String) async throws {
        let folder = try Folder()
        let taken = try Serve([folder.path, "-p", "0"])
        let port = taken.port
        let result = try await blocking { () -> (Int32, String) in
            let p = Process()
            p.executableURL = URL(fileURLWithPath: builtBinary(binary))
            p.arguments = binary == "notes-service" ? [String(port)] : ["--port", String(port)]
            let err = Pipe()
            p.standardError = err
            p.standardOutput = Pipe()
            try startUnblocked(p)
            let text = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            p.waitUntilExit()
            return (p.terminationStatus, text)
        }
        #expect(result.0 == 1, "\(binary) exited \(result.0)")
        #expect(result.1.hasPrefix("Error: port \(taken.port) on 127.0.0.1 is in use"), "\(binary): \(result.1)")
        #expect(result.1.split(separator: "\n").count <= 2, "\(binary): \(result.1)")
        #expect(!result.1.contains("errno") && !result.1.contains("bind("), "\(binary): \(result.1)")
        #expect(await taken.stop() == 0)
    }

    @Test("precompressed NAME.br and NAME.zst are sent to clients that accept them, by q-value")
    func precompressedSiblings() async throws {
        let folder = try Folder()
        try Data("BR".utf8).write(to: URL(fileURLWithPath: folder.path + "/page.txt.br"))
        try Data("ZSTD".utf8).write(to: URL(fileURLWithPath: folder.path + "/page.txt.zst"))
        let serve = try Serve([folder.path, "-p", "0"])
        let br = try await sh("curl -s -D - -H 'Accept-Encoding: gzip, br' \(serve.base)/page.txt")
        #expect(br.contains("Content-Encoding: br\r\n") && br.hasSuffix("\r\n\r\nBR"), "\(br)")
        let zstd = try await sh("curl -s -D - -H 'Accept-Encoding: br;q=0.1, zstd' \(serve.base)/page.txt")
        #expect(zstd.contains("Content-Encoding: zstd\r\n") && zstd.hasSuffix("\r\n\r\nZSTD"), "\(zstd)")
        #expect(await serve.stop() == 0)
    }

    @Test("what the server may not read is 403 (run as nobody), and not linked in the listing")
    func forbidden() async throws {
        let folder = try Folder()
        let sub = folder.path + "/sub"
        try Data("secret".utf8).write(to: URL(fileURLWithPath: sub + "/locked.txt"))
        chmod(sub + "/locked.txt", 0o000)
        try FileManager.default.createDirectory(atPath: sub + "/closed", withIntermediateDirectories: false)
        try Data("x".utf8).write(to: URL(fileURLWithPath: sub + "/closed/x.txt"))
        chmod(sub + "/closed", 0o700)
        chmod(folder.path, 0o755)
        chmod(sub, 0o755)
        let serve = try Serve(["--reuid=nobody", "--regid=nogroup", "--clear-groups", httpserveBinary, folder.path, "-p", "0"], binary: "/usr/bin/setpriv")
        #expect(serve.port > 0, "\(serve.firstLine)")
        #expect(try await sh("curl -s -o /dev/null -w '%{http_code}' \(serve.base)/sub/locked.txt") == "403")
        #expect(try await sh("curl -s -o /dev/null -w '%{http_code}' \(serve.base)/sub/closed/") == "403")
        #expect(try await sh("curl -s -o /dev/null -w '%{http_code}' \(serve.base)/sub/closed/x.txt") == "403")
        #expect(try await sh("curl -s -o /dev/null -w '%{http_code}' \(serve.base)/sub/a.txt") == "200")
        let listing = try await sh("curl -s \(serve.base)/sub/")
        #expect(listing.contains("locked.txt") && !listing.contains("href=\"locked.txt\""), "\(listing)")
        #expect(listing.contains("closed") && !listing.contains("href=\"closed/\""), "\(listing)")
        #expect(listing.contains("href=\"a.txt\""), "\(listing)")
        // The folder's ZIP leaves out what cannot be read, instead of failing part-way.
        let zip = folder.path + "/../sub-\(UUID().uuidString).zip"
        defer { try? FileManager.default.removeItem(atPath: zip) }
        #expect(try await sh("curl -s -o \(zip) -w '%{http_code}' '\(serve.base)/sub/?download=zip'") == "200")
        let names = try await sh("python3 -c \"import zipfile; print(sorted(zipfile.ZipFile('\(zip)').namelist()))\"")
        #expect(names == "['a.txt']\n", "\(names)")
        #expect(await serve.stop() == 0)
    }
}

@Suite("httpserve metrics", .serialized)
struct HTTPServeMetricsTests {
    @Test("--metrics /metrics serves the Prometheus text format: requests by method and status, a duration histogram, connections")
    func prometheus() async throws {
        let folder = try Folder()
        let serve = try Serve([folder.path, "-p", "0", "--metrics", "/metrics"])
        _ = try await sh("curl -s -o /dev/null \(serve.base)/sub/a.txt; curl -s -o /dev/null \(serve.base)/missing; curl -s -o /dev/null -X DELETE \(serve.base)/")
        let head = try await sh("curl -s -D - -o /dev/null \(serve.base)/metrics")
        #expect(head.contains("Content-Type: text/plain; version=0.0.4; charset=utf-8\r\n"), "\(head)")
        let text = try await sh("curl -s \(serve.base)/metrics")
        #expect(text.contains("# TYPE http_requests_total counter"), "\(text)")
        // The file and the first read of /metrics: 2 (this read is counted once it is answered).
        #expect(text.contains(#"http_requests_total{method="GET",status="200"} 2"#), "\(text)")
        #expect(text.contains(#"http_requests_total{method="GET",status="404"} 1"#), "\(text)")
        #expect(text.contains(#"http_requests_total{method="DELETE",status="405"} 1"#), "\(text)")
        #expect(text.contains("# TYPE http_request_duration_seconds histogram"), "\(text)")
        #expect(text.contains(#"http_request_duration_seconds_count{method="GET"}"#), "\(text)")
        #expect(text.contains("http_server_connections_total"), "\(text)")
        #expect(text.contains("http_server_open_connections"), "\(text)")
        #expect(await serve.stop() == 0)
        let bad = try await runToEnd([folder.path, "--metrics", "metrics"])
        #expect(bad.status != 0 && bad.stderr.contains("--metrics wants a path starting with /"), "\(bad.stderr)")
    }
}
