import HTTPTypes
import NIOConcurrencyHelpers
import Testing

@testable import HTTPChatServer

/// A request with the given method, `Host`, and optional `Origin` and `Sec-Fetch-Site`.
private func request(_ method: HTTPRequest.Method, host: String? = "files.example", origin: String? = nil, site: String? = nil) -> Request {
    var fields = HTTPFields()
    if let host { fields[HTTPField.Name("Host")!] = host }
    if let origin { fields[.origin] = origin }
    if let site { fields[HTTPField.Name("Sec-Fetch-Site")!] = site }
    return Request(method: method, target: "/upload/", headerFields: fields)
}

@Suite("Cross-origin protection")
struct CrossOriginProtectionTests {
    static let methods: [HTTPRequest.Method] = [.get, .head, .options, .post, .put, .delete, .patch, .init("PROPFIND")!]
    static let sites: [String?] = [nil, "same-origin", "none", "same-site", "cross-site", "Same-Origin", "bogus", ""]
    static let origins: [String?] = [
        nil, "https://files.example", "http://files.example", "https://FILES.example:443", "https://files.example:8443",
        "https://evil.example", "null", "https://app.example", "https://app.example:443", "https://files.example/", "https://u@files.example",
        "https://files.example\u{0301}", "",
    ]

    /// The rules as Go 1.25 states them, written plainly: the oracle the middleware is held to over every
    /// combination. `sameHost` and `trusted` are given per origin by the rows below.
    static func want(_ method: HTTPRequest.Method, site: String?, origin: String?, sameHost: Bool, trusted: Bool) -> Bool {
        if [.get, .head, .options].contains(method) { return true }
        if let site { return site == "same-origin" || site == "none" || trusted }
        guard let origin, !origin.isEmpty else { return true }
        return sameHost || trusted
    }

    /// For `Host: files.example` and the trusted origin `https://app.example`: whether each origin is the
    /// request's own host and port, and whether it is trusted.
    static func facts(_ origin: String?) -> (sameHost: Bool, trusted: Bool) {
        switch origin {
        case "https://files.example", "http://files.example", "https://FILES.example:443": return (true, false)
        case "https://app.example", "https://app.example:443": return (false, true)
        default: return (false, false)
        }
    }

    @Test("every method, Sec-Fetch-Site and Origin combination is decided as Go's CrossOriginProtection decides it")
    func everyCombination() throws {
        let protection = try CrossOriginProtection(trustedOrigins: ["https://app.example"])
        var checked = 0
        for method in Self.methods {
            for site in Self.sites {
                for origin in Self.origins {
                    let facts = Self.facts(origin)
                    let want = Self.want(method, site: site, origin: origin, sameHost: facts.sameHost, trusted: facts.trusted)
                    let got = protection.check(request(method, origin: origin, site: site))
                    #expect((got == .allowed) == want, "\(method) Sec-Fetch-Site \(site ?? "-") Origin \(origin ?? "-"): got \(got), want \(want ? "allowed" : "refused")")
                    checked += 1
                }
            }
        }
        #expect(checked == 8 * 8 * 13)
    }

    @Test(
        "Origin against Host: ASCII case folded, default ports normalized, a Host port must match",
        arguments: [
            ("files.example", "https://files.example", true), ("FILES.EXAMPLE", "https://files.example", true),
            ("files.example:443", "https://files.example", true), ("files.example:80", "http://files.example", true),
            ("files.example:8080", "http://files.example:8080", true), ("files.example:8080", "http://files.example", false),
            ("files.example", "http://files.example:8080", false), ("files.example:443", "http://files.example", false),
            ("[::1]:8080", "http://[::1]:8080", true), ("127.0.0.1:8000", "http://127.0.0.1:8000", true),
            ("127.0.0.1:8000", "http://localhost:8000", false), ("files.example", "https://files.example.", false),
            ("files.example", "null", false), ("files.example", "https://files.example:99999", false),
            ("files.exampl\u{e9}", "https://files.exampl\u{e9}", false), ("files.example", "files.example", false),
        ] as [(String, String, Bool)])
    func originMatchesHost(_ host: String, _ origin: String, _ want: Bool) throws {
        let got = try CrossOriginProtection().check(request(.post, host: host, origin: origin))
        #expect((got == .allowed) == want, "Host \(host) Origin \(origin): got \(got)")
    }

    @Test("an Origin with no Host to compare is refused; two Origin or Sec-Fetch-Site fields are refused")
    func missingHostAndRepeats() throws {
        let protection = try CrossOriginProtection()
        #expect(protection.check(request(.post, host: nil, origin: "https://files.example")) != .allowed)
        var twice = request(.post, site: "same-origin")
        twice.headerFields.append(HTTPField(name: HTTPField.Name("Sec-Fetch-Site")!, value: "cross-site"))
        #expect(protection.check(twice) != .allowed)
        var origins = request(.post, origin: "https://files.example")
        origins.headerFields.append(HTTPField(name: .origin, value: "https://evil.example"))
        #expect(protection.check(origins) != .allowed)
    }

    @Test("trusted origins are normalized when given; anything but scheme://host[:port] is refused at init")
    func trustedOrigins() throws {
        let protection = try CrossOriginProtection(trustedOrigins: ["HTTPS://App.Example:443", "http://tool.example:8080"])
        #expect(protection.trustedOrigins == ["https://app.example", "http://tool.example:8080"])
        #expect(protection.check(request(.put, origin: "https://app.example", site: "cross-site")) == .allowed)
        #expect(protection.check(request(.put, origin: "http://tool.example", site: "cross-site")) != .allowed)
        for bad in ["app.example", "https://app.example/", "https://app.example/path", "https://u:p@app.example", "null", "https://", "*", "https://app.example:0x1"] {
            #expect(throws: CrossOriginProtectionError.self, "\(bad)") { try CrossOriginProtection(trustedOrigins: [bad]) }
        }
    }

    @Test("a refused request is 403 with a short reason and never reaches the handler")
    func refusalNeverReachesNext() async throws {
        let reached = NIOLockedValueBox(0)
        let next = ResponderFunction { _ in
            reached.withLockedValue { $0 += 1 }
            return Response(status: .seeOther)
        }
        let protection = try CrossOriginProtection()
        let refused = try await protection.respond(to: request(.post, origin: "https://evil.example", site: "cross-site"), next: next)
        #expect(refused.status == .forbidden)
        #expect(String(buffer: try await refused.body.collect()).hasPrefix("Forbidden: cross-origin request refused"))
        #expect(reached.withLockedValue { $0 } == 0)
        let plain = try await protection.respond(to: request(.post), next: next)
        #expect(plain.status == .seeOther && reached.withLockedValue { $0 } == 1)
    }
}
