"""Operations: systemd socket activation and sd_notify, inetd mode
(systemd-socket-activate --accept and a real inetd), -D with a pidfile, the
log file and its rotation, the audit line, /metrics, SIGHUP, the binary
upgrade (SIGUSR2) and make install/uninstall.

Everything listens on loopback; every process a test starts is stopped by
pid (never by name) when the test ends, even when it fails.  Each test is
bounded by an alarm (TEST_TIMEOUT seconds) besides its own waits.
"""
import base64
import errno
import hashlib
import hmac
import json
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import time

import pytest

import harness
from harness import (BINARY, ROOT, RedisServer, Wspubsub, client_connect,
                     free_port, open_ws, raw_request, read_frame, read_head,
                     status_of, wait_for, frame, close_code)
import tls as _tls

TEST_TIMEOUT = 90
SOCKET_ACTIVATE = shutil.which("systemd-socket-activate")
INETD = "/usr/sbin/inetd"


@pytest.fixture(autouse=True)
def _deadline():
    def expired(signum, frm):
        raise AssertionError("test_ops: test took longer than %ds"
                             % TEST_TIMEOUT)
    old = signal.signal(signal.SIGALRM, expired)
    signal.alarm(TEST_TIMEOUT)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, old)


# --- process bookkeeping -------------------------------------------------------

def alive(pid):
    """True while pid exists and is not a zombie."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            st = f.read()
    except OSError:
        return False
    return st[st.rindex(")") + 2] != "Z"


def ppid_of(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            st = f.read()
    except OSError:
        return None
    return int(st[st.rindex(")") + 2:].split()[1])


def children_of(ppid):
    out = []
    for d in os.listdir("/proc"):
        if d.isdigit() and ppid_of(int(d)) == ppid and alive(int(d)):
            out.append(int(d))
    return out


def descendants(pid):
    out, todo = [], [pid]
    while todo:
        for c in children_of(todo.pop()):
            out.append(c)
            todo.append(c)
    return out


def kill_pid(pid, sig=signal.SIGKILL):
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass


class Procs:
    """Pids and Popen objects to stop when the test ends."""

    def __init__(self):
        self.popens = []
        self.pids = []

    def popen(self, *a, **kw):
        p = subprocess.Popen(*a, **kw)
        self.popens.append(p)
        return p

    def track(self, pid):
        if pid not in self.pids:
            self.pids.append(pid)

    def cleanup(self):
        # Whole trees: a master's children, inetd's servers.
        for p in self.popens:
            if p.poll() is None:
                for d in descendants(p.pid):
                    self.track(d)
        for p in self.popens:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in self.popens:
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(5)
        for pid in self.pids:
            if alive(pid):
                kill_pid(pid, signal.SIGTERM)
        end = time.monotonic() + 5
        while time.monotonic() < end and any(alive(p) for p in self.pids):
            time.sleep(0.05)
        for pid in self.pids:
            if alive(pid):
                kill_pid(pid)


@pytest.fixture
def procs():
    p = Procs()
    yield p
    p.cleanup()


# --- small clients -------------------------------------------------------------

def http_get(port, path, timeout=5.0, headers=None):
    """(status, head, body) of one plain HTTP GET (over TLS in TLS mode)."""
    s = client_connect(("127.0.0.1", port), timeout)
    try:
        h = "".join("%s: %s\r\n" % kv for kv in (headers or {}).items())
        s.sendall(("GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\n%s\r\n"
                   % (path, h)).encode())
        buf = b""
        while True:
            try:
                chunk = s.recv(65536)
            except (ConnectionResetError, OSError) as e:
                if buf:
                    break
                raise e
            if not chunk:
                break
            buf += chunk
    finally:
        s.close()
    head, _, body = buf.partition(b"\r\n\r\n")
    m = re.search(rb"(?im)^content-length:\s*(\d+)", head)
    if m:
        assert len(body) == int(m.group(1)), "short body: %r" % buf
    return status_of(head), head, body


_pending = {}     # socket -> bytes read past the last frame


def recv_text(s, buf=None, timeout=5.0):
    """Next data frame's payload from the server: (payload, rest).  Bytes
    read past the frame are kept for the next call on the same socket;
    buf (the bytes after the 101 head) starts a socket's buffer."""
    if buf is not None:
        _pending[s] = buf
    buf = _pending.pop(s, b"")
    s.settimeout(timeout)
    while True:
        fin, op, payload, buf = read_frame(s, buf)
        if op in (1, 2):
            _pending[s] = buf
            return payload, buf
        assert op != 8, "closed: %r" % payload


def publish_until(r, channel, msg, want=1, timeout=5.0):
    """PUBLISH until `want` subscribers received it (the child may still
    be subscribing); returns the receiver count."""
    end = time.monotonic() + timeout
    while True:
        n = r.publish(channel, msg)
        if n >= want or time.monotonic() > end:
            return n
        time.sleep(0.05)


def ws_close(s, code=1000, buf=b""):
    """Send a close frame and read until the server's close."""
    s.sendall(frame(8, code.to_bytes(2, "big") + b"bye"))
    s.settimeout(5)
    try:
        while True:
            fin, op, payload, buf = read_frame(s, buf)
            if op == 8:
                break
    except (ConnectionError, OSError):
        s.close()
        return None
    # Over TLS, end like a well-behaved client: close_notify, not a bare
    # TCP close (see test_tls_close_after_handshake_keeps_code).
    if harness.TLS:
        try:
            s.unwrap()
        except (OSError, ValueError):
            pass
    s.close()
    return close_code(payload)


def tls_files(tmpdir):
    if harness.TLS:
        return _tls.session_cert()
    crt, key = _tls.self_signed(tmpdir)
    return crt, key


def log_text(path):
    try:
        with open(path, "rb") as f:
            return f.read().decode(errors="replace")
    except FileNotFoundError:
        return ""


def write_conf(path, conf, extra=""):
    with open(path, "w") as f:
        for k, v in conf.items():
            for item in (v if isinstance(v, list) else [v]):
                f.write("%s %s\n" % (k, item))
        f.write(extra)


def base_conf(redis_port, port=None, **kw):
    """A configuration like harness.Wspubsub's (TLS in TLS mode)."""
    c = {"listen": ["127.0.0.1:%d%s" % (port or free_port(),
                                         " tls" if harness.TLS else "")],
         "redis_port": redis_port, "spare_children": 1, "log_level": "debug"}
    if harness.TLS:
        crt, key = _tls.session_cert()
        c["tls_certificate"], c["tls_key"] = crt, key
    c.update(kw)
    return c


# --- systemd socket activation (Accept=no) and sd_notify ------------------------

class Notify:
    """A NOTIFY_SOCKET: a datagram socket in a temp dir."""

    def __init__(self, tmpdir):
        self.path = os.path.join(tmpdir, "notify")
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)

    def expect(self, state, timeout=10.0):
        """Read datagrams until one equals state (fail on timeout); the
        ones read are returned, in order."""
        seen = []
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            self.sock.settimeout(max(0.01, end - time.monotonic()))
            try:
                msg = self.sock.recv(4096).decode()
            except socket.timeout:
                break
            seen.append(msg)
            if state in msg.split("\n"):
                return seen
        raise AssertionError("no %s on NOTIFY_SOCKET; got %r" % (state, seen))

    def close(self):
        self.sock.close()


def socket_activate(procs, tmpdir, conf_path, listens, names=None,
                    accept=False, extra_args=(), binary=BINARY):
    log = os.path.join(tmpdir, "activate.log")
    cmd = [SOCKET_ACTIVATE]
    for l in listens:
        cmd += ["-l", l]
    if names:
        cmd.append("--fdname=" + ":".join(names))
    if accept:
        cmd += ["--accept", "--inetd"]
    cmd += list(extra_args)
    cmd += [binary] + (["-i"] if accept else []) + ["-f", conf_path]
    logf = open(log, "ab")
    p = procs.popen(cmd, stdout=logf, stderr=logf, stdin=subprocess.DEVNULL)
    logf.close()
    # It binds before anything else; wait until the port accepts (it
    # then waits, without accepting, for the first client).
    port = int(listens[0].rsplit(":", 1)[1])
    wait_for(lambda: _listening(port), what="systemd-socket-activate")
    return p, log


def _listening(port):
    with open("/proc/net/tcp") as f:
        return any(":%04X 00000000:0000 0A" % port in l for l in f)


needs_activate = pytest.mark.skipif(SOCKET_ACTIVATE is None,
                                    reason="systemd-socket-activate missing")


@needs_activate
def test_socket_activation_notify(tmpdir_, redis_server, procs):
    """Accept=no: the master adopts systemd's socket ("from systemd"),
    serves, and reports READY=1, RELOADING=1 then READY=1 on SIGHUP, and
    STOPPING=1 on SIGTERM.  In TLS mode the socket is named "tls"."""
    port = free_port()
    conf = base_conf(redis_server.port)
    conf_path = os.path.join(tmpdir_, "act.conf")
    write_conf(conf_path, conf)
    n = Notify(tmpdir_)
    try:
        p, log = socket_activate(
            procs, tmpdir_, conf_path, ["127.0.0.1:%d" % port],
            names=["tls"] if harness.TLS else ["ws"],
            extra_args=["-E", "NOTIFY_SOCKET=" + n.path])
        # The first client makes systemd-socket-activate exec wspubsub.
        s, rest = open_ws(port, "alice", timeout=10)
        n.expect("READY=1")
        assert p.poll() is None
        r = redis_server.client()
        assert publish_until(r, "alice", "one") == 1
        assert recv_text(s, rest)[0] == b"one"
        text = log_text(log)
        assert re.search(r"listening on 127\.0\.0\.1:%d%s \(from systemd\)"
                         % (port, " \\(TLS\\)" if harness.TLS else ""),
                         text), text
        # The master is what systemd-socket-activate exec'ed.
        assert "master" in (harness.proc_title(p.pid) or "")

        p.send_signal(signal.SIGHUP)
        seen = n.expect("RELOADING=1")
        n.expect("READY=1")
        assert "READY=1" not in seen[:-1]
        # Still serving the old client and new ones.
        assert publish_until(r, "alice", "two") == 1
        assert recv_text(s)[0] == b"two"
        s2, rest2 = open_ws(port, "bob")
        assert publish_until(r, "bob", "hi bob") == 1
        assert recv_text(s2, rest2)[0] == b"hi bob"
        s2.close()

        p.send_signal(signal.SIGTERM)
        n.expect("STOPPING=1")
        assert p.wait(15) == 0
        s.close()
    finally:
        n.close()


@needs_activate
def test_notify_ready_after_rejected_reload(tmpdir_, redis_server, procs):
    port = free_port()
    conf = base_conf(redis_server.port)
    conf_path = os.path.join(tmpdir_, "act.conf")
    write_conf(conf_path, conf)
    n = Notify(tmpdir_)
    try:
        p, log = socket_activate(
            procs, tmpdir_, conf_path, ["127.0.0.1:%d" % port],
            names=["tls"] if harness.TLS else ["ws"],
            extra_args=["-E", "NOTIFY_SOCKET=" + n.path])
        s, rest = open_ws(port, "alice", timeout=10)
        n.expect("READY=1")
        write_conf(conf_path, conf, extra="no_such_key 1\n")
        p.send_signal(signal.SIGHUP)
        n.expect("RELOADING=1")
        wait_for(lambda: "not reloaded" in log_text(log), what="rejection")
        s.close()
        n.expect("READY=1", timeout=3)
    finally:
        n.close()


@needs_activate
def test_socket_activation_plain_and_tls(tmpdir_, redis_server, procs):
    """Two activated sockets, --fdname=plain:tls: ws:// on the first and
    wss:// on the second.  (The config names a "listen ... tls" address,
    unused under activation, so that the TLS context is loaded; see
    test_socket_activation_tls_without_listen_tls.)"""
    p1, p2 = free_port(), free_port()
    crt, key = tls_files(tmpdir_)
    conf = base_conf(redis_server.port, tls_certificate=crt, tls_key=key,
                     listen="127.0.0.1:%d tls" % free_port())
    conf_path = os.path.join(tmpdir_, "act.conf")
    write_conf(conf_path, conf)
    p, log = socket_activate(procs, tmpdir_, conf_path,
                             ["127.0.0.1:%d" % p1, "127.0.0.1:%d" % p2],
                             names=["plain", "tls"])
    r = redis_server.client()
    # Plain on the first socket (this also starts the master).
    s = socket.create_connection(("127.0.0.1", p1), 10)
    s.sendall(raw_request("/?user=plainuser"))
    head, rest = read_head(s)
    assert status_of(head) == 101, head
    assert publish_until(r, "plainuser", "p") == 1
    assert recv_text(s, rest)[0] == b"p"
    # TLS on the second.
    ctx = _tls.client_context(crt)
    t = ctx.wrap_socket(socket.create_connection(("127.0.0.1", p2), 10),
                        server_hostname="127.0.0.1")
    t.sendall(raw_request("/?user=tlsuser"))
    head, rest = read_head(t)
    assert status_of(head) == 101, head
    assert publish_until(r, "tlsuser", "t") == 1
    assert recv_text(t, rest)[0] == b"t"
    text = log_text(log)
    assert "127.0.0.1:%d (from systemd)" % p1 in text, text
    assert "127.0.0.1:%d (TLS) (from systemd)" % p2 in text, text
    s.close()
    t.close()


@needs_activate
def test_socket_activation_tls_without_listen_tls(tmpdir_, redis_server,
                                                  procs):
    port = free_port()
    crt, key = tls_files(tmpdir_)
    conf = base_conf(redis_server.port, tls_certificate=crt, tls_key=key,
                     listen="127.0.0.1:%d" % free_port())
    conf_path = os.path.join(tmpdir_, "act.conf")
    write_conf(conf_path, conf)
    p, log = socket_activate(procs, tmpdir_, conf_path,
                             ["127.0.0.1:%d" % port], names=["tls"])
    ctx = _tls.client_context(crt)
    t = ctx.wrap_socket(socket.create_connection(("127.0.0.1", port), 10),
                        server_hostname="127.0.0.1")
    t.sendall(raw_request("/?user=tlsuser"))
    head, rest = read_head(t)
    t.close()
    assert status_of(head) == 101, log_text(log)


# --- inetd style ----------------------------------------------------------------

def inetd_conf(tmpdir, redis_port, **kw):
    c = {"redis_port": redis_port, "log_level": "debug",
         "log_target": os.path.join(tmpdir, "inetd-ws.log")}
    if harness.TLS:
        crt, key = _tls.session_cert()
        # A private copy of the key (0600): the session key is 0644, and
        # the warning about it would reach the client under inetd (see
        # test_inetd_config_warning_not_sent_to_client).
        priv = os.path.join(tmpdir, "inetd.key")
        shutil.copy(key, priv)
        os.chmod(priv, 0o600)
        c.update(inetd_tls="yes", tls_certificate=crt, tls_key=priv)
    c.update(kw)
    path = os.path.join(tmpdir, "inetd-ws.conf")
    write_conf(path, c)
    return path, c["log_target"]


def wspubsub_pids_under(pid, binary=BINARY):
    out = []
    for d in descendants(pid):
        try:
            if os.path.realpath("/proc/%d/exe" % d) == os.path.realpath(binary):
                out.append(d)
        except OSError:
            pass
    return out


def check_inetd_serving(procs, server_pid, port, redis_server, log_path):
    """Two clients at once, each its own wspubsub -i process (a child of
    the super-server), publish -> receive, then one audit line each."""
    r = redis_server.client()
    a, ra = open_ws(port, "alice", timeout=10)
    b, rb = open_ws(port, "bob", timeout=10)
    pids = wait_for(lambda: (lambda l: l if len(l) == 2 else None)(
        wspubsub_pids_under(server_pid)), what="two wspubsub -i processes")
    for pid in pids:
        procs.track(pid)
        assert ppid_of(pid) == server_pid
    assert publish_until(r, "alice", "to alice") == 1
    assert publish_until(r, "bob", "to bob") == 1
    assert recv_text(a, ra)[0] == b"to alice"
    assert recv_text(b, rb)[0] == b"to bob"
    assert ws_close(a) == 1000
    assert ws_close(b) == 1000
    wait_for(lambda: not any(alive(p) for p in pids), timeout=10,
             what="the wspubsub -i processes to exit")
    text = wait_for(lambda: (lambda t: t if t.count("close user=") >= 2
                             else None)(log_text(log_path)),
                    what="two audit lines")
    for user in ("alice", "bob"):
        assert re.search(r"inetd: close user=%s peer=127\.0\.0\.1:\d+ "
                         r"duration=\d+\.\d{3}s in=0/0 out=1/\d+ code=1000 "
                         r"by=client" % user, text), text


@needs_activate
def test_inetd_socket_activate_accept(tmpdir_, redis_server, procs):
    """systemd-socket-activate --accept --inetd runs wspubsub -i once per
    connection (Accept=yes)."""
    port = free_port()
    conf_path, log_path = inetd_conf(tmpdir_, redis_server.port)
    p, log = socket_activate(procs, tmpdir_, conf_path,
                             ["127.0.0.1:%d" % port], accept=True)
    check_inetd_serving(procs, p.pid, port, redis_server, log_path)
    # No master: /healthz works, /metrics has no scoreboard (503).
    assert http_get(port, "/healthz")[0] == 200
    assert http_get(port, "/metrics")[0] == 503


def inetd_pidfile_owner():
    try:
        with open("/run/inetd.pid") as f:
            pid = int(f.read().strip() or 0)
    except (OSError, ValueError):
        return None
    return pid if pid and alive(pid) else None


@pytest.mark.skipif(not os.access(INETD, os.X_OK),
                    reason="openbsd-inetd not installed")
def test_inetd_conf_line(tmpdir_, redis_server, procs):
    """The contrib/inetd/inetd.conf line, run by openbsd-inetd in the
    foreground (-d).  inetd -d still writes /run/inetd.pid (and removes it
    on exit), so the test is skipped while another inetd owns that file."""
    if inetd_pidfile_owner() is not None:
        pytest.skip("another inetd is running (/run/inetd.pid)")
    port = free_port()
    conf_path, log_path = inetd_conf(tmpdir_, redis_server.port)
    with open(os.path.join(ROOT, "contrib/inetd/inetd.conf")) as f:
        lines = [l for l in f if l.strip() and not l.startswith("#")]
    assert len(lines) == 1, lines
    fields = lines[0].split()
    # service socktype proto wait user server argv0 args...
    assert fields[1:3] == ["stream", "tcp"], fields
    assert re.match(r"nowait(\.\d+)?$", fields[3]), fields
    assert fields[6:] == ["wspubsub", "-i", "-f",
                          "/etc/wspubsub/wspubsub.conf"], fields
    fields[0] = "127.0.0.1:%d" % port
    fields[4] = "root"
    fields[5] = BINARY
    fields[-1] = conf_path
    iconf = os.path.join(tmpdir_, "inetd.conf")
    with open(iconf, "w") as f:
        f.write("\t".join(fields) + "\n")
    ilog = open(os.path.join(tmpdir_, "inetd.out"), "ab")
    p = procs.popen([INETD, "-d", iconf], stdout=ilog, stderr=ilog,
                    stdin=subprocess.DEVNULL)
    ilog.close()
    try:
        wait_for(lambda: _listening(port), what="inetd on %d" % port)
        check_inetd_serving(procs, p.pid, port, redis_server, log_path)
    finally:
        p.terminate()
        p.wait(10)


@pytest.mark.skipif(not os.access(INETD, os.X_OK),
                    reason="openbsd-inetd not installed")
def test_inetd_config_warning_not_sent_to_client(tmpdir_, redis_server,
                                                 procs):
    if inetd_pidfile_owner() is not None:
        pytest.skip("another inetd is running (/run/inetd.pid)")
    port = free_port()
    # A JWT secret shorter than 32 bytes draws a warning at parse time.
    conf_path, log_path = inetd_conf(tmpdir_, redis_server.port,
                                     jwt_secret="short-secret")
    iconf = os.path.join(tmpdir_, "inetd.conf")
    with open(iconf, "w") as f:
        f.write("127.0.0.1:%d\tstream\ttcp\tnowait\troot\t%s\twspubsub -i "
                "-f %s\n" % (port, BINARY, conf_path))
    ilog = open(os.path.join(tmpdir_, "inetd.out"), "ab")
    p = procs.popen([INETD, "-d", iconf], stdout=ilog, stderr=ilog,
                    stdin=subprocess.DEVNULL)
    ilog.close()
    try:
        wait_for(lambda: _listening(port), what="inetd on %d" % port)
        s = socket.create_connection(("127.0.0.1", port), 5)
        s.settimeout(3)
        try:
            first = s.recv(200)
        except socket.timeout:
            first = b""
        s.close()
        assert b"wspubsub[" not in first, first
    finally:
        p.terminate()
        p.wait(10)


# --- -D and the pidfile ---------------------------------------------------------

def test_detach_pidfile(tmpdir_, redis_server, procs):
    conf = base_conf(redis_server.port,
                     pidfile=os.path.join(tmpdir_, "wspubsub.pid"),
                     log_target=os.path.join(tmpdir_, "daemon.log"))
    port = int(conf["listen"][0].split()[0].rsplit(":", 1)[1])
    conf_path = os.path.join(tmpdir_, "d.conf")
    write_conf(conf_path, conf)
    r = subprocess.run([BINARY, "-D", "-f", conf_path], timeout=15,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert r.returncode == 0, r.stderr
    pid = wait_for(lambda: (lambda t: int(t) if t.strip().isdigit() else
                            None)(log_text(conf["pidfile"])),
                   what="the pidfile")
    procs.track(pid)
    for c in children_of(pid):
        procs.track(c)
    assert alive(pid)
    # The pid is written only once the master is ready: titled, listening
    # and with its spares forked.
    assert "master" in (harness.proc_title(pid) or "")
    assert len(children_of(pid)) >= int(conf.get("spare_children", 2))
    socket.create_connection(("127.0.0.1", port), 2).close()
    assert ppid_of(pid) != os.getpid()      # detached: not our child
    wait_for(lambda: http_get(port, "/healthz")[0] == 200,
             what="the detached server")

    # A second instance with the same pidfile refuses to start.
    conf2 = dict(conf, listen="127.0.0.1:%d" % free_port())
    conf2_path = os.path.join(tmpdir_, "d2.conf")
    write_conf(conf2_path, conf2)
    r2 = subprocess.run([BINARY, "-f", conf2_path], timeout=15,
                        stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert r2.returncode != 0
    msg = "already running as pid %d (%s)" % (pid, conf["pidfile"])
    # The message goes to the log target (here the file) like every other.
    assert msg in r2.stderr.decode() + log_text(conf["log_target"])
    assert log_text(conf["pidfile"]).strip() == str(pid)
    # ... also with -D, and the launching command says so (exit status).
    r3 = subprocess.run([BINARY, "-D", "-f", conf2_path], timeout=15,
                        stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert r3.returncode != 0

    kids = children_of(pid)
    for c in kids:
        procs.track(c)
    os.kill(pid, signal.SIGTERM)
    wait_for(lambda: not alive(pid), timeout=15, what="the master to exit")
    wait_for(lambda: not os.path.exists(conf["pidfile"]),
             what="the pidfile to be removed")
    wait_for(lambda: not any(alive(c) for c in kids), what="children gone")


# --- the log file, rotation and the audit line ----------------------------------

def make_jwt(secret, sub, exp_in=600):
    def b64(b):
        return base64.urlsafe_b64encode(b).rstrip(b"=")
    h = b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    p = b64(json.dumps({"sub": sub, "exp": int(time.time()) + exp_in})
            .encode())
    sig = b64(hmac.new(secret.encode(), h + b"." + p, hashlib.sha256)
              .digest())
    return (h + b"." + p + b"." + sig).decode()


def test_log_file_rotation_and_audit(tmpdir_, procs):
    jwt_secret = "jwt-" + "s3cr3t" * 8
    redis_password = "redis-" + "pa55word" * 4
    rs = RedisServer(tmpdir_, "--requirepass", redis_password)
    rs._ping = lambda: _ping_auth(rs, redis_password)
    rs.start()
    try:
        _log_file_rotation_and_audit(tmpdir_, rs, jwt_secret,
                                     redis_password)
    finally:
        rs.stop()


def _ping_auth(rs, password):
    import redis
    try:
        return redis.Redis(host="127.0.0.1", port=rs.port,
                           password=password).ping()
    except redis.exceptions.RedisError:
        return False


def _log_file_rotation_and_audit(tmpdir_, rs, jwt_secret, redis_password):
    import redis
    logp = os.path.join(tmpdir_, "ws.log")
    w = Wspubsub(tmpdir_, rs.port, log_target=logp, jwt_secret=jwt_secret,
                 redis_password=redis_password)
    w.start()
    try:
        r = redis.Redis(host="127.0.0.1", port=rs.port,
                        password=redis_password)
        token = make_jwt(jwt_secret, "alice")
        s = client_connect(("127.0.0.1", w.port))
        s.sendall(raw_request("/?token=" + token))
        head, rest = read_head(s)
        assert status_of(head) == 101, head
        assert publish_until(r, "alice", "hello") == 1
        assert recv_text(s, rest)[0] == b"hello"
        r.publish("alice", "x" * 300)
        assert recv_text(s)[0] == b"x" * 300
        s.sendall(frame(1, b"ping from client"))   # 16 bytes in
        time.sleep(0.5)
        assert ws_close(s, 1000) == 1000
        line = wait_for(lambda: re.search(
            r"close user=alice peer=127\.0\.0\.1:\d+ duration=(\d+)\.(\d{3})s"
            r" in=1/16 out=2/305 code=1000 by=client reason=\"[^\"\n]*\"",
            log_text(logp)), what="the audit line in:\n" + log_text(logp))
        dur = int(line.group(1)) + int(line.group(2)) / 1000
        assert 0.3 <= dur < 30, line.group(0)

        # A bad token: refused, logged, nothing secret in the log.
        s = client_connect(("127.0.0.1", w.port))
        s.sendall(raw_request("/?token=" + make_jwt("wrong" * 8, "bob")))
        head, _ = read_head(s)
        s.close()
        assert status_of(head) == 401

        # Server-side close: the master's SIGTERM later closes with 1001
        # by=server; first, a connection held open across the rotation.
        token_b = make_jwt(jwt_secret, "bob")
        held = client_connect(("127.0.0.1", w.port))
        held.sendall(raw_request("/?token=" + token_b))
        head, held_rest = read_head(held)
        assert status_of(head) == 101

        os.rename(logp, logp + ".1")
        w.signal(signal.SIGHUP)
        wait_for(lambda: "configuration reloaded" in log_text(logp),
                 what="the reopened log file")
        old = log_text(logp + ".1")
        assert "SIGHUP: reloading" in old
        assert "configuration reloaded" not in old

        s = client_connect(("127.0.0.1", w.port))
        s.sendall(raw_request("/?token=" + make_jwt(jwt_secret, "carol")))
        head, rest = read_head(s)
        assert status_of(head) == 101
        assert ws_close(s, 1000) == 1000
        wait_for(lambda: "close user=carol" in log_text(logp),
                 what="carol's audit line in the new file")
        assert "close user=carol" not in log_text(logp + ".1")

        # The connection that predates the rotation: its child keeps the
        # file it had (documented), and the server closes it (1001).
        w.stop()
        held.close()
        both = log_text(logp) + log_text(logp + ".1")
        assert re.search(r"close user=bob peer=\S+ duration=\S+ in=0/0 "
                         r"out=0/0 code=1001 by=server", both), both
        for secret in (jwt_secret, redis_password, token, token_b):
            assert secret not in both
            assert secret not in w.log()
        # The token's signature alone must not leak either.
        assert token.rsplit(".", 1)[1] not in both
    finally:
        w.stop()


def test_tls_close_after_handshake_keeps_code(tmpdir_, redis_server):
    crt, key = tls_files(tmpdir_)
    port = free_port()
    w = Wspubsub(tmpdir_, redis_server.port, tls_certificate=crt,
                 tls_key=key, listen=["127.0.0.1:%d tls" % port])
    w.port = port
    w.start()
    try:
        ctx = _tls.client_context(crt)
        t = ctx.wrap_socket(socket.create_connection(("127.0.0.1", port), 5),
                            server_hostname="127.0.0.1")
        t.sendall(raw_request("/?user=alice"))
        head, rest = read_head(t)
        assert status_of(head) == 101
        t.sendall(frame(8, (1000).to_bytes(2, "big")))
        t.settimeout(5)
        buf = rest
        while True:
            fin, op, payload, buf = read_frame(t, buf)
            if op == 8:
                break
        t.close()           # no close_notify, as many clients do
        text = wait_for(lambda: (lambda x: x if "close user=alice" in x
                                 else None)(w.log()), what="audit line")
        assert re.search(r"close user=alice .* code=1000 by=client", text), \
            text
    finally:
        w.stop()


# --- /metrics -------------------------------------------------------------------

SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)'
                    r'(\{(?:[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\.)*"'
                    r'(?:,[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\.)*")*)?\})?'
                    r' (\S+)$')
TYPES = {"counter", "gauge", "histogram", "summary", "untyped"}


def parse_metrics(body):
    """Strict Prometheus text format 0.0.4: returns {sample: value}."""
    text = body.decode("utf-8")
    assert text.endswith("\n"), "no final newline"
    helps, types, seen_samples, out = {}, {}, set(), {}
    for n, line in enumerate(text[:-1].split("\n"), 1):
        assert line, "empty line %d" % n
        if line.startswith("#"):
            m = re.match(r"^# (HELP|TYPE) ([a-zA-Z_:][a-zA-Z0-9_:]*) (.+)$",
                         line)
            assert m, "bad comment line %d: %r" % (n, line)
            kind, name, rest = m.groups()
            assert name not in seen_samples, \
                "%s after its samples (line %d)" % (kind, n)
            d = helps if kind == "HELP" else types
            assert name not in d, "second %s for %s" % (kind, name)
            if kind == "TYPE":
                assert rest in TYPES, line
            d[name] = rest
            continue
        m = SAMPLE.match(line)
        assert m, "bad sample line %d: %r" % (n, line)
        name, labels, value = m.group(1), m.group(2) or "", m.group(3)
        assert name in types, "sample %s without TYPE" % name
        assert name in helps, "sample %s without HELP" % name
        if types[name] == "counter":
            assert name.endswith("_total"), name
        v = float(value)            # raises on a non-number
        assert v == v, "NaN"
        key = name + labels
        assert key not in out, "duplicate sample %s" % key
        seen_samples.add(name)
        out[key] = v
    return out


def metrics(port):
    status, head, body = http_get(port, "/metrics")
    assert status == 200, head
    assert re.search(rb"(?im)^content-type: text/plain; version=0\.0\.4",
                     head), head
    return parse_metrics(body)


EXPECTED_METRICS = [
    'wspubsub_connections{state="open"}',
    'wspubsub_connections{state="handshake"}',
    'wspubsub_spare_children',
    'wspubsub_child_reuses_total',
    'wspubsub_sandbox_kills_total',
    'wspubsub_connections_total',
] + ['wspubsub_handshake_failures_total{reason="%s"}' % r for r in (
    "bad_request", "method", "version", "too_large", "unauthorized",
    "forbidden", "redis", "timeout", "tls")] + [
    'wspubsub_refused_total{status="503"}',
    'wspubsub_refused_total{status="429"}',
    'wspubsub_messages_sent_total', 'wspubsub_bytes_sent_total',
    'wspubsub_messages_received_total', 'wspubsub_bytes_received_total',
    'wspubsub_redis_errors_total', 'wspubsub_redis_reconnects_total',
    'wspubsub_history_recoveries_total', 'wspubsub_history_gaps_total',
    'wspubsub_history_replayed_total',
    'wspubsub_close_codes_total{code="other"}',
]


def test_metrics(make_server, redis_server):
    w = make_server(max_connections=3, spare_children=1)
    r = redis_server.client()
    m0 = metrics(w.port)
    for k in EXPECTED_METRICS:
        assert k in m0, k
    # The request itself is being served while /metrics is rendered.
    assert m0['wspubsub_connections{state="open"}'] == 0

    # The /metrics child (and the harness' probe connection) may still be
    # on its way out: max_connections is 3.
    wait_busy(w, 0)
    a, ra = open_ws(w.port, "alice")
    b, rb = open_ws(w.port, "bob")
    m1 = metrics_when(w.port, lambda m: m[
        'wspubsub_connections{state="open"}'] == 2, "2 open connections")
    assert m1["wspubsub_connections_total"] == \
        m0["wspubsub_connections_total"] + 2
    assert m1["wspubsub_spare_children"] >= 0

    # Published messages count while the connection is open.
    assert publish_until(r, "alice", "12345") == 1
    r.publish("alice", "x" * 100)
    assert recv_text(a, ra)[0] == b"12345"
    assert recv_text(a)[0] == b"x" * 100
    a.sendall(frame(1, b"abc"))
    m2 = metrics_when(w.port, lambda m: m[
        "wspubsub_messages_received_total"] >= m1[
        "wspubsub_messages_received_total"] + 1, "messages_received_total")
    assert m2["wspubsub_messages_sent_total"] == \
        m1["wspubsub_messages_sent_total"] + 2
    assert m2["wspubsub_bytes_sent_total"] == \
        m1["wspubsub_bytes_sent_total"] + 105
    assert m2["wspubsub_bytes_received_total"] == \
        m1["wspubsub_bytes_received_total"] + 3

    # 426 for a wrong version (after the /metrics children are gone:
    # they count against max_connections while they linger).
    wait_busy(w, 2)
    s = client_connect(("127.0.0.1", w.port))
    s.sendall(raw_request("/?user=v", {"Sec-WebSocket-Version": "8"}))
    head, _ = read_head(s)
    s.close()
    assert status_of(head) == 426
    wait_busy(w, 2)
    m3 = metrics(w.port)
    assert m3['wspubsub_handshake_failures_total{reason="version"}'] == \
        m2['wspubsub_handshake_failures_total{reason="version"}'] + 1

    # max_connections (3): a, b, c busy; d gets 503.
    wait_busy(w, 2)
    c, rc = open_ws(w.port, "carol")
    wait_busy(w, 3)
    try:
        d = client_connect(("127.0.0.1", w.port))
        d.sendall(raw_request("/?user=dave"))
        head, _ = read_head(d)
        d.close()
        assert status_of(head) == 503, head
    except (ssl.SSLError, ConnectionError):
        # The master has no TLS: on a tls address it refuses by closing,
        # so the client's handshake fails instead of reading a 503.
        assert harness.TLS
    c.close()
    # The count after the slot frees (dave's 503 is already counted).
    m4 = wait_for(lambda: _try_metrics(w.port), what="/metrics again")
    assert m4['wspubsub_refused_total{status="503"}'] >= \
        m3['wspubsub_refused_total{status="503"}'] + 1

    # A normal close counts as 1000; counters keep what a's child sent.
    assert ws_close(a, 1000, ra) == 1000
    m5 = wait_for(lambda: (lambda m: m if m.get(
        'wspubsub_close_codes_total{code="1000"}', 0) >= m4.get(
        'wspubsub_close_codes_total{code="1000"}', 0) + 1 else None)(
        _try_metrics(w.port) or {}), what='close_codes_total{code="1000"}')
    assert m5["wspubsub_messages_sent_total"] >= \
        m2["wspubsub_messages_sent_total"]
    assert m5["wspubsub_bytes_sent_total"] >= m2["wspubsub_bytes_sent_total"]

    # Redis restart: b's child loses Redis, then resubscribes.
    redis_server.stop()
    time.sleep(0.5)
    redis_server.start()
    m6 = wait_for(lambda: (lambda m: m if m[
        "wspubsub_redis_reconnects_total"] >= m5[
        "wspubsub_redis_reconnects_total"] + 1 else None)(
        _try_metrics(w.port) or {"wspubsub_redis_reconnects_total": -1}),
        timeout=10, what="redis_reconnects_total")
    assert m6["wspubsub_redis_errors_total"] >= \
        m5["wspubsub_redis_errors_total"] + 1
    assert publish_until(redis_server.client(), "bob", "after") == 1
    assert recv_text(b, rb)[0] == b"after"
    b.close()


def wait_busy(w, n):
    """Until exactly n of w's children serve a client, and the master
    counts n too (its title): an exited child counts against
    max_connections until it is reaped."""
    title = re.compile(r"master \[%d/" % n)
    wait_for(lambda: len(set(harness.live_children(w)) -
                         set(harness.spare_pids(w))) == n and
             title.search(harness.proc_title(w.pid) or ""),
             what="%d busy children" % n)


def metrics_when(port, pred, what):
    """Poll /metrics (tolerating 503 while children linger) until
    pred(metrics) holds; returns those metrics."""
    return wait_for(lambda: (lambda m: m if m is not None and pred(m)
                             else None)(_try_metrics(port)),
                    interval=0.1, what=what)


def _try_metrics(port):
    try:
        return metrics(port)
    except (AssertionError, OSError):
        return None


def test_metrics_allow(make_server):
    w = make_server(metrics_allow="10.0.0.0/8")
    status, head, body = http_get(w.port, "/metrics")
    assert status == 403, head
    assert b"wspubsub_" not in body
    # /healthz is not limited by metrics_allow.
    assert http_get(w.port, "/healthz")[0] == 200
    w.conf["metrics_allow"] = ["10.0.0.0/8", "127.0.0.0/8"]
    w.write_conf()
    w.signal(signal.SIGHUP)
    wait_for(lambda: "configuration reloaded" in w.log(), what="reload")
    wait_for(lambda: http_get(w.port, "/metrics")[0] == 200,
             what="/metrics allowed from 127.0.0.1")
    w.conf["metrics_allow"] = "127.0.0.2/32"
    w.write_conf()
    w.signal(signal.SIGHUP)
    wait_for(lambda: w.log().count("configuration reloaded") >= 2,
             what="reload")
    wait_for(lambda: http_get(w.port, "/metrics")[0] == 403,
             what="/metrics refused to 127.0.0.1 again")


# --- SIGHUP: listen addresses ---------------------------------------------------

def listens_on(pid, port):
    """Whether process pid holds a listening TCP socket on port (IPv4 or
    IPv6).  Unlike a refused connect, this does not depend on whether some
    other process took the port once it was free."""
    inodes = set()
    for fd in os.listdir("/proc/%d/fd" % pid):
        try:
            link = os.readlink("/proc/%d/fd/%s" % (pid, fd))
        except OSError:
            continue
        if link.startswith("socket:["):
            inodes.add(link[8:-1])
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table) as f:
                next(f)
                for line in f:
                    fields = line.split()
                    lport = int(fields[1].rsplit(":", 1)[1], 16)
                    if lport == port and fields[3] == "0A" and \
                            fields[9] in inodes:
                        return True
        except OSError:
            pass
    return False


def test_sighup_listen_add_remove(make_server, redis_server):
    w = make_server()
    old = w.port
    s, rest = open_ws(old, "alice")
    new = free_port()
    w.conf["listen"] = ["127.0.0.1:%d" % new]
    w.write_conf()
    w.signal(signal.SIGHUP)
    wait_for(lambda: "configuration reloaded" in w.log(), what="reload")
    assert "no longer listening on 127.0.0.1:%d" % old in w.log()
    assert "listening on 127.0.0.1:%d" % new in w.log()
    assert not listens_on(w.pid, old)
    assert listens_on(w.pid, new)
    s2, rest2 = open_ws(new, "bob")
    r = redis_server.client()
    assert publish_until(r, "alice", "still here") == 1
    assert recv_text(s, rest)[0] == b"still here"
    assert publish_until(r, "bob", "new port") == 1
    assert recv_text(s2, rest2)[0] == b"new port"
    # Add the old address back beside the new one.
    w.conf["listen"] = ["127.0.0.1:%d" % new, "127.0.0.1:%d" % old]
    w.write_conf()
    w.signal(signal.SIGHUP)
    wait_for(lambda: w.log().count("configuration reloaded") >= 2,
             what="reload")
    s3, rest3 = open_ws(old, "carol")
    assert publish_until(r, "carol", "back") == 1
    assert recv_text(s3, rest3)[0] == b"back"
    # A broken config keeps the master and its addresses.
    w.write_conf(extra="no_such_key 1\n")
    w.signal(signal.SIGHUP)
    wait_for(lambda: "not reloaded" in w.log(), what="the refused reload")
    assert w.proc.poll() is None
    open_ws(new, "dave")[0].close()
    assert ws_close(s, 1000, b"") == 1000
    for x in (s2, s3):
        x.close()


# --- binary upgrade (SIGUSR2) ---------------------------------------------------

def test_binary_upgrade(tmpdir_, redis_server, procs):
    w1 = Wspubsub(tmpdir_, redis_server.port).start()
    procs.popens.append(w1.proc)
    r = redis_server.client()
    a, ra = open_ws(w1.port, "alice")
    child = wait_for(lambda: harness.child_of_user(w1, "alice"),
                     what="alice's child")
    procs.track(child)
    for c in harness.live_children(w1):
        procs.track(c)
    w1.signal(signal.SIGUSR2)
    assert w1.proc.wait(15) == 0
    assert "SIGUSR2: leaving 1 clients" in w1.log()
    assert alive(child)
    assert publish_until(r, "alice", "during") == 1
    assert recv_text(a, ra)[0] == b"during"

    # The new master binds the same address (retrying until it is free).
    w2 = Wspubsub(tmpdir_, redis_server.port)
    w2.port = w1.port
    w2.conf["listen"] = ["127.0.0.1:%d" % w1.port]
    w2.conf_path = os.path.join(tmpdir_, "upgrade-2.conf")
    w2.log_path = os.path.join(tmpdir_, "upgrade-2.log")
    end = time.monotonic() + 10
    while True:
        try:
            w2.start()
            break
        except AssertionError:
            if time.monotonic() > end:
                raise
            time.sleep(0.2)
    procs.popens.append(w2.proc)
    try:
        b, rb = open_ws(w2.port, "bob")
        assert harness.child_of_user(w2, "bob") is not None
        assert publish_until(r, "bob", "to bob") == 1
        assert recv_text(b, rb)[0] == b"to bob"
        assert publish_until(r, "alice", "after") == 1
        assert recv_text(a)[0] == b"after"
        assert alive(child) and ppid_of(child) != w1.pid
        # The orphan finishes its client normally.
        assert ws_close(a, 1000) == 1000
        wait_for(lambda: not alive(child), what="the old child to exit")
        assert re.search(r"close user=alice .* code=1000 by=client",
                         w1.log()), w1.log()
        b.close()
    finally:
        w2.stop()
        w1.logf.close()


# --- make install / uninstall ---------------------------------------------------

def make(*args):
    r = subprocess.run(["make", "-s", "-C", ROOT] + list(args), timeout=120,
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    assert r.returncode == 0, r.stdout.decode(errors="replace")
    return r.stdout.decode(errors="replace")


def tree(d):
    out = set()
    for root, dirs, files in os.walk(d):
        for x in files:
            out.add(os.path.relpath(os.path.join(root, x), d))
    return out


def test_make_install_uninstall(tmpdir_):
    dest = os.path.join(tmpdir_, "dest")
    make("install", "DESTDIR=" + dest)
    assert tree(dest) == {
        "usr/local/sbin/wspubsub",
        "etc/wspubsub/wspubsub.conf",
        "usr/local/share/man/man8/wspubsub.8",
        "usr/local/share/man/man5/wspubsub.conf.5",
    }
    assert os.stat(os.path.join(dest, "usr/local/sbin/wspubsub")).st_mode \
        & 0o777 == 0o755
    r = subprocess.run([os.path.join(dest, "usr/local/sbin/wspubsub"), "-v"],
                       stdout=subprocess.PIPE, timeout=10)
    assert r.stdout.startswith(b"wspubsub ")

    # An existing (edited) configuration is neither overwritten nor removed.
    conf = os.path.join(dest, "etc/wspubsub/wspubsub.conf")
    with open(conf, "a") as f:
        f.write("# edited\n")
    make("install", "DESTDIR=" + dest)
    assert log_text(conf).endswith("# edited\n")
    make("uninstall", "DESTDIR=" + dest)
    assert tree(dest) == {"etc/wspubsub/wspubsub.conf"}
    os.unlink(conf)

    # PREFIX, MANDIR, SYSCONFDIR; an unedited configuration is removed.
    dest2 = os.path.join(tmpdir_, "dest2")
    args = ["DESTDIR=" + dest2, "PREFIX=/opt/ws", "MANDIR=/opt/man",
            "SYSCONFDIR=/opt/etc"]
    make("install", *args)
    assert tree(dest2) == {"opt/ws/sbin/wspubsub",
                           "opt/etc/wspubsub/wspubsub.conf",
                           "opt/man/man8/wspubsub.8",
                           "opt/man/man5/wspubsub.conf.5"}
    make("uninstall", *args)
    assert tree(dest2) == set()
    assert not os.path.exists(os.path.join(dest2, "opt/etc/wspubsub"))
