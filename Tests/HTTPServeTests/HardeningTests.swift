import Foundation
import TestSupport
import Testing

/// A folder for the hardening tests: `small.txt`, and with `largeFiles` a 16 MiB `big.bin` and a ~12 MB
/// `big.txt` (made only for the tests that download them).
final class BigFolder {
    let path: String
    init(largeFiles: Bool = true) throws {
        path = FileManager.default.temporaryDirectory.appendingPathComponent("httpserve-hard-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        _ = FileManager.default.createFile(atPath: path + "/small.txt", contents: Data("small".utf8))
        guard largeFiles else { return }
        var bytes = [UInt8](repeating: 0, count: 16 << 20)
        var x: UInt32 = 2463534242
        for i in bytes.indices {
            x ^= x << 13; x ^= x >> 17; x ^= x << 5
            bytes[i] = UInt8(truncatingIfNeeded: x)
        }
        _ = FileManager.default.createFile(atPath: path + "/big.bin", contents: Data(bytes))
        let text = (0..<400_000).map { "line \($0) of a large text file\n" }.joined()
        _ = FileManager.default.createFile(atPath: path + "/big.txt", contents: Data(text.utf8))
    }
    deinit { try? FileManager.default.removeItem(atPath: path) }
}

/// Runs a Python script (raw sockets, many connections) and returns what it printed.
func python(_ script: String) async throws -> String {
    let file = FileManager.default.temporaryDirectory.appendingPathComponent("hard-\(UUID().uuidString).py").path
    _ = FileManager.default.createFile(atPath: file, contents: Data(script.utf8))
    defer { try? FileManager.default.removeItem(atPath: file) }
    return try await sh("python3 \(file)")
}

@Suite("httpserve hardening", .serialized)
struct HardeningTests {
    @Test("slowloris: 300 connections that never finish their head do not delay others and are closed by the header timeout")
    func slowloris() async throws {
        let folder = try BigFolder(largeFiles: false)
        let serve = try Serve([folder.path, "--port", "0", "--header-timeout", "2", "--threads", "1"])
        let out = try await python(#"""
            import socket, time, subprocess
            socks = []
            for i in range(300):
                s = socket.create_connection(('127.0.0.1', \#(serve.port)))
                s.sendall(b'GET /small.txt HTTP/1.1\r\nHost: localhost\r\n')
                socks.append(s)
            # Meanwhile, an ordinary client is answered at once.
            t = time.time()
            r = subprocess.run(['curl', '-s', 'http://127.0.0.1:\#(serve.port)/small.txt'], capture_output=True)
            print('other', r.stdout.decode(), round(time.time() - t, 3))
            # Trickle a header byte now and then, as slowloris does; the head's deadline is total, not per byte.
            for _ in range(3):
                time.sleep(0.5)
                for s in socks:
                    try: s.sendall(b'X')
                    except OSError: pass
            closed = 0
            deadline = time.time() + 4
            for s in socks:
                s.settimeout(max(0.01, deadline - time.time()))
                try:
                    data = b''
                    while True:
                        chunk = s.recv(4096)
                        if not chunk: break
                        data += chunk
                    if data == b'' or data.startswith(b'HTTP/1.1 408'): closed += 1
                except (socket.timeout, ConnectionResetError):
                    pass
            print('closed', closed)
            """#)
        let lines = out.split(separator: "\n").map(String.init)
        let other = lines.first { $0.hasPrefix("other ") }?.split(separator: " ") ?? []
        #expect(other.count == 3 && other[1] == "small", "\(out)")
        // Answered well before the 2 s header timeout the slow heads run into (curl's own start counts too,
        // and CI shares two cores: 0.5 s was a speed check, which is the benchmarks' job, not a test's).
        #expect((Double(other.count == 3 ? other[2] : "9") ?? 9) < 1.5, "\(out)")
        #expect(lines.contains("closed 300"), "\(out)")
        #expect(await serve.stop() == 0)
    }

    @Test("slow readers: 20 clients that request 16 MiB and read nothing do not grow server memory; the stuck downloads are dropped at the send timeout")
    func slowReaders() async throws {
        let folder = try BigFolder()
        let serve = try Serve([folder.path, "--port", "0", "--threads", "1", "--send-timeout", "4"])
        // Warm up both paths once (sendfile, and gzip for the text file) so their one-time allocations count
        // in the baseline.
        _ = try await sh("curl -s -o /dev/null \(serve.base)/big.bin; curl -s --compressed -o /dev/null \(serve.base)/big.txt")
        let before = try #require(serve.rss)
        let out = try await python(#"""
            import os, socket, time, urllib.request
            def server_sockets():
                fds = '/proc/\#(serve.process.processIdentifier)/fd'
                return sum(1 for fd in os.listdir(fds) if os.readlink(fds + '/' + fd).startswith('socket:'))
            base = server_sockets()
            socks = []
            for i in range(20):
                s = socket.socket()
                s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
                s.connect(('127.0.0.1', \#(serve.port)))
                path = '/big.bin' if i % 2 == 0 else '/big.txt'
                s.sendall(('GET %s HTTP/1.1\r\nHost: localhost\r\nAccept-Encoding: gzip\r\n\r\n' % path).encode())
                socks.append(s)
            time.sleep(2)
            # The server still answers others while 20 responses are stuck.
            print('other', urllib.request.urlopen('http://127.0.0.1:\#(serve.port)/small.txt').read().decode())
            # Hold the stuck connections open while the server's memory is read.
            print('RSS', open('/proc/\#(serve.process.processIdentifier)/status').read().split('VmRSS:')[1].split()[0])
            # Read nothing more: after one to two 4 s periods without a byte taken, the server drops the stuck
            # responses. Whether it dropped one is read from the kernel's table, not by reading the socket (a
            # read would free window and restart a response not dropped yet): the server's end of a dropped
            # connection leaves ESTABLISHED. The ten 16 MiB ones must all be dropped (the gzipped text, ~1 MB,
            # may fit in the kernel's socket buffers: then nothing waits in the server and only the idle
            # timeout ends those).
            def established_server_ends():
                ends = set()
                for line in open('/proc/net/tcp').read().splitlines()[1:]:
                    fields = line.split()
                    local, remote, state = fields[1], fields[2], fields[3]
                    if int(local.split(':')[1], 16) == \#(serve.port) and state == '01':
                        ends.add(int(remote.split(':')[1], 16))
                return ends
            big_ports = [s.getsockname()[1] for s in socks[0::2]]
            print('stuck', sum(1 for port in big_ports if port in established_server_ends()))
            deadline = time.time() + 25
            while time.time() < deadline:
                left = established_server_ends()
                dropped = sum(1 for port in big_ports if port not in left)
                if dropped == len(big_ports): break
                time.sleep(0.2)
            print('open', server_sockets() - base)
            print('dropped', dropped)
            """#)
        let during = try #require(Int(out.firstMatch(of: /RSS (\d+)/)?.1 ?? "")) * 1024
        let open = out.firstMatch(of: /open (\d+)/)?.1 ?? "?"
        print("slow readers: server RSS \(before >> 10) KiB before, \(during >> 10) KiB with 20 stuck 16 MiB responses; \(open) of them left after the send timeout")
        #expect(out.contains("other small"), "\(out)")
        #expect(out.contains("stuck 10"), "\(out)")  // the table read sees them before the timeout
        #expect(out.contains("dropped 10"), "\(out)")
        #expect(during - before < 24 << 20, "RSS grew from \(before) to \(during)")
        #expect(await serve.stop() == 0)
    }

    @Test("a connection cap: past it clients wait in the backlog, and are served when a connection closes")
    func connectionCap() async throws {
        let folder = try BigFolder(largeFiles: false)
        let serve = try Serve([folder.path, "--port", "0", "--max-connections", "4"])
        let out = try await python(#"""
            import socket, time
            def get(s):
                s.sendall(b'GET /small.txt HTTP/1.1\r\nHost: localhost\r\n\r\n')
            held = [socket.create_connection(('127.0.0.1', \#(serve.port))) for _ in range(4)]
            for s in held:
                get(s); s.recv(4096)
            extra = socket.create_connection(('127.0.0.1', \#(serve.port)))
            get(extra)
            extra.settimeout(1)
            try:
                print('at cap', extra.recv(4096)[:15])
            except socket.timeout:
                print('at cap waits')
            held[0].close()
            extra.settimeout(3)
            print('after close', extra.recv(4096)[:15])
            """#)
        #expect(out == "at cap waits\nafter close b'HTTP/1.1 200 OK'\n", "\(out)")
        #expect(await serve.stop() == 0)
    }

    @Test("descriptor exhaustion: a flood past ulimit -n neither kills nor wedges the server; it serves again after")
    func descriptorExhaustion() async throws {
        let folder = try BigFolder(largeFiles: false)
        // The cap is set above the descriptor limit on purpose, so that accept itself runs out (EMFILE).
        let serve = try Serve(["-c", "ulimit -n 64 && exec \(httpserveBinary) \(folder.path) --port 0 --threads 1 --max-connections 1000"], binary: "/bin/sh")
        #expect(serve.port > 0, "\(serve.firstLine)")
        let out = try await python(#"""
            import socket, time, subprocess
            flood = []
            for i in range(200):
                try:
                    s = socket.create_connection(('127.0.0.1', \#(serve.port)), timeout=1)
                    flood.append(s)
                except OSError:
                    pass
            time.sleep(1.5)
            r = subprocess.run(['curl', '-s', '-m', '1', 'http://127.0.0.1:\#(serve.port)/small.txt'], capture_output=True)
            print('during', r.stdout.decode() or 'no answer')
            for s in flood: s.close()
            time.sleep(0.3)
            t = time.time()
            ok = ''
            while time.time() - t < 5 and ok != 'small':
                r = subprocess.run(['curl', '-s', '-m', '2', 'http://127.0.0.1:\#(serve.port)/small.txt'], capture_output=True)
                ok = r.stdout.decode()
            print('after', ok, round(time.time() - t, 1))
            """#)
        #expect(serve.process.isRunning, "the server died: \(out)")
        let after = out.split(separator: "\n").first { $0.hasPrefix("after ") }?.split(separator: " ") ?? []
        #expect(after.count == 3 && after[1] == "small", "\(out)")
        print("descriptor exhaustion: \(out.replacingOccurrences(of: "\n", with: "; "))")
        #expect(await serve.stop() == 0)
    }

    @Test("graceful shutdown: on SIGTERM downloads in flight complete, new connections are refused, exit 0")
    func gracefulShutdown() async throws {
        let folder = try BigFolder()
        let serve = try Serve([folder.path, "--port", "0"])
        let b = serve.base
        let pid = serve.process.processIdentifier
        // Two 16 MiB downloads at 8 MB/s take about 2 s; SIGTERM comes after 0.5 s.
        let out = try await sh("""
            curl -s --limit-rate 8M -o /tmp/grace-a.$$ -w 'a %{http_code} %{size_download}\\n' \(b)/big.bin &
            curl -s --limit-rate 8M --compressed -o /tmp/grace-b.$$ -w 'b %{http_code}\\n' \(b)/big.txt &
            sleep 0.5
            kill -TERM \(pid)
            sleep 0.3
            curl -s -m 2 -o /dev/null \(b)/small.txt; echo "new exit=$?"
            wait
            cmp -s /tmp/grace-a.$$ \(folder.path)/big.bin && echo 'a intact'
            cmp -s /tmp/grace-b.$$ \(folder.path)/big.txt && echo 'b intact'
            rm -f /tmp/grace-a.$$ /tmp/grace-b.$$
            """)
        #expect(out.contains("a 200 \(16 << 20)"), "\(out)")
        #expect(out.contains("b 200"), "\(out)")
        #expect(out.contains("a intact") && out.contains("b intact"), "\(out)")
        #expect(out.contains("new exit=7"), "a new connection must be refused: \(out)")
        #expect(await serve.stop(SIGTERM) == 0)
    }
}
