"""Self-tests of the test DNS server: every zone answers as the DNS tests expect, restarts keep
the port, and the delaying proxy delays and counts.

    python3 -m unittest discover -s tests/dns -v        # needs nsd (Debian package nsd)
"""

import os
import socket
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from nsd import (  # noqa: E402
    DelayProxy, NSDServer, build_query, parse_response, query, query_name,
)

NS: NSDServer = None  # type: ignore[assignment]

NOERROR, NXDOMAIN = 0, 3


def v6_reverse(addr: str, zone: str = "ip6.arpa") -> str:
    import ipaddress
    nibbles = ipaddress.ip_address(addr).exploded.replace(":", "")
    return ".".join(reversed(nibbles)) + "." + zone


def setUpModule():
    global NS
    NS = NSDServer()
    unittest.addModuleCleanup(NS.close)
    NS.start()


class Base(unittest.TestCase):
    def q(self, name, qtype="A"):
        r = query(NS.port, name, qtype)
        self.assertTrue(r.aa, f"authoritative answer expected\n{r}")
        return r

    def assertAnswer(self, name, qtype, expected):
        r = self.q(name, qtype)
        self.assertEqual(r.rcode, NOERROR, str(r))
        self.assertEqual(sorted(map(str, r.values(qtype))), sorted(map(str, expected)), str(r))
        return r

    def assertNXDOMAIN(self, name, qtype="A"):
        r = self.q(name, qtype)
        self.assertEqual(r.rcode, NXDOMAIN, str(r))
        self.assertEqual(r.answer, [], str(r))

    def assertNODATA(self, name, qtype):
        r = self.q(name, qtype)
        self.assertEqual(r.rcode, NOERROR, str(r))
        self.assertEqual(r.values(qtype), [], str(r))
        self.assertTrue(any(rr.type == "SOA" for rr in r.authority), f"SOA in authority\n{r}")


class WireTest(unittest.TestCase):
    def test_query_roundtrip_of_name(self):
        q = build_query("Mx.Example.Test", "A", qid=7)
        self.assertEqual(query_name(q), "mx.example.test.")
        self.assertEqual(q[:2], b"\x00\x07")

    def test_parse_compressed_answer(self):
        # header, question mx.example.test A, answer with a pointer to offset 12
        msg = (bytes.fromhex("1234 8500 0001 0001 0000 0000".replace(" ", ""))
               + b"\x02mx\x07example\x04test\x00" + b"\x00\x01\x00\x01"
               + b"\xc0\x0c" + b"\x00\x01\x00\x01" + b"\x00\x00\x00\x3c" + b"\x00\x04"
               + bytes([192, 0, 2, 10]))
        r = parse_response(msg)
        self.assertEqual((r.id, r.rcode, r.aa), (0x1234, 0, True))
        self.assertEqual(r.values("A"), ["192.0.2.10"])
        self.assertEqual(r.answer[0].name, "mx.example.test.")

    def test_refuses_non_loopback_server(self):
        with self.assertRaises(ValueError):
            query(53, "example.test", "A", host="192.0.2.1")


class ExampleZoneTest(Base):
    def test_mx_host(self):
        self.assertAnswer("mx.example.test", "A", ["192.0.2.10"])
        self.assertAnswer("mx.example.test", "AAAA", ["2001:db8::10"])

    def test_fcrdns_hosts(self):
        self.assertAnswer("good.example.test", "A", ["192.0.2.20"])
        self.assertAnswer("mismatch.example.test", "A", ["192.0.2.99"])
        self.assertAnswer("dyn-192-0-2-22.example.test", "A", ["192.0.2.22"])
        self.assertAnswer("helo.example.test", "A", ["192.0.2.20"])
        self.assertAnswer("listed.example.test", "A", ["192.0.2.29"])

    def test_sender_domains(self):
        self.assertAnswer("withmx.example.test", "MX", [(10, "mx.example.test.")])
        self.assertAnswer("aonly.example.test", "A", ["192.0.2.30"])
        self.assertNODATA("aonly.example.test", "MX")
        self.assertAnswer("spammy.example.test", "MX", [(10, "mx.example.test.")])

    def test_nomx_exists_without_mx_or_address(self):
        for t in ("MX", "A", "AAAA"):
            with self.subTest(t):
                self.assertNODATA("nomx.example.test", t)
        self.assertEqual(len(self.q("nomx.example.test", "TXT").values("TXT")), 1)

    def test_null_mx(self):
        self.assertAnswer("nullmx.example.test", "MX", [(0, ".")])

    def test_cname_chain(self):
        r = self.q("alias.example.test", "A")
        self.assertEqual([(rr.name, rr.type, rr.value) for rr in r.answer],
                         [("alias.example.test.", "CNAME", "alias2.example.test."),
                          ("alias2.example.test.", "A", "192.0.2.20")], str(r))

    def test_nxdomain(self):
        self.assertNXDOMAIN("nonexistent.example.test")
        self.assertNXDOMAIN("nonexistent.example.test", "MX")

    def test_tcp_answers_too(self):
        r = query(NS.port, "withmx.example.test", "MX", tcp=True)
        self.assertEqual(r.values("MX"), [(10, "mx.example.test.")])


class ReverseZoneTest(Base):
    def test_v4_ptrs(self):
        for last, name in ((10, "mx"), (20, "good"), (21, "mismatch"), (22, "dyn-192-0-2-22"),
                           (29, "listed")):
            with self.subTest(last):
                self.assertAnswer(f"{last}.2.0.192.in-addr.arpa", "PTR", [f"{name}.example.test."])

    def test_v4_no_ptr(self):
        for last in (23, 24, 66):
            with self.subTest(last):
                self.assertNXDOMAIN(f"{last}.2.0.192.in-addr.arpa", "PTR")

    def test_v6_ptr_and_forward_confirmation(self):
        self.assertAnswer(v6_reverse("2001:db8::10"), "PTR", ["mx.example.test."])
        self.assertIn("2001:db8::10", self.q("mx.example.test", "AAAA").values("AAAA"))

    def test_v6_no_ptr(self):
        self.assertNXDOMAIN(v6_reverse("2001:db8::23"), "PTR")


class ListZoneTest(Base):
    def test_dnsbl_test_points(self):
        self.assertAnswer("2.0.0.127.bl.example.test", "A", ["127.0.0.2"])
        self.assertNXDOMAIN("1.0.0.127.bl.example.test")  # RFC 5782: must not be listed
        self.assertAnswer(v6_reverse("::ffff:7f00:2", "bl.example.test"), "A", ["127.0.0.2"])
        self.assertNXDOMAIN(v6_reverse("::ffff:7f00:1", "bl.example.test"))

    def test_dnsbl_listed_clients(self):
        self.assertAnswer("24.2.0.192.bl.example.test", "A", ["127.0.0.2"])
        self.assertAnswer("24.2.0.192.bl.example.test", "TXT",
                          [["192.0.2.24 is listed, see https://bl.example.test/q?192.0.2.24"]])
        self.assertAnswer("25.2.0.192.bl.example.test", "A", ["127.0.0.4"])
        self.assertAnswer("26.2.0.192.bl.example.test", "A", ["127.0.0.2"])
        self.assertAnswer("28.2.0.192.bl.example.test", "A", ["127.0.0.2"])
        self.assertNODATA("28.2.0.192.bl.example.test", "TXT")
        self.assertAnswer("29.2.0.192.bl.example.test", "TXT", [["192.0.2.29 is listed"]])
        self.assertAnswer(v6_reverse("2001:db8::24", "bl.example.test"), "A", ["127.0.0.2"])
        self.assertAnswer(v6_reverse("2001:db8::24", "bl.example.test"), "TXT",
                          [["2001:db8::24 is listed"]])

    def test_dnsbl_unlisted_clients(self):
        for last in (20, 23, 27):
            with self.subTest(last):
                self.assertNXDOMAIN(f"{last}.2.0.192.bl.example.test")
        self.assertNXDOMAIN(v6_reverse("2001:db8::10", "bl.example.test"))

    def test_dnswl(self):
        self.assertAnswer("26.2.0.192.wl.example.test", "A", ["127.0.10.2"])
        self.assertAnswer("27.2.0.192.wl.example.test", "A", ["127.0.10.2"])
        self.assertNXDOMAIN("24.2.0.192.wl.example.test")
        self.assertNXDOMAIN("1.0.0.127.wl.example.test")

    def test_refused_zone_answers_127_255_255_254_to_everything(self):
        for name in ("2.0.0.127", "1.0.0.127", "24.2.0.192", "anything.at.all"):
            with self.subTest(name):
                self.assertAnswer(f"{name}.refused.example.test", "A", ["127.255.255.254"])

    def test_wildcard_zone_lists_even_the_127_0_0_1_test_point(self):
        for name in ("1.0.0.127", "2.0.0.127", "20.2.0.192", "x.y"):
            with self.subTest(name):
                self.assertAnswer(f"{name}.wild.example.test", "A", ["127.0.0.2"])

    def test_rhsbl(self):
        self.assertAnswer("spammy.example.test.rhsbl.example.test", "A", ["127.0.0.2"])
        self.assertAnswer("spammy.example.test.rhsbl.example.test", "TXT", [["spammy domain"]])
        self.assertAnswer("test.rhsbl.example.test", "A", ["127.0.0.2"])
        self.assertNXDOMAIN("invalid.rhsbl.example.test")
        self.assertNXDOMAIN("withmx.example.test.rhsbl.example.test")


class SpfZoneTest(Base):
    """spf.example.test: one SPF result per name (tests/e2e/test_spf.py)."""

    def spf(self, name):
        return [s for s in (" ".join(v) for v in self.q(name, "TXT").values("TXT"))
                if s == "v=spf1" or s.startswith("v=spf1 ")]

    def test_one_record_per_result(self):
        for name, record in (
                ("pass", "v=spf1 ip4:192.0.2.20 ip6:2001:db8::10 -all"),
                ("fail", "v=spf1 ip4:192.0.2.99 -all exp=explain.spf.example.test"),
                ("softfail", "v=spf1 ip4:192.0.2.99 ~all"),
                ("neutral", "v=spf1 ?all"),
                ("syntax", "v=spf1 ip4:not-an-ip -all"),
                ("include", "v=spf1 include:pass.spf.example.test -all"),
                ("redirect", "v=spf1 redirect=pass.spf.example.test"),
                ("a", "v=spf1 a mx -all"),
                ("temperror", "v=spf1 include:slow.timeout.example.test -all"),
                ("helo", "v=spf1 a -all")):
            with self.subTest(name):
                self.assertEqual(self.spf(f"{name}.spf.example.test"), [record])

    def test_explanation_text(self):
        self.assertAnswer("explain.spf.example.test", "TXT",
                          [["%{i} is not one of %{d}'s designated mail servers."]])

    def test_none_exists_without_spf(self):
        self.assertAnswer("none.spf.example.test", "A", ["192.0.2.20"])
        self.assertEqual(len(self.q("none.spf.example.test", "TXT").values("TXT")), 1)
        self.assertEqual(self.spf("none.spf.example.test"), [])
        self.assertNXDOMAIN("nonexistent.spf.example.test", "TXT")

    def test_two_records_for_permerror(self):
        self.assertEqual(len(self.spf("permerror.spf.example.test")), 2)

    def test_addresses_the_mechanisms_name(self):
        self.assertAnswer("a.spf.example.test", "A", ["192.0.2.20"])
        self.assertAnswer("a.spf.example.test", "MX", [(10, "mail.spf.example.test.")])
        self.assertAnswer("mail.spf.example.test", "A", ["192.0.2.22"])
        self.assertAnswer("helo.spf.example.test", "A", ["192.0.2.20"])

    def test_timeout_zone_answers_directly_but_not_through_the_dropping_proxy(self):
        self.assertEqual(self.spf("slow.timeout.example.test"), ["v=spf1 ip4:192.0.2.20 -all"])
        with DelayProxy(NS.port, 0.0, "timeout.example.test", drop=True) as p:
            with self.assertRaises(OSError):
                query(p.port, "slow.timeout.example.test", "TXT", timeout=0.5)
            r = query(p.port, "temperror.spf.example.test", "TXT")
            self.assertEqual(r.values("TXT"), [["v=spf1 include:slow.timeout.example.test -all"]])


class LifecycleTest(unittest.TestCase):
    """A second server of its own: stopped and started again on the same port."""

    def test_stop_then_start_keeps_port(self):
        ns = NSDServer()
        self.addCleanup(ns.close)
        ns.start()
        port, pid = ns.port, ns.proc.pid
        self.assertNotEqual(port, NS.port)
        self.assertEqual(query(port, "mx.example.test").values("A"), ["192.0.2.10"])
        ns.stop()
        self.assertFalse(ns.running())
        self.assertFalse(os.path.exists(f"/proc/{pid}"), "main nsd process gone")
        with self.assertRaises(OSError):  # refused (ICMP) or timeout
            query(port, "mx.example.test", timeout=0.5)
        ns.start()
        self.assertEqual(ns.port, port)
        self.assertEqual(query(port, "mx.example.test").values("A"), ["192.0.2.10"])

    def test_context_manager_and_forwarder_string(self):
        with NSDServer() as ns:
            self.assertEqual(ns.forwarder, f"127.0.0.1@{ns.port}")
            root = ns.root
            self.assertTrue(ns.running())
        self.assertFalse(ns.running())
        if not os.environ.get("PORTCULLIS_E2E_KEEP"):
            self.assertFalse(root.exists())


class DelayProxyTest(unittest.TestCase):
    def test_delays_only_the_zone_and_counts(self):
        with DelayProxy(NS.port, 0.3, "bl.example.test") as p:
            t0 = time.monotonic()
            r = query(p.port, "mx.example.test", timeout=3)
            fast = time.monotonic() - t0
            self.assertEqual(r.values("A"), ["192.0.2.10"])
            t0 = time.monotonic()
            r = query(p.port, "24.2.0.192.bl.example.test", timeout=3)
            slow = time.monotonic() - t0
            self.assertEqual(r.values("A"), ["127.0.0.2"])
            self.assertLess(fast, 0.2)
            self.assertGreaterEqual(slow, 0.3)
            self.assertLess(slow, 1.5)
            r = query(p.port, "bl.example.test", "SOA", timeout=3)  # the apex counts as "under"
            self.assertEqual(r.rcode, 0)
            self.assertEqual((p.forwarded, p.delayed), (3, 2))
            self.assertEqual(p.per_name.get("24.2.0.192.bl.example.test."), 1)
            p.reset_counts()
            self.assertEqual((p.forwarded, p.delayed), (0, 0))

    def test_parallel_queries_are_delayed_concurrently(self):
        import concurrent.futures
        with DelayProxy(NS.port, 0.4, "example.test") as p:
            t0 = time.monotonic()
            with concurrent.futures.ThreadPoolExecutor(10) as ex:
                rs = list(ex.map(lambda i: query(p.port, "good.example.test", timeout=3),
                                 range(10)))
            took = time.monotonic() - t0
            self.assertTrue(all(r.values("A") == ["192.0.2.20"] for r in rs))
            self.assertLess(took, 1.5, "10 queries in parallel, not one after another")
            self.assertEqual(p.forwarded, 10)

    def test_drop_mode_never_answers(self):
        with DelayProxy(NS.port, 0.0, "bl.example.test", drop=True) as p:
            with self.assertRaises(OSError):
                query(p.port, "24.2.0.192.bl.example.test", timeout=0.5)
            self.assertEqual(query(p.port, "mx.example.test").values("A"), ["192.0.2.10"])
            self.assertEqual(p.delayed, 1)


if __name__ == "__main__":
    unittest.main()
