import Foundation
import TestSupport
import Testing

/// Examples/OpenAPI as a user runs it: the binary, curl, and Python's requests.
@Suite("openapi-greeter (Examples/OpenAPI), live")
struct OpenAPIGreeterTests {
    @Test("openapi-greeter --port 0 prints its URL and answers GET /greet?name=Ada with {\"message\":\"Hello, Ada!\"}")
    func greets() async throws {
        let serve = try Serve(["--port", "0"], binary: builtBinary("openapi-greeter"))
        #expect(serve.firstLine.hasPrefix("openapi-greeter listening on http://127.0.0.1:"), "\(serve.firstLine)")
        let body = try await sh("curl -s '\(serve.base)/greet?name=Ada'")
        let decoded = try JSONDecoder().decode([String: String].self, from: Data(body.utf8))
        #expect(decoded == ["message": "Hello, Ada!"])
        #expect(try await sh("curl -s -o /dev/null -w '%{http_code}' '\(serve.base)/greetings/xx?name=Ada'") == "404")
        #expect(try await sh("curl -s '\(serve.base)/shout/hey.txt'") == "HEY")
        #expect(await serve.stop() == 0)
    }

    @Test("POST /echo streams 8 MiB back byte for byte to curl and to requests' chunked upload")
    func echoes() async throws {
        let serve = try Serve(["--port", "0"], binary: builtBinary("openapi-greeter"))
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("greeter-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: file) }
        _ = try await sh("head -c 8388608 /dev/urandom > \(file)")
        let curl = try await sh(
            "curl -s -H 'Content-Type: application/octet-stream' --data-binary @\(file) \(serve.base)/echo | cmp - \(file) && echo same"
        )
        #expect(curl == "same\n")
        let python = try await sh("""
            python3 -c '
            import requests, sys
            data = open("\(file)", "rb").read()
            def chunks():
                for i in range(0, len(data), 100000): yield data[i:i+100000]
            r = requests.post("\(serve.base)/echo", data=chunks(), headers={"Content-Type": "application/octet-stream"})
            print(r.status_code, r.content == data)
            '
            """)
        #expect(python == "200 True\n")
        #expect(await serve.stop() == 0)
    }
}
