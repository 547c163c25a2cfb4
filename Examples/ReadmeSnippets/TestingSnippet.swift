// The README's code blocks that are not whole programs, compiled here: each block is the text between
// `// snippet: NAME` and `// end snippet` lines (several such regions of one NAME join in order, each
// dedented). ReadmeTests checks that every swift block of README.md is one of them, character for character.

// snippet: testing
import HTTPChat
import HTTPChatTesting   // InProcessConnection, TestResponse, ResponseBody.collect()
// end snippet

func testingSnippet(router: Router) async throws -> TestResponse? {
    // snippet: testing
    let connection = try await InProcessConnection(responder: try router.build())
    try await connection.send("GET /hello HTTP/1.1\r\nHost: x\r\n\r\n")
    let response = try await connection.readResponse()   // a TestResponse (nil if none came): status, fields, text
    // end snippet
    return response
}
