public import NIOSSL
import NIOCore
import NIOPosix
import NIOConcurrencyHelpers

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// How an ``HTTPServer`` speaks HTTPS: its certificate chain and private key, and optionally the certificate
/// authority that client certificates must be signed by (mutual TLS).
///
/// TLS 1.2 and 1.3 only; for TLS 1.2, forward-secret AEAD cipher suites only (ECDHE with AES-GCM or
/// ChaCha20-Poly1305); ALPN offers `http/1.1`; no renegotiation, no compression.
///
/// ```swift
/// var configuration = ServerConfiguration(host: "0.0.0.0", port: 8443)
/// configuration.tls = TLSSettings(certificateChainFile: "cert.pem", privateKeyFile: "key.pem")
/// let server = try await HTTPServer.start(configuration: configuration, responder: try router.build())
/// ```
public struct TLSSettings: Sendable {
    /// Where PEM text comes from.
    public enum PEMSource: Sendable, Hashable {
        /// A file holding PEM text (a certificate file may hold the whole chain, leaf first).
        case file(String)
        /// The PEM text itself.
        case pem(String)
    }

    /// The server's certificate, then any intermediates.
    public var certificateChain: PEMSource
    /// The private key of the first certificate (PKCS#8, RSA or EC, unencrypted).
    public var privateKey: PEMSource
    /// Mutual TLS: clients must present a certificate signed by one of these authorities. Nil (the default):
    /// no client certificate is asked for.
    public var clientCertificateAuthority: PEMSource?
    /// With ``clientCertificateAuthority``: whether a client without a certificate is refused (default true).
    /// False accepts it, and still verifies a certificate that is presented.
    public var requireClientCertificate = true
    /// The oldest version accepted: `.tlsv12` (default) or `.tlsv13`. Older ones are refused whatever this says.
    public var minimumVersion: TLSVersion = .tlsv12
    /// The protocols offered by ALPN, most preferred first. Default `["http/1.1"]`.
    public var applicationProtocols = ["http/1.1"]

    /// The ECDHE AEAD suites of TLS 1.2, in BoringSSL's cipher-list syntax (TLS 1.3 has only AEAD suites).
    static let cipherSuites = [
        "ECDHE-ECDSA-AES128-GCM-SHA256", "ECDHE-RSA-AES128-GCM-SHA256",
        "ECDHE-ECDSA-AES256-GCM-SHA384", "ECDHE-RSA-AES256-GCM-SHA384",
        "ECDHE-ECDSA-CHACHA20-POLY1305", "ECDHE-RSA-CHACHA20-POLY1305",
    ].joined(separator: ":")

    /// Settings from PEM files.
    ///
    /// - Parameters:
    ///   - certificateChainFile: the certificate, then any intermediates.
    ///   - privateKeyFile: its private key.
    ///   - clientCertificateAuthorityFile: for mutual TLS, the authorities client certificates must chain to.
    public init(certificateChainFile: String, privateKeyFile: String, clientCertificateAuthorityFile: String? = nil) {
        self.certificateChain = .file(certificateChainFile)
        self.privateKey = .file(privateKeyFile)
        self.clientCertificateAuthority = clientCertificateAuthorityFile.map { .file($0) }
    }

    /// Settings from PEM sources.
    ///
    /// - Parameters:
    ///   - certificateChain: the certificate, then any intermediates.
    ///   - privateKey: its private key.
    ///   - clientCertificateAuthority: for mutual TLS, the authorities client certificates must chain to.
    public init(certificateChain: PEMSource, privateKey: PEMSource, clientCertificateAuthority: PEMSource? = nil) {
        self.certificateChain = certificateChain
        self.privateKey = privateKey
        self.clientCertificateAuthority = clientCertificateAuthority
    }

    /// Reads and checks the files and makes the TLS context. Blocking (it reads files): call it off the
    /// event loops, as ``TLSCredentials/load(_:)`` does.
    ///
    /// - Parameter now: the time expiry is judged by (seconds since the epoch).
    /// - Returns: the context and warnings (a certificate that has expired or is not valid yet).
    /// - Throws: ``TLSSettingsError`` naming the file and the cause.
    func makeContext(now: time_t = time(nil)) throws -> (context: NIOSSLContext, leaf: NIOSSLCertificate, warnings: [String]) {
        let chain = try Self.certificates(certificateChain, role: "certificate")
        let key = try Self.key(privateKey)
        let leaf = chain[0]
        guard Self.key(key, matches: leaf) else {
            throw TLSSettingsError(
                "the private key \(privateKey.name) does not belong to the certificate \(certificateChain.name)"
            )
        }
        var warnings: [String] = []
        if leaf.notValidAfter < now {
            warnings.append("the certificate \(certificateChain.name) expired at \(Self.utc(leaf.notValidAfter)); clients will refuse it")
        } else if leaf.notValidBefore > now {
            warnings.append("the certificate \(certificateChain.name) is not valid before \(Self.utc(leaf.notValidBefore))")
        }
        var configuration = TLSConfiguration.makeServerConfiguration(
            certificateChain: chain.map { .certificate($0) },
            privateKey: .privateKey(key)
        )
        configuration.minimumTLSVersion = minimumVersion == .tlsv13 ? .tlsv13 : .tlsv12
        configuration.maximumTLSVersion = .tlsv13
        configuration.cipherSuites = Self.cipherSuites
        configuration.applicationProtocols = applicationProtocols
        configuration.renegotiationSupport = .none
        if let authority = clientCertificateAuthority {
            let roots = try Self.certificates(authority, role: "client certificate authority")
            configuration.trustRoots = .certificates(roots)
            configuration.certificateVerification = requireClientCertificate ? .noHostnameVerification : .optionalVerification
            configuration.sendCANameList = true
        }
        do {
            return (try NIOSSLContext(configuration: configuration), leaf, warnings)
        } catch {
            throw TLSSettingsError("the TLS context could not be made from \(certificateChain.name) and \(privateKey.name): \(error)")
        }
    }

    private static func pemBytes(_ source: PEMSource, role: String) throws -> [UInt8] {
        switch source {
        case .pem(let text):
            return Array(text.utf8)
        case .file(let path):
            let fd = open(path, O_RDONLY | O_CLOEXEC)
            guard fd >= 0 else {
                let cause = errno == ENOENT ? "no such file" : errno == EACCES ? "permission denied" : String(cString: strerror(errno))
                throw TLSSettingsError("cannot read the \(role) file \(path): \(cause)")
            }
            defer { close(fd) }
            var bytes: [UInt8] = []
            var chunk = [UInt8](repeating: 0, count: 16 * 1024)
            while true {
                let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
                if n < 0 {
                    if errno == EINTR { continue }
                    throw TLSSettingsError("cannot read the \(role) file \(path): \(String(cString: strerror(errno)))")
                }
                if n == 0 { break }
                bytes += chunk[0..<n]
                guard bytes.count <= 1 << 20 else { throw TLSSettingsError("the \(role) file \(path) is over 1 MiB: not PEM") }
            }
            return bytes
        }
    }

    private static func certificates(_ source: PEMSource, role: String) throws -> [NIOSSLCertificate] {
        let bytes = try pemBytes(source, role: role)
        let certificates = (try? NIOSSLCertificate.fromPEMBytes(bytes)) ?? []
        guard !certificates.isEmpty else {
            throw TLSSettingsError("the \(role) \(source.name) holds no PEM certificate (-----BEGIN CERTIFICATE-----)")
        }
        return certificates
    }

    private static func key(_ source: PEMSource) throws -> NIOSSLPrivateKey {
        let bytes = try pemBytes(source, role: "private key")
        do {
            return try NIOSSLPrivateKey(bytes: bytes, format: .pem)
        } catch {
            throw TLSSettingsError("the private key \(source.name) holds no unencrypted PEM private key (-----BEGIN PRIVATE KEY-----)")
        }
    }

    /// Whether `key` is the private half of `certificate`'s public key: a context made from a mismatched
    /// pair would fail every handshake, so the pair is checked when it is loaded.
    private static func key(_ key: NIOSSLPrivateKey, matches certificate: NIOSSLCertificate) -> Bool {
        var probe = TLSConfiguration.makeServerConfiguration(certificateChain: [.certificate(certificate)], privateKey: .privateKey(key))
        probe.minimumTLSVersion = .tlsv12
        do {
            _ = try NIOSSLContext(configuration: probe)  // BoringSSL checks the key against the leaf here
            return true
        } catch {
            return false
        }
    }

    /// `2026-12-01 13:00:00 UTC` for a time in seconds since the epoch.
    static func utc(_ seconds: time_t) -> String {
        var t = seconds
        var parts = tm()
        gmtime_r(&t, &parts)
        func two(_ n: Int32) -> String { n < 10 ? "0\(n)" : "\(n)" }
        return "\(parts.tm_year + 1900)-\(two(parts.tm_mon + 1))-\(two(parts.tm_mday)) "
            + "\(two(parts.tm_hour)):\(two(parts.tm_min)):\(two(parts.tm_sec)) UTC"
    }
}

extension TLSSettings.PEMSource {
    /// The file's path, or "(in memory)".
    var name: String {
        switch self {
        case .file(let path): return path
        case .pem: return "(in memory)"
        }
    }
}

/// Why TLS settings could not be loaded: the message names the file and the cause.
public struct TLSSettingsError: Error, CustomStringConvertible, Sendable {
    /// The message.
    public let description: String
    init(_ description: String) { self.description = description }
}
