import Foundation
import TestSupport
import Testing

/// A live deployment test's failure, with what the tool said.
struct DeploymentError: Error, CustomStringConvertible {
    let description: String
}

/// A program from the machine's packages, or nil when it is not installed (the live test is then skipped,
/// with the reason; `.ci/run` installs them).
func installedTool(_ name: String) -> String? {
    for folder in ["/usr/sbin", "/usr/bin", "/usr/local/sbin", "/usr/local/bin", "/sbin", "/bin"] {
        let path = folder + "/" + name
        if FileManager.default.isExecutableFile(atPath: path) { return path }
    }
    return nil
}

/// A port nothing listens on now (bound to port 0 and released): for programs that cannot report the port
/// they picked, such as HAProxy and nginx.
func freePort() throws -> Int {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(fd) }
    var addr = sockaddr_in()
    addr.sin_family = sa_family_t(AF_INET)
    addr.sin_addr.s_addr = inet_addr("127.0.0.1")
    addr.sin_port = 0
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let bound = withUnsafeMutablePointer(to: &addr) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0 }
    }
    guard bound else { throw DeploymentError(description: "no free port: errno \(errno)") }
    return Int(UInt16(bigEndian: addr.sin_port))
}

/// A program started for a test, stopped (SIGTERM, then SIGKILL) when the test lets go of it.
final class Helper {
    let process = Process()
    let output = Pipe()

    init(_ path: String, _ arguments: [String], environment: [String: String] = [:]) throws {
        process.executableURL = URL(fileURLWithPath: path)
        process.arguments = arguments
        if !environment.isEmpty { process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 } }
        process.standardOutput = output
        process.standardError = output
        try startUnblocked(process)
    }

    /// Waits until `port` on 127.0.0.1 accepts connections (the helper is up).
    func waitForPort(_ port: Int, seconds: Double = 10) async throws {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline && process.isRunning {
            if (try? TestSocket(port: port, timeoutSeconds: 1)) != nil { return }
            try await Task.sleep(for: .milliseconds(50))
        }
        let said = String(decoding: process.isRunning ? output.fileHandleForReading.availableData : output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        throw DeploymentError(description: "\(process.executableURL!.lastPathComponent) did not listen on \(port): \(said)")
    }

    deinit {
        if process.isRunning {
            process.terminate()
            let deadline = Date().addingTimeInterval(3)
            while process.isRunning && Date() < deadline { usleep(20_000) }
            if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        }
    }
}

/// A folder with a file and, in `cgi-bin`, a script that prints what the server told it about the client.
final class DeploymentSite {
    let folder: Folder
    let work: String
    var path: String { folder.path }

    init() throws {
        folder = try Folder()
        work = folder.path + "/../deploy-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: folder.path + "/cgi-bin", withIntermediateDirectories: true)
        let script = folder.path + "/cgi-bin/who"
        try "#!/bin/sh\nprintf 'Content-Type: text/plain\\r\\n\\r\\n'\necho \"addr=$REMOTE_ADDR scheme=$REQUEST_SCHEME https=${HTTPS:-off} host=$HTTP_HOST\"\n"
            .write(toFile: script, atomically: true, encoding: .utf8)
        chmod(script, 0o755)
    }

    /// The access log's lines so far.
    func log() -> [Substring] {
        ((try? String(contentsOfFile: work + "/access.log", encoding: .utf8)) ?? "").split(separator: "\n")
    }

    deinit { try? FileManager.default.removeItem(atPath: work) }
}

/// The client address of each access-log line.
func loggedClients(_ lines: [Substring]) -> [String] {
    lines.map { String($0.prefix { $0 != " " }) }
}

@Suite("Deployment behind load balancers", .serialized, .timeLimit(.minutes(1)))
struct DeploymentTests {
    @Test("HAProxy send-proxy and send-proxy-v2 in front: the access log shows the original client (127.0.0.2), not the proxy (127.0.0.1)",
          .enabled(if: installedTool("haproxy") != nil, "haproxy is not installed (apt-get install haproxy)"),
          arguments: ["send-proxy", "send-proxy-v2"])
    func haproxy(_ mode: String) async throws {
        let site = try DeploymentSite()
        let serve = try Serve([site.path, "-p", "0", "--proxy-protocol", "--trusted-proxy", "127.0.0.1", "--access-log", site.work + "/access.log"])
        let front = try freePort()
        let config = """
            defaults
                mode tcp
                timeout connect 2s
                timeout client 10s
                timeout server 10s
            frontend web
                bind 127.0.0.1:\(front)
                default_backend app
            backend app
                server one 127.0.0.1:\(serve.port) \(mode)
            """
        try (config + "\n").write(toFile: site.work + "/haproxy.cfg", atomically: true, encoding: .utf8)  // HAProxy wants the last LF
        let haproxy = try Helper(installedTool("haproxy")!, ["-db", "-f", site.work + "/haproxy.cfg"])
        try await haproxy.waitForPort(front)
        let body = try await sh("curl -sS --interface 127.0.0.2 http://127.0.0.1:\(front)/sub/a.txt")
        #expect(body == "a", "through HAProxy: \(body)")
        // A direct connection from a peer that is not the proxy is closed unanswered, header or not.
        let direct = try await sh("curl -s -o /dev/null -w '%{http_code}' --interface 127.0.0.2 http://127.0.0.1:\(serve.port)/sub/a.txt")
        #expect(direct == "000", "a direct client was answered: \(direct)")  // no status: closed (or reset) unanswered
        #expect(await serve.stop() == 0)
        let clients = loggedClients(site.log())
        #expect(clients == ["127.0.0.2"], "got \(clients), want the client's address once")
    }

    @Test("nginx with proxy_set_header X-Forwarded-For in front: the log and CGI see the client, scheme and host nginx reports; the client's own X-Forwarded-For is passed over",
          .enabled(if: installedTool("nginx") != nil, "nginx is not installed (apt-get install nginx)"))
    func nginx() async throws {
        let site = try DeploymentSite()
        let serve = try Serve([site.path, "-p", "0", "--cgi", "--trusted-proxy", "127.0.0.1/32", "--access-log", site.work + "/access.log"])
        let front = try freePort()
        let w = site.work
        let config = """
            daemon off;
            master_process off;
            pid \(w)/nginx.pid;
            error_log \(w)/nginx-error.log;
            events { worker_connections 64; }
            http {
                access_log off;
                client_body_temp_path \(w)/body; proxy_temp_path \(w)/proxy; fastcgi_temp_path \(w)/fastcgi;
                uwsgi_temp_path \(w)/uwsgi; scgi_temp_path \(w)/scgi;
                server {
                    listen 127.0.0.1:\(front);
                    location / {
                        proxy_pass http://127.0.0.1:\(serve.port);
                        proxy_http_version 1.1;
                        proxy_set_header Host $host;
                        proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
                        proxy_set_header X-Forwarded-Proto https;
                        proxy_set_header X-Forwarded-Host shop.example;
                    }
                }
            }
            """
        try config.write(toFile: w + "/nginx.conf", atomically: true, encoding: .utf8)
        let nginx = try Helper(installedTool("nginx")!, ["-p", w, "-c", w + "/nginx.conf"])
        try await nginx.waitForPort(front)
        let who = try await sh("curl -sS --interface 127.0.0.2 -H 'X-Forwarded-For: 6.6.6.6' http://127.0.0.1:\(front)/cgi-bin/who")
        #expect(who == "addr=127.0.0.2 scheme=https https=on host=shop.example\n", "CGI behind nginx: \(who)")
        #expect(try await sh("curl -sS --interface 127.0.0.2 http://127.0.0.1:\(front)/sub/a.txt") == "a")
        #expect(await serve.stop() == 0)
        let clients = loggedClients(site.log())
        #expect(clients == ["127.0.0.2", "127.0.0.2"], "got \(clients)")
    }

    @Test("forwarding fields and a PROXY-looking line from a peer that is not a trusted proxy change nothing")
    func spoofedFieldsIgnored() async throws {
        let site = try DeploymentSite()
        let serve = try Serve([site.path, "-p", "0", "--cgi", "--trusted-proxy", "127.0.0.1", "--access-log", site.work + "/access.log"])
        let spoof = "-H 'X-Forwarded-For: 6.6.6.6' -H 'X-Forwarded-Proto: https' -H 'X-Forwarded-Host: evil.example' -H 'Forwarded: for=7.7.7.7;proto=https'"
        let who = try await sh("curl -sS --interface 127.0.0.2 \(spoof) http://127.0.0.1:\(serve.port)/cgi-bin/who")
        #expect(who == "addr=127.0.0.2 scheme=http https=off host=127.0.0.1:\(serve.port)\n", "untrusted peer: \(who)")
        // The trusted peer's fields are believed (the same request from 127.0.0.1).
        let trusted = try await sh("curl -sS \(spoof) http://127.0.0.1:\(serve.port)/cgi-bin/who")
        #expect(trusted == "addr=7.7.7.7 scheme=https https=on host=127.0.0.1:\(serve.port)\n", "trusted peer: \(trusted)")
        // Without --proxy-protocol a PROXY line is not a header: it is a bad request line.
        let socket = try TestSocket(port: serve.port)
        try socket.send("PROXY TCP4 6.6.6.6 127.0.0.1 1 2\r\nGET /sub/a.txt HTTP/1.1\r\nHost: localhost\r\n\r\n")
        #expect(try socket.readLine().hasPrefix("HTTP/1.1 400"))
        #expect(await serve.stop() == 0)
        #expect(loggedClients(site.log()) == ["127.0.0.2", "7.7.7.7"], "\(site.log())")
    }

    @Test("malformed and missing PROXY headers from the trusted proxy close the connection unanswered; a good one is served")
    func malformedProxyHeadersLive() async throws {
        let site = try DeploymentSite()
        let serve = try Serve([site.path, "-p", "0", "--proxy-protocol", "--trusted-proxy", "127.0.0.1", "--access-log", site.work + "/access.log"])
        let request = "GET /sub/a.txt HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
        for bad in ["", "PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n", "PROXY TCP9 1.2.3.4 5.6.7.8 1 2\r\n", "PROXY " + String(repeating: "9", count: 120) + "\r\n"] {
            let socket = try TestSocket(port: serve.port)
            try socket.send(bad + request)
            let answer = try await blocking { try socket.readToEnd() }
            #expect(answer.isEmpty, "\(bad.debugDescription) was answered: \(String(decoding: answer, as: UTF8.self).prefix(40))")
        }
        let good = try TestSocket(port: serve.port)
        try good.send("PROXY TCP6 2001:db8::7 ::1 4000 80\r\n" + request)
        let answer = String(decoding: try await blocking { try good.readToEnd() }, as: UTF8.self)
        #expect(answer.hasPrefix("HTTP/1.1 200 OK") && answer.hasSuffix("\r\n\r\na"), "\(answer)")
        #expect(await serve.stop() == 0)
        #expect(loggedClients(site.log()) == ["2001:db8::7"], "\(site.log())")
    }

    @Test("--health answers 200 while serving and 503 once SIGTERM began the shutdown, through the drain delay; then exit 0")
    func health() async throws {
        let site = try DeploymentSite()
        let serve = try Serve([site.path, "-p", "0", "--health", "/healthz", "--drain-delay", "5", "--auth", "a:b", "--access-log", "/dev/null"])
        let url = "http://127.0.0.1:\(serve.port)/healthz"
        // Probes need no credentials, though the site does.
        #expect(try await sh("curl -s -w ' %{http_code}' \(url)") == "ok\n 200")
        #expect(try await sh("curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:\(serve.port)/sub/a.txt") == "401")
        kill(serve.process.processIdentifier, SIGTERM)
        try await Task.sleep(for: .milliseconds(300))
        #expect(try await sh("curl -s -w ' %{http_code}' \(url)") == "draining\n 503")
        // The site itself is still served while the balancer notices.
        #expect(try await sh("curl -s -u a:b http://127.0.0.1:\(serve.port)/sub/a.txt") == "a")
        // One SIGTERM only: a second one stops at once (exit 130).
        let deadline = Date().addingTimeInterval(15)
        while serve.process.isRunning && Date() < deadline { try await Task.sleep(for: .milliseconds(50)) }
        #expect(!serve.process.isRunning && serve.process.terminationStatus == 0)
    }

    @Test("--reuse-port: a rolling restart under a bounded wrk load (new process up, then SIGTERM to the old) loses no request",
          .enabled(if: installedTool("wrk") != nil, "wrk is not installed (apt-get install wrk)"))
    func rollingRestart() async throws {
        let site = try DeploymentSite()
        let old = try Serve([site.path, "-p", "0", "--reuse-port", "--access-log", "/dev/null", "--threads", "1"])
        let port = old.port
        // Without --reuse-port the second process cannot listen.
        try #require(port > 0, "\(old.firstLine)")
        let refused = try await runToEnd([site.path, "-p", "\(port)", "--quiet"])
        #expect(refused.status != 0 && refused.stderr.contains("is in use"), "\(refused.stderr)")
        let wrk = Process()
        wrk.executableURL = URL(fileURLWithPath: installedTool("wrk")!)
        wrk.arguments = ["-t", "2", "-c", "8", "-d", "4s", "http://127.0.0.1:\(port)/sub/a.txt"]
        let wrkOut = Pipe()
        wrk.standardOutput = wrkOut
        try startUnblocked(wrk)
        try await Task.sleep(for: .seconds(1))
        let new = try Serve([site.path, "-p", "\(port)", "--reuse-port", "--access-log", "/dev/null", "--threads", "1"])
        try await Task.sleep(for: .milliseconds(500))
        #expect(await old.stop(SIGTERM) == 0)
        let report = try await blocking { () -> String in
            let data = wrkOut.fileHandleForReading.readDataToEndOfFile()
            wrk.waitUntilExit()
            return String(decoding: data, as: UTF8.self)
        }
        print("rolling restart, wrk:\n\(report)")
        let requests = report.firstMatch(of: /(\d+) requests in/).map { Int($0.1)! } ?? 0
        #expect(requests > 100, "wrk made \(requests) requests: \(report)")  // ~10,000 on an idle machine, ~1,300 under the whole suite
        #expect(!report.contains("Socket errors"), "\(report)")
        #expect(!report.contains("Non-2xx"), "\(report)")
        #expect(try await sh("curl -s http://127.0.0.1:\(port)/sub/a.txt") == "a", "the new process serves")
        #expect(await new.stop() == 0)
    }

    @Test("socket activation: started by systemd-socket-activate, httpserve serves on the passed socket instead of binding",
          .enabled(if: installedTool("systemd-socket-activate") != nil, "systemd-socket-activate is not installed (Debian's systemd package)"))
    func socketActivation() async throws {
        let site = try DeploymentSite()
        let port = try freePort()
        // Run from a shell, each program's output to a file, so no pipe of the test outlives them.
        // `-b 10.9.9.9 -p 1` could not be bound: serving at all shows the passed socket was used. The activator
        // starts httpserve on the first connection, which waits in the socket's backlog meanwhile.
        let log = site.work + "/activate.log"
        let script = """
            \(installedTool("systemd-socket-activate")!) -l 127.0.0.1:\(port) \(httpserveBinary) \(site.path) -b 10.9.9.9 -p 1 >\(log) 2>&1 </dev/null &
            pid=$!
            for i in $(seq 100); do grep -q 'Listening on' \(log) && break; sleep 0.1; done
            echo "first=$(curl -sS --max-time 10 http://127.0.0.1:\(port)/sub/a.txt)"
            echo "second=$(curl -sS --max-time 10 http://127.0.0.1:\(port)/page.txt | head -c 16)"
            kill -TERM $pid; wait $pid; echo "exit=$?"
            """
        let out = try await sh(script)
        let said = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
        #expect(out == "first=a\nsecond=httpserve serves\nexit=0\n", "\(out)\n\(said)")
        let real = URL(fileURLWithPath: site.path).resolvingSymlinksInPath().path
        #expect(said.contains("Serving \(real) at http://127.0.0.1:\(port)/"), "\(said)")
    }
}
