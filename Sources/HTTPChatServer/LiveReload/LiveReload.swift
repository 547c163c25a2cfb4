import HTTPTypes
import NIOConcurrencyHelpers

/// Live reload for a file server (`httpserve --live-reload`): the pieces beside ``DirectoryWatcher``.
///
/// - ``script`` goes into every HTML page the file server sends (``FileServerOptions/htmlSnippet``). It opens
///   an `EventSource` at ``eventsPath``; on `event: reload` it swaps the page's stylesheets (`<link
///   rel=stylesheet>` fetched again with a cache-busting query, the old one removed once the new one loaded)
///   when the changed path ends in `.css` and the page has any, and reloads the page otherwise.
/// - ``LiveReloadHub`` passes each batch of changed paths to every open event stream.
/// - ``LiveReloadResponder`` answers ``eventsPath`` with the event stream and hands every other request on.
package enum LiveReload {
    /// The event stream's path. With live reload off nothing answers it but the file server (a 404, unless a
    /// file of that name exists).
    package static let eventsPath = "/__httpserve/events"

    /// The script injected into HTML pages.
    package static let script = """
        <script data-httpserve-live-reload>(() => {
          const source = new EventSource("\(eventsPath)");
          source.addEventListener("reload", (event) => {
            if (event.data.endsWith(".css")) {
              const links = Array.from(document.querySelectorAll('link[rel~="stylesheet" i][href]'));
              for (const link of links) {
                const url = new URL(link.href, location.href);
                url.searchParams.set("__httpserve", Date.now());
                const next = link.cloneNode();
                next.href = url.href;
                next.onload = next.onerror = () => link.remove();
                link.after(next);
              }
              if (links.length > 0) return;
            }
            location.reload();
          });
        })();</script>

        """
}

/// Hands batches of changed paths to the event streams open now (each has a buffer of the newest 256
/// paths: a stream whose client is slow loses old paths, never blocks the watcher).
package final class LiveReloadHub: Sendable {
    private struct Subscribers {
        var next = 0
        var all: [Int: AsyncStream<String>.Continuation] = [:]
        var closed = false
    }

    private let subscribers = NIOLockedValueBox(Subscribers())

    /// An empty hub.
    package init() {}

    /// How many streams are open.
    package var subscriberCount: Int { subscribers.withLockedValue { $0.all.count } }

    /// The paths published from now on, until the consuming task is cancelled or the hub is closed.
    package func subscribe() -> AsyncStream<String> {
        let (stream, continuation) = AsyncStream.makeStream(of: String.self, bufferingPolicy: .bufferingNewest(256))
        let id = subscribers.withLockedValue { s -> Int? in
            if s.closed { return nil }
            defer { s.next += 1 }
            s.all[s.next] = continuation
            return s.next
        }
        guard let id else {
            continuation.finish()
            return stream
        }
        continuation.onTermination = { [weak self] _ in
            _ = self?.subscribers.withLockedValue { $0.all.removeValue(forKey: id) }
        }
        return stream
    }

    /// Ends every stream, and those subscribed later at once (the server is shutting down: the event streams
    /// must not hold its connections open).
    package func close() {
        let all = subscribers.withLockedValue { s in
            s.closed = true
            defer { s.all = [:] }
            return Array(s.all.values)
        }
        for continuation in all { continuation.finish() }
    }

    /// Sends each path to every open stream.
    package func publish(_ paths: [String]) {
        let all = subscribers.withLockedValue { Array($0.all.values) }
        for continuation in all {
            for path in paths { continuation.yield(path) }
        }
    }
}

/// Answers ``LiveReload/eventsPath`` (GET and HEAD) with the event stream of a ``LiveReloadHub``: first
/// `retry: 1000` (a restarted server is found again within a second), then `event: reload` with each changed
/// path as its data. Every other request goes to `next`.
package struct LiveReloadResponder: HTTPResponder {
    let hub: LiveReloadHub
    let next: any HTTPResponder
    let heartbeat: Duration

    /// A responder.
    ///
    /// - Parameters:
    ///   - hub: where the changes come from.
    ///   - heartbeat: the event stream's idle heartbeat (default 15 s).
    ///   - next: answers everything else.
    package init(hub: LiveReloadHub, heartbeat: Duration = .seconds(15), next: any HTTPResponder) {
        self.hub = hub
        self.heartbeat = heartbeat
        self.next = next
    }

    /// The event stream at ``LiveReload/eventsPath``; `next`'s answer elsewhere.
    package func respond(to request: Request) async throws -> Response {
        guard request.path == LiveReload.eventsPath else { return try await next.respond(to: request) }
        guard request.method == .get || request.method == .head else {
            throw HTTPError(.methodNotAllowed, headerFields: [.allow: "GET, HEAD"])
        }
        let hub = self.hub
        return .eventStream(heartbeat: heartbeat) { events in
            // Subscribed before the first bytes go out: a client that has read them misses no change after.
            let changes = hub.subscribe()
            try await events.send(ServerSentEvent(retry: .seconds(1)))
            for await path in changes {
                try await events.send(ServerSentEvent(data: path, event: "reload"))
            }
        }
    }
}
