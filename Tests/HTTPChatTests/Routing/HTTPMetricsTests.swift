import CoreMetrics
import Foundation
import HTTPTypes
import MetricsTestKit
import NIOCore
import TestSupport
import Testing

@testable import HTTPChatCore
@testable import HTTPChatServer
import HTTPChatTesting

@Suite("Metrics")
struct HTTPMetricsTests {
    private func site(_ metrics: TestMetrics) throws -> any HTTPResponder {
        let router = Router()
        router.get("/ok") { _ in .text("ok") }
        router.get("/teapot") { _ in throw HTTPError(.notFound, "none") }
        router.get("/boom") { _ in throw CancellationError() }
        router.post("/slow") { _ in
            try await Task.sleep(for: .milliseconds(30))
            return .text("slow")
        }
        return try router.build().wrapped(in: [HTTPMetrics(factory: metrics)])
    }

    @Test("requests are counted by method and status (errors by the status the client gets), timed, and in flight while they run", arguments: Via.allCases)
    func countsRequests(via: Via) async throws {
        let metrics = TestMetrics()
        let site = try site(metrics)
        for (method, target) in [("GET", "/ok"), ("GET", "/ok"), ("GET", "/teapot"), ("GET", "/boom"), ("GET", "/nowhere"),
                                 ("POST", "/slow"), ("PROPFIND", "/ok")] {
            _ = try await via.exchange("\(method) \(target) HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n", with: site)
        }
        #expect(metrics.counterTotal(label: "http_requests_total", dimensions: [("method", "GET"), ("status", "200")]) == 2)
        #expect(metrics.counterTotal(label: "http_requests_total", dimensions: [("method", "GET"), ("status", "404")]) == 2)
        #expect(metrics.counterTotal(label: "http_requests_total", dimensions: [("method", "GET"), ("status", "500")]) == 1)
        #expect(metrics.counterTotal(label: "http_requests_total", dimensions: [("method", "POST"), ("status", "200")]) == 1)
        #expect(metrics.counterTotal(label: "http_requests_total", dimensions: [("method", "other"), ("status", "405")]) == 1)
        let slow = try metrics.expectTimer("http_request_duration_seconds", [("method", "POST")])
        #expect((slow.lastValue ?? 0) >= 30_000_000, "\(String(describing: slow.lastValue)) ns")
        let inFlight = try metrics.expectMeter("http_requests_in_flight")
        #expect(inFlight.lastValue == 0)
        #expect(inFlight.values.max() == 1)
    }

    @Test("the server counts its connections: accepted, and open while they are")
    func countsConnections() async throws {
        let metrics = TestMetrics()
        var configuration = ServerConfiguration(host: "127.0.0.1", port: 0)
        configuration.threads = 1
        configuration.metricsFactory = metrics
        let router = Router()
        router.get("/ok") { _ in .text("ok") }
        let server = try await HTTPServer.start(configuration: configuration, responder: try router.build())
        let port = server.port
        // Each socket sends as soon as it is open: one left waiting for its head could pass the header-read
        // timeout (10 s) on a loaded machine and be closed with a 408 before the count is read.
        var sockets: [TestSocket] = []
        for _ in 0..<2 {
            let socket = try TestSocket(port: port)
            sockets.append(socket)
            try socket.send("GET /ok HTTP/1.1\r\nHost: x\r\n\r\n")
            let answer = try await blocking { try socket.readSome(max: 4096) }
            #expect(String(decoding: answer, as: UTF8.self).hasPrefix("HTTP/1.1 200"))
        }
        let open = try metrics.expectMeter("http_server_open_connections")
        #expect(open.lastValue == 2)
        for socket in sockets { socket.close() }
        var closed = false
        for _ in 0..<300 where !closed {
            closed = open.lastValue == 0
            if !closed { try await Task.sleep(for: .milliseconds(10)) }
        }
        #expect(closed, "open connections: \(String(describing: open.lastValue))")
        #expect(metrics.counterTotal(label: "http_server_connections_total") == 2)
        await server.shutdown(gracePeriod: .seconds(1))
    }
}
