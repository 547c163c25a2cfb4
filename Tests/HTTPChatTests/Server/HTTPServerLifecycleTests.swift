import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import ServiceLifecycle
import TestSupport
import Testing

@testable import HTTPChatCore
@testable import HTTPChatServer
import HTTPChatTesting

@Suite("HTTP server lifecycle", .serialized)
struct HTTPServerLifecycleTests {
    @Test("the server runs on an application's existing event loop group and leaves it running")
    func existingGroup() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let server = try await HTTPServer.start(
            configuration: .init(host: "127.0.0.1", port: 0),
            responder: ResponderFunction { _ in .text("on your loops") },
            group: group
        )
        let socket = try TestSocket(port: server.port)
        try socket.send("GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        #expect(String(decoding: try await blocking { try socket.readToEnd() }, as: UTF8.self).hasSuffix("on your loops"))
        await server.shutdown(gracePeriod: .seconds(1))
        // The group is the application's: still usable after the server is gone.
        #expect(try await group.next().submit { 42 }.get() == 42)
        try await group.shutdownGracefully()
    }

    @Test("HTTPService serves under a ServiceGroup and stops on graceful shutdown")
    func serviceLifecycle() async throws {
        let started = NIOLockedValueBox<Int?>(nil)
        let service = HTTPService(
            configuration: .init(host: "127.0.0.1", port: 0),
            responder: ResponderFunction { _ in .text("service") },
            gracePeriod: .seconds(1)
        ) { server in started.withLockedValue { $0 = server.port } }
        let group = ServiceGroup(services: [service], logger: Logger(label: "test"))
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            var port: Int?
            for _ in 0..<200 where port == nil {
                try await Task.sleep(for: .milliseconds(10))
                port = started.withLockedValue { $0 }
            }
            let bound = try #require(port)
            let socket = try TestSocket(port: bound)
            try socket.send("GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            #expect(String(decoding: try await blocking { try socket.readToEnd() }, as: UTF8.self).hasSuffix("service"))
            await group.triggerGracefulShutdown()
            try await tasks.waitForAll()
            #expect(try await noLongerListening(port: bound) { late in
                try late.send("GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                return String(decoding: try late.readToEnd(), as: UTF8.self).hasSuffix("service")
            })
        }
    }

    @Test("a chunk-size line longer than its limit is 400")
    func chunkLineLimit() async throws {
        var limits = HTTPLimits()
        limits.maxChunkLineLength = 16
        let c = try await InProcessConnection(responder: echo, limits: limits)
        try await c.send("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n1;" + String(repeating: "e", count: 40) + "\r\n")
        let r = try #require(try await c.readResponse())
        #expect(r.status == 400)
    }
}
