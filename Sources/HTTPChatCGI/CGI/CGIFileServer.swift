public import HTTPChatServer
public import Logging

/// A folder served as a site whose `cgi-bin` folder holds CGI scripts (what `httpserve --cgi` runs): each
/// request goes to the scripts or to the files by one decision on its canonical path
/// (``/HTTPChatServer/Request/pathSegments``), and the file server never serves nor lists anything inside the scripts'
/// folder, however a path is spelled (`//cgi-bin/x`, `/./cgi-bin/x`, `/%63gi-bin/x`) and whatever links
/// lead there. A script's local redirect (`Location: /path`, RFC 3875 §6.2.2) is answered by this responder,
/// so a redirect to another script runs it.
///
/// ```swift
/// let site = try CGIFileServer(root: "./site")  // scripts in ./site/cgi-bin, at /cgi-bin/NAME
/// let server = try await HTTPServer.start(configuration: config, responder: site)
/// ```
public struct CGIFileServer: ImmediateHTTPResponder {
    /// The files, with the scripts' folder excluded.
    public let files: FileServer
    /// The scripts.
    public let scripts: CGIResponder

    /// Creates the site.
    ///
    /// - Parameters:
    ///   - root: the folder to serve.
    ///   - fileOptions: the file server's options; the scripts' folder is added to its
    ///     ``/HTTPChatServer/FileServerOptions/excludedFolders``.
    ///   - cgiOptions: the scripts' options; the folder is `root` + ``CGIOptions/urlPrefix``, and
    ///     ``CGIOptions/documentRoot`` defaults to `root`.
    ///   - logger: where script errors go.
    /// - Throws: ``/HTTPChatServer/FileServerError/rootNotADirectory(_:)`` when `root` or its scripts' folder is not a folder;
    ///   ``CGIConfigurationError`` for a bad prefix.
    public init(
        root: String, fileOptions: FileServerOptions = FileServerOptions(), cgiOptions: CGIOptions = CGIOptions(),
        logger: Logger = Logger(label: "httpchat.cgi")
    ) throws {
        // The folder, relative to the root: the file server resolves it (and the root) once.
        let folder = try CGIResponder.prefixSegments(cgiOptions.urlPrefix).joined(separator: "/")
        var fileOptions = fileOptions
        fileOptions.excludedFolders.append(folder)
        let files = try FileServer(root: root, options: fileOptions)
        var cgiOptions = cgiOptions
        if cgiOptions.documentRoot == nil { cgiOptions.documentRoot = files.root }
        self.files = files
        self.scripts = try CGIResponder(directory: files.root + "/" + folder, options: cgiOptions, local: nil, logger: logger)
    }

    /// Whether the request names something under the scripts' prefix (nil when its path is malformed).
    private func isScript(_ request: Request) throws -> ArraySlice<String>? {
        let segments = try request.pathSegments
        guard segments.starts(with: scripts.prefixSegments) else { return nil }
        return segments.dropFirst(scripts.prefixSegments.count)
    }

    /// Answers file requests from the file server's cache on the event loop; scripts always run in a task.
    ///
    /// - Parameter request: the request.
    /// - Returns: the response, or nil to be answered by ``respond(to:)``.
    /// - Throws: ``/HTTPChatServer/HTTPError`` as ``/HTTPChatServer/FileServer/respondImmediately(to:)``.
    public func respondImmediately(to request: Request) throws -> Response? {
        if try isScript(request) != nil { return nil }
        return try files.respondImmediately(to: request)
    }

    /// Runs the script, or serves the file, the request names.
    ///
    /// - Parameter request: the request.
    /// - Returns: the script's or the file server's response.
    /// - Throws: ``/HTTPChatServer/HTTPError`` as ``CGIResponder/respond(to:)`` and ``/HTTPChatServer/FileServer/respond(to:)``; 404 for the
    ///   prefix alone (`/cgi-bin/`).
    public func respond(to request: Request) async throws -> Response {
        if let script = try isScript(request) {
            return try await scripts.run(request, script: script, local: self)
        }
        return try await files.respond(to: request)
    }
}
