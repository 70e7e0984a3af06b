"""HAProxy's PROXY protocol (v1 text, v2 binary) on listeners marked
`listen ADDR proxy`: the header comes first (before TLS on a `tls proxy`
listener), and the address it names is the client's in the logs, the
process title and metrics_allow; LOCAL (v2) and UNKNOWN (v1) keep the
socket's own.  A bad header closes the connection ("bad PROXY header"), a
missing one at handshake_timeout ("no PROXY header in time").

In the TLS pass (WSPUBSUB_TLS=1) the harness makes every listen line
`... proxy tls`: these tests send the header in plaintext, then wrap the
socket with harness.tls_wrap.
"""
import os
import re
import socket
import ssl
import struct
import subprocess
import time

import pytest

from harness import (TLS, BINARY, Wspubsub, assert_clean_log, free_port,
                     raw_request, read_frame, read_head, status_of, tls_wrap,
                     wait_for)

T = 5.0
OP_TEXT, OP_CLOSE = 0x1, 0x8

SIG = b"\r\n\r\n\x00\r\nQUIT\n"


def v1(src="203.0.113.7", sport=51234, fam="TCP4", dst="198.51.100.2",
       dport=443):
    return ("PROXY %s %s %s %d %d\r\n" % (fam, src, dst, sport, dport)).encode()


def v2(cmd=1, fam=0x11, body=b""):
    return SIG + bytes([0x20 | cmd, fam]) + struct.pack(">H", len(body)) + body


def v2_tcp4(src="203.0.113.7", sport=51234, dst="198.51.100.2", dport=443,
            tlvs=b""):
    return v2(1, 0x11, socket.inet_pton(socket.AF_INET, src) +
              socket.inet_pton(socket.AF_INET, dst) +
              struct.pack(">HH", sport, dport) + tlvs)


def v2_tcp6(src="2001:db8::7", sport=51234, dst="2001:db8::2", dport=443,
            tlvs=b""):
    return v2(1, 0x21, socket.inet_pton(socket.AF_INET6, src) +
              socket.inet_pton(socket.AF_INET6, dst) +
              struct.pack(">HH", sport, dport) + tlvs)


# PP2_TYPE_ALPN "http/1.1", PP2_TYPE_AUTHORITY, a NOOP.
TLVS = (b"\x01\x00\x08http/1.1" + b"\x02\x00\x0bexample.com" +
        b"\x04\x00\x02\x00\x00")


@pytest.fixture
def proxy_server(tmpdir_, redis_server):
    """proxy_server(plain=False, **conf): a wspubsub whose listener (on
    .port) is marked proxy; plain=True adds a non-proxy listener on
    .plain_port."""
    started = []

    def make(plain=False, **conf):
        w = Wspubsub(tmpdir_, redis_server.port, **conf)
        w.conf["listen"] = ["127.0.0.1:%d proxy" % w.port]
        if plain:
            w.plain_port = free_port()
            w.conf["listen"].append("127.0.0.1:%d" % w.plain_port)
        started.append(w)
        return w.start()
    yield make
    for w in started:
        w.stop()
    for w in started:
        assert_clean_log(w)


def proxied(port, header, chunk=None, delay=0.0, timeout=T):
    """A connection to a proxy listener that sends header first (whole, or
    `chunk` bytes at a time `delay` apart), then speaks TLS in the TLS
    pass.  Returns (wrapped socket, local address of the raw socket)."""
    s = socket.create_connection(("127.0.0.1", port), timeout)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    local = s.getsockname()
    try:
        if chunk is None:
            s.sendall(header)
        else:
            for i in range(0, len(header), chunk):
                s.sendall(header[i:i + chunk])
                time.sleep(delay)
        return tls_wrap(s), local
    except BaseException:
        s.close()
        raise


def upgrade(s, user):
    s.sendall(raw_request("/?user=%s" % user))
    head, rest = read_head(s)
    assert status_of(head) == 101, head
    return rest


def publish_and_receive(r, s, rest, user, payload):
    wait_for(lambda: r.pubsub_numsub(user)[0][1] >= 1, T,
             what="%s subscribed" % user)
    time.sleep(0.1)
    assert r.publish(user, payload) == 1
    s.settimeout(T)
    fin, op, got, rest = read_frame(s, rest)
    assert (fin, op, got) == (True, OP_TEXT, payload.encode())
    return rest


def close_line(w, user, timeout=T):
    """The child's close line for user, once it is logged."""
    pat = re.compile(r"close user=%s peer=(\S+) " % re.escape(user))
    return wait_for(lambda: pat.search(w.log()), timeout,
                    what="the close line of %s" % user).group(1)


def expect_closed_without_answer(s, timeout=T):
    """The server closes s without sending anything (no 101, no status)."""
    s.settimeout(timeout)
    data = b""
    try:
        while True:
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
    except (ConnectionResetError, ssl.SSLError, OSError):
        pass
    assert data == b"", data


def serve_one(w, r, header, user, payload="hello"):
    """header, upgrade, a PUBLISHed message arrives, close: returns the
    peer of the close line and the raw socket's local address."""
    s, local = proxied(w.port, header)
    with s:
        rest = upgrade(s, user)
        publish_and_receive(r, s, rest, user, payload)
    return close_line(w, user), local


# --- headers that name the client --------------------------------------------

@pytest.mark.parametrize("name,header,peer", [
    ("v1tcp4", v1(), "203.0.113.7:51234"),
    ("v1tcp6", v1("2001:db8::7", 51234, "TCP6", "2001:db8::2"),
     "[2001:db8::7]:51234"),
    ("v2tcp4", v2_tcp4(), "203.0.113.7:51234"),
    ("v2tcp6", v2_tcp6(), "[2001:db8::7]:51234"),
    ("v2tcp4tlv", v2_tcp4(tlvs=TLVS), "203.0.113.7:51234"),
    ("v2tcp6tlv", v2_tcp6(tlvs=TLVS), "[2001:db8::7]:51234"),
])
def test_header_names_the_client(proxy_server, redis_server, name, header,
                                 peer):
    w = proxy_server()
    got, _ = serve_one(w, redis_server.client(), header, "pp" + name)
    assert got == peer
    assert re.search(r"%s: PROXY header: client %s" % (
        r"127\.0\.0\.1:\d+", re.escape(peer)), w.log())


def test_process_title_shows_the_client(proxy_server, redis_server):
    w = proxy_server()
    s, _ = proxied(w.port, v1())
    with s:
        upgrade(s, "titled")

        def title():
            for pid, st in w.children():
                try:
                    with open("/proc/%d/cmdline" % pid, "rb") as f:
                        t = f.read().split(b"\0", 1)[0].decode()
                except OSError:
                    continue
                if t.endswith(" titled 203.0.113.7:51234"):
                    return t
            return None
        wait_for(title, T, what="a child titled 'titled 203.0.113.7:51234'")


@pytest.mark.parametrize("name,header", [
    ("v2local", v2(0, 0x00)),
    ("v2localaddr", v2(0, 0x11, bytes(12))),
    ("v1unknown", b"PROXY UNKNOWN\r\n"),
    ("v1unknownf", b"PROXY UNKNOWN 203.0.113.7 198.51.100.2 51234 443\r\n"),
    ("v2unspec", v2(1, 0x00)),
    ("v2udp4", v2(1, 0x12, bytes(12))),
])
def test_own_connection_keeps_socket_address(proxy_server, redis_server,
                                             name, header):
    """LOCAL, UNKNOWN and no usable family: the socket's own address."""
    w = proxy_server()
    got, local = serve_one(w, redis_server.client(), header, "own" + name)
    assert got == "%s:%d" % local


def test_header_one_byte_at_a_time(proxy_server, redis_server):
    """Slowly, but within handshake_timeout: served."""
    w = proxy_server(handshake_timeout="5s")
    r = redis_server.client()
    for user, header, peer in (
            ("slowv1", v1(), "203.0.113.7:51234"),
            ("slowv2", v2_tcp4(tlvs=TLVS), "203.0.113.7:51234")):
        s, _ = proxied(w.port, header, chunk=1, delay=0.02)
        with s:
            rest = upgrade(s, user)
            publish_and_receive(r, s, rest, user, "slow")
        assert close_line(w, user) == peer


def test_header_and_request_in_one_segment(proxy_server, redis_server):
    """The header and the request arrive together: the child takes only
    the header's bytes and the request still gets its 101 (plain only:
    over TLS the request cannot share the header's write)."""
    if TLS:
        pytest.skip("over TLS the request follows the TLS handshake")
    w = proxy_server()
    r = redis_server.client()
    for user, header in (("seg1", v1()), ("seg2", v2_tcp4(tlvs=TLVS))):
        s = socket.create_connection(("127.0.0.1", w.port), T)
        with s:
            s.sendall(header + raw_request("/?user=%s" % user))
            head, rest = read_head(s)
            assert status_of(head) == 101, head
            publish_and_receive(r, s, rest, user, "together")
        assert close_line(w, user) == "203.0.113.7:51234"


# --- no header, bad headers ---------------------------------------------------

def test_no_header_closed(proxy_server):
    """A plain HTTP request where the header should be: closed, no 101."""
    w = proxy_server()
    s = socket.create_connection(("127.0.0.1", w.port), T)
    with s:
        local = s.getsockname()
        s.sendall(raw_request("/?user=noheader"))
        expect_closed_without_answer(s)
    wait_for(lambda: "127.0.0.1:%d: bad PROXY header" % local[1] in w.log(),
             T, what="'bad PROXY header' in the log")
    assert "close user=noheader" not in w.log()


def test_tls_without_header_closed(proxy_server):
    """In the TLS pass, a ClientHello where the header should be."""
    if not TLS:
        pytest.skip("TLS pass only: a TLS client that sends no header")
    w = proxy_server()
    s = socket.create_connection(("127.0.0.1", w.port), T)
    local = s.getsockname()
    with pytest.raises((ssl.SSLError, ConnectionError, OSError)):
        tls_wrap(s).close()
    s.close()
    wait_for(lambda: "127.0.0.1:%d: bad PROXY header" % local[1] in w.log(),
             T, what="'bad PROXY header' in the log")


BAD = [
    ("nocr", v1()[:-2] + b"\n"),
    ("port", v1(sport=65536)),
    ("zeros", b"PROXY TCP4 203.0.113.7 198.51.100.2 051234 443\r\n"),
    ("family", b"PROXY TCP5 203.0.113.7 198.51.100.2 51234 443\r\n"),
    ("addr", b"PROXY TCP4 2001:db8::7 198.51.100.2 51234 443\r\n"),
    ("spaces", b"PROXY TCP4  203.0.113.7 198.51.100.2 51234 443\r\n"),
    ("extra", b"PROXY TCP4 203.0.113.7 198.51.100.2 51234 443 1\r\n"),
    ("toolong", b"PROXY UNKNOWN " + b"x" * 120 + b"\r\n"),
    ("nul", b"PROXY TCP4 203.0.113.7\x00198.51.100.2 51234 443\r\n"),
    ("v2sig", b"\r\n\r\n\x00\r\nQUIX\n" + v2_tcp4()[12:]),
    ("v2ver", SIG + b"\x11\x11\x00\x0c" + bytes(12)),
    ("v2cmd", SIG + b"\x22\x11\x00\x0c" + bytes(12)),
    ("v2short", v2(1, 0x11, bytes(8))),
    ("v2short6", v2(1, 0x21, bytes(20))),
    ("v2huge", SIG + b"\x21\x11\xff\xff" + bytes(64)),
]


@pytest.mark.parametrize("name,header", BAD, ids=[b[0] for b in BAD])
def test_bad_header_closed(proxy_server, name, header):
    w = proxy_server()
    s = socket.create_connection(("127.0.0.1", w.port), T)
    with s:
        local = s.getsockname()
        try:
            s.sendall(header + raw_request("/?user=bad"))
        except (BrokenPipeError, ConnectionResetError):
            pass
        expect_closed_without_answer(s)
    wait_for(lambda: "127.0.0.1:%d: bad PROXY header" % local[1] in w.log(),
             T, what="'bad PROXY header' in the log")
    assert "close user=bad" not in w.log()


def test_header_never_completed(proxy_server):
    """Half a header, then nothing: closed at handshake_timeout."""
    w = proxy_server(handshake_timeout="1s")
    for part in (v1()[:20], v2_tcp4()[:10], v2_tcp4()[:20], b""):
        s = socket.create_connection(("127.0.0.1", w.port), T)
        with s:
            local = s.getsockname()
            t0 = time.monotonic()
            if part:
                s.sendall(part)
            expect_closed_without_answer(s, timeout=5)
            el = time.monotonic() - t0
        assert 0.8 <= el < 3.0, "closed after %.2fs (handshake_timeout 1s)" \
            % el
        wait_for(lambda: "127.0.0.1:%d: no PROXY header in time" % local[1]
                 in w.log(), T, what="'no PROXY header in time' in the log")


# --- health checks, limits, mixed listeners ------------------------------------

def test_healthz_through_local(proxy_server):
    w = proxy_server()
    for header in (v2(0, 0x00), b"PROXY UNKNOWN\r\n", v1()):
        s, _ = proxied(w.port, header)
        with s:
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            data = b""
            s.settimeout(T)
            while True:
                chunk = s.recv(4096)
                if not chunk:
                    break
                data += chunk
        assert status_of(data) == 200, data


def test_metrics_allow_uses_the_named_client(proxy_server):
    w = proxy_server(metrics_allow="203.0.113.0/24")

    def get(header):
        s, _ = proxied(w.port, header)
        with s:
            s.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
            head, _ = read_head(s)
            return status_of(head)
    assert get(v1("203.0.113.9")) == 200
    assert get(v2_tcp4("203.0.113.10")) == 200
    assert get(v1("198.51.100.9")) == 403
    assert get(v2_tcp6("2001:db8::7")) == 403
    # LOCAL: the socket's own address, 127.0.0.1, not in the net.
    assert get(v2(0, 0x00)) == 403


def test_max_connections_per_ip_not_applied(proxy_server, redis_server):
    """Behind a proxy every socket is the proxy's: no per-IP limit."""
    w = proxy_server(max_connections_per_ip=1)
    r = redis_server.client()
    socks = []
    try:
        for i, header in enumerate((v1(), v1(), v2_tcp4(), v2(0, 0x00))):
            s, _ = proxied(w.port, header)
            socks.append((s, upgrade(s, "perip%d" % i)))
        for i, (s, rest) in enumerate(socks):
            publish_and_receive(r, s, rest, "perip%d" % i, "ok %d" % i)
    finally:
        for s, _ in socks:
            s.close()
    assert "max_connections_per_ip" not in w.log()


def test_plain_listener_beside_proxy_listener(proxy_server, redis_server):
    w = proxy_server(plain=True)
    r = redis_server.client()
    # The plain listener: no header.
    s = socket.create_connection(("127.0.0.1", w.plain_port), T)
    local = s.getsockname()
    s = tls_wrap(s)
    with s:
        rest = upgrade(s, "plainone")
        publish_and_receive(r, s, rest, "plainone", "plain")
    assert close_line(w, "plainone") == "%s:%d" % local
    # ... where a header is not understood (an answer of 400, or a reset
    # when the server closes with the request unread).
    s = socket.create_connection(("127.0.0.1", w.plain_port), T)
    s = tls_wrap(s)
    with s:
        try:
            s.sendall(v1() + raw_request("/?user=plainhdr"))
            head, _ = read_head(s)
        except (ConnectionResetError, BrokenPipeError, ssl.SSLError):
            head = b""
        assert status_of(head) != 101, head
    assert "close user=plainhdr" not in w.log()
    # The proxy listener on the same server.
    got, _ = serve_one(w, r, v1(), "proxyone")
    assert got == "203.0.113.7:51234"


# --- configuration ----------------------------------------------------------------

@pytest.mark.parametrize("opts,ok", [
    ("proxy", True),
    ("proxy proxy", False),
    ("bogus", False),
    ("proxy bogus", False),
    ("tls tls", False),
    ("tls proxy tls", False),
    ("PROXY", False),
])
def test_check_listen_options(tmpdir_, opts, ok):
    path = os.path.join(tmpdir_, "listen.conf")
    with open(path, "w") as f:
        f.write("# a comment\nredis_port 6390\nlisten 127.0.0.1:1 %s\n" % opts)
    p = subprocess_run([BINARY, "-t", "-f", path])
    out = (p.stdout + p.stderr).decode(errors="replace")
    if ok:
        assert p.returncode == 0, out
        assert "configuration OK" in out
    else:
        assert p.returncode == 1, out
        assert "%s:3" % path in out, out
        assert "configuration OK" not in out


def subprocess_run(argv):
    return subprocess.run(argv, capture_output=True, timeout=15)
