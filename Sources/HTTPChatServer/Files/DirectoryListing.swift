import HTTPChatCore
import HTTPTypes
import NIOCore

/// A folder's listing: read by the ``FileProvider``, answered as HTML or, when the client prefers
/// `application/json`, as JSON.
///
/// The query picks what is shown, in both forms:
/// - `sort=name|size|time` and `order=asc|desc` (default `name`, `asc`). Folders always come first. Names
///   sort in ``NaturalOrder`` (`file-2` before `file-10`, case-insensitive); folders sorted by size stay in
///   name order (they have none).
/// - `q=TEXT` keeps the entries whose name contains TEXT, ignoring case. The page's filter box is a GET form
///   that sends it, so filtering works without JavaScript; a few lines of inline script also filter as one
///   types.
///
/// The page is one self-contained document: styles inline, icons inline SVG symbols referenced by fragment
/// (`#i-dir`), no script, style sheet, font or image fetched, so opening it costs exactly one request. Dates
/// are UTC, shown as `2026-12-01 13:05` with the full date in the `<time>` element's `title` and its ISO 8601
/// form in `datetime`. Sizes and dates never wrap (`white-space: nowrap`); long names wrap anywhere inside
/// their column. Dark mode follows `prefers-color-scheme`.
///
/// JSON: `{"path": "/docs/", "entries": [{"name", "type": "directory"|"file", "size" (files only: a folder
/// has no `size` key), "modified": "2026-12-01T13:05:00Z"}]}`, sorted and filtered as the page.
enum DirectoryListing {
    struct Entry: Sendable {
        var name: String
        var isDirectory: Bool
        var size: Int
        var modified: Int
        /// Whether the server may read it: an unreadable entry is listed without a link (it would be 403).
        var isReadable: Bool

        init(_ entry: FolderEntry) {
            name = entry.name
            isReadable = entry.isReadable
            isDirectory = entry.info.isDirectory
            size = entry.info.size
            modified = entry.info.mtimeSeconds
        }

        init(name: String, isDirectory: Bool, size: Int, modified: Int, isReadable: Bool = true) {
            self.name = name
            self.isDirectory = isDirectory
            self.size = size
            self.modified = modified
            self.isReadable = isReadable
        }
    }

    /// What the query asks for.
    struct Query: Sendable, Equatable {
        enum Sort: String, Sendable {
            case name, size, time
        }
        var sort: Sort = .name
        var descending = false
        /// The filter text; empty for none.
        var filter = ""

        init(sort: Sort = .name, descending: Bool = false, filter: String = "") {
            self.sort = sort
            self.descending = descending
            self.filter = filter
        }

        init(_ items: [(name: String, value: String)]) {
            for item in items {
                switch item.name {
                case "sort": sort = Sort(rawValue: item.value) ?? .name
                case "order": descending = item.value == "desc"
                case "q": filter = item.value
                default: break
                }
            }
        }

        /// The query string (`?…`, for an `href`, not yet HTML-escaped) for `sort` and `descending`,
        /// keeping the filter; empty when everything is the default.
        func link(sort: Sort, descending: Bool, filter: String? = nil) -> String {
            var parts: [String] = []
            if sort != .name || descending { parts.append("sort=\(sort.rawValue)") }
            if descending { parts.append("order=desc") }
            let filter = filter ?? self.filter
            if !filter.isEmpty { parts.append("q=" + PercentEncoding.encodeSegment(filter)) }
            return parts.isEmpty ? "" : "?" + parts.joined(separator: "&")
        }
    }

    /// The listing for a folder.
    ///
    /// - Parameters:
    ///   - entries: the folder's entries (hidden names already removed when they are not served).
    ///   - segments: the request's canonical path segments (``Request/pathSegments``), mount path included.
    ///   - mountDepth: how many of them are the file server's mount path: the breadcrumb starts there.
    ///   - request: the request (its query and `Accept`).
    ///   - archive: whether the page links the folder's ZIP download (`?download=zip`).
    ///   - upload: whether the page has an upload form (``FileServerOptions/uploads``).
    /// - Returns: 200 with the HTML page or the JSON document, `Vary: Accept`.
    static func response(
        _ entries: [Entry], segments: [String], mountDepth: Int, request: Request, archive: Bool = false, upload: Bool = false
    ) -> Response {
        let query = Query(request.queryItems)
        let shown = arrange(entries, query)
        let path = segments.isEmpty ? "/" : "/" + segments.joined(separator: "/") + "/"
        if ContentNegotiation.prefersJSON(request.headerFields) {
            return Response(headerFields: [.contentType: "application/json", .vary: "Accept"], body: .init(string: json(shown, path: path)))
        }
        let page = html(shown, total: entries.count, segments: segments, mountDepth: mountDepth, query: query, archive: archive, upload: upload)
        return Response(headerFields: [.contentType: "text/html; charset=utf-8", .vary: "Accept"], body: .init(string: page))
    }

    /// The entries the query keeps, in its order: folders first, then by the sort key, ties in natural
    /// name order; `desc` reverses the order within folders and within files.
    static func arrange(_ entries: [Entry], _ query: Query) -> [Entry] {
        let needle = query.filter.lowercased()
        let kept = needle.isEmpty ? entries : entries.filter { $0.name.lowercased().contains(needle) }
        let keyed = kept.map { (entry: $0, key: NaturalOrder($0.name)) }
        return keyed.sorted { a, b in
            if a.entry.isDirectory != b.entry.isDirectory { return a.entry.isDirectory }
            let ordered: Bool
            switch query.sort {
            case .size where !a.entry.isDirectory && a.entry.size != b.entry.size:
                ordered = a.entry.size < b.entry.size
            case .time where a.entry.modified != b.entry.modified:
                ordered = a.entry.modified < b.entry.modified
            default:
                ordered = a.key < b.key
            }
            return query.descending ? !ordered : ordered
        }.map { $0.entry }
    }

    // MARK: - JSON

    static func json(_ entries: [Entry], path: String) -> String {
        var out = "{\"path\":\(jsonString(path)),\"entries\":["
        out += entries.map { e in
            let size = e.isDirectory ? "" : "\"size\":\(e.size),"
            return "{\"name\":\(jsonString(e.name)),\"type\":\"\(e.isDirectory ? "directory" : "file")\","
                + "\(size)\"modified\":\"\(HTTPDate.iso8601(e.modified))\"}"
        }.joined(separator: ",")
        return out + "]}\n"
    }

    static func jsonString(_ s: String) -> String {
        var out = "\""
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case "<": out += "\\u003c"
            default:
                if scalar.value < 0x20 {
                    let hex = String(scalar.value, radix: 16)
                    out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        return out + "\""
    }

    // MARK: - HTML

    /// The page. `entries` are already arranged; `total` counts the folder's entries before filtering.
    static func html(
        _ entries: [Entry], total: Int, segments: [String], mountDepth: Int, query: Query, archive: Bool = false, upload: Bool = false
    ) -> String {
        let escape = HTMLEscaping.escape
        let path = segments.isEmpty ? "/" : "/" + segments.joined(separator: "/") + "/"
        let title = escape("Index of " + path)
        let atTop = segments.count <= mountDepth

        // Header: the breadcrumb, then the actions area (one control per line; links about this folder go
        // beside the filter form).
        var actions = [
            filterForm(query),
        ]
        if archive { actions.append("<a class=\"zip\" href=\"?download=zip\" download>\(icon(.archive))<span>Download .zip</span></a>") }
        if upload { actions.append(uploadForm) }

        var rows = ""
        if !atTop {
            rows += "<tr class=\"up\"><td class=\"name\"><a href=\"../\">\(icon(.parent))<span>Parent folder</span></a></td>"
                + "<td class=\"size\"></td><td class=\"time\"></td></tr>\n"
        }
        for e in entries {
            let href = escape(PercentEncoding.encodeSegment(e.name)) + (e.isDirectory ? "/" : "")
            let name = escape(e.name) + (e.isDirectory ? "/" : "")
            let size = e.isDirectory ? "<span class=\"none\">—</span>" : "<span title=\"\(e.size) bytes\">\(formatSize(e.size))</span>"
            let short = HTTPDate.short(e.modified)
            let time = "<time datetime=\"\(HTTPDate.iso8601(e.modified))\" title=\"\(HTTPDate.format(e.modified))\">"
                + "\(short.date)<span class=\"hm\"> \(short.time)</span></time>"
            // An entry the server may not read is shown without a link: following it would be 403.
            let label = "\(icon(Kind(e)))<span>\(name)</span>"
            let link = e.isReadable ? "<a href=\"\(href)\">\(label)</a>" : "<span class=\"locked\" title=\"not readable\">\(label)</span>"
            rows += "<tr\(e.isDirectory ? " class=\"dir\"" : "") data-name=\"\(escape(e.name.lowercased()))\"><td class=\"name\">\(link)</td>"
                + "<td class=\"size\">\(size)</td><td class=\"time\">\(time)</td></tr>\n"
        }
        if entries.isEmpty {
            let why = query.filter.isEmpty ? "This folder is empty." : "No name contains “\(escape(query.filter))”."
            rows += "<tr class=\"empty\"><td colspan=\"3\">\(why)</td></tr>\n"
        }

        func header(_ key: Query.Sort, _ label: String) -> String {
            let current = key == query.sort
            let nextDescending = current && !query.descending
            let arrow = current ? (query.descending ? " ↓" : " ↑") : ""
            let sorted = current ? " aria-sort=\"\(query.descending ? "descending" : "ascending")\"" : ""
            let href = escape(query.link(sort: key, descending: nextDescending))
            return "<th class=\"\(key.rawValue)\"\(sorted)><a href=\"\(href.isEmpty ? "./" : href)\">\(label)\(arrow)</a></th>"
        }

        let folders = entries.filter(\.isDirectory).count
        var summary = "\(count(folders, "folder")) · \(count(entries.count - folders, "file"))"
        if !query.filter.isEmpty {
            let all = escape(query.link(sort: query.sort, descending: query.descending, filter: ""))
            summary = "\(entries.count) of \(count(total, "entry", "entries")) match “\(escape(query.filter))” · "
                + "<a href=\"\(all.isEmpty ? "./" : all)\">show all</a>"
        }

        return """
            <!doctype html>
            <html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
            <meta name="color-scheme" content="light dark">
            <title>\(title)</title>
            <style>
            \(style)</style></head><body>
            \(symbols)
            <header class="top">
            <h1 class="crumbs">\(breadcrumb(segments, mountDepth: mountDepth))</h1>
            <div class="actions">
            \(actions.joined(separator: "\n"))
            </div>
            </header>
            <main>
            <table><thead><tr>\(header(.name, "Name"))\(header(.size, "Size"))\(header(.time, "Modified <span class=\"utc\">(UTC)</span>"))</tr></thead>
            <tbody>
            \(rows)</tbody></table>
            </main>
            <footer>\(summary) · HTTPChat</footer>
            <script>\(script)</script>
            </body></html>

            """
    }

    /// `/ docs / sub`: the top folder (the mount path) and each folder below it a link, the current one
    /// marked `aria-current`. Hrefs are absolute paths built from the canonical segments (one leading slash,
    /// every segment percent-encoded), then HTML-escaped; names are HTML-escaped.
    static func breadcrumb(_ segments: [String], mountDepth: Int) -> String {
        let depth = min(mountDepth, segments.count)
        let top = CanonicalPath.encoded(Array(segments[..<depth]), trailingSlash: true)
        let atTop = segments.count == depth
        var out = "<a href=\"\(HTMLEscaping.escape(top))\" class=\"home\" title=\"Top folder\" aria-label=\"Top folder\"\(atTop ? " aria-current=\"page\"" : "")>"
            + "\(icon(.home))</a>"
        if atTop { out += "<span class=\"sep\" aria-hidden=\"true\">/</span>" }  // `⌂ /`, as `⌂ / docs` below it
        for i in depth..<segments.count {
            let name = HTMLEscaping.escape(segments[i])
            out += "<span class=\"sep\" aria-hidden=\"true\">/</span>"
            if i == segments.count - 1 {
                out += "<span aria-current=\"page\">\(name)</span>"
            } else {
                let href = HTMLEscaping.escape(CanonicalPath.encoded(Array(segments[...i]), trailingSlash: true))
                out += "<a href=\"\(href)\">\(name)</a>"
            }
        }
        return out
    }

    /// The filter box: a GET form (works without script) carrying the sort along, pre-filled with `q`.
    static func filterForm(_ query: Query) -> String {
        var hidden = ""
        if query.sort != .name || query.descending { hidden += "<input type=\"hidden\" name=\"sort\" value=\"\(query.sort.rawValue)\">" }
        if query.descending { hidden += "<input type=\"hidden\" name=\"order\" value=\"desc\">" }
        return "<form class=\"filter\" method=\"get\" role=\"search\">"
            + "<input type=\"search\" name=\"q\" value=\"\(HTMLEscaping.escape(query.filter))\" placeholder=\"Filter names\" aria-label=\"Filter names\" autocomplete=\"off\">"
            + "\(hidden)<button type=\"submit\">Filter</button></form>"
    }

    /// The upload form (``FileServerOptions/uploads``): one or several files posted as `multipart/form-data`
    /// to this folder (`./`, without the query), which answers 303 back to the listing.
    static let uploadForm = "<form class=\"upload\" method=\"post\" action=\"./\" enctype=\"multipart/form-data\">"
        + "<input type=\"file\" name=\"file\" multiple required aria-label=\"Files to upload\">"
        + "<button type=\"submit\">Upload</button></form>"

    static func count(_ n: Int, _ one: String, _ many: String? = nil) -> String {
        "\(n) \(n == 1 ? one : many ?? one + "s")"
    }

    static func formatSize(_ n: Int) -> String {
        if n < 1024 { return "\(n) B" }
        let units = ["KiB", "MiB", "GiB", "TiB"]
        var value = Double(n) / 1024
        var unit = 0
        while value >= 1024 && unit < units.count - 1 {
            value /= 1024
            unit += 1
        }
        let rounded = (value * 10).rounded() / 10
        return "\(rounded) \(units[unit])"
    }
}
