import Foundation
import HTTPTypes
import NIOCore
import Testing

@testable import HTTPChatCore
@testable import HTTPChatServer
import HTTPChatTesting

/// One case of the request corpora in `Tests/Conformance` (the same lines `h1probe.py` sends over a socket in
/// CI): raw bytes and the verdict a strict HTTP/1.1 server must give.
struct CorpusCase: Sendable, CustomStringConvertible {
    enum Verdict: String, Sendable { case accept, reject, incomplete, either }

    var id: String
    var raw: [UInt8]
    var expect: Verdict
    /// How many answers an accepted case must get.
    var messages: Int
    var description: String { id }
}

/// The corpora, read once from the files beside the tests.
enum ConformanceCorpus {
    static let folder = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Conformance")

    /// The ids HTTPChat answers otherwise on purpose, with the RFC reason beside each in the file CI reads too.
    static let disagreements: Set<String> = {
        let path = folder.deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent(".ci/conformance-disagreements")
        guard let text = try? String(contentsOf: path, encoding: .utf8) else { return [] }
        return Set(text.split(separator: "\n").map(String.init).filter { !$0.hasPrefix("#") && !$0.isEmpty })
    }()

    static func load(_ name: String) -> [CorpusCase] {
        struct Line: Decodable {
            var id: String
            var raw_b64: String
            var expect: String
            var messages: Int?
        }
        guard let text = try? String(contentsOf: folder.appendingPathComponent(name), encoding: .utf8) else {
            return []
        }
        let decoder = JSONDecoder()
        return text.split(separator: "\n").compactMap { line in
            guard let parsed = try? decoder.decode(Line.self, from: Data(line.utf8)),
                  let bytes = Data(base64Encoded: parsed.raw_b64),
                  let verdict = CorpusCase.Verdict(rawValue: parsed.expect)
            else { return nil }
            return CorpusCase(id: parsed.id, raw: Array(bytes), expect: verdict, messages: parsed.messages ?? 1)
        }
    }

    static let llhttp = load("llhttp.jsonl")
    static let smuggling = load("smuggling.jsonl")
    static let all = llhttp + smuggling
}

/// Answers every method and path with 200 after reading the whole body, as `Examples/Hello` does for the live
/// probe (404 or 405 would count as accepting too; only a parse error must not). The body ends in CRLF, so the
/// next status line starts a line, as h1probe.py's reading of the stream needs.
private struct AnswerEverything: HTTPResponder {
    func respond(to request: Request) async throws -> Response {
        let body = try await request.body.collect(upTo: 1 << 20)
        return Response(status: .ok, body: ResponseBody(string: "read \(body.readableBytes) bytes\r\n"))
    }
}

/// The statuses h1probe.py counts as a parse-error answer.
private let rejectStatuses: Set<Int> = [400, 411, 413, 414, 417, 431, 501, 505]

/// What a server did with one case: the statuses of its answers, and whether it closed (false: it was still
/// holding the connection open after every timeout had fired, the in-process form of the live probe's hang).
private struct Outcome: CustomStringConvertible {
    var statuses: [Int]
    var closed: Bool
    var description: String { "statuses \(statuses), \(closed ? "closed" : "still open")" }
}

/// Serves `reads` on one in-process connection, half-closes as the live probe does, and collects the answers.
private func serve(_ reads: [[UInt8]]) async throws -> Outcome {
    let connection = try await InProcessConnection(responder: AnswerEverything())
    for read in reads where connection.isOpen {
        try? await connection.send(ByteBuffer(bytes: read))  // a server that closed early refuses the rest
    }
    await connection.finishSending()
    // First let the responder's tasks run on real time; then move the clock past every timeout.
    var output = ""
    for round in 0..<400 {
        output = try await connection.pendingOutput()
        if !connection.isOpen { break }
        if round == 200 { await connection.advanceTime(by: .seconds(600)) }
        try await Task.sleep(for: .milliseconds(round < 20 ? 0 : 1))
    }
    output = try await connection.pendingOutput()
    return Outcome(statuses: statuses(in: output), closed: !connection.isOpen)
}

/// The status of every response in `output` (a status line at the start or after a CRLF, as h1probe.py reads).
private func statuses(in output: String) -> [Int] {
    var found: [Int] = []
    let bytes = Array(output.utf8)
    let prefix = Array("HTTP/1.".utf8)
    var index = 0
    while index + 13 <= bytes.count {
        let atLineStart = index == 0 || (index >= 2 && bytes[index - 2] == 13 && bytes[index - 1] == 10)
        if atLineStart, Array(bytes[index..<index + 7]) == prefix, bytes[index + 7] == 48 || bytes[index + 7] == 49,
           bytes[index + 8] == 32, bytes[index + 12] == 32,
           let status = Int(String(decoding: bytes[index + 9..<index + 12], as: UTF8.self)) {
            found.append(status)
        }
        index += 1
    }
    return found
}

/// The verdict rules of h1probe.py.
private func agrees(_ outcome: Outcome, with corpusCase: CorpusCase) -> Bool {
    switch corpusCase.expect {
    case .reject:
        if let first = outcome.statuses.first { return rejectStatuses.contains(first) }
        return outcome.closed
    case .accept:
        return outcome.statuses.filter { !rejectStatuses.contains($0) && $0 >= 200 }.count >= corpusCase.messages
    case .incomplete:
        return !outcome.statuses.contains { (200..<400).contains($0) }
    case .either:
        return !outcome.statuses.isEmpty || outcome.closed
    }
}

@Suite("Conformance corpora (Tests/Conformance), in-process")
struct ConformanceCorpusTests {
    @Test("the corpora are in the repository and complete")
    func corporaAreThere() {
        #expect(ConformanceCorpus.llhttp.count == 121)
        #expect(ConformanceCorpus.smuggling.count == 1703)
        #expect(ConformanceCorpus.disagreements == ["llhttp:test/request/uri.md:168 Fragment in URI"])
    }

    @Test("every case gets the corpus's verdict from a connection, but the listed disagreements")
    func everyCaseAgrees() async throws {
        var disagreeing: [String] = []
        for corpusCase in ConformanceCorpus.all {
            let outcome = try await serve([corpusCase.raw])
            if !agrees(outcome, with: corpusCase) { disagreeing.append("\(corpusCase.id): \(outcome)") }
        }
        let unexpected = disagreeing.filter { line in
            !ConformanceCorpus.disagreements.contains { line.hasPrefix($0 + ":") }
        }
        #expect(unexpected.isEmpty, "\(unexpected.count) disagreements:\n\(unexpected.joined(separator: "\n"))")
        #expect(disagreeing.count == ConformanceCorpus.disagreements.count, "a listed disagreement now agrees")
    }

    @Test("the decoder reads every case the same way however its bytes are split in two")
    func splitInvariance() {
        var broken: [String] = []
        for corpusCase in ConformanceCorpus.all {
            let bytes = corpusCase.raw
            let whole = Reading(decodeRequestStream([ByteBuffer(bytes: bytes)]))
            guard bytes.count > 1 else { continue }
            for cut in 1..<bytes.count {
                let split = Reading(decodeRequestStream([ByteBuffer(bytes: bytes[..<cut]), ByteBuffer(bytes: bytes[cut...])]))
                if split != whole {
                    broken.append("\(corpusCase.id) cut at \(cut): \(split) vs whole \(whole)")
                    break
                }
            }
        }
        #expect(broken.isEmpty, "\(broken.joined(separator: "\n"))")
    }

    @Test("a connection gives the llhttp cases the same answers however their bytes are split in two")
    func connectionSplitInvariance() async throws {
        var broken: [String] = []
        for corpusCase in ConformanceCorpus.llhttp where corpusCase.raw.count > 1 {
            let whole = try await serve([corpusCase.raw])
            for cut in 1..<corpusCase.raw.count {
                let split = try await serve([Array(corpusCase.raw[..<cut]), Array(corpusCase.raw[cut...])])
                if split.statuses != whole.statuses || split.closed != whole.closed {
                    broken.append("\(corpusCase.id) cut at \(cut): \(split) vs whole \(whole)")
                    break
                }
            }
        }
        #expect(broken.isEmpty, "\(broken.joined(separator: "\n"))")
    }
}

/// What the pure decoder made of a byte stream, comparable across splits.
private struct Reading: Equatable, CustomStringConvertible {
    var requests: [DecodedRequest]
    var error: HTTPParseError.Kind?
    var pending: Bool

    init(_ run: (requests: [DecodedRequest], error: HTTPParseError?, pending: Bool)) {
        requests = run.requests
        error = run.error?.kind
        pending = run.pending
    }

    var description: String { "\(requests.count) requests, error \(error.map { "\($0)" } ?? "none"), pending \(pending)" }
}
