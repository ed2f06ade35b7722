#!/usr/bin/env python3
"""tcp_check.py: SIP over TCP end to end against a running xferd (RFC 3261 §18,
RFC 5626 §3.5.1): framing, keep-alive, limits, idle timeout, a B2BUA call,
large, oversized and pipelined messages, answers to closed connections, a
refused connect, and a clean stop with connections still open.

usage: tcp_check.py PATH/TO/xferd

Starts xferd on free 127.0.0.1 ports with workers = 2,
max_tcp_connections = 5 and tcp_idle_timeout = 2, runs each check, stops
xferd with SIGTERM and expects a clean exit (no sanitizer report). Every
wait is bounded; xferd is killed by its PID if it outlives the script.
Prints one line per check and ends with `tcp: N passed, M failed`; exits 0
only if every check passed. Standard library only.
"""
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

HOST = harness.LOOPBACK
WORKERS = 2
MAX_TCP = 5
IDLE_S = 2
NUMBER = "+14155550100"
DEAD_NUMBER = "+14155550199"
CALLER = "+14155551234"
SDP = ("v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\n"
       "t=0 0\r\nm=audio 40000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n")


class CheckFailed(Exception):
    pass


def expect(cond, what):
    if not cond:
        raise CheckFailed(what)


def rand_token(n=10):
    return "".join(random.choice("abcdefghijklmnopqrstuvwxyz0123456789") for _ in range(n))


# ---- SIP text ----

def header(msg, name, compact=None):
    """The first value of header name (case-insensitive), or None."""
    head = msg.split("\r\n\r\n", 1)[0]
    for line in head.split("\r\n")[1:]:
        if ":" not in line:
            continue
        k, v = line.split(":", 1)
        k = k.strip().lower()
        if k == name.lower() or (compact and k == compact):
            return v.strip()
    return None


def headers_all(msg, name, compact=None):
    head = msg.split("\r\n\r\n", 1)[0]
    out = []
    for line in head.split("\r\n")[1:]:
        if ":" not in line:
            continue
        k, v = line.split(":", 1)
        k = k.strip().lower()
        if k == name.lower() or (compact and k == compact):
            out.append(v.strip())
    return out


def status_of(msg):
    m = re.match(r"SIP/2\.0 (\d{3}) ", msg)
    return int(m.group(1)) if m else None


def options(port, call_id=None, transport="TCP", local=("127.0.0.1", 5099)):
    call_id = call_id or rand_token() + "@tcpcheck"
    return (f"OPTIONS sip:xferd@{HOST}:{port} SIP/2.0\r\n"
            f"Via: SIP/2.0/{transport} {local[0]}:{local[1]};branch=z9hG4bK{rand_token()};rport\r\n"
            "Max-Forwards: 70\r\n"
            f"From: <sip:check@{HOST}>;tag={rand_token(6)}\r\n"
            f"To: <sip:xferd@{HOST}>\r\n"
            f"Call-ID: {call_id}\r\n"
            "CSeq: 1 OPTIONS\r\n"
            "Content-Length: 0\r\n\r\n"), call_id


class StreamReader:
    """Cuts SIP messages out of a TCP stream by Content-Length (§18.3)."""

    def __init__(self, sock):
        self.sock = sock
        self.buf = b""

    def _frame(self):
        while self.buf.startswith(b"\r\n\r\n"):
            self.buf = self.buf[4:]
        end = self.buf.find(b"\r\n\r\n")
        if end < 0:
            return None
        head = self.buf[:end].decode("latin-1")
        m = re.search(r"(?im)^(?:content-length|l)\s*:\s*(\d+)\s*$", head)
        clen = int(m.group(1)) if m else 0
        total = end + 4 + clen
        if len(self.buf) < total:
            return None
        msg, self.buf = self.buf[:total], self.buf[total:]
        return msg.decode("latin-1")

    def read(self, timeout):
        """The next message, or None at EOF/reset; raises socket.timeout."""
        deadline = time.monotonic() + timeout
        while True:
            msg = self._frame()
            if msg is not None:
                return msg
            left = deadline - time.monotonic()
            if left <= 0:
                raise socket.timeout("no complete message")
            self.sock.settimeout(left)
            try:
                data = self.sock.recv(65536)
            except ConnectionResetError:
                return None
            if not data:
                return None
            self.buf += data

    def read_raw(self, n, timeout):
        """At least n raw bytes (for the keep-alive pong), or what came."""
        deadline = time.monotonic() + timeout
        while len(self.buf) < n:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            self.sock.settimeout(left)
            data = self.sock.recv(65536)
            if not data:
                break
            self.buf += data
        out, self.buf = self.buf[:n], self.buf[n:]
        return out


def tcp_connect(port):
    s = socket.create_connection((HOST, port), timeout=3)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def wait_closed(sock, timeout):
    """True if the peer closes (EOF or reset) within timeout, discarding data."""
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        sock.settimeout(left)
        try:
            data = sock.recv(65536)
        except socket.timeout:
            return False
        except (ConnectionResetError, BrokenPipeError):
            return True
        if not data:
            return True


def options_roundtrip(sock, reader, port, timeout=3):
    msg, cid = options(port, local=sock.getsockname())
    sock.sendall(msg.encode())
    while True:
        r = reader.read(timeout)
        expect(r is not None, "connection closed instead of answering OPTIONS")
        if header(r, "Call-ID", "i") == cid:
            return r


# ---- the checks ----

def check_options(port):
    """(1) OPTIONS over TCP: 200 on the same connection."""
    s = tcp_connect(port)
    try:
        r = options_roundtrip(s, StreamReader(s), port)
        expect(status_of(r) == 200, f"expected 200, got {r.splitlines()[0]!r}")
    finally:
        s.close()


def check_two_in_one_write(port):
    """(2) two OPTIONS in one write: two 200s (any order: Call-IDs differ,
    so one may be answered by the other worker through a handoff)."""
    s = tcp_connect(port)
    try:
        reader = StreamReader(s)
        m1, c1 = options(port, local=s.getsockname())
        m2, c2 = options(port, local=s.getsockname())
        s.sendall((m1 + m2).encode())
        got = {}
        for _ in range(2):
            r = reader.read(3)
            expect(r is not None, "connection closed after the first answer")
            got[header(r, "Call-ID", "i")] = status_of(r)
        expect(got == {c1: 200, c2: 200}, f"answers: {got}")
    finally:
        s.close()


def check_byte_by_byte(port):
    """(3) one OPTIONS written a byte at a time: still one 200."""
    s = tcp_connect(port)
    try:
        reader = StreamReader(s)
        msg, cid = options(port, local=s.getsockname())
        for b in msg.encode():
            s.send(bytes([b]))
            time.sleep(0.002)
        r = reader.read(3)
        expect(r is not None, "connection closed")
        expect(status_of(r) == 200 and header(r, "Call-ID", "i") == cid,
               f"unexpected answer {r.splitlines()[0]!r}")
    finally:
        s.close()


def check_keepalive(port):
    """(4) CRLFCRLF ping: CRLF pong (RFC 5626 §3.5.1); the connection lives on."""
    s = tcp_connect(port)
    try:
        reader = StreamReader(s)
        s.sendall(b"\r\n\r\n")
        pong = reader.read_raw(2, 3)
        expect(pong == b"\r\n", f"expected CRLF, got {pong!r}")
        r = options_roundtrip(s, reader, port)
        expect(status_of(r) == 200, "no 200 after the keep-alive")
    finally:
        s.close()


def check_no_content_length(port):
    """(5) a message without Content-Length: the stream cannot be framed,
    the connection is closed (§18.3)."""
    s = tcp_connect(port)
    try:
        msg, _ = options(port, local=s.getsockname())
        msg = msg.replace("Content-Length: 0\r\n", "")
        s.sendall(msg.encode())
        expect(wait_closed(s, 3), "connection still open 3 s after a message without Content-Length")
    finally:
        s.close()


def check_limit(port):
    """(6) max_tcp_connections + 2 connections: the extra two are closed at
    once, the first ones still answer."""
    time.sleep(0.3)  # earlier connections: let xferd see their EOF
    keep, extra = [], []
    try:
        for i in range(MAX_TCP):
            s = tcp_connect(port)
            keep.append((s, StreamReader(s)))
            r = options_roundtrip(s, keep[-1][1], port)
            expect(status_of(r) == 200, f"connection {i + 1} of {MAX_TCP} not served")
        for i in range(2):
            s = tcp_connect(port)
            extra.append(s)
            expect(wait_closed(s, 1.5),
                   f"connection {MAX_TCP + i + 1} over max_tcp_connections={MAX_TCP} not closed")
        for i, (s, reader) in enumerate(keep):
            r = options_roundtrip(s, reader, port)
            expect(status_of(r) == 200, f"connection {i + 1} no longer served")
    finally:
        for s, _ in keep:
            s.close()
        for s in extra:
            s.close()
    time.sleep(0.3)  # give the slots back before the next check


def check_idle(port):
    """(7) tcp_idle_timeout = 2: a connection idle for 3 s is closed, and not
    before the timeout."""
    s = tcp_connect(port)
    try:
        reader = StreamReader(s)
        r = options_roundtrip(s, reader, port)
        expect(status_of(r) == 200, "no 200")
        t0 = time.monotonic()
        closed = wait_closed(s, IDLE_S + 1.0)
        dt = time.monotonic() - t0
        expect(closed, f"still open after {IDLE_S + 1.0:.1f} s idle")
        expect(dt >= IDLE_S - 0.5, f"closed after {dt:.2f} s, before the {IDLE_S} s idle timeout")
    finally:
        s.close()


class TcpUas(threading.Thread):
    """The trunk's endpoint, on TCP: 200 with SDP to INVITE, 200 to BYE."""

    def __init__(self):
        super().__init__(daemon=True)
        self.lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.lsock.bind((HOST, 0))
        self.lsock.listen(8)
        self.port = self.lsock.getsockname()[1]
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.connections = 0
        self.got = []           # (connection number, method or status)
        self.errors = []
        self.invite_via = None

    def reply(self, req, status, reason, tag, body=""):
        lines = [f"SIP/2.0 {status} {reason}"]
        for v in headers_all(req, "Via", "v"):
            lines.append(f"Via: {v}")
        to = header(req, "To", "t")
        if tag and ";tag=" not in to:
            to += f";tag={tag}"
        lines += [f"From: {header(req, 'From', 'f')}", f"To: {to}",
                  f"Call-ID: {header(req, 'Call-ID', 'i')}", f"CSeq: {header(req, 'CSeq')}"]
        if status == 200 and req.startswith("INVITE"):
            lines.append(f"Contact: <sip:agent@{HOST}:{self.port};transport=tcp>")
        if body:
            lines.append("Content-Type: application/sdp")
        lines.append(f"Content-Length: {len(body.encode())}")
        return ("\r\n".join(lines) + "\r\n\r\n" + body).encode()

    def serve(self, conn, n):
        reader = StreamReader(conn)
        tag = rand_token(8)
        while not self.stop.is_set():
            try:
                msg = reader.read(0.2)
            except socket.timeout:
                continue
            except OSError:
                return
            if msg is None:
                return
            method = msg.split(" ", 1)[0]
            with self.lock:
                self.got.append((n, method))
            try:
                if method == "INVITE":
                    self.invite_via = header(msg, "Via", "v")
                    conn.sendall(self.reply(msg, 100, "Trying", None))
                    conn.sendall(self.reply(msg, 200, "OK", tag, SDP))
                elif method in ("BYE", "OPTIONS"):
                    conn.sendall(self.reply(msg, 200, "OK", tag))
            except OSError as e:
                self.errors.append(f"send: {e}")
                return

    def run(self):
        self.lsock.settimeout(0.2)
        threads = []
        while not self.stop.is_set():
            try:
                conn, _ = self.lsock.accept()
            except socket.timeout:
                continue
            except OSError:
                break
            with self.lock:
                self.connections += 1
                n = self.connections
            t = threading.Thread(target=self.serve, args=(conn, n), daemon=True)
            t.start()
            threads.append((t, conn))
        for t, conn in threads:
            t.join(1)
            conn.close()
        self.lsock.close()

    def wait_for(self, what, timeout):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if any(m == what for _, m in self.got):
                    return True
            time.sleep(0.02)
        return False


class UdpUac:
    def __init__(self, xferd_port):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((HOST, 0))
        self.port = self.sock.getsockname()[1]
        self.xferd = (HOST, xferd_port)
        self.call_id = rand_token() + "@uac"
        self.tag = rand_token(6)

    def request(self, method, ruri, cseq, to, body="", dest=None, branch=None):
        """Send a request; returns its branch."""
        branch = branch or "z9hG4bK" + rand_token()
        lines = [f"{method} {ruri} SIP/2.0",
                 f"Via: SIP/2.0/UDP {HOST}:{self.port};branch={branch};rport",
                 "Max-Forwards: 70",
                 f"From: <sip:{CALLER}@{HOST}>;tag={self.tag}",
                 f"To: {to}", f"Call-ID: {self.call_id}", f"CSeq: {cseq} {method}",
                 f"Contact: <sip:caller@{HOST}:{self.port}>"]
        if body:
            lines.append("Content-Type: application/sdp")
        lines.append(f"Content-Length: {len(body.encode())}")
        self.sock.sendto(("\r\n".join(lines) + "\r\n\r\n" + body).encode(), dest or self.xferd)
        return branch

    def wait_final(self, method, timeout):
        """The first final response to method; answers requests (BYE) with 200."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise CheckFailed(f"no final response to {method} within {timeout} s")
            self.sock.settimeout(left)
            try:
                data, _ = self.sock.recvfrom(65536)
            except socket.timeout:
                continue
            msg = data.decode("latin-1")
            st = status_of(msg)
            cseq = header(msg, "CSeq") or ""
            if st and st >= 200 and cseq.endswith(" " + method):
                return msg

    def close(self):
        self.sock.close()


def uri_hostport(uri):
    m = re.search(r"sip:(?:[^@>]*@)?([^;>:]+):(\d+)", uri)
    return (m.group(1), int(m.group(2))) if m else None


def check_call(port, uas):
    """(8) caller (UDP) → xferd → endpoint on TCP (trunk uri ;transport=tcp):
    INVITE, 200 with SDP, ACK and BYE all go over xferd's one TCP connection."""
    uac = UdpUac(port)
    try:
        to = f"<sip:{NUMBER}@{HOST}>"
        uac.request("INVITE", f"sip:{NUMBER}@{HOST}:{port}", 1, to, SDP)
        ok = uac.wait_final("INVITE", 8)
        expect(status_of(ok) == 200, f"INVITE answered {ok.splitlines()[0]!r}")
        expect("m=audio" in ok, "the 200 carries no SDP")
        expect(uas.wait_for("INVITE", 1), "the endpoint saw no INVITE over TCP")
        via = uas.invite_via or ""
        expect(via.upper().startswith("SIP/2.0/TCP"), f"B-leg Via is not TCP: {via!r}")
        to_tagged = header(ok, "To", "t")
        contact = header(ok, "Contact", "m") or ""
        target = re.search(r"<([^>]+)>", contact)
        ruri = target.group(1) if target else f"sip:xferd@{HOST}:{port}"
        dest = uri_hostport(ruri) or (HOST, port)
        uac.request("ACK", ruri, 1, to_tagged, dest=dest)
        expect(uas.wait_for("ACK", 3), "the endpoint got no ACK")
        uac.request("BYE", ruri, 2, to_tagged, dest=dest)
        bye = uac.wait_final("BYE", 8)
        expect(status_of(bye) == 200, f"BYE answered {bye.splitlines()[0]!r}")
        expect(uas.wait_for("BYE", 3), "the endpoint got no BYE")
        with uas.lock:
            conns = uas.connections
        expect(conns == 1, f"xferd opened {conns} connections to the endpoint, expected 1 (reuse)")
        expect(not uas.errors, f"endpoint errors: {uas.errors}")
    finally:
        uac.close()


def options_big(port, local, body_len):
    msg, cid = options(port, local=local)
    body = "x" * body_len
    msg = msg.replace("Content-Length: 0\r\n\r\n",
                      f"Content-Type: text/plain\r\nContent-Length: {body_len}\r\n\r\n{body}")
    return msg, cid


def check_large(port):
    """(9) a 30000-byte message: the receive buffer grows past its first
    size; the connection then still serves a small one."""
    s = tcp_connect(port)
    try:
        reader = StreamReader(s)
        msg, cid = options_big(port, s.getsockname(), 30000)
        s.sendall(msg.encode())
        r = reader.read(5)
        expect(r is not None, "connection closed on a 30000-byte message")
        expect(status_of(r) == 200 and header(r, "Call-ID", "i") == cid,
               f"unexpected answer {r.splitlines()[0]!r}")
        r = options_roundtrip(s, reader, port)
        expect(status_of(r) == 200, "no 200 after the large message")
    finally:
        s.close()


def check_oversize(port):
    """(10) a body over max_message_size (65535 by default): closed."""
    s = tcp_connect(port)
    try:
        msg, _ = options(port, local=s.getsockname())
        msg = msg.replace("Content-Length: 0", "Content-Length: 70000")
        s.sendall(msg.encode())
        expect(wait_closed(s, 3), "connection still open after announcing a 70000-byte body")
    finally:
        s.close()


def check_pipeline(port, n=1000):
    """(11) n OPTIONS in one write, read only afterwards: every answer
    arrives once (queued writes, short writes, handoffs between workers)."""
    # A small receive window and a late reader: xferd's writes back up,
    # queue, and complete in pieces.
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.settimeout(3)
    s.connect((HOST, port))
    try:
        reader = StreamReader(s)
        msgs, want = [], set()
        for _ in range(n):
            m, cid = options(port, local=s.getsockname())
            msgs.append(m)
            want.add(cid)
        s.sendall("".join(msgs).encode())
        time.sleep(0.5)
        got = set()
        deadline = time.monotonic() + 15
        while len(got) < n and time.monotonic() < deadline:
            r = reader.read(max(0.1, deadline - time.monotonic()))
            expect(r is not None, f"connection closed after {len(got)} of {n} answers")
            expect(status_of(r) == 200, f"answer {r.splitlines()[0]!r}")
            cid = header(r, "Call-ID", "i")
            expect(cid in want and cid not in got, f"unexpected or repeated answer {cid}")
            got.add(cid)
        expect(len(got) == n, f"{len(got)} of {n} answers")
    finally:
        s.close()


def check_stale(port, n=300):
    """(12) n OPTIONS, then the client closes at once: the answers meet a
    closed connection (stale peers, some handed over from the other
    worker). xferd must survive it and serve the next connection."""
    s = tcp_connect(port)
    msgs = [options(port, local=s.getsockname())[0] for _ in range(n)]
    s.sendall("".join(msgs).encode())
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    s.close()  # RST: nothing more can be written to it
    time.sleep(0.5)
    s = tcp_connect(port)
    try:
        r = options_roundtrip(s, StreamReader(s), port)
        expect(status_of(r) == 200, "no 200 after the stale answers")
    finally:
        s.close()


def check_connect_refused(port, dead_port):
    """(13) a trunk on a TCP port nobody listens on: the refused connect is
    a transport error for the INVITE queued on it (RFC 3261 §17.1.4), and
    the caller gets 502 Bad Gateway at once, not 408 at Timer B (t1_ms =
    50: 3.2 s)."""
    uac = UdpUac(port)
    try:
        to = f"<sip:{DEAD_NUMBER}@{HOST}>"
        ruri = f"sip:{DEAD_NUMBER}@{HOST}:{port}"
        t0 = time.monotonic()
        branch = uac.request("INVITE", ruri, 1, to, SDP)
        r = uac.wait_final("INVITE", 10)
        st, dt = status_of(r), time.monotonic() - t0
        expect(st == 502, f"INVITE to an unreachable trunk answered {st}, expected 502")
        expect(dt < 2.0, f"502 came after {dt:.1f} s: the refused connect must fail the "
               "INVITE at once (Timer B is 3.2 s)")
        # §17.1.1.3: the ACK of a non-2xx has the INVITE's branch; it stops
        # xferd's retransmissions of the error.
        uac.request("ACK", ruri, 1, header(r, "To", "t"), branch=branch)
    finally:
        uac.close()


def check_stop_with_open(port):
    """Opens two connections (one idle, one mid-message) that are still open
    when xferd stops."""
    a = tcp_connect(port)
    b = tcp_connect(port)
    msg, _ = options(port, local=b.getsockname())
    b.sendall(msg.encode()[:40])
    return [a, b]


def main():
    if len(sys.argv) != 2:
        print("usage: tcp_check.py PATH/TO/xferd", file=sys.stderr)
        return 2
    binary = sys.argv[1]
    port = harness.Ports().block(WORKERS + 1)  # xferd's worker i also binds port + 1 + i
    dead = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    dead.bind((HOST, 0))  # bound, never listening: connects are refused
    dead_port = dead.getsockname()[1]
    uas = TcpUas()
    tmp = harness.make_dir("tcp")  # kept only when a check fails
    cfg_path = harness.write_config(os.path.join(tmp, "xferd.ini"), {
        "engine": {"listen": f"{HOST}:{port}", "workers": WORKERS, "trusted": "127.0.0.0/8",
                   "max_tcp_connections": MAX_TCP, "tcp_idle_timeout": IDLE_S,
                   "drain_timeout": 2, "t1_ms": 50, "log_level": "info"},
        "pstn": {"gateway": f"sip:{HOST}:5090", "geo_allow": "1 44"},
        "trunk check": {"domain": "check.example.net",
                        "uri": f"sip:agent@{HOST}:{uas.port};transport=tcp", "numbers": NUMBER},
        "trunk dead": {"domain": "dead.example.net",
                       "uri": f"sip:agent@{HOST}:{dead_port};transport=tcp",
                       "numbers": DEAD_NUMBER},
    })
    err_path = os.path.join(tmp, "stderr.log")
    results = harness.Results("tcp")
    proc = None
    open_at_stop = []
    try:
        env = dict(os.environ)
        env.setdefault("ASAN_OPTIONS", "abort_on_error=0")
        uas.start()
        try:
            proc = harness.spawn([binary, "-c", cfg_path], err_path, env=env)
        except OSError as e:
            results.check(False, "startup", f"cannot run {binary}: {e}")
            return finish(results, err_path)
        # Ready when TCP accepts and answers.
        why = harness.failure_of(lambda: harness.wait_answering(
            proc, port, limit=10, transport="tcp", wait=1.0, pause=0.1))
        if why is not None:
            results.check(False, "startup", why)
        else:
            checks = [
                ("1 options", lambda: check_options(port)),
                ("2 two messages in one write", lambda: check_two_in_one_write(port)),
                ("3 one message byte by byte", lambda: check_byte_by_byte(port)),
                ("4 keep-alive ping/pong", lambda: check_keepalive(port)),
                ("5 no Content-Length closes", lambda: check_no_content_length(port)),
                ("6 max_tcp_connections", lambda: check_limit(port)),
                ("7 idle timeout", lambda: check_idle(port)),
                ("8 B2BUA call, B leg over TCP", lambda: check_call(port, uas)),
                ("9 large message", lambda: check_large(port)),
                ("10 body over max_message_size closes", lambda: check_oversize(port)),
                ("11 1000 pipelined requests", lambda: check_pipeline(port)),
                ("12 answers to a closed connection", lambda: check_stale(port)),
                ("13 connect refused: 502 at once", lambda: check_connect_refused(port, dead_port)),
            ]
            for name, fn in checks:
                try:
                    fn()
                    results.check(True, name)
                except CheckFailed as e:
                    results.check(False, name, str(e))
                except (OSError, socket.timeout) as e:
                    results.check(False, name, f"{type(e).__name__}: {e}")
                if proc.poll() is not None:
                    results.check(False, "xferd alive", f"xferd exited with {proc.returncode}")
                    break
        # Shutdown: SIGTERM, a clean exit, no sanitizer report.
        if proc.poll() is None:
            try:
                open_at_stop = check_stop_with_open(port)
            except OSError:
                open_at_stop = []
            time.sleep(0.2)
            proc.send_signal(signal.SIGTERM)
            rc = harness.wait_exit(proc, 15)
            bad = [l for l in harness.read_text(err_path).splitlines()
                   if "Sanitizer" in l or "runtime error:" in l]
            if rc is None:
                results.check(False, "14 clean shutdown", "xferd still running 15 s after SIGTERM")
            else:
                results.check(rc == 0 and not bad, "14 clean shutdown",
                              f"exit status {rc}; " + "; ".join(bad[:3]))
    finally:
        uas.stop.set()
        if proc is not None:
            harness.stop_process(proc, signal.SIGKILL, grace=5)
        if uas.is_alive():
            uas.join(3)
        dead.close()
        for c in open_at_stop:
            c.close()
    return finish(results, err_path)


def finish(results, err_path):
    if results.failed:
        print("--- xferd stderr (last 40 lines) ---")
        for line in harness.tail(err_path, 40):
            print(line)
    if harness.close_dir(os.path.dirname(err_path), not results.failed):
        print("kept: " + os.path.dirname(err_path))
    return results.summary()


if __name__ == "__main__":
    sys.exit(main())
