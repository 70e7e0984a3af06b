"""Start private redis-server and wspubsub processes for the tests.

Everything listens on free loopback ports in a temporary directory and is
stopped by the fixtures; nothing depends on what else runs on the machine.
The binary under test is $WSPUBSUB (default ./wspubsub at the repo root).
"""
import base64
import os
import signal
import socket
import subprocess
import time

import redis

import tls as _tls

# WSPUBSUB_TLS=1: every server listens with tls, url is wss://, and the raw
# socket helpers below speak TLS (tests/integration/tls.py).
TLS = _tls.ENABLED

# WSPUBSUB_REUSE=N: every server reuses its children (max_clients_per_child
# N) unless a test sets that key itself.
REUSE = int(os.environ.get("WSPUBSUB_REUSE", "0") or 0)

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BINARY = os.path.abspath(os.environ.get("WSPUBSUB", os.path.join(ROOT, "wspubsub")))


def free_port(family=socket.AF_INET, host="127.0.0.1"):
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def wait_for(pred, timeout=5.0, interval=0.02, what="condition"):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        v = pred()
        if v:
            return v
        time.sleep(interval)
    raise AssertionError("timed out waiting for %s" % what)


class RedisServer:
    def __init__(self, tmpdir, *args):
        self.port = free_port()
        self.dir = tmpdir
        self.args = list(args)   # extra redis-server options
        self.proc = None

    def start(self):
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1",
             "--save", "", "--appendonly", "no", "--dir", self.dir,
             "--logfile", os.path.join(self.dir, "redis.log")] + self.args,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for(self._ping, what="redis-server on %d" % self.port)
        return self

    def _ping(self):
        try:
            return self.client().ping()
        except redis.exceptions.ConnectionError:
            return False

    def client(self):
        return redis.Redis(host="127.0.0.1", port=self.port)

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(5)


class Wspubsub:
    """One master.  `conf` entries override the test defaults."""

    def __init__(self, tmpdir, redis_port, **conf):
        self.dir = tmpdir
        self.port = free_port()
        self.conf = {
            "listen": ["127.0.0.1:%d" % self.port],
            "redis_port": redis_port,
            "spare_children": 2,
            "log_level": "debug",
        }
        if REUSE:
            self.conf["max_clients_per_child"] = REUSE
        for k, v in conf.items():
            self.conf[k] = v
        if TLS:
            crt, key = _tls.session_cert()
            self.conf.setdefault("tls_certificate", crt)
            self.conf.setdefault("tls_key", key)
        self.conf_path = os.path.join(tmpdir, "wspubsub-%d.conf" % self.port)
        self.log_path = os.path.join(tmpdir, "wspubsub-%d.log" % self.port)
        self.proc = None
        self.binary = BINARY

    def write_conf(self, extra=""):
        with open(self.conf_path, "w") as f:
            for k, v in self.conf.items():
                for item in (v if isinstance(v, list) else [v]):
                    if TLS and k == "listen" and \
                            not str(item).endswith(" tls"):
                        item = "%s tls" % item
                    f.write("%s %s\n" % (k, item))
            f.write(extra)

    def start(self):
        self.write_conf()
        self.logf = open(self.log_path, "ab")
        self.proc = subprocess.Popen([self.binary, "-f", self.conf_path],
                                     stdout=self.logf, stderr=self.logf)
        wait_for(self._accepting, what="wspubsub on %d" % self.port)
        return self

    def _accepting(self):
        if self.proc.poll() is not None:
            raise AssertionError("wspubsub exited: %s" % self.log())
        try:
            socket.create_connection(("127.0.0.1", self.port), 0.2).close()
            return True
        except OSError:
            return False

    @property
    def url(self):
        return "%s://127.0.0.1:%d" % (ws_scheme(), self.port)

    @property
    def pid(self):
        return self.proc.pid

    def children(self):
        """PIDs of the master's children, from /proc."""
        out = []
        for d in os.listdir("/proc"):
            if not d.isdigit():
                continue
            try:
                with open("/proc/%s/stat" % d) as f:
                    st = f.read()
            except OSError:
                continue
            fields = st[st.rindex(")") + 2:].split()
            if int(fields[1]) == self.pid:
                out.append((int(d), fields[0]))  # (pid, state letter)
        return out

    def zombies(self):
        return [p for p, s in self.children() if s == "Z"]

    def assert_reaped(self, timeout=2.0):
        """A child that has just exited is a zombie until the master's
        SIGCHLD handling runs; one that stays a zombie is a reap bug."""
        wait_for(lambda: not self.zombies(), timeout,
                 what="the master to reap its exited children (zombies: %r)"
                 % self.zombies())

    def signal(self, sig):
        os.kill(self.pid, sig)

    def log(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode(errors="replace")

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc:
            self.logf.close()


def ws_scheme():
    return "wss" if TLS else "ws"


def tls_wrap(s, host="127.0.0.1"):
    """In TLS mode, client TLS over the connected socket s; else s."""
    return _tls.wrap(s, host) if TLS else s


def client_connect(address, timeout=5.0, family=None):
    """socket.create_connection(address, timeout), over TLS in TLS mode
    (the raw-socket tests go through this so they run over wss:// too)."""
    if family is None:
        s = socket.create_connection(address, timeout)
    else:
        s = socket.socket(family, socket.SOCK_STREAM)
        s.settimeout(timeout)
        try:
            s.connect(address)
        except BaseException:
            s.close()
            raise
    if not TLS:
        return s
    try:
        return _tls.wrap(s, address[0])
    except BaseException:
        s.close()
        raise


def ws_key():
    return base64.b64encode(os.urandom(16)).decode()


def raw_connect(port, path="/?user=raw", headers=None, host="127.0.0.1",
                timeout=5.0):
    """Open a TCP connection and send an upgrade request; returns the socket
    and the response head (bytes up to the blank line) plus leftover bytes."""
    s = client_connect((host, port), timeout)
    req = raw_request(path, headers)
    s.sendall(req)
    head, rest = read_head(s)
    return s, head, rest


def raw_request(path="/?user=raw", headers=None, key=None):
    h = {
        "Host": "127.0.0.1",
        "Upgrade": "websocket",
        "Connection": "Upgrade",
        "Sec-WebSocket-Key": key or ws_key(),
        "Sec-WebSocket-Version": "13",
    }
    if headers:
        for k, v in headers.items():
            if v is None:
                h.pop(k, None)
            else:
                h[k] = v
    lines = ["GET %s HTTP/1.1" % path] + ["%s: %s" % kv for kv in h.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def read_head(s):
    buf = b""
    while b"\r\n\r\n" not in buf:
        chunk = s.recv(4096)
        if not chunk:
            break
        buf += chunk
    head, _, rest = buf.partition(b"\r\n\r\n")
    return head, rest


def status_of(head):
    line = head.split(b"\r\n", 1)[0]
    parts = line.split()
    return int(parts[1]) if len(parts) > 1 else None


def frame(opcode, payload=b"", fin=True, mask=True, rsv=0, length_form=None):
    """Build a client frame; length_form forces 7, 16 or 64-bit lengths."""
    b0 = (0x80 if fin else 0) | (rsv << 4) | opcode
    n = len(payload)
    form = length_form or (7 if n < 126 else 16 if n < 65536 else 64)
    mbit = 0x80 if mask else 0
    if form == 7:
        hdr = bytes([b0, mbit | n])
    elif form == 16:
        hdr = bytes([b0, mbit | 126]) + n.to_bytes(2, "big")
    else:
        hdr = bytes([b0, mbit | 127]) + n.to_bytes(8, "big")
    if not mask:
        return hdr + payload
    key = os.urandom(4)
    return hdr + key + bytes(b ^ key[i & 3] for i, b in enumerate(payload))


def read_frame(s, buf=b""):
    """Read one server frame: returns (fin, opcode, payload, rest).
    Asserts the server frame is unmasked and uses the minimal length form."""
    def need(n):
        nonlocal buf
        while len(buf) < n:
            chunk = s.recv(65536)
            if not chunk:
                raise ConnectionError("EOF")
            buf += chunk
    need(2)
    b0, b1 = buf[0], buf[1]
    assert not (b1 & 0x80), "server frame is masked"
    n = b1 & 0x7f
    off = 2
    if n == 126:
        need(4)
        n = int.from_bytes(buf[2:4], "big")
        assert n >= 126, "non-minimal 16-bit length"
        off = 4
    elif n == 127:
        need(10)
        n = int.from_bytes(buf[2:10], "big")
        assert n > 0xffff, "non-minimal 64-bit length"
        off = 10
    need(off + n)
    payload = buf[off:off + n]
    return bool(b0 & 0x80), b0 & 0x0f, payload, buf[off + n:]


def close_code(payload):
    return int.from_bytes(payload[:2], "big") if len(payload) >= 2 else None


# --- helpers for the abuse, leak and load tests ------------------------------
# (test_abuse.py, test_load.py and tests/stress/ use these)

import re as _re
import resource as _resource
import selectors as _selectors

SANITIZER_REPORT = _re.compile(
    r"AddressSanitizer|LeakSanitizer|runtime error:")


def proc_status_kib(pid, key="VmRSS"):
    """A kB figure (VmRSS, VmHWM, ...) from /proc/PID/status, or None."""
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def fd_count(pid):
    return len(os.listdir("/proc/%d/fd" % pid))


def proc_title(pid):
    """The process title as ps shows it, or None once the process is gone."""
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            raw = f.read()
    except OSError:
        return None
    return raw.split(b"\0", 1)[0].decode(errors="replace")


def live_children(w):
    return [p for p, s in w.children() if s != "Z"]


def spare_pids(w):
    """The master's idle pre-forked children (title "PROG: spare")."""
    return [p for p in live_children(w)
            if (proc_title(p) or "").endswith(": spare")]


# With reused children (REUSE), a spare beyond spare_children that came
# back from a client exits after this long unused (SPARE_IDLE_MS).
SPARE_IDLE = 10.0


def settle(w, spares=None, timeout=10.0):
    """Wait until the master has only its idle spares (the harness'
    start-up probe also occupies a child for a moment; reused children
    beyond spare_children leave after SPARE_IDLE)."""
    n = spares if spares is not None else int(w.conf["spare_children"])
    if REUSE:
        timeout += SPARE_IDLE

    def ok():
        kids = w.children()
        return len(kids) == n and len(spare_pids(w)) == n
    wait_for(ok, timeout, what="only %d spare children (have %r)"
             % (n, w.children()))


def wait_served(w, pid, timeout=10.0):
    """The child pid is done with its client: exited and reaped, or (with
    reused children, WSPUBSUB_REUSE) back in the spare pool.  Returns
    "spare" or "gone"."""
    def done():
        if pid not in [p for p, _ in w.children()]:
            return "gone"
        if REUSE and (proc_title(pid) or "").endswith(": spare"):
            return "spare"
        return None
    return wait_for(done, timeout, what="child %d to finish" % pid)


def child_of_user(w, user, local_port=None):
    """PID of the child whose title is "PROG: USER IP:PORT" (the client's
    own port when local_port is given), or None."""
    pat = _re.compile(r": %s \S+:%s$" % (_re.escape(user), local_port
                                          if local_port else r"\d+"))
    pids = [p for p in live_children(w) if pat.search(proc_title(p) or "")]
    return pids[0] if len(pids) == 1 else None


def is_asan_binary(path=None):
    with open(path or BINARY, "rb") as f:
        return b"__asan_init" in f.read()


def raise_nofile(want=None):
    """Raise this process' RLIMIT_NOFILE (to the hard limit by default);
    servers started afterwards inherit it.  Returns the soft limit."""
    soft, hard = _resource.getrlimit(_resource.RLIMIT_NOFILE)
    new = hard if want is None or hard != _resource.RLIM_INFINITY and \
        want > hard else want
    if new != _resource.RLIM_INFINITY and new > soft:
        _resource.setrlimit(_resource.RLIMIT_NOFILE, (new, hard))
    return _resource.getrlimit(_resource.RLIMIT_NOFILE)[0]


def assert_clean_log(w, allow_pids=()):
    """No sanitizer report in w's log, except the reports of the processes
    in allow_pids (e.g. a child the test sent SIGSEGV: ASan reports it)."""
    text = w.log()
    for pid in allow_pids:
        text = _re.sub(r"AddressSanitizer:DEADLYSIGNAL\n.*?==%d==ABORTING\n"
                       % pid, "", text, flags=_re.S)
    m = SANITIZER_REPORT.search(text)
    if m:
        raise AssertionError("sanitizer report in %s:\n%s"
                             % (w.log_path, text[max(0, m.start() - 2000):
                                                  m.start() + 4000]))


def connect_from(port, src=None, host="127.0.0.1", timeout=5.0):
    """A TCP connection to host:port from source address src (e.g.
    127.0.0.2: every 127/8 address is local on Linux)."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(timeout)
    if src:
        s.bind((src, 0))
    s.connect((host, port))
    return tls_wrap(s, host)


def open_ws(port, user, src=None, timeout=5.0):
    """A raw upgraded connection: (socket, bytes read past the head).
    Fails unless the answer is 101."""
    s = connect_from(port, src, timeout=timeout)
    s.sendall(raw_request("/?user=%s" % user))
    head, rest = read_head(s)
    if status_of(head) != 101:
        s.close()
        raise AssertionError("no 101 for %s: %r" % (user, head))
    return s, rest


def mask_frame(opcode, payload=b"", fin=True, key=b"\x1f\x2e\x3d\x4c"):
    """A masked client frame built fast (fixed key; fine for tests)."""
    n = len(payload)
    b0 = (0x80 if fin else 0) | opcode
    if n < 126:
        hdr = bytes([b0, 0x80 | n])
    elif n < 65536:
        hdr = bytes([b0, 0x80 | 126]) + n.to_bytes(2, "big")
    else:
        hdr = bytes([b0, 0x80 | 127]) + n.to_bytes(8, "big")
    if n:
        k = int.from_bytes((key * (n // 4 + 1))[:n], "big")
        payload = (int.from_bytes(payload, "big") ^ k).to_bytes(n, "big")
    return hdr + key + payload


class FrameReader:
    """Incremental parser for server frames (unmasked, any length form):
    feed() returns the complete frames as (fin, opcode, payload)."""

    def __init__(self, data=b""):
        self.buf = bytearray(data)

    def feed(self, data=b""):
        self.buf += data
        out = []
        buf = self.buf
        off = 0
        while len(buf) - off >= 2:
            b0, b1 = buf[off], buf[off + 1]
            if b1 & 0x80:
                raise AssertionError("server frame is masked")
            n = b1 & 0x7f
            h = 2
            if n == 126:
                if len(buf) - off < 4:
                    break
                n = int.from_bytes(buf[off + 2:off + 4], "big")
                h = 4
            elif n == 127:
                if len(buf) - off < 10:
                    break
                n = int.from_bytes(buf[off + 2:off + 10], "big")
                h = 10
            if len(buf) - off < h + n:
                break
            out.append((bool(b0 & 0x80), b0 & 0x0f,
                        bytes(buf[off + h:off + h + n])))
            off += h + n
        if off:
            del buf[:off]
        return out


def open_ws_many(port, users, src=None, timeout=30.0, wave=200,
                 headers=None, paths=None, expect=None):
    """Upgrade one raw connection per user, up to `wave` handshakes in
    flight at once, all in this thread.  Returns [(socket, FrameReader)]
    in the order of users (sockets left non-blocking).  Bounded by
    timeout; fails on any answer but 101.  headers: extra request
    headers for all; paths: each user's request path (default
    "/?user=NAME"); expect: bytes every 101 head must contain (compared
    in lowercase, e.g. the selected subprotocol)."""
    end = time.monotonic() + timeout
    result = [None] * len(users)
    sel = _selectors.DefaultSelector()
    pending = {}        # socket -> [index, request bytes left, head buf]
    nxt = 0
    try:
        while nxt < len(users) or pending:
            while nxt < len(users) and len(pending) < wave:
                s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                s.setblocking(False)
                if src:
                    s.bind((src, 0))
                s.connect_ex(("127.0.0.1", port))
                path = paths[nxt] if paths else "/?user=%s" % users[nxt]
                pending[s] = [nxt, raw_request(path, headers), b""]
                sel.register(s, _selectors.EVENT_WRITE)
                nxt += 1
            left = end - time.monotonic()
            if left <= 0:
                raise AssertionError(
                    "handshakes not done in %.0fs: %d of %d pending"
                    % (timeout, len(pending) + len(users) - nxt,
                       len(users)))
            for key, ev in sel.select(min(left, 1.0)):
                s = key.fileobj
                st = pending[s]
                if ev & _selectors.EVENT_WRITE and st[1]:
                    try:
                        n = s.send(st[1])
                    except BlockingIOError:
                        continue
                    st[1] = st[1][n:]
                    if not st[1]:
                        sel.modify(s, _selectors.EVENT_READ)
                    continue
                try:
                    data = s.recv(65536)
                except BlockingIOError:
                    continue
                if not data:
                    raise AssertionError("EOF during handshake of %s: %r"
                                         % (users[st[0]], st[2]))
                st[2] += data
                if b"\r\n\r\n" in st[2]:
                    head, _, rest = st[2].partition(b"\r\n\r\n")
                    if status_of(head) != 101:
                        raise AssertionError("no 101 for %s: %r"
                                             % (users[st[0]], head))
                    if expect and expect.lower() not in head.lower():
                        raise AssertionError("no %r in the 101 for %s: %r"
                                             % (expect, users[st[0]], head))
                    sel.unregister(s)
                    del pending[s]
                    result[st[0]] = (s, FrameReader(rest))
    except BaseException:
        for s in pending:
            s.close()
        for r in result:
            if r:
                r[0].close()
        raise
    finally:
        sel.close()
    return result


def report(line):
    """Print a result line (pytest -s shows it) and append it to the file
    named by $WSPUBSUB_REPORT, if set (tests/stress/run.sh sums them up)."""
    print("\n" + line)
    path = os.environ.get("WSPUBSUB_REPORT")
    if path:
        with open(path, "a") as f:
            f.write(line + "\n")


def settled_redis_clients(server, r, timeout=10.0):
    """Redis' connected_clients once every spare holds the connection it
    opens ahead of time, plus the test's own client; waits for it."""
    want = int(server.conf.get("spare_children", 2)) + 1
    wait_for(lambda: r.info("clients")["connected_clients"] == want,
             timeout, what="%d redis clients (spares + test)" % want)
    return want
