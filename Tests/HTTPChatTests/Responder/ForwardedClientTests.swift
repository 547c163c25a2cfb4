import HTTPChatCore
import HTTPTypes
import NIOCore
import Testing

@testable import HTTPChatServer

struct ForwardingCase: Sendable, CustomStringConvertible {
    var name: String
    var fields: [(String, String)]
    var address: String?
    var scheme: String?
    var host: String?
    var description: String { name }
}

/// Trusted: loopback and 10/8.
let forwardingCases: [ForwardingCase] = [
    .init(name: "X-Forwarded-For with one client", fields: [("X-Forwarded-For", "203.0.113.5")], address: "203.0.113.5"),
    .init(name: "the rightmost untrusted hop wins over what the client claimed left of it",
          fields: [("X-Forwarded-For", "1.1.1.1, 203.0.113.5, 10.0.0.7")], address: "203.0.113.5"),
    .init(name: "hops across repeated fields, in order",
          fields: [("X-Forwarded-For", "1.1.1.1"), ("X-Forwarded-For", "203.0.113.5, 10.0.0.7")], address: "203.0.113.5"),
    .init(name: "every hop trusted: the leftmost", fields: [("X-Forwarded-For", "10.0.0.9, 10.0.0.7")], address: "10.0.0.9"),
    .init(name: "an unparseable hop ends trust at the hop right of it",
          fields: [("X-Forwarded-For", "203.0.113.5, garbage, 10.0.0.7")], address: "10.0.0.7"),
    .init(name: "an unparseable rightmost hop names nobody", fields: [("X-Forwarded-For", "nonsense")], address: nil),
    .init(name: "IPv6 and ports in X-Forwarded-For", fields: [("X-Forwarded-For", "[2001:db8::9]:4711, 10.0.0.7")], address: "2001:db8::9"),
    .init(name: "IPv4 with a port", fields: [("X-Forwarded-For", "203.0.113.5:1234")], address: "203.0.113.5"),
    .init(name: "X-Forwarded-Proto and -Host: the rightmost values",
          fields: [("X-Forwarded-For", "203.0.113.5"), ("X-Forwarded-Proto", "http, HTTPS"), ("X-Forwarded-Host", "evil.example, www.example.com:8443")],
          address: "203.0.113.5", scheme: "https", host: "www.example.com:8443"),
    .init(name: "a scheme that is not http or https is not used", fields: [("X-Forwarded-Proto", "javascript")]),
    .init(name: "a host that would change a URL is not used", fields: [("X-Forwarded-Host", "evil.example/path")]),
    .init(name: "a host with userinfo is not used", fields: [("X-Forwarded-Host", "a@evil.example")]),
    .init(name: "Forwarded, RFC 7239's example", fields: [("Forwarded", "for=192.0.2.60;proto=http;by=203.0.113.43")],
          address: "192.0.2.60", scheme: "http"),
    .init(name: "Forwarded: quoted IPv6 with a port, proto and host from the client's element",
          fields: [("Forwarded", "for=\"[2001:db8:cafe::17]:4711\";proto=https;host=shop.example, for=10.0.0.7;proto=http;host=inner")],
          address: "2001:db8:cafe::17", scheme: "https", host: "shop.example"),
    .init(name: "Forwarded: the client's spoofed element left of the real one is never read",
          fields: [("Forwarded", "for=6.6.6.6;host=evil.example, for=198.51.100.1;proto=https;host=real.example")],
          address: "198.51.100.1", scheme: "https", host: "real.example"),
    .init(name: "Forwarded wins over X-Forwarded-For",
          fields: [("X-Forwarded-For", "6.6.6.6"), ("Forwarded", "for=198.51.100.1")], address: "198.51.100.1"),
    .init(name: "Forwarded: for=unknown names nobody, its proto still counts",
          fields: [("Forwarded", "for=unknown;proto=https")], address: nil, scheme: "https"),
    .init(name: "Forwarded: an obfuscated hop ends trust at the hop right of it",
          fields: [("Forwarded", "for=_hidden, for=10.0.0.7")], address: "10.0.0.7"),
    .init(name: "Forwarded: parameter names are case-insensitive, spaces around separators allowed",
          fields: [("Forwarded", "For=192.0.2.60 ; Proto=HTTPS")], address: "192.0.2.60", scheme: "https"),
    .init(name: "Forwarded that does not parse is not used at all (and X-Forwarded-For not consulted)",
          fields: [("Forwarded", "for=192.0.2.60;proto"), ("X-Forwarded-For", "6.6.6.6")]),
    .init(name: "Forwarded with an unterminated quote", fields: [("Forwarded", "for=\"192.0.2.60")]),
    .init(name: "Forwarded with a repeated parameter", fields: [("Forwarded", "for=192.0.2.60;for=6.6.6.6")]),
    .init(name: "a zoned IPv6 hop (%eth0) names nobody: trust ends at the hop right of it",
          fields: [("X-Forwarded-For", "fe80::1%eth0, 10.0.0.7")], address: "10.0.0.7"),
    .init(name: "a zoned IPv6 hop (%lo) rightmost names nobody", fields: [("X-Forwarded-For", "fe80::1%lo")], address: nil),
    .init(name: "a bracketed zoned IPv6 hop with a port names nobody",
          fields: [("X-Forwarded-For", "[fe80::1%1]:4711, 10.0.0.7")], address: "10.0.0.7"),
    .init(name: "Forwarded: a zoned for= names nobody",
          fields: [("Forwarded", "for=\"[fe80::1%eth0]:4711\", for=10.0.0.7")], address: "10.0.0.7"),
    .init(name: "Forwarded: a zoned IPv4-looking for= names nobody", fields: [("Forwarded", "for=\"192.0.2.1%1\"")], address: nil),
    .init(name: "a bracketed host with a zone is not used", fields: [("X-Forwarded-Host", "[fe80::1%eth0]:8080")]),
    .init(name: "a bracketed host of fullwidth digits is not used", fields: [("X-Forwarded-Host", "[\u{FF11}::\u{FF11}]")]),
    .init(name: "a bracketed host that is not an IPv6 address is not used", fields: [("X-Forwarded-Host", "[::::]")]),
    .init(name: "a client's U+0600 before the proxy's comma does not glue its claim to the proxy's hop",
          fields: [("X-Forwarded-For", "6.6.6.6, \u{0600}, 203.0.113.5")], address: "203.0.113.5"),
    .init(name: "a client's U+0600 before the comma of X-Forwarded-Proto does not hide the proxy's value",
          fields: [("X-Forwarded-Proto", "http\u{0600}, https")], scheme: "https"),
    .init(name: "no forwarding fields", fields: [("Host", "x")]),
]

@Suite("Forwarding fields")
struct ForwardedClientTests {
    static let trusted = [try! CIDR("127.0.0.0/8"), try! CIDR("10.0.0.0/8"), try! CIDR("::1")]

    @Test("what a trusted proxy's fields say about the client", arguments: forwardingCases)
    func resolve(_ c: ForwardingCase) {
        var fields = HTTPFields()
        for (name, value) in c.fields { fields.append(HTTPField(name: HTTPField.Name(name)!, value: value)) }
        let got = ForwardedClient.resolve(fields, trusted: Self.trusted)
        #expect(got?.address?.ipAddress == c.address, "\(c.name): address got \(String(describing: got?.address)), want \(String(describing: c.address))")
        #expect(got?.scheme == c.scheme, "\(c.name): scheme got \(String(describing: got?.scheme)), want \(String(describing: c.scheme))")
        #expect(got?.host == c.host, "\(c.name): host got \(String(describing: got?.host)), want \(String(describing: c.host))")
    }
}
