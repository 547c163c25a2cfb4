import HTTPChatCore
import HTTPChatServer
import HTTPTypes
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import CSpawn

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// One running CGI script: its pipes as NIO channels (no threads), its head handed over once, its body
/// through a bounded bridge the connection pulls (a slow client slows the script, never grows memory).
final class CGIRun: Sendable {
    enum Failure: Error {
        case timedOut
        case badHead(String)
        case noHead
    }

    private let process: SpawnedProcess
    private let io: NIOAsyncChannel<ByteBuffer, ByteBuffer>
    private let bridge = StreamBridge()
    private let headResult = NIOLockedValueBox<(result: Result<CGIHead, any Error>?, waiter: CheckedContinuation<CGIHead, any Error>?)>((nil, nil))
    private let timedOut = NIOLockedValueBox(false)
    /// Called once the script has been reaped (or could not start).
    private let onExit: @Sendable () -> Void

    /// The body's producer for the response.
    var bodyProducer: StreamBridgeProducer { StreamBridgeProducer(bridge: bridge) }

    private init(process: SpawnedProcess, io: NIOAsyncChannel<ByteBuffer, ByteBuffer>, onExit: @escaping @Sendable () -> Void) {
        self.process = process
        self.io = io
        self.onExit = onExit
    }

    /// Starts `script` with its standard streams on pipes handed to NIO. `onExit` is called once when the
    /// script has ended and been reaped; not at all when this throws.
    static func start(
        _ script: String, environment: [String: String], directory: String, logger: Logger, name: String,
        onExit: @escaping @Sendable () -> Void
    ) async throws -> CGIRun {
        let process: SpawnedProcess
        let inFD: CInt, outFD: CInt, errFD: CInt
        do {
            // posix_spawn waits for the child's exec: done on NIO's thread pool, never on the event loop.
            (process, inFD, outFD, errFD) = try await NIOThreadPool.singleton.runIfActive {
                try SpawnedProcess.start(script, environment: environment, directory: directory)
            }
        } catch {
            logger.error("cgi script could not start", metadata: ["script": "\(name)", "error": "\(error)"])
            throw HTTPError(.badGateway)
        }
        let group = MultiThreadedEventLoopGroup.singleton
        let io: NIOAsyncChannel<ByteBuffer, ByteBuffer>
        let errors: NIOAsyncChannel<ByteBuffer, Never>
        do {
            io = try await NIOPipeBootstrap(group: group).takingOwnershipOfDescriptors(input: outFD, output: inFD) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try NIOAsyncChannel<ByteBuffer, ByteBuffer>(
                        wrappingChannelSynchronously: channel, configuration: .init(isOutboundHalfClosureEnabled: true)
                    )
                }
            }
            errors = try await NIOPipeBootstrap(group: group).takingOwnershipOfDescriptor(input: errFD) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try NIOAsyncChannel<ByteBuffer, Never>(wrappingChannelSynchronously: channel)
                }
            }
        } catch {
            process.killGroup()
            Task { await process.reap(killingAfterGrace: .zero) }
            throw error
        }
        Task {
            try? await errors.executeThenClose { inbound in
                for try await chunk in inbound {
                    for line in Self.logLines(chunk) {
                        logger.warning("cgi stderr", metadata: ["script": "\(name)", "line": "\(line)"])
                    }
                }
            }
        }
        return CGIRun(process: process, io: io, onExit: onExit)
    }

    /// The lines of a chunk of a script's standard error, as they may be logged: split at LF bytes (a Swift
    /// split on the Character "\n" does not split "\r\n", which is one Character, so a script echoing a
    /// request's text could end the log line and forge the next), a trailing CR dropped, every other control
    /// byte (C0 but tab, DEL, C1) shown as `\u{XX}`, invalid UTF-8 as U+FFFD, empty lines skipped.
    ///
    /// - Parameter chunk: bytes read from the script's standard error.
    /// - Returns: the lines, none holding a control character.
    static func logLines(_ chunk: ByteBuffer) -> [String] {
        chunk.readableBytesView.split(separator: 10).compactMap { raw -> String? in
            let line = raw.last == 13 ? raw.dropLast() : raw
            guard !line.isEmpty else { return nil }
            var text = ""
            for scalar in String(decoding: line, as: UTF8.self).unicodeScalars {
                if scalar.value < 0x20 && scalar != "\t" || scalar.value == 0x7F || (0x80...0x9F).contains(scalar.value) {
                    text += "\\u{" + String(scalar.value, radix: 16, uppercase: true) + "}"
                } else {
                    text.unicodeScalars.append(scalar)
                }
            }
            return text
        }
    }

    /// Runs the exchange and returns the script's head; the body follows through ``bodyProducer``.
    func head(body: RequestBody, timeout: Duration, limit: Int) async throws -> CGIHead {
        let process = self.process
        let channel = io.channel
        let timer = Task { [weak self] in
            try await Task.sleep(for: timeout)
            self?.timedOut.withLockedValue { $0 = true }
            // Resolved before the kill: the killed script's end of output must not be read first as a script
            // that ended without a head (502 instead of 504). The first result wins.
            self?.resolveHead(.failure(Failure.timedOut))
            process.killGroup()
            // A child that left the group (`setsid`) may still hold the pipes open: close our ends, so the
            // response ends at the deadline whatever it does.
            channel.close(promise: nil)
        }
        Task { [self] in
            defer { timer.cancel() }
            do {
                try await io.executeThenClose { inbound, outbound in
                    try await withThrowingTaskGroup(of: Void.self) { group in
                        group.addTask {
                            do {
                                for try await chunk in body { try await outbound.write(chunk) }
                            } catch {}  // the script may stop reading: that is its choice
                            outbound.finish()
                        }
                        var buffer = ByteBuffer()
                        var iterator = inbound.makeAsyncIterator()
                        var head: CGIHead?
                        while head == nil, var chunk = try await iterator.next() {
                            buffer.writeBuffer(&chunk)
                            head = try Self.parseHead(&buffer, limit: limit)
                        }
                        guard let head else { throw Failure.noHead }
                        self.resolveHead(.success(head))
                        if buffer.readableBytes > 0 { try await self.bridge.write(buffer) }
                        while let chunk = try await iterator.next() { try await self.bridge.write(chunk) }
                        group.cancelAll()
                    }
                }
                // A script killed at its timeout after its head was sent ends its output early: the body must
                // not look whole, so the connection is aborted rather than the body ended.
                if timedOut.withLockedValue({ $0 }) { bridge.fail() } else { bridge.finish() }
            } catch {
                resolveHead(.failure(error))
                bridge.fail()
            }
            // Its output has ended: a script still running past that is stopped, and either way reaped.
            await process.reap(killingAfterGrace: .milliseconds(100))
            onExit()
        }
        return try await withCheckedThrowingContinuation { continuation in
            let ready: Result<CGIHead, any Error>? = headResult.withLockedValue { state in
                if let result = state.result { return result }
                state.waiter = continuation
                return nil
            }
            if let ready { continuation.resume(with: ready) }
        }
    }

    /// Stops the script and drops its body (a local redirect).
    func abandon() {
        process.killGroup()
        bridge.fail()
    }

    private func resolveHead(_ result: Result<CGIHead, any Error>) {
        let waiter: CheckedContinuation<CGIHead, any Error>? = headResult.withLockedValue { state in
            guard state.result == nil else { return nil }
            state.result = result
            defer { state.waiter = nil }
            return state.waiter
        }
        waiter?.resume(with: result)
    }

    /// Parses a CGI response head (RFC 3875 §6.3) at the front of `buffer`, removing it; nil when it has not
    /// ended yet. Lines may end in LF or CRLF.
    static func parseHead(_ buffer: inout ByteBuffer, limit: Int) throws -> CGIHead? {
        let bytes = Array(buffer.readableBytesView)
        var end: Int?
        var skip = 0
        for i in 0..<bytes.count where bytes[i] == 10 {
            if i + 1 < bytes.count, bytes[i + 1] == 10 { end = i; skip = 2; break }
            if i + 2 < bytes.count, bytes[i + 1] == 13, bytes[i + 2] == 10 { end = i; skip = 3; break }
        }
        guard let end else {
            if bytes.count > limit { throw Failure.badHead("response head over \(limit) bytes") }
            return nil
        }
        // The same bound whether the head arrives in one read or many.
        guard end + skip <= limit else { throw Failure.badHead("response head over \(limit) bytes") }
        // At least one CGI field (RFC 3875 §6.2): a bare blank line is no response.
        guard end > 0 else { throw Failure.badHead("response head without fields") }
        var head = CGIHead()
        // Split on LF bytes (a Swift Character "\r\n" would not split on "\n"), then drop a trailing CR.
        for rawLine in bytes[..<end].split(separator: 10) {
            let line = Substring(String(decoding: rawLine.last == 13 ? rawLine.dropLast() : rawLine, as: UTF8.self))
            guard let colon = line.firstIndex(of: ":") else { throw Failure.badHead("bad header line") }
            let name = String(line[..<colon].trimmingOWS())
            let value = String(line[line.index(after: colon)...].trimmingOWS())
            switch name.lowercased() {
            case "status":
                // A final status only (RFC 9110 §15): a 1xx sent as the whole answer would make the client
                // take the next response for this request's, a 101 would turn the connection into a tunnel
                // no one asked for, and a code outside 200-599 is no status at all. They are a 502.
                let digits = value.prefix(3)
                guard digits.count == 3, digits.allSatisfy(\.isASCII), digits.allSatisfy(\.isNumber),
                    let code = Int(digits), (200...599).contains(code),
                    value.count == 3 || value.dropFirst(3).first == " "
                else { throw Failure.badHead("bad Status \(value)") }
                let reason = value.dropFirst(3).trimmingOWS()
                // `Status: 201` alone takes the standard phrase (`HTTPResponse.Status(code:)` has none).
                let phrase = reason.isEmpty ? ResponseHeadWriter.reasonPhrases[code] ?? "" : String(reason)
                head.status = HTTPResponse.Status(code: code, reasonPhrase: phrase)
            case "location":
                head.location = value
            default:
                guard let fieldName = HTTPField.Name(name) else { throw Failure.badHead("bad header name") }
                head.fields.append(HTTPField(name: fieldName, value: value))
            }
        }
        buffer.moveReaderIndex(forwardBy: end + skip)
        return head
    }
}
