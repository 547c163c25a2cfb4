import HTTPChatTesting
import HTTPTypes
import NIOCore
import Testing

@testable import HTTPChatServer

@Suite("Health check")
struct HealthCheckTests {
    @Test("GET and HEAD of the path answer 200 while serving and 503 once draining; other requests reach the site")
    func answers() async throws {
        let router = Router()
        router.get("/page") { _ in .text("page") }
        let readiness = Readiness()
        let health = HealthCheck(path: "/healthz", readiness: readiness, next: try router.build())
        let serving = try #require(try health.respondImmediately(to: Request(method: .get, target: "/healthz")))
        #expect(serving.status == .ok)
        #expect(serving.headerFields[.cacheControl] == "no-store")
        let head = try await health.respond(to: Request(method: .head, target: "/healthz"))
        #expect(head.status == .ok)
        let page = try await health.respond(to: Request(method: .get, target: "/page"))
        let text = try await page.body.collect()
        #expect(String(buffer: text) == "page")
        // A POST of the health path is the site's to answer (here: the router's 404).
        await #expect(throws: HTTPError.self) { try await health.respond(to: Request(method: .post, target: "/healthz")) }
        readiness.drain()
        #expect(!readiness.isServing)
        let draining = try await health.respond(to: Request(method: .get, target: "/healthz"))
        #expect(draining.status == .serviceUnavailable)
    }
}
