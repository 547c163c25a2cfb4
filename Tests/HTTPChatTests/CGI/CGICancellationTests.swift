import Foundation
import HTTPTypes
import TestSupport
import Testing

@testable import HTTPChatCGI
@testable import HTTPChatCore
@testable import HTTPChatServer

@Suite("CGI: a script whose client goes away is stopped", .serialized)
struct CGICancellationTests {
    @Test("a client that closes while its script has not answered yet stops the script long before its timeout, and frees its slot")
    func clientGoneStopsScript() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("httpchat-cgi-cancel-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let pidFile = dir + "/pid"
        let script = "#!/bin/sh\necho $$ > '\(pidFile)'\nsleep 30\nprintf 'Content-Type: text/plain\\r\\n\\r\\nlate'\n"
        _ = FileManager.default.createFile(atPath: dir + "/slow.sh", contents: Data(script.utf8), attributes: [.posixPermissions: 0o755])
        var options = CGIOptions()
        options.timeout = .seconds(60)
        let cgi = try CGIResponder(directory: dir, options: options)
        var configuration = ServerConfiguration(host: "127.0.0.1", port: 0)
        configuration.threads = 1
        let server = try await HTTPServer.start(configuration: configuration, responder: cgi)
        let client = try TestSocket(port: server.port)
        try client.send("GET /cgi-bin/slow.sh HTTP/1.1\r\nHost: x\r\n\r\n")
        var pid: pid_t = 0
        for _ in 0..<200 where pid == 0 {
            try await Task.sleep(for: .milliseconds(10))
            pid = pid_t((try? String(contentsOfFile: pidFile, encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines) ?? "") ?? 0
        }
        #expect(pid > 0, "the script started")
        #expect(cgi.running.current == 1)
        client.close()
        let closed = ContinuousClock.now
        // The script sleeps 30 s and the timeout is 60 s: stopped within 10 s can only be the client's going.
        // (A loaded test run can stretch this loop's naps by seconds: the bound is wide on purpose.)
        while kill(pid, 0) == 0 && ContinuousClock.now - closed < .seconds(10) { try await Task.sleep(for: .milliseconds(10)) }
        let took = ContinuousClock.now - closed
        #expect(kill(pid, 0) != 0, "the script still runs \(took) after its client went")
        for _ in 0..<500 where cgi.running.current != 0 { try await Task.sleep(for: .milliseconds(10)) }
        #expect(cgi.running.current == 0, "its slot is free")
        if kill(pid, 0) == 0 { kill(-pid, SIGKILL) }
        await server.shutdown(gracePeriod: .seconds(1))
    }
}
