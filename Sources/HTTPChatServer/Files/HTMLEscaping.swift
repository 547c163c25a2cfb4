/// Escaping for text placed in HTML (element content and quoted attribute values).
public enum HTMLEscaping {
    /// `s` with `&`, `<`, `>`, `"` and `'` replaced by character references.
    ///
    /// - Parameter s: untrusted text (a file name, a form value).
    /// - Returns: text safe to place in HTML content or in a quoted attribute.
    public static func escape(_ s: String) -> String {
        var out = ""
        out.reserveCapacity(s.utf8.count)
        for c in s {
            switch c {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            default: out.append(c)
            }
        }
        return out
    }
}
