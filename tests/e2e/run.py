#!/usr/bin/env python3
"""Run the Portcullis end-to-end tests (real Postfix + swaks + the daemon).

    python3 tests/e2e/run.py                       # everything; exit 0 iff all pass
    python3 tests/e2e/run.py test_postfix.EnforceTest   # selected tests (unittest names)
    python3 tests/e2e/run.py -k denied             # unittest -k patterns
    PORTCULLIS_BIN=.build/release/portcullis python3 tests/e2e/run.py
    PORTCULLIS_E2E_KEEP=1 ...                      # keep the Postfix temp dir (logs) for a look

Needs root, postfix, postconf and swaks (Debian: apt-get install postfix swaks). Only loopback
is used. Every process started is stopped again by PID.
"""

import argparse
import os
import shutil
import signal
import sys
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))


def preflight() -> list[str]:
    problems = []
    if os.geteuid() != 0:
        problems.append("must run as root (a private Postfix instance is started with postfix -c)")
    for tool in ("postfix", "postconf", "swaks"):
        if shutil.which(tool) is None and not os.path.exists(f"/usr/sbin/{tool}"):
            problems.append(f"{tool} not found (apt-get install postfix swaks)")
    return problems


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("tests", nargs="*", help="unittest names, e.g. test_postfix.EnforceTest")
    ap.add_argument("-k", dest="patterns", action="append", default=[],
                    help="only run tests matching this substring/pattern (repeatable)")
    ap.add_argument("-f", "--failfast", action="store_true")
    ap.add_argument("-q", "--quiet", action="store_true")
    args = ap.parse_args()

    problems = preflight()
    if problems:
        for p in problems:
            print(f"e2e: {p}", file=sys.stderr)
        return 2
    # postfix lives in /usr/sbin, which a non-login root shell may lack
    if "/usr/sbin" not in os.environ.get("PATH", "").split(":"):
        os.environ["PATH"] = os.environ.get("PATH", "") + ":/usr/sbin:/sbin"

    # SIGTERM (a CI timeout, `kill`) must still stop Postfix and the daemon: turn it into
    # KeyboardInterrupt so that the atexit handlers of the fixtures run
    def _on_term(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")
    signal.signal(signal.SIGTERM, _on_term)

    sys.path.insert(0, HERE)
    from harness import portcullis_bin  # noqa: E402

    binary = portcullis_bin()
    print(f"e2e: portcullis binary: {binary}"
          f"{'' if binary.exists() else '  (MISSING: daemon tests will fail)'}", file=sys.stderr)

    loader = unittest.TestLoader()
    if args.patterns:
        loader.testNamePatterns = [p if "*" in p else f"*{p}*" for p in args.patterns]
    if args.tests:
        suite = loader.loadTestsFromNames(args.tests)
    else:
        suite = loader.discover(start_dir=HERE, pattern="test_*.py", top_level_dir=HERE)
    t0 = time.monotonic()
    result = unittest.TextTestRunner(verbosity=1 if args.quiet else 2,
                                     failfast=args.failfast).run(suite)
    print(f"e2e: {result.testsRun} tests in {time.monotonic() - t0:.1f} s, "
          f"{len(result.failures)} failures, {len(result.errors)} errors, "
          f"{len(result.skipped)} skipped", file=sys.stderr)
    return 0 if result.wasSuccessful() else 1


if __name__ == "__main__":
    sys.exit(main())
