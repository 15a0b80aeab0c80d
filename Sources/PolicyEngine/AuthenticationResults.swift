/// Reading Authentication-Results fields (RFC 8601).
public enum AuthenticationResults {
    /// The authserv-id of a field value: the first token, before `;` and an optional version
    /// (`mx.example.com 1; spf=pass ...`), with comments and spaces skipped.
    public static func authservID(of value: String) -> String? {
        var text = Substring(value)
        // Skip leading white space and RFC 5322 comments.
        while let first = text.first, first == " " || first == "\t" || first == "\r" || first == "\n" || first == "(" {
            if first == "(" {
                guard let close = text.firstIndex(of: ")") else { return nil }
                text = text[text.index(after: close)...]
            } else {
                text = text.dropFirst()
            }
        }
        let token = text.prefix { !$0.isWhitespace && $0 != ";" && $0 != "(" }
        return token.isEmpty ? nil : String(token)
    }
}
