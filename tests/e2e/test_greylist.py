"""Portcullis greylisting end to end: swaks -> private Postfix -> portcullis -> SQLite / PostgreSQL.

One Postfix instance serves the whole module, with one extra smtpd service (its own port, its own
`-o smtpd_milters=unix:<socket>`) per daemon: every test class runs its own daemon with its own
store, and a test picks the daemon by the port it sends to. So no daemon is ever restarted for a
config change (libmilter's ~5 s exit is paid once, in parallel, at the end), and "a retry that lands
on another MX host" is simply the next session sent to the other daemon's port (two smtpd
services, two daemons, one PostgreSQL database).

Every client is presented with XCLIENT (Postfix closes the first milter session, client
127.0.0.1, before it reaches RCPT, and opens a second one for the presented client).
Greylisting decides at RCPT (one decision line per refused recipient) or, with
`decide_at: data`, at DATA. A pass, a skip or an auto-allowlisted network logs no decision line.

The delay is 3 s: a retry sent at once is "too early", one sent 3 s after the first attempt's
reply passes (the store counts whole Unix seconds: floor(b) - floor(a) >= floor(b - a)).

The store going away (on_error): SQLite while another process holds its write lock (BEGIN
EXCLUSIVE from Python's sqlite3; the stage budget, 2 s there, ends the wait before the daemon's
5 s busy timeout), PostgreSQL while its server is stopped. A store that cannot be opened at start
(a damaged file, a directory that cannot be created) stops the daemon instead.

SQLite rows are read or prepared with Python's sqlite3 (tables greylist_triplets,
greylist_networks) while the daemon has the file open (WAL). Manual allow entries are cached by
the daemon for up to a minute: `greylist allow` is tested on a daemon that has seen no mail yet.

PostgreSQL: one throw-away cluster (tests/pg/pgcluster.py: initdb as postgres into a temp dir,
127.0.0.1 on a free port, a user with a random password) for the module; a watchdog stops it
should this process die. The server is stopped and started again (same port) to test a store
that goes away. The PostgreSQL classes are skipped when no PostgreSQL server binaries are installed
(Debian: apt-get install postgresql).

Classes run in alphabetical order; within a class the tests run in order and build on each
other (test_1, test_2, ...), as in test_dns.py.
"""

from __future__ import annotations

import glob
import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
import unittest
import urllib.parse
from pathlib import Path
from typing import Optional

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "pg"))

from harness import (  # noqa: E402
    Daemon, PostfixInstance, daemon_config, free_port, parse_kv, portcullis_bin, smtp_banner_ok,
    swaks, tail, to_yaml, unix_socket_accepts, wait_for,
)

# -- replies (docs/checks/greylist.md, docs/configuration.md `replies.internal_error`) ------------
GREYLISTED = ("451 4.7.1 This server employs greylisting as a means of reducing spam. "
              "Please resend e-mail shortly")
TEMP_ERROR = "451 4.3.0 Temporary server error. Please try again later."
MAIL_OK = "250 2.1.0 Ok"
RCPT_OK = "250 2.1.5 Ok"

DELAY_S = 3
BUDGET_S = 5            # engine.stage_budget of every daemon here
HELO = "client.example.test"

# One smtpd service (port) and one milter socket per daemon; names are the classes' SERVICE.
SERVICES = [
    "seq", "threshold", "data", "cli", "crash", "corrupt", "sqlite-locked-continue",
    "sqlite-locked-tempfail", "dry", "pg-a", "pg-b",
]

PF: "GreylistPostfix" = None  # type: ignore[assignment]
STARTED: list[Daemon] = []


# ==============================================================================================
# fixtures


class GreylistPostfix(PostfixInstance):
    """The harness's private Postfix plus one smtpd service per name in SERVICES, each with its
    own port and `-o smtpd_milters=unix:<root>/gl-<name>.sock` (chroot n: a real path)."""

    def __init__(self, services: list[str]):
        super().__init__(with_milter=False)
        self.services = list(services)
        self.ports: dict[str, int] = {}

    def socket(self, name: str) -> Path:
        return self.root / f"gl-{name}.sock"

    def _write_config(self):
        super()._write_config()
        lines = []
        taken = {self.port}
        for name in self.services:
            port = free_port()
            while port in taken:
                port = free_port()
            taken.add(port)
            self.ports[name] = port
            lines.append(f"127.0.0.1:{port} inet n - n - - smtpd\n"
                         f"  -o smtpd_milters=unix:{self.socket(name)}\n"
                         f"  -o syslog_name=pcx-e2e-{name}")
        with open(self.conf_dir / "master.cf", "a") as f:
            f.write("\n".join(lines) + "\n")


def setUpModule():
    global PF
    PF = GreylistPostfix(SERVICES)
    unittest.addModuleCleanup(PF.stop)
    PF.start()
    # every service must answer (master may listen while an smtpd cannot start)
    for name in SERVICES:
        if not wait_for(lambda: smtp_banner_ok("127.0.0.1", PF.ports[name]), 20, interval=0.2):
            raise RuntimeError(f"smtpd service {name} on port {PF.ports[name]} does not answer\n"
                               f"{tail(PF.maillog)}")
    unittest.addModuleCleanup(stop_daemons)  # LIFO: daemons first, then Postfix


def stop_daemons():
    """SIGTERM to every daemon at once, then wait for each (libmilter: ~5 s, paid once)."""
    for d in STARTED:
        if d.running():
            try:
                d.proc.send_signal(signal.SIGTERM)
            except ProcessLookupError:
                pass
    for d in STARTED:
        d.stop()
    STARTED.clear()


def store_dir(name: str) -> Path:
    return PF.root / "stores" / name


def sqlite_store(name: str, **over) -> dict:
    s = {"store": "sqlite", "sqlite_path": str(store_dir(name) / "greylist.sqlite")}
    s.update(over)
    return s


def gl_config(service: str, store: dict, budget: int = BUDGET_S, level: str = "info",
              **check) -> dict:
    """A daemon config with only checks.greylist enabled (the list checks are empty)."""
    c = {"enabled": True, "mode": "enforce", "delay": f"{DELAY_S}s"}
    c.update(check)
    cfg = daemon_config(PF.socket(service), {"greylist": c}, engine={"stage_budget": f"{budget}s"},
                        level=level)
    cfg["greylist"] = store
    cfg["dns"] = {"timeout": "1s"}  # must be shorter than the stage budget (no DNS check here)
    return cfg


def start_daemon(service: str, config: dict, name: str = "portcullis") -> Daemon:
    d = Daemon(PF.root / "daemons" / service, PF.socket(service), config, name=name)
    STARTED.append(d)
    return d.start()


def is_warning(line: str) -> bool:
    parts = line.split(" ", 2)
    return len(parts) >= 2 and parts[1] in ("warning", "error")


def split_reply(full: str):
    code, enhanced, text = full.split(" ", 2)
    return code, enhanced, text


def xclient_for(ip: str) -> str:
    return f"ADDR={ip} NAME=[UNAVAILABLE] REVERSE_NAME=[UNAVAILABLE]"


def greylist_cli(config_path: Path, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    argv = [str(portcullis_bin()), "greylist", *args, "--config", str(config_path)]
    p = subprocess.run(argv, capture_output=True, text=True, timeout=timeout,
                       stdin=subprocess.DEVNULL)
    p.argv = argv  # type: ignore[attr-defined]
    return p


def cli_diag(p: subprocess.CompletedProcess) -> str:
    return (f"command: {' '.join(getattr(p, 'argv', p.args))}\nexit {p.returncode}\n"
            f"stdout:\n{p.stdout}\nstderr:\n{p.stderr}")


def sqlite_connect(path: Path) -> sqlite3.Connection:
    con = sqlite3.connect(str(path), timeout=10, isolation_level=None)
    con.execute("PRAGMA busy_timeout = 10000")
    return con


def wait_for_schema(path: Path, timeout: float = 10) -> bool:
    def ready():
        if not path.exists():
            return False
        try:
            con = sqlite_connect(path)
            try:
                names = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")}
            finally:
                con.close()
            return {"greylist_triplets", "greylist_networks"} <= names
        except sqlite3.Error:
            return False
    return wait_for(ready, timeout, interval=0.1)


# ==============================================================================================
# the base class


class GLCase(unittest.TestCase):
    """A daemon of its own (SERVICE, CONFIG()); send() runs one swaks session from a presented
    client and keeps that client's decision lines and the warnings logged meanwhile."""

    SERVICE = ""
    maxDiff = None
    daemon: Optional[Daemon] = None

    @classmethod
    def config(cls) -> dict:
        raise NotImplementedError

    @classmethod
    def setUpClass(cls):
        cls.daemon = start_daemon(cls.SERVICE, cls.config())

    # -- sending -------------------------------------------------------------------------------

    def send(self, client: str, sender: str, rcpts, service: Optional[str] = None,
             daemon: Optional[Daemon] = None, check_time: bool = True):
        service = service or self.SERVICE
        d = daemon or self.daemon
        mark = d.mark()
        t0 = time.monotonic()
        r = swaks(PF.ports[service], sender, rcpts, helo=HELO, xclient=xclient_for(client))
        self.elapsed = time.monotonic() - t0
        self.sent_at = time.monotonic()
        self.last, self.last_daemon, self.client = r, d, client
        d.settle()
        new = d.log_lines()[mark:]
        self.new_lines = new
        self.last_decisions = [l for l in new if " decision " in l
                               and parse_kv(l).get("client_ip") == client]
        self.last_parsed = [parse_kv(l) for l in self.last_decisions]
        self.last_warnings = [l for l in new if is_warning(l)]
        if not d.running():
            self.fail(f"the daemon exited during the session (status {d.proc.returncode})\n"
                      f"{self.diag()}")
        if check_time:
            # one stage (RCPT or DATA) may wait on the store: the stage budget plus slack
            self.assertLess(self.elapsed, BUDGET_S + 3,
                            f"session took {self.elapsed:.1f} s (stage budget {BUDGET_S} s)\n"
                            f"{self.diag()}")
        return r

    def diag(self) -> str:
        parts = []
        r = getattr(self, "last", None)
        if r is not None:
            parts.append("swaks: " + " ".join(r.argv) + f"\nexit {r.returncode}, "
                         f"{getattr(self, 'elapsed', 0):.2f} s\n" + r.transcript)
        parts.append("daemon log lines of this session:\n" +
                     ("\n".join(getattr(self, "new_lines", [])) or "(none)"))
        d = getattr(self, "last_daemon", None) or self.daemon
        if d is not None:
            parts.append(f"config ({d.config_path}):\n" + d.config_path.read_text())
            parts.append(f"daemon log tail ({d.log_path}):\n" + tail(d.log_path, 15))
        parts.append("maillog tail:\n" + "\n".join(PF.maillog_lines()[-8:]))
        return "\n--------\n".join(parts)

    # -- assertions ----------------------------------------------------------------------------

    def assertReply(self, command, expected):
        rep = self.last.reply_to(command)
        want = expected if isinstance(expected, list) else [expected]
        self.assertEqual(rep.lines, want, f"reply to {command}\n{self.diag()}")
        return rep

    def assertRcptReplies(self, expected: list[str]):
        got = [x.text for x in self.last.replies_to("RCPT")]
        self.assertEqual(got, expected, f"replies to RCPT\n{self.diag()}")

    def assertQueued(self):
        rep = self.last.reply_to("DATA")
        self.assertTrue(rep.text.startswith("250 2.0.0 Ok: queued as "),
                        f"message not queued: reply to DATA: {rep}\n{self.diag()}")
        self.assertEqual(self.last.returncode, 0, f"swaks exit status\n{self.diag()}")

    def assertGreylistedAtRcpt(self, n_rcpts: int = 1):
        self.assertReply("MAIL", MAIL_OK)
        self.assertRcptReplies([GREYLISTED] * n_rcpts)
        self.assertTrue(self.last.reply_to("DATA").missing,
                        "no DATA without an accepted recipient\n" + self.diag())

    def assertPassed(self, n_rcpts: int = 1):
        """Accepted at once: every RCPT 250, queued, no greylist refusal logged."""
        self.assertReply("MAIL", MAIL_OK)
        self.assertRcptReplies([RCPT_OK] * n_rcpts)
        self.assertQueued()
        refusals = [kv for kv in self.last_parsed
                    if kv.get("action") in ("reject", "tempfail") and kv.get("dry_run") != "true"]
        self.assertEqual(refusals, [], f"expected no refusal\n{self.diag()}")

    def greylist_decisions(self) -> list[dict]:
        return [kv for kv in self.last_parsed if kv.get("check") == "greylist"]

    def assertGreylistDecision(self, reason: Optional[str] = None, reason_re: Optional[str] = None,
                               stage: str = "rcpt", count: int = 1, dry_run: str = "false",
                               reply: str = GREYLISTED, action: Optional[str] = "tempfail") -> dict:
        ds = self.greylist_decisions()
        self.assertEqual(len(ds), count,
                         f"expected {count} greylist decision line(s) for {self.client}\n{self.diag()}")
        kv = ds[0]
        code, enh, text = split_reply(reply)
        want = {"check": "greylist", "stage": stage, "code": code, "enhanced": enh, "text": text,
                "dry_run": dry_run}
        if action is not None:
            want["action"] = action
        self.assertEqual({k: kv.get(k) for k in want}, want, self.diag())
        if reason is not None:
            self.assertEqual(kv.get("reason"), reason, self.diag())
        if reason_re is not None:
            self.assertRegex(kv.get("reason", ""), reason_re, self.diag())
        return kv

    def sleep_past_delay(self, since: float):
        """Sleep until DELAY_S (+ slack) after the monotonic time `since` (taken after the first
        attempt's session ended, so after its decision)."""
        left = since + DELAY_S + 0.3 - time.monotonic()
        if left > 0:
            time.sleep(left)

    def cli(self, *args: str, config: Optional[Path] = None, ok: bool = True):
        cfg = config or self.daemon.config_path
        p = greylist_cli(cfg, *args)
        if ok:
            self.assertEqual(p.returncode, 0, cli_diag(p))
        return p

    def cli_json(self, *args: str, config: Optional[Path] = None):
        p = self.cli(*args, "--format", "json", config=config)
        try:
            return json.loads(p.stdout)
        except ValueError:
            self.fail("output is not JSON\n" + cli_diag(p))


def triplet_view(rows: list[dict]) -> list[tuple]:
    return sorted((r.get("network"), r.get("sender"), r.get("recipient")) for r in rows)


# ==============================================================================================
# 1. SQLite: first attempt, too early, pass after the delay, auto-allowlisting (threshold 1)

SEQ_CLIENT = "192.0.2.10"
SEQ_SENDER = "a@example.org"
SEQ_RCPT = "b@example.test"


class GreylistSqliteSequenceTest(GLCase):
    SERVICE = "seq"

    @classmethod
    def config(cls):
        return gl_config(cls.SERVICE, sqlite_store(cls.SERVICE), auto_allow_after=1)

    first_done_at: Optional[float] = None

    def first_attempt(self):
        cls = type(self)
        if cls.first_done_at is None:
            self.send(SEQ_CLIENT, SEQ_SENDER, SEQ_RCPT)
            cls.first_done_at = self.sent_at
            cls.first_result = (self.last, self.last_parsed, self.new_lines)
        return cls.first_done_at

    def test_1_first_attempt_greylisted_at_rcpt(self):
        self.first_attempt()
        self.assertGreylistedAtRcpt()
        self.assertGreylistDecision(
            reason=f"greylisted: new triplet: 192.0.2.0/24 {SEQ_SENDER} -> {SEQ_RCPT}")

    def test_2_retry_before_the_delay_greylisted_again(self):
        self.first_attempt()
        self.send(SEQ_CLIENT, SEQ_SENDER, SEQ_RCPT)
        self.assertGreylistedAtRcpt()
        kv = self.assertGreylistDecision(
            reason_re=r"^greylisted: too early \((\d+) s left, attempt 2\): "
                      + re.escape(f"192.0.2.0/24 {SEQ_SENDER} -> {SEQ_RCPT}") + "$")
        left = int(re.search(r"\((\d+) s left", kv["reason"]).group(1))
        self.assertTrue(1 <= left <= DELAY_S, f"{left} s left of a {DELAY_S} s delay\n{self.diag()}")

    def test_3_retry_after_the_delay_accepted(self):
        self.sleep_past_delay(self.first_attempt())
        self.send(SEQ_CLIENT, SEQ_SENDER, SEQ_RCPT)
        self.assertPassed()
        self.assertEqual(self.greylist_decisions(), [], self.diag())

    def test_4_same_network_auto_allowlisted(self):
        # auto_allow_after: 1 -- the pass of test_3 allowlists 192.0.2.0/24: another host of that
        # network, another sender, another recipient, no greylisting at all
        self.send("192.0.2.77", "c@example.net", "d@example.test")
        self.assertPassed()
        self.assertEqual(self.greylist_decisions(), [], self.diag())

    def test_5_other_network_still_greylisted(self):
        # control: allowlisting is per network; the triplet is new for 203.0.113.0/24
        self.send("203.0.113.5", SEQ_SENDER, SEQ_RCPT)
        self.assertGreylistedAtRcpt()
        self.assertGreylistDecision(
            reason=f"greylisted: new triplet: 203.0.113.0/24 {SEQ_SENDER} -> {SEQ_RCPT}")


# ==============================================================================================
# 1b. SQLite, default threshold (5): a network prepared with 5 counted passes is not greylisted,
# one with 4 still is (rows written with sqlite3 into the daemon's live WAL database)


class GreylistSqliteThresholdTest(GLCase):
    SERVICE = "threshold"

    @classmethod
    def config(cls):
        return gl_config(cls.SERVICE, sqlite_store(cls.SERVICE))  # auto_allow_after: default 5

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        path = store_dir(cls.SERVICE) / "greylist.sqlite"
        if not wait_for_schema(path):
            raise RuntimeError(f"the daemon did not create the greylist schema in {path}\n"
                               f"{tail(cls.daemon.log_path)}")
        now = int(time.time())
        con = sqlite_connect(path)
        try:
            con.executemany(
                "INSERT INTO greylist_networks (network, passes, last_counted, last_seen) "
                "VALUES (?, ?, ?, ?)",
                [("203.0.113.0/24", 5, now - 7200, now - 7200),
                 ("198.51.100.0/24", 4, now - 7200, now - 7200)])
        finally:
            con.close()

    def test_1_five_passes_not_greylisted(self):
        self.send("203.0.113.44", "new@example.org", "someone@example.test")
        self.assertPassed()
        self.assertEqual(self.greylist_decisions(), [], self.diag())

    def test_2_four_passes_still_greylisted(self):
        self.send("198.51.100.44", "new@example.org", "someone@example.test")
        self.assertGreylistedAtRcpt()
        self.assertGreylistDecision(
            reason="greylisted: new triplet: 198.51.100.0/24 new@example.org -> someone@example.test")


# ==============================================================================================
# 2. decide_at: data -- every RCPT 250, DATA 451 while any triplet is new; the retry passes


class GreylistDecideAtDataTest(GLCase):
    SERVICE = "data"
    CLIENT = "192.0.2.50"
    SENDER = "list@example.org"
    RCPTS = ["one@example.test", "two@example.test"]

    @classmethod
    def config(cls):
        return gl_config(cls.SERVICE, sqlite_store(cls.SERVICE), decide_at="data")

    def test_1_two_recipients_deferred_at_data_then_accepted(self):
        self.send(self.CLIENT, self.SENDER, self.RCPTS)
        self.assertReply("MAIL", MAIL_OK)
        self.assertRcptReplies([RCPT_OK, RCPT_OK])
        self.assertReply("DATA", GREYLISTED)
        self.assertNotEqual(self.last.returncode, 0, self.diag())
        kv = self.assertGreylistDecision(stage="data")
        self.assertTrue(kv.get("reason", "").startswith("greylisted: new triplet: 192.0.2.0/24 "
                                                        f"{self.SENDER} -> "),
                        self.diag())
        self.assertTrue(kv.get("reason", "").endswith(" and 1 more recipient(s)"), self.diag())
        first = self.sent_at

        self.sleep_past_delay(first)
        self.send(self.CLIENT, self.SENDER, self.RCPTS)
        self.assertPassed(n_rcpts=2)
        self.assertEqual(self.greylist_decisions(), [], self.diag())


# ==============================================================================================
# 3. the CLI on the daemon's store: allow, list, stats, delete, purge


class GreylistCliTest(GLCase):
    """`portcullis greylist` with the daemon's own config file (same SQLite file). Manual allow
    entries are re-read by the daemon at most once a minute: `allow` runs before this daemon has
    seen any mail (its cache is empty), so the next message already sees it."""

    SERVICE = "cli"
    CLIENT = "192.0.2.30"
    SENDER = "Bob+news@Example.ORG"      # stored as bob@example.org
    RCPTS = ["Carol@Example.TEST", "dave@example.test"]
    NET = "192.0.2.0/24"

    @classmethod
    def config(cls):
        return gl_config(cls.SERVICE, sqlite_store(cls.SERVICE))

    @property
    def db(self) -> Path:
        return store_dir(self.SERVICE) / "greylist.sqlite"

    def test_1_allow_network_passes_at_once(self):
        self.cli("allow", "198.51.100.0/24")
        self.send("198.51.100.20", "x@example.org", "y@example.test")
        self.assertPassed()
        self.assertEqual(self.greylist_decisions(), [], self.diag())
        rows = self.cli_json("list", "--client", "198.51.100.0/24")
        self.assertEqual(rows, [], "an allowed client leaves no triplet")
        stats = self.cli_json("stats")
        self.assertEqual(stats.get("manual_allow_entries"), 1, json.dumps(stats))

    def test_2_list_shows_the_new_triplets(self):
        t0 = int(time.time())
        self.send(self.CLIENT, self.SENDER, self.RCPTS)
        self.assertGreylistedAtRcpt(n_rcpts=2)
        self.assertGreylistDecision(count=2)
        t1 = int(time.time())
        rows = self.cli_json("list")
        self.assertEqual(triplet_view(rows),
                         [(self.NET, "bob@example.org", "carol@example.test"),
                          (self.NET, "bob@example.org", "dave@example.test")], json.dumps(rows))
        for row in rows:
            self.assertEqual(set(row), {"network", "sender", "recipient", "first_seen",
                                        "last_seen", "attempts", "passed_at"}, json.dumps(row))
            self.assertEqual(row["attempts"], 1, json.dumps(row))
            self.assertIsNone(row["passed_at"], json.dumps(row))
            self.assertIsInstance(row["first_seen"], int, json.dumps(row))
            self.assertTrue(t0 <= row["first_seen"] <= t1 and row["last_seen"] == row["first_seen"],
                            f"first_seen/last_seen not between {t0} and {t1}: {json.dumps(row)}")

    def test_3_list_filters(self):
        for args, want in (
            (["--client", self.NET], 2),
            (["--client", self.CLIENT], 2),             # an IP selects its network
            (["--client", "203.0.113.0/24"], 0),
            (["--sender", "bob@example.org"], 2),
            (["--recipient", "dave@example.test"], 1),
            (["--client", self.NET, "--recipient", "carol@example.test"], 1),
        ):
            with self.subTest(args=args):
                rows = self.cli_json("list", *args)
                self.assertEqual(len(rows), want, json.dumps(rows))
        text = self.cli("list").stdout
        self.assertIn(self.NET, text)
        self.assertIn("carol@example.test", text)

    def test_4_stats(self):
        stats = self.cli_json("stats")
        for key in ("triplets", "passed", "auto_allowlisted_networks", "manual_allow_entries",
                    "oldest_first_seen"):
            self.assertIn(key, stats, json.dumps(stats))
        self.assertEqual((stats["triplets"], stats["passed"], stats["auto_allowlisted_networks"],
                          stats["manual_allow_entries"]), (2, 0, 0, 1), json.dumps(stats))
        self.assertIsInstance(stats["oldest_first_seen"], int, json.dumps(stats))
        self.assertLessEqual(abs(stats["oldest_first_seen"] - time.time()), 120, json.dumps(stats))
        self.assertEqual(self.cli("stats").returncode, 0)

    def test_5_delete_removes_one_triplet(self):
        self.cli("delete", "--recipient", "dave@example.test")
        rows = self.cli_json("list")
        self.assertEqual(triplet_view(rows), [(self.NET, "bob@example.org", "carol@example.test")],
                         json.dumps(rows))
        # the daemon sees it: dave's triplet is new again (carol's is too early)
        self.send(self.CLIENT, self.SENDER, self.RCPTS)
        self.assertGreylistedAtRcpt(n_rcpts=2)
        reasons = sorted(kv.get("reason", "") for kv in self.greylist_decisions())
        self.assertEqual(len(reasons), 2, self.diag())
        self.assertEqual(reasons[0], f"greylisted: new triplet: {self.NET} bob@example.org -> "
                                     "dave@example.test", self.diag())
        self.assertRegex(reasons[1], r"^greylisted: too early \(\d+ s left, attempt 2\): "
                         + re.escape(f"{self.NET} bob@example.org -> carol@example.test"),
                         self.diag())

    def test_6_purge(self):
        # an expired open round (first seen 3 days ago: past retry_window 2d) and a passed triplet
        # last seen 2 days ago (inside lifetime, but --older-than 1d)
        now = int(time.time())
        con = sqlite_connect(self.db)
        try:
            con.executemany(
                "INSERT INTO greylist_triplets (network, sender, recipient, first_seen, last_seen, "
                "attempts, passed_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                [("203.0.113.0/24", "old@example.org", "x@example.test", now - 3 * 86400,
                  now - 3 * 86400, 1, None),
                 ("203.0.113.0/24", "quiet@example.org", "x@example.test", now - 10 * 86400,
                  now - 2 * 86400, 2, now - 10 * 86400 + 300)])
        finally:
            con.close()
        self.assertEqual(len(self.cli_json("list", "--client", "203.0.113.0/24")), 2)

        p = self.cli("purge")
        rows = self.cli_json("list")
        self.assertNotIn(("203.0.113.0/24", "old@example.org", "x@example.test"),
                         triplet_view(rows), "purge removes an expired round\n" + cli_diag(p))
        self.assertIn(("203.0.113.0/24", "quiet@example.org", "x@example.test"),
                      triplet_view(rows), "purge keeps a passed triplet within its lifetime")

        p = self.cli("purge", "--older-than", "1d")
        rows = self.cli_json("list")
        self.assertEqual(triplet_view(rows),
                         [(self.NET, "bob@example.org", "carol@example.test"),
                          (self.NET, "bob@example.org", "dave@example.test")],
                         "purge --older-than 1d removes only what was last seen before a day ago\n"
                         + cli_diag(p))


# ==============================================================================================
# 4. kill -9: a decision committed before the crash survives it


class GreylistCrashTest(GLCase):
    SERVICE = "crash"
    CLIENT = "192.0.2.60"
    SENDER = "crash@example.org"
    RCPT = "survivor@example.test"

    @classmethod
    def config(cls):
        return gl_config(cls.SERVICE, sqlite_store(cls.SERVICE))

    def test_kill_9_then_restart_on_the_same_file(self):
        self.send(self.CLIENT, self.SENDER, self.RCPT)
        self.assertGreylistedAtRcpt()
        self.assertGreylistDecision(
            reason=f"greylisted: new triplet: 192.0.2.0/24 {self.SENDER} -> {self.RCPT}")
        first = self.sent_at

        old = self.daemon
        old.proc.send_signal(signal.SIGKILL)
        old.proc.wait(10)
        self.assertEqual(old.proc.returncode, -signal.SIGKILL)
        old.stop()
        db = store_dir(self.SERVICE) / "greylist.sqlite"
        self.assertTrue(db.exists(), f"{db} is gone after kill -9")

        new = start_daemon(self.SERVICE, self.config(), name="portcullis-after-kill")
        type(self).daemon = new
        self.daemon = new
        self.sleep_past_delay(first)
        self.send(self.CLIENT, self.SENDER, self.RCPT, daemon=new)
        self.assertPassed()
        self.assertEqual(self.greylist_decisions(), [],
                         "the retry must pass: the triplet survived the crash\n" + self.diag())
        bad = [l for l in new.log_lines() if re.search(r"corrupt|not a usable|unusable", l, re.I)]
        self.assertEqual(bad, [], "the file must open cleanly after kill -9")

        rows = self.cli_json("list")
        self.assertEqual(triplet_view(rows), [("192.0.2.0/24", self.SENDER, self.RCPT)],
                         json.dumps(rows))
        self.assertEqual(rows[0]["attempts"], 2, json.dumps(rows))
        self.assertIsNotNone(rows[0]["passed_at"], json.dumps(rows))


# ==============================================================================================
# 5. a corrupt SQLite file: refuse to start, or move it aside


GARBAGE = b"This is not an SQLite database, it is garbage. " * 400


class GreylistCorruptFileTest(GLCase):
    SERVICE = "corrupt"

    @classmethod
    def setUpClass(cls):
        cls.daemon = None  # started by test_2

    @classmethod
    def config(cls, move_aside: bool = False):
        return gl_config(cls.SERVICE, sqlite_store(cls.SERVICE, move_aside_corrupt=move_aside))

    @property
    def db(self) -> Path:
        return store_dir(self.SERVICE) / "greylist.sqlite"

    def write_garbage(self):
        self.db.parent.mkdir(parents=True, exist_ok=True)
        for p in glob.glob(str(self.db) + "*"):
            os.unlink(p)
        self.db.write_bytes(GARBAGE)

    def test_1_refuses_to_start(self):
        self.write_garbage()
        workdir = PF.root / "daemons" / "corrupt-refused"
        workdir.mkdir(parents=True, exist_ok=True)
        cfg = workdir / "portcullis.yml"
        cfg.write_text(to_yaml(self.config(move_aside=False)) + "\n")
        argv = [str(portcullis_bin()), "run", "--foreground", "--config", str(cfg)]
        rc, out = run_until_exit(argv)
        diag = f"command: {' '.join(argv)}\nexit {rc}\noutput:\n{out}"
        self.assertIsNotNone(rc, "the daemon started on a corrupt file (killed after 30 s)\n" + diag)
        self.assertNotEqual(rc, 0, diag)
        self.assertIn(str(self.db), out, "the message names the file\n" + diag)
        self.assertRegex(out, r"(?i)not a usable|unusable", diag)
        self.assertEqual(self.db.read_bytes(), GARBAGE, "the file is left alone\n" + diag)
        self.assertEqual(glob.glob(str(self.db) + ".corrupt-*"), [], diag)
        self.assertFalse(PF.socket(self.SERVICE).exists() and
                         unix_socket_accepts(PF.socket(self.SERVICE)),
                         "nothing listens on the milter socket\n" + diag)

    def test_2_move_aside_corrupt_starts_fresh(self):
        self.write_garbage()
        d = start_daemon(self.SERVICE, self.config(move_aside=True), name="portcullis-move-aside")
        type(self).daemon = d
        self.daemon = d
        aside = glob.glob(str(self.db) + ".corrupt-*")
        aside = [a for a in aside if not a.endswith(("-wal", "-shm"))]
        log = "\n".join(d.log_lines())
        self.assertEqual(len(aside), 1, f"one {self.db}.corrupt-* file\nlog:\n{log}")
        self.assertRegex(os.path.basename(aside[0]), r"^greylist\.sqlite\.corrupt-\d+$")
        self.assertEqual(Path(aside[0]).read_bytes(), GARBAGE, "the damaged file is kept as it was")
        self.assertTrue(wait_for(lambda: self.db.exists(), 5), f"a fresh {self.db}\nlog:\n{log}")
        with open(self.db, "rb") as f:
            self.assertEqual(f.read(16), b"SQLite format 3\x00", "the fresh file is an SQLite database")
        self.assertTrue([l for l in d.log_lines() if ".corrupt-" in l],
                        f"a log line names the moved-aside file\nlog:\n{log}")
        # and greylisting works on the fresh store
        self.send("192.0.2.70", "fresh@example.org", "x@example.test")
        self.assertGreylistedAtRcpt()
        self.assertGreylistDecision(
            reason="greylisted: new triplet: 192.0.2.0/24 fresh@example.org -> x@example.test")


# ==============================================================================================
# 6. the store goes away under a running daemon: on_error, within the stage budget.
# SQLite: another process holds the write lock (BEGIN EXCLUSIVE; the daemon's busy timeout is 5 s,
# the stage budget here 2 s, so the answer proves the budget bounds the wait). PostgreSQL: the
# server stops (GreylistPostgres2ServerDownTest). A store that cannot be opened at START stops the
# daemon instead (GreylistSqliteUnopenableTest): mail must not flow on a half-configured MX.

LOCK_BUDGET_S = 2


class SqliteWriteLock:
    """Holds SQLite's write lock on `path` (WAL: readers go on, every writer waits)."""

    def __init__(self, path: Path):
        self.path = path
        self.con: Optional[sqlite3.Connection] = None

    def __enter__(self):
        self.con = sqlite3.connect(str(self.path), timeout=10, isolation_level=None)
        self.con.execute("BEGIN EXCLUSIVE")
        return self

    def __exit__(self, *exc):
        try:
            self.con.execute("ROLLBACK")
        finally:
            self.con.close()
        return False


class SqliteLockedMixin:
    """The tests both on_error classes share (a mixin, so unittest does not collect it alone)."""

    SERVICE = ""
    ON_ERROR = ""

    @classmethod
    def config(cls):
        return gl_config(cls.SERVICE, sqlite_store(cls.SERVICE), on_error=cls.ON_ERROR,
                         budget=LOCK_BUDGET_S)

    @property
    def db(self) -> Path:
        return store_dir(self.SERVICE) / "greylist.sqlite"

    def send_locked(self, client, sender, rcpt):
        """One session while the write lock is held; it must end within the stage budget (plus
        the session's own time), well before the daemon's 5 s busy timeout."""
        self.assertTrue(wait_for_schema(self.db), f"no schema in {self.db}")
        with SqliteWriteLock(self.db):
            self.send(client, sender, rcpt, check_time=False)
        self.assertLess(self.elapsed, LOCK_BUDGET_S + 2.5,
                        f"session took {self.elapsed:.1f} s with the store locked (stage budget "
                        f"{LOCK_BUDGET_S} s, busy timeout 5 s)\n{self.diag()}")

    def test_1_unlocked_greylists(self):
        self.send("192.0.2.83", "before@example.org", "x@example.test")
        self.assertGreylistedAtRcpt()
        self.assertGreylistDecision(
            reason="greylisted: new triplet: 192.0.2.0/24 before@example.org -> x@example.test")

    def test_3_unlocked_again_greylists(self):
        self.send("192.0.2.85", "after@example.org", "x@example.test")
        self.assertGreylistedAtRcpt()
        self.assertGreylistDecision(
            reason="greylisted: new triplet: 192.0.2.0/24 after@example.org -> x@example.test")


class GreylistSqliteLockedContinueTest(SqliteLockedMixin, GLCase):
    SERVICE = "sqlite-locked-continue"
    ON_ERROR = "continue"

    def test_2_locked_passes_with_a_warning(self):
        self.send_locked("192.0.2.84", "locked@example.org", "x@example.test")
        self.assertPassed()
        self.assertEqual(self.greylist_decisions(), [], self.diag())
        warnings = [parse_kv(l) for l in self.last_warnings]
        self.assertTrue([kv for kv in warnings if kv.get("check") == "greylist"
                         and kv.get("on_error") == "continue"],
                        f"a warning line for check=greylist on_error=continue\n{self.diag()}")


class GreylistSqliteLockedTempfailTest(SqliteLockedMixin, GLCase):
    SERVICE = "sqlite-locked-tempfail"
    ON_ERROR = "tempfail"

    def test_2_locked_tempfails(self):
        self.send_locked("192.0.2.84", "locked@example.org", "x@example.test")
        self.assertReply("MAIL", MAIL_OK)
        self.assertRcptReplies([TEMP_ERROR])
        self.assertGreylistDecision(reply=TEMP_ERROR)


def run_until_exit(argv: list[str], timeout: float = 30) -> tuple[Optional[int], str]:
    """Runs the daemon and waits for it to exit; (None, output) if it was still running after
    `timeout` (it is killed then)."""
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        out, _ = proc.communicate(timeout=timeout)
        return proc.returncode, out
    except subprocess.TimeoutExpired:
        proc.kill()
        out, _ = proc.communicate(timeout=10)
        return None, out


class GreylistSqliteUnopenableTest(unittest.TestCase):
    """sqlite_path below a regular file: the directory cannot be created (even by root). The
    daemon does not start: exit status non-zero, a line naming the path."""

    def test_refuses_to_start(self):
        blocker = store_dir("unopenable") / "not-a-directory"
        blocker.parent.mkdir(parents=True, exist_ok=True)
        blocker.write_text("a regular file where the store's directory should be\n")
        path = blocker / "sub" / "greylist.sqlite"
        workdir = PF.root / "daemons" / "unopenable"
        workdir.mkdir(parents=True, exist_ok=True)
        cfg = workdir / "portcullis.yml"
        sock = workdir / "unused.sock"
        config = daemon_config(sock, {"greylist": {"enabled": True, "delay": f"{DELAY_S}s",
                                                   "on_error": "continue"}})
        config["greylist"] = {"store": "sqlite", "sqlite_path": str(path)}
        cfg.write_text(to_yaml(config) + "\n")
        argv = [str(portcullis_bin()), "run", "--foreground", "--config", str(cfg)]
        rc, out = run_until_exit(argv)
        diag = f"command: {' '.join(argv)}\nexit {rc}\noutput:\n{out}"
        self.assertIsNotNone(rc, "the daemon started although its store cannot be opened\n" + diag)
        self.assertNotEqual(rc, 0, diag)
        self.assertIn(str(path.parent), out, "the message names the path\n" + diag)
        self.assertRegex(out, r"(?i)greylist store", diag)


# ==============================================================================================
# 8. dry-run


class GreylistDryRunTest(GLCase):
    SERVICE = "dry"

    @classmethod
    def config(cls):
        return gl_config(cls.SERVICE, sqlite_store(cls.SERVICE), mode="dry-run")

    def test_dry_run_logs_and_accepts(self):
        self.send("192.0.2.90", "dry@example.org", "run@example.test")
        self.assertPassed()
        self.assertGreylistDecision(
            dry_run="true", action=None,
            reason="greylisted: new triplet: 192.0.2.0/24 dry@example.org -> run@example.test")
        self.assertIn(self.greylist_decisions()[0].get("action"), ("tempfail", "reject"), self.diag())


# ==============================================================================================
# 7. PostgreSQL: two daemons (two "MX hosts") on one database; the server goes away


class PG:
    """The module's throw-away cluster and its two daemons (A: on_error continue, B: tempfail)."""

    url: Optional[str] = None
    dir: Optional[str] = None
    port: int = 0
    password: str = ""
    a: Optional[Daemon] = None
    b: Optional[Daemon] = None
    cli_outputs: list[str] = []
    error: Optional[str] = None

    @classmethod
    def ensure(cls, test: unittest.TestCase):
        if cls.error:
            raise unittest.SkipTest(cls.error)
        if cls.url is not None:
            return
        try:
            import pgcluster  # tests/pg/pgcluster.py
        except ImportError as e:
            cls.error = f"tests/pg/pgcluster.py not importable: {e}"
            raise unittest.SkipTest(cls.error)
        if not (os.environ.get("PG_BINDIR") or glob.glob("/usr/lib/postgresql/*/bin/initdb")):
            cls.error = "no PostgreSQL server binaries (Debian: apt-get install postgresql)"
            raise unittest.SkipTest(cls.error)
        script = os.path.join(os.path.dirname(HERE), "pg", "pgcluster.py")
        p = subprocess.run([sys.executable, script, "start", "--watch-pid", str(os.getpid())],
                           capture_output=True, text=True, timeout=180, stdin=subprocess.DEVNULL)
        if p.returncode != 0:
            raise RuntimeError(f"pgcluster start failed ({p.returncode}):\n{p.stdout}{p.stderr}")
        url, directory = p.stdout.splitlines()[:2]
        cls.url, cls.dir = url, directory
        unittest.addModuleCleanup(cls.stop_cluster)
        parts = urllib.parse.urlsplit(url)
        cls.port = parts.port
        cls.password = urllib.parse.unquote(parts.password or "")
        store = {"store": "postgresql", "postgresql_url": url}
        cls.a = start_daemon("pg-a", gl_config("pg-a", store, on_error="continue"))
        # B logs at debug: postgres-nio's own lines must not show the password either
        cls.b = start_daemon("pg-b", gl_config("pg-b", store, on_error="tempfail", level="debug"))

    @classmethod
    def stop_cluster(cls):
        if cls.dir:
            script = os.path.join(os.path.dirname(HERE), "pg", "pgcluster.py")
            subprocess.run([sys.executable, script, "stop", "--dir", cls.dir],
                           capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
            cls.dir = cls.url = None

    # -- stopping and starting the server (the cluster directory stays) ------------------------

    @classmethod
    def _pg_ctl(cls, *args: str) -> subprocess.CompletedProcess:
        import pgcluster
        cmd = pgcluster.as_owner([f"{pgcluster.bindir()}/pg_ctl", *args,
                                  "-D", os.path.join(cls.dir, "data")])
        return subprocess.run(cmd, capture_output=True, text=True, timeout=120,
                              stdin=subprocess.DEVNULL)

    @classmethod
    def server_running(cls) -> bool:
        return cls._pg_ctl("status").returncode == 0

    @classmethod
    def stop_server(cls):
        p = cls._pg_ctl("stop", "-w", "-t", "60", "-m", "fast")
        if p.returncode != 0:
            raise RuntimeError(f"pg_ctl stop failed:\n{p.stdout}{p.stderr}")

    @classmethod
    def start_server(cls):
        opts = (f"-p {cls.port} -k {cls.dir} -c listen_addresses=127.0.0.1 -c max_connections=300 "
                "-c fsync=off -c synchronous_commit=off -c full_page_writes=off")
        p = cls._pg_ctl("start", "-w", "-t", "60", "-l", os.path.join(cls.dir, "server.log"),
                        "-o", opts)
        if p.returncode != 0:
            raise RuntimeError(f"pg_ctl start failed:\n{p.stdout}{p.stderr}")

    @classmethod
    def secrets(cls) -> list[str]:
        """The password as given, percent-encoded as in the URL, and its random core."""
        enc = urllib.parse.quote(cls.password, safe="")
        core = re.sub(r"[^0-9a-f]", "", cls.password.split("-", 1)[-1]) or cls.password
        return sorted({cls.password, enc, core})


class PGCase(GLCase):
    @classmethod
    def setUpClass(cls):
        PG.ensure(cls)
        cls.daemon = PG.a

    def send_a(self, client, sender, rcpts, **kw):
        return self.send(client, sender, rcpts, service="pg-a", daemon=PG.a, **kw)

    def send_b(self, client, sender, rcpts, **kw):
        return self.send(client, sender, rcpts, service="pg-b", daemon=PG.b, **kw)

    def cli(self, *args, config=None, ok=True):
        p = super().cli(*args, config=config or PG.a.config_path, ok=ok)
        PG.cli_outputs.append(p.stdout + p.stderr)
        return p

    def assertNoPassword(self):
        sources = {}
        for d in (PG.a, PG.b):
            sources[str(d.log_path)] = d.log_path.read_text(errors="replace")
        for i, out in enumerate(PG.cli_outputs):
            sources[f"greylist CLI output #{i}"] = out
        for name, text in sources.items():
            for secret in PG.secrets():
                hits = [l for l in text.splitlines() if secret in l]
                self.assertEqual(hits, [], f"{name} contains the database password ({secret!r})")


class GreylistPostgres1TwoDaemonsTest(PGCase):
    def test_1_first_attempt_at_a_retry_at_b_passes(self):
        client, sender, rcpt = "192.0.2.40", "mx@example.org", "shared@example.test"
        self.send_a(client, sender, rcpt)
        self.assertGreylistedAtRcpt()
        self.assertGreylistDecision(
            reason=f"greylisted: new triplet: 192.0.2.0/24 {sender} -> {rcpt}")
        self.sleep_past_delay(self.sent_at)
        self.send_b(client, sender, rcpt)
        self.assertPassed()
        self.assertEqual(self.greylist_decisions(), [],
                         "daemon B must see the triplet daemon A recorded\n" + self.diag())

    def test_2_first_too_early_pass_on_postgresql(self):
        client, sender, rcpt = "203.0.113.40", "seq@example.org", "pg@example.test"
        self.send_a(client, sender, rcpt)
        self.assertGreylistedAtRcpt()
        self.assertGreylistDecision(
            reason=f"greylisted: new triplet: 203.0.113.0/24 {sender} -> {rcpt}")
        first = self.sent_at
        self.send_b(client, sender, rcpt)
        self.assertGreylistedAtRcpt()
        self.assertGreylistDecision(
            reason_re=r"^greylisted: too early \(\d+ s left, attempt 2\): "
                      + re.escape(f"203.0.113.0/24 {sender} -> {rcpt}") + "$")
        self.sleep_past_delay(first)
        self.send_a(client, sender, rcpt)
        self.assertPassed()
        self.assertEqual(self.greylist_decisions(), [], self.diag())

    def test_3_cli_lists_the_postgresql_triplets(self):
        rows = self.cli_json("list", "--client", "192.0.2.0/24")
        self.assertEqual(triplet_view(rows),
                         [("192.0.2.0/24", "mx@example.org", "shared@example.test")], json.dumps(rows))
        self.assertIsNotNone(rows[0]["passed_at"], json.dumps(rows))
        rows = self.cli_json("list", config=PG.b.config_path)  # B's config: the same database
        self.assertEqual(len(rows), 2, json.dumps(rows))
        stats = self.cli_json("stats")
        self.assertEqual((stats.get("triplets"), stats.get("passed")), (2, 2), json.dumps(stats))

    def test_4_no_password_in_any_log_line(self):
        self.assertNoPassword()


class GreylistPostgres2ServerDownTest(PGCase):
    """The server stops (pg_ctl stop -m fast) under two running daemons: A (on_error continue)
    lets mail through with a warning, B (tempfail) answers 451 4.3.0, both within the stage
    budget; after the server is back (same port) both greylist again."""

    def setUp(self):
        name = self._testMethodName
        if name.startswith(("test_1", "test_2")) and PG.server_running():
            PG.stop_server()

    def test_1_down_continue_passes_with_a_warning(self):
        mark = PG.a.mark()
        self.send_a("192.0.2.41", "down@example.org", "a@example.test")
        self.assertPassed()
        self.assertEqual(self.greylist_decisions(), [], self.diag())
        warnings = [l for l in PG.a.log_lines()[mark:] if is_warning(l) and "greylist" in l.lower()]
        self.assertTrue(warnings, f"a warning about the greylist store\n{self.diag()}")

    def test_2_down_tempfail(self):
        self.send_b("192.0.2.42", "down@example.org", "b@example.test")
        self.assertReply("MAIL", MAIL_OK)
        self.assertRcptReplies([TEMP_ERROR])
        self.assertGreylistDecision(reply=TEMP_ERROR)

    def test_3_server_back_greylisting_again(self):
        if not PG.server_running():
            PG.start_server()
        t0 = time.monotonic()
        n = 0
        for send in (self.send_a, self.send_b):
            while True:
                n += 1
                # a new triplet each round: greylisted once the store answers again
                send(f"192.0.2.{100 + n}", "back@example.org", f"again{n}@example.test")
                if self.last.reply_to("RCPT").text == GREYLISTED or time.monotonic() - t0 > 40:
                    break
                time.sleep(1)
            self.assertGreylistedAtRcpt()
        print(f"\n    (greylisting again {time.monotonic() - t0:.1f} s after the server restarted)",
              file=sys.stderr, end=" ")

    def test_9_no_password_in_any_log_line(self):
        self.assertNoPassword()


if __name__ == "__main__":
    unittest.main()
