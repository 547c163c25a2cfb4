// form-post: POST form handling on HTTPChat.
//
//     swift run form-post --port 8070
//
// GET / serves a form (text fields and a file upload); POST /submit accepts it urlencoded or as
// multipart/form-data and answers with what it parsed, HTML-escaped: field names and values, file names and
// sizes. Files are streamed and counted, never held whole, so an upload of any size uses bounded memory.
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
        let server = try await HTTPServer.start(configuration: configuration, responder: try FormPostApp.router().build())
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
            var rows: [String] = []
            if type.hasPrefix("multipart/form-data") {
                var current: MultipartPartHead?
                var size = 0
                var value = ByteBuffer()
                try await request.multipart { event in
                    switch event {
                    case .partHead(let head):
                        current = head
                        size = 0
                        value.clear()
                    case .partData(var bytes):
                        size += bytes.readableBytes
                        if current?.filename == nil {
                            guard value.readableBytes + bytes.readableBytes <= 64 * 1024 else {
                                throw HTTPError(.contentTooLarge, "a field over 64 KiB")
                            }
                            value.writeBuffer(&bytes)
                        }
                    case .partEnd:
                        guard let head = current else { return }
                        if let filename = head.filename {
                            rows.append("<li>file <b>\(HTMLEscaping.escape(head.name))</b>: \(HTMLEscaping.escape(filename)), \(size) bytes</li>")
                        } else {
                            rows.append("<li>field <b>\(HTMLEscaping.escape(head.name))</b> = \(HTMLEscaping.escape(String(buffer: value)))</li>")
                        }
                    case .end:
                        break
                    }
                }
            } else {
                for (name, value) in try await request.formURLEncoded() {
                    rows.append("<li>field <b>\(HTMLEscaping.escape(name))</b> = \(HTMLEscaping.escape(value))</li>")
                }
            }
            let html = "<!doctype html><meta charset=utf-8><title>Submitted</title><h1>Submitted</h1><ul>\n"
                + rows.joined(separator: "\n") + "\n</ul><p><a href=\"/\">Back</a></p>\n"
            return Response(headerFields: [.contentType: "text/html; charset=utf-8"], body: .init(string: html))
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
