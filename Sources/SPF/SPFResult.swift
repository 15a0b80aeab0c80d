/// SPF: an RFC 7208 evaluator over ``PolicyCore/DNSResolver``.
///
/// ``SPFEvaluator/checkHost(_:)`` is the RFC's `check_host()`: it fetches the domain's
/// `v=spf1` TXT record, evaluates its terms in order (following `include:` and `redirect=`),
/// within the processing limits of §4.6.4, and returns an ``SPFOutcome``: the result, the term
/// that decided, the explanation of a `fail`, the reason of an error and a term-by-term trace.
/// It returns a result, never a verdict: what a `fail` means for the mail is the SPF check's
/// business. Pure: no clock, no sockets, no Foundation. Every DNS query goes through the resolver.
///
/// The identities: ``SPFEvaluator/evaluateMailFrom(ip:sender:helo:receiver:timestamp:)``
/// (RFC 7208 §2.4) and ``SPFEvaluator/evaluateHelo(ip:helo:receiver:timestamp:)`` (§2.3).

/// The result of an SPF check (RFC 7208 §2.6). The raw values are the RFC's result names, as
/// written in `Received-SPF` and `Authentication-Results` (`spf=`) headers.
public enum SPFResult: String, Sendable, CaseIterable, CustomStringConvertible {
    /// No SPF record, or no checkable domain: nothing can be said.
    /// [RFC 7208 §8.1](https://www.rfc-editor.org/rfc/rfc7208#section-8.1)
    case none
    /// The domain owner explicitly states no assertion (`?` qualifier, or no term matched).
    /// Treat exactly like `none`. [RFC 7208 §8.2](https://www.rfc-editor.org/rfc/rfc7208#section-8.2)
    case neutral
    /// The client is authorized to use the domain.
    /// [RFC 7208 §8.3](https://www.rfc-editor.org/rfc/rfc7208#section-8.3)
    case pass
    /// The client is explicitly not authorized (`-` qualifier); may carry an explanation.
    /// [RFC 7208 §8.4](https://www.rfc-editor.org/rfc/rfc7208#section-8.4)
    case fail
    /// The client is probably not authorized (`~` qualifier): a weak `fail`, meant for marking.
    /// [RFC 7208 §8.5](https://www.rfc-editor.org/rfc/rfc7208#section-8.5)
    case softfail
    /// A transient error, usually DNS (timeout, SERVFAIL): a later retry may succeed.
    /// [RFC 7208 §8.6](https://www.rfc-editor.org/rfc/rfc7208#section-8.6)
    case temperror
    /// The published records could not be interpreted (syntax error, several records, a
    /// processing limit exceeded): the domain owner must fix them.
    /// [RFC 7208 §8.7](https://www.rfc-editor.org/rfc/rfc7208#section-8.7)
    case permerror

    public var description: String { rawValue }
}
