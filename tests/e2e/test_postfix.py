"""Portcullis end to end: swaks -> private Postfix 3.7 -> milter socket -> portcullis daemon.

One Postfix instance serves the whole module (setUpModule). Each test class declares its daemon
config; DaemonPool restarts the daemon only when the config changes (a restart costs ~5 s
because libmilter exits slowly), so classes with the same config share a daemon. Classes run in
alphabetical order; the names keep classes with the same config next to each other.

Every assertion is on what a real SMTP client saw (the swaks transcript) and on the daemon's
`decision` log lines written during that one SMTP session.
"""

import os
import socket
import sys
import time
import re
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness import (  # noqa: E402
    DaemonPool, PostfixInstance, daemon_config, pid_alive, portcullis_bin, portcullis_check,
    swaks, tail, xclient_unresolved,
)

# -- replies from /work/shared/reference/replies.md --------------------------------------------
SENDER_DENIED = "553 5.7.1 sorry, your envelope sender has been denied (#5.7.1)"
RCPT_DENIED = "553 5.7.1 sorry, your envelope recipient has been denied (#5.7.1)"
HELO_DENIED = "553 5.7.1 sorry, your HELO host name has been denied (#5.7.1)"


def client_denied(ip: str) -> str:
    return f"554 5.7.1 sorry, your client host [{ip}] has been denied (#5.7.1)"


MILTER_DOWN = "451 4.7.1 Service unavailable - try again later"

HELO = "client.example.test"
GOOD_SENDER = "good@example.org"
GOOD_RCPT = "user@example.com"
BAD_SENDER = "bad@example.com"
BAD_RCPT = "blocked@example.net"
ALLOWED_IP = "192.0.2.10"
DENIED_IP = "192.0.2.66"
NEUTRAL_IP = "192.0.2.25"

BASE_CHECKS = {
    "client_allow": {"entries": [ALLOWED_IP]},
    "client_deny": {"entries": [f"{DENIED_IP}/32"]},
    "helo_deny": {"entries": ["bad.example", ".evil.example", "/^spam/"]},
    "sender_deny": {"entries": [BAD_SENDER]},
    "recipient_deny": {"entries": [BAD_RCPT]},
}

PF: PostfixInstance = None  # type: ignore[assignment]
POOL: DaemonPool = None  # type: ignore[assignment]


def setUpModule():
    global PF, POOL
    PF = PostfixInstance(with_milter=True)
    unittest.addModuleCleanup(PF.stop)  # keeps the temp dir if $PORTCULLIS_E2E_KEEP is set
    PF.start()
    POOL = DaemonPool(PF.root / "daemons", PF.milter_socket)
    unittest.addModuleCleanup(POOL.stop)  # cleanups run LIFO: daemon first, then Postfix


class E2ECase(unittest.TestCase):
    """Base: a daemon with CHECKS in MODE, and send() that returns (swaks result, decisions)."""

    MODE = "enforce"
    CHECKS = BASE_CHECKS
    ENGINE = None  # engine: section, None = defaults (delay_reject: true)
    NEEDS_DAEMON = True
    maxDiff = None

    @classmethod
    def config(cls) -> dict:
        return daemon_config(PF.milter_socket, cls.CHECKS, mode=cls.MODE, engine=cls.ENGINE)

    @classmethod
    def setUpClass(cls):
        cls.daemon = POOL.ensure(cls.config()) if cls.NEEDS_DAEMON else None

    # -- sending -------------------------------------------------------------------------------

    def send(self, sender=GOOD_SENDER, rcpts=GOOD_RCPT, helo=HELO, xclient=None, body=None):
        d = self.daemon
        mark = d.mark() if d else 0
        kw = {"body": body} if body is not None else {}
        r = swaks(PF.port, sender, rcpts, helo=helo, xclient=xclient, **kw)
        self.last = r
        if d:
            d.settle()
            if not d.running():
                self.fail(f"the daemon exited during the session (status {d.proc.returncode})"
                          f"\n{self.diag(r, [])}")
            self.last_decisions = d.decision_lines(since=mark)
            self.last_parsed = d.decisions(since=mark)
        else:
            self.last_decisions, self.last_parsed = [], []
        return r, self.last_parsed

    def diag(self, r=None, decision_lines=None) -> str:
        r = r if r is not None else getattr(self, "last", None)
        if decision_lines is None:
            decision_lines = getattr(self, "last_decisions", [])
        parts = []
        if r is not None:
            parts.append("swaks: " + " ".join(r.argv) + f"\nexit {r.returncode}\n" + r.transcript)
        parts.append("decision lines of this session:\n" + ("\n".join(decision_lines) or "(none)"))
        if self.daemon:
            parts.append(f"daemon log tail ({self.daemon.log_path}):\n" + tail(self.daemon.log_path, 25))
        parts.append("maillog tail:\n" + "\n".join(PF.maillog_lines()[-12:]))
        return "\n--------\n".join(parts)

    # -- assertions ----------------------------------------------------------------------------

    def assertReply(self, command, expected, ok=None, r=None):
        """The reply to `command` is exactly `expected` (a str, or a list of lines)."""
        r = r or self.last
        rep = r.reply_to(command)
        want = expected if isinstance(expected, list) else [expected]
        self.assertEqual(rep.lines, want, f"reply to {command}\n{self.diag(r)}")
        if ok is not None:
            self.assertEqual(rep.ok, ok, f"swaks success marker for {command}\n{self.diag(r)}")
        return rep

    def assertCode(self, command, code, r=None):
        r = r or self.last
        rep = r.reply_to(command)
        self.assertEqual(rep.code, code, f"reply code to {command}: got {rep}\n{self.diag(r)}")
        return rep

    def assertQueued(self, r=None):
        r = r or self.last
        rep = r.reply_to("DATA")
        self.assertTrue(rep.text.startswith("250 2.0.0 Ok: queued as "),
                        f"message not queued: reply to DATA: {rep}\n{self.diag(r)}")
        self.assertEqual(r.returncode, 0, f"swaks exit status\n{self.diag(r)}")

    def assertOneDecision(self, **expected) -> dict:
        """Exactly one decision line in this session, with these key=value pairs."""
        self.assertEqual(len(self.last_parsed), 1,
                         f"expected exactly one decision line\n{self.diag()}")
        return self.assertDecisionFields(self.last_parsed[0], **expected)

    def assertDecisionFields(self, kv: dict, **expected) -> dict:
        got = {k: kv.get(k) for k in expected}
        self.assertEqual(got, {k: str(v) for k, v in expected.items()}, self.diag())
        return kv

    def assertNoDecision(self):
        self.assertEqual(self.last_decisions, [], f"expected no decision line\n{self.diag()}")

    def assertNoReject(self):
        """No enforced reject (a dry-run decision logs action=reject with dry_run=true)."""
        rejects = [kv for kv in self.last_parsed
                   if kv.get("action") == "reject" and kv.get("dry_run") != "true"]
        self.assertEqual(rejects, [], f"expected no enforced reject decision\n{self.diag()}")


def split_reply(full: str):
    code, enhanced, text = full.split(" ", 2)
    return code, enhanced, text


# ==============================================================================================
# 1-4: enforce mode, default replies


class EnforceTest(E2ECase):
    """Base config, mode enforce, delay_reject on (the default)."""

    def test_1_denied_sender_rejected_at_mail(self):
        r, _ = self.send(sender=BAD_SENDER)
        self.assertReply("MAIL", SENDER_DENIED, ok=False)
        self.assertTrue(r.reply_to("RCPT").missing, "no RCPT after a MAIL reject\n" + self.diag())
        self.assertNotEqual(r.returncode, 0)
        code, enh, text = split_reply(SENDER_DENIED)
        kv = self.assertOneDecision(check="sender_deny", stage="mail", action="reject",
                                    code=code, enhanced=enh, text=text, dry_run="false")
        self.assertEqual(kv.get("sender"), f"<{BAD_SENDER}>", self.diag())
        self.assertEqual(kv.get("client_ip"), "127.0.0.1", self.diag())
        self.assertEqual(kv.get("queue_id"), "NOQUEUE", self.diag())

    def test_2a_denied_recipient_rejected_other_recipient_delivered(self):
        r, _ = self.send(rcpts=[BAD_RCPT, GOOD_RCPT])
        self.assertCode("MAIL", 250)
        rcpt = r.replies_to("RCPT")
        self.assertEqual([x.lines for x in rcpt], [[RCPT_DENIED], ["250 2.1.5 Ok"]], self.diag())
        self.assertFalse(rcpt[0].ok)
        self.assertTrue(r.reply_to("DATA").text.startswith("250 2.0.0 Ok: queued as "),
                        self.diag())
        code, enh, text = split_reply(RCPT_DENIED)
        kv = self.assertOneDecision(check="recipient_deny", stage="rcpt", action="reject",
                                    code=code, enhanced=enh, text=text, dry_run="false")
        self.assertEqual(kv.get("rcpt"), f"<{BAD_RCPT}>", self.diag())

    def test_2b_denied_helo_rejected_at_rcpt(self):
        code, enh, text = split_reply(HELO_DENIED)
        for helo in ("bad.example", "mx.evil.example", "spammer.example.org"):
            with self.subTest(helo=helo):
                self.send(helo=helo)
                # delay_reject: MAIL is accepted, the HELO decision arrives at the first RCPT
                self.assertReply("MAIL", "250 2.1.0 Ok", ok=True)
                self.assertReply("RCPT", HELO_DENIED, ok=False)
                kv = self.assertOneDecision(check="helo_deny", stage="helo", action="reject",
                                            code=code, enhanced=enh, text=text, dry_run="false")
                self.assertEqual(kv.get("helo"), helo, self.diag())

    def test_2c_denied_client_rejected_at_rcpt(self):
        # XCLIENT: Postfix closes the first milter session (real peer 127.0.0.1, clean) and opens
        # a second one for 192.0.2.66 (MTA-NOTES §9): count decisions, not connections.
        r, _ = self.send(xclient=xclient_unresolved(DENIED_IP))
        self.assertCode("XCLIENT", 220)  # not 554: the connect decision is delayed
        self.assertReply("MAIL", "250 2.1.0 Ok", ok=True)
        self.assertReply("RCPT", client_denied(DENIED_IP), ok=False)
        code, enh, text = split_reply(client_denied(DENIED_IP))
        kv = self.assertOneDecision(check="client_deny", stage="connect", action="reject",
                                    code=code, enhanced=enh, text=text, dry_run="false")
        self.assertEqual(kv.get("client_ip"), DENIED_IP, self.diag())

    def test_2d_denied_client_rejected_at_every_rcpt(self):
        # delay_reject must not let a second recipient through after the first was refused
        r, parsed = self.send(rcpts=[GOOD_RCPT, "other@example.com"],
                              xclient=xclient_unresolved(DENIED_IP))
        self.assertEqual([x.lines for x in r.replies_to("RCPT")],
                         [[client_denied(DENIED_IP)]] * 2, self.diag())
        self.assertTrue(r.reply_to("DATA").missing, "no DATA without recipients\n" + self.diag())
        self.assertGreaterEqual(len(parsed), 1, self.diag())
        for kv in parsed:
            self.assertDecisionFields(kv, check="client_deny", action="reject", code="554")

    def test_3_allowed_client_passes_denied_sender(self):
        self.send(sender=BAD_SENDER, xclient=xclient_unresolved(ALLOWED_IP))
        self.assertReply("MAIL", "250 2.1.0 Ok", ok=True)
        self.assertReply("RCPT", "250 2.1.5 Ok", ok=True)
        self.assertQueued()
        self.assertNoReject()

    def test_4a_clean_message_accepted_without_decision(self):
        self.send()
        self.assertReply("MAIL", "250 2.1.0 Ok", ok=True)
        self.assertReply("RCPT", "250 2.1.5 Ok", ok=True)
        self.assertQueued()
        self.assertNoDecision()

    def test_4b_clean_message_from_unlisted_xclient_address(self):
        self.send(xclient=xclient_unresolved(NEUTRAL_IP))
        self.assertQueued()
        self.assertNoDecision()


# ==============================================================================================
# 8: `portcullis check` gives the same decision as the daemon through Postfix (same config)


class EnforceCheckCommandTest(E2ECase):
    """Same config as EnforceTest (the daemon is shared)."""

    def run_both(self, client_ip, sender, xclient):
        r, decisions = self.send(sender=sender, xclient=xclient)
        c = portcullis_check(self.daemon.config_path, client_ip, HELO, sender, GOOD_RCPT)
        self.assertIsNotNone(c.json, f"check output is not JSON\ncommand: {' '.join(c.argv)}\n"
                                     f"exit {c.returncode}\nstdout:\n{c.stdout}\nstderr:\n{c.stderr}")
        self.assertIsInstance(c.json.get("trace"), list, f"trace\n{c.stdout}")
        self.assertIn("dry_run", c.json, c.stdout)
        self.assertIs(c.json["dry_run"], False, c.stdout)
        self.last_check = c
        return r, decisions, c

    def assertSameDecision(self, smtp_reply: str, check: str, c, daemon_kv: dict):
        code, enh, text = split_reply(smtp_reply)
        d = c.decision
        ctx = f"\ncheck command: {' '.join(c.argv)}\nstdout:\n{c.stdout}\n{self.diag()}"
        self.assertIsInstance(d, dict, ctx)
        got = {k: (None if d.get(k) is None else str(d.get(k)))
               for k in ("action", "check", "code", "enhanced", "text")}
        self.assertEqual(got, {"action": "reject", "check": check, "code": code,
                               "enhanced": enh, "text": text}, ctx)
        for k in ("action", "check", "code", "enhanced", "text"):
            self.assertEqual(daemon_kv.get(k), got[k], f"daemon log vs check: {k}{ctx}")
        self.assertIn("stage", d, ctx)

    def test_8a_denied_sender(self):
        self.run_both("127.0.0.1", BAD_SENDER, None)
        self.assertReply("MAIL", SENDER_DENIED)
        kv = self.assertOneDecision(check="sender_deny")
        self.assertSameDecision(SENDER_DENIED, "sender_deny", self.last_check, kv)

    def test_8b_denied_client(self):
        self.run_both(DENIED_IP, GOOD_SENDER, xclient_unresolved(DENIED_IP))
        self.assertReply("RCPT", client_denied(DENIED_IP))
        kv = self.assertOneDecision(check="client_deny")
        self.assertSameDecision(client_denied(DENIED_IP), "client_deny", self.last_check, kv)

    def test_8c_allowed_client_with_denied_sender(self):
        r, decisions, c = self.run_both(ALLOWED_IP, BAD_SENDER, xclient_unresolved(ALLOWED_IP))
        self.assertQueued()
        self.assertNoReject()
        d = c.decision
        ctx = f"\ncheck command: {' '.join(c.argv)}\nstdout:\n{c.stdout}\n{self.diag()}"
        self.assertIsInstance(d, dict, ctx)
        self.assertEqual((d.get("action"), d.get("check")), ("accept", "client_allow"), ctx)
        # if the daemon logs accept decisions, it must be the same one
        for kv in decisions:
            self.assertEqual((kv.get("action"), kv.get("check")), ("accept", "client_allow"), ctx)

    def test_8d_clean(self):
        r, decisions, c = self.run_both("127.0.0.1", GOOD_SENDER, None)
        self.assertQueued()
        self.assertNoDecision()
        d = c.decision
        self.assertTrue(d is None or d.get("action") == "continue",
                        f"clean envelope: decision must be null or continue\n{c.stdout}")


# ==============================================================================================
# 5: dry-run, global and per check


class DryRunGlobalTest(E2ECase):
    MODE = "dry-run"

    def _dry(self, check, full_reply):
        code, enh, text = split_reply(full_reply)
        rows = [kv for kv in self.last_parsed if kv.get("check") == check]
        self.assertEqual(len(rows), 1, f"one {check} decision line\n{self.diag()}")
        # The message went on, so its line waited for Postfix's queue id: greppable by it.
        queued = re.search(r"queued as ([0-9A-Za-z]+)", str(self.last.final_reply()))
        self.assertIsNotNone(queued, self.diag())
        return self.assertDecisionFields(rows[0], dry_run="true", code=code, enhanced=enh,
                                         text=text, queue_id=queued.group(1))

    def test_5a_denied_sender_accepted_and_logged(self):
        self.send(sender=BAD_SENDER)
        self.assertQueued()
        self._dry("sender_deny", SENDER_DENIED)

    def test_5b_denied_recipient_accepted_and_logged(self):
        self.send(rcpts=BAD_RCPT)
        self.assertReply("RCPT", "250 2.1.5 Ok", ok=True)
        self.assertQueued()
        self._dry("recipient_deny", RCPT_DENIED)

    def test_5c_denied_client_accepted_and_logged(self):
        self.send(xclient=xclient_unresolved(DENIED_IP))
        self.assertQueued()
        kv = self._dry("client_deny", client_denied(DENIED_IP))
        self.assertEqual(kv.get("client_ip"), DENIED_IP)

    def test_5d_denied_helo_accepted_and_logged(self):
        self.send(helo="bad.example")
        self.assertQueued()
        self._dry("helo_deny", HELO_DENIED)

    def test_5e_clean_message_no_decision(self):
        self.send()
        self.assertQueued()
        self.assertNoDecision()


class DryRunPerCheckTest(E2ECase):
    CHECKS = dict(BASE_CHECKS, sender_deny={"mode": "dry-run", "entries": [BAD_SENDER]})

    def test_5f_sender_dry_run_while_recipient_enforces(self):
        r, parsed = self.send(sender=BAD_SENDER, rcpts=[BAD_RCPT, GOOD_RCPT])
        self.assertReply("MAIL", "250 2.1.0 Ok", ok=True)
        self.assertEqual([x.lines for x in r.replies_to("RCPT")],
                         [[RCPT_DENIED], ["250 2.1.5 Ok"]], self.diag())
        self.assertQueued()
        by_check = {}
        for kv in parsed:
            by_check.setdefault(kv.get("check"), []).append(kv)
        self.assertEqual(sorted(by_check), ["recipient_deny", "sender_deny"], self.diag())
        self.assertEqual(len(by_check["sender_deny"]), 1, self.diag())
        self.assertEqual(len(by_check["recipient_deny"]), 1, self.diag())
        code, enh, text = split_reply(SENDER_DENIED)
        self.assertDecisionFields(by_check["sender_deny"][0], dry_run="true", code=code,
                                  enhanced=enh, text=text)
        code, enh, text = split_reply(RCPT_DENIED)
        self.assertDecisionFields(by_check["recipient_deny"][0], dry_run="false",
                                  action="reject", code=code, enhanced=enh, text=text)

    def test_5g_sender_dry_run_alone_is_accepted(self):
        self.send(sender=BAD_SENDER)
        self.assertQueued()
        self.assertNoReject()
        self.assertEqual([kv.get("dry_run") for kv in self.last_parsed], ["true"], self.diag())


# ==============================================================================================
# 6: reply overrides


class ReplyOverrideTest(E2ECase):
    CHECKS = dict(
        BASE_CHECKS,
        sender_deny={"entries": [BAD_SENDER],
                     "reply": {"code": 550, "enhanced": "5.7.1", "text": "go away {sender}"}},
        recipient_deny={"entries": [BAD_RCPT],
                        "reply": {"code": 550, "enhanced": "5.7.1", "text": ["line1", "line2"]}},
        helo_deny={"entries": ["bad.example"],
                   "reply": {"code": 553, "enhanced": "5.7.1", "text": "100% sure {helo} is bad"}},
        client_deny={"entries": [f"{DENIED_IP}/32"],
                     "reply": {"code": 554, "enhanced": "5.7.1",
                               "text": "client {ip} blocked 100%"}},
    )

    def test_6a_template_text(self):
        self.send(sender=BAD_SENDER)
        self.assertReply("MAIL", f"550 5.7.1 go away {BAD_SENDER}", ok=False)
        self.assertOneDecision(check="sender_deny", action="reject", code="550",
                               enhanced="5.7.1", text=f"go away {BAD_SENDER}")

    def test_6b_multi_line_text(self):
        self.send(rcpts=BAD_RCPT)
        self.assertReply("RCPT", ["550-5.7.1 line1", "550 5.7.1 line2"], ok=False)
        self.assertOneDecision(check="recipient_deny", action="reject", code="550",
                               enhanced="5.7.1")

    def test_6c_percent_sign_helo(self):
        self.send(helo="bad.example")
        self.assertReply("RCPT", "553 5.7.1 100% sure bad.example is bad", ok=False)
        self.assertOneDecision(check="helo_deny", action="reject", code="553")

    def test_6d_percent_sign_at_end_client(self):
        self.send(xclient=xclient_unresolved(DENIED_IP))
        self.assertReply("RCPT", f"554 5.7.1 client {DENIED_IP} blocked 100%", ok=False)
        self.assertOneDecision(check="client_deny", action="reject", code="554")


# ==============================================================================================
# 7: daemon stopped -> milter_default_action = tempfail


class StoppedDaemonTest(E2ECase):
    NEEDS_DAEMON = False

    def test_7a_stopped_daemon_gives_451(self):
        d = POOL.ensure(daemon_config(PF.milter_socket, BASE_CHECKS))
        self.daemon = d
        self.send()
        self.assertQueued()  # the daemon works before it is stopped
        pid = d.proc.pid
        t0 = time.monotonic()
        POOL.stop()
        took = time.monotonic() - t0
        self.assertFalse(pid_alive(pid))
        self.assertNotEqual(d.proc.returncode, -9,
                            f"the daemon ignored SIGTERM for 15 s and was killed\n"
                            f"{tail(d.log_path)}")
        self.daemon = None
        r, _ = self.send()
        self.assertReply("MAIL", MILTER_DOWN, ok=False)
        self.assertNotEqual(r.returncode, 0)
        print(f"\n    (daemon stopped in {took:.1f} s, exit status {d.proc.returncode})",
              file=sys.stderr, end=" ")

    def test_7b_no_socket_file_gives_451(self):
        POOL.stop()
        if PF.milter_socket.exists():
            PF.milter_socket.unlink()
        self.send()
        self.assertReply("MAIL", MILTER_DOWN, ok=False)

    def test_7c_stale_socket_file_gives_451(self):
        POOL.stop()
        if PF.milter_socket.exists():
            PF.milter_socket.unlink()
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.bind(str(PF.milter_socket))  # the file stays after close(), nobody listens
        s.close()
        os.chmod(PF.milter_socket, 0o666)
        self.send()
        self.assertReply("MAIL", MILTER_DOWN, ok=False)


if __name__ == "__main__":
    unittest.main()
