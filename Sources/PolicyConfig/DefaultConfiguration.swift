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
  order: [client_allow, helo_allow, sender_allow, recipient_allow, client_deny, dnsbl, fcrdns, helo_syntax,
          helo_ours, helo_deny, helo_literal, helo_fqdn, helo_address, rhsbl_helo, sender_syntax, sender_deny,
          sender_domain, rhsbl_sender, spf, recipient_syntax, recipient_deny, greylist]

dns:
  # system: forward to the name servers of /etc/resolv.conf. recursive: resolve from the root
  # servers in-process (some DNSBLs, Spamhaus among them, refuse queries that come through big
  # public resolvers). forwarders: forward to the servers in `forwarders` only.
  mode: system
  forwarders: []               # ["127.0.0.1@5353", "192.0.2.53"] (address@port)
  # Each query may take at most this long; then it has failed (the asking check's on_error).
  timeout: 5s
  # Zones that unbound answers itself by default (RFC 6761 .test, the RFC 5737 reverse zones)
  # and that should be asked of the servers instead: for test laboratories.
  transparent_zones: []

greylist:
  # Where greylisting state lives: sqlite (one MX host) or postgresql (several MX hosts share it).
  store: sqlite
  sqlite_path: /var/lib/portcullis/greylist.sqlite
  # A damaged SQLite file stops the daemon at start; true moves it aside and starts fresh.
  move_aside_corrupt: false
  # postgres://user:password@host:5432/database?sslmode=require (the password is never logged).
  postgresql_url: ""
  # Expired triplets and networks are deleted this often.
  purge_interval: 1h

headers:
  # The authserv-id of the Authentication-Results fields we add (RFC 8601 §2.5): "" means the
  # MTA's host name (Postfix and Sendmail send it as macro j).
  authserv_id: ""
  # Remove incoming Authentication-Results fields that claim our authserv-id (RFC 8601 §5), so
  # no sender can forge our verdict. Only when a check adds Authentication-Results (spf).
  remove_forged_authentication_results: true

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

  # DNS checks. on_error applies when DNS does not answer in time or fails (SERVFAIL).

  # Forward-confirmed reverse DNS: the client's PTR names must resolve back to its address.
  # Actions: continue | tempfail (reply) | reject (reject_reply).
  fcrdns:
    enabled: false
    mode: enforce
    on_error: continue
    no_ptr: tempfail
    unconfirmed: tempfail
    # Action when the confirmed name matches one of generic_patterns (regexes), such as
    # dynamic pool names: ["^dyn", "([0-9]+[.-]){3}"].
    generic: continue
    generic_patterns: []
    reply: {code: 451, enhanced: 4.7.25, text: "Bad reverse DNS: {ip} has no forward-confirmed host name"}
    reject_reply: {code: 550, enhanced: 5.7.25, text: "Bad reverse DNS: {ip} has no forward-confirmed host name"}
  # DNSBL and DNSWL zones for the client address, queried in parallel. Runs when `zones` is
  # not empty. Each zone: {zone: NAME, codes: [127.0.0.2, 127.0.0.10-127.0.0.11], bitmask: 0,
  # weight: 1, action: score}. codes/bitmask filter the answers (none: any 127.0.0.0/8 answer);
  # action: score (add weight), tempfail, reject or accept (a DNSWL that ends checking).
  # A total weight >= threshold refuses; <= allow_threshold (from negative DNSWL weights) accepts.
  dnsbl:
    enabled: true
    mode: enforce
    on_error: continue
    zones: []
    threshold: 1
    allow_threshold: -1
    # true: refuse with permanent_reply (5xx) instead of reply (4xx).
    permanent: false
    reply: {code: 451, enhanced: 4.7.1, text: "Listed on {list}: {reason}"}
    permanent_reply: {code: 554, enhanced: 5.7.1, text: "The IP address of the sender ({ip}) was found in a DNS blacklist database and was therefore refused"}
  # Domain-based lists (RHSBL) for the sender domain, same keys as dnsbl.
  rhsbl_sender:
    enabled: true
    mode: enforce
    on_error: continue
    zones: []
    threshold: 1
    allow_threshold: -1
    permanent: false
    reply: {code: 451, enhanced: 4.7.1, text: "Listed on {list}: {reason}"}
    permanent_reply: {code: 554, enhanced: 5.7.1, text: "The sender domain {domain} was found in a DNS blacklist database and was therefore refused"}
  # Domain-based lists (RHSBL) for the HELO name, same keys as dnsbl.
  rhsbl_helo:
    enabled: true
    mode: enforce
    on_error: continue
    zones: []
    threshold: 1
    allow_threshold: -1
    permanent: false
    reply: {code: 451, enhanced: 4.7.1, text: "Listed on {list}: {reason}"}
    permanent_reply: {code: 554, enhanced: 5.7.1, text: "The HELO name {helo} was found in a DNS blacklist database and was therefore refused"}
  # HELO that claims one of our names (exact, or .domain suffix) or addresses.
  helo_ours:
    enabled: false
    mode: enforce
    on_error: continue
    names: []
    addresses: []
    reply: {code: 553, enhanced: 5.7.1, text: "sorry, your HELO host name has been denied (#5.7.1)"}
  # HELO address literal that is not the client's address.
  helo_literal:
    enabled: false
    mode: enforce
    on_error: continue
    reply: {code: 550, enhanced: 5.7.1, text: "The host name specified in HELO does not match IP address."}
  # HELO name without a dot.
  helo_fqdn:
    enabled: false
    mode: enforce
    on_error: continue
    reply: {code: 501, enhanced: 5.5.2, text: "EHLO Invalid domain address."}
  # HELO name whose A/AAAA records do not contain the client address.
  helo_address:
    enabled: false
    mode: enforce
    on_error: continue
    reply: {code: 550, enhanced: 5.7.1, text: "The host name specified in HELO does not match IP address."}
  # Sender domain without MX and without A/AAAA, or with a null MX (RFC 7505).
  sender_domain:
    enabled: false
    mode: enforce
    on_error: continue
    reply: {code: 550, enhanced: 5.1.8, text: "Sender domain does not have any MX records."}
    null_mx_reply: {code: 550, enhanced: 5.7.27, text: "Sender address has null MX"}

  # SPF (RFC 7208) for MAIL FROM; the HELO identity for the null sender. Actions per result:
  # accept (with headers), tempfail, reject. Refusals come at MAIL FROM.
  spf:
    enabled: false
    mode: enforce
    on_error: continue
    # Also check the HELO identity first (RFC 7208 §2.3); a fail there decides.
    helo_first: false
    # Relays and backup MX hosts whose mail SPF cannot judge (CIDR list): SPF is skipped.
    trusted_networks: []
    fail: reject
    softfail: accept
    neutral: accept
    none: accept
    temperror: tempfail
    permerror: accept
    # Add the domain's exp= explanation to the fail reply, as a second line.
    explanation: false
    # Record the result in accepted mail: Received-SPF (RFC 7208 §9.1) and
    # Authentication-Results (RFC 8601) with headers.authserv_id.
    received_spf: true
    authentication_results: true
    reject_reply: {code: 550, enhanced: 5.7.23, text: "Blocked by SPF"}
    tempfail_reply: {code: 451, enhanced: 4.7.23, text: "SPF check did not pass for {domain}, please try again later"}
    temperror_reply: {code: 451, enhanced: 4.7.24, text: "SPF check temporarily failed for {domain}, please try again later"}
    permerror_reply: {code: 550, enhanced: 5.7.24, text: "SPF record of {domain} is invalid"}

  # Greylisting: an unseen (client network, sender, recipient) triplet is deferred until the
  # client retries after `delay`. State: the greylist: section above.
  greylist:
    enabled: false
    mode: enforce
    on_error: continue
    # rcpt: decide per recipient. data: defer the whole message at DATA while any triplet is new.
    decide_at: rcpt
    delay: 5m
    # A triplet not retried within this long starts over.
    retry_window: 2d
    # A passed triplet, and an auto-allowlisted network, is remembered this long after last seen.
    lifetime: 35d
    ipv4_prefix: 24
    ipv6_prefix: 64
    # A network that passed this many times (counted at most once an hour) is not greylisted
    # until unseen for `lifetime`. 0: never.
    auto_allow_after: 5
    # Clients never greylisted, and senders whose SPF passed for these domains (subdomains too).
    skip_networks: []
    skip_authenticated: true
    skip_spf_pass_domains: []
    reply: {code: 451, enhanced: 4.7.1, text: "This server employs greylisting as a means of reducing spam. Please resend e-mail shortly"}
"""#
}
