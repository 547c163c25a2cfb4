import Foundation
import TestSupport
import Testing

/// Debian's headless Chromium, when installed (`.ci/run` installs it).
private let chromium = ["/usr/bin/chromium", "/usr/bin/chromium-browser"].first { FileManager.default.isExecutableFile(atPath: $0) }

/// A site for live reload: a page with a stylesheet, a script, other files, and (for --cgi) a script
/// printing HTML.
private final class LiveSite {
    let path: String
    static let page = "<!doctype html><html><head><link rel=\"stylesheet\" href=\"style.css\"></head><body><p>v1</p></body></html>"

    init(extra: [String: String] = [:]) throws {
        path = FileManager.default.temporaryDirectory.appendingPathComponent("httpserve-live-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: path + "/cgi-bin", withIntermediateDirectories: true)
        var files = [
            "index.html": Self.page,
            "style.css": "body { color: rgb(255, 0, 0) }\n</body>\n",
            "app.js": "console.log('</body>')\n",
            "notes.txt": "</body> plain text\n",
            "cgi-bin/page": "#!/bin/sh\nprintf 'Content-Type: text/html\\r\\n\\r\\n<html><body>from cgi</body></html>'\n",
        ]
        files.merge(extra) { $1 }
        for (name, text) in files { try write(name, text) }
        chmod(path + "/cgi-bin/page", 0o755)
    }

    func write(_ name: String, _ text: String) throws {
        try text.write(toFile: path + "/" + name, atomically: false, encoding: .utf8)
    }

    deinit { try? FileManager.default.removeItem(atPath: path) }
}

/// Reads a running server's stdout (the access log) as it comes.
private final class OutputReader: @unchecked Sendable {
    // @unchecked: used from one test at a time, its reads moved off the cooperative pool by `blocking`.
    private let fd: Int32
    private(set) var text: String

    init(_ serve: Serve) {
        fd = serve.stdout.fileHandleForReading.fileDescriptor
        text = serve.initialOutput
    }

    /// Waits (up to `seconds`) for `needle` in the output; returns whether it came.
    func waitFor(_ needle: String, seconds: Double = 15) async throws -> Bool {
        try await blocking {
            let deadline = Date().addingTimeInterval(seconds)
            while !self.text.contains(needle) && Date() < deadline {
                var poller = pollfd(fd: self.fd, events: Int16(POLLIN), revents: 0)
                guard poll(&poller, 1, 100) > 0 else { continue }
                var chunk = [UInt8](repeating: 0, count: 65536)
                let n = read(self.fd, &chunk, chunk.count)
                if n <= 0 { break }
                self.text += String(decoding: chunk[..<n], as: UTF8.self)
            }
            return self.text.contains(needle)
        }
    }
}

/// A Python client of the event stream: prints the status line's facts, `ready` once the first event
/// (`retry:`) came, then `reload PATH` for each reload event, until it has seen `count`.
private let eventClient = """
    import http.client, sys
    c = http.client.HTTPConnection("127.0.0.1", int(sys.argv[1]), timeout=20)
    c.request("GET", "/__httpserve/events", headers={"Accept": "text/event-stream"})
    r = c.getresponse()
    print("status", r.status, r.getheader("Content-Type"), r.getheader("Cache-Control"), r.getheader("Transfer-Encoding"), flush=True)
    event, seen = None, 0
    while seen < int(sys.argv[2]):
        line = r.readline().decode()
        if line == "":
            break
        if line.startswith("retry:"):
            print("ready", flush=True)
        elif line.startswith("event:"):
            event = line[6:].strip()
        elif line.startswith("data:") and event == "reload":
            print("reload", line[5:].strip(), flush=True)
            seen += 1
        elif line == "\\n":
            event = None
    """

/// Runs the Python event client; its output is read line by line.
private final class EventClient: @unchecked Sendable {
    // @unchecked: one test uses it at a time; reads are moved off the cooperative pool by `blocking`.
    let process = Process()
    private let out = Pipe()
    private var buffered = ""

    init(port: Int, count: Int) throws {
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", "-c", eventClient, "\(port)", "\(count)"]
        process.standardOutput = out
        try startUnblocked(process)
    }

    /// The next line it printed (empty at its end).
    func line() async throws -> String {
        try await blocking {
            while !self.buffered.contains("\n") {
                let more = self.out.fileHandleForReading.availableData
                if more.isEmpty { break }
                self.buffered += String(decoding: more, as: UTF8.self)
            }
            guard let end = self.buffered.firstIndex(of: "\n") else { return "" }
            defer { self.buffered = String(self.buffered[self.buffered.index(after: end)...]) }
            return String(self.buffered[..<end])
        }
    }

    deinit { if process.isRunning { process.terminate() } }
}

@Suite("httpserve --live-reload", .serialized)
struct LiveReloadTests {
    @Test("HTML gets the script before </body> with a correct Content-Length; CSS, JS, text and CGI output do not; HEAD has no body")
    func injection() async throws {
        let site = try LiveSite()
        let serve = try Serve([site.path, "--port", "0", "--live-reload", "--cgi"])
        let page = try await sh("curl -s \(serve.base)/")
        #expect(page.contains("<p>v1</p><script data-httpserve-live-reload>"), "\(page)")
        #expect(page.contains("new EventSource(\"/__httpserve/events\")"))
        #expect(page.contains("</script>\n</body></html>"))
        // curl checks the length: it reports what it read and the header, and complains when they differ.
        let sizes = try await sh("curl -s -o /dev/null -w '%{size_download} %header{content-length}' \(serve.base)/index.html")
        let parts = sizes.split(separator: " ")
        #expect(parts.count == 2 && parts[0] == parts[1], "downloaded vs Content-Length: \(sizes)")
        #expect(Int(parts.first ?? "") ?? 0 > LiveSite.page.utf8.count)
        // The same page gzip-accepted is still the identity page with the script.
        let gzipAccepted = try await sh("curl -s -H 'Accept-Encoding: gzip' -D - \(serve.base)/index.html")
        #expect(!gzipAccepted.lowercased().contains("content-encoding"), "\(gzipAccepted)")
        #expect(gzipAccepted.contains("data-httpserve-live-reload"))
        for file in ["style.css", "app.js", "notes.txt"] {
            let body = try await sh("curl -s \(serve.base)/\(file)")
            #expect(!body.contains("live-reload") && body.contains("</body>"), "\(file): \(body)")
        }
        #expect(try await sh("curl -s \(serve.base)/cgi-bin/page") == "<html><body>from cgi</body></html>")
        let head = try await sh("curl -s -I \(serve.base)/index.html")
        let get = try await sh("curl -s -D - -o /dev/null \(serve.base)/index.html")
        let length = { (text: String) in text.split(separator: "\r\n").first { $0.lowercased().hasPrefix("content-length:") } }
        #expect(length(head) != nil && length(head) == length(get), "HEAD \(head) GET \(get)")
        let socket = try TestSocket(port: serve.port)
        try socket.send("HEAD /index.html HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        let raw = String(decoding: try await blocking { try socket.readToEnd() }, as: UTF8.self)
        #expect(raw.hasPrefix("HTTP/1.1 200") && raw.hasSuffix("\r\n\r\n") && !raw.contains("<script"), "HEAD sent a body: \(raw)")
        #expect(await serve.stop() == 0)
    }

    @Test("without --live-reload the events path is 404 and pages are as on disk")
    func offByDefault() async throws {
        let site = try LiveSite()
        let serve = try Serve([site.path, "--port", "0"])
        #expect(try await sh("curl -s -o /dev/null -w '%{http_code}' \(serve.base)/__httpserve/events") == "404")
        #expect(try await sh("curl -s \(serve.base)/index.html") == LiveSite.page)
        #expect(await serve.stop() == 0)
    }

    @Test("a Python client of /__httpserve/events gets event: reload with the path of each changed file, not of cgi-bin")
    func events() async throws {
        let site = try LiveSite()
        let serve = try Serve([site.path, "--port", "0", "--live-reload", "--cgi"])
        let client = try EventClient(port: serve.port, count: 3)
        #expect(try await client.line() == "status 200 text/event-stream no-cache chunked")
        #expect(try await client.line() == "ready")
        try site.write("cgi-bin/page", "#!/bin/sh\necho changed\n")  // not watched: no event
        try await Task.sleep(for: .milliseconds(300))
        try site.write("index.html", LiveSite.page.replacingOccurrences(of: "v1", with: "v2"))
        #expect(try await client.line() == "reload /index.html")
        try FileManager.default.createDirectory(atPath: site.path + "/docs", withIntermediateDirectories: true)
        #expect(try await client.line() == "reload /docs")
        try await Task.sleep(for: .milliseconds(300))
        try site.write("docs/guide.css", "p {}")
        #expect(try await client.line() == "reload /docs/guide.css")
        // The changed page is served at once (the open-file cache is off with live reload).
        #expect(try await sh("curl -s \(serve.base)/").contains("<p>v2</p>"))
        try await blocking { client.process.waitUntilExit() }
        #expect(await serve.stop() == 0)
    }

    /// The page reports to the server (a request the access log shows) each time it loads and each time its
    /// text colour changes: `/probe?load=N&color=C`, N counted in sessionStorage across reloads.
    private static let probedPage = """
        <!doctype html><html><head><link rel="stylesheet" href="style.css"></head><body><p>VERSION</p><script>
        var loads = Number(sessionStorage.getItem("loads") || 0) + 1;
        sessionStorage.setItem("loads", loads);
        var color = "";
        function report() {
          var now = getComputedStyle(document.body).color;
          if (now !== color) { color = now; fetch("/probe?load=" + loads + "&version=VERSION&color=" + encodeURIComponent(now)); }
        }
        report();
        setInterval(report, 50);
        </script></body></html>
        """

    @Test("headless Chromium: a changed stylesheet is swapped without a reload; a changed page reloads",
          .enabled(if: chromium != nil, "needs chromium (apt-get install chromium)"))
    func browser() async throws {
        let site = try LiveSite(extra: ["index.html": Self.probedPage.replacingOccurrences(of: "VERSION", with: "v1")])
        let serve = try Serve([site.path, "--port", "0", "--live-reload"])
        let log = OutputReader(serve)
        let profile = FileManager.default.temporaryDirectory.appendingPathComponent("chromium-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: profile) }
        let browser = Process()
        browser.executableURL = URL(fileURLWithPath: chromium!)
        browser.arguments = [
            "--headless", "--no-sandbox", "--disable-gpu", "--remote-debugging-port=0", "--user-data-dir=" + profile,
            "\(serve.base)/index.html",
        ]
        browser.standardOutput = FileHandle.nullDevice
        browser.standardError = FileHandle.nullDevice
        try startUnblocked(browser)
        defer { browser.terminate() }
        let red = "color=rgb(255%2C%200%2C%200)", blue = "color=rgb(0%2C%200%2C%20255)"
        #expect(try await log.waitFor("GET /probe?load=1&version=v1&\(red)"), "the page did not load: \(log.text)")
        try await Task.sleep(for: .seconds(1))  // the EventSource is open by now
        try site.write("style.css", "body { color: rgb(0, 0, 255) }\n")
        #expect(try await log.waitFor("GET /probe?load=1&version=v1&\(blue)"), "the stylesheet was not swapped in place: \(log.text)")
        #expect(!log.text.contains("load=2"), "the page reloaded for a stylesheet")
        #expect(log.text.contains("GET /style.css?__httpserve="), "the stylesheet was fetched again with a cache-buster")
        try site.write("index.html", Self.probedPage.replacingOccurrences(of: "VERSION", with: "v2"))
        #expect(try await log.waitFor("GET /probe?load=2&version=v2&\(blue)"), "the page did not reload: \(log.text)")
        // Shutting down ends the open event stream at once (no wait for the grace period).
        let stopping = ContinuousClock.now
        #expect(await serve.stop() == 0)
        #expect(ContinuousClock.now - stopping < .seconds(5), "the event stream held the shutdown")
    }
}
