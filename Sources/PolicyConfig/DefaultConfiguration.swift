/// The defaults, declared once. This document is both what `portcullis print-defaults` prints
/// (and `examples/portcullis.yml` holds, checked by a test) and the schema: a key that is not
/// here is unknown, and a user's file is laid over it key by key.
public enum DefaultConfiguration {
    public static let yaml = #"""
# Portcullis configuration: every key at its default.
# Durations: 500ms, 10s, 5m, 2h, 1d. Unknown keys are errors. `portcullis configtest` checks a file.
# Reply overrides take `code`, `enhanced` and `text` (a string, or a list of lines for a
# multi-line reply). Texts are templates: {ip} {helo} {sender} {rcpt} {domain} are filled in.

# enforce: act on every check's decision. dry-run: run every check, log the decision it would
# have taken (dry_run=true) and let all mail through. Each check also has its own `mode`.
mode: enforce

milter:
  # Where the MTA connects: unix:/path, inet:PORT@HOST or inet6:PORT@HOST.
  # Debian's Postfix runs smtpd chrooted in /var/spool/postfix: see docs/postfix.md.
  socket: unix:/run/portcullis/portcullis.sock
  # Mode and group of a unix socket. The MTA's user (postfix) must be able to write to it.
  socket_mode: "0660"
  socket_group: postfix        # "" leaves the group as created
  # After binding, switch to this user (and its groups). "" stays as started.
  user: portcullis
  # Write the process id here ("" for none).
  pidfile: ""
  # libmilter's I/O timeout towards the MTA (smfi_settimeout).
  timeout: 7200s
  # Listen backlog of the milter socket.
  backlog: 128

log:
  # trace, debug, info, notice, warning, error, critical. One info line per decision.
  level: info
  # Syslog identity and facility, used when running as a daemon (not with --foreground).
  syslog_ident: portcullis
  syslog_facility: mail

engine:
  # All checks of one stage together must answer within this; past it, unanswered checks get
  # their on_error result. Keep it well under Postfix's milter_command_timeout (30s).
  stage_budget: 10s
  # Hold connect and HELO decisions until the first RCPT TO, as Postfix's smtpd_delay_reject.
  delay_reject: true
  # Order in which decisions combine: the first check in this list that accepts, rejects or
  # discards decides its stage. Checks left out keep their place after the listed ones.
  order: [client_allow, helo_allow, sender_allow, recipient_allow, client_deny, helo_syntax, helo_deny,
          sender_syntax, sender_deny, recipient_syntax, recipient_deny]

replies:
  # Used by on_error: tempfail, when a check fails internally (DNS timeout, store down).
  internal_error: {code: 451, enhanced: 4.3.0, text: "Temporary server error. Please try again later."}

checks:
  # Lists: `entries` inline and `files` (one entry a line, # comments), merged.
  # An allow-list hit ends checking: for a client or HELO the connection, for a sender the
  # message, for a recipient that recipient. Every check has enabled, mode and on_error
  # (continue | tempfail); lists cannot fail, syntax checks neither.

  # Client IP allow list: IPv4/IPv6 addresses and CIDR networks.
  client_allow:
    enabled: true
    mode: enforce
    on_error: continue
    entries: []
    files: []
  # Client IP deny list: IPv4/IPv6 addresses and CIDR networks.
  client_deny:
    enabled: true
    mode: enforce
    on_error: continue
    entries: []
    files: []
    reply: {code: 554, enhanced: 5.7.1, text: "sorry, your client host [{ip}] has been denied (#5.7.1)"}
  # HELO allow list: host names, .domain suffixes, /regex/ (case-insensitive).
  helo_allow:
    enabled: true
    mode: enforce
    on_error: continue
    entries: []
    files: []
  # HELO deny list: host names, .domain suffixes, /regex/ (case-insensitive).
  helo_deny:
    enabled: true
    mode: enforce
    on_error: continue
    entries: []
    files: []
    reply: {code: 553, enhanced: 5.7.1, text: "sorry, your HELO host name has been denied (#5.7.1)"}
  # HELO argument that is neither a domain name nor an address literal (empty, garbage).
  helo_syntax:
    enabled: true
    mode: enforce
    on_error: continue
    reply: {code: 501, enhanced: 5.5.2, text: "EHLO Invalid domain address."}
  # Sender allow list: user@example.com, @example.com or example.com, .example.com
  # (subdomains), user@ (any domain), <> (null sender), /regex/.
  sender_allow:
    enabled: true
    mode: enforce
    on_error: continue
    entries: []
    files: []
  # Sender deny list, same entry forms as sender_allow.
  sender_deny:
    enabled: true
    mode: enforce
    on_error: continue
    entries: []
    files: []
    reply: {code: 553, enhanced: 5.7.1, text: "sorry, your envelope sender has been denied (#5.7.1)"}
  # MAIL FROM that is not a valid address (NUL or control bytes, invalid UTF-8, no domain).
  sender_syntax:
    enabled: true
    mode: enforce
    on_error: continue
    reply: {code: 550, enhanced: 5.1.7, text: "The address is not valid."}
  # Recipient allow list, same entry forms as sender_allow (without <>).
  recipient_allow:
    enabled: true
    mode: enforce
    on_error: continue
    entries: []
    files: []
  # Recipient deny list, same entry forms as sender_allow (without <>).
  recipient_deny:
    enabled: true
    mode: enforce
    on_error: continue
    entries: []
    files: []
    reply: {code: 553, enhanced: 5.7.1, text: "sorry, your envelope recipient has been denied (#5.7.1)"}
  # RCPT TO that is not a valid address.
  recipient_syntax:
    enabled: true
    mode: enforce
    on_error: continue
    reply: {code: 550, enhanced: 5.1.3, text: "A valid address is required"}
"""#
}
