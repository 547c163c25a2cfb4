// snippet: package-test
import HTTPChat
import HTTPChatTesting
import Testing

@Test func healthAnswersOK() async throws {
    let router = Router()
    router.get("/health") { _ in .text("ok") }
    let connection = try await InProcessConnection(responder: try router.build())   // no socket, no port
    try await connection.send("GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
    let response = try await connection.readResponse()
    #expect(response?.status == 200)
    #expect(response?.text == "ok")
}
// end snippet
// The README's test for the package it describes (`.ci/readme-package` runs it there too); ReadmeTests checks
// that the README shows this region as it is.
