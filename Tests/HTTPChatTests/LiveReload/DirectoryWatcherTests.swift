#if os(Linux)
import Foundation
import NIOConcurrencyHelpers
import Testing

@testable import HTTPChatServer

/// A folder being watched, and what the watcher reported.
private final class Watched: Sendable {
    let root: String
    private let batches = NIOLockedValueBox<[[String]]>([])
    private let problems = NIOLockedValueBox<[String]>([])
    nonisolated(unsafe) private(set) var watcher: DirectoryWatcher!

    init(prepare: (String) throws -> Void = { _ in }, excluded: [String] = [], hidden: Bool = false, maxWatches: Int = 65_536,
         quiet: Duration = .milliseconds(50)) throws {
        root = FileManager.default.temporaryDirectory.appendingPathComponent("watch-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        try prepare(root)
        watcher = try DirectoryWatcher(
            root: root, excluded: excluded, hidden: hidden, maxWatches: maxWatches, quiet: quiet,
            onChange: { [batches] batch in batches.withLockedValue { $0.append(batch) } },
            onProblem: { [problems] message in problems.withLockedValue { $0.append(message) } }
        )
    }

    deinit {
        watcher.stop()
        try? FileManager.default.removeItem(atPath: root)
    }

    var all: [[String]] { batches.withLockedValue { $0 } }
    var paths: Set<String> { Set(all.joined()) }
    var reportedProblems: [String] { problems.withLockedValue { $0 } }
    func reset() { batches.withLockedValue { $0 = [] } }

    func write(_ path: String, _ text: String = "x") throws {
        try text.write(toFile: root + "/" + path, atomically: false, encoding: .utf8)
    }
    func mkdir(_ path: String) throws { try FileManager.default.createDirectory(atPath: root + "/" + path, withIntermediateDirectories: true) }

    /// Waits until `path` was reported (up to 5 s).
    func waitFor(_ path: String) async throws -> Bool {
        for _ in 0..<250 {
            if paths.contains(path) { return true }
            try await Task.sleep(for: .milliseconds(20))
        }
        return paths.contains(path)
    }

    /// Waits until nothing was reported for 300 ms.
    func settle() async throws {
        var count = -1
        while count != all.count {
            count = all.count
            try await Task.sleep(for: .milliseconds(300))
        }
    }
}

@Suite("Live reload: the inotify watcher", .serialized)
struct DirectoryWatcherTests {
    @Test("creating, modifying, deleting and renaming files are reported with their paths")
    func files() async throws {
        let w = try Watched { try "old".write(toFile: $0 + "/existing.html", atomically: false, encoding: .utf8) }
        try w.write("new.css")
        #expect(try await w.waitFor("/new.css"))
        try w.write("existing.html", "changed")
        #expect(try await w.waitFor("/existing.html"))
        try FileManager.default.moveItem(atPath: w.root + "/new.css", toPath: w.root + "/renamed.css")
        #expect(try await w.waitFor("/renamed.css"))
        try FileManager.default.removeItem(atPath: w.root + "/existing.html")
        try await w.settle()
        w.reset()
        try FileManager.default.removeItem(atPath: w.root + "/renamed.css")
        #expect(try await w.waitFor("/renamed.css"), "a deletion is reported")
    }

    @Test("a burst of events (an editor's save) is one batch naming the file once")
    func coalesces() async throws {
        let w = try Watched(quiet: .milliseconds(150))
        for i in 0..<20 { try w.write("page.html", "version \(i)") }
        try FileManager.default.moveItem(atPath: w.root + "/page.html", toPath: w.root + "/page.tmp")
        try FileManager.default.moveItem(atPath: w.root + "/page.tmp", toPath: w.root + "/page.html")
        #expect(try await w.waitFor("/page.html"))
        try await w.settle()
        #expect(w.all.count == 1, "one batch wanted: \(w.all)")
        #expect(w.all.first?.filter { $0 == "/page.html" }.count == 1, "\(w.all)")
    }

    @Test("new subfolders are watched, with the files already in them; deleted and moved-out folders are let go")
    func folders() async throws {
        let w = try Watched { try FileManager.default.createDirectory(atPath: $0 + "/old/deep", withIntermediateDirectories: true) }
        try w.mkdir("sub")
        #expect(try await w.waitFor("/sub"))
        try w.write("sub/in-new.html")
        #expect(try await w.waitFor("/sub/in-new.html"))
        // A tree made at once (its files may come before its watches): still every file is seen.
        try w.mkdir("a/b/c")
        try w.write("a/b/c/deep.css")
        #expect(try await w.waitFor("/a/b/c/deep.css"))
        try w.write("a/b/c/later.js")
        #expect(try await w.waitFor("/a/b/c/later.js"))
        try w.write("old/deep/x.txt")
        #expect(try await w.waitFor("/old/deep/x.txt"))
        // Deleted, then made again: watched anew.
        try FileManager.default.removeItem(atPath: w.root + "/sub")
        #expect(try await w.waitFor("/sub"))
        try w.mkdir("sub")
        try await w.settle()
        try w.write("sub/again.html")
        #expect(try await w.waitFor("/sub/again.html"))
        // Moved out of the root: its later changes are not reported (under a path that no longer exists).
        let outside = w.root + "-outside"
        defer { try? FileManager.default.removeItem(atPath: outside) }
        try FileManager.default.moveItem(atPath: w.root + "/old", toPath: outside)
        #expect(try await w.waitFor("/old"))
        try await w.settle()
        w.reset()
        try "y".write(toFile: outside + "/deep/x.txt", atomically: false, encoding: .utf8)
        try w.write("marker")
        #expect(try await w.waitFor("/marker"))
        try await w.settle()
        #expect(w.paths == ["/marker"], "a folder moved out is still reported: \(w.all)")
        // Moved within the root: watched under its new name.
        try w.mkdir("from")
        try await w.settle()
        try FileManager.default.moveItem(atPath: w.root + "/from", toPath: w.root + "/to")
        try await w.settle()
        w.reset()
        try w.write("to/file.html")
        #expect(try await w.waitFor("/to/file.html"), "\(w.all)")
        #expect(!w.paths.contains("/from/file.html"))
    }

    @Test("hidden names (decided on bytes), upload temporaries and excluded folders are not reported")
    func skipped() async throws {
        let w = try Watched(prepare: { try FileManager.default.createDirectory(atPath: $0 + "/cgi-bin", withIntermediateDirectories: true) }, excluded: ["cgi-bin"])
        try w.write(".page.html.swp")
        try w.mkdir(".git")
        try w.write(".git/index")
        try w.write("cgi-bin/script.sh")
        try w.write(".upload-123abc")
        // A dot and a combining mark are one Character that is not "."; the name is still a dotfile.
        try w.write(".\u{301}env")
        try w.write("visible.txt")
        #expect(try await w.waitFor("/visible.txt"))
        try await w.settle()
        #expect(w.paths == ["/visible.txt"], "\(w.all)")
    }

    @Test("reaching the watch limit is reported once; the folders watched keep working")
    func watchLimit() async throws {
        let w = try Watched(prepare: { root in
            for name in ["a", "b", "c", "d"] { try FileManager.default.createDirectory(atPath: root + "/" + name, withIntermediateDirectories: true) }
        }, maxWatches: 2)
        #expect(w.reportedProblems.count == 1, "\(w.reportedProblems)")
        #expect(w.reportedProblems.first?.contains("2 folders") == true, "\(w.reportedProblems)")
        try w.mkdir("e")
        try w.mkdir("f")
        try w.write("root.html")
        #expect(try await w.waitFor("/root.html"))
        try await w.settle()
        #expect(w.reportedProblems.count == 1, "reported once: \(w.reportedProblems)")
    }

    @Test("inotify events are parsed from what read returns: header, padded name, several per read, a cut tail ignored")
    func parsing() {
        func event(_ wd: Int32, _ mask: UInt32, _ name: String, pad: Int) -> [UInt8] {
            var bytes: [UInt8] = []
            withUnsafeBytes(of: wd.littleEndian) { bytes += $0 }
            withUnsafeBytes(of: mask.littleEndian) { bytes += $0 }
            withUnsafeBytes(of: UInt32(0)) { bytes += $0 }
            let name = Array(name.utf8) + [UInt8](repeating: 0, count: pad)
            withUnsafeBytes(of: UInt32(name.count).littleEndian) { bytes += $0 }
            return bytes + name
        }
        let bytes = event(1, 0x100, "a.html", pad: 10) + event(2, 0x8000, "", pad: 0) + event(3, 2, "é.css", pad: 2)
        let parsed = (bytes + event(4, 2, "cut", pad: 5).dropLast(3)).withUnsafeBytes { InotifyEvent.parse($0) }
        #expect(parsed == [
            InotifyEvent(watch: 1, mask: 0x100, name: "a.html"), InotifyEvent(watch: 2, mask: 0x8000, name: ""),
            InotifyEvent(watch: 3, mask: 2, name: "é.css"),
        ])
    }

    @Test("a root that cannot be watched is an error at start")
    func missingRoot() {
        #expect(throws: DirectoryWatcher.StartError.self) {
            _ = try DirectoryWatcher(root: "/nonexistent-\(UUID().uuidString)", onChange: { _ in }, onProblem: { _ in })
        }
    }
}

@Suite("Live reload: coalescing")
struct ChangeCoalescerTests {
    @Test("a batch is due after the quiet period, holds each path once in first-seen order, and starts anew")
    func quietPeriod() {
        var c = ChangeCoalescer(quiet: .milliseconds(100), longest: .seconds(1))
        let t = ContinuousClock.now
        #expect(c.deadline == nil && !c.isPending)
        c.add("/a", now: t)
        c.add("/b", now: t + .milliseconds(50))
        c.add("/a", now: t + .milliseconds(90))
        #expect(c.deadline == t + .milliseconds(190))
        #expect(c.flush(now: t + .milliseconds(189)) == nil)
        #expect(c.flush(now: t + .milliseconds(190)) == ["/a", "/b"])
        #expect(!c.isPending && c.flush(now: t + .seconds(5)) == nil)
        c.add("/c", now: t + .seconds(6))
        #expect(c.flush(now: t + .seconds(7)) == ["/c"])
    }

    @Test("events that keep coming still give a batch after the longest wait")
    func longest() {
        var c = ChangeCoalescer(quiet: .milliseconds(100), longest: .milliseconds(500))
        let t = ContinuousClock.now
        var batches: [[String]] = []
        for step in 0..<20 {  // an event every 50 ms for a second
            let now = t + .milliseconds(50 * step)
            if let batch = c.flush(now: now) { batches.append(batch) }
            c.add("/f\(step % 3)", now: now)
        }
        #expect(batches.count == 1, "\(batches)")
        #expect(batches.first == ["/f0", "/f1", "/f2"])
    }
}
#endif
