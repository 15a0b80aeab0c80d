"""Self-tests of the harness: parsers, and a private Postfix WITHOUT any milter.

These need postfix and swaks but not the Portcullis binary, so they tell a harness problem
apart from a daemon problem.
"""

import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness import (  # noqa: E402
    PostfixInstance, SwaksResult, parse_kv, pid_alive, swaks, to_yaml, xclient_unresolved,
)

LOG_LINE = ('2026-11-24T23:55:00Z info decision queue_id=NOQUEUE client_ip=192.0.2.66 '
            'helo=mx.example sender=<a@b.example> rcpt=<c@d.example> check=client_deny '
            'stage=connect action=reject code=554 enhanced=5.7.1 '
            'text="sorry, your client host [192.0.2.66] has been denied (#5.7.1)" dry_run=false '
            'reason="client 192.0.2.66 matches 192.0.2.66/32"')

TRANSCRIPT = """\
<-  220 mta.example.test ESMTP Postfix test
 -> EHLO client.example.test
<-  250-mta.example.test
<-  250 CHUNKING
 -> MAIL FROM:<multi@example.com>
<-  250 2.1.0 Ok
 -> RCPT TO:<a@example.net>
<** 550-5.7.1 line1
<** 550 5.7.1 line2
 -> RCPT TO:<b@example.net>
<-  250 2.1.5 Ok
 -> DATA
<-  354 End data with <CR><LF>.<CR><LF>
 -> Subject: x
 -> 
 -> body
 -> .
<-  250 2.0.0 Ok: queued as 8D776F7A683
 -> QUIT
<-  221 2.0.0 Bye
"""


class ParserTest(unittest.TestCase):
    def test_decision_line(self):
        kv = parse_kv(LOG_LINE)
        self.assertEqual(kv["check"], "client_deny")
        self.assertEqual(kv["code"], "554")
        self.assertEqual(kv["text"], "sorry, your client host [192.0.2.66] has been denied (#5.7.1)")
        self.assertEqual(kv["reason"], "client 192.0.2.66 matches 192.0.2.66/32")
        self.assertEqual(kv["sender"], "<a@b.example>")
        self.assertEqual(kv["dry_run"], "false")
        self.assertNotIn("decision", kv)

    def test_escapes_and_empty(self):
        kv = parse_kv(r'x info decision helo= text="say \"hi\" a=b \\ end" reason=plain')
        self.assertEqual(kv, {"helo": "", "text": 'say "hi" a=b \\ end', "reason": "plain"})

    def test_replies(self):
        r = SwaksResult([], 0, TRANSCRIPT)
        self.assertEqual(r.reply_to("MAIL").text, "250 2.1.0 Ok")
        rcpts = r.replies_to("RCPT")
        self.assertEqual(rcpts[0].lines, ["550-5.7.1 line1", "550 5.7.1 line2"])
        self.assertFalse(rcpts[0].ok)
        self.assertEqual(rcpts[0].code, 550)
        self.assertTrue(rcpts[1].ok)
        self.assertEqual(r.reply_to("DATA").text, "250 2.0.0 Ok: queued as 8D776F7A683")
        self.assertEqual(r.final_reply().code, 250)
        self.assertTrue(r.reply_to("XCLIENT").missing)

    def test_yaml(self):
        y = to_yaml({"mode": "enforce", "checks": {"sender_deny": {
            "entries": ["bad@example.com", "/^x/"],
            "reply": {"code": 550, "enhanced": "5.7.1", "text": ["l1", "100% \"q\""]}}}})
        self.assertEqual(y, 'mode: "enforce"\nchecks:\n  sender_deny:\n    entries:\n'
                            '      - "bad@example.com"\n      - "/^x/"\n    reply:\n'
                            '      code: 550\n      enhanced: "5.7.1"\n      text:\n'
                            '        - "l1"\n        - "100% \\"q\\""')


class PostfixWithoutMilterTest(unittest.TestCase):
    """The instance itself: starts, accepts mail (also after XCLIENT), stops by PID, cleans up."""

    @classmethod
    def setUpClass(cls):
        cls.pf = PostfixInstance(with_milter=False).start()
        cls.addClassCleanup(cls.pf.stop)

    def test_main_cf(self):
        self.assertEqual(self.pf.postconf("-h", "smtpd_milters").strip(), "")
        self.assertEqual(self.pf.postconf("-h", "smtpd_authorized_xclient_hosts").strip(),
                         "127.0.0.0/8")

    def test_accepts_message_with_two_recipients(self):
        r = swaks(self.pf.port, "good@example.org", ["user@example.com", "u2@example.net"])
        self.assertEqual(r.returncode, 0, r.transcript)
        self.assertEqual([x.code for x in r.replies_to("RCPT")], [250, 250], r.transcript)
        self.assertTrue(r.reply_to("DATA").text.startswith("250 2.0.0 Ok: queued as "),
                        r.transcript)

    def test_accepts_message_after_xclient(self):
        r = swaks(self.pf.port, "good@example.org", "user@example.com",
                  xclient=xclient_unresolved("192.0.2.66"))
        self.assertEqual(r.reply_to("XCLIENT").code, 220, r.transcript)
        self.assertEqual(r.reply_to("DATA").code, 250, r.transcript)
        self.assertTrue(any("client=unknown[192.0.2.66]" in l for l in self.pf.maillog_lines()),
                        "\n".join(self.pf.maillog_lines()[-10:]))

    def test_stop_and_start_again(self):
        # a second instance, stopped explicitly: master gone, temp dir removed
        pf2 = PostfixInstance(with_milter=False).start()
        self.addCleanup(pf2.stop)
        pid, root = pf2.master_pid, pf2.root
        self.assertTrue(pid and pid_alive(pid))
        pf2.stop()
        self.assertFalse(pid_alive(pid))
        self.assertFalse(root.exists())


if __name__ == "__main__":
    unittest.main()
