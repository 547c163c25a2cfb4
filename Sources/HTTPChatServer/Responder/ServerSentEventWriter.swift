public import HTTPTypes
import NIOConcurrencyHelpers
import NIOCore

/// Sends server-sent events on a `text/event-stream` response body
/// (``Response/eventStream(status:headerFields:heartbeat:_:)``). Each send is one write of a ``BodyWriter``:
/// it returns once the connection can take more, so a handler cannot outrun a slow client, and it throws
/// once the client is gone. Sends from several tasks are taken one at a time, whole, in the order they come.
public struct ServerSentEventWriter: Sendable {
    let line: EventStreamLine

    init(_ line: EventStreamLine) { self.line = line }

    /// Sends an event.
    ///
    /// - Parameter event: the event.
    /// - Throws: ``ServerSentEventError`` for an event that cannot be encoded (nothing is sent);
    ///   ``BodyWriterError/connectionClosed`` when the client is gone.
    public func send(_ event: ServerSentEvent) async throws {
        try await line.write(event.encoded())
    }

    /// Sends a comment: lines starting with `:`, which clients ignore (one per line of `text`). Heartbeats
    /// are comments.
    ///
    /// - Parameter text: the comment.
    /// - Throws: ``BodyWriterError/connectionClosed`` when the client is gone.
    public func comment(_ text: String) async throws {
        try await line.write(ServerSentEvent.fieldLines("", text))
    }
}

/// The writer's side of one event stream: writes taken one at a time (a ``BodyWriter`` has one writer at a
/// time), and the time of the last one, for the heartbeat.
final class EventStreamLine: Sendable {
    private let writer: BodyWriter
    private let turns = AsyncTurns()
    /// When the last write ended (or the stream began), and whether the handler returned (no heartbeat after
    /// its last event).
    private let times: NIOLockedValueBox<(lastWrite: ContinuousClock.Instant, ended: Bool)>

    init(_ writer: BodyWriter, now: ContinuousClock.Instant) {
        self.writer = writer
        self.times = NIOLockedValueBox((now, false))
    }

    /// When the last write ended (or the stream began).
    var lastWrite: ContinuousClock.Instant { times.withLockedValue { $0.lastWrite } }

    /// Writes `text` whole, after the writes before it.
    func write(_ text: String) async throws {
        try await turns.run { try await self.stampedWrite(text) }
    }

    /// Writes `text` only when nothing was written since `since`, no write is under way and the handler has
    /// not ended (a heartbeat is due only on an idle stream).
    /// - Returns: whether it wrote.
    func writeIfIdle(_ text: String, since: ContinuousClock.Instant) async throws -> Bool {
        let idle = { self.times.withLockedValue { !$0.ended && $0.lastWrite <= since } }
        return try await turns.runIfFree(when: idle) { try await self.stampedWrite(text) } != nil
    }

    /// The handler is done: heartbeats stop at once (the task sending them may be cancelled only later).
    func end() {
        times.withLockedValue { $0.ended = true }
    }

    private func stampedWrite(_ text: String) async throws {
        defer { times.withLockedValue { $0.lastWrite = .now } }
        try await writer.write(text)
    }
}

extension ResponseBody {
    /// A `text/event-stream` body (server-sent events): `body` sends events through the writer while the
    /// response is under way; returning ends the stream (the client reconnects after its retry time unless
    /// the page closes it), throwing aborts the connection. See
    /// ``Response/eventStream(status:headerFields:heartbeat:_:)``, which also sets the fields.
    ///
    /// - Parameters:
    ///   - heartbeat: while nothing was sent for this long, a comment (`: heartbeat`) is sent, so proxies
    ///     keep the connection and a client that went away is noticed: the send fails, `body`'s task is
    ///     cancelled and the stream ends. Nil sends none (then a gone client is noticed at the next send).
    ///   - body: sends the events.
    /// - Returns: the body (chunked in HTTP/1.1, until close in HTTP/1.0).
    public static func eventStream(
        heartbeat: Duration? = .seconds(15),
        _ body: @escaping @Sendable (ServerSentEventWriter) async throws -> Void
    ) -> ResponseBody {
        .stream { writer in
            let line = EventStreamLine(writer, now: .now)
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask {
                    defer { line.end() }
                    try await body(ServerSentEventWriter(line))
                }
                if let heartbeat, heartbeat > .zero {
                    group.addTask {
                        var since = line.lastWrite
                        while true {
                            try await Task.sleep(until: since + heartbeat, clock: .continuous)
                            let latest = line.lastWrite
                            if latest > since {  // something was sent meanwhile: idle only from then
                                since = latest
                                continue
                            }
                            // Not written means a send is under way (waiting for a slow client): not idle.
                            since = try await line.writeIfIdle(": heartbeat\n", since: since) ? line.lastWrite : .now
                        }
                    }
                }
                // The handler's end ends the stream; a heartbeat that failed (the client is gone) ends it too
                // and cancels the handler.
                try await group.next()
                group.cancelAll()
            }
        }
    }
}

extension Response {
    /// A server-sent events response: `200`, `Content-Type: text/event-stream`, `Cache-Control: no-cache`
    /// (an event stream is never stored nor replayed), and a body whose events `body` sends, each one
    /// flushed to the client as it is sent (a chunk of its own), with backpressure.
    ///
    /// ```swift
    /// router.get("/ticks") { request in
    ///     Response.eventStream { events in
    ///         var n = Int(request.lastEventID ?? "") ?? 0
    ///         while n < 3 {
    ///             n += 1
    ///             try await events.send(ServerSentEvent(data: "tick \(n)", event: "tick", id: "\(n)"))
    ///         }
    ///     }
    /// }
    /// ```
    ///
    /// A browser opens it with `new EventSource(url)`, and reconnects when it ends, sending the last id it saw
    /// as `Last-Event-ID` (``Request/lastEventID``). In HTTP/1.1 the body is chunked and the connection may
    /// carry more requests after it; in HTTP/1.0 it is sent until the connection closes. A HEAD request gets
    /// the fields and `body` never runs.
    ///
    /// - Parameters:
    ///   - status: the status (default 200; an `EventSource` treats any other as a failure).
    ///   - headerFields: more fields; `Content-Type` and `Cache-Control` are set over them.
    ///   - heartbeat: how long the stream may be idle before a comment is sent (default 15 s; nil: never).
    ///     See ``ResponseBody/eventStream(heartbeat:_:)``.
    ///   - body: sends the events; returning ends the stream.
    /// - Returns: the response.
    public static func eventStream(
        status: HTTPResponse.Status = .ok,
        headerFields: HTTPFields = [:],
        heartbeat: Duration? = .seconds(15),
        _ body: @escaping @Sendable (ServerSentEventWriter) async throws -> Void
    ) -> Response {
        var fields = headerFields
        fields[.contentType] = "text/event-stream"
        fields[.cacheControl] = "no-cache"
        return Response(status: status, headerFields: fields, body: .eventStream(heartbeat: heartbeat, body))
    }
}

extension HTTPField.Name {
    /// `Last-Event-ID`, which an `EventSource` sends when it reconnects.
    static let lastEventID = HTTPField.Name("Last-Event-ID")!
}

extension Request {
    /// The `Last-Event-ID` field: the id of the last event a reconnecting `EventSource` received
    /// (``ServerSentEvent/id``), for an event stream to resume after it; nil when absent or empty.
    public var lastEventID: String? {
        guard let value = headerFields[.lastEventID], !value.isEmpty else { return nil }
        return value
    }
}
