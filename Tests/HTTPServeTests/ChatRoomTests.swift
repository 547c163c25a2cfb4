import Foundation
import TestSupport
import Testing

private let chromium = ["/usr/bin/chromium", "/usr/bin/chromium-browser"].first { FileManager.default.isExecutableFile(atPath: $0) }
private let hasWebsockets =
    (try? runProcess("/usr/bin/env", ["python3", "-c", "import websockets; print('present')"])) == "present\n"

/// Examples/ChatRoom with real clients: Python's `websockets` (PyPI) and headless Chromium.
@Suite("chat-room (Examples/ChatRoom), live", .serialized,
       .enabled(if: hasWebsockets, "needs Python's websockets (pip install websockets)"))
struct ChatRoomTests {
    private func start() throws -> Serve {
        try Serve(["--port", "0", "--threads", "1"], binary: builtBinary("chat-room"))
    }

    @Test("Python's websockets client: text and binary echo, with and without permessage-deflate, a 16 MiB binary message byte for byte, 2 MiB of text, fragments, a clean close")
    func echoWithPython() async throws {
        let serve = try start()
        #expect(serve.firstLine.hasPrefix("chat-room listening on http://127.0.0.1:"))
        let out = try await python("""
            import asyncio, os, websockets
            async def main():
                url = "ws://127.0.0.1:\(serve.port)/echo"
                for compression in ("deflate", None):
                    async with websockets.connect(url, compression=compression, max_size=None) as ws:
                        print("ext", ws.response.headers.get("Sec-WebSocket-Extensions"))
                        await ws.send("héllo wörld"); print("text", await ws.recv() == "héllo wörld")
                        data = os.urandom(70000); await ws.send(data); print("binary", await ws.recv() == data)
                        big = os.urandom(16 << 20); await ws.send(big); print("16MiB", await ws.recv() == big)
                        text = "ü" * (1 << 20); await ws.send(text); print("2MiB text", await ws.recv() == text)
                        await ws.send(["frag", "ment", "ed"]); print("fragments", await ws.recv() == "fragmented")
                        pong = await ws.ping(b"hi"); await asyncio.wait_for(pong, 5); print("pong", True)
                    print("close", ws.close_code)
            asyncio.run(main())
            """)
        let expected = ["text True", "binary True", "16MiB True", "2MiB text True", "fragments True", "pong True", "close 1000"]
        #expect(out.contains("ext permessage-deflate\n"), "\(out)")
        #expect(out.contains("ext None\n"), "\(out)")
        let lines = out.split(separator: "\n").map(String.init)
        for line in expected { #expect(lines.filter { $0 == line }.count == 2, "\(line) twice in:\n\(out)") }
        #expect(await serve.stop() == 0)
    }

    @Test("frames a server must refuse, sent over a raw socket, get their close codes and a closed connection")
    func refusalsOverTheWire() async throws {
        let serve = try start()
        let out = try await python("""
            import socket, struct
            def handshake():
                s = socket.create_connection(("127.0.0.1", \(serve.port))); s.settimeout(5)
                s.sendall(b"GET /echo HTTP/1.1\\r\\nHost: x\\r\\nUpgrade: websocket\\r\\nConnection: Upgrade\\r\\n"
                          b"Sec-WebSocket-Version: 13\\r\\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\\r\\n\\r\\n")
                head = b""
                while b"\\r\\n\\r\\n" not in head: head += s.recv(1)
                assert head.startswith(b"HTTP/1.1 101"), head
                return s
            def masked(first, payload, key=b"\\x01\\x02\\x03\\x04"):
                return bytes([first, 0x80 | len(payload)]) + key + bytes(b ^ key[i % 4] for i, b in enumerate(payload))
            cases = [("unmasked", bytes([0x81, 2]) + b"hi"), ("bad utf-8", masked(0x81, b"\\xff")),
                     ("reserved opcode", masked(0x83, b"")), ("long ping", bytes([0x89, 0xFE, 0, 200]) + b"\\0" * 204),
                     ("bad close code", masked(0x88, struct.pack("!H", 1005)))]
            for name, frame in cases:
                s = handshake(); s.sendall(frame)
                data = b""
                while True:
                    chunk = s.recv(65536)
                    if not chunk: break
                    data += chunk
                print(name, data[0] == 0x88, struct.unpack("!H", data[2:4])[0])
            """)
        #expect(out == "unmasked True 1002\nbad utf-8 True 1007\nreserved opcode True 1002\nlong ping True 1002\nbad close code True 1002\n", "\(out)")
        #expect(await serve.stop() == 0)
    }

    @Test("backpressure both ways: a client that sends 256 MiB and reads nothing stalls in bounded server memory, then gets every byte back in order")
    func backpressure() async throws {
        let serve = try start()
        let before = serve.rss ?? 0
        let port = serve.port
        let marker = "/tmp/ws-bp-\(port)"
        defer { try? FileManager.default.removeItem(atPath: marker) }
        async let run = python("""
            import socket, struct, os, time, select
            s = socket.create_connection(("127.0.0.1", \(port)))
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
            s.sendall(b"GET /echo HTTP/1.1\\r\\nHost: x\\r\\nUpgrade: websocket\\r\\nConnection: Upgrade\\r\\n"
                      b"Sec-WebSocket-Version: 13\\r\\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\\r\\n\\r\\n")
            head = b""
            while b"\\r\\n\\r\\n" not in head: head += s.recv(1)
            key = b"\\x11\\x22\\x33\\x44"
            payload = bytes(range(256)) * 4096  # 1 MiB
            masked = bytes(b ^ key[i % 4] for i, b in enumerate(payload))
            frame = bytes([0x82, 0xFF]) + struct.pack("!Q", len(payload)) + key + masked
            s.setblocking(False)
            sent, total, stalled_at = 0, 256 * len(frame), None
            deadline = time.time() + 20
            while sent < total and time.time() < deadline:
                _, w, _ = select.select([], [s], [], 0.5)
                if not w:
                    stalled_at = sent
                    break
                try: sent += s.send(frame[sent % len(frame):])
                except BlockingIOError: pass
            print("stalled", stalled_at is not None and stalled_at < total)
            open("/tmp/ws-bp-\(port)", "w").write("stalled")
            time.sleep(1.0)  # the test reads the server's memory now
            # Then read while sending the rest: every message comes back whole, in order.
            received, frames, buffer = 0, 0, b""
            expected_frame = bytes([0x82, 0x7F]) + struct.pack("!Q", len(payload)) + payload
            deadline = time.time() + 60
            while frames < 256 and time.time() < deadline:
                r, w, _ = select.select([s], [s] if sent < total else [], [], 1)
                if w:
                    try: sent += s.send(frame[sent % len(frame):])
                    except BlockingIOError: pass
                if r:
                    chunk = s.recv(1 << 20)
                    if not chunk: break
                    buffer += chunk
                    while len(buffer) >= len(expected_frame):
                        if buffer[:len(expected_frame)] != expected_frame: print("mismatch at", frames); frames = 999; break
                        buffer = buffer[len(expected_frame):]; frames += 1
            print("echoed", frames)
            """)
        var peakDuringStall = before
        for _ in 0..<600 where !FileManager.default.fileExists(atPath: marker) { try await Task.sleep(for: .milliseconds(50)) }
        for _ in 0..<10 {
            peakDuringStall = max(peakDuringStall, serve.rss ?? 0)
            try await Task.sleep(for: .milliseconds(50))
        }
        let out = try await run
        #expect(out == "stalled True\nechoed 256\n", "\(out)")
        #expect(peakDuringStall - before < 80 << 20, "server grew by \((peakDuringStall - before) >> 20) MiB while the client read nothing")
        #expect(await serve.stop() == 0)
    }

    @Test("SIGTERM closes open WebSockets with 1001 (going away) and the server exits 0 once they are closed")
    func shutdownClosesSockets() async throws {
        let serve = try start()
        let client = Process()
        client.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        client.arguments = ["python3", "-c", """
            import asyncio, websockets
            async def main():
                async with websockets.connect("ws://127.0.0.1:\(serve.port)/echo") as ws:
                    print("open", flush=True)
                    try:
                        await asyncio.wait_for(ws.recv(), 20)
                    except websockets.ConnectionClosed as closed:
                        print("closed", closed.rcvd.code if closed.rcvd else None, flush=True)
            asyncio.run(main())
            """]
        let pipe = Pipe()
        client.standardOutput = pipe
        try startUnblocked(client)
        _ = try await readPipe(pipe, until: "open", seconds: 10)
        let status = await serve.stop()
        let out = try await readPipe(pipe, until: "closed", seconds: 10)
        #expect(out.contains("closed 1001"), "\(out)")
        #expect(status == 0)
    }

    @Test("two Python clients in the room see joins, a rename and each other's lines")
    func room() async throws {
        let serve = try start()
        let out = try await python("""
            import asyncio, websockets
            async def main():
                url = "ws://127.0.0.1:\(serve.port)/chat"
                async with websockets.connect(url) as a:
                    print(await a.recv())
                    async with websockets.connect(url) as b:
                        print(await a.recv()); print(await b.recv())
                        await a.send("/nick ada"); print(await b.recv()); print(await a.recv())
                        await b.send("hello ada"); print(await a.recv())
                    print(await a.recv())
            asyncio.run(main())
            """)
        #expect(out == "* guest1 joined\n* guest2 joined\n* guest2 joined\n* guest1 is now ada\n* guest1 is now ada\nguest2: hello ada\n* guest2 left\n", "\(out)")
        #expect(await serve.stop() == 0)
    }

    @Test("a member that reads nothing never stalls the room: the others get every line in order, and it is dropped with 1008")
    func silentMemberIsDropped() async throws {
        let serve = try start()
        let out = try await python("""
            import asyncio, socket, struct, time, websockets
            async def main():
                port = \(serve.port)
                # A member that joins and then reads nothing, with a small receive window.
                silent = socket.socket(); silent.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
                silent.connect(("127.0.0.1", port))
                silent.sendall(b"GET /chat HTTP/1.1\\r\\nHost: x\\r\\nUpgrade: websocket\\r\\nConnection: Upgrade\\r\\n"
                               b"Sec-WebSocket-Version: 13\\r\\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\\r\\n\\r\\n")
                head = b""
                while b"\\r\\n\\r\\n" not in head: head += silent.recv(1)
                url = f"ws://127.0.0.1:{port}/chat"
                async with websockets.connect(url, max_queue=None) as a, websockets.connect(url, max_queue=None) as b:
                    while (await b.recv()) != "* guest3 joined": pass
                    count, line = 3000, "x" * 3900
                    start = time.monotonic()
                    async def send():
                        for i in range(count): await a.send(f"{i} {line}")
                    sender = asyncio.create_task(send())
                    got, left = [], False
                    while len(got) < count or not left:
                        message = await asyncio.wait_for(b.recv(), 30)
                        if message == "* guest1 left": left = True
                        elif message.startswith("guest2: "): got.append(int(message[8:].split(" ")[0]))
                    await sender
                    print("in order", got == list(range(count)))
                    print("left", left, time.monotonic() - start < 30)
                # The server closed the silent member's connection: reading drains what was queued, then ends.
                silent.settimeout(10)
                closed = False
                try:
                    while silent.recv(1 << 20): pass
                    closed = True
                except ConnectionResetError:
                    closed = True
                except socket.timeout:
                    pass
                print("silent closed", closed)
            asyncio.run(main())
            """)
        #expect(out == "in order True\nleft True True\nsilent closed True\n", "\(out)")
        #expect(await serve.stop() == 0)
    }

    @Test("headless Chromium opens the page's WebSocket (its own handshake, permessage-deflate offer and all), joins under a name and talks to a Python member",
          .enabled(if: chromium != nil, "needs chromium"))
    func chromiumJoins() async throws {
        let serve = try start()
        let listener = Process()
        listener.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        let script = """
            import asyncio, websockets
            async def main():
                async with websockets.connect("ws://127.0.0.1:\(serve.port)/chat") as ws:
                    print(await ws.recv(), flush=True)   # own join
                    for _ in range(3): print(await asyncio.wait_for(ws.recv(), 30), flush=True)
            asyncio.run(main())
            """
        listener.arguments = ["python3", "-c", script]
        let pipe = Pipe()
        listener.standardOutput = pipe
        try startUnblocked(listener)
        _ = try await readPipe(pipe, until: "joined", seconds: 10)
        let dom = try await sh("\(chromium!) --headless --no-sandbox --disable-gpu --virtual-time-budget=4000 --dump-dom '\(serve.base)/?nick=chromium&say=hello%20from%20chromium' 2>/dev/null")
        let heard = try await readPipe(pipe, until: "chromium: hello from chromium", seconds: 20)
        #expect(heard.contains("* guest2 joined"), "\(heard)")
        #expect(heard.contains("* guest2 is now chromium"), "\(heard)")
        #expect(heard.contains("chromium: hello from chromium"), "\(heard)")
        #expect(dom.contains("<title>chat-room: connected</title>") || dom.contains("connected</span>"), "\(dom.prefix(2000))")
        listener.terminate()
        #expect(await serve.stop() == 0)
    }
}
