import NIOSSL
import NIOCore
import NIOPosix
import NIOConcurrencyHelpers

/// The TLS context new connections handshake with, replaceable while serving: a reload (``HTTPServer/reloadTLS(_:)``,
/// `httpserve` on SIGHUP) swaps in a new certificate and key for the handshakes that follow, and connections
/// already open keep the pair they began with.
final class TLSCredentials: Sendable {
    private struct Loaded {
        var settings: TLSSettings
        var context: NIOSSLContext
        var leaf: NIOSSLCertificate
    }

    private let loaded: NIOLockedValueBox<Loaded>

    /// The context for the next handshake.
    var context: NIOSSLContext { loaded.withLockedValue { $0.context } }
    /// The settings last loaded.
    var settings: TLSSettings { loaded.withLockedValue { $0.settings } }
    /// The certificate clients are shown now.
    var leafCertificate: NIOSSLCertificate { loaded.withLockedValue { $0.leaf } }

    private init(_ loaded: Loaded) {
        self.loaded = NIOLockedValueBox(loaded)
    }

    /// Loads `settings` on NIO's thread pool (reading files blocks).
    ///
    /// - Returns: the credentials and the load's warnings.
    static func load(_ settings: TLSSettings) async throws -> (TLSCredentials, warnings: [String]) {
        let made = try await NIOThreadPool.singleton.runIfActive { try settings.makeContext() }
        return (TLSCredentials(Loaded(settings: settings, context: made.context, leaf: made.leaf)), made.warnings)
    }

    /// Loads `settings` (nil: the last ones again, reading their files anew) and, when they load, makes them
    /// the ones new handshakes use. When they do not, the current ones stay.
    ///
    /// - Returns: the load's warnings.
    /// - Throws: ``TLSSettingsError`` when the new pair cannot be used.
    func reload(_ settings: TLSSettings?) async throws -> [String] {
        let settings = settings ?? self.settings
        let made = try await NIOThreadPool.singleton.runIfActive { try settings.makeContext() }
        loaded.withLockedValue { $0 = Loaded(settings: settings, context: made.context, leaf: made.leaf) }
        return made.warnings
    }
}
