import NIOCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

extension HTTPServer {
    /// Why ``start(configuration:responder:group:logger:)`` could not listen, in words a person can act on: the cause
    /// and what to try, instead of the socket call's name and an errno. Command-line tools print it and exit.
    ///
    /// ```swift
    /// do { try await group.run() } catch {
    ///     if let why = HTTPServer.listenFailure(error, host: host, port: port) { print("Error: \(why)"); exit(1) }
    ///     throw error
    /// }
    /// ```
    ///
    /// - Parameters:
    ///   - error: what starting the server threw.
    ///   - host: the address it was to listen on.
    ///   - port: the port it was to listen on.
    /// - Returns: the explanation, or nil when `error` is not about listening (then it is not the user's to fix).
    public static func listenFailure(_ error: any Error, host: String, port: Int) -> String? {
        if error is SocketAddressError.UnknownHost {
            return "the address \(host) could not be resolved; try 127.0.0.1, or 0.0.0.0 for every interface"
        }
        guard let io = error as? IOError else { return nil }
        switch io.errnoCode {
        case EADDRINUSE:
            return "port \(port) on \(host) is in use (another server is listening there); try port 0 for a free one, or another port"
        case EACCES:
            return "permission denied to listen on port \(port): ports below 1024 need root or CAP_NET_BIND_SERVICE; try port 8000"
        case EADDRNOTAVAIL:
            return "the address \(host) is not on this machine; try 127.0.0.1, or 0.0.0.0 for every interface"
        default:
            return nil
        }
    }

    /// `error` as a ``ListenFailure`` when it is about listening (a port in use, a privileged port, an address
    /// not on this machine), else `error` itself: for a tool whose `main` prints what it throws (swift-argument-
    /// parser prints `Error: ` and the description, and exits 1), so the person reads the cause and the fix.
    ///
    /// ```swift
    /// do { server = try await HTTPServer.start(configuration: configuration, responder: responder) }
    /// catch { throw HTTPServer.explained(error, host: host, port: port) }
    /// ```
    ///
    /// - Parameters:
    ///   - error: what binding threw.
    ///   - host: the address it was to listen on.
    ///   - port: the port it was to listen on.
    /// - Returns: the error to throw.
    public static func explained(_ error: any Error, host: String, port: Int) -> any Error {
        listenFailure(error, host: host, port: port).map(ListenFailure.init) ?? error
    }
}

/// Why a server could not listen, in words a person can act on (``HTTPServer/explained(_:host:port:)``).
public struct ListenFailure: Error, CustomStringConvertible, Sendable {
    /// The cause and what to try.
    public let description: String

    /// A failure with its explanation.
    ///
    /// - Parameter description: the cause and what to try.
    public init(_ description: String) { self.description = description }
}
