"""Reused children (max_clients_per_child above 1): a child that served a
client goes back to the spare pool, keeps its Redis connection only when it
is clean, wipes what the client left, and exits whenever reuse would be
unsafe or stale (a reload, a close not completed, a broken Redis, memory
grown, the limit reached)."""
import asyncio
import contextlib
import os
import re
import signal
import threading

import pytest
import websockets

import tls as tlsmod
from harness import (TLS, Wspubsub, proc_title, child_of_user, wait_for,
                     open_ws)

T = 10.0


def arun(coro):
    return asyncio.run(asyncio.wait_for(coro, 60))


def master_counts(w):
    """(busy, spare) from the master's title "master [B/M clients, S spare]"."""
    m = re.search(r"\[(\d+)/\d+ clients, (\d+) spare\]",
                  proc_title(w.pid) or "")
    return (int(m.group(1)), int(m.group(2))) if m else (None, None)


def wait_idle(w, spares):
    wait_for(lambda: master_counts(w) == (0, spares), T,
             what="the master to count 0 clients and %d spare(s), not %r"
             % (spares, master_counts(w)))


def alive(pid):
    """pid runs (is neither gone nor a zombie)."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(") ", 1)[1][0] != "Z"
    except OSError:         # gone, even while being read
        return False


def wait_gone(pid):
    wait_for(lambda: not alive(pid), T, what="child %d to exit" % pid)


def subscribed(r, channel):
    return r.pubsub_numsub(channel)[0][1]


async def in_thread(fn, *args):
    return await asyncio.get_running_loop().run_in_executor(None, fn, *args)


async def until_subscribed(r, channel):
    await in_thread(lambda: wait_for(lambda: subscribed(r, channel) == 1, T,
                                     what="%s subscribed" % channel))


def child_pid(w, user):
    return wait_for(lambda: child_of_user(w, user), T,
                    what="%s's child" % user)


@contextlib.asynccontextmanager
async def on_child(w, r, user, pid, url=None, **kw):
    """Connected and subscribed as user, served by the reused child pid."""
    async with websockets.connect("%s/?user=%s" % (url or w.url, user),
                                  **kw) as ws:
        await until_subscribed(r, user)
        assert child_of_user(w, user) == pid
        yield ws


async def reload_with(w, **conf):
    """Rewrite w's configuration with conf, SIGHUP, wait for the reload."""
    w.conf.update(conf)
    w.write_conf()
    n = w.log().count("configuration reloaded")
    w.signal(signal.SIGHUP)
    await in_thread(lambda: wait_for(
        lambda: w.log().count("configuration reloaded") > n, T,
        what="the reload"))


async def visit(w, r, user, **kw):
    """Connect as user, receive one message, close cleanly; the pid of the
    child that served it."""
    async with websockets.connect("%s/?user=%s" % (w.url, user), **kw) as ws:
        await until_subscribed(r, user)
        pid = await in_thread(lambda: wait_for(
            lambda: child_of_user(w, user), T, what="%s's child" % user))
        r.publish(user, "for " + user)
        assert await asyncio.wait_for(ws.recv(), T) == "for " + user
    return pid


@pytest.fixture
def reusing(make_server):
    def make(**conf):
        conf.setdefault("max_clients_per_child", 100)
        conf.setdefault("spare_children", 0)
        return make_server(**conf)
    return make


def test_child_goes_back_to_the_pool_and_serves_the_next_user(reusing,
                                                               redis_server):
    w = reusing()
    r = redis_server.client()
    pids = []
    for user in ("alice", "bob", "carol"):
        pids.append(arun(visit(w, r, user)))
        wait_idle(w, 1)
        # Unsubscribed from the last user's channel, title back to spare.
        assert subscribed(r, user) == 0
        assert proc_title(pids[-1]).endswith(": spare")
    assert pids[0] == pids[1] == pids[2]
    assert "%d] child: close user=bob" % pids[0] in w.log()


def test_reused_child_never_delivers_a_previous_users_message(reusing,
                                                             redis_server):
    """alice's messages keep coming while she leaves and bob takes her
    child: bob sees only his own, in order."""
    w = reusing()
    r = redis_server.client()
    stop = threading.Event()
    sent = [0]

    def flood():
        # Paced (at most 50,000 a second), so that a child held up by a
        # loaded machine stays under Redis' output limit for subscribers.
        p = redis_server.client()
        while not stop.is_set() and sent[0] < 100000:
            pipe = p.pipeline(transaction=False)
            for _ in range(100):
                sent[0] += 1
                pipe.publish("alice", "alice-%d" % sent[0])
            pipe.execute()
            stop.wait(0.002)

    async def run():
        # An unbounded queue: the messages alice does not read must not
        # hold up her close handshake in the client library.
        async with websockets.connect(w.url + "/?user=alice",
                                      max_queue=None) as a:
            await until_subscribed(r, "alice")
            pid = await in_thread(child_pid, w, "alice")
            t = threading.Thread(target=flood, daemon=True)
            t.start()
            for _ in range(50):
                assert (await asyncio.wait_for(a.recv(), T)) \
                    .startswith("alice-")
        try:
            await in_thread(wait_idle, w, 1)
            async with on_child(w, r, "bob", pid) as b:
                assert sent[0] > 0
                r.publish("bob", "bob-1")
                r.publish("bob", "bob-2")
                assert await asyncio.wait_for(b.recv(), T) == "bob-1"
                assert await asyncio.wait_for(b.recv(), T) == "bob-2"
        finally:
            stop.set()
            t.join(T)
    arun(run())


def test_limit_reached_the_child_exits(reusing, redis_server):
    w = reusing(max_clients_per_child=3)
    r = redis_server.client()
    pids = []
    for i in range(3):
        pids.append(arun(visit(w, r, "u%d" % i)))
        if i < 2:
            wait_idle(w, 1)
    assert len(set(pids)) == 1
    wait_gone(pids[0])
    assert arun(visit(w, r, "u3")) != pids[0]


def test_reuse_in_metrics_and_titles(reusing, redis_server):
    from test_ops import metrics
    w = reusing(spare_children=1)
    r = redis_server.client()
    before = metrics(w.port)["wspubsub_child_reuses_total"]
    wait_idle(w, 1)
    pid = arun(visit(w, r, "m1"))
    wait_idle(w, 2)         # the refilled spare and the one back
    assert arun(visit(w, r, "m2")) == pid
    wait_idle(w, 2)
    m = metrics(w.port)
    assert m["wspubsub_child_reuses_total"] == before + 2
    assert m['wspubsub_connections{state="open"}'] == 0


def test_unclean_close_the_child_exits(reusing, redis_server):
    w = reusing()
    r = redis_server.client()
    s, _ = open_ws(w.port, "dropper")
    wait_for(lambda: subscribed(r, "dropper") == 1, T, what="subscribed")
    pid = child_pid(w, "dropper")
    s.close()               # no close frame: 1006
    wait_gone(pid)
    assert re.search(r"%d\] child: close user=dropper .*code=1006" % pid,
                     w.log())


def test_redis_connection_broken_between_clients(reusing, redis_server):
    """The kept connection dies while the child waits: the next client is
    served over a fresh one, by the same child."""
    w = reusing()
    r = redis_server.client()
    pid = arun(visit(w, r, "first"))
    wait_idle(w, 1)
    assert r.client_kill_filter(_type="normal", skipme=True) >= 1
    assert arun(visit(w, r, "second")) == pid


def test_redis_gone_while_serving_the_child_exits(reusing, redis_server):
    """A client whose Redis connection broke is closed; its child does not
    go back to the pool with a connection it cannot trust."""
    w = reusing(redis_retry_timeout="0")
    r = redis_server.client()

    async def run():
        async with websockets.connect(w.url + "/?user=cut") as ws:
            await until_subscribed(r, "cut")
            pid = await in_thread(child_pid, w, "cut")
            r.client_kill_filter(_type="pubsub")
            with pytest.raises(websockets.ConnectionClosed):
                await asyncio.wait_for(ws.recv(), T)
            return pid
    wait_gone(arun(run()))


def test_memory_grown_the_child_exits(reusing, redis_server):
    w = reusing(max_message_size="32m")
    r = redis_server.client()

    async def run():
        async with websockets.connect(w.url + "/?user=big",
                                      max_size=None) as ws:
            await until_subscribed(r, "big")
            pid = await in_thread(child_pid, w, "big")
            await ws.send("x" * (24 << 20))
            await ws.send("ping")
            assert await asyncio.wait_for(ws.recv(), T) == "pong"
            return pid
    pid = arun(run())
    wait_gone(pid)
    assert "%d] child: memory grew" % pid in w.log()


def test_sighup_new_prefix_retires_reused_children(reusing, redis_server):
    """A child forked before a reload never serves a new client: it
    finishes its client with the old settings, then exits."""
    w = reusing()
    r = redis_server.client()
    pid = arun(visit(w, r, "early"))
    wait_idle(w, 1)

    async def run():
        async with on_child(w, r, "held", pid) as ws:
            await reload_with(w, channel_prefix="p:")
            r.publish("held", "old prefix")
            assert await asyncio.wait_for(ws.recv(), T) == "old prefix"
    arun(run())
    wait_gone(pid)

    async def after():
        async with websockets.connect(w.url + "/?user=late") as ws:
            await until_subscribed(r, "p:late")
            assert subscribed(r, "late") == 0
            r.publish("late", "unprefixed")
            r.publish("p:late", "prefixed")
            assert await asyncio.wait_for(ws.recv(), T) == "prefixed"
    arun(after())


@pytest.mark.skipif(TLS, reason="sets up its own tls listener")
def test_sighup_new_certificate_retires_reused_children(tmpdir_, redis_server):
    d1 = os.path.join(tmpdir_, "c1")
    d2 = os.path.join(tmpdir_, "c2")
    os.mkdir(d1)
    os.mkdir(d2)
    crt, key = tlsmod.self_signed(d1)
    crt2, key2 = tlsmod.self_signed(d2, cn="second")
    w = Wspubsub(tmpdir_, redis_server.port, tls_certificate=crt,
                 tls_key=key, max_clients_per_child=100, spare_children=0)
    w.conf["listen"] = ["127.0.0.1:%d tls" % w.port]
    w.start()
    try:
        r = redis_server.client()
        url = "wss://127.0.0.1:%d" % w.port
        old = tlsmod.client_context(crt)
        old_fp = tlsmod.file_fingerprint(crt)
        new_fp = tlsmod.file_fingerprint(crt2)

        async def served(ctx, user):
            async with websockets.connect("%s/?user=%s" % (url, user),
                                          ssl=ctx) as ws:
                der = ws.transport.get_extra_info("ssl_object") \
                    .getpeercert(binary_form=True)
                await until_subscribed(r, user)
                pid = await in_thread(child_pid, w, user)
                r.publish(user, "x")
                assert await asyncio.wait_for(ws.recv(), T) == "x"
                return pid, tlsmod.fingerprint(der)

        async def run():
            pid, fp = await served(old, "t1")
            assert fp == old_fp
            await in_thread(wait_idle, w, 1)
            async with on_child(w, r, "t2", pid, url=url, ssl=old):
                for src, dst in ((crt2, crt), (key2, key)):
                    with open(src, "rb") as f, open(dst + ".new", "wb") as g:
                        g.write(f.read())
                    os.replace(dst + ".new", dst)
                await reload_with(w)
            await in_thread(wait_gone, pid)
            new = tlsmod.client_context(crt2)
            for i in range(3):
                p, fp = await served(new, "n%d" % i)
                assert fp == new_fp and p != pid
        arun(run())
    finally:
        w.stop()


def test_sigterm_with_reused_children(reusing, redis_server):
    w = reusing(spare_children=1)
    r = redis_server.client()
    pid = arun(visit(w, r, "s1"))
    wait_idle(w, 2)

    async def run():
        async with on_child(w, r, "s2", pid) as ws:
            w.signal(signal.SIGTERM)
            with pytest.raises(websockets.ConnectionClosed) as e:
                await asyncio.wait_for(ws.recv(), T)
            assert e.value.rcvd.code == 1001
    arun(run())
    assert w.proc.wait(T) == 0
    wait_gone(pid)
