// The listing page's fixed parts: icons, style sheet and script, all inline (the page fetches nothing).

extension DirectoryListing {
    /// What an entry's icon shows, from its extension.
    enum Kind: String, CaseIterable, Sendable {
        case folder = "dir"
        case file
        case image
        case text
        case archive
        case media
        case parent = "up"
        case home

        private static let byExtension: [String: Kind] = {
            var table: [String: Kind] = [:]
            for e in ["png", "jpg", "jpeg", "gif", "webp", "avif", "svg", "bmp", "ico", "tif", "tiff", "heic"] { table[e] = .image }
            for e in [
                "txt", "md", "markdown", "rst", "csv", "tsv", "log", "json", "xml", "yaml", "yml", "toml", "ini", "conf",
                "html", "htm", "css", "js", "mjs", "ts", "swift", "c", "h", "cc", "cpp", "hpp", "m", "py", "rb", "go", "rs",
                "java", "kt", "sh", "bash", "zsh", "pl", "php", "sql", "pem",
            ] { table[e] = .text }
            for e in ["zip", "tar", "gz", "tgz", "bz2", "xz", "zst", "7z", "rar", "jar", "deb", "rpm", "dmg", "iso"] { table[e] = .archive }
            for e in ["mp3", "wav", "flac", "ogg", "opus", "m4a", "aac", "mp4", "m4v", "mov", "mkv", "webm", "avi"] { table[e] = .media }
            return table
        }()

        init(_ entry: Entry) {
            if entry.isDirectory {
                self = .folder
                return
            }
            guard let dot = entry.name.lastIndex(of: "."), dot != entry.name.startIndex else {
                self = .file
                return
            }
            self = Self.byExtension[entry.name[entry.name.index(after: dot)...].lowercased()] ?? .file
        }
    }

    /// An icon: a reference to one of ``symbols`` (a fragment of this page, never a fetch).
    static func icon(_ kind: Kind) -> String {
        "<svg class=\"i i-\(kind.rawValue)\" aria-hidden=\"true\"><use href=\"#i-\(kind.rawValue)\"/></svg>"
    }

    /// The icons, drawn on a 24-unit grid in `currentColor` (each kind's color comes from the style sheet).
    static let symbols = """
        <svg class="defs" aria-hidden="true">\
        <symbol id="i-dir" viewBox="0 0 24 24"><path d="M3 6.5A1.5 1.5 0 0 1 4.5 5h4.3l2 2.2h8.7A1.5 1.5 0 0 1 21 8.7v9.8a1.5 1.5 0 0 1-1.5 1.5h-15A1.5 1.5 0 0 1 3 18.5z" fill="currentColor"/></symbol>\
        <symbol id="i-file" viewBox="0 0 24 24" fill="none" stroke="currentColor" stroke-width="1.7" stroke-linejoin="round"><path d="M6.5 3h7.5l4.5 4.5v12a1.5 1.5 0 0 1-1.5 1.5h-10.5a1.5 1.5 0 0 1-1.5-1.5v-15a1.5 1.5 0 0 1 1.5-1.5z"/><path d="M14 3v4.5h4.5"/></symbol>\
        <symbol id="i-text" viewBox="0 0 24 24" fill="none" stroke="currentColor" stroke-width="1.7" stroke-linecap="round" stroke-linejoin="round"><path d="M6.5 3h7.5l4.5 4.5v12a1.5 1.5 0 0 1-1.5 1.5h-10.5a1.5 1.5 0 0 1-1.5-1.5v-15a1.5 1.5 0 0 1 1.5-1.5z"/><path d="M14 3v4.5h4.5M8.5 12.5h7M8.5 16h5"/></symbol>\
        <symbol id="i-image" viewBox="0 0 24 24" fill="none" stroke="currentColor" stroke-width="1.7" stroke-linecap="round" stroke-linejoin="round"><rect x="3" y="4.5" width="18" height="15" rx="2"/><circle cx="8.5" cy="9.5" r="1.6"/><path d="M20.5 15.5l-4.5-4.5-9 8.5"/></symbol>\
        <symbol id="i-archive" viewBox="0 0 24 24" fill="none" stroke="currentColor" stroke-width="1.7" stroke-linecap="round" stroke-linejoin="round"><path d="M6.5 3h11a1.5 1.5 0 0 1 1.5 1.5v15a1.5 1.5 0 0 1-1.5 1.5h-11a1.5 1.5 0 0 1-1.5-1.5v-15a1.5 1.5 0 0 1 1.5-1.5z"/><path d="M12 3v2M10.5 6.5h1.5M12 8h1.5M10.5 9.5h1.5M12 11h1.5"/><rect x="10" y="13" width="4" height="4" rx="1"/></symbol>\
        <symbol id="i-media" viewBox="0 0 24 24" fill="none" stroke="currentColor" stroke-width="1.7" stroke-linejoin="round"><rect x="3" y="4.5" width="18" height="15" rx="2"/><path d="M10 9v6l5-3z" fill="currentColor"/></symbol>\
        <symbol id="i-up" viewBox="0 0 24 24" fill="none" stroke="currentColor" stroke-width="1.9" stroke-linecap="round" stroke-linejoin="round"><path d="M9 14L4 9l5-5"/><path d="M4 9h9.5a6.5 6.5 0 0 1 6.5 6.5V20"/></symbol>\
        <symbol id="i-home" viewBox="0 0 24 24" fill="none" stroke="currentColor" stroke-width="1.9" stroke-linecap="round" stroke-linejoin="round"><path d="M3.5 11L12 4l8.5 7"/><path d="M6 9.5V20h12V9.5"/><path d="M10 20v-5.5h4V20"/></symbol>\
        </svg>
        """

    /// The style sheet: the site's palette (`public/style.css`), a dark one for `prefers-color-scheme: dark`,
    /// sizes and dates that never wrap, names that wrap anywhere within their column.
    static let style = """
        :root{--ink:#1b2233;--muted:#5b6478;--accent:#2f6fed;--paper:#f7f8fb;--card:#fff;--line:#e3e7ef;--head:#f1f3f8;--hover:#f3f6fc;\
        --dir:#e3a21a;--file:#8a93a8;--text:#2f6fed;--image:#13a38f;--archive:#b86a2b;--media:#9a4fd6}
        @media (prefers-color-scheme:dark){:root{--ink:#e4e9f5;--muted:#9aa4bb;--accent:#86abff;--paper:#0e1320;--card:#161c2b;--line:#273046;\
        --head:#1a2132;--hover:#1d2538;--dir:#f2c14e;--file:#9aa4bb;--text:#86abff;--image:#3ccfb9;--archive:#e0965a;--media:#c38cf5}}
        *{box-sizing:border-box}
        body{margin:0;font:15px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:var(--ink);background:var(--paper)}
        a{color:var(--accent)}
        .defs{position:absolute;width:0;height:0;overflow:hidden}
        .top,main,footer{max-width:64rem;margin:0 auto;padding-left:1rem;padding-right:1rem}
        .top{display:flex;flex-wrap:wrap;align-items:center;justify-content:space-between;gap:.75rem 1.5rem;padding-top:1.75rem;padding-bottom:1rem}
        h1{margin:0;font-size:1.3rem;font-weight:600;line-height:1.35;min-width:0;overflow-wrap:anywhere}
        h1 a{text-decoration:none}h1 a:hover{text-decoration:underline}
        h1 .home{display:inline-block;vertical-align:-.2em}h1 .home .i{width:1.3rem;height:1.3rem;color:var(--accent)}
        .sep{color:var(--muted);margin:0 .35rem;font-weight:400}
        .actions{display:flex;flex-wrap:wrap;align-items:center;gap:.5rem}
        .actions a.zip{display:inline-flex;align-items:center;gap:.4rem;color:var(--accent);text-decoration:none;white-space:nowrap}.actions a.zip:hover span{text-decoration:underline}
        .filter{display:flex;gap:.4rem}
        .filter input,.filter button,.upload button{font:inherit;color:var(--ink);background:var(--card);border:1px solid var(--line);border-radius:8px;padding:.35rem .65rem}
        .filter input{width:15rem;min-width:0}
        .filter button,.upload button{cursor:pointer}.filter button:hover,.upload button:hover{border-color:var(--accent)}
        .upload{display:flex;align-items:center;gap:.4rem}
        .upload input{font:inherit;font-size:.85rem;color:var(--muted);max-width:15rem;min-width:0}
        .upload input::file-selector-button{font:inherit;color:var(--ink);background:var(--card);border:1px solid var(--line);border-radius:8px;padding:.3rem .6rem;margin-right:.5rem;cursor:pointer}
        table{width:100%;border-collapse:separate;border-spacing:0;background:var(--card);border:1px solid var(--line);border-radius:12px;overflow:hidden}
        th,td{text-align:left;vertical-align:top;padding:.5rem .8rem;border-bottom:1px solid var(--line)}
        tbody tr:last-child td{border-bottom:0}
        th{background:var(--head);font-size:.78rem;font-weight:600;letter-spacing:.04em;text-transform:uppercase}
        th a{color:var(--muted);text-decoration:none}th a:hover{color:var(--accent)}
        .name{width:100%}
        td.name{overflow-wrap:anywhere}
        td.name a{display:flex;align-items:flex-start;gap:.6rem;color:var(--ink);text-decoration:none}
        td.name a span{min-width:0}td.name a:hover span{color:var(--accent);text-decoration:underline}
        td.name .locked{display:flex;align-items:flex-start;gap:.6rem;color:var(--muted);cursor:not-allowed}td.name .locked span{min-width:0}
        .size,.time{white-space:nowrap;width:1%}
        .size{text-align:right}
        td.size,td.time{font-variant-numeric:tabular-nums;color:var(--muted)}
        tbody tr:hover td{background:var(--hover)}
        tr[hidden]{display:none!important}
        tr.up a{color:var(--muted)}
        td[colspan]{color:var(--muted);text-align:center;padding:1.5rem}
        .i{width:1.2rem;height:1.2rem;flex:none;margin-top:.1rem}
        .i-dir{color:var(--dir)}.i-file{color:var(--file)}.i-text{color:var(--text)}.i-image{color:var(--image)}
        .i-archive{color:var(--archive)}.i-media{color:var(--media)}.i-up{color:var(--muted)}
        footer{padding-top:1rem;padding-bottom:2rem;color:var(--muted);font-size:.85rem}
        @media (max-width:34rem){body{font-size:14px}.top{padding-top:1rem}.actions,.filter,.upload{flex:1 1 100%}.filter input,.upload input{flex:1}
        table,tbody,thead{display:block}thead tr{display:flex}thead th{border-bottom:1px solid var(--line)}thead th.name{width:auto;flex:1}thead th.size,thead th.time{width:auto;flex:none}
        tbody tr{display:grid;grid-template-columns:auto 1fr;column-gap:.9rem;border-bottom:1px solid var(--line)}
        tbody tr:last-child{border-bottom:0}tbody td{border:0;padding:0}tbody tr:hover{background:var(--hover)}
        td.name{grid-column:1/-1;padding:.55rem .7rem 0}td.size{padding:0 0 .5rem 2.5rem;text-align:left}td.time{padding-bottom:.5rem}
        tr.dir td.size,tr.up td.size,tr.up td.time{display:none}tr.dir td.time{grid-column:1/-1;padding-left:2.5rem}
        tr.up td.name{padding-bottom:.55rem}td.size,td.time{font-size:.86rem}td[colspan]{padding:1.5rem}}

        """

    /// Filters the rows as one types (the form still submits `q` for the server to filter): optional.
    static let script = """
        (function(){var f=document.querySelector('.filter input'),rows=document.querySelectorAll('tr[data-name]');\
        f&&f.addEventListener('input',function(){var q=f.value.toLowerCase();\
        rows.forEach(function(r){r.hidden=q!==''&&r.dataset.name.indexOf(q)<0})})})()
        """
}
