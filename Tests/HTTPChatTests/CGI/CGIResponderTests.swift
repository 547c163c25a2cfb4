import Foundation
import HTTPTypes
import Testing

@testable import HTTPChatCGI
@testable import HTTPChatCore
@testable import HTTPChatServer

/// A scripts folder with a non-executable file, an executable one, a hidden one and a subfolder, removed when
/// the value goes. No test here runs a script: every request is refused before one would start.
private final class Scripts {
    let path: String

    init() throws {
        path = FileManager.default.temporaryDirectory.appendingPathComponent("httpchat-cgi-\(UUID().uuidString)").path
        let fm = FileManager.default
        try fm.createDirectory(atPath: path + "/sub", withIntermediateDirectories: true)
        _ = fm.createFile(atPath: path + "/plain.txt", contents: Data("not a script".utf8), attributes: [.posixPermissions: 0o644])
        _ = fm.createFile(atPath: path + "/run.sh", contents: Data("#!/bin/sh\nexit 0\n".utf8), attributes: [.posixPermissions: 0o755])
        _ = fm.createFile(atPath: path + "/.hidden.sh", contents: Data("#!/bin/sh\nexit 0\n".utf8), attributes: [.posixPermissions: 0o755])
    }

    deinit { try? FileManager.default.removeItem(atPath: path) }
}

@Suite("CGI responder")
struct CGIResponderTests {
    @Test("a URL prefix is read as the canonical path: segments below /", arguments: [
        ("/cgi-bin", ["cgi-bin"]),
        ("/cgi-bin/", ["cgi-bin"]),
        ("cgi-bin", ["cgi-bin"]),
        ("//cgi-bin", ["cgi-bin"]),
        ("/./cgi-bin", ["cgi-bin"]),
        ("/%63gi-bin", ["cgi-bin"]),
        ("/a/b/", ["a", "b"]),
        ("/scripts%20here", ["scripts here"]),
    ])
    func validPrefixes(_ prefix: String, _ want: [String]) throws {
        let got = try CGIResponder.prefixSegments(prefix)
        #expect(got == want, "\(prefix.debugDescription): got \(got), want \(want)")
    }

    @Test("a prefix that names / itself, climbs, or hides a separator is refused", arguments: [
        "/", "", "//", "/.", "..", "/..", "/a/../b", "/a/%2e%2e/b", "/a%2Fb", "/a%5Cb", "/%zz", "/a%00b", "/%C0%AF",
    ])
    func invalidPrefixes(_ prefix: String) {
        #expect(throws: CGIConfigurationError.self, "\(prefix.debugDescription)") { try CGIResponder.prefixSegments(prefix) }
    }

    @Test("the responder refuses a bad prefix, no concurrency, and a folder that is not one")
    func configurationErrors() throws {
        let scripts = try Scripts()
        var badPrefix = CGIOptions()
        badPrefix.urlPrefix = "/"
        #expect(throws: CGIConfigurationError.self) { try CGIResponder(directory: scripts.path, options: badPrefix) }
        var none = CGIOptions()
        none.maxConcurrent = 0
        #expect(throws: CGIConfigurationError.self) { try CGIResponder(directory: scripts.path, options: none) }
        #expect(throws: FileServerError.self) { try CGIResponder(directory: scripts.path + "/plain.txt") }
        #expect(throws: FileServerError.self) { try CGIResponder(directory: scripts.path + "/missing") }
        let cgi = try CGIResponder(directory: scripts.path)
        #expect(cgi.prefixSegments == ["cgi-bin"])
    }

    /// Requests answered before any script could start: (target, status).
    static let refusals: [(String, Int)] = [
        ("/other/run.sh", 404),  // not under the prefix
        ("/cgi-bin", 404),  // the prefix alone
        ("/cgi-bin/", 404),
        ("/cgi-binx/run.sh", 404),  // a prefix of the segment is not the prefix
        ("/cgi-bin/missing.sh", 404),
        ("/cgi-bin/sub", 404),  // a folder is no script
        ("/cgi-bin/.hidden.sh", 404),
        ("/cgi-bin/%2Ehidden.sh", 404),
        ("/cgi-bin/plain.txt", 403),  // not executable
        ("/cgi-bin/run.sh%2F..%2Fplain.txt", 400),  // a decoded separator
        ("/cgi-bin/sub%2Frun.sh", 400),
        ("/cgi-bin/run.sh/a%5Cb", 400),  // in PATH_INFO too
        ("/cgi-bin/../run.sh", 400),
        ("/cgi-bin/%zz", 400),
    ]

    @Test("requests that name no runnable script are refused before anything starts", arguments: refusals)
    func refusedBeforeStart(_ target: String, _ status: Int) async throws {
        let scripts = try Scripts()
        let cgi = try CGIResponder(directory: scripts.path)
        do {
            let response = try await cgi.respond(to: Request(method: .get, target: target))
            Issue.record("\(target): answered \(response.status), want \(status)")
        } catch let error as HTTPError {
            #expect(error.status.code == status, "\(target): got \(error.status.code), want \(status)")
        }
    }

    @Test("the running count admits up to its limit, and one more after each leave")
    func runningScriptsLimit() {
        let running = RunningScripts()
        #expect(running.current == 0)
        #expect((0..<3).map { _ in running.enter(limit: 3) } == [true, true, true])
        #expect(!running.enter(limit: 3), "a fourth entered with a limit of 3")
        #expect(running.current == 3)
        running.leave()
        #expect(running.current == 2)
        #expect(running.enter(limit: 3))
        #expect(!running.enter(limit: 3))
        #expect(running.enter(limit: 4), "a higher limit admits one more")
        for _ in 0..<4 { running.leave() }
        #expect(running.current == 0)
        #expect(!running.enter(limit: 0), "a limit of 0 admits none")
    }

    @Test("the running count holds under concurrent entries: never more than the limit admitted")
    func runningScriptsConcurrent() async {
        let running = RunningScripts()
        let admitted = await withTaskGroup(of: Bool.self) { group in
            for _ in 0..<200 { group.addTask { running.enter(limit: 17) } }
            var n = 0
            for await entered in group where entered { n += 1 }
            return n
        }
        #expect(admitted == 17, "admitted \(admitted), want 17")
        #expect(running.current == 17)
    }
}
