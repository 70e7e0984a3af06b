"""permessage-deflate (RFC 7692) with real clients: Python websockets (which
offers it by default), Node's ws package with perMessageDeflate, and
headless Chromium.  Each gets compressed messages intact; a relay between
client and server records the bytes, and the server's frames are checked
to have had RSV1 set (and the client's, where the client compresses).
Also: compression no, compression_min_size, and the memory a connection
holds with compression on, idle and after 1 MiB messages.

The relay sees TLS records under WSPUBSUB_TLS=1: the wire checks are made
over ws:// only.  Node and Chromium run over ws:// only (neither trusts the
test CA here).
"""
import asyncio
import json
import os
import shutil
import socket
import subprocess
import threading
import zlib

import pytest

import harness
from harness import ROOT, wait_for
from test_browser import browser, contrib_http  # noqa: F401 (fixtures)

T = 10.0
NODE_SCRIPT = os.path.join(ROOT, "tests", "integration", "js",
                           "deflate_check.js")
# npm's ws (tests/integration/js/package.json; contrib/deps.sh runs npm ci)
NODE_WS = os.path.join(ROOT, "tests", "integration", "js", "node_modules",
                       "ws")


def numsub(r, channel):
    return dict(r.pubsub_numsub(channel)).get(channel.encode(), 0)


def wait_sub(r, channel, n=1):
    wait_for(lambda: numsub(r, channel) == n, timeout=T,
             what="NUMSUB %s == %d" % (channel, n))


def json_msg(n, seed=0):
    out, i = [], seed
    while sum(len(x) for x in out) < n:
        out.append('{"id":%d,"type":"notice","text":"comment %d on post %d"},'
                   % (i, i * 7, i % 13))
        i += 1
    return "".join(out)[:n]


# ------------------------------------------------------------------ relay

class Relay:
    """A loopback TCP relay that keeps every byte, both ways, of each
    connection through it."""

    def __init__(self, port):
        self.port_to = port
        self.ls = socket.socket()
        self.ls.bind(("127.0.0.1", 0))
        self.ls.listen(16)
        self.port = self.ls.getsockname()[1]
        self.conns = []     # [client->server bytearray, server->client]
        self.lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                c, _ = self.ls.accept()
            except OSError:
                return
            s = socket.create_connection(("127.0.0.1", self.port_to), T)
            rec = [bytearray(), bytearray()]
            with self.lock:
                self.conns.append(rec)
            threading.Thread(target=self._pipe, args=(c, s, rec[0]),
                             daemon=True).start()
            threading.Thread(target=self._pipe, args=(s, c, rec[1]),
                             daemon=True).start()

    def _pipe(self, a, b, rec):
        try:
            while True:
                d = a.recv(65536)
                if not d:
                    break
                with self.lock:
                    rec += d
                b.sendall(d)
        except OSError:
            pass
        finally:
            try:
                b.shutdown(socket.SHUT_WR)
            except OSError:
                pass

    def close(self):
        self.ls.close()

    def recorded(self, i=-1):
        with self.lock:
            return bytes(self.conns[i][0]), bytes(self.conns[i][1])


@pytest.fixture
def relay_for():
    made = []

    def make(server):
        r = Relay(server.port)
        made.append(r)
        return r
    yield make
    for r in made:
        r.close()


def frames(data, masked):
    """The frames in a recorded stream after the HTTP head:
    [(fin, rsv, opcode, payload)], payloads unmasked."""
    i = data.index(b"\r\n\r\n") + 4
    out = []
    while i + 2 <= len(data):
        b0, b1 = data[i], data[i + 1]
        n, j = b1 & 0x7f, i + 2
        if n == 126:
            n, j = int.from_bytes(data[j:j + 2], "big"), j + 2
        elif n == 127:
            n, j = int.from_bytes(data[j:j + 8], "big"), j + 8
        key = None
        if b1 & 0x80:
            key, j = data[j:j + 4], j + 4
        if j + n > len(data):
            break
        p = data[j:j + n]
        if key:
            p = bytes(x ^ key[k & 3] for k, x in enumerate(p))
        out.append((bool(b0 & 0x80), (b0 >> 4) & 7, b0 & 0x0f, p))
        i = j + n
    return out


def server_messages(data):
    """The server's data messages on the wire: [(compressed, payload as
    sent)]; control frames left out."""
    return [(rsv == 4, p) for fin, rsv, op, p in frames(data, False)
            if op in (1, 2)]


def check_wire(relay, sent, min_size=256, more=0):
    """Each message in sent went out as one frame, with RSV1 set exactly
    when it was at least min_size bytes and compressing made it smaller,
    and inflates (alone: no context) to the same bytes; more messages
    (answers to the client) may follow."""
    if harness.TLS:
        return      # the relay saw TLS records
    _, down = relay.recorded()
    msgs = server_messages(down)
    assert len(msgs) == len(sent) + more, (len(msgs), len(sent), more)
    msgs = msgs[:len(sent)]
    for (compressed, p), m in zip(msgs, sent):
        m = m.encode() if isinstance(m, str) else m
        if compressed:
            assert len(m) >= min_size
            d = zlib.decompressobj(-10)
            assert d.decompress(p + b"\x00\x00\xff\xff") == m
            assert len(p) < len(m)
        else:
            assert p == m
            assert len(m) < min_size or len(zlib.compress(m, 1)) >= len(m)
    return msgs


# ---------------------------------------------------------- Python client

def py_recv_all(url, sent, r, user, send=()):
    import websockets

    async def run():
        async with websockets.connect(url, open_timeout=T, close_timeout=T,
                                      max_size=None) as ws:
            ext = ws.response_headers.get("Sec-WebSocket-Extensions")
            wait_sub(r, user)
            got = []
            for m in sent:
                r.publish(user, m)
                got.append(await asyncio.wait_for(ws.recv(), T))
            for m in send:
                await ws.send(m)
            if send:
                await ws.send("ping")
                assert await asyncio.wait_for(ws.recv(), T) == "pong"
            return ext, got
    return asyncio.run(run())


SIZES = [10, 255, 256, 2048, 70000, 1 << 20]


def test_python_websockets_gets_compressed_messages(make_server, redis_server,
                                                    relay_for):
    w = make_server()
    relay = relay_for(w)
    r = redis_server.client()
    sent = [json_msg(n, n) for n in SIZES] + [os.urandom(5000),
                                              b"\xff" + b"z" * 4000, ""]
    url = "%s://127.0.0.1:%d/?user=pyz" % (harness.ws_scheme(), relay.port)
    ext, got = py_recv_all(url, sent, r, "pyz")
    assert ext.startswith("permessage-deflate; server_no_context_takeover")
    assert got == sent
    msgs = check_wire(relay, sent)
    if msgs is not None:
        assert [c for c, _ in msgs] == [False, False, True, True, True, True,
                                        False, True, False]
    harness.assert_clean_log(w)
    assert "killed by the sandbox" not in w.log()


def test_python_websockets_sends_compressed(make_server, redis_server,
                                            relay_for):
    # websockets compresses what it sends; the server inflates it (the
    # answer to "ping" comes only if the context was followed).
    w = make_server()
    relay = relay_for(w)
    r = redis_server.client()
    url = "%s://127.0.0.1:%d/?user=pysend" % (harness.ws_scheme(), relay.port)
    send = [json_msg(3000), json_msg(3000), "x" * 60000, b"\x00" * 50000]
    py_recv_all(url, [], r, "pysend", send=send)
    if not harness.TLS:
        up, _ = relay.recorded()
        data = [(rsv, op) for fin, rsv, op, p in frames(up, True)
                if op in (1, 2)]
        assert all(rsv == 4 for rsv, op in data), data
    wait_for(lambda: "close user=pysend" in w.log(), timeout=T,
             what="the child's close line")
    assert "code=1000" in w.log().split("close user=pysend")[1]
    harness.assert_clean_log(w)


def test_compression_off_gives_plain_bytes(make_server, redis_server,
                                           relay_for):
    w = make_server(compression="no")
    relay = relay_for(w)
    r = redis_server.client()
    sent = [json_msg(n) for n in (300, 5000, 100000)]
    url = "%s://127.0.0.1:%d/?user=plain" % (harness.ws_scheme(), relay.port)
    ext, got = py_recv_all(url, sent, r, "plain")
    assert ext is None
    assert got == sent
    msgs = check_wire(relay, sent, min_size=1 << 30)
    if msgs is not None:
        assert not any(c for c, _ in msgs)


def test_compression_min_size_and_level(make_server, redis_server, relay_for):
    w = make_server(compression_min_size="1k", compression_level="9")
    relay = relay_for(w)
    r = redis_server.client()
    sent = [json_msg(n) for n in (300, 1023, 1024, 50000)]
    url = "%s://127.0.0.1:%d/?user=minsz" % (harness.ws_scheme(), relay.port)
    _, got = py_recv_all(url, sent, r, "minsz")
    assert got == sent
    msgs = check_wire(relay, sent, min_size=1024)
    if msgs is not None:
        assert [c for c, _ in msgs] == [False, False, True, True]


def test_subprotocol_header_and_payload_compressed_together(
        make_server, redis_server, relay_for):
    import websockets
    w = make_server()
    relay = relay_for(w)
    r = redis_server.client()
    m = json_msg(3000)

    async def run():
        url = "%s://127.0.0.1:%d/?user=v1z" % (harness.ws_scheme(),
                                               relay.port)
        async with websockets.connect(url, subprotocols=["wspubsub.v1"],
                                      open_timeout=T) as ws:
            assert ws.subprotocol == "wspubsub.v1"
            wait_sub(r, "v1z")
            r.publish("v1z", m)
            return await asyncio.wait_for(ws.recv(), T)
    assert asyncio.run(run()) == "\n" + m
    check_wire(relay, ["\n" + m])


# ------------------------------------------------------------------ memory

def private_kib(pid):
    """Private_Clean + Private_Dirty (kB) of a process: what it alone
    holds, whatever else shares its pages."""
    total = 0
    with open("/proc/%d/smaps_rollup" % pid) as f:
        for line in f:
            if line.startswith(("Private_Clean:", "Private_Dirty:")):
                total += int(line.split()[1])
    return total


@pytest.mark.skipif(harness.is_asan_binary(),
                    reason="ASan's allocator and shadow memory measure "
                    "nothing about ours")
def test_memory_idle_and_after_big_messages(make_server, redis_server):
    import websockets
    on = make_server()
    off = make_server(compression="no")
    r = redis_server.client()
    big_json = json_msg(1 << 20)
    big_rand = os.urandom(1 << 20)

    async def idle(w, user, publish=()):
        async with websockets.connect("%s/?user=%s" % (w.url, user),
                                      max_size=None) as ws:
            wait_sub(r, user)
            # One small message, so that both have their first frame out.
            r.publish(user, "hello")
            await asyncio.wait_for(ws.recv(), T)
            pid = harness.child_of_user(w, user)
            assert pid is not None
            before = private_kib(pid)
            for m in publish:
                r.publish(user, m)
                assert await asyncio.wait_for(ws.recv(), T) == m
            # Then idle again: the state freed, the buffers given back.
            # (The Redis read buffer of a large message goes at the next
            # read: one small message more.)
            r.publish(user, "hello")
            assert await asyncio.wait_for(ws.recv(), T) == "hello"
            await asyncio.wait_for(await ws.ping(), T)
            # The compressor's pages go 100 ms after its last message.
            last = []
            wait_for(lambda: last.append(private_kib(pid)) or
                     last[-1] <= before + 64 + 8, timeout=T,
                     what="the child's memory back near its idle size")
            return before, last[-1]
    msgs = [big_json, big_rand, big_json]
    on_idle, on_after = asyncio.run(idle(on, "memon", msgs))
    off_idle, off_after = asyncio.run(idle(off, "memoff", msgs))
    harness.report("deflate memory: private KiB idle, compression on %d, "
                   "off %d; after three 1 MiB messages, on %d, off %d"
                   % (on_idle, off_idle, on_after, off_after))
    assert on_idle <= off_idle + 8, (on_idle, off_idle)
    # What a large message leaves either way is the 64 KiB static Redis
    # read buffer it filled (subscriber.c), not compression state.
    assert on_after <= off_after + 8, (on_after, off_after)
    assert on_after <= on_idle + 64 + 16, (on_idle, on_after)


# --------------------------------------------------------------- Node ws

def node_ws():
    exe = shutil.which("node")
    why = None
    if exe is None:
        why = "node not installed"
    elif not os.path.isdir(NODE_WS):
        why = ("the npm ws package not installed (npm ci in "
               "tests/integration/js)")
    if why:
        if os.environ.get("CI"):
            pytest.fail(why + "; not skipping in CI")
        pytest.skip(why)
    return exe


@pytest.mark.skipif(harness.TLS, reason="plain ws:// only: the Node client "
                    "trusts no test CA")
def test_node_ws_per_message_deflate(make_server, redis_server, relay_for):
    exe = node_ws()
    w = make_server()
    relay = relay_for(w)
    r = redis_server.client()
    sent = [json_msg(n, n) for n in (100, 300, 2048, 70000, 1 << 20)]
    p = subprocess.Popen([exe, NODE_SCRIPT, "ws://127.0.0.1:%d/?user=nodez"
                          % relay.port, str(len(sent))],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True)
    try:
        wait_sub(r, "nodez")
        for m in sent:
            r.publish("nodez", m)
        out, err = p.communicate(timeout=30)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    assert p.returncode == 0, err
    lines = [json.loads(x) for x in out.splitlines()]
    assert lines[0]["extensions"].startswith("permessage-deflate")
    assert [x["msg"] for x in lines[1:-1]] == sent
    assert lines[-1] == {"pong": True}
    check_wire(relay, sent, more=1)
    up, _ = relay.recorded()
    data = [(rsv, len(pl)) for fin, rsv, op, pl in frames(up, True)
            if op in (1, 2)]
    # Node compresses what is over its threshold (1 KiB): the 5000 bytes.
    assert (4, data[0][1]) == data[0] and data[0][1] < 5000, data
    harness.assert_clean_log(w)


# --------------------------------------------------------------- Chromium

@pytest.mark.skipif(harness.TLS, reason="plain ws:// only: the browser "
                    "trusts no test CA")
def test_chromium_gets_compressed_messages(make_server, redis_server,
                                           relay_for, browser, contrib_http):
    from selenium.webdriver.support.ui import WebDriverWait
    w = make_server()
    relay = relay_for(w)
    r = redis_server.client()
    sent = [json_msg(n, n) for n in (50, 300, 2048, 70000, 1 << 20)]
    # A page from loopback: Chromium lets it open a socket to loopback.
    browser.get(contrib_http + "/demo/index.html")
    browser.execute_script("""
        window.got = []; window.ext = null;
        const ws = new WebSocket(arguments[0]);
        ws.onopen = () => { window.ext = ws.extensions; };
        ws.onmessage = (ev) => window.got.push(ev.data);
    """, "ws://127.0.0.1:%d/?user=chromez" % relay.port)
    wait_sub(r, "chromez")
    for m in sent:
        r.publish("chromez", m)
    WebDriverWait(browser, 30).until(
        lambda d: d.execute_script("return window.got.length") == len(sent))
    assert browser.execute_script("return window.ext").startswith(
        "permessage-deflate")
    assert browser.execute_script("return window.got") == sent
    msgs = check_wire(relay, sent)
    assert [c for c, _ in msgs] == [False, True, True, True, True]
    harness.assert_clean_log(w)
