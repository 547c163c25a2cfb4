import Foundation
import HTTPChat
import HTTPChatTesting
import HTTPTypes
@testable import ReadmeSnippets
import TestSupport
import Testing

/// The repository's root, from this file's place in it.
private let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent().path

/// The ```swift blocks of a Markdown text, each without the fence's indentation (blocks inside list items).
func swiftBlocks(_ markdown: String) -> [String] {
    var blocks: [String] = []
    var current: [String]?
    var indent = 0
    for line in markdown.split(separator: "\n", omittingEmptySubsequences: false).map(String.init) {
        let trimmed = line.drop { $0 == " " }
        if current == nil {
            if trimmed == "```swift" {
                indent = line.count - trimmed.count
                current = []
            }
        } else if trimmed == "```" {
            blocks.append(current!.joined(separator: "\n") + "\n")
            current = nil
        } else {
            current!.append(String(line.dropFirst(min(indent, line.prefix { $0 == " " }.count))))
        }
    }
    return blocks
}

/// The snippets of the files in `folder`: for each name, its `// snippet: NAME` ... `// end snippet` regions,
/// each dedented, joined in order.
func snippets(in folder: String) throws -> [String: String] {
    var found: [String: String] = [:]
    for file in try FileManager.default.contentsOfDirectory(atPath: folder).sorted() where file.hasSuffix(".swift") {
        let text = try String(contentsOfFile: folder + "/" + file, encoding: .utf8)
        var name: String?
        var region: [String] = []
        for line in text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init) {
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            if let open = trimmed.firstMatch(of: /^\/\/ snippet: (\S+)$/) {
                name = String(open.1)
                region = []
            } else if trimmed == "// end snippet", let current = name {
                let margin = region.filter { !$0.trimmingCharacters(in: .whitespaces).isEmpty }
                    .map { $0.prefix { $0 == " " }.count }.min() ?? 0
                found[current, default: ""] += region.map { String($0.dropFirst(min(margin, $0.count))) }.map { $0 + "\n" }.joined()
                name = nil
            } else if name != nil {
                region.append(line)
            }
        }
    }
    return found
}

@Suite("README code")
struct ReadmeTests {
    @Test("every Swift block of README.md is compiled code: the getting-started program, a compiled snippet, or the Package.swift that dump-package accepts")
    func blocksCompile() async throws {
        let readme = try String(contentsOfFile: repository + "/README.md", encoding: .utf8)
        let blocks = swiftBlocks(readme)
        #expect(blocks.count >= 6, "found \(blocks.count) swift blocks")
        var compiled = try snippets(in: repository + "/Examples/ReadmeSnippets").filter { !$0.key.hasPrefix("docc-") }
        #expect(compiled.count >= 4, "\(compiled.keys.sorted())")
        // The new package's test is a test here too (ReadmePackageTests.swift).
        let packageTest = try snippets(in: repository + "/Tests/HTTPServeTests")
        #expect(packageTest.keys.sorted() == ["package-test"])
        compiled.merge(packageTest) { $1 }
        try await check(blocks, of: "README.md", against: compiled)
    }

    @Test("every Swift block of the DocC articles is compiled code, and every docc- snippet is in an article")
    func articleBlocksCompile() async throws {
        let catalog = repository + "/Sources/HTTPChat/HTTPChat.docc"
        let articles = try FileManager.default.contentsOfDirectory(atPath: catalog).filter { $0.hasSuffix(".md") }.sorted()
        #expect(articles.count >= 10, "\(articles)")
        let compiled = try snippets(in: repository + "/Examples/ReadmeSnippets").filter { $0.key.hasPrefix("docc-") }
        #expect(compiled.count >= 10, "\(compiled.keys.sorted())")
        let allowed = compiled.merging(try snippets(in: repository + "/Tests/HTTPServeTests")) { $1 }
        var all: [String] = []
        for article in articles {
            let blocks = swiftBlocks(try String(contentsOfFile: catalog + "/" + article, encoding: .utf8))
            try await check(blocks, of: article, against: allowed, programAndManifestRequired: article == "GettingStarted.md")
            all += blocks
        }
        for (name, text) in compiled { #expect(all.contains(text), "snippet \(name) is in no article as compiled:\n\(text)") }
    }

    /// Each block must be the getting-started program, one of `compiled`, or a manifest SwiftPM accepts; and
    /// each of `compiled` must be among the blocks.
    private func check(
        _ blocks: [String], of document: String, against compiled: [String: String], programAndManifestRequired: Bool = true
    ) async throws {
        let program = try String(contentsOfFile: repository + "/Examples/GettingStarted/main.swift", encoding: .utf8)
        var manifests = 0
        for block in blocks {
            if block == program || compiled.values.contains(block) { continue }
            if block.hasPrefix("// swift-tools-version") {
                manifests += 1
                try await checkManifest(block, program: program)
                continue
            }
            Issue.record("a block of \(document) is not compiled anywhere (Examples/GettingStarted, Examples/ReadmeSnippets):\n\(block)")
        }
        if programAndManifestRequired {
            #expect(manifests == 1, "\(document)")
            #expect(blocks.contains(program), "\(document) does not show Examples/GettingStarted/main.swift as it is")
        }
        if document == "README.md" {
            for (name, text) in compiled { #expect(blocks.contains(text), "snippet \(name) is not in the README as compiled:\n\(text)") }
        }
    }

    @Test("the articles' examples do what their text says: the testing one sees 200 then the 408, the routes answer with Server-Timing")
    func articleExamplesWork() async throws {
        #expect(try await testingArticleSnippet())
        let table = try routingSnippet()
        let user = try await table.respond(to: Request(method: .get, target: "/api/v1/users/7"))
        #expect(user.status == .ok)
        #expect(user.headerFields[HTTPField.Name("Server-Timing")!]?.hasPrefix("app;dur=") == true)
        let file = try await table.respond(to: Request(method: .get, target: "/files/a/b.txt"))
        #expect(String(buffer: try await file.body.collect()) == "file a/b.txt")
        let missing = try await table.respond(to: Request(method: .get, target: "/nowhere"))
        #expect(missing.status == .notFound)
        #expect(missing.headerFields[HTTPField.Name("Server-Timing")!] != nil)
    }

    /// The README's manifest, with the getting-started program as its target, evaluated by SwiftPM.
    private func checkManifest(_ manifest: String, program: String) async throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("readme-pkg-\(UUID().uuidString)/hello-service").path
        defer { try? FileManager.default.removeItem(atPath: URL(fileURLWithPath: folder).deletingLastPathComponent().path) }
        try FileManager.default.createDirectory(atPath: folder + "/Sources/hello-service", withIntermediateDirectories: true)
        try manifest.write(toFile: folder + "/Package.swift", atomically: true, encoding: .utf8)
        try program.write(toFile: folder + "/Sources/hello-service/main.swift", atomically: true, encoding: .utf8)
        let dump = try await sh("cd \(folder) && swift package dump-package")
        #expect(dump.contains("\"name\" : \"hello-service\""), "\(dump)")
        #expect(dump.contains("\"HTTPChat\""), "\(dump)")
    }

    @Test("the getting-started program runs: it prints its URL, answers /health and /api/notes/1, and a browser's preflight")
    func gettingStartedRuns() async throws {
        // stdbuf: the program prints with Swift's print, which a pipe buffers until exit (a terminal does not).
        let serve = try Serve(["-oL", builtBinary("getting-started"), "0"], binary: "/usr/bin/stdbuf")
        #expect(serve.firstLine == "Listening on http://127.0.0.1:\(serve.port)/", "\(serve.firstLine)")
        #expect(try await sh("curl -s \(serve.base)/health") == "ok")
        let note = try await sh("curl -s \(serve.base)/api/notes/1")  // JSON keys come in any order
        #expect(note.hasPrefix("{") && note.contains(#""id":1"#) && note.contains(#""text":"hello""#), "\(note)")
        #expect(try await sh("curl -s -o /dev/null -w '%{http_code}' \(serve.base)/api/notes/x") == "400")
        let preflight = try await sh("curl -s -i -X OPTIONS -H 'Origin: https://a.example' -H 'Access-Control-Request-Method: GET' \(serve.base)/api/notes/1")
        #expect(preflight.hasPrefix("HTTP/1.1 204"), "\(preflight)")
        #expect(preflight.contains("Access-Control-Allow-Methods: GET, HEAD\r\n"), "\(preflight)")
        #expect(try await sh("curl -s --data-binary 'hello' \(serve.base)/api/upload") == "5 bytes")
        _ = await serve.stop()  // the program has no signal handling: SIGTERM ends it
    }
}
