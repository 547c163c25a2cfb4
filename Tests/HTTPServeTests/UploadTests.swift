import Foundation
import TestSupport
import Testing

/// Every name under `path`, recursively, sorted.
private func tree(_ path: String) -> [String] {
    (FileManager.default.enumerator(atPath: path)?.allObjects as? [String] ?? []).sorted()
}

/// Upload temp files under `path`.
private func temporaries(_ path: String) -> [String] {
    tree(path).filter { ($0 as NSString).lastPathComponent.hasPrefix(".upload-") }
}

/// Polls until `done` holds or `seconds` pass.
private func poll(seconds: Double = 5, _ done: () -> Bool) async {
    let deadline = Date().addingTimeInterval(seconds)
    while !done() && Date() < deadline { try? await Task.sleep(for: .milliseconds(20)) }
}

private func contents(_ path: String) -> String? {
    FileManager.default.contents(atPath: path).map { String(decoding: $0, as: UTF8.self) }
}

@Suite("httpserve --upload", .serialized)
struct UploadTests {
    @Test("curl -F stores several files (303 to the listing, which shows the form); without --upload POST is 405 and no form")
    func curlMultipart() async throws {
        let folder = try Folder()
        let a = folder.path + "/../upload-a-\(UUID().uuidString).txt"
        let b = folder.path + "/../upload-b-\(UUID().uuidString).txt"
        _ = FileManager.default.createFile(atPath: a, contents: Data("first file".utf8))
        _ = FileManager.default.createFile(atPath: b, contents: Data(repeating: 0x42, count: 100_000))
        defer {
            try? FileManager.default.removeItem(atPath: a)
            try? FileManager.default.removeItem(atPath: b)
        }
        let off = try Serve([folder.path, "--port", "0"])
        let refused = try await sh("curl -s -o /dev/null -w '%{http_code} %header{allow}' -F file=@\(a) \(off.base)/sub/")
        #expect(refused == "405 GET, HEAD", "\(refused)")
        let plainListing = try await sh("curl -s \(off.base)/sub/")
        #expect(plainListing.contains("Index of") && !plainListing.contains("enctype=\"multipart/form-data\""))
        #expect(await off.stop() == 0)

        let serve = try Serve([folder.path, "--port", "0", "--upload"])
        let out = try await sh(
            "curl -s -o /dev/null -w '%{http_code} %{redirect_url}' -F note=hi -F 'file=@\(a);filename=one.txt' -F 'file=@\(b);filename=two.bin' \(serve.base)/sub/"
        )
        #expect(out == "303 \(serve.base)/sub/", "\(out)")
        #expect(contents(folder.path + "/sub/one.txt") == "first file")
        #expect(FileManager.default.contents(atPath: folder.path + "/sub/two.bin")?.count == 100_000)
        #expect(!FileManager.default.fileExists(atPath: folder.path + "/sub/note"))
        let listing = try await sh("curl -s \(serve.base)/sub/")
        #expect(listing.contains("<form class=\"upload\" method=\"post\" action=\"./\" enctype=\"multipart/form-data\">"))
        #expect(listing.contains("one.txt") && listing.contains("two.bin"))
        #expect(!listing.contains("src=") && !listing.contains("<link") && !listing.contains("url(http"), "the page fetches nothing")
        // Following the redirect, as a browser does, lands on the listing.
        let followed = try await sh("curl -s -L -o /dev/null -w '%{http_code} %{url_effective}' -F 'file=@\(a);filename=three.txt' \(serve.base)/sub/")
        #expect(followed == "200 \(serve.base)/sub/", "\(followed)")
        #expect(temporaries(folder.path).isEmpty)
        #expect(await serve.stop() == 0)
    }

    @Test("a cross-site multipart POST carrying Basic credentials is 403 and stores nothing; curl without Origin still uploads")
    func crossSitePostRefused() async throws {
        let folder = try Folder()
        let serve = try Serve([folder.path, "--port", "0", "--upload", "--auth", "bob:pw", "--trusted-origin", "https://app.example"])
        /// A multipart POST of one file, as a browser sends it from a page's form.
        func post(_ name: String, _ extra: String) throws -> String {
            let body = "--XyZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"\(name)\"\r\n\r\npwned\r\n--XyZ--\r\n"
            let socket = try TestSocket(port: serve.port)
            try socket.send(
                "POST /sub/ HTTP/1.1\r\nHost: 127.0.0.1:\(serve.port)\r\nAuthorization: Basic Ym9iOnB3\r\nConnection: close\r\n\(extra)"
                    + "Content-Type: multipart/form-data; boundary=XyZ\r\nContent-Length: \(body.utf8.count)\r\n\r\n\(body)")
            return String(decoding: try socket.readToEnd(), as: UTF8.self)
        }
        let crossSite = try post("evil.txt", "Origin: https://evil.example\r\nSec-Fetch-Site: cross-site\r\n")
        #expect(crossSite.hasPrefix("HTTP/1.1 403"), "\(crossSite.prefix(80))")
        #expect(crossSite.contains("cross-origin request refused"), "\(crossSite)")
        let oldBrowser = try post("old.txt", "Origin: https://evil.example\r\n")
        #expect(oldBrowser.hasPrefix("HTTP/1.1 403"), "\(oldBrowser.prefix(80))")
        let nullOrigin = try post("null.txt", "Origin: null\r\n")
        #expect(nullOrigin.hasPrefix("HTTP/1.1 403"), "\(nullOrigin.prefix(80))")
        #expect(!FileManager.default.fileExists(atPath: folder.path + "/sub/evil.txt"))
        #expect(!FileManager.default.fileExists(atPath: folder.path + "/sub/old.txt"))
        #expect(!FileManager.default.fileExists(atPath: folder.path + "/sub/null.txt"))
        let sameOrigin = try post("same.txt", "Origin: http://127.0.0.1:\(serve.port)\r\nSec-Fetch-Site: same-origin\r\n")
        #expect(sameOrigin.hasPrefix("HTTP/1.1 303"), "\(sameOrigin.prefix(80))")
        let trusted = try post("trusted.txt", "Origin: https://app.example\r\nSec-Fetch-Site: cross-site\r\n")
        #expect(trusted.hasPrefix("HTTP/1.1 303"), "\(trusted.prefix(80))")
        let put = try await sh("curl -s -o /dev/null -w '%{http_code}' -u bob:pw -H 'Origin: https://evil.example' -T /etc/hostname \(serve.base)/sub/put.txt")
        #expect(put == "403", "\(put)")
        let code = try await sh("curl -s -o /dev/null -w '%{http_code}' -u bob:pw -F 'file=@/etc/hostname;filename=curl.txt' \(serve.base)/sub/")
        #expect(code == "303", "curl sends neither field: \(code)")
        #expect(FileManager.default.fileExists(atPath: folder.path + "/sub/curl.txt"))
        #expect(FileManager.default.fileExists(atPath: folder.path + "/sub/same.txt") && FileManager.default.fileExists(atPath: folder.path + "/sub/trusted.txt"))
        #expect(!FileManager.default.fileExists(atPath: folder.path + "/sub/put.txt"))
        #expect(temporaries(folder.path).isEmpty)
        #expect(await serve.stop() == 0)
    }

    @Test("--trusted-origin refuses what is not scheme://host[:port]")
    func trustedOriginFlag() async throws {
        let folder = try Folder()
        let bad = try await runToEnd([folder.path, "--trusted-origin", "https://app.example/path"])
        #expect(bad.status != 0 && bad.stderr.contains("--trusted-origin"), "\(bad.stderr)")
    }

    @Test("with --upload and --cors, a browser's preflight is offered POST and PUT beside GET and HEAD")
    func corsPreflightOffersUploads() async throws {
        let folder = try Folder()
        let serve = try Serve([folder.path, "--port", "0", "--upload", "--cors"])
        let preflight = try await sh("curl -s -i -X OPTIONS -H 'Origin: https://x.example' -H 'Access-Control-Request-Method: PUT' \(serve.base)/new.txt")
        #expect(preflight.hasPrefix("HTTP/1.1 204"), "\(preflight)")
        #expect(preflight.contains("Access-Control-Allow-Methods: GET, HEAD, POST, PUT\r\n"), "\(preflight)")
        #expect(await serve.stop() == 0)
    }

    @Test("curl -T: 201 with Location, 409 for an existing name, 204 with --overwrite; --overwrite needs --upload")
    func curlPut() async throws {
        let folder = try Folder()
        let file = folder.path + "/../upload-put-\(UUID().uuidString).txt"
        _ = FileManager.default.createFile(atPath: file, contents: Data("put body".utf8))
        defer { try? FileManager.default.removeItem(atPath: file) }
        let serve = try Serve([folder.path, "--port", "0", "--upload"])
        let created = try await sh("curl -s -o /dev/null -w '%{http_code} %header{location}' -T \(file) \(serve.base)/sub/put.txt")
        #expect(created == "201 /sub/put.txt", "\(created)")
        #expect(try await sh("curl -s \(serve.base)/sub/put.txt") == "put body")
        #expect(try await sh("curl -s -o /dev/null -w '%{http_code}' -T \(file) \(serve.base)/page.txt") == "409")
        #expect(contents(folder.path + "/page.txt") == folder.text)
        #expect(try await sh("curl -s -o /dev/null -w '%{http_code}' -T \(file) \(serve.base)/sub") == "409", "a folder is never replaced")
        #expect(try await sh("curl -s -o /dev/null -w '%{http_code}' -T \(file) \(serve.base)/missing/x.txt") == "404")
        #expect(await serve.stop() == 0)

        let overwriting = try Serve([folder.path, "--port", "0", "--upload", "--overwrite"])
        #expect(try await sh("curl -s -o /dev/null -w '%{http_code}' -T \(file) \(overwriting.base)/page.txt") == "204")
        #expect(contents(folder.path + "/page.txt") == "put body")
        #expect(await overwriting.stop() == 0)

        let bad = try await runToEnd([folder.path, "--overwrite"])
        #expect(bad.status != 0 && bad.stderr.contains("--overwrite needs --upload"), "\(bad.stderr)")
        #expect(temporaries(folder.path).isEmpty)
    }

    @Test("hostile names from curl and Python requests never leave the folder nor make dotfiles")
    func hostileNames() async throws {
        let folder = try Folder()
        let outside = (folder.path as NSString).deletingLastPathComponent
        let marker = "upload-escape-\(UUID().uuidString)"
        let serve = try Serve([folder.path, "--port", "0", "--upload"])
        let before = tree(folder.path)
        for target in ["/../\(marker)", "/%2e%2e/\(marker)", "/sub/..%2F\(marker)", "/sub/a%5Cb", "/.htaccess", "/x%00y", "/%E2%80%AEtxt.exe", "/.upload-x"] {
            let code = try await sh("curl -s --path-as-is -o /dev/null -w '%{http_code}' -T /etc/hostname '\(serve.base)\(target)'")
            #expect(["400", "403"].contains(code), "\(target): \(code)")
        }
        #expect(tree(folder.path) == before, "\(Set(tree(folder.path)).subtracting(before))")
        let out = try await python(#"""
            import requests
            base = '\#(serve.base)/sub/'
            names = ['../../\#(marker)', 'a/b.txt', '..', '.htaccess', 'c\\d.txt', 'e\u202egpj.exe', 'n\x00ul.txt', 'x' * 300]
            for name in names:
                r = requests.post(base, files={'file': (name, b'data')}, headers={'Accept': 'application/json'}, allow_redirects=False)
                print(r.status_code, r.json()['files'][0]['name'] if r.status_code == 201 else '-')
            r = requests.post(base, data={'only': 'a field'}, files={'file': ('', b'')}, allow_redirects=False)
            print(r.status_code)
            """#)
        let lines = out.split(separator: "\n").map(String.init)
        #expect(lines.count == 9, "\(out)")
        #expect(lines.first == "201 \(marker)", "\(out)")
        #expect(lines.contains("201 b.txt") && lines.contains("201 htaccess") && lines.contains("201 egpj.exe"), "got \(lines)")
        // urllib3 sends a backslash unescaped (a path separator, as an old browser's Windows path has it: the
        // last component is kept), a NUL raw (a malformed part head).
        #expect(lines.count == 9 && lines[4] == "201 d.txt" && lines[6] == "400 -", "got \(lines)")
        #expect(lines.count == 9 && lines[2] == "400 -", "`..` is no file name: the form has no file")
        #expect(lines.contains("201 " + String(repeating: "x", count: 255)), "cut to 255 bytes: \(out)")
        #expect(lines.last == "400", "a form without a file: \(out)")
        #expect(!FileManager.default.fileExists(atPath: outside + "/" + marker))
        #expect(FileManager.default.fileExists(atPath: folder.path + "/sub/" + marker))
        #expect(!tree(folder.path).contains { ($0 as NSString).lastPathComponent == ".htaccess" })
        #expect(temporaries(folder.path).isEmpty)
        #expect(await serve.stop() == 0)
    }

    @Test("--max-body: a declared body over it is 413, a chunked one too; no file and no temp file stay")
    func sizeLimit() async throws {
        let folder = try Folder()
        let big = folder.path + "/../upload-big-\(UUID().uuidString).bin"
        _ = FileManager.default.createFile(atPath: big, contents: Data(count: 300_000))
        defer { try? FileManager.default.removeItem(atPath: big) }
        let serve = try Serve([folder.path, "--port", "0", "--upload", "--max-body", "100000"])
        #expect(try await sh("curl -s -o /dev/null -w '%{http_code}' -T \(big) \(serve.base)/sub/big.bin") == "413")
        #expect(try await sh("curl -s -o /dev/null -w '%{http_code}' -F file=@\(big) \(serve.base)/sub/") == "413")
        let chunked = try await sh("cat \(big) | curl -s -o /dev/null -w '%{http_code}' -H 'Transfer-Encoding: chunked' -T - \(serve.base)/sub/big.bin")
        #expect(chunked == "413", "\(chunked)")
        await poll { temporaries(folder.path).isEmpty }
        #expect(temporaries(folder.path).isEmpty, "\(temporaries(folder.path))")
        #expect(!FileManager.default.fileExists(atPath: folder.path + "/sub/big.bin"))
        #expect(await serve.stop() == 0)
    }

    @Test("a client that disconnects mid-upload, or stalls past --body-timeout, leaves no file and no temp file")
    func cutOff() async throws {
        let folder = try Folder()
        let serve = try Serve([folder.path, "--port", "0", "--upload", "--max-body", "100000000", "--body-timeout", "1"])
        let out = try await python(#"""
            import socket, time, os
            def start(name):
                s = socket.create_connection(('127.0.0.1', \#(serve.port)))
                s.sendall(b'PUT /sub/' + name + b' HTTP/1.1\r\nHost: localhost\r\nContent-Length: 50000000\r\n\r\n')
                s.sendall(b'x' * 3000000)
                return s
            a = start(b'gone.bin')
            b = start(b'stalled.bin')
            time.sleep(0.3)
            print('during', len([n for n in os.listdir('\#(folder.path)/sub') if n.startswith('.upload-')]))
            a.close()
            time.sleep(2.5)
            print('after', sorted(os.listdir('\#(folder.path)/sub')))
            try:
                print('stalled answer', b.recv(1000)[:12])
            except OSError as e:
                print('stalled reset', e)
            """#)
        #expect(out.contains("during 2"), "both uploads were under way: \(out)")
        #expect(out.contains("after ['a.txt']"), "\(out)")
        await poll { temporaries(folder.path).isEmpty }
        #expect(temporaries(folder.path).isEmpty)
        #expect(await serve.stop() == 0)
    }

    @Test("with --cgi, nothing can be uploaded into cgi-bin; the scripts stay as they were")
    func cgiFolder() async throws {
        let folder = try Folder()
        try FileManager.default.createDirectory(atPath: folder.path + "/cgi-bin", withIntermediateDirectories: true)
        let script = folder.path + "/cgi-bin/hello.sh"
        _ = FileManager.default.createFile(atPath: script, contents: Data("#!/bin/sh\nprintf 'Content-Type: text/plain\\r\\n\\r\\nhello'\n".utf8))
        chmod(script, 0o755)
        try FileManager.default.createSymbolicLink(atPath: folder.path + "/scripts", withDestinationPath: "cgi-bin")
        let serve = try Serve([folder.path, "--port", "0", "--upload", "--overwrite", "--cgi"])
        let before = tree(folder.path + "/cgi-bin")
        for target in ["/cgi-bin/new.sh", "/cgi-bin/hello.sh", "//cgi-bin/x.sh", "/%63gi-bin/x.sh", "/scripts/x.sh", "/scripts/hello.sh"] {
            _ = try await sh("curl -s -o /dev/null -T /etc/hostname '\(serve.base)\(target)'")
        }
        for target in ["/cgi-bin/", "/scripts/"] {
            let code = try await sh("curl -s -o /dev/null -w '%{http_code}' -F 'file=@/etc/hostname;filename=up.sh' '\(serve.base)\(target)'")
            #expect(code == "404", "\(target): \(code)")
        }
        #expect(tree(folder.path + "/cgi-bin") == before, "\(tree(folder.path + "/cgi-bin"))")
        #expect(contents(script)?.contains("hello") == true)
        #expect(try await sh("curl -s -o /dev/null -w '%{http_code}' -T /etc/hostname \(serve.base)/sub/ok.txt") == "201", "uploads elsewhere still work")
        #expect(await serve.stop() == 0)
    }

    @Test("a 256 MiB PUT streams to disk in bounded memory")
    func largeUpload() async throws {
        let folder = try Folder()
        let big = folder.path + "/../upload-large-\(UUID().uuidString).bin"
        _ = try await sh("head -c \(256 << 20) /dev/urandom > \(big)")
        defer { try? FileManager.default.removeItem(atPath: big) }
        let serve = try Serve([folder.path, "--port", "0", "--upload", "--max-body", "\(1 << 30)"])
        let start = Date()
        let code = try await sh("curl -s -o /dev/null -w '%{http_code}' -T \(big) \(serve.base)/sub/large.bin")
        let seconds = Date().timeIntervalSince(start)
        #expect(code == "201")
        let sums = try await sh("cmp \(big) \(folder.path)/sub/large.bin && echo same")
        #expect(sums.contains("same"), "\(sums)")
        let peak = serve.peakRSS ?? 0
        #expect(peak < 120 << 20, "peak RSS \(peak >> 20) MiB for a 256 MiB upload")
        print("256 MiB PUT: \(String(format: "%.2f", seconds)) s, peak RSS \(peak >> 20) MiB")
        #expect(await serve.stop() == 0)
    }
}
