import PolicyCore

/// A connection string with its password hidden, for descriptions and log lines.
///
/// Works on any string, even one that does not parse: everything between the user name (after
/// `://`, or at the start without a scheme) and the last `@` becomes `***`, and so does the value of a `password=` query parameter.
/// `postgres://greylist:s3cret@db.example:5432/mail` → `postgres://greylist:***@db.example:5432/mail`.
public struct RedactedURL: Sendable, Hashable, CustomStringConvertible, CustomDebugStringConvertible {
    public let description: String
    public var debugDescription: String { description }

    public init(_ url: String) {
        description = Self.redact(url)
    }

    static func redact(_ url: String) -> String {
        var out = Substring(url)
        // The user info starts after "://", or at the start when the scheme is missing.
        let start = out.firstRange(of: "://")?.upperBound ?? out.startIndex
        if let at = out[start...].lastIndex(of: "@") {
            let userinfo = out[start..<at]
            if let colon = userinfo.firstIndex(of: ":") {
                out = out[..<out.index(after: colon)] + "***" + out[at...]
            }
        }
        // A `password=` parameter (libpq accepts one) goes too, whatever precedes it.
        var result = ""
        var rest = out
        while let r = rest.firstRange(of: "password=") {
            let before = r.lowerBound == rest.startIndex ? nil : rest[rest.index(before: r.lowerBound)]
            result += rest[..<r.upperBound]
            rest = rest[r.upperBound...]
            guard before == nil || before == "?" || before == "&" || before == " " else { continue }
            let end = rest.firstIndex(where: { $0 == "&" || $0 == " " || $0 == "#" }) ?? rest.endIndex
            result += "***"
            rest = rest[end...]
        }
        return result + rest
    }
}

/// A parsed `postgres://` (or `postgresql://`) URL, libpq style:
/// `postgres://USER:PASSWORD@HOST:PORT/DATABASE?sslmode=MODE&sslrootcert=FILE&connect_timeout=SECONDS`.
///
/// User, password and database are percent-decoded. An empty host with `?host=/dir` connects to
/// the Unix socket `/dir/.s.PGSQL.PORT`. The database defaults to the user name, the port to 5432,
/// `sslmode` to `prefer` (as libpq). The description never shows the password.
public struct PostgresURL: Sendable, Equatable, CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    /// libpq's `sslmode` values.
    public enum TLSMode: String, Sendable, CaseIterable {
        /// Plain TCP.
        case disable
        /// TLS if the server offers it, certificate not checked.
        case prefer
        /// TLS or nothing, certificate not checked (libpq's meaning of `require`).
        case require
        /// TLS, the certificate chain checked against `sslrootcert` (or the system's CAs), not the name.
        case verifyCA = "verify-ca"
        /// TLS, the chain and the host name checked.
        case verifyFull = "verify-full"
    }

    public enum Endpoint: Sendable, Equatable {
        case tcp(host: String, port: Int)
        case unixSocket(path: String)
    }

    public var endpoint: Endpoint
    public var username: String
    public var password: String?
    public var database: String
    public var tls: TLSMode
    /// A PEM file of trusted CAs for `verify-ca` and `verify-full`.
    public var rootCertificateFile: String?
    /// libpq's `connect_timeout`, when given.
    public var connectTimeout: Duration?
    /// The URL as given, password hidden.
    public let redacted: RedactedURL

    public var description: String { redacted.description }
    public var debugDescription: String { redacted.description }
    /// `dump` and debuggers see the redacted URL, never the password field.
    public var customMirror: Mirror { Mirror(self, children: ["url": redacted.description]) }

    public static let knownParameters = ["sslmode", "sslrootcert", "connect_timeout", "host"]

    public init(_ string: String) throws(StoreError) {
        let redacted = RedactedURL(string)
        self.redacted = redacted
        func invalid(_ why: String) -> StoreError {
            .unavailable("invalid PostgreSQL URL \(redacted): \(why)")
        }
        var rest = Substring(string)
        guard let schemeEnd = rest.firstRange(of: "://") else {
            throw invalid("expected postgres://user:password@host:port/database")
        }
        let scheme = rest[..<schemeEnd.lowerBound].lowercased()
        guard scheme == "postgres" || scheme == "postgresql" else {
            throw invalid("the scheme must be postgres:// or postgresql://")
        }
        rest = rest[schemeEnd.upperBound...]
        // RFC 3986: the authority ends at the first '/', '?' or '#'; a password with one of those
        // (or '@') must be percent-encoded.
        let authorityEnd = rest.firstIndex(where: { $0 == "/" || $0 == "?" || $0 == "#" }) ?? rest.endIndex
        var authority = rest[..<authorityEnd]
        rest = rest[authorityEnd...]

        var user: String?
        var password: String?
        if let at = authority.lastIndex(of: "@") {
            let userinfo = authority[..<at]
            authority = authority[authority.index(after: at)...]
            if let colon = userinfo.firstIndex(of: ":") {
                user = Self.percentDecoded(userinfo[..<colon])
                password = Self.percentDecoded(userinfo[userinfo.index(after: colon)...])
                guard password != nil else { throw invalid("the password is not valid percent-encoding") }
            } else {
                user = Self.percentDecoded(userinfo)
            }
            guard user != nil else { throw invalid("the user name is not valid percent-encoding") }
        }

        var host: String
        var portText: Substring?
        if authority.hasPrefix("[") {
            guard let close = authority.firstIndex(of: "]") else { throw invalid("unclosed '[' in the host") }
            host = String(authority[authority.index(after: authority.startIndex)..<close])
            let after = authority[authority.index(after: close)...]
            if !after.isEmpty {
                guard after.hasPrefix(":") else { throw invalid("unexpected text after the IPv6 address") }
                portText = after.dropFirst()
            }
        } else if let colon = authority.lastIndex(of: ":") {
            host = String(authority[..<colon])
            portText = authority[authority.index(after: colon)...]
        } else {
            host = String(authority)
        }
        var port = 5432
        if let portText {
            guard let p = Int(portText), (1...65_535).contains(p) else { throw invalid("the port must be 1-65535") }
            port = p
        }

        if rest.contains("#") { throw invalid("a fragment (#) is not allowed") }
        var pathPart = rest
        var queryPart: Substring = ""
        if let q = rest.firstIndex(of: "?") {
            pathPart = rest[..<q]
            queryPart = rest[rest.index(after: q)...]
        }
        var database: String?
        if pathPart.hasPrefix("/") {
            let name = pathPart.dropFirst()
            if !name.isEmpty {
                guard let decoded = Self.percentDecoded(name), !decoded.contains("/") else {
                    throw invalid("the database name is not valid")
                }
                database = decoded
            }
        }

        var tls = TLSMode.prefer
        var rootCertificateFile: String?
        var connectTimeout: Duration?
        var socketDirectory: String?
        for pair in queryPart.split(separator: "&", omittingEmptySubsequences: true) {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let key = String(parts[0])
            guard parts.count == 2, let value = Self.percentDecoded(parts[1]) else {
                throw invalid("parameter \(key) needs a value")
            }
            switch key {
            case "sslmode":
                guard let mode = TLSMode(rawValue: value) else {
                    throw invalid(
                        "sslmode must be one of \(TLSMode.allCases.map(\.rawValue).joined(separator: ", "))")
                }
                tls = mode
            case "sslrootcert":
                rootCertificateFile = value
            case "connect_timeout":
                guard let seconds = Int(value), seconds > 0, seconds <= 3600 else {
                    throw invalid("connect_timeout must be a whole number of seconds, 1-3600")
                }
                connectTimeout = .seconds(seconds)
            case "host":
                socketDirectory = value
            default:
                throw invalid(
                    "unknown parameter \(key) (known: \(Self.knownParameters.joined(separator: ", ")))")
            }
        }

        if host.isEmpty {
            guard let dir = socketDirectory, dir.hasPrefix("/") else {
                throw invalid("no host (give one, or ?host=/socket/directory for a Unix socket)")
            }
            endpoint = .unixSocket(path: dir + (dir.hasSuffix("/") ? "" : "/") + ".s.PGSQL.\(port)")
        } else {
            guard socketDirectory == nil else { throw invalid("both a host and ?host= are given") }
            endpoint = .tcp(host: host, port: port)
        }
        guard let user, !user.isEmpty else { throw invalid("no user name") }
        self.username = user
        self.password = password
        self.database = database ?? user
        self.tls = tls
        self.rootCertificateFile = rootCertificateFile
        self.connectTimeout = connectTimeout
    }

    /// Replaces the password, raw and percent-encoded, wherever it appears in `text` (a server's or
    /// a library's error message may quote the URL or the startup parameters).
    func scrub(_ text: String) -> String {
        guard let password, !password.isEmpty else { return text }
        var result = text
        for secret in Set([password, Self.percentEncoded(password)]) {
            result = result.replacing(secret, with: "***")
        }
        return result
    }

    static func percentDecoded(_ text: Substring) -> String? {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(text.utf8.count)
        var iterator = text.utf8.makeIterator()
        while let byte = iterator.next() {
            if byte == UInt8(ascii: "%") {
                guard let hi = iterator.next().flatMap(hexValue), let lo = iterator.next().flatMap(hexValue) else {
                    return nil
                }
                bytes.append(hi << 4 | lo)
            } else {
                bytes.append(byte)
            }
        }
        return String(validating: bytes, as: UTF8.self)
    }

    static func percentEncoded(_ text: String) -> String {
        var out = ""
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
                UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"),
                UInt8(ascii: "~"):
                out.unicodeScalars.append(Unicode.Scalar(byte))
            default:
                let hex = Array("0123456789ABCDEF".unicodeScalars)
                out.unicodeScalars.append("%")
                out.unicodeScalars.append(hex[Int(byte >> 4)])
                out.unicodeScalars.append(hex[Int(byte & 0x0F)])
            }
        }
        return out
    }

    private static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return byte - UInt8(ascii: "A") + 10
        default: return nil
        }
    }
}
