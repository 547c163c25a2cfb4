import HTTPTypes
import Testing

@testable import HTTPChatServer

@Suite("Allowed hosts (DNS rebinding)")
struct AllowedHostsTests {
    static let guarded = try! AllowedHosts(["dev.example.test", ".team.test", "Upper.Example."])

    @Test("loopback names and addresses and the configured names are allowed, with any port or none", arguments: [
        "localhost", "LocalHost", "localhost:8000", "localhost:", "localhost.", "localhost.:80", "app.localhost", "a.b.localhost:1",
        "127.0.0.1", "127.0.0.1:8000", "127.255.255.254", "[::1]", "[::1]:8000", "[0:0:0:0:0:0:0:1]", "[::ffff:127.0.0.1]:80",
        "dev.example.test", "DEV.Example.Test:443", "team.test", "a.team.test", "x.y.team.test:1", "upper.example", "upper.example.",
    ])
    func allowed(_ host: String) {
        #expect(Self.guarded.allows(host), "\(host) refused")
    }

    @Test("anything else is refused: other names, look-alikes, other addresses, zones, bad ports, non-ASCII", arguments: [
        "", "rebind.attacker.example", "localhost.attacker.example", "attacker-localhost", "localhostx", ".localhost",
        "127.0.0.1.nip.io", "127.1", "0177.0.0.1", "2130706433", "0x7f.0.0.1", "128.0.0.1", "0.0.0.0", "10.0.0.1", "[::2]",
        "[::]", "[fe80::1%25lo]", "[fe80::1%lo]", "::1", "[::1", "[::1]x", "[127.0.0.1]", "localhost:80:80", "localhost:x",
        "localhost:123456", "user@localhost", "evil.example.test", "dev.example.test.evil", "xteam.test", "l\u{00F6}calhost",
        "localhost\u{0301}", "\u{FF4C}ocalhost", "localhost\u{2024}", "loca\u{0131}host", "LOCALHOST\u{212A}",
    ])
    func refused(_ host: String) {
        #expect(!Self.guarded.allows(host), "\(host.debugDescription) allowed")
    }

    @Test("the middleware answers 403 for a refused Host or absolute-form authority, never calling the responder; no Host passes")
    func middleware() async throws {
        let router = Router()
        router.get("/") { _ in .text("root") }
        let site = try router.build().wrapped(in: [try AllowedHosts()])
        func status(_ target: String, host: String?) async throws -> Int {
            var fields = HTTPFields()
            if let host { fields[HTTPField.Name("Host")!] = host }
            return try await site.respond(to: Request(method: .get, target: target, headerFields: fields)).status.code
        }
        #expect(try await status("/", host: "rebind.attacker.example") == 403)
        #expect(try await status("/", host: "localhost:8000") == 200)
        #expect(try await status("http://rebind.attacker.example/", host: "localhost") == 403)
        #expect(try await status("http://127.0.0.1:8000/", host: "rebind.attacker.example") == 200)
        #expect(try await status("/", host: nil) == 200)
    }

    @Test("loopback binds are told apart from the others", arguments: [
        ("127.0.0.1", true), ("127.0.0.53", true), ("::1", true), ("[::1]", true), ("localhost", true), ("LOCALHOST", true),
        ("0.0.0.0", false), ("::", false), ("192.168.1.4", false), ("example.com", false), ("localhost.example", false),
    ])
    func loopbackBinds(_ address: String, _ loopback: Bool) {
        #expect(AllowedHosts.isLoopback(bindAddress: address) == loopback, "\(address)")
    }

    @Test("a configured name that is not a host name is refused", arguments: ["", ".", "a b", "a:80", "h\u{00F6}st", "*.example"])
    func badNames(_ name: String) {
        #expect(throws: AllowedHostsError.self) { try AllowedHosts([name]) }
    }
}
