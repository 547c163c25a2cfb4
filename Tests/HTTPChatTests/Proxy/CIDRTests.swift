import NIOCore
import Testing

@testable import HTTPChatCore

@Suite("CIDR")
struct CIDRTests {
    @Test("a network contains the addresses under its prefix and no other", arguments: [
        ("10.0.0.0/8", "10.255.1.2", true), ("10.0.0.0/8", "11.0.0.1", false),
        ("192.168.1.77/24", "192.168.1.1", true), ("192.168.1.0/24", "192.168.2.1", false),
        ("172.16.0.0/12", "172.31.255.255", true), ("172.16.0.0/12", "172.32.0.0", false),
        ("127.0.0.1", "127.0.0.1", true), ("127.0.0.1", "127.0.0.2", false),
        ("0.0.0.0/0", "8.8.8.8", true), ("0.0.0.0/0", "::1", false),
        ("10.0.0.0/8", "::ffff:10.1.2.3", true), ("10.0.0.0/8", "::ffff:11.1.2.3", false),
        ("2001:db8::/32", "2001:db8:ffff::1", true), ("2001:db8::/32", "2001:db9::1", false),
        ("::1", "::1", true), ("::1", "127.0.0.1", false), ("::/0", "fe80::1", true),
        ("2001:db8::/33", "2001:db8:8000::1", false), ("2001:db8::/33", "2001:db8:7fff::1", true),
    ])
    func contains(_ network: String, _ address: String, _ expected: Bool) throws {
        let cidr = try CIDR(network)
        let got = cidr.contains(try SocketAddress(ipAddress: address, port: 80))
        #expect(got == expected, "\(network) contains \(address): got \(got), want \(expected)")
    }

    @Test("text that is not a network is refused with the reason", arguments: [
        "", "10.0.0.0/", "10.0.0.0/33", "::/129", "10.0.0.0/-1", "10.0.0.0/8/8", "example.com", "10.0.0/8", "10.0.0.0/ 8", "10.0.0.0/0008", "fe80::1%eth0", "fe80::%lo/64", "fe80::1%1", "10.0.0.1\u{0}", "10.0.0.0/\u{301}8",
    ])
    func refused(_ text: String) {
        #expect(throws: CIDRError.self) { try CIDR(text) }
    }

    @Test("the description is the network with its host bits cleared")
    func description() throws {
        #expect(try CIDR("192.168.1.77/24").description == "192.168.1.0/24")
        #expect(try CIDR("2001:db8::1/32").description == "2001:db8::/32")
        #expect(try CIDR("::1").description == "::1/128")
    }
}
