import HTTPChatCore
public import NIOCore

/// A `multipart/form-data` form read whole into memory (bounded), for small forms.
public struct MultipartForm: Sendable {
    /// A file part.
    public struct File: Sendable {
        /// The part's head (field name, sanitized file name, type).
        public var head: MultipartPartHead
        /// The content.
        public var bytes: ByteBuffer
    }

    /// Plain fields, in order.
    public var fields: [(name: String, value: String)] = []
    /// File parts, in order.
    public var files: [File] = []

    /// The first value of the field `name`, compared on bytes (not by canonical equivalence, under which
    /// U+212A KELVIN SIGN would be the field `K`).
    public func field(_ name: String) -> String? { fields.first { $0.name.utf8.elementsEqual(name.utf8) }?.value }
}

extension Request {
    /// The body as `application/x-www-form-urlencoded` pairs, in order.
    ///
    /// - Parameter maxBytes: the largest body accepted (default 1 MiB).
    /// - Returns: the decoded pairs (`+` is a space; malformed pairs are skipped).
    /// - Throws: ``HTTPError`` 415 for another content type, 413 for a larger body.
    public func formURLEncoded(upTo maxBytes: Int = 1 << 20) async throws -> [(name: String, value: String)] {
        let type = headerFields[.contentType].map { Substring($0).split(separator: ";").first?.trimmingOWS().lowercased() ?? "" }
        guard type == "application/x-www-form-urlencoded" else {
            throw HTTPError(.unsupportedMediaType, "expected application/x-www-form-urlencoded")
        }
        let body = try await self.body.collect(upTo: maxBytes)
        return FormURLEncoded.parse(String(buffer: body))
    }

    /// Streams a `multipart/form-data` body through `handle`, part by part, as it arrives: a file of any size
    /// passes through in bounded memory, and the connection reads no faster than `handle` returns.
    ///
    /// ```swift
    /// try await request.multipart { event in
    ///     switch event {
    ///     case .partHead(let head): open(head.filename)
    ///     case .partData(let bytes): try await write(bytes)
    ///     case .partEnd, .end: break
    ///     }
    /// }
    /// ```
    /// - Parameters:
    ///   - limits: part count and header bounds.
    ///   - handle: called with each event, in order.
    /// - Throws: ``HTTPError`` 415 for another content type, 400 for a malformed body, 413 past a limit; what
    ///   `handle` throws.
    public func multipart(limits: MultipartLimits = MultipartLimits(), _ handle: (MultipartEvent) async throws -> Void) async throws {
        guard let type = headerFields[.contentType], type.lowercased().hasPrefix("multipart/form-data") else {
            throw HTTPError(.unsupportedMediaType, "expected multipart/form-data")
        }
        var parser: MultipartParser
        do {
            parser = try MultipartParser(contentType: type, limits: limits)
        } catch {
            throw HTTPError(.badRequest, "multipart/form-data without a valid boundary")
        }
        do {
            for try await chunk in body {
                parser.append(chunk)
                while let event = try parser.next() { try await handle(event) }
            }
            try parser.finish()
        } catch let error as MultipartError {
            switch error {
            case .malformed: throw HTTPError(.badRequest, "malformed multipart/form-data body")
            case .tooLarge: throw HTTPError(.contentTooLarge, "multipart/form-data body over a limit")
            }
        }
    }

    /// Reads a whole `multipart/form-data` body into memory, within bounds.
    ///
    /// - Parameters:
    ///   - maxFieldBytes: the largest plain field value (default 64 KiB).
    ///   - maxFileBytes: the largest file part (default 8 MiB).
    ///   - limits: part count and header bounds.
    /// - Returns: the fields and files.
    /// - Throws: ``HTTPError`` 413 past a bound, 400 for a malformed body, 415 for another type.
    public func multipartForm(
        maxFieldBytes: Int = 64 * 1024,
        maxFileBytes: Int = 8 << 20,
        limits: MultipartLimits = MultipartLimits()
    ) async throws -> MultipartForm {
        var form = MultipartForm()
        var head: MultipartPartHead?
        var bytes = ByteBuffer()
        try await multipart(limits: limits) { event in
            switch event {
            case .partHead(let h):
                head = h
                bytes.clear()
            case .partData(var chunk):
                let limit = head?.filename == nil ? maxFieldBytes : maxFileBytes
                guard bytes.readableBytes + chunk.readableBytes <= limit else {
                    throw HTTPError(.contentTooLarge, "form part \(head?.name ?? "") over \(limit) bytes")
                }
                bytes.writeBuffer(&chunk)
            case .partEnd:
                guard let h = head else { return }
                if h.filename == nil {
                    form.fields.append((h.name, String(buffer: bytes)))
                } else {
                    form.files.append(MultipartForm.File(head: h, bytes: bytes))
                }
                head = nil
                bytes = ByteBuffer()
            case .end:
                break
            }
        }
        return form
    }
}
