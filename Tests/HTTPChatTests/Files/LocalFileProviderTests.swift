import NIOCore
import Testing

#if canImport(Foundation)
import Foundation
#endif

@testable import HTTPChatCore
@testable import HTTPChatServer

/// A root with a small and a large file, links in and out, a hidden name and a folder to exclude.
private final class ProviderFixture {
    let base: String
    let root: String

    init() throws {
        let fm = FileManager.default
        let made = fm.temporaryDirectory.appendingPathComponent("httpchat-provider-\(UUID().uuidString)").path
        try fm.createDirectory(atPath: made + "/root/sub", withIntermediateDirectories: true)
        base = URL(fileURLWithPath: made).resolvingSymlinksInPath().path
        root = base + "/root"
        try fm.createDirectory(atPath: root + "/private", withIntermediateDirectories: true)
        try fm.createDirectory(atPath: base + "/outside", withIntermediateDirectories: true)
        _ = fm.createFile(atPath: root + "/small.txt", contents: Data("small".utf8))
        _ = fm.createFile(atPath: root + "/sub/large.bin", contents: Data(count: 100_000))
        _ = fm.createFile(atPath: root + "/.hidden", contents: Data("h".utf8))
        _ = fm.createFile(atPath: root + "/run.sh", contents: Data("#!/bin/sh\n".utf8), attributes: [.posixPermissions: 0o755])
        _ = fm.createFile(atPath: base + "/outside/secret.txt", contents: Data("secret".utf8))
        try fm.createSymbolicLink(atPath: root + "/sub/alias.sh", withDestinationPath: "../run.sh")
        try fm.createSymbolicLink(atPath: root + "/out.txt", withDestinationPath: base + "/outside/secret.txt")
    }

    deinit { try? FileManager.default.removeItem(atPath: base) }
}

@Suite("Local file provider")
struct LocalFileProviderTests {
    @Test("files up to the memory limit come as bytes, larger ones as a descriptor; folders and absences are told apart")
    func open() async throws {
        let site = try ProviderFixture()
        let provider = try LocalFileProvider(root: site.root)
        guard case .file(let small) = try await provider.open(["small.txt"], memoryLimit: 1024), case .bytes(let bytes) = small.contents else {
            Issue.record("small.txt was not read into memory")
            return
        }
        #expect(String(buffer: bytes) == "small" && small.info.size == 5)
        guard case .file(let large) = try await provider.open(["sub", "large.bin"], memoryLimit: 1024), case .descriptor = large.contents else {
            Issue.record("large.bin was not opened as a descriptor")
            return
        }
        #expect(large.info.size == 100_000 && large.info.isRegularFile)
        guard case .folder(let folder) = try await provider.open(["sub"], memoryLimit: 1024) else {
            Issue.record("sub is not a folder")
            return
        }
        #expect(folder.isDirectory)
        guard case .missing = try await provider.open(["out.txt"], memoryLimit: 1024) else {
            Issue.record("a link leaving the root was followed")
            return
        }
    }

    @Test("status gives the real path the walk reached, through links that stay inside; none for links leaving the root")
    func status() async throws {
        let site = try ProviderFixture()
        let provider = try LocalFileProvider(root: site.root)
        let alias = try #require(try await provider.status(["sub", "alias.sh"]))
        #expect(alias.localPath == site.root + "/run.sh", "got \(String(describing: alias.localPath))")
        #expect(alias.isExecutable && alias.info.isRegularFile)
        #expect(try await provider.status(["small.txt"])?.isExecutable == false)
        #expect(try await provider.status([])?.localPath == site.root)
        #expect(try await provider.status(["out.txt"]) == nil)
        let following = try LocalFileProvider(root: site.root, followSymlinks: true)
        #expect(try await following.status(["out.txt"])?.localPath == site.base + "/outside/secret.txt")
    }

    @Test("a listing includes hidden names and leaves out excluded folders and links that leave the root")
    func list() async throws {
        let site = try ProviderFixture()
        let provider = try LocalFileProvider(root: site.root, excludedFolders: ["private"])
        let names = try #require(try await provider.list([])).map(\.name).sorted()
        #expect(names == [".hidden", "run.sh", "small.txt", "sub"], "got \(names)")
        #expect(try await provider.list(["small.txt"]) == nil)
        #expect(try await provider.list(["private"]) == nil)
        guard case .missing = try await provider.open(["private"], memoryLimit: 0) else {
            Issue.record("an excluded folder was found")
            return
        }
    }

    @Test("a root that is not a folder is refused")
    func badRoot() throws {
        let site = try ProviderFixture()
        #expect(throws: FileServerError.rootNotADirectory(site.root + "/small.txt")) { try LocalFileProvider(root: site.root + "/small.txt") }
        #expect(throws: FileServerError.rootNotADirectory(site.root + "/none")) { try LocalFileProvider(root: site.root + "/none") }
    }
}
