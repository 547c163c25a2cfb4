import Foundation
import HTTPChatTesting
import HTTPTypes
import NIOCore
import Testing

@testable import HTTPChatCore
@testable import HTTPChatServer

/// A root with a folder, a file, a link leaving the root, and a place outside it.
private final class UploadSite {
    let base: String
    let root: String
    let outside: String
    let fm = FileManager.default

    init() throws {
        base = FileManager.default.temporaryDirectory.appendingPathComponent("httpchat-upload-\(UUID().uuidString)").path
        root = base + "/root"
        outside = base + "/outside"
        try fm.createDirectory(atPath: root + "/docs/sub", withIntermediateDirectories: true)
        try fm.createDirectory(atPath: root + "/cgi-bin", withIntermediateDirectories: true)
        try fm.createDirectory(atPath: outside, withIntermediateDirectories: true)
        _ = fm.createFile(atPath: root + "/docs/old.txt", contents: Data("old".utf8))
        try fm.createSymbolicLink(atPath: root + "/out", withDestinationPath: outside)
        try fm.createSymbolicLink(atPath: root + "/out-abs", withDestinationPath: outside)
        try fm.createSymbolicLink(atPath: root + "/inside", withDestinationPath: "docs/sub")
    }

    deinit { try? FileManager.default.removeItem(atPath: base) }

    func server(_ configure: (inout FileServerOptions) -> Void = { _ in }) throws -> FileServer {
        var options = FileServerOptions()
        options.uploads = true
        options.excludedFolders = ["cgi-bin"]
        configure(&options)
        return try FileServer(root: root, options: options)
    }

    func read(_ path: String) -> String? {
        fm.contents(atPath: root + "/" + path).map { String(decoding: $0, as: UTF8.self) }
    }

    /// Every name under `base` (root and outside), recursively.
    func allNames() -> [String] {
        (fm.enumerator(atPath: base)?.allObjects as? [String] ?? []).sorted()
    }

    /// Names of upload temp files anywhere under `base`.
    func temporaries() -> [String] {
        allNames().filter { ($0 as NSString).lastPathComponent.hasPrefix(".upload-") }
    }
}

/// Calls `server` with a request and body, turning a thrown HTTPError into its response.
private func send(
    _ server: FileServer, _ method: HTTPRequest.Method, _ target: String, body: String = "", _ fields: HTTPFields = [:]
) async throws -> (status: Int, fields: HTTPFields, text: String) {
    let request = Request(method: method, target: target, headerFields: fields, body: RequestBody(string: body))
    let response: Response
    do {
        response = try await server.respond(to: request)
    } catch let error as HTTPError {
        response = error.response
    }
    return (response.status.code, response.headerFields, String(buffer: try await response.body.collect()))
}

/// A multipart body with the given (field name, file name or nil, content) parts.
private func multipart(_ parts: [(String, String?, String)], boundary: String = "XyZ") -> (String, HTTPFields) {
    var body = ""
    for (name, filename, content) in parts {
        body += "--\(boundary)\r\nContent-Disposition: form-data; name=\"\(name)\""
        if let filename { body += "; filename=\"\(filename)\"\r\nContent-Type: application/octet-stream" }
        body += "\r\n\r\n\(content)\r\n"
    }
    body += "--\(boundary)--\r\n"
    return (body, [.contentType: "multipart/form-data; boundary=\(boundary)"])
}

@Suite("File uploads", .serialized)
struct FileUploadTests {
    @Test("PUT creates a file (201, Location), refuses to replace it (409), and replaces it with overwrite (204)")
    func putCreatesAndConflicts() async throws {
        let site = try UploadSite()
        let server = try site.server()
        let created = try await send(server, .put, "/docs/new%20file.txt", body: "hello")
        #expect(created.status == 201, "got \(created.status) \(created.text)")
        #expect(created.fields[.location] == "/docs/new%20file.txt")
        #expect(site.read("docs/new file.txt") == "hello")
        let again = try await send(server, .put, "/docs/new%20file.txt", body: "clobber")
        #expect(again.status == 409, "got \(again.status)")
        #expect(site.read("docs/new file.txt") == "hello")
        let served = try await send(server, .get, "/docs/new%20file.txt")
        #expect(served.text == "hello", "the cache must not keep the name missing: \(served.status)")

        let overwriting = try site.server { $0.overwrite = true }
        let replaced = try await send(overwriting, .put, "/docs/new%20file.txt", body: "second")
        #expect(replaced.status == 204, "got \(replaced.status)")
        #expect(replaced.fields[.location] == "/docs/new%20file.txt")
        #expect(site.read("docs/new file.txt") == "second")
        #expect(site.temporaries().isEmpty, "left: \(site.temporaries())")
    }

    @Test(
        "hostile PUT paths store nothing",
        arguments: [
            ("/..%2Fx", 400), ("/docs/a%2Fb", 400), ("/docs/a%5Cb", 400), ("/%2e%2e/x", 400), ("/docs/../x", 400),
            ("/.htaccess", 403), ("/docs/.env", 403), ("/x%00y", 400), ("/x%01y", 400), ("/%E2%80%AEtxt.exe", 400),
            ("/\(String(repeating: "a", count: 256))", 400), ("/docs/", 400), ("/", 400), ("/.upload-1234", 403),
            ("/nothing/x.txt", 404), ("/out/x.txt", 404), ("/out-abs/x.txt", 404), ("/cgi-bin/x.sh", 404),
            ("/docs", 409), ("/docs/old.txt/x", 409),
        ]
    )
    func hostilePut(_ target: String, _ want: Int) async throws {
        let site = try UploadSite()
        let before = site.allNames()
        let answer = try await send(try site.server(), .put, target, body: "payload")
        #expect(answer.status == want, "\(target): got \(answer.status), want \(want)")
        #expect(site.allNames() == before, "\(target) changed the tree: \(Set(site.allNames()).subtracting(before))")
    }

    @Test("even with --hidden and --follow-symlinks, a temp name is refused and no link leads out")
    func hiddenAndFollow() async throws {
        let site = try UploadSite()
        let server = try site.server {
            $0.hidden = true
            $0.followSymlinks = true
        }
        #expect(try await send(server, .put, "/.htaccess", body: "x").status == 201)
        #expect(try await send(server, .put, "/.upload-abc", body: "x").status == 403)
        #expect(try await send(server, .put, "/out/x.txt", body: "x").status == 404)
        #expect(!FileManager.default.fileExists(atPath: site.outside + "/x.txt"))
        #expect(try await send(server, .put, "/inside/linked.txt", body: "in").status == 201)
        #expect(site.read("docs/sub/linked.txt") == "in", "a link that stays inside is followed")
    }

    @Test("a 255-byte name is stored; 256 bytes is 400")
    func nameLength() async throws {
        let site = try UploadSite()
        let server = try site.server()
        let name = String(repeating: "é", count: 127) + "a"  // 255 bytes
        #expect(try await send(server, .put, "/" + PercentEncoding.encodeSegment(name), body: "x").status == 201)
        #expect(site.read(name) == "x")
        #expect(try await send(server, .put, "/" + PercentEncoding.encodeSegment(name + "b"), body: "x").status == 400)
    }

    @Test("POST multipart stores each file, ignores plain fields, answers 303 to the folder")
    func postMultipart() async throws {
        let site = try UploadSite()
        let server = try site.server()
        let (body, fields) = multipart([("note", nil, "ignored"), ("file", "a.txt", "AAA"), ("file", "../../evil.txt", "EVIL"), ("file", "b\u{202E}gpj.exe", "B")])
        let answer = try await send(server, .post, "/docs/sub/", body: body, fields)
        #expect(answer.status == 303, "got \(answer.status) \(answer.text)")
        #expect(answer.fields[.location] == "/docs/sub/")
        #expect(site.read("docs/sub/a.txt") == "AAA")
        #expect(site.read("docs/sub/evil.txt") == "EVIL", "the parser keeps the last component")
        #expect(site.read("docs/sub/bgpj.exe") == "B", "bidi override taken out")
        #expect(site.read("docs/sub/note") == nil)
        #expect(!FileManager.default.fileExists(atPath: site.base + "/evil.txt"))
        #expect(site.temporaries().isEmpty)
    }

    @Test("POST with Accept: application/json answers 201 with the stored files")
    func postJSON() async throws {
        let site = try UploadSite()
        let (body, fields) = multipart([("file", "r é.txt", "12345")])
        var all = fields
        all[.accept] = "application/json"
        let answer = try await send(try site.server(), .post, "/", body: body, all)
        #expect(answer.status == 201)
        #expect(answer.fields[.location] == "/r%20%C3%A9.txt")
        #expect(answer.text == "{\"files\":[{\"name\":\"r é.txt\",\"size\":5,\"replaced\":false,\"location\":\"/r%20%C3%A9.txt\"}]}\n", "\(answer.text)")
    }

    @Test("POST: no file is 400, not multipart is 415, an existing name 409, a dotfile name loses its dots")
    func postRefusals() async throws {
        let site = try UploadSite()
        let server = try site.server()
        let (fieldsOnly, type) = multipart([("note", nil, "x"), ("file", "", "")])
        #expect(try await send(server, .post, "/docs/", body: fieldsOnly, type).status == 400)
        #expect(try await send(server, .post, "/docs/", body: "a=b", [.contentType: "application/x-www-form-urlencoded"]).status == 415)
        let (existing, t2) = multipart([("file", "old.txt", "new")])
        #expect(try await send(server, .post, "/docs/", body: existing, t2).status == 409)
        #expect(site.read("docs/old.txt") == "old")
        let (folderName, t5) = multipart([("file", "sub", "not a folder")])
        #expect(try await send(try site.server { $0.overwrite = true }, .post, "/docs/", body: folderName, t5).status == 409)
        let (dot, t3) = multipart([("file", ".htaccess", "deny")])
        #expect(try await send(server, .post, "/docs/", body: dot, t3).status == 303)
        #expect(site.read("docs/htaccess") == "deny" && site.read("docs/.htaccess") == nil)
        let (cgi, t4) = multipart([("file", "x.sh", "#!/bin/sh")])
        #expect(try await send(server, .post, "/cgi-bin/", body: cgi, t4).status == 404)
        #expect(try await send(server, .post, "/out/", body: cgi, t4).status == 404)
        #expect(site.temporaries().isEmpty)
    }

    @Test("uploads off (the default): POST and PUT are 405 with Allow: GET, HEAD; on, other methods list POST, PUT")
    func methods() async throws {
        let site = try UploadSite()
        let off = try site.server { $0.uploads = false }
        let put = try await send(off, .put, "/x.txt", body: "x")
        #expect(put.status == 405 && put.fields[.allow] == "GET, HEAD")
        #expect(try await send(off, .post, "/", body: "").status == 405)
        let on = try site.server()
        #expect(try on.respondImmediately(to: Request(method: .put, target: "/x.txt")) == nil, "an upload is never answered on the loop")
        let delete = try await send(on, .delete, "/docs/old.txt")
        #expect(delete.status == 405 && delete.fields[.allow] == "GET, HEAD, POST, PUT")
        #expect(site.read("x.txt") == nil)
    }

    @Test("temp names are never served nor listed, even with hidden")
    func tempNeverServed() async throws {
        let site = try UploadSite()
        _ = site.fm.createFile(atPath: site.root + "/docs/.upload-0123", contents: Data("partial".utf8))
        let server = try site.server { $0.hidden = true }
        #expect(try await send(server, .get, "/docs/.upload-0123").status == 404)
        let listing = try await send(server, .get, "/docs/", [.accept: "application/json"])
        #expect(!listing.text.contains(".upload-"), "\(listing.text)")
        let archive = try await send(server, .get, "/docs/?download=zip")
        #expect(!archive.text.contains(".upload-"))
    }

    @Test("the listing has the upload form only when uploads are on")
    func listingForm() async throws {
        let site = try UploadSite()
        let on = try await send(try site.server(), .get, "/docs/")
        #expect(on.text.contains("<form class=\"upload\" method=\"post\" action=\"./\" enctype=\"multipart/form-data\">"))
        #expect(on.text.contains("<input type=\"file\" name=\"file\" multiple"))
        let off = try await send(try site.server { $0.uploads = false }, .get, "/docs/")
        #expect(!off.text.contains("multipart/form-data") && off.text.contains("Download .zip"))
    }

    @Test("two uploads racing to one new name: the second link fails (409) and the first file stays")
    func racingCommit() async throws {
        let site = try UploadSite()
        let store = UploadStore(root: site.root, excluded: [])
        let folder = try await store.openFolder(["docs"])
        let first = try await store.createTemporary(in: folder)
        let second = try await store.createTemporary(in: folder)
        try await first.write([ByteBuffer(string: "first")])
        try await second.write([ByteBuffer(string: "second")])
        #expect(try await first.commit(as: "race.txt", overwrite: false) == false)
        await #expect(throws: HTTPError(.conflict, "a file with that name exists")) {
            try await second.commit(as: "race.txt", overwrite: false)
        }
        #expect(site.read("docs/race.txt") == "first")
        #expect(site.temporaries().isEmpty, "left: \(site.temporaries())")
    }

    @Test("50 concurrent PUTs each store their file and leave no temp file")
    func concurrent() async throws {
        let site = try UploadSite()
        let server = try site.server { $0.uploadMaxConcurrent = 50 }
        let statuses = try await withThrowingTaskGroup(of: Int.self) { group in
            for i in 0..<50 {
                group.addTask { try await send(server, .put, "/docs/f\(i).bin", body: String(repeating: "\(i % 10)", count: 100_000)).status }
            }
            var all: [Int] = []
            for try await status in group { all.append(status) }
            return all
        }
        #expect(statuses == Array(repeating: 201, count: 50))
        for i in [0, 17, 49] { #expect(site.read("docs/f\(i).bin")?.count == 100_000) }
        #expect(site.temporaries().isEmpty)
    }

    // MARK: - Through the HTTP stack

    /// Runs the connection's loop until `done` holds or 3 s pass.
    private func wait(_ c: InProcessConnection, until done: () -> Bool) async throws {
        for _ in 0..<300 where !done() {
            _ = try await c.pendingOutput()
            try await Task.sleep(for: .milliseconds(10))
        }
    }

    @Test("a streamed PUT through the connection stores the file")
    func streamedPut() async throws {
        let site = try UploadSite()
        let c = try await InProcessConnection(responder: try site.server())
        let body = String(repeating: "z", count: 300_000)
        try await c.send("PUT /docs/big.txt HTTP/1.1\r\nHost: x\r\nContent-Length: \(body.utf8.count)\r\n\r\n")
        for piece in stride(from: 0, to: body.utf8.count, by: 50_000) {
            try await c.send(String(body.dropFirst(piece).prefix(50_000)))
        }
        let response = try #require(try await c.readResponse())
        #expect(response.status == 201)
        #expect(site.read("docs/big.txt") == body)
    }

    @Test("past uploadMaxConcurrent, an upload is 503 with Retry-After before its body is read; the slot comes back after")
    func uploadCap() async throws {
        let site = try UploadSite()
        let server = try site.server { $0.uploadMaxConcurrent = 1 }
        let first = try await InProcessConnection(responder: server)
        try await first.send("PUT /docs/one.txt HTTP/1.1\r\nHost: x\r\nContent-Length: 200000\r\n\r\n")
        try await first.send(String(repeating: "1", count: 100_000))
        try await wait(first) { !site.temporaries().isEmpty }
        #expect(!site.temporaries().isEmpty, "the first upload should be under way")

        let second = try await InProcessConnection(responder: server)
        try await second.send("PUT /docs/two.txt HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\ntwo!!")
        let refused = try #require(try await second.readResponse())
        #expect(refused.status == 503)
        #expect(refused.headerFields[.retryAfter] != nil)
        #expect(site.read("docs/two.txt") == nil)

        try await first.send(String(repeating: "1", count: 100_000))
        #expect(try await first.readResponse()?.status == 201)
        let third = try await InProcessConnection(responder: server)
        try await third.send("PUT /docs/two.txt HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\ntwo!!")
        #expect(try await third.readResponse()?.status == 201)
        #expect(site.read("docs/two.txt") == "two!!")
    }

    @Test("a client that goes away mid-upload leaves neither the file nor a temp file")
    func disconnect() async throws {
        let site = try UploadSite()
        let c = try await InProcessConnection(responder: try site.server())
        try await c.send("PUT /docs/cut.txt HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000\r\n\r\n")
        try await c.send(String(repeating: "y", count: 200_000))
        try await wait(c) { !site.temporaries().isEmpty }
        #expect(!site.temporaries().isEmpty, "the upload should be under way")
        await c.finishSending()
        try await wait(c) { site.temporaries().isEmpty }
        #expect(site.temporaries().isEmpty, "left: \(site.temporaries())")
        #expect(site.read("docs/cut.txt") == nil)
    }

    @Test("a client that stalls mid-upload is timed out and its temp file removed")
    func stall() async throws {
        let site = try UploadSite()
        var limits = HTTPLimits()
        limits.bodyReadTimeout = .seconds(5)
        let c = try await InProcessConnection(responder: try site.server(), limits: limits)
        let (body, _) = multipart([("file", "slow.bin", String(repeating: "s", count: 400_000))])
        try await c.send("POST /docs/ HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=XyZ\r\nContent-Length: \(body.utf8.count)\r\n\r\n")
        try await c.send(String(body.prefix(200_000)))
        try await wait(c) { !site.temporaries().isEmpty }
        #expect(!site.temporaries().isEmpty)
        await c.advanceTime(by: .seconds(6))
        try await wait(c) { site.temporaries().isEmpty && !c.isOpen }
        #expect(site.temporaries().isEmpty, "left: \(site.temporaries())")
        #expect(!c.isOpen)
        #expect(site.read("docs/slow.bin") == nil)
    }

    @Test("a chunked body over maxBodyBytes is 413 and its temp file removed; a declared one is refused before")
    func overLimit() async throws {
        let site = try UploadSite()
        var limits = HTTPLimits()
        limits.maxBodyBytes = 100_000
        let c = try await InProcessConnection(responder: try site.server(), limits: limits)
        try await c.send("PUT /docs/huge.bin HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
        let chunk = String(repeating: "h", count: 30_000)
        for _ in 0..<4 { try await c.send(String(30_000, radix: 16) + "\r\n" + chunk + "\r\n") }
        try await c.send("0\r\n\r\n")
        // With no answer, the failure says what the connection held at that moment.
        let started = ContinuousClock.now
        guard let response = try await c.readResponse() else {
            let output = try await c.pendingOutput()
            Issue.record("no answer after \(ContinuousClock.now - started); open: \(c.isOpen); output: \(output.debugDescription); temporaries: \(site.temporaries())")
            return
        }
        #expect(response.status == 413)
        for _ in 0..<1000 where !site.temporaries().isEmpty { try await Task.sleep(for: .milliseconds(10)) }
        #expect(site.temporaries().isEmpty && site.read("docs/huge.bin") == nil)

        let d = try await InProcessConnection(responder: try site.server(), limits: limits)
        try await d.send("PUT /docs/huge.bin HTTP/1.1\r\nHost: x\r\nContent-Length: 200000\r\n\r\n")
        #expect(try await d.readResponse()?.status == 413)
        #expect(site.temporaries().isEmpty && site.read("docs/huge.bin") == nil)
    }
}
