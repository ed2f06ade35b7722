#!/usr/bin/env python3
"""relay.py: xferd's CPU per relayed SIP message under sipp's basic call
(UAC -> xferd -> UAS), against the udp_echo kernel floor. RFC 3261 §12, §17, §18.1."""

import argparse
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchlib import (DRAIN_TIMEOUT, REPO, BenchError, cpu_ticks, head, idle_ticks, per,
                      pinned, port_block, port_free, run_floor, stop, tail, udp_drops,
                      verdict, wait_for)

NUMBER = "+14155550100"

# The targets and the machine class's references.
TARGET_US_PER_MSG = 4.0
TARGET_RATE_NO_FAIL = 5000
REF_KAMAILIO_STATEFUL = 15.0
REF_KAMAILIO_STATELESS = 7.0
REF_FLOOR_US_PER_DGRAM = 1.6


def sock_drops(ports):
    """{port: (drops, rx_queue bytes)} of the UDP sockets bound to ports, summed
    over sockets sharing a port (SO_REUSEPORT), from /proc/net/udp."""
    out = {}
    try:
        with open("/proc/net/udp") as f:
            next(f)
            for line in f:
                v = line.split()
                port = int(v[1].split(":")[1], 16)
                if port in ports:
                    d, q = out.get(port, (0, 0))
                    out[port] = (d + int(v[-1]), max(q, int(v[4].split(":")[1], 16)))
    except (OSError, ValueError, IndexError, StopIteration):
        pass
    return out


def sipp_csv_last(path):
    """The last row of a sipp -trace_stat file as {column: value}."""
    try:
        with open(path, errors="replace") as f:
            rows = [l.rstrip("\n") for l in f if l.strip()]
    except OSError:
        return {}
    if len(rows) < 2:
        return {}
    names = rows[0].split(";")
    return dict(zip(names, rows[-1].split(";")))


def xferd_config(d, base, workers, uas_port):
    # Worker i also listens on base + 1 + i (engine/README.md); the block
    # from port_block() covers them.
    text = f"""; written by bench/relay.py
[engine]
listen = 127.0.0.1:{base}
workers = {workers}
trusted = 127.0.0.0/8
log_level = info
drain_timeout = {DRAIN_TIMEOUT}

[pstn]
gateway = sip:127.0.0.1:{uas_port}

[trunk bench]
domain = bench.example.net
uri = sip:agent@127.0.0.1:{uas_port}
numbers = {NUMBER}
"""
    path = d / "xferd.ini"
    path.write_text(text)
    return path


def run_one(args, workers, pin, keep):
    """One load run; returns a dict of figures (and evidence if it went wrong)."""
    d = Path(tempfile.mkdtemp(prefix=f"relay-w{workers}-"))
    res = {"workers": workers, "rate": args.rate, "attempted": 0, "ok": 0, "failed": 0,
           "pin": pin, "dir": str(d), "problems": []}
    files = []
    try:
        return run_load(args, workers, pin, keep, d, res, files)
    except BenchError as e:
        raise BenchError(f"{e}(files kept in {d})") from None
    finally:
        for f in files:
            f.close()


def run_load(args, workers, pin, keep, d, res, files):
    """run_one()'s body: starts xferd and both sipps in d, and always stops them."""
    ncalls = int(args.rate * args.seconds)
    base = port_block(workers + 3)
    uas_port, uac_port = base + workers + 1, base + workers + 2
    cfg = xferd_config(d, base, workers, uas_port)
    xlog, uas_out, uac_out = d / "xferd.log", d / "uas.out", d / "uac.out"
    uac_err, uas_err, uac_csv = d / "uac_errors.log", d / "uas_errors.log", d / "uac.csv"
    xferd = uas = uac = None
    try:
        f = open(xlog, "w")
        files.append(f)
        xferd = subprocess.Popen(pinned([args.xferd, "-c", str(cfg)], 0, pin),
                                 stdout=f, stderr=subprocess.STDOUT, cwd=d)
        up = wait_for(lambda: xferd.poll() is not None or "listening on" in xlog.read_text(), 5)
        if xferd.poll() is not None or not up:
            raise BenchError(f"xferd did not start (exit {xferd.poll()}):\n{tail(xlog)}")
        res["receive_path"] = next((l.split("receive path: ", 1)[1].strip()
                                    for l in xlog.read_text().splitlines()
                                    if "receive path: " in l), "?")

        f = open(uas_out, "w")
        files.append(f)
        uas = subprocess.Popen(pinned(["sipp", "-sn", "uas", "-i", "127.0.0.1", "-p", str(uas_port),
                                       "-nostdin", "-trace_err", "-error_file", str(uas_err)],
                                      1, pin),
                               stdout=f, stderr=subprocess.STDOUT, cwd=d)
        if not wait_for(lambda: uas.poll() is not None or not port_free(uas_port), 5) or \
                uas.poll() is not None:
            raise BenchError(f"sipp UAS did not start (exit {uas.poll()}):\n{tail(uas_out)}")

        f = open(uac_out, "w")
        files.append(f)
        uac_cmd = ["sipp", "-sn", "uac", "-s", NUMBER, f"127.0.0.1:{base}", "-i", "127.0.0.1",
                   "-p", str(uac_port), "-r", str(args.rate), "-m", str(ncalls), "-d", "0",
                   "-nostdin", "-timeout", f"{int(args.seconds) + 60}s",
                   # a call xferd lost fails after 5 s instead of hanging on
                   "-recv_timeout", "5000",
                   "-trace_stat", "-stf", str(uac_csv), "-fd", "1",
                   "-trace_err", "-error_file", str(uac_err)]
        cpu0, uas0, drops0 = cpu_ticks(xferd.pid), cpu_ticks(uas.pid), udp_drops()
        idle0 = idle_ticks()
        t0 = time.monotonic()
        uac = subprocess.Popen(pinned(uac_cmd, 1, pin), stdout=f, stderr=subprocess.STDOUT, cwd=d)
        uac_ticks = 0
        roles = {base: "xferd listen", uas_port: "sipp UAS", uac_port: "sipp UAC"}
        if workers > 1:
            roles.update({base + 1 + i: f"xferd worker {i}" for i in range(workers)})
        drops = {}
        try:
            # Poll rather than wait: sipp's own CPU is read while it still exists.
            until = time.monotonic() + args.seconds + 90
            while uac.poll() is None and time.monotonic() < until:
                try:
                    uac_ticks = cpu_ticks(uac.pid)
                except OSError:
                    pass
                # Per-socket drops and the deepest receive queue seen: which
                # process fell behind, if any did.
                for port, (dr, q) in sock_drops(roles).items():
                    od, oq = drops.get(port, (0, 0))
                    drops[port] = (max(od, dr), max(oq, q))
                time.sleep(0.1)
            rc = uac.wait(timeout=max(0.0, until - time.monotonic()))
        except subprocess.TimeoutExpired:
            res["problems"].append("sipp UAC did not finish in time; killed")
            stop(uac, signal.SIGKILL)
            rc = uac.returncode
        t1 = time.monotonic()
        idle1 = idle_ticks()
        if xferd.poll() is not None:
            res["problems"].append(f"xferd exited during the load (status {xferd.returncode})")
            cpu1 = cpu0
        else:
            cpu1 = cpu_ticks(xferd.pid)
        tick_us = 1e6 / os.sysconf("SC_CLK_TCK")
        res["uac_exit"] = rc
        res["wall"] = t1 - t0
        res["cpu_us"] = (cpu1 - cpu0) * tick_us
        res["uac_cpu_us"] = uac_ticks * tick_us  # to its last 0.1 s sample
        res["uas_cpu_us"] = (cpu_ticks(uas.pid) - uas0) * tick_us if uas.poll() is None else 0
        res["udp_drops"] = udp_drops() - drops0
        # What else ran on the machine meanwhile: busy time less xferd's and
        # sipp's (this script's polling included). Other work on this box
        # skews every figure here.
        busy = (os.cpu_count() or 1) * res["wall"] * 1e6 - (idle1 - idle0) * tick_us
        ours = res["cpu_us"] + res["uac_cpu_us"] + res["uas_cpu_us"]
        res["others_us"] = max(0.0, busy - ours)
        res["sock_drops"] = {roles[p]: v for p, v in sorted(drops.items())}

        stats = sipp_csv_last(uac_csv)
        if stats:
            res["attempted"] = int(stats.get("TotalCallCreated", 0))
            res["ok"] = int(stats.get("SuccessfulCall(C)", 0))
            res["failed"] = int(stats.get("FailedCall(C)", 0))
            res["retrans"] = int(stats.get("Retransmissions(C)", 0))
            res["sipp_failures"] = {k[6:-3]: int(v) for k, v in stats.items()
                                    if k.startswith("Failed") and k.endswith("(C)") and
                                    k != "FailedCall(C)" and v.isdigit() and int(v)}
        else:
            res["problems"].append("no sipp statistics file")
        if rc not in (0,) or res["failed"] or res["ok"] < ncalls:
            res["problems"].append(f"sipp UAC exit status {rc}; {res['ok']} of {ncalls} calls "
                                   f"successful")

        # The totals line comes after the drain, at exit.
        if xferd.poll() is None:
            os.kill(xferd.pid, signal.SIGTERM)
            try:
                xferd.wait(timeout=DRAIN_TIMEOUT + 10)
            except subprocess.TimeoutExpired:
                res["problems"].append("xferd did not exit within the drain timeout; killed")
                stop(xferd, signal.SIGKILL)
        res["xferd_exit"] = xferd.returncode
        if xferd.returncode not in (0, None):
            res["problems"].append(f"xferd exit status {xferd.returncode}")
        m = re.search(r"totals: calls=(\d+) msgs_in=(\d+) msgs_out=(\d+) handoffs=(\d+)"
                      r"(?:.*?retransmissions_in=(\d+))?", xlog.read_text())
        if m:
            res["x_calls"], res["msgs_in"], res["msgs_out"], res["handoffs"] = \
                (int(m.group(i)) for i in range(1, 5))
            res["x_retrans_in"] = int(m.group(5) or 0)
        else:
            res["problems"].append("no 'totals:' line in xferd's log")
        warn = [l for l in xlog.read_text().splitlines() if " warn " in l or " error " in l]
        if warn:
            res["problems"].append(f"{len(warn)} warn/error lines in xferd's log")
    finally:
        for p in (uac, uas, xferd):
            stop(p)
    if res["problems"]:
        res["evidence"] = (f"--- sipp UAC error log ({uac_err}), first lines:\n{head(uac_err)}"
                           f"--- sipp UAS error log ({uas_err}), first lines:\n{head(uas_err)}"
                           f"--- xferd log ({xlog}), last lines:\n{tail(xlog)}")
    elif not keep:
        shutil.rmtree(d, ignore_errors=True)
    return res


def report_run(r):
    msgs = r.get("msgs_in", 0) + r.get("msgs_out", 0)
    calls = r["ok"] or r.get("x_calls", 0)
    r["cps"] = per(r["ok"], r.get("wall", 0))
    r["us_call"] = per(r.get("cpu_us", 0), calls)
    r["msgs_call"] = per(msgs, calls)
    r["us_msg"] = per(r.get("cpu_us", 0), msgs)
    r["us_msg_in"] = per(r.get("cpu_us", 0), r.get("msgs_in", 0))
    r["handoffs_call"] = per(r.get("handoffs", 0), calls)
    where = "xferd on CPU 0, sipp on CPU 1" if r["pin"] else "not pinned"
    print(f"== workers={r['workers']}, {r['rate']} calls/s: {r['attempted']} calls in "
          f"{r.get('wall', 0):.1f} s ({where}; receive path: {r.get('receive_path', '?')})")
    print(f"calls                      {r['attempted']} attempted, {r['ok']} successful, "
          f"{r['failed']} failed (sipp exit {r.get('uac_exit')})")
    if r.get("sipp_failures"):
        print(f"  sipp's failure kinds     {r['sipp_failures']}")
    print(f"calls/s achieved           {r['cps']:.1f}")
    print(f"xferd CPU                  {r.get('cpu_us', 0) / 1e6:.2f} s over {r.get('wall', 0):.2f} s "
          f"wall ({per(r.get('cpu_us', 0) / 1e4, r.get('wall', 0)):.0f}% of one CPU)")
    print(f"xferd CPU per call         {r['us_call']:.1f} µs")
    print(f"SIP messages per call      {r['msgs_call']:.2f} ({per(r.get('msgs_in', 0), calls):.2f} in, "
          f"{per(r.get('msgs_out', 0), calls):.2f} out)")
    print(f"xferd CPU per SIP message  {r['us_msg']:.2f} µs (each datagram in or out counted once; "
          f"per received message {r['us_msg_in']:.2f} µs)")
    print(f"handoffs per call          {r['handoffs_call']:.3f}")
    print(f"retransmissions            sipp {r.get('retrans', '?')}, xferd received "
          f"{r.get('x_retrans_in', '?')}")
    print(f"sipp CPU                   UAC {per(r.get('uac_cpu_us', 0) / 1e4, r.get('wall', 0)):.0f}%, "
          f"UAS {per(r.get('uas_cpu_us', 0) / 1e4, r.get('wall', 0)):.0f}% of one CPU")
    print(f"other work on the machine  {per(r.get('others_us', 0) / 1e4, r.get('wall', 0)):.0f}% of one "
          f"CPU (machine busy time less xferd's and sipp's)")
    if per(r.get("others_us", 0), r.get("wall", 0) * 1e6) > 0.1:
        print("NOTE: other processes used more than 10% of a CPU during this run; "
              "the figures above are skewed by them")
    print(f"UDP buffer drops           {r.get('udp_drops', '?')} (whole network namespace, "
          f"/proc/net/snmp)")
    if r.get("sock_drops"):
        print("  per socket               " + ", ".join(
            f"{k} {d} dropped, queue up to {q // 1024} KiB" for k, (d, q) in r["sock_drops"].items()))
    for p in r["problems"]:
        print(f"PROBLEM: {p}")
    if r.get("evidence"):
        print(r["evidence"], end="")
        print(f"(files kept in {r['dir']})")
    print()


def summary(runs, floor):
    print(f"{'workers':>7} {'rate':>6} {'attempted':>9} {'ok':>7} {'failed':>6} {'calls/s':>8} "
          f"{'µs/call':>8} {'msgs/call':>9} {'µs/msg':>7} {'xfloor':>6} {'handoffs/call':>13}")
    for r in runs:
        ratio = per(r["us_msg"], floor['us_per_datagram']) if floor else float("nan")
        print(f"{r['workers']:>7} {r['rate']:>6} {r['attempted']:>9} {r['ok']:>7} {r['failed']:>6} "
              f"{r['cps']:>8.1f} {r['us_call']:>8.1f} {r['msgs_call']:>9.2f} {r['us_msg']:>7.2f} "
              f"{ratio:>6.2f} {r['handoffs_call']:>13.3f}")
    print()
    if floor:
        print(f"floor (udp_echo, same seconds): {floor['us_per_datagram']:.2f} µs CPU per datagram "
              f"({floor['us_per_echo']:.2f} µs per echo, receive+send)")
    for r in runs:
        ratio = per(r["us_msg"], floor['us_per_datagram']) if floor else float("nan")
        line = (f"workers={r['workers']} {r['rate']} calls/s: {r['us_msg']:.2f} µs/msg "
                f"= {ratio:.2f}x floor; target: <= {TARGET_US_PER_MSG:.0f} µs xferd CPU per SIP "
                f"message {verdict(r['us_msg'] <= TARGET_US_PER_MSG)}")
        if r["rate"] >= TARGET_RATE_NO_FAIL:
            line += (f"; 0 failed calls at {TARGET_RATE_NO_FAIL} calls/s "
                     f"{verdict(r['failed'] == 0 and r['ok'] == r['attempted'] and not r['problems'])}")
        print(line)
    print(f"target: <= {TARGET_US_PER_MSG:.0f} µs xferd CPU per SIP message; 0 failed calls at "
          f"{TARGET_RATE_NO_FAIL} calls/s")
    print(f"references: Kamailio stateful ~{REF_KAMAILIO_STATEFUL:.0f} µs/msg, stateless "
          f"~{REF_KAMAILIO_STATELESS:.0f} µs/msg (same machine class); kernel loopback "
          f"~{REF_FLOOR_US_PER_DGRAM} µs/datagram")


def main():
    ap = argparse.ArgumentParser(description="xferd CPU per relayed SIP message under sipp load")
    ap.add_argument("--xferd", default=str(REPO / "build/engine/xferd"),
                    help="the xferd binary (default build/engine/xferd)")
    ap.add_argument("--udp-echo", default=str(REPO / "build/bench/udp_echo"),
                    help="the udp_echo floor benchmark (default build/bench/udp_echo)")
    ap.add_argument("--rate", type=int, default=2000, help="calls/s (default 2000)")
    ap.add_argument("--seconds", type=float, default=15, help="load time (default 15)")
    ap.add_argument("--workers", default="1,2", help="comma-separated worker counts (default 1,2)")
    ap.add_argument("--keep", action="store_true", help="keep the temporary files of every run")
    args = ap.parse_args()
    try:
        workers = [int(w) for w in args.workers.split(",") if w.strip()]
    except ValueError:
        ap.error("--workers: a comma-separated list of numbers")
    if not workers or any(w < 1 or w > 64 for w in workers) or args.rate < 1 or args.seconds <= 0:
        ap.error("bad --workers, --rate or --seconds")
    for tool, path in (("xferd", args.xferd), ("udp_echo", args.udp_echo)):
        if not os.access(path, os.X_OK):
            sys.exit(f"relay.py: {tool} not found at {path}: build first (meson compile -C "
                     f"build), or point --xferd and --udp-echo at a release build (bench/README.md)")
    if not shutil.which("sipp"):
        sys.exit("relay.py: sipp not found (apt-get install sip-tester)")
    can_pin = bool(shutil.which("taskset")) and (os.cpu_count() or 1) >= 2

    print(f"relay: sipp uac -> xferd -> sipp uas, basic call (INVITE/100/180/200/ACK/BYE/200), "
          f"{args.rate} calls/s for {args.seconds:g} s")
    print(f"xferd: {args.xferd}; {os.cpu_count()} CPUs; {os.uname().release}\n")
    runs, status = [], 0
    for w in workers:
        try:
            r = run_one(args, w, can_pin and w == 1, args.keep)
        except BenchError as e:
            print(f"== workers={w}: NOT MEASURED: {e}\n")
            status = 1
            continue
        report_run(r)
        runs.append(r)
    floor = run_floor(args.udp_echo, args.seconds)
    if runs:
        summary(runs, floor)
    return status


if __name__ == "__main__":
    sys.exit(main())
