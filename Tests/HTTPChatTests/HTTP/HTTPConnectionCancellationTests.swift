import HTTPTypes
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import TestSupport
import Testing

@testable import HTTPChatCore
@testable import HTTPChatServer
import HTTPChatTesting

/// A responder that works until its task is cancelled (for at most 10 s), and records that it was.
private final class Patient: HTTPResponder, Sendable {
    private let state = NIOLockedValueBox((started: 0, cancelled: 0))
    var started: Int { state.withLockedValue { $0.started } }
    var cancelled: Int { state.withLockedValue { $0.cancelled } }

    func respond(to request: Request) async throws -> Response {
        state.withLockedValue { $0.started += 1 }
        let deadline = ContinuousClock.now + .seconds(10)
        while ContinuousClock.now < deadline {
            if Task.isCancelled {
                state.withLockedValue { $0.cancelled += 1 }
                throw CancellationError()
            }
            try await pause(.milliseconds(5))
        }
        return .text("done")
    }
}

/// Waits without looking at the task's cancellation (not `Task.sleep`), as work between two checks does.
private func pause(_ time: TimeAmount) async throws {
    try await MultiThreadedEventLoopGroup.singleton.any().scheduleTask(in: time) {}.futureResult.get()
}

private func waitFor(_ condition: () -> Bool, within limit: Duration, driving c: InProcessConnection? = nil) async throws -> Bool {
    let end = ContinuousClock.now + limit
    while ContinuousClock.now < end {
        await c?.advanceTime(by: .zero)  // an in-process connection's loop runs when it is driven
        if condition() { return true }
        try await Task.sleep(for: .milliseconds(5))
    }
    return condition()
}

@Suite("HTTPConnection: a responder's task is cancelled when its client goes", .serialized)
struct HTTPConnectionCancellationTests {
    @Test("end of input while a responder works cancels its task, and nothing is answered to a client that is gone")
    func endOfInputCancels() async throws {
        let patient = Patient()
        let c = try await InProcessConnection(responder: patient)
        try await c.send("GET /slow HTTP/1.1\r\nHost: x\r\n\r\n")
        #expect(try await waitFor({ patient.started == 1 }, within: .seconds(2), driving: c))
        await c.finishSending()
        #expect(try await waitFor({ patient.cancelled == 1 }, within: .seconds(1), driving: c), "the task runs on after its client went")
        #expect(try await waitFor({ !c.isOpen }, within: .seconds(1), driving: c), "the connection closes")
        #expect(try await c.pendingOutput() == "", "no 500 for a cancellation the server asked for")
    }

    @Test("over a socket: a client that closes, or resets, right after its request cancels the responder's task")
    func liveCloseCancels() async throws {
        let patient = Patient()
        var configuration = ServerConfiguration(host: "127.0.0.1", port: 0)
        configuration.threads = 1
        let server = try await HTTPServer.start(configuration: configuration, responder: patient)
        let closing = try TestSocket(port: server.port)
        try closing.send("GET /a HTTP/1.1\r\nHost: x\r\n\r\n")
        #expect(try await waitFor({ patient.started == 1 }, within: .seconds(2)))
        closing.close()
        #expect(try await waitFor({ patient.cancelled == 1 }, within: .seconds(1)), "a FIN")
        let resetting = try TestSocket(port: server.port)
        try resetting.send("GET /b HTTP/1.1\r\nHost: x\r\n\r\n")
        #expect(try await waitFor({ patient.started == 2 }, within: .seconds(2)))
        resetting.reset()
        #expect(try await waitFor({ patient.cancelled == 2 }, within: .seconds(1)), "a reset")
        #expect(try await waitFor({ server.connectionCount == 0 }, within: .seconds(2)))
        await server.shutdown(gracePeriod: .seconds(1))
    }

    @Test("a streamed body's writer is cancelled when its connection closes, even between two writes")
    func streamWriterCancelled() async throws {
        let state = NIOLockedValueBox((started: false, cancelled: false))
        let responder = ResponderFunction { _ in
            Response(body: .stream { writer in
                try await writer.write("first\n")
                state.withLockedValue { $0.started = true }
                let deadline = ContinuousClock.now + .seconds(10)
                while ContinuousClock.now < deadline {  // work between two writes, which never fail meanwhile
                    if Task.isCancelled {
                        state.withLockedValue { $0.cancelled = true }
                        return
                    }
                    try await pause(.milliseconds(5))
                }
            })
        }
        var configuration = ServerConfiguration(host: "127.0.0.1", port: 0)
        configuration.threads = 1
        let server = try await HTTPServer.start(configuration: configuration, responder: responder)
        let client = try TestSocket(port: server.port)
        try client.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        #expect(try await waitFor({ state.withLockedValue { $0.started } }, within: .seconds(2)))
        client.reset()
        #expect(try await waitFor({ state.withLockedValue { $0.cancelled } }, within: .seconds(1)), "the writer works on for a closed connection")
        await server.shutdown(gracePeriod: .seconds(1))
    }

    @Test("a responder that does not look at cancellation still answers a client that only half-closed")
    func halfClosedClientStillAnswered() async throws {
        let c = try await InProcessConnection(responder: ResponderFunction { _ in
            try await pause(.milliseconds(50))
            return .text("still here")
        })
        try await c.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        await c.finishSending()
        #expect(try await c.readResponse()?.text == "still here")
    }
}
