/// The processing limits of RFC 7208 §4.6.4, which bound the DNS work one check can cause.
/// ``rfc7208`` holds the RFC's values; change them only knowingly (the RFC test suite assumes them).
public struct SPFLimits: Sendable, Hashable {
    /// Terms that query the DNS (`include`, `a`, `mx`, `ptr`, `exists`, `redirect`; `%{p}` too),
    /// counted over the whole evaluation, includes and redirects included. One more is a
    /// `permerror` (RFC 7208 §4.6.4, first paragraph).
    public var dnsTerms = 10
    /// Lookups of those terms that answer NXDOMAIN or no data. One more is a `permerror`
    /// (RFC 7208 §4.6.4, last paragraph: SHOULD be 2).
    public var voidLookups = 2
    /// Exchanges one `mx` term may look up; an MX answer with more is a `permerror`
    /// (RFC 7208 §4.6.4: "MUST produce a permerror").
    public var mxNames = 10
    /// Names of one PTR answer (`ptr`, `%{p}`) that are validated; the others are ignored
    /// (RFC 7208 §4.6.4: "all records other than the first 10 MUST be ignored").
    public var ptrNames = 10

    public init(dnsTerms: Int = 10, voidLookups: Int = 2, mxNames: Int = 10, ptrNames: Int = 10) {
        self.dnsTerms = dnsTerms
        self.voidLookups = voidLookups
        self.mxNames = mxNames
        self.ptrNames = ptrNames
    }

    /// The limits RFC 7208 §4.6.4 sets.
    public static let rfc7208 = SPFLimits()
}
