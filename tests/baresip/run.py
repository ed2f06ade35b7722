#!/usr/bin/env python3
"""run.py: xferd's interop test with baresip as the trunk's endpoint: the
REFER is baresip's own (its menu "transfer" command, call_transfer() in
baresip 1.0.0, sipevent_drefer() of libre), not a scripted one.

    run.py --xferd PATH [--baresip PATH] [--keep] [--timeout S] [-v]

On free ports of 127.0.0.1 it starts baresip (headless: a config directory
of its own, modules g711, aubridge, account, menu, ctrl_tcp; no sound
device: aubridge's player and source; one account sip:ep@127.0.0.1:PORT
with answermode=auto; -s for its SIP trace), xferd (trunk acme, domain
acme.zt.example.net, uri = baresip, numbers +14155550100; [pstn] gateway =
the target; log_level = info; metrics), and two scripted UDP peers, the
caller and the target (tools/demo's approach):

    caller --INVITE--> xferd --INVITE--> baresip (auto-answers 200)
    test --ctrl_tcp "transfer sip:+14155551234@acme.zt.example.net"--> baresip
    baresip --REFER--> xferd (202, NOTIFYs) --INVITE--> target (180, 200)
    xferd --re-INVITE--> caller (200), ACK --> target, BYE --> baresip
    caller --BYE--> xferd --BYE--> target

baresip is driven over ctrl_tcp (netstring-framed JSON commands, the same
commands as its menu; its events, CALL_ESTABLISHED, CALL_CLOSED,
TRANSFER_FAILED..., come back on the same connection).

Checks: baresip answers; baresip sends REFER and gets 202 and NOTIFYs 100
... 200 (terminated); the target's INVITE has the caller's number as From
user; the caller gets a re-INVITE and the target an ACK with SDP; baresip's
call ends and xferd BYEs it after NOTIFY 200 (baresip 1.0.0 also sends a
BYE of its own on NOTIFY 200: the two cross; the test only asks that
baresip's gets a final response); the caller's BYE reaches the target;
xferd_calls_active returns to 0; xferd logs "transfer: ... outcome=success";
xferd exits 0 on SIGTERM. Each is printed PASS/FAIL; on failure the
timeline, the peers' ladder, xferd's log and baresip's SIP trace are shown
and the directory is kept. Final line "baresip: N passed, M failed"; exit 1
on a failure, 77 (meson: skip) when baresip is not installed. Every process
is started here and ended by its PID in a finally; every wait is bounded.
Standard library only.
"""

import argparse
import json
import os
import re
import select
import shutil
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import harness  # noqa: E402  (tests/lib, after the path above)
from harness import LOOPBACK, TestFailure  # noqa: E402

TRUNK_DOMAIN = "acme.zt.example.net"
TRUNK_NUMBER = "+14155550100"
CALLER_NUMBER = "+12125550147"
TARGET_NUMBER = "+14155551234"  # not a platform number: goes to [pstn] gateway
REFER_TO = "sip:%s@%s" % (TARGET_NUMBER, TRUNK_DOMAIN)
KILL_GRACE = 3  # s between SIGTERM and SIGKILL
SDP = ("v=0\r\no=- {sess} {ver} IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
       "m=audio {port} RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\na=sendrecv\r\n")


def metric(port, name):
    """The value of an unlabelled metric at xferd's /metrics, or None."""
    try:
        s = socket.create_connection((LOOPBACK, port), timeout=1)
    except OSError:
        return None
    try:
        s.sendall(b"GET /metrics HTTP/1.0\r\nHost: %s\r\n\r\n" % LOOPBACK.encode())
        data = b""
        while True:
            d = s.recv(65536)
            if not d:
                break
            data += d
    except OSError:
        return None
    finally:
        s.close()
    m = re.search(r"(?m)^%s (\S+)$" % re.escape(name), data.decode(errors="replace"))
    return float(m.group(1)) if m else None


# ---------------------------------------------------------------- baresip

BARESIP_CONFIG = """# written by tests/baresip/run.py: headless, loopback only
poll_method		epoll
sip_listen		{lo}:{sip}
call_local_timeout	120
call_max_calls		4
# no sound device: aubridge's player and source on one bridge device (the
# decoded audio loops back into the encoder; ausine does 48 kHz only)
audio_source		aubridge,xferd-test
audio_player		aubridge,xferd-test
audio_alert		aubridge,xferd-test
rtp_tos			0
module_path		{modules}
module			g711.so
module			aubridge.so
module_app		account.so
module_app		menu.so
module_app		ctrl_tcp.so
ctrl_tcp_listen		{lo}:{ctrl}
"""
BARESIP_ACCOUNTS = "<sip:ep@{lo}:{sip}>;regint=0;answermode=auto;audio_codecs=pcmu\n"


def module_dir(baresip):
    for d in ("/usr/lib/baresip/modules", "/usr/local/lib/baresip/modules",
              os.path.join(os.path.dirname(os.path.dirname(os.path.realpath(baresip))),
                           "lib/baresip/modules")):
        if os.path.exists(os.path.join(d, "ctrl_tcp.so")):
            return d
    return None


class Ctrl:
    """baresip's ctrl_tcp: netstring-framed JSON, commands out, responses
    and events in."""

    def __init__(self, port, proc, limit=10.0):
        end = time.monotonic() + limit
        while True:
            if not proc.alive():
                raise TestFailure("baresip exited (%s) before ctrl_tcp listened"
                              % proc.p.returncode)
            try:
                self.sock = socket.create_connection((LOOPBACK, port), timeout=0.5)
                break
            except OSError:
                if time.monotonic() > end:
                    raise TestFailure("baresip's ctrl_tcp not listening on %d after %.0f s"
                                  % (port, limit))
                time.sleep(0.05)
        self.sock.setblocking(False)
        self.buf = b""
        self.events, self.responses = [], []
        self.token = 0

    def send(self, command, params=""):
        self.token += 1
        data = json.dumps({"command": command, "params": params,
                           "token": str(self.token)}).encode()
        self.sock.setblocking(True)
        self.sock.sendall(b"%d:%s," % (len(data), data))
        self.sock.setblocking(False)
        return str(self.token)

    def read(self):
        """Whatever arrived: appended to events / responses."""
        try:
            while True:
                d = self.sock.recv(65536)
                if not d:
                    break
                self.buf += d
        except (BlockingIOError, InterruptedError):
            pass
        got = []
        while True:
            m = re.match(rb"(\d+):", self.buf)
            if not m:
                break
            n = int(m.group(1))
            end = m.end() + n
            if len(self.buf) < end + 1:
                break
            try:
                obj = json.loads(self.buf[m.end():end].decode(errors="replace"))
            except ValueError:
                obj = {"raw": self.buf[m.end():end].decode(errors="replace")}
            self.buf = self.buf[end + 1:]
            (self.events if obj.get("event") else self.responses).append(obj)
            got.append(obj)
        return got

    def response(self, token):
        for r in self.responses:
            if r.get("token") == token:
                return r
        return None

    def event(self, kind):
        return [e for e in self.events if e.get("type") == kind]

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


def trace_messages(text):
    """baresip's -s SIP trace: (direction, first line, message) of every
    message, direction "in" (received by baresip) or "out"."""
    out = []
    # libre's trace: "#\n<proto> <src> -> <dst>\n<message>\n" per message;
    # baresip 1.0.0 prints "<src> -> <dst>" preceded by the transport.
    blocks = re.split(r"\n(?=(?:udp|tcp|UDP|TCP)\s+\S+\s+->\s+\S+)", text)
    for b in blocks:
        m = re.match(r"(?:udp|tcp|UDP|TCP)\s+(\S+)\s+->\s+(\S+)\s*\n(.*)", b, re.S)
        if not m:
            continue
        msg = m.group(3)
        first = msg.split("\n", 1)[0].strip()
        out.append((m.group(1), m.group(2), first, msg))
    return out


# ---------------------------------------------------------------- SIP peers

class Msg:
    def __init__(self, data):
        head, _, self.body = data.partition("\r\n\r\n")
        lines = head.split("\r\n")
        self.first = lines[0]
        self.headers = []
        for ln in lines[1:]:
            name, _, value = ln.partition(":")
            self.headers.append((name.strip().lower(), value.strip()))
        parts = self.first.split(" ", 2)
        self.is_request = not self.first.startswith("SIP/2.0")
        self.method = parts[0] if self.is_request else None
        self.status = None if self.is_request else int(parts[1])

    def get(self, name, default=""):
        compact = {"f": "from", "t": "to", "v": "via", "i": "call-id", "m": "contact",
                   "l": "content-length", "c": "content-type"}
        for n, v in self.headers:
            if compact.get(n, n) == name.lower():
                return v
        return default

    def all(self, name):
        compact = {"v": "via"}
        return [v for n, v in self.headers if compact.get(n, n) == name.lower()]

    def cseq(self):
        num, meth = self.get("cseq").split()
        return int(num), meth

    def label(self):
        return self.first


def uri_user(nameaddr):
    m = re.search(r"sips?:([^@;>]+)@", nameaddr)
    return m.group(1) if m else None


class Peer:
    """A scripted UDP user agent (tools/demo's Peer), recording what it saw."""

    def __init__(self, name, port, xferd, ladder):
        self.name, self.port, self.xferd, self.ladder = name, port, xferd, ladder
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((LOOPBACK, port))
        self.tag = "%s%d" % (name[:3], port)
        self.cseq = 1
        self.dialog = None  # (call_id, local, remote, target)
        self.got = []  # every Msg received

    def send(self, text):
        self.sock.sendto(text.encode(), self.xferd)
        self.ladder.append("%-7s -> xferd   %s" % (self.name, text.split("\r\n", 1)[0]))

    def respond(self, req, code, reason, body="", extra=""):
        to = req.get("to")
        if ";tag=" not in to:
            to += ";tag=" + self.tag
        vias = "".join("Via: %s\r\n" % v for v in req.all("via"))
        ctype = "Content-Type: application/sdp\r\n" if body else ""
        self.send("SIP/2.0 %d %s\r\n%sFrom: %s\r\nTo: %s\r\nCall-ID: %s\r\nCSeq: %s\r\n"
                  "Contact: <sip:%s@%s:%d>\r\n%s%sContent-Length: %d\r\n\r\n%s" % (
                      code, reason, vias, req.get("from"), to, req.get("call-id"),
                      req.get("cseq"), self.name, LOOPBACK, self.port, extra, ctype,
                      len(body), body))

    def request(self, method, extra="", body="", cseq=None):
        call_id, local, remote, target = self.dialog
        self.cseq = cseq or self.cseq + 1
        ctype = "Content-Type: application/sdp\r\n" if body else ""
        self.send("%s %s SIP/2.0\r\nVia: SIP/2.0/UDP %s:%d;branch=z9hG4bK%s%d%s%s;rport\r\n"
                  "Max-Forwards: 70\r\nFrom: %s\r\nTo: %s\r\nCall-ID: %s\r\nCSeq: %d %s\r\n"
                  "Contact: <sip:%s@%s:%d>\r\n%s%sContent-Length: %d\r\n\r\n%s" % (
                      method, target, LOOPBACK, self.port, self.tag, self.cseq, method[:3],
                      os.urandom(3).hex(), local, remote, call_id, self.cseq, method,
                      self.name, LOOPBACK, self.port, extra, ctype, len(body), body))

    def confirm_uas(self, invite):
        contact = re.search(r"<([^>]+)>", invite.get("contact"))
        target = contact.group(1) if contact else invite.get("contact")
        to = invite.get("to")
        self.dialog = (invite.get("call-id"), to if ";tag=" in to else to + ";tag=" + self.tag,
                       invite.get("from"), target)

    def requests(self, method):
        return [m for m in self.got if m.is_request and m.method == method]

    def responses(self, method):
        return [m for m in self.got if not m.is_request and m.cseq()[1] == method]


# ---------------------------------------------------------------- the test

class Run:
    def __init__(self, args):
        self.args = args
        self.dir = harness.make_dir("baresip")
        self.procs = []
        self.checks = []  # (ok, name, detail)
        self.ladder = []
        self.notes = []

    def check(self, ok, name, detail=""):
        self.checks.append((bool(ok), name, detail))

    def note(self, text):
        self.notes.append("%6.2f %s" % (time.monotonic() - self.t0, text))

    def start(self):
        ports = harness.Ports()
        xport = ports.block(3)  # PORT and PORT+1+i for its one worker
        bs_sip, bs_ctrl = ports.one(), ports.one()
        caller_port, target_port = ports.one(), ports.one()
        mport = ports.one()
        self.ports = dict(xferd=xport, baresip=bs_sip, ctrl=bs_ctrl, caller=caller_port,
                          target=target_port, metrics=mport)

        bdir = os.path.join(self.dir, "baresip")
        os.mkdir(bdir)
        mods = module_dir(self.args.baresip)
        if not mods:
            raise TestFailure("no baresip module directory with ctrl_tcp.so")
        with open(os.path.join(bdir, "config"), "w") as f:
            f.write(BARESIP_CONFIG.format(lo=LOOPBACK, sip=bs_sip, ctrl=bs_ctrl, modules=mods))
        with open(os.path.join(bdir, "accounts"), "w") as f:
            f.write(BARESIP_ACCOUNTS.format(lo=LOOPBACK, sip=bs_sip))
        with open(os.path.join(bdir, "contacts"), "w") as f:
            f.write("")  # else baresip writes a template with example contacts
        self.baresip = harness.Proc("baresip", [self.args.baresip, "-f", bdir, "-s"],
                                    os.path.join(self.dir, "baresip.log"), self.dir,
                                    grace=KILL_GRACE)
        self.procs.append(self.baresip)
        self.ctrl = Ctrl(bs_ctrl, self.baresip)

        cfg = harness.write_config(os.path.join(self.dir, "xferd.ini"), {
            "engine": {"listen": "%s:%d" % (LOOPBACK, xport),
                       "workers": 1,
                       "trusted": "127.0.0.0/8",
                       "transfer_timeout": 5,
                       "drain_timeout": 2,
                       "t1_ms": 100,
                       "log_level": "info",
                       "metrics": "%s:%d" % (LOOPBACK, mport)},
            "pstn": {"gateway": "sip:%s:%d" % (LOOPBACK, target_port), "geo_allow": "1 44"},
            "trunk acme": {"domain": TRUNK_DOMAIN, "uri": "sip:ep@%s:%d" % (LOOPBACK, bs_sip),
                           "numbers": TRUNK_NUMBER},
        }, "written by tests/baresip/run.py")
        self.xferd = harness.Proc("xferd", [self.args.xferd, "-c", cfg],
                                  os.path.join(self.dir, "xferd.log"), self.dir,
                                  grace=KILL_GRACE)
        self.procs.append(self.xferd)
        harness.wait_answering(self.xferd.p, xport, ok=b"SIP/2.0 ")

    def run(self):
        self.start()
        self.flow()
        self.verify()

    def flow(self):
        """The call and baresip's transfer; the peers' answers are scripted,
        baresip's are its own."""
        xferd = (LOOPBACK, self.ports["xferd"])
        caller = Peer("caller", self.ports["caller"], xferd, self.ladder)
        target = Peer("target", self.ports["target"], xferd, self.ladder)
        self.caller, self.target = caller, target
        by_sock = {caller.sock: caller, target.sock: target}
        caller.dialog = ("bs-%d-%s@%s" % (caller.port, os.urandom(3).hex(), LOOPBACK),
                         "<sip:%s@%s>;tag=%s" % (CALLER_NUMBER, LOOPBACK, caller.tag),
                         "<sip:%s@%s>" % (TRUNK_NUMBER, LOOPBACK),
                         "sip:%s@%s:%d" % (TRUNK_NUMBER, LOOPBACK, xferd[1]))
        caller.request("INVITE", body=SDP.format(sess=1, ver=1, port=40000), cseq=1)
        self.note("caller: INVITE sent")
        st = {"answered": False, "transfer_sent": None, "target_acked": False,
              "bye_at": None, "bye_sent": False, "target_bye": False, "caller_bye_ok": False}
        deadline = time.monotonic() + self.args.timeout

        def on_caller(m):
            if not m.is_request:
                num, meth = m.cseq()
                if meth == "INVITE" and m.status >= 200 and num == 1:
                    if m.status < 300:
                        cid, local, _, _ = caller.dialog
                        c = re.search(r"<([^>]+)>", m.get("contact"))
                        caller.dialog = (cid, local, m.get("to"),
                                         c.group(1) if c else caller.dialog[3])
                        caller.request("ACK", cseq=num)
                        caller.cseq = num
                        st["answered"] = True
                        self.note("caller: call answered")
                    else:
                        self.note("caller: INVITE failed %d" % m.status)
                        st["failed"] = True
                elif meth == "BYE" and m.status >= 200:
                    st["caller_bye_ok"] = m.status
                return
            if m.method == "INVITE":  # xferd reconnects us to the target
                self.note("caller: re-INVITE (%s SDP)" % ("with" if m.body.strip() else "no"))
                caller.respond(m, 200, "OK", body=SDP.format(sess=1, ver=2, port=40000))
            elif m.method == "ACK":
                pass
            elif m.method == "BYE":
                caller.respond(m, 200, "OK")
                self.note("caller: BYE from xferd (unexpected)")
                st["caller_dropped"] = True
            else:
                caller.respond(m, 200, "OK")

        def on_target(m):
            if not m.is_request:
                return
            if m.method == "INVITE" and ";tag=" not in m.get("to"):
                self.note("target: INVITE")
                target.confirm_uas(m)
                target.respond(m, 180, "Ringing")
                target.respond(m, 200, "OK", body=SDP.format(sess=7, ver=1, port=40006))
            elif m.method == "INVITE":
                target.respond(m, 200, "OK", body=SDP.format(sess=7, ver=2, port=40006))
            elif m.method == "ACK":
                if not st["target_acked"]:
                    self.note("target: ACK (%s SDP)" % ("with" if m.body.strip() else "no"))
                st["target_acked"] = True
            elif m.method == "BYE":
                target.respond(m, 200, "OK")
                st["target_bye"] = True
                self.note("target: BYE")
            elif m.method == "CANCEL":
                target.respond(m, 200, "OK")
                self.note("target: CANCEL")
            else:
                target.respond(m, 200, "OK")

        handlers = {caller: on_caller, target: on_target}
        while time.monotonic() < deadline:
            if not self.baresip.alive():
                self.note("baresip exited (%s)" % self.baresip.p.returncode)
                break
            if not self.xferd.alive():
                self.note("xferd exited (%s)" % self.xferd.p.returncode)
                break
            if st.get("failed") or st["target_bye"] and st["caller_bye_ok"]:
                break
            if (st.get("caller_dropped") or self.ctrl.event("TRANSFER_FAILED")) and \
                    "give_up_at" not in st:
                st["give_up_at"] = time.monotonic() + 1  # the flow cannot succeed now
                self.note("test: the transfer failed; ending in 1 s")
            if st.get("give_up_at") and time.monotonic() > st["give_up_at"]:
                break
            if (st["answered"] and st["transfer_sent"] is None and
                    self.ctrl.event("CALL_ESTABLISHED")):
                time.sleep(0.2)  # let baresip see the caller's ACK
                st["transfer_sent"] = self.ctrl.send("transfer", REFER_TO)
                self.note("test: ctrl_tcp transfer %s" % REFER_TO)
            if st["target_acked"] and st["bye_at"] is None and (
                    self.ctrl.event("CALL_CLOSED") or st.get("closed_wait", 0)):
                st["bye_at"] = time.monotonic() + 0.5  # caller and target talk, then hang up
            if st["target_acked"] and "closed_wait" not in st:
                st["closed_wait"] = 0
                st["closed_deadline"] = time.monotonic() + 3
            if st.get("closed_deadline") and time.monotonic() > st["closed_deadline"]:
                st["closed_wait"] = 1  # baresip's call did not close: hang up anyway
            if st["bye_at"] and not st["bye_sent"] and time.monotonic() >= st["bye_at"]:
                caller.request("BYE")
                st["bye_sent"] = True
                self.note("caller: BYE sent")
            self.receive(by_sock, handlers)
        if time.monotonic() >= deadline:
            self.note("test: timed out after %.0f s" % self.args.timeout)
        # what is still in flight (retransmissions, late events)
        end = time.monotonic() + 0.5
        while time.monotonic() < end:
            self.receive(by_sock)
        self.st = st

    def receive(self, by_sock, handlers=None):
        """One select() of 50 ms: baresip's events (and, with handlers, its
        responses) go to the timeline; a datagram to its peer's record, the
        ladder and, with handlers, the peer's handler."""
        ready, _, _ = select.select(list(by_sock) + [self.ctrl.sock], [], [], 0.05)
        for s in ready:
            if s is self.ctrl.sock:
                for obj in self.ctrl.read():
                    if obj.get("event"):
                        self.note("baresip event: %s %s" % (obj.get("type"),
                                                            obj.get("param", "")))
                    elif handlers:
                        self.note("baresip response: %s" % json.dumps(obj)[:200])
                continue
            data, _ = s.recvfrom(65535)
            m = Msg(data.decode(errors="replace"))
            p = by_sock[s]
            p.got.append(m)
            self.ladder.append("xferd   -> %-7s %s" % (p.name, m.first))
            if handlers:
                handlers[p](m)

    def verify(self):
        st, caller, target = self.st, self.caller, self.target
        # no call left in xferd once the caller and the target hung up
        end, active = time.monotonic() + 3, None
        while time.monotonic() < end:
            active = metric(self.ports["metrics"], "xferd_calls_active")
            if active == 0:
                break
            time.sleep(0.1)
        self.finish()  # baresip's trace is complete once it has exited
        bs = trace_messages(self.baresip.text())
        self.bs_trace = bs
        bs_port = ":%d" % self.ports["baresip"]

        def bs_in(pred):  # messages baresip received
            return [t for t in bs if t[1].endswith(bs_port) and pred(t)]

        def bs_out(pred):
            return [t for t in bs if t[0].endswith(bs_port) and pred(t)]

        est = self.ctrl.event("CALL_ESTABLISHED")
        self.check(st["answered"] and est, "baresip auto-answers the B leg",
                   "caller answered=%s, CALL_ESTABLISHED events=%d" % (st["answered"], len(est)))

        tok = st["transfer_sent"]
        resp = self.ctrl.response(tok) if tok else None
        refers = bs_out(lambda t: t[2].startswith("REFER "))
        r202 = bs_in(lambda t: t[2].startswith("SIP/2.0 202") and
                     re.search(r"(?im)^CSeq:\s*\d+\s+REFER", t[3]))
        refer_to = [re.search(r"(?im)^(?:Refer-To|r):\s*(.*)$", t[3]) for t in refers]
        refer_to = [m.group(1).strip() for m in refer_to if m]
        self.check(resp and resp.get("ok") and refers and r202 and
                   any(REFER_TO in r for r in refer_to),
                   "baresip's transfer command sends REFER, xferd answers 202",
                   "ctrl response=%s, REFERs=%d, Refer-To=%s, 202s=%d"
                   % (resp, len(refers), refer_to, len(r202)))

        notifies = bs_in(lambda t: t[2].startswith("NOTIFY "))
        frags = [t[3].split("\n\n", 1)[-1].strip().split("\n")[0].strip() for t in
                 [(a, b, c, d.replace("\r\n", "\n")) for a, b, c, d in notifies]]
        states = [re.search(r"(?im)^Subscription-State:\s*(.*)$", t[3]) for t in notifies]
        states = [m.group(1).strip() for m in states if m]
        last_ok = (frags and frags[-1].startswith("SIP/2.0 200") and states and
                   states[-1].lower().startswith("terminated"))
        self.check(frags and frags[0].startswith("SIP/2.0 100") and last_ok,
                   "baresip gets NOTIFY 100 ... 200 (terminated)",
                   "sipfrags=%s states=%s" % (frags, states))

        inv = target.requests("INVITE")
        inv = [m for m in inv if ";tag=" not in m.get("to")]
        users = [uri_user(m.get("from")) for m in inv]
        self.check(inv and users[0] == CALLER_NUMBER,
                   "target's INVITE has the caller's number as From user",
                   "INVITEs=%d From=%s" % (len(inv), [m.get("from") for m in inv]))

        reinv = [m for m in caller.requests("INVITE") if ";tag=" in m.get("to")]
        acks = [m for m in target.requests("ACK") if m.body.strip()]
        self.check(reinv and acks and "m=audio" in acks[0].body,
                   "caller gets a re-INVITE, target an ACK with SDP",
                   "re-INVITEs=%d (SDP: %s), ACKs with SDP=%d of %d"
                   % (len(reinv), [bool(m.body.strip()) for m in reinv], len(acks),
                      len(target.requests("ACK"))))

        # baresip 1.0.0 ends its call itself on NOTIFY 200 (call.c,
        # sipsub_notify_handler: CALL_EVENT_CLOSED "Call transfered", then a
        # BYE), which crosses xferd's BYE (sent right after NOTIFY 200). What
        # must hold: xferd BYEs the B leg after its NOTIFY 200, baresip
        # answers it 200, and a BYE of baresip's gets a final response.
        closed = self.ctrl.event("CALL_CLOSED")
        idx = {id(t): i for i, t in enumerate(bs)}
        n200 = [idx[id(t)] for t in notifies if "SIP/2.0 200" in t[3]]
        byes_in = bs_in(lambda t: t[2].startswith("BYE "))
        bye_in_after = [t for t in byes_in if n200 and idx[id(t)] > n200[0]]

        def final_to(bye, sent_by_baresip):
            cseq = re.search(r"(?im)^CSeq:\s*(\d+)\s+BYE", bye[3])
            pick = bs_out if not sent_by_baresip else bs_in
            return [t[2] for t in pick(lambda t: t[2].startswith("SIP/2.0 ") and cseq and
                                       re.search(r"(?im)^CSeq:\s*%s\s+BYE" % cseq.group(1),
                                                 t[3]))]
        in_answers = [final_to(t, False) for t in byes_in]
        byes_out = bs_out(lambda t: t[2].startswith("BYE "))
        out_answers = [final_to(t, True) for t in byes_out]
        self.check(closed and bye_in_after and
                   any(a and a[0].startswith("SIP/2.0 200") for a in in_answers) and
                   all(a for a in out_answers),
                   "baresip's call ends; xferd BYEs it after NOTIFY 200",
                   "CALL_CLOSED=%s; BYEs from xferd=%d (after NOTIFY 200: %d), baresip's "
                   "answers=%s; BYEs from baresip=%d, xferd's answers=%s"
                   % ([e.get("param") for e in closed], len(byes_in), len(bye_in_after),
                      in_answers, len(byes_out), out_answers))
        self.bye_glare = (len(byes_out), out_answers)

        self.check(st["target_bye"] and st["caller_bye_ok"] == 200 and
                   not st.get("caller_dropped"),
                   "caller's BYE reaches the target",
                   "target got BYE=%s, caller's BYE answered=%s, caller dropped=%s"
                   % (st["target_bye"], st["caller_bye_ok"], st.get("caller_dropped", False)))

        self.check(active == 0, "no call left in xferd (xferd_calls_active 0)",
                   "xferd_calls_active = %s" % active)
        log = self.xferd.text()
        m = re.search(r"transfer: .*outcome=(\S+).*", log)
        self.check(m and m.group(1) == "success",
                   "xferd logs transfer ... outcome=success",
                   m.group(0) if m else "no 'transfer:' line in xferd's log")
        self.check(self.xferd_rc == 0, "xferd exits 0 on SIGTERM",
                   "exit status %s" % self.xferd_rc)

    def finish(self):
        """Quit baresip (ctrl "quit", then SIGTERM), drain and stop xferd."""
        if hasattr(self, "xferd_rc"):
            return
        try:
            self.ctrl.send("quit")
        except OSError:
            pass
        try:
            self.baresip.p.wait(timeout=2)
        except subprocess.TimeoutExpired:
            pass
        self.ctrl.close()
        self.baresip.stop()
        self.xferd_rc = self.xferd.stop()

    def report(self, err=None):
        """Prints a line per check (and the error, if any) and, on failure
        or with -v, what happened; returns the Results."""
        results = harness.Results("baresip")
        for ok, name, detail in self.checks:
            print("%s: %s" % ("PASS" if results.add(ok) else "FAIL", name))
            if not ok or self.args.verbose:
                print("      " + detail)
        if err:
            results.add(False)
            print("FAIL: %s" % err)
        if results.failed or self.args.verbose:
            print("\n-- timeline")
            print("\n".join("  " + n for n in self.notes))
            print("-- the scripted peers' ladder")
            print("\n".join("  " + l for l in self.ladder))
            print("-- xferd's log (last 30 lines)")
            print("\n".join("  " + l for l in self.xferd.text().splitlines()[-30:])
                  if hasattr(self, "xferd") else "  (not started)")
            print("-- baresip's SIP trace (first lines)")
            if hasattr(self, "baresip"):
                for src, dst, first, _ in trace_messages(self.baresip.text())[:40]:
                    print("  %s -> %s  %s" % (src, dst, first))
            print("-- files kept in %s" % self.dir)
        return results


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--xferd", required=True)
    ap.add_argument("--baresip", default=shutil.which("baresip") or "/usr/bin/baresip")
    ap.add_argument("--timeout", type=float, default=20, help="bound of the call flow (s)")
    ap.add_argument("--keep", action="store_true", help="keep the directory when passing")
    ap.add_argument("-v", "--verbose", action="store_true")
    args = ap.parse_args()
    if not os.access(args.baresip, os.X_OK):
        print("baresip: not installed (%s); skipped" % args.baresip)
        return 77
    run = Run(args)
    run.t0 = time.monotonic()
    try:
        err = harness.failure_of(run.run)
    finally:
        for p in run.procs:
            p.stop()
        if getattr(run, "ctrl", None):
            run.ctrl.close()
        for peer in (getattr(run, "caller", None), getattr(run, "target", None)):
            if peer:
                peer.sock.close()
    results = run.report(err)
    harness.close_dir(run.dir, not results.failed, args.keep)
    return results.summary()


if __name__ == "__main__":
    sys.exit(main())
