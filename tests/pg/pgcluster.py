#!/usr/bin/env python3
"""A throw-away PostgreSQL cluster for tests (Python standard library only).

    pgcluster.py start [--dir DIR] [--watch-pid PID] [--env] [--ssl]
        initdb into DIR (default: a new temp dir), start the server on 127.0.0.1 and a free
        port, create a user with a random password that may create databases, and a database.
        Prints the URL (postgres://portcullis:PASSWORD@127.0.0.1:PORT/portcullis?sslmode=disable)
        on the first line and the cluster's directory on the second; with --env, prints
        shell assignments instead (PORTCULLIS_TEST_POSTGRES_URL=..., PORTCULLIS_TEST_POSTGRES_DIR=...).
        With --watch-pid, a detached watchdog stops the cluster and removes DIR when PID exits
        (however it exits: a test process that is killed leaves no server behind).
        With --ssl, the server also speaks TLS with a certificate for localhost and 127.0.0.1
        signed by a new CA in DIR/ca.crt, refuses TCP clients without TLS (pg_hba hostssl), and
        the URL says sslmode=require.
    pgcluster.py stop --dir DIR
        pg_ctl stop -m fast (immediate if that does not finish), then remove DIR.
    pgcluster.py pause --dir DIR / resume --dir DIR
        Stop the server and keep DIR / start it again on the same port (outage tests).
    pgcluster.py run -- COMMAND...
        start, run COMMAND with PORTCULLIS_TEST_POSTGRES_URL set, stop; exits with COMMAND's status.

Runs initdb and the server as user `postgres` when started as root (initdb refuses root), as the
current user otherwise. Binaries: $PG_BINDIR, else /usr/lib/postgresql/15/bin, else the newest
/usr/lib/postgresql/*/bin, else $PATH. Logs go to DIR/server.log.
"""

import argparse
import glob
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse

USER = "portcullis"
DATABASE = "portcullis"


def bindir():
    env = os.environ.get("PG_BINDIR")
    if env:
        return env
    if os.path.exists("/usr/lib/postgresql/15/bin/initdb"):
        return "/usr/lib/postgresql/15/bin"
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[4]) if p.split("/")[4].isdigit() else 0)
    if found:
        return os.path.dirname(found[-1])
    initdb = shutil.which("initdb")
    if initdb:
        return os.path.dirname(initdb)
    sys.exit("pgcluster: no PostgreSQL server binaries (initdb); install Debian's postgresql package or set PG_BINDIR")


def as_owner(cmd):
    """The command as the cluster's owner: postgres when we are root."""
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--"] + cmd
    return cmd


def run(cmd, **kw):
    result = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, text=True, **kw)
    if result.returncode != 0:
        sys.stderr.write(f"pgcluster: {' '.join(cmd)} failed ({result.returncode}):\n{result.stdout}{result.stderr}")
        raise SystemExit(1)
    return result.stdout


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def make_certificates(directory):
    """A CA and a server certificate for localhost / 127.0.0.1 (openssl), owned by the server's user."""
    def openssl(*args):
        run(["openssl", *args], cwd=directory)
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=pgcluster test CA",
            "-keyout", "ca.key", "-out", "ca.crt")
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=localhost", "-keyout", "server.key", "-out", "server.csr")
    with open(os.path.join(directory, "san.ext"), "w") as f:
        f.write("subjectAltName=DNS:localhost,IP:127.0.0.1\n")
    openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial", "-days", "2",
            "-extfile", "san.ext", "-out", "server.crt")
    for name in ("server.key", "server.crt", "ca.crt"):
        path = os.path.join(directory, name)
        if os.geteuid() == 0:
            shutil.chown(path, "postgres", "postgres")
        os.chmod(path, 0o600 if name.endswith(".key") else 0o644)
    os.chmod(os.path.join(directory, "ca.crt"), 0o644)


def start(directory=None, watch_pid=None, ssl=False):
    bins = bindir()
    directory = directory or tempfile.mkdtemp(prefix="pgcluster-")
    os.makedirs(directory, exist_ok=True)
    data = os.path.join(directory, "data")
    if os.geteuid() == 0:
        shutil.chown(directory, "postgres", "postgres")
    os.chmod(directory, 0o700)
    run(as_owner([f"{bins}/initdb", "-D", data, "-U", "postgres", "--auth-local=trust", "--auth-host=scram-sha-256",
                  "--no-sync", "-E", "UTF8", "--locale=C"]))
    log = os.path.join(directory, "server.log")
    if ssl:
        make_certificates(directory)
        # TCP clients must use TLS: a store that connects proves that it did.
        with open(os.path.join(data, "pg_hba.conf"), "w") as f:
            f.write("local all all trust\n"
                    "hostssl all all 127.0.0.1/32 scram-sha-256\n"
                    "hostssl all all ::1/128 scram-sha-256\n")
    # A port picked now may be taken before the server binds it (another test run): retry.
    for attempt in range(5):
        port = free_port()
        opts = (f"-p {port} -k {directory} -c listen_addresses=127.0.0.1 -c max_connections=300 "
                "-c fsync=off -c synchronous_commit=off -c full_page_writes=off")
        if ssl:
            opts += f" -c ssl=on -c ssl_cert_file={directory}/server.crt -c ssl_key_file={directory}/server.key"
        started = subprocess.run(as_owner([f"{bins}/pg_ctl", "start", "-w", "-t", "60", "-D", data, "-l", log, "-o", opts]),
                                 stdin=subprocess.DEVNULL, capture_output=True, text=True)
        if started.returncode == 0:
            with open(os.path.join(directory, "options"), "w") as f:
                f.write(opts)
            break
        if attempt == 4:
            sys.stderr.write(f"pgcluster: pg_ctl start failed:\n{started.stdout}{started.stderr}")
            try:
                sys.stderr.write(open(log).read()[-4000:])
            except OSError:
                pass
            remove(directory)
            raise SystemExit(1)
    # Ready for connections on TCP (pg_ctl -w already waited; this checks the address we print).
    deadline = time.monotonic() + 30
    while subprocess.run([f"{bins}/pg_isready", "-q", "-h", "127.0.0.1", "-p", str(port)],
                         stdin=subprocess.DEVNULL).returncode != 0:
        if time.monotonic() > deadline:
            stop(directory)
            sys.exit("pgcluster: the server did not become ready")
        time.sleep(0.1)
    # The password has characters that need percent-encoding, so the URL parsing is exercised too.
    password = "pw-" + secrets.token_hex(12) + "!*"
    sql = (f"CREATE ROLE {USER} LOGIN CREATEDB PASSWORD '{password}'; "
           f"CREATE DATABASE {DATABASE} OWNER {USER};")
    for statement in sql.split("; "):
        run(as_owner([f"{bins}/psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", directory, "-p", str(port), "-U", "postgres",
                      "-d", "postgres", "-c", statement.rstrip(";")]))
    url = f"postgres://{USER}:{urllib.parse.quote(password, safe='')}@127.0.0.1:{port}/{DATABASE}?sslmode={'require' if ssl else 'disable'}"
    if watch_pid:
        watchdog(directory, watch_pid)
    return url, directory


def watchdog(directory, pid):
    """A detached process that stops the cluster when `pid` exits."""
    if os.fork() != 0:
        return
    os.setsid()
    if os.fork() != 0:
        os._exit(0)
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)
    try:
        fd = os.pidfd_open(pid)
        import select
        select.select([fd], [], [])
    except (AttributeError, OSError):
        while True:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                break
            except PermissionError:
                pass
            time.sleep(0.5)
    try:
        stop(directory)
    finally:
        os._exit(0)


def remove(directory):
    shutil.rmtree(directory, ignore_errors=True)


def pause(directory):
    bins = bindir()
    run(as_owner([f"{bins}/pg_ctl", "stop", "-w", "-t", "30", "-D", os.path.join(directory, "data"), "-m", "fast"]))


def resume(directory):
    bins = bindir()
    with open(os.path.join(directory, "options")) as f:
        opts = f.read()
    run(as_owner([f"{bins}/pg_ctl", "start", "-w", "-t", "60", "-D", os.path.join(directory, "data"),
                  "-l", os.path.join(directory, "server.log"), "-o", opts]))


def stop(directory):
    bins = bindir()
    data = os.path.join(directory, "data")
    if os.path.exists(os.path.join(data, "postmaster.pid")):
        for mode in ("fast", "immediate"):
            result = subprocess.run(as_owner([f"{bins}/pg_ctl", "stop", "-w", "-t", "30", "-D", data, "-m", mode]),
                                    stdin=subprocess.DEVNULL, capture_output=True, text=True)
            if result.returncode == 0:
                break
    remove(directory)


def main():
    # Foundation's Process (a Swift test starting this script) leaves signals blocked in its
    # children; the server and pg_ctl must see SIGINT/SIGTERM/SIGQUIT, so unblock everything.
    signal.pthread_sigmask(signal.SIG_SETMASK, [])
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    p_start = sub.add_parser("start")
    p_start.add_argument("--dir")
    p_start.add_argument("--watch-pid", type=int)
    p_start.add_argument("--env", action="store_true")
    p_start.add_argument("--ssl", action="store_true")
    p_stop = sub.add_parser("stop")
    p_stop.add_argument("--dir", required=True)
    for name in ("pause", "resume"):
        sub.add_parser(name).add_argument("--dir", required=True)
    p_run = sub.add_parser("run")
    p_run.add_argument("cmd", nargs=argparse.REMAINDER)
    args = parser.parse_args()

    if args.command == "start":
        url, directory = start(args.dir, args.watch_pid, args.ssl)
        if args.env:
            print(f"PORTCULLIS_TEST_POSTGRES_URL='{url}'")
            print(f"PORTCULLIS_TEST_POSTGRES_DIR='{directory}'")
        else:
            print(url)
            print(directory)
    elif args.command == "stop":
        stop(args.dir)
    elif args.command == "pause":
        pause(args.dir)
    elif args.command == "resume":
        resume(args.dir)
    else:
        cmd = args.cmd[1:] if args.cmd[:1] == ["--"] else args.cmd
        if not cmd:
            sys.exit("pgcluster: run needs a command")
        url, directory = start()
        try:
            env = dict(os.environ, PORTCULLIS_TEST_POSTGRES_URL=url)
            child = subprocess.Popen(cmd, env=env)
            try:
                status = child.wait()
            except KeyboardInterrupt:
                child.send_signal(signal.SIGINT)
                status = child.wait()
        finally:
            stop(directory)
        sys.exit(status if status >= 0 else 128 - status)


if __name__ == "__main__":
    main()
