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
}
