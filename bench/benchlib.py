"""benchlib.py: what the Python benchmarks of bench/ share: free ports of
127.0.0.1, processes started, pinned and stopped by PID, /proc readings, the
udp_echo floor, xferd started on a config and its exit totals.

Standard library only; every wait is bounded."""

import os
import random
import re
import signal
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DRAIN_TIMEOUT = 5  # s, written into xferd's configs: bounds its exit


class BenchError(Exception):
    """The harness could not measure (xferd did not start, crashed, ...)."""


def port_free(port):
    """True if 127.0.0.1:port can be bound for both UDP and TCP right now."""
    for kind in (socket.SOCK_DGRAM, socket.SOCK_STREAM):
        s = socket.socket(socket.AF_INET, kind)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        finally:
            s.close()
    return True


def port_block(n):
    """The first port of n consecutive free ones, below the ephemeral range
    (so that no client socket takes one between the check and the bind)."""
    for _ in range(500):
        base = random.randrange(20000, 32000 - n)
        if all(port_free(base + i) for i in range(n)):
            return base
    raise BenchError(f"no block of {n} free ports on 127.0.0.1")


def cpu_ticks(pid):
    """utime + stime of every thread of pid, in clock ticks (proc(5))."""
    with open(f"/proc/{pid}/stat") as f:
        rest = f.read().rsplit(")", 1)[1].split()
    return int(rest[11]) + int(rest[12])  # fields 14 and 15


def udp_drops():
    """RcvbufErrors + SndbufErrors of this network namespace (/proc/net/snmp):
    datagrams some socket here dropped for want of buffer space."""
    try:
        with open("/proc/net/snmp") as f:
            rows = [l.split() for l in f if l.startswith("Udp:")]
        d = dict(zip(rows[0][1:], (int(v) for v in rows[1][1:])))
        return d.get("RcvbufErrors", 0) + d.get("SndbufErrors", 0)
    except (OSError, IndexError, ValueError):
        return 0


def idle_ticks():
    """idle + iowait clock ticks of all CPUs since boot (/proc/stat). Idle time
    is measured, not sampled at the tick as busy time is (which misses most of
    a bursty load), so busy = CPUs x wall - idle is the better estimate."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:6]]
    return v[3] + v[4]


def tail(path, lines=25):
    try:
        with open(path, errors="replace") as f:
            return "".join(f.readlines()[-lines:])
    except OSError:
        return "(none)\n"


def head(path, lines=25):
    try:
        with open(path, errors="replace") as f:
            out = []
            for i, line in enumerate(f):
                if i >= lines:
                    break
                out.append(line)
            return "".join(out)
    except OSError:
        return "(none)\n"


def wait_for(pred, seconds, step=0.02):
    """Poll pred until it is true or seconds have passed; returns its value."""
    until = time.monotonic() + seconds
    while True:
        v = pred()
        if v or time.monotonic() >= until:
            return v
        time.sleep(step)


def stop(proc, sig=signal.SIGTERM, seconds=5):
    """Signal one process we started, by its PID; SIGKILL if it lingers."""
    if proc is None or proc.poll() is not None:
        return
    try:
        os.kill(proc.pid, sig)
        proc.wait(timeout=seconds)
    except subprocess.TimeoutExpired:
        try:
            os.kill(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait(timeout=5)
    except ProcessLookupError:
        pass


def pinned(cmd, cpu, pin):
    return ["taskset", "-c", str(cpu)] + cmd if pin else cmd


def per(a, b):
    return a / b if b else float("nan")


def verdict(ok):
    return "met" if ok else "MISSED"


def run_floor(udp_echo, seconds, window=64):
    """udp_echo's result line as a dict of floats (echoes, echoes_per_s,
    us_per_echo, us_per_datagram), or None (printed why)."""
    try:
        out = subprocess.run([udp_echo, "--seconds", str(seconds), "--window", str(window)],
                             capture_output=True, text=True, timeout=seconds + 30)
    except (OSError, subprocess.TimeoutExpired) as e:
        print(f"udp_echo: {e}")
        return None
    m = re.search(r"^result: (.*)$", out.stdout, re.M)
    if out.returncode or not m:
        print(f"udp_echo failed (exit {out.returncode}):\n{out.stdout}{out.stderr}")
        return None
    return {k: float(v) for k, v in (kv.split("=") for kv in m.group(1).split())}


def xferd_start(xferd, cfg, d, port, cpu=None):
    """xferd on config file cfg, logging to d/xferd.log, pinned to cpu if not
    None; returns the process once its listen port is taken."""
    log = d / "xferd.log"
    with open(log, "w") as f:
        proc = subprocess.Popen(pinned([str(xferd), "-c", str(cfg)], cpu, cpu is not None),
                                stdout=f, stderr=subprocess.STDOUT, cwd=d)
    up = wait_for(lambda: proc.poll() is not None or not port_free(port), 5)
    if proc.poll() is not None or not up:
        stop(proc)
        raise BenchError(f"xferd did not start (exit {proc.poll()}):\n{tail(log)}")
    return proc


def xferd_stop(proc, d):
    """SIGTERM, wait for the drain; raises unless xferd exited 0."""
    stop(proc, seconds=DRAIN_TIMEOUT + 10)
    if proc.returncode != 0:
        raise BenchError(f"xferd exit status {proc.returncode}:\n{tail(d / 'xferd.log')}")


def metrics_scrape(port):
    """The samples of xferd's /metrics as {name{labels}: float}."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
        text = r.read().decode()
    out = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            try:
                out[name] = float(value)
            except ValueError:
                pass
    return out


def machine():
    """One line saying what ran the benchmark."""
    model = "?"
    try:
        with open("/proc/cpuinfo") as f:
            model = next((l.split(":", 1)[1].strip() for l in f if l.startswith("model name")),
                         "?")
    except OSError:
        pass
    return f"nproc {os.cpu_count()}; kernel {os.uname().release}; CPU \"{model}\""
