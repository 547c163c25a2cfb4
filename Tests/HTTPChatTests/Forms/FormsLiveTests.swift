import Foundation
import NIOCore
import TestSupport
import Testing

@testable import HTTPChatCore
@testable import HTTPChatServer

@Suite("Forms live", .serialized)
struct FormsLiveTests {
    static func server() async throws -> HTTPServer {
        let router = Router()
        router.post("/urlencoded") { request in
            .text(try await request.formURLEncoded().map { "\($0.name)=\($0.value)" }.joined(separator: "|"))
        }
        router.post("/collect") { request in
            let form = try await request.multipartForm(maxFileBytes: 1 << 20)
            let fields = form.fields.map { "\($0.name)=\($0.value)" }
            let files = form.files.map { "\($0.head.name):\($0.head.filename ?? "-"):\($0.head.contentType ?? "-"):\($0.bytes.readableBytes)" }
            return .text((fields + files).joined(separator: "|"))
        }
        router.post("/stream") { request in
            var total = 0
            var chunks = 0
            try await request.multipart { event in
                if case .partData(let b) = event {
                    total += b.readableBytes
                    chunks += 1
                }
            }
            return .text("\(total) bytes in \(chunks) chunks")
        }
        var configuration = ServerConfiguration(host: "127.0.0.1", port: 0)
        configuration.limits.maxBodyBytes = 64 << 20
        return try await HTTPServer.start(configuration: configuration, responder: try router.build())
    }

    @Test("curl -F: fields and a file, collected; the file over the bound is 413")
    func curlMultipart() async throws {
        let server = try await Self.server()
        let base = "http://127.0.0.1:\(server.port)"
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("form-\(UUID().uuidString).txt").path
        _ = FileManager.default.createFile(atPath: file, contents: Data(repeating: 0x41, count: 1000))
        defer { try? FileManager.default.removeItem(atPath: file) }
        let out = try await curlOutput(["-s", "-F", "title=Hello & <world>", "-F", "doc=@\(file);type=text/plain;filename=../../x.txt", base + "/collect"])
        #expect(out == "title=Hello & <world>|doc:x.txt:text/plain:1000", "\(out)")
        let big = FileManager.default.temporaryDirectory.appendingPathComponent("form-big-\(UUID().uuidString).bin").path
        _ = FileManager.default.createFile(atPath: big, contents: Data(count: 2 << 20))
        defer { try? FileManager.default.removeItem(atPath: big) }
        #expect(try await curlOutput(["-s", "-o", "/dev/null", "-w", "%{http_code}", "-F", "f=@\(big)", base + "/collect"]) == "413")
        await server.shutdown(gracePeriod: .seconds(1))
    }

    @Test("a 30 MiB file streams through the multipart visitor in chunks")
    func streamedUpload() async throws {
        let server = try await Self.server()
        let big = FileManager.default.temporaryDirectory.appendingPathComponent("form-stream-\(UUID().uuidString).bin").path
        _ = FileManager.default.createFile(atPath: big, contents: Data(count: 30 << 20))
        defer { try? FileManager.default.removeItem(atPath: big) }
        let out = try await curlOutput(["-s", "-F", "f=@\(big)", "http://127.0.0.1:\(server.port)/stream"])
        let match = out.firstMatch(of: /^(\d+) bytes in (\d+) chunks$/)
        #expect(match.map { Int($0.1) } == 30 << 20, "\(out)")
        #expect((match.map { Int($0.2)! } ?? 0) > 10, "delivered in pieces, not collected")
        await server.shutdown(gracePeriod: .seconds(1))
    }

    @Test("Python requests: urlencoded and multipart posts; malformed and mistyped bodies get 400 and 415")
    func pythonRequests() async throws {
        let server = try await Self.server()
        let script = """
            import requests
            b = 'http://127.0.0.1:\(server.port)'
            r1 = requests.post(b + '/urlencoded', data={'a': '1 2', 'b': 'x&y=z', 'c': 'é'})
            r2 = requests.post(b + '/collect', data={'k': 'v'}, files={'up': ('r.bin', b'\\x00\\x01\\x02', 'application/octet-stream')})
            r3 = requests.post(b + '/collect', data=b'--x\\r\\nbroken', headers={'Content-Type': 'multipart/form-data; boundary=x'})
            r4 = requests.post(b + '/urlencoded', json={'a': 1})
            print(r1.text); print(r2.text); print(r3.status_code, r4.status_code)
            """
        let out = try await blocking { try runProcess("/usr/bin/env", ["python3", "-c", script]) }
        let lines = out.split(separator: "\n").map(String.init)
        #expect(lines == ["a=1 2|b=x&y=z|c=é", "k=v|up:r.bin:application/octet-stream:3", "400 415"], "\(out)")
        await server.shutdown(gracePeriod: .seconds(1))
    }
}
