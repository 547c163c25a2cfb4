import HTTPChatCore
import HTTPTypes
import NIOCore

/// A folder's listing: read by the ``FileProvider``, answered as HTML (names escaped, directories first,
/// sortable by name, size or time with `?sort=name|size|time&order=asc|desc`) or as JSON when the client
/// prefers `application/json`.
enum DirectoryListing {
    struct Entry: Sendable {
        var name: String
        var isDirectory: Bool
        var size: Int
        var modified: Int

        init(_ entry: FolderEntry) {
            name = entry.name
            isDirectory = entry.info.isDirectory
            size = entry.info.size
            modified = entry.info.mtimeSeconds
        }
    }

    static func response(_ entries: [Entry], path: String, request: Request, archive: Bool = false) -> Response {
        let items = request.queryItems
        let sort = items.first { $0.name == "sort" }?.value ?? "name"
        let descending = items.first { $0.name == "order" }?.value == "desc"
        let sorted = entries.sorted { a, b in
            if a.isDirectory != b.isDirectory { return a.isDirectory }
            let ordered: Bool
            switch sort {
            case "size": ordered = a.size != b.size ? a.size < b.size : a.name < b.name
            case "time": ordered = a.modified != b.modified ? a.modified < b.modified : a.name < b.name
            default: ordered = a.name.lowercased() != b.name.lowercased() ? a.name.lowercased() < b.name.lowercased() : a.name < b.name
            }
            return descending ? !ordered : ordered
        }
        if ContentNegotiation.prefersJSON(request.headerFields) {
            return Response(headerFields: [.contentType: "application/json", .vary: "Accept"], body: .init(string: json(sorted, path: path)))
        }
        return Response(
            headerFields: [.contentType: "text/html; charset=utf-8", .vary: "Accept"],
            body: .init(string: html(sorted, path: path, sort: sort, descending: descending, archive: archive))
        )
    }

    static func json(_ entries: [Entry], path: String) -> String {
        var out = "{\"path\":\(jsonString(PercentEncoding.decode(path) ?? path)),\"entries\":["
        out += entries.map { e in
            "{\"name\":\(jsonString(e.name)),\"type\":\"\(e.isDirectory ? "directory" : "file")\","
                + "\"size\":\(e.size),\"modified\":\(jsonString(HTTPDate.format(e.modified)))}"
        }.joined(separator: ",")
        return out + "]}\n"
    }

    static func html(_ entries: [Entry], path: String, sort: String, descending: Bool, archive: Bool = false) -> String {
        let title = HTMLEscaping.escape("Index of " + (PercentEncoding.decode(path) ?? path))
        func header(_ key: String, _ label: String) -> String {
            let order = key == sort && !descending ? "desc" : "asc"
            let arrow = key == sort ? (descending ? " ↓" : " ↑") : ""
            return "<th><a href=\"?sort=\(key)&amp;order=\(order)\">\(label)\(arrow)</a></th>"
        }
        var rows = ""
        if path != "/" {
            rows += "<tr><td><a href=\"../\">../</a></td><td></td><td></td></tr>\n"
        }
        for e in entries {
            let display = HTMLEscaping.escape(e.name) + (e.isDirectory ? "/" : "")
            let href = HTMLEscaping.escape(PercentEncoding.encodeSegment(e.name)) + (e.isDirectory ? "/" : "")
            let size = e.isDirectory ? "—" : formatSize(e.size)
            rows += "<tr><td><a href=\"\(href)\">\(display)</a></td><td class=\"n\">\(size)</td><td>\(HTTPDate.format(e.modified))</td></tr>\n"
        }
        return """
            <!doctype html>
            <html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
            <title>\(title)</title>
            <style>
            body{font:15px/1.5 system-ui,-apple-system,"Segoe UI",sans-serif;margin:2rem auto;max-width:60rem;padding:0 1rem;color:#1d2330}
            h1{font-size:1.3rem;font-weight:600;word-break:break-all}table{border-collapse:collapse;width:100%}
            th,td{text-align:left;padding:.35rem .6rem;border-bottom:1px solid #e4e7ee}th a{color:#56607a;text-decoration:none}
            td.n{text-align:right;font-variant-numeric:tabular-nums}a{color:#2457d6}tr:hover td{background:#f5f7fb}
            footer{margin-top:1.5rem;color:#8a93a8;font-size:.85rem}
            </style></head><body>
            <h1>\(title)</h1>\(archive ? "\n<p><a href=\"?download=zip\" download>Download .zip</a></p>" : "")
            <table><thead><tr>\(header("name", "Name"))\(header("size", "Size"))\(header("time", "Modified"))</tr></thead>
            <tbody>
            \(rows)</tbody></table>
            <footer>\(entries.count) entries · HTTPChat</footer>
            </body></html>

            """
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
