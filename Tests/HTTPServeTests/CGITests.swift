import Foundation
import TestSupport
import Testing

/// A site with a cgi-bin folder of scripts for the CGI tests.
final class CGISite {
    let path: String
    init() throws {
        path = FileManager.default.temporaryDirectory.appendingPathComponent("httpserve-cgi-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: path + "/cgi-bin", withIntermediateDirectories: true)
        func script(_ name: String, _ body: String, executable: Bool = true) {
            _ = FileManager.default.createFile(atPath: path + "/cgi-bin/" + name, contents: Data(("#!/bin/sh\n" + body).utf8))
            chmod(path + "/cgi-bin/" + name, executable ? 0o755 : 0o644)
        }
        script("env.sh", "printf 'Content-Type: text/plain\\r\\nX-A: 1\\r\\n\\r\\n'; env | sort; echo BODY; cat\n")
        script("status.sh", "printf 'Status: 201 Made\\nContent-Type: text/plain\\n\\ncreated'\n")
        script("local.sh", "printf 'Location: /page.txt\\n\\n'\n")
        script("away.sh", "printf 'Location: https://example.com/x\\n\\n'\n")
        script("slow.sh", "sleep 30; printf 'Content-Type: text/plain\\n\\nlate'\n")
        script("nap.sh", "sleep 1; printf 'Content-Type: text/plain\\n\\nrested'\n")
        script("plain.sh", "echo no\n", executable: false)
        script("stall.sh", "printf 'Content-Type: text/plain\\n\\npartial'; sleep 30; echo never\n")
        script("proc.sh", """
            printf 'Content-Type: text/plain\\n\\n'
            echo "pid=$$"
            echo "dir=$(pwd)"
            grep SigIgn /proc/self/status
            echo "fds=$(ls /proc/self/fd | sort -n | tr '\\n' ' ')"

            """)
        script("deaf.sh", "printf 'Content-Type: text/plain\\n\\nignored your body'\n")
        _ = FileManager.default.createFile(atPath: path + "/page.txt", contents: Data("static page".utf8))
    }
    deinit { try? FileManager.default.removeItem(atPath: path) }
}

@Suite("httpserve CGI", .serialized)
struct CGITests {
    @Test("meta-variables, stdin, Status, local and client redirects, 403, 404, and no credentials in the environment")
    func scripts() async throws {
        let site = try CGISite()
        let serve = try Serve([site.path, "--port", "0", "--cgi", "--cgi-timeout", "1"])
        let b = serve.base
        let env = try await sh("curl -s -i -H 'Authorization: Bearer secret' -H 'X-Test: yes' -d 'posted data' '\(b)/cgi-bin/env.sh/p/q?x=1&y=2'")
        #expect(env.hasPrefix("HTTP/1.1 200 OK"), "\(env)")
        #expect(env.contains("X-A: 1"))
        for line in ["REQUEST_METHOD=POST", "QUERY_STRING=x=1&y=2", "PATH_INFO=/p/q", "SCRIPT_NAME=/cgi-bin/env.sh",
                     "CONTENT_LENGTH=11", "CONTENT_TYPE=application/x-www-form-urlencoded", "GATEWAY_INTERFACE=CGI/1.1",
                     "SERVER_PROTOCOL=HTTP/1.1", "REMOTE_ADDR=127.0.0.1", "HTTP_X_TEST=yes", "SERVER_SOFTWARE=HTTPChat/0.1.0"] {
            #expect(env.contains(line), "missing \(line)")
        }
        #expect(!env.contains("secret"), "Authorization must not reach the script")
        #expect(env.hasSuffix("BODY\nposted data"))
        #expect(try await sh("curl -s -w ' %{http_code}' \(b)/cgi-bin/status.sh") == "created 201")
        #expect(try await sh("curl -s \(b)/cgi-bin/local.sh") == "static page")
        let away = try await sh("curl -s -i \(b)/cgi-bin/away.sh")
        #expect(away.hasPrefix("HTTP/1.1 302 Found") && away.contains("Location: https://example.com/x"), "\(away)")
        #expect(try await sh("curl -s -o /dev/null -w '%{http_code}' \(b)/cgi-bin/plain.sh") == "403")
        #expect(try await sh("curl -s -o /dev/null -w '%{http_code}' \(b)/cgi-bin/none.sh") == "404")
        #expect(try await sh("curl -s -o /dev/null -w '%{http_code}' --path-as-is '\(b)/cgi-bin/../page.txt'") == "400")
        #expect(await serve.stop() == 0)
    }

    @Test("a script runs in its folder with only stdin, stdout and stderr open, no signal ignored, and is reaped")
    func processHygiene() async throws {
        let site = try CGISite()
        let serve = try Serve([site.path, "--port", "0", "--cgi"])
        let out = try await sh("curl -s \(serve.base)/cgi-bin/proc.sh")
        let lines = out.split(separator: "\n").map(String.init)
        // The server ignores SIGPIPE and holds sockets and files; the script inherits none of that (ls's own
        // listing adds descriptor 3, its directory).
        #expect(lines.contains("fds=0 1 2 3 "), "\(out)")
        // Signals 1-31 (SIGPIPE among them) at their defaults; 32 and 33 are glibc's own and out of reach.
        let ignored = try #require(lines.first { $0.hasPrefix("SigIgn:") }.flatMap { UInt64($0.dropFirst(8), radix: 16) })
        #expect(ignored & 0x7FFF_FFFF == 0, "\(out)")
        let dir = try #require(lines.first { $0.hasPrefix("dir=") })
        #expect(dir.hasSuffix("/cgi-bin"), "\(out)")
        let pid = try #require(lines.first { $0.hasPrefix("pid=") }.flatMap { Int($0.dropFirst(4)) })
        // No zombie: once the response is done the server collects the script's exit.
        var gone = false
        for _ in 0..<100 where !gone {
            gone = !FileManager.default.fileExists(atPath: "/proc/\(pid)/stat")
            if !gone { try await Task.sleep(for: .milliseconds(20)) }
        }
        #expect(gone, "script \(pid) still in the process table (zombie) 2 s after its response")
        #expect(await serve.stop() == 0)
    }

    @Test("a script past the timeout is killed and answered 504; slow scripts do not block other requests")
    func timeoutAndConcurrency() async throws {
        let site = try CGISite()
        let serve = try Serve([site.path, "--port", "0", "--cgi", "--cgi-timeout", "4", "--threads", "1"])
        let b = serve.base
        // One shell runs everything concurrently (several blocking helpers at once could starve the test's
        // two cooperative threads): a script to be killed at 4 s, six 1 s scripts, and a file fetched meanwhile.
        let script = """
            curl -s -o /tmp/cgi-slow.$$ -w '%{http_code}' \(b)/cgi-bin/slow.sh > /tmp/cgi-slow-code.$$ &
            for i in 1 2 3 4 5 6; do curl -s -o /tmp/cgi-nap.$$.$i \(b)/cgi-bin/nap.sh & done
            sleep 0.1
            curl -s -o /dev/null -w 'file %{http_code} %{time_total}\\n' \(b)/page.txt
            wait
            echo "naps $(cat /tmp/cgi-nap.$$.* | tr -d '\\n')"
            echo "slow $(cat /tmp/cgi-slow-code.$$)"
            rm -f /tmp/cgi-nap.$$.* /tmp/cgi-slow.$$ /tmp/cgi-slow-code.$$
            """
        let started = Date()
        let out = try await sh(script)
        let total = Date().timeIntervalSince(started)
        let lines = out.split(separator: "\n").map(String.init)
        let file = lines.first { $0.hasPrefix("file ") }?.split(separator: " ") ?? []
        #expect(file.count == 3 && file[1] == "200", "\(out)")
        #expect((Double(file.count == 3 ? file[2] : "9") ?? 9) < 0.9, "a file request waited for the 1 s scripts: \(out)")
        #expect(lines.contains("naps " + String(repeating: "rested", count: 6)), "\(out)")
        #expect(lines.contains("slow 504"), "\(out)")
        // One after another they would take 10 s; overlapped, the 4 s of the killed one. (With a 1 s timeout,
        // 0.5 s scripts and a 4 s bound, a machine loaded by the rest of the suite took 6 s.)
        #expect(total < 8.5, "six 1 s scripts and a killed one should overlap: \(out)")
        #expect(await serve.stop() == 0)
    }

    @Test("a script killed at the timeout after its head: the client sees the body cut short, not ended")
    func killedAfterHead() async throws {
        let site = try CGISite()
        let serve = try Serve([site.path, "--port", "0", "--cgi", "--cgi-timeout", "1"])
        let started = Date()
        // curl exits 18 (partial file) when a chunked body ends without its last chunk; 0 would mean the
        // server made a cut-short body look whole.
        let out = try await sh("curl -s -w ' %{http_code}' \(serve.base)/cgi-bin/stall.sh; echo \" exit=$?\"")
        #expect(out == "partial 200 exit=18\n", "\(out)")
        // A surviving child (sleep 30) would hold the body open for 30 s; killed at the 1 s timeout, it ends at
        // once, loaded machine or not.
        #expect(Date().timeIntervalSince(started) < 15, "the script's own child (sleep 30) must die with it")
        // The server is fine afterwards.
        #expect(try await sh("curl -s \(serve.base)/page.txt") == "static page")
        #expect(await serve.stop() == 0)
    }

    @Test("a script that never reads an 8 MiB request body still answers, and the next request is served")
    func scriptIgnoresBody() async throws {
        let site = try CGISite()
        let serve = try Serve([site.path, "--port", "0", "--cgi", "--cgi-timeout", "5"])
        let body = FileManager.default.temporaryDirectory.appendingPathComponent("cgi-body-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: body) }
        #expect(FileManager.default.createFile(atPath: body, contents: Data(count: 8 << 20 - 1)))
        // Two requests in one curl run (which reuses the connection when the server keeps it): the ignored body
        // must neither wedge the server nor leak into the next request.
        let out = try await sh(
            "curl -s -w ' %{http_code}\\n' --data-binary @\(body) \(serve.base)/cgi-bin/deaf.sh --next -s -w ' %{http_code}\\n' \(serve.base)/page.txt"
        )
        let lines = out.split(separator: "\n").map(String.init)
        #expect(lines.first == "ignored your body 200", "\(out)")
        #expect(lines.count == 2 && lines[1] == "static page 200", "\(out)")
        #expect(await serve.stop() == 0)
    }
}
