// The handwritten half of Examples/OpenAPI: the operations of openapi.yaml, implemented against the code
// swift-openapi-generator wrote into Generated/ (internal to this target; regenerate with
// Examples/OpenAPI/generate).
import Foundation
public import OpenAPIRuntime

/// The greeter service: `GET /greet?name=`, `GET /greetings/{language}?name=`, `GET /shout/{word}.txt` and
/// `POST /echo`.
public struct Greeter: APIProtocol {
    /// Greetings by language tag.
    static let greetings = ["en": "Hello", "fr": "Bonjour", "de": "Hallo", "es": "Hola", "it": "Ciao"]

    /// Creates the service.
    public init() {}

    /// Registers every operation on `transport` (for HTTPChat: `OpenAPITransport(router)`), at the paths of
    /// openapi.yaml under `prefix`.
    ///
    /// - Parameters:
    ///   - transport: where the operations go.
    ///   - prefix: a path every operation's path is under, for example `/api/v1` (default none).
    /// - Throws: the transport's registration errors; `URLError` for a prefix that is not a path.
    public func register(on transport: any ServerTransport, prefix: String = "/") throws {
        guard let serverURL = URL(string: prefix) else { throw URLError(.badURL) }
        try registerHandlers(on: transport, serverURL: serverURL)
    }

    /// `{"message":"Hello, NAME!"}` (`World` when no name is given).
    func getGreeting(_ input: Operations.getGreeting.Input) async throws -> Operations.getGreeting.Output {
        .ok(.init(body: .json(.init(message: "Hello, \(input.query.name ?? "World")!"))))
    }

    /// The greeting in the path's language, or 404 with the reason.
    func getLocalizedGreeting(
        _ input: Operations.getLocalizedGreeting.Input
    ) async throws -> Operations.getLocalizedGreeting.Output {
        guard let word = Self.greetings[input.path.language] else {
            return .notFound(.init(body: .json(.init(reason: "no greeting in \(input.path.language)"))))
        }
        return .ok(.init(body: .json(.init(message: "\(word), \(input.query.name)!"))))
    }

    /// The word in capitals.
    func shout(_ input: Operations.shout.Input) async throws -> Operations.shout.Output {
        .ok(.init(body: .plainText(HTTPBody(input.path.word.uppercased()))))
    }

    /// The request body, streamed back chunk by chunk as it arrives.
    func echo(_ input: Operations.echo.Input) async throws -> Operations.echo.Output {
        switch input.body {
        case .binary(let body): return .ok(.init(body: .binary(body)))
        }
    }
}
