import Foundation
import NIOConcurrencyHelpers
import NIOCore
import NIOEmbedded
import TestSupport
import Testing

@testable import HTTPChatCore
@testable import HTTPChatServer

/// Two clients hold the cap's two slots with keep-alive; six more connect (over TLS when `ca` is given, the
/// handshake in the queue too) and each sends a GET with `Connection: close`. Then the holders close, one
/// after the other. Prints `at cap N` (answers while the slots were held) and one line per queued client:
/// `200` or what went wrong (`reset`, `closed`, `timeout`).
private func queuedClientsScript(port: Int, ca: String?) -> String {
    """
    python3 - <<'EOF'
    import socket, ssl, threading, time
    port = \(port)
    ctx = ssl.create_default_context(cafile='\(ca ?? "")') if \(ca == nil ? "False" : "True") else None
    def connect():
        s = socket.create_connection(('127.0.0.1', port), timeout=20)
        return ctx.wrap_socket(s, server_hostname='localhost') if ctx else s
    def read_small(s):
        data = b''
        while not data.endswith(b'hello'):
            chunk = s.recv(4096)
            if not chunk: break
            data += chunk
        return data
    holders = []
    for _ in range(2):
        s = connect()
        s.sendall(b'GET /hello HTTP/1.1\\r\\nHost: localhost\\r\\n\\r\\n')
        assert read_small(s).startswith(b'HTTP/1.1 200'), 'a holder was not served'
        holders.append(s)
    results = {}
    def queued(i):
        try:
            s = connect()
            s.sendall(b'GET /hello HTTP/1.1\\r\\nHost: localhost\\r\\nConnection: close\\r\\n\\r\\n')
            data = b''
            while True:
                chunk = s.recv(4096)
                if not chunk: break
                data += chunk
            results[i] = data[:12].decode() if data else 'closed'
        except ConnectionResetError:
            results[i] = 'reset'
        except socket.timeout:
            results[i] = 'timeout'
        except Exception as e:
            results[i] = type(e).__name__
    threads = [threading.Thread(target=queued, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
        time.sleep(0.05)
    time.sleep(1)
    print('at cap', len(results))
    holders[0].close()
    time.sleep(0.5)
    holders[1].close()
    for t in threads: t.join(25)
    for i in range(6): print(results.get(i, 'waiting'))
    EOF

    """
}

private func shellOutput(_ command: String) async throws -> String {
    try await blocking { try runProcess("/bin/sh", ["-c", command + " 2>&1"]) }
}

@Suite("Connection cap live", .serialized)
struct ConnectionLimiterLiveTests {
    @Test("at the connection cap queued clients wait and are all served as slots free: none is reset")
    func queuedClientsAreServed() async throws {
        var configuration = ServerConfiguration(host: "127.0.0.1", port: 0)
        configuration.threads = 2
        configuration.maxConnections = 2
        let server = try await HTTPServer.start(configuration: configuration, responder: try liveRouter())
        let out = try await shellOutput(queuedClientsScript(port: server.port, ca: nil))
        #expect(out == "at cap 0\n" + String(repeating: "HTTP/1.1 200\n", count: 6), "got \(out)")
        await server.shutdown(gracePeriod: .seconds(1))
    }

    @Test("over TLS too: clients queued at the cap, handshake not begun, are all served; none is reset")
    func queuedTLSClientsAreServed() async throws {
        let certs = try TestCertificates()
        var configuration = ServerConfiguration(host: "127.0.0.1", port: 0)
        configuration.threads = 2
        configuration.maxConnections = 2
        configuration.tls = TLSSettings(certificateChainFile: certs.serverCert, privateKeyFile: certs.serverKey)
        let server = try await HTTPServer.start(configuration: configuration, responder: try liveRouter())
        let out = try await shellOutput(queuedClientsScript(port: server.port, ca: certs.ca))
        #expect(out == "at cap 0\n" + String(repeating: "HTTP/1.1 200\n", count: 6), "got \(out)")
        await server.shutdown(gracePeriod: .seconds(1))
    }
}

/// Collects the channels the limiter hands on.
private final class Accepted: ChannelInboundHandler {
    typealias InboundIn = any Channel
    var channels: [any Channel] = []
    func channelRead(context: ChannelHandlerContext, data: NIOAny) { channels.append(unwrapInboundIn(data)) }
}

@Suite("Connection limiter")
struct ConnectionLimiterTests {
    @Test("a socket accepted past the cap is held, never closed, handed on when a slot frees, and closed with the listener")
    func pastTheCapIsHeld() throws {
        let listener = EmbeddedChannel()
        try listener.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 8080)).wait()  // active, as a bound listener is
        let limiter = ConnectionLimiter(limit: 2)
        let accepted = Accepted()
        try listener.pipeline.syncOperations.addHandler(limiter)
        try listener.pipeline.syncOperations.addHandler(accepted)
        let children = (0..<4).map { _ in EmbeddedChannel(loop: listener.embeddedEventLoop) }
        for child in children { try listener.writeInbound(child as any Channel) }
        #expect(accepted.channels.count == 2, "handed on \(accepted.channels.count), want the cap, 2")
        #expect(limiter.heldCount == 2)
        for child in children[2...] { #expect(child.closeFutureIsPending, "a child past the cap was closed") }

        try children[0].close().wait()
        listener.embeddedEventLoop.run()
        #expect(accepted.channels.count == 3, "after a close: handed on \(accepted.channels.count), want 3")
        #expect(accepted.channels.last === children[2], "the oldest held socket goes first")
        #expect(limiter.heldCount == 1)

        _ = try listener.finish()
        listener.embeddedEventLoop.run()
        #expect(!children[3].closeFutureIsPending, "a held socket outlived its listener")
    }
}

extension EmbeddedChannel {
    /// Whether the channel has not been closed yet.
    fileprivate var closeFutureIsPending: Bool {
        let done = NIOLockedValueBox(false)
        closeFuture.whenComplete { _ in done.withLockedValue { $0 = true } }
        return !done.withLockedValue { $0 }
    }
}
