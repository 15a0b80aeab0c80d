#!/usr/bin/env python3
"""A real authoritative DNS server (NSD) for the tests, on a free loopback port.

Python 3 standard library only. Nothing here ever talks to a DNS server other than 127.0.0.1.

    from nsd import NSDServer, query, DelayProxy
    with NSDServer() as ns:                       # serves tests/dns/zones/*.zone
        r = query(ns.port, "mx.example.test", "A")   # -> Response(rcode=0, answer=[...])
        r.values("A")                              # ['192.0.2.10']
        ns.stop(); ns.start()                      # same port again (the daemon's config names it)

    proxy = DelayProxy(ns.port, 0.2, "bl.example.test").start()   # delays answers under one zone
    proxy.port, proxy.forwarded, proxy.delayed

Run by hand (prints the forwarder line for a daemon config, stops on Ctrl-C / SIGTERM):

    python3 tests/dns/nsd.py [--port N] [--delay-zone bl.example.test --delay 0.2]

Facts this relies on (NSD 4.6.1, Debian 12):
- `nsd -d` stays in the foreground; with server-count 1 it still forks an xfrd process and one
  server process. They are in our own process group (start_new_session), so stop() signals the
  group we created (by its id), then waits for the main PID.
- `username: ""` and `chroot: ""` keep it root and unchrooted; `database: ""` means no nsd.db;
  every path (pid, xfrd state, zone list, log) lives in a private temp dir.
- NSD binds UDP and TCP on the same port: the free port is checked for both, and a start that
  loses the race for it ("can't bind") is retried on another port (first start only).
"""

from __future__ import annotations

import argparse
import atexit
import dataclasses
import ipaddress
import os
import random
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Optional

HERE = Path(__file__).resolve().parent
ZONES_DIR = HERE / "zones"

# ----------------------------------------------------------------------------------------------
# DNS wire format: a tiny query builder and response parser (RFC 1035, 3596)

TYPES = {"A": 1, "NS": 2, "CNAME": 5, "SOA": 6, "PTR": 12, "MX": 15, "TXT": 16, "AAAA": 28,
         "ANY": 255}
TYPE_NAMES = {v: k for k, v in TYPES.items()}
RCODES = {0: "NOERROR", 1: "FORMERR", 2: "SERVFAIL", 3: "NXDOMAIN", 4: "NOTIMP", 5: "REFUSED"}


def encode_name(name: str) -> bytes:
    out = b""
    for label in name.rstrip(".").split("."):
        if label:
            b = label.encode("ascii")
            if len(b) > 63:
                raise ValueError(f"label too long in {name!r}")
            out += bytes([len(b)]) + b
    return out + b"\x00"


def build_query(name: str, qtype: str | int, qid: Optional[int] = None, rd: bool = True) -> bytes:
    t = TYPES[qtype.upper()] if isinstance(qtype, str) else int(qtype)
    qid = random.randrange(65536) if qid is None else qid
    flags = 0x0100 if rd else 0
    return struct.pack("!HHHHHH", qid, flags, 1, 0, 0, 0) + encode_name(name) + struct.pack("!HH", t, 1)


def _read_name(msg: bytes, off: int) -> tuple[str, int]:
    labels, jumped, end, hops = [], False, off, 0
    while True:
        if off >= len(msg):
            raise ValueError("name runs past the message")
        n = msg[off]
        if n & 0xC0 == 0xC0:
            ptr = ((n & 0x3F) << 8) | msg[off + 1]
            if not jumped:
                end = off + 2
            jumped, off = True, ptr
            hops += 1
            if hops > 64:
                raise ValueError("compression loop")
            continue
        if n == 0:
            if not jumped:
                end = off + 1
            break
        labels.append(msg[off + 1: off + 1 + n].decode("ascii", "replace"))
        off += 1 + n
    return (".".join(labels) + ".") if labels else ".", end


@dataclasses.dataclass
class RR:
    name: str
    type: str
    ttl: int
    value: object  # str for A/AAAA/PTR/CNAME/NS, (pref, host) for MX, list[str] for TXT, ...

    def __str__(self):
        return f"{self.name} {self.ttl} {self.type} {self.value}"


def _parse_rdata(msg: bytes, t: int, off: int, rdlen: int):
    rd = msg[off: off + rdlen]
    if t == 1:
        return str(ipaddress.IPv4Address(rd))
    if t == 28:
        return str(ipaddress.IPv6Address(rd))
    if t in (2, 5, 12):
        return _read_name(msg, off)[0]
    if t == 15:
        pref = struct.unpack("!H", rd[:2])[0]
        return (pref, _read_name(msg, off + 2)[0])
    if t == 16:
        strings, i = [], 0
        while i < len(rd):
            n = rd[i]
            strings.append(rd[i + 1: i + 1 + n].decode("utf-8", "replace"))
            i += 1 + n
        return strings
    if t == 6:
        mname, o = _read_name(msg, off)
        rname, o = _read_name(msg, o)
        serial, refresh, retry, expire, minimum = struct.unpack("!IIIII", msg[o: o + 20])
        return (mname, rname, serial, refresh, retry, expire, minimum)
    return rd


@dataclasses.dataclass
class Response:
    id: int
    rcode: int
    aa: bool
    tc: bool
    question: tuple  # (name, type)
    answer: list
    authority: list
    additional: list

    @property
    def rcode_name(self) -> str:
        return RCODES.get(self.rcode, str(self.rcode))

    def values(self, rtype: str) -> list:
        """The values of the answer records of one type, e.g. values("A") -> ['192.0.2.10']."""
        return [rr.value for rr in self.answer if rr.type == rtype.upper()]

    def __str__(self):
        lines = [f"{self.rcode_name} aa={self.aa} q={self.question}"]
        lines += [f"  AN {rr}" for rr in self.answer]
        lines += [f"  NS {rr}" for rr in self.authority]
        return "\n".join(lines)


def parse_response(msg: bytes) -> Response:
    if len(msg) < 12:
        raise ValueError("short DNS message")
    qid, flags, qd, an, ns, ar = struct.unpack("!HHHHHH", msg[:12])
    off = 12
    question = ("", "")
    for _ in range(qd):
        name, off = _read_name(msg, off)
        t, _c = struct.unpack("!HH", msg[off: off + 4])
        off += 4
        question = (name, TYPE_NAMES.get(t, str(t)))
    sections = []
    for count in (an, ns, ar):
        rrs = []
        for _ in range(count):
            name, off = _read_name(msg, off)
            t, _c, ttl, rdlen = struct.unpack("!HHIH", msg[off: off + 10])
            off += 10
            if t == 41:  # OPT
                off += rdlen
                continue
            rrs.append(RR(name, TYPE_NAMES.get(t, str(t)), ttl, _parse_rdata(msg, t, off, rdlen)))
            off += rdlen
        sections.append(rrs)
    return Response(qid, flags & 0x000F, bool(flags & 0x0400), bool(flags & 0x0200), question,
                    *sections)


def query_name(msg: bytes) -> str:
    """The (lower-case, absolute) question name of a DNS message."""
    return _read_name(msg, 12)[0].lower()


def query(port: int, name: str, qtype: str = "A", host: str = "127.0.0.1",
          timeout: float = 2.0, tcp: bool = False) -> Response:
    """Ask host:port (loopback only) one question; raises OSError/TimeoutError on no answer."""
    if not ipaddress.ip_address(host).is_loopback:
        raise ValueError("tests query loopback DNS servers only")
    q = build_query(name, qtype)
    qid = struct.unpack("!H", q[:2])[0]
    if tcp:
        with socket.create_connection((host, port), timeout=timeout) as s:
            s.sendall(struct.pack("!H", len(q)) + q)
            hdr = _recv_exact(s, 2)
            msg = _recv_exact(s, struct.unpack("!H", hdr)[0])
        return parse_response(msg)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(timeout)
        s.connect((host, port))
        s.send(q)
        deadline = time.monotonic() + timeout
        while True:
            s.settimeout(max(0.01, deadline - time.monotonic()))
            msg = s.recv(65535)  # raises TimeoutError / ConnectionRefusedError
            if len(msg) >= 2 and struct.unpack("!H", msg[:2])[0] == qid:
                return parse_response(msg)


def _recv_exact(s: socket.socket, n: int) -> bytes:
    buf = b""
    while len(buf) < n:
        chunk = s.recv(n - len(buf))
        if not chunk:
            raise ConnectionError("connection closed")
        buf += chunk
    return buf


# ----------------------------------------------------------------------------------------------
# process helpers


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            return f.read().rsplit(b")", 1)[1].split()[0] != b"Z"
    except (FileNotFoundError, IndexError, ProcessLookupError):
        return False


def _group_members(pgid: int) -> list[int]:
    out = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as f:
                fields = f.read().rsplit(b")", 1)[1].split()
            # fields: state ppid pgrp ...
            if int(fields[2]) == pgid and fields[0] != b"Z":
                out.append(int(entry))
        except (FileNotFoundError, IndexError, ValueError, ProcessLookupError):
            continue
    return out


def free_udp_tcp_port() -> int:
    """A port on 127.0.0.1 free for both UDP and TCP right now."""
    for _ in range(50):
        u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            u.bind(("127.0.0.1", 0))
            port = u.getsockname()[1]
            t = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            try:
                t.bind(("127.0.0.1", port))
                return port
            except OSError:
                continue
            finally:
                t.close()
        finally:
            u.close()
    raise RuntimeError("no free UDP+TCP port on 127.0.0.1")


def _port_free(port: int) -> bool:
    for kind in (socket.SOCK_DGRAM, socket.SOCK_STREAM):
        s = socket.socket(socket.AF_INET, kind)
        try:
            if kind == socket.SOCK_STREAM:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        finally:
            s.close()
    return True


# ----------------------------------------------------------------------------------------------
# NSD


class NSDServer:
    """NSD serving every `*.zone` file of zones_dir (file name = zone name + ".zone") on
    127.0.0.1:<port>. start() / stop() may be called again: a restart keeps the port (the
    daemon's config names it)."""

    def __init__(self, zones_dir: Path | str = ZONES_DIR, port: Optional[int] = None,
                 binary: str = "nsd", verbosity: int = 1):
        self.zones_dir = Path(zones_dir).resolve()
        self.zones = sorted(p.name[: -len(".zone")] for p in self.zones_dir.glob("*.zone"))
        if not self.zones:
            raise FileNotFoundError(f"no *.zone files in {self.zones_dir}")
        self.fixed_port = port
        self.port = port or 0
        self.binary = shutil.which(binary) or (f"/usr/sbin/{binary}" if os.path.exists(
            f"/usr/sbin/{binary}") else binary)
        self.verbosity = verbosity
        self.root = Path(tempfile.mkdtemp(prefix="pcx-nsd-"))
        self.conf_path = self.root / "nsd.conf"
        self.log_path = self.root / "nsd.log"
        self.proc: Optional[subprocess.Popen] = None
        self._out = None
        self._ever_started = False
        atexit.register(self.close)

    @property
    def forwarder(self) -> str:
        """The forwarder address as the daemon's config writes it."""
        return f"127.0.0.1@{self.port}"

    def conf_text(self) -> str:
        r = self.root
        lines = [
            "# written by tests/dns/nsd.py",
            "server:",
            "    ip-address: 127.0.0.1",
            f"    port: {self.port}",
            "    do-ip4: yes",
            "    do-ip6: no",
            '    username: ""',
            '    chroot: ""',
            f'    zonesdir: "{self.zones_dir}"',
            f'    pidfile: "{r / "nsd.pid"}"',
            f'    xfrdfile: "{r / "xfrd.state"}"',
            f'    xfrdir: "{r}"',
            f'    zonelistfile: "{r / "zone.list"}"',
            '    database: ""',
            f'    logfile: "{self.log_path}"',
            f"    verbosity: {self.verbosity}",
            "    server-count: 1",
            "    reuseport: no",
            "    zonefiles-write: 0",
            "    hide-version: yes",
            "    round-robin: no",
            "",
            "remote-control:",
            "    control-enable: no",
            "",
        ]
        for z in self.zones:
            lines += ["zone:", f"    name: {z}", f'    zonefile: "{z}.zone"', ""]
        return "\n".join(lines)

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def start(self, timeout: float = 15.0) -> "NSDServer":
        if self.running():
            return self
        attempts = 1 if (self.fixed_port or self._ever_started) else 3
        last_err = ""
        for attempt in range(attempts):
            if not (self.fixed_port or self._ever_started):
                self.port = free_udp_tcp_port()
            elif not wait_port_free(self.port, 5.0):
                raise RuntimeError(f"port {self.port} is in use: cannot restart NSD on it")
            self.conf_path.write_text(self.conf_text())
            # clean leftovers of an earlier run (state of a killed xfrd)
            for f in ("nsd.pid", "xfrd.state", "zone.list"):
                try:
                    (self.root / f).unlink()
                except FileNotFoundError:
                    pass
            self._out = open(self.log_path, "ab")
            self.proc = subprocess.Popen([self.binary, "-d", "-c", str(self.conf_path)],
                                         stdin=subprocess.DEVNULL, stdout=self._out,
                                         stderr=self._out, cwd=str(self.root),
                                         start_new_session=True)
            if self._wait_ready(timeout):
                self._ever_started = True
                return self
            last_err = self.tail()
            self.stop()
            if "bind" not in last_err and "in use" not in last_err:
                break
        raise RuntimeError(f"nsd did not answer on 127.0.0.1:{self.port}\n"
                           f"command: {self.binary} -d -c {self.conf_path}\nlog:\n{last_err}")

    def _wait_ready(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                return False
            try:
                # every zone must be loaded, not only the first one
                if all(query(self.port, z, "SOA", timeout=0.3).rcode == 0 for z in self.zones):
                    return True
            except OSError:
                pass
            time.sleep(0.05)
        return False

    def stop(self, timeout: float = 10.0) -> Optional[int]:
        """SIGTERM to NSD's main PID (it stops its children), wait; then SIGKILL whatever is
        left of the process group we created. Returns the exit status."""
        rc = None
        if self.proc is not None:
            pid = self.proc.pid
            if self.proc.poll() is None:
                try:
                    os.kill(pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
                try:
                    self.proc.wait(timeout)
                except subprocess.TimeoutExpired:
                    try:
                        os.kill(pid, signal.SIGKILL)
                    except ProcessLookupError:
                        pass
                    self.proc.wait(5)
            rc = self.proc.returncode
            # children (xfrd, server) share the group whose id is the main PID
            deadline = time.monotonic() + 5
            while _group_members(pid) and time.monotonic() < deadline:
                time.sleep(0.05)
            for p in _group_members(pid):
                try:
                    os.kill(p, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            self.proc = None
        if self._out is not None:
            self._out.close()
            self._out = None
        return rc

    def close(self):
        """stop() and remove the temp dir (kept when $PORTCULLIS_E2E_KEEP is set)."""
        self.stop()
        if not os.environ.get("PORTCULLIS_E2E_KEEP"):
            shutil.rmtree(self.root, ignore_errors=True)

    def tail(self, n: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])
        except FileNotFoundError:
            return "(no log)"

    def __enter__(self) -> "NSDServer":
        return self.start()

    def __exit__(self, *exc):
        self.close()


def wait_port_free(port: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while True:
        if _port_free(port):
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.1)


# ----------------------------------------------------------------------------------------------
# a delaying UDP proxy (for the benchmark and timeout tests)


class DelayProxy:
    """UDP forwarder on 127.0.0.1:<free port> to 127.0.0.1:upstream_port. Answers for names at or
    under zone_suffix are held back delay_s seconds; everything else passes at once.
    Counters: forwarded (all queries sent upstream), delayed, per_name (name -> count).
    delay_s may be changed while it runs; drop=True swallows the delayed queries instead
    (a dead list server)."""

    def __init__(self, upstream_port: int, delay_s: float, zone_suffix: str,
                 drop: bool = False):
        self.upstream_port = upstream_port
        self.delay_s = delay_s
        self.suffix = zone_suffix.lower().rstrip(".") + "."
        self.drop = drop
        self.port = 0
        self.forwarded = 0
        self.delayed = 0
        self.per_name: dict[str, int] = {}
        self._lock = threading.Lock()
        self._sock: Optional[socket.socket] = None
        self._thread: Optional[threading.Thread] = None
        self._stopping = threading.Event()
        atexit.register(self.stop)

    def _matches(self, name: str) -> bool:
        return name == self.suffix or name.endswith("." + self.suffix)

    def start(self) -> "DelayProxy":
        self._stopping.clear()
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._sock.bind(("127.0.0.1", self.port or 0))
        self.port = self._sock.getsockname()[1]
        self._sock.settimeout(0.2)
        self._thread = threading.Thread(target=self._loop, name="DelayProxy", daemon=True)
        self._thread.start()
        return self

    def reset_counts(self):
        with self._lock:
            self.forwarded, self.delayed, self.per_name = 0, 0, {}

    def _loop(self):
        while not self._stopping.is_set():
            try:
                data, client = self._sock.recvfrom(65535)
            except socket.timeout:
                continue
            except OSError:
                break
            threading.Thread(target=self._handle, args=(data, client), daemon=True).start()

    def _handle(self, data: bytes, client):
        try:
            name = query_name(data)
        except (ValueError, IndexError):
            return
        slow = self._matches(name)
        with self._lock:
            self.forwarded += 1
            self.per_name[name] = self.per_name.get(name, 0) + 1
            if slow:
                self.delayed += 1
        if slow and self.drop:
            return
        try:
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as up:
                up.settimeout(5)
                up.sendto(data, ("127.0.0.1", self.upstream_port))
                answer, _ = up.recvfrom(65535)
        except OSError:
            return
        if slow and self.delay_s > 0:
            if self._stopping.wait(self.delay_s):
                return
        try:
            self._sock.sendto(answer, client)
        except (OSError, AttributeError):
            pass

    def stop(self):
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(2)
            self._thread = None
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


# ----------------------------------------------------------------------------------------------


def main() -> int:
    ap = argparse.ArgumentParser(description="Run the test NSD in the foreground.")
    ap.add_argument("--zones", default=str(ZONES_DIR))
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--delay-zone", help="also start a DelayProxy delaying this zone")
    ap.add_argument("--delay", type=float, default=0.2)
    args = ap.parse_args()
    ns = NSDServer(args.zones, port=args.port or None).start()
    print(f"nsd: serving {', '.join(ns.zones)}\nforwarders: [\"{ns.forwarder}\"]", flush=True)
    proxy = None
    if args.delay_zone:
        proxy = DelayProxy(ns.port, args.delay, args.delay_zone).start()
        print(f"proxy: forwarders: [\"127.0.0.1@{proxy.port}\"] (delays {args.delay_zone} "
              f"by {args.delay} s)", flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *a: stop.set())
    signal.signal(signal.SIGINT, lambda *a: stop.set())
    stop.wait()
    if proxy:
        proxy.stop()
        print(f"proxy: forwarded {proxy.forwarded}, delayed {proxy.delayed}")
    ns.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
