import HTTPChat

/// The README's server-sent events block: `news(after:)` waits for the items after an id.
func eventStreamSnippet(router: Router, news: @escaping @Sendable (_ after: Int) async throws -> [String]) {
    // snippet: event-stream
    router.get("/news") { request in
        Response.eventStream(heartbeat: .seconds(15)) { events in
            var last = Int(request.lastEventID ?? "") ?? 0          // a reconnecting EventSource resumes
            while true {
                for item in try await news(last) {                  // cancelled once the client is gone
                    last += 1
                    try await events.send(ServerSentEvent(data: item, event: "news", id: "\(last)"))
                }
            }
        }
    }
    // end snippet
}
