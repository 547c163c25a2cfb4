import HTTPChat
import Tracing

func tracingSnippet(router: Router, load: @escaping @Sendable (String) async throws -> String) {
    // snippet: tracing
    router.use(HTTPTracing())   // outermost; spans go to InstrumentationSystem.tracer (bootstrap it once)
    router.get("/notes/:id") { request in
        let id = request.parameters["id"] ?? ""
        let note = try await withSpan("load note") { _ in try await load(id) }   // a child of the server span
        return .text(note)
    }
    // end snippet
}
