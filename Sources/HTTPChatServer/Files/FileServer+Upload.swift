import HTTPChatCore
import HTTPTypes
import NIOCore

// MARK: - Uploads into the served folder

extension FileServer {
    /// Whether `POST` and `PUT` store files: ``FileServerOptions/uploads`` on, and files on disk
    /// (a ``LocalFileProvider``; other providers answer 405 as before).
    var uploads: Bool { options.uploads && uploadStore != nil }

    /// The `Allow` field of a 405 answer.
    var allowedMethods: String { uploads ? "GET, HEAD, POST, PUT" : "GET, HEAD" }

    /// Whether `request` is an upload this server takes (then it is answered in a task, never at once).
    func isUpload(_ request: Request) -> Bool {
        uploads && (request.method == .post || request.method == .put)
    }

    /// The canonical segments below the root that an upload request names, checked as for serving.
    ///
    /// - Throws: ``HTTPError`` 400 for a malformed path, 403 for a hidden name (without
    ///   ``FileServerOptions/hidden``) or an upload's temporary name, 404 outside the mount path.
    private func uploadSegments(_ request: Request) throws -> [String] {
        let segments: [String]
        do {
            segments = try PathResolution.segments(request.rawPath, hidden: options.hidden)
        } catch .badRequest {
            throw HTTPError(.badRequest, "bad path")
        } catch {
            throw HTTPError(.forbidden, "hidden names are not accepted")
        }
        guard segments.starts(with: mountSegments) else { throw HTTPError(.notFound) }
        return Array(segments.dropFirst(mountSegments.count))
    }

    /// The URL path of `segments` below the root.
    private func urlPath(_ segments: [String], folder: Bool) -> String {
        CanonicalPath.encoded(mountSegments + segments, trailingSlash: folder)
    }

    /// Answers an upload: `PUT /folder/name` stores the body as `name` in an existing folder; `POST /folder/`
    /// with a `multipart/form-data` body stores each file part under its (sanitized) file name.
    ///
    /// - Parameter request: a POST or PUT (``isUpload(_:)``).
    /// A PUT's preconditions (`If-Match`, `If-None-Match`, `If-Unmodified-Since`) are evaluated against the
    /// file the PUT would replace (RFC 9110 §13.2.2), first when the request arrives (412 before the body is
    /// read) and again just before the rename, against the file actually replaced, under a lock every commit
    /// of this process takes (``UploadTempFile/commit(as:overwrite:check:)``). A PUT with `Content-Range` is
    /// 400 (RFC 9110 §14.5: a partial PUT would otherwise replace the whole file with the part).
    ///
    /// - Parameter request: a POST or PUT (``isUpload(_:)``).
    /// - Returns: PUT: 201 Created (new) or 204 No Content (replaced), with `Location`. POST: 303 See Other
    ///   to the folder's listing, or with `Accept: application/json` 201 and
    ///   `{"files":[{"name","size","replaced","location"}]}` (`Location` when one file was stored).
    /// - Throws: ``HTTPError`` 400 (bad name, no file in the form, a PUT with `Content-Range`), 403, 404 (no
    ///   such folder, excluded), 409 (the name exists without ``FileServerOptions/overwrite``, or is a folder),
    ///   412 (a PUT's precondition is false), 413 past the body limit, 415 (POST that is not
    ///   `multipart/form-data`), 503 with `Retry-After` past ``FileServerOptions/uploadMaxConcurrent``, 507
    ///   (disk full).
    func upload(_ request: Request) async throws -> Response {
        guard let store = uploadStore else { throw HTTPError(.methodNotAllowed, headerFields: [.allow: allowedMethods]) }
        let segments = try uploadSegments(request)
        // Held until the upload is stored or has failed: the slot goes back when this returns or throws.
        guard let slot = uploadSlots.take() else {
            throw HTTPError(
                .serviceUnavailable, "Too many uploads at once: try again shortly.", headerFields: [.retryAfter: "2"]
            )
        }
        defer { withExtendedLifetime(slot) {} }
        if request.method == .put { return try await put(request, segments: segments, store: store) }
        return try await post(request, folder: segments, store: store)
    }

    private func put(_ request: Request, segments: [String], store: UploadStore) async throws -> Response {
        guard let name = segments.last, !CanonicalPath.hasTrailingSlash(request.rawPath) else {
            throw HTTPError(.badRequest, "PUT names a file")
        }
        guard UploadStore.acceptable(name, hidden: options.hidden) else { throw HTTPError(.badRequest, "bad file name") }
        // RFC 9110 §14.5: a server that allows PUT must answer 400 to one with Content-Range.
        guard request.headerFields[.contentRange] == nil else {
            throw HTTPError(.badRequest, "PUT with Content-Range: partial updates are not supported")
        }
        let folderSegments = Array(segments.dropLast())
        let folder = try await store.openFolder(folderSegments)
        let fields = request.headerFields
        var check: (@Sendable (UploadEntry) throws -> Void)?
        if Self.hasPreconditions(fields) {
            check = { (entry: UploadEntry) throws -> Void in
                guard FileServer.preconditionsHold(fields, entry) else { throw HTTPError(.preconditionFailed, "precondition failed") }
            }
        }
        let entry = try await store.entry(name, in: folder)
        try check?(entry)  // preconditions first (RFC 9110 §13.2.2), before 409 and before the body is read
        switch entry.kind {
        case .other: throw HTTPError(.conflict, "a folder or special file has that name")
        case .file where !options.overwrite: throw HTTPError(.conflict, "a file with that name exists")
        case .file, .none: break
        }
        let temp = try await store.createTemporary(in: folder)
        let replaced: Bool
        do {
            var batch = UploadBatch()
            for try await chunk in request.body {
                if batch.add(chunk) { try await temp.write(batch.take()) }
            }
            if !batch.isEmpty { try await temp.write(batch.take()) }
            replaced = try await temp.commit(as: name, overwrite: options.overwrite, check: check)
        } catch {
            await temp.discard()
            throw error
        }
        cache.forget(segments.joined(separator: "/"))
        let location = urlPath(segments, folder: false)
        if replaced { return Response(status: .noContent, headerFields: [.location: location]) }
        return Response(
            status: .created, headerFields: [.location: location, .contentType: "text/plain; charset=utf-8"],
            body: .init(string: "Created \(location)\n")
        )
    }

    /// Whether `fields` hold a precondition a PUT evaluates.
    static func hasPreconditions(_ fields: HTTPFields) -> Bool {
        fields[.ifMatch] != nil || fields[.ifNoneMatch] != nil || fields[.ifUnmodifiedSince] != nil
    }

    /// Whether a PUT's preconditions hold for `entry`, what its name is now (RFC 9110 §13.2.2): `If-Match`
    /// by strong comparison with the file's ETag (with no file, even `*` is false, §13.1.1), else
    /// `If-Unmodified-Since` (ignored with no file); then `If-None-Match` by weak comparison (`*` is false
    /// when any file or folder has the name). `If-Modified-Since` and `If-Range` do not apply to PUT.
    static func preconditionsHold(_ fields: HTTPFields, _ entry: UploadEntry) -> Bool {
        guard let validators = entry.validators else {
            if fields[.ifMatch] != nil { return false }
            if entry.kind != .none, let list = fields[values: .ifNoneMatch].joinedList(),
                list.utf8.split(separator: UInt8(ascii: ",")).contains(where: { $0.filter { $0 != 0x20 && $0 != 0x09 }.elementsEqual("*".utf8) })
            {
                return false
            }
            return true
        }
        return validators.evaluate(fields, method: .put) != .failed
    }

    private func post(_ request: Request, folder segments: [String], store: UploadStore) async throws -> Response {
        let folder = try await store.openFolder(segments)
        struct Stored {
            var name: String
            var size: Int
            var replaced: Bool
        }
        var stored: [Stored] = []
        var current: (temp: UploadTempFile, name: String, batch: UploadBatch, size: Int)?
        let hidden = options.hidden
        let overwrite = options.overwrite
        do {
            try await request.multipart { event in
                switch event {
                case .partHead(let head):
                    // A plain field (or a file part whose name sanitized to nothing) is ignored.
                    guard let name = head.filename else { return }
                    guard UploadStore.acceptable(name, hidden: hidden) else { throw HTTPError(.badRequest, "bad file name") }
                    switch try await store.existing(name, in: folder) {
                    case .other: throw HTTPError(.conflict, "a folder or special file is named \(name)")
                    case .file where !overwrite: throw HTTPError(.conflict, "a file named \(name) exists")
                    case .file, .none: break
                    }
                    current = (try await store.createTemporary(in: folder), name, UploadBatch(), 0)
                case .partData(let chunk):
                    guard current != nil else { return }
                    current!.size += chunk.readableBytes
                    if current!.batch.add(chunk) {
                        let buffers = current!.batch.take()
                        try await current!.temp.write(buffers)
                    }
                case .partEnd:
                    guard var file = current else { return }
                    current = nil
                    do {
                        if !file.batch.isEmpty { try await file.temp.write(file.batch.take()) }
                        let replaced = try await file.temp.commit(as: file.name, overwrite: overwrite)
                        stored.append(Stored(name: file.name, size: file.size, replaced: replaced))
                    } catch {
                        await file.temp.discard()
                        throw error
                    }
                case .end:
                    break
                }
            }
        } catch {
            if let current { await current.temp.discard() }
            for file in stored { cache.forget((segments + [file.name]).joined(separator: "/")) }
            throw error
        }
        guard !stored.isEmpty else { throw HTTPError(.badRequest, "no file in the form") }
        for file in stored { cache.forget((segments + [file.name]).joined(separator: "/")) }
        let folderPath = urlPath(segments, folder: true)
        if ContentNegotiation.prefersJSON(request.headerFields) {
            let items = stored.map { file in
                "{\"name\":\(DirectoryListing.jsonString(file.name)),\"size\":\(file.size),\"replaced\":\(file.replaced),"
                    + "\"location\":\(DirectoryListing.jsonString(urlPath(segments + [file.name], folder: false)))}"
            }
            var fields: HTTPFields = [.contentType: "application/json"]
            if stored.count == 1 { fields[.location] = urlPath(segments + [stored[0].name], folder: false) }
            return Response(status: .created, headerFields: fields, body: .init(string: "{\"files\":[\(items.joined(separator: ","))]}\n"))
        }
        let what = stored.count == 1 ? "1 file" : "\(stored.count) files"
        return Response(
            status: .seeOther, headerFields: [.location: folderPath, .contentType: "text/plain; charset=utf-8"],
            body: .init(string: "Stored \(what) in \(folderPath)\n")
        )
    }
}

/// Body chunks gathered before one write on the thread pool (about 1 MiB): one thread hop per batch rather
/// than per chunk, and no copy (the chunks are kept as they came). Memory per upload stays bounded: the body
/// is not read on while a batch is being written.
struct UploadBatch {
    /// The bytes gathered before a write.
    static let size = 1 << 20

    private var buffers: [ByteBuffer] = []
    private var bytes = 0

    /// Whether nothing is gathered.
    var isEmpty: Bool { buffers.isEmpty }

    /// Gathers `chunk`; returns whether the batch is full.
    mutating func add(_ chunk: ByteBuffer) -> Bool {
        guard chunk.readableBytes > 0 else { return bytes >= Self.size }
        buffers.append(chunk)
        bytes += chunk.readableBytes
        return bytes >= Self.size
    }

    /// Hands out what is gathered and starts again.
    mutating func take() -> [ByteBuffer] {
        defer {
            buffers = []
            bytes = 0
        }
        return buffers
    }
}
