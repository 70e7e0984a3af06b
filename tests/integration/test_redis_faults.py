"""Redis faults: restarts while clients are connected, Redis unreachable or
unresponsive at the handshake, and a slow consumer that Redis drops."""
import asyncio
import os
import socket
import time

import websockets

from harness import (RedisServer, Wspubsub, close_code, raw_connect,
                     raw_request, read_frame, read_head, status_of, tls_wrap,
                     wait_for)

T = 10
CLIENTS = int(os.environ.get("WSPUBSUB_FAULT_CLIENTS", "100"))


def arun(coro, timeout=120):
    return asyncio.run(asyncio.wait_for(coro, timeout))


async def open_clients(server, n, prefix):
    conns = []
    for i in range(n):
        conns.append(await websockets.connect(
            "%s/?user=%s%d" % (server.url, prefix, i), open_timeout=T,
            close_timeout=T, ping_interval=None))
    return conns


def subscribed(r, prefix, n):
    counts = r.pubsub_numsub(*["%s%d" % (prefix, i) for i in range(n)])
    return all(c == 1 for _, c in counts)


def test_restart_within_retry_timeout_is_silent(make_server, redis_server):
    """100 clients; Redis stops for ~1 s and comes back on the same port:
    every child resubscribes, no client is closed, and messages published
    after the resubscription arrive."""
    server = make_server(redis_retry_timeout="5s", spare_children=4)

    async def run():
        conns = await open_clients(server, CLIENTS, "r")
        redis_server.stop()
        await asyncio.sleep(1)
        redis_server.start()
        r = redis_server.client()
        await asyncio.get_running_loop().run_in_executor(
            None, lambda: wait_for(lambda: subscribed(r, "r", CLIENTS), 10,
                                   what="all clients resubscribed"))
        for i in range(CLIENTS):
            assert r.publish("r%d" % i, "after %d" % i) == 1
        for i, ws in enumerate(conns):
            assert await asyncio.wait_for(ws.recv(), T) == "after %d" % i
        for ws in conns:
            assert ws.open
            await ws.close()
    arun(run())
    log = server.log()
    assert log.count("resubscribed to r") == CLIENTS
    assert "code=1011" not in log


def test_restart_too_late_closes_1011(make_server, redis_server):
    """Redis away for longer than redis_retry_timeout: every client gets
    1011 after the timeout, not before."""
    server = make_server(redis_retry_timeout="1s", spare_children=4)

    async def run():
        conns = await open_clients(server, CLIENTS, "l")
        t0 = time.monotonic()
        redis_server.stop()
        for ws in conns:
            await asyncio.wait_for(ws.wait_closed(), T)
            assert ws.close_code == 1011
        elapsed = time.monotonic() - t0
        assert 0.9 <= elapsed < 6, elapsed
    arun(run())


def test_redis_refusing_at_handshake_is_503(make_server, redis_server):
    server = make_server()
    redis_server.stop()
    t0 = time.monotonic()
    s, head, _ = raw_connect(server.port, "/?user=x")
    s.close()
    assert status_of(head) == 503
    assert time.monotonic() - t0 < 1


def test_redis_unresponsive_at_handshake_is_503_within_timeout(tmpdir_):
    """A Redis address that accepts no connection (a full listen queue):
    the client is answered 503 within redis_connect_timeout."""
    hole = socket.socket()
    hole.bind(("127.0.0.1", 0))
    hole.listen(0)
    port = hole.getsockname()[1]
    fillers = []
    # Fill the accept queue so further SYNs are dropped.
    for _ in range(4):
        f = socket.socket()
        f.setblocking(False)
        try:
            f.connect(("127.0.0.1", port))
        except BlockingIOError:
            pass
        fillers.append(f)
    time.sleep(0.2)
    server = Wspubsub(tmpdir_, port, redis_connect_timeout="500ms").start()
    try:
        t0 = time.monotonic()
        s, head, _ = raw_connect(server.port, "/?user=x")
        s.close()
        elapsed = time.monotonic() - t0
        assert status_of(head) == 503
        assert elapsed < 1.5, elapsed
    finally:
        server.stop()
        for f in fillers:
            f.close()
        hole.close()


def child_rss_kb(server, user):
    for pid, _ in server.children():
        try:
            with open("/proc/%d/cmdline" % pid, "rb") as f:
                if (" %s " % user).encode() not in f.read().replace(b"\0", b" ") + b" ":
                    continue
            with open("/proc/%d/status" % pid) as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        return int(line.split()[1])
        except OSError:
            continue
    return None


def test_slow_consumer_is_bounded_and_closed_1008(tmpdir_):
    """A client that stops reading: its child stops reading Redis instead of
    buffering, other clients are not stalled, Redis drops the subscriber at
    its output-buffer limit, and the child then closes the client with
    1008."""
    redis_server = RedisServer(
        tmpdir_, "--client-output-buffer-limit", "pubsub 1mb 512kb 1").start()
    server = Wspubsub(tmpdir_, redis_server.port).start()
    r = redis_server.client()
    try:
        slow = socket.socket()
        slow.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        slow.settimeout(T)
        slow.connect(("127.0.0.1", server.port))
        slow = tls_wrap(slow)
        slow.sendall(raw_request("/?user=slow"))
        head, rest = read_head(slow)
        assert status_of(head) == 101

        async def fast_client():
            async with websockets.connect(server.url + "/?user=fast",
                                          open_timeout=T) as ws:
                payload = b"x" * 65536
                rss = []
                # 64 KiB messages to a client that reads nothing, until
                # Redis drops the subscriber at its output-buffer limit;
                # how many that takes depends on the socket buffers the
                # kernel grants on the way (at most 2,000: 125 MiB).
                for i in range(2000):
                    if r.publish("slow", payload) == 0:
                        return i, rss
                    if i % 20 == 0:
                        # The other user is served at once meanwhile.
                        r.publish("fast", "tick %d" % i)
                        t0 = time.monotonic()
                        assert await asyncio.wait_for(ws.recv(), T) == "tick %d" % i
                        assert time.monotonic() - t0 < 1
                        rss.append(child_rss_kb(server, "slow"))
                return 2000, rss
        sent, rss = arun(fast_client())
        # Bounded: the child holds at most a message or so, not megabytes.
        assert all(v is not None and v < 24 * 1024 for v in rss), rss
        assert sent < 2000, "redis never dropped the slow subscriber"
        assert r.pubsub_numsub("slow")[0][1] == 0
        # The client reads again: some messages, then close 1008.
        buf = rest
        got = 0
        while True:
            fin, op, payload, buf = read_frame(slow, buf)
            if op == 8:
                assert close_code(payload) == 1008
                break
            assert op == 2 or op == 1
            got += 1
        assert got < sent
        slow.close()
        assert "not keeping up" in server.log()
    finally:
        server.stop()
        redis_server.stop()
