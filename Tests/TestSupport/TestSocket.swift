#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Errors from ``TestSocket``.
public struct TestSocketError: Error, CustomStringConvertible {
    /// What failed.
    public let description: String
}

/// A blocking TCP client with timeouts, for live loopback tests: a real socket, as a real client has.
/// `@unchecked Sendable` so that a blocking read can be moved off the cooperative pool (``blocking(_:)``); a
/// test uses one socket from one place at a time.
public final class TestSocket: @unchecked Sendable {
    private var fd: Int32
    private var buffered: [UInt8] = []

    /// Connects to `127.0.0.1:port`.
    ///
    /// - Parameters:
    ///   - port: the server's port.
    ///   - timeoutSeconds: how long a read may wait.
    ///   - receiveBuffer: a small `SO_RCVBUF`, for slow-reader tests; nil keeps the default.
    public init(port: Int, timeoutSeconds: Int = 5, receiveBuffer: Int32? = nil) throws {
        #if canImport(Glibc)
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        #else
        fd = socket(AF_INET, SOCK_STREAM, 0)
        #endif
        guard fd >= 0 else { throw TestSocketError(description: "socket() failed: errno \(errno)") }
        var tv = timeval(tv_sec: timeoutSeconds, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        if var size = receiveBuffer {
            setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, socklen_t(MemoryLayout<Int32>.size))
        }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = in_port_t(UInt16(port).bigEndian)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        let rc = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard rc == 0 else {
            // deinit still runs for a throwing init once every property is set: forget the fd first, or the
            // second close may hit a descriptor another thread has been given meanwhile.
            let failed = fd
            fd = -1
            Glibc.close(failed)
            throw TestSocketError(description: "connect() to port \(port) failed: errno \(errno)")
        }
    }

    deinit { if fd >= 0 { Glibc.close(fd) } }

    /// Sends all of `bytes`.
    public func send(_ bytes: [UInt8]) throws {
        var sent = 0
        while sent < bytes.count {
            let n = bytes[sent...].withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            guard n > 0 else { throw TestSocketError(description: "send() failed: errno \(errno)") }
            sent += n
        }
    }

    /// Sends the UTF-8 bytes of `string`.
    public func send(_ string: String) throws { try send(Array(string.utf8)) }

    /// Half-closes: the server sees end of input, the socket can still read.
    public func shutdownWrite() { shutdown(fd, Int32(SHUT_WR)) }

    /// Closes the socket.
    public func close() {
        if fd >= 0 { Glibc.close(fd) }
        fd = -1
    }

    /// Closes the socket abortively (`SO_LINGER` of zero): the server gets a reset, not a FIN.
    public func reset() {
        guard fd >= 0 else { return }
        var linger = Glibc.linger(l_onoff: 1, l_linger: 0)
        setsockopt(fd, SOL_SOCKET, SO_LINGER, &linger, socklen_t(MemoryLayout<Glibc.linger>.size))
        close()
    }

    /// Reads once into the buffer; returns false at end of stream.
    @discardableResult
    private func fill(max: Int = 64 * 1024) throws -> Bool {
        var chunk = [UInt8](repeating: 0, count: max)
        let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        if n < 0 { throw TestSocketError(description: "recv() failed or timed out: errno \(errno)") }
        if n == 0 { return false }
        buffered += chunk[..<n]
        return true
    }

    /// Reads up to and including the next `\n`, returning the line without `\r\n` or `\n`.
    public func readLine() throws -> String {
        while true {
            if let i = buffered.firstIndex(of: UInt8(ascii: "\n")) {
                var line = Array(buffered[..<i])
                buffered.removeFirst(i + 1)
                if line.last == UInt8(ascii: "\r") { line.removeLast() }
                return String(decoding: line, as: UTF8.self)
            }
            guard try fill() else { throw TestSocketError(description: "end of stream before a line") }
        }
    }

    /// Reads exactly `count` bytes.
    public func read(exactly count: Int) throws -> [UInt8] {
        while buffered.count < count {
            guard try fill() else { throw TestSocketError(description: "end of stream after \(buffered.count) of \(count) bytes") }
        }
        defer { buffered.removeFirst(count) }
        return Array(buffered[..<count])
    }

    /// Reads at most `max` bytes as soon as any are available; empty at end of stream.
    public func readSome(max: Int) throws -> [UInt8] {
        if buffered.isEmpty { try fill(max: max) }
        let n = Swift.min(max, buffered.count)
        defer { buffered.removeFirst(n) }
        return Array(buffered[..<n])
    }

    /// Reads until the peer closes, returning everything.
    public func readToEnd() throws -> [UInt8] {
        while try fill() {}
        defer { buffered = [] }
        return buffered
    }
}

/// Whether nothing of ours listens on `port` any more.
///
/// Tests run in parallel, so a port a listener gave up can be bound at once by another test's listener (and, rarely,
/// a connect to a free ephemeral port pairs the client socket with itself). A connect that is refused proves the
/// listener is gone; one that succeeds proves nothing by itself, so `isOurs` is asked, given the connected socket,
/// whether it reached the listener under test.
public func noLongerListening(port: Int, isOurs: (TestSocket) async throws -> Bool) async throws -> Bool {
    guard let socket = try? TestSocket(port: port, timeoutSeconds: 2) else { return true }
    return try await !isOurs(socket)
}
