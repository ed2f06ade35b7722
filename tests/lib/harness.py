"""harness.py: what every end-to-end test script of xferd needs around the
binary: free ports of 127.0.0.1, processes started and ended by their PID
with bounded waits, a directory per test kept when it fails, xferd's config
file, "wait until xferd answers OPTIONS", and the result lines.

Used by tests/{integration,transfer,interop,baresip,metrics}/run.py and
tests/integration/tcp_check.py (and by sipmsg.py beside it: SIP messages,
sipp's logs and runs), which put this directory on sys.path:

    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                    "..", "lib"))
    import harness

Standard library only. Every wait here is bounded; nothing here prints
but Results (on stdout) and need_xferd_and_sipp() (on stderr).
"""

import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import traceback

LOOPBACK = "127.0.0.1"  # the only address any test binds or sends to
KILL_GRACE = 2          # s between SIGTERM and SIGKILL, unless told otherwise


class TestFailure(Exception):
    """A check of a test failed; its text says which and why."""


def check(cond, what):
    """Raises TestFailure(what) unless cond."""
    if not cond:
        raise TestFailure(what)


def failure_of(fn, *args):
    """None if fn(*args) returns, else why it did not: a TestFailure's text,
    or for any other exception (a bug of the test is a failure too) its
    type, text and traceback."""
    try:
        fn(*args)
    except TestFailure as e:
        return str(e)
    except Exception as e:
        return "%s: %s\n%s" % (type(e).__name__, e, traceback.format_exc())
    return None


# ---------------------------------------------------------------- ports

def port_free(port):
    """True if port of 127.0.0.1 can be bound for UDP and for TCP now."""
    for kind in (socket.SOCK_DGRAM, socket.SOCK_STREAM):
        s = socket.socket(socket.AF_INET, kind)
        try:
            s.bind((LOOPBACK, port))
        except OSError:
            return False
        finally:
            s.close()
    return True


class Ports:
    """Free ports of 127.0.0.1 (UDP and TCP both free), found by binding
    port 0 and closing; never handed out twice by one Ports."""

    def __init__(self):
        self.taken = set()

    def block(self, n):
        """The first of n consecutive free ports (xferd's worker i binds
        its listen port + 1 + i)."""
        for _ in range(1000):
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.bind((LOOPBACK, 0))
            base = s.getsockname()[1]
            s.close()
            ports = range(base, base + n)
            if base + n > 65535 or any(p in self.taken for p in ports):
                continue
            if all(port_free(p) for p in ports):
                self.taken.update(ports)
                return base
        raise TestFailure("no block of %d free ports on %s" % (n, LOOPBACK))

    def one(self):
        return self.block(1)


def port_bound(port, transport="udp"):
    """True if some socket of this host is bound to port (UDP) or listens
    on it (TCP), read from /proc so that probing cannot steal the port."""
    files = {"udp": ("/proc/net/udp", "/proc/net/udp6"),
             "tcp": ("/proc/net/tcp", "/proc/net/tcp6")}[transport]
    want = ":%04X" % port
    for path in files:
        try:
            with open(path) as f:
                next(f)
                for line in f:
                    fields = line.split()
                    if fields[1].endswith(want) and (transport == "udp" or fields[3] == "0A"):
                        return True
        except OSError:
            continue
    return False


# ------------------------------------------------------------ processes

def spawn(args, log, cwd=None, env=None, echo=False):
    """Starts args (a Popen): stdin /dev/null, stdout and stderr to the
    file log, which starts with "$ ARGS" if echo."""
    with open(log, "wb") as out:
        if echo:
            out.write(("$ " + " ".join(args) + "\n").encode())
            out.flush()
        return subprocess.Popen(args, cwd=cwd, stdin=subprocess.DEVNULL,
                                stdout=out, stderr=subprocess.STDOUT, env=env)


def wait_exit(p, limit):
    """p's exit status within limit seconds, or None if it still runs."""
    try:
        return p.wait(timeout=limit)
    except subprocess.TimeoutExpired:
        return None


def stop_process(p, sig=signal.SIGTERM, grace=KILL_GRACE):
    """Ends p (a Popen we started): sig to its PID, SIGKILL after grace
    seconds. Its exit status, or None if it had to be killed."""
    if p.poll() is not None:
        return p.returncode
    try:
        p.send_signal(sig)
        return p.wait(timeout=grace)
    except ProcessLookupError:
        return p.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait(timeout=5)
        return None


def wait_bound(p, name, port, transport="udp", limit=5.0):
    """Until port is bound (UDP) or listened on (TCP) on this host, as p
    (a Popen, called name) is to do; a TestFailure if p exits first or
    limit seconds pass."""
    what = "%s port %d" % (transport.upper(), port)
    end = time.monotonic() + limit
    while time.monotonic() < end:
        if p.poll() is not None:
            raise TestFailure("%s exited (%s) before listening on %s" % (name, p.returncode, what))
        if port_bound(port, transport):
            return
        time.sleep(0.02)
    raise TestFailure("%s not listening on %s after %.0f s" % (name, what, limit))


def read_text(path):
    """The text of a file, "" if there is none."""
    try:
        with open(path, errors="replace") as f:
            return f.read()
    except OSError:
        return ""


def tail(path, n=15, keep=None):
    """The last n lines of a file (of those keep accepts, if given)."""
    lines = read_text(path).splitlines()
    return [l for l in lines if keep is None or keep(l)][-n:]


class Proc:
    """A process we started, its output in the file log (after a "$ ARGS"
    line); ended by its PID."""

    def __init__(self, name, args, log, cwd=None, env=None, grace=KILL_GRACE):
        self.name, self.args, self.log, self.grace = name, args, log, grace
        self.p = spawn(args, log, cwd, env, echo=True)
        self.rc = None

    def alive(self):
        return self.p.poll() is None

    def wait(self, limit):
        """Exit status within limit seconds, else stopped and a failure."""
        self.rc = wait_exit(self.p, limit)
        if self.rc is None:
            self.stop()
            raise TestFailure("%s did not exit within %.0f s" % (self.name, limit))
        return self.rc

    def stop(self, sig=signal.SIGTERM):
        """sig, then SIGKILL after the grace time: stop_process()."""
        return stop_process(self.p, sig, self.grace)

    def wait_bound(self, port, transport="udp", limit=5.0):
        """Until port is bound: wait_bound()."""
        wait_bound(self.p, self.name, port, transport, limit)

    def text(self):
        return read_text(self.log)

    def tail(self, n=40, path=None, keep=None):
        """The last n lines of its log (or of path), those keep accepts."""
        return tail(path or self.log, n, keep)


# ----------------------------------------------------- test directories

def make_dir(kind, name=""):
    """A new directory for one test's files: /tmp/xferd-KIND-NAME-XXXX."""
    prefix = "xferd-%s-" % kind
    if name:
        prefix += re.sub(r"\W", "_", name) + "-"
    return tempfile.mkdtemp(prefix=prefix)


def close_dir(path, passed, keep=False):
    """Removes a test's directory if it passed (and keep is false); a
    failed test's stays for a look. True if the directory stays."""
    if passed and not keep:
        shutil.rmtree(path, ignore_errors=True)
        return False
    return True


# ---------------------------------------------------------- xferd config

def config_text(sections, comment=None):
    """xferd's INI text: sections maps "engine", "pstn", "trunk NAME"... to
    a dict of key → value, in order; comment, if any, is the first line."""
    lines = ["; " + comment] if comment else []
    for i, (name, items) in enumerate(sections.items()):
        lines += [""] if i else []
        lines.append("[%s]" % name)
        lines += ["%s = %s" % kv for kv in items.items()]
    return "\n".join(lines + [""])


def write_config(path, sections, comment=None):
    """Writes config_text() to path at once (a rename: a SIGHUP reload
    never reads half a file); returns path."""
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(config_text(sections, comment))
    os.replace(tmp, path)
    return path


# ------------------------------------------------------------ readiness

def options_request(port, lport, transport="udp", branch=None, call_id=None):
    """An OPTIONS to xferd on port, from lport of 127.0.0.1, as bytes."""
    branch = branch or "z9hG4bK-probe-%08x" % random.getrandbits(32)
    call_id = call_id or "probe-%08x@%s" % (random.getrandbits(32), LOOPBACK)
    return ("OPTIONS sip:%s:%d SIP/2.0\r\n"
            "Via: SIP/2.0/%s %s:%d;branch=%s;rport\r\n"
            "Max-Forwards: 70\r\n"
            "From: <sip:probe@%s>;tag=probe%08x\r\n"
            "To: <sip:%s:%d>\r\n"
            "Call-ID: %s\r\n"
            "CSeq: 1 OPTIONS\r\n"
            "Content-Length: 0\r\n\r\n"
            % (LOOPBACK, port, transport.upper(), LOOPBACK, lport, branch, LOOPBACK,
               random.getrandbits(32), LOOPBACK, port, call_id)).encode()


def _recv_line(s, wait):
    """The bytes read from s until a line end, or wait seconds pass."""
    end, data = time.monotonic() + wait, b""
    while b"\r\n" not in data:
        left = end - time.monotonic()
        if left <= 0:
            break
        s.settimeout(left)
        chunk = s.recv(65536)
        if not chunk:
            break
        data += chunk
    return data


def options_answered(port, transport="udp", wait=0.2, ok=b"SIP/2.0 200"):
    """True if xferd answers one OPTIONS on port, within wait seconds, with
    a status line starting with ok."""
    try:
        if transport == "udp":
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.bind((LOOPBACK, 0))
        else:
            s = socket.create_connection((LOOPBACK, port), timeout=wait)
    except OSError:
        return False
    try:
        req = options_request(port, s.getsockname()[1], transport)
        if transport == "udp":
            s.sendto(req, (LOOPBACK, port))
            s.settimeout(wait)
            return s.recv(65536).startswith(ok)
        s.sendall(req)
        return _recv_line(s, wait).startswith(ok)
    except OSError:
        return False
    finally:
        s.close()


def wait_answering(proc, port, limit=5.0, transport="udp", wait=0.2, ok=b"SIP/2.0 200",
                   pause=0.05):
    """Until xferd (proc, a Popen) answers OPTIONS on port (see
    options_answered); a TestFailure if it exits or limit seconds pass."""
    end = time.monotonic() + limit
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise TestFailure("xferd exited with status %s at start" % proc.returncode)
        if options_answered(port, transport, wait, ok):
            return
        time.sleep(pause)
    over = "" if transport == "udp" else " over " + transport.upper()
    raise TestFailure("xferd does not answer OPTIONS%s on %s:%d after %.0f s"
                      % (over, LOOPBACK, port, limit))


# ---------------------------------------------------- the command line

def add_run_args(ap):
    """The options of a run of named tests around sipp: --xferd PATH,
    --sipp PATH, --only NAME[,NAME...] (repeatable), --list, --keep."""
    ap.add_argument("--xferd", help="path of the xferd binary")
    ap.add_argument("--sipp", default=shutil.which("sipp") or "sipp", help="path of sipp")
    ap.add_argument("--only", action="append", default=[],
                    help="run only these tests (NAME, or a comma-separated list; repeatable)")
    ap.add_argument("--list", action="store_true", help="list the tests and exit")
    ap.add_argument("--keep", action="store_true", help="keep the directories of passed tests too")


def pick(ap, tests, only):
    """The tests (tuples, each named by its first item) that only names:
    --only values, each NAME or NAME,NAME...; all of them if there is none.
    An unknown name is a usage error (ap.error: exit status 2)."""
    names = {n for o in only for n in o.split(",") if n}
    if not names:
        return tests
    unknown = names - {t[0] for t in tests}
    if unknown:
        ap.error("no such test: %s (see --list)" % ", ".join(sorted(unknown)))
    return [t for t in tests if t[0] in names]


def need_xferd_and_sipp(ap, args):
    """None if args.xferd is an executable (made absolute) and args.sipp is
    found; else, after saying why on stderr, the exit status 1. No --xferd
    is a usage error."""
    if not args.xferd:
        ap.error("--xferd PATH is required")
    if not os.access(args.xferd, os.X_OK):
        print("run.py: %s is not an executable" % args.xferd, file=sys.stderr)
        return 1
    args.xferd = os.path.abspath(args.xferd)
    if not shutil.which(args.sipp):
        print("run.py: sipp not found (Debian package sip-tester)", file=sys.stderr)
        return 1
    return None


# -------------------------------------------------------------- results

class Results:
    """Counts what passed and failed and prints the lines of a run: one per
    test or check, then "NAME: N passed, M failed" (summary())."""

    def __init__(self, name):
        self.name = name
        self.passed = self.failed = 0

    def add(self, ok):
        """Counts one result; returns it."""
        if ok:
            self.passed += 1
        else:
            self.failed += 1
        return ok

    def check(self, ok, what, detail=""):
        """Counts and prints "ok   WHAT" or "FAIL WHAT: DETAIL"; returns ok."""
        if self.add(ok):
            print("ok   %s" % what, flush=True)
        else:
            print("FAIL %s%s" % (what, (": " + str(detail)) if detail != "" else ""), flush=True)
        return ok

    def verdict(self, name, secs, reason=None, digits=2):
        """Counts a test and prints "PASS NAME 1.23s", or if there is a
        reason "FAIL NAME 1.23s: REASON" (just "FAIL NAME 1.23s" when the
        reason is "": the caller prints it after); returns whether it passed."""
        ok = reason is None
        line = "%s %s %.*fs" % ("PASS" if ok else "FAIL", name, digits, secs)
        print(line + (": " + reason if reason else ""), flush=True)
        return self.add(ok)

    def summary(self):
        """Prints the last line; returns the exit status (1 if any failed)."""
        print("%s: %d passed, %d failed" % (self.name, self.passed, self.failed), flush=True)
        return 1 if self.failed else 0
