// form-post: POST form handling on HTTPChat.
//
//     swift run form-post --port 8070
//
// GET / serves a form (text fields and a file upload); POST /submit accepts it urlencoded or as
// multipart/form-data and answers with what it parsed, HTML-escaped: field names and values, file names and
// sizes. Files are streamed and counted, never held whole, so an upload of any size uses bounded memory; so
// does a form of many large fields: each value is shown up to 1 KiB and the page up to 64 KiB of them
// (SubmissionPage), escaped as it is read.
import ArgumentParser
import HTTPChat
import HTTPTypes
import NIOCore

#if canImport(Glibc)
import Glibc
#endif

@main
struct FormPost: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "form-post", abstract: "A form page and a POST handler for urlencoded and multipart bodies."
    )

    @Option(help: "The address to listen on.")
    var host = "127.0.0.1"

    @Option(help: "The port (0 picks a free one).")
    var port = 8070

    mutating func run() async throws {
        var configuration = ServerConfiguration(host: host, port: port)
        configuration.limits.maxBodyBytes = 1 << 30  // uploads up to 1 GiB; they stream
        let server: HTTPServer
        do {
            server = try await HTTPServer.start(configuration: configuration, responder: try FormPostApp.router().build())
        } catch {
            throw HTTPServer.explained(error, host: host, port: port)
        }
        print("form-post listening on http://\(host):\(server.port)/")
        fflush(nil)
        try await server.waitUntilClosed()
    }
}

enum FormPostApp {
    static func router() -> Router {
        let router = Router()
        router.get("/") { _ in
            Response(headerFields: [.contentType: "text/html; charset=utf-8"], body: .init(string: page))
        }
        router.post("/submit") { request in
            let type = request.headerFields[.contentType]?.lowercased() ?? ""
            var page = SubmissionPage()
            if type.hasPrefix("multipart/form-data") {
                var current: MultipartPartHead?
                var size = 0
                var preview = ByteBuffer()  // the start of a field's value: all of it the page may show
                try await request.multipart { event in
                    switch event {
                    case .partHead(let head):
                        current = head
                        size = 0
                        preview.clear()
                    case .partData(var bytes):
                        size += bytes.readableBytes
                        guard current?.filename == nil else { return }  // files are counted, never held
                        guard size <= 64 * 1024 else { throw HTTPError(.contentTooLarge, "a field over 64 KiB") }
                        let room = SubmissionPage.shownBytes - preview.readableBytes
                        if room > 0, var start = bytes.readSlice(length: min(room, bytes.readableBytes)) {
                            preview.writeBuffer(&start)
                        }
                    case .partEnd:
                        guard let head = current else { return }
                        if let filename = head.filename {
                            page.file(head.name, filename: filename, size: size)
                        } else {
                            page.field(head.name, value: String(buffer: preview), size: size)
                        }
                    case .end:
                        break
                    }
                }
            } else {
                for (name, value) in try await request.formURLEncoded() {
                    page.field(name, value: value, size: value.utf8.count)
                }
            }
            return Response(headerFields: [.contentType: "text/html; charset=utf-8"], body: ResponseBody(bytes: page.finish()))
        }
        return router
    }

    static let page = """
        <!doctype html>
        <html lang="en"><head><meta charset="utf-8"><title>HTTPChat form</title>
        <style>body{font:16px/1.5 system-ui,sans-serif;max-width:36rem;margin:2rem auto;padding:0 1rem}
        label{display:block;margin:.8rem 0 .2rem}input,textarea{width:100%;padding:.4rem}button{margin-top:1rem;padding:.5rem 1.2rem}</style>
        </head><body>
        <h1>Send a form</h1>
        <form method="post" action="/submit" enctype="multipart/form-data">
        <label for="name">Name</label><input id="name" name="name">
        <label for="message">Message</label><textarea id="message" name="message" rows="4"></textarea>
        <label for="file">File</label><input id="file" name="file" type="file">
        <button type="submit">Send</button>
        </form>
        </body></html>
        """
}

/// The answer to POST /submit, written as the form is read, in bounded memory whatever the form holds: each
/// name, value and file name is shown up to ``shownBytes`` (longer ones are cut, with their size), and once
/// ``shownTotal`` bytes have been shown the remaining parts are only counted. Text is HTML-escaped as it is
/// added, straight into the page's one buffer, so no field is held whole, escaped whole, or joined.
///
/// (A 16 MB form of 250 fields of 64 KiB each used to grow the server by 190-270 MiB: every value was kept,
/// then escaped, then joined into one string.)
struct SubmissionPage {
    /// The most bytes of one name, value or file name shown.
    static let shownBytes = 1024
    /// The most bytes of names and values shown in all.
    static let shownTotal = 64 * 1024

    private var html = ByteBuffer(string: "<!doctype html><meta charset=utf-8><title>Submitted</title><h1>Submitted</h1><ul>\n")
    private var shown = 0
    private var unshown = 0

    /// Adds a plain field: its name, and the start of its value (`size` bytes in all).
    mutating func field(_ name: String, value: String, size: Int) {
        guard room() else { return }
        html.writeString("<li>field <b>")
        show(name)
        html.writeString("</b> = ")
        let cut = show(value)
        if cut || size > value.utf8.count { html.writeString("… (\(size) bytes)") }
        html.writeString("</li>\n")
    }

    /// Adds a file part: its field name, file name and size.
    mutating func file(_ name: String, filename: String, size: Int) {
        guard room() else { return }
        html.writeString("<li>file <b>")
        show(name)
        html.writeString("</b>: ")
        show(filename)
        html.writeString(", \(size) bytes</li>\n")
    }

    /// The page, closed.
    mutating func finish() -> ByteBuffer {
        if unshown > 0 { html.writeString("<li>and \(unshown) more parts, not shown</li>\n") }
        html.writeString("</ul><p><a href=\"/\">Back</a></p>\n")
        return html
    }

    /// Whether the page still shows parts; counts the part when it does not.
    private mutating func room() -> Bool {
        if shown < Self.shownTotal { return true }
        unshown += 1
        return false
    }

    /// Writes at most `shownBytes` of `text` (whole characters), escaped.
    ///
    /// - Returns: whether `text` was cut.
    @discardableResult
    private mutating func show(_ text: String) -> Bool {
        var taken = 0
        var end = text.startIndex
        for c in text {
            let n = c.utf8.count
            if taken + n > Self.shownBytes { break }
            taken += n
            end = text.index(after: end)
        }
        html.writeString(HTMLEscaping.escape(String(text[..<end])))
        shown += taken
        return end < text.endIndex
    }
}
