#!/usr/bin/env python3
"""transfer.py: xferd under whole REFER transfers driven by tools/xferload:
cost per transfer, NOTIFY throughput and cost, REFER latency beside many
established calls, memory per established call; workers=1 and 2; the
udp_echo floor measured in the same run."""

import argparse
import datetime
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchlib import (REPO, BenchError, machine, metrics_scrape, per, port_block, run_floor,
                      stop, tail, verdict, xferd_start, xferd_stop)

NUMBER = "+14155550100"
DOMAIN = "bench.example.net"
TARGET_NUMBER = "+14155551234"

# The targets for this machine (2 vCPUs, loopback).
T_REFER_202_P99_US = 250       # at 10k established calls, 1000 transfers/s
T_TRANSFERS_PER_S = 3000       # complete, with zero failures
T_US_PER_TRANSFER = 120        # xferd CPU, whole flow
T_RSS_PER_CALL = 4096          # bytes per established call
T_US_PER_NOTIFY = 4.0          # xferd CPU per NOTIFY transaction
REF_KAMAILIO_US_PER_TRANSFER = 450  # ~15 µs/msg stateful x ~30 messages

README_BEGIN = "<!-- transfer.py results: begin -->"
README_END = "<!-- transfer.py results: end -->"


class Bench:
    """The paths, the options and where the runs keep their files."""

    def __init__(self, args):
        self.a = args
        self.pin = bool(shutil.which("taskset")) and (os.cpu_count() or 1) >= 2
        self.keep = args.keep

    def config(self, d, workers, base):
        """xferd's config on the block base..: listen, one port per worker,
        metrics, then the endpoint and the gateway that xferload plays."""
        ep, gw, metrics = base + workers + 2, base + workers + 3, base + workers + 1
        text = f"""; written by bench/transfer.py
[engine]
listen = 127.0.0.1:{base}
workers = {workers}
metrics = 127.0.0.1:{metrics}
trusted = 127.0.0.0/8
log_level = warn
max_calls = 300000
drain_timeout = 5

[pstn]
gateway = sip:127.0.0.1:{gw}
geo_allow = 1

[trunk bench]
domain = {DOMAIN}
uri = sip:agent@127.0.0.1:{ep}
numbers = {NUMBER}
"""
        (d / "xferd.ini").write_text(text)
        return d / "xferd.ini", ep, gw, metrics

    def run(self, workers, name, load_args, timeout):
        """A fresh xferd, one xferload run against it; returns xferload's
        JSON summary with xferd's metrics and exit totals added."""
        d = Path(tempfile.mkdtemp(prefix=f"xfer-{name}-w{workers}-"))
        base = port_block(workers + 4)
        cfg, ep, gw, mport = self.config(d, workers, base)
        # One worker: xferd on CPU 1 and xferload on CPU 0, as a deployment
        # would keep a worker's core for it; more workers share both CPUs.
        pin = self.pin and workers == 1
        xferd = xferd_start(self.a.xferd, cfg, d, base, 1 if pin else None)
        out = d / "xferload.json"
        cmd = [str(self.a.xferload), "--target", f"127.0.0.1:{base}",
               "--endpoint", f"127.0.0.1:{ep}", "--gateway", f"127.0.0.1:{gw}",
               "--number", NUMBER, "--refer-to-domain", DOMAIN,
               "--refer-number", TARGET_NUMBER, "--pid", str(xferd.pid),
               "--json", str(out), "--quiet"] + load_args
        if pin:
            cmd = ["taskset", "-c", "0"] + cmd
        try:
            with open(d / "xferload.log", "w") as f:
                rc = subprocess.run(cmd, stdout=f, stderr=subprocess.STDOUT,
                                    timeout=timeout).returncode
            if xferd.poll() is not None:
                raise BenchError(f"xferd exited during the run:\n{tail(d / 'xferd.log')}")
            metrics = metrics_scrape(mport)
            xferd_stop(xferd, d)
        except subprocess.TimeoutExpired:
            raise BenchError(f"xferload did not finish in {timeout} s (files in {d})") from None
        finally:
            stop(xferd)
        if not out.exists():
            raise BenchError(f"xferload wrote no summary (exit {rc}):\n{tail(d / 'xferload.log')}")
        r = json.loads(out.read_text())
        r.update(xferload_exit=rc, metrics=metrics, dir=str(d))
        if rc == 0 and not self.keep:
            shutil.rmtree(d, ignore_errors=True)
        return r


def metric_sum(r, name):
    """The sum of a family's samples in the /metrics taken after the run."""
    return sum(v for k, v in r["metrics"].items() if k == name or k.startswith(name + "{"))


def msgs(r):
    """SIP messages through xferd in the run: datagrams in and out."""
    return metric_sum(r, "xferd_sip_messages_total")


def failures(r):
    """Calls that failed, established ones included, and the first reasons."""
    n = r["calls"]["failed"]
    est = r.get("established") or {}
    n += est.get("failed", 0) + est.get("dropped", 0) + est.get("teardown_failed", 0)
    why = [f"{x['count']}x {x['reason']}" for x in r.get("failures", [])[:3]]
    why += [f"{x['count']}x established: {x['reason']}" for x in est.get("reasons", [])[:2]]
    return n, "; ".join(why)


def load(rate, seconds, extra=()):
    return ["--rate", str(rate), "--duration", str(seconds), "--hold", "200",
            "--refer-after", "50"] + list(extra)


# ---------------------------------------------------------------- benchmarks

def bench_cost(b, w):
    """xferd CPU per complete transfer and per SIP message at rising rates;
    --cost-repeat runs per rate, the one with the median cost reported (a
    shared VM's CPU time drifts by some 10 % from run to run)."""
    rows = []
    for rate in b.a.rates:
        runs = []
        for rep in range(b.a.cost_repeat):
            r = b.run(w, f"cost{rate}r{rep}", load(rate, b.a.seconds), b.a.seconds + 120)
            runs.append((per(r["platform"]["cpu_us_load"], r["calls"]["ok"]), rep, r))
        runs.sort(key=lambda t: t[0])
        r = runs[len(runs) // 2][2]
        ok = r["calls"]["ok"]
        nfail, why = failures(r)
        nfail += sum(failures(x[2])[0] for x in runs if x[2] is not r)
        cpu = r["platform"]["cpu_us_load"]
        row = {"workers": w, "rate": rate, "transfers": ok, "failed": nfail, "why": why,
               "transfers_per_s": r["start_rate"], "us_per_transfer": per(cpu, ok),
               "us_per_transfer_runs": [x[0] for x in sorted(runs, key=lambda t: t[1])],
               "msgs_per_transfer": per(msgs(r), ok), "us_per_msg": per(cpu, msgs(r)),
               "handoffs_per_transfer": per(metric_sum(r, "xferd_worker_handoffs_total"), ok)}
        rows.append(row)
        print(f"  cost w={w} {rate}/s: {ok} transfers, {nfail} failed (all runs), "
              f"{row['transfers_per_s']:.0f}/s, µs/transfer "
              f"{', '.join(f'{x:.1f}' for x in row['us_per_transfer_runs'])} -> median "
              f"{row['us_per_transfer']:.1f}, {row['msgs_per_transfer']:.1f} msgs/transfer, "
              f"{row['us_per_msg']:.2f} µs/msg" + (f"  [{why}]" if why else ""), flush=True)
    return rows


def bench_notify(b, w):
    """NOTIFY transactions: at each --notify-rates transfers/s the target
    sends --provisionals provisionals (each one a NOTIFY), once with the
    subscription and once with Refer-Sub: false (no NOTIFY at all); the runs
    alternate, --repeat times. Everything else is the same message for
    message, so the difference of xferd's CPU per transfer over the NOTIFYs
    per transfer is the CPU of one NOTIFY transaction (build and send the
    NOTIFY, match its 200, cancel Timers E and F, wait out Timer K).
    Every other pair runs the other way round (ABBA), so that a drift of
    the machine's speed during the pairs cancels out of their median."""
    k, s, rows = b.a.provisionals, b.a.seconds, []
    for rate in b.a.notify_rates:
        reps = []
        for rep in range(b.a.repeat):
            pair = {}
            for sub in ((True, False) if rep % 2 == 0 else (False, True)):
                extra = ["--provisionals", str(k), "--ring", "200"]
                if not sub:
                    extra.append("--no-subscription")
                pair[sub] = b.run(w, f"notify{rate}{'s' if sub else 'n'}{rep}",
                                  load(rate, s, extra), s + 120)
            reps.append(pair)
        rows.append(notify_row(w, rate, k, reps))
        r = rows[-1]
        print(f"  notify w={w} {rate} transfers/s: {r['notifies']} NOTIFYs at "
              f"{r['notifies_per_s']:.0f}/s, {r['failed']} failed calls, "
              f"{r['retransmissions_out']:.0f} retransmissions; µs per NOTIFY transaction "
              f"{', '.join(f'{x:.2f}' for x in r['us_per_notify_runs'])} -> median "
              f"{r['us_per_notify']:.2f}" + (f"  [{r['why']}]" if r["why"] else ""), flush=True)
    return rows


def notify_row(w, rate, k, reps):
    def per_transfer(r):
        return per(r["platform"]["cpu_us_load"], r["calls"]["ok"])

    each = sorted(per(per_transfer(p[True]) - per_transfer(p[False]),
                      per(p[True]["notifies"], p[True]["calls"]["ok"])) for p in reps)
    runs = [r for p in reps for r in p.values()]
    last = reps[-1][True]
    return {"workers": w, "rate": rate, "provisionals": k,
            "notifies": last["notifies"], "notifies_per_s": last["notifies_per_s"],
            "xferd_notify_sent": metric_sum(last, "xferd_notify_sent_total"),
            "retransmissions_out": sum(
                r["metrics"].get('xferd_retransmissions_total{direction="out"}', 0)
                for r in runs),
            "failed": sum(failures(r)[0] for r in runs),
            "why": "; ".join(failures(r)[1] for r in runs if failures(r)[1]),
            "us_per_notify_runs": each,
            "us_per_notify": each[len(each) // 2] if len(each) % 2 else
            (each[len(each) // 2 - 1] + each[len(each) // 2]) / 2}


def bench_latency(b, w):
    """REFER→202 and REFER→NOTIFY 200 beside N idle established calls, with
    --latency-rate transfers/s in the background."""
    rows = []
    for n in b.a.established:
        extra = ["--established", str(n), "--established-rate", "10000"]
        r = b.run(w, f"lat{n}", load(b.a.latency_rate, b.a.seconds, extra),
                  b.a.seconds + 3 * n / 10000 + 120)
        nfail, why = failures(r)
        lat = r["latency_us"]
        row = {"workers": w, "established": r["established"]["up"], "rate": b.a.latency_rate,
               "transfers": r["calls"]["ok"], "failed": nfail, "why": why,
               "refer_202": lat["refer_202"], "refer_notify_200": lat["refer_notify_200"]}
        rows.append(row)
        a, z = row["refer_202"], row["refer_notify_200"]
        print(f"  latency w={w} {n} established: REFER→202 p50/p99/p99.9/max "
              f"{a['p50']}/{a['p99']}/{a['p99_9']}/{a['max']} µs; REFER→NOTIFY 200 "
              f"{z['p50']}/{z['p99']}/{z['p99_9']}/{z['max']} µs; {nfail} failed"
              + (f"  [{why}]" if why else ""), flush=True)
    return rows


def bench_memory(b, w):
    """xferd's RSS per idle established call: just after they came up (their
    INVITE transactions still waiting out Timer L/M) and after --settle s."""
    rows = []
    for n in b.a.memory_calls:
        extra = ["--established", str(n), "--established-rate", "10000", "--calls", "0",
                 "--settle", str(b.a.settle)]
        r = b.run(w, f"mem{n}", extra, b.a.settle + 3 * n / 10000 + 120)
        p, nfail = r["platform"], failures(r)[0]
        row = {"workers": w, "calls": r["established"]["up"], "failed": nfail,
               "rss_kb_start": p["rss_kb_start"], "rss_kb_up": p.get("rss_kb_up"),
               "rss_kb_settled": p["rss_kb_loaded"], "settle_s": b.a.settle,
               "bytes_per_call_up": p.get("rss_bytes_per_established_call_up"),
               "bytes_per_call": p["rss_bytes_per_established_call"]}
        rows.append(row)
        print(f"  memory w={w} {row['calls']} calls: RSS {row['rss_kb_start']} kB idle, "
              f"{row['rss_kb_up']} kB up ({row['bytes_per_call_up']:.0f} B/call), "
              f"{row['rss_kb_settled']} kB after {b.a.settle:g} s "
              f"({row['bytes_per_call']:.0f} B/call); {nfail} failed", flush=True)
    return rows


# ---------------------------------------------------------------- report

def table(head, rows):
    out = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    out += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(out)


def report(res):
    """The results as Markdown tables with the targets: printed, and what
    --update-readme writes into bench/README.md."""
    f, out = res["floor"], []
    out.append(f"{res['date']}; {res['machine']}; commit {res['commit']}; "
               f"{res['seconds']:g} s per load run.")
    out.append("")
    if f:
        out.append(f"Reference, same run: `udp_echo` {f['us_per_datagram']:.2f} µs CPU per "
                   f"datagram (window 64, the floor), loopback round trip "
                   f"{res['rtt_us']:.0f} µs (window 1).")
        out.append("")
    fl = f["us_per_datagram"] if f else float("nan")
    if res["cost"]:
        out.append(f"**Cost per transfer** (success mix; target ≥ {T_TRANSFERS_PER_S} "
                   f"transfers/s with 0 failures, ≤ {T_US_PER_TRANSFER} µs; Kamailio "
                   f"stateful ~{REF_KAMAILIO_US_PER_TRANSFER} µs):")
        out.append("")
        out.append(table(
            ["workers", "asked/s", "transfers", "failed", "achieved/s", "µs/transfer (each run)",
             "median", "msgs/transfer", "µs/msg", "× floor", "verdict"],
            [[r["workers"], r["rate"], r["transfers"], r["failed"], f"{r['transfers_per_s']:.0f}",
              ", ".join(f"{x:.1f}" for x in r.get("us_per_transfer_runs", [])),
              f"{r['us_per_transfer']:.1f}", f"{r['msgs_per_transfer']:.1f}",
              f"{r['us_per_msg']:.2f}", f"{per(r['us_per_msg'], fl):.2f}",
              verdict(r["failed"] == 0 and r["us_per_transfer"] <= T_US_PER_TRANSFER and
                      (r["rate"] < T_TRANSFERS_PER_S or
                       r["transfers_per_s"] >= 0.98 * T_TRANSFERS_PER_S))]
             for r in res["cost"]]))
        out.append("")
    if res["notify"]:
        out.append(f"**NOTIFY transactions** (target ≤ {T_US_PER_NOTIFY:g} µs each; the "
                   f"target sends {res['notify'][0]['provisionals']} provisionals, with and "
                   f"without the subscription, {res['notify'][0]['provisionals'] + 2} NOTIFYs "
                   f"per transfer):")
        out.append("")
        out.append(table(
            ["workers", "transfers/s", "NOTIFYs", "NOTIFYs/s", "failed calls",
             "NOTIFY rtx", "µs per NOTIFY (each pair)", "median", "× floor (2 datagrams)",
             "verdict"],
            [[r["workers"], r["rate"], r["notifies"], f"{r['notifies_per_s']:.0f}", r["failed"],
              f"{r['retransmissions_out']:.0f}",
              ", ".join(f"{x:.2f}" for x in r["us_per_notify_runs"]),
              f"{r['us_per_notify']:.2f}", f"{per(r['us_per_notify'], 2 * fl):.2f}",
              verdict(r["failed"] == 0 and r["us_per_notify"] <= T_US_PER_NOTIFY)]
             for r in res["notify"]]))
        out.append("")
    if res["latency"]:
        out.append(f"**REFER latency** (µs, p50 / p90 / p99 / p99.9 / max; "
                   f"{res['latency'][0]['rate']} transfers/s beside the established calls; "
                   f"target REFER→202 p99 < {T_REFER_202_P99_US} µs at 10k):")
        out.append("")

        def pct(h):
            return " / ".join(str(h[k]) for k in ("p50", "p90", "p99", "p99_9", "max"))

        out.append(table(
            ["workers", "established", "transfers", "failed", "REFER→202", "REFER→NOTIFY 200",
             "verdict"],
            [[r["workers"], r["established"], r["transfers"], r["failed"], pct(r["refer_202"]),
              pct(r["refer_notify_200"]),
              verdict(r["failed"] == 0 and r["refer_202"]["p99"] < T_REFER_202_P99_US)
              if r["established"] >= 10000 else ("ok" if r["failed"] == 0 else "FAILED")]
             for r in res["latency"]]))
        out.append("")
    if res["memory"]:
        out.append(f"**Memory** (xferd RSS from /proc; target ≤ {T_RSS_PER_CALL} B per "
                   f"established call, taken after the settle):")
        out.append("")
        out.append(table(
            ["workers", "calls", "failed", "RSS idle kB", "RSS up kB", "B/call up",
             "RSS settled kB", "B/call settled", "verdict"],
            [[r["workers"], r["calls"], r["failed"], r["rss_kb_start"], r["rss_kb_up"],
              f"{r['bytes_per_call_up'] or 0:.0f}", r["rss_kb_settled"],
              f"{r['bytes_per_call']:.0f}",
              verdict(r["failed"] == 0 and r["bytes_per_call"] <= T_RSS_PER_CALL)]
             for r in res["memory"]]))
        out.append("")
    return "\n".join(out)


def readme_update(path, text):
    body = path.read_text()
    i, j = body.find(README_BEGIN), body.find(README_END)
    if i < 0 or j < i:
        raise BenchError(f"{path}: no '{README_BEGIN}' ... '{README_END}' section")
    path.write_text(body[:i + len(README_BEGIN)] + "\n" + text + "\n" + body[j:])


def commit():
    try:
        return subprocess.run(["git", "-C", str(REPO), "describe", "--always", "--dirty"],
                              capture_output=True, text=True, timeout=10).stdout.strip() or "?"
    except (OSError, subprocess.TimeoutExpired):
        return "?"


def ints(text):
    try:
        v = [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}': expected comma-separated integers")
    if not v or min(v) < 1:
        raise argparse.ArgumentTypeError(f"'{text}': expected integers >= 1")
    return v


def main():
    ap = argparse.ArgumentParser(
        description="xferd under whole transfers (tools/xferload): cost per transfer, NOTIFY "
                    "transactions, REFER latency beside established calls, memory per call; "
                    "each run on a fresh xferd, with the udp_echo floor of the same run.")
    ap.add_argument("--build", default=str(REPO / "build-release"),
                    help="build directory holding engine/xferd, tools/xferload and "
                         "bench/udp_echo (default build-release: see bench/README.md)")
    ap.add_argument("--only", default="cost,notify,latency,memory",
                    help="comma-separated subset of cost,notify,latency,memory")
    ap.add_argument("--workers", type=ints, default=[1, 2], help="worker counts (default 1,2)")
    ap.add_argument("--seconds", type=float, default=10, help="load time per run (default 10)")
    ap.add_argument("--rates", type=ints, default=[3000, 4000, 6000],
                    help="cost: transfers/s (default 3000,4000,6000)")
    ap.add_argument("--notify-rates", type=ints, default=[1000, 3000],
                    help="notify: transfers/s (default 1000,3000)")
    ap.add_argument("--cost-repeat", type=int, default=3,
                    help="runs per cost rate; the median is reported (default 3)")
    ap.add_argument("--repeat", type=int, default=5,
                    help="notify: pairs of runs per rate; the median is reported (default 5)")
    ap.add_argument("--provisionals", type=int, default=21,
                    help="notify: provisionals per target (default 21)")
    ap.add_argument("--latency-rate", type=int, default=1000,
                    help="latency: background transfers/s (default 1000)")
    ap.add_argument("--established", type=ints, default=[1000, 10000, 50000],
                    help="latency: established calls (default 1000,10000,50000)")
    ap.add_argument("--memory-calls", type=ints, default=[10000, 50000, 100000],
                    help="memory: established calls (default 10000,50000,100000)")
    ap.add_argument("--settle", type=float, default=45,
                    help="memory: seconds between the calls being up and the RSS reading; "
                         "64*T1 (32 s) lets their INVITE transactions end, the rest lets "
                         "jemalloc purge (default 45)")
    ap.add_argument("--json", help="write every figure as JSON to this file")
    ap.add_argument("--from-json", metavar="FILE",
                    help="measure nothing: print (and with --update-readme write) the tables "
                         "of an earlier run's --json file")
    ap.add_argument("--update-readme", action="store_true",
                    help="rewrite the results section of bench/README.md")
    ap.add_argument("--keep", action="store_true", help="keep every run's directory")
    a = ap.parse_args()
    only = set(x for x in a.only.split(",") if x)
    if not only <= {"cost", "notify", "latency", "memory"}:
        ap.error(f"--only '{a.only}': expected a subset of cost,notify,latency,memory")
    if a.provisionals < 1 or a.provisionals > 100 or a.repeat < 1 or a.cost_repeat < 1:
        ap.error("--provisionals: expected 1..100; --repeat, --cost-repeat: >= 1")
    if a.from_json:
        text = report(json.loads(Path(a.from_json).read_text()))
        print(text)
        if a.update_readme:
            readme_update(REPO / "bench/README.md", text)
        return 0
    build = Path(a.build)
    a.xferd, a.xferload, a.udp_echo = (build / "engine/xferd", build / "tools/xferload",
                                       build / "bench/udp_echo")
    for p in (a.xferd, a.xferload, a.udp_echo):
        if not os.access(p, os.X_OK):
            sys.exit(f"transfer.py: {p} not found: build first (bench/README.md, 'How to run')")
    b = Bench(a)

    print(f"transfer.py: {machine()}; {a.xferd}", flush=True)
    floor = run_floor(a.udp_echo, 5)
    ping = run_floor(a.udp_echo, 3, window=1)
    rtt = 1e6 / ping["echoes_per_s"] if ping else float("nan")
    if floor:
        print(f"floor: {floor['us_per_datagram']:.2f} µs CPU per datagram; loopback round "
              f"trip {rtt:.0f} µs", flush=True)
    res = {"date": datetime.date.today().isoformat(), "machine": machine(), "commit": commit(),
           "seconds": a.seconds, "floor": floor, "rtt_us": rtt,
           "cost": [], "notify": [], "latency": [], "memory": []}
    status = 0
    for w in a.workers:
        for name, fn in (("cost", lambda: bench_cost(b, w)),
                         ("notify", lambda: bench_notify(b, w)),
                         ("latency", lambda: bench_latency(b, w)),
                         ("memory", lambda: bench_memory(b, w))):
            if name not in only:
                continue
            try:
                res[name] += fn()
            except BenchError as e:
                print(f"  {name} w={w}: NOT MEASURED: {e}", flush=True)
                status = 1
    text = report(res)
    print("\n" + text)
    if a.json:
        Path(a.json).write_text(json.dumps(res, indent=1) + "\n")
    if a.update_readme:
        readme_update(REPO / "bench/README.md", text)
        print("bench/README.md: results section rewritten")
    return status


if __name__ == "__main__":
    t0 = time.monotonic()
    rc = main()
    print(f"transfer.py: done in {time.monotonic() - t0:.0f} s")
    sys.exit(rc)
