/// The default replies (docs/replies.md, from the project's reply catalogue). Every check's reply
/// can be overridden in the configuration; these are what a fresh install answers.
extension SMTPReply {
    public static let senderDenied = SMTPReply(553, "5.7.1", "sorry, your envelope sender has been denied (#5.7.1)")
    public static let recipientDenied = SMTPReply(
        553, "5.7.1", "sorry, your envelope recipient has been denied (#5.7.1)")
    public static let heloDenied = SMTPReply(553, "5.7.1", "sorry, your HELO host name has been denied (#5.7.1)")
    /// Not in the source catalogue, which has no client deny list; worded like its neighbours,
    /// with 554 as Postfix uses for client restrictions.
    public static let clientDenied = SMTPReply(554, "5.7.1", "sorry, your client host [{ip}] has been denied (#5.7.1)")
    public static let heloMismatch = SMTPReply(550, "5.7.1", "The host name specified in HELO does not match IP address.")
    public static let heloInvalid = SMTPReply(501, "5.5.2", "EHLO Invalid domain address.")
    public static let reverseDNSMissing = SMTPReply(
        451, "4.7.25", "Bad reverse DNS: {ip} has no forward-confirmed host name")
    public static let dnsblListed = SMTPReply(451, "4.7.1", "Listed on {list}: {reason}")
    public static let dnsblListedPermanent = SMTPReply(
        554, "5.7.1",
        "The IP address of the sender ({ip}) was found in a DNS blacklist database and was therefore refused")
    public static let spfFail = SMTPReply(550, "5.7.23", "Blocked by SPF")
    public static let spfTempError = SMTPReply(
        451, "4.7.24", "SPF check temporarily failed for {domain}, please try again later")
    public static let spfPermError = SMTPReply(550, "5.7.24", "SPF record of {domain} is invalid")
    public static let greylisted = SMTPReply(
        451, "4.7.1",
        "This server employs greylisting as a means of reducing spam. Please resend e-mail shortly")
    public static let bareLF = SMTPReply(554, "5.6.0", "Rejected - Message containing bare LF's.")
    public static let attachmentBlocked = SMTPReply(
        554, "5.3.0",
        "mail server permanently rejected message, If your message contains an Executable attachment, please package before mailing(zip, tar, gz etc). (#5.3.0)"
    )
    public static let senderDomainNoMX = SMTPReply(550, "5.1.8", "Sender domain does not have any MX records.")
    public static let senderNullMX = SMTPReply(550, "5.7.27", "Sender address has null MX")
    public static let nullSenderRefused = SMTPReply(550, "5.1.7", "Sender address must be specified.")
    public static let senderInvalid = SMTPReply(550, "5.1.7", "The address is not valid.")
    public static let recipientInvalid = SMTPReply(550, "5.1.3", "A valid address is required")
    public static let messageTooLarge = SMTPReply(
        552, "5.3.4", "Message size exceeds fixed maximum message size. Size: {size_kb} KB, Max size: {max_kb} KB")
    public static let tooManyRecipients = SMTPReply(452, "4.5.3", "Too many recipients")
    public static let internalError = SMTPReply(451, "4.3.0", "Temporary server error. Please try again later.")

    /// Every catalogue entry by its configuration name (`replies.<name>` and docs/replies.md).
    public static let catalogue: [(name: String, reply: SMTPReply)] = [
        ("sender_denied", .senderDenied), ("recipient_denied", .recipientDenied), ("helo_denied", .heloDenied),
        ("client_denied", .clientDenied), ("helo_mismatch", .heloMismatch), ("helo_invalid", .heloInvalid),
        ("reverse_dns_missing", .reverseDNSMissing), ("dnsbl_listed", .dnsblListed),
        ("dnsbl_listed_permanent", .dnsblListedPermanent), ("spf_fail", .spfFail),
        ("spf_temperror", .spfTempError), ("spf_permerror", .spfPermError), ("greylisted", .greylisted),
        ("bare_lf", .bareLF), ("attachment_blocked", .attachmentBlocked),
        ("sender_domain_no_mx", .senderDomainNoMX), ("sender_null_mx", .senderNullMX),
        ("null_sender_refused", .nullSenderRefused), ("sender_invalid", .senderInvalid),
        ("recipient_invalid", .recipientInvalid), ("message_too_large", .messageTooLarge),
        ("too_many_recipients", .tooManyRecipients), ("internal_error", .internalError),
    ]
}
