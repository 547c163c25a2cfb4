import Foundation
import HTTPTypes
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import TestSupport
import Testing

@testable import HTTPChatCore
@testable import HTTPChatServer
@testable import HTTPChatTesting

/// The event-stream parser of WHATWG HTML §9.2.6 ("Interpreting an event stream"), as a browser runs it: what a
/// page would see of the bytes the server sent.
struct EventStreamParser {
    struct Dispatched: Equatable, CustomStringConvertible {
        var type: String
        var data: String
        var lastEventID: String
        var description: String { "\(type)(\(data.debugDescription), id \(lastEventID.debugDescription))" }
    }

    var events: [Dispatched] = []
    var comments: [String] = []
    var retry: Int?
    private var data = ""
    private var type = ""
    private var lastID = ""

    mutating func feed(_ text: String) {
        // Lines end at CRLF, LF or CR.
        var line = ""
        var afterCR = false
        for scalar in text.unicodeScalars {
            if scalar == "\r" {
                process(line)
                line = ""
                afterCR = true
            } else if scalar == "\n" {
                if !afterCR { process(line); line = "" }
                afterCR = false
            } else {
                line.unicodeScalars.append(scalar)
                afterCR = false
            }
        }
    }

    private mutating func process(_ line: String) {
        if line.isEmpty {
            defer { data = ""; type = "" }
            guard !data.isEmpty else { return }
            if data.hasSuffix("\n") { data.removeLast() }
            events.append(Dispatched(type: type.isEmpty ? "message" : type, data: data, lastEventID: lastID))
            return
        }
        if line.hasPrefix(":") {
            comments.append(String(line.dropFirst()))
            return
        }
        var name = line
        var value = ""
        if let colon = line.firstIndex(of: ":") {
            name = String(line[..<colon])
            value = String(line[line.index(after: colon)...])
            if value.hasPrefix(" ") { value.removeFirst() }
        }
        switch name {
        case "event": type = value
        case "data": data += value + "\n"
        case "id": if !value.contains("\0") { lastID = value }
        case "retry": if let n = Int(value), value.allSatisfy(\.isASCII) { retry = n }
        default: break
        }
    }
}

/// A body sink that keeps what is written and can be told to fail, as a closed connection does.
final class RecordingSink: BodySink {
    private let state = NIOLockedValueBox<(text: String, failing: Bool)>(("", false))
    var text: String { state.withLockedValue { $0.text } }
    func failFromNowOn() { state.withLockedValue { $0.failing = true } }
    func write(_ bytes: ByteBuffer) async throws {
        try state.withLockedValue {
            if $0.failing { throw BodyWriterError.connectionClosed }
            $0.text += String(buffer: bytes)
        }
    }
}

/// Runs an event stream body into a sink; returns the sink, and whether the body ended by throwing.
private func run(_ body: ResponseBody, into sink: RecordingSink = RecordingSink()) async -> (RecordingSink, (any Error)?) {
    guard case .stream(_, let write) = body.storage else {
        Issue.record("not a stream body")
        return (sink, nil)
    }
    do {
        try await write(BodyWriter(sink))
        return (sink, nil)
    } catch {
        return (sink, error)
    }
}

/// Polls until `condition` holds, up to 5 s.
private func eventually(_ condition: () async throws -> Bool) async rethrows -> Bool {
    for _ in 0..<500 {
        if try await condition() { return true }
        try? await Task.sleep(for: .milliseconds(10))
    }
    return try await condition()
}

/// A gate a test opens: handlers wait on it so the test can see what arrived before they finish.
final class Gate: Sendable {
    private let state = NIOLockedValueBox<(open: Bool, waiters: [CheckedContinuation<Void, Never>])>((false, []))
    func open() {
        let waiters = state.withLockedValue { s in
            s.open = true
            defer { s.waiters = [] }
            return s.waiters
        }
        for w in waiters { w.resume() }
    }
    func wait() async {
        await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
            let now = state.withLockedValue { s in
                if s.open { return true }
                s.waiters.append(c)
                return false
            }
            if now { c.resume() }
        }
    }
}

@Suite("Server-sent events")
struct ServerSentEventTests {
    // MARK: - Encoding

    @Test("fields are encoded one per line, data split at CR, LF and CRLF, a blank line after", arguments: [
        (ServerSentEvent(data: "hello"), "data: hello\n\n"),
        (ServerSentEvent(data: "a\nb"), "data: a\ndata: b\n\n"),
        (ServerSentEvent(data: "a\r\nb\rc"), "data: a\ndata: b\ndata: c\n\n"),
        (ServerSentEvent(data: "a\r\rb"), "data: a\ndata: \ndata: b\n\n"),
        (ServerSentEvent(data: "ends\n"), "data: ends\ndata: \n\n"),
        (ServerSentEvent(data: ""), "data: \n\n"),
        (ServerSentEvent(data: " spaced: yes"), "data:  spaced: yes\n\n"),
        (ServerSentEvent(data: "x", event: "update", id: "7"), "id: 7\nevent: update\ndata: x\n\n"),
        (ServerSentEvent(id: ""), "id: \n\n"),
        (ServerSentEvent(retry: .milliseconds(2500)), "retry: 2500\n\n"),
        (ServerSentEvent(retry: .seconds(3) + .microseconds(999)), "retry: 3000\n\n"),
        (ServerSentEvent(data: "é ✓ 🎉"), "data: é ✓ 🎉\n\n"),
    ])
    func encoding(event: ServerSentEvent, want: String) throws {
        #expect(try event.encoded() == want)
    }

    @Test("what a browser's parser reads back is the data sent, every line break an LF", arguments: [
        "plain", "two\nlines", "crlf\r\nlines", "cr\ronly", "trailing\n", "\nleading", "", "a\n\nb", "data: fake\n\nevent: x",
        ": not a comment", "id: 99",
    ])
    func roundTrip(data: String) throws {
        var parser = EventStreamParser()
        parser.feed(try ServerSentEvent(data: data, event: "e", id: "1").encoded())
        let want = data.replacingOccurrences(of: "\r\n", with: "\n").replacingOccurrences(of: "\r", with: "\n")
        #expect(parser.events == [.init(type: "e", data: want, lastEventID: "1")], "data \(data.debugDescription)")
    }

    @Test("an event name or id holding CR, LF or NUL is refused, so no field or event can be injected", arguments: [
        "x\ndata: injected", "x\r", "x\r\nid: 1", "x\0", "\n",
    ])
    func refusedFields(bad: String) async throws {
        #expect(throws: ServerSentEventError.invalidEventName(bad)) { try ServerSentEvent(data: "d", event: bad).encoded() }
        #expect(throws: ServerSentEventError.invalidID(bad)) { try ServerSentEvent(data: "d", id: bad).encoded() }
        // Through the writer: the refused event throws and nothing of it is written.
        let (sink, error) = await run(.eventStream(heartbeat: nil) { events in
            try await events.send(ServerSentEvent(data: "before"))
            try await events.send(ServerSentEvent(data: "d", event: bad))
        })
        #expect(error as? ServerSentEventError == .invalidEventName(bad))
        #expect(sink.text == "data: before\n\n")
    }

    @Test("a negative retry is refused")
    func negativeRetry() {
        #expect(throws: ServerSentEventError.negativeRetry(.milliseconds(-1))) { try ServerSentEvent(retry: .milliseconds(-1)).encoded() }
    }

    @Test("a retry reaches the parser as milliseconds, and comments are ignored lines")
    func retryAndComments() async throws {
        let (sink, error) = await run(.eventStream(heartbeat: nil) { events in
            try await events.send(ServerSentEvent(retry: .seconds(2)))
            try await events.comment("two\nlines")
            try await events.send(ServerSentEvent(data: "after"))
        })
        #expect(error == nil)
        #expect(sink.text == "retry: 2000\n\n: two\n: lines\ndata: after\n\n")
        var parser = EventStreamParser()
        parser.feed(sink.text)
        #expect(parser.retry == 2000)
        #expect(parser.comments == [" two", " lines"])
        #expect(parser.events.map(\.data) == ["after"])
    }

    // MARK: - Heartbeat

    @Test("an idle stream gets heartbeat comments at the interval; a busy one gets none")
    func heartbeat() async throws {
        let interval = Duration.milliseconds(40)
        let sink = RecordingSink()
        let idleFor = NIOLockedValueBox(Duration.zero)
        let (idle, _) = await run(.eventStream(heartbeat: interval) { events in
            try await events.send(ServerSentEvent(data: "first"))
            let start = ContinuousClock.now
            // Idle until three heartbeats went out (however slow the machine is), then one more event.
            #expect(await eventually { sink.text.components(separatedBy: ": heartbeat\n").count - 1 >= 3 })
            idleFor.withLockedValue { $0 = ContinuousClock.now - start }
            try await events.send(ServerSentEvent(data: "last"))
        }, into: sink)
        let beats = idle.text.components(separatedBy: ": heartbeat\n").count - 1
        let most = Int(idleFor.withLockedValue { $0 } / interval) + 1
        #expect(beats >= 3 && beats <= most, "\(beats) heartbeats in \(idleFor.withLockedValue { $0 }) at \(interval)")
        #expect(idle.text.hasPrefix("data: first\n\n: heartbeat\n") && idle.text.hasSuffix(": heartbeat\ndata: last\n\n"), "\(idle.text.debugDescription)")

        // Busy: no gap between two sends reaches the interval, so no heartbeat is due. The gaps are measured,
        // so a loaded machine that stretches one is allowed the heartbeats it made due.
        let busyInterval = Duration.milliseconds(200)
        let times = NIOLockedValueBox<[ContinuousClock.Instant]>([])
        let (busy, _) = await run(.eventStream(heartbeat: busyInterval) { events in
            for i in 0..<40 {
                try await events.send(ServerSentEvent(data: "\(i)"))
                times.withLockedValue { $0.append(.now) }
                try await Task.sleep(for: .milliseconds(10))
            }
        })
        let stamps = times.withLockedValue { $0 }
        let due = zip(stamps, stamps.dropFirst()).reduce(0) { $0 + Int(($1.1 - $1.0) / busyInterval) }
        let busyBeats = busy.text.components(separatedBy: ": heartbeat\n").count - 1
        #expect(busyBeats <= due, "\(busyBeats) heartbeats on a stream sending every 10 ms (\(due) made due by long gaps)")
    }

    @Test("a heartbeat that finds the client gone ends the stream and cancels the waiting handler")
    func heartbeatNoticesClosedClient() async throws {
        let sink = RecordingSink()
        let cancelled = NIOLockedValueBox(false)
        let started = ContinuousClock.now
        let task = Task {
            await run(.eventStream(heartbeat: .milliseconds(30)) { events in
                try await events.send(ServerSentEvent(data: "hello"))
                do {
                    try await Task.sleep(for: .seconds(3600))  // waits for news that never comes
                } catch {
                    cancelled.withLockedValue { $0 = true }
                    throw error
                }
            }, into: sink)
        }
        #expect(await eventually { sink.text.contains("hello") })
        sink.failFromNowOn()
        let (_, error) = await task.value
        #expect(error as? BodyWriterError == .connectionClosed)
        #expect(cancelled.withLockedValue { $0 }, "the handler was not cancelled")
        #expect(ContinuousClock.now - started < .seconds(60))
    }

    @Test("sends from several tasks are written whole, one at a time")
    func concurrentSends() async throws {
        let (sink, error) = await run(.eventStream(heartbeat: .milliseconds(1)) { events in
            try await withThrowingTaskGroup(of: Void.self) { group in
                for t in 0..<8 {
                    group.addTask {
                        for i in 0..<50 { try await events.send(ServerSentEvent(data: "\(t)-\(i)\nsecond line", event: "t\(t)")) }
                    }
                }
                try await group.waitForAll()
            }
        })
        #expect(error == nil)
        var parser = EventStreamParser()
        parser.feed(sink.text)
        #expect(parser.events.count == 400)
        #expect(parser.events.allSatisfy { $0.data.hasSuffix("\nsecond line") && $0.data.hasPrefix($0.type.dropFirst() + "-") })
    }

    // MARK: - Backpressure

    @Test("a client that does not read suspends the handler's sends: the queue stays bounded")
    func slowReaderSuspendsSender() async throws {
        let bridge = StreamBridge(highWaterMark: 64 * 1024, lowWaterMark: 16 * 1024)
        let sent = NIOLockedValueBox(0)
        guard case .stream(_, let write) = ResponseBody.eventStream(heartbeat: nil, { events in
            for _ in 0..<2000 {
                try await events.send(ServerSentEvent(data: String(repeating: "x", count: 1000)))
                sent.withLockedValue { $0 += 1 }
            }
        }).storage else { return }
        let task = Task {
            try await write(BodyWriter(bridge))
            bridge.finish()
        }
        #expect(await eventually { sent.withLockedValue { $0 } >= 60 })
        try await Task.sleep(for: .milliseconds(200))
        let stalled = sent.withLockedValue { $0 }
        #expect(stalled <= 70, "\(stalled) KiB-events sent with nobody reading: the bridge holds 64 KiB")
        // Pulling lets it go on.
        var producer = StreamBridgeProducer(bridge: bridge)
        let pull = DetachedProducerPull(
            allocator: ByteBufferAllocator(), eventLoop: MultiThreadedEventLoopGroup.singleton.any(), preferredChunkSize: 65536
        )
        var bytes = 0
        pulling: while true {
            switch producer.more(pull.context) {
            case .bytes(let b): bytes += b.readableBytes
            case .park: await pull.parked()
            case .end: break pulling
            default: Issue.record("unexpected output"); break pulling
            }
        }
        try await task.value
        #expect(bytes == 2000 * "data: \(String(repeating: "x", count: 1000))\n\n".utf8.count)
    }

    // MARK: - Through a connection

    private func site(gate: Gate) throws -> any HTTPResponder {
        let router = Router()
        router.get("/events") { request in
            Response.eventStream(heartbeat: nil) { events in
                try await events.send(ServerSentEvent(data: "resumed after \(request.lastEventID ?? "nothing")", event: "hello", id: "1"))
                await gate.wait()
                try await events.send(ServerSentEvent(data: "bye", id: "2"))
            }
        }
        router.get("/after") { _ in Response.text("after") }
        return try router.build()
    }

    @Test("in-process: the first event arrives before the handler finishes, chunked, with no-cache; Last-Event-ID reaches the handler")
    func inProcess() async throws {
        let gate = Gate()
        let connection = try await InProcessConnection(responder: try site(gate: gate))
        try await connection.send("GET /events HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\nLast-Event-ID: 41\r\n\r\n")
        #expect(try await eventually { try await connection.pendingOutput().contains("resumed after 41") })
        let early = try await connection.pendingOutput()
        #expect(early.contains("Content-Type: text/event-stream\r\n"), "\(early)")
        #expect(early.contains("Cache-Control: no-cache\r\n"), "\(early)")
        #expect(early.contains("Transfer-Encoding: chunked\r\n"), "\(early)")
        #expect(!early.contains("bye"))
        gate.open()
        let response = try #require(try await connection.readResponse())
        var parser = EventStreamParser()
        parser.feed(response.text)
        #expect(parser.events == [
            .init(type: "hello", data: "resumed after 41", lastEventID: "1"), .init(type: "message", data: "bye", lastEventID: "2"),
        ])
        // Keep-alive: the connection carries the next request.
        try await connection.send("GET /after HTTP/1.1\r\nHost: x\r\n\r\n")
        #expect(try await connection.readResponse()?.text == "after")
    }

    @Test("over a socket in HTTP/1.1 (chunked) and HTTP/1.0 (until close): events arrive before the handler finishes",
          arguments: ["1.1", "1.0"])
    func overSocket(version: String) async throws {
        let gate = Gate()
        var configuration = ServerConfiguration(host: "127.0.0.1", port: 0)
        configuration.threads = 1
        let server = try await HTTPServer.start(configuration: configuration, responder: try site(gate: gate))
        let socket = try TestSocket(port: server.port)
        try socket.send("GET /events HTTP/\(version)\r\nHost: x\r\nLast-Event-ID: 9\r\n\r\n")
        var seen = ""
        while !seen.contains("resumed after 9\n") {
            let line = try await blocking { try socket.readLine() }
            seen += line + "\n"
        }
        #expect(seen.contains(version == "1.1" ? "Transfer-Encoding: chunked" : "Connection: close"), "\(seen)")
        gate.open()
        let rest = String(decoding: try await blocking { version == "1.1" ? try Self.readUntilLastChunk(socket) : try socket.readToEnd() }, as: UTF8.self)
        #expect(rest.contains("id: 2\ndata: bye\n\n"), "\(rest.debugDescription)")
        socket.close()
        await server.shutdown(gracePeriod: .seconds(1))
    }

    private static func readUntilLastChunk(_ socket: TestSocket) throws -> [UInt8] {
        var out: [UInt8] = []
        while !out.suffix(5).elementsEqual(Array("0\r\n\r\n".utf8)) { out += try socket.readSome(max: 4096) }
        return out
    }

    @Test("curl -N reads the events as they are sent and passes Last-Event-ID")
    func curl() async throws {
        let gate = Gate()
        var configuration = ServerConfiguration(host: "127.0.0.1", port: 0)
        configuration.threads = 1
        let server = try await HTTPServer.start(configuration: configuration, responder: try site(gate: gate))
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/curl")
        process.arguments = ["-sN", "-H", "Last-Event-ID: abc", "http://127.0.0.1:\(server.port)/events"]
        let out = Pipe()
        process.standardOutput = out
        try startUnblocked(process)
        let handle = out.fileHandleForReading
        let first = try await blocking { String(decoding: handle.availableData, as: UTF8.self) }
        #expect(first == "id: 1\nevent: hello\ndata: resumed after abc\n\n")
        gate.open()
        let rest = try await blocking { String(decoding: handle.readDataToEndOfFile(), as: UTF8.self) }
        try await blocking { process.waitUntilExit() }
        #expect(rest == "id: 2\ndata: bye\n\n")
        #expect(process.terminationStatus == 0)
        await server.shutdown(gracePeriod: .seconds(1))
    }

    @Test("over a socket, a client that stops reading holds the handler's sends back; reading again lets them all through")
    func slowSocketReader() async throws {
        let sent = NIOLockedValueBox(0)
        let router = Router()
        let event = ServerSentEvent(data: String(repeating: "y", count: 4000))
        router.get("/flood") { _ in
            Response.eventStream(heartbeat: nil) { events in
                for _ in 0..<3000 {
                    try await events.send(event)
                    sent.withLockedValue { $0 += 1 }
                }
            }
        }
        var configuration = ServerConfiguration(host: "127.0.0.1", port: 0)
        configuration.threads = 1
        let server = try await HTTPServer.start(configuration: configuration, responder: try router.build())
        let socket = try TestSocket(port: server.port, receiveBuffer: 16 * 1024)
        try socket.send("GET /flood HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        #expect(await eventually { sent.withLockedValue { $0 } > 10 })
        // The kernel's buffers grow for a while (send-buffer autotuning); then the sends stop.
        var samples = [sent.withLockedValue { $0 }]
        while samples.count < 30 && (samples.count < 2 || samples[samples.count - 1] != samples[samples.count - 2]) {
            try await Task.sleep(for: .milliseconds(300))
            samples.append(sent.withLockedValue { $0 })
        }
        let stalled = samples.last!
        #expect(samples.count < 30, "the handler went on sending to a client that reads nothing: \(samples)")
        #expect(stalled < 2000, "\(stalled) events of 4 KB sent: \(stalled * 4) KB buffered for a client that reads nothing")
        let all = try await blocking { try socket.readToEnd() }
        let text = String(decoding: all, as: UTF8.self)
        #expect(text.components(separatedBy: "data: yyyy").count - 1 == 3000)
        #expect(sent.withLockedValue { $0 } == 3000)
        print("slow socket reader: the handler's sends stalled after \(stalled) events of 4 KB (\(stalled * 4) KB in the kernel's buffers and the bridge)")
        socket.close()
        await server.shutdown(gracePeriod: .seconds(1))
    }

    @Test("HEAD gets the event stream's fields and no body; the handler does not run")
    func head() async throws {
        let ran = NIOLockedValueBox(false)
        let router = Router()
        router.get("/events") { _ in
            Response.eventStream { _ in ran.withLockedValue { $0 = true } }
        }
        let connection = try await InProcessConnection(responder: try router.build())
        try await connection.send("HEAD /events HTTP/1.1\r\nHost: x\r\n\r\n")
        let response = try #require(try await connection.readResponse(head: true))
        #expect(response.headerFields[.contentType] == "text/event-stream")
        #expect(response.body.readableBytes == 0)
        try await Task.sleep(for: .milliseconds(50))
        #expect(!ran.withLockedValue { $0 })
    }
}
