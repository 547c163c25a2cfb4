/// One server-sent event, as a `text/event-stream` carries it (WHATWG HTML, "Server-sent events", §9.2).
/// Send it with ``ServerSentEventWriter/send(_:)`` from ``Response/eventStream(status:headerFields:heartbeat:_:)``.
///
/// ```swift
/// try await events.send(ServerSentEvent(data: "line one\nline two", event: "update", id: "42"))
/// ```
///
/// On the wire each field is one line, `name: value`, and a blank line ends the event. What each field may
/// hold follows from the parser a browser runs:
/// - ``data`` may hold anything: each of its lines (split at CR, LF or CRLF) is a `data:` field of its own,
///   and the client joins them with LF, so text comes back as it was sent with every line break an LF.
/// - ``event`` and ``id`` are single lines: a CR or LF in them would end the field early and start another
///   field (or event) of the sender's choosing, so they are refused (``ServerSentEventError``), as is NUL
///   (a browser drops an `id` holding one).
/// - ``retry`` is sent as whole milliseconds; a negative one is refused.
public struct ServerSentEvent: Sendable, Hashable {
    /// The event's data (the `MessageEvent.data` a browser hands the page); nil sends no `data:` field, so
    /// the client dispatches nothing and only takes ``id`` and ``retry``. An empty string is an event with
    /// empty data.
    public var data: String?
    /// The event type (`event:`): the name a page listens for with `addEventListener`; nil is `message`.
    /// Must not contain CR, LF or NUL.
    public var event: String?
    /// The event id (`id:`), which the client sends back as `Last-Event-ID` when it reconnects
    /// (``Request/lastEventID``); an empty string clears it. Must not contain CR, LF or NUL.
    public var id: String?
    /// How long the client waits before reconnecting after the stream ends (`retry:`, in whole milliseconds).
    public var retry: Duration?

    /// Creates an event.
    ///
    /// - Parameters:
    ///   - data: the data, any text (default none).
    ///   - event: the event type (default none: `message`).
    ///   - id: the event id (default none).
    ///   - retry: the reconnection time to set (default none).
    public init(data: String? = nil, event: String? = nil, id: String? = nil, retry: Duration? = nil) {
        self.data = data
        self.event = event
        self.id = id
        self.retry = retry
    }

    /// The event as `text/event-stream` text: `retry`, `id`, `event`, then one `data:` line per line of
    /// ``data``, then the blank line that dispatches it.
    ///
    /// - Returns: the text, ending in a blank line.
    /// - Throws: ``ServerSentEventError`` when ``event`` or ``id`` holds CR, LF or NUL, or ``retry`` is
    ///   negative; nothing is encoded then.
    public func encoded() throws(ServerSentEventError) -> String {
        var out = ""
        if let retry {
            guard retry >= .zero else { throw .negativeRetry(retry) }
            let (seconds, attoseconds) = retry.components
            out += "retry: \(seconds * 1000 + attoseconds / 1_000_000_000_000_000)\n"
        }
        if let id {
            guard Self.isSingleLine(id) else { throw .invalidID(id) }
            out += "id: \(id)\n"
        }
        if let event {
            guard Self.isSingleLine(event) else { throw .invalidEventName(event) }
            out += "event: \(event)\n"
        }
        if let data { out += Self.fieldLines("data", data) }
        return out + "\n"
    }

    /// Whether `value` can be one field's value: no CR, LF or NUL.
    static func isSingleLine(_ value: String) -> Bool {
        !value.utf8.contains { $0 == 0x0D || $0 == 0x0A || $0 == 0x00 }
    }

    /// `name: line\n` for each line of `text`, split at CRLF, CR or LF (the three line ends the stream's
    /// parser knows); an empty text is one empty line, and a text ending in a line break ends in an empty line.
    static func fieldLines(_ name: String, _ text: String) -> String {
        var out = ""
        var line: [UInt8] = []
        var afterCR = false
        func emit() {
            out += name + ": " + String(decoding: line, as: UTF8.self) + "\n"
            line.removeAll(keepingCapacity: true)
        }
        for byte in text.utf8 {
            switch byte {
            case 0x0D:
                emit()
                afterCR = true
            case 0x0A:
                if !afterCR { emit() }  // the LF of a CRLF: the line already ended at its CR
                afterCR = false
            default:
                line.append(byte)
                afterCR = false
            }
        }
        emit()
        return out
    }
}

/// Why a ``ServerSentEvent`` cannot be sent. Nothing of the event has been written when it is thrown.
public enum ServerSentEventError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The event type holds CR, LF or NUL: it would end its field and inject another.
    case invalidEventName(String)
    /// The id holds CR, LF or NUL: it would end its field and inject another (and a browser drops an id
    /// holding NUL).
    case invalidID(String)
    /// The retry time is negative.
    case negativeRetry(Duration)

    /// A message for people.
    public var description: String {
        switch self {
        case .invalidEventName(let name): return "event name \(name.debugDescription) holds CR, LF or NUL"
        case .invalidID(let id): return "event id \(id.debugDescription) holds CR, LF or NUL"
        case .negativeRetry(let retry): return "retry \(retry) is negative"
        }
    }
}
