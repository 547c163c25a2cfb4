import HTTPTypes
import NIOCore
import Testing

#if canImport(Foundation)
import Foundation
#endif

@testable import HTTPChatCore
@testable import HTTPChatServer

/// 2026-12-01T13:05:00Z.
private let december = 1_796_130_300

/// A folder with names that sort differently by text and by number, nested folders, many sizes, and a
/// hostile folder name on the way to a nested one.
private let hostile = "a b#c?d%e\"f'<g>ü"

private func listingSite() -> InMemoryFileProvider {
    let provider = InMemoryFileProvider(
        files: [
            "docs/file-10.txt": ByteBuffer(string: String(repeating: "x", count: 10)),
            "docs/file-2.txt": ByteBuffer(string: "xx"),
            "docs/File-3.txt": ByteBuffer(string: "xxx"),
            "docs/photo.JPG": ByteBuffer(string: String(repeating: "p", count: 3000)),
            "docs/bundle.tar.gz": ByteBuffer(string: "gz"),
            "docs/blob": ByteBuffer(string: "b"),
            "docs/Zeta/inner.txt": ByteBuffer(string: "i"),
            "docs/alpha/readme.md": ByteBuffer(string: "r"),
            "docs/\(hostile)/sub/deep.txt": ByteBuffer(string: "d"),
        ],
        modified: december
    )
    provider.write("docs/file-2.txt", ByteBuffer(string: "xx"), modified: december - 86_400)
    return provider
}

private func files(_ mountPath: String = "/") -> FileServer {
    FileServer(provider: listingSite(), mountPath: mountPath)
}

private func page(_ target: String, on server: FileServer = files()) async throws -> String {
    let (r, body) = try await get(server, target)
    #expect(r.status == .ok, "\(target): got \(r.status)")
    return String(buffer: body)
}

private func jsonEntries(_ target: String, on server: FileServer = files()) async throws -> [[String: Any]] {
    let (r, body) = try await get(server, target, [.accept: "application/json"])
    #expect(r.headerFields[.contentType] == "application/json")
    let decoded = try JSONSerialization.jsonObject(with: Data(body.readableBytesView)) as? [String: Any]
    return try #require(decoded?["entries"] as? [[String: Any]])
}

/// The names in the page's rows, in order.
private func rowNames(_ html: String) -> [String] {
    html.matches(of: /<tr(?: class="dir")? data-name="[^"]*"><td class="name"><a href="[^"]*"><svg[^>]*><use[^>]*\/><\/svg><span>([^<]*)<\/span>/).map { String($0.1) }
}

@Suite("Directory listings")
struct DirectoryListingTests {
    @Test("natural order: numbers by value, case ignored, leading zeros and case only break ties", arguments: [
        ("file-2", "file-10"), ("File-2", "file-3"), ("a", "B"), ("x9", "x10"), ("img007", "img8"),
        ("file", "file-1"), ("2.txt", "a.txt"), ("v1.9", "v1.10"), ("file-2", "file-02"), ("A", "a"),
        ("report 99999999999999999999.txt", "report 100000000000000000000.txt"), ("é1", "é2"), ("a1b2", "a1b10"),
    ])
    func naturalOrder(_ pair: (String, String)) {
        let (first, second) = pair
        #expect(NaturalOrder(first) < NaturalOrder(second), "want \(first) before \(second)")
        #expect(!(NaturalOrder(second) < NaturalOrder(first)), "got \(second) before \(first)")
    }

    @Test("a listing sorts folders first, then names naturally; size, time and desc keep folders first")
    func sortOrders() async throws {
        let byName = try await jsonEntries("/docs/").compactMap { $0["name"] as? String }
        #expect(byName == ["a b#c?d%e\"f'<g>ü", "alpha", "Zeta", "blob", "bundle.tar.gz", "file-2.txt", "File-3.txt", "file-10.txt", "photo.JPG"], "got \(byName)")
        let html = try await page("/docs/")
        #expect(rowNames(html).suffix(6) == ["blob", "bundle.tar.gz", "file-2.txt", "File-3.txt", "file-10.txt", "photo.JPG"], "got \(rowNames(html))")

        let bySizeDesc = try await jsonEntries("/docs/?sort=size&order=desc").compactMap { $0["name"] as? String }
        #expect(bySizeDesc == ["Zeta", "alpha", "a b#c?d%e\"f'<g>ü", "photo.JPG", "file-10.txt", "File-3.txt", "file-2.txt", "bundle.tar.gz", "blob"], "got \(bySizeDesc)")
        let byTime = try await jsonEntries("/docs/?sort=time").compactMap { $0["name"] as? String }
        #expect(byTime.first == "a b#c?d%e\"f'<g>ü" && byTime[3] == "file-2.txt", "the oldest file first after the folders: \(byTime)")
        let sorted = try await page("/docs/?sort=size&order=desc")
        #expect(sorted.contains("<th class=\"size\" aria-sort=\"descending\"><a href=\"?sort=size\">Size ↓</a></th>"), "\(sorted)")
    }

    @Test("the breadcrumb links every ancestor, names escaped and hrefs percent-encoded; the current folder is not a link")
    func breadcrumb() async throws {
        let encoded = PercentEncoding.encodeSegment(hostile)
        #expect(encoded == "a%20b%23c%3Fd%25e%22f%27%3Cg%3E%C3%BC")
        let html = try await page("/docs/\(encoded)/sub/")
        let crumbs = try #require(html.firstMatch(of: /<h1 class="crumbs">(.*)<\/h1>/)).1
        #expect(crumbs.contains("<a href=\"/\" class=\"home\""), "\(crumbs)")
        #expect(crumbs.contains("<a href=\"/docs/\">docs</a>"), "\(crumbs)")
        #expect(crumbs.contains("<a href=\"/docs/\(encoded)/\">a b#c?d%e&quot;f&#39;&lt;g&gt;ü</a>"), "\(crumbs)")
        #expect(crumbs.contains("<span aria-current=\"page\">sub</span>"), "\(crumbs)")
        #expect(!html.contains("<g>") && !html.contains("'<") && !html.contains("\"f'"), "a raw hostile name in the page")
        #expect(html.contains("<title>Index of /docs/a b#c?d%e&quot;f&#39;&lt;g&gt;ü/sub/</title>"))
        #expect(html.contains("<a href=\"../\">"), "a parent row below the top")

        // The row for the hostile folder, one level up.
        let parent = try await page("/docs/")
        #expect(parent.contains("<a href=\"\(encoded)/\">"), "the row's href")
        #expect(parent.contains("<span>a b#c?d%e&quot;f&#39;&lt;g&gt;ü/</span>"))
    }

    @Test("under a mount path the breadcrumb starts at the mount; the top has no parent row")
    func breadcrumbUnderMount() async throws {
        let mounted = files("/assets")
        let top = try await page("/assets/", on: mounted)
        #expect(top.contains("<a href=\"/assets/\" class=\"home\" title=\"Top folder\" aria-label=\"Top folder\" aria-current=\"page\">"), "\(top)")
        #expect(!top.contains("href=\"../\""), "no parent row at the mount's top")
        let docs = try await page("/assets/docs/", on: mounted)
        #expect(docs.contains("<a href=\"/assets/\" class=\"home\""))
        #expect(docs.contains("<span aria-current=\"page\">docs</span>"))
        #expect(!docs.contains(">assets<"), "the mount path is the top, not a crumb")
    }

    @Test("?q= keeps names containing the text, ignoring case, with the sort; the box is pre-filled and escaped")
    func filter() async throws {
        let html = try await page("/docs/?q=FILE&sort=size&order=desc")
        #expect(rowNames(html) == ["file-10.txt", "File-3.txt", "file-2.txt"], "got \(rowNames(html))")
        #expect(html.contains("<input type=\"search\" name=\"q\" value=\"FILE\""))
        #expect(html.contains("<input type=\"hidden\" name=\"sort\" value=\"size\"><input type=\"hidden\" name=\"order\" value=\"desc\">"))
        #expect(html.contains("<form class=\"filter\" method=\"get\" role=\"search\">"), "a GET form: works without script")
        #expect(html.contains("<a href=\"?q=FILE\">Name</a>"), "sort links keep the filter: \(html)")
        #expect(html.contains("3 of 9 entries match “FILE”"))
        #expect(html.contains("<a href=\"?sort=size&amp;order=desc\">show all</a>"))

        let json = try await jsonEntries("/docs/?q=ALPHA").compactMap { $0["name"] as? String }
        #expect(json == ["alpha"])

        let hostileQuery = try await page("/docs/?q=%22%3E%3Cscript%3Ealert(1)%3C%2Fscript%3E")
        #expect(!hostileQuery.contains("\"><script>") && !hostileQuery.contains("<script>alert"))
        #expect(hostileQuery.contains("value=\"&quot;&gt;&lt;script&gt;alert(1)&lt;/script&gt;\""))
        #expect(hostileQuery.contains("No name contains “&quot;&gt;&lt;script&gt;alert(1)&lt;/script&gt;”."))
        #expect(rowNames(hostileQuery).isEmpty)
        let space = try await page("/docs/?q=b%23c")
        #expect(rowNames(space) == ["a b#c?d%e&quot;f&#39;&lt;g&gt;ü/"], "got \(rowNames(space))")
    }

    @Test("JSON: ISO 8601 UTC times; files have a size, folders none")
    func json() async throws {
        let entries = try await jsonEntries("/docs/")
        let alpha = try #require(entries.first { $0["name"] as? String == "alpha" })
        #expect(alpha["type"] as? String == "directory")
        #expect(alpha["size"] == nil, "a folder has no size key: \(alpha)")
        #expect(alpha["modified"] as? String == "2026-12-01T13:05:00Z")
        let photo = try #require(entries.first { $0["name"] as? String == "photo.JPG" })
        #expect(photo["size"] as? Int == 3000)
        #expect(photo["type"] as? String == "file")
        let two = try #require(entries.first { $0["name"] as? String == "file-2.txt" })
        #expect(two["modified"] as? String == "2026-11-30T13:05:00Z")
        #expect(HTTPDate.iso8601(0) == "1970-01-01T00:00:00Z")
        let short = HTTPDate.short(december)
        #expect(short.date == "2026-12-01" && short.time == "13:05")
    }

    @Test("dates: a short UTC date, the ISO form in datetime and the full date on hover; sizes in bytes on hover")
    func dates() async throws {
        let html = try await page("/docs/")
        #expect(html.contains("<time datetime=\"2026-12-01T13:05:00Z\" title=\"Tue, 01 Dec 2026 13:05:00 GMT\">2026-12-01<span class=\"hm\"> 13:05</span></time>"), "\(html)")
        #expect(html.contains("<span title=\"3000 bytes\">2.9 KiB</span>"))
        #expect(html.contains("Modified <span class=\"utc\">(UTC)</span>"))
    }

    @Test("icons by kind", arguments: [
        ("alpha/", "dir"), ("photo.JPG", "image"), ("file-2.txt", "text"), ("bundle.tar.gz", "archive"), ("blob", "file"),
    ])
    func icons(_ pair: (String, String)) async throws {
        let (name, kind) = pair
        let html = try await page("/docs/")
        let href = name.hasSuffix("/") ? name : PercentEncoding.encodeSegment(name)
        #expect(html.contains("<a href=\"\(href)\"><svg class=\"i i-\(kind)\" aria-hidden=\"true\"><use href=\"#i-\(kind)\"/></svg>"), "\(name) wants i-\(kind)")
        #expect(html.contains("<symbol id=\"i-\(kind)\""), "the symbol is in the page")
        let media = DirectoryListing.Kind(DirectoryListing.Entry(name: "clip.WebM", isDirectory: false, size: 1, modified: 0))
        #expect(media == .media)
        #expect(DirectoryListing.Kind(DirectoryListing.Entry(name: ".profile", isDirectory: false, size: 1, modified: 0)) == .file)
    }

    @Test("the page fetches nothing: every href and src stays in the listing, every icon is a symbol in the page")
    func selfContained() async throws {
        for target in ["/", "/docs/", "/docs/alpha/", "/docs/?q=x&sort=time&order=desc"] {
            let html = try await page(target)
            let refs = html.matches(of: /(?:href|src|action|srcset|xlink:href)\s*=\s*"([^"]*)"/).map { String($0.1) }
            #expect(!refs.isEmpty)
            for ref in refs {
                #expect(!ref.contains(":") && !ref.hasPrefix("//"), "\(target): \(ref) leaves the listing")
            }
            #expect(!html.contains("src="), "\(target): nothing is embedded from elsewhere")
            #expect(!html.contains("url(") && !html.contains("@import") && !html.contains("<link"), "\(target): the style sheet fetches nothing")
            #expect(!html.contains("http:") && !html.contains("https:"), "\(target): no absolute URL at all")
            for use in html.matches(of: /<use href="#([^"]+)"/) {
                #expect(html.contains("<symbol id=\"\(use.1)\""), "\(target): #\(use.1) is not in the page")
            }
        }
    }

    @Test("the style sheet: dark mode, sizes and dates that never wrap, names that wrap in their column")
    func style() async throws {
        let html = try await page("/docs/")
        #expect(html.contains("<meta name=\"color-scheme\" content=\"light dark\">"))
        #expect(html.contains("@media (prefers-color-scheme:dark){:root{"))
        #expect(html.contains(".size,.time{white-space:nowrap;width:1%}"))
        #expect(html.contains("td.name{overflow-wrap:anywhere}"))
        #expect(html.contains("<td class=\"size\"><span title=\"10 bytes\">10 B</span></td><td class=\"time\"><time"), "the cells the no-wrap rule names")
        // The inline script is small and optional: the rows are all in the HTML.
        let script = try #require(html.firstMatch(of: /<script>(.*)<\/script>/)).1
        #expect(script.utf8.count < 400, "\(script.utf8.count) bytes of script")
    }

    @Test("an empty folder says so; a HEAD of a listing has the page's headers")
    func emptyAndHead() async throws {
        let provider = InMemoryFileProvider(folders: ["empty"])
        let server = FileServer(provider: provider)
        let html = try await page("/empty/", on: server)
        #expect(html.contains("This folder is empty."))
        #expect(html.contains("0 folders · 0 files"))
        let (head, _) = try await get(server, "/empty/", method: .head)
        #expect(head.status == .ok && head.headerFields[.contentType] == "text/html; charset=utf-8")
    }
}
