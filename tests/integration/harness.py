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
        for k, v in conf.items():
            self.conf[k] = v
        self.conf_path = os.path.join(tmpdir, "wspubsub-%d.conf" % self.port)
        self.log_path = os.path.join(tmpdir, "wspubsub-%d.log" % self.port)
        self.proc = None

    def write_conf(self, extra=""):
        with open(self.conf_path, "w") as f:
            for k, v in self.conf.items():
                for item in (v if isinstance(v, list) else [v]):
                    f.write("%s %s\n" % (k, item))
            f.write(extra)

    def start(self):
        self.write_conf()
        self.logf = open(self.log_path, "ab")
        self.proc = subprocess.Popen([BINARY, "-f", self.conf_path],
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
        return "ws://127.0.0.1:%d" % self.port

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


def ws_key():
    return base64.b64encode(os.urandom(16)).decode()


def raw_connect(port, path="/?user=raw", headers=None, host="127.0.0.1",
                timeout=5.0):
    """Open a TCP connection and send an upgrade request; returns the socket
    and the response head (bytes up to the blank line) plus leftover bytes."""
    s = socket.create_connection((host, port), timeout)
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
