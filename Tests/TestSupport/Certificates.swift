#if canImport(Foundation)
import Foundation

/// Certificates made for one test run with the openssl command (nothing committed that expires): a CA and a
/// server certificate it signed (for `localhost` and `127.0.0.1`), a second server pair from the same CA (for
/// reloads), a client CA with a client certificate, another CA with its own client certificate (the wrong
/// one), and a key that matches none of them.
public final class TestCertificates: Sendable {
    /// The folder holding every file; removed on deinit.
    public let folder: String

    /// The CA that signed the server certificates (clients trust it).
    public var ca: String { folder + "/ca.pem" }
    /// The server certificate (CN localhost) and its key.
    public var serverCert: String { folder + "/server.pem" }
    /// The server certificate's key.
    public var serverKey: String { folder + "/server.key" }
    /// A second server certificate from the same CA (CN localhost, another key and serial).
    public var renewedCert: String { folder + "/renewed.pem" }
    /// The second certificate's key.
    public var renewedKey: String { folder + "/renewed.key" }
    /// The CA client certificates must be signed by (mutual TLS).
    public var clientCA: String { folder + "/client-ca.pem" }
    /// A client certificate signed by ``clientCA`` (CN test-client).
    public var clientCert: String { folder + "/client.pem" }
    /// Its key.
    public var clientKey: String { folder + "/client.key" }
    /// A client certificate from an unrelated CA (CN stranger).
    public var strangerCert: String { folder + "/stranger.pem" }
    /// Its key.
    public var strangerKey: String { folder + "/stranger.key" }
    /// A key that belongs to no certificate here.
    public var unrelatedKey: String { folder + "/unrelated.key" }

    /// Makes them (a few tenths of a second: EC P-256 keys).
    ///
    /// - Throws: when openssl is missing or fails.
    public init() throws {
        folder = FileManager.default.temporaryDirectory.appendingPathComponent("tls-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        let script = """
            set -e
            cd '\(folder)'
            key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null; }
            ca() {
                key "$1.key"
                openssl req -x509 -new -key "$1.key" -out "$1.pem" -days 3 -subj "/CN=$2" \\
                    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
            }
            signed() {  # name, CN, CA, extension
                key "$1.key"
                openssl req -new -key "$1.key" -out "$1.csr" -subj "/CN=$2" 2>/dev/null
                printf '%s\\nauthorityKeyIdentifier=keyid,issuer\\nbasicConstraints=critical,CA:FALSE\\nkeyUsage=critical,digitalSignature\\n' "$4" > "$1.ext"
                openssl x509 -req -in "$1.csr" -CA "$3.pem" -CAkey "$3.key" -CAcreateserial -out "$1.pem" -days 3 -extfile "$1.ext" 2>/dev/null
            }
            ca ca "HTTPChat Test CA"
            signed server localhost ca "subjectAltName=DNS:localhost,IP:127.0.0.1
            extendedKeyUsage=serverAuth"
            signed renewed localhost ca "subjectAltName=DNS:localhost,IP:127.0.0.1
            extendedKeyUsage=serverAuth"
            ca client-ca "HTTPChat Client CA"
            signed client test-client client-ca "extendedKeyUsage=clientAuth"
            ca stranger-ca "Stranger CA"
            signed stranger stranger stranger-ca "extendedKeyUsage=clientAuth"
            key unrelated.key
            echo ok
            """
        let out = try runProcess("/bin/sh", ["-c", script])
        guard out.hasSuffix("ok\n") else { throw TestSocketError(description: "openssl failed: \(out)") }
    }

    /// Makes a certificate from ``ca`` that expires at once (`-days 0`: valid until now), with its key.
    ///
    /// - Returns: the certificate's and the key's paths.
    /// - Throws: when openssl fails.
    public func expiring() throws -> (cert: String, key: String) {
        let out = try runProcess("/bin/sh", ["-c", """
            set -e; cd '\(folder)'
            openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out expiring.key 2>/dev/null
            openssl req -new -key expiring.key -out expiring.csr -subj /CN=localhost 2>/dev/null
            openssl x509 -req -in expiring.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out expiring.pem -days 0 2>/dev/null
            echo ok
            """])
        guard out.hasSuffix("ok\n") else { throw TestSocketError(description: "openssl failed: \(out)") }
        return (folder + "/expiring.pem", folder + "/expiring.key")
    }

    /// A file's text.
    ///
    /// - Parameter path: one of the paths above.
    /// - Returns: its contents.
    /// - Throws: when it cannot be read.
    public func text(_ path: String) throws -> String {
        try String(contentsOfFile: path, encoding: .utf8)
    }

    deinit { try? FileManager.default.removeItem(atPath: folder) }
}
#endif
