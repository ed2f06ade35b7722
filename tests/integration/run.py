#!/usr/bin/env python3
"""run.py: xferd's integration tests: xferd between sipp peers on loopback.

Each test starts its own xferd on free ports of 127.0.0.1 with a config of
its own, drives it with sipp (scenarios/*.xml or sipp's built-in uac/uas)
or with raw datagrams, checks the SIP messages both sides saw (sipp's
-trace_msg logs), then stops xferd with SIGTERM and requires exit status 0
and no "error" line in its log. Standard library only.

    run.py --xferd PATH [--only NAME[,NAME...]] [--list] [--keep]
           [--transport udp,tcp] [--sipp PATH]

Prints one line per test (PASS/FAIL name seconds; on failure the reason,
the tails of the logs and the kept directory; --keep keeps the directories
of passed tests too), then "integration: N passed, M failed"; exits 1 if
any test failed.

Transports: every test that makes sense over TCP is declared with
transports=("udp", "tcp"); its TCP variant is named "NAME[tcp]" and runs
when "tcp" is in --transport (the default: both).
"""

import argparse
import os
import random
import re
import signal
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import harness  # noqa: E402  (tests/lib, after the path above)
import sipmsg  # noqa: E402
from harness import LOOPBACK, TestFailure, check  # noqa: E402
from sipmsg import SipMsg  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
SCENARIOS = os.path.join(HERE, "scenarios")

# sipp's -t value per transport; "u1"/"t1": one socket for all calls.
SIPP_TRANSPORT = {"udp": "u1", "tcp": "t1"}
DEFAULT_TRANSPORTS = ("udp", "tcp")

TRUNK_NUMBERS = ("+14155550100", "+14155550101")
CALLER = "+14155551234"  # From user of the custom UAC scenarios
UNKNOWN_NUMBER = "+14155559999"


# ----------------------------------------------------------------- sipp

class Sipp(sipmsg.Sipp):
    """One sipp process of the test, in the foreground, bounded by -timeout
    and by a subprocess timeout; its logs go to the test's directory."""

    def __init__(self, ctx, name, scenario, port, calls, timeout, target=None,
                 service=None, rate=None, extra=()):
        args = sipmsg.sipp_command(
            ctx.sipp_exe, ctx.dir, name, scenario, SCENARIOS, port,
            ctx.ports.block(4),  # sipp binds media port and +2 (video)
            ctx.ports.one(), calls, timeout, SIPP_TRANSPORT[ctx.transport], target,
            traces=("msg", "err", "stat", "screen", "logs"))
        if service:
            args += ["-s", service]
        if rate:
            args += ["-r", str(rate), "-rp", "1000"]
        args += list(extra)
        super().__init__(name, args, ctx.dir, port, timeout)
        self.ctx, self.calls = ctx, calls

    def start(self):
        super().start()
        self.ctx.procs.append(self.proc)
        self.ctx.sipps.append(self)
        return self

    def wait_listening(self, limit=5.0):
        return super().wait_listening(self.ctx.transport, limit)

    def run(self):
        return self.start().wait()

    def expect_ok(self, calls=None):
        """sipp exit status 0, and every call of -m (or calls) successful."""
        calls = self.calls if calls is None else calls
        self.ctx.check_no_duplicates()  # the likelier root cause, if any
        st = self.stats()
        check(self.rc == 0, "%s: sipp exit status %s (0: all calls succeeded), stats %s"
              % (self.name, self.rc, st))
        check(st is not None, "%s: no statistics in %s" % (self.name, self.stat_csv))
        check(st == (calls, 0), "%s: %d successful, %d failed calls; expected %d successful"
              % (self.name, st[0], st[1], calls))

    def wait_for(self, pred, what, limit):
        """Until sipp's message log shows a message matching pred."""
        end = time.monotonic() + limit
        while time.monotonic() < end:
            if any(pred(m) for m in self.messages()):
                return
            if self.proc.poll() is not None:
                raise TestFailure("%s exited (%s) before %s" % (self.name, self.proc.returncode, what))
            time.sleep(0.05)
        raise TestFailure("%s: no %s within %.0f s" % (self.name, what, limit))


# ---------------------------------------------------------------- xferd

ERROR_LINE = re.compile(r"^\S+ error ")


class Xferd:
    """xferd on a config file of the test's directory."""

    def __init__(self, ctx, workers=1, trusted="127.0.0.0/8", numbers=TRUNK_NUMBERS,
                 engine=None, uas_port=None):
        self.ctx = ctx
        self.workers = workers
        # PORT, and PORT+1+i for worker i when workers > 1; a margin of one.
        self.port = ctx.ports.block(workers + 2)
        self.uas_port = uas_port or ctx.ports.one()
        self.gateway_port = ctx.ports.one()  # nothing listens: no test transfers
        self.engine = {
            "listen": "%s:%d" % (LOOPBACK, self.port),
            "workers": str(workers),
            "trusted": trusted,
            "transfer_timeout": "30",
            "drain_timeout": "2",
            "t1_ms": "100",
            "log_level": "info",
        }
        self.engine.update(engine or {})
        self.numbers = list(numbers)
        self.config = os.path.join(ctx.dir, "xferd.ini")
        self.log = os.path.join(ctx.dir, "xferd.log")
        self.proc = None
        self.rc = None
        self.sigterm_at = None

    @property
    def drain_timeout(self):
        return float(self.engine["drain_timeout"])

    @property
    def target(self):
        return "%s:%d" % (LOOPBACK, self.port)

    @property
    def trunk_uri(self):
        uri = "sip:agent@%s:%d" % (LOOPBACK, self.uas_port)
        return uri + (";transport=tcp" if self.ctx.transport == "tcp" else "")

    def sections(self, numbers=None):
        return {"engine": self.engine,
                "pstn": {"gateway": "sip:%s:%d" % (LOOPBACK, self.gateway_port),
                         "geo_allow": "1 44"},
                "trunk acme": {"domain": "acme.zt.example.net", "uri": self.trunk_uri,
                               "numbers": " ".join(numbers or self.numbers)}}

    def config_text(self, numbers=None):
        return harness.config_text(self.sections(numbers), "written by tests/integration/run.py")

    def write_config(self, numbers=None):
        harness.write_config(self.config, self.sections(numbers),
                             "written by tests/integration/run.py")

    def start(self):
        # The block is free when picked, but it lies in the ephemeral range:
        # another process's socket may take one of its ports before xferd
        # binds them. Then xferd says so and exits, and a new block is tried.
        for attempt in range(3):
            self.write_config()
            self.proc = harness.spawn([self.ctx.xferd_exe, "-c", self.config], self.log,
                                      cwd=self.ctx.dir)
            self.ctx.procs.append(self.proc)
            try:
                harness.wait_answering(self.proc, self.port)
                return self
            except harness.TestFailure:
                if (attempt == 2 or self.proc.poll() is None
                        or "Address already in use" not in harness.read_text(self.log)):
                    raise
            self.port = self.ctx.ports.block(self.workers + 2)
            self.engine["listen"] = "%s:%d" % (LOOPBACK, self.port)
        return self

    def alive(self):
        return self.proc.poll() is None

    def signal(self, sig):
        check(self.alive(), "xferd died (exit status %s)" % self.proc.returncode)
        if sig == signal.SIGTERM and self.sigterm_at is None:
            self.sigterm_at = time.monotonic()
        self.proc.send_signal(sig)

    def wait_exit(self, limit):
        rc = harness.wait_exit(self.proc, limit)
        if rc is not None:
            self.rc = rc
        return rc

    def log_lines(self):
        return harness.read_text(self.log).splitlines()

    def wait_log(self, pattern, limit):
        end = time.monotonic() + limit
        rx = re.compile(pattern)
        while time.monotonic() < end:
            if any(rx.search(l) for l in self.log_lines()):
                return True
            time.sleep(0.05)
        return False

    def finish(self):
        """The end of every test: xferd still running, no call left once
        every peer is done, drains on SIGTERM and exits 0 within
        drain_timeout, logged no error."""
        stopped_here = self.sigterm_at is None
        if stopped_here:
            check(self.alive(), "xferd died during the test (exit status %s)" % self.proc.returncode)
            self.signal(signal.SIGTERM)
        rc = self.wait_exit(max(0.0, self.sigterm_at + self.drain_timeout + 2 - time.monotonic()))
        check(rc is not None, "xferd still running %.0f s after SIGTERM (drain_timeout %g s)"
              % (time.monotonic() - self.sigterm_at, self.drain_timeout))
        check(rc == 0, "xferd exit status %s after SIGTERM (expected 0)" % rc)
        errors = [l for l in self.log_lines() if ERROR_LINE.match(l)]
        check(not errors, "xferd logged errors: %s" % errors[:3])
        leaks = [l for l in self.log_lines() if "drain timeout" in l]
        if stopped_here:
            leaks += [l for l in self.log_lines() if re.search(r"draining: [1-9]\d* calls? active", l)]
        check(not leaks, "calls still active in xferd after every peer was done (leaked): %s"
              % leaks[:1])


# ---------------------------------------------------------- raw sockets

class RawClient:
    """A socket of our own to xferd's port: send bytes, read SIP messages."""

    def __init__(self, port, transport="udp"):
        self.transport = transport
        kind = socket.SOCK_DGRAM if transport == "udp" else socket.SOCK_STREAM
        self.sock = socket.socket(socket.AF_INET, kind)
        self.sock.bind((LOOPBACK, 0))
        self.lport = self.sock.getsockname()[1]
        self.dest = (LOOPBACK, port)
        self.buf = b""
        if transport == "tcp":
            self.sock.settimeout(2.0)
            self.sock.connect(self.dest)

    def close(self):
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def send(self, data):
        if self.transport == "udp":
            self.sock.sendto(data, self.dest)
        else:
            self.sock.sendall(data)

    def recv(self, wait):
        """The next SIP message within wait seconds, or None."""
        end = time.monotonic() + wait
        while True:
            if self.transport == "tcp":
                msg = self._frame()
                if msg:
                    return msg
            left = end - time.monotonic()
            if left <= 0:
                return None
            self.sock.settimeout(left)
            try:
                data = self.sock.recv(65536)
            except socket.timeout:
                return None
            if self.transport == "udp":
                return SipMsg(data.decode("utf-8", "replace"), "received")
            if not data:
                return None
            self.buf += data

    def _frame(self):
        head, sep, rest = self.buf.partition(b"\r\n\r\n")
        if not sep:
            return None
        m = re.search(rb"(?im)^(?:content-length|l)\s*:\s*(\d+)", head)
        n = int(m.group(1)) if m else 0
        if len(rest) < n:
            return None
        self.buf = rest[n:]
        return SipMsg((head + sep + rest[:n]).decode("utf-8", "replace"), "received")

    def exchange(self, data, wait=2.0):
        """Sends data, returns the responses up to the first final one."""
        self.send(data)
        out = []
        end = time.monotonic() + wait
        while time.monotonic() < end:
            m = self.recv(end - time.monotonic())
            if m is None:
                break
            out.append(m)
            if not m.is_request and m.status >= 200:
                break
        return out


# ---------------------------------------------------------- test context

class Ctx:
    def __init__(self, name, transport, args, ports):
        self.name, self.transport = name, transport
        self.xferd_exe, self.sipp_exe = args.xferd, args.sipp
        self.ports = ports
        self.dir = harness.make_dir("it", name)
        self.procs, self.sipps = [], []
        self.xferd = None

    def start_xferd(self, **kw):
        self.xferd = Xferd(self, **kw).start()
        return self.xferd

    def sipp(self, name, scenario, calls=1, timeout=15, **kw):
        """A UAC (service given: it calls xferd) or a UAS (on the trunk's port)."""
        x = self.xferd
        if kw.get("service"):
            port = kw.pop("port", None) or self.ports.one()
            return Sipp(self, name, scenario, port, calls, timeout, target=x.target, **kw)
        return Sipp(self, name, scenario, x.uas_port, calls, timeout, **kw)

    def uas(self, scenario, calls=1, timeout=15, name="uas", **kw):
        return self.sipp(name, scenario, calls, timeout, **kw).start().wait_listening()

    def uac(self, scenario, service=TRUNK_NUMBERS[0], calls=1, timeout=15, name="uac", **kw):
        return self.sipp(name, scenario, calls, timeout, service=service, **kw)

    def check_no_duplicates(self):
        """No peer got the same request (Call-ID, branch, CSeq) from xferd
        twice within T1/10: that is a duplicate send, not a retransmission
        (Timer A/E start at T1). The margin is wide because only receive
        times are known: a peer that stalled for most of T1 reads a real
        retransmission right after the original."""
        if not self.xferd:
            return
        limit = float(self.xferd.engine["t1_ms"]) / 10000.0
        for s in self.sipps:
            seen = {}
            for m in s.messages():
                if m.direction != "received" or not m.is_request:
                    continue
                key = (m.call_id, m.branch, m.get("cseq"))
                t = m.stamp
                if key in seen and t - seen[key] < limit:
                    raise TestFailure(
                        "%s got %s twice from xferd %.2f ms apart (Call-ID %s, branch %s): "
                        "a duplicate send, not a retransmission (T1 = %s ms)"
                        % (s.name, m.method, (t - seen[key]) * 1000, m.call_id, m.branch,
                           self.xferd.engine["t1_ms"]))
                seen[key] = t

    def cleanup(self):
        for p in reversed(self.procs):
            try:
                harness.stop_process(p)
            except Exception:  # keep killing the others
                pass

    def failure_report(self):
        out = []
        if self.xferd:
            out.append("  --- xferd log (%s), last lines:" % self.xferd.log)
            out += ["    " + l for l in harness.tail(self.xferd.log, 25)]
        for s in self.sipps:
            out.append("  --- %s: %s" % (s.name, " ".join(s.args)))
            out.append("      exit status %s, stats (successful, failed) %s" % (s.rc, s.stats()))
            for path, n in ((s.err_log, 12), (s.out, 5)):
                lines = [l for l in harness.tail(path, n) if l.strip()]
                if lines:
                    out.append("      %s:" % os.path.basename(path))
                    out += ["        " + l[:300] for l in lines]
            msgs = s.messages()
            if msgs:
                out.append("      last messages of %s:" % os.path.basename(s.msg_log))
                out += ["        " + m.brief() for m in msgs[-6:]]
        return out


# ---------------------------------------------------------------- checks

def by_call(msgs):
    calls = {}
    for m in msgs:
        calls.setdefault(m.call_id, []).append(m)
    return calls


def check_relayed_calls(x, uac, uas, n, caller_user, via_ports=None):
    """The B2BUA checks of n caller-hangs-up calls, from both message logs:
    every call reached the endpoint once with its own Call-ID, tags and Via,
    the caller's number, Max-Forwards one less, the offer unchanged; the
    caller got 100 Trying; the ACK and BYE went across."""
    a_invites = {m.call_id: m for m in uac.sent(lambda m: m.method == "INVITE")}
    b_msgs = uas.received()
    b_invites = {}
    for m in b_msgs:
        if m.method == "INVITE" and not m.to_tag:
            b_invites.setdefault(m.call_id, m)
    check(len(a_invites) == n, "uac sent %d calls, expected %d" % (len(a_invites), n))
    check(len(b_invites) == n, "the endpoint got %d distinct calls (Call-IDs) for %d placed"
          % (len(b_invites), n))
    shared = set(a_invites) & set(b_invites)
    check(not shared, "Call-ID reused on the B leg (not a B2BUA): %s" % sorted(shared)[:2])
    a_tags = {m.from_tag for m in a_invites.values()}
    b_tags = {m.from_tag for m in b_invites.values()}
    check(not (a_tags & b_tags), "caller's From tag reused on the B leg: %s" % sorted(a_tags & b_tags)[:2])
    a_body = {m.body.strip() for m in a_invites.values()}
    b_by_call = by_call(b_msgs)
    seen_ports = set()
    for cid, inv in b_invites.items():
        vias = inv.vias()
        check(len(vias) == 1, "B-leg INVITE %s has %d Via headers (the caller's leaked?): %s"
              % (cid, len(vias), vias))
        hp = SipMsg.hostport_of_via(vias[0])
        host, _, port = hp.rpartition(":")
        check(host == LOOPBACK, "B-leg Via host %s, expected xferd's %s" % (hp, LOOPBACK))
        seen_ports.add(int(port))
        allowed = via_ports or {x.port}
        check(int(port) in allowed, "B-leg Via %s names none of xferd's ports %s" % (hp, sorted(allowed)))
        check(SipMsg.user_of(inv.get("from")) == caller_user,
              "B-leg From %r: caller's number %r not kept" % (inv.get("from"), caller_user))
        check(inv.ruri == x.trunk_uri, "B-leg Request-URI %s, expected the trunk's %s"
              % (inv.ruri, x.trunk_uri))
        check(inv.get("max-forwards") == "69", "B-leg Max-Forwards %r, expected 69 (70 - 1)"
              % inv.get("max-forwards"))
        check(inv.body.strip() in a_body, "SDP offer changed on the B leg:\n%s" % inv.body)
        acks = [m for m in b_by_call.get(cid, []) if m.method == "ACK"]
        byes = [m for m in b_by_call.get(cid, []) if m.method == "BYE"]
        check(acks, "B leg %s: the endpoint never got the ACK of its 200" % cid)
        check(byes, "B leg %s: the endpoint never got the caller's BYE" % cid)
        check(acks[0].to_tag and byes[0].to_tag, "B leg %s: ACK/BYE without the endpoint's To tag" % cid)
    if via_ports:
        check(seen_ports == set(via_ports), "B legs left from worker ports %s only, expected all of %s"
              % (sorted(seen_ports), sorted(via_ports)))
    a_rx = by_call(uac.received())
    b_addr = re.compile(r":%d(?!\d)" % uas.port)
    ep_tags = {m.to_tag for m in uas.sent()} - {None}
    for cid in a_invites:
        rx = a_rx.get(cid, [])
        check(any(m.status == 100 for m in rx), "call %s: no 100 Trying for the caller" % cid)
        oks = [m for m in rx if m.status == 200 and m.cseq[1] == "INVITE"]
        check(oks, "call %s: the caller never got the 200" % cid)
        check(oks[0].to_tag and oks[0].to_tag not in ep_tags,
              "call %s: the endpoint's To tag leaked to the caller" % cid)
        for m in rx:
            for name, value in m.headers:
                if name in ("via", "contact", "record-route", "route"):
                    check(not b_addr.search(value),
                          "call %s: the endpoint's address leaked to the caller in %s: %s"
                          % (cid, name, value))


# ------------------------------------------------------------------ tests

TESTS = []


def test(name, transports=("udp", "tcp")):
    def deco(fn):
        TESTS.append((name, fn, transports))
        return fn
    return deco


@test("options_ping")
def t_options_ping(ctx):
    ctx.start_xferd()
    uac = ctx.uac("uac_options.xml", calls=3, rate=20).run()
    uac.expect_ok()
    rsp = uac.received()
    check(len([m for m in rsp if m.status == 200]) >= 3, "fewer than 3 responses 200 to OPTIONS")
    for m in rsp:
        check(m.status == 200 and m.cseq == (1, "OPTIONS") and m.to_tag,
              "OPTIONS answered %r (CSeq %r, To tag %r); expected 200 with a To tag"
              % (m.start, m.get("cseq"), m.to_tag))
    sent = {m.call_id: m.branch for m in uac.sent()}
    for m in rsp:
        check(sent.get(m.call_id) == m.branch, "200 to OPTIONS does not echo Call-ID and Via branch")


@test("basic_call")
def t_basic_call(ctx):
    x = ctx.start_xferd()
    uas = ctx.uas("uas", calls=10, timeout=25)
    uac = ctx.uac("uac", calls=10, rate=20, timeout=20).run()
    uas.wait()
    uac.expect_ok()
    uas.expect_ok()
    check_relayed_calls(x, uac, uas, 10, caller_user="sipp")


@test("callee_hangs_up")
def t_callee_hangs_up(ctx):
    ctx.start_xferd()
    uas = ctx.uas("uas_bye.xml")
    uac = ctx.uac("uac_callee_bye.xml").run()
    uas.wait()
    uac.expect_ok()
    uas.expect_ok()
    inv = uac.sent(lambda m: m.method == "INVITE")[0]
    ok = uac.received(lambda m: m.status == 200 and m.cseq[1] == "INVITE")[0]
    byes = uac.received(lambda m: m.method == "BYE")
    check(byes, "the caller got no BYE")
    bye = byes[0]
    check(bye.call_id == inv.call_id, "BYE to the caller has Call-ID %s, the A leg's is %s"
          % (bye.call_id, inv.call_id))
    check(bye.from_tag == ok.to_tag and bye.to_tag == inv.from_tag,
          "BYE to the caller has tags From %s To %s; the A dialog is local %s remote %s"
          % (bye.from_tag, bye.to_tag, ok.to_tag, inv.from_tag))
    check(uas.received(lambda m: m.status == 200 and m.cseq[1] == "BYE"),
          "the endpoint's BYE got no 200")
    b_inv = uas.received(lambda m: m.method == "INVITE")[0]
    check(SipMsg.user_of(b_inv.get("from")) == CALLER, "B-leg From %r, expected caller %s"
          % (b_inv.get("from"), CALLER))


@test("callee_bye_before_caller_ack", transports=("udp",))
def t_callee_bye_before_caller_ack(ctx):
    # The endpoint hangs up as soon as xferd ACKs its 200, while the caller
    # takes a second to ACK the 200 xferd relayed. RFC 3261 15: xferd, the
    # UAS of the caller's leg, must not send its BYE before that ACK (or the
    # end of its INVITE server transaction, Timer H = 64*T1): it holds the
    # BYE and sends it when the ACK comes. The caller's scenario only
    # expects a BYE after its ACK; an earlier one fails its call. UDP only:
    # xferd retransmits the 200 over TCP too (13.3.1.4), and sipp over TCP
    # aborts a call on a retransmission that comes during a pause.
    x = ctx.start_xferd()
    t1 = float(x.engine["t1_ms"]) / 1000
    uas = ctx.uas("uas_bye_at_once.xml")
    uac = ctx.uac("uac_late_ack.xml").run()
    uas.wait()
    inv = uac.sent(lambda m: m.method == "INVITE")[0]
    oks = uac.received(lambda m: m.status == 200 and m.cseq[1] == "INVITE")
    check(oks, "the caller never got the 200")
    acks = uac.sent(lambda m: m.method == "ACK")
    byes = uac.received(lambda m: m.method == "BYE")
    b_byes = uas.sent(lambda m: m.method == "BYE")
    check(b_byes, "the endpoint sent no BYE")
    check(byes, "the caller got no BYE (the endpoint hung up %s)"
          % ("%.0f ms before the caller's ACK" % ((acks[0].stamp - b_byes[0].stamp) * 1000)
             if acks else "and the caller never ACKed"))
    bye = byes[0]
    check(acks and acks[0].stamp <= bye.stamp,
          "xferd sent the BYE to the caller %.0f ms after its 200 and %s: a BYE on a dialog "
          "whose 2xx is not ACKed yet (RFC 3261 15: hold it until the ACK or the end of the "
          "INVITE server transaction)"
          % ((bye.stamp - oks[0].stamp) * 1000,
             "%.0f ms before the caller's ACK" % ((acks[0].stamp - bye.stamp) * 1000)
             if acks else "before the caller ACKed at all"))
    ack = acks[0]
    # The premise: the endpoint did hang up while the caller had not ACKed.
    check(b_byes[0].stamp < ack.stamp, "the endpoint's BYE went %.0f ms after the caller's ACK: "
          "the test did not make the case it is about" % ((b_byes[0].stamp - ack.stamp) * 1000))
    # Timer G fires at T1, 3, 7, 15*T1...: a 200 well after the ACK means
    # xferd did not match the ACK to this call.
    late_oks = [m for m in oks if m.stamp > ack.stamp + 4 * t1]
    check(bye.stamp - ack.stamp < 0.5, "the held BYE reached the caller %.0f ms after its ACK, "
          "not on the ACK (Timer H = 64*T1 = %.1f s); xferd retransmitted its 200 %d times "
          "after the ACK" % ((bye.stamp - ack.stamp) * 1000, 64 * t1, len(late_oks)))
    check(not late_oks, "xferd retransmitted its 200 %d times after the caller's ACK (last "
          "%.0f ms after it)" % (len(late_oks), (late_oks[-1].stamp - ack.stamp) * 1000
                                 if late_oks else 0))
    check(bye.call_id == inv.call_id and bye.from_tag == oks[0].to_tag
          and bye.to_tag == inv.from_tag,
          "BYE to the caller has Call-ID %s, tags From %s To %s; the A dialog is %s, local %s "
          "remote %s" % (bye.call_id, bye.from_tag, bye.to_tag, inv.call_id, oks[0].to_tag,
                         inv.from_tag))
    # The endpoint's own BYE is answered at once, not held with the caller's.
    b_ok = uas.received(lambda m: m.status == 200 and m.cseq[1] == "BYE")
    check(b_ok, "the endpoint's BYE got no 200")
    check(b_ok[0].stamp < ack.stamp, "the endpoint's BYE was answered %.0f ms after the "
          "caller's ACK, only once the caller's leg was done"
          % ((b_ok[0].stamp - ack.stamp) * 1000))
    check(uac.sent(lambda m: m.status == 200 and m.cseq[1] == "BYE"),
          "the caller did not answer the BYE 200")
    uac.expect_ok()
    uas.expect_ok()


def raw_response(req, status, reason, to_tag, extra=""):
    """A response to req as an endpoint of our own writes it."""
    head = ["SIP/2.0 %d %s" % (status, reason)]
    head += ["Via: %s" % v for v in req.all("via")]
    head += ["From: %s" % req.get("from"), "To: %s;tag=%s" % (req.get("to"), to_tag),
             "Call-ID: %s" % req.call_id, "CSeq: %s" % req.get("cseq")]
    return ("\r\n".join(head) + "\r\n" + extra + "Content-Length: 0\r\n\r\n").encode()


def recv_matching(sock, pred, failure, limit):
    """The first SIP message on the UDP socket within limit seconds that
    pred accepts, and where it came from; TestFailure(failure) if none."""
    end = time.monotonic() + limit
    while (left := end - time.monotonic()) > 0:
        sock.settimeout(left)
        try:
            data, src = sock.recvfrom(65536)
        except socket.timeout:
            break
        m = SipMsg(data.decode("utf-8", "replace"), "received")
        if pred(m):
            return m, src
    raise TestFailure(failure)


def metric_value(port, name):
    """A sample of xferd's /metrics, or None."""
    with socket.create_connection((LOOPBACK, port), timeout=2) as s:
        s.sendall(b"GET /metrics HTTP/1.0\r\n\r\n")
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    for line in data.decode().splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    return None


@test("late_2xx_after_call_end", transports=("udp",))
def t_late_2xx_after_call_end(ctx):
    """The endpoint's 200 for the INVITE comes again after the call ended
    (as if xferd's ACK were lost): the call's memory is gone by then, but
    the INVITE transaction still answers with the same ACK (§13.2.2.4)."""
    mport = ctx.ports.one()
    x = ctx.start_xferd(engine={"metrics": "%s:%d" % (LOOPBACK, mport)})
    b = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    b.bind((LOOPBACK, x.uas_port))

    def b_recv(pred, what):
        return recv_matching(b, pred, "the endpoint got no %s" % what, 5)

    uac = ctx.uac("uac_callee_bye.xml").start()
    try:
        inv, src = b_recv(lambda m: m.method == "INVITE", "INVITE")
        contact = "Contact: <sip:agent@%s:%d>\r\n" % (LOOPBACK, x.uas_port)
        ok = raw_response(inv, 200, "OK", "b1", contact)
        b.sendto(ok, src)
        ack, _ = b_recv(lambda m: m.method == "ACK", "ACK")
        bye = ("BYE sip:xferd@%s:%d SIP/2.0\r\nVia: SIP/2.0/UDP %s:%d;branch=z9hG4bKbye1\r\n"
               "Max-Forwards: 70\r\nFrom: %s;tag=b1\r\nTo: %s\r\nCall-ID: %s\r\n"
               "CSeq: 1 BYE\r\nContent-Length: 0\r\n\r\n"
               % (LOOPBACK, x.port, LOOPBACK, x.uas_port, inv.get("to"), inv.get("from"),
                  inv.call_id)).encode()
        b.sendto(bye, src)
        b_recv(lambda m: m.status == 200 and m.cseq[1] == "BYE", "200 for its BYE")
        uac.wait()
        uac.expect_ok()
        for _ in range(50):  # the call is counted and freed once the caller's 200 is in
            if metric_value(mport, 'xferd_live_objects{kind="calls"}') == 0:
                break
            time.sleep(0.1)
        check(metric_value(mport, 'xferd_live_objects{kind="calls"}') == 0,
              "the ended call is still in memory")
        check(metric_value(mport, 'xferd_live_objects{kind="transactions"}') > 0,
              "no transaction lingers after the call")
        b.sendto(ok, src)
        again, _ = b_recv(lambda m: m.method == "ACK", "ACK for the retransmitted 200")
        check(again.raw == ack.raw, "the second ACK differs from the first:\n%s\n---\n%s"
              % (ack.raw, again.raw))
    finally:
        b.close()


@test("cancel_before_answer")
def t_cancel_before_answer(ctx):
    ctx.start_xferd()
    uas = ctx.uas("uas_ring_487.xml")
    uac = ctx.uac("uac_cancel.xml").run()
    uas.wait()
    uac.expect_ok()
    uas.expect_ok()
    rx = uac.received()
    check(any(m.status == 200 and m.cseq[1] == "CANCEL" for m in rx), "CANCEL not answered 200")
    check(any(m.status == 487 and m.cseq[1] == "INVITE" for m in rx), "INVITE not answered 487")
    check(not any(m.status == 200 and m.cseq[1] == "INVITE" for m in rx),
          "the caller got a 200 for a cancelled INVITE")
    b_inv = uas.received(lambda m: m.method == "INVITE")[0]
    b_cancel = uas.received(lambda m: m.method == "CANCEL")[0]
    check(b_cancel.branch == b_inv.branch, "B-leg CANCEL branch %s differs from its INVITE's %s "
          "(RFC 3261 9.1)" % (b_cancel.branch, b_inv.branch))
    check(b_cancel.cseq == (b_inv.cseq[0], "CANCEL"), "B-leg CANCEL CSeq %r for INVITE CSeq %r"
          % (b_cancel.get("cseq"), b_inv.get("cseq")))
    acks = uas.received(lambda m: m.method == "ACK")
    check(acks and acks[0].branch == b_inv.branch, "the 487 was not acknowledged on the INVITE's branch")


@test("lossy_udp", transports=("udp",))
def t_lossy_udp(ctx):
    # 10 % of the messages each sipp sends or receives are dropped: sipp's
    # retransmissions and xferd's transaction timers must still finish
    # every call, and a retransmitted INVITE must not make a second call.
    ctx.start_xferd(engine={"log_level": "debug"})
    uas = ctx.uas("uas_lossy.xml", calls=20, timeout=60, extra=["-lost", "10"])
    uac = ctx.uac("uac_lossy.xml", calls=20, rate=10, timeout=50, extra=["-lost", "10"]).run()
    uas.wait()
    uac.expect_ok()
    uas.expect_ok()
    b_calls = {m.call_id for m in uas.received(lambda m: m.method == "INVITE" and not m.to_tag)}
    check(len(b_calls) == 20, "the endpoint saw %d calls for 20 placed" % len(b_calls))


def reject_test(ctx, scenario, service=TRUNK_NUMBERS[0], **xferd_kw):
    """An INVITE that must be refused: the UAC scenario checks the status;
    an endpoint listens on the trunk's port and must see nothing."""
    ctx.start_xferd(**xferd_kw)
    uas = ctx.uas("uas", calls=1, timeout=30)
    uac = ctx.uac(scenario, service=service).run()
    uac.expect_ok()
    time.sleep(0.2)
    check(not uas.received(), "a refused INVITE reached the endpoint: %s"
          % [m.brief() for m in uas.received()][:2])
    return uac


@test("not_trusted_403")
def t_not_trusted_403(ctx):
    reject_test(ctx, "uac_reject_403.xml", trusted="127.0.0.2/32")


@test("unknown_number_404")
def t_unknown_number_404(ctx):
    reject_test(ctx, "uac_reject_404.xml", service=UNKNOWN_NUMBER)


@test("max_forwards_483")
def t_max_forwards_483(ctx):
    reject_test(ctx, "uac_reject_483.xml")


@test("require_420")
def t_require_420(ctx):
    uac = reject_test(ctx, "uac_reject_420.xml")
    r = uac.received(lambda m: m.status == 420)[0]
    check([v.strip() for v in r.all("unsupported")] == ["foo"],
          "420 carries Unsupported %r, expected ['foo']" % r.all("unsupported"))


@test("over_capacity_503")
def t_over_capacity_503(ctx):
    ctx.start_xferd(engine={"max_calls": "1"})
    uas = ctx.uas("uas_answer.xml", calls=2, timeout=30)
    held = ctx.uac("uac_long.xml", name="uac_held", extra=["-d", "2500"]).start()
    uas.wait_for(lambda m: m.method == "ACK", "ACK of the first call", 5)
    over = ctx.uac("uac_reject_503.xml", name="uac_over").run()
    over.expect_ok()
    held.wait()
    held.expect_ok()
    uas.wait_for(lambda m: m.method == "BYE", "BYE of the held call (its caller hung up)", 2)
    # The held call is over: its capacity must come back.
    after = ctx.uac("uac_long.xml", name="uac_after", extra=["-d", "0"]).run()
    after.expect_ok()
    uas.wait()
    uas.expect_ok()
    n = len({m.call_id for m in uas.received(lambda m: m.method == "INVITE")})
    check(n == 2, "the endpoint saw %d calls; expected 2 (the refused one must not reach it)" % n)


@test("endpoint_unreachable_502")
def t_endpoint_unreachable_502(ctx):
    """Nothing listens on the trunk's URI: the ICMP port unreachable that
    answers the B-leg INVITE is a transport error (RFC 3261 §18.4,
    §8.1.3.1), and the caller gets 502 Bad Gateway at once, not 408 at
    Timer B (64*T1 = 6.4 s here). One call, then 300 at 1000/s: more
    errors at a time than one read of the error queue takes (64)."""
    ctx.start_xferd()
    for i, (calls, rate) in enumerate(((1, 10), (300, 1000))):
        t0 = time.monotonic()
        uac = ctx.uac("uac_reject_502.xml", name="uac%d" % i, calls=calls, rate=rate).run()
        uac.expect_ok()
        dt = time.monotonic() - t0
        check(dt < 3.0, "%d calls: the 502s took %.1f s; an ICMP error must fail the INVITE "
              "at once (Timer B is 6.4 s)" % (calls, dt))
    check(ctx.xferd.wait_log(r"INVITE to 127\.0\.0\.1:%d failed: Connection refused"
                             % ctx.xferd.uas_port, 1.0),
          "xferd did not log the INVITE that the ICMP error refused")


@test("bye_unknown_dialog_481")
def t_bye_unknown_dialog_481(ctx):
    ctx.start_xferd()
    ctx.uac("uac_bye_481.xml", calls=2, rate=20).run().expect_ok()


@test("reinvite_relayed")
def t_reinvite_relayed(ctx):
    ctx.start_xferd()
    uas = ctx.uas("uas_reinvite.xml")
    uac = ctx.uac("uac_reinvite.xml").run()
    uas.wait()
    uac.expect_ok()
    uas.expect_ok()
    b_invs = uas.received(lambda m: m.method == "INVITE")
    first = b_invs[0]
    re_invs = [m for m in b_invs if m.to_tag]
    check(re_invs, "the endpoint got no re-INVITE")
    reinv = re_invs[0]
    check(reinv.call_id == first.call_id and reinv.from_tag == first.from_tag,
          "re-INVITE not in the B dialog (Call-ID %s, From tag %s)" % (reinv.call_id, reinv.from_tag))
    check(reinv.cseq[0] > first.cseq[0], "re-INVITE CSeq %r not above the INVITE's %r"
          % (reinv.get("cseq"), first.get("cseq")))
    a_reinv = [m for m in uac.sent(lambda m: m.method == "INVITE") if m.cseq[0] == 2][0]
    check(reinv.body.strip() == a_reinv.body.strip(), "re-INVITE offer changed across:\n%s\n---\n%s"
          % (a_reinv.body, reinv.body))
    b_answer = [m for m in uas.sent(lambda m: m.status == 200 and m.cseq[1] == "INVITE")
                if "reinvite-answer" in m.body][0]
    a_ok = [m for m in uac.received(lambda m: m.status == 200 and m.cseq == (2, "INVITE"))]
    check(a_ok, "the caller got no 200 for its re-INVITE (CSeq 2)")
    check(a_ok[0].body.strip() == b_answer.body.strip(), "re-INVITE answer changed across")
    acks = [m for m in uas.received(lambda m: m.method == "ACK") if m.cseq[0] == reinv.cseq[0]]
    check(acks, "the endpoint never got the ACK of the re-INVITE's 200")


@test("drain_on_sigterm")
def t_drain_on_sigterm(ctx):
    x = ctx.start_xferd(engine={"drain_timeout": "8"})
    uas = ctx.uas("uas_answer.xml", calls=1, timeout=30)
    held = ctx.uac("uac_long.xml", name="uac_held", extra=["-d", "3000"]).start()
    uas.wait_for(lambda m: m.method == "ACK", "ACK of the call", 5)
    x.signal(signal.SIGTERM)
    time.sleep(0.3)
    check(x.alive(), "xferd exited on SIGTERM with a call up (status %s)" % x.proc.returncode)
    ctx.uac("uac_reject_503.xml", name="uac_new").run().expect_ok()
    check(x.alive(), "xferd exited with a call still up (status %s)" % x.proc.returncode)
    held.wait()
    held.expect_ok()
    done = time.monotonic()
    rc = x.wait_exit(max(0.0, x.sigterm_at + x.drain_timeout + 1 - time.monotonic()))
    check(rc is not None, "xferd still running %.1f s after SIGTERM (drain_timeout %g)"
          % (time.monotonic() - x.sigterm_at, x.drain_timeout))
    check(rc == 0, "xferd exit status %s after draining (expected 0)" % rc)
    check(time.monotonic() - done < 2.0, "xferd took %.1f s to exit after the last call ended"
          % (time.monotonic() - done))
    uas.wait()
    uas.expect_ok()


@test("no_ack_timer_h", transports=("udp",))
def t_no_ack_timer_h(ctx):
    # The caller never ACKs the 200: xferd retransmits it (Timer G) for
    # 64*T1 (Timer H), then ends the call with a BYE to both sides
    # (RFC 3261 13.3.1.4) instead of keeping it forever.
    x = ctx.start_xferd()
    t1 = float(x.engine["t1_ms"]) / 1000
    limit = int(64 * t1) + 6
    uas = ctx.uas("uas_answer.xml", calls=1, timeout=limit + 1)
    uac = ctx.uac("uac_no_ack.xml", timeout=limit).run()
    uas.wait()
    oks = uac.received(lambda m: m.status == 200 and m.cseq[1] == "INVITE")
    check(len(oks) >= 3, "xferd sent the unacknowledged 200 %d times; expected retransmissions"
          % len(oks))
    gaps = [b.stamp - a.stamp for a, b in zip(oks, oks[1:])]
    check(gaps[0] >= t1 * 0.8, "first retransmission of the 200 after %.0f ms, expected T1 = %.0f ms"
          % (gaps[0] * 1000, t1 * 1000))
    byes = uac.received(lambda m: m.method == "BYE")
    check(byes, "no BYE to the caller %.1f s after its 200 (last of %d retransmissions %.1f s "
          "after it): the unacknowledged call is never ended (RFC 3261 13.3.1.4, Timer H = "
          "64*T1 = %.1f s)" % (uac.timeout, len(oks), sum(gaps), 64 * t1))
    check(uas.received(lambda m: m.method == "BYE"), "the endpoint got no BYE after Timer H")
    after = byes[0].stamp - oks[0].stamp
    check(after >= 64 * t1 * 0.9, "BYE %.1f s after the 200, before Timer H (64*T1 = %.1f s)"
          % (after, 64 * t1))
    uac.expect_ok()
    uas.expect_ok()


@test("caller_unreachable_at_200", transports=("udp",))
def t_caller_unreachable_at_200(ctx):
    """The caller's port closes before the endpoint answers: xferd's 200 to
    it draws an ICMP port unreachable, a transport error of the INVITE
    server transaction (RFC 3261 §17.2.4). No ACK can come, so the call is
    hung up at once, the endpoint getting its ACK and then a BYE, rather
    than after Timer L (64*T1 = 6.4 s here)."""
    caller_unreachable(ctx, 1)


@test("caller_unreachable_at_200_two_workers", transports=("udp",))
def t_caller_unreachable_at_200_two_workers(ctx):
    """The same with two workers: the ICMP error may reach either worker's
    shared socket, and goes to the call's owner by the To tag."""
    caller_unreachable(ctx, 2)


def caller_unreachable(ctx, workers):
    x = ctx.start_xferd(workers=workers)
    t1 = float(x.engine["t1_ms"]) / 1000
    b = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    b.bind((LOOPBACK, x.uas_port))

    def b_recv(pred, what, limit=5):
        return recv_matching(b, pred, "the endpoint got no %s within %.1f s" % (what, limit), limit)

    try:
        with RawClient(x.port) as caller:
            invite, _ = malformed(x.port, caller.lport, cseq="1 INVITE")
            caller.send(invite)
            inv, src = b_recv(lambda m: m.method == "INVITE", "INVITE")
        # The caller's socket is closed now: nothing listens on its port.
        ok = raw_response(inv, 200, "OK", "b1",
                          "Contact: <sip:agent@%s:%d>\r\n" % (LOOPBACK, x.uas_port))
        b.sendto(ok, src)
        t0 = time.monotonic()
        b_recv(lambda m: m.method == "ACK", "ACK for its 200")
        bye, src = b_recv(lambda m: m.method == "BYE", "BYE", limit=64 * t1 + 2)
        after = time.monotonic() - t0
        check(after < min(2.0, 64 * t1 / 2),
              "the endpoint's BYE came %.1f s after its 200; the caller's ICMP error must "
              "end the call at once, not at Timer L (64*T1 = %.1f s)" % (after, 64 * t1))
        b.sendto(raw_response(bye, 200, "OK", "b1"), src)
        check(any("caller unreachable" in l for l in x.log_lines()),
              "xferd did not log the call as ended for an unreachable caller")
        # The caller's BYE fails too (its ICMP error, or Timer F): the call
        # is over once it has.
        end = time.monotonic() + 64 * t1 + 2
        while time.monotonic() < end and not any(
                re.search(r"BYE to \S+ failed", l) for l in x.log_lines()):
            time.sleep(0.05)
        check(any(re.search(r"BYE to \S+ failed", l) for l in x.log_lines()),
              "the BYE to the unreachable caller never failed")
    finally:
        b.close()


@test("two_workers")
def t_two_workers(ctx):
    """spread_above = 0: every worker takes new calls, by Call-ID."""
    x = ctx.start_xferd(workers=2, engine={"spread_above": "0"})
    uas = ctx.uas("uas", calls=20, timeout=30)
    uac = ctx.uac("uac", calls=20, rate=20, timeout=25).run()
    uas.wait()
    uac.expect_ok()
    uas.expect_ok()
    # Worker i sends from PORT+1+i; the calls are spread by Call-ID, so
    # both must have carried B legs (the caller only ever hits PORT).
    check_relayed_calls(x, uac, uas, 20, caller_user="sipp", via_ports={x.port + 1, x.port + 2})


def handoffs(mport, workers):
    return sum(metric_value(mport, 'xferd_worker_handoffs_total{worker="%d"}' % i)
               for i in range(workers))


@test("two_workers_pack")
def t_two_workers_pack(ctx):
    """Two workers under light load (the default spread_above): worker 0
    takes every new call, so every B leg leaves from PORT+1; over UDP the
    kernel delivers the callers' datagrams to it, so nothing is handed
    between workers."""
    mport = ctx.ports.one()
    x = ctx.start_xferd(workers=2, engine={"metrics": "%s:%d" % (LOOPBACK, mport)})
    uas = ctx.uas("uas", calls=20, timeout=30)
    uac = ctx.uac("uac", calls=20, rate=20, timeout=25).run()
    uas.wait()
    uac.expect_ok()
    uas.expect_ok()
    check_relayed_calls(x, uac, uas, 20, caller_user="sipp", via_ports={x.port + 1})
    check(metric_value(mport, "xferd_workers_taking_calls") == 1, "more than one worker took calls")
    check(metric_value(mport, 'xferd_worker_call_slots{worker="0"}') == 256,
          "worker 0 does not own every slot")
    if ctx.transport == "udp":
        check(handoffs(mport, 2) == 0, "%d messages handed between workers" % handoffs(mport, 2))


@test("spread_follows_load", transports=("udp",))
def t_spread_follows_load(ctx):
    """spread_above = 1: 2000 calls at 400/s take worker 0 beyond 1 % of a
    CPU, so new calls go to both workers and B legs leave from both ports.
    Worker 0 passes worker 1 its new calls at once, and the slots
    themselves once its transactions of theirs have ended (Timer L, 64 × T1
    = 3.2 s here); no call is lost or placed twice meanwhile (each reached
    the endpoint once). When the load stops, new calls go back to worker 0
    after 5 s, and so do the slots once worker 1's transactions end."""
    mport = ctx.ports.one()
    x = ctx.start_xferd(workers=2, engine={"metrics": "%s:%d" % (LOOPBACK, mport),
                                           "spread_above": "1", "t1_ms": "50"})
    slots1 = lambda: metric_value(mport, 'xferd_worker_call_slots{worker="1"}')
    uas = ctx.uas("uas", calls=2000, timeout=40)
    uac = ctx.uac("uac", calls=2000, rate=400, timeout=40).start()
    most = 0
    while uac.proc.poll() is None:
        most = max(most, slots1())
        time.sleep(0.2)
    uac.wait()
    uas.wait()
    uac.expect_ok()
    uas.expect_ok()
    check(x.wait_log(r"new calls go to 2 of 2 workers", 1), "new calls never went to both workers")
    check(60 < most < 196, "worker 1 owned at most %d of 256 slots during the load" % most)
    check_relayed_calls(x, uac, uas, 2000, caller_user="sipp", via_ports={x.port + 1, x.port + 2})
    check(handoffs(mport, 2) > 0, "no message was handed between workers")
    invites = metric_value(mport, 'xferd_sip_messages_total{direction="in",method="INVITE"}')
    rtx = metric_value(mport, 'xferd_retransmissions_total{direction="in"}')
    check(2000 <= invites <= 2000 + rtx, "%d INVITEs counted in for 2000 calls and %d "
          "retransmissions: one passed on was counted twice" % (invites, rtx))
    check(x.wait_log(r"new calls go to 1 of 2 workers", 10),
          "new calls did not go back to one worker within 10 s of the load's end")
    end = time.monotonic() + 10
    while time.monotonic() < end and slots1() != 0:
        time.sleep(0.2)
    check(slots1() == 0, "worker 1 still owns %d slots 10 s after new calls went back to worker 0"
          % slots1())


@test("spread_move_keeps_transactions", transports=("udp",))
def t_spread_move_keeps_transactions(ctx):
    """While slots move from worker 0 to worker 1 (spread_above = 1; a
    burst of sipp calls spreads the calls, and their transactions keep
    every slot on worker 0 for Timer L, 12.8 s here), 24 calls of our own:
    each INVITE is sent twice, then CANCELed. Those of slots on their way
    to worker 1 are passed on to it, and so are their retransmissions and
    CANCELs: the endpoint gets one call per INVITE, each CANCEL its 200
    and each INVITE its 487, and B legs leave from both workers' ports.""" 
    mport = ctx.ports.one()
    x = ctx.start_xferd(workers=2, engine={"metrics": "%s:%d" % (LOOPBACK, mport),
                                           "spread_above": "1", "t1_ms": "200"})
    slots1 = lambda: metric_value(mport, 'xferd_worker_call_slots{worker="1"}')
    uas = ctx.uas("uas", calls=600, timeout=30)
    ctx.uac("uac", calls=600, rate=600, timeout=30).run().expect_ok()
    uas.wait()
    uas.expect_ok()
    check(x.wait_log(r"new calls go to 2 of 2 workers", 1), "new calls never went to both workers")
    # Only the slots that no sipp call reached before the spread are there.
    check(slots1() < 64, "%d slots reached worker 1 before worker 0's transactions ended"
          % slots1())
    ep = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    ep.bind((LOOPBACK, x.uas_port))

    def ep_recv(pred, what):
        return recv_matching(ep, pred, "the endpoint got no %s" % what, 2)

    def caller_recv(c, pred, what):
        end = time.monotonic() + 2
        while time.monotonic() < end:
            m = c.recv(end - time.monotonic())
            if m is not None and pred(m):
                return m
        raise TestFailure("the caller got no %s" % what)

    b_calls, ports = set(), set()
    try:
        with RawClient(x.port) as c:
            for i in range(24):
                inv, f = malformed(x.port, c.lport, cseq="1 INVITE",
                                   call_id="move-%d-%08x@%s" % (i, random.getrandbits(32), LOOPBACK))
                c.send(inv)
                c.send(inv)
                caller_recv(c, lambda m: m.status == 100 and m.call_id == f["call_id"], "100 Trying")
                b_inv, src = ep_recv(lambda m: m.method == "INVITE" and m.call_id not in b_calls,
                                     "INVITE of call %d" % i)
                b_calls.add(b_inv.call_id)
                ports.add(int(SipMsg.hostport_of_via(b_inv.vias()[0]).rpartition(":")[2]))
                # A CANCEL waits for a provisional (§9.1).
                ep.sendto(raw_response(b_inv, 180, "Ringing", "ep%d" % i), src)
                caller_recv(c, lambda m: m.status == 180 and m.call_id == f["call_id"], "180")
                c.send(inv.replace(b"INVITE sip:", b"CANCEL sip:", 1)
                          .replace(b"CSeq: 1 INVITE", b"CSeq: 1 CANCEL"))
                cancel, _ = ep_recv(lambda m: m.method == "CANCEL" and m.call_id == b_inv.call_id,
                                    "CANCEL of call %d" % i)
                ep.sendto(raw_response(cancel, 200, "OK", "ep%d" % i), src)
                ep.sendto(raw_response(b_inv, 487, "Request Terminated", "ep%d" % i), src)
                ep_recv(lambda m: m.method == "ACK" and m.call_id == b_inv.call_id, "ACK of the 487")
                caller_recv(c, lambda m: m.status == 200 and m.cseq[1] == "CANCEL"
                            and m.call_id == f["call_id"], "200 for its CANCEL")
                r487 = caller_recv(c, lambda m: m.status == 487 and m.call_id == f["call_id"], "487")
                c.send(("ACK %(ruri)s SIP/2.0\r\n"
                        "Via: SIP/2.0/UDP %(ip)s:%(lport)d;branch=%(branch)s;rport\r\n"
                        "Max-Forwards: 70\r\nFrom: <sip:%(caller)s@%(ip)s>;tag=bad1\r\n"
                        % f + "To: %s\r\n" % r487.get("to") +
                        "Call-ID: %(call_id)s\r\nCSeq: 1 ACK\r\nContent-Length: 0\r\n\r\n"
                        % f).encode())
        time.sleep(0.5)
        ep.settimeout(0.1)
        try:
            while True:  # anything left: a call placed twice would show here
                data, _ = ep.recvfrom(65536)
                m = SipMsg(data.decode("utf-8", "replace"), "received")
                check(m.call_id in b_calls, "the endpoint got %s of a call it never saw: "
                      "an INVITE placed twice" % m.start)
        except socket.timeout:
            pass
    finally:
        ep.close()
    check(slots1() < 64, "the slots finished moving during the calls: nothing was tested")
    check(ports == {x.port + 1, x.port + 2}, "B legs left from ports %s, expected both workers' %s"
          % (sorted(ports), [x.port + 1, x.port + 2]))


def malformed(port, lport, transport="udp", **over):
    f = dict(method="INVITE", transport=transport.upper(), ruri="sip:%s@%s:%d" % (TRUNK_NUMBERS[0], LOOPBACK, port),
             branch="z9hG4bK-bad-%08x" % random.getrandbits(32),
             call_id="bad-%08x@%s" % (random.getrandbits(32), LOOPBACK),
             cseq="abc INVITE", lport=lport, ip=LOOPBACK, caller=CALLER)
    f.update(over)
    return ("%(method)s %(ruri)s SIP/2.0\r\n"
            "Via: SIP/2.0/%(transport)s %(ip)s:%(lport)d;branch=%(branch)s;rport\r\n"
            "Max-Forwards: 70\r\n"
            "From: <sip:%(caller)s@%(ip)s>;tag=bad1\r\n"
            "To: <%(ruri)s>\r\n"
            "Call-ID: %(call_id)s\r\n"
            "CSeq: %(cseq)s\r\n"
            "Contact: <sip:%(caller)s@%(ip)s:%(lport)d>\r\n"
            "Content-Length: 0\r\n\r\n" % f).encode(), f


@test("malformed_400")
def t_malformed_400(ctx):
    # A request with a bad CSeq gets 400 built from what could be read; junk
    # of every kind is answered or dropped, never fatal: xferd still answers
    # an OPTIONS afterwards. Each piece goes on a socket (connection) of its
    # own, so that over TCP one broken stream does not decide the next.
    x = ctx.start_xferd()
    with RawClient(x.port, ctx.transport) as c:
        data, f = malformed(x.port, c.lport, ctx.transport)
        rsp = c.exchange(data)
    finals = [m for m in rsp if m.status and m.status >= 200]
    check(finals, "no response to an INVITE with 'CSeq: abc INVITE' (got %s)"
          % [m.start for m in rsp])
    r = finals[0]
    check(r.status == 400, "'CSeq: abc INVITE' answered %r, expected 400" % r.start)
    check(r.call_id == f["call_id"] and r.branch == f["branch"],
          "the 400 does not echo Call-ID/Via branch: %r %r" % (r.call_id, r.branch))

    def request(**over):
        return lambda lport: malformed(x.port, lport, ctx.transport, **over)[0]

    rng = random.Random(20240611)
    junk = [
        lambda lport: bytes(rng.getrandbits(8) for _ in range(300)),
        lambda lport: b"\x00" * 64,
        lambda lport: b"INVITE",
        lambda lport: b"INVITE sip:x SIP/2.0\r\nVia: SIP/2.0/UDP",        # cut short
        lambda lport: b"SIP/2.0 200 OK\r\n\r\n",                          # bare response
        lambda lport: b"OPTIONS sip:a@b SIP/2.0\r\nX: " + b"y" * 4000 + b"\r\n\r\n",
        lambda lport: request(cseq="1 INVITE")(lport).replace(
            b"Content-Length: 0", b"Content-Length: 99999"),              # body missing
        request(cseq="4294967296 INVITE"),                                 # CSeq > 2**32-1
        request(cseq="1 INVITE", branch=""),                               # empty branch
        request(cseq="1 INVITE", ruri="sip:"),                             # bad Request-URI
        request(cseq="1 INVITE", call_id=""),                              # empty Call-ID
        lambda lport: b"\r\n\r\n",                                         # keep-alive
    ]
    for make in junk:
        with RawClient(x.port, ctx.transport) as c:
            c.send(make(c.lport))
            while c.recv(0.05):  # whatever comes back, if anything
                pass
    check(x.alive(), "xferd died on malformed input (exit status %s)" % x.proc.returncode)
    with RawClient(x.port, ctx.transport) as c:
        rsp = c.exchange(harness.options_request(x.port, c.lport, ctx.transport))
    check(any(m.status == 200 for m in rsp), "no 200 to OPTIONS after the malformed input (got %s)"
          % [m.start for m in rsp])
    ctx.uac("uac_options.xml").run().expect_ok()


@test("sighup_reload")
def t_sighup_reload(ctx):
    new = "+14155550102"
    x = ctx.start_xferd(numbers=[TRUNK_NUMBERS[0]])
    uas = ctx.uas("uas_answer.xml", calls=2, timeout=30)
    ctx.uac("uac_reject_404.xml", name="uac_before", service=new).run().expect_ok()
    held = ctx.uac("uac_long.xml", name="uac_held", extra=["-d", "2500"]).start()
    uas.wait_for(lambda m: m.method == "ACK", "ACK of the held call", 5)
    x.write_config([TRUNK_NUMBERS[0], new])
    x.signal(signal.SIGHUP)
    # The reload is asynchronous; its log line says when it is done. A
    # missing line is no failure in itself: the call below decides.
    x.wait_log(r"SIGHUP", 3)
    time.sleep(0.1)
    ctx.uac("uac_long.xml", name="uac_new", service=new, extra=["-d", "0"]).run().expect_ok()
    held.wait()
    held.expect_ok()  # the reload did not drop it
    uas.wait()
    uas.expect_ok()
    # --check: a broken file gives FILE:LINE and status 1; the good one 0.
    broken = os.path.join(ctx.dir, "broken.ini")
    text = x.config_text().splitlines()
    line = [i for i, l in enumerate(text) if l.startswith("workers")][0] + 1
    text[line - 1] = "workers = banana"
    with open(broken, "w") as f:
        f.write("\n".join(text) + "\n")
    for path, want in ((broken, 1), (x.config, 0)):
        p = subprocess.run([ctx.xferd_exe, "--check", "-c", path], stdin=subprocess.DEVNULL,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=10)
        out = p.stdout.decode(errors="replace")
        check(p.returncode == want, "xferd --check -c %s: status %s, expected %d; output: %s"
              % (os.path.basename(path), p.returncode, want, out.strip()))
    p = subprocess.run([ctx.xferd_exe, "--check", "-c", broken], stdin=subprocess.DEVNULL,
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=10)
    out = p.stdout.decode(errors="replace")
    check("%s:%d:" % (broken, line) in out, "xferd --check does not point at %s:%d: %r"
          % (broken, line, out.strip()))


def connected_to(lport, rport):
    """Whether a connected IPv4 UDP socket on 127.0.0.1:lport has the peer
    127.0.0.1:rport (/proc/net/udp: state 01)."""
    want = ("0100007F:%04X" % lport, "0100007F:%04X" % rport, "01")
    with open("/proc/net/udp") as f:
        return any(tuple(l.split()[1:4]) == want for l in f.readlines()[1:])


@test("sighup_reload_connects_new_trunk", transports=("udp",))
def t_sighup_reload_connects_new_trunk(ctx):
    """A reload that moves the trunk to a new address gives the worker a
    socket connected to it (the kernel keeps its route), and calls reach
    the new endpoint, its answers coming back on that socket."""
    x = ctx.start_xferd()
    old = x.uas_port
    check(connected_to(x.port, old), "no socket connected to the trunk at start")
    x.uas_port = ctx.ports.one()
    x.write_config()
    x.signal(signal.SIGHUP)
    x.wait_log(r"SIGHUP", 3)
    for _ in range(30):
        if connected_to(x.port, x.uas_port):
            break
        time.sleep(0.1)
    check(connected_to(x.port, x.uas_port), "no socket connected to the new trunk address "
          "3 s after the reload")
    uas = ctx.uas("uas_answer.xml", calls=1, timeout=15)
    ctx.uac("uac_long.xml", extra=["-d", "0"]).run().expect_ok()
    uas.wait()
    uas.expect_ok()


# ------------------------------------------------------------------ main

def variants(transports):
    for name, fn, ts in TESTS:
        for t in ts:
            if t in transports:
                yield (name if t == "udp" else "%s[%s]" % (name, t)), fn, t


def run_body(ctx, fn):
    fn(ctx)
    if ctx.xferd:
        ctx.xferd.finish()


def run_one(name, fn, transport, args, ports, results):
    ctx = Ctx(name, transport, args, ports)
    t0 = time.monotonic()
    try:
        reason = harness.failure_of(run_body, ctx, fn)
    finally:
        ctx.cleanup()
    passed = results.verdict(name, time.monotonic() - t0, reason)
    if not passed:
        for l in ctx.failure_report():
            print(l)
    if harness.close_dir(ctx.dir, passed, args.keep):
        print("  kept: %s" % ctx.dir, flush=True)


def main():
    ap = argparse.ArgumentParser(description="xferd integration tests (sipp on 127.0.0.1)")
    harness.add_run_args(ap)
    ap.add_argument("--transport", default=",".join(DEFAULT_TRANSPORTS),
                    help="transports to test, comma-separated: udp,tcp (default %(default)s)")
    args = ap.parse_args()
    transports = [t for t in args.transport.split(",") if t]
    bad = [t for t in transports if t not in SIPP_TRANSPORT]
    if bad:
        ap.error("unknown transport %s" % bad)
    tests = list(variants(transports))
    if args.list:
        for name, _, _ in tests:
            print(name)
        return 0
    tests = harness.pick(ap, tests, args.only)
    status = harness.need_xferd_and_sipp(ap, args)
    if status is not None:
        return status
    ports = harness.Ports()
    results = harness.Results("integration")
    t0 = time.monotonic()
    for name, fn, transport in tests:
        run_one(name, fn, transport, args, ports, results)
    print("integration: %.1f s" % (time.monotonic() - t0))
    return results.summary()


if __name__ == "__main__":
    sys.exit(main())
