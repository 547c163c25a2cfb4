/// Content types by file extension: the common web types. Text types carry `charset=utf-8`; unknown
/// extensions are `application/octet-stream`.
import HTTPChatCore

public enum MediaTypes {
    /// Extension (lower case, without the dot) to media type.
    public static let byExtension: [String: String] = [
        "html": "text/html; charset=utf-8", "htm": "text/html; charset=utf-8",
        "xhtml": "application/xhtml+xml", "xht": "application/xhtml+xml",
        "css": "text/css; charset=utf-8",
        "js": "text/javascript; charset=utf-8", "mjs": "text/javascript; charset=utf-8",
        "cjs": "text/javascript; charset=utf-8", "jsonld": "application/ld+json",
        "json": "application/json", "map": "application/json",
        "webmanifest": "application/manifest+json",
        "xml": "application/xml", "rss": "application/rss+xml", "atom": "application/atom+xml",
        "txt": "text/plain; charset=utf-8", "text": "text/plain; charset=utf-8", "log": "text/plain; charset=utf-8",
        "md": "text/markdown; charset=utf-8", "markdown": "text/markdown; charset=utf-8",
        "csv": "text/csv; charset=utf-8", "tsv": "text/tab-separated-values; charset=utf-8",
        "ics": "text/calendar; charset=utf-8", "vtt": "text/vtt; charset=utf-8",
        "svg": "image/svg+xml", "svgz": "image/svg+xml",
        "png": "image/png", "jpg": "image/jpeg", "jpeg": "image/jpeg", "gif": "image/gif",
        "apng": "image/apng", "jxl": "image/jxl", "heic": "image/heic",
        "webp": "image/webp", "avif": "image/avif", "ico": "image/vnd.microsoft.icon", "bmp": "image/bmp",
        "tif": "image/tiff", "tiff": "image/tiff",
        "wasm": "application/wasm",
        "woff": "font/woff", "woff2": "font/woff2", "ttf": "font/ttf", "otf": "font/otf",
        "eot": "application/vnd.ms-fontobject", "epub": "application/epub+zip", "xsl": "application/xslt+xml",
        "mp4": "video/mp4", "m4v": "video/mp4", "webm": "video/webm", "ogv": "video/ogg", "mov": "video/quicktime",
        "mp3": "audio/mpeg", "m4a": "audio/mp4", "ogg": "audio/ogg", "oga": "audio/ogg", "opus": "audio/opus",
        "wav": "audio/wav", "flac": "audio/flac", "weba": "audio/webm",
        "pdf": "application/pdf", "zip": "application/zip", "gz": "application/gzip", "tgz": "application/gzip",
        "tar": "application/x-tar", "bz2": "application/x-bzip2", "xz": "application/x-xz", "7z": "application/x-7z-compressed",
        "wat": "text/plain; charset=utf-8", "yaml": "application/yaml", "yml": "application/yaml",
        "toml": "application/toml", "sh": "text/x-shellscript; charset=utf-8", "swift": "text/x-swift; charset=utf-8",
    ]

    /// The type for a file name, by its last extension.
    ///
    /// - Parameter name: a file name or path.
    /// - Returns: its media type, `application/octet-stream` when unknown.
    public static func type(forName name: some StringProtocol) -> String {
        let whole = Substring(name)
        let base = whole.split(separator: "/").last ?? whole
        guard let dot = base.lastIndex(of: "."), dot != base.startIndex else { return "application/octet-stream" }
        return byExtension[base[base.index(after: dot)...].lowercased()] ?? "application/octet-stream"
    }

    /// Whether a type is worth compressing: text, JSON, XML, JavaScript, SVG, WebAssembly, and the
    /// uncompressed font formats.
    ///
    /// - Parameter type: a media type, parameters allowed.
    /// - Returns: whether gzip is likely to shrink it.
    public static func isCompressible(_ type: some StringProtocol) -> Bool {
        let essence = Substring(type).split(separator: ";").first.map { $0.trimmingOWS().lowercased() } ?? ""
        if essence.hasPrefix("text/") { return true }
        return [
            "application/json", "application/manifest+json", "application/xml", "application/rss+xml",
            "application/atom+xml", "image/svg+xml", "application/wasm", "font/ttf", "font/otf",
            "application/yaml", "application/toml", "image/bmp", "image/vnd.microsoft.icon",
        ].contains(essence) || essence.hasSuffix("+json") || essence.hasSuffix("+xml")
    }
}
