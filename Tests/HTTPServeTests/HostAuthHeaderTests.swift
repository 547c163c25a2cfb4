import Foundation
import TestSupport
import Testing

/// Sends each request raw on its own connection and prints, per request, the status code and the values of
/// `names` (one line: `STATUS name=value|value ...`). A request stalls (for a 408) when it has no empty line.
private func rawHeads(port: Int, _ requests: [String], names: [String]) -> String {
    let list = requests.map { "'" + $0.replacingOccurrences(of: "\r\n", with: "\\r\\n") + "'" }.joined(separator: ", ")
    let wanted = names.map { "'\($0.lowercased())'" }.joined(separator: ", ")
    return """
        import socket
        for request in [\(list)]:
            s = socket.create_connection(('127.0.0.1', \(port)), timeout=10)
            s.sendall(request.encode())
            data = b''
            while b'\\r\\n\\r\\n' not in data:
                chunk = s.recv(65536)
                if not chunk: break
                data += chunk
            head = data.split(b'\\r\\n\\r\\n')[0].decode('latin-1').split('\\r\\n')
            fields = {}
            for line in head[1:]:
                name, _, value = line.partition(': ')
                fields.setdefault(name.lower(), []).append(value)
            print(head[0].split(' ')[1], ' '.join(n + '=' + '|'.join(fields.get(n, [])) for n in [\(wanted)]))
            s.close()
        """
}

@Suite("httpserve: Host check, credentials off the command line, fields on every answer", .serialized)
struct HostAuthHeaderTests {
    @Test("--header is on httpserve's own 400, 408, 413, 431 and 501 and on --health; two Link flags give two fields; a representation field is refused at start")
    func headerOnEveryAnswer() async throws {
        let folder = try Folder()
        let serve = try Serve([
            folder.path, "-p", "0", "--header", "X-Frame-Options: DENY", "--header", "Link: </a.css>; rel=preload",
            "--header", "Link: </b.js>; rel=preload", "--header-timeout", "1", "--max-body", "10", "--health", "/healthz",
        ])
        let requests = [
            "GET /sub/a.txt HTTP/1.1\r\nHost: localhost\r\n\r\n",
            "GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n",
            "GET / HTTP/1.1\r\nHost: localhost\r\nNo colon here\r\n\r\n",
            "GET / HTTP/1.1\r\nHost: localhost\r\n",
            "PUT /x HTTP/1.1\r\nHost: localhost\r\nContent-Length: 100\r\n\r\n",
            "GET / HTTP/1.1\r\nHost: localhost\r\nX-Big: \(String(repeating: "a", count: 40_000))\r\n\r\n",
            "POST / HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
        ]
        let out = try await python(rawHeads(port: serve.port, requests, names: ["X-Frame-Options", "Link"]))
        let fields = "x-frame-options=DENY link=</a.css>; rel=preload|</b.js>; rel=preload"
        let want = ["200", "200", "400", "408", "413", "431", "501"].map { "\($0) \(fields)" }.joined(separator: "\n") + "\n"
        #expect(out == want, "got\n\(out)want\n\(want)")
        #expect(await serve.stop() == 0)

        let relabel = try await runToEnd([folder.path, "--header", "Content-Encoding: identity"])
        #expect(relabel.status != 0 && relabel.stderr.contains("Content-Encoding is set by the server and cannot be configured"), "\(relabel.stderr)")
    }

    @Test("bound to loopback, a rebinding Host gets 403 and no byte of ROOT; loopback names, addresses and --allowed-host names are served; 0.0.0.0 is not restricted")
    func hostCheckOnLoopback() async throws {
        let folder = try Folder()
        let serve = try Serve([folder.path, "-p", "0", "--allowed-host", "dev.example.test", "--allowed-host", ".team.test"])
        let hosts = [
            "rebind.attacker.example", "rebind.attacker.example:\(serve.port)", "localhost.attacker.example", "127.0.0.1.nip.io",
            "evil.example.test", "xn--lcalhost-6bb", "l\u{00F6}calhost", "127.1", "[fe80::1%25lo]", "[::2]", "localhost:x",
            "localhost", "LOCALHOST:\(serve.port)", "localhost.", "app.localhost", "127.0.0.1:\(serve.port)", "127.9.9.9",
            "[::1]:\(serve.port)", "dev.example.test", "DEV.example.test:8000", "team.test", "a.team.test",
        ]
        let requests = hosts.map { "GET /?download=zip HTTP/1.1\r\nHost: \($0)\r\nConnection: close\r\n\r\n" }
        let out = try await python(rawHeads(port: serve.port, requests, names: ["Content-Type"]))
        let statuses = out.split(separator: "\n").map { $0.split(separator: " ").first.map(String.init) ?? "" }
        // A non-ASCII name, a zone and a bad port are the request parser's already (400, RFC 9112 §3.2: one valid Host).
        let want = ["403", "403", "403", "403", "403", "403", "400", "403", "400", "403", "400"] + Array(repeating: "200", count: 11)
        #expect(statuses == want, "hosts \(hosts)\ngot\n\(out)")
        #expect(!out.split(separator: "\n").prefix(11).contains { $0.contains("zip") }, "a refused host got the archive: \(out)")
        // An absolute-form target names the host too; it cannot be used to slip past the Host field.
        let absolute = try await python(rawHeads(port: serve.port, ["GET http://rebind.attacker.example/ HTTP/1.1\r\nHost: localhost\r\n\r\n"], names: []))
        #expect(absolute.hasPrefix("403"), "\(absolute)")
        #expect(await serve.stop() == 0)

        let open = try Serve([folder.path, "-p", "0", "-b", "0.0.0.0"])
        let everywhere = try await python(rawHeads(port: open.port, ["GET / HTTP/1.1\r\nHost: rebind.attacker.example\r\n\r\n"], names: []))
        #expect(everywhere.hasPrefix("200"), "\(everywhere)")
        #expect(await open.stop() == 0)

        let proxiedTLS = try await runToEnd([folder.path, "--proxy-protocol", "--trusted-proxy", "127.0.0.1", "--tls-cert", "c.pem", "--tls-key", "k.pem"])
        #expect(proxiedTLS.status != 0 && proxiedTLS.stderr.contains("--proxy-protocol cannot be combined with --tls-cert"), "\(proxiedTLS.stderr)")
        let bad = try await runToEnd([folder.path, "--allowed-host", "bad host:80"])
        #expect(bad.status != 0 && bad.stderr.contains("--allowed-host: 'bad host:80' is not a host name"), "\(bad.stderr)")
    }

    @Test("--auth-file and HTTPSERVE_AUTH protect as --auth does; a missing, empty, malformed or group-readable file is a startup error; --help warns about --auth")
    func credentialsOffTheCommandLine() async throws {
        let folder = try Folder()
        let secrets = FileManager.default.temporaryDirectory.appendingPathComponent("auth-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: secrets, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: secrets) }
        func file(_ name: String, _ text: String, mode: Int = 0o600) throws -> String {
            let path = secrets + "/" + name
            _ = FileManager.default.createFile(atPath: path, contents: Data(text.utf8))
            try FileManager.default.setAttributes([.posixPermissions: mode], ofItemAtPath: path)
            return path
        }
        let good = try file("good", "alice:wonder land\r\n\nbob:sha256:\(String(repeating: "0", count: 64))\n")

        let fromFile = try Serve([folder.path, "-p", "0", "--auth-file", good])
        #expect(try await sh("curl -s -o /dev/null -w '%{http_code}' \(fromFile.base)/sub/a.txt") == "401")
        #expect(try await sh("curl -s -u 'alice:wonder land' \(fromFile.base)/sub/a.txt") == "a")
        #expect(try await sh("curl -s -o /dev/null -w '%{http_code}' -u 'alice:wrong' \(fromFile.base)/sub/a.txt") == "401")
        let cmdline = try String(contentsOfFile: "/proc/\(fromFile.process.processIdentifier)/cmdline", encoding: .utf8)
        #expect(!cmdline.contains("wonder"), "the password is on the command line: \(cmdline)")
        #expect(await fromFile.stop() == 0)

        let fromEnvironment = try Serve([folder.path, "-p", "0"], environment: ["HTTPSERVE_AUTH": "carol:pw"])
        #expect(try await sh("curl -s -o /dev/null -w '%{http_code}' \(fromEnvironment.base)/sub/a.txt") == "401")
        #expect(try await sh("curl -s -u carol:pw \(fromEnvironment.base)/sub/a.txt") == "a")
        #expect(await fromEnvironment.stop() == 0)

        let refusals: [([String], [String: String], String)] = [
            (["--auth-file", secrets + "/missing"], [:], "--auth-file '\(secrets)/missing' cannot be read: No such file or directory"),
            (["--auth-file", try file("empty", "")], [:], "--auth-file '\(secrets)/empty' holds no USER:PASSWORD line"),
            (["--auth-file", try file("blank", "\n\r\n")], [:], "holds no USER:PASSWORD line"),
            (["--auth-file", try file("nocolon", "alice\n")], [:], "--auth-file '\(secrets)/nocolon' line 1: '--auth' wants USER:PASSWORD"),
            (["--auth-file", try file("badhash", "ok:pw\nbob:sha256:12\n")], [:], "line 2: the SHA-256 of bob's password must be 64 hex digits"),
            (["--auth-file", try file("open", "alice:pw\n", mode: 0o644)], [:], "can be read or written by other users (mode 644): chmod 600"),
            (["--auth-file", try file("group", "alice:pw\n", mode: 0o640)], [:], "(mode 640): chmod 600"),
            (["--auth-file", secrets], [:], "is not a regular file"),
            ([], ["HTTPSERVE_AUTH": ""], "HTTPSERVE_AUTH holds no USER:PASSWORD line"),
            ([], ["HTTPSERVE_AUTH": "nocolon"], "HTTPSERVE_AUTH line 1: '--auth' wants USER:PASSWORD"),
        ]
        for (arguments, environment, message) in refusals {
            let run = try await runToEnd([folder.path, "-p", "0"] + arguments, environment: environment)
            #expect(run.status != 0 && run.stderr.contains(message), "\(arguments) \(environment): status \(run.status), \(run.stderr)")
            #expect(!run.stderr.contains("pw"), "a password in the error: \(run.stderr)")
        }

        let help = try await runToEnd(["--help"])
        let flat = help.stdout.split(whereSeparator: \.isWhitespace).joined(separator: " ")
        #expect(flat.contains("Other local users can read it in the process list: prefer --auth-file or HTTPSERVE_AUTH"), "\(help.stdout)")
    }
}
