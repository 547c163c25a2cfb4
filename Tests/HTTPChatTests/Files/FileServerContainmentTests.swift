import Dispatch
import HTTPTypes
import NIOCore
import Testing

#if canImport(Foundation)
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#endif

@testable import HTTPChatCore
@testable import HTTPChatServer

/// A root with links of every kind, a folder to exclude, and a secret outside.
private final class LinkFixture {
    let base: String
    let root: String
    let outside: String
    let fm = FileManager.default

    init() throws {
        base = FileManager.default.temporaryDirectory.appendingPathComponent("httpchat-links-\(UUID().uuidString)").path
        root = base + "/root"
        outside = base + "/outside"
        try fm.createDirectory(atPath: root + "/a/b", withIntermediateDirectories: true)
        try fm.createDirectory(atPath: root + "/private", withIntermediateDirectories: true)
        try fm.createDirectory(atPath: outside, withIntermediateDirectories: true)
        _ = fm.createFile(atPath: root + "/a/b/file.txt", contents: Data("inside".utf8))
        _ = fm.createFile(atPath: root + "/private/key.txt", contents: Data("excluded".utf8))
        _ = fm.createFile(atPath: outside + "/secret.txt", contents: Data("outside".utf8))
        try fm.createSymbolicLink(atPath: root + "/rel", withDestinationPath: "a/b/file.txt")
        try fm.createSymbolicLink(atPath: root + "/a/up", withDestinationPath: "../a/b")
        try fm.createSymbolicLink(atPath: root + "/abs-in", withDestinationPath: root + "/a/b/file.txt")
        try fm.createSymbolicLink(atPath: root + "/abs-out", withDestinationPath: outside + "/secret.txt")
        try fm.createSymbolicLink(atPath: root + "/climb", withDestinationPath: "../outside/secret.txt")
        try fm.createSymbolicLink(atPath: root + "/climb-back", withDestinationPath: "../root/a/b/file.txt")
        try fm.createSymbolicLink(atPath: root + "/loop1", withDestinationPath: "loop2")
        try fm.createSymbolicLink(atPath: root + "/loop2", withDestinationPath: "loop1")
        try fm.createSymbolicLink(atPath: root + "/to-private", withDestinationPath: "private")
        try fm.createSymbolicLink(atPath: root + "/to-private-abs", withDestinationPath: root + "/private/key.txt")
        mkfifo(root + "/fifo", 0o644)
    }

    deinit { try? FileManager.default.removeItem(atPath: base) }

    func opener(follow: Bool = false, excluded: [String] = []) -> RootedOpener {
        RootedOpener(root: root, followSymlinks: follow, excluded: excluded)
    }
}

/// What an opener walk gives, as text: the file's contents, "dir", or "missing".
private func outcome(_ opener: RootedOpener, _ path: String) -> String {
    let components = path.split(separator: "/").map(String.init)
    switch opener.open(components) {
    case .missing:
        return "missing"
    case .forbidden:
        return "forbidden"
    case .directory(let fd, _):
        close(fd)
        return "dir"
    case .file(let fd, let st):
        defer { close(fd) }
        var bytes = [UInt8](repeating: 0, count: Int(st.st_size))
        let n = read(fd, &bytes, bytes.count)
        return String(decoding: bytes[..<max(0, n)], as: UTF8.self)
    }
}

@Suite("File server containment")
struct FileServerContainmentTests {
    @Test(
        "links are followed only while they stay inside the root",
        arguments: [
            ("a/b/file.txt", "inside"), ("rel", "inside"), ("abs-in", "inside"), ("a/up/file.txt", "inside"),
            ("climb-back", "missing"),  // it passes through the root's parent: outside, even if it comes back
            ("abs-out", "missing"), ("climb", "missing"), ("loop1", "missing"), ("fifo", "missing"),
            ("a", "dir"), ("", "dir"), ("nothing", "missing"), ("a/b/file.txt/x", "missing"),
        ]
    )
    func insideOnly(path: String, expected: String) throws {
        let site = try LinkFixture()
        #expect(outcome(site.opener(), path) == expected, "\(path)")
    }

    @Test("with followSymlinks, links leading anywhere are followed", arguments: [
        ("abs-out", "outside"), ("climb", "outside"), ("climb-back", "inside"), ("loop1", "missing"),
    ])
    func followAnywhere(path: String, expected: String) throws {
        let site = try LinkFixture()
        #expect(outcome(site.opener(follow: true), path) == expected, "\(path)")
    }

    @Test("an excluded folder is reached by no path and no link", arguments: [
        "private/key.txt", "private", "to-private/key.txt", "to-private", "to-private-abs",
    ])
    func excluded(path: String) throws {
        let site = try LinkFixture()
        #expect(outcome(site.opener(excluded: [site.root + "/private"]), path) == "missing", "\(path)")
        #expect(outcome(site.opener(follow: true, excluded: [site.root + "/private"]), path) == "missing", "\(path)")
    }

    @Test("a FIFO in the root neither hangs the walk nor is served")
    func fifoIsNotServed() async throws {
        let site = try LinkFixture()
        let files = try FileServer(root: site.root)
        let (response, _) = try await get(files, "/fifo")
        #expect(response.status == .notFound)
    }

    @Test("the file server never serves or lists an excluded folder, however the path is spelled")
    func excludedFolderThroughTheServer() async throws {
        let site = try LinkFixture()
        var options = FileServerOptions()
        options.excludedFolders = ["private"]
        let files = try FileServer(root: site.root, options: options)
        for target in ["/private/key.txt", "//private/key.txt", "/./private/key.txt", "/%70rivate/key.txt",
                       "http://h//private/key.txt", "/to-private/key.txt", "/private/", "//private/", "/to-private/"] {
            let (response, body) = try await get(files, target)
            #expect(response.status == .notFound, "\(target): \(response.status)")
            #expect(!String(buffer: body).contains("excluded") && !String(buffer: body).contains("key.txt"), "\(target)")
        }
        let (listing, body) = try await get(files, "/")
        #expect(listing.status == .ok)
        // Neither the folder nor the links into it are listed.
        #expect(!String(buffer: body).contains("private"), "the root listing shows the excluded folder: \(String(buffer: body))")
        #expect(String(buffer: body).contains(">a/<"))
    }

    @Test("a folder swapped for a symlink to outside while requests run never yields an outside file")
    func symlinkSwapRace() async throws {
        let site = try LinkFixture()
        let fm = FileManager.default
        // root/race is a folder holding secret.txt ("inside"), and is swapped again and again for a link to
        // the outside folder, whose secret.txt says "outside".
        try fm.createDirectory(atPath: site.root + "/race-dir", withIntermediateDirectories: true)
        _ = fm.createFile(atPath: site.root + "/race-dir/secret.txt", contents: Data("inside".utf8))
        try fm.createSymbolicLink(atPath: site.root + "/race-link", withDestinationPath: site.outside)
        try fm.createSymbolicLink(atPath: site.root + "/race", withDestinationPath: "race-dir")
        var options = FileServerOptions()
        options.cacheValidity = .zero  // every request resolves anew
        let files = try FileServer(root: site.root, options: options)
        let stop = Flag()
        let root = site.root
        // The swapper renames two prepared names over `race` in turn (rename is atomic): a link that stays
        // inside, and the link to outside.
        let swapper = Thread {
            while !stop.isSet {
                _ = try? FileManager.default.removeItem(atPath: root + "/race-tmp")
                try? FileManager.default.createSymbolicLink(atPath: root + "/race-tmp", withDestinationPath: root + "/race-dir")
                rename(root + "/race-tmp", root + "/race")
                try? FileManager.default.createSymbolicLink(atPath: root + "/race-tmp", withDestinationPath: root + "/../outside")
                rename(root + "/race-tmp", root + "/race")
            }
        }
        swapper.start()
        defer { stop.set() }
        var inside = 0
        for _ in 0..<4000 {
            let (response, body) = try await get(files, "/race/secret.txt")
            let text = String(buffer: body)
            #expect(text != "outside", "an outside file was served through the swapped folder")
            if text == "outside" { break }
            if response.status == .ok { inside += 1 }
        }
        stop.set()
        #expect(inside > 0, "the race never let the inside file through either: the test exercised nothing")
    }

    @Test("a folder redirect is never protocol-relative: GET //evil.example answers Location /evil.example/")
    func noOpenRedirect() async throws {
        let site = try LinkFixture()
        try FileManager.default.createDirectory(atPath: site.root + "/evil.example", withIntermediateDirectories: true)
        let files = try FileServer(root: site.root)
        for (target, location) in [("//evil.example", "/evil.example/"), ("///evil.example", "/evil.example/"),
                                   ("/./evil.example", "/evil.example/"), ("//evil.example?q=1", "/evil.example/?q=1"),
                                   ("http://h//evil.example", "/evil.example/")] {
            let (response, _) = try await get(files, target)
            #expect(response.status == .movedPermanently, "\(target)")
            #expect(response.headerFields[.location] == location, "\(target): \(response.headerFields[.location] ?? "none")")
        }
    }
}

/// A flag shared with a thread.
private final class Flag: @unchecked Sendable {
    private let lock = NSLock()
    private var value = false
    var isSet: Bool { lock.withLock { value } }
    func set() { lock.withLock { value = true } }
}
