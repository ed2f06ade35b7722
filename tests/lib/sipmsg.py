"""sipmsg.py: SIP messages as the end-to-end tests read them (start line,
headers in order with compact forms expanded, body), sipp's -trace_msg logs
and statistics, and one sipp run: its command line, start, bounded wait.

Used by tests/integration/run.py, tests/transfer/run.py and
tests/interop/run.py next to harness.py. RFC 3261 §7 (message format),
§7.3.3 (compact forms); sipp 3.6's log formats. Standard library only.
"""

import os
import re
import time

import harness
from harness import LOOPBACK

# RFC 3261 §7.3.3 and the compact forms of RFC 3515 (r), 3892 (b), 4028
# (x), 6665 (o, u).
COMPACT = {"i": "call-id", "f": "from", "t": "to", "v": "via", "m": "contact",
           "l": "content-length", "c": "content-type", "k": "supported",
           "s": "subject", "e": "content-encoding", "o": "event", "r": "refer-to",
           "b": "referred-by", "x": "session-expires", "u": "allow-events"}


class SipMsg:
    """One SIP message as text: start line, headers in order (names lower
    case, compact forms expanded, folded lines joined), body."""

    def __init__(self, text, direction="", stamp=0.0):
        self.direction = direction  # "sent" / "received" (the peer's view)
        self.stamp = stamp          # seconds (epoch) when the peer saw it
        self.lost = False           # dropped by sipp itself (-lost)
        self.raw = text
        text = text.replace("\r\n", "\n")
        head, _, body = text.partition("\n\n")
        lines = head.lstrip("\n").split("\n")
        self.start = lines[0].strip()
        self.headers = []
        for line in lines[1:]:
            if line[:1] in (" ", "\t") and self.headers:
                name, value = self.headers[-1]
                self.headers[-1] = (name, value + " " + line.strip())
                continue
            name, sep, value = line.partition(":")
            if not sep:
                continue
            name = name.strip().lower()
            self.headers.append((COMPACT.get(name, name), value.strip()))
        self.body = body.rstrip("\n")

    @property
    def is_request(self):
        return not self.start.startswith("SIP/2.0 ")

    @property
    def method(self):
        return self.start.split(" ", 1)[0] if self.is_request else None

    @property
    def status(self):
        return None if self.is_request else int(self.start.split(" ")[1])

    @property
    def ruri(self):
        return self.start.split(" ")[1] if self.is_request else None

    def all(self, name):
        name = name.lower()
        return [v for n, v in self.headers if n == name]

    def get(self, name):
        v = self.all(name)
        return v[0] if v else None

    def vias(self):
        """Every Via value, one per entry of comma-separated lists."""
        out = []
        for v in self.all("via"):
            out += [x.strip() for x in v.split(",") if x.strip()]
        return out

    @property
    def call_id(self):
        return self.get("call-id")

    @property
    def cseq(self):
        num, _, method = (self.get("cseq") or "").partition(" ")
        return (int(num) if num.isdigit() else None, method.strip())

    @staticmethod
    def tag_of(value):
        value = re.sub(r"<[^>]*>", "", value or "")
        m = re.search(r";\s*tag=([^;\s,]+)", value)
        return m.group(1) if m else None

    @property
    def from_tag(self):
        return self.tag_of(self.get("from"))

    @property
    def to_tag(self):
        return self.tag_of(self.get("to"))

    @staticmethod
    def user_of(value):
        m = re.search(r"sips?:([^@;>\s]+)@", value or "")
        return m.group(1) if m else None

    @staticmethod
    def uri_of(value):
        m = re.search(r"<([^>]*)>", value or "")
        return m.group(1) if m else (value or "").split(";")[0].strip()

    @staticmethod
    def hostport_of_via(via):
        m = re.match(r"SIP\s*/\s*2\.0\s*/\s*\w+\s+([^;\s]+)", via)
        return m.group(1) if m else None

    @staticmethod
    def branch_of_via(via):
        m = re.search(r";\s*branch=([^;\s,]+)", via)
        return m.group(1) if m else None

    @property
    def branch(self):
        v = self.vias()
        return self.branch_of_via(v[0]) if v else None

    @property
    def frag(self):
        """A NOTIFY's sipfrag status line, e.g. "SIP/2.0 180 Ringing"."""
        return self.body.split("\n", 1)[0].strip()

    @property
    def frag_status(self):
        m = re.match(r"SIP/2\.0 (\d{3}) ", self.frag + " ")
        return int(m.group(1)) if m else None

    def brief(self):
        return "%s %s (Call-ID %s, CSeq %s)" % (self.direction, self.start,
                                                self.call_id, self.get("cseq"))

    def text(self, limit=25):
        """The message for a failure report, indented."""
        lines = self.raw.replace("\r\n", "\n").strip("\n").split("\n")
        return "\n".join("        | " + l for l in lines[:limit])


class Peer:
    """What every peer offers the checks: the messages it saw, in order."""
    name = "peer"

    def messages(self):
        return []

    def received(self, pred=None):
        """What the peer received and did not drop itself (sipp's -lost)."""
        return [m for m in self.messages()
                if m.direction == "received" and not m.lost and (pred is None or pred(m))]

    def sent(self, pred=None):
        """What the peer put on the wire (not what -lost dropped)."""
        return [m for m in self.messages()
                if m.direction == "sent" and not m.lost and (pred is None or pred(m))]

    def requests(self, method):
        """Requests of this method the peer received, one per transaction
        (retransmissions, same branch and CSeq, left out), in order."""
        seen, out = set(), []
        for m in self.received(lambda m: m.method == method):
            key = (m.branch, m.get("cseq"))
            if key not in seen:
                seen.add(key)
                out.append(m)
        return out

    def responses(self, method, cseq=None):
        """Distinct responses the peer received to its requests of method."""
        seen, out = set(), []
        for m in self.received(lambda m: not m.is_request and m.cseq[1] == method):
            if cseq is not None and m.cseq[0] != cseq:
                continue
            key = (m.branch, m.get("cseq"), m.status)
            if key not in seen:
                seen.add(key)
                out.append(m)
        return out


# ---------------------------------------------------------- sipp's logs

# A block starts with a dashed line and a time stamp. sipp writes notes
# without a line end, so they end up on the separator's line: "UDP message
# lost (recv)." says the message just logged as received was then dropped
# (-lost); "voluntary lost (while sending)" is about a message that sipp
# never logged nor sent.
SIPP_SEPARATOR = re.compile(r"-{20,} (\d{4}-\d\d-\d\d) (\d\d):(\d\d):(\d\d(?:\.\d+)?)\s*$")
SIPP_HEADLINE = re.compile(r"^(UDP|TCP|TLS|SCTP) message (received|sent)\b")


def sipp_stamp(m):
    """A SIPP_SEPARATOR match's local time as seconds since the epoch."""
    t = time.strptime(m.group(1), "%Y-%m-%d")
    return time.mktime(t) + int(m.group(2)) * 3600 + int(m.group(3)) * 60 + float(m.group(4))


def read_sipp_messages(path):
    """The messages of a sipp -trace_msg log, in order; those sipp dropped
    itself (-lost) have .lost set."""
    lines = harness.read_text(path).split("\n")
    msgs, block, stamp = [], None, 0.0

    def flush(note):
        if not block:
            return
        m = SIPP_HEADLINE.match(block[0])
        if not m:
            return
        text = "\n".join(block[1:]).lstrip("\n")
        if text.strip():
            msg = SipMsg(text, m.group(2), stamp)
            msg.lost = "lost (recv)" in note
            msgs.append(msg)

    for line in lines:
        sep = SIPP_SEPARATOR.search(line)
        if sep:
            flush(line[:sep.start()])
            block, stamp = [], sipp_stamp(sep)
        elif block is not None:
            block.append(line.rstrip("\r"))
    flush("")
    return msgs


def read_sipp_stats(path):
    """(SuccessfulCall(C), FailedCall(C)) of the last row of a sipp -stf
    file, or None."""
    rows = [r for r in harness.read_text(path).splitlines() if r.strip()]
    if len(rows) < 2:
        return None
    head, last = rows[0].split(";"), rows[-1].split(";")
    try:
        return (int(last[head.index("SuccessfulCall(C)")]),
                int(last[head.index("FailedCall(C)")]))
    except (ValueError, IndexError):
        return None


def read_sipp_errors(path):
    """sipp's own complaints in a -trace_err file, without the receive
    timeouts that only take an ontimeout branch of the scenario."""
    text = harness.read_text(path).replace("The following events occurred:", "")
    parts = re.split(r"(?=\d{4}-\d\d-\d\d\t)", text)
    return [p.strip() for p in parts if p.strip() and "jumping to label" not in p]


# ------------------------------------------------------------- sipp runs

SIPP_GRACE = 10  # s a sipp run may take beyond its own -timeout

# What sipp may log, in the order of its command line: its trace option,
# the option naming the file, and the file's name after the run's name.
SIPP_TRACES = {
    "msg": ("-trace_msg", "-message_file", "_messages.log"),
    "err": ("-trace_err", "-error_file", "_errors.log"),
    "stat": ("-trace_stat", "-stf", "_stats.csv"),
    "screen": ("-trace_screen", "-screen_file", "_screen.log"),
    "logs": ("-trace_logs", "-log_file", "_logs.log"),
}


def sipp_log(d, name, kind):
    """The file of a run's log of kind (a key of SIPP_TRACES) in d."""
    return os.path.join(d, name + SIPP_TRACES[kind][2])


def sipp_command(exe, d, name, scenario, scenario_dir, port, media, control, calls=1,
                 timeout=20, transport="u1", target=None, traces=("msg", "err")):
    """sipp's arguments for a run on 127.0.0.1: the built-in scenario
    "uac"/"uas" (-sn) or the file scenario_dir/scenario (-sf); SIP on port
    (transport: sipp's -t), media ports from media (it binds media+2 too),
    control port; calls calls, all within timeout seconds (else an error);
    the logs of traces in d, named after the run."""
    if scenario in ("uac", "uas"):
        scen = ["-sn", scenario]
    else:
        scen = ["-sf", os.path.join(scenario_dir, scenario)]
    args = [exe] + ([target] if target else []) + scen + [
        "-t", transport, "-i", LOOPBACK, "-p", str(port),
        "-mi", LOOPBACK, "-mp", str(media), "-cp", str(control),
        "-m", str(calls), "-timeout", "%ds" % timeout, "-timeout_error", "-nostdin",
    ]
    for kind in traces:
        trace, option, _ = SIPP_TRACES[kind]
        args += [trace, option, sipp_log(d, name, kind)]
    return args


def sipp_env():
    """sipp's environment: ours, with a TERM it can draw its screen for."""
    env = dict(os.environ)
    env.setdefault("TERM", "dumb")
    return env


class Sipp(Peer):
    """One sipp process of a test, bounded by its -timeout and by a wait of
    SIPP_GRACE more; its stdout in d/NAME_stdout.log, its logs beside it."""

    def __init__(self, name, args, d, port, timeout):
        self.name, self.args, self.dir, self.port, self.timeout = name, args, d, port, timeout
        self.msg_log = sipp_log(d, name, "msg")
        self.err_log = sipp_log(d, name, "err")
        self.stat_csv = sipp_log(d, name, "stat")
        self.out = os.path.join(d, name + "_stdout.log")
        self.proc = None
        self.rc = None

    def start(self):
        self.proc = harness.spawn(self.args, self.out, cwd=self.dir, env=sipp_env())
        return self

    def wait_listening(self, transport="udp", limit=5.0):
        """For a UAS: until its SIP port is bound (so a UAC may start)."""
        harness.wait_bound(self.proc, self.name, self.port, transport, limit)
        return self

    def wait(self, limit=None):
        """Until sipp exits (at most limit, by default its -timeout and
        SIPP_GRACE); if it does not, it is stopped and the test fails."""
        if self.rc is not None:
            return self
        limit = self.timeout + SIPP_GRACE if limit is None else limit
        self.rc = harness.wait_exit(self.proc, limit)
        if self.rc is None:
            harness.stop_process(self.proc)
            self.rc = self.proc.returncode
            raise harness.TestFailure("%s did not exit within %d s" % (self.name, limit))
        return self

    def stats(self):
        return read_sipp_stats(self.stat_csv)

    def errors(self):
        return read_sipp_errors(self.err_log)

    def messages(self):
        return read_sipp_messages(self.msg_log)
