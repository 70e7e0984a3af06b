"""Many instances behind a load balancer: HAProxy 2.6 in front of
three wspubsub instances sharing one Redis.

The HAProxy configuration is contrib/haproxy/wspubsub.cfg itself, with
loopback ports, a private stats socket and short check intervals put in
(derived_config); a substitution that no longer matches the contrib file
fails the test rather than silently testing something else.

300 clients connect through HAProxy and must be spread over the three
instances (balance leastconn); one PUBLISH per user reaches every one.
Then one instance is SIGTERMed: its clients get close 1001, reconnect at
once through HAProxy (which has not necessarily noticed yet: retry-on and
redispatch must carry them to the two others), and a second PUBLISH per
user reaches all 300 again.  Plain ws:// over raw non-blocking sockets
(harness.open_ws_many); every wait is bounded.
"""
import collections
import csv
import io
import os
import re
import selectors
import shutil
import signal
import socket
import subprocess
import time

import pytest

import harness
from harness import (RedisServer, Wspubsub, assert_clean_log, close_code,
                     free_port, live_children, mask_frame, open_ws_many,
                     proc_title, raise_nofile, report, wait_for)

HAPROXY = os.environ.get("HAPROXY") or shutil.which("haproxy") or \
    "/usr/sbin/haproxy"
CONTRIB = os.path.join(harness.ROOT, "contrib", "haproxy", "wspubsub.cfg")

N_CLIENTS = 300
N_INSTANCES = 3

OP_TEXT, OP_CLOSE, OP_PING, OP_PONG = 1, 8, 9, 10

pytestmark = [
    pytest.mark.skipif(not os.access(HAPROXY, os.X_OK),
                       reason="haproxy not installed"),
    pytest.mark.skipif(harness.TLS, reason="HAProxy speaks plain HTTP to "
                       "the instances here; raw plain-ws clients"),
]


# --- HAProxy -----------------------------------------------------------------

def derived_config(text, port, stats_port, sock, servers):
    """contrib/haproxy/wspubsub.cfg for a test: loopback frontend ports, the
    given servers [(name, port)], log to stdout, no chroot/user/daemon, a
    stats socket in the test's directory, small maxconn, checks every
    200 ms.  Timeouts, retries, balancing and check request are kept."""
    server_lines = "".join("    server %s 127.0.0.1:%d\n" % s for s in servers)
    subs = [
        # (pattern, replacement, expected number of matches)
        (r"(?m)^    log /dev/log local0\n",
         "    log stdout format raw local0\n", 1),
        (r"(?m)^    (chroot|user|group) \S+\n", "", 3),
        (r"(?m)^    daemon\n", "", 1),
        (r"(?m)^    stats socket \S+ ", "    stats socket %s " % sock, 1),
        (r"(?m)^    maxconn 50000\n", "    maxconn 4096\n", 2),
        (r"(?m)^    bind :80\n", "    bind 127.0.0.1:%d\n" % port, 1),
        (r"(?m)^    bind 127\.0\.0\.1:8404\n",
         "    bind 127.0.0.1:%d\n" % stats_port, 1),
        (r"inter 2s fastinter 500ms downinter 2s fall 2 rise 2 ",
         "inter 200ms fastinter 100ms downinter 200ms fall 2 rise 1 ", 1),
        (r"(?m)(^    server ws\d 127\.0\.0\.1:\d+\n)+", server_lines, 1),
    ]
    for pat, repl, want in subs:
        text, n = re.subn(pat, lambda m, r=repl: r, text)
        assert n == want, "%s: %r matched %d times, not %d (edited? update " \
            "derived_config)" % (CONTRIB, pat, n, want)
    return text


def haproxy_check(path):
    """haproxy -c -f path: (ok, output)."""
    p = subprocess.run([HAPROXY, "-c", "-f", path], stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, timeout=30)
    out = p.stdout.decode(errors="replace")
    return p.returncode == 0 and "[WARNING]" not in out \
        and "[ALERT]" not in out, out


class HAProxy:
    """One haproxy in the foreground (-db) with the derived configuration."""

    def __init__(self, tmpdir, servers):
        self.dir = tmpdir
        self.port = free_port()
        self.stats_port = free_port()
        self.sock = os.path.join(tmpdir, "haproxy.sock")
        self.cfg_path = os.path.join(tmpdir, "haproxy.cfg")
        self.log_path = os.path.join(tmpdir, "haproxy.log")
        self.servers = servers          # [(name, port)]
        self.proc = None
        self.logf = None

    def start(self):
        with open(CONTRIB) as f:
            text = derived_config(f.read(), self.port, self.stats_port,
                                  self.sock, self.servers)
        with open(self.cfg_path, "w") as f:
            f.write(text)
        ok, out = haproxy_check(self.cfg_path)
        assert ok, "haproxy -c rejects the derived config:\n" + out
        self.logf = open(self.log_path, "ab")
        self.proc = subprocess.Popen([HAPROXY, "-db", "-f", self.cfg_path],
                                     stdout=self.logf, stderr=self.logf)
        wait_for(self._accepting, 10, what="haproxy on %d" % self.port)
        # Every server UP and its first HTTP check passed.
        wait_for(lambda: all(r["status"] == "UP" and
                             r["check_status"] == "L7OK"
                             for r in self.stat().values()),
                 10, what="every server UP in haproxy: %r" % self.states())
        return self

    def _accepting(self):
        if self.proc.poll() is not None:
            raise AssertionError("haproxy exited: %s" % self.log())
        try:
            socket.create_connection(("127.0.0.1", self.port), 0.2).close()
        except OSError:
            return False
        return os.path.exists(self.sock)

    def command(self, line):
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(5)
            s.connect(self.sock)
            s.sendall(line.encode() + b"\n")
            buf = b""
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    return buf.decode(errors="replace")
                buf += chunk

    def stat(self):
        """{server name: row of `show stat`} for the wspubsub backend."""
        text = self.command("show stat")
        rows = csv.DictReader(io.StringIO(text.lstrip("# ")))
        return {r["svname"]: r for r in rows
                if r["pxname"] == "wspubsub" and
                r["svname"] not in ("FRONTEND", "BACKEND")}

    def states(self):
        try:
            return {k: (r["status"], r["check_status"])
                    for k, r in self.stat().items()}
        except OSError as e:
            return repr(e)

    def log(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode(errors="replace")[-4000:]
        except OSError:
            return ""

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        if self.logf:
            self.logf.close()
            self.logf = None


@pytest.fixture
def cluster(tmpdir_):
    """Redis, three wspubsub instances and HAProxy in front of them; all
    stopped afterwards whatever happened (reverse order of start)."""
    raise_nofile()
    started, instances = [], []
    try:
        redis_server = RedisServer(tmpdir_)
        started.append(redis_server)
        redis_server.start()
        for i in range(N_INSTANCES):
            d = os.path.join(tmpdir_, "ws%d" % (i + 1))
            os.mkdir(d)
            w = Wspubsub(d, redis_server.port, spare_children=16,
                         shutdown_timeout="5s", log_level="info")
            # HAProxy sends a PROXY v2 header (send-proxy-v2).
            w.conf["listen"] = ["127.0.0.1:%d proxy" % w.port]
            started.append(w)
            instances.append(w)
            w.start()
        hap = HAProxy(tmpdir_, [("ws%d" % (i + 1), w.port)
                                for i, w in enumerate(instances)])
        started.append(hap)
        hap.start()
        yield redis_server, instances, hap
    finally:
        for p in reversed(started):
            try:
                p.stop()
            except Exception as e:      # stop the rest regardless
                print("teardown: %r: %r" % (p, e))
    for w in instances:
        assert_clean_log(w)     # the ASan build's reports, if any


# --- clients -----------------------------------------------------------------

class Conn:
    """A raw client connection (non-blocking socket from open_ws_many)."""

    def __init__(self, user, sock, reader):
        self.user = user
        self.sock = sock
        self.reader = reader
        self.frames = collections.deque(reader.feed())
        self.eof = False

    def pull(self):
        try:
            data = self.sock.recv(65536)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if not data:
            self.eof = True
        else:
            self.frames.extend(self.reader.feed(data))

    def send(self, data):
        try:
            self.sock.send(data)    # a small frame: fits the socket buffer
        except OSError:
            pass

    def event(self):
        """The next data or close frame as (opcode, payload), ("eof", b"")
        at the end, or None; pings are answered and skipped."""
        while self.frames:
            fin, op, payload = self.frames.popleft()
            if op == OP_PING:
                self.send(mask_frame(OP_PONG, payload))
            elif op != OP_PONG:
                return op, payload
        return ("eof", b"") if self.eof else None

    def close(self):
        self.sock.close()


def next_events(conns, timeout, what):
    """{conn: its next event} for every conn; fails after timeout."""
    end = time.monotonic() + timeout
    out = {}
    sel = selectors.DefaultSelector()
    try:
        for c in conns:
            ev = c.event()
            if ev:
                out[c] = ev
            else:
                sel.register(c.sock, selectors.EVENT_READ, c)
        while len(out) < len(conns):
            left = end - time.monotonic()
            if left <= 0:
                missing = [c.user for c in conns if c not in out]
                raise AssertionError("%s: %d of %d connections got nothing "
                                     "in %.0f s, e.g. %s" % (
                                         what, len(missing), len(conns),
                                         timeout, missing[:5]))
            for key, _ in sel.select(min(left, 0.5)):
                c = key.data
                c.pull()
                ev = c.event()
                if ev:
                    out[c] = ev
                    sel.unregister(c.sock)
    finally:
        sel.close()
    return out


def channel(user):
    return user.lower()


def payload(tag, user):
    return ("%s for %s" % (tag, user)).encode()


def publish_round(r, conns, tag, timeout=10.0):
    """One PUBLISH per user; every connection's next frame must be its
    message.  Returns the subscriber counts PUBLISH reported."""
    pipe = r.pipeline(transaction=False)
    for c in conns:
        pipe.publish(channel(c.user), payload(tag, c.user))
    counts = pipe.execute()
    nobody = [c.user for c, n in zip(conns, counts) if n < 1]
    assert not nobody, "%s: PUBLISH reached no subscriber for %d users, " \
        "e.g. %s" % (tag, len(nobody), nobody[:5])
    evs = next_events(conns, timeout, tag)
    bad = [(c.user, ev[0], ev[1][:60]) for c, ev in evs.items()
           if ev != (OP_TEXT, payload(tag, c.user))]
    assert not bad, "%s: %d of %d users got something else, e.g. %r" % (
        tag, len(bad), len(conns), bad[:5])
    return counts


TITLE = re.compile(r": (\S+) 127\.0\.0\.1:\d+$")


def placement(instances):
    """{lowercased user: [index of each instance serving it]}, from the
    children's process titles ("wspubsub: USER PEER")."""
    where = collections.defaultdict(list)
    for i, w in enumerate(instances):
        if w.proc.poll() is not None:
            continue
        for pid in live_children(w):
            m = TITLE.search(proc_title(pid) or "")
            if m:
                where[m.group(1).lower()].append(i)
    return where


def placed(instances, users):
    """placement() once every user is served exactly once, else None."""
    where = placement(instances)
    if all(len(where.get(channel(u), ())) == 1 for u in users):
        return where
    return None


def close_all(conns):
    for c in conns:
        try:
            c.close()
        except OSError:
            pass


# --- tests -------------------------------------------------------------------

def test_contrib_config_is_valid():
    ok, out = haproxy_check(CONTRIB)
    assert ok, "haproxy -c -f %s:\n%s" % (CONTRIB, out)
    with open(CONTRIB) as f:
        active = "\n".join(line.split("#", 1)[0] for line in f)
    for directive in ("mode http", "balance leastconn", "timeout tunnel 1h",
                      "timeout client-fin", "timeout server-fin",
                      "timeout http-request",
                      "option httpchk GET /healthz",
                      "http-check expect status 200"):
        assert directive in active, "%s lacks %r" % (CONTRIB, directive)
    # The client's address reaches wspubsub ("listen ... proxy").
    for directive in ("send-proxy-v2", "check-send-proxy"):
        assert directive in active, "%s lacks %r" % (CONTRIB, directive)
    # Deliberately absent: see the comments in the file.
    for directive in ("on-marked-down",):
        assert directive not in active, "%s has %r" % (CONTRIB, directive)


def test_spread_and_failover(cluster):
    redis_server, instances, hap = cluster
    r = redis_server.client()
    users = ["HaUser%03d" % i for i in range(N_CLIENTS)]
    conns = []
    try:
        # 1. Spread: 300 clients through HAProxy.
        t0 = time.monotonic()
        conns = [Conn(u, s, rd) for u, (s, rd) in
                 zip(users, open_ws_many(hap.port, users, timeout=20,
                                         wave=100))]
        t_open = time.monotonic() - t0
        where = wait_for(lambda: placed(instances, users), 10,
                         what="every user served by exactly one instance")
        shares = [sum(1 for u in users if where[channel(u)] == [i])
                  for i in range(N_INSTANCES)]
        # leastconn: about 100 each; a third of that is "non-trivial".
        assert min(shares) >= N_CLIENTS // N_INSTANCES // 3, \
            "uneven spread over the instances: %r" % shares
        counts = publish_round(r, conns, "first")
        assert counts == [1] * N_CLIENTS, "duplicate subscriptions"

        # 2. SIGTERM one instance: its clients get 1001.
        vi = shares.index(max(shares))
        victim = instances[vi]
        moved = [c for c in conns if where[channel(c.user)] == [vi]]
        stayed = [c for c in conns if where[channel(c.user)] != [vi]]
        before = {k: (int(row["wretr"] or 0), int(row["wredis"] or 0))
                  for k, row in hap.stat().items()}
        t_term = time.monotonic()
        victim.signal(signal.SIGTERM)
        evs = next_events(moved, 10, "close frames after SIGTERM")
        t_closed = time.monotonic() - t_term
        codes = collections.Counter(
            close_code(ev[1]) if ev[0] == OP_CLOSE else ev[0]
            for ev in evs.values())
        assert codes == {1001: len(moved)}, \
            "clients of the stopped instance got %r, not 1001" % dict(codes)
        # The PROXY header gave wspubsub each client's own address.
        client_port = {c.user.lower(): c.sock.getsockname()[1]
                       for c in moved}
        for c in moved:                 # complete the closing handshake
            c.send(mask_frame(OP_CLOSE, (1001).to_bytes(2, "big")))
            c.close()
        conns = stayed

        # 3. They reconnect at once through HAProxy, before its health
        # checks need have noticed anything: retries + redispatch.
        again = open_ws_many(hap.port, [c.user for c in moved], timeout=15,
                             wave=100)
        t_reconnected = time.monotonic() - t_term
        conns = stayed + [Conn(c.user, s, rd)
                          for c, (s, rd) in zip(moved, again)]

        # 4. Everyone receives again, the moved ones included.
        counts = publish_round(r, conns, "second")
        t_received = time.monotonic() - t_term

        # Where they landed: never on the stopped instance.
        where2 = wait_for(lambda: placed(instances, users), 10,
                          what="every user served by exactly one instance "
                          "after the failover")
        shares2 = [sum(1 for u in users if where2[channel(u)] == [i])
                   for i in range(N_INSTANCES)]
        assert shares2[vi] == 0, shares2
        assert victim.proc.wait(10) == 0, "stopped instance exit status"
        logged = {u.lower(): int(p) for u, p in re.findall(
            r"close user=(\S+) peer=127\.0\.0\.1:(\d+)", victim.log())}
        assert all(logged.get(u) == p for u, p in client_port.items()), \
            "peer= in the stopped instance's log is not the client's " \
            "address: %r" % {u: (p, logged.get(u))
                             for u, p in client_port.items()
                             if logged.get(u) != p}
        name = "ws%d" % (vi + 1)
        wait_for(lambda: hap.stat()[name]["status"].startswith("DOWN"), 5,
                 what="haproxy to mark %s down: %r" % (name, hap.states()))
        after = hap.stat()
        check = after[name]["check_status"]     # L4CON: port closed
        retries = sum(int(after[k]["wretr"] or 0) - before[k][0]
                      for k in after)
        redisp = sum(int(after[k]["wredis"] or 0) - before[k][1]
                     for k in after)
        # The old subscriptions are gone: exactly one subscriber per user.
        wait_for(lambda: all(n == 1 for _, n in r.pubsub_numsub(
            *[channel(u) for u in users])), 5,
            what="one subscriber per user")
        report("haproxy: %d clients over %d instances in %.2f s, spread %s; "
               "SIGTERM to one (%d clients): all 1001 after %.0f ms, all "
               "reconnected through haproxy after %.0f ms (%d retries, %d "
               "redispatches), all received after %.0f ms "
               "(PUBLISH counts %s); spread then %s; stopped instance "
               "marked DOWN (%s)"
               % (N_CLIENTS, N_INSTANCES, t_open, shares, len(moved),
                  t_closed * 1000, t_reconnected * 1000, retries, redisp,
                  t_received * 1000, dict(collections.Counter(counts)),
                  shares2, check))
    except AssertionError:
        print("haproxy log tail:\n" + hap.log())
        raise
    finally:
        close_all(conns)
