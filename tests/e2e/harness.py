"""End-to-end test harness: a private Postfix instance, the Portcullis daemon, and swaks.

Python 3 standard library only. Everything started here is stopped again by PID (never by
name), also when a test fails: the fixtures register their stop() with atexit as a last
resort, and the test classes call stop() from tearDownClass / addCleanup.

Facts this relies on (measured on Debian 12, Postfix 3.7.11; see MTA-NOTES.md §3 and §9):
- `postfix -c DIR` needs an ABSOLUTE path (a relative one fails silently with exit 1).
- data_directory must be owned by postfix, or master cannot create its lock file.
- No syslog here: maillog_file through postlogd, and the path must match maillog_file_prefixes.
- chroot n everywhere, so a `unix:` milter path is the real file-system path.
- smtpd runs as user postfix: every directory above the milter socket must be traversable.
- libmilter takes about 5 s to exit after SIGTERM and leaves its socket file behind.
- XCLIENT makes Postfix close the first milter connection and open a second one.
"""

from __future__ import annotations

import atexit
import dataclasses
import json
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Iterable, Optional, Sequence

REPO_ROOT = Path(__file__).resolve().parents[2]

# ----------------------------------------------------------------------------------------------
# small utilities


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now (the kernel picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def pid_alive(pid: int) -> bool:
    """True while `pid` exists and is not a zombie."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            # field 3 is the state; the command name (field 2) may contain spaces, so split after ')'
            state = f.read().rsplit(b")", 1)[1].split()[0]
        return state != b"Z"
    except (FileNotFoundError, IndexError, ProcessLookupError):
        return False


def wait_for(predicate, timeout: float, interval: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while True:
        if predicate():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)


def tail(path: Path, n: int = 40) -> str:
    try:
        lines = Path(path).read_text(errors="replace").splitlines()
    except FileNotFoundError:
        return f"(no file {path})"
    return "\n".join(lines[-n:])


def _processes_with_cwd_under(root: Path) -> list[int]:
    """PIDs whose working directory is inside `root` (Postfix daemons chdir to the queue)."""
    pids = []
    root_s = str(root)
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            cwd = os.readlink(f"/proc/{entry}/cwd")
        except OSError:
            continue
        if cwd == root_s or cwd.startswith(root_s + "/"):
            pids.append(int(entry))
    return pids


def unix_socket_accepts(path: Path) -> bool:
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(1.0)
    try:
        s.connect(str(path))
        return True
    except OSError:
        return False
    finally:
        s.close()


def smtp_banner_ok(host: str, port: int) -> bool:
    """True when the port accepts AND an smtpd answers with a 220 banner (master alone listens
    even when smtpd cannot start, e.g. after a fatal config error)."""
    try:
        with socket.create_connection((host, port), timeout=1.0) as s:
            s.settimeout(3.0)
            banner = s.recv(512)
            try:
                s.sendall(b"QUIT\r\n")
                s.recv(512)
            except OSError:
                pass
        return banner.startswith(b"220")
    except OSError:
        return False


# ----------------------------------------------------------------------------------------------
# Postfix


MASTER_CF = """\
# Private test instance written by tests/e2e/harness.py. chroot is n everywhere.
# service     type  private unpriv  chroot  wakeup  maxproc command
{listen} inet n      -       n       -       -       smtpd
pickup        unix  n       -       n       60      1       pickup
cleanup       unix  n       -       n       -       0       cleanup
qmgr          unix  n       -       n       300     1       qmgr
rewrite       unix  -       -       n       -       -       trivial-rewrite
bounce        unix  -       -       n       -       0       bounce
defer         unix  -       -       n       -       0       bounce
trace         unix  -       -       n       -       0       bounce
verify        unix  -       -       n       -       1       verify
flush         unix  n       -       n       1000?   0       flush
proxymap      unix  -       -       n       -       -       proxymap
proxywrite    unix  -       -       n       -       1       proxymap
showq         unix  n       -       n       -       -       showq
error         unix  -       -       n       -       -       error
retry         unix  -       -       n       -       -       error
discard       unix  -       -       n       -       -       discard
anvil         unix  -       -       n       -       1       anvil
scache        unix  -       -       n       -       1       scache
postlog       unix-dgram n  -       n       -       1       postlogd
"""


class PostfixInstance:
    """A private Postfix in a fresh temp dir, listening on 127.0.0.1:<free port>.

    with_milter: smtpd_milters = unix:<root>/portcullis.sock (or milter_socket if given);
    False leaves smtpd_milters empty. The temp dir (root) is removed by stop(); the daemon's
    config and log can live below it (see DaemonPool), so one rmtree cleans everything.
    """

    def __init__(self, with_milter: bool = True, milter_socket: Optional[Path] = None,
                 extra_main_cf: Optional[dict] = None):
        self._own_root = True
        self.root = Path(tempfile.mkdtemp(prefix="pcx-e2e-"))
        if milter_socket is not None:
            self.milter_socket: Optional[Path] = Path(milter_socket)
        else:
            self.milter_socket = (self.root / "portcullis.sock") if with_milter else None
        self.extra_main_cf = dict(extra_main_cf or {})
        self.base = self.root / "postfix"
        self.conf_dir = self.base / "conf"
        self.queue_dir = self.base / "queue"
        self.data_dir = self.base / "data"
        self.maillog = self.root / "maillog"
        self.port = 0
        self.master_pid: Optional[int] = None
        self._started = False
        atexit.register(self.stop)

    # -- configuration ------------------------------------------------------------------------

    def main_cf(self) -> dict:
        cf = {
            "compatibility_level": "3.6",
            "queue_directory": str(self.queue_dir),
            "data_directory": str(self.data_dir),
            "maillog_file": str(self.maillog),
            "maillog_file_prefixes": str(self.root),
            "syslog_name": "pcx-e2e",
            "myhostname": "mta.example.test",
            "mydomain": "example.test",
            "myorigin": "$myhostname",
            "mydestination": "",
            "inet_interfaces": "127.0.0.1",
            "inet_protocols": "ipv4",
            "mynetworks": "127.0.0.0/8",
            # Every recipient domain is a relay domain (static:ALL matches any key). XCLIENT moves
            # the client out of $mynetworks (192.0.2.x), and smtpd's own relay check runs before
            # the milter's RCPT callback: without this Postfix itself would answer
            # "554 5.7.1 Relay access denied" and the milter's reply would never be seen. Safe: the
            # instance listens on loopback only and discards everything.
            "relay_domains": "static:ALL",
            "alias_maps": "",
            "alias_database": "",
            "local_recipient_maps": "",
            "smtpd_relay_restrictions": "permit_mynetworks, reject_unauth_destination",
            "smtpd_authorized_xclient_hosts": "127.0.0.0/8",
            "default_transport": "discard:dropped by test instance",
            "relay_transport": "$default_transport",
            "local_transport": "$default_transport",
            "smtpd_banner": "$myhostname ESMTP $mail_name test",
            "biff": "no",
            "readme_directory": "no",
            "smtputf8_enable": "no",
            "smtpd_milters": f"unix:{self.milter_socket}" if self.milter_socket else "",
            "milter_default_action": "tempfail",
            # fail fast instead of the 30 s default when the milter is not there
            "milter_connect_timeout": "10s",
            # one anvil limit less to think about when many test sessions come from 127.0.0.1
            "smtpd_client_connection_rate_limit": "0",
        }
        cf.update(self.extra_main_cf)
        return cf

    def _write_config(self):
        for d in (self.conf_dir, self.queue_dir, self.data_dir):
            d.mkdir(parents=True, exist_ok=True)
        pf = pwd.getpwnam("postfix")
        os.chown(self.data_dir, pf.pw_uid, pf.pw_gid)  # REQUIRED (MTA-NOTES §3)
        os.chmod(self.data_dir, 0o700)
        # smtpd (user postfix) must reach the milter socket below root
        for d in (self.root, self.base):
            os.chmod(d, 0o755)
        lines = [f"{k} = {v}" for k, v in self.main_cf().items()]
        (self.conf_dir / "main.cf").write_text("\n".join(lines) + "\n")
        (self.conf_dir / "master.cf").write_text(
            MASTER_CF.format(listen=f"127.0.0.1:{self.port}".ljust(13)))

    # -- lifecycle ----------------------------------------------------------------------------

    def start(self, timeout: float = 30.0) -> "PostfixInstance":
        for attempt in range(3):
            self.port = free_port()
            self._write_config()
            proc = subprocess.run(["postfix", "-c", str(self.conf_dir.resolve()), "start"],
                                  capture_output=True, text=True, timeout=60)
            self._started = True
            pid_file = self.queue_dir / "pid" / "master.pid"
            if proc.returncode == 0:
                wait_for(lambda: pid_file.exists() and pid_file.read_text().strip() != "", 10)
                self.master_pid = self._read_master_pid()
                if wait_for(lambda: smtp_banner_ok("127.0.0.1", self.port), timeout, interval=0.2):
                    return self
            log = "\n".join(self.maillog_lines())
            self.stop(remove=False)
            # the port may have been taken between free_port() and master's bind: try another
            if "Address already in use" not in log or attempt == 2:
                raise RuntimeError(
                    f"postfix did not start (exit {proc.returncode}) on port {self.port}\n"
                    f"stdout: {proc.stdout}\nstderr: {proc.stderr}\nmaillog tail:\n{tail(self.maillog)}")
        raise AssertionError("unreachable")

    def _read_master_pid(self) -> Optional[int]:
        try:
            return int((self.queue_dir / "pid" / "master.pid").read_text().split()[0])
        except (FileNotFoundError, ValueError, IndexError):
            return None

    def stop(self, remove: Optional[bool] = None):
        """Stop master by PID (SIGTERM, wait for it to exit), then wait for its children.
        Removes the temp dir unless remove=False or $PORTCULLIS_E2E_KEEP is set."""
        if remove is None:
            remove = not os.environ.get("PORTCULLIS_E2E_KEEP")
        if self._started:
            pid = self.master_pid or self._read_master_pid()
            if pid and pid_alive(pid):
                os.kill(pid, signal.SIGTERM)
                if not wait_for(lambda: not pid_alive(pid), 15):
                    os.kill(pid, signal.SIGKILL)
                    wait_for(lambda: not pid_alive(pid), 5)
            # master TERMs its children; give them a moment, then stop stragglers by PID
            if self.queue_dir.exists():
                if not wait_for(lambda: not _processes_with_cwd_under(self.queue_dir), 5):
                    for p in _processes_with_cwd_under(self.queue_dir):
                        try:
                            os.kill(p, signal.SIGKILL)
                        except ProcessLookupError:
                            pass
            self.master_pid = None
            self._started = False
        if remove and self._own_root and self.root.exists():
            shutil.rmtree(self.root, ignore_errors=True)

    def postconf(self, *args: str) -> str:
        return subprocess.run(["postconf", "-c", str(self.conf_dir), *args], check=True,
                              capture_output=True, text=True).stdout

    def maillog_lines(self) -> list[str]:
        try:
            return self.maillog.read_text(errors="replace").splitlines()
        except FileNotFoundError:
            return []


# ----------------------------------------------------------------------------------------------
# log parsing

_KV_RE = re.compile(r'([A-Za-z0-9_.\-]+)=("(?:[^"\\]|\\.)*"|\S*)')


def _unquote(value: str) -> str:
    if len(value) >= 2 and value[0] == '"' and value[-1] == '"':
        out = []
        i, body = 0, value[1:-1]
        while i < len(body):
            c = body[i]
            if c == "\\" and i + 1 < len(body):
                nxt = body[i + 1]
                out.append({"n": "\n", "r": "\r", "t": "\t"}.get(nxt, nxt))
                i += 2
            else:
                out.append(c)
                i += 1
        return "".join(out)
    return value


def parse_kv(line: str) -> dict:
    """Parse `key=value` pairs; values may be double-quoted with \\" and \\\\ escapes.

    Anything before the first pair (timestamp, level, message) is ignored.
    >>> parse_kv('x info decision a=1 text="say \\\\"hi\\\\" = ok" b=')
    {'a': '1', 'text': 'say "hi" = ok', 'b': ''}
    """
    return {m.group(1): _unquote(m.group(2)) for m in _KV_RE.finditer(line)}


def is_decision_line(line: str) -> bool:
    return " decision " in line


# ----------------------------------------------------------------------------------------------
# Portcullis daemon


def portcullis_bin() -> Path:
    """$PORTCULLIS_BIN (relative to the current directory), else .build/debug/portcullis in the
    repo root."""
    env = os.environ.get("PORTCULLIS_BIN")
    if env:
        return Path(env).resolve()
    return REPO_ROOT / ".build" / "debug" / "portcullis"


def yaml_scalar(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    # JSON strings are valid YAML double-quoted scalars (escapes included)
    return json.dumps(str(v))


def to_yaml(obj, indent: int = 0) -> str:
    """Minimal block-style YAML writer for dict/list/scalar trees (no third-party YAML lib)."""
    pad = "  " * indent
    out = []
    if isinstance(obj, dict):
        for k, v in obj.items():
            if isinstance(v, dict):
                if v:
                    out.append(f"{pad}{k}:")
                    out.append(to_yaml(v, indent + 1))
                else:
                    out.append(f"{pad}{k}: {{}}")
            elif isinstance(v, list):
                if v:
                    out.append(f"{pad}{k}:")
                    out.append(to_yaml(v, indent + 1))
                else:
                    out.append(f"{pad}{k}: []")
            else:
                out.append(f"{pad}{k}: {yaml_scalar(v)}")
    elif isinstance(obj, list):
        for v in obj:
            if isinstance(v, (dict, list)) and v:
                inner = to_yaml(v, indent + 1).lstrip()
                out.append(f"{pad}- {inner}")
            else:
                out.append(f"{pad}- {yaml_scalar(v) if not isinstance(v, (dict, list)) else json.dumps(v)}")
    else:
        out.append(f"{pad}{yaml_scalar(obj)}")
    return "\n".join(out)


def daemon_config(socket_path: Path, checks: dict, mode: str = "enforce",
                  engine: Optional[dict] = None, level: str = "info") -> dict:
    cfg = {
        "mode": mode,
        # the defaults are group postfix and user portcullis: the tests stay root and leave the
        # group alone; 0666 so that smtpd (user postfix) can connect
        "milter": {"socket": f"unix:{socket_path}", "socket_mode": "0666",
                   "socket_group": "", "user": ""},
        "log": {"level": level},
    }
    if engine is not None:
        cfg["engine"] = engine
    cfg["checks"] = checks
    return cfg


class Daemon:
    """The Portcullis daemon in the foreground: `portcullis run --foreground --config FILE`."""

    def __init__(self, workdir: Path, socket_path: Path, config: dict | str,
                 binary: Optional[Path] = None, name: str = "daemon"):
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.socket_path = Path(socket_path)
        self.binary = Path(binary) if binary else portcullis_bin()
        self.config_path = self.workdir / "portcullis.yml"
        self.log_path = self.workdir / f"{name}.log"
        text = config if isinstance(config, str) else to_yaml(config) + "\n"
        self.config_path.write_text(text)
        self.proc: Optional[subprocess.Popen] = None
        self._log_file = None
        atexit.register(self.stop)

    @property
    def argv(self) -> list[str]:
        return [str(self.binary), "run", "--foreground", "--config", str(self.config_path)]

    def start(self, timeout: float = 20.0) -> "Daemon":
        if not self.binary.exists():
            raise FileNotFoundError(f"portcullis binary not found: {self.binary} "
                                    f"(build it with `swift build` or set PORTCULLIS_BIN)")
        # a stale socket from an earlier daemon would otherwise look like "exists" (libmilter
        # leaves it behind; smfi_opensocket(true) removes it anyway)
        if self.socket_path.exists() or self.socket_path.is_socket():
            try:
                self.socket_path.unlink()
            except FileNotFoundError:
                pass
        self._log_file = open(self.log_path, "ab")
        self.proc = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL,
                                     stdout=self._log_file, stderr=self._log_file,
                                     cwd=str(self.workdir), start_new_session=True)
        ok = wait_for(lambda: self.proc.poll() is not None or
                      (self.socket_path.exists() and unix_socket_accepts(self.socket_path)),
                      timeout, interval=0.1)
        if not ok or self.proc.poll() is not None:
            rc = self.proc.poll()
            self.stop()
            why = (f"exited with status {rc} before listening" if rc is not None
                   else f"did not listen within {timeout:.0f} s (stopped)")
            raise RuntimeError(
                f"portcullis {why} on {self.socket_path}\ncommand: {' '.join(self.argv)}\nconfig:\n"
                f"{self.config_path.read_text()}\nlog tail:\n{tail(self.log_path)}")
        return self

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self, term_timeout: float = 15.0) -> Optional[int]:
        """SIGTERM by PID, wait up to term_timeout (libmilter needs ~5 s), then SIGKILL."""
        rc = None
        if self.proc is not None:
            if self.proc.poll() is None:
                try:
                    self.proc.send_signal(signal.SIGTERM)
                except ProcessLookupError:
                    pass
                try:
                    self.proc.wait(term_timeout)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait(5)
            rc = self.proc.returncode
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None
        return rc

    # -- log access ---------------------------------------------------------------------------

    def log_lines(self) -> list[str]:
        try:
            return self.log_path.read_text(errors="replace").splitlines()
        except FileNotFoundError:
            return []

    def decision_lines(self, since: int = 0) -> list[str]:
        return [l for l in self.log_lines()[since:] if is_decision_line(l)]

    def decisions(self, since: int = 0) -> list[dict]:
        return [parse_kv(l) for l in self.decision_lines(since)]

    def mark(self) -> int:
        """The current number of log lines; pass to decision_lines(since=...)."""
        return len(self.log_lines())

    def settle(self, quiet: float = 0.3, timeout: float = 3.0):
        """Wait until the log has not grown for `quiet` seconds (late lines, e.g. at close)."""
        deadline = time.monotonic() + timeout
        last = -1
        stable_since = time.monotonic()
        while time.monotonic() < deadline:
            try:
                size = self.log_path.stat().st_size
            except FileNotFoundError:
                size = 0
            if size != last:
                last, stable_since = size, time.monotonic()
            elif time.monotonic() - stable_since >= quiet:
                return
            time.sleep(0.05)


class DaemonPool:
    """At most one running daemon on one socket. ensure(config) reuses the running daemon when
    the config text is the same, else stops it (about 5 s: libmilter) and starts a new one.
    Test classes with identical configs therefore share a daemon."""

    def __init__(self, root: Path, socket_path: Path):
        self.root = Path(root)
        self.socket_path = Path(socket_path)
        self.current: Optional[Daemon] = None
        self._text: Optional[str] = None
        self._n = 0
        atexit.register(self.stop)

    def ensure(self, config: dict | str) -> Daemon:
        text = config if isinstance(config, str) else to_yaml(config) + "\n"
        if self.current is not None and self.current.running() and self._text == text:
            return self.current
        self.stop()
        self._n += 1
        d = Daemon(self.root / f"daemon-{self._n}", self.socket_path, text, name="portcullis")
        self.current, self._text = d, text
        return d.start()

    def stop(self):
        if self.current is not None:
            self.current.stop()
        self.current, self._text = None, None


# ----------------------------------------------------------------------------------------------
# swaks


@dataclasses.dataclass
class SwaksResult:
    argv: list
    returncode: int
    transcript: str

    def lines(self) -> list[str]:
        return self.transcript.splitlines()

    def reply_to(self, command: str) -> "Reply":
        """The server's reply to the LAST client line starting with `command` (e.g. "MAIL",
        "RCPT", "DATA", "XCLIENT", "EHLO"). For DATA the final reply after the message body
        (the one to ".") is returned; the 354 is skipped."""
        lines = self.lines()
        idx = None
        for i, l in enumerate(lines):
            if l.startswith(" -> ") or l.startswith(" ~> "):
                if l[4:].upper().startswith(command.upper()):
                    idx = i
        if idx is None:
            return Reply(None, [], False, missing=True)
        j = idx + 1
        reply = self._collect(lines, j)
        if command.upper().startswith("DATA") and reply.code == 354:
            # skip the message lines swaks echoes (" -> ..."), then take the next reply
            k = j + len(reply.lines)
            while k < len(lines) and not _is_server_line(lines[k]):
                k += 1
            reply = self._collect(lines, k)
        return reply

    def replies_to(self, command: str) -> list["Reply"]:
        """Replies to EVERY client line starting with `command` (e.g. each RCPT)."""
        lines = self.lines()
        out = []
        for i, l in enumerate(lines):
            if (l.startswith(" -> ") or l.startswith(" ~> ")) and \
                    l[4:].upper().startswith(command.upper()):
                out.append(self._collect(lines, i + 1))
        return out

    @staticmethod
    def _collect(lines: list[str], j: int) -> "Reply":
        got = []
        ok = True
        while j < len(lines) and _is_server_line(lines[j]):
            marker, text = lines[j][:3], lines[j][4:]
            if marker == "<**":
                ok = False
            got.append(text.strip())
            j += 1
            # multi-line reply: "550-5.7.1 ..." continues, "550 5.7.1 ..." ends
            if len(text.strip()) >= 4 and text.strip()[3] == " ":
                break
        if not got:
            return Reply(None, [], False, missing=True)
        try:
            code = int(got[0][:3])
        except ValueError:
            code = None
        return Reply(code, got, ok)

    def final_reply(self) -> "Reply":
        """The last reply in the transcript that is not to QUIT."""
        lines = self.lines()
        qi = None
        for i, l in enumerate(lines):
            if l.startswith(" -> QUIT"):
                qi = i
        end = qi if qi is not None else len(lines)
        k = end - 1
        while k >= 0 and not _is_server_line(lines[k]):
            k -= 1
        while k > 0 and _is_server_line(lines[k - 1]):
            k -= 1
        return self._collect(lines, k) if k >= 0 else Reply(None, [], False, missing=True)


def _is_server_line(line: str) -> bool:
    return line[:4] in ("<-  ", "<~  ", "<** ", "<~* ") or line[:3] in ("<- ", "<~ ", "<**", "<~*")


@dataclasses.dataclass
class Reply:
    code: Optional[int]
    lines: list
    ok: bool  # swaks marked it as expected (<- / <~), not as a failure (<**)
    missing: bool = False

    @property
    def text(self) -> str:
        """All lines joined with "\\n", e.g. "553 5.7.1 sorry, ..."."""
        return "\n".join(self.lines)

    def __str__(self):
        return self.text if not self.missing else "<no reply>"


def swaks(port: int, sender: str, rcpts: Sequence[str] | str, helo: str = "client.example.test",
          body: str = "e2e test message", xclient: Optional[str] = None,
          extra: Iterable[str] = (), timeout: float = 60.0, server: str = "127.0.0.1") -> SwaksResult:
    if isinstance(rcpts, str):
        rcpts = [rcpts]
    argv = ["swaks", "--server", f"{server}:{port}", "--from", sender]
    # swaks 20201014 keeps only the LAST of several --to options; a comma list gives one RCPT each
    argv += ["--to", ",".join(rcpts)]
    argv += ["--helo", helo, "--body", body, "--timeout", "30", "--hide-informational"]
    if xclient:
        argv += ["--xclient", xclient]
    argv += list(extra)
    p = subprocess.run(argv, capture_output=True, text=True, timeout=timeout,
                       stdin=subprocess.DEVNULL)
    return SwaksResult(argv, p.returncode, p.stdout + p.stderr)


def xclient_unresolved(addr: str) -> str:
    """An XCLIENT argument for a client without reverse DNS (MTA-NOTES §9)."""
    return f"ADDR={addr} NAME=[UNAVAILABLE] REVERSE_NAME=[UNAVAILABLE]"


# ----------------------------------------------------------------------------------------------
# `portcullis check` (offline evaluation of one envelope)


@dataclasses.dataclass
class CheckResult:
    argv: list
    returncode: int
    stdout: str
    stderr: str
    json: Optional[dict]

    @property
    def decision(self) -> Optional[dict]:
        return None if self.json is None else self.json.get("decision")


def portcullis_check(config_path: Path, client_ip: str, helo: str, sender: str,
                     rcpt: str, binary: Optional[Path] = None, timeout: float = 30) -> CheckResult:
    argv = [str(binary or portcullis_bin()), "check", "--config", str(config_path),
            "--client-ip", client_ip, "--helo", helo, "--from", sender, "--rcpt", rcpt,
            "--format", "json"]
    p = subprocess.run(argv, capture_output=True, text=True, timeout=timeout,
                       stdin=subprocess.DEVNULL)
    try:
        doc = json.loads(p.stdout)
    except ValueError:
        doc = None
    return CheckResult(argv, p.returncode, p.stdout, p.stderr, doc)
