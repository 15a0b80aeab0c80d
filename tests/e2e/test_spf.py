"""Portcullis SPF check end to end: swaks -> private Postfix -> portcullis -> NSD on loopback.

The SPF records live in tests/dns/zones/spf.example.test.zone (one name per result, see
tests/dns/README.md). The daemon forwards every DNS query to a DelayProxy in front of a private
NSD: the proxy passes everything at once except names under timeout.example.test, which it drops
(a dead server), so `include:slow.timeout.example.test` ends in the resolver's timeout
(`dns.timeout: 2s`) and the SPF result temperror. Nothing queries any other DNS server.

Only `checks.spf` is enabled (the always-on syntax checks pass every envelope used here). The SPF
check runs at MAIL FROM: its refusals are the reply to MAIL. Accepted mail is held in Postfix's
hold queue (`smtpd_end_of_data_restrictions = check_client_access static:HOLD`), so the headers
the daemon added at end of message are read back with `postcat -c CONF -hq QUEUEID`.

Accepted results (annotations) must come without any decision line and without warnings;
refusals with exactly one decision line for the presented client (XCLIENT opens a second milter
session; the first one, client 127.0.0.1, never reaches MAIL).

Classes run in alphabetical order; classes with the same config ("Default*") share a daemon, every
other class costs a daemon restart (~5 s, libmilter's exit).
"""

from __future__ import annotations

import ipaddress
import json
import os
import re
import socket
import subprocess
import sys
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "dns"))

from harness import (  # noqa: E402
    DaemonPool, PostfixInstance, daemon_config, parse_kv, portcullis_bin, portcullis_check,
    swaks, tail,
)
from nsd import DelayProxy, NSDServer, query  # noqa: E402

# -- replies (/work/shared/reference/replies.md, checks.spf defaults) ----------------------------
SPF_REJECT = "550 5.7.23 Blocked by SPF"


def spf_tempfail(domain: str) -> str:
    return f"451 4.7.23 SPF check did not pass for {domain}, please try again later"


def spf_temperror(domain: str) -> str:
    return f"451 4.7.24 SPF check temporarily failed for {domain}, please try again later"


def spf_permerror(domain: str) -> str:
    return f"550 5.7.24 SPF record of {domain} is invalid"


MAIL_OK = "250 2.1.0 Ok"

# -- the test data (tests/dns/zones/spf.example.test.zone) ---------------------------------------
GOOD_IP = "192.0.2.20"      # designated by pass, a (A record), helo, include, redirect
BAD_IP = "192.0.2.21"       # designated by nothing
MX_IP = "192.0.2.22"        # designated by a.spf.example.test's "mx" (mail.spf.example.test)
GOOD_IP6 = "2001:db8::10"   # designated by pass (ip6:)
BAD_IP6 = "2001:db8::99"

PASS = "a@pass.spf.example.test"
FAIL = "a@fail.spf.example.test"
SOFTFAIL = "a@softfail.spf.example.test"
NEUTRAL = "a@neutral.spf.example.test"
NONE = "a@none.spf.example.test"
NO_DOMAIN = "a@nonexistent.spf.example.test"
PERMERROR = "a@permerror.spf.example.test"
SYNTAX = "a@syntax.spf.example.test"
INCLUDE = "a@include.spf.example.test"
REDIRECT = "a@redirect.spf.example.test"
A_MX = "a@a.spf.example.test"
TEMPERROR = "a@temperror.spf.example.test"
SPF_HELO = "helo.spf.example.test"   # A 192.0.2.20, "v=spf1 a -all"
NULL = "<>"                          # swaks: "<>" is the null sender ("" means root@<hostname>)

HELO = "client.example.test"         # NXDOMAIN: no SPF record, never decides anything
RCPT = "user@example.com"
AUTHSERV_ID = "mx.example.test"
MTA_HOSTNAME = "mta.example.test"    # the Postfix instance's myhostname (macro j)
EXPLANATION = f"{BAD_IP} is not one of fail.spf.example.test's designated mail servers."

BUDGET_S = 5
TRANSPARENT = ["test.", "2.0.192.in-addr.arpa.", "8.b.d.0.1.0.0.2.ip6.arpa."]
DROPPED_ZONE = "timeout.example.test"

NS: NSDServer = None  # type: ignore[assignment]
PROXY: DelayProxy = None  # type: ignore[assignment]
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
    global NS, PROXY, PF, POOL, IPV6
    IPV6 = ipv6_loopback_works()
    NS = NSDServer()
    unittest.addModuleCleanup(NS.close)
    NS.start()
    PROXY = DelayProxy(NS.port, 0.0, DROPPED_ZONE, drop=True)
    unittest.addModuleCleanup(PROXY.stop)
    PROXY.start()
    PF = PostfixInstance(with_milter=True, extra_main_cf={
        "inet_protocols": "all" if IPV6 else "ipv4",
        # every accepted message waits in the hold queue, where postcat reads it back
        "smtpd_end_of_data_restrictions": "check_client_access static:HOLD",
    })
    unittest.addModuleCleanup(PF.stop)
    PF.start()
    POOL = DaemonPool(PF.root / "daemons", PF.milter_socket)
    unittest.addModuleCleanup(POOL.stop)  # LIFO: daemon, Postfix, proxy, NSD


# -- helpers -------------------------------------------------------------------------------------


def xclient_for(ip: str) -> str:
    addr = f"IPV6:{ip}" if ":" in ip else ip
    return f"ADDR={addr} NAME=[UNAVAILABLE] REVERSE_NAME=[UNAVAILABLE]"


def norm_ip(value) -> str:
    v = str(value or "").strip('"')
    if v.lower().startswith("ipv6:"):
        v = v[5:]
    try:
        return str(ipaddress.ip_address(v))
    except ValueError:
        return v


def split_reply(full: str):
    code, enhanced, text = full.split(" ", 2)
    return code, enhanced, text


def is_warning(line: str) -> bool:
    parts = line.split(" ", 2)
    return len(parts) >= 2 and parts[1] in ("warning", "error")


def header_fields(text: str) -> list[tuple[str, str]]:
    """(name, unfolded value) of each header field of `postcat -h` output, in order."""
    fields: list[list[str]] = []
    for line in text.splitlines():
        if not line.strip():
            break  # end of the header
        if line[:1] in (" ", "\t") and fields:
            fields[-1][1] += " " + line.strip()
        elif ":" in line:
            name, value = line.split(":", 1)
            fields.append([name.strip(), value.strip()])
    return [(n, v) for n, v in fields]


def strip_comments(value: str) -> str:
    """An RFC 5322 field value without (comments) (nesting included) and with single spaces."""
    prev = None
    while prev != value:
        prev, value = value, re.sub(r"\([^()]*\)", " ", value)
    value = re.sub(r"\s+", " ", value).strip()
    return re.sub(r"\s*;\s*", "; ", value)


_PAIR = re.compile(r'([A-Za-z0-9_.\-]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^;\s]+)')


def parse_received_spf(value: str) -> tuple[str, dict]:
    """RFC 7208 §9.1: `result [comment] key=value; ...` -> (result, {key: unquoted value})."""
    bare = strip_comments(value)
    result = bare.split(" ", 1)[0].rstrip(";").lower()
    pairs = {}
    for m in _PAIR.finditer(bare[len(result):]):
        v = m.group(2)
        if len(v) >= 2 and v[0] == v[-1] == '"':
            v = re.sub(r"\\(.)", r"\1", v[1:-1])
        pairs[m.group(1).lower()] = v
    return result, pairs


# ==============================================================================================


class SPFCase(unittest.TestCase):
    """A daemon with checks.spf (enabled, plus SPF overrides) forwarding to PROXY; send() runs one
    swaks session from a presented client and collects that client's decision lines and the
    warnings logged meanwhile; queued_headers() reads the held message back."""

    SPF: dict = {}
    HEADERS: dict | None = {"authserv_id": AUTHSERV_ID, "remove_forged_authentication_results": True}
    MODE = "enforce"
    maxDiff = None

    @classmethod
    def config(cls) -> dict:
        spf = {"enabled": True}
        spf.update(cls.SPF)
        cfg = daemon_config(PF.milter_socket, {"spf": spf}, mode=cls.MODE,
                            engine={"stage_budget": f"{BUDGET_S}s"})
        cfg["dns"] = {"mode": "forwarders", "forwarders": [f"127.0.0.1@{PROXY.port}"],
                      "timeout": "2s", "transparent_zones": list(TRANSPARENT)}
        if cls.HEADERS is not None:
            cfg["headers"] = dict(cls.HEADERS)
        return cfg

    @classmethod
    def setUpClass(cls):
        cls.daemon = POOL.ensure(cls.config())

    # -- sending -------------------------------------------------------------------------------

    def send(self, client=GOOD_IP, sender=PASS, helo=HELO, headers=(), time_bound=BUDGET_S + 3):
        if ":" in client and not IPV6:
            self.skipTest("no IPv6 loopback here: Postfix runs with inet_protocols = ipv4")
        d = self.daemon
        mark = d.mark()
        extra = []
        for h in headers:
            extra += ["--add-header", h]
        t0 = time.monotonic()
        r = swaks(PF.port, sender, RCPT, helo=helo, xclient=xclient_for(client), extra=extra)
        self.elapsed = time.monotonic() - t0
        self.last, self.client, self.sender = r, client, sender
        d.settle()
        if not d.running():
            self.fail(f"the daemon exited during the session (status {d.proc.returncode})\n"
                      f"{self.diag()}")
        new = d.log_lines()[mark:]
        self.new_lines = new
        want = norm_ip(client)
        self.last_decisions = [l for l in new if " decision " in l
                               and norm_ip(parse_kv(l).get("client_ip")) == want]
        self.last_parsed = [parse_kv(l) for l in self.last_decisions]
        self.last_warnings = [l for l in new if is_warning(l)]
        self.assertLess(self.elapsed, time_bound,
                        f"transaction took {self.elapsed:.1f} s (liveness bound {time_bound} s)\n"
                        f"{self.diag()}")
        return r

    def queue_id(self) -> str:
        m = re.search(r"queued as ([0-9A-Za-z]+)", self.last.reply_to("DATA").text)
        self.assertIsNotNone(m, "no queue id in the reply to DATA\n" + self.diag())
        return m.group(1)

    def queued_headers(self) -> list[tuple[str, str]]:
        """The header fields of the message just queued (held), as Postfix stored them."""
        qid = self.queue_id()
        p = subprocess.run(["postcat", "-c", str(PF.conf_dir), "-hq", qid],
                           capture_output=True, text=True, timeout=30)
        self.assertEqual(p.returncode, 0, f"postcat -hq {qid}: {p.stderr}\n{self.diag()}")
        self.queued_text = p.stdout
        return header_fields(p.stdout)

    def diag(self, r=None) -> str:
        r = r if r is not None else getattr(self, "last", None)
        parts = []
        if r is not None:
            parts.append("swaks: " + " ".join(r.argv) + f"\nexit {r.returncode}, "
                         f"{getattr(self, 'elapsed', 0):.2f} s\n" + r.transcript)
        if getattr(self, "queued_text", None):
            parts.append("queued header (postcat -h):\n" + self.queued_text)
        parts.append("daemon log lines of this session:\n" +
                     ("\n".join(getattr(self, "new_lines", [])) or "(none)"))
        parts.append(f"config ({self.daemon.config_path}):\n" + self.daemon.config_path.read_text())
        parts.append(f"daemon log tail ({self.daemon.log_path}):\n" + tail(self.daemon.log_path, 15))
        parts.append("maillog tail:\n" + "\n".join(PF.maillog_lines()[-8:]))
        return "\n--------\n".join(parts)

    # -- assertions ----------------------------------------------------------------------------

    def assertReply(self, command, expected):
        rep = self.last.reply_to(command)
        want = expected if isinstance(expected, list) else [expected]
        self.assertEqual(rep.lines, want, f"reply to {command}\n{self.diag()}")
        return rep

    def assertQueued(self):
        self.assertReply("MAIL", MAIL_OK)
        rep = self.last.reply_to("DATA")
        self.assertTrue(rep.text.startswith("250 2.0.0 Ok: queued as "),
                        f"message not queued: reply to DATA: {rep}\n{self.diag()}")
        self.assertEqual(self.last.returncode, 0, f"swaks exit status\n{self.diag()}")

    def assertRefusedAtMail(self, expected):
        self.assertReply("MAIL", expected)
        self.assertTrue(self.last.reply_to("RCPT").missing, "no RCPT after the refusal\n" + self.diag())

    def assertNoDecision(self, warnings_ok=False):
        """Accepted: no decision line for the client (an annotation is not a decision) and no
        warning in the session (an accept must not come from a swallowed error)."""
        self.assertEqual(self.last_decisions, [], f"expected no decision line\n{self.diag()}")
        if not warnings_ok:
            self.assertEqual(self.last_warnings, [], f"expected no warning\n{self.diag()}")

    def assertOneDecision(self, **expected) -> dict:
        self.assertEqual(len(self.last_parsed), 1,
                         f"expected exactly one decision line for client {self.client}\n{self.diag()}")
        kv = self.last_parsed[0]
        got = {k: kv.get(k) for k in expected}
        self.assertEqual(got, {k: str(v) for k, v in expected.items()}, self.diag())
        return kv

    def assertDecisionForReply(self, full_reply, dry_run="false", action=None):
        code, enh, text = split_reply(full_reply)
        if action is None:
            action = "tempfail" if code.startswith("4") else "reject"
        return self.assertOneDecision(check="spf", stage="mail", action=action, code=code,
                                      enhanced=enh, text=text, dry_run=dry_run)

    # -- the queued message's SPF header fields --------------------------------------------------

    def received_spf(self, fields) -> list[tuple[str, dict]]:
        return [parse_received_spf(v) for n, v in fields if n.lower() == "received-spf"]

    def auth_results(self, fields) -> list[str]:
        return [v for n, v in fields if n.lower() == "authentication-results"]

    def assertSPFHeaders(self, result, client=None, sender=None, identity="mailfrom",
                         mailfrom=None, authserv_id=AUTHSERV_ID):
        """One Received-SPF with `result`, client-ip and envelope-from; one Authentication-Results
        `<authserv_id>; spf=<result> smtp.mailfrom=<sender>` (comments ignored)."""
        client = client or self.client
        sender = self.sender if sender is None else sender
        fields = self.queued_headers()
        rs = self.received_spf(fields)
        self.assertEqual(len(rs), 1, f"one Received-SPF field\n{self.diag()}")
        got, pairs = rs[0]
        self.assertEqual(got, result, f"Received-SPF result\n{self.diag()}")
        self.assertEqual(norm_ip(pairs.get("client-ip")), norm_ip(client),
                         f"Received-SPF client-ip\n{self.diag()}")
        self.assertEqual(pairs.get("envelope-from", "").strip("<>"), sender.strip("<>"),
                         f"Received-SPF envelope-from\n{self.diag()}")
        if "identity" in pairs:
            self.assertEqual(pairs["identity"].lower(), identity, f"Received-SPF identity\n{self.diag()}")
        ours = [strip_comments(v) for v in self.auth_results(fields)
                if v.split(";")[0].strip().lower() == authserv_id]
        if mailfrom is None:
            mailfrom = sender
        self.assertEqual(ours, [f"{authserv_id}; spf={result} smtp.mailfrom={mailfrom}"],
                         f"Authentication-Results\n{self.diag()}")
        return fields

    def assertNoSPFHeaders(self):
        fields = self.queued_headers()
        self.assertEqual(self.received_spf(fields), [], f"no Received-SPF\n{self.diag()}")
        self.assertEqual([v for v in self.auth_results(fields) if "spf=" in v.lower()], [],
                         f"no SPF Authentication-Results\n{self.diag()}")
        return fields


# ==============================================================================================
# the zones answer as designed, directly and through the proxy (tells a zone problem apart from a
# daemon problem)


class AZoneSanityTest(unittest.TestCase):
    def test_records_through_the_proxy(self):
        self.assertEqual(query(PROXY.port, "pass.spf.example.test", "TXT").values("TXT"),
                         [["v=spf1 ip4:192.0.2.20 ip6:2001:db8::10 -all"]])
        self.assertEqual(query(PROXY.port, "helo.spf.example.test").values("A"), [GOOD_IP])

    def test_dropped_zone(self):
        self.assertEqual(query(NS.port, "slow.timeout.example.test", "TXT").values("TXT"),
                         [["v=spf1 ip4:192.0.2.20 -all"]])
        with self.assertRaises(OSError):
            query(PROXY.port, "slow.timeout.example.test", "TXT", timeout=0.5)


# ==============================================================================================
# defaults (only `enabled: true`): fail -> 550 5.7.23, temperror -> 451 4.7.24, the rest accepted
# with Received-SPF and Authentication-Results. The Default* classes share one daemon.


class Default1ResultsTest(SPFCase):
    def test_01_pass(self):
        self.send(client=GOOD_IP, sender=PASS)
        self.assertQueued()
        self.assertNoDecision()
        self.assertSPFHeaders("pass")

    def test_02_fail(self):
        self.send(client=BAD_IP, sender=FAIL)
        self.assertRefusedAtMail(SPF_REJECT)
        self.assertDecisionForReply(SPF_REJECT)

    def test_03_softfail(self):
        self.send(client=BAD_IP, sender=SOFTFAIL)
        self.assertQueued()
        self.assertNoDecision()
        self.assertSPFHeaders("softfail")

    def test_04_neutral(self):
        self.send(client=BAD_IP, sender=NEUTRAL)
        self.assertQueued()
        self.assertNoDecision()
        self.assertSPFHeaders("neutral")

    def test_05_none(self):
        self.send(client=BAD_IP, sender=NONE)
        self.assertQueued()
        self.assertNoDecision()
        self.assertSPFHeaders("none")

    def test_06_none_for_a_nonexistent_domain(self):
        self.send(client=BAD_IP, sender=NO_DOMAIN)
        self.assertQueued()
        self.assertNoDecision()
        self.assertSPFHeaders("none")

    def test_07_permerror_two_records(self):
        # an invalid record is the publisher's problem: accepted by default (permerror: accept)
        self.send(client=BAD_IP, sender=PERMERROR)
        self.assertQueued()
        self.assertNoDecision(warnings_ok=True)
        self.assertSPFHeaders("permerror")

    def test_08_permerror_syntax(self):
        self.send(client=GOOD_IP, sender=SYNTAX)
        self.assertQueued()
        self.assertNoDecision(warnings_ok=True)
        self.assertSPFHeaders("permerror")


class Default2MechanismsTest(SPFCase):
    def test_1_include(self):
        self.send(client=GOOD_IP, sender=INCLUDE)
        self.assertQueued()
        self.assertNoDecision()
        self.assertSPFHeaders("pass")

    def test_2_include_does_not_match(self):
        self.send(client=BAD_IP, sender=INCLUDE)
        self.assertRefusedAtMail(SPF_REJECT)
        self.assertDecisionForReply(SPF_REJECT)

    def test_3_redirect(self):
        self.send(client=GOOD_IP, sender=REDIRECT)
        self.assertQueued()
        self.assertNoDecision()
        self.assertSPFHeaders("pass")

    def test_4_a(self):
        self.send(client=GOOD_IP, sender=A_MX)
        self.assertQueued()
        self.assertNoDecision()
        self.assertSPFHeaders("pass")

    def test_5_mx(self):
        self.send(client=MX_IP, sender=A_MX)
        self.assertQueued()
        self.assertNoDecision()
        self.assertSPFHeaders("pass")

    def test_6_a_mx_do_not_match(self):
        self.send(client=BAD_IP, sender=A_MX)
        self.assertRefusedAtMail(SPF_REJECT)
        self.assertDecisionForReply(SPF_REJECT)

    def test_7_ipv6_pass(self):
        self.send(client=GOOD_IP6, sender=PASS)
        self.assertQueued()
        self.assertNoDecision()
        self.assertSPFHeaders("pass", client=GOOD_IP6)

    def test_8_ipv6_fail(self):
        self.send(client=BAD_IP6, sender=PASS)
        self.assertRefusedAtMail(SPF_REJECT)
        kv = self.assertDecisionForReply(SPF_REJECT)
        self.assertEqual(norm_ip(kv.get("client_ip")), BAD_IP6)


class Default3NullSenderTest(SPFCase):
    """The null sender: the HELO identity is checked (postmaster@<helo>, RFC 7208 §2.4)."""

    def test_1_helo_pass(self):
        self.send(client=GOOD_IP, sender=NULL, helo=SPF_HELO)
        self.assertIn(" -> MAIL FROM:<>", self.last.lines(), self.diag())
        self.assertQueued()
        self.assertNoDecision()
        fields = self.queued_headers()
        rs = self.received_spf(fields)
        self.assertEqual(len(rs), 1, f"one Received-SPF field\n{self.diag()}")
        result, pairs = rs[0]
        self.assertEqual(result, "pass", self.diag())
        self.assertEqual(norm_ip(pairs.get("client-ip")), GOOD_IP, self.diag())
        if "identity" in pairs:
            self.assertEqual(pairs["identity"].lower(), "helo", self.diag())
        ours = [strip_comments(v) for v in self.auth_results(fields)
                if v.split(";")[0].strip().lower() == AUTHSERV_ID]
        self.assertEqual(len(ours), 1, f"one Authentication-Results of ours\n{self.diag()}")
        self.assertTrue(ours[0].startswith(f"{AUTHSERV_ID}; spf=pass "), self.diag())
        self.assertIn(SPF_HELO, ours[0], f"names the HELO identity\n{self.diag()}")

    def test_2_helo_fail(self):
        self.send(client=BAD_IP, sender=NULL, helo=SPF_HELO)
        self.assertIn(" -> MAIL FROM:<>", self.last.lines(), self.diag())
        self.assertRefusedAtMail(SPF_REJECT)
        kv = self.assertDecisionForReply(SPF_REJECT)
        self.assertIn(kv.get("sender"), ("<>", ""), self.diag())

    def test_3_helo_not_checked_for_a_real_sender(self):
        # helo_first: false (default): MAIL FROM alone decides; the HELO would fail for .22
        self.send(client=MX_IP, sender=A_MX, helo=SPF_HELO)
        self.assertQueued()
        self.assertNoDecision()
        self.assertSPFHeaders("pass")


class Default4AuthenticationResultsTest(SPFCase):
    """headers.remove_forged_authentication_results: fields claiming our authserv-id go."""

    def test_1_forged_field_removed_and_ours_added(self):
        forged = f"{AUTHSERV_ID}; spf=pass (forged)"
        self.send(client=GOOD_IP, sender=PASS, headers=[f"Authentication-Results: {forged}"])
        self.assertIn(f" -> Authentication-Results: {forged}", self.last.lines(), self.diag())
        self.assertQueued()
        fields = self.assertSPFHeaders("pass")
        self.assertEqual([v for v in self.auth_results(fields) if "forged" in v], [],
                         f"the forged field is gone\n{self.diag()}")

    def test_2_other_authserv_id_kept(self):
        other = "other.example; spf=pass"
        self.send(client=GOOD_IP, sender=PASS, headers=[f"Authentication-Results: {other}"])
        self.assertQueued()
        fields = self.assertSPFHeaders("pass")
        self.assertEqual([v for v in self.auth_results(fields) if v.startswith("other.example")],
                         [other], f"the other field is kept as it was\n{self.diag()}")

    def test_3_both_in_one_message(self):
        forged = f"{AUTHSERV_ID}; spf=pass (forged)"
        other = "other.example; spf=pass"
        self.send(client=GOOD_IP, sender=SOFTFAIL,
                  headers=[f"Authentication-Results: {forged}", f"Authentication-Results: {other}"])
        self.assertQueued()
        fields = self.assertSPFHeaders("softfail")
        ar = self.auth_results(fields)
        self.assertEqual([v for v in ar if "forged" in v], [], self.diag())
        self.assertEqual([v for v in ar if v.startswith("other.example")], [other], self.diag())

    def test_4_forged_with_other_case_removed(self):
        # authserv-ids are domain names: compared without regard to case
        forged = "MX.Example.TEST; spf=pass (forged)"
        self.send(client=GOOD_IP, sender=PASS, headers=[f"Authentication-Results: {forged}"])
        self.assertQueued()
        fields = self.queued_headers()
        self.assertEqual([v for v in self.auth_results(fields) if "forged" in v], [],
                         f"the forged field is gone\n{self.diag()}")

    def test_5_forged_field_removed_from_mail_without_spf_domain(self):
        forged = f"{AUTHSERV_ID}; spf=pass (forged)"
        self.send(client=BAD_IP, sender=NONE, headers=[f"Authentication-Results: {forged}"])
        self.assertQueued()
        fields = self.assertSPFHeaders("none")
        self.assertEqual([v for v in self.auth_results(fields) if "forged" in v], [], self.diag())


class Default5CommandTest(SPFCase):
    """`portcullis spf` and `portcullis check` with the daemon's own config (same proxy, NSD)."""

    def spf_cli(self, *args, timeout=30):
        argv = [str(portcullis_bin()), "spf", "--config", str(self.daemon.config_path), *args]
        p = subprocess.run(argv, capture_output=True, text=True, timeout=timeout,
                           stdin=subprocess.DEVNULL)
        ctx = f"\ncommand: {' '.join(argv)}\nexit {p.returncode}\nstdout:\n{p.stdout}\nstderr:\n{p.stderr}"
        return p, ctx

    def test_1_spf_text(self):
        p, ctx = self.spf_cli("--ip", BAD_IP, "--sender", FAIL, "--helo", "x.example.test")
        self.assertEqual(p.returncode, 0, ctx)
        self.assertRegex(p.stdout, r"(?im)\bfail\b", "the result" + ctx)
        self.assertIn("v=spf1 ip4:192.0.2.99 -all", p.stdout, "the trace names the record" + ctx)
        self.assertRegex(p.stdout, r"(?m)(^|[\s\"'`(=:])-all\b", "the trace names the -all term" + ctx)

    def test_2_spf_json(self):
        p, ctx = self.spf_cli("--ip", BAD_IP, "--sender", FAIL, "--helo", "x.example.test",
                              "--format", "json")
        self.assertEqual(p.returncode, 0, ctx)
        try:
            doc = json.loads(p.stdout)
        except ValueError:
            self.fail("stdout is not JSON" + ctx)
        self.assertIsInstance(doc, dict, ctx)
        self.assertEqual(doc.get("result"), "fail", ctx)
        flat = json.dumps(doc)
        self.assertIn("v=spf1 ip4:192.0.2.99 -all", flat, "the trace names the record" + ctx)
        self.assertIn("-all", flat.replace("v=spf1 ip4:192.0.2.99 -all", ""),
                      "the trace names the -all term apart from the record" + ctx)

    def test_3_spf_json_pass_and_temperror(self):
        for ip, sender, want in ((GOOD_IP, PASS, "pass"), (GOOD_IP6, PASS, "pass"),
                                 (BAD_IP, SOFTFAIL, "softfail"), (BAD_IP, NONE, "none"),
                                 (BAD_IP, PERMERROR, "permerror"),
                                 (GOOD_IP, TEMPERROR, "temperror")):
            with self.subTest(sender=sender, ip=ip):
                t0 = time.monotonic()
                p, ctx = self.spf_cli("--ip", ip, "--sender", sender, "--helo", "x.example.test",
                                      "--format", "json")
                took = time.monotonic() - t0
                self.assertEqual(p.returncode, 0, ctx)
                try:
                    doc = json.loads(p.stdout)
                except ValueError:
                    self.fail("stdout is not JSON" + ctx)
                self.assertEqual(doc.get("result"), want, ctx)
                self.assertLess(took, BUDGET_S + 3, f"took {took:.1f} s" + ctx)

    def test_4_check_parity_fail(self):
        helo = "x.example.test"
        self.send(client=BAD_IP, sender=FAIL, helo=helo)
        self.assertRefusedAtMail(SPF_REJECT)
        kv = self.assertDecisionForReply(SPF_REJECT)
        c = portcullis_check(self.daemon.config_path, BAD_IP, helo, FAIL, RCPT)
        ctx = (f"\ncheck command: {' '.join(c.argv)}\nexit {c.returncode}\nstdout:\n{c.stdout}\n"
               f"stderr:\n{c.stderr}\n{self.diag()}")
        self.assertIsNotNone(c.json, "check output is not JSON" + ctx)
        d = c.decision
        self.assertIsInstance(d, dict, ctx)
        for k in ("action", "check", "code", "enhanced", "text", "stage"):
            self.assertEqual(None if d.get(k) is None else str(d.get(k)), kv.get(k),
                             f"daemon log vs check: {k}{ctx}")

    def test_5_check_parity_pass(self):
        helo = "x.example.test"
        self.send(client=GOOD_IP, sender=PASS, helo=helo)
        self.assertQueued()
        self.assertNoDecision()
        c = portcullis_check(self.daemon.config_path, GOOD_IP, helo, PASS, RCPT)
        ctx = f"\ncheck command: {' '.join(c.argv)}\nstdout:\n{c.stdout}\nstderr:\n{c.stderr}"
        self.assertIsNotNone(c.json, "check output is not JSON" + ctx)
        d = c.decision
        self.assertTrue(d is None or d.get("action") == "continue",
                        "SPF pass: decision must be null or continue" + ctx)


class Default6TemperrorTest(SPFCase):
    """include:slow.timeout.example.test never answers (the proxy drops it): temperror within the
    stage budget, and the daemon keeps answering other names afterwards."""

    def test_1_temperror(self):
        before = PROXY.per_name.get("slow.timeout.example.test.", 0)
        self.send(client=GOOD_IP, sender=TEMPERROR)
        want = spf_temperror("temperror.spf.example.test")
        self.assertRefusedAtMail(want)
        self.assertDecisionForReply(want)
        self.assertGreater(PROXY.per_name.get("slow.timeout.example.test.", 0), before,
                           f"the daemon asked for the included name\n{self.diag()}")
        print(f"\n    (temperror after {self.elapsed:.1f} s)", file=sys.stderr, end=" ")

    def test_2_other_names_still_answer(self):
        self.send(client=GOOD_IP, sender=INCLUDE)
        self.assertQueued()
        self.assertNoDecision()
        self.assertSPFHeaders("pass")


# ==============================================================================================
# overrides: one daemon each


class AuthservDefaultTest(SPFCase):
    """headers: omitted: the authserv-id is the MTA's host name (macro j), forged fields claiming
    it are removed."""

    HEADERS = None

    def test_1_authserv_id_is_the_mta_hostname(self):
        forged = f"{MTA_HOSTNAME}; spf=pass (forged)"
        self.send(client=GOOD_IP, sender=PASS, headers=[f"Authentication-Results: {forged}"])
        self.assertQueued()
        self.assertNoDecision()
        fields = self.assertSPFHeaders("pass", authserv_id=MTA_HOSTNAME)
        self.assertEqual([v for v in self.auth_results(fields) if "forged" in v], [], self.diag())


class DryRunTest(SPFCase):
    SPF = {"mode": "dry-run"}

    def test_1_fail_logged_not_enforced(self):
        self.send(client=BAD_IP, sender=FAIL)
        self.assertQueued()
        self.assertDecisionForReply(SPF_REJECT, dry_run="true")

    def test_2_pass_no_decision(self):
        self.send(client=GOOD_IP, sender=PASS)
        self.assertQueued()
        self.assertNoDecision()


class ExplanationTest(SPFCase):
    SPF = {"explanation": True}

    def test_1_fail_with_explanation(self):
        self.send(client=BAD_IP, sender=FAIL)
        self.assertRefusedAtMail(["550-5.7.23 Blocked by SPF", f"550 5.7.23 {EXPLANATION}"])
        kv = self.assertOneDecision(check="spf", stage="mail", action="reject", code="550",
                                    enhanced="5.7.23", dry_run="false")
        self.assertTrue(kv.get("text", "").startswith("Blocked by SPF"), self.diag())

    def test_2_fail_without_exp_is_one_line(self):
        # a.spf.example.test has no exp=: no second line
        self.send(client=BAD_IP, sender=A_MX)
        self.assertRefusedAtMail(SPF_REJECT)
        self.assertDecisionForReply(SPF_REJECT)

    def test_3_pass_unchanged(self):
        self.send(client=GOOD_IP, sender=PASS)
        self.assertQueued()
        self.assertNoDecision()


class FailTempfailTest(SPFCase):
    SPF = {"fail": "tempfail"}

    def test_1_fail_tempfails(self):
        self.send(client=BAD_IP, sender=FAIL)
        want = spf_tempfail("fail.spf.example.test")
        self.assertRefusedAtMail(want)
        self.assertDecisionForReply(want)

    def test_2_softfail_still_accepted(self):
        self.send(client=BAD_IP, sender=SOFTFAIL)
        self.assertQueued()
        self.assertNoDecision()
        self.assertSPFHeaders("softfail")


class HeaderSwitchesTest(SPFCase):
    SPF = {"received_spf": False, "authentication_results": False}

    def test_1_no_headers(self):
        self.send(client=GOOD_IP, sender=PASS)
        self.assertQueued()
        self.assertNoDecision()
        self.assertNoSPFHeaders()


class HeloFirstTest(SPFCase):
    SPF = {"helo_first": True}

    def test_1_helo_fail_decides(self):
        # MAIL FROM a@a.spf.example.test passes for .22 (mx), the HELO identity fails
        self.send(client=MX_IP, sender=A_MX, helo=SPF_HELO)
        self.assertRefusedAtMail(SPF_REJECT)
        self.assertDecisionForReply(SPF_REJECT)

    def test_2_helo_pass_then_mail_from_decides(self):
        self.send(client=GOOD_IP, sender=FAIL, helo=SPF_HELO)
        self.assertRefusedAtMail(SPF_REJECT)
        self.assertDecisionForReply(SPF_REJECT)

    def test_3_both_pass(self):
        self.send(client=GOOD_IP, sender=PASS, helo=SPF_HELO)
        self.assertQueued()
        self.assertNoDecision()

    def test_4_helo_without_record_does_not_decide(self):
        self.send(client=GOOD_IP, sender=PASS, helo=HELO)
        self.assertQueued()
        self.assertNoDecision()


class PermerrorRejectTest(SPFCase):
    SPF = {"permerror": "reject"}

    def test_1_two_records(self):
        self.send(client=GOOD_IP, sender=PERMERROR)
        want = spf_permerror("permerror.spf.example.test")
        self.assertRefusedAtMail(want)
        self.assertDecisionForReply(want)

    def test_2_syntax(self):
        self.send(client=GOOD_IP, sender=SYNTAX)
        want = spf_permerror("syntax.spf.example.test")
        self.assertRefusedAtMail(want)
        self.assertDecisionForReply(want)


class SoftfailRejectTest(SPFCase):
    SPF = {"softfail": "reject"}

    def test_1_softfail_rejected(self):
        self.send(client=BAD_IP, sender=SOFTFAIL)
        self.assertRefusedAtMail(SPF_REJECT)
        self.assertDecisionForReply(SPF_REJECT)

    def test_2_neutral_still_accepted(self):
        self.send(client=BAD_IP, sender=NEUTRAL)
        self.assertQueued()
        self.assertNoDecision()
        self.assertSPFHeaders("neutral")


class TrustedNetworksTest(SPFCase):
    SPF = {"trusted_networks": [f"{BAD_IP}/32"]}

    def test_1_trusted_relay_skips_spf(self):
        self.send(client=BAD_IP, sender=FAIL)
        self.assertQueued()
        self.assertNoDecision()
        self.assertNoSPFHeaders()

    def test_2_others_still_checked(self):
        self.send(client="192.0.2.23", sender=FAIL)
        self.assertRefusedAtMail(SPF_REJECT)
        self.assertDecisionForReply(SPF_REJECT)


if __name__ == "__main__":
    unittest.main()
