import HTTPTypes
import NIOCore
import Testing

@testable import HTTPChatCGI
@testable import HTTPChatCore
@testable import HTTPChatServer

/// A parsed head as comparable text: `status code reason`, `location value`, then each field `name: value`.
private func summary(_ head: CGIHead) -> [String] {
    var out: [String] = []
    if let status = head.status { out.append("status \(status.code) \(status.reasonPhrase)") }
    if let location = head.location { out.append("location \(location)") }
    for field in head.fields { out.append("\(field.name.canonicalName): \(field.value)") }
    return out
}

/// What parsing `text` whole gives: the summary and the body left in the buffer, nil (not ended yet), or the
/// refusal.
enum CGIHeadOutcome: Equatable, CustomStringConvertible {
    case head([String], rest: String)
    case incomplete
    case refused

    init(_ text: String, limit: Int = 64 * 1024) {
        var buffer = ByteBuffer(string: text)
        self.init(&buffer, limit: limit)
    }

    init(_ buffer: inout ByteBuffer, limit: Int) {
        do {
            if let head = try CGIRun.parseHead(&buffer, limit: limit) {
                self = .head(summary(head), rest: String(buffer: buffer))
            } else {
                self = .incomplete
            }
        } catch CGIRun.Failure.badHead {
            self = .refused
        } catch {
            self = .refused
            Issue.record("unexpected error \(error)")
        }
    }

    var description: String {
        switch self {
        case .head(let lines, let rest): "head \(lines), rest \(rest.debugDescription)"
        case .incomplete: "incomplete"
        case .refused: "refused"
        }
    }
}

@Suite("CGI response head parsing")
struct CGIHeadParsingTests {
    static let heads: [(String, String, CGIHeadOutcome)] = [
        // Line ends: LF, CRLF, and the two mixed at the blank line.
        ("LF", "Content-Type: text/plain\n\nbody", .head(["content-type: text/plain"], rest: "body")),
        ("CRLF", "Content-Type: text/plain\r\n\r\nbody", .head(["content-type: text/plain"], rest: "body")),
        ("CRLF then LF", "Content-Type: a\r\n\nbody", .head(["content-type: a"], rest: "body")),
        ("LF then CRLF", "Content-Type: a\n\r\nbody", .head(["content-type: a"], rest: "body")),
        ("mixed lines", "A: 1\r\nB: 2\nC: 3\r\n\r\n", .head(["a: 1", "b: 2", "c: 3"], rest: "")),
        ("the body keeps its blank lines", "A: 1\n\n\n\nx\r\n\r\n", .head(["a: 1"], rest: "\n\nx\r\n\r\n")),
        // Status (RFC 3875 §6.3.3): a final code, three digits, then a space and a reason or nothing.
        ("status with reason", "Status: 404 Not Here\n\n", .head(["status 404 Not Here"], rest: "")),
        ("status name in any case", "STATUS: 200 Fine\n\n", .head(["status 200 Fine"], rest: "")),
        ("status 599", "Status: 599 Edge\n\n", .head(["status 599 Edge"], rest: "")),
        ("a bare status takes the standard reason", "Status: 201\n\n", .head(["status 201 Created"], rest: "")),
        ("a bare status with spaces after it", "Status: 503   \n\n", .head(["status 503 Service Unavailable"], rest: "")),
        ("a bare status without a standard reason", "Status: 299\n\n", .head(["status 299 "], rest: "")),
        ("a blank line only: no CGI field (RFC 3875 §6.2)", "\n\nbody", .refused),
        ("a CRLF blank line only", "\r\nbody", .incomplete),
        ("status 1xx", "Status: 100 Continue\n\n", .refused),
        ("status 101", "Status: 101 Switching Protocols\n\n", .refused),
        ("status 199", "Status: 199\n\n", .refused),
        ("status 600", "Status: 600 Beyond\n\n", .refused),
        ("status 099", "Status: 099\n\n", .refused),
        ("status of two digits", "Status: 20 OK\n\n", .refused),
        ("status of four digits", "Status: 2000\n\n", .refused),
        ("status glued to its reason", "Status: 200OK\n\n", .refused),
        ("status with a tab before the reason", "Status: 200\tOK\n\n", .refused),
        ("status not a number", "Status: abc\n\n", .refused),
        ("status empty", "Status:\n\n", .refused),
        ("status of non-ASCII digits", "Status: \u{0662}\u{0660}\u{0660}\n\n", .refused),
        ("status of fullwidth digits", "Status: \u{FF12}\u{FF10}\u{FF10}\n\n", .refused),
        ("status with a sign", "Status: +20 OK\n\n", .refused),
        // Location (RFC 3875 §6.3.2): kept apart from the fields, local or absolute alike.
        ("local location", "Location: /other?x=1\n\n", .head(["location /other?x=1"], rest: "")),
        ("absolute location", "Location: https://example.com/a\n\n", .head(["location https://example.com/a"], rest: "")),
        ("location with status", "Status: 301 Moved\nLocation: /new\n\n", .head(["status 301 Moved", "location /new"], rest: "")),
        // Fields: names checked, values trimmed, duplicates kept in order.
        ("content type", "Content-Type: text/html; charset=utf-8\n\n", .head(["content-type: text/html; charset=utf-8"], rest: "")),
        ("value trimmed", "X-A: \t  v  \t\n\n", .head(["x-a: v"], rest: "")),
        ("empty value", "X-Empty:\n\n", .head(["x-empty: "], rest: "")),
        ("space before the colon is trimmed", "X-A : v\n\n", .head(["x-a: v"], rest: "")),
        ("colon in the value", "X-Time: 12:30:00\n\n", .head(["x-time: 12:30:00"], rest: "")),
        ("duplicate fields kept in order", "Set-Cookie: a=1\nSet-Cookie: b=2\n\n", .head(["set-cookie: a=1", "set-cookie: b=2"], rest: "")),
        ("duplicate status: the last one", "Status: 404\nStatus: 410 Gone\n\n", .head(["status 410 Gone"], rest: "")),
        ("duplicate location: the last one", "Location: /a\nLocation: /b\n\n", .head(["location /b"], rest: "")),
        ("a CR inside a value becomes a space", "X-A: a\rb\n\n", .head(["x-a: a b"], rest: "")),
        ("no colon", "Content-Type text/plain\n\n", .refused),
        ("empty name", ": v\n\n", .refused),
        ("space in the name", "Bad Name: v\n\n", .refused),
        ("folded line", "X-A: a\n b\n\n", .refused),
        ("control byte in the name", "X\u{01}A: v\n\n", .refused),
        // Not ended yet.
        ("nothing", "", .incomplete),
        ("one line", "Content-Type: text/plain\n", .incomplete),
        ("CRLF line, no blank line", "Content-Type: text/plain\r\n", .incomplete),
        ("CR of the blank line only", "Content-Type: text/plain\r\n\r", .incomplete),
        ("a lone CR is no line end", "A: 1\r\rB: 2\r\r", .incomplete),
    ]

    @Test("a script's head: status, location, fields, line ends", arguments: heads)
    func parses(_ name: String, _ text: String, _ want: CGIHeadOutcome) {
        let got = CGIHeadOutcome(text)
        #expect(got == want, "\(name): got \(got), want \(want)")
    }

    @Test("a head that has not ended is refused once it is over the limit, not before", arguments: [
        (String(repeating: "x", count: 100), 100, CGIHeadOutcome.incomplete),
        (String(repeating: "x", count: 101), 100, CGIHeadOutcome.refused),
        ("X-Long: " + String(repeating: "v", count: 200) + "\n", 100, CGIHeadOutcome.refused),
        ("X-Long: " + String(repeating: "v", count: 50) + "\n", 100, CGIHeadOutcome.incomplete),
        // Ended within one read: the same bound (it was checked only while the head had not ended).
        ("X-Long: " + String(repeating: "v", count: 200) + "\n\nbody", 100, CGIHeadOutcome.refused),
        ("X-Long: " + String(repeating: "v", count: 90) + "\n\nbody", 100, CGIHeadOutcome.head(["x-long: " + String(repeating: "v", count: 90)], rest: "body")),
        ("X-Long: " + String(repeating: "v", count: 91) + "\n\nbody", 100, CGIHeadOutcome.refused),
    ])
    func limit(_ text: String, _ limit: Int, _ want: CGIHeadOutcome) {
        let got = CGIHeadOutcome(text, limit: limit)
        #expect(got == want, "\(text.count) bytes, limit \(limit): got \(got), want \(want)")
    }

    /// Valid heads, each with a body, fed as the pipe might deliver them.
    static let valid: [String] = [
        "Content-Type: text/plain\n\nhello",
        "Status: 302 Found\r\nLocation: https://example.com/\r\nX-A: 1\r\n\r\nbody\r\n",
        "Set-Cookie: a=1\nSet-Cookie: b=2\r\nStatus: 201\n\r\n",
        "Location: /local\n\n",
    ]

    @Test("a head fed a byte at a time is not ready until its blank line, then parses as when whole", arguments: valid)
    func everySplitPoint(_ text: String) {
        let whole = CGIHeadOutcome(text)
        guard case .head(let lines, _) = whole else {
            Issue.record("\(text.debugDescription) is not a valid head: \(whole)")
            return
        }
        let bytes = Array(text.utf8)
        // As in CGIRun.head: the buffer grows by each read and is parsed after each.
        var buffer = ByteBuffer()
        var parsed: [String]?
        var readyAt: Int?
        for (i, byte) in bytes.enumerated() {
            buffer.writeInteger(byte)
            if parsed == nil {
                let got = CGIHeadOutcome(&buffer, limit: 64 * 1024)
                switch got {
                case .incomplete: continue
                case .head(let l, _):
                    parsed = l
                    readyAt = i
                case .refused:
                    Issue.record("\(text.debugDescription) refused after \(i + 1) bytes")
                    return
                }
            }
        }
        #expect(parsed == lines, "\(text.debugDescription): byte by byte got \(String(describing: parsed)), want \(lines)")
        // Ready exactly at the last byte of the blank line: the body's first byte follows it.
        let body = String(buffer: buffer)
        #expect(Array(text.utf8.suffix(body.utf8.count)) == Array(body.utf8), "\(text.debugDescription): body \(body.debugDescription)")
        #expect(readyAt.map { bytes.count - $0 - 1 } == body.utf8.count, "\(text.debugDescription): ready after \(String(describing: readyAt.map { $0 + 1 })) bytes")
    }

    @Test("every split into two reads gives the same head and the same body", arguments: valid)
    func everyTwoReadSplit(_ text: String) {
        let whole = CGIHeadOutcome(text)
        for reads in splits(of: Array(text.utf8), pairsUpTo: 0) {
            var buffer = ByteBuffer()
            var got = CGIHeadOutcome.incomplete
            for var read in reads {
                buffer.writeBuffer(&read)
                if got == .incomplete { got = CGIHeadOutcome(&buffer, limit: 64 * 1024) }
            }
            if case .head(let lines, _) = got { got = .head(lines, rest: String(buffer: buffer)) }
            #expect(got == whole, "\(reads.map { String(buffer: $0) }): got \(got), want \(whole)")
        }
    }

    @Test("a script's standard error is logged per LF byte: CR LF, a bare CR and controls never reach the log")
    func stderrLogLines() {
        let chunk = ByteBuffer(string: "warning: user sent x\r\n2026-12-08T00:00:00 critical: forged\nbare\rcarriage\u{1B}[31m\n\n\tindented\u{85}\n")
        let lines = CGIRun.logLines(chunk)
        #expect(lines == ["warning: user sent x", "2026-12-08T00:00:00 critical: forged", "bare\\u{D}carriage\\u{1B}[31m", "\tindented\\u{85}"], "got \(lines)")
        #expect(lines.allSatisfy { !$0.unicodeScalars.contains { $0.value < 0x20 && $0 != "\t" } })
    }
}
