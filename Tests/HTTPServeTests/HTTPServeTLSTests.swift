import Foundation
import TestSupport
import Testing

/// The serial of the certificate a new TLS connection to `port` is shown.
private func servedSerial(port: Int, ca: String) async throws -> String {
    try await sh("echo | openssl s_client -connect 127.0.0.1:\(port) -CAfile \(ca) 2>/dev/null | openssl x509 -noout -serial")
}

@Suite("httpserve HTTPS", .serialized)
struct HTTPServeTLSTests {
    let certs: TestCertificates

    init() throws { certs = try TestCertificates() }

    @Test("--tls-cert/--tls-key: the start line says https and curl fetches; --hsts over HTTPS only; --redirect-http answers 308 to the https URL")
    func serveHTTPS() async throws {
        let folder = try Folder()
        let serve = try Serve([
            folder.path, "-p", "0", "--tls-cert", certs.serverCert, "--tls-key", certs.serverKey,
            "--hsts", "3600", "--redirect-http", "0",
        ])
        let real = URL(fileURLWithPath: folder.path).resolvingSymlinksInPath().path
        #expect(serve.firstLine == "Serving \(real) at https://127.0.0.1:\(serve.port)/", "\(serve.firstLine)")
        let https = "https://127.0.0.1:\(serve.port)"
        let head = try await sh("curl -sS --cacert \(certs.ca) -D - -o /dev/null \(https)/sub/a.txt")
        #expect(head.hasPrefix("HTTP/1.1 200 OK"), "\(head)")
        #expect(head.contains("Strict-Transport-Security: max-age=3600\r\n"), "\(head)")
        #expect(try await sh("curl -sS --cacert \(certs.ca) \(https)/sub/a.txt") == "a")
        // The second line names the redirect port; its answers go to the HTTPS port, with no HSTS.
        let second = try await readPipe(serve.stdout, until: "to HTTPS\n")
        let redirectPort = try #require(second.firstMatch(of: /Redirecting http:\/\/127\.0\.0\.1:(\d+)\/ to HTTPS/).map { Int($0.1)! })
        let redirect = try await sh("curl -sS -D - -o /dev/null 'http://127.0.0.1:\(redirectPort)/sub/a.txt?x=1'")
        #expect(redirect.hasPrefix("HTTP/1.1 308 Permanent Redirect"), "\(redirect)")
        #expect(redirect.contains("Location: \(https)/sub/a.txt?x=1\r\n"), "\(redirect)")
        #expect(!redirect.contains("Strict-Transport-Security"), "\(redirect)")
        // curl -L follows it to the file over TLS.
        #expect(try await sh("curl -sSL --cacert \(certs.ca) http://127.0.0.1:\(redirectPort)/sub/a.txt") == "a")
        #expect(await serve.stop() == 0)
    }

    @Test("TLS mistakes are named with the fix: a missing file, a key of another certificate, a flag alone; exit 1, no trace")
    func errors() async throws {
        let folder = try Folder()
        let missing = try await runToEnd([folder.path, "-p", "0", "--tls-cert", certs.folder + "/none.pem", "--tls-key", certs.serverKey])
        #expect(missing.status == 1)
        #expect(missing.stderr == "Error: cannot read the certificate file \(certs.folder)/none.pem: no such file\n", "\(missing.stderr)")
        let mismatch = try await runToEnd([folder.path, "-p", "0", "--tls-cert", certs.serverCert, "--tls-key", certs.unrelatedKey])
        #expect(mismatch.status == 1)
        #expect(mismatch.stderr == "Error: the private key \(certs.unrelatedKey) does not belong to the certificate \(certs.serverCert)\n", "\(mismatch.stderr)")
        let alone = try await runToEnd([folder.path, "--tls-cert", certs.serverCert])
        #expect(alone.status != 0 && alone.stderr.contains("--tls-cert and --tls-key go together"), "\(alone.stderr)")
        let redirect = try await runToEnd([folder.path, "--redirect-http", "8080"])
        #expect(redirect.status != 0 && redirect.stderr.contains("--redirect-http needs --tls-cert and --tls-key"), "\(redirect.stderr)")
        let hsts = try await runToEnd([folder.path, "--hsts", "60"])
        #expect(hsts.status != 0 && hsts.stderr.contains("--hsts needs --tls-cert"), "\(hsts.stderr)")
    }

    @Test("an expired certificate is served with a warning on stderr")
    func expiredWarning() async throws {
        let folder = try Folder()
        let expiring = try certs.expiring()
        try await Task.sleep(for: .milliseconds(1200))  // valid until the second it was made
        let serve = try Serve([folder.path, "-p", "0", "--tls-cert", expiring.cert, "--tls-key", expiring.key])
        #expect(serve.port > 0, "\(serve.firstLine)")
        let warning = try await readPipe(serve.stderr, until: "clients will refuse it")
        #expect(warning.contains("the certificate \(expiring.cert) expired at "), "\(warning)")
        let refused = try await sh("curl -sS --cacert \(certs.ca) https://127.0.0.1:\(serve.port)/sub/a.txt; echo exit=$?")
        #expect(refused.contains("exit=60"), "\(refused)")  // curl: certificate has expired
        #expect(await serve.stop() == 0)
    }

    @Test("SIGHUP reloads renewed files mid-traffic: no request fails, new connections see the new certificate; a broken pair is logged and the current one stays")
    func reloadOnHangUp() async throws {
        let folder = try Folder()
        let cert = certs.folder + "/live.pem", key = certs.folder + "/live.key"
        try FileManager.default.copyItem(atPath: certs.serverCert, toPath: cert)
        try FileManager.default.copyItem(atPath: certs.serverKey, toPath: key)
        let serve = try Serve([folder.path, "-p", "0", "--tls-cert", cert, "--tls-key", key])
        let port = serve.port
        let oldSerial = try await sh("openssl x509 -in \(certs.serverCert) -noout -serial")
        let newSerial = try await sh("openssl x509 -in \(certs.renewedCert) -noout -serial")
        #expect(try await servedSerial(port: port, ca: certs.ca) == oldSerial)
        // Traffic over new and kept-alive connections while the files are swapped and SIGHUP arrives.
        let ca = certs.ca
        async let traffic = sh("""
            python3 - <<'EOF'
            import http.client, ssl, time
            ctx = ssl.create_default_context(cafile='\(ca)')
            ok = failed = 0
            kept = http.client.HTTPSConnection('127.0.0.1', \(port), context=ctx)
            end = time.time() + 2.5
            while time.time() < end:
                for c in (kept, http.client.HTTPSConnection('127.0.0.1', \(port), context=ctx)):
                    try:
                        c.request('GET', '/sub/a.txt'); r = c.getresponse()
                        ok += r.status == 200 and r.read() == b'a'
                    except Exception as e:
                        failed += 1; print('error', e)
            print('ok', ok, 'failed', failed)
            EOF

            """)
        try await Task.sleep(for: .milliseconds(700))
        try FileManager.default.removeItem(atPath: cert)
        try FileManager.default.removeItem(atPath: key)
        try FileManager.default.copyItem(atPath: certs.renewedCert, toPath: cert)
        try FileManager.default.copyItem(atPath: certs.renewedKey, toPath: key)
        kill(serve.process.processIdentifier, SIGHUP)
        let reloaded = try await readPipe(serve.stdout, until: "Reloaded the TLS certificate and key\n")
        #expect(reloaded.contains("Reloaded the TLS certificate and key"), "\(reloaded)")
        let result = try await traffic
        #expect(result.contains("failed 0"), "\(result)")
        let ok = Int(result.firstMatch(of: /ok (\d+)/)?.1 ?? "") ?? 0
        #expect(ok > 20, "\(result)")
        #expect(try await servedSerial(port: port, ca: certs.ca) == newSerial)

        // A key that does not match: logged, and the renewed pair stays.
        try FileManager.default.removeItem(atPath: key)
        try FileManager.default.copyItem(atPath: certs.unrelatedKey, toPath: key)
        kill(serve.process.processIdentifier, SIGHUP)
        let logged = try await readPipe(serve.stderr, until: "does not belong")
        #expect(logged.contains("TLS reload failed, the current certificate stays: the private key \(key) does not belong"), "\(logged)")
        #expect(try await servedSerial(port: port, ca: certs.ca) == newSerial)
        #expect(try await sh("curl -sS --cacert \(certs.ca) https://127.0.0.1:\(port)/sub/a.txt") == "a")
        #expect(await serve.stop() == 0)
    }

    @Test("slow HTTPS readers: 20 clients that request 16 MiB and read nothing hold bounded memory; others are served")
    func slowReaders() async throws {
        let folder = try BigFolder()
        let serve = try Serve([
            folder.path, "-p", "0", "--threads", "1", "--tls-cert", certs.serverCert, "--tls-key", certs.serverKey,
        ])
        _ = try await sh("curl -s --cacert \(certs.ca) -o /dev/null https://127.0.0.1:\(serve.port)/big.bin; curl -s --cacert \(certs.ca) --compressed -o /dev/null https://127.0.0.1:\(serve.port)/big.txt")
        let before = try #require(serve.rss)
        let out = try await python(#"""
            import socket, ssl, time
            ctx = ssl.create_default_context(cafile='\#(certs.ca)')
            socks = []
            for i in range(20):
                raw = socket.socket()
                raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
                raw.connect(('127.0.0.1', \#(serve.port)))
                s = ctx.wrap_socket(raw, server_hostname='localhost')
                path = '/big.bin' if i % 2 == 0 else '/big.txt'
                s.sendall(('GET %s HTTP/1.1\r\nHost: localhost\r\nAccept-Encoding: gzip\r\n\r\n' % path).encode())
                socks.append(s)
            time.sleep(2)
            other = ssl.create_default_context(cafile='\#(certs.ca)').wrap_socket(socket.create_connection(('127.0.0.1', \#(serve.port))), server_hostname='localhost')
            other.sendall(b'GET /small.txt HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n')
            reply = b''
            while True:
                chunk = other.recv(65536)
                if not chunk: break
                reply += chunk
            print('other', reply.split(b'\r\n\r\n', 1)[1].decode())
            print('RSS', open('/proc/\#(serve.process.processIdentifier)/status').read().split('VmRSS:')[1].split()[0])
            """#)
        let during = try #require(Int(out.firstMatch(of: /RSS (\d+)/)?.1 ?? "")) * 1024
        print("slow HTTPS readers: server RSS \(before >> 10) KiB before, \(during >> 10) KiB with 20 stuck 16 MiB responses")
        #expect(out.contains("other small"), "\(out)")
        #expect(during - before < 24 << 20, "RSS grew from \(before) to \(during)")
        #expect(await serve.stop() == 0)
    }
}
