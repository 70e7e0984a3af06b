"""Client messages and connection events to a Redis Stream (upstream_stream;
README, "Upstream").

Python websockets plays the client, raw frames where the wire matters
(fragments, sizes); what arrives is read back through a consumer group
(XREADGROUP, then XACK), byte for byte.  Every wait has a deadline.
"""
import asyncio
import os
import re
import socket
import time

import pytest
import websockets

import harness
from harness import (RedisServer, Wspubsub, client_connect, close_code,
                     frame, raw_request, read_frame, read_head, status_of,
                     wait_for)
from test_ops import metrics, metrics_when

OP_CONT, OP_TEXT, OP_BINARY = 0x0, 0x1, 0x2
OP_CLOSE, OP_PING, OP_PONG = 0x8, 0x9, 0xA

T = 5.0
STREAM = "up:in"
CONN = re.compile(rb"^[A-Za-z0-9._-]+-\d+-[0-9a-f]+$")


def arun(coro, timeout=60):
    return asyncio.run(asyncio.wait_for(coro, timeout))


def read_group(r, n, key=STREAM, group="backend", timeout=T):
    """n entries through a consumer group, acknowledged as read: a list of
    (id, {field: value}) with bytes, in stream order."""
    try:
        r.xgroup_create(key, group, id="0", mkstream=True)
    except Exception as e:  # BUSYGROUP: made by an earlier call
        assert "BUSYGROUP" in str(e), e
    got = []
    end = time.monotonic() + timeout
    while len(got) < n:
        left = end - time.monotonic()
        assert left > 0, "%d of %d entries in %s: %r" % (len(got), n, key,
                                                         got[-3:])
        res = r.xreadgroup(group, "c1", {key: ">"}, count=1000,
                           block=max(1, int(min(left, 0.5) * 1000)))
        for _, entries in res or []:
            for eid, fields in entries:
                got.append((eid, fields))
                r.xack(key, group, eid)
    return got


def read_until(r, pred, key=STREAM, group="backend", timeout=T):
    """Entries through the consumer group until pred(entries so far)."""
    try:
        r.xgroup_create(key, group, id="0", mkstream=True)
    except Exception as e:
        assert "BUSYGROUP" in str(e), e
    got = []

    def more():
        res = r.xreadgroup(group, "c1", {key: ">"}, count=1000, block=100)
        for _, entries in res or []:
            for eid, fields in entries:
                got.append((eid, fields))
                r.xack(key, group, eid)
        return pred(got)
    wait_for(more, timeout, interval=0, what="entries in %s (have %r)"
             % (key, got[-3:]))
    return got


def disconnected(*users):
    """pred for read_until: the disconnect events of users are in."""
    return lambda got: {f[b"user"] for _, f in got
                        if f.get(b"event") == b"disconnect"} >= \
        {u.encode() for u in users}


def assert_no_more(r, key=STREAM, group="backend"):
    """Nothing beyond what was read (checked once the sender is gone)."""
    res = r.xreadgroup(group, "c1", {key: ">"}, count=10, block=None)
    assert not res or not res[0][1], res


def raw_open(w, user):
    s = client_connect(("127.0.0.1", w.port), T)
    s.sendall(raw_request("/?user=%s" % user))
    head, rest = read_head(s)
    assert status_of(head) == 101, head
    return s, rest


def raw_close(s, rest=b"", code=1000):
    s.sendall(frame(OP_CLOSE, code.to_bytes(2, "big")))
    while True:
        fin, op, payload, rest = read_frame(s, rest)
        if op == OP_CLOSE:
            return close_code(payload), payload[2:], rest


def wait_subscribed(r, user, n=1):
    wait_for(lambda: r.pubsub_numsub(user)[0][1] == n,
             T, what="%s subscribed" % user)


@pytest.fixture
def up_server(make_server):
    def make(**conf):
        conf.setdefault("upstream_stream", STREAM)
        return make_server(**conf)
    return make


# ---------------------------------------------------------------- contract

def test_text_binary_exact_with_user_and_conn(up_server, redis_server):
    w = up_server()
    r = redis_server.client()
    msgs = ["hello", "h\u00e9llo w\u00f6rld \u2603", "", "x" * 5000]
    bins = [bytes(range(256)), b"\x00\r\n\xff", os.urandom(3000)]

    async def go():
        async with websockets.connect(w.url + "/?user=alice") as a, \
                websockets.connect(w.url + "/?user=bob") as b:
            for m in msgs:
                await a.send(m)
            for m in bins:
                await b.send(m)
            await a.send("ping")            # answered, not forwarded
            assert await asyncio.wait_for(a.recv(), T) == "pong"
    arun(go())
    got = read_group(r, len(msgs) + len(bins))
    alice = [f for _, f in got if f[b"user"] == b"alice"]
    bob = [f for _, f in got if f[b"user"] == b"bob"]
    assert [f[b"data"] for f in alice] == [m.encode() for m in msgs]
    assert all(f[b"type"] == b"text" for f in alice)
    assert [f[b"data"] for f in bob] == bins
    assert all(f[b"type"] == b"binary" for f in bob)
    conns = {f[b"conn"] for f in alice} | {f[b"conn"] for f in bob}
    assert len(conns) == 2 and all(CONN.match(c) for c in conns), conns
    assert sorted(got[0][1].keys()) == [b"conn", b"data", b"type", b"user"]
    assert socket.gethostname().encode() in got[0][1][b"conn"]
    # The answer goes back the usual way, through the user's channel.
    assert_no_more(r)
    m = metrics_when(w.port, lambda m: m["wspubsub_upstream_messages_total"]
                     == len(got), "upstream metrics")
    assert m["wspubsub_upstream_bytes_total"] == \
        sum(len(x.encode()) for x in msgs) + sum(len(x) for x in bins)


def test_identify_and_ping_are_not_forwarded(up_server, redis_server):
    w = up_server()
    r = redis_server.client()

    async def go():
        async with websockets.connect(w.url + "/") as ws:
            await ws.send('{"user_name": "carol"}')
            await ws.send("ping")
            assert await asyncio.wait_for(ws.recv(), T) == "pong"
            await ws.send("after identify")
    arun(go())
    got = read_group(r, 1)
    assert got[0][1][b"user"] == b"carol"
    assert got[0][1][b"data"] == b"after identify"
    assert_no_more(r)


def test_off_by_default(make_server, redis_server):
    w = make_server()
    r = redis_server.client()

    async def go():
        async with websockets.connect(w.url + "/?user=dave") as ws:
            await ws.send("dropped as before")
            await ws.send("ping")
            assert await asyncio.wait_for(ws.recv(), T) == "pong"
    arun(go())
    assert r.keys("*") == []


def test_fragmented_message_is_one_entry(up_server, redis_server):
    w = up_server()
    r = redis_server.client()
    s, rest = raw_open(w, "erin")
    parts = [b"frag", "m\u00e9nt".encode(), b"ed"]
    s.sendall(frame(OP_TEXT, parts[0], fin=False))
    s.sendall(frame(OP_PING, b"in between"))
    s.sendall(frame(OP_CONT, parts[1], fin=False))
    s.sendall(frame(OP_CONT, parts[2], fin=True))
    s.sendall(frame(OP_BINARY, b"\x01", fin=False) +
              frame(OP_CONT, b"\x02\x03", fin=True))
    fin, op, payload, rest = read_frame(s, rest)
    assert (op, payload) == (OP_PONG, b"in between")
    assert raw_close(s, rest)[0] == 1000
    s.close()
    got = read_group(r, 2)
    assert got[0][1][b"data"] == b"".join(parts)
    assert got[0][1][b"type"] == b"text"
    assert got[1][1][b"data"] == b"\x01\x02\x03"
    assert got[1][1][b"type"] == b"binary"


def test_max_message_size_and_1009(up_server, redis_server):
    w = up_server(max_message_size="64k")
    r = redis_server.client()
    big = os.urandom(65536)

    async def go():
        async with websockets.connect(w.url + "/?user=fay",
                                      max_size=None) as ws:
            await ws.send(big)
            await ws.send(b"y" * 65537)
            with pytest.raises(websockets.ConnectionClosed):
                await asyncio.wait_for(ws.recv(), T)
            assert ws.close_rcvd.code == 1009
    arun(go())
    got = read_group(r, 1)
    assert got[0][1][b"data"] == big
    assert_no_more(r)


def test_close_waits_for_the_stream(up_server, redis_server):
    """A clean close is echoed only once everything sent is appended."""
    w = up_server(upstream_rate=0)
    r = redis_server.client()
    s, rest = raw_open(w, "gus")
    n = 500
    s.sendall(b"".join(frame(OP_TEXT, b"m%d" % i) for i in range(n)))
    code, _, _ = raw_close(s, rest)
    assert code == 1000
    # Already all there when the close came back: no waiting here.
    assert r.xlen(STREAM) == n
    s.close()
    got = read_group(r, n)
    assert [f[b"data"] for _, f in got] == [b"m%d" % i for i in range(n)]


# ---------------------------------------------------------------- rate limit

def test_rate_limit_closes_1008_and_spares_others(up_server, redis_server):
    """loud sends 30 at once at 5 a second: the first 5 (and what the
    bucket refilled meanwhile) go to the stream, in order, then 1008."""
    w = up_server(upstream_rate=5, upstream_events="yes")
    r = redis_server.client()

    async def go():
        async with websockets.connect(w.url + "/?user=quiet") as q, \
                websockets.connect(w.url + "/?user=loud") as loud:
            for i in range(30):
                await loud.send("loud %d" % i)
            with pytest.raises(websockets.ConnectionClosed):
                await asyncio.wait_for(loud.recv(), T)
            assert loud.close_rcvd.code == 1008
            assert loud.close_rcvd.reason == "rate limit"
            # The other connection on the same instance goes on.
            for i in range(5):
                await q.send("quiet %d" % i)
            await asyncio.get_running_loop().run_in_executor(
                None, wait_subscribed, r, "quiet")
            r.publish("quiet", "still here")
            assert await asyncio.wait_for(q.recv(), T) == "still here"
    arun(go())
    got = read_until(r, disconnected("loud", "quiet"))
    data = {u: [f[b"data"] for _, f in got if f[b"user"] == u and
                b"data" in f] for u in (b"loud", b"quiet")}
    assert data[b"quiet"] == [b"quiet %d" % i for i in range(5)]
    k = len(data[b"loud"])
    assert 5 <= k < 30 and data[b"loud"] == [b"loud %d" % i
                                              for i in range(k)]
    metrics_when(w.port, lambda m:
                 m["wspubsub_upstream_rate_limited_total"] == 1,
                 "one rate-limit close")


def test_rate_refills(up_server, redis_server):
    w = up_server(upstream_rate=20)
    r = redis_server.client()

    async def go():
        async with websockets.connect(w.url + "/?user=steady") as ws:
            for i in range(40):         # 20 at once, then 20 a second
                await ws.send("s%d" % i)
                if i >= 19:
                    await asyncio.sleep(0.06)
            await ws.send("ping")
            assert await asyncio.wait_for(ws.recv(), T) == "pong"
    arun(go())
    assert len(read_group(r, 40)) == 40


# ---------------------------------------------------------------- events

def test_events_for_100_clients_over_3_instances(up_server, redis_server):
    ws_ = [up_server(upstream_events="yes", spare_children=4)
           for _ in range(3)]
    r = redis_server.client()
    n = 100

    async def one(i):
        w = ws_[i % 3]
        ws = await websockets.connect(w.url + "/?user=u%d" % i)
        await ws.send("hi %d" % i)
        await ws.send("ping")
        assert await asyncio.wait_for(ws.recv(), 20) == "pong"
        await ws.close(code=1000 if i % 2 == 0 else 4000 + i)

    async def go():
        # Ten at a time: the instances fork as clients come.
        for k in range(0, n, 10):
            await asyncio.gather(*(one(i) for i in range(k, k + 10)))
    arun(go(), timeout=120)
    got = read_group(r, 3 * n, timeout=20)
    by_conn = {}
    for _, f in got:
        by_conn.setdefault(f[b"conn"], []).append(f)
    assert len(by_conn) == n
    for conn, fs in by_conn.items():
        user = fs[0][b"user"]
        i = int(user[1:])
        assert all(f[b"user"] == user for f in fs)
        assert [f.get(b"event", b"message") for f in fs] == \
            [b"connect", b"message", b"disconnect"], fs
        assert fs[1][b"data"] == b"hi %d" % i
        assert fs[2][b"code"] == str(1000 if i % 2 == 0 else 4000 + i).encode()
        assert b"code" not in fs[0] and b"data" not in fs[0]
    assert_no_more(r)


def test_disconnect_event_codes(up_server, redis_server):
    w = up_server(upstream_events="yes", upstream_rate=2)
    r = redis_server.client()
    # A close without a code, a vanished client, a rate-limit close.
    s, rest = raw_open(w, "e1")
    s.sendall(frame(OP_CLOSE, b""))
    read_frame(s, rest)
    s.close()
    s, rest = raw_open(w, "e2")
    wait_subscribed(r, "e2")
    s.close()
    s, rest = raw_open(w, "e3")
    s.sendall(b"".join(frame(OP_TEXT, b"x") for _ in range(20)))
    fin, op, payload, rest = read_frame(s, rest)
    assert op == OP_CLOSE and close_code(payload) == 1008
    s.close()
    got = read_until(r, disconnected("e1", "e2", "e3"))
    codes = {f[b"user"]: f[b"code"] for _, f in got
             if f.get(b"event") == b"disconnect"}
    assert codes == {b"e1": b"1005", b"e2": b"1006", b"e3": b"1008"}


# ---------------------------------------------------------------- failures

def test_xadd_refused_closes_1011(up_server, redis_server):
    w = up_server()
    r = redis_server.client()
    r.set(STREAM, "not a stream")

    async def go():
        async with websockets.connect(w.url + "/?user=hal") as ws:
            await ws.send("lost?")
            with pytest.raises(websockets.ConnectionClosed):
                await asyncio.wait_for(ws.recv(), T)
            assert ws.close_rcvd.code == 1011
    arun(go())
    wait_for(lambda: "WRONGTYPE" in w.log(), T, what="the reason logged")
    metrics_when(w.port, lambda m: m["wspubsub_upstream_failures_total"]
                 == 1, "one upstream failure")


def test_redis_gone_past_retry_timeout_closes_1011(up_server, redis_server):
    w = up_server(redis_retry_timeout="1s")
    r = redis_server.client()

    async def go():
        async with websockets.connect(w.url + "/?user=ian") as ws:
            await ws.send("first")
            await asyncio.get_running_loop().run_in_executor(
                None, lambda: read_group(r, 1))
            redis_server.stop()
            t0 = time.monotonic()
            try:
                await ws.send("second")
            except websockets.ConnectionClosed:
                pass
            with pytest.raises(websockets.ConnectionClosed):
                while True:
                    await asyncio.wait_for(ws.recv(), T)
            assert ws.close_rcvd.code == 1011
            assert time.monotonic() - t0 < 4
    arun(go())


def test_redis_restart_with_aof_loses_nothing(tmpdir_):
    red = RedisServer(tmpdir_, "--appendonly", "yes",
                      "--appendfsync", "always").start()
    w = Wspubsub(tmpdir_, red.port, upstream_stream=STREAM, upstream_rate=0,
                 redis_retry_timeout="8s").start()
    try:
        r = red.client()
        n = 400
        s, rest = raw_open(w, "jo")
        down, up = n // 2, n // 2 + 50
        for i in range(n):
            if i == down:
                red.stop()          # SIGTERM: AOF is fsynced per write
            if i == up:             # 50 sent while Redis was away
                red.start()
                r = red.client()
            s.sendall(frame(OP_TEXT, b"n%d" % i))
            if i % 50 == 0:
                time.sleep(0.01)
        code, _, _ = raw_close(s, rest)
        s.close()
        assert code == 1000     # so every message was appended
        got = read_group(r, n, timeout=10)
        data = [f[b"data"] for _, f in got]
        # At least once: an XADD answered after Redis wrote it but lost
        # on the way back is sent again; order of first sight is kept.
        first = list(dict.fromkeys(data))
        assert first == [b"n%d" % i for i in range(n)]
        assert re.search(r"upstream \S+: connected again, \d+ entries",
                         w.log()), w.log()[-2000:]
    finally:
        w.stop()
        red.stop()


def tcp_queues(local_port, remote_port):
    """(tx_queue, rx_queue) of the IPv4 socket local_port -> remote_port,
    from /proc/net/tcp: bytes not yet acknowledged by the peer, and bytes
    received but not yet read by the process."""
    want = ("0100007F:%04X" % local_port, "0100007F:%04X" % remote_port)
    with open("/proc/net/tcp") as f:
        for line in f.readlines()[1:]:
            fields = line.split()
            if (fields[1], fields[2]) == want:
                tx, rx = fields[4].split(":")
                return int(tx, 16), int(rx, 16)
    raise AssertionError("no socket %r" % (want,))


def test_back_pressure_stops_reading_the_client(up_server, redis_server):
    """Redis stalls (CLIENT PAUSE WRITE): the child reads at most its
    window from the client; the rest stays in the kernel's buffers."""
    w = up_server(upstream_rate=0, max_message_size="64k")
    r = redis_server.client()
    s, rest = raw_open(w, "kim")
    wait_subscribed(r, "kim")
    r.execute_command("CLIENT", "PAUSE", "10000", "WRITE")
    n = 200
    data = b"".join(frame(OP_BINARY, b"z" * 16384) for _ in range(n))
    s.settimeout(10)
    s.sendall(data)             # 3.2 MB: the socket buffers take it all
    me = s.getsockname()[1]

    def unread():
        tx, _ = tcp_queues(me, w.port)
        _, rx = tcp_queues(w.port, me)
        return tx + rx
    # The child asleep in poll(2) while bytes wait in its socket: it is
    # not reading them (a child that read on would be woken at once).
    pid = harness.child_of_user(w, "kim")
    assert pid is not None

    def asleep_on_unread():
        with open("/proc/%d/wchan" % pid) as f:
            wchan = f.read()
        return "poll" in wchan and tcp_queues(w.port, me)[1] > 0
    wait_for(asleep_on_unread, T, what="the child waiting on Redis")
    assert not r.exists(STREAM) or r.xlen(STREAM) == 0
    # The window is 256 KiB plus one message, a read 16 KiB.
    taken = len(data) - unread()
    assert taken < 1024 * 1024, "the child read %d bytes" % taken
    r.execute_command("CLIENT", "UNPAUSE")
    code, _, _ = raw_close(s, rest)
    assert code == 1000
    s.close()
    assert r.xlen(STREAM) == n


def redis_conns_of(pid, port):
    """How many TCP connections process pid has to 127.0.0.1:port."""
    inodes = set()
    for fd in os.listdir("/proc/%d/fd" % pid):
        try:
            link = os.readlink("/proc/%d/fd/%s" % (pid, fd))
        except OSError:
            continue
        if link.startswith("socket:["):
            inodes.add(link[8:-1])
    want = "0100007F:%04X" % port
    n = 0
    with open("/proc/net/tcp") as f:
        for line in f.readlines()[1:]:
            fields = line.split()
            if fields[2] == want and fields[3] == "01" and \
                    fields[9] in inodes:
                n += 1
    return n


def test_writer_connection_is_lazy_and_idles_out(up_server, redis_server):
    """A child that only listens has one Redis connection; the first
    message opens a second, which goes after 10 s without one."""
    w = up_server(spare_children=1)
    r = redis_server.client()

    async def go():
        loop = asyncio.get_running_loop()
        async with websockets.connect(w.url + "/?user=lee") as ws:
            await loop.run_in_executor(None, wait_subscribed, r, "lee")
            pid = harness.child_of_user(w, "lee")
            assert pid is not None
            assert redis_conns_of(pid, redis_server.port) == 1
            await ws.send("one")
            await loop.run_in_executor(None, lambda: read_group(r, 1))
            assert redis_conns_of(pid, redis_server.port) == 2
            t0 = time.monotonic()
            await loop.run_in_executor(None, lambda: wait_for(
                lambda: redis_conns_of(pid, redis_server.port) == 1,
                15, what="the idle writer closed"))
            assert time.monotonic() - t0 > 5     # idle for 10 s, not at once
            await ws.send("two")
            got = await loop.run_in_executor(None, lambda: read_group(r, 1))
            assert got[0][1][b"data"] == b"two"
            assert redis_conns_of(pid, redis_server.port) == 2
    arun(go())


# ---------------------------------------------------------------- config

def test_conf_host_name_expanded_once(tmpdir_):
    path = os.path.join(tmpdir_, "u.conf")
    with open(path, "w") as f:
        f.write("upstream_stream in:{%h}:100%%\nupstream_events yes\n"
                "upstream_rate 0\nupstream_maxlen 500\n")
    out = harness_cli("-T", "-f", path)
    host = socket.gethostname()
    assert "upstream_stream in:{" + host.replace("%", "%%") + "}:100%%\n" \
        in out
    assert "upstream_events yes\n" in out
    assert "upstream_rate 0\n" in out
    assert "upstream_maxlen 500\n" in out
    with open(path, "w") as f:
        f.write("upstream_stream in:%x\n")
    rc, text = harness_cli_rc("-t", "-f", path)
    assert rc == 1 and "%h" in text


def harness_cli_rc(*args):
    import subprocess
    p = subprocess.run([harness.BINARY] + list(args), capture_output=True,
                       text=True, timeout=10)
    return p.returncode, p.stdout + p.stderr


def harness_cli(*args):
    rc, out = harness_cli_rc(*args)
    assert rc == 0, out
    return out


# ---------------------------------------------------------------- backend

BACKEND = os.path.join(harness.ROOT, "contrib", "upstream", "backend.py")


def test_readme_backend_answers_and_acknowledges(up_server, redis_server):
    """contrib/upstream/backend.py, which the README shows whole: it reads
    through its consumer group, answers on the sender's channel, XACKs."""
    import subprocess
    import sys
    with open(BACKEND) as f:
        code = f.read()
    with open(os.path.join(harness.ROOT, "README.md")) as f:
        assert "```python\n" + code + "```\n" in f.read()
    w = up_server(upstream_stream="ws:in", channel_prefix="ws:",
                  upstream_events="yes")
    r = redis_server.client()
    env = dict(os.environ, REDIS_PORT=str(redis_server.port))
    backend = subprocess.Popen([sys.executable, BACKEND], env=env,
                               stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE)
    try:
        wait_for(lambda: r.exists("ws:in") and
                 r.xinfo_groups("ws:in"), T, what="the backend's group")

        async def go():
            async with websockets.connect(w.url + "/?user=Mia") as ws:
                await ws.send("hello")
                assert await asyncio.wait_for(ws.recv(), T) == "got: hello"
                await ws.send(b"\x00\xff")
                assert await asyncio.wait_for(ws.recv(), T) == \
                    b"got: \x00\xff"
        arun(go())
        wait_for(lambda: r.xpending("ws:in", "backend")["pending"] == 0 and
                 r.xinfo_groups("ws:in")[0]["entries-read"] == 4, T,
                 what="everything read and acknowledged")
        assert backend.poll() is None, backend.stderr.read()
    finally:
        backend.terminate()
        backend.wait(5)


# ---------------------------------------------------------------- Node ws

NODE_SCRIPT = os.path.join(harness.ROOT, "tests", "integration", "js",
                           "upstream_ws.mjs")
NODE_WS = os.path.join(harness.ROOT, "tests", "integration", "js",
                       "node_modules", "ws")


def node_ws(url, scenario, size):
    import json
    import shutil
    import subprocess
    exe = shutil.which("node")
    if exe is None or not os.path.isdir(NODE_WS):
        if os.environ.get("CI"):
            pytest.fail("node and the npm ws package (contrib/deps.sh) "
                        "are needed")
        pytest.skip("node or the npm ws package not installed "
                    "(npm ci in tests/integration/js)")
    p = subprocess.run([exe, NODE_SCRIPT, url, scenario, str(size)],
                       capture_output=True, text=True, timeout=30)
    events = [json.loads(line) for line in p.stdout.splitlines()]
    assert p.returncode == 0, (p.stderr, events)
    return events


@pytest.mark.skipif(harness.TLS, reason="the Node client trusts no test CA")
def test_node_ws_client(up_server, redis_server):
    w = up_server(max_message_size="64k")
    r = redis_server.client()
    events = node_ws(w.url + "/?user=nodeuser", "send", 65536)
    assert {"close": 1000, "reason": ""} in events, events
    got = read_group(r, 4)
    assert {f[b"user"] for _, f in got} == {b"nodeuser"}
    assert len({f[b"conn"] for _, f in got}) == 1
    assert [(f[b"type"], f[b"data"]) for _, f in got] == [
        (b"text", "node text \u00e9\u2603".encode()),
        (b"binary", bytes([0, 1, 2, 253, 254, 255])),
        (b"text", b"frag-ment-ed"),
        (b"binary", b"a" * 65536)]
    assert_no_more(r)
    events = node_ws(w.url + "/?user=nodeuser", "toobig", 65537)
    assert any(e.get("close") == 1009 for e in events), events
    assert_no_more(r)


def test_connect_event_comes_before_messages_sent_while_subscribing(
        tmpdir_):
    """Redis goes away after the 101 and before the identify message: the
    child retries the SUBSCRIBE and holds the client's messages meanwhile,
    so the connect entry still comes first."""
    red = RedisServer(tmpdir_).start()
    w = Wspubsub(tmpdir_, red.port, upstream_stream=STREAM,
                 upstream_events="yes", redis_retry_timeout="10s").start()
    try:
        s = client_connect(("127.0.0.1", w.port), T)
        s.sendall(raw_request("/"))
        head, rest = read_head(s)
        assert status_of(head) == 101, head
        red.stop()
        s.sendall(frame(OP_TEXT, b'{"user_name": "nora"}') +
                  b"".join(frame(OP_TEXT, b"early %d" % i)
                           for i in range(5)))
        wait_for(lambda: "nora" in w.log(), T, what="the identify read")
        red.start()
        r = red.client()
        got = read_until(r, lambda g: len(g) >= 6, timeout=15)
        assert [f.get(b"event", f.get(b"data")) for _, f in got] == \
            [b"connect"] + [b"early %d" % i for i in range(5)]
        assert raw_close(s, rest)[0] == 1000
        s.close()
    finally:
        w.stop()
        red.stop()
