#!/usr/bin/env python3
# tests/metrics/run.py: xferd's /metrics, /healthz and event log end to end:
# N transfers with tools/demo's peers, promtool on a live scrape, a real
# Prometheus server reading the counters, draining, the JSON lines.
import argparse
import importlib.machinery
import importlib.util
import json
import os
import re
import select
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import harness  # noqa: E402  (tests/lib, after the path above)

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TARGET = "+14155551234"  # what tools/demo's endpoint REFERs to
SKIP = 77                # meson's "skipped"

RESULTS = harness.Results("metrics")
check = RESULTS.check


def load_demo():
    """tools/demo is a script without .py: load it as a module."""
    path = os.path.join(TOP, "tools", "demo")
    loader = importlib.machinery.SourceFileLoader("xferd_demo", path)
    spec = importlib.util.spec_from_loader("xferd_demo", loader)
    mod = importlib.util.module_from_spec(spec)
    loader.exec_module(mod)
    return mod


demo = load_demo()
RUN = [0]


class Peer(demo.Peer):
    """demo's peer with a tag unique per run: its branches derive from the
    tag, and a REFER with the branch of an earlier one would be taken for a
    retransmission by the server transaction still waiting out Timer J."""

    def __init__(self, name, port, xferd):
        super().__init__(name, port, xferd)
        self.tag = "%s%dr%d" % (name[:3], port, RUN[0])


demo.Peer = Peer


def http(port, path, method="GET", timeout=5.0):
    """(status, body) of one request; status None if no answer."""
    req = urllib.request.Request("http://127.0.0.1:%d%s" % (port, path), method=method)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()
    except (OSError, urllib.error.URLError):
        return None, ""


def raw_http(port, data, timeout=5.0):
    """The status code xferd answers raw bytes with (None: closed without one)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        s.sendall(data)
        buf = b""
        while True:
            try:
                chunk = s.recv(65536)
            except (ConnectionResetError, socket.timeout):
                break
            if not chunk:
                break
            buf += chunk
    finally:
        s.close()
    m = re.match(rb"HTTP/1\.1 (\d{3}) ", buf)
    return int(m.group(1)) if m else None


SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? (\S+)$")


def scrape(port):
    """{(name, frozenset(labels)): value} of one scrape, and the text."""
    status, text = http(port, "/metrics")
    if status != 200:
        return None, text
    out = {}
    for ln in text.splitlines():
        if not ln or ln.startswith("#"):
            continue
        m = SAMPLE.match(ln)
        if not m:
            continue
        labels = frozenset(re.findall(r'(\w+)="([^"]*)"', m.group(2) or ""))
        out[(m.group(1), labels)] = float(m.group(3))
    return out, text


def val(samples, name, **labels):
    return samples.get((name, frozenset(labels.items())), 0.0)


def delta(after, before, name, **labels):
    return val(after, name, **labels) - val(before, name, **labels)


def config(xferd, metrics, evlog, target, endpoint):
    """xferd's sections: 2 workers, /metrics, the event log, tools/demo's
    endpoint as acme's uri and its target as the PSTN gateway."""
    return {
        "engine": {"listen": "127.0.0.1:%d" % xferd, "metrics": "127.0.0.1:%d" % metrics,
                   "workers": 2, "trusted": "127.0.0.0/8", "transfer_timeout": 5,
                   "drain_timeout": 15, "log_level": "info", "event_log": evlog},
        "pstn": {"gateway": "sip:127.0.0.1:%d" % target, "geo_allow": "1 44"},
        "trunk acme": {"domain": "acme.zt.example.net",
                       "uri": "sip:agent@127.0.0.1:%d" % endpoint, "numbers": "+14155550100"},
    }

PROM = """global:
  scrape_interval: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: xferd
    static_configs:
      - targets: ['127.0.0.1:{metrics}']
"""


class HeldCall:
    """A caller→xferd→endpoint call that stays up until hang_up()."""

    def __init__(self, xferd_port, caller_port, endpoint_port):
        xferd = ("127.0.0.1", xferd_port)
        self.ladder = demo.Ladder()
        self.caller = Peer("caller", caller_port, xferd)
        self.endpoint = Peer("endpoint", endpoint_port, xferd)
        self.up = False
        self.bye_answered = False
        self.caller.dialog = ("held-%d@127.0.0.1" % caller_port,
                              "<sip:+12125550147@127.0.0.1>;tag=" + self.caller.tag,
                              "<sip:+14155550100@127.0.0.1>",
                              "sip:+14155550100@127.0.0.1:%d" % xferd_port)
        self.caller.request("INVITE", self.ladder, body=demo.SDP.format(port=40010), cseq=1)

    def pump(self, until, timeout):
        deadline = time.time() + timeout
        socks = {self.caller.sock: self.caller, self.endpoint.sock: self.endpoint}
        while not until() and time.time() < deadline:
            ready, _, _ = select.select(list(socks), [], [], 0.05)
            for s in ready:
                data, _ = s.recvfrom(65535)
                m = demo.Msg(data.decode(errors="replace"))
                p = socks[s]
                if p is self.endpoint and m.is_request and m.method == "INVITE":
                    p.confirm_uas(m)
                    p.respond(m, 200, "OK", self.ladder, body=demo.SDP.format(port=40012))
                elif p is self.endpoint and m.is_request and m.method != "ACK":
                    p.respond(m, 200, "OK", self.ladder, tag=False)
                elif p is self.caller and not m.is_request:
                    num, meth = m.cseq()
                    if meth == "INVITE" and m.status == 200 and not self.up:
                        cid, local, _, _ = self.caller.dialog
                        contact = re.search(r"<([^>]+)>", m.get("contact")).group(1)
                        self.caller.dialog = (cid, local, m.get("to"), contact)
                        self.caller.request("ACK", self.ladder, cseq=num)
                        self.caller.cseq = num
                        self.up = True
                    elif meth == "BYE":
                        self.bye_answered = True
        return until()

    def hang_up(self, timeout=5.0):
        self.caller.request("BYE", self.ladder)
        return self.pump(lambda: self.bye_answered, timeout)

    def close(self):
        self.caller.sock.close()
        self.endpoint.sock.close()


def build(build_dir):
    subprocess.run("cd %s && meson setup %s -Dwerror=true >/dev/null 2>&1; meson compile -C %s"
                   % (TOP, build_dir, build_dir), shell=True, check=True,
                   stdout=subprocess.DEVNULL)
    return os.path.join(build_dir, "engine", "xferd")


def wait_for(fn, timeout, step=0.1):
    deadline = time.time() + timeout
    while time.time() < deadline:
        r = fn()
        if r:
            return r
        time.sleep(step)
    return fn()


def prom_query(port, query):
    """The values of an instant query's result vector (None if it failed)."""
    url = "/api/v1/query?query=" + urllib.parse.quote(query)
    status, body = http(port, url, timeout=3)
    if status != 200:
        return None
    data = json.loads(body)
    if data.get("status") != "success":
        return None
    return [float(r["value"][1]) for r in data["data"]["result"]]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--xferd", help="the xferd binary (default: build it in --build-dir)")
    ap.add_argument("--build-dir", default="/tmp/mx-build")
    ap.add_argument("-n", type=int, default=3, help="transfers to make")
    args = ap.parse_args()
    n = args.n

    promtool, prometheus = shutil.which("promtool"), shutil.which("prometheus")
    if not promtool or not prometheus:
        print("metrics: skipped: promtool and prometheus are needed "
              "(apt-get install -y prometheus)")
        return SKIP
    xferd_bin = args.xferd or build(args.build_dir)

    tmp = harness.make_dir("metrics")
    ports = harness.Ports()
    xport = ports.block(3)  # listen, and listen + 1 + i for the 2 workers
    pports = [ports.one() for _ in range(3 + n)]
    endpoint_port, target_port, caller_ports = pports[0], pports[1], pports[2:]
    mport, pport = ports.one(), ports.one()
    evlog = os.path.join(tmp, "events.jsonl")
    cfg = harness.write_config(os.path.join(tmp, "xferd.ini"),
                               config(xport, mport, evlog, target_port, endpoint_port))
    with open(os.path.join(tmp, "prometheus.yml"), "w") as f:
        f.write(PROM.format(metrics=mport))
    xferd = prom = None
    held = None
    try:
        xferd = harness.spawn([xferd_bin, "-c", cfg], os.path.join(tmp, "xferd.log"))
        prom = harness.spawn([prometheus, "--config.file=" + os.path.join(tmp, "prometheus.yml"),
                              "--storage.tsdb.path=" + os.path.join(tmp, "data"),
                              "--web.listen-address=127.0.0.1:%d" % pport],
                             os.path.join(tmp, "prometheus.log"), cwd=tmp)
        up = wait_for(lambda: http(mport, "/healthz", timeout=1)[0] == 200, 10)
        if not check(up, "xferd answers /healthz 200 while accepting calls"):
            return 1
        before, text = scrape(mport)
        check(before is not None, "GET /metrics is 200")
        check(raw_http(mport, b"GET /nope HTTP/1.1\r\nHost: x\r\n\r\n") == 404, "GET /nope is 404")
        check(raw_http(mport, b"POST /metrics HTTP/1.1\r\nContent-Length: 0\r\n\r\n") == 404,
              "POST /metrics is 404")
        check(raw_http(mport, b"hello there\r\n\r\n") == 400, "a malformed request is 400")
        check(raw_http(mport, b"GET /metrics HTTP/1.1\r\nX: " + b"a" * 8192 + b"\r\n\r\n") == 400,
              "a request head over 4 KiB is 400")
        # a client that sends half a request and stalls must not hold a slot
        # for long, nor stop the others
        stall = socket.create_connection(("127.0.0.1", mport))
        stall.sendall(b"GET /metr")
        check(http(mport, "/healthz")[0] == 200, "a stalled client does not block others")

        outcomes = []
        for i in range(n):
            RUN[0] = i
            outcomes.append(demo.run_transfer(xport, (caller_ports[i], endpoint_port,
                                                          target_port), 200, demo.Ladder()))
        check(outcomes == ["transferred"] * n, "%d transfers made" % n, outcomes)
        # the calls end with the last BYE's response; let the counters settle
        after = wait_for(lambda: (lambda s: s if s and val(s, "xferd_calls_active") == 0 and
                                  val(s, "xferd_live_objects", kind="dialogs") == 0 else None)(
            scrape(mport)[0]), 5)
        if not after:
            after = scrape(mport)[0]
        text = scrape(mport)[1]

        r = subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True,
                           text=True, timeout=30)
        check(r.returncode == 0 and not r.stdout.strip() and not r.stderr.strip(),
              "promtool check metrics passes on a live scrape", (r.stdout + r.stderr).strip())
        for fam in ("xferd_calls_active", "xferd_calls_total", "xferd_refer_responses_total",
                    "xferd_transfers_total", "xferd_notify_sent_total",
                    "xferd_notify_responses_total", "xferd_refer_accept_seconds",
                    "xferd_transfer_answer_seconds", "xferd_sip_messages_total",
                    "xferd_parse_errors_total", "xferd_retransmissions_total",
                    "xferd_responses_unmatched_total",
                    "xferd_live_objects", "xferd_worker_busy_seconds_total",
                    "xferd_worker_handoffs_total", "xferd_workers_taking_calls",
                    "xferd_worker_call_slots",
                    "xferd_memory_bytes"):
            check("# HELP %s " % fam in text and "# TYPE %s " % fam in text,
                  "family %s has HELP and TYPE" % fam)

        expect = [
            (("xferd_calls_total", {"outcome": "completed"}), n),
            (("xferd_calls_admitted_total", {}), n),
            (("xferd_refer_responses_total", {"code": "202"}), n),
            (("xferd_transfers_total", {"outcome": "success", "status": "200"}), n),
            (("xferd_notify_sent_total", {"status": "100"}), n),
            (("xferd_notify_sent_total", {"status": "180"}), n),
            (("xferd_notify_sent_total", {"status": "200"}), n),
            (("xferd_notify_responses_total", {"code": "200"}), 3 * n),
            (("xferd_refer_accept_seconds_count", {}), n),
            (("xferd_refer_accept_seconds_bucket", {"le": "+Inf"}), n),
            (("xferd_transfer_answer_seconds_count", {}), n),
            (("xferd_sip_messages_total", {"direction": "in", "method": "INVITE"}), n),
            (("xferd_sip_messages_total", {"direction": "in", "method": "ACK"}), n),
            (("xferd_sip_messages_total", {"direction": "in", "method": "REFER"}), n),
            (("xferd_sip_messages_total", {"direction": "in", "method": "BYE"}), n),
            (("xferd_sip_messages_total", {"direction": "out", "method": "INVITE"}), 3 * n),
            (("xferd_sip_messages_total", {"direction": "out", "method": "ACK"}), 3 * n),
            (("xferd_sip_messages_total", {"direction": "out", "method": "NOTIFY"}), 3 * n),
            (("xferd_sip_messages_total", {"direction": "out", "method": "BYE"}), 2 * n),
            (("xferd_parse_errors_total", {}), 0),
            (("xferd_calls_active", {}), 0),
            (("xferd_live_objects", {"kind": "dialogs"}), 0),
        ]
        for (name, labels), want in expect:
            got = delta(after, before, name, **labels)
            lab = ",".join('%s="%s"' % kv for kv in sorted(labels.items()))
            check(got == want, "%s{%s} moved by %d" % (name, lab, want), got)
        resp_in = delta(after, before, "xferd_sip_messages_total", direction="in",
                        method="response")
        check(resp_in >= 7 * n, "responses in moved by at least %d" % (7 * n), resp_in)
        check(val(after, "xferd_memory_bytes", kind="allocated") > 0 and
              val(after, "xferd_memory_bytes", kind="resident") > 0,
              "xferd_memory_bytes has allocated and resident")
        busy = sum(v for (k, _), v in after.items() if k == "xferd_worker_busy_seconds_total")
        check(busy > 0, "xferd_worker_busy_seconds_total moved", busy)

        # Prometheus itself: does it read N successful transfers?
        q = 'xferd_transfers_total{outcome="success"}'
        got = wait_for(lambda: (lambda v: v if v and sum(v) == n else None)(prom_query(pport, q)),
                       30, 0.5)
        check(got and sum(got) == n, "Prometheus query %s reads %d" % (q, n),
              prom_query(pport, q))
        q = 'histogram_quantile(0.99, sum by (le) (xferd_refer_accept_seconds_bucket))'
        got = prom_query(pport, q)
        check(got and 0 < got[0] < 1, "Prometheus computes p99 REFER→202 below 1 s", got)

        # Draining: a call still up keeps xferd running; /healthz says 503.
        RUN[0] = n
        held = HeldCall(xport, caller_ports[n], endpoint_port)
        check(held.pump(lambda: held.up, 5), "a call is up before SIGTERM")
        check(http(mport, "/healthz")[0] == 200, "/healthz 200 before SIGTERM")
        xferd.send_signal(signal.SIGTERM)
        check(wait_for(lambda: http(mport, "/healthz", timeout=1)[0] == 503, 5),
              "/healthz 503 after SIGTERM while a call is up")
        s, _ = scrape(mport)
        check(s and val(s, "xferd_draining") == 1 and val(s, "xferd_calls_active") == 1,
              "metrics show draining with 1 call active")
        check(xferd.poll() is None, "xferd still runs while the call is up")
        check(held.hang_up(), "the held call hangs up")
        try:
            xferd.wait(10)
        except subprocess.TimeoutExpired:
            pass
        check(xferd.poll() == 0, "xferd exits 0 once the call ended", xferd.poll())
        stall.close()

        # The event log: one JSON object per line.
        lines = open(evlog).read().splitlines() if os.path.exists(evlog) else []
        events = []
        for ln in lines:
            try:
                events.append(json.loads(ln))
            except ValueError as e:
                check(False, "event log line is JSON", "%s: %r" % (e, ln))
        xfers = [e for e in events if e.get("event") == "transfer"]
        calls = [e for e in events if e.get("event") == "call"]
        check(len(events) == len(lines) and len(lines) == 2 * n + 1,
              "event log has %d JSON lines" % (2 * n + 1), len(lines))
        check(len(xfers) == n, "%d transfer events" % n, len(xfers))
        check(all(e["outcome"] == "success" and e["status"] == 200 and e["target"] == TARGET and
                  e["trunk"] == "acme" and e["caller"] == "+12125550147" and
                  e["a_call_id"] and e["b_call_id"] and e["c_call_id"] and
                  e["refer_accept_us"] > 0 and e["refer_answer_ms"] is not None
                  for e in xfers), "transfer events match the transfers made",
              xfers[:1])
        check(sorted(e["a_call_id"] for e in xfers) ==
              sorted("demo-%d@127.0.0.1" % p for p in caller_ports[:n]),
              "transfer events name the callers' Call-IDs")
        check(len(calls) == n + 1 and all(e["outcome"] == "completed" for e in calls) and
              sum(e["transfers"] for e in calls) == n and
              all(e["callee"] == "+14155550100" for e in calls),
              "call events: %d completed, %d with a transfer" % (n + 1, n), calls[:1])
    except Exception as e:  # a crash of the test is a failure, reported as one
        check(False, "the test ran to the end", repr(e))
    finally:
        if held:
            held.close()
        for p in (xferd, prom):
            if p is not None:
                harness.stop_process(p, grace=10)
        if harness.close_dir(tmp, not RESULTS.failed):
            print("--- xferd log (%s) ---" % tmp)
            print(harness.read_text(os.path.join(tmp, "xferd.log"))[-4000:])
    return RESULTS.summary()


if __name__ == "__main__":
    sys.exit(main())
