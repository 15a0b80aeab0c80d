import PolicyCore

/// The inputs of `check_host()` (RFC 7208 §4.1), plus what the macros of §7 need.
///
/// Usually built by ``SPFEvaluator/evaluateMailFrom(ip:sender:helo:receiver:timestamp:)`` or
/// ``SPFEvaluator/evaluateHelo(ip:helo:receiver:timestamp:)``, which pick the identity.
public struct SPFRequest: Sendable, Hashable {
    /// `<ip>`: the SMTP client's address. IPv4-mapped IPv6 addresses are IPv4 (§5, ¶9).
    public var ip: IPAddress
    /// `<sender>`: the MAIL FROM mailbox, or `postmaster@<helo>` when checking HELO.
    /// Empty (the null sender `<>`) is taken as `postmaster@<domain>`; a missing local-part
    /// (`@example.com`) as `postmaster` (§4.3).
    public var sender: String
    /// The HELO/EHLO name, for `%{h}`.
    public var helo: String
    /// `<domain>`: the domain whose record is checked.
    public var domain: String
    /// The receiving host's name, for `%{r}` in explanations; "unknown" by default (§7.3).
    public var receiver: String
    /// Seconds since the Unix epoch, for `%{t}` in explanations. The evaluator reads no clock:
    /// the caller passes the time (0 if it does not care; `%{t}` is rare).
    public var timestamp: Int64

    public init(
        ip: IPAddress, sender: String, helo: String, domain: String, receiver: String = "unknown",
        timestamp: Int64 = 0
    ) {
        self.ip = ip
        self.sender = sender
        self.helo = helo
        self.domain = domain
        self.receiver = receiver
        self.timestamp = timestamp
    }
}
