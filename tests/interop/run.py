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
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import harness  # noqa: E402  (tests/lib, after the path above)
import sipmsg  # noqa: E402
from harness import LOOPBACK  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))

TRUNK_DOMAIN = "acme.zt.example.net"
TRUNK_NUMBER = "+14155550100"
TARGET_NUMBER = "+14155551234"  # not a platform number: goes to [pstn] gateway
REFER_TO = "sip:%s@%s" % (TARGET_NUMBER, TRUNK_DOMAIN)

SIPP_TIMEOUT = 20       # s, sipp's own -timeout (the whole run)
EP_TIMEOUT = 10         # s, re_endpoint's --timeout (each of its waits)
EP_LIMIT = 4 * EP_TIMEOUT + 10  # s: its four bounded waits, and a margin
DRAIN_TIMEOUT = 2       # s, xferd's drain_timeout


# ------------------------------------------------------------ processes

class Proc(harness.Proc):
    """A process of the test, its output in NAME.log of the test directory."""

    def __init__(self, ctx, name, args, env=None):
        super().__init__(name, args, os.path.join(ctx.dir, name + ".log"), ctx.dir, env)
        ctx.procs.append(self)

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
    args = sipmsg.sipp_command(ctx.sipp, ctx.dir, name, scenario, HERE, port,
                               ctx.ports.block(4),  # media port, +2 video
                               ctx.ports.one(),     # control port
                               1, SIPP_TIMEOUT, "u1", target,
                               traces=("msg", "err", "screen"))
    if service:
        args += ["-s", service]
    p = Proc(ctx, name, args, env=sipmsg.sipp_env())
    p.err_log = sipmsg.sipp_log(ctx.dir, name, "err")
    return p


# ---------------------------------------------------------------- xferd

def start_xferd(ctx, ep_port, gw_port, workers=1):
    port = ctx.ports.block(workers + 2)  # PORT, and PORT+1+i per worker
    config = harness.write_config(os.path.join(ctx.dir, "xferd.ini"), {
        "engine": {"listen": "%s:%d" % (LOOPBACK, port),
                   "workers": workers,
                   "trusted": "127.0.0.0/8",
                   "transfer_timeout": 10,
                   "drain_timeout": DRAIN_TIMEOUT,
                   "t1_ms": 100,
                   "log_level": "info"},
        "pstn": {"gateway": "sip:%s:%d" % (LOOPBACK, gw_port), "geo_allow": "1 44"},
        "trunk acme": {"domain": TRUNK_DOMAIN, "uri": "sip:ep@%s:%d" % (LOOPBACK, ep_port),
                       "numbers": TRUNK_NUMBER},
    }, "written by tests/interop/run.py")
    x = Proc(ctx, "xferd", [ctx.xferd, "-c", config])
    harness.wait_answering(x.p, port)
    x.port = port
    return x


# ---------------------------------------------------------------- tests

class Ctx:
    def __init__(self, args, name):
        self.xferd, self.re_endpoint, self.sipp = args.xferd, args.re_endpoint, args.sipp
        self.dir = harness.make_dir("interop", name)
        self.workers = args.workers
        self.ports = harness.Ports()
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
    target.wait_bound(gw_port)
    ep = Proc(ctx, "re_endpoint", [ctx.re_endpoint,
                                   "--listen", "%s:%d" % (LOOPBACK, ep_port),
                                   "--refer-to", REFER_TO,
                                   "--expect", ",".join(str(c) for c in expect),
                                   "--timeout", str(EP_TIMEOUT), "--trace"])
    ep.wait_bound(ep_port)
    caller = sipp(ctx, "caller", caller_scenario, caller_port,
                  target="%s:%d" % (LOOPBACK, x.port), service=TRUNK_NUMBER)

    # re_endpoint ends first (at the BYE); the sipps when their call is over.
    ep_rc = ep.wait(EP_LIMIT)
    caller_rc = caller.wait(SIPP_TIMEOUT + sipmsg.SIPP_GRACE)
    target_rc = target.wait(SIPP_TIMEOUT + sipmsg.SIPP_GRACE)
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


def run_one(args, name, fn, results):
    ctx = Ctx(args, name)
    t0 = time.monotonic()
    try:
        reason = harness.failure_of(fn, ctx)
        if reason is not None:
            ctx.failures.append(reason)
    finally:
        for p in reversed(ctx.procs):
            try:
                p.stop()
            except Exception:
                pass
    if results.verdict(name, time.monotonic() - t0, "" if ctx.failures else None, digits=1):
        if harness.close_dir(ctx.dir, True, args.keep):
            print("  kept %s" % ctx.dir)
        return
    for f in ctx.failures:
        print("  - " + f)
    for p in ctx.procs:
        print("  --- %s (exit %s), last lines of %s:" % (p.name, p.p.returncode, p.log))
        for line in p.summary():
            print("    " + line)
    print("  kept %s (re_endpoint.log: libre's SIP trace; *_messages.log: sipp's)"
          % ctx.dir, flush=True)


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
    results = harness.Results("interop")
    for what, path in (("xferd", args.xferd), ("re_endpoint", args.re_endpoint)):
        if not (os.path.isfile(path) and os.access(path, os.X_OK)):
            print("interop: %s not executable: %s" % (what, path))
            results.add(False)
            return results.summary()
    only = set(filter(None, args.only.split(",")))
    unknown = only - {n for n, _ in TESTS}
    if unknown:
        ap.error("unknown test(s): %s" % ", ".join(sorted(unknown)))
    for name, fn in TESTS:
        if only and name not in only:
            continue
        run_one(args, name, fn, results)
    return results.summary()


if __name__ == "__main__":
    sys.exit(main())
