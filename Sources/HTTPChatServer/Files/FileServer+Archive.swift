import HTTPChatCore
import HTTPTypes
import NIOCore

// MARK: - Folder downloads as ZIP archives

extension FileServer {
    /// Whether `GET /folder/?download=zip` answers with an archive: ``FileServerOptions/archive`` and
    /// ``FileServerOptions/listing`` both on (an archive shows a folder's names as a listing does).
    var archives: Bool { options.archive && options.listing }

    /// Answers `GET` or `HEAD /folder/?download=zip`: the folder's ZIP archive (``ZipLayout``, sent by
    /// ``ZipArchiveProducer``), with an exact `Content-Length`, validators, ranges and `If-Range`.
    ///
    /// Planning walks the folder through the provider (one ``FileProvider/list(_:)`` per folder, off the event
    /// loops): names the file server would not serve (hidden ones unless ``FileServerOptions/hidden``, uploads in progress) are left
    /// out at any depth, as are whatever the provider leaves out (links leaving the root, excluded folders); a
    /// folder met again below itself through a link is left out too. Entries are in byte order of their
    /// names, folders before their contents, so the same tree always gives the same archive.
    ///
    /// - Parameters:
    ///   - path: the folder, below the root (`/`-separated, empty for the root).
    ///   - request: the request (conditions and ranges).
    /// At most ``FileServerOptions/archiveMaxConcurrent`` archives are planned or sent at once (a slot is
    /// taken before planning and given back when the response's body ends, fails or is dropped); past it,
    /// 503 with `Retry-After`. Planning stops between two folders once the request's task is cancelled (the
    /// client went away: ``HTTPConnection`` cancels it), and lists no folder past what the entry cap leaves.
    ///
    /// - Parameters:
    ///   - path: the folder, below the root (`/`-separated, empty for the root).
    ///   - request: the request (conditions and ranges).
    /// - Returns: 200, 206, 304, 412 or 416.
    /// - Throws: ``HTTPError`` 404 when the folder went away, 403 when it holds more than
    ///   ``FileServerOptions/archiveMaxEntries`` entries or a name too long for ZIP, 503 when
    ///   ``FileServerOptions/archiveMaxConcurrent`` archives are under way; `CancellationError` when the
    ///   task was cancelled.
    func archiveResponse(folder path: String, request: Request) async throws -> Response {
        guard let slot = archiveSlots.take() else {
            throw HTTPError(
                .serviceUnavailable, "Too many folder downloads at once: try again shortly.", headerFields: [.retryAfter: "2"]
            )
        }
        let segments = OpenFileCache.components(path)
        guard case .folder(let folder) = try await provider.open(segments, memoryLimit: 0) else { throw HTTPError(.notFound) }
        let entries = try await Self.archiveEntries(provider, folder: segments, identity: folder, hidden: options.hidden, maxEntries: options.archiveMaxEntries)
        let layout = ZipLayout(entries)
        let validators = layout.validators(folderModified: folder.mtimeSeconds)
        var fields = HTTPFields()
        fields[.contentType] = "application/zip"
        fields[.contentDisposition] = Self.attachment((segments.last ?? archiveRootName) + ".zip")
        fields[.acceptRanges] = "bytes"
        fields[.eTag] = validators.etag
        fields[.lastModified] = HTTPDate.format(validators.lastModified)
        let provider = self.provider
        let cache = archiveCRCs
        return respond(size: layout.length, validators, fields: fields, request: request, allowRanges: true) { parts, length in
            ResponseBody(producer: ZipArchiveProducer(layout: layout, provider: provider, cache: cache, parts: parts, slot: slot), length: length)
        }
    }

    /// The root folder's archive name: the last component of a root on disk, else `download`.
    var archiveRootName: String {
        guard root.hasPrefix("/"), let last = root.split(separator: "/").last else { return "download" }
        return String(last)
    }

    /// The entries of the folder `folder`'s archive, walked depth first through `provider`. The task's
    /// cancellation is checked before each folder is listed, and no folder is read past the entries the cap
    /// still allows, so neither an abandoned request nor a folder of millions of names runs on.
    ///
    /// - Throws: ``HTTPError`` 403 past `maxEntries` entries or for a name longer than ZIP's 65,535 bytes;
    ///   `CancellationError` once the task is cancelled.
    static func archiveEntries(
        _ provider: any FileProvider, folder: [String], identity: FileInfo, hidden: Bool, maxEntries: Int
    ) async throws -> [ZipLayout.Entry] {
        struct Pending {
            var path: [String]
            var name: String
            var info: FileInfo
            /// The folders above it, by device and inode, to skip a link back up.
            var above: [FileIdentity]
        }
        let tooMany = HTTPError(.forbidden, "This folder holds more than \(maxEntries) files and folders: too many to download as one archive.")
        var entries: [ZipLayout.Entry] = []
        var stack: [Pending] = []
        func children(_ path: [String], _ prefix: String, _ above: [FileIdentity]) async throws -> [Pending] {
            try Task.checkCancellation()
            // No folder is read far past the cap: names left out (hidden ones) do not count against it, but a
            // folder of more than twice the cap is refused without reading the rest.
            let readLimit = maxEntries > Int.max / 2 ? Int.max - 1 : 2 * maxEntries
            guard let listed = try await provider.list(path, limit: readLimit) else { return [] }  // gone meanwhile: as if empty
            guard listed.count <= readLimit else { throw tooMany }
            return listed
                // Hidden names unless asked for; entries the server may not read are left out (opening them
                // mid-archive would cut it short), as the listing shows them without a link; so are names an
                // extractor could read as another path (``ZipLayout/isSafeComponent(_:)``).
                .filter { isServed($0.name, hidden: hidden) && $0.isReadable && ZipLayout.isSafeComponent($0.name) }
                .sorted { $0.name.utf8.lexicographicallyPrecedes($1.name.utf8) }
                .map { Pending(path: path + [$0.name], name: prefix + $0.name + ($0.info.isDirectory ? "/" : ""), info: $0.info, above: above) }
        }
        let top = try await children(folder, "", [FileIdentity(identity)])
        stack = top.reversed()
        while let next = stack.popLast() {
            let id = FileIdentity(next.info)
            if next.info.isDirectory, next.above.contains(id) { continue }  // a link to a folder above: a loop
            guard next.name.utf8.count <= ZipLayout.limit16 else {
                throw HTTPError(.forbidden, "A name in this folder is too long for a ZIP archive.")
            }
            entries.append(ZipLayout.Entry(path: next.path, name: Array(next.name.utf8), info: next.info))
            if next.info.isDirectory {
                let inside = try await children(next.path, next.name, next.above + [id])
                stack += inside.reversed()
            }
            guard entries.count + stack.count <= maxEntries else { throw tooMany }
        }
        return entries
    }

    /// `Content-Disposition: attachment` naming `filename` (RFC 6266): an ASCII `filename` (anything else,
    /// quotes, backslashes, `%` and controls replaced by `_`), and when that is not the name, the exact name as
    /// `filename*=UTF-8''` with everything but RFC 8187's attr-chars percent-encoded. Nothing in it can end
    /// the quoted string or the field.
    static func attachment(_ filename: String) -> String {
        var ascii = ""
        for scalar in filename.unicodeScalars {
            let v = scalar.value
            ascii += v >= 0x20 && v < 0x7F && scalar != "\"" && scalar != "\\" && scalar != "%" ? String(scalar) : "_"
        }
        var value = "attachment; filename=\"\(ascii)\""
        guard ascii != filename else { return value }
        value += "; filename*=UTF-8''"
        let hex = Array("0123456789ABCDEF".utf8)
        for byte in filename.utf8 {
            if attrChar[Int(byte)] {
                value.unicodeScalars.append(Unicode.Scalar(byte))
            } else {
                value += String(decoding: [UInt8(ascii: "%"), hex[Int(byte >> 4)], hex[Int(byte & 0xF)]], as: UTF8.self)
            }
        }
        return value
    }
}

/// RFC 8187 §3.2.1 attr-char, indexed by byte.
private let attrChar = HTTPGrammar.alphanumericTable(plus: "!#$&+-.^_`|~")

extension FileIdentity {
    /// The identity `stat` gave a provider's entry (for loop detection).
    init(_ info: FileInfo) {
        device = info.device
        inode = info.inode
    }
}
