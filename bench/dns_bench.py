#!/usr/bin/env python3
"""DNS benchmark: what the DNS checks cost one message, measured through the real daemon.

For one message with FCrDNS, three DNSBL zones and the HELO checks, it reports:
  1. the DNS queries sent upstream with a cold cache and with a warm cache (same client again):
     the warm count must be 0 (libunbound's cache);
  2. the connect-stage latency with three zones, one of them delayed by 200 ms: about 200 ms
     when the zones are asked in parallel, about the sum if they were not.

NSD serves tests/dns/zones on a free loopback port; a counting, delaying UDP proxy sits between
the daemon and NSD. Only 127.0.0.1 is used. Numbers, not assertions: this is not a test.

    python3 bench/dns_bench.py [--bin .build/release/portcullis]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT / "tests" / "dns"))
sys.path.insert(0, str(HERE))

from milter_client import MilterClient  # noqa: E402
from nsd import DelayProxy, NSDServer  # noqa: E402

DELAY = 0.2
ZONES = ["bl.example.test", "wl.example.test", "rhsbl.example.test"]  # the second one is delayed


def config(socket_path: Path, forwarder: str) -> str:
    zones = "\n".join(f"      - {{zone: {z}, weight: {-1 if z.startswith('wl') else 1}}}" for z in ZONES)
    return f"""
milter: {{socket: "unix:{socket_path}", socket_mode: "0666", socket_group: "", user: ""}}
log: {{level: warning}}
dns:
  mode: forwarders
  forwarders: ["{forwarder}"]
  timeout: 3s
  transparent_zones: [test., 2.0.192.in-addr.arpa., 8.b.d.0.1.0.0.2.ip6.arpa.]
checks:
  fcrdns: {{enabled: true, no_ptr: continue, unconfirmed: continue}}
  dnsbl:
    zones:
{zones}
  helo_address: {{enabled: true, mode: dry-run}}
  helo_fqdn: {{enabled: true}}
  helo_ours: {{enabled: true, names: [mx.ours.example]}}
"""


def transaction(path: str, ip: str) -> dict:
    client = MilterClient(path)
    try:
        connect, t_connect = client.connect(ip)
        helo, t_helo = client.helo("good.example.test")
        client.mail("sender@withmx.example.test")
        rcpt, t_rcpt = client.rcpt("user@example.test")
        return {"connect_ms": t_connect * 1000, "helo_ms": t_helo * 1000, "rcpt": rcpt}
    finally:
        client.close()


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default=str(ROOT / ".build" / "release" / "portcullis"))
    ap.add_argument("--rounds", type=int, default=10)
    args = ap.parse_args()

    work = Path(tempfile.mkdtemp(prefix="pc-bench-dns-"))
    nsd = NSDServer().start()
    proxy = DelayProxy(nsd.port, DELAY, ZONES[1]).start()
    socket_path = work / "portcullis.sock"
    (work / "portcullis.yml").write_text(config(socket_path, f"127.0.0.1@{proxy.port}"))
    log = open(work / "daemon.log", "w")
    daemon = subprocess.Popen([args.bin, "run", "--foreground", "--config", str(work / "portcullis.yml")],
                              stdout=log, stderr=log)
    try:
        for _ in range(200):
            if socket_path.exists():
                break
            time.sleep(0.05)
        else:
            print((work / "daemon.log").read_text(), file=sys.stderr)
            return 1

        # 1. Cold and warm cache, the same client twice.
        proxy.reset_counts()
        cold = transaction(str(socket_path), "192.0.2.20")
        cold_queries = proxy.forwarded
        proxy.reset_counts()
        warm = transaction(str(socket_path), "192.0.2.20")
        warm_queries = proxy.forwarded

        # 2. Connect-stage latency with a fresh (uncached) client each round: first with one
        #    zone delayed, then with all three delayed (sequential queries would take 3 x 200 ms).
        latencies = [transaction(str(socket_path), f"192.0.2.{100 + i}")["connect_ms"] for i in range(args.rounds)]
        proxy.suffix = "example.test."
        all_delayed = [transaction(str(socket_path), f"192.0.2.{150 + i}")["connect_ms"] for i in range(args.rounds)]

        report = {
            "dns_queries_cold": cold_queries,
            "dns_queries_warm": warm_queries,
            "connect_stage_ms_cold": round(cold["connect_ms"], 1),
            "connect_stage_ms_warm": round(warm["connect_ms"], 1),
            "zones": len(ZONES),
            "delayed_zone": ZONES[1],
            "delay_ms": DELAY * 1000,
            "connect_stage_ms_fresh_clients_median": round(statistics.median(latencies), 1),
            "connect_stage_ms_fresh_clients_max": round(max(latencies), 1),
            "connect_stage_ms_all_three_delayed_median": round(statistics.median(all_delayed), 1),
            "sequential_would_take_ms_at_least": round(3 * DELAY * 1000),
            "rounds": args.rounds,
        }
        print(json.dumps(report, indent=2))
        print(f"cold cache: {cold_queries} DNS queries; warm cache: {warm_queries} (expected 0)")
        print(f"connect stage with {len(ZONES)} zones, one delayed {DELAY * 1000:.0f} ms: "
              f"median {report['connect_stage_ms_fresh_clients_median']} ms "
              f"(parallel: about {DELAY * 1000:.0f} ms, not the sum)")
        print(f"connect stage with all {len(ZONES)} zones delayed {DELAY * 1000:.0f} ms: "
              f"median {report['connect_stage_ms_all_three_delayed_median']} ms "
              f"(sequential would be at least {3 * DELAY * 1000:.0f} ms)")
        return 0
    finally:
        daemon.send_signal(signal.SIGTERM)
        try:
            daemon.wait(timeout=15)
        except subprocess.TimeoutExpired:
            daemon.kill()
        proxy.stop()
        nsd.close()
        log.close()


if __name__ == "__main__":
    sys.exit(main())
