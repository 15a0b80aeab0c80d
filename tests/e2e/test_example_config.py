"""`make run`'s configuration: the daemon on examples/portcullis.yml with the embedded defaults.

Proves the README's promise on this machine: with the example file, the daemon listens on
/run/portcullis/portcullis.sock within seconds, the socket has mode 0660 and group postfix, the
process runs as user portcullis after binding, and SIGTERM stops it and removes the socket.
"""

import grp
import os
import pwd
import signal
import stat
import subprocess
import tempfile
import unittest
from pathlib import Path

from harness import REPO_ROOT, portcullis_bin, unix_socket_accepts, wait_for

SOCKET = Path("/run/portcullis/portcullis.sock")


class ExampleConfigTest(unittest.TestCase):
    def test_example_config_listens_as_documented(self):
        if unix_socket_accepts(SOCKET):
            self.skipTest(f"another daemon already listens on {SOCKET}")
        subprocess.run(["make", "--no-print-directory", "users"], cwd=REPO_ROOT, check=True)
        log = tempfile.NamedTemporaryFile(prefix="pc-example-", suffix=".log", delete=False)
        self.addCleanup(os.unlink, log.name)
        process = subprocess.Popen(
            [str(portcullis_bin()), "run", "--foreground", "--config", str(REPO_ROOT / "examples/portcullis.yml")],
            stdout=log, stderr=log, cwd=REPO_ROOT)

        def stop():
            if process.poll() is None:
                process.kill()
                process.wait()
        self.addCleanup(stop)

        self.assertTrue(wait_for(lambda: unix_socket_accepts(SOCKET), 10.0),
                        "the daemon did not listen within 10 s:\n" + Path(log.name).read_text())
        info = os.stat(SOCKET)
        self.assertEqual(stat.S_IMODE(info.st_mode), 0o660)
        self.assertEqual(grp.getgrgid(info.st_gid).gr_name, "postfix")
        uid_line = next(l for l in Path(f"/proc/{process.pid}/status").read_text().splitlines() if l.startswith("Uid:"))
        self.assertEqual(int(uid_line.split()[1]), pwd.getpwnam("portcullis").pw_uid, "did not switch to user portcullis")

        process.send_signal(signal.SIGTERM)
        self.assertEqual(process.wait(timeout=20), 0, Path(log.name).read_text())
        self.assertFalse(SOCKET.exists(), "the socket file was left behind")
        self.assertIn("notice listening", Path(log.name).read_text())


if __name__ == "__main__":
    unittest.main()
