import HTTPChatCore
public import HTTPTypes

/// `Accept-Encoding` and `Accept` with q-values (RFC 9110 §12.5).
public enum ContentNegotiation {
    /// The q-value of each element of a list field: `gzip;q=0.5, br` -> [("gzip", 0.5), ("br", 1)].
    static func qualities(_ value: String) -> [(token: String, q: Double)] {
        value.split(separator: ",").compactMap { element in
            let parts = element.split(separator: ";")
            guard let first = parts.first else { return nil }
            let token = first.trimmingOWS().lowercased()
            guard !token.isEmpty else { return nil }
            var q = 1.0
            for param in parts.dropFirst() {
                let kv = param.split(separator: "=", maxSplits: 1)
                if kv.count == 2, kv[0].trimmingOWS().lowercased() == "q" {
                    q = Double(kv[1].trimmingOWS()) ?? 0
                }
            }
            return (token, min(max(q, 0), 1))
        }
    }

    /// Whether the client accepts gzip: listed with q > 0 (or `x-gzip`), or covered by `*` with q > 0 when
    /// not listed. No `Accept-Encoding` at all means identity only, for safety.
    ///
    /// - Parameter fields: the request's fields.
    /// - Returns: whether a gzip response is acceptable.
    public static func acceptsGzip(_ fields: HTTPFields) -> Bool {
        let values = fields[values: .acceptEncoding]
        guard !values.isEmpty else { return false }
        let list = qualities(values.joined(separator: ","))
        if let gzip = list.first(where: { $0.token == "gzip" || $0.token == "x-gzip" }) { return gzip.q > 0 }
        if let star = list.first(where: { $0.token == "*" }) { return star.q > 0 }
        return false
    }

    /// The precompressed encodings a client accepts, most wanted first: `br`, `zstd` and `gzip`, each listed
    /// with q > 0 (or covered by `*` with q > 0 when not listed; `x-gzip` counts as gzip). Equal q-values
    /// keep the server's order, smallest files first: br, zstd, gzip (RFC 9110 §12.5.3). No
    /// `Accept-Encoding` at all means identity only.
    ///
    /// - Parameter fields: the request's fields.
    /// - Returns: the encodings, as their `Content-Encoding` tokens.
    public static func acceptedEncodings(_ fields: HTTPFields) -> [String] {
        let values = fields[values: .acceptEncoding]
        guard !values.isEmpty else { return [] }
        let list = qualities(values.joined(separator: ","))
        let star = list.first { $0.token == "*" }?.q
        let ranked = ["br", "zstd", "gzip"].enumerated().compactMap { order, coding -> (String, Double, Int)? in
            let listed = list.first { $0.token == coding || (coding == "gzip" && $0.token == "x-gzip") }?.q
            let q = listed ?? star ?? 0
            return q > 0 ? (coding, q, order) : nil
        }
        return ranked.sorted { $0.1 != $1.1 ? $0.1 > $1.1 : $0.2 < $1.2 }.map(\.0)
    }

    /// Whether the client prefers JSON over HTML: `application/json` listed with a q-value above that of
    /// `text/html` (absent counts as 0).
    ///
    /// - Parameter fields: the request's fields.
    /// - Returns: whether to answer JSON.
    public static func prefersJSON(_ fields: HTTPFields) -> Bool {
        let list = qualities(fields[values: .accept].joined(separator: ","))
        let json = list.first { $0.token == "application/json" }?.q ?? 0
        let html = list.first { $0.token == "text/html" }?.q ?? 0
        return json > 0 && json > html
    }

    /// Whether the client accepts HTML (for single-page-app fallbacks): `text/html`, `text/*` or `*/*` with
    /// q > 0.
    ///
    /// - Parameter fields: the request's fields.
    /// - Returns: whether an HTML page is acceptable.
    public static func acceptsHTML(_ fields: HTTPFields) -> Bool {
        let list = qualities(fields[values: .accept].joined(separator: ","))
        return list.contains { ($0.token == "text/html" || $0.token == "text/*" || $0.token == "*/*") && $0.q > 0 }
    }
}
