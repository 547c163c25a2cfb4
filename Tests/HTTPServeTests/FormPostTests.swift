import Foundation
import TestSupport
import Testing

@Suite("form-post example", .serialized)
struct FormPostTests {
    @Test("a 200 MiB multipart upload streams through with the server's peak RSS bounded")
    func largeUploadBoundedMemory() async throws {
        let server = try Serve(["--port", "0"], binary: builtBinary("form-post"))
        #expect(server.port > 0, "\(server.firstLine)")
        let idle = try #require(server.peakRSS)
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("upload-\(UUID().uuidString).bin").path
        defer { try? FileManager.default.removeItem(atPath: file) }
        // A sparse file: 200 MiB of zeros without writing them to disk.
        #expect(FileManager.default.createFile(atPath: file, contents: nil))
        let handle = try #require(FileHandle(forWritingAtPath: file))
        try handle.truncate(atOffset: 200 << 20)
        try handle.close()
        let out = try await sh("curl -s -F note=big -F 'upload=@\(file);filename=big.bin' \(server.base)/submit")
        #expect(out.contains("big.bin"), "\(out.prefix(500))")
        #expect(out.contains("\(200 << 20) bytes"), "\(out.prefix(500))")
        let peak = try #require(server.peakRSS)
        print("form-post 200 MiB upload: peak RSS \(peak >> 10) KiB, before the upload \(idle >> 10) KiB")
        #expect(peak - idle < 32 << 20, "peak \(peak) vs idle \(idle): the upload must not be buffered")
        _ = await server.stop()
    }

    @Test("a 16 MB form of 250 fields of 64 KiB each is answered with the server's peak RSS bounded")
    func manyLargeFieldsBoundedMemory() async throws {
        let server = try Serve(["--port", "0"], binary: builtBinary("form-post"))
        #expect(server.port > 0, "\(server.firstLine)")
        let idle = try #require(server.peakRSS)
        // Every value is 64 KiB of the characters escaping expands most (" becomes &quot;).
        let value = String(repeating: "<\"&'>\"\"\"", count: 64 * 1024 / 8)
        var body = ""
        for i in 0..<250 { body += "--XyZ\r\nContent-Disposition: form-data; name=\"f\(i)\"\r\n\r\n\(value)\r\n" }
        body += "--XyZ--\r\n"
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("form-\(UUID().uuidString).txt").path
        defer { try? FileManager.default.removeItem(atPath: file) }
        try Data(body.utf8).write(to: URL(fileURLWithPath: file))
        let out = try await sh("curl -s -H 'Content-Type: multipart/form-data; boundary=XyZ' --data-binary @\(file) \(server.base)/submit")
        #expect(out.contains("field <b>f0</b> = &lt;&quot;&amp;&#39;&gt;"), "\(out.prefix(300))")
        #expect(out.contains("… (65536 bytes)"), "\(out.prefix(300))")
        #expect(out.contains("more parts, not shown"), "\(out.suffix(300))")
        #expect(out.utf8.count < 1 << 20, "the page is \(out.utf8.count) bytes")
        let peak = try #require(server.peakRSS)
        print("form-post 250 x 64 KiB fields: peak RSS \(peak >> 10) KiB, before the form \(idle >> 10) KiB")
        #expect(peak - idle < 32 << 20, "peak \(peak) vs idle \(idle): fields must not be held, escaped and joined whole")
        _ = await server.stop()
    }
}
