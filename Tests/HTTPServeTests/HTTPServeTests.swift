import Foundation
import TestSupport
import Testing

#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// The httpserve binary built beside this test bundle.
let httpserveBinary = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
    .deletingLastPathComponent().appendingPathComponent("httpserve").path

/// A program built beside this test bundle (the examples, say).
func builtBinary(_ name: String) -> String {
    URL(fileURLWithPath: httpserveBinary).deletingLastPathComponent().appendingPathComponent(name).path
}

/// A running httpserve process (or another server binary that prints its URL first).
final class Serve {
    let process = Process()
    let stdout = Pipe()
    let stderr = Pipe()
    private(set) var firstLine = ""
    /// Everything read while waiting for the first line (later lines may have come with it).
    private(set) var initialOutput = ""
    private(set) var port = 0

    init(_ arguments: [String], binary: String = httpserveBinary, environment: [String: String] = [:]) throws {
        process.executableURL = URL(fileURLWithPath: binary)
        process.arguments = arguments
        if !environment.isEmpty {
            process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        }
        process.standardOutput = stdout
        process.standardError = stderr
        try startUnblocked(process)
        var buffer = Data()
        let deadline = Date().addingTimeInterval(10)
        // Polled, so a server that prints nothing (or dies) cannot hold the test past the deadline.
        while !buffer.contains(UInt8(ascii: "\n")) && Date() < deadline && process.isRunning {
            var poller = pollfd(fd: stdout.fileHandleForReading.fileDescriptor, events: Int16(POLLIN), revents: 0)
            guard poll(&poller, 1, 100) > 0 else { continue }
            let more = stdout.fileHandleForReading.availableData
            if more.isEmpty { break }
            buffer += more
        }
        firstLine = String(decoding: buffer.prefix { $0 != UInt8(ascii: "\n") }, as: UTF8.self)
        initialOutput = String(decoding: buffer, as: UTF8.self)
        if let match = firstLine.firstMatch(of: /127\.0\.0\.1:(\d+)\//) { port = Int(match.1)! }
    }

    var base: String { "http://127.0.0.1:\(port)" }

    /// The process's peak resident set size in bytes (`VmHWM`), while it runs.
    var peakRSS: Int? { status("VmHWM") }

    /// The process's resident set size in bytes (`VmRSS`), while it runs.
    var rss: Int? { status("VmRSS") }

    private func status(_ field: String) -> Int? {
        guard let text = try? String(contentsOfFile: "/proc/\(process.processIdentifier)/status", encoding: .utf8),
            let line = text.split(separator: "\n").first(where: { $0.hasPrefix(field + ":") }),
            let kB = Int(line.dropFirst(field.count + 1).trimmingCharacters(in: .whitespaces).dropLast(3))
        else { return nil }
        return kB * 1024
    }

    /// Sends a signal and waits (up to `seconds`) for the exit status.
    func stop(_ signal: Int32 = SIGTERM, seconds: Double = 15) async -> Int32? {
        kill(process.processIdentifier, signal)
        let deadline = Date().addingTimeInterval(seconds)
        while process.isRunning && Date() < deadline { try? await Task.sleep(for: .milliseconds(20)) }
        if process.isRunning {
            process.terminate()
            return nil
        }
        return process.terminationStatus
    }

    deinit { if process.isRunning { process.terminate() } }
}

/// Runs httpserve to completion (for argument errors), returning status and stderr.
func runToEnd(_ arguments: [String], environment: [String: String] = [:]) async throws -> (status: Int32, stdout: String, stderr: String) {
    try await blocking {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: httpserveBinary)
        p.arguments = arguments
        if !environment.isEmpty {
            p.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        }
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        try startUnblocked(p)
        let o = out.fileHandleForReading.readDataToEndOfFile()
        let e = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return (p.terminationStatus, String(decoding: o, as: UTF8.self), String(decoding: e, as: UTF8.self))
    }
}

func sh(_ command: String) async throws -> String {
    try await blocking { try runProcess("/bin/sh", ["-c", command + " 2>&1"]) }
}

/// A temporary folder to serve.
final class Folder {
    let path: String
    let text = String(repeating: "httpserve serves folders. ", count: 400)
    init() throws {
        path = FileManager.default.temporaryDirectory.appendingPathComponent("httpserve-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: path + "/sub", withIntermediateDirectories: true)
        _ = FileManager.default.createFile(atPath: path + "/page.txt", contents: Data(text.utf8))
        _ = FileManager.default.createFile(atPath: path + "/.env", contents: Data("SECRET=1".utf8))
        _ = FileManager.default.createFile(atPath: path + "/sub/a.txt", contents: Data("a".utf8))
        _ = FileManager.default.createFile(atPath: path + "/index.html", contents: Data("<p>spa</p>".utf8))
    }
    deinit { try? FileManager.default.removeItem(atPath: path) }
}

@Suite("httpserve CLI", .serialized)
struct HTTPServeTests {
    @Test("prints one start-up line with the real port, then serves; SIGTERM exits 0")
    func startsAndStops() async throws {
        let folder = try Folder()
        let serve = try Serve([folder.path, "--port", "0"])
        let real = URL(fileURLWithPath: folder.path).resolvingSymlinksInPath().path
        #expect(serve.firstLine == "Serving \(real) at http://127.0.0.1:\(serve.port)/", "got \(serve.firstLine)")
        #expect(serve.port > 0)
        #expect(try await sh("curl -s \(serve.base)/sub/a.txt") == "a")
        #expect(await serve.stop(SIGTERM) == 0)
    }

    @Test("SIGINT shuts down gracefully too")
    func sigint() async throws {
        let folder = try Folder()
        let serve = try Serve([folder.path, "--port", "0"])
        #expect(serve.port > 0)
        #expect(await serve.stop(SIGINT) == 0)
    }

    @Test("curl --compressed, -r and -z get gzip, a range, and 304")
    func curlFeatures() async throws {
        let folder = try Folder()
        let serve = try Serve([folder.path, "--port", "0"])
        let url = serve.base + "/page.txt"
        let headers = try await sh("curl -s --compressed -D - -o /tmp/httpserve-page.out \(url)")
        #expect(headers.lowercased().contains("content-encoding: gzip"), "\(headers)")
        #expect(FileManager.default.contents(atPath: "/tmp/httpserve-page.out") == Data(folder.text.utf8))
        #expect(try await sh("curl -s -r 5-13 \(url)") == String(folder.text.utf8.dropFirst(5).prefix(9))!)
        #expect(try await sh("curl -s -o /dev/null -w '%{http_code}' -z 'Fri, 01 Jan 2100 00:00:00 GMT' \(url)") == "304")
        #expect(try await sh("curl -s -o /dev/null -w '%{http_code}' -z 'Sat, 01 Jan 2000 00:00:00 GMT' \(url)") == "200")
        let multi = try await sh("curl -s -D - -o /dev/null -r 0-1,100-101 \(url)")
        #expect(multi.contains("multipart/byteranges"), "\(multi)")
        try? FileManager.default.removeItem(atPath: "/tmp/httpserve-page.out")
        #expect(await serve.stop() == 0, "httpserve must exit 0 on SIGTERM")
    }

    @Test("Python http.client: conditional GET with the ETag is 304; a Range is 206")
    func pythonClient() async throws {
        let folder = try Folder()
        let serve = try Serve([folder.path, "--port", "0"])
        let script = """
            import http.client
            c = http.client.HTTPConnection('127.0.0.1', \(serve.port))
            c.request('GET', '/page.txt'); r = c.getresponse(); body = r.read(); etag = r.getheader('ETag')
            c.request('GET', '/page.txt', headers={'If-None-Match': etag}); r2 = c.getresponse(); r2.read()
            c.request('GET', '/page.txt', headers={'Range': 'bytes=-4'}); r3 = c.getresponse(); tail = r3.read()
            print(r.status, len(body), r2.status, r3.status, tail.decode())
            """
        let out = try await sh("python3 -c \"\(script)\"")
        #expect(out.trimmingCharacters(in: .whitespacesAndNewlines) == "200 \(folder.text.utf8.count) 304 206 rs.", "\(out)")
        #expect(await serve.stop() == 0, "httpserve must exit 0 on SIGTERM")
    }

    @Test("URLSession reads a listing as JSON and a file")
    func urlSession() async throws {
        let folder = try Folder()
        let serve = try Serve([folder.path, "--port", "0"])
        var request = URLRequest(url: URL(string: serve.base + "/sub/")!)
        request.setValue("application/json", forHTTPHeaderField: "Accept")
        let session = URLSession(configuration: .ephemeral)
        let (data, _) = try await session.data(for: request)
        let json = try JSONSerialization.jsonObject(with: data) as? [String: Any]
        #expect((json?["entries"] as? [[String: Any]])?.first?["name"] as? String == "a.txt")
        let (file, _) = try await session.data(from: URL(string: serve.base + "/page.txt")!)
        #expect(file == Data(folder.text.utf8))
        session.invalidateAndCancel()
        #expect(await serve.stop() == 0, "httpserve must exit 0 on SIGTERM")
    }

    @Test("flags: --no-listing, --hidden, --cors, --cache-control, --spa, --access-log")
    func flags() async throws {
        let folder = try Folder()
        let log = folder.path + "/../httpserve-\(UUID().uuidString).log"
        defer { try? FileManager.default.removeItem(atPath: log) }
        let serve = try Serve([folder.path, "--port", "0", "--no-listing", "--hidden", "--cors", "--cache-control", "max-age=60",
                               "--spa", "index.html", "--access-log", log])
        let b = serve.base
        // No listing: a folder without index.html is not found (for clients that do not take the SPA page).
        #expect(try await sh("curl -s -o /dev/null -w '%{http_code}' -H 'Accept: application/json' \(b)/sub/") == "404")
        #expect(try await sh("curl -s \(b)/.env") == "SECRET=1")
        let headers = try await sh("curl -s -D - -o /dev/null -H 'Origin: https://x.example' \(b)/page.txt").lowercased()
        #expect(headers.contains("access-control-allow-origin: *"))
        #expect(headers.contains("cache-control: max-age=60"))
        // A browser's preflight: a read-only server offers GET and HEAD only.
        let preflight = try await sh("curl -s -i -X OPTIONS -H 'Origin: https://x.example' -H 'Access-Control-Request-Method: PUT' \(b)/page.txt")
        #expect(preflight.hasPrefix("HTTP/1.1 204"), "\(preflight)")
        #expect(preflight.contains("Access-Control-Allow-Methods: GET, HEAD\r\n"), "\(preflight)")
        #expect(try await sh("curl -s -H 'Accept: text/html' \(b)/some/client/route") == "<p>spa</p>")
        #expect(await serve.stop() == 0, "httpserve must exit 0 on SIGTERM")
        let lines = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
        let clf = /^127\.0\.0\.1 - - \[\d\d\/[A-Z][a-z]{2}\/\d{4}:\d\d:\d\d:\d\d \+0000\] "GET \/page\.txt HTTP\/1\.1" 200 \d+ "-" "curl\/[^"]+"$/
        #expect(lines.split(separator: "\n").contains { $0.wholeMatch(of: clf) != nil }, "\(lines)")
    }

    @Test("bad flags and a missing ROOT fail with a clear message and no stack trace", arguments: [
        (["/definitely/not/here"], "is not a folder"),
        (["--port", "70000"], "--port must be 0 to 65535"),
        (["--threads", "0"], "--threads must be at least 1"),
        (["--send-timeout", "0"], "timeouts must be positive"),
        (["--body-timeout", "0"], "timeouts must be positive"),
        (["--bogus"], "Unknown option '--bogus'"),
        (["--cache-control", "x", "--no-cache"], "cannot be combined"),
        (["--port", "abc"], "--port"),
        // Python's habit (`http.server 8000`), negative numbers, the short and Python-style names.
        (["8000"], "ROOT '8000' is not a folder; to listen on port 8000, use --port 8000 (or -p 8000)"),
        (["--port", "-1"], "--port must be 0 to 65535, got -1"),
        (["-p", "70000"], "--port must be 0 to 65535, got 70000"),
        (["--threads", "-2"], "--threads must be at least 1"),
        (["--max-body", "-5"], "--max-body must not be negative"),
        (["-d", "/definitely/not/here"], "ROOT '/definitely/not/here' is not a folder"),
        (["/tmp", "-d", "/tmp"], "ROOT or --directory, not both"),
        // Listening fails: the cause and the fix, not NIO's call name.
        (["-b", "10.9.9.9", "-p", "0"], "the address 10.9.9.9 is not on this machine; try 127.0.0.1"),
        (["--bind", "nothere.invalid", "-p", "0"], "the address nothere.invalid could not be resolved"),
        // Deployment flags.
        (["--proxy-protocol"], "--proxy-protocol needs --trusted-proxy CIDR"),
        (["--trusted-proxy", "10.0.0.0/33"], "--trusted-proxy: '10.0.0.0/33' is not a network"),
        (["--trusted-proxy", "proxy.example"], "--trusted-proxy: 'proxy.example' is not a network"),
        (["--health", "healthz"], "--health wants a path starting with /"),
        (["--drain-delay", "-1"], "--drain-delay must not be negative"),
    ])
    func badInput(_ arguments: [String], _ message: String) async throws {
        let result = try await runToEnd(arguments)
        #expect(result.status != 0)
        #expect(result.stderr.contains(message), "\(result.stderr)")
        #expect(!result.stderr.contains("Fatal error") && !result.stderr.contains("Stack dump"))
    }

    @Test("short flags: -d FOLDER, -p PORT, -b HOST serve like their long names; a port in use says so and how to fix it")
    func shortFlagsAndPortInUse() async throws {
        let folder = try Folder()
        let serve = try Serve(["-d", folder.path, "-p", "0", "-b", "127.0.0.1"])
        #expect(try await sh("curl -s \(serve.base)/page.txt").hasPrefix("httpserve serves folders."), "served from -d")
        let taken = try await runToEnd([folder.path, "-p", "\(serve.port)"])
        #expect(taken.status != 0)
        #expect(taken.stderr.contains("port \(serve.port) on 127.0.0.1 is in use"), "\(taken.stderr)")
        #expect(taken.stderr.contains("try port 0 for a free one"), "\(taken.stderr)")
        #expect(!taken.stderr.contains("bind(descriptor") && !taken.stderr.contains("errno"), "\(taken.stderr)")
        #expect(await serve.stop() == 0)
    }

    @Test("public/404.html answers unknown paths at any depth, and fetches nothing (style and logo inline)")
    func publicNotFoundPage() async throws {
        let publicFolder = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("public").path
        let page = try String(contentsOfFile: publicFolder + "/404.html", encoding: .utf8)
        let serve = try Serve([publicFolder, "--port", "0"])
        for target in ["/nope", "/files/nope.txt", "/a/b/c/d/"] {
            let out = try await sh("curl -s -w '%{http_code} %{content_type}' \(serve.base)\(target)")
            #expect(out == page + "404 text/html; charset=utf-8", "\(target): \(out.suffix(60))")
        }
        #expect(await serve.stop() == 0)
        #expect(page.contains("<h1>Nothing here</h1>") && page.contains("href=\"/\""))
        #expect(!page.contains("src=") && !page.contains("<link") && !page.contains("url(http") && !page.contains("@import"), "404.html fetches something")
    }

    @Test("--help fits 80 columns and shows every default")
    func helpAt80Columns() async throws {
        let help = try await runToEnd(["--help"], environment: ["COLUMNS": "80"])
        #expect(help.status == 0)
        for line in help.stdout.split(separator: "\n") {
            #expect(line.count <= 80, "too wide: \(line)")
        }
        // Wrapped text read as one line: the defaults may break across lines.
        let text = help.stdout.split(whereSeparator: \.isWhitespace).joined(separator: " ")
        #expect(text.contains("(0 picks a free one). (default: 8000)"))
        #expect(text.contains("(default: 8388608, 8 MiB)"), "the --max-body default")
        #expect(text.contains("-p, --port <port>"))
        #expect(text.contains("-b, --host, --bind <host>"))
        #expect(text.contains("-d, --directory <folder>"))
    }

    @Test("--version and --help")
    func versionAndHelp() async throws {
        let version = try await runToEnd(["--version"])
        #expect(version.status == 0)
        #expect(version.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == "0.1.0")
        let help = try await runToEnd(["--help"])
        #expect(help.stdout.contains("Examples:"))
        #expect(help.stdout.contains("--follow-symlinks"))
    }

    @Test("traversal payloads sent raw over a socket never reach a file outside ROOT")
    func rawTraversal() async throws {
        let folder = try Folder()
        let outsideName = "httpserve-outside-\(UUID().uuidString).txt"
        let outside = (folder.path as NSString).deletingLastPathComponent + "/" + outsideName
        _ = FileManager.default.createFile(atPath: outside, contents: Data("TOP SECRET".utf8))
        defer { try? FileManager.default.removeItem(atPath: outside) }
        try FileManager.default.createSymbolicLink(atPath: folder.path + "/escape", withDestinationPath: outside)
        let serve = try Serve([folder.path, "--port", "0"])
        let payloads = [
            "/../\(outsideName)", "/%2e%2e/\(outsideName)", "/sub/%2e%2e/%2e%2e/\(outsideName)", "/..%2f\(outsideName)",
            "/..%5c\(outsideName)", "/sub\\..\\..\\\(outsideName)", "/%252e%252e/\(outsideName)",
            "/%c0%ae%c0%ae/\(outsideName)", "/escape", "/page.txt%00.html", "/.env",
        ]
        for payload in payloads {
            let socket = try TestSocket(port: serve.port)
            try socket.send("GET \(payload) HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
            let answer = String(decoding: try socket.readToEnd(), as: UTF8.self)
            #expect(answer.hasPrefix("HTTP/1.1 400") || answer.hasPrefix("HTTP/1.1 404"), "\(payload): \(answer.prefix(40))")
            #expect(!answer.contains("TOP SECRET"), "\(payload) leaked a file outside ROOT")
        }
        #expect(await serve.stop() == 0)
    }
}
