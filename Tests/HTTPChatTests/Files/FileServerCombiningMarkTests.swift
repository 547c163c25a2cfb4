import HTTPTypes
import NIOCore
import Testing

#if canImport(Foundation)
import Foundation
#endif

@testable import HTTPChatCore
@testable import HTTPChatServer

/// A segment that starts with a combining mark joins the `/` before it into one `Character`: paths decided on
/// Characters would keep `a/\u{301}x` as one name, and `openat` would walk the `/` inside it itself, following
/// a link or entering an excluded folder that the walk, name by name, refuses.
@Suite("FileServer: a combining mark after a slash does not make two names one", .serialized)
struct FileServerCombiningMarkTests {
    @Test("a link out of the root, or an excluded folder, cannot be entered by a segment that starts with a combining mark")
    func combiningMarkAfterSlash() async throws {
        let tree = try TempTree()
        let outside = try TempTree()
        try outside.write("\u{301}secret.txt", "outside the root")
        try tree.write("private/\u{301}key.txt", "excluded")
        try tree.write("plain/\u{301}ok.txt", "inside")
        try FileManager.default.createSymbolicLink(atPath: tree.dir + "/out", withDestinationPath: outside.dir)
        var options = FileServerOptions()
        options.excludedFolders = ["private"]
        let files = try FileServer(root: tree.dir, options: options)
        for target in ["/out/%CC%81secret.txt", "/private/%CC%81key.txt"] {
            let (r, body) = try await get(files, target)
            #expect(r.status == .notFound, "\(target): \(r.status)")
            #expect(!String(buffer: body).contains("outside the root") && !String(buffer: body).contains("excluded"), "\(target)")
        }
        let (inside, body) = try await get(files, "/plain/%CC%81ok.txt")
        #expect(inside.status == .ok && String(buffer: body) == "inside", "a name that starts with a combining mark is still served")
        #expect(OpenFileCache.components("a/\u{301}x") == ["a", "\u{301}x"])
        let provider = try LocalFileProvider(root: tree.dir)
        guard case .missing = try await provider.open(["out/\u{301}secret.txt"], memoryLimit: 1 << 20) else {
            Issue.record("a provider walked a name holding a slash")
            return
        }
    }

    @Test("the in-memory provider splits its paths on bytes too")
    func inMemory() async throws {
        let provider = InMemoryFileProvider(files: ["a/\u{301}b.txt": ByteBuffer(string: "x")])
        #expect(try await provider.list([])?.map(\.name) == ["a"])
        #expect(try await provider.list(["a"])?.map(\.name) == ["\u{301}b.txt"])
        guard case .missing = try await provider.open(["a/\u{301}b.txt"], memoryLimit: 100) else {
            Issue.record("a name holding a slash was found")
            return
        }
    }
}
