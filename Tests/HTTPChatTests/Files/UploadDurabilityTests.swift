import Foundation
import HTTPTypes
import NIOConcurrencyHelpers
import NIOCore
import TestSupport
import Testing

@testable import HTTPChatCore
@testable import HTTPChatServer

/// A fresh folder under the temporary directory, removed at the end.
private final class ScratchFolder {
    let path: String

    init() throws {
        path = FileManager.default.temporaryDirectory.appendingPathComponent("httpchat-durable-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    deinit { try? FileManager.default.removeItem(atPath: path) }

    /// Writes `text` to `name`, last modified `age` seconds ago.
    func write(_ name: String, _ text: String = "x", age: Int = 0) {
        let full = path + "/" + name
        _ = FileManager.default.createFile(atPath: full, contents: Data(text.utf8))
        if age > 0 { setAge(full, age) }
    }

    func setAge(_ full: String, _ age: Int) {
        let then = Date(timeIntervalSinceNow: -Double(age))
        try? FileManager.default.setAttributes([.modificationDate: then], ofItemAtPath: full)
    }

    func exists(_ name: String) -> Bool { FileManager.default.fileExists(atPath: path + "/" + name) }

    func read(_ name: String) -> String? {
        FileManager.default.contents(atPath: path + "/" + name).map { String(decoding: $0, as: UTF8.self) }
    }
}

@Suite("Upload durability")
struct UploadDurabilityTests {
    @Test("the start-up sweep removes old upload temporaries, keeps fresh ones, other names, and never follows a link")
    func sweep() throws {
        let site = try ScratchFolder()
        let outside = try ScratchFolder()
        try FileManager.default.createDirectory(atPath: site.path + "/sub/deeper", withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: site.path + "/.upload-aa", withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: site.path + "/cgi-bin", withIntermediateDirectories: true)
        site.write("cgi-bin/.upload-12", age: 7200)  // an excluded folder is never entered
        site.write(".upload-1a2b3c4d5e6f708192a3b4c5", age: 7200)  // the longest name createTemporary makes
        site.write(".upload-ff", age: 7200)
        site.write(".upload-beef")  // fresh: another server's upload in progress
        site.write(".upload-notes.txt", age: 7200)  // a user's file, not one of ours
        site.write(".upload-ABCD", age: 7200)  // upper-case hex is never ours
        site.write(".upload-", age: 7200)
        site.write("keep.txt", age: 7200)
        site.write("sub/deeper/.upload-0", age: 7200)
        site.write(".upload-aa/.upload-1", age: 7200)
        outside.write(".upload-dd", age: 7200)
        try FileManager.default.createSymbolicLink(atPath: site.path + "/out", withDestinationPath: outside.path)
        try FileManager.default.createSymbolicLink(atPath: site.path + "/.upload-ee", withDestinationPath: outside.path + "/.upload-dd")

        let store = UploadStore(root: site.path, excluded: [site.path + "/cgi-bin"])
        let removed = store.sweepTemporaries().sorted()
        #expect(removed == [".upload-1a2b3c4d5e6f708192a3b4c5", ".upload-aa/.upload-1", ".upload-ff", "sub/deeper/.upload-0"], "got \(removed)")
        for kept in [".upload-beef", ".upload-notes.txt", ".upload-ABCD", ".upload-", "keep.txt", ".upload-aa", ".upload-ee", "cgi-bin/.upload-12"] {
            #expect(site.exists(kept), "\(kept) must stay")
        }
        #expect(outside.exists(".upload-dd"), "a link was followed out of the root")
        #expect(store.sweepTemporaries(olderThan: .seconds(3600), now: Int(Date().timeIntervalSince1970) + 7200) == [".upload-beef"])
    }

    @Test("a file server with uploads on sweeps at start; with uploads off it writes nothing")
    func sweepAtStart() async throws {
        let site = try ScratchFolder()
        site.write(".upload-abc", age: 7200)
        var options = FileServerOptions()
        _ = try FileServer(root: site.path, options: options)
        try await Task.sleep(for: .milliseconds(300))
        #expect(site.exists(".upload-abc"), "uploads off: nothing is removed")
        options.uploads = true
        _ = try FileServer(root: site.path, options: options)
        for _ in 0..<100 where site.exists(".upload-abc") { try await Task.sleep(for: .milliseconds(20)) }
        #expect(!site.exists(".upload-abc"), "uploads on: the old temporary is swept")
    }

    @Test("a commit syncs the file before it has its name and the folder after; a failed file sync names nothing")
    func syncOrder() async throws {
        let site = try ScratchFolder()
        site.write("old.txt", "old")
        let calls = NIOLockedValueBox<[(fd: CInt, named: Bool)]>([])
        let folderFD = NIOLockedValueBox<CInt>(-1)
        let failing = NIOLockedValueBox(false)
        let newName = site.path + "/new.txt"
        let store = UploadStore(root: site.path, excluded: []) { fd in
            let named = FileManager.default.fileExists(atPath: newName)
            calls.withLockedValue { $0.append((fd, named)) }
            if failing.withLockedValue({ $0 }) && fd != folderFD.withLockedValue({ $0 }) {
                errno = EIO
                return -1
            }
            return 0
        }
        let folder = try await store.openFolder([])
        folderFD.withLockedValue { $0 = folder.fd }
        let temp = try await store.createTemporary(in: folder)
        try await temp.write([ByteBuffer(string: "new")])
        #expect(try await temp.commit(as: "new.txt", overwrite: false) == false)
        let seen = calls.withLockedValue { $0 }
        #expect(seen.count == 2, "got \(seen)")
        #expect(seen.first.map { $0.fd != folder.fd && !$0.named } == true, "the file is synced before it is named: \(seen)")
        #expect(seen.last.map { $0.fd == folder.fd && $0.named } == true, "the folder is synced after: \(seen)")
        #expect(site.read("new.txt") == "new")

        failing.withLockedValue { $0 = true }
        let second = try await store.createTemporary(in: folder)
        try await second.write([ByteBuffer(string: "lost")])
        await #expect(throws: HTTPError.self) { try await second.commit(as: "old.txt", overwrite: true) }
        #expect(site.read("old.txt") == "old", "a file that could not be synced replaces nothing")
        let left = try FileManager.default.contentsOfDirectory(atPath: site.path).filter { $0.hasPrefix(".upload-") }
        #expect(left.isEmpty, "left: \(left)")
    }
}

// MARK: - Conditional and partial PUT, over a socket

/// One request on a new connection (`Connection: close`): the status code and the whole answer.
private func exchange(_ port: Int, _ head: String, body: String = "") throws -> (status: Int, text: String) {
    let socket = try TestSocket(port: port)
    try socket.send(head + "Host: 127.0.0.1\r\nConnection: close\r\nContent-Length: \(body.utf8.count)\r\n\r\n" + body)
    let text = String(decoding: try socket.readToEnd(), as: UTF8.self)
    let status = text.split(separator: " ", maxSplits: 2).dropFirst().first.flatMap { Int($0) } ?? 0
    return (status, text)
}

/// The ETag the server sends for `path`.
private func etag(_ port: Int, _ path: String) throws -> String {
    let (_, text) = try exchange(port, "HEAD \(path) HTTP/1.1\r\n")
    let line = text.split(separator: "\r\n").first { $0.lowercased().hasPrefix("etag:") } ?? ""
    return String(line.dropFirst(5).trimmingCharacters(in: .whitespaces))
}

@Suite("Conditional PUT, live")
struct ConditionalPutLiveTests {
    private static func start(_ site: ScratchFolder, overwrite: Bool) async throws -> HTTPServer {
        var options = FileServerOptions()
        options.uploads = true
        options.overwrite = overwrite
        options.cacheValidity = .zero
        return try await HTTPServer.start(
            configuration: ServerConfiguration(host: "127.0.0.1", port: 0), responder: try FileServer(root: site.path, options: options)
        )
    }

    @Test("with overwrite: If-None-Match: *, a stale If-Match, a weak tag and an old If-Unmodified-Since are 412 and replace nothing")
    func preconditionsFail() async throws {
        let site = try ScratchFolder()
        site.write("a.txt", "original", age: 60)
        let server = try await Self.start(site, overwrite: true)
        defer { Task { await server.shutdown(gracePeriod: .seconds(1)) } }
        let port = server.port
        let tag = try etag(port, "/a.txt")
        #expect(tag.hasPrefix("\""), "got \(tag)")
        let refused = [
            "If-None-Match: *", "If-Match: \"stale\"", "If-Match: W/\(tag)", "If-None-Match: \(tag)",
            "If-None-Match: \"x\", \(tag)", "If-Unmodified-Since: Sun, 06 Nov 1994 08:49:37 GMT", "If-Match: \"x\", \"y\"",
        ]
        for field in refused {
            let got = try exchange(port, "PUT /a.txt HTTP/1.1\r\n\(field)\r\n", body: "clobbered")
            #expect(got.status == 412, "\(field): got \(got.text.prefix(60))")
            #expect(site.read("a.txt") == "original", "\(field) replaced the file")
        }
        let missing = try exchange(port, "PUT /b.txt HTTP/1.1\r\nIf-Match: *\r\n", body: "new")
        #expect(missing.status == 412 && !site.exists("b.txt"), "If-Match: * with no file: \(missing.status)")
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: site.path).filter { $0.hasPrefix(".upload-") }
        #expect(leftovers.isEmpty, "left: \(leftovers)")
    }

    @Test("with overwrite: a matching If-Match, If-Match: *, a later If-Unmodified-Since and If-None-Match: * on a new name succeed")
    func preconditionsHold() async throws {
        let site = try ScratchFolder()
        site.write("a.txt", "original", age: 60)
        let server = try await Self.start(site, overwrite: true)
        defer { Task { await server.shutdown(gracePeriod: .seconds(1)) } }
        let port = server.port
        let tag = try etag(port, "/a.txt")
        let matched = try exchange(port, "PUT /a.txt HTTP/1.1\r\nIf-Match: \"other\", \(tag)\r\n", body: "second")
        #expect(matched.status == 204 && site.read("a.txt") == "second", "got \(matched.text.prefix(60))")
        let any = try exchange(port, "PUT /a.txt HTTP/1.1\r\nIf-Match: *\r\n", body: "third")
        #expect(any.status == 204 && site.read("a.txt") == "third", "got \(any.text.prefix(60))")
        let later = try exchange(port, "PUT /a.txt HTTP/1.1\r\nIf-Unmodified-Since: Fri, 01 Jan 2100 00:00:00 GMT\r\n", body: "fourth")
        #expect(later.status == 204 && site.read("a.txt") == "fourth", "got \(later.text.prefix(60))")
        let other = try exchange(port, "PUT /a.txt HTTP/1.1\r\nIf-None-Match: \"other\"\r\n", body: "fifth")
        #expect(other.status == 204 && site.read("a.txt") == "fifth", "got \(other.text.prefix(60))")
        let fresh = try exchange(port, "PUT /new.txt HTTP/1.1\r\nIf-None-Match: *\r\n", body: "new")
        #expect(fresh.status == 201 && site.read("new.txt") == "new", "got \(fresh.text.prefix(60))")
    }

    @Test("without overwrite, If-None-Match: * over an existing file is 412 (preconditions before 409)")
    func preconditionBeforeConflict() async throws {
        let site = try ScratchFolder()
        site.write("a.txt", "original")
        let server = try await Self.start(site, overwrite: false)
        defer { Task { await server.shutdown(gracePeriod: .seconds(1)) } }
        let got = try exchange(server.port, "PUT /a.txt HTTP/1.1\r\nIf-None-Match: *\r\n", body: "x")
        #expect(got.status == 412, "got \(got.text.prefix(60))")
        let plain = try exchange(server.port, "PUT /a.txt HTTP/1.1\r\n", body: "x")
        #expect(plain.status == 409, "got \(plain.text.prefix(60))")
        #expect(site.read("a.txt") == "original")
    }

    @Test("PUT with Content-Range is 400: nothing replaced, nothing created")
    func contentRange() async throws {
        let site = try ScratchFolder()
        site.write("a.txt", "0123456789")
        let server = try await Self.start(site, overwrite: true)
        defer { Task { await server.shutdown(gracePeriod: .seconds(1)) } }
        for path in ["/a.txt", "/b.txt"] {
            let got = try exchange(server.port, "PUT \(path) HTTP/1.1\r\nContent-Range: bytes 0-3/10\r\n", body: "abcd")
            #expect(got.status == 400, "\(path): got \(got.text.prefix(60))")
        }
        #expect(site.read("a.txt") == "0123456789")
        #expect(!site.exists("b.txt"))
    }

    @Test("If-Match is decided again against the file the rename replaces: a file changed mid-upload is kept (412)")
    func changedDuringUpload() async throws {
        let site = try ScratchFolder()
        site.write("a.txt", "original", age: 60)
        let server = try await Self.start(site, overwrite: true)
        defer { Task { await server.shutdown(gracePeriod: .seconds(1)) } }
        let tag = try etag(server.port, "/a.txt")
        let socket = try TestSocket(port: server.port)
        // Over 64 KiB, so the body streams: the upload starts (first check, temporary file) before it ends.
        let half = String(repeating: "x", count: 100_000)
        try socket.send("PUT /a.txt HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nIf-Match: \(tag)\r\nContent-Length: 200000\r\n\r\n" + half)
        var started = false
        for _ in 0..<200 where !started {
            started = try FileManager.default.contentsOfDirectory(atPath: site.path).contains { $0.hasPrefix(".upload-") }
            if !started { try await Task.sleep(for: .milliseconds(10)) }
        }
        #expect(started, "the upload never started before its body ended")
        // The first check passed (the server is reading the body): now someone else changes the file.
        site.write("a.txt", "changed by another writer")
        try socket.send(half)
        let text = String(decoding: try socket.readToEnd(), as: UTF8.self)
        #expect(text.hasPrefix("HTTP/1.1 412"), "got \(text.prefix(60))")
        #expect(site.read("a.txt") == "changed by another writer")
    }
}
