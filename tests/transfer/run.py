#!/usr/bin/env python3
"""run.py: xferd's transfer tests (SPEC.md "The transfer", seed page tables).

Every test starts its own xferd on free ports of 127.0.0.1 with two trunks
and a PSTN gateway, and the peers of one call:

    caller (sipp UAC) ──A──▶ xferd ──B──▶ endpoint (acme's uri: sipp UAS, or
                               │           the Python peer of this file)
                               └──C──▶ transfer target: the [pstn] gateway
                                       or beta's uri (sipp UAS), or a Sink
                                       that only records what reaches it

The endpoint sends REFER in its dialog; each peer's messages (sipp
-trace_msg logs, the Python peers' own records) are checked afterwards:
responses and their codes, the NOTIFYs (status line, Event,
Subscription-State, Content-Type), the target's INVITE (no SDP, caller ID,
Referred-By, embedded headers), the re-INVITE of the caller with the
target's offer and the ACK with the caller's answer, who hung up whom.
Then xferd gets SIGTERM and must exit 0 at once (no call left: a leak would
make it wait drain_timeout), with no "error" line in its log.

    run.py --xferd PATH [--sipp PATH] [--only NAME[,NAME...]] [--list] [--keep] [-v]

Prints one line per test, "PASS name seconds" or "FAIL name seconds: reason"
(then, indented, the message excerpt that shows it, with -v the logs, and
the directory kept for a look); then "transfer: N passed, M failed". Exit
status 1 if a test failed. About 50 s.
Standard library only; sipp 3.6 (Debian: sip-tester).
"""

import argparse
import os
import random
import re
import signal
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import harness  # noqa: E402  (tests/lib, after the path above)
import sipmsg  # noqa: E402
from harness import LOOPBACK, TestFailure, check  # noqa: E402
from sipmsg import SipMsg  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
SCENARIOS = os.path.join(HERE, "scenarios")

CALLER = "+14085550123"        # the caller's number (From user of the A leg)
ACME_NUMBER = "+14155550100"   # acme's number: the caller dials it
ACME_DOMAIN = "acme.zt.example.net"
BETA_NUMBER = "+14155550199"   # beta's number: a platform number as target
BETA_DOMAIN = "beta.zt.example.net"
PSTN_TARGET = "+14155551234"   # any other E.164 number: the PSTN gateway
REFERRED_BY = "<sip:agent@%s>" % ACME_DOMAIN  # what the endpoints send

T1_MS = 100          # xferd's t1_ms in every test
SIPP_TIMEOUT = 20    # s, sipp's -timeout (a whole scenario)
EXIT_PROMPT = 1.5    # s xferd may take to exit on SIGTERM with no call left


class Peer(sipmsg.Peer):
    """What every peer offers the checks: its messages in order, and a
    failure report."""

    def report(self):
        out = []
        msgs = self.messages()
        if msgs:
            out.append("      messages of %s:" % self.name)
            out += ["        " + m.brief() for m in msgs[-14:]]
        return out


# ----------------------------------------------------------------- sipp

class Sipp(sipmsg.Sipp, Peer):
    """One sipp process of one call, bounded by -timeout and a subprocess
    timeout; its logs go to the test's directory."""

    def __init__(self, ctx, name, scenario, port, target=None, service=None, keys=None,
                 pause_ms=None, timeout=SIPP_TIMEOUT):
        args = sipmsg.sipp_command(
            ctx.sipp_exe, ctx.dir, name, scenario, SCENARIOS, port,
            ctx.ports.block(4),  # sipp binds the media port and +2
            ctx.ports.one(), 1, timeout, "u1", target, traces=("msg", "err", "stat"))
        if service:
            args += ["-s", service]
        if pause_ms is not None:
            args += ["-d", str(pause_ms)]
        for k, v in (keys or {}).items():
            args += ["-key", k, v]
        super().__init__(name, args, ctx.dir, port, timeout)
        self.ctx = ctx

    def start(self):
        super().start()
        self.ctx.procs.append(self.proc)
        return self

    def expect_ok(self):
        """sipp exit status 0 and its one call successful."""
        st = self.stats()
        errs = self.errors()
        why = (": " + errs[0][:600]) if errs else ""
        check(self.rc == 0 and st == (1, 0), "%s (%s): sipp exit status %s, calls (successful, "
              "failed) %s%s" % (self.name, os.path.basename(self.args[self.args.index("-sf") + 1]),
                                self.rc, st, why))

    def report(self):
        out = ["  --- %s: %s" % (self.name, " ".join(self.args)),
               "      exit status %s, calls (successful, failed) %s" % (self.rc, self.stats())]
        errs = self.errors()
        if errs:
            out.append("      sipp errors:")
            for e in errs[:3]:
                out += ["        " + l for l in e.splitlines()[:14]]
        return out + Peer.report(self)


# ------------------------------------------------------ raw UDP peers

class UdpPeer(Peer):
    """A Python peer on a UDP port of its own: a thread records every
    datagram with its arrival time, then hands it to on_message()."""

    def __init__(self, ctx, name, port):
        self.name, self.port = name, port
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((LOOPBACK, port))
        self.sock.settimeout(0.05)
        self.msgs = []
        self.cond = threading.Condition()  # over msgs; notified on each
        self.stopping = False
        self.failure = None
        self.thread = threading.Thread(target=self._run, name=name, daemon=True)
        ctx.closers.append(self.stop)

    def start(self):
        self.thread.start()
        return self

    def stop(self):
        self.stopping = True
        if self.thread.is_alive():
            self.thread.join(timeout=2)
        self.sock.close()

    def messages(self):
        with self.cond:
            return list(self.msgs)

    def _record(self, text, direction):
        m = SipMsg(text, direction, time.time())
        with self.cond:
            self.msgs.append(m)
            self.cond.notify_all()
        return m

    def _run(self):
        while not self.stopping:
            try:
                data, addr = self.sock.recvfrom(65536)
            except socket.timeout:
                continue
            except OSError:
                return
            try:
                self.on_message(self._record(data.decode("utf-8", "replace"), "received"), addr)
            except Exception as e:  # a peer bug must fail the test, not hang it
                self.failure = "%s: %s" % (type(e).__name__, e)

    def on_message(self, m, addr):
        pass


class Sink(UdpPeer):
    """A port where nothing may arrive (the target a test does not use),
    or where nothing answers (an unreachable target): it records every
    datagram with its arrival time; it never answers."""

    def __init__(self, ctx, name, port):
        super().__init__(ctx, name, port)
        self.start()


class PyEndpoint(UdpPeer):
    """The trunk's endpoint as a small UDP SIP peer, for what sipp cannot
    say cleanly (the same REFER twice with one branch; NOTIFYs left
    unanswered while their retransmissions are timed). A thread answers:
    INVITE → 200 with SDP; NOTIFY → notify_policy(msg) (a code, or None to
    leave it unanswered for now); BYE → 200; a retransmitted request gets
    the response already given. Everything is recorded; the test sends its
    own requests with send() and waits with wait_for()."""

    def __init__(self, ctx, port, notify_policy=None):
        super().__init__(ctx, "endpoint", port)
        self.tag = "ep%08x" % random.getrandbits(32)
        self.notify_policy = notify_policy or (lambda m: 200)
        self.answers = {}  # (branch, CSeq) → response bytes
        self.invite = None
        self.xferd = None  # (host, port) of xferd's Contact

    def _send_to(self, text, addr):
        self.sock.sendto(text.encode(), addr)
        self._record(text, "sent")

    def on_message(self, m, addr):
        if not m.is_request or m.method == "ACK":
            return
        key = (m.branch, m.get("cseq"))
        if key in self.answers:
            self._send_to(self.answers[key], addr)
            return
        if m.method == "INVITE" and not m.to_tag:
            self.invite = m
            contact = SipMsg.uri_of(m.get("contact"))
            hp = re.match(r"sips?:(?:[^@]*@)?([^;>]+)", contact).group(1)
            host, _, port = hp.rpartition(":")
            self.xferd = (host, int(port))
            sdp = ("v=0\r\no=agent 2002 1 IN IP4 %s\r\ns=-\r\nc=IN IP4 %s\r\nt=0 0\r\n"
                   "m=audio %d RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n"
                   % (LOOPBACK, LOOPBACK, self.port + 1000 if self.port < 64000 else 4000))
            rsp = self.response(m, 200, "OK", tag=True, contact=True, body=sdp)
        elif m.method == "NOTIFY":
            code = self.notify_policy(m)
            if code is None:
                return
            rsp = self.response(m, code, {200: "OK"}.get(code, "Call/Transaction Does Not Exist"))
        elif m.method == "BYE":
            rsp = self.response(m, 200, "OK")
        else:
            rsp = self.response(m, 501, "Not Implemented")
        self.answers[key] = rsp
        self._send_to(rsp, addr)

    def response(self, m, code, reason, tag=False, contact=False, body=""):
        lines = ["SIP/2.0 %d %s" % (code, reason)]
        lines += ["Via: %s" % v for v in m.all("via")]
        lines.append("From: %s" % m.get("from"))
        lines.append("To: %s%s" % (m.get("to"), ";tag=" + self.tag if tag and not m.to_tag else ""))
        lines.append("Call-ID: %s" % m.call_id)
        lines.append("CSeq: %s" % m.get("cseq"))
        if contact:
            lines.append("Contact: <sip:agent@%s:%d>" % (LOOPBACK, self.port))
        if body:
            lines.append("Content-Type: application/sdp")
        lines.append("Content-Length: %d" % len(body.encode()))
        return "\r\n".join(lines) + "\r\n\r\n" + body

    def refer(self, cseq, refer_to, branch=None, extra=()):
        """A REFER in the B dialog (RFC 3515): Request-URI xferd's Contact,
        From/To swapped, our tag, To tag = xferd's From tag."""
        inv = self.invite
        branch = branch or "z9hG4bK-ep-%08x" % random.getrandbits(32)
        lines = ["REFER %s SIP/2.0" % SipMsg.uri_of(inv.get("contact")),
                 "Via: SIP/2.0/UDP %s:%d;branch=%s;rport" % (LOOPBACK, self.port, branch),
                 "Max-Forwards: 70",
                 "From: %s;tag=%s" % (inv.get("to"), self.tag),
                 "To: %s" % inv.get("from"),
                 "Call-ID: %s" % inv.call_id,
                 "CSeq: %d REFER" % cseq,
                 "Contact: <sip:agent@%s:%d>" % (LOOPBACK, self.port),
                 "Refer-To: %s" % refer_to,
                 "Referred-By: %s" % REFERRED_BY]
        lines += list(extra)
        lines.append("Content-Length: 0")
        return "\r\n".join(lines) + "\r\n\r\n"

    def send(self, text):
        check(self.xferd, "endpoint: no INVITE from xferd, nowhere to send")
        self._send_to(text, self.xferd)

    def wait_for(self, pred, what, limit):
        """The first received message matching pred, within limit seconds."""
        end = time.monotonic() + limit
        with self.cond:
            while True:
                for m in self.msgs:
                    if m.direction == "received" and pred(m):
                        return m
                left = end - time.monotonic()
                if left <= 0:
                    raise TestFailure("endpoint: no %s within %.1f s" % (what, limit))
                self.cond.wait(min(left, 0.1))

    def report(self):
        out = ["  --- endpoint (Python peer on port %d)%s" % (
            self.port, ": " + self.failure if self.failure else "")]
        return out + Peer.report(self)


# ---------------------------------------------------------------- xferd

ERROR_LINE = re.compile(r"^\S+ error ")


class Xferd:
    """xferd with a config of the test's directory: acme (the caller's
    trunk, its uri the endpoint), beta (a platform number as target) and
    the PSTN gateway."""

    def __init__(self, ctx, workers=1, transfer_timeout=5, t1_ms=T1_MS, gateway_transport="udp"):
        self.ctx = ctx
        self.gateway_transport = gateway_transport
        self.t1_ms = t1_ms
        self.workers = workers
        # PORT, and PORT+1+i for worker i when workers > 1.
        self.port = ctx.ports.block(workers + 2 if workers > 1 else 1)
        self.ep_port = ctx.ports.one()
        self.gw_port = ctx.ports.one()
        self.beta_port = ctx.ports.one()
        self.transfer_timeout = transfer_timeout
        self.config = os.path.join(ctx.dir, "xferd.ini")
        self.log = os.path.join(ctx.dir, "xferd.log")
        self.proc = None

    @property
    def target(self):
        return "%s:%d" % (LOOPBACK, self.port)

    @property
    def ep_uri(self):
        return "sip:agent@%s:%d" % (LOOPBACK, self.ep_port)

    @property
    def beta_uri(self):
        return "sip:agent2@%s:%d" % (LOOPBACK, self.beta_port)

    @property
    def gateway_uri(self):
        tcp = ";transport=tcp" if self.gateway_transport == "tcp" else ""
        return "sip:%s:%d%s" % (LOOPBACK, self.gw_port, tcp)

    def ports(self):
        """Every port xferd may send from (and write in Via/Contact)."""
        if self.workers == 1:
            return {self.port}
        return {self.port} | {self.port + 1 + i for i in range(self.workers)}

    def config_text(self):
        return harness.config_text({
            "engine": {"listen": "%s:%d" % (LOOPBACK, self.port),
                       "workers": self.workers,
                       "trusted": "127.0.0.0/8",
                       "transfer_timeout": self.transfer_timeout,
                       "drain_timeout": 3,
                       "t1_ms": self.t1_ms,
                       "log_level": "debug"},
            "pstn": {"gateway": self.gateway_uri, "geo_allow": "1 44"},
            "trunk acme": {"domain": ACME_DOMAIN, "uri": self.ep_uri, "numbers": ACME_NUMBER,
                           "geo_allow": "1 44"},
            "trunk beta": {"domain": BETA_DOMAIN, "uri": self.beta_uri, "numbers": BETA_NUMBER},
        }, "written by tests/transfer/run.py")

    def start(self):
        with open(self.config, "w") as f:
            f.write(self.config_text())
        self.proc = harness.spawn([self.ctx.xferd_exe, "-c", self.config], self.log,
                                  cwd=self.ctx.dir)
        self.ctx.procs.append(self.proc)
        harness.wait_answering(self.proc, self.port)
        return self

    def log_lines(self):
        return harness.read_text(self.log).splitlines()

    def finish(self):
        """Every test ends so: xferd alive, exits 0 at once on SIGTERM (no
        call left to drain), no error logged."""
        check(self.proc.poll() is None, "xferd died during the test (exit status %s)"
              % self.proc.returncode)
        t0 = time.monotonic()
        self.proc.send_signal(signal.SIGTERM)
        rc = harness.wait_exit(self.proc, EXIT_PROMPT)
        lines = self.log_lines()
        leaks = [l for l in lines if "drain timeout" in l or re.search(r"draining: [1-9]", l)]
        check(not leaks, "a call was left active after every peer was done (leak): %s" % leaks[:2])
        check(rc is not None, "xferd still running %.1f s after SIGTERM with no call"
              % (time.monotonic() - t0))
        check(rc == 0, "xferd exit status %s after SIGTERM (expected 0)" % rc)
        errors = [l for l in lines if ERROR_LINE.match(l)]
        check(not errors, "xferd logged errors: %s" % errors[:3])


# ---------------------------------------------------------- test context

class Ctx:
    def __init__(self, name, args, ports):
        self.name = name
        self.xferd_exe, self.sipp_exe = args.xferd, args.sipp
        self.ports = ports
        self.dir = harness.make_dir("xfer", name)
        self.procs, self.closers, self.peers = [], [], []
        self.xferd = None
        self.sipps = []

    def start_xferd(self, **kw):
        self.xferd = Xferd(self, **kw).start()
        return self.xferd

    def _uas(self, name, scenario, port, keys=None, pause_ms=None):
        s = Sipp(self, name, scenario, port, keys=keys, pause_ms=pause_ms)
        self.sipps.append(s)
        self.peers.append(s)
        return s.start().wait_listening()

    def endpoint(self, scenario, **keys):
        """A sipp endpoint on acme's uri; keys become -key NAME VALUE."""
        return self._uas("endpoint", scenario, self.xferd.ep_port, keys)

    def py_endpoint(self, **kw):
        ep = PyEndpoint(self, self.xferd.ep_port, **kw).start()
        self.peers.append(ep)
        return ep

    def gateway(self, scenario=None, pause_ms=200):
        """The PSTN gateway: a sipp target, or a Sink if none is wanted."""
        if scenario is None:
            return self._sink("gateway", self.xferd.gw_port)
        return self._uas("gateway", scenario, self.xferd.gw_port, pause_ms=pause_ms)

    def beta(self, scenario=None, pause_ms=200):
        """beta's uri: a sipp target, or a Sink if none is wanted."""
        if scenario is None:
            return self._sink("beta", self.xferd.beta_port)
        return self._uas("beta", scenario, self.xferd.beta_port, pause_ms=pause_ms)

    def _sink(self, name, port):
        s = Sink(self, name, port)
        self.peers.append(s)
        return s

    def caller(self, scenario, pause_ms=None):
        """The caller: calls acme's number from CALLER; started at once."""
        s = Sipp(self, "caller", scenario, self.ports.one(), target=self.xferd.target,
                 service=ACME_NUMBER, keys={"caller": CALLER}, pause_ms=pause_ms)
        self.sipps.append(s)
        self.peers.insert(0, s)
        return s.start()

    def wait_sipps(self):
        """Every sipp ends (each is bounded by its -timeout)."""
        for s in self.sipps:
            s.wait()

    def expect_sipps_ok(self):
        for s in self.sipps:
            s.expect_ok()

    def cleanup(self):
        for p in reversed(self.procs):
            try:
                harness.stop_process(p)
            except Exception:  # keep killing the others
                pass
        for c in self.closers:
            try:
                c()
            except Exception:
                pass

    def failure_report(self):
        out = []
        if self.xferd:
            out.append("  --- xferd log (%s), last lines:" % self.xferd.log)
            out += ["    " + l[:300] for l in harness.tail(self.xferd.log, 20)]
        for p in self.peers:
            out += p.report()
        return out


# ---------------------------------------------------------------- checks

def trace(msgs, limit=14):
    """An excerpt of a peer's messages for a failure reason: time (s, from
    the first), direction, start line, Call-ID, CSeq, and a NOTIFY's
    sipfrag and Subscription-State."""
    if not msgs:
        return " (none)"
    t0 = msgs[0].stamp
    out = []
    for m in msgs[:limit]:
        line = "        %+7.3f %s" % (m.stamp - t0, m.brief())
        if m.method == "NOTIFY":
            line += " [%s; %s]" % (m.frag, m.get("subscription-state"))
        out.append(line)
    if len(msgs) > limit:
        out.append("        ... %d more" % (len(msgs) - limit))
    return "\n" + "\n".join(out)


def one_response(peer, cseq, method="REFER"):
    """The final response the endpoint got to its request CSeq."""
    finals = [r for r in peer.responses(method, cseq) if r.status >= 200]
    check(finals, "endpoint: no final response to its %s (CSeq %d); it got:%s"
          % (method, cseq, trace(peer.received())))
    codes = sorted({r.status for r in finals})
    check(len(codes) == 1, "endpoint: several final responses to one %s: %s" % (method, codes))
    return finals[0]


def check_refer_response(ep, cseq, code):
    r = one_response(ep, cseq)
    check(r.status == code, "REFER (CSeq %d) answered %r, expected %d\n%s"
          % (cseq, r.start, code, r.text()))
    refers = ep.sent(lambda m: m.method == "REFER" and m.cseq[0] == cseq)
    check(refers, "endpoint: no REFER with CSeq %d was sent" % cseq)
    check(r.to_tag and r.to_tag == refers[0].to_tag,
          "the %d to REFER has To tag %r, expected the REFER's own %r (RFC 3261 §8.2.6.2)"
          % (r.status, r.to_tag, refers[0].to_tag))
    check(r.call_id == refers[0].call_id and r.from_tag == refers[0].from_tag,
          "the %d to REFER does not echo its Call-ID/From tag" % r.status)
    if code == 202:
        check(r.get("contact"), "202 to REFER without Contact (RFC 6665 §4.1):\n%s" % r.text())
    return r


def notifies(ep):
    """The NOTIFYs the endpoint got, one per transaction, in order."""
    return ep.requests("NOTIFY")


def check_notify(n, status, terminated, event="refer", b_leg=None):
    """One NOTIFY of RFC 3515 §2.4.4-5 as SPEC.md words it."""
    what = "NOTIFY %s" % (n.frag or "(no body)")
    check(n.frag_status == status, "NOTIFY body %r, expected a sipfrag 'SIP/2.0 %d ...'\n%s"
          % (n.frag, status, n.text()))
    check((n.get("event") or "").replace(" ", "") == event,
          "%s: Event %r, expected %r" % (what, n.get("event"), event))
    check((n.get("content-type") or "").replace(" ", "").lower() == "message/sipfrag;version=2.0",
          "%s: Content-Type %r, expected message/sipfrag;version=2.0" % (what, n.get("content-type")))
    ss = (n.get("subscription-state") or "").replace(" ", "")
    if terminated:
        check(ss.startswith("terminated"), "%s: Subscription-State %r, expected terminated"
              % (what, ss))
        if status == 200:
            check(ss == "terminated;reason=noresource", "%s: Subscription-State %r, expected "
                  "terminated;reason=noresource" % (what, ss))
    else:
        check(ss == "active;expires=60", "%s: Subscription-State %r, expected active;expires=60"
              % (what, ss))
    if b_leg is not None:
        check(n.call_id == b_leg.call_id and n.from_tag == b_leg.from_tag,
              "%s not in the B dialog: Call-ID %s From tag %s (dialog: %s, %s)"
              % (what, n.call_id, n.from_tag, b_leg.call_id, b_leg.from_tag))


def check_notifies(ep, expected, b_leg=None, event="refer", start=0, last=True):
    """The NOTIFY transactions from index start have the statuses expected,
    in order; the last of them terminates the subscription; if last, no
    other NOTIFY follows them."""
    alln = notifies(ep)
    ns = alln[start:]
    got = [n.frag_status for n in ns]
    ok = got[:len(expected)] == list(expected) and (not last or len(got) == len(expected))
    check(ok, "endpoint got NOTIFYs %s, expected %s%s"
          % ([n.frag_status for n in alln], [n.frag_status for n in alln[:start]] + list(expected),
             trace(alln)))
    for i, (n, st) in enumerate(zip(ns, expected)):
        check_notify(n, st, terminated=(i == len(expected) - 1), event=event, b_leg=b_leg)
    cseqs = [n.cseq[0] for n in alln]
    check(cseqs == sorted(set(cseqs)), "NOTIFY CSeqs not increasing: %s" % cseqs)
    return ns[:len(expected)]


def settle_until(stamp, limit=10.0):
    """Sleeps until wall-clock time stamp (at most limit seconds)."""
    left = stamp - time.time()
    if left > 0:
        time.sleep(min(left, limit))


def b_invite(ep):
    invs = [m for m in ep.requests("INVITE") if not m.to_tag]
    check(invs, "the endpoint got no INVITE (the call never reached it)")
    return invs[0]


def a_invite(caller):
    invs = caller.sent(lambda m: m.method == "INVITE" and not m.to_tag)
    check(invs, "the caller sent no INVITE")
    return invs[0]


def c_invites(target):
    """The target's INVITE transactions (initial INVITEs, no To tag)."""
    return [m for m in target.requests("INVITE") if not m.to_tag]


def check_target_invite(x, target, number, ruri, caller, ep, referred_by=REFERRED_BY):
    """The C leg's INVITE: one transaction, where SPEC says, RFC 3725 flow I
    (no SDP), caller ID preserved, Referred-By carried, its own dialog."""
    invs = c_invites(target)
    check(len(invs) == 1, "%s got %d INVITE transactions, expected exactly one:%s"
          % (target.name, len(invs), trace(invs)))
    inv = invs[0]
    check(inv.ruri == ruri, "target INVITE Request-URI %s, expected %s" % (inv.ruri, ruri))
    check(SipMsg.user_of(inv.get("from")) == CALLER, "target INVITE From %r: caller's number %s "
          "not preserved" % (inv.get("from"), CALLER))
    check(SipMsg.user_of(inv.get("to")) == number, "target INVITE To %r, expected the number %s"
          % (inv.get("to"), number))
    clen = (inv.get("content-length") or "0").strip()
    check(not inv.body.strip() and clen == "0",
          "target INVITE carries a body (RFC 3725 flow I: no SDP, the target offers):\n%s"
          % inv.text(40))
    if referred_by is not None:
        check(inv.get("referred-by") == referred_by, "target INVITE Referred-By %r, expected %r "
              "(RFC 3892: copied from the REFER)" % (inv.get("referred-by"), referred_by))
    vias = inv.vias()
    check(len(vias) == 1, "target INVITE has %d Via headers: %s" % (len(vias), vias))
    check(re.search(r"SIP/2\.0/UDP %s:(\d+)" % re.escape(LOOPBACK), vias[0])
          and int(re.search(r":(\d+)", vias[0]).group(1)) in x.ports(),
          "target INVITE Via %r is not xferd's" % vias[0])
    a, b = a_invite(caller), b_invite(ep)
    check(inv.call_id not in (a.call_id, b.call_id), "target INVITE reuses Call-ID %s of the "
          "A or B leg" % inv.call_id)
    check(inv.from_tag not in (a.from_tag, b.from_tag, None), "target INVITE From tag %r "
          "reused or missing" % inv.from_tag)
    return inv


def check_reconnected(caller, target, ep):
    """Flow I: the caller is re-INVITEd with the target's offer in the A
    dialog, answers, and the target's ACK carries that answer."""
    a = a_invite(caller)
    c_ok = target.sent(lambda m: m.status == 200 and m.cseq[1] == "INVITE")
    check(c_ok, "the target never answered 200")
    offer = c_ok[0].body.strip()
    reinvs = [m for m in caller.requests("INVITE")]
    check(len(reinvs) == 1, "the caller got %d re-INVITE transactions, expected one:%s"
          % (len(reinvs), trace(caller.received())))
    r = reinvs[0]
    check(r.call_id == a.call_id and r.to_tag == a.from_tag and r.from_tag,
          "re-INVITE not in the A dialog (Call-ID %s, To tag %s; A: %s, %s)"
          % (r.call_id, r.to_tag, a.call_id, a.from_tag))
    check(r.body.strip() == offer, "the caller's re-INVITE does not carry the target's offer "
          "unchanged:\n%s\n    --- target's 200 body:\n%s" % (r.text(40), c_ok[0].text(40)))
    answers = caller.sent(lambda m: m.status == 200 and m.cseq == r.cseq)
    check(answers, "the caller did not answer the re-INVITE")
    answer = answers[0].body.strip()
    acks = [m for m in target.received(lambda m: m.method == "ACK")
            if m.cseq[0] == c_ok[0].cseq[0]]
    check(acks, "the target never got the ACK of its 200")
    check(acks[0].body.strip() == answer, "the target's ACK does not carry the caller's answer "
          "unchanged:\n%s" % acks[0].text(40))
    acks_a = caller.received(lambda m: m.method == "ACK" and m.cseq[0] == r.cseq[0])
    check(acks_a, "xferd never ACKed the caller's 200 to the re-INVITE")
    check(not acks_a[0].body.strip(), "the caller's ACK carries a body (its 200 had the answer)")


def check_caller_bye_reaches_target(caller, target):
    byes = caller.sent(lambda m: m.method == "BYE")
    check(byes, "the caller sent no BYE")
    t_byes = target.received(lambda m: m.method == "BYE")
    check(t_byes, "the caller's BYE did not reach the target (caller and target not connected):%s"
          % trace(target.received()))
    ok = caller.received(lambda m: m.status == 200 and m.cseq[1] == "BYE")
    check(ok, "the caller's BYE got no 200")


def check_endpoint_bye_after(ep, after):
    """xferd hung up the endpoint, after the NOTIFY `after` (or at all)."""
    msgs = ep.received()
    byes = [i for i, m in enumerate(msgs) if m.method == "BYE"]
    check(byes, "the endpoint never got xferd's BYE:%s" % trace(msgs))
    if after is not None:
        idx = [i for i, m in enumerate(msgs) if m is after or (m.method == "NOTIFY" and
                                                                m.cseq == after.cseq)]
        check(idx and byes[0] > idx[0], "the endpoint's BYE came before NOTIFY %s:%s"
              % (after.frag, trace(msgs)))
    return msgs[byes[0]]


def check_no_reinvite(caller):
    r = caller.requests("INVITE")
    check(not r, "the caller was re-INVITEd although the transfer did not complete:%s" % trace(r))


def check_sink_empty(sink):
    got = sink.messages()
    check(not got, "%s (port %d) got messages, expected none:%s" % (sink.name, sink.port, trace(got)))


def check_cancelled(target):
    """The target's INVITE was CANCELled (§9.1: same branch and CSeq)."""
    inv = c_invites(target)
    check(inv, "the target got no INVITE")
    cancels = target.requests("CANCEL")
    check(cancels, "the target got no CANCEL:%s" % trace(target.received()))
    c = cancels[0]
    check(c.branch == inv[0].branch and c.cseq[0] == inv[0].cseq[0] and c.call_id == inv[0].call_id,
          "CANCEL does not match the INVITE (branch %s/%s, CSeq %s/%s)"
          % (c.branch, inv[0].branch, c.get("cseq"), inv[0].get("cseq")))
    check(not target.received(lambda m: m.method == "BYE"), "the target got BYE as well as CANCEL")


# ----------------------------------------------------------------- tests

TESTS = []


def test(name):
    def reg(fn):
        TESTS.append((name, fn))
        return fn
    return reg


def refer_to(number, domain=ACME_DOMAIN, params="", headers=""):
    return "<sip:%s@%s%s%s>" % (number, domain, params, headers)


def happy_path(ctx, number, workers=1):
    happy_body(ctx, ctx.start_xferd(workers=workers), number)


def happy_body(ctx, x, number):
    if number == BETA_NUMBER:
        gw, target = ctx.gateway(), ctx.beta("target_answer.xml")
        ruri = x.beta_uri
    else:
        target, gw = ctx.gateway("target_answer.xml"), ctx.beta()
        ruri = "sip:%s@%s:%d" % (number, LOOPBACK, x.gw_port)
    ep = ctx.endpoint("ep_transfer.xml", refer_to=refer_to(number))
    caller = ctx.caller("caller_transfer.xml")
    ctx.wait_sipps()
    b = b_invite(ep)
    check_refer_response(ep, 1, 202)
    r202 = ep.responses("REFER", 1)[-1]
    check(r202.get("refer-sub") is None, "202 carries Refer-Sub although the REFER did not ask")
    ns = check_notifies(ep, [100, 180, 200], b_leg=b)
    check_endpoint_bye_after(ep, ns[-1])
    check_target_invite(x, target, number, ruri, caller, ep)
    check_reconnected(caller, target, ep)
    check_caller_bye_reaches_target(caller, target)
    check_sink_empty(gw)
    ctx.expect_sipps_ok()


@test("happy_path_pstn")
def t_happy_path_pstn(ctx):
    """REFER to +14155551234 (not a platform number) → PSTN gateway with
    Request-URI sip:NUMBER@gateway; NOTIFY 100, 180, 200; BYE to the
    endpoint; caller and target connected."""
    happy_path(ctx, PSTN_TARGET)


def udp_sockets():
    """(local port, remote port, state) of every IPv4 UDP socket on
    127.0.0.1 (/proc/net/udp; state 01 is a connected socket)."""
    out = []
    with open("/proc/net/udp") as f:
        for line in f.readlines()[1:]:
            local, remote, st = line.split()[1:4]
            if local.startswith("0100007F:"):
                out.append((int(local[9:], 16), int(remote.split(":")[1], 16), st))
    return out


@test("configured_peers_connected")
def t_configured_peers_connected(ctx):
    """Each worker sends to the configured peers (the trunks' URIs, the
    gateway) through a socket on its own port connected to them, so the
    kernel skips a route lookup per datagram: with 2 workers, ports
    PORT+1 and PORT+2 each hold one connected to the endpoint, the gateway
    and beta, and no other port does. A transfer then goes through them
    (the endpoint's answers come back on the connected socket)."""
    x = ctx.start_xferd(workers=2)
    peers = {x.ep_port, x.gw_port, x.beta_port}
    conn = [(l, r) for l, r, st in udp_sockets() if st == "01" and r in peers]
    want = sorted((x.port + 1 + i, r) for i in range(2) for r in peers)
    check(sorted(conn) == want, "connected sockets (local port, peer port) %s, expected %s"
          % (sorted(conn), want))
    happy_body(ctx, x, PSTN_TARGET)


@test("happy_path_platform_number")
def t_happy_path_platform_number(ctx):
    """REFER to beta's number → beta's primary URI (geo rules do not apply);
    xferd with two workers (REFER and NOTIFYs on the worker ports)."""
    happy_path(ctx, BETA_NUMBER, workers=2)


def refused(ctx, code, refer_hdr, to_tag_suffix=""):
    """A REFER that must get `code`; nothing is started, the caller stays
    with the endpoint, which then hangs it up."""
    x = ctx.start_xferd()
    gw, beta = ctx.gateway(), ctx.beta()
    ep = ctx.endpoint("ep_refer_rejected.xml", refer_hdr=refer_hdr, to_tag_suffix=to_tag_suffix)
    caller = ctx.caller("caller_wait_bye.xml")
    ctx.wait_sipps()
    check_refer_response(ep, 1, code)
    check(not notifies(ep), "NOTIFY after a refused REFER:%s" % trace(notifies(ep)))
    check_sink_empty(gw)
    check_sink_empty(beta)
    check_no_reinvite(caller)
    check(caller.received(lambda m: m.method == "BYE"), "the endpoint's BYE did not reach the "
          "caller after the refused REFER (the call did not survive it)")
    ctx.expect_sipps_ok()
    return x


@test("refer_400_no_refer_to")
def t_refer_400_no_refer_to(ctx):
    refused(ctx, 400, "X-Comment: this REFER has no Refer-To")


@test("refer_400_not_e164")
def t_refer_400_not_e164(ctx):
    refused(ctx, 400, "Refer-To: " + refer_to("4155551234"))


@test("refer_403_other_domain")
def t_refer_403_other_domain(ctx):
    refused(ctx, 403, "Refer-To: " + refer_to(PSTN_TARGET, domain="evil.example.com"))


@test("refer_403_private_maddr")
def t_refer_403_private_maddr(ctx):
    refused(ctx, 403, "Refer-To: " + refer_to(PSTN_TARGET, params=";maddr=10.0.0.1"))


@test("refer_403_geo")
def t_refer_403_geo(ctx):
    """+33 (France) is in neither acme's nor [pstn]'s geo_allow (1 44)."""
    refused(ctx, 403, "Refer-To: " + refer_to("+33142685300"))


@test("refer_481_unknown_dialog")
def t_refer_481_unknown_dialog(ctx):
    """A REFER whose To tag is not xferd's: no such dialog."""
    refused(ctx, 481, "Refer-To: " + refer_to(PSTN_TARGET), to_tag_suffix="bad")


@test("refer_491_while_running")
def t_refer_491_while_running(ctx):
    """A second REFER while the first one's target rings: 491; the first
    transfer goes on and completes; nothing reaches the second target."""
    x = ctx.start_xferd()
    target = ctx.gateway("target_answer.xml", pause_ms=1200)
    beta = ctx.beta()
    ep = ctx.endpoint("ep_refer_491.xml", refer_to=refer_to(PSTN_TARGET),
                      refer_to2=refer_to(BETA_NUMBER))
    caller = ctx.caller("caller_transfer.xml")
    ctx.wait_sipps()
    b = b_invite(ep)
    check_refer_response(ep, 1, 202)
    check_refer_response(ep, 2, 491)
    ns = check_notifies(ep, [100, 180, 200], b_leg=b)
    check_endpoint_bye_after(ep, ns[-1])
    check_sink_empty(beta)
    check_target_invite(x, target, PSTN_TARGET, "sip:%s@%s:%d" % (PSTN_TARGET, LOOPBACK, x.gw_port),
                        caller, ep)
    check_reconnected(caller, target, ep)
    ctx.expect_sipps_ok()


@test("target_busy_486")
def t_target_busy_486(ctx):
    """The target answers 486: NOTIFY 486 terminated; the caller is still
    with the endpoint, which can hang it up."""
    ctx.start_xferd()
    target, beta = ctx.gateway("target_busy.xml"), ctx.beta()
    ep = ctx.endpoint("ep_transfer_busy.xml", refer_to=refer_to(PSTN_TARGET))
    caller = ctx.caller("caller_wait_bye.xml")
    ctx.wait_sipps()
    check_refer_response(ep, 1, 202)
    ns = check_notifies(ep, [100, 486], b_leg=b_invite(ep))
    check(ns[-1].frag == "SIP/2.0 486 Busy Here", "NOTIFY body %r, expected the target's status "
          "line 'SIP/2.0 486 Busy Here'" % ns[-1].frag)
    check(len(c_invites(target)) == 1, "the target got %d INVITEs" % len(c_invites(target)))
    check(target.received(lambda m: m.method == "ACK"), "xferd did not ACK the 486")
    check_no_reinvite(caller)
    check(not ep.received(lambda m: m.method == "BYE"), "xferd hung up the endpoint after a "
          "failed transfer (the caller must stay with it)")
    check(caller.received(lambda m: m.method == "BYE"),
          "the endpoint's BYE after the failed transfer did not reach the caller")
    check_sink_empty(beta)
    ctx.expect_sipps_ok()


def retry_to_beta(ctx, x, first_status, beta_pause_ms=200):
    """The endpoint's first REFER (to the PSTN) ends in NOTIFY first_status;
    its second (CSeq 7, beta's number) succeeds: NOTIFYs 100, 180, 200
    with Event: refer;id=7, the endpoint hangs up after the last, beta is
    called with the caller's number, and caller and beta are reconnected.
    The gateway is the test's. Returns the endpoint, the caller, beta and
    the first transfer's NOTIFYs."""
    target = ctx.beta("target_answer.xml", pause_ms=beta_pause_ms)
    ep = ctx.endpoint("ep_retry.xml", refer_to=refer_to(PSTN_TARGET),
                      refer_to2=refer_to(BETA_NUMBER))
    caller = ctx.caller("caller_transfer.xml")
    ctx.wait_sipps()
    b = b_invite(ep)
    check_refer_response(ep, 1, 202)
    first = check_notifies(ep, [100, first_status], b_leg=b, last=False)
    check_refer_response(ep, 7, 202)
    ns = check_notifies(ep, [100, 180, 200], b_leg=b, event="refer;id=7", start=2)
    check_endpoint_bye_after(ep, ns[-1])
    check_target_invite(x, target, BETA_NUMBER, x.beta_uri, caller, ep)
    check_reconnected(caller, target, ep)
    return ep, caller, target, first


@test("retry_after_failure")
def t_retry_after_failure(ctx):
    """486 from the first target, then a second REFER (CSeq 7) to beta's
    number succeeds; its NOTIFYs carry Event: refer;id=7."""
    x = ctx.start_xferd()
    busy = ctx.gateway("target_busy.xml")
    _, caller, target, _ = retry_to_beta(ctx, x, 486)
    check(len(c_invites(busy)) == 1, "the busy target got %d INVITEs" % len(c_invites(busy)))
    check_caller_bye_reaches_target(caller, target)
    ctx.expect_sipps_ok()


@test("target_no_answer_408")
def t_target_no_answer_408(ctx):
    """The target rings and never answers; transfer_timeout = 2 s: CANCEL,
    NOTIFY 408 terminated; the caller stays with the endpoint."""
    ctx.start_xferd(transfer_timeout=2)
    target, beta = ctx.gateway("target_ring_cancel.xml"), ctx.beta()
    ep = ctx.endpoint("ep_transfer_fail.xml", refer_to=refer_to(PSTN_TARGET))
    caller = ctx.caller("caller_wait_bye.xml")
    ctx.wait_sipps()
    check_refer_response(ep, 1, 202)
    ns = check_notifies(ep, [100, 180, 408], b_leg=b_invite(ep))
    refer = ep.sent(lambda m: m.method == "REFER")[0]
    dt = ns[-1].stamp - refer.stamp
    check(1.8 <= dt <= 3.5, "NOTIFY 408 came %.2f s after the REFER, expected about "
          "transfer_timeout = 2 s" % dt)
    check_cancelled(target)
    check_no_reinvite(caller)
    check(caller.received(lambda m: m.method == "BYE"),
          "the endpoint's BYE after the failed transfer did not reach the caller")
    check_sink_empty(beta)
    ctx.expect_sipps_ok()


@test("endpoint_bye_early")
def t_endpoint_bye_early(ctx):
    """The endpoint hangs up after NOTIFY 100/180: the caller gets BYE, the
    ringing target CANCEL, and no NOTIFY follows."""
    ctx.start_xferd()
    target, beta = ctx.gateway("target_ring_cancel.xml"), ctx.beta()
    ep = ctx.endpoint("ep_bye_early.xml", refer_to=refer_to(PSTN_TARGET))
    caller = ctx.caller("caller_wait_bye.xml")
    ctx.wait_sipps()
    check_refer_response(ep, 1, 202)
    ns = notifies(ep)
    check([n.frag_status for n in ns] == [100, 180], "endpoint got NOTIFYs %s before/after its "
          "BYE, expected [100, 180] and nothing after the BYE:%s"
          % ([n.frag_status for n in ns], trace(ep.messages())))
    check(one_response(ep, 2, "BYE").status == 200, "the endpoint's BYE was not answered 200")
    check(caller.received(lambda m: m.method == "BYE"), "the caller got no BYE after the endpoint "
          "hung up mid-transfer:%s" % trace(caller.received()))
    check_cancelled(target)
    check_no_reinvite(caller)
    check_sink_empty(beta)
    ctx.expect_sipps_ok()


@test("caller_hangs_up_during_transfer")
def t_caller_hangs_up_during_transfer(ctx):
    """The caller hangs up 1.5 s after the answer, while the target rings:
    CANCEL to the target, NOTIFY 487 terminated, then BYE to the endpoint."""
    ctx.start_xferd()
    target, beta = ctx.gateway("target_ring_cancel.xml"), ctx.beta()
    ep = ctx.endpoint("ep_caller_hangup.xml", refer_to=refer_to(PSTN_TARGET))
    caller = ctx.caller("caller_hangup.xml", pause_ms=1500)
    ctx.wait_sipps()
    check_refer_response(ep, 1, 202)
    ns = check_notifies(ep, [100, 180, 487], b_leg=b_invite(ep))
    check(ns[-1].frag == "SIP/2.0 487 Request Terminated",
          "NOTIFY body %r, expected 'SIP/2.0 487 Request Terminated'" % ns[-1].frag)
    check_endpoint_bye_after(ep, ns[-1])
    check_cancelled(target)
    check(one_response(caller, 2, "BYE").status == 200, "the caller's BYE was not answered 200")
    check_sink_empty(beta)
    ctx.expect_sipps_ok()


@test("refer_sub_false")
def t_refer_sub_false(ctx):
    """Refer-Sub: false (RFC 4488): the 202 echoes it, no NOTIFY at all, the
    transfer still completes."""
    x = ctx.start_xferd()
    target, beta = ctx.gateway("target_answer.xml"), ctx.beta()
    ep = ctx.endpoint("ep_refer_sub_false.xml", refer_to=refer_to(PSTN_TARGET))
    caller = ctx.caller("caller_transfer.xml")
    ctx.wait_sipps()
    r = check_refer_response(ep, 1, 202)
    check((r.get("refer-sub") or "").strip().lower() == "false",
          "202 to a REFER with Refer-Sub: false has Refer-Sub %r, expected false (RFC 4488 §4)\n%s"
          % (r.get("refer-sub"), r.text()))
    check(not notifies(ep), "NOTIFY sent although the REFER said Refer-Sub: false:%s"
          % trace(notifies(ep)))
    check_endpoint_bye_after(ep, None)
    check_target_invite(x, target, PSTN_TARGET, "sip:%s@%s:%d" % (PSTN_TARGET, LOOPBACK, x.gw_port),
                        caller, ep)
    check_reconnected(caller, target, ep)
    check_caller_bye_reaches_target(caller, target)
    check_sink_empty(beta)
    ctx.expect_sipps_ok()


@test("retransmitted_refer")
def t_retransmitted_refer(ctx):
    """The same REFER twice (same branch, same bytes): the server
    transaction absorbs it: one 202, sent twice; ONE INVITE at the target,
    one set of NOTIFYs; the transfer completes."""
    x = ctx.start_xferd()
    target, beta = ctx.gateway("target_answer.xml"), ctx.beta()
    ep = ctx.py_endpoint()
    caller = ctx.caller("caller_transfer.xml")
    ep.wait_for(lambda m: m.method == "ACK", "ACK of the call", 5)
    time.sleep(0.2)
    refer = ep.refer(1, refer_to(PSTN_TARGET))
    ep.send(refer)
    ep.wait_for(lambda m: m.status == 202, "202 to the REFER", 2)
    ep.send(refer)
    end = time.monotonic() + 2
    while len([m for m in ep.received(lambda m: m.cseq == (1, "REFER"))]) < 2 \
            and time.monotonic() < end:
        time.sleep(0.02)
    ep.wait_for(lambda m: m.method == "BYE", "xferd's BYE (transfer complete)", 8)
    ctx.wait_sipps()
    time.sleep(0.2)
    rsps = ep.received(lambda m: not m.is_request and m.cseq == (1, "REFER"))
    check([r.status for r in rsps] == [202, 202], "the REFER sent twice got %s, expected the one "
          "202 twice (a retransmission is absorbed by its transaction)"
          % [r.start for r in rsps])
    check(rsps[0].to_tag == rsps[1].to_tag, "the two 202s differ (To tags %s, %s): the "
          "retransmission was handled as a new request" % (rsps[0].to_tag, rsps[1].to_tag))
    ns = check_notifies(ep, [100, 180, 200], b_leg=b_invite(ep))
    extra = notifies(ep)[3:]
    check(not extra, "more NOTIFY transactions than one transfer's: %s%s"
          % ([n.frag for n in notifies(ep)], trace(notifies(ep))))
    check_endpoint_bye_after(ep, ns[-1])
    check_target_invite(x, target, PSTN_TARGET, "sip:%s@%s:%d" % (PSTN_TARGET, LOOPBACK, x.gw_port),
                        caller, ep)
    check_reconnected(caller, target, ep)
    check_caller_bye_reaches_target(caller, target)
    check_sink_empty(beta)
    ctx.expect_sipps_ok()


@test("embedded_headers")
def t_embedded_headers(ctx):
    """Refer-To ?User-to-User=...&X-Agent-Id=42&Via=...&Route=...&Call-ID=...:
    the target's INVITE gets User-to-User and X-Agent-Id, nothing else."""
    x = ctx.start_xferd()
    target, beta = ctx.gateway("target_answer.xml"), ctx.beta()
    headers = ("?User-to-User=56a390f3%3Bencoding%3Dhex&X-Agent-Id=42"
               "&Via=SIP%2F2.0%2FUDP%20evil.example.com%3Bbranch%3Dz9hG4bKevil"
               "&Route=%3Csip%3Aevil.example.com%3Blr%3E&Call-ID=evil-call-id"
               "&Max-Forwards=1&Contact=%3Csip%3Aevil%40evil.example.com%3E")
    ep = ctx.endpoint("ep_transfer.xml", refer_to=refer_to(PSTN_TARGET, headers=headers))
    caller = ctx.caller("caller_transfer.xml")
    ctx.wait_sipps()
    check_refer_response(ep, 1, 202)
    inv = check_target_invite(x, target, PSTN_TARGET,
                              "sip:%s@%s:%d" % (PSTN_TARGET, LOOPBACK, x.gw_port), caller, ep)
    check(inv.all("user-to-user") == ["56a390f3;encoding=hex"], "target INVITE User-to-User %r, "
          "expected ['56a390f3;encoding=hex'] (unescaped)\n%s" % (inv.all("user-to-user"), inv.text(40)))
    check(inv.all("x-agent-id") == ["42"], "target INVITE X-Agent-Id %r, expected ['42']\n%s"
          % (inv.all("x-agent-id"), inv.text(40)))
    check(not inv.all("route"), "embedded Route copied to the target INVITE: %r" % inv.all("route"))
    check("evil" not in inv.raw, "an embedded Via/Route/Call-ID/Contact leaked into the target "
          "INVITE:\n%s" % inv.text(40))
    check(inv.get("max-forwards") != "1", "embedded Max-Forwards copied to the target INVITE")
    check(len(inv.all("call-id")) == 1 and len(inv.all("contact")) <= 1,
          "the target INVITE has several Call-ID/Contact headers:\n%s" % inv.text(40))
    check_notifies(ep, [100, 180, 200], b_leg=b_invite(ep))
    check_reconnected(caller, target, ep)
    check_sink_empty(beta)
    ctx.expect_sipps_ok()


@test("notify_481")
def t_notify_481(ctx):
    """The endpoint answers NOTIFY 100 with 481: no more NOTIFYs (180, 200),
    the transfer still completes and xferd still hangs the endpoint up."""
    x = ctx.start_xferd()
    # The target rings 300 ms late: the 481 is back before the 180 exists.
    target, beta = ctx.gateway("target_slow_ring.xml"), ctx.beta()
    ep = ctx.endpoint("ep_notify_481.xml", refer_to=refer_to(PSTN_TARGET))
    caller = ctx.caller("caller_transfer.xml")
    ctx.wait_sipps()
    check_refer_response(ep, 1, 202)
    ns = notifies(ep)
    check([n.frag_status for n in ns] == [100], "endpoint got NOTIFYs %s, expected only [100] "
          "(its 481 ends the subscription):%s" % ([n.frag_status for n in ns], trace(ns)))
    check_endpoint_bye_after(ep, ns[0])
    check_target_invite(x, target, PSTN_TARGET, "sip:%s@%s:%d" % (PSTN_TARGET, LOOPBACK, x.gw_port),
                        caller, ep)
    check_reconnected(caller, target, ep)
    check_caller_bye_reaches_target(caller, target)
    check_sink_empty(beta)
    ctx.expect_sipps_ok()


@test("notify_200_retransmitted_after_completion")
def t_notify_200_retransmitted_after_completion(ctx):
    """RFC 3261 §17.1.2.2: a NOTIFY's transaction, once its 200 is in, still
    absorbs a retransmitted 200 for T4 (Timer K); a 200 whose branch has
    xferd's form but not a branch it sent matches nothing. The endpoint
    sends every 200 to a NOTIFY again after the transfer, and one forged."""
    x = ctx.start_xferd()
    target, beta = ctx.gateway("target_answer.xml"), ctx.beta()
    ep = ctx.py_endpoint()
    caller = ctx.caller("caller_transfer.xml")
    ep.wait_for(lambda m: m.method == "ACK", "ACK of the call", 5)
    ep.send(ep.refer(1, refer_to(PSTN_TARGET)))
    ep.wait_for(lambda m: m.method == "BYE", "xferd's BYE (transfer complete)", 8)
    ctx.wait_sipps()
    check_notifies(ep, [100, 180, 200], b_leg=b_invite(ep))
    oks = [m for m in ep.sent(lambda m: m.status == 200 and m.cseq[1] == "NOTIFY")]
    check(len(oks) == 3, "the endpoint answered %d NOTIFYs, expected 3" % len(oks))
    for m in oks:
        ep.send(m.raw)
    branch = oks[0].branch
    forged = branch[:-4] + ("0000" if branch[-4:] != "0000" else "1111")
    ep.send(oks[0].raw.replace(branch, forged))
    # In Timer K: kept by the worker as a key, or by the transaction itself.
    absorbed = re.compile(r"absorbed: its transaction is in Timer K|to NOTIFY, txn Completed")
    for _ in range(30):  # xferd logs as it reads them: 3 s at most
        got = [l for l in x.log_lines() if "response 200 " in l and
               (absorbed.search(l) or "matches no transaction" in l)]
        if len(got) >= 4:
            break
        time.sleep(0.1)
    check(sum(bool(absorbed.search(l)) for l in got) == 3 and
          sum("matches no transaction" in l for l in got) == 1,
          "3 retransmitted 200s to NOTIFY and a forged one: expected 3 absorbed and 1 "
          "unmatched, xferd logged:\n  %s" % "\n  ".join(got))
    check_reconnected(caller, target, ep)
    check_sink_empty(beta)
    ctx.expect_sipps_ok()


@test("notify_retransmission_timer_e")
def t_notify_retransmission_timer_e(ctx):
    """SPEC: every NOTIFY is retransmitted over UDP per RFC 3261 (§17.1.2.2,
    Timer E): the endpoint leaves NOTIFY 100 unanswered for 0.65 s; its
    copies must come T1, 2*T1, 4*T1 apart (100, 200, 400 ms), none early,
    and stop once answered; the transfer then completes."""
    x = ctx.start_xferd()
    target, beta = ctx.gateway("target_answer.xml", pause_ms=1000), ctx.beta()
    first = {}

    def policy(m):
        if m.frag_status != 100:
            return 200
        t0 = first.setdefault(m.cseq[0], time.monotonic())
        return 200 if time.monotonic() - t0 >= 0.65 else None

    ep = ctx.py_endpoint(notify_policy=policy)
    caller = ctx.caller("caller_transfer.xml")
    ep.wait_for(lambda m: m.method == "ACK", "ACK of the call", 5)
    time.sleep(0.3)  # xferd idle for a while before the REFER
    ep.send(ep.refer(1, refer_to(PSTN_TARGET)))
    ep.wait_for(lambda m: m.method == "BYE", "xferd's BYE (transfer complete)", 8)
    ctx.wait_sipps()
    check_refer_response(ep, 1, 202)
    n100 = ep.received(lambda m: m.method == "NOTIFY" and m.frag_status == 100)
    check(n100, "no NOTIFY 100")
    copies = [m for m in n100 if m.cseq == n100[0].cseq and m.branch == n100[0].branch]
    times = [round((m.stamp - copies[0].stamp) * 1000) for m in copies]
    gaps = [b - a for a, b in zip(times, times[1:])]
    want = [T1_MS, 2 * T1_MS, 4 * T1_MS]
    check(len(gaps) >= 3, "NOTIFY 100 left unanswered for 650 ms was sent at %s ms, expected "
          "retransmissions at +100, +300, +700 ms (gaps %s)" % (times, want))
    bad = [(g, w) for g, w in zip(gaps, want) if not (0.8 * w <= g <= 2 * w + 100)]
    check(not bad, "NOTIFY 100 sent at %s ms (gaps %s ms), expected gaps %s ms (Timer E, "
          "T1 = %d ms); wrong gaps (got, expected): %s" % (times, gaps, want, T1_MS, bad))
    answered = [m for m in ep.sent(lambda m: m.status == 200 and m.cseq == copies[0].cseq)]
    late = [m for m in copies if answered and m.stamp > answered[0].stamp + 0.05]
    check(not late, "NOTIFY 100 still retransmitted after its 200: %s" % trace(late))
    check_notifies(ep, [100, 180, 200], b_leg=b_invite(ep))
    check_target_invite(x, target, PSTN_TARGET, "sip:%s@%s:%d" % (PSTN_TARGET, LOOPBACK, x.gw_port),
                        caller, ep)
    check_reconnected(caller, target, ep)
    check_sink_empty(beta)
    ctx.expect_sipps_ok()


def transfer_503(ctx):
    """The endpoint REFERs to the PSTN (the gateway is the test's) and the
    transfer fails as unreachable: 202, NOTIFYs 100 and 503 terminated; the
    caller stays with the endpoint, which hangs it up, and beta gets
    nothing. Returns the seconds from the REFER to the NOTIFY 503."""
    beta = ctx.beta()
    ep = ctx.endpoint("ep_transfer_busy.xml", refer_to=refer_to(PSTN_TARGET))
    caller = ctx.caller("caller_wait_bye.xml")
    ctx.wait_sipps()
    check_refer_response(ep, 1, 202)
    ns = check_notifies(ep, [100, 503], b_leg=b_invite(ep))
    refer = ep.sent(lambda m: m.method == "REFER")[0]
    check_no_reinvite(caller)
    check(caller.received(lambda m: m.method == "BYE"),
          "the endpoint's BYE after the failed transfer did not reach the caller")
    check_sink_empty(beta)
    return ns[-1].stamp - refer.stamp


@test("target_unreachable_503")
def t_target_unreachable_503(ctx):
    """The gateway never answers anything: at transfer_timeout (2 s) NOTIFY
    503 terminated (SPEC: unreachable → 503), no CANCEL (nothing to cancel
    before a provisional, RFC 3261 §9.1); the caller stays with the
    endpoint, which hangs it up."""
    ctx.start_xferd(transfer_timeout=2, t1_ms=50)
    gw = ctx.gateway()
    dt = transfer_503(ctx)
    check(1.8 <= dt <= 3.5, "NOTIFY 503 came %.2f s after the REFER, expected about "
          "transfer_timeout = 2 s" % dt)
    invs = c_invites(gw)
    check(len(invs) == 1, "the gateway got %d INVITE transactions, expected one" % len(invs))
    check(not gw.received(lambda m: m.method == "CANCEL"), "CANCEL sent to a target that never "
          "sent a provisional response (RFC 3261 §9.1 forbids it)")
    ctx.expect_sipps_ok()
    # The unanswered INVITE lives on until Timer B (64*T1 = 3.2 s), and the
    # call with it; after that nothing may be left (checked at SIGTERM).
    settle_until(invs[0].stamp + 64 * 0.050 + 0.5)


def port_closed_test(ctx, transport):
    """Nothing listens on the gateway's port: the ICMP port unreachable
    (UDP) or the refused connection (TCP) is a transport error (RFC 3261
    §18.4, §17.1.4), so NOTIFY 503 terminated comes at once, not at
    transfer_timeout (10 s here); no CANCEL; the caller stays with the
    endpoint, which hangs it up."""
    x = ctx.start_xferd(transfer_timeout=10, gateway_transport=transport)
    dt = transfer_503(ctx)
    check(dt < 1.5, "NOTIFY 503 came %.2f s after the REFER; the %s error must end the "
          "transfer at once (transfer_timeout is 10 s)"
          % (dt, "ICMP" if transport == "udp" else "connect"))
    log = harness.read_text(x.log)
    check(re.search(r"INVITE to 127\.0\.0\.1:%d failed: Connection refused" % x.gw_port, log),
          "xferd did not log the target's INVITE as refused")
    ctx.expect_sipps_ok()


@test("target_port_closed_udp_503_at_once")
def t_target_port_closed_udp_503_at_once(ctx):
    port_closed_test(ctx, "udp")


@test("target_port_closed_tcp_503_at_once")
def t_target_port_closed_tcp_503_at_once(ctx):
    port_closed_test(ctx, "tcp")


@test("retry_after_unreachable_503")
def t_retry_after_unreachable_503(ctx):
    """The gateway never answers: at transfer_timeout (2 s) NOTIFY 503
    (SPEC: unreachable), the caller stays. The endpoint REFERs again at
    once (CSeq 7, beta's number), and beta rings 1.5 s before answering.
    With t1_ms = 50 the first INVITE's Timer B (64*T1 = 3.2 s) expires
    while the second target rings: that must not touch the second
    transfer, which completes (NOTIFY 100, 180, 200 with id=7)."""
    x = ctx.start_xferd(transfer_timeout=2, t1_ms=50)
    gw = ctx.gateway()
    ep, caller, target, first = retry_to_beta(ctx, x, 503, beta_pause_ms=1500)
    refer1 = ep.sent(lambda m: m.method == "REFER")[0]
    dt = first[-1].stamp - refer1.stamp
    check(1.8 <= dt <= 3.0, "NOTIFY 503 came %.2f s after the REFER, expected about "
          "transfer_timeout = 2 s" % dt)
    invs = c_invites(gw)
    check(len(invs) == 1, "the unreachable gateway got %d INVITE transactions, expected one"
          % len(invs))
    check(not gw.received(lambda m: m.method == "CANCEL"), "CANCEL sent to a target that never "
          "sent a provisional response (RFC 3261 §9.1 forbids it)")
    check_caller_bye_reaches_target(caller, target)
    ctx.expect_sipps_ok()
    settle_until(invs[0].stamp + 64 * 0.050 + 0.5)


@test("earlier_target_ringing_late_is_cancelled")
def t_earlier_target_ringing_late_is_cancelled(ctx):
    """The gateway stays silent past transfer_timeout (2 s): NOTIFY 503, no
    CANCEL yet (§9.1: none before a provisional). The endpoint REFERs
    again at once, to beta, which rings 1.5 s and answers. At 2.7 s the
    gateway rings after all: xferd CANCELs that INVITE then, and the
    second transfer completes undisturbed."""
    x = ctx.start_xferd(transfer_timeout=2, t1_ms=50)
    gw = ctx.gateway("target_late_ring_cancel.xml", pause_ms=2700)
    retry_to_beta(ctx, x, 503, beta_pause_ms=1500)
    ringing = gw.sent(lambda m: m.status == 180)
    cancels = gw.received(lambda m: m.method == "CANCEL")
    check(ringing and cancels, "the gateway's late 180 got no CANCEL")
    check(cancels[0].stamp >= ringing[0].stamp, "CANCEL reached the gateway before its 180")
    inv = c_invites(gw)[0]
    check(cancels[0].branch == inv.branch and cancels[0].call_id == inv.call_id
          and cancels[0].cseq[0] == inv.cseq[0],
          "the CANCEL does not match the gateway's INVITE (branch, Call-ID, CSeq; §9.1)")
    ctx.expect_sipps_ok()


def check_late_answer_ended(gw):
    """The gateway's one INVITE got a 200 after xferd had moved on: the
    ACK and then the BYE are in that 200's dialog (Call-ID, both tags),
    the ACK with the INVITE's CSeq (§13.2.2.4), the BYE with a higher one,
    both to its Contact; the BYE was answered and the transfer to beta
    was not disturbed (retry_to_beta checked that)."""
    inv = c_invites(gw)[0]
    ok = gw.sent(lambda m: m.status == 200 and m.cseq[1] == "INVITE")
    acks, byes = gw.requests("ACK"), gw.requests("BYE")
    check(ok and acks and byes, "the late 200 got %d ACKs and %d BYEs:%s"
          % (len(acks), len(byes), trace(gw.received())))
    for what, r in (("ACK", acks[0]), ("BYE", byes[0])):
        check(r.call_id == inv.call_id and r.from_tag == inv.from_tag
              and r.to_tag == ok[0].to_tag,
              "the %s is not in the late 200's dialog (Call-ID %s, tags %s/%s)"
              % (what, r.call_id, r.from_tag, r.to_tag))
        check(r.ruri.startswith("sip:target@"), "the %s goes to %s, not the 200's Contact"
              % (what, r.ruri))
    check(acks[0].cseq == (inv.cseq[0], "ACK"), "ACK CSeq %s, want %s ACK"
          % (acks[0].cseq, inv.cseq[0]))
    check(byes[0].cseq[0] > inv.cseq[0], "BYE CSeq %s not above the INVITE's %s"
          % (byes[0].cseq, inv.cseq[0]))
    check(byes[0].stamp >= acks[0].stamp, "the BYE went out before the ACK")


@test("earlier_target_answering_late_is_acked_and_hung_up")
def t_earlier_target_answering_late_is_acked_and_hung_up(ctx):
    """The gateway stays silent past transfer_timeout (2 s): NOTIFY 503.
    The endpoint REFERs again at once, to beta, which answers after 1.5 s.
    At 2.7 s the gateway answers after all: xferd ACKs that 200 and hangs
    it up, or the target would stay up alone until it gave up on the ACK."""
    x = ctx.start_xferd(transfer_timeout=2, t1_ms=50)
    gw = ctx.gateway("target_late_answer.xml", pause_ms=2700)
    retry_to_beta(ctx, x, 503, beta_pause_ms=1500)
    check_late_answer_ended(gw)
    ctx.expect_sipps_ok()


@test("earlier_target_answer_crossing_cancel_is_hung_up")
def t_earlier_target_answer_crossing_cancel_is_hung_up(ctx):
    """As earlier_target_ringing_late_is_cancelled, but the gateway's 200
    crosses xferd's CANCEL (§9.1: the CANCEL then has no effect): that
    200 gets its ACK and a BYE."""
    x = ctx.start_xferd(transfer_timeout=2, t1_ms=50)
    gw = ctx.gateway("target_late_ring_answer.xml", pause_ms=2700)
    retry_to_beta(ctx, x, 503, beta_pause_ms=1500)
    check(gw.received(lambda m: m.method == "CANCEL"), "the late 180 got no CANCEL")
    check_late_answer_ended(gw)
    ctx.expect_sipps_ok()


@test("target_hangs_up_after_transfer")
def t_target_hangs_up_after_transfer(ctx):
    """After the transfer the target hangs up: its BYE is relayed to the
    caller (in the A dialog) and answered 200."""
    ctx.start_xferd()
    target, beta = ctx.gateway("target_answer_bye.xml"), ctx.beta()
    ep = ctx.endpoint("ep_transfer.xml", refer_to=refer_to(PSTN_TARGET))
    caller = ctx.caller("caller_transfer_wait_bye.xml")
    ctx.wait_sipps()
    check_refer_response(ep, 1, 202)
    ns = check_notifies(ep, [100, 180, 200], b_leg=b_invite(ep))
    check_endpoint_bye_after(ep, ns[-1])
    check_reconnected(caller, target, ep)
    a = a_invite(caller)
    byes = caller.requests("BYE")
    check(byes, "the target's BYE did not reach the caller:%s" % trace(caller.received()))
    check(byes[0].call_id == a.call_id and byes[0].to_tag == a.from_tag,
          "the relayed BYE is not in the A dialog (Call-ID %s, To tag %s)"
          % (byes[0].call_id, byes[0].to_tag))
    check(one_response(target, 1, "BYE").status == 200, "the target's BYE was not answered 200")
    check_sink_empty(beta)
    ctx.expect_sipps_ok()


# ------------------------------------------------------------------ main

def run_body(ctx, fn):
    fn(ctx)
    for p in ctx.peers:
        if isinstance(p, PyEndpoint) and p.failure:
            raise TestFailure("endpoint peer failed: %s" % p.failure)
    if ctx.xferd:
        ctx.xferd.finish()


def run_one(name, fn, args, ports, results):
    ctx = Ctx(name, args, ports)
    t0 = time.monotonic()
    try:
        reason = harness.failure_of(run_body, ctx, fn)
    finally:
        ctx.cleanup()
    lines = reason.split("\n") if reason is not None else None
    passed = results.verdict(name, time.monotonic() - t0, lines and lines[0])
    if not passed:
        if lines[1:]:
            print("\n".join("  " + l for l in lines[1:]))
        if args.verbose:
            for l in ctx.failure_report():
                print(l)
    if harness.close_dir(ctx.dir, passed, args.keep):
        print("  kept: %s" % ctx.dir, flush=True)


def main():
    ap = argparse.ArgumentParser(description="xferd transfer tests (sipp and Python peers on 127.0.0.1)")
    harness.add_run_args(ap)
    ap.add_argument("-v", "--verbose", action="store_true",
                    help="on failure, print the logs too (xferd's, each peer's messages)")
    args = ap.parse_args()
    tests = list(TESTS)
    if args.list:
        for name, _ in tests:
            print(name)
        return 0
    tests = harness.pick(ap, tests, args.only)
    status = harness.need_xferd_and_sipp(ap, args)
    if status is not None:
        return status
    ports = harness.Ports()
    results = harness.Results("transfer")
    t0 = time.monotonic()
    for name, fn in tests:
        run_one(name, fn, args, ports, results)
    print("transfer: %.1f s" % (time.monotonic() - t0))
    return results.summary()


if __name__ == "__main__":
    sys.exit(main())
