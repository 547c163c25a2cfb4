import Foundation
import HTTPTypes
import NIOCore
import NIOPosix
import NIOSSL
import TestSupport
import Testing

@testable import HTTPChatCore
@testable import HTTPChatServer

@Suite("TLS settings")
struct TLSSettingsTests {
    let certs: TestCertificates

    init() throws { certs = try TestCertificates() }

    private func failure(_ settings: TLSSettings) -> String? {
        do {
            _ = try settings.makeContext()
            return nil
        } catch {
            return "\(error)"
        }
    }

    @Test("a certificate and its key load from files and from PEM text, with no warning")
    func loads() throws {
        let fromFiles = try TLSSettings(certificateChainFile: certs.serverCert, privateKeyFile: certs.serverKey).makeContext()
        #expect(fromFiles.warnings.isEmpty)
        let fromText = try TLSSettings(
            certificateChain: .pem(try certs.text(certs.serverCert)), privateKey: .pem(try certs.text(certs.serverKey))
        ).makeContext()
        #expect(fromText.leaf == fromFiles.leaf)
    }

    @Test("a missing file, a folder, a file that is not PEM: the error names the file and the cause")
    func unreadableFiles() throws {
        let missing = failure(TLSSettings(certificateChainFile: certs.folder + "/nope.pem", privateKeyFile: certs.serverKey))
        #expect(missing == "cannot read the certificate file \(certs.folder)/nope.pem: no such file")
        let missingKey = failure(TLSSettings(certificateChainFile: certs.serverCert, privateKeyFile: certs.folder + "/nope.key"))
        #expect(missingKey == "cannot read the private key file \(certs.folder)/nope.key: no such file")
        let folder = failure(TLSSettings(certificateChainFile: certs.folder, privateKeyFile: certs.serverKey))
        #expect(folder?.hasPrefix("cannot read the certificate file \(certs.folder):") == true, "\(folder ?? "loaded")")
        let notPEM = failure(TLSSettings(certificateChainFile: certs.serverKey, privateKeyFile: certs.serverKey))
        #expect(notPEM == "the certificate \(certs.serverKey) holds no PEM certificate (-----BEGIN CERTIFICATE-----)")
        let keyNotPEM = failure(TLSSettings(certificateChainFile: certs.serverCert, privateKeyFile: certs.serverCert))
        #expect(keyNotPEM?.hasPrefix("the private key \(certs.serverCert) holds no unencrypted PEM private key") == true)
        let garbage = failure(TLSSettings(certificateChain: .pem("hello"), privateKey: .file(certs.serverKey)))
        #expect(garbage == "the certificate (in memory) holds no PEM certificate (-----BEGIN CERTIFICATE-----)")
    }

    @Test("a key of another certificate is refused when loaded, not at every handshake")
    func mismatchedKey() throws {
        let message = failure(TLSSettings(certificateChainFile: certs.serverCert, privateKeyFile: certs.unrelatedKey))
        #expect(message == "the private key \(certs.unrelatedKey) does not belong to the certificate \(certs.serverCert)")
        let swapped = failure(TLSSettings(certificateChainFile: certs.serverCert, privateKeyFile: certs.renewedKey))
        #expect(swapped?.contains("does not belong") == true)
    }

    @Test("an expired certificate, or one not valid yet, loads with a warning (judged by the injected clock)")
    func expiry() throws {
        let settings = TLSSettings(certificateChainFile: certs.serverCert, privateKeyFile: certs.serverKey)
        let leaf = try settings.makeContext().leaf
        let late = try settings.makeContext(now: leaf.notValidAfter + 1).warnings
        #expect(late.count == 1)
        #expect(late.first?.hasPrefix("the certificate \(certs.serverCert) expired at ") == true, "\(late)")
        #expect(late.first?.hasSuffix("UTC; clients will refuse it") == true, "\(late)")
        let early = try settings.makeContext(now: leaf.notValidBefore - 1).warnings
        #expect(early.first?.contains("is not valid before") == true, "\(early)")
        #expect(try settings.makeContext(now: leaf.notValidAfter).warnings.isEmpty)
    }

    @Test("a client certificate authority that is not PEM is refused by name")
    func clientAuthority() throws {
        let message = failure(TLSSettings(
            certificateChainFile: certs.serverCert, privateKeyFile: certs.serverKey, clientCertificateAuthorityFile: certs.clientKey
        ))
        #expect(message == "the client certificate authority \(certs.clientKey) holds no PEM certificate (-----BEGIN CERTIFICATE-----)")
        _ = try TLSSettings(
            certificateChainFile: certs.serverCert, privateKeyFile: certs.serverKey, clientCertificateAuthorityFile: certs.clientCA
        ).makeContext()
    }

    @Test("the context is TLS 1.2 at least, offers http/1.1, and no suite without forward secrecy or AEAD")
    func contextSettings() throws {
        let context = try TLSSettings(certificateChainFile: certs.serverCert, privateKeyFile: certs.serverKey).makeContext().context
        #expect(context.configuration.minimumTLSVersion == .tlsv12)
        #expect(context.configuration.applicationProtocols == ["http/1.1"])
        for suite in context.configuration.cipherSuites.split(separator: ":") {
            #expect(suite.hasPrefix("ECDHE-"), "\(suite)")
            #expect(suite.contains("GCM") || suite.contains("CHACHA20"), "\(suite)")
        }
        #expect(context.configuration.renegotiationSupport == .none)
    }

    @Test("a reload that fails keeps the current pair; one that loads replaces it")
    func reload() async throws {
        let (credentials, _) = try await TLSCredentials.load(
            TLSSettings(certificateChainFile: certs.serverCert, privateKeyFile: certs.serverKey)
        )
        let first = credentials.leafCertificate
        await #expect(throws: TLSSettingsError.self) {
            try await credentials.reload(TLSSettings(certificateChainFile: certs.renewedCert, privateKeyFile: certs.serverKey))
        }
        #expect(credentials.leafCertificate == first)
        _ = try await credentials.reload(TLSSettings(certificateChainFile: certs.renewedCert, privateKeyFile: certs.renewedKey))
        #expect(credentials.leafCertificate != first)
        #expect(credentials.settings.certificateChain == .file(certs.renewedCert))
    }
}

@Suite("HTTPS redirect and HSTS")
struct HTTPSRedirectTests {
    @Test("308 to https at the asked-for host and the HTTPS port, path and query kept", arguments: [
        ("example.com", "/a/b?x=1", 8443, "https://example.com:8443/a/b?x=1"),
        ("example.com:8080", "/", 443, "https://example.com/"),
        ("[::1]:8080", "/p", 8443, "https://[::1]:8443/p"),
        ("127.0.0.1:80", "/%20x", 8443, "https://127.0.0.1:8443/%20x"),
        // A Host that is not a plain name cannot shape the URL: the default host is used.
        ("evil.com/x", "/", 8443, "https://localhost:8443/"),
        ("a@b", "/", 8443, "https://localhost:8443/"),
        ("[::1", "/", 8443, "https://localhost:8443/"),
        ("", "/", 8443, "https://localhost:8443/"),
        // Bracketed literals are IPv6 addresses read on bytes: no fullwidth digits, no zone, no nonsense.
        ("[\u{FF11}::\u{FF11}]:80", "/", 8443, "https://localhost:8443/"),
        ("[fe80::1%25eth0]", "/", 8443, "https://localhost:8443/"),
        ("[::::]", "/", 8443, "https://localhost:8443/"),
        ("[127.0.0.1]", "/", 8443, "https://localhost:8443/"),
        ("[2001:db8::1]", "/", 8443, "https://[2001:db8::1]:8443/"),
    ])
    func redirect(_ host: String, _ target: String, _ port: Int, _ location: String) async throws {
        var fields = HTTPFields()
        if !host.isEmpty { fields[HTTPField.Name("Host")!] = host }
        let response = try await HTTPSRedirect(httpsPort: port).respond(to: Request(method: .post, target: target, headerFields: fields))
        #expect(response.status == .permanentRedirect)
        #expect(response.headerFields[.location] == location)
    }

    @Test("an absolute-form target's authority wins over Host; OPTIONS-style * goes to /")
    func absoluteForm() async throws {
        let redirect = HTTPSRedirect(httpsPort: 8443)
        let absolute = try await redirect.respond(to: Request(
            method: .get, target: "http://other.example:8080/q?z", headerFields: [HTTPField.Name("Host")!: "example.com"]
        ))
        #expect(absolute.headerFields[.location] == "https://other.example:8443/q?z")
        let star = try await redirect.respond(to: Request(method: .options, target: "*"))
        #expect(star.headerFields[.location] == "https://localhost:8443/")
    }

    @Test("behind a trusted proxy, the redirect goes to the host the proxy forwarded, over Host and the target")
    func forwardedHost() async throws {
        var request = Request(method: .get, target: "http://inner:8080/q", headerFields: [HTTPField.Name("Host")!: "inner"])
        request.forwardedHost = "shop.example"
        let response = try await HTTPSRedirect(httpsPort: 443).respond(to: request)
        #expect(response.headerFields[.location] == "https://shop.example/q")
        #expect(request.host == "shop.example")
    }

    @Test("HSTS only over TLS, on errors too; never on plain HTTP")
    func hsts() async throws {
        let router = Router()
        router.get("/ok") { _ in .text("ok") }
        router.get("/teapot") { _ in throw HTTPError(.notFound) }
        let site = try router.build().wrapped(in: [StrictTransportSecurity(maxAge: 600, includeSubdomains: true)])
        let plain = try await site.respond(to: Request(method: .get, target: "/ok"))
        #expect(plain.headerFields[.strictTransportSecurity] == nil)
        var secure = Request(method: .get, target: "/ok")
        secure.tls = TLSConnectionInfo(version: .tlsv13, applicationProtocol: "http/1.1", peerCertificate: nil)
        let ok = try await site.respond(to: secure)
        #expect(ok.headerFields[.strictTransportSecurity] == "max-age=600; includeSubDomains")
        secure.target = "/teapot"
        let missing = try await site.respond(to: secure)
        #expect(missing.status == .notFound)
        #expect(missing.headerFields[.strictTransportSecurity] == "max-age=600; includeSubDomains")
    }
}

/// Pulls a producer on a real event loop to its end (waits complete on other threads, as the thread pool's do).
private final class PullRecord: @unchecked Sendable {
    var bytes: [UInt8] = []
    var chunkSizes: [Int] = []
    var notified = 0
}

private func pull<P: ChatProducer>(_ producer: P, chunk: Int) async throws -> (PullRecord, String) {
    let loop = MultiThreadedEventLoopGroup.singleton.next()
    let record = PullRecord()
    let done = loop.makePromise(of: String.self)
    nonisolated(unsafe) var producer = producer
    @Sendable func step() {
        let context = ChatProducerContext(allocator: ByteBufferAllocator(), eventLoop: loop, preferredChunkSize: chunk)
        while true {
            switch producer.more(context) {
            case .bytes(let b):
                record.chunkSizes.append(b.readableBytes)
                record.bytes += b.readableBytesView
            case .notifying(.byteBuffer(let b), let promise):
                record.chunkSizes.append(b.readableBytes)
                record.bytes += b.readableBytesView
                record.notified += 1
                promise.succeed(())
            case .notifying(.fileRegion, let promise):
                promise.succeed(())
                done.succeed("file region")
                return
            case .fileRegion:
                done.succeed("file region")
                return
            case .wait(let future):
                future.whenComplete { _ in step() }
                return
            case .park:
                done.succeed("parked")  // no producer pulled here parks
                return
            case .end:
                done.succeed("end")
                return
            case .abort:
                done.succeed("abort")
                return
            }
        }
    }
    loop.execute { step() }
    return (record, try await done.futureResult.get())
}

/// Opens a file for a test (the open blocks, so not from an async context directly).
private func openFile(_ path: String) throws -> OpenFile {
    OpenFile(handle: try NIOFileHandle(_deprecatedPath: path))
}

@Suite("File regions read into bytes")
struct FileRegionReaderTests {
    private func tempFile(_ bytes: [UInt8]) throws -> (path: String, remove: () -> Void) {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("regions-\(UUID().uuidString)").path
        #expect(FileManager.default.createFile(atPath: path, contents: Data(bytes)))
        return (path, { try? FileManager.default.removeItem(atPath: path) })
    }

    @Test("parts and regions arrive in order as bytes, no chunk over the preferred size, the last part's promise kept")
    func partsInOrder() async throws {
        let content = (0..<300_000).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ $0 >> 8) }
        let (path, remove) = try tempFile(content)
        defer { remove() }
        let file = try openFile(path)
        let producer = FilePartsProducer(file: file, parts: [
            .bytes(ByteBuffer(string: "head")), .file(0..<200_000), .bytes(ByteBuffer(string: "mid")), .file(500..<600),
            .file(7..<7), .file(299_990..<300_000),
        ])
        let (record, ending) = try await pull(FileRegionReader(producer), chunk: 65_536)
        #expect(ending == "end")
        var expected = Array("head".utf8)
        expected += content[0..<200_000]
        expected += Array("mid".utf8)
        expected += content[500..<600]
        expected += content[299_990..<300_000]
        #expect(record.bytes == expected)
        #expect(record.chunkSizes.max()! <= 65_536, "\(record.chunkSizes)")
        #expect(record.notified == 1)
    }

    @Test("a file shorter than its region: what is there, then abort (never a body that looks whole)")
    func shortFile() async throws {
        let (path, remove) = try tempFile(Array(repeating: 7, count: 1000))
        defer { remove() }
        let file = try openFile(path)
        let (record, ending) = try await pull(FileRegionReader(FilePartsProducer(file: file, parts: [.file(0..<5000)])), chunk: 4096)
        #expect(ending == "abort")
        #expect(record.bytes.count == 1000)
    }

    @Test("sixteen readers of one shared open file read it at once, each whole (a handle lends its descriptor to one user at a time)")
    func sharedFileReadAtOnce() async throws {
        let content = (0..<2_000_000).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ $0 >> 11) }
        let (path, remove) = try tempFile(content)
        defer { remove() }
        let file = try openFile(path)  // one OpenFile, as the open-file cache shares it among connections
        try await withThrowingTaskGroup(of: (PullRecord, String).self) { group in
            for _ in 0..<16 {
                group.addTask {
                    try await pull(FileRegionReader(FilePartsProducer(file: file, parts: [.file(0..<content.count)])), chunk: 16_384)
                }
            }
            for try await (record, ending) in group {
                #expect(ending == "end")
                #expect(record.bytes.count == content.count)
                #expect(record.bytes == content)
            }
        }
    }

    @Test("each event loop gets its own handle of a shared file: one loop's send never meets another's (EBUSY)")
    func handlePerEventLoop() throws {
        let (path, remove) = try tempFile(Array("shared".utf8))
        defer { remove() }
        let file = try openFile(path)
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 3)
        defer { try? group.syncShutdownGracefully() }
        let loops = Array(group.makeIterator())
        let handles = loops.map { file.handle(on: $0) }
        #expect(handles[0] === file.handle)  // the first loop to ask keeps the original
        #expect(handles[1] !== handles[0] && handles[2] !== handles[0] && handles[1] !== handles[2])
        #expect(file.handle(on: loops[1]) === handles[1])  // made once per loop
        // While one loop's handle is lent out (as during its sendfile), another loop's is usable.
        let read = try handles[0].withUnsafeFileDescriptor { _ in
            try handles[1].withUnsafeFileDescriptor { fd -> String in
                var bytes = [UInt8](repeating: 0, count: 6)
                let n = pread(fd, &bytes, 6, 0)
                return String(decoding: bytes.prefix(max(n, 0)), as: UTF8.self)
            }
        }
        #expect(read == "shared")
    }

    @Test("bytes-only producers pass through untouched")
    func passThrough() async throws {
        let (record, ending) = try await pull(FileRegionReader(BufferProducer(ByteBuffer(string: "hello world"))), chunk: 4)
        #expect(ending == "end")
        #expect(record.bytes == Array("hello world".utf8))
        #expect(record.chunkSizes == [4, 4, 3])
    }
}
