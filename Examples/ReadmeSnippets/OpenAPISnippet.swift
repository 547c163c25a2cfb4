import Greeter
import HTTPChat
import HTTPChatOpenAPI

func openAPISnippet(configuration: ServerConfiguration) async throws -> HTTPServer {
    // snippet: openapi
    let router = Router()
    try Greeter().register(on: OpenAPITransport(router))   // Greeter: APIProtocol, calls registerHandlers
    let server = try await HTTPServer.start(configuration: configuration, responder: try router.build())
    // end snippet
    return server
}
