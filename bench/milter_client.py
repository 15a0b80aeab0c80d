"""A minimal MTA side of the milter protocol (version 6), for benchmarks: connect, HELO, MAIL,
RCPT, then quit, timing each reply. Python standard library only."""

from __future__ import annotations

import socket
import struct
import time


class MilterClient:
    def __init__(self, path: str, timeout: float = 30.0):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        self.sock.connect(path)
        self._send(b"O", struct.pack("!III", 6, 0x1FF, 0x1FFFFF))
        self._read()  # the milter's own options

    def _send(self, command: bytes, data: bytes = b""):
        self.sock.sendall(struct.pack("!I", len(data) + 1) + command + data)

    def _read_exact(self, n: int) -> bytes:
        out = b""
        while len(out) < n:
            chunk = self.sock.recv(n - len(out))
            if not chunk:
                raise ConnectionError("milter closed the connection")
            out += chunk
        return out

    def _read(self) -> tuple[str, bytes]:
        length = struct.unpack("!I", self._read_exact(4))[0]
        body = self._read_exact(length)
        return chr(body[0]), body[1:]

    def _ask(self, command: bytes, data: bytes) -> tuple[str, float]:
        start = time.monotonic()
        self._send(command, data)
        while True:
            code, body = self._read()
            if code in "hmp":  # header changes and progress come before the answer
                continue
            reply = code if code != "y" else body.rstrip(b"\0").decode("ascii", "replace")
            return reply, time.monotonic() - start

    def connect(self, ip: str, name: str = "[unknown]") -> tuple[str, float]:
        family = b"6" if ":" in ip else b"4"
        return self._ask(b"C", name.encode() + b"\0" + family + struct.pack("!H", 25) + ip.encode() + b"\0")

    def helo(self, name: str) -> tuple[str, float]:
        return self._ask(b"H", name.encode() + b"\0")

    def mail(self, sender: str) -> tuple[str, float]:
        return self._ask(b"M", f"<{sender}>".encode() + b"\0")

    def rcpt(self, rcpt: str) -> tuple[str, float]:
        return self._ask(b"R", f"<{rcpt}>".encode() + b"\0")

    def close(self):
        try:
            self._send(b"Q")
        finally:
            self.sock.close()
