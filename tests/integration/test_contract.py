"""The client contract (README, "Client protocol"), for normal traffic,
against the real binary and a real redis-server.

Python websockets (10.4, asyncio API) plays the ordinary client; raw sockets
from the harness are used where the exact bytes or timing on the wire
matter (frame headers, a publish right after the 101, keepalive pings, a
head sent one byte at a time).  Malformed frames and HTTP errors live in
test_protocol.py, the process model in test_process.py.
"""
import asyncio
import json
import os
import select
import socket
import threading
import time

import pytest
import websockets

from harness import (Wspubsub, client_connect, close_code, frame, free_port,
                     raw_request, ws_scheme,
                     read_frame, read_head, settled_redis_clients,
                     status_of, wait_for, wait_served)

OP_CONT, OP_TEXT, OP_BINARY = 0x0, 0x1, 0x2
OP_CLOSE, OP_PING, OP_PONG = 0x8, 0x9, 0xA

T = 5.0  # bound on every single wait


# ---------------------------------------------------------------- helpers

def arun(coro, timeout=60):
    """Run one test coroutine with an overall bound."""
    return asyncio.run(asyncio.wait_for(coro, timeout))


async def recv(ws, timeout=T):
    return await asyncio.wait_for(ws.recv(), timeout)


async def expect_close(ws, code, timeout=T):
    """The server closes the connection with `code`, sending no message
    first; the close frame must really arrive (not just a dropped TCP)."""
    with pytest.raises(websockets.ConnectionClosed):
        msg = await asyncio.wait_for(ws.recv(), timeout)
        raise AssertionError("unexpected message before close: %r"
                             % (msg[:80],))
    await asyncio.wait_for(ws.wait_closed(), timeout)
    assert ws.close_rcvd is not None, "no close frame from the server"
    assert ws.close_rcvd.code == code


def numsub(r, channel):
    return r.pubsub_numsub(channel)[0][1]


def wait_numsub(r, channel, n, timeout=T):
    wait_for(lambda: numsub(r, channel) == n, timeout=timeout,
             what="NUMSUB %s == %d (is %d)" % (channel, n, numsub(r, channel)))


def wait_subscribed(r, channel, timeout=T):
    """NUMSUB shows the SUBSCRIBE as soon as Redis has run it, a moment
    before the child has read Redis' answer.  Tests about something else
    give the child that moment; test_publish_as_soon_as_subscribed_* check
    that a message published inside it is not lost either."""
    wait_numsub(r, channel, 1, timeout)
    time.sleep(0.1)


def connect(server, path, **kw):
    kw.setdefault("open_timeout", T)
    kw.setdefault("close_timeout", T)
    return websockets.connect(server.url + path, **kw)


def raw_open(port, path, host="127.0.0.1", family=socket.AF_INET):
    """Upgrade on a raw socket; returns (socket, bytes after the head)."""
    s = client_connect((host, port), T, family)
    s.sendall(raw_request(path))
    head, rest = read_head(s)
    assert status_of(head) == 101, head
    return s, rest


def http_get(port, path, host="127.0.0.1"):
    """A plain HTTP GET; returns (status, whole response)."""
    with client_connect((host, port), T) as s:
        s.sendall(("GET %s HTTP/1.1\r\nHost: %s\r\n\r\n"
                   % (path, host)).encode())
        data = b""
        while True:
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
    return status_of(data), data


def raw_status(port, path, host="127.0.0.1"):
    s = client_connect((host, port), T)
    try:
        s.sendall(raw_request(path))
        head, _ = read_head(s)
        return status_of(head)
    finally:
        s.close()


def recv_exact(s, n, buf=b""):
    while len(buf) < n:
        chunk = s.recv(max(65536, n - len(buf)))
        if not chunk:
            raise ConnectionError("EOF after %d of %d bytes" % (len(buf), n))
        buf += chunk
    return buf[:n], buf[n:]


def expect_eof(s, buf=b"", timeout=T):
    """Read (and drop) what is left until EOF; returns the frames seen."""
    frames = []
    end = time.monotonic() + timeout
    s.settimeout(timeout)
    while True:
        while buf:
            try:
                fin, op, payload, buf = read_frame(_NoRecv(), buf)
            except _Short:
                break
            frames.append((op, payload))
        if time.monotonic() > end:
            raise AssertionError("no EOF within %.1fs" % timeout)
        try:
            chunk = s.recv(65536)
        except ConnectionResetError:
            return frames
        if not chunk:
            assert buf == b"", "EOF inside a frame: %r" % buf[:20]
            return frames
        buf += chunk


class _Short(Exception):
    pass


class _NoRecv:
    """Lets read_frame parse only what is already buffered."""
    def recv(self, n):
        raise _Short()


def child_pid(server, needle, timeout=T):
    """PID of the child whose process title contains needle."""
    def find():
        for pid, _ in server.children():
            try:
                with open("/proc/%d/cmdline" % pid, "rb") as f:
                    title = f.read().replace(b"\0", b" ").decode(
                        errors="replace")
            except OSError:
                continue
            if needle in title:
                return pid
        return None
    return wait_for(find, timeout=timeout, what="child titled %r" % needle)


def wait_gone(server, pid, timeout=T):
    """The child exited and was reaped (no process, no zombie)."""
    wait_for(lambda: pid not in [p for p, _ in server.children()],
             timeout=timeout, what="child %d to exit" % pid)


# ---------------------------------------------------------- naming a user

def test_url_user_is_percent_decoded_and_lowercased(server, redis_server):
    r = redis_server.client()

    async def run():
        async with connect(server, "/any/path/here?x=1&user=Al%69ce&y=2") as ws:
            assert numsub(r, "alice") == 1
            assert r.publish("Alice", "wrong channel") == 0
            assert r.publish("alice", "hello") == 1
            assert await recv(ws) == "hello"
        async with connect(server, "/?user=%41%42%63%40%3A") as ws:
            assert r.publish("abc@:", "decoded") == 1
            assert await recv(ws) == "decoded"
    arun(run())


def test_channel_prefix(make_server, redis_server):
    server = make_server(channel_prefix="ws:")
    r = redis_server.client()

    async def run():
        async with connect(server, "/?user=Alice") as ws:
            assert numsub(r, "ws:alice") == 1
            assert r.publish("alice", "no prefix") == 0
            assert r.publish("ws:alice", "prefixed") == 1
            assert await recv(ws) == "prefixed"
        # the prefix applies to identified users too
        async with connect(server, "/") as ws:
            await ws.send(json.dumps({"user_name": "BoB"}))
            wait_subscribed(r, "ws:bob")
            assert numsub(r, "bob") == 0
            assert r.publish("ws:bob", "hi bob") == 1
            assert await recv(ws) == "hi bob"
    arun(run())


def test_identify_message(server, redis_server):
    r = redis_server.client()

    async def run():
        async with connect(server, "/some/path") as ws:
            await ws.send('{"user_name": "Bob"}')
            # no acknowledgement is part of the protocol: watch Redis
            wait_subscribed(r, "bob")
            assert r.publish("bob", "for bob") == 1
            assert await recv(ws) == "for bob"
            # a connection serves exactly one user: a second identify is
            # just an ignored message
            await ws.send('{"user_name": "Carol"}')
            await ws.send("ping")
            assert await recv(ws) == "pong"
            assert numsub(r, "carol") == 0
            assert numsub(r, "bob") == 1
            assert r.publish("bob", "still bob") == 1
            assert await recv(ws) == "still bob"
    arun(run())


def test_identify_ignored_when_user_in_url(server, redis_server):
    r = redis_server.client()

    async def run():
        async with connect(server, "/?user=dave") as ws:
            await ws.send('{"user_name": "eve"}')
            await ws.send("ping")
            assert await recv(ws) == "pong"
            assert numsub(r, "eve") == 0
            assert r.publish("dave", "x") == 1
            assert await recv(ws) == "x"
    arun(run())


@pytest.mark.parametrize("msg", [
    "not json",
    "{",
    "ping",
    "[]",
    '"Bob"',
    '{"name": "Bob"}',
    '{"user_name": 5}',
    '{"user_name": null}',
    '{"user_name": ""}',
    '{"user_name": "has space"}',
    '{"user_name": "a/b"}',
    '{"user_name": "caf\\u00e9"}',
    '{"user_name": "nul\\u0000"}',
    json.dumps({"user_name": "x" * 129}),
], ids=lambda m: m[:24])
def test_identify_invalid_closes_1008(server, redis_server, msg):
    async def run():
        async with connect(server, "/") as ws:
            await ws.send(msg)
            await expect_close(ws, 1008)
    arun(run())


def test_identify_max_length_name(server, redis_server):
    r = redis_server.client()
    name = "Ab0_.@:-" * 16  # 128 bytes, every kind of allowed character

    async def run():
        async with connect(server, "/") as ws:
            await ws.send(json.dumps({"user_name": name}))
            wait_subscribed(r, name.lower())
            assert r.publish(name.lower(), "long") == 1
            assert await recv(ws) == "long"
    arun(run())


def test_identify_timeout_closes_1008(make_server, redis_server):
    server = make_server(identify_timeout="1s")

    async def run():
        async with connect(server, "/", ping_interval=None) as ws:
            t0 = time.monotonic()
            await expect_close(ws, 1008, timeout=4)
            elapsed = time.monotonic() - t0
            assert 0.7 <= elapsed <= 3.0, elapsed
    arun(run())


def test_binary_before_identify_is_ignored(server, redis_server):
    r = redis_server.client()

    async def run():
        async with connect(server, "/") as ws:
            await ws.send(b'{"user_name": "bob"}')
            await ws.send(b"\xff\x00 anything")
            # a ping/pong round trip proves both frames were processed
            pong = await ws.ping(b"sync")
            await asyncio.wait_for(pong, T)
            assert numsub(r, "bob") == 0
            await ws.send('{"user_name": "bob"}')
            wait_subscribed(r, "bob")
            assert r.publish("bob", "after") == 1
            assert await recv(ws) == "after"
    arun(run())


# ---------------------------------------------------------- username rules

ACCEPTED = [
    "a", "Z", "0", "under_score", "dot.ted", "at@host", "co:lon",
    "da-sh", "_.@:-", "x" * 128, "Ab0_.@:-" * 16,
]


@pytest.mark.parametrize("name", ACCEPTED, ids=lambda n: n[:20])
def test_username_accepted(server, redis_server, name):
    r = redis_server.client()
    s, rest = raw_open(server.port, "/?user=" + name)
    with s:
        assert r.publish(name.lower(), name) == 1
        fin, op, payload, rest = read_frame(s, rest)
        assert (fin, op, payload) == (True, OP_TEXT, name.encode())


def test_username_128_bytes_percent_encoded(server, redis_server):
    # 384 characters in the URL, 128 bytes once decoded
    r = redis_server.client()
    s, rest = raw_open(server.port, "/?user=" + "%61" * 128)
    with s:
        assert r.publish("a" * 128, "ok") == 1
        assert read_frame(s, rest)[2] == b"ok"


@pytest.mark.parametrize("query", [
    "user=" + "x" * 129,
    "user=" + "%61" * 129,
    "user=",
    "user",
    "user=a%20b",
    "user=a+b",
    "user=a/b",
    "user=a%2Fb",
    "user=%C3%A9",
    "user=caf%C3%A9",
    "user=a%00b",
    "user=a%09b",
    "user=a%25b",
    "user=a%3Fb",
    "user=a%26b",
], ids=lambda q: q[:24])
def test_username_rejected_400(server, redis_server, query):
    assert raw_status(server.port, "/?" + query) == 400


def test_username_rejected_raw_non_ascii(server, redis_server):
    s = client_connect(("127.0.0.1", server.port), T)
    with s:
        s.sendall(raw_request("/?user=cafX").replace(b"cafX", b"caf\xc3\xa9"))
        head, _ = read_head(s)
        assert status_of(head) == 400


# ------------------------------------------------------ subscribe before 101

def test_subscribed_before_101(server, redis_server):
    """A message published the moment the 101 has arrived is delivered."""
    r = redis_server.client()
    for i in range(20):
        user = "early%d" % i
        s = client_connect(("127.0.0.1", server.port), T)
        with s:
            s.sendall(raw_request("/?user=" + user))
            head, rest = read_head(s)
            assert status_of(head) == 101
            assert r.publish(user, "first") == 1
            fin, op, payload, rest = read_frame(s, rest)
            assert (op, payload) == (OP_TEXT, b"first")


BUSY_LUA = """
local t = redis.call('TIME')
local start = t[1] * 1000000 + t[2]
repeat t = redis.call('TIME')
until t[1] * 1000000 + t[2] - start >= tonumber(ARGV[1])
return 1
"""


def redis_stalled(redis_server):
    """True once Redis does not answer a PING within 200 ms (it is running
    a script); the PING stays queued and is answered after it."""
    s = socket.create_connection(("127.0.0.1", redis_server.port), T)
    try:
        s.sendall(b"PING\r\n")
        return not select.select([s], [], [], 0.2)[0]
    finally:
        s.close()


def redis_input_queued(redis_server, skip_ports=()):
    """Local ports of the clients whose commands wait, unread, in Redis'
    receive queues (/proc/net/tcp: Redis' side of each connection)."""
    out = []
    with open("/proc/net/tcp") as f:
        next(f)
        for line in f:
            fields = line.split()
            local, remote, state = fields[1], fields[2], fields[3]
            rx = int(fields[4].split(":")[1], 16)
            lport, rport = int(local.split(":")[1], 16), \
                int(remote.split(":")[1], 16)
            if lport == redis_server.port and state == "01" and rx > 0 \
                    and rport not in skip_ports:
                out.append(rport)
    return out


def redis_busy(redis_server, seconds):
    """Keep Redis from serving anyone for `seconds` (a busy Lua script);
    returns the thread running it, once it runs.  Whatever commands queue
    up meanwhile are then run in one event-loop pass and their replies
    written together."""
    r = redis_server.client()
    r.ping()
    t = threading.Thread(target=r.eval,
                         args=(BUSY_LUA, 0, int(seconds * 1e6)))
    t.start()
    wait_for(lambda: redis_stalled(redis_server), T,
             what="the busy script to run")
    return t


def publish_with_subscribe_reply(redis_server, channel, payload, send,
                                 child_connected):
    """Make the child's SUBSCRIBE and a PUBLISH on its channel run in the
    same Redis event-loop pass, so the message reaches the child in the
    same read as the answer to SUBSCRIBE -- what happens by chance when a
    backend publishes the moment NUMSUB shows a user present.  `send`
    makes the child subscribe (the upgrade or the identify message).

    Redis accepts a connection in one pass and reads it in the next, so
    the PUBLISH goes on a connection in the same state as the child's:
    already accepted when the child's is (identify), or opened while Redis
    is busy, after the child's (upgrade)."""
    r = redis_server.client()
    if child_connected:
        r.ping()
    before = set(redis_input_queued(redis_server))
    busy = redis_busy(redis_server, 3.0)
    stalled = set(redis_input_queued(redis_server))    # the probes' PINGs
    send()
    # The child's SUBSCRIBE waits in Redis' receive queue.
    wait_for(lambda: set(redis_input_queued(redis_server)) - stalled -
             before, 2.5, what="the child's SUBSCRIBE to reach Redis")
    n = r.publish(channel, payload)   # waits for the script to end
    busy.join()
    return n


@pytest.fixture
def patient_server(make_server):
    """A server whose children wait out publish_with_subscribe_reply's busy
    Redis (3 s) instead of giving up on it (redis_connect_timeout)."""
    return make_server(redis_connect_timeout="10s")


def test_publish_as_soon_as_subscribed_url(patient_server, redis_server):
    """A message that arrives with Redis' answer to SUBSCRIBE (before the
    101 is even sent) is delivered all the same."""
    server = patient_server
    s = client_connect(("127.0.0.1", server.port), T)
    with s:
        n = publish_with_subscribe_reply(
            redis_server, "asap", "with the reply",
            lambda: s.sendall(raw_request("/?user=asap")), False)
        assert n == 1, "SUBSCRIBE did not run before PUBLISH"
        head, rest = read_head(s)
        assert status_of(head) == 101
        s.settimeout(T)
        try:
            fin, op, payload, rest = read_frame(s, rest)
        except socket.timeout:
            raise AssertionError("the message published together with "
                                 "the SUBSCRIBE never arrived") from None
        assert (op, payload) == (OP_TEXT, b"with the reply")


def test_publish_as_soon_as_subscribed_identify(patient_server,
                                                redis_server):
    """The same after an identify message, where nothing tells the client
    when the SUBSCRIBE is done, so a backend polls NUMSUB and publishes."""
    server = patient_server
    async def run():
        async with connect(server, "/", ping_interval=None) as ws:
            loop = asyncio.get_running_loop()
            msg = json.dumps({"user_name": "IdAsap"})
            n = await loop.run_in_executor(
                None, publish_with_subscribe_reply, redis_server, "idasap",
                "with the reply",
                lambda: asyncio.run_coroutine_threadsafe(
                    ws.send(msg), loop).result(T), True)
            assert n == 1, "SUBSCRIBE did not run before PUBLISH"
            try:
                got = await recv(ws, timeout=T)
            except asyncio.TimeoutError:
                raise AssertionError("the message published together with "
                                     "the SUBSCRIBE never arrived") from None
            assert got == "with the reply"
    arun(run())


def test_numsub_right_after_handshake(server, redis_server):
    r = redis_server.client()

    async def run():
        for i in range(10):
            async with connect(server, "/?user=present%d" % i):
                assert numsub(r, "present%d" % i) == 1
    arun(run())


# ------------------------------------------------------- payload fidelity

SIZES = [0, 1, 125, 126, 127, 65535, 65536, 65537, 1 << 20, 16 << 20]


def text_payload(n):
    """Valid UTF-8 of exactly n bytes, with multi-byte sequences."""
    unit = "a\u00e9\u20ac\U0001F600".encode()  # 1+2+3+4 bytes
    body = unit * (n // len(unit))
    return body + b"z" * (n - len(body))


def binary_payload(n):
    """Invalid UTF-8 of exactly n bytes (n >= 1)."""
    body = bytearray(os.urandom(n))
    body[n // 2] = 0xff  # never valid in UTF-8
    return bytes(body)


def test_payload_sizes_text_and_binary(server, redis_server):
    r = redis_server.client()

    async def run():
        async with connect(server, "/?user=big", max_size=None) as ws:
            for n in SIZES:
                p = text_payload(n)
                assert r.publish("big", p) == 1
                got = await recv(ws, timeout=20)
                assert isinstance(got, str), "size %d: not a text frame" % n
                assert got.encode() == p, "size %d differs" % n
                if n == 0:
                    continue
                p = binary_payload(n)
                assert r.publish("big", p) == 1
                got = await recv(ws, timeout=20)
                assert isinstance(got, bytes), "size %d: not binary" % n
                assert got == p, "size %d differs" % n
    arun(run(), timeout=90)


@pytest.mark.parametrize("payload,is_text", [
    (b"", True),
    (b"plain ascii", True),
    ("h\u00e9llo \u20ac \U0001F600 \uFFFD".encode(), True),
    ("\U0010FFFF".encode(), True),
    (b"\x00\x01\x7f", True),
    (b"\xff", False),
    (b"\x80", False),
    (b"ok\xc3", False),             # truncated 2-byte sequence
    (b"\xe2\x82", False),           # truncated 3-byte sequence
    (b"\xc0\xaf", False),           # overlong
    (b"\xe0\x80\xaf", False),       # overlong
    (b"\xed\xa0\x80", False),       # UTF-16 surrogate
    (b"\xf4\x90\x80\x80", False),   # above U+10FFFF
    (b"\xf8\x88\x80\x80\x80", False),
], ids=lambda v: repr(v)[:20])
def test_text_or_binary_by_utf8_validity(server, redis_server, payload,
                                         is_text):
    r = redis_server.client()

    async def run():
        async with connect(server, "/?user=utf") as ws:
            assert r.publish("utf", payload) == 1
            got = await recv(ws)
            if is_text:
                assert isinstance(got, str)
                assert got.encode() == payload
            else:
                assert isinstance(got, bytes)
                assert got == payload
    arun(run())


def test_order_preserved(server, redis_server):
    r = redis_server.client()
    n = 1000

    def msg(i):
        # alternate text and binary so both kinds keep their place
        return ("m%d" % i).encode() if i % 2 == 0 else b"\xff%d" % i

    async def run():
        async with connect(server, "/?user=order") as ws:
            pipe = r.pipeline(transaction=False)
            for i in range(n):
                pipe.publish("order", msg(i))
            assert pipe.execute() == [1] * n
            for i in range(n):
                got = await recv(ws)
                want = msg(i)
                if i % 2 == 0:
                    assert got == want.decode(), i
                else:
                    assert got == want, i
    arun(run())


@pytest.mark.parametrize("n", [0, 1, 125, 126, 127, 65535, 65536, 70000])
def test_server_frames_unmasked_minimal_length(server, redis_server, n):
    r = redis_server.client()
    s, rest = raw_open(server.port, "/?user=wire")
    with s:
        kinds = [(OP_TEXT, b"t" * n)]
        if n:
            kinds.append((OP_BINARY, b"\xff" * n))
        for op, p in kinds:
            if n < 126:
                hdr = bytes([0x80 | op, n])
            elif n < 65536:
                hdr = bytes([0x80 | op, 126]) + n.to_bytes(2, "big")
            else:
                hdr = bytes([0x80 | op, 127]) + n.to_bytes(8, "big")
            assert r.publish("wire", p) == 1
            got, rest = recv_exact(s, len(hdr) + n, rest)
            assert got[:len(hdr)] == hdr, got[:10]
            assert got[len(hdr):] == p
        # and through the harness' own checks
        assert r.publish("wire", b"x" * n) == 1
        fin, op, payload, rest = read_frame(s, rest)
        assert (fin, op, payload) == (True, OP_TEXT, b"x" * n)


# ------------------------------------------------- several connections

def test_several_connections_of_one_user(server, redis_server):
    r = redis_server.client()

    async def run():
        conns = []
        for path in ("/?user=Carol", "/a?user=CAROL", "/b/c?user=carol"):
            conns.append(await connect(server, path))
        try:
            assert numsub(r, "carol") == 3
            for i in range(5):
                assert r.publish("carol", "msg%d" % i) == 3
            for ws in conns:
                for i in range(5):
                    assert await recv(ws) == "msg%d" % i
            for left in (2, 1, 0):
                await asyncio.wait_for(conns.pop().close(), T)
                wait_numsub(r, "carol", left)
                if left:
                    assert r.publish("carol", "left%d" % left) == left
                    for ws in conns:
                        assert await recv(ws) == "left%d" % left
        finally:
            for ws in conns:
                await ws.close()
    arun(run())


def test_users_are_separate(server, redis_server):
    r = redis_server.client()

    async def run():
        async with connect(server, "/?user=u1") as a, \
                connect(server, "/?user=u2") as b:
            assert r.publish("u1", "for u1") == 1
            assert r.publish("u2", "for u2") == 1
            assert await recv(a) == "for u1"
            assert await recv(b) == "for u2"
            await a.send("ping")
            await b.send("ping")
            assert await recv(a) == "pong"
            assert await recv(b) == "pong"
    arun(run())


# -------------------------------------------------------------- closing

def redis_clients(r):
    return r.info("clients")["connected_clients"]


@pytest.mark.parametrize("code", [1000, 1001, 3000, 4000, 4999])
def test_client_close_is_echoed_and_child_exits(server, redis_server, code):
    r = redis_server.client()
    user = "closer%d" % code
    base = settled_redis_clients(server, r)

    async def run():
        ws = await connect(server, "/?user=" + user)
        # The child took a spare's connection; a new spare opens one.
        wait_for(lambda: redis_clients(r) == base + 1, timeout=T,
                 what="the busy child and a refilled spare")
        port = ws.local_address[1]
        pid = child_pid(server, "%s 127.0.0.1:%d" % (user, port))
        assert numsub(r, user) == 1
        await asyncio.wait_for(ws.close(code=code, reason="bye"), T)
        assert ws.close_rcvd is not None, "server sent no close frame"
        assert ws.close_rcvd.code == code
        wait_numsub(r, user, 0)
        # Reused, the child keeps its (unsubscribed) Redis connection.
        kept = wait_served(server, pid) == "spare"
        wait_for(lambda: redis_clients(r) == base + kept, timeout=T,
                 what="the child's Redis connection to close")
    arun(run())


def test_server_close_unsubscribes_and_child_exits(make_server,
                                                   redis_server):
    """The other side: the server closes (here with 1009)."""
    server = make_server(max_message_size="1k")
    r = redis_server.client()
    base = settled_redis_clients(server, r)

    async def run():
        async with connect(server, "/?user=evicted") as ws:
            pid = child_pid(server, "evicted 127.0.0.1:%d"
                            % ws.local_address[1])
            wait_for(lambda: redis_clients(r) == base + 1, timeout=T,
                     what="the busy child and a refilled spare")
            await ws.send("x" * 2000)
            await expect_close(ws, 1009)
        wait_numsub(r, "evicted", 0)
        wait_gone(server, pid)
        wait_for(lambda: redis_clients(r) == base, timeout=T,
                 what="the child's Redis connection to close")
    arun(run())


def test_raw_close_echo_then_tcp_close(server, redis_server):
    r = redis_server.client()
    s, rest = raw_open(server.port, "/?user=rawclose")
    with s:
        s.sendall(frame(OP_CLOSE, (4000).to_bytes(2, "big") + b"bye"))
        fin, op, payload, rest = read_frame(s, rest)
        assert op == OP_CLOSE and close_code(payload) == 4000
        t0 = time.monotonic()
        assert expect_eof(s, rest, timeout=3) == []
        assert time.monotonic() - t0 < 1.5  # not waiting for our FIN
    wait_numsub(r, "rawclose", 0)


def test_raw_empty_close_is_answered(server, redis_server):
    s, rest = raw_open(server.port, "/?user=rawempty")
    with s:
        s.sendall(frame(OP_CLOSE, b""))
        fin, op, payload, rest = read_frame(s, rest)
        assert op == OP_CLOSE
        assert payload in (b"", (1000).to_bytes(2, "big"))
        assert expect_eof(s, rest, timeout=3) == []


def test_tcp_drop_unsubscribes_and_child_exits(server, redis_server):
    r = redis_server.client()
    s, rest = raw_open(server.port, "/?user=dropper")
    pid = child_pid(server, "dropper 127.0.0.1:%d" % s.getsockname()[1])
    assert numsub(r, "dropper") == 1
    s.close()
    wait_numsub(r, "dropper", 0)
    wait_gone(server, pid)


# ----------------------------------------------- client messages, pings

def test_text_ping_gets_text_pong(server, redis_server):
    async def run():
        async with connect(server, "/?user=pinger") as ws:
            for _ in range(3):
                await ws.send("ping")
                got = await recv(ws)
                assert got == "pong" and isinstance(got, str)
    arun(run())


@pytest.mark.parametrize("payload", [b"", b"abc", bytes(range(125)),
                                     b"\xff\xfe not utf-8"],
                         ids=["empty", "abc", "125", "binary"])
def test_ping_frame_gets_pong_with_same_payload(server, redis_server,
                                                payload):
    s, rest = raw_open(server.port, "/?user=rawping")
    with s:
        s.sendall(frame(OP_PING, payload))
        fin, op, got, rest = read_frame(s, rest)
        assert (fin, op, got) == (True, OP_PONG, payload)


def test_ping_frame_via_websockets(server, redis_server):
    async def run():
        async with connect(server, "/?user=wsping") as ws:
            pong = await ws.ping(b"hello pong")
            await asyncio.wait_for(pong, T)
    arun(run())


def test_other_client_messages_are_ignored(server, redis_server):
    r = redis_server.client()

    async def run():
        async with connect(server, "/?user=quiet") as ws:
            for m in ["hello", "PING", "ping ", " ping", "pong", "",
                      b"ping", b"\x00\xff", "x" * 1000,
                      ["pi", "ng"]]:  # fragmented "ping" is a ping too
                await ws.send(m)
            # the fragmented "ping" above answers; nothing else does
            assert await recv(ws) == "pong"
            await ws.send("ping")
            assert await recv(ws) == "pong"
            assert r.publish("quiet", "still here") == 1
            assert await recv(ws) == "still here"
    arun(run())


# ------------------------------------------------------- message size cap

@pytest.mark.parametrize("msg", [
    "x" * 1025,
    b"\x00" * 1025,
    ["a" * 400, "b" * 400, "c" * 400],
    [b"a" * 1000, b"b" * 25],
    ["a"] * 1025,
], ids=["text", "binary", "text-fragments", "binary-fragments",
        "many-fragments"])
def test_message_over_max_size_closes_1009(make_server, redis_server, msg):
    server = make_server(max_message_size="1k")
    r = redis_server.client()

    async def run():
        async with connect(server, "/?user=huge") as ws:
            await ws.send(msg)
            await expect_close(ws, 1009)
        wait_numsub(r, "huge", 0)
    arun(run())


def test_message_at_max_size_is_fine(make_server, redis_server):
    server = make_server(max_message_size="1k")
    r = redis_server.client()

    async def run():
        async with connect(server, "/?user=fits") as ws:
            await ws.send("x" * 1024)
            await ws.send(b"\x00" * 1024)
            await ws.send(["a" * 512, "b" * 512])
            await ws.send("ping")
            assert await recv(ws) == "pong"
            assert r.publish("fits", "ok") == 1
            assert await recv(ws) == "ok"
    arun(run())


def test_message_over_max_size_before_identify_closes_1009(make_server,
                                                            redis_server):
    server = make_server(max_message_size="1k")

    async def run():
        async with connect(server, "/") as ws:
            await ws.send(json.dumps({"user_name": "bob", "pad": "x" * 1100}))
            await expect_close(ws, 1009)
    arun(run())


def test_raw_oversized_frame_header_closes_1009(make_server, redis_server):
    """The cap is applied from the length in the header: the server need
    not wait for (or buffer) the payload."""
    server = make_server(max_message_size="1k")
    s, rest = raw_open(server.port, "/?user=hdr")
    with s:
        full = frame(OP_BINARY, b"\x00" * 100000)
        s.sendall(full[:14 + 100])  # header, key and a little payload
        fin, op, payload, rest = read_frame(s, rest)
        assert op == OP_CLOSE and close_code(payload) == 1009


# -------------------------------------------------------------- keepalive

def test_keepalive_pings_answering_client_stays(make_server, redis_server):
    server = make_server(ping_interval="1s", ping_timeout="1s")
    r = redis_server.client()
    s, rest = raw_open(server.port, "/?user=alive")
    with s:
        s.settimeout(3)
        t0 = time.monotonic()
        pings = []
        while len(pings) < 3:
            fin, op, payload, rest = read_frame(s, rest)
            assert op == OP_PING, op
            pings.append(time.monotonic())
            s.sendall(frame(OP_PONG, payload))
        gaps = [b - a for a, b in zip([t0] + pings, pings)]
        assert all(0.6 <= g <= 1.8 for g in gaps), gaps
        assert r.publish("alive", "still open") == 1
        fin, op, payload, rest = read_frame(s, rest)
        assert (op, payload) == (OP_TEXT, b"still open")


def test_keepalive_websockets_client_stays(make_server, redis_server):
    server = make_server(ping_interval="1s", ping_timeout="1s")
    r = redis_server.client()

    async def run():
        # no pings of its own: only its automatic pongs keep it alive
        async with connect(server, "/?user=wsalive", ping_interval=None) as ws:
            await asyncio.sleep(3.2)
            assert numsub(r, "wsalive") == 1
            assert r.publish("wsalive", "after pings") == 1
            assert await recv(ws) == "after pings"
    arun(run())


def test_keepalive_silent_client_dropped(make_server, redis_server):
    server = make_server(ping_interval="1s", ping_timeout="1s")
    r = redis_server.client()
    s, rest = raw_open(server.port, "/?user=silent")
    pid = child_pid(server, "silent 127.0.0.1:%d" % s.getsockname()[1])
    t0 = time.monotonic()
    with s:
        # read nothing, answer nothing: the server must give up on us
        wait_numsub(r, "silent", 0, timeout=5)
        elapsed = time.monotonic() - t0
        assert 1.5 <= elapsed <= 4.0, elapsed
        wait_gone(server, pid)
        frames = expect_eof(s, rest, timeout=2)
        assert frames and frames[0][0] == OP_PING, frames
        assert all(op in (OP_PING, OP_CLOSE) for op, _ in frames), frames


def test_no_pings_before_interval(make_server, redis_server):
    server = make_server(ping_interval="2s", ping_timeout="1s")
    s, rest = raw_open(server.port, "/?user=early")
    with s:
        r, _, _ = select.select([s], [], [], 1.0)
        assert not r and not rest, "server sent something before the interval"


# --------------------------------------------------------- Redis health

def test_healthz(server, redis_server):
    status, resp = http_get(server.port, "/healthz")
    assert status == 200, resp
    redis_server.stop()
    status, resp = http_get(server.port, "/healthz")
    assert status == 503, resp


@pytest.mark.parametrize("path", ["/?user=alice", "/"])
def test_redis_down_at_handshake_503(server, redis_server, path):
    assert raw_status(server.port, path) == 101
    redis_server.stop()
    assert raw_status(server.port, path) == 503


def test_redis_lost_while_open_closes_1011(make_server, redis_server):
    """Redis gone for longer than redis_retry_timeout: 1011, not before."""
    server = make_server(redis_retry_timeout="1s")

    async def run():
        async with connect(server, "/?user=victim", ping_interval=None) as a, \
                connect(server, "/?user=victim2", ping_interval=None) as b:
            t0 = time.monotonic()
            redis_server.stop()
            await expect_close(a, 1011)
            await expect_close(b, 1011)
            assert 0.9 <= time.monotonic() - t0 < 4
    arun(run())


def test_redis_lost_without_retry_closes_1011_at_once(make_server,
                                                      redis_server):
    server = make_server(redis_retry_timeout="0")

    async def run():
        async with connect(server, "/?user=victim", ping_interval=None) as a:
            t0 = time.monotonic()
            redis_server.stop()
            await expect_close(a, 1011)
            assert time.monotonic() - t0 < 1
    arun(run())


def test_redis_lost_before_identify_closes_1011(make_server, redis_server):
    server = make_server(redis_retry_timeout="500ms")

    async def run():
        async with connect(server, "/", ping_interval=None) as ws:
            redis_server.stop()
            await ws.send('{"user_name": "late"}')
            await expect_close(ws, 1011)
    arun(run())


# ------------------------------------------------------------------ IPv6

class _V6Wspubsub(Wspubsub):
    """Listens on ::1 only; the harness' readiness check assumes IPv4."""

    def __init__(self, tmpdir, redis_port, port6):
        super().__init__(tmpdir, redis_port, listen=["[::1]:%d" % port6])
        self.port = port6

    def _accepting(self):
        if self.proc.poll() is not None:
            raise AssertionError("wspubsub exited: %s" % self.log())
        try:
            socket.create_connection(("::1", self.port), 0.2).close()
            return True
        except OSError:
            return False

    @property
    def url(self):
        return "%s://[::1]:%d" % (ws_scheme(), self.port)


def test_ipv6(tmpdir_, redis_server):
    port6 = free_port(socket.AF_INET6, "::1")
    server = _V6Wspubsub(tmpdir_, redis_server.port, port6)
    server.start()
    r = redis_server.client()
    try:
        async def run():
            async with connect(server, "/?user=Six") as ws:
                assert r.publish("six", "over v6") == 1
                assert await recv(ws) == "over v6"
        arun(run())
        s, rest = raw_open(port6, "/?user=six", host="::1",
                           family=socket.AF_INET6)
        with s:
            assert r.publish("six", b"\xffraw") == 1
            fin, op, payload, rest = read_frame(s, rest)
            assert (op, payload) == (OP_BINARY, b"\xffraw")
        status, _ = http_get(port6, "/healthz", host="::1")
        assert status == 200
    finally:
        server.stop()


# --------------------------------------------------------- head delivery

def test_head_one_byte_at_a_time(server, redis_server):
    r = redis_server.client()
    s = client_connect(("127.0.0.1", server.port), T)
    with s:
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for b in raw_request("/?user=slowpoke"):
            s.sendall(bytes([b]))
            time.sleep(0.0005)
        head, rest = read_head(s)
        assert status_of(head) == 101
        assert r.publish("slowpoke", "made it") == 1
        fin, op, payload, rest = read_frame(s, rest)
        assert (op, payload) == (OP_TEXT, b"made it")


def test_first_frame_in_same_segment_as_head(server, redis_server):
    s = client_connect(("127.0.0.1", server.port), T)
    with s:
        s.sendall(raw_request("/?user=eager") + frame(OP_PING, b"early"))
        head, rest = read_head(s)
        assert status_of(head) == 101
        fin, op, payload, rest = read_frame(s, rest)
        assert (op, payload) == (OP_PONG, b"early")


def test_several_frames_in_same_segment_as_head(server, redis_server):
    s = client_connect(("127.0.0.1", server.port), T)
    with s:
        s.sendall(raw_request("/?user=eager2") + frame(OP_TEXT, b"ping") +
                  frame(OP_PING, b"p2") + frame(OP_TEXT, b"ignored"))
        head, rest = read_head(s)
        assert status_of(head) == 101
        fin, op, payload, rest = read_frame(s, rest)
        assert (op, payload) == (OP_TEXT, b"pong")
        fin, op, payload, rest = read_frame(s, rest)
        assert (op, payload) == (OP_PONG, b"p2")


def test_identify_in_same_segment_as_head(server, redis_server):
    r = redis_server.client()
    s = client_connect(("127.0.0.1", server.port), T)
    with s:
        s.sendall(raw_request("/") +
                  frame(OP_TEXT, b'{"user_name": "Quick"}'))
        head, rest = read_head(s)
        assert status_of(head) == 101
        wait_subscribed(r, "quick")
        assert r.publish("quick", "hi") == 1
        fin, op, payload, rest = read_frame(s, rest)
        assert (op, payload) == (OP_TEXT, b"hi")
