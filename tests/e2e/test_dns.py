"""Portcullis DNS checks end to end: swaks -> private Postfix -> portcullis -> NSD on loopback.

The daemon forwards every DNS query to a private NSD (tests/dns/nsd.py, zones in
tests/dns/zones/) on a free 127.0.0.1 port: `dns: {mode: forwarders, forwarders:
["127.0.0.1@PORT"]}` with unbound's built-in answers for the test and documentation zones lifted
(`transparent_zones`). Nothing queries any other DNS server.

Clients are presented with XCLIENT and no names (`NAME=[UNAVAILABLE] REVERSE_NAME=[UNAVAILABLE]`):
Portcullis does its own reverse lookups. The Postfix instance has `inet_protocols = all`, so
XCLIENT can present IPv6 clients (`ADDR=IPV6:2001:db8::10`, MTA-NOTES §9).

XCLIENT makes Postfix open a second milter session; the first one (client 127.0.0.1, same HELO)
never reaches RCPT. Decisions are therefore counted for the presented client address only.

With the default `engine.delay_reject: true`, connect (fcrdns, dnsbl) and HELO decisions arrive at
the first RCPT, MAIL-stage ones (sender_domain, rhsbl_sender) at MAIL.

Every transaction must end within a liveness bound (stage budget + 3 s per stage that waits on
DNS): not a speed target, a proof that no stage hangs.

Classes with the same config share a daemon (DaemonPool); the "DnsDown" classes use an NSD of
their own, which they stop (and start again at the end).
"""

from __future__ import annotations

import ipaddress
import os
import re
import smtplib
import socket
import sys
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "dns"))

from harness import (  # noqa: E402
    DaemonPool, PostfixInstance, daemon_config, parse_kv, portcullis_check, swaks, tail,
)
from nsd import NSDServer, query  # noqa: E402

# -- replies (/work/shared/reference/replies.md) -----------------------------------------------


def bad_rdns(ip: str, code: str = "451 4.7.25") -> str:
    return f"{code} Bad reverse DNS: {ip} has no forward-confirmed host name"


def listed(zone: str, reason: str) -> str:
    return f"451 4.7.1 Listed on {zone}: {reason}"


def dnsbl_permanent(ip: str) -> str:
    return (f"554 5.7.1 The IP address of the sender ({ip}) was found in a DNS blacklist "
            f"database and was therefore refused")


HELO_OURS = "553 5.7.1 sorry, your HELO host name has been denied (#5.7.1)"
HELO_MISMATCH = "550 5.7.1 The host name specified in HELO does not match IP address."
HELO_NOT_FQDN = "501 5.5.2 EHLO Invalid domain address."
NO_MX = "550 5.1.8 Sender domain does not have any MX records."
NULL_MX = "550 5.7.27 Sender address has null MX"
TEMP_ERROR = "451 4.3.0 Temporary server error. Please try again later."
SENDER_DENIED = "553 5.7.1 sorry, your envelope sender has been denied (#5.7.1)"
BL24_TXT = "192.0.2.24 is listed, see https://bl.example.test/q?192.0.2.24"

MAIL_OK = "250 2.1.0 Ok"
RCPT_OK = "250 2.1.5 Ok"

# -- the test data (tests/dns/zones) -------------------------------------------------------------
CONFIRMED = "192.0.2.20"        # PTR good.example.test -> A 192.0.2.20
UNCONFIRMED = "192.0.2.21"      # PTR mismatch.example.test -> A 192.0.2.99
GENERIC = "192.0.2.22"          # PTR dyn-192-0-2-22.example.test -> A 192.0.2.22
NO_PTR = "192.0.2.23"
BL_LISTED = "192.0.2.24"        # bl: 127.0.0.2 + TXT
BL_CODE4 = "192.0.2.25"         # bl: 127.0.0.4
BL_AND_WL = "192.0.2.26"        # bl: 127.0.0.2, wl: 127.0.10.2
WL_ONLY = "192.0.2.27"          # wl: 127.0.10.2
BL_NO_TXT = "192.0.2.28"        # bl: 127.0.0.2, no TXT
CONFIRMED_LISTED = "192.0.2.29"  # PTR listed.example.test (confirmed), bl: 127.0.0.2
V6_CONFIRMED = "2001:db8::10"   # PTR mx.example.test -> AAAA 2001:db8::10
V6_NO_PTR = "2001:db8::23"
V6_LISTED = "2001:db8::24"      # bl: 127.0.0.2 + TXT "2001:db8::24 is listed"

OUR_MX = "mx.example.test"
OUR_IP = "192.0.2.10"
HELO = "helo.example.test"      # A 192.0.2.20
SENDER = "a@withmx.example.test"
RCPT = "user@example.com"
BAD_SENDER = "bad@example.com"  # on sender_deny where a class has it

BUDGET_S = 5
TRANSPARENT = ["test.", "2.0.192.in-addr.arpa.", "8.b.d.0.1.0.0.2.ip6.arpa."]

NS: NSDServer = None  # type: ignore[assignment]       # the shared, always-running NSD
NS_DOWN: NSDServer = None  # type: ignore[assignment]  # the one the DnsDown classes stop
PF: PostfixInstance = None  # type: ignore[assignment]
POOL: DaemonPool = None  # type: ignore[assignment]
IPV6 = False


def ipv6_loopback_works() -> bool:
    if not socket.has_ipv6:
        return False
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


def setUpModule():
    global NS, NS_DOWN, PF, POOL, IPV6
    IPV6 = ipv6_loopback_works()
    NS = NSDServer()
    unittest.addModuleCleanup(NS.close)
    NS.start()
    PF = PostfixInstance(with_milter=True,
                         extra_main_cf={"inet_protocols": "all" if IPV6 else "ipv4"})
    unittest.addModuleCleanup(PF.stop)
    PF.start()
    POOL = DaemonPool(PF.root / "daemons", PF.milter_socket)
    unittest.addModuleCleanup(POOL.stop)  # LIFO: daemon, then Postfix, then NSD


def xclient_for(ip: str) -> str:
    addr = f"IPV6:{ip}" if ":" in ip else ip
    return f"ADDR={addr} NAME=[UNAVAILABLE] REVERSE_NAME=[UNAVAILABLE]"


def norm_ip(value) -> str:
    v = str(value or "")
    if v.lower().startswith("ipv6:"):
        v = v[5:]
    try:
        return str(ipaddress.ip_address(v))
    except ValueError:
        return v


def split_reply(full: str):
    code, enhanced, text = full.split(" ", 2)
    return code, enhanced, text


def dns_section(port: int, **over) -> dict:
    d = {"mode": "forwarders", "forwarders": [f"127.0.0.1@{port}"], "timeout": "2s",
         "transparent_zones": list(TRANSPARENT)}
    d.update(over)
    return d


def is_warning(line: str) -> bool:
    parts = line.split(" ", 2)
    return len(parts) >= 2 and parts[1] in ("warning", "error")


# ==============================================================================================


class DNSCase(unittest.TestCase):
    """A daemon with CHECKS forwarding to NSD; send() runs one swaks session from a presented
    client and collects that client's decision lines and the warnings logged meanwhile."""

    CHECKS: dict = {}
    MODE = "enforce"
    ENGINE = {"stage_budget": f"{BUDGET_S}s"}
    DNS: dict = {}           # overrides of the dns: section
    DNS_STAGES = 1           # stages that may wait on DNS in one transaction (liveness bound)
    maxDiff = None

    @classmethod
    def nsd(cls) -> NSDServer:
        return NS

    @classmethod
    def dns_port(cls) -> int:
        return cls.nsd().port

    @classmethod
    def config(cls) -> dict:
        cfg = daemon_config(PF.milter_socket, cls.CHECKS, mode=cls.MODE, engine=cls.ENGINE)
        cfg["dns"] = dns_section(cls.dns_port(), **cls.DNS)
        return cfg

    @classmethod
    def setUpClass(cls):
        cls.daemon = POOL.ensure(cls.config())

    def time_bound(self) -> float:
        return BUDGET_S * self.DNS_STAGES + 3

    # -- sending -------------------------------------------------------------------------------

    def send(self, client=CONFIRMED, sender=SENDER, rcpts=RCPT, helo=HELO, check_time=True):
        if ":" in str(client) and not IPV6:
            self.skipTest("no IPv6 loopback here: Postfix runs with inet_protocols = ipv4")
        d = self.daemon
        mark = d.mark()
        t0 = time.monotonic()
        r = swaks(PF.port, sender, rcpts, helo=helo,
                  xclient=xclient_for(client) if client else None)
        self.elapsed = time.monotonic() - t0
        self.last = r
        self.client = client
        d.settle()
        if not d.running():
            self.fail(f"the daemon exited during the session (status {d.proc.returncode})\n"
                      f"{self.diag()}")
        new = d.log_lines()[mark:]
        self.new_lines = new
        self.all_decisions = [l for l in new if " decision " in l]
        want = norm_ip(client or "127.0.0.1")
        self.last_decisions = [l for l in self.all_decisions
                               if norm_ip(parse_kv(l).get("client_ip")) == want]
        self.last_parsed = [parse_kv(l) for l in self.last_decisions]
        self.last_warnings = [l for l in new if is_warning(l)]
        if check_time:
            self.assertLess(self.elapsed, self.time_bound(),
                            f"transaction took {self.elapsed:.1f} s (liveness bound "
                            f"{self.time_bound()} s)\n{self.diag()}")
        return r

    def diag(self, r=None) -> str:
        r = r if r is not None else getattr(self, "last", None)
        parts = []
        if r is not None:
            parts.append("swaks: " + " ".join(r.argv) + f"\nexit {r.returncode}, "
                         f"{getattr(self, 'elapsed', 0):.2f} s\n" + r.transcript)
        parts.append("daemon log lines of this session:\n" +
                     ("\n".join(getattr(self, "new_lines", [])) or "(none)"))
        parts.append(f"config ({self.daemon.config_path}):\n" + self.daemon.config_path.read_text())
        parts.append(f"daemon log tail ({self.daemon.log_path}):\n" + tail(self.daemon.log_path, 15))
        parts.append("maillog tail:\n" + "\n".join(PF.maillog_lines()[-8:]))
        return "\n--------\n".join(parts)

    # -- assertions ----------------------------------------------------------------------------

    def assertReply(self, command, expected, r=None):
        r = r or self.last
        rep = r.reply_to(command)
        want = expected if isinstance(expected, list) else [expected]
        self.assertEqual(rep.lines, want, f"reply to {command}\n{self.diag(r)}")
        return rep

    def assertQueued(self, r=None):
        r = r or self.last
        rep = r.reply_to("DATA")
        self.assertTrue(rep.text.startswith("250 2.0.0 Ok: queued as "),
                        f"message not queued: reply to DATA: {rep}\n{self.diag(r)}")
        self.assertEqual(r.returncode, 0, f"swaks exit status\n{self.diag(r)}")

    def assertRefusedAtRcpt(self, expected):
        """delay_reject: MAIL is accepted, the connect/HELO decision arrives at RCPT."""
        self.assertReply("MAIL", MAIL_OK)
        self.assertReply("RCPT", expected)
        self.assertTrue(self.last.reply_to("DATA").missing, "no DATA after the refusal\n" + self.diag())

    def assertOneDecision(self, **expected) -> dict:
        self.assertEqual(len(self.last_parsed), 1,
                         f"expected exactly one decision line for client {self.client}\n{self.diag()}")
        kv = self.last_parsed[0]
        got = {k: kv.get(k) for k in expected}
        self.assertEqual(got, {k: str(v) for k, v in expected.items()}, self.diag())
        return kv

    def assertDecisionForReply(self, check, stage, full_reply, action=None, dry_run="false"):
        code, enh, text = split_reply(full_reply)
        if action is None:
            action = "tempfail" if code.startswith("4") else "reject"
        return self.assertOneDecision(check=check, stage=stage, action=action, code=code,
                                      enhanced=enh, text=text, dry_run=dry_run)

    def assertNoDecision(self):
        """No decision line for the client, and no warning at all in the session: a pass must
        not come from a DNS error that on_error: continue let through."""
        self.assertEqual(self.last_decisions, [], f"expected no decision line\n{self.diag()}")
        self.assertEqual(self.last_warnings, [], f"expected no warning\n{self.diag()}")

    def assertNoRefusal(self):
        bad = [kv for kv in self.last_parsed
               if kv.get("action") in ("reject", "tempfail") and kv.get("dry_run") != "true"]
        self.assertEqual(bad, [], f"expected no enforced refusal\n{self.diag()}")

    def warnings_naming(self, needle: str, lines=None) -> list[str]:
        lines = self.last_warnings if lines is None else lines
        return [l for l in lines if needle.lower() in l.lower()]


# ==============================================================================================
# DNS sanity: what the daemon's forwarder is asked resolves as designed (tells a zone problem
# apart from a daemon problem)


class AZoneSanityTest(unittest.TestCase):
    def test_zones_answer(self):
        self.assertEqual(query(NS.port, "good.example.test").values("A"), [CONFIRMED])
        self.assertEqual(query(NS.port, "20.2.0.192.in-addr.arpa", "PTR").values("PTR"),
                         ["good.example.test."])
        self.assertEqual(query(NS.port, "24.2.0.192.bl.example.test").values("A"), ["127.0.0.2"])


# ==============================================================================================
# FCrDNS


FCRDNS = {"enabled": True, "no_ptr": "tempfail", "unconfirmed": "tempfail",
          "generic": "continue", "generic_patterns": ["^dyn-"], "on_error": "continue"}


class FcrdnsTest(DNSCase):
    CHECKS = {"fcrdns": FCRDNS}

    def test_1_no_ptr(self):
        self.send(client=NO_PTR)
        self.assertRefusedAtRcpt(bad_rdns(NO_PTR))
        kv = self.assertDecisionForReply("fcrdns", "connect", bad_rdns(NO_PTR))
        self.assertEqual(norm_ip(kv.get("client_ip")), NO_PTR)

    def test_2_ptr_not_confirmed(self):
        self.send(client=UNCONFIRMED)
        self.assertRefusedAtRcpt(bad_rdns(UNCONFIRMED))
        self.assertDecisionForReply("fcrdns", "connect", bad_rdns(UNCONFIRMED))

    def test_3_confirmed(self):
        self.send(client=CONFIRMED)
        self.assertReply("RCPT", RCPT_OK)
        self.assertQueued()
        self.assertNoDecision()

    def test_4_generic_name_with_generic_continue(self):
        self.send(client=GENERIC)
        self.assertQueued()
        self.assertNoRefusal()

    def test_5_ipv6_confirmed(self):
        self.send(client=V6_CONFIRMED)
        self.assertQueued()
        self.assertNoDecision()

    def test_6_ipv6_no_ptr(self):
        self.send(client=V6_NO_PTR)
        self.assertRefusedAtRcpt(bad_rdns(V6_NO_PTR))
        kv = self.assertDecisionForReply("fcrdns", "connect", bad_rdns(V6_NO_PTR))
        self.assertEqual(norm_ip(kv.get("client_ip")), V6_NO_PTR)

    def test_7_every_rcpt_refused(self):
        self.send(client=NO_PTR, rcpts=[RCPT, "other@example.com"])
        self.assertEqual([x.lines for x in self.last.replies_to("RCPT")],
                         [[bad_rdns(NO_PTR)]] * 2, self.diag())


class FcrdnsRejectTest(DNSCase):
    """generic: reject, no_ptr: reject, unconfirmed: continue."""
    CHECKS = {"fcrdns": dict(FCRDNS, no_ptr="reject", unconfirmed="continue", generic="reject")}

    def test_1_generic_name_rejected(self):
        self.send(client=GENERIC)
        self.assertRefusedAtRcpt(bad_rdns(GENERIC, "550 5.7.25"))
        self.assertDecisionForReply("fcrdns", "connect", bad_rdns(GENERIC, "550 5.7.25"))

    def test_2_no_ptr_rejected(self):
        self.send(client=NO_PTR)
        self.assertRefusedAtRcpt(bad_rdns(NO_PTR, "550 5.7.25"))
        self.assertDecisionForReply("fcrdns", "connect", bad_rdns(NO_PTR, "550 5.7.25"))

    def test_3_unconfirmed_continues(self):
        self.send(client=UNCONFIRMED)
        self.assertQueued()
        self.assertNoRefusal()

    def test_4_confirmed_non_generic_passes(self):
        self.send(client=CONFIRMED)
        self.assertQueued()
        self.assertNoDecision()


class FcrdnsDryRunTest(DNSCase):
    CHECKS = {"fcrdns": dict(FCRDNS, mode="dry-run")}

    def test_no_ptr_dry_run(self):
        self.send(client=NO_PTR)
        self.assertReply("RCPT", RCPT_OK)
        self.assertQueued()
        code, enh, text = split_reply(bad_rdns(NO_PTR))
        kv = self.assertOneDecision(check="fcrdns", dry_run="true", code=code, enhanced=enh,
                                    text=text)
        queued = re.search(r"queued as ([0-9A-Za-z]+)", self.last.reply_to("DATA").text)
        self.assertEqual(kv.get("queue_id"), queued.group(1), self.diag())


# ==============================================================================================
# DNSBL / DNSWL


class DnsblTest(DNSCase):
    CHECKS = {"dnsbl": {"zones": [{"zone": "bl.example.test", "weight": 1},
                                  {"zone": "wl.example.test", "weight": -1}],
                        "threshold": 1}}

    def test_1_listed_with_txt_reason(self):
        self.send(client=BL_LISTED)
        want = listed("bl.example.test", BL24_TXT)
        self.assertRefusedAtRcpt(want)
        self.assertDecisionForReply("dnsbl", "connect", want)

    def test_2_listed_without_txt(self):
        self.send(client=BL_NO_TXT)
        want = listed("bl.example.test", "listed")
        self.assertRefusedAtRcpt(want)
        self.assertDecisionForReply("dnsbl", "connect", want)

    def test_3_any_127_code_counts_without_codes_filter(self):
        self.send(client=BL_CODE4)
        want = listed("bl.example.test", "192.0.2.25 has code 4")
        self.assertRefusedAtRcpt(want)
        self.assertDecisionForReply("dnsbl", "connect", want)

    def test_4_bl_and_wl_cancel(self):
        self.send(client=BL_AND_WL)  # 1 + (-1) = 0 < threshold 1
        self.assertQueued()
        self.assertNoRefusal()

    def test_5_unlisted(self):
        self.send(client=CONFIRMED)
        self.assertQueued()
        self.assertNoDecision()

    def test_6_ipv6_listed(self):
        self.send(client=V6_LISTED)
        want = listed("bl.example.test", "2001:db8::24 is listed")
        self.assertRefusedAtRcpt(want)
        self.assertDecisionForReply("dnsbl", "connect", want)


class DnsblPermanentTest(DNSCase):
    CHECKS = {"dnsbl": {"zones": [{"zone": "bl.example.test"}], "permanent": True}}

    def test_listed_permanent_reply(self):
        self.send(client=BL_LISTED)
        self.assertRefusedAtRcpt(dnsbl_permanent(BL_LISTED))
        self.assertDecisionForReply("dnsbl", "connect", dnsbl_permanent(BL_LISTED))


class DnsblCodesTest(DNSCase):
    CHECKS = {"dnsbl": {"zones": [{"zone": "bl.example.test",
                                   "codes": ["127.0.0.2", "127.0.0.10-127.0.0.11"],
                                   "weight": 1}]}}

    def test_1_code_outside_filter_passes(self):
        self.send(client=BL_CODE4)  # 127.0.0.4
        self.assertQueued()
        self.assertNoRefusal()

    def test_2_code_in_filter_listed(self):
        self.send(client=BL_LISTED)  # 127.0.0.2
        self.assertRefusedAtRcpt(listed("bl.example.test", BL24_TXT))


class DnsblBitmaskTest(DNSCase):
    CHECKS = {"dnsbl": {"zones": [{"zone": "bl.example.test", "bitmask": 4}]}}

    def test_1_bit_set_listed(self):
        self.send(client=BL_CODE4)  # 127.0.0.4 & 4
        self.assertRefusedAtRcpt(listed("bl.example.test", "192.0.2.25 has code 4"))

    def test_2_bit_not_set_passes(self):
        self.send(client=BL_LISTED)  # 127.0.0.2 & 4 == 0
        self.assertQueued()
        self.assertNoRefusal()


class DnsblAllowTest(DNSCase):
    """A DNSWL at or below allow_threshold accepts the client: later checks (a deny-listed
    sender) do not run."""
    CHECKS = {
        "sender_deny": {"entries": [BAD_SENDER]},
        "dnsbl": {"zones": [{"zone": "bl.example.test", "weight": 1},
                            {"zone": "wl.example.test", "weight": -2}],
                  "threshold": 1, "allow_threshold": -1},
    }

    def test_1_bl_and_wl_accepted_despite_denied_sender(self):
        self.send(client=BL_AND_WL, sender=BAD_SENDER)  # 1 - 2 = -1 <= -1
        self.assertReply("MAIL", MAIL_OK)
        self.assertQueued()
        self.assertNoRefusal()

    def test_2_wl_only_accepted_despite_denied_sender(self):
        self.send(client=WL_ONLY, sender=BAD_SENDER)
        self.assertQueued()
        self.assertNoRefusal()

    def test_3_control_denied_sender_refused_without_wl(self):
        self.send(client=CONFIRMED, sender=BAD_SENDER)
        self.assertReply("MAIL", SENDER_DENIED)
        self.assertOneDecision(check="sender_deny", action="reject")

    def test_4_control_bl_only_refused(self):
        self.send(client=BL_LISTED)
        self.assertRefusedAtRcpt(listed("bl.example.test", BL24_TXT))


class DnsblZoneActionTest(DNSCase):
    """Per-zone action instead of a score: accept (a DNSWL that ends checking)."""
    CHECKS = {
        "sender_deny": {"entries": [BAD_SENDER]},
        "dnsbl": {"zones": [{"zone": "wl.example.test", "action": "accept"},
                            {"zone": "bl.example.test", "weight": 1}]},
    }

    def test_1_wl_accept_action(self):
        self.send(client=WL_ONLY, sender=BAD_SENDER)
        self.assertQueued()
        self.assertNoRefusal()

    def test_2_bl_still_scores(self):
        self.send(client=BL_LISTED)
        self.assertRefusedAtRcpt(listed("bl.example.test", BL24_TXT))


class DnsblRefusedZoneTest(DNSCase):
    """127.255.255.254 (Spamhaus: query refused) is an error, never a listing; a warning names
    the zone, at most once a minute per zone."""
    CHECKS = {"dnsbl": {"zones": [{"zone": "refused.example.test"}]}}

    def test_1_not_a_listing_and_warned(self):
        self.send(client=BL_LISTED)
        self.assertQueued()
        self.assertNoRefusal()
        # the warning may have come earlier (a start-up probe, the XCLIENT pre-session)
        all_warn = [l for l in self.daemon.log_lines() if is_warning(l)]
        self.assertTrue(self.warnings_naming("refused.example.test", all_warn),
                        f"a warning naming refused.example.test\n{self.diag()}")

    def test_2_warning_at_most_once_a_minute(self):
        for ip in (BL_AND_WL, CONFIRMED):
            with self.subTest(ip):
                self.send(client=ip)
                self.assertQueued()
        all_warn = [l for l in self.daemon.log_lines() if is_warning(l)]
        self.assertEqual(len(self.warnings_naming("refused.example.test", all_warn)), 1,
                         "one warning for the zone within a minute\n" + "\n".join(all_warn))


class DnsblWildcardZoneTest(DNSCase):
    """A zone that lists everything, including the RFC 5782 test point 127.0.0.1 (which must
    never be listed): its answers are not listings."""
    CHECKS = {"dnsbl": {"zones": [{"zone": "wild.example.test"}]}}

    def test_1_not_a_listing(self):
        self.send(client=CONFIRMED)
        self.assertQueued()
        self.assertNoRefusal()

    def test_2_warning_names_the_zone(self):
        self.send(client=UNCONFIRMED)
        all_warn = [l for l in self.daemon.log_lines() if is_warning(l)]
        self.assertTrue(self.warnings_naming("wild.example.test", all_warn),
                        f"a warning naming wild.example.test (lists 127.0.0.1)\n{self.diag()}")


# ==============================================================================================
# HELO


class HeloTest(DNSCase):
    """helo_ours, helo_literal, helo_fqdn: no DNS needed."""
    CHECKS = {
        "helo_ours": {"enabled": True, "names": [OUR_MX, ".ours.example.test"],
                      "addresses": [OUR_IP]},
        "helo_literal": {"enabled": True},
        "helo_fqdn": {"enabled": True},
    }

    def test_1_ours(self):
        for helo in (OUR_MX, "MX.Example.Test", "relay.ours.example.test", OUR_IP):
            with self.subTest(helo=helo):
                self.send(client=CONFIRMED, helo=helo)
                self.assertRefusedAtRcpt(HELO_OURS)
                self.assertDecisionForReply("helo_ours", "helo", HELO_OURS)

    def test_2a_our_literal_from_elsewhere(self):
        # both helo_ours and helo_literal refuse this one; either reply is right
        self.send(client=CONFIRMED, helo=f"[{OUR_IP}]")
        self.assertReply("MAIL", MAIL_OK)
        self.assertIn(self.last.reply_to("RCPT").lines, [[HELO_OURS], [HELO_MISMATCH]], self.diag())
        self.assertGreaterEqual(len(self.last_parsed), 1, self.diag())
        for kv in self.last_parsed:
            self.assertIn(kv.get("check"), ("helo_ours", "helo_literal"), self.diag())

    def test_2b_our_own_address_is_exempt(self):
        # docs/checks/helo.md: a client connecting from one of `addresses` is exempt
        for helo in (f"[{OUR_IP}]", OUR_MX):
            with self.subTest(helo=helo):
                self.send(client=OUR_IP, helo=helo)
                self.assertQueued()
                self.assertNoDecision()

    def test_3_literal_not_the_client(self):
        self.send(client=CONFIRMED, helo="[192.0.2.99]")
        self.assertRefusedAtRcpt(HELO_MISMATCH)
        self.assertDecisionForReply("helo_literal", "helo", HELO_MISMATCH)

    def test_4_literal_of_the_client(self):
        self.send(client=CONFIRMED, helo=f"[{CONFIRMED}]")
        self.assertQueued()
        self.assertNoDecision()

    def test_5_ipv6_literals(self):
        self.send(client=V6_CONFIRMED, helo="[IPv6:2001:db8::10]")
        self.assertQueued()
        self.assertNoDecision()
        self.send(client=V6_CONFIRMED, helo="[IPv6:2001:db8::99]")
        self.assertRefusedAtRcpt(HELO_MISMATCH)
        self.assertDecisionForReply("helo_literal", "helo", HELO_MISMATCH)

    def test_6_not_fqdn(self):
        for helo in ("vm", "localhost"):
            with self.subTest(helo=helo):
                self.send(client=CONFIRMED, helo=helo)
                self.assertRefusedAtRcpt(HELO_NOT_FQDN)
                self.assertDecisionForReply("helo_fqdn", "helo", HELO_NOT_FQDN)

    def test_7_ordinary_name_passes(self):
        self.send(client=CONFIRMED, helo="client.example.org")
        self.assertQueued()
        self.assertNoDecision()


class HeloAddressTest(DNSCase):
    CHECKS = {"helo_address": {"enabled": True}}

    def test_1_matches_client(self):
        self.send(client=CONFIRMED, helo=HELO)
        self.assertQueued()
        self.assertNoDecision()

    def test_2_does_not_match_client(self):
        self.send(client=UNCONFIRMED, helo=HELO)
        self.assertRefusedAtRcpt(HELO_MISMATCH)
        self.assertDecisionForReply("helo_address", "helo", HELO_MISMATCH)

    def test_3_cname_chain_matches(self):
        self.send(client=CONFIRMED, helo="alias.example.test")
        self.assertQueued()
        self.assertNoDecision()

    def test_4_ipv6_aaaa_matches(self):
        self.send(client=V6_CONFIRMED, helo=OUR_MX)
        self.assertQueued()
        self.assertNoDecision()

    def test_5_nonexistent_name(self):
        self.send(client=CONFIRMED, helo="nonexistent.example.test")
        self.assertRefusedAtRcpt(HELO_MISMATCH)
        self.assertDecisionForReply("helo_address", "helo", HELO_MISMATCH)


# ==============================================================================================
# Sender domain, RHSBL


class SenderDomainTest(DNSCase):
    CHECKS = {
        "sender_domain": {"enabled": True},
        "rhsbl_sender": {"zones": [{"zone": "rhsbl.example.test"}]},
        "rhsbl_helo": {"zones": [{"zone": "rhsbl.example.test"}]},
    }

    def test_1_no_mx_no_address(self):
        self.send(sender="a@nomx.example.test")
        self.assertReply("MAIL", NO_MX)
        self.assertTrue(self.last.reply_to("RCPT").missing, self.diag())
        self.assertDecisionForReply("sender_domain", "mail", NO_MX)

    def test_2_nonexistent_domain(self):
        self.send(sender="a@nonexistent.example.test")
        self.assertReply("MAIL", NO_MX)
        self.assertDecisionForReply("sender_domain", "mail", NO_MX)

    def test_3_null_mx(self):
        self.send(sender="a@nullmx.example.test")
        self.assertReply("MAIL", NULL_MX)
        self.assertDecisionForReply("sender_domain", "mail", NULL_MX)

    def test_4_acceptable_domains(self):
        for sender in ("a@withmx.example.test", "a@aonly.example.test", "a@alias.example.test",
                       "a@WithMX.Example.Test"):
            with self.subTest(sender=sender):
                self.send(sender=sender)
                self.assertReply("MAIL", MAIL_OK)
                self.assertQueued()
                self.assertNoDecision()

    def test_5_null_sender_passes(self):
        self.send(sender="<>")  # swaks: "<>" is the null sender ("" would mean root@<hostname>)
        self.assertIn(" -> MAIL FROM:<>", self.last.lines(), self.diag())
        self.assertReply("MAIL", MAIL_OK)
        self.assertQueued()
        self.assertNoDecision()

    def test_6_rhsbl_sender(self):
        want = listed("rhsbl.example.test", "spammy domain")
        self.send(sender="a@spammy.example.test")
        self.assertReply("MAIL", want)
        self.assertDecisionForReply("rhsbl_sender", "mail", want)

    def test_7_rhsbl_helo(self):
        want = listed("rhsbl.example.test", "spammy domain")
        self.send(helo="spammy.example.test")
        self.assertRefusedAtRcpt(want)
        self.assertDecisionForReply("rhsbl_helo", "helo", want)


# ==============================================================================================
# `portcullis check` gives the same decision as the daemon (same config, same NSD)


class CheckCommandTest(DNSCase):
    CHECKS = {
        "fcrdns": {"enabled": True},
        "dnsbl": {"zones": [{"zone": "bl.example.test"}]},
        "sender_domain": {"enabled": True},
        "rhsbl_sender": {"zones": [{"zone": "rhsbl.example.test"}]},
    }
    CHECK_HELO = "x.example.test"

    def both(self, client, sender):
        self.send(client=client, sender=sender, helo=self.CHECK_HELO)
        c = portcullis_check(self.daemon.config_path, client, self.CHECK_HELO, sender, RCPT)
        self.assertIsNotNone(c.json, f"check output is not JSON\ncommand: {' '.join(c.argv)}\n"
                                     f"exit {c.returncode}\nstdout:\n{c.stdout}\nstderr:\n{c.stderr}")
        return c

    def assertSame(self, c, check, full_reply):
        code, enh, text = split_reply(full_reply)
        ctx = f"\ncheck command: {' '.join(c.argv)}\nstdout:\n{c.stdout}\nstderr:\n{c.stderr}\n{self.diag()}"
        d = c.decision
        self.assertIsInstance(d, dict, ctx)
        got = {k: (None if d.get(k) is None else str(d.get(k)))
               for k in ("check", "code", "enhanced", "text")}
        self.assertEqual(got, {"check": check, "code": code, "enhanced": enh, "text": text}, ctx)
        self.assertEqual(len(self.last_parsed), 1, "one daemon decision" + ctx)
        kv = self.last_parsed[0]
        for k in ("action", "check", "code", "enhanced", "text", "stage"):
            self.assertEqual(kv.get(k), None if d.get(k) is None else str(d.get(k)),
                             f"daemon log vs check: {k}{ctx}")

    def test_1_no_ptr(self):
        c = self.both(NO_PTR, SENDER)
        self.assertReply("RCPT", bad_rdns(NO_PTR))
        self.assertSame(c, "fcrdns", bad_rdns(NO_PTR))

    def test_2_dnsbl(self):
        c = self.both(CONFIRMED_LISTED, SENDER)
        want = listed("bl.example.test", "192.0.2.29 is listed")
        self.assertReply("RCPT", want)
        self.assertSame(c, "dnsbl", want)

    def test_3_sender_domain(self):
        c = self.both(CONFIRMED, "a@nomx.example.test")
        self.assertReply("MAIL", NO_MX)
        self.assertSame(c, "sender_domain", NO_MX)

    def test_4_rhsbl_sender(self):
        c = self.both(CONFIRMED, "a@spammy.example.test")
        want = listed("rhsbl.example.test", "spammy domain")
        self.assertReply("MAIL", want)
        self.assertSame(c, "rhsbl_sender", want)

    def test_5_ipv6_no_ptr(self):
        c = self.both(V6_NO_PTR, SENDER)
        self.assertReply("RCPT", bad_rdns(V6_NO_PTR))
        self.assertSame(c, "fcrdns", bad_rdns(V6_NO_PTR))

    def test_6_clean(self):
        c = self.both(CONFIRMED, SENDER)
        self.assertQueued()
        self.assertNoDecision()
        d = c.decision
        self.assertTrue(d is None or d.get("action") == "continue",
                        f"clean envelope: decision must be null or continue\n{c.stdout}\n{c.stderr}")


# ==============================================================================================
# The DNS server goes away: on_error, and every answer within the stage budget


def down_nsd() -> NSDServer:
    global NS_DOWN
    if NS_DOWN is None:
        NS_DOWN = NSDServer()
        unittest.addModuleCleanup(NS_DOWN.close)
    return NS_DOWN.start()


class DnsDownBase(DNSCase):
    """Starts the daemon against an NSD of its own, proves DNS works (test_0), then stops that
    NSD; the next tests use names the daemon has never asked for (its cache is empty for them).
    tearDownClass starts the NSD again (same port)."""

    @classmethod
    def nsd(cls) -> NSDServer:
        return down_nsd()

    @classmethod
    def tearDownClass(cls):
        if NS_DOWN is not None:
            NS_DOWN.start()

    def stop_dns(self):
        """Stop the class's NSD (also when a down test runs alone, without test_0)."""
        NS_DOWN.stop()
        with self.assertRaises(OSError):
            query(NS_DOWN.port, "mx.example.test", timeout=0.5)

    def setUp(self):
        if not self._testMethodName.startswith("test_0") and NS_DOWN.running() \
                and not self._testMethodName.startswith("test_9"):
            self.stop_dns()


class DnsDownContinueTest(DnsDownBase):
    CHECKS = {
        "fcrdns": {"enabled": True, "on_error": "continue"},
        "dnsbl": {"zones": [{"zone": "bl.example.test"}], "on_error": "continue"},
        "helo_address": {"enabled": True, "on_error": "continue"},
        "sender_domain": {"enabled": True, "on_error": "continue"},
    }
    # the XCLIENT pre-session (connect, HELO) and the session (connect, HELO, MAIL) may each wait
    # for a dead server: a loose bound on the whole transaction; test_2 bounds every reply
    DNS_STAGES = 5

    # Names are never reused across these tests: the daemon's cache must not answer them.
    def test_0_up_refuses(self):
        # with DNS up the sender domain is refused: the daemon's resolver reaches this NSD (a
        # client refused at connect or HELO would not get as far as the MAIL checks)
        self.send(client=CONFIRMED, helo=HELO, sender="a@nomx.example.test")
        self.assertReply("MAIL", NO_MX)
        self.stop_dns()

    def test_1_down_passes_and_warns(self):
        # with DNS up this would be refused (PTR not confirmed, HELO listed.example.test is .29);
        # test_0 asked for good.example.test (the PTR of .20): no cached name here
        self.send(client=UNCONFIRMED, helo="listed.example.test", sender="a@aonly.example.test")
        self.assertQueued()
        self.assertNoRefusal()
        for check, name in (("fcrdns", "21.2.0.192.in-addr.arpa"),
                            ("dnsbl", "21.2.0.192.bl.example.test"),
                            ("helo_address", "listed.example.test"),
                            ("sender_domain", "aonly.example.test")):
            with self.subTest(check=check):
                self.assertTrue(self.warnings_naming(name),
                                f"a warning naming the failed query {name} ({check})\n{self.diag()}")

    def test_2_each_reply_within_the_stage_budget(self):
        # smtplib, to time every reply (swaks only gives the total)
        s, times, replies = timed_session(BL_CODE4, "a@alias.example.test",
                                          "dyn-192-0-2-22.example.test")
        bound = BUDGET_S + 3
        slow = {k: v for k, v in times.items() if v >= bound}
        self.assertEqual(slow, {}, f"replies slower than {bound} s: {times}\nreplies: {replies}\n"
                                   f"daemon log tail:\n{tail(self.daemon.log_path, 20)}")
        self.assertTrue(replies["DATA"].startswith("250"), f"{replies}")


class DnsDownTempfailConnectTest(DnsDownBase):
    CHECKS = {
        "fcrdns": {"enabled": True, "on_error": "tempfail"},
        "dnsbl": {"zones": [{"zone": "bl.example.test"}], "on_error": "tempfail"},
    }
    DNS_STAGES = 2  # the XCLIENT pre-session's connect and the session's connect

    def test_0_up_passes(self):
        self.send(client=CONFIRMED)
        self.assertQueued()
        self.stop_dns()

    def test_1_down_tempfails_at_rcpt(self):
        self.send(client=UNCONFIRMED)
        self.assertRefusedAtRcpt(TEMP_ERROR)
        self.assertEqual(len(self.last_parsed), 1, self.diag())
        kv = self.last_parsed[0]
        self.assertIn(kv.get("check"), ("fcrdns", "dnsbl"), self.diag())
        code, enh, text = split_reply(TEMP_ERROR)
        self.assertEqual((kv.get("action"), kv.get("code"), kv.get("enhanced"), kv.get("text")),
                         ("tempfail", code, enh, text), self.diag())

    def test_2_ipv6_down_tempfails(self):
        self.send(client=V6_NO_PTR)
        self.assertRefusedAtRcpt(TEMP_ERROR)

    def test_9_recovers_after_restart(self):
        NS_DOWN.start()
        deadline = time.monotonic() + 30
        t0 = time.monotonic()
        while True:
            self.send(client=GENERIC)  # confirmed, not listed: passes once DNS answers
            if self.last.reply_to("DATA").text.startswith("250") or time.monotonic() > deadline:
                break
            time.sleep(1)
        self.assertQueued()
        print(f"\n    (answers again {time.monotonic() - t0:.1f} s after NSD restarted)",
              file=sys.stderr, end=" ")


class DnsDownTempfailMailTest(DnsDownBase):
    CHECKS = {
        "sender_domain": {"enabled": True, "on_error": "tempfail"},
        "rhsbl_sender": {"zones": [{"zone": "rhsbl.example.test"}], "on_error": "tempfail"},
    }
    DNS_STAGES = 1

    def test_0_up_passes(self):
        self.send(client=CONFIRMED)
        self.assertQueued()
        self.stop_dns()

    def test_1_down_tempfails_at_mail(self):
        self.send(client=UNCONFIRMED, sender="a@aonly.example.test")
        self.assertReply("MAIL", TEMP_ERROR)
        self.assertEqual(len(self.last_parsed), 1, self.diag())
        kv = self.last_parsed[0]
        self.assertIn(kv.get("check"), ("sender_domain", "rhsbl_sender"), self.diag())
        self.assertEqual((kv.get("action"), kv.get("code"), kv.get("enhanced")),
                         ("tempfail", "451", "4.3.0"), self.diag())


def timed_session(client: str, sender: str, helo: str) -> tuple:
    """One SMTP transaction with smtplib, timing each reply. Returns (ok, times, replies)."""
    times, replies = {}, {}

    def step(name, fn):
        t0 = time.monotonic()
        try:
            code, msg = fn()
        except smtplib.SMTPResponseException as e:
            code, msg = e.smtp_code, e.smtp_error
        times[name] = round(time.monotonic() - t0, 2)
        text = msg.decode(errors="replace") if isinstance(msg, bytes) else str(msg)
        replies[name] = f"{code} {text}"
        return code

    s = smtplib.SMTP(local_hostname=helo, timeout=60)
    step("CONNECT", lambda: s.connect("127.0.0.1", PF.port))
    with s:
        step("EHLO", s.ehlo)
        step("XCLIENT", lambda: s.docmd("XCLIENT", xclient_for(client)))
        step("EHLO2", s.ehlo)
        step("MAIL", lambda: s.mail(sender))
        step("RCPT", lambda: s.rcpt(RCPT))
        step("DATA", lambda: s.data(b"Subject: timed\r\n\r\nbody\r\n"))
    return True, times, replies


if __name__ == "__main__":
    unittest.main()
