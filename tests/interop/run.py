#!/usr/bin/env python3
"""run.py: xferd's interop test: the trunk's endpoint is re_endpoint, a
client built on libre (sipsess + sipevent_drefer), not on xferd's code.

    run.py --xferd PATH --re-endpoint PATH [--sipp PATH] [--only NAME[,NAME]]
           [--workers N] [--keep] [--list]

Each test starts, on free ports of 127.0.0.1, its own xferd (a config of its
own: trunk acme, domain acme.zt.example.net, uri = re_endpoint, numbers
+14155550100; [pstn] gateway = the target, geo_allow = 1 44; t1_ms = 100),
a transfer target (sipp), re_endpoint, and a caller (sipp, caller.xml):

    caller --INVITE--> xferd --INVITE--> re_endpoint (answers 200)
    re_endpoint --REFER Refer-To: sip:+14155551234@acme.zt.example.net-->
    xferd --INVITE--> target (the PSTN gateway); NOTIFYs --> re_endpoint

transfer-answered: the target (sipp -sn uas) rings and answers. re_endpoint
must get REFER 202, NOTIFYs 100, 180, 200 (the last terminated), then BYE;
the caller answers xferd's re-INVITE, later hangs up, and its BYE must
reach the target (sipp's uas needs it to end its call).

transfer-rejected: the target (target_486.xml) rings and answers 486.
re_endpoint must get NOTIFYs 100, 180, 486 (the last terminated); the caller
(caller_stay.xml) stays connected to it (SPEC "The transfer" 5) and its BYE,
after two seconds, reaches re_endpoint as xferd's BYE.

Each test also requires xferd to exit 0 on SIGTERM. Every process is
started here and ended by its PID in a finally; every wait is bounded.
Prints PASS/FAIL per test (on failure: reasons, log tails, the kept
directory with re_endpoint's libre SIP trace and sipp's -trace_msg logs),
then "interop: N passed, M failed"; exits 1 if any test failed, 77 (meson:
skipped) if there is no sipp. Standard library only.
"""

import argparse
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
LOOPBACK = "127.0.0.1"

TRUNK_DOMAIN = "acme.zt.example.net"
TRUNK_NUMBER = "+14155550100"
TARGET_NUMBER = "+14155551234"  # not a platform number: goes to [pstn] gateway
REFER_TO = "sip:%s@%s" % (TARGET_NUMBER, TRUNK_DOMAIN)

SIPP_TIMEOUT = 20       # s, sipp's own -timeout (the whole run)
SIPP_GRACE = 10         # s a sipp may take beyond its -timeout
EP_TIMEOUT = 10         # s, re_endpoint's --timeout (each of its waits)
EP_LIMIT = 4 * EP_TIMEOUT + 10  # s: its four bounded waits, and a margin
DRAIN_TIMEOUT = 2       # s, xferd's drain_timeout
KILL_GRACE = 2          # s between SIGTERM and SIGKILL


class TestFailure(Exception):
    pass


# ---------------------------------------------------------------- ports

class Ports:
    """Free ports of 127.0.0.1 (UDP and TCP both free), never handed out
    twice in one run."""

    def __init__(self):
        self.taken = set()

    @staticmethod
    def is_free(port):
        for kind in (socket.SOCK_DGRAM, socket.SOCK_STREAM):
            s = socket.socket(socket.AF_INET, kind)
            try:
                s.bind((LOOPBACK, port))
            except OSError:
                return False
            finally:
                s.close()
        return True

    def block(self, n):
        for _ in range(1000):
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.bind((LOOPBACK, 0))
            base = s.getsockname()[1]
            s.close()
            ports = range(base, base + n)
            if base + n > 65535 or any(p in self.taken for p in ports):
                continue
            if all(self.is_free(p) for p in ports):
                self.taken.update(ports)
                return base
        raise TestFailure("no block of %d free ports on %s" % (n, LOOPBACK))

    def one(self):
        return self.block(1)


def udp_bound(port):
    """True if some UDP socket of this host is bound to port (read from
    /proc, so that probing cannot steal it)."""
    want = ":%04X" % port
    for path in ("/proc/net/udp", "/proc/net/udp6"):
        try:
            with open(path) as f:
                next(f)
                for line in f:
                    if line.split()[1].endswith(want):
                        return True
        except OSError:
            continue
    return False


# ------------------------------------------------------------ processes

class Proc:
    """A process we started, its output in a file of the test directory."""

    def __init__(self, ctx, name, args, env=None):
        self.name, self.args = name, args
        self.log = os.path.join(ctx.dir, name + ".log")
        with open(self.log, "wb") as out:
            out.write(("$ " + " ".join(args) + "\n").encode())
            out.flush()
            self.p = subprocess.Popen(args, cwd=ctx.dir, stdin=subprocess.DEVNULL,
                                      stdout=out, stderr=subprocess.STDOUT, env=env)
        ctx.procs.append(self)
        self.rc = None

    def alive(self):
        return self.p.poll() is None

    def wait(self, limit):
        """Exit status within limit seconds, else killed and a failure."""
        try:
            self.rc = self.p.wait(timeout=limit)
        except subprocess.TimeoutExpired:
            self.stop()
            raise TestFailure("%s did not exit within %.0f s" % (self.name, limit))
        return self.rc

    def stop(self, sig=signal.SIGTERM):
        """sig to our PID, SIGKILL after KILL_GRACE seconds."""
        if self.p.poll() is not None:
            return self.p.returncode
        try:
            self.p.send_signal(sig)
            return self.p.wait(timeout=KILL_GRACE)
        except ProcessLookupError:
            return self.p.wait(timeout=KILL_GRACE)
        except subprocess.TimeoutExpired:
            self.p.kill()
            return self.p.wait(timeout=5)

    def wait_udp(self, port, limit=5.0):
        end = time.monotonic() + limit
        while time.monotonic() < end:
            if not self.alive():
                raise TestFailure("%s exited (%s) before binding UDP port %d"
                                  % (self.name, self.p.returncode, port))
            if udp_bound(port):
                return
            time.sleep(0.02)
        raise TestFailure("%s not bound to UDP port %d after %.0f s" % (self.name, port, limit))

    def tail(self, n=40, path=None, keep=None):
        """The last n lines of its log (or of path), those keep accepts."""
        try:
            with open(path or self.log, errors="replace") as f:
                lines = f.read().splitlines()
        except OSError:
            return []
        return [l for l in lines if keep is None or keep(l)][-n:]

    def summary(self):
        """What a failure report shows of this process."""
        if self.name == "re_endpoint":  # its notes, not the SIP trace
            return self.tail(30, keep=lambda l: l.startswith("re_endpoint"))
        if self.name in ("caller", "target"):  # sipp's unexpected messages
            return ["(%s)" % os.path.basename(self.err_log)] + self.tail(15, self.err_log)
        return self.tail(25)


def sipp(ctx, name, scenario, port, target=None, service=None):
    """A sipp of one call, bounded by its -timeout; -trace_msg and
    -trace_err logs in the test directory."""
    scen = ["-sn", scenario] if scenario in ("uac", "uas") else \
        ["-sf", os.path.join(HERE, scenario)]
    d = ctx.dir
    args = [ctx.sipp] + ([target] if target else []) + scen + [
        "-t", "u1", "-i", LOOPBACK, "-p", str(port),
        "-mi", LOOPBACK, "-mp", str(ctx.ports.block(4)),  # media port, +2 video
        "-cp", str(ctx.ports.one()),                      # control port
        "-m", "1", "-timeout", "%ds" % SIPP_TIMEOUT, "-timeout_error", "-nostdin",
        "-trace_msg", "-message_file", os.path.join(d, name + "_messages.log"),
        "-trace_err", "-error_file", os.path.join(d, name + "_errors.log"),
        "-trace_screen", "-screen_file", os.path.join(d, name + "_screen.log"),
    ]
    if service:
        args += ["-s", service]
    env = dict(os.environ)
    env.setdefault("TERM", "dumb")
    p = Proc(ctx, name, args, env=env)
    p.err_log = os.path.join(d, name + "_errors.log")
    return p


# ---------------------------------------------------------------- xferd

def options_probe(port):
    """True if xferd answers an OPTIONS on port with 200 within 0.2 s."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        s.bind((LOOPBACK, 0))
        lport = s.getsockname()[1]
        tag = os.urandom(4).hex()
        req = ("OPTIONS sip:%s:%d SIP/2.0\r\n"
               "Via: SIP/2.0/UDP %s:%d;branch=z9hG4bK-interop-%s;rport\r\n"
               "Max-Forwards: 70\r\n"
               "From: <sip:probe@%s>;tag=%s\r\n"
               "To: <sip:%s:%d>\r\n"
               "Call-ID: interop-probe-%s@%s\r\n"
               "CSeq: 1 OPTIONS\r\n"
               "Content-Length: 0\r\n\r\n"
               % (LOOPBACK, port, LOOPBACK, lport, tag, LOOPBACK, tag,
                  LOOPBACK, port, tag, LOOPBACK)).encode()
        s.sendto(req, (LOOPBACK, port))
        s.settimeout(0.2)
        data = s.recv(65535)
        return data.startswith(b"SIP/2.0 200 ")
    except OSError:
        return False
    finally:
        s.close()


def start_xferd(ctx, ep_port, gw_port, workers=1):
    port = ctx.ports.block(workers + 2)  # PORT, and PORT+1+i per worker
    config = os.path.join(ctx.dir, "xferd.ini")
    with open(config, "w") as f:
        f.write("\n".join([
            "; written by tests/interop/run.py",
            "[engine]",
            "listen = %s:%d" % (LOOPBACK, port),
            "workers = %d" % workers,
            "trusted = 127.0.0.0/8",
            "transfer_timeout = 10",
            "drain_timeout = %d" % DRAIN_TIMEOUT,
            "t1_ms = 100",
            "log_level = info",
            "",
            "[pstn]",
            "gateway = sip:%s:%d" % (LOOPBACK, gw_port),
            "geo_allow = 1 44",
            "",
            "[trunk acme]",
            "domain = %s" % TRUNK_DOMAIN,
            "uri = sip:ep@%s:%d" % (LOOPBACK, ep_port),
            "numbers = %s" % TRUNK_NUMBER,
            "",
        ]))
    x = Proc(ctx, "xferd", [ctx.xferd, "-c", config])
    end = time.monotonic() + 5.0
    while time.monotonic() < end:
        if not x.alive():
            raise TestFailure("xferd exited with status %s at start" % x.p.returncode)
        if options_probe(port):
            x.port = port
            return x
        time.sleep(0.05)
    raise TestFailure("xferd does not answer OPTIONS on %s:%d after 5 s" % (LOOPBACK, port))


# ---------------------------------------------------------------- tests

class Ctx:
    def __init__(self, args, name):
        self.xferd, self.re_endpoint, self.sipp = args.xferd, args.re_endpoint, args.sipp
        self.dir = tempfile.mkdtemp(prefix="xferd-interop-%s-" % name)
        self.workers = args.workers
        self.ports = Ports()
        self.procs = []
        self.failures = []

    def check(self, cond, what):
        if not cond:
            self.failures.append(what)


def transfer(ctx, target_scenario, caller_scenario, expect):
    """One call, one REFER from re_endpoint, the target's answer; the
    checks common to both tests."""
    ep_port, gw_port, caller_port = ctx.ports.one(), ctx.ports.one(), ctx.ports.one()
    x = start_xferd(ctx, ep_port, gw_port, ctx.workers)

    target = sipp(ctx, "target", target_scenario, gw_port)
    target.wait_udp(gw_port)
    ep = Proc(ctx, "re_endpoint", [ctx.re_endpoint,
                                   "--listen", "%s:%d" % (LOOPBACK, ep_port),
                                   "--refer-to", REFER_TO,
                                   "--expect", ",".join(str(c) for c in expect),
                                   "--timeout", str(EP_TIMEOUT), "--trace"])
    ep.wait_udp(ep_port)
    caller = sipp(ctx, "caller", caller_scenario, caller_port,
                  target="%s:%d" % (LOOPBACK, x.port), service=TRUNK_NUMBER)

    # re_endpoint ends first (at the BYE); the sipps when their call is over.
    ep_rc = ep.wait(EP_LIMIT)
    caller_rc = caller.wait(SIPP_TIMEOUT + SIPP_GRACE)
    target_rc = target.wait(SIPP_TIMEOUT + SIPP_GRACE)
    verdict = [l for l in ep.tail(200) if l.startswith("re_endpoint: ")]
    ctx.check(ep_rc == 0, "re_endpoint exit status %s, expected 0 (REFER 202, NOTIFYs %s, "
              "the last terminated, then BYE):\n      %s"
              % (ep_rc, ",".join(map(str, expect)), "\n      ".join(verdict)))
    ctx.check(caller_rc == 0, "caller (sipp %s) exit status %s, expected 0"
              % (caller_scenario, caller_rc))
    ctx.check(target_rc == 0, "target (sipp %s) exit status %s, expected 0"
              % (target_scenario, target_rc))

    alive = x.alive()
    ctx.check(alive, "xferd died during the test (exit status %s)" % x.p.returncode)
    if alive:
        x.p.send_signal(signal.SIGTERM)
        xrc = x.wait(DRAIN_TIMEOUT + 5)
        ctx.check(xrc == 0, "xferd exit status %s after SIGTERM, expected 0" % xrc)


def test_transfer_answered(ctx):
    transfer(ctx, "uas", "caller.xml", (100, 180, 200))


def test_transfer_rejected(ctx):
    transfer(ctx, "target_486.xml", "caller_stay.xml", (100, 180, 486))


TESTS = [
    ("transfer-answered", test_transfer_answered),
    ("transfer-rejected", test_transfer_rejected),
]


def run_one(args, name, fn):
    ctx = Ctx(args, name)
    t0 = time.monotonic()
    try:
        fn(ctx)
    except TestFailure as e:
        ctx.failures.append(str(e))
    except Exception:  # a bug of this script: still a failure, with its trace
        ctx.failures.append("run.py error:\n" + traceback.format_exc())
    finally:
        for p in reversed(ctx.procs):
            try:
                p.stop()
            except Exception:
                pass
    secs = time.monotonic() - t0
    if not ctx.failures:
        print("PASS %s %.1fs" % (name, secs), flush=True)
        if args.keep:
            print("  kept %s" % ctx.dir)
        else:
            shutil.rmtree(ctx.dir, ignore_errors=True)
        return True
    print("FAIL %s %.1fs" % (name, secs))
    for f in ctx.failures:
        print("  - " + f)
    for p in ctx.procs:
        print("  --- %s (exit %s), last lines of %s:" % (p.name, p.p.returncode, p.log))
        for line in p.summary():
            print("    " + line)
    print("  kept %s (re_endpoint.log: libre's SIP trace; *_messages.log: sipp's)"
          % ctx.dir, flush=True)
    return False


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--xferd", required=False)
    ap.add_argument("--re-endpoint", dest="re_endpoint", required=False)
    ap.add_argument("--sipp", default=shutil.which("sipp") or "sipp")
    ap.add_argument("--only", default="")
    ap.add_argument("--workers", type=int, default=1, help="xferd's workers (default 1)")
    ap.add_argument("--keep", action="store_true", help="keep the directories of passed tests")
    ap.add_argument("--list", action="store_true")
    args = ap.parse_args()
    if args.list:
        for name, _ in TESTS:
            print(name)
        return 0
    if not args.xferd or not args.re_endpoint:
        ap.error("--xferd and --re-endpoint are required")
    if not shutil.which(args.sipp):
        print("interop: SKIP: sipp not found (%s)" % args.sipp)
        return 77  # meson: skipped
    args.sipp = shutil.which(args.sipp)
    for what, path in (("xferd", args.xferd), ("re_endpoint", args.re_endpoint)):
        if not (os.path.isfile(path) and os.access(path, os.X_OK)):
            print("interop: %s not executable: %s" % (what, path))
            print("interop: 0 passed, 1 failed")
            return 1
    only = set(filter(None, args.only.split(",")))
    unknown = only - {n for n, _ in TESTS}
    if unknown:
        ap.error("unknown test(s): %s" % ", ".join(sorted(unknown)))
    passed = failed = 0
    for name, fn in TESTS:
        if only and name not in only:
            continue
        if run_one(args, name, fn):
            passed += 1
        else:
            failed += 1
    print("interop: %d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
