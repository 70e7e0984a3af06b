"""Message history and recovery: the Redis Functions library
(contrib/redis/wspubsub.lua) on a real redis-server, then wspubsub's
subprotocol wspubsub.v1 with ids, `since` and replay, against the real
binary.  Loopback only; every wait is bounded.
"""
import asyncio
import binascii
import json
import os
import re
import signal
import threading
import time

import pytest
import websockets

from harness import RedisServer, Wspubsub, assert_clean_log, wait_for
from test_ops import metrics as scrape_metrics

LIBRARY = os.path.join(os.path.dirname(__file__), "..", "..", "contrib",
                       "redis", "wspubsub.lua")
ID = re.compile(rb"^[0-9]+-[0-9]+$")


def library_version():
    with open(LIBRARY) as f:
        m = re.search(r"(?m)^local VERSION = (\d+)$", f.read())
    return int(m.group(1))


def keyslot(name):
    """Redis Cluster's hash slot of a key or channel name."""
    b = name.encode()
    i = b.find(b"{")
    if i != -1:
        j = b.find(b"}", i + 1)
        if j > i + 1:
            b = b[i + 1:j]
    return binascii.crc_hqx(b, 0) % 16384


def load_library(r):
    with open(LIBRARY, "rb") as f:
        r.function_load(f.read(), replace=True)


def publish(r, channel, payload, *args):
    return r.fcall("wspubsub_publish", 1, channel, payload, *args)


def since(r, channel, from_id, max_count=1000):
    out = r.fcall_ro("wspubsub_since", 1, channel, from_id, max_count)
    pairs = list(zip(out[2::2], out[3::2]))
    return out[0], out[1], pairs


# --- the library alone -------------------------------------------------------

def test_publish_returns_increasing_ids_and_keeps_history(redis_server):
    r = redis_server.client()
    load_library(r)
    ids = [publish(r, "alice", b"m%d" % i) for i in range(5)]
    for i in ids:
        assert ID.match(i) and len(i) <= 64, i
    epochs = {i.split(b"-")[0] for i in ids}
    assert len(epochs) == 1
    assert [int(i.split(b"-")[1]) for i in ids] == [0, 1, 2, 3, 4]
    assert r.type("{alice}#history") == b"stream"
    assert 295 <= r.ttl("{alice}#history") <= 300
    status, newest, pairs = since(r, "alice", ids[1])
    assert (status, newest) == (b"recovered", ids[4])
    assert pairs == [(ids[2], b"m2"), (ids[3], b"m3"), (ids[4], b"m4")]
    assert since(r, "alice", ids[4]) == (b"recovered", ids[4], [])
    assert since(r, "alice", "") == (b"none", ids[4], [])


def test_publish_reaches_subscribers_of_the_history_channel(redis_server):
    r = redis_server.client()
    load_library(r)
    p = r.pubsub()
    p.subscribe("{bob}#history", "bob")
    assert p.get_message(timeout=2)["type"] == "subscribe"
    assert p.get_message(timeout=2)["type"] == "subscribe"
    i = publish(r, "bob", b"\x00binary\nbytes")
    m = p.get_message(timeout=2)
    assert m["channel"] == b"{bob}#history"
    assert m["data"] == i + b"\n\x00binary\nbytes"
    # Nothing on the user's own channel: that one is for plain PUBLISH.
    assert p.get_message(timeout=0.2) is None
    p.close()


def test_history_size_and_ttl(redis_server):
    r = redis_server.client()
    load_library(r)
    ids = [publish(r, "carol", b"%d" % i, 3, 60) for i in range(6)]
    assert r.xlen("{carol}#history") == 3
    assert 55 <= r.ttl("{carol}#history") <= 60
    # ids[2] was trimmed, but ids[3] (the one after it) is held.
    status, _, pairs = since(r, "carol", ids[2])
    assert status == b"recovered"
    assert [p[0] for p in pairs] == ids[3:]
    # ids[1]: ids[2] is gone, so something is missing.
    status, _, pairs = since(r, "carol", ids[1])
    assert status == b"gap"
    assert [p[0] for p in pairs] == ids[3:]
    for bad in (0, -1, "x", "1.5", 1000001):
        with pytest.raises(Exception, match="history_size"):
            publish(r, "carol", b"x", bad)
    with pytest.raises(Exception, match="history_ttl"):
        publish(r, "carol", b"x", 5, 0)


def test_gap_when_history_was_lost_or_never_issued(redis_server):
    r = redis_server.client()
    load_library(r)
    ids = [publish(r, "dave", b"%d" % i) for i in range(3)]
    # An id from the future of this history, and one of another epoch.
    epoch, n = ids[-1].split(b"-")
    assert since(r, "dave", b"%s-%d" % (epoch, int(n) + 5))[0] == b"gap"
    assert since(r, "dave", b"1-0")[0] == b"gap"
    # Expired (or FLUSHALL, or a restart without persistence): gap.
    r.delete("{dave}#history")
    assert since(r, "dave", ids[-1]) == (b"gap", b"", [])
    # A new history after that: a new epoch, all of it sent, still a gap.
    time.sleep(0.002)   # a new epoch is a new millisecond
    j = publish(r, "dave", b"new")
    assert j.split(b"-")[0] != epoch
    assert since(r, "dave", ids[-1]) == (b"gap", j, [(j, b"new")])
    r.flushall()
    load_library(r)
    assert since(r, "dave", j) == (b"gap", b"", [])


def test_new_epoch_after_a_failover(redis_server):
    # Another server writing (a promoted replica; here: a new load of the
    # library, which starts a new Lua state as a restart or a failover
    # does) starts a new epoch, so no id is given out twice, and a resume
    # from an id of the old epoch that is still held is complete.
    r = redis_server.client()
    load_library(r)
    a, b = publish(r, "kim", b"a"), publish(r, "kim", b"b")
    load_library(r)
    c = publish(r, "kim", b"c")
    assert id_key(c) > id_key(b) and c.split(b"-")[0] != b.split(b"-")[0]
    assert c.split(b"-")[1] == b"0"
    assert since(r, "kim", b) == (b"recovered", c, [(c, b"c")])
    assert since(r, "kim", a) == (b"recovered", c, [(b, b"b"), (c, b"c")])
    d = publish(r, "kim", b"d")
    assert d.split(b"-")[0] == c.split(b"-")[0]


def test_more_than_max_is_a_gap_with_the_newest(redis_server):
    r = redis_server.client()
    load_library(r)
    ids = [publish(r, "erin", b"%d" % i) for i in range(10)]
    status, _, pairs = since(r, "erin", ids[0], 4)
    assert status == b"gap"
    assert [p[0] for p in pairs] == ids[6:]


def test_history_lies_in_the_channel_slot(redis_server):
    r = redis_server.client()
    load_library(r)
    publish(r, "{app}:frank", b"x")
    publish(r, "a{b", b"x")
    assert r.exists("{app}:frank#history", "{a{b}#history") == 2
    for ch, key in (("alice", "{alice}#history"),
                    ("{app}:frank", "{app}:frank#history"),
                    ("a{b", "{a{b}#history")):
        assert keyslot(ch) == keyslot(key), (ch, key)
    with pytest.raises(Exception, match="hash tag"):
        publish(r, "a}b", b"x")


def test_history_written_by_another_server(redis_server):
    # What a promoted replica finds: entries its old master wrote (another
    # server's mark at the end of the epoch), maybe not the last ones.  It
    # must not issue their ids again: a new, later epoch.
    r = redis_server.client()
    load_library(r)
    # The old master's epoch: its clock ahead, its mark not ours.
    ms = int(time.time() * 1000) + 60000
    mark = "000001" if publish(r, "probe", b"x").split(b"-")[0][-6:] != \
        b"000001" else "000002"
    old = [b"%d%s-%d" % (ms, mark.encode(), n) for n in range(2)]
    for n, i in enumerate(old):
        r.xadd("{gail}#history", {"d": "m%d" % n}, id=i)
    # The client had seen old[1] and a lost one after it.
    lost = b"%d%s-2" % (ms, mark.encode())
    new = [publish(r, "gail", b"n%d" % k) for k in range(3)]
    assert [int(i.split(b"-")[1]) for i in new] == [0, 1, 2]
    assert id_key(new[0]) > id_key(lost)
    assert since(r, "gail", old[1]) == (b"recovered", new[2], [
        (new[0], b"n0"), (new[1], b"n1"), (new[2], b"n2")])
    assert since(r, "gail", old[0])[:2] == (b"recovered", new[2])
    assert since(r, "gail", lost) == (b"gap", new[2], [
        (new[0], b"n0"), (new[1], b"n1"), (new[2], b"n2")])
    assert since(r, "gail", new[1]) == (b"recovered", new[2],
                                        [(new[2], b"n2")])
    # The same server goes on in the same epoch.
    assert publish(r, "gail", b"n3").split(b"-")[0] == \
        new[0].split(b"-")[0]


# --- wspubsub with history ---------------------------------------------------

T = 5.0                 # bound on every single wait
V1 = "wspubsub.v1"


def arun(coro, timeout=60):
    return asyncio.run(asyncio.wait_for(coro, timeout))


def connect(server, path, v1=True, **kw):
    kw.setdefault("open_timeout", T)
    kw.setdefault("close_timeout", T)
    if v1:
        kw["subprotocols"] = [V1]
    return websockets.connect(server.url + path, **kw)


async def recv(ws, timeout=T):
    return await asyncio.wait_for(ws.recv(), timeout)


def parse(msg):
    """A wspubsub.v1 message: (headers dict, payload bytes)."""
    if isinstance(msg, str):
        msg = msg.encode()
    head, sep, payload = msg.partition(b"\n\n") if not msg.startswith(
        b"\n") else (b"", b"\n", msg[1:])
    assert sep, msg
    headers = dict(line.split(b": ", 1) for line in head.split(b"\n")
                   if line)
    return headers, payload


def wait_library(r):
    wait_for(lambda: any(dict(zip(lib[::2], lib[1::2])).get(
        b"library_name") == b"wspubsub" for lib in r.function_list()),
             T, what="the library loaded by wspubsub")


def numsub(r, channel):
    return r.pubsub_numsub(channel)[0][1]


def test_library_loaded_at_start(server, redis_server):
    r = redis_server.client()
    wait_library(r)
    wait_for(lambda: "loaded the wspubsub library (version %d)" %
             library_version() in
             server.log(), T, what="the log line")


def test_library_loaded_again_on_sighup(server, redis_server):
    r = redis_server.client()
    wait_library(r)
    r.function_delete("wspubsub")
    server.signal(signal.SIGHUP)
    wait_library(r)
    # An older version is replaced; the same or a newer one is kept.
    with open(LIBRARY) as f:
        older = f.read().replace("local VERSION = ", "local VERSION = 0 * ")
    r.function_load(older, replace=True)
    assert r.fcall_ro("wspubsub_version", 0) == 0
    server.signal(signal.SIGHUP)
    wait_for(lambda: r.fcall_ro("wspubsub_version", 0) >= 1, T,
             what="the library replaced")
    wait_for(lambda: server.log().count("loaded the wspubsub library") == 3,
             T, what="three loads in the log")
    # The same version again: kept, and the log says so.
    server.signal(signal.SIGHUP)
    wait_for(lambda: "has the wspubsub library (version %d or later)"
             % library_version() in
             server.log(), T, what="the log")


def test_subprotocol_ids_and_plain_payloads(server, redis_server):
    r = redis_server.client()
    wait_library(r)
    # Plain PUBLISH payloads that look like headers, ids, or the very
    # bytes the library sends on its own channel.
    tricky = [b"id: 1\n\nx", b"\n", b"", b"event: gap\n\n",
              b"1796545306176-0\nhello", b"\xff\x00binary"]

    async def go():
        async with connect(server, "/?user=Alice") as v1, \
                connect(server, "/?user=alice", v1=False) as plain:
            assert v1.subprotocol == V1
            assert plain.subprotocol is None
            wait_for(lambda: numsub(r, "alice") == 2, T, what="NUMSUB 2")
            assert numsub(r, "{alice}#history") == 2
            i = publish(r, "alice", "héllo")
            for p in tricky:
                assert r.publish("alice", p) == 2
            j = publish(r, "alice", b"\xfe\xffbin")
            m = await recv(v1)
            assert isinstance(m, str)
            assert parse(m) == ({b"id": i}, "héllo".encode())
            assert await recv(plain) == "héllo"
            for p in tricky:
                m = await recv(v1)
                want = b"\n" + p
                assert (m if isinstance(m, bytes) else m.encode()) == want
                m = await recv(plain)
                assert (m if isinstance(m, bytes) else m.encode()) == p
            m = await recv(v1)
            assert isinstance(m, bytes)
            assert parse(m) == ({b"id": j}, b"\xfe\xffbin")
            assert await recv(plain) == b"\xfe\xffbin"
    arun(go())
    # Someone's PUBLISH on the history channel has no id: not delivered.
    assert "dropped a message without an id" not in server.log()


def test_recover_after_reconnect(server, redis_server):
    r = redis_server.client()
    wait_library(r)

    async def go():
        async with connect(server, "/?user=bob") as ws:
            wait_for(lambda: numsub(r, "bob") == 1, T, what="bob")
            first = publish(r, "bob", "one")
            assert parse(await recv(ws))[0][b"id"] == first
        missed = [publish(r, "bob", "m%d" % k) for k in range(3)]
        async with connect(server, "/?user=bob&since=" +
                           first.decode()) as ws:
            assert await recv(ws) == "event: recovered\n\n"
            for k, i in enumerate(missed):
                assert parse(await recv(ws)) == ({b"id": i},
                                                 b"m%d" % k)
            live = publish(r, "bob", "live")
            assert parse(await recv(ws)) == ({b"id": live}, b"live")
        # Nothing missed: recovered, and nothing replayed.
        async with connect(server, "/?user=bob&since=" +
                           live.decode()) as ws:
            assert await recv(ws) == "event: recovered\n\n"
            again = publish(r, "bob", "again")
            assert parse(await recv(ws)) == ({b"id": again}, b"again")
    arun(go())
    m = metrics(server)
    assert m["wspubsub_history_recoveries_total"] == 2
    assert m["wspubsub_history_replayed_total"] == 3
    assert m["wspubsub_history_gaps_total"] == 0


def test_recover_with_a_token(make_server, redis_server):
    # With JWT authentication the token names the user; since works the
    # same way.
    import base64
    import hashlib
    import hmac

    def b64u(b):
        return base64.urlsafe_b64encode(b).rstrip(b"=").decode()
    secret = "history-test-secret"
    now = int(time.time())
    signing = b64u(json.dumps({"alg": "HS256", "typ": "JWT"}).encode()) + \
        "." + b64u(json.dumps({"sub": "lea", "iat": now,
                               "exp": now + 300}).encode())
    token = signing + "." + b64u(hmac.new(
        secret.encode(), signing.encode(), hashlib.sha256).digest())
    w = make_server(jwt_secret=secret)
    r = redis_server.client()
    wait_library(r)
    ids = [publish(r, "lea", "l%d" % k) for k in range(3)]

    async def go():
        async with connect(w, "/?token=%s&since=%s"
                           % (token, ids[0].decode())) as ws:
            assert await recv(ws) == "event: recovered\n\n"
            assert [parse(await recv(ws))[0][b"id"] for _ in ids[1:]] == \
                ids[1:]
    arun(go())


def test_recover_with_identify_message(server, redis_server):
    r = redis_server.client()
    wait_library(r)
    ids = [publish(r, "carol", "c%d" % k) for k in range(3)]

    async def go():
        async with connect(server, "/") as ws:
            await ws.send(json.dumps({"user_name": "carol",
                                      "since": ids[0].decode()}))
            assert await recv(ws) == "event: recovered\n\n"
            assert [parse(await recv(ws))[0][b"id"] for _ in ids[1:]] == \
                ids[1:]
        async with connect(server, "/") as ws:
            await ws.send(json.dumps({"user_name": "carol",
                                      "since": "x-1"}))
            await expect_close(ws, 1008)
        async with connect(server, "/", v1=False) as ws:
            await ws.send(json.dumps({"user_name": "carol",
                                      "since": ids[0].decode()}))
            await expect_close(ws, 1008)
    arun(go())


async def expect_close(ws, code):
    with pytest.raises(websockets.ConnectionClosed):
        await recv(ws)
    assert ws.close_rcvd is not None and ws.close_rcvd.code == code


@pytest.mark.parametrize("since,why", [
    ("1-0", None), ("abc", 400), ("01-2", 400), ("1-", 400), ("0-0", 400),
    ("1" * 60 + "-1", 400)])
def test_since_is_checked(server, redis_server, since, why):
    async def go():
        if why is None:
            # Without the subprotocol since is refused, with it a gap.
            with pytest.raises(websockets.InvalidStatusCode) as e:
                async with connect(server, "/?user=dan&since=" + since,
                                   v1=False):
                    pass
            assert e.value.status_code == 400
            async with connect(server, "/?user=dan&since=" + since) as ws:
                assert await recv(ws) == "event: gap\n\n"
            return
        with pytest.raises(websockets.InvalidStatusCode) as e:
            async with connect(server, "/?user=dan&since=" + since):
                pass
        assert e.value.status_code == why
    arun(go())


def test_gaps(server, redis_server):
    r = redis_server.client()
    wait_library(r)

    async def resume(user, since):
        async with connect(server, "/?user=%s&since=%s"
                           % (user, since.decode())) as ws:
            event = await recv(ws)
            got = []
            try:
                while True:
                    got.append(parse(await recv(ws, 0.5))[0][b"id"])
            except asyncio.TimeoutError:
                pass
            return event, got

    async def go():
        # Trimmed past since: ids[1] is gone, ids[0] was the client's.
        ids = [publish(r, "erin", "e%d" % k, 3) for k in range(5)]
        assert await resume("erin", ids[0]) == ("event: gap\n\n", ids[2:])
        assert await resume("erin", ids[1]) == ("event: recovered\n\n",
                                                ids[2:])
        # An id this history never issued.
        epoch, n = ids[-1].split(b"-")
        assert (await resume("erin", b"%s-%d" % (epoch, int(n) + 9)))[0] \
            == "event: gap\n\n"
        # Expired.
        r.delete("{erin}#history")
        assert await resume("erin", ids[-1]) == ("event: gap\n\n", [])
        # FLUSHALL (the library goes too: wspubsub loads it again).
        time.sleep(0.002)
        k = publish(r, "erin", "after")
        r.flushall()
        r.function_flush()
        assert await resume("erin", k) == ("event: gap\n\n", [])
        wait_library(r)
    arun(go())
    assert metrics(server)["wspubsub_history_gaps_total"] == 4


def metrics(server):
    """The instance's /metrics, read and checked as test_ops does."""
    return scrape_metrics(server.port)


class Publisher:
    """Publishes with the library at about `rate` messages a second (bounded
    by `seconds`), keeping every id Redis returned; connection errors (a
    Redis restart) are retried."""

    def __init__(self, port, channel, rate=1000, seconds=4.0):
        self.port, self.channel = port, channel
        self.rate, self.seconds = rate, seconds
        self.ids, self.errors = [], 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self):
        import redis
        r = redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=2)
        end = time.monotonic() + self.seconds
        k = 0
        while not self.stop.is_set() and time.monotonic() < end:
            t = time.monotonic()
            try:
                p = r.pipeline(transaction=False)
                for _ in range(10):
                    # A history long enough for the whole test.
                    p.fcall("wspubsub_publish", 1, self.channel, "p%d" % k,
                            100000)
                    k += 1
                self.ids.extend(p.execute())
            except Exception:
                self.errors += 1
                time.sleep(0.02)
            time.sleep(max(0.0, 10.0 / self.rate - (time.monotonic() - t)))
        r.close()

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *a):
        self.stop.set()
        self.thread.join(10)


def id_key(i):
    e, n = i.split(b"-")
    return int(e), int(n)


async def drain(ws, got, quiet=0.5):
    """Read messages until none comes for `quiet` seconds."""
    try:
        while True:
            h, _ = parse(await recv(ws, quiet))
            if b"id" in h:
                got.append(h[b"id"])
    except asyncio.TimeoutError:
        pass


def test_replay_while_publishing(server, redis_server):
    # A client leaves and comes back with since, three times, while the
    # library publishes about 1,000 messages a second: every id arrives
    # once, in order.
    r = redis_server.client()
    wait_library(r)

    async def go():
        got = []
        with Publisher(redis_server.port, "frank", 1000, 3.0) as pub:
            async with connect(server, "/?user=frank") as ws:
                for _ in range(50):
                    got.append(parse(await recv(ws))[0][b"id"])
            for _ in range(3):
                await asyncio.sleep(0.2)
                async with connect(server, "/?user=frank&since=" +
                                   got[-1].decode()) as ws:
                    assert await recv(ws) == "event: recovered\n\n"
                    for _ in range(300):
                        got.append(parse(await recv(ws))[0][b"id"])
            async with connect(server, "/?user=frank&since=" +
                               got[-1].decode()) as ws:
                assert await recv(ws) == "event: recovered\n\n"
                pub.thread.join(10)
                await drain(ws, got)
        return got, pub.ids
    got, sent = arun(go())
    assert len(got) == len(set(got)), "duplicates"
    assert got == sorted(got, key=id_key), "out of order"
    assert got == sent[sent.index(got[0]):], "lost: %d" % (
        len(set(sent[sent.index(got[0]):]) - set(got)))
    assert_clean_log(server)


def test_redis_restart_with_persistence(tmpdir_, make_server):
    # Redis restarts (AOF) while the library publishes: the connected
    # client gets every id once, in order, without reconnecting.
    rs = RedisServer(tmpdir_, "--appendonly", "yes",
                     "--appendfsync", "always").start()
    try:
        w = Wspubsub(tmpdir_, rs.port, redis_retry_timeout="10s").start()
        r = rs.client()
        wait_library(r)

        async def go():
            got = []
            async with connect(w, "/?user=gina") as ws:
                with Publisher(rs.port, "gina", 500, 3.0) as pub:
                    while len(got) < 200:
                        got.append(parse(await recv(ws))[0][b"id"])
                    rs.stop()
                    rs.start()
                    pub.thread.join(15)
                    await drain(ws, got, 1.5)
                assert ws.close_code is None, "the connection was closed"
            return got, pub.ids
        got, sent = arun(go())
        assert len(got) == len(set(got)), "duplicates"
        assert got == sorted(got, key=id_key), "out of order"
        missing = set(sent) - set(got)
        assert not missing, "%d of %d lost" % (len(missing), len(sent))
        assert "resubscribed to gina" in w.log()
        w.stop()
        assert_clean_log(w)
    finally:
        rs.stop()


def test_history_channel_refused_by_acl(tmpdir_, redis_server):
    # An ACL that allows the users' channels (the prefix) but not their
    # history channels: plain delivery goes on, with one warning.
    r = redis_server.client()
    r.acl_setuser("prefixed", enabled=True, passwords=["+secret"],
                  keys=["*"], channels=["ws:*"], commands=["+@all"])
    w = Wspubsub(tmpdir_, redis_server.port, redis_username="prefixed",
                 redis_password="secret", channel_prefix="ws:").start()
    try:
        async def go():
            for _ in range(3):      # three children, one warning
                async with connect(w, "/?user=ivy") as ws:
                    wait_for(lambda: numsub(r, "ws:ivy") == 1, T,
                             what="ivy")
                    r.publish("ws:ivy", "plain")
                    assert await recv(ws) == "\nplain"
        arun(go())
        assert w.log().count("if an ACL refuses the history channels") \
            == 1, w.log()
    finally:
        w.stop()
    assert_clean_log(w)


def test_since_refused_by_acl(tmpdir_, redis_server):
    # An ACL that refuses wspubsub_since but not the history channels:
    # messages with ids still arrive live; a resume is a gap.
    r = redis_server.client()
    load_library(r)
    r.acl_setuser("nosince", enabled=True, passwords=["+secret"],
                  keys=["*"], channels=["*"],
                  commands=["+@all", "-fcall_ro"])
    w = Wspubsub(tmpdir_, redis_server.port, redis_username="nosince",
                 redis_password="secret").start()
    try:
        async def go():
            async with connect(w, "/?user=jo") as ws:
                wait_for(lambda: numsub(r, "jo") == 1, T, what="jo")
                i = publish(r, "jo", "live")
                assert parse(await recv(ws)) == ({b"id": i}, b"live")
            async with connect(w, "/?user=jo&since=" + i.decode()) as ws:
                assert await recv(ws) == "event: gap\n\n"
                j = publish(r, "jo", "again")
                assert parse(await recv(ws)) == ({b"id": j}, b"again")
        arun(go())
        assert w.log().count("if an ACL refuses the history channels") \
            == 1, w.log()
    finally:
        w.stop()
    assert_clean_log(w)


def test_library_refused_by_acl(tmpdir_, redis_server):
    # A Redis user that may not load functions: one clear warning with
    # the command to run, and plain delivery goes on.
    r = redis_server.client()
    r.acl_setuser("limited", enabled=True, passwords=["+secret"],
                  keys=["*"], channels=["*"], commands=["+@all", "-function"])
    w = Wspubsub(tmpdir_, redis_server.port, redis_username="limited",
                 redis_password="secret").start()
    try:
        wait_for(lambda: "FUNCTION LOAD REPLACE < contrib/redis/wspubsub.lua"
                 in w.log(), T, what="the warning")

        async def go():
            async with connect(w, "/?user=hank") as ws:
                wait_for(lambda: numsub(r, "hank") == 1, T, what="hank")
                r.publish("hank", "plain")
                assert await recv(ws) == "\nplain"
        arun(go())
    finally:
        w.stop()
    assert_clean_log(w)
