/// What is known about the SMTP client, from `xxfi_connect` and the `{client_*}` macros.
public struct ClientFacts: Sendable, Hashable {
    /// Nil when the MTA gave no address (Sendmail `-bs`, or a non-IP socket family).
    public var address: IPAddress?
    /// The name the MTA verified or reported (`{client_name}`, or xxfi_connect's host name).
    public var hostname: String?
    public var port: Int?

    public init(address: IPAddress? = nil, hostname: String? = nil, port: Int? = nil) {
        self.address = address
        self.hostname = hostname
        self.port = port
    }
}

/// An immutable snapshot of one SMTP session and its current transaction, handed to checks.
///
/// It is a value: the session machine builds one per evaluation, so checks running concurrently
/// never share mutable state.
public struct Transaction: Sendable {
    public var client: ClientFacts
    /// HELO/EHLO argument as sent (escaped if it held unprintable bytes); nil before HELO.
    public var helo: String?
    /// Nil before MAIL FROM.
    public var sender: EnvelopeAddress?
    /// The recipient being decided at the RCPT stage.
    public var currentRecipient: EnvelopeAddress?
    /// Recipients accepted so far. Filled from the DATA stage on; at RCPT see ``recipientCount``.
    public var recipients: [EnvelopeAddress]
    /// Recipients accepted before the current one.
    public var recipientCount: Int
    /// ESMTP parameters of MAIL FROM (`SIZE=1234`, `BODY=8BITMIME`).
    public var mailParameters: [String]
    /// The MTA's queue id (macro `i`), once known: from DATA with Postfix, from MAIL with Sendmail.
    public var queueID: String?
    /// Macros the MTA sent, by name without braces (`client_addr`, `auth_authen`, `i`).
    public var macros: [String: String]
    /// Header fields, from end of headers on, when a check asked for them.
    public var headers: [HeaderField]
    /// Body bytes seen so far.
    public var bodySize: Int
    /// Facts earlier checks noted for later ones: `client_name` is the forward-confirmed host
    /// name of the client.
    public var facts: [String: String] = [:]

    public init(
        client: ClientFacts = ClientFacts(), helo: String? = nil, sender: EnvelopeAddress? = nil,
        currentRecipient: EnvelopeAddress? = nil, recipients: [EnvelopeAddress] = [], recipientCount: Int = 0,
        mailParameters: [String] = [], queueID: String? = nil, macros: [String: String] = [:],
        headers: [HeaderField] = [], bodySize: Int = 0
    ) {
        self.client = client
        self.helo = helo
        self.sender = sender
        self.currentRecipient = currentRecipient
        self.recipients = recipients
        self.recipientCount = recipientCount
        self.mailParameters = mailParameters
        self.queueID = queueID
        self.macros = macros
        self.headers = headers
        self.bodySize = bodySize
    }

    /// Template values for replies: `{ip}`, `{helo}`, `{sender}`, `{rcpt}`, `{domain}`.
    public var replyValues: ReplyValues {
        var values: ReplyValues = [:]
        values["ip"] = client.address?.description ?? "unknown"
        values["helo"] = helo ?? ""
        values["sender"] = sender?.bare ?? ""
        values["rcpt"] = currentRecipient?.bare ?? ""
        values["domain"] = sender?.mailbox?.domain ?? ""
        return values
    }
}
