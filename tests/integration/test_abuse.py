"""Abuse limits: slowloris, max_connections_per_ip (429),
max_connections (503 from the master, no fork), oversized heads, endless
headers, huge frames, endless fragments and ping floods, each bounded in
memory and time.

Each scenario is a function taking its sizes, so tests/stress/ runs the
long versions (tens of thousands of connections and frames); the tests
here run reduced ones.
All traffic stays on loopback; every wait is bounded.
"""
import os
import re
import selectors
import socket
import threading
import time

import pytest

import harness
from harness import (FrameReader, assert_clean_log, child_of_user,
                     close_code, connect_from, live_children, mask_frame,
                     open_ws, proc_status_kib, raw_request, read_frame,
                     read_head, report, settle, spare_pids, status_of,
                     wait_for)

# These clients speak plain ws:// over raw, mostly non-blocking sockets;
# the suite's TLS mode (WSPUBSUB_TLS=1) is not for them.
pytestmark = pytest.mark.skipif(getattr(harness, "TLS", False),
                                reason="raw plain-ws clients")

OP_CONT, OP_TEXT, OP_BIN, OP_CLOSE, OP_PING, OP_PONG = 0, 1, 2, 8, 9, 10
MIB = 1024


@pytest.fixture
def make_server(make_server):
    """The conftest fixture, plus a sanitizer check of every server's log
    (the ASan build) once the test is over."""
    started = []

    def make(**conf):
        w = make_server(**conf)
        started.append(w)
        return w
    yield make
    for w in started:
        w.stop()
    for w in started:
        assert_clean_log(w)


def recv_until_closed(s, timeout):
    """Read until EOF or reset; returns (bytes, seconds waited).  Fails if
    the peer keeps the connection open past timeout."""
    t0 = time.monotonic()
    got = b""
    s.settimeout(0.2)
    while True:
        if time.monotonic() - t0 > timeout:
            raise AssertionError("connection still open after %.1fs"
                                 % timeout)
        try:
            data = s.recv(65536)
        except socket.timeout:
            continue
        except (ConnectionResetError, BrokenPipeError):
            break
        if not data:
            break
        got += data
    return got, time.monotonic() - t0


def expect_close_frame(s, rest, code, timeout=2.0):
    """Read frames (skipping data and pongs) until a close; assert its
    code; returns the seconds it took."""
    t0 = time.monotonic()
    reader = FrameReader()
    data = rest
    while True:
        for _, op, payload in reader.feed(data):
            if op == OP_CLOSE:
                assert close_code(payload) == code, payload
                return time.monotonic() - t0
        left = timeout - (time.monotonic() - t0)
        if left <= 0:
            raise AssertionError("no close %d within %.1fs" % (code, timeout))
        s.settimeout(left)
        try:
            data = s.recv(65536)
        except socket.timeout:
            raise AssertionError("no close %d within %.1fs" % (code, timeout))
        if not data:
            raise AssertionError("EOF before close %d" % code)


def publish_and_receive(r, s, rest, user, payload, within=1.0):
    """Publish payload to user and read it on s (a raw upgraded socket)
    within `within` seconds; returns the leftover bytes."""
    if isinstance(payload, str):
        payload = payload.encode()
    t0 = time.monotonic()
    assert r.publish(user, payload) == 1
    s.settimeout(within)
    fin, op, got, rest = read_frame(s, rest)
    assert got == payload and op == OP_TEXT and fin
    el = time.monotonic() - t0
    assert el < within, "%s got its message after %.2fs" % (user, el)
    return rest


# --- slowloris ---------------------------------------------------------------

def slowloris(w, r, n, timeout_s, probes=3):
    """n connections each send the request head one byte a second.  Every
    one must be held by a child, then dropped at handshake_timeout (never
    answered); meanwhile normal clients connect and receive within 1 s."""
    req = raw_request("/?user=slow")
    assert len(req) > timeout_s + 5, "head too short to trickle"
    sel = selectors.DefaultSelector()
    conns = {}                          # socket -> [t_connect, sent, t_close]
    bad = []
    t_start = time.monotonic()
    for _ in range(n):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setblocking(False)
        s.connect_ex(("127.0.0.1", w.port))
        conns[s] = [time.monotonic(), 0, None]
        sel.register(s, selectors.EVENT_READ)
    t_open = time.monotonic() - t_start

    # Normal clients, in their own thread so the trickle keeps its pace.
    probe_res = []

    def probe_all():
        # Once every slow client is held by a child, probe at intervals
        # until shortly before they are dropped.
        try:
            # 100 forks on a loaded 2-core machine can take a second.
            wait_for(lambda: len(live_children(w)) >= n, timeout_s * 0.6,
                     what="%d children for the slow clients" % n)
        except AssertionError as e:
            probe_res.append((0.0, None, None, e))
            return
        gap = (timeout_s - 1.0 - (time.monotonic() - t_start)) / probes
        for i in range(probes):
            if i:
                time.sleep(max(0.0, gap))
            t0 = time.monotonic()
            try:
                user = "probe%d" % i
                s, rest = open_ws(w.port, user, timeout=5)
                with s:
                    t1 = time.monotonic()
                    assert r.publish(user, "hello %d" % i) == 1
                    s.settimeout(5)
                    _, op, payload, _ = read_frame(s, rest)
                    assert payload == b"hello %d" % i, payload
                    busy = len(live_children(w))
                probe_res.append((time.monotonic() - t0, t1 - t0, busy, None))
            except Exception as e:          # reported by the main thread
                probe_res.append((time.monotonic() - t0, None, None, e))
    th = threading.Thread(target=probe_all, daemon=True)
    th.start()

    max_children = 0
    end = t_start + timeout_s + max(4.0, n / 100.0)
    next_tick = time.monotonic()
    while any(c[2] is None for c in conns.values()):
        now = time.monotonic()
        if now > end:
            break
        if now >= next_tick:
            # one more byte on every open connection
            for s, c in conns.items():
                if c[2] is None and c[1] < len(req) - 4:
                    try:
                        c[1] += s.send(req[c[1]:c[1] + 1])
                    except (BlockingIOError, InterruptedError):
                        pass
                    except OSError:
                        pass        # reset: seen as EOF by the read below
            next_tick += 1.0
            max_children = max(max_children, len(live_children(w)))
        for key, _ in sel.select(max(0.0, min(next_tick, end) - now)):
            s = key.fileobj
            c = conns[s]
            try:
                data = s.recv(4096)
            except (BlockingIOError, InterruptedError):
                continue
            except OSError:
                data = b""
            if data:
                bad.append(data[:80])
            c[2] = time.monotonic()
            sel.unregister(s)
            s.close()
    th.join(10)
    still_open = [c for c in conns.values() if c[2] is None]
    for s, c in conns.items():
        if c[2] is None:
            s.close()
    sel.close()

    lifetimes = sorted(c[2] - c[0] for c in conns.values() if c[2])
    assert not bad, "slow clients got answers: %r" % bad[:3]
    assert not still_open, "%d of %d slow clients still open after %.1fs" % (
        len(still_open), n, end - t_start)
    # Every slow client was held by a child (not refused, not queued) ...
    assert max_children >= n, "only %d children for %d slow clients" % (
        max_children, n)
    # ... and dropped at handshake_timeout: not before, not much after.
    assert lifetimes[0] >= timeout_s - 0.3, \
        "a slow client was dropped after %.2fs" % lifetimes[0]
    assert lifetimes[-1] <= timeout_s + max(3.0, n / 150.0), \
        "a slow client was dropped only after %.2fs" % lifetimes[-1]
    for total, upgraded, busy, err in probe_res:
        if err:
            raise err
        assert total < 1.0, "normal client served after %.2fs" % total
    assert len(probe_res) == probes, "probes did not finish: %r" % probe_res
    assert max(p[2] for p in probe_res) >= n, \
        "probes did not run while the slow clients were open"
    # Each was logged as such; then only the spares are left.
    logged = len(re.findall(r"no complete request head", w.log()))
    assert logged >= n, "%d of %d slow clients logged" % (logged, n)
    settle(w, timeout=15)
    w.assert_reaped()
    return ("slowloris: %d connections at 1 byte/s, handshake_timeout %gs: "
            "all dropped after %.2f-%.2fs (opened in %.2fs); normal client "
            "served in %.0f-%.0f ms"
            % (n, timeout_s, lifetimes[0], lifetimes[-1], t_open,
               min(p[0] for p in probe_res) * 1000,
               max(p[0] for p in probe_res) * 1000))


def test_slowloris_dropped_at_handshake_timeout(make_server, redis_server):
    w = make_server(handshake_timeout="3s")
    settle(w)
    report(slowloris(w, redis_server.client(), 100, 3.0))


# --- max_connections_per_ip -> 429 -------------------------------------------

def http_status_from(port, user, src=None, timeout=2.0):
    """Send an upgrade request from src; returns (status, head, seconds)."""
    t0 = time.monotonic()
    s = connect_from(port, src, timeout=timeout)
    with s:
        s.sendall(raw_request("/?user=%s" % user))
        head, _ = read_head(s)
    return status_of(head), head, time.monotonic() - t0


def ws_close(s, rest=b""):
    """Close handshake as a client, then wait for the server's FIN."""
    s.sendall(mask_frame(OP_CLOSE, (1000).to_bytes(2, "big")))
    expect_close_frame(s, rest, 1000)
    recv_until_closed(s, 3.0)
    s.close()


def test_max_connections_per_ip_429_other_address_accepted(make_server,
                                                           redis_server):
    w = make_server(max_connections_per_ip=2)
    r = redis_server.client()
    settle(w)
    a1, ra1 = open_ws(w.port, "ipa1")
    a2, ra2 = open_ws(w.port, "ipa2")
    wait_for(lambda: len(spare_pids(w)) == 2, 5, what="spares refilled")
    kids = set(live_children(w))
    try:
        # The third from 127.0.0.1: 429 at once, from the master.
        status, head, el = http_status_from(w.port, "ipa3")
        assert status == 429, head
        assert b"Retry-After:" in head, head
        assert el < 1.0, "429 after %.2fs" % el
        assert set(live_children(w)) == kids, "a child was forked for a 429"
        assert re.search(r"127\.0\.0\.1:\d+: max_connections_per_ip \(2\) "
                         r"reached", w.log())
        # Another loopback address has its own count.
        b1, rb1 = open_ws(w.port, "ipb1", src="127.0.0.2")
        b2, rb2 = open_ws(w.port, "ipb2", src="127.0.0.2")
        try:
            status, head, el = http_status_from(w.port, "ipb3",
                                                src="127.0.0.2")
            assert status == 429 and el < 1.0, (head, el)
            # Everyone admitted is served.
            ra1 = publish_and_receive(r, a1, ra1, "ipa1", "to a1")
            ra2 = publish_and_receive(r, a2, ra2, "ipa2", "to a2")
            rb1 = publish_and_receive(r, b1, rb1, "ipb1", "to b1")
            rb2 = publish_and_receive(r, b2, rb2, "ipb2", "to b2")
            assert r.pubsub_numsub("ipa3") == [(b"ipa3", 0)]
        finally:
            b1.close()
            b2.close()
        # A slot freed by a closed client is given again.
        ws_close(a1, ra1)

        def admitted():
            status, head, _ = http_status_from(w.port, "ipa4")
            assert status in (101, 429), head
            return status == 101
        wait_for(admitted, 5, interval=0.1,
                 what="a 127.0.0.1 client admitted after one closed")
        ra2 = publish_and_receive(r, a2, ra2, "ipa2", "still a2")
    finally:
        a1.close()
        a2.close()
    assert w.proc.poll() is None


def test_max_connections_per_ip_counts_clients_in_handshake(make_server,
                                                            redis_server):
    """Connections that never finish their head hold their slots: one
    address cannot occupy the server with slowloris connections."""
    w = make_server(max_connections_per_ip=3, handshake_timeout="3s")
    settle(w)
    slow = [connect_from(w.port) for _ in range(3)]
    try:
        for s in slow:
            s.sendall(b"GET /?user=x HTTP/1.1\r\n")
        wait_for(lambda: len(live_children(w)) >= 5, 5,
                 what="3 handshaking children")
        time.sleep(0.1)
        statuses = [http_status_from(w.port, "slowx%d" % i)[0]
                    for i in range(5)]
        assert statuses == [429] * 5, statuses
        # Another address is not affected.
        s, rest = open_ws(w.port, "other", src="127.0.0.3")
        with s:
            publish_and_receive(redis_server.client(), s, rest, "other", "ok")
    finally:
        for s in slow:
            s.close()


# --- max_connections -> 503 from the master, no fork -------------------------

class ChildWatcher(threading.Thread):
    """Samples the master's children every few ms; .seen is every PID."""

    def __init__(self, w):
        super().__init__(daemon=True)
        self.w = w
        self.seen = set()
        self.stop = threading.Event()

    def run(self):
        while not self.stop.is_set():
            self.seen.update(p for p, _ in self.w.children())
            time.sleep(0.002)


def refused_burst(w, n, user="burst", timeout=10.0):
    """n clients connect and send their request at once; returns the
    answers as [(status, seconds from connect to the answer)]."""
    sel = selectors.DefaultSelector()
    st = {}
    for i in range(n):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setblocking(False)
        s.connect_ex(("127.0.0.1", w.port))
        st[s] = [time.monotonic(), raw_request("/?user=%s%d" % (user, i)),
                 b"", None]
        sel.register(s, selectors.EVENT_WRITE)
    end = time.monotonic() + timeout
    left = n
    while left and time.monotonic() < end:
        for key, ev in sel.select(0.2):
            s = key.fileobj
            c = st[s]
            try:
                if ev & selectors.EVENT_WRITE:
                    c[1] = c[1][s.send(c[1]):]
                    if not c[1]:
                        sel.modify(s, selectors.EVENT_READ)
                    continue
                data = s.recv(4096)
            except (BlockingIOError, InterruptedError):
                continue
            except OSError as e:
                data, c[2] = b"", c[2] + ("[%s]" % e).encode()
            c[2] += data
            if b"\r\n\r\n" in c[2] or not data:
                c[3] = time.monotonic() - c[0]
                sel.unregister(s)
                s.close()
                left -= 1
    for s in st:
        s.close()
    sel.close()
    return [(status_of(c[2]) if c[2].startswith(b"HTTP/") else c[2][:60],
             c[3]) for c in st.values()]


def max_connections_burst(w, r, refused_n, waves=1):
    """max_connections=2 reached; waves of refused_n clients each get 503
    at once from the master: no process is forked for them."""
    settle(w)
    c1, r1 = open_ws(w.port, "full1")
    c2, r2 = open_ws(w.port, "full2")
    try:
        wait_for(lambda: len(spare_pids(w)) == 2 and
                 len(live_children(w)) == 4, 5, what="2 busy + 2 spares")
        before = set(live_children(w))
        watcher = ChildWatcher(w)
        watcher.start()
        answers = []
        t0 = time.monotonic()
        try:
            for i in range(waves):
                answers += refused_burst(w, refused_n, "burst%d_" % i)
        finally:
            watcher.stop.set()
            watcher.join(5)
        took = time.monotonic() - t0
        statuses = [a[0] for a in answers]
        assert statuses == [503] * len(answers), \
            "not all 503: %r" % [s for s in statuses if s != 503][:5]
        worst = max(a[1] for a in answers)
        assert worst < 1.0, "a 503 took %.2fs" % worst
        assert watcher.seen == before, \
            "processes appeared during the burst: %r" % (watcher.seen - before)
        assert set(live_children(w)) == before
        assert len(re.findall(r"max_connections \(2\) reached", w.log())) == 1
        # The two admitted clients are served throughout.
        r1 = publish_and_receive(r, c1, r1, "full1", "after burst 1")
        r2 = publish_and_receive(r, c2, r2, "full2", "after burst 2")
    finally:
        c1.close()
        c2.close()
    # Once a slot is free, clients are admitted again.
    def admitted():
        status, head, _ = http_status_from(w.port, "later")
        assert status in (101, 503), head
        return status == 101
    wait_for(admitted, 5, interval=0.1, what="a client admitted again")
    return ("max_connections: %d refused clients in %d wave(s): all 503 in "
            "<= %.0f ms, %.2fs in all, no process forked"
            % (len(answers), waves, worst * 1000, took))


def test_max_connections_503_without_forking(make_server, redis_server):
    w = make_server(max_connections=2, spare_children=2)
    report(max_connections_burst(w, redis_server.client(), 50))


# --- oversized heads and endless headers -------------------------------------

def test_oversized_heads_in_parallel_are_431(make_server, redis_server):
    """20 clients each send a 64 KiB head at once: every one gets 431 fast
    and the server goes on serving."""
    w = make_server()
    big = raw_request("/?user=big", {"X-Pad": "p" * (64 * 1024)})
    results = []

    def one():
        t0 = time.monotonic()
        try:
            s = connect_from(w.port, timeout=5)
            with s:
                try:
                    s.sendall(big)
                except (BrokenPipeError, ConnectionResetError):
                    pass        # the server stopped reading after 8 KiB
                head, _ = read_head(s)
                results.append((status_of(head), time.monotonic() - t0))
        except Exception as e:
            results.append((repr(e), time.monotonic() - t0))
    threads = [threading.Thread(target=one) for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(15)
    assert [s for s, _ in results] == [431] * 20, results
    assert max(t for _, t in results) < 3.0, results
    s, rest = open_ws(w.port, "after")
    with s:
        publish_and_receive(redis_server.client(), s, rest, "after", "ok")


@pytest.mark.parametrize("pace", ["fast", "slow"])
def test_endless_headers_are_cut(make_server, redis_server, pace):
    """A client that sends header lines forever: fast, it is cut at 8 KiB
    with 431; slowly, it is dropped at handshake_timeout.  Either way the
    server stops reading it within bounded time."""
    w = make_server(handshake_timeout="3s")
    settle(w)
    s = connect_from(w.port)
    s.setblocking(False)
    sent = 0
    got = b""
    t0 = time.monotonic()
    line_no = 0
    closed_at = None
    try:
        s.send(b"GET /?user=endless HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        while time.monotonic() - t0 < 8.0:
            line = b"X-Endless-%d: %s\r\n" % (line_no, b"v" * 40)
            try:
                sent += s.send(line)
                line_no += 1
            except BlockingIOError:
                pass
            except OSError:
                closed_at = time.monotonic() - t0
                break
            try:
                data = s.recv(4096)
                if not data:
                    closed_at = time.monotonic() - t0
                    break
                got += data
            except BlockingIOError:
                pass
            except OSError:
                closed_at = time.monotonic() - t0
                break
            time.sleep(0.0005 if pace == "fast" else 0.05)
    finally:
        s.close()
    assert closed_at is not None, "still open after 8s (%d bytes sent)" % sent
    if pace == "fast":
        assert got.startswith(b"HTTP/1.1 431 "), got[:100]
        # 431 once the head passes 8 KiB, then at most the 2 s linger.
        assert closed_at < 4.0, "closed after %.2fs" % closed_at
    else:
        assert sent < 8192
        assert got == b"", got[:100]
        assert 2.7 <= closed_at <= 5.0, "closed after %.2fs" % closed_at
    assert re.search(r"request head too large" if pace == "fast" else
                     r"no complete request head", w.log())
    settle(w)


# --- huge frames and endless fragments ---------------------------------------

def hwm(pid):
    v = proc_status_kib(pid, "VmHWM")
    assert v is not None, "child %d gone" % pid
    return v


def open_user(w, user):
    """A raw upgraded connection and the PID of the child serving it."""
    s, rest = open_ws(w.port, user)
    pid = wait_for(lambda: child_of_user(w, user, s.getsockname()[1]), 5,
                   what="%s's child" % user)
    return s, rest, pid


def test_huge_frame_is_1009_without_reading_payload(make_server,
                                                    redis_server):
    """A frame declaring 2^62 bytes: close 1009 at once; the payload that
    follows is not buffered (the child's peak memory does not grow)."""
    w = make_server()
    s, rest, pid = open_user(w, "huge")
    with s:
        base = hwm(pid)
        t0 = time.monotonic()
        s.sendall(bytes([0x82, 0xff]) + (1 << 62).to_bytes(8, "big")
                  + b"\x01\x02\x03\x04")
        took = expect_close_frame(s, rest, 1009, timeout=2.0)
        assert took < 1.0, "1009 after %.2fs" % took
        # Keep sending "payload": it must not be kept.
        s.setblocking(False)
        junk = b"\xaa" * 65536
        pushed = 0
        end = time.monotonic() + 1.0
        while time.monotonic() < end:
            try:
                pushed += s.send(junk)
            except BlockingIOError:
                time.sleep(0.01)
            except OSError:
                break
        peak = proc_status_kib(pid, "VmHWM")
        if peak is not None:
            assert peak - base < 1 * MIB, \
                "child grew by %d KiB after 2^62 length" % (peak - base)
        s.settimeout(4)
        recv_until_closed(s, 4.0)
    assert time.monotonic() - t0 < 4.5
    wait_for(lambda: not os.path.exists("/proc/%d/status" % pid) or
             proc_status_kib(pid, "VmRSS") is None, 5, what="child to exit")


def endless_fragments(w, max_message_size):
    """A fragmented text message that never ends: 1009 once it passes
    max_message_size, with bounded memory."""
    s, rest, pid = open_user(w, "frag")
    with s:
        base = hwm(pid)
        piece = b"f" * 4096
        s.sendall(mask_frame(OP_TEXT, piece, fin=False))
        cont = mask_frame(OP_CONT, piece, fin=False)
        s.setblocking(False)
        sent = 4096
        reader = FrameReader(rest)
        code = None
        t0 = time.monotonic()
        out = b""
        while code is None and time.monotonic() - t0 < 10:
            if not out:
                out = cont
                sent += len(piece)
            try:
                out = out[s.send(out):]     # partial sends keep framing
            except BlockingIOError:
                time.sleep(0.005)
            except OSError:
                pass
            try:
                data = s.recv(65536)
            except BlockingIOError:
                continue
            except OSError:
                break
            if not data:
                break
            for _, op, payload in reader.feed(data):
                if op == OP_CLOSE:
                    code = close_code(payload)
        took = time.monotonic() - t0
        peak = proc_status_kib(pid, "VmHWM")
    assert code == 1009, "no 1009 (got %r) after %d bytes" % (code, sent)
    assert sent > max_message_size
    assert took < 5.0, "1009 after %.2fs" % took
    if peak is not None:
        assert peak - base < 2 * MIB + max_message_size // 1024, \
            "child grew by %d KiB" % (peak - base)
    return sent, took


def test_endless_fragments_are_1009(make_server, redis_server):
    w = make_server()
    endless_fragments(w, 65536)


def empty_fragments(w, r, count):
    """'pi' + count empty continuation frames + 'ng': the child answers
    'pong' (it parsed them all) and its memory did not grow."""
    s, rest, pid = open_user(w, "empty")
    with s:
        s.settimeout(30)
        # warm up the paths used below
        s.sendall(mask_frame(OP_TEXT, b"pi", fin=False)
                  + mask_frame(OP_CONT, b"", fin=False)
                  + mask_frame(OP_CONT, b"ng"))
        _, op, payload, rest = read_frame(s, rest)
        assert (op, payload) == (OP_TEXT, b"pong")
        base_rss = proc_status_kib(pid, "VmRSS")
        base_hwm = hwm(pid)
        t0 = time.monotonic()
        s.sendall(mask_frame(OP_TEXT, b"pi", fin=False))
        chunk = mask_frame(OP_CONT, b"", fin=False) * 10000
        for _ in range(count // 10000):
            s.sendall(chunk)
        s.sendall(mask_frame(OP_CONT, b"ng"))
        _, op, payload, rest = read_frame(s, rest)
        took = time.monotonic() - t0
        assert (op, payload) == (OP_TEXT, b"pong"), (op, payload)
        rss, peak = proc_status_kib(pid, "VmRSS"), hwm(pid)
        rest = publish_and_receive(r, s, rest, "empty", "still here")
    assert rss - base_rss < 256, "RSS grew by %d KiB" % (rss - base_rss)
    assert peak - base_hwm < 512, "peak RSS grew by %d KiB" % (
        peak - base_hwm)
    return ("empty fragments: %d in one message parsed in %.2fs, child RSS "
            "%+d KiB, peak %+d KiB" % (count, took, rss - base_rss,
                                       peak - base_hwm))


def test_endless_empty_fragments_do_not_grow_memory(make_server,
                                                    redis_server):
    w = make_server()
    report(empty_fragments(w, redis_server.client(), 200000))


# --- ping floods -------------------------------------------------------------

def ping_flood(w, r, count, batch=10000):
    """The client sends count pings (125-byte payloads) without reading a
    single pong.  The child's memory stays bounded, another client is
    served within 1 s throughout, and afterwards the flooder's connection
    still works: the pongs it gets are answers to its pings, in order."""
    s, rest, pid = open_user(w, "flood")
    o, orest = open_ws(w.port, "other")
    try:
        base = hwm(pid)
        s.settimeout(30)
        t0 = time.monotonic()
        worst_other = 0.0
        for b in range(0, count, batch):
            s.sendall(b"".join(
                mask_frame(OP_PING, b"%010d" % i + b"x" * 115)
                for i in range(b, min(b + batch, count))))
            t1 = time.monotonic()
            orest = publish_and_receive(r, o, orest, "other", "b%d" % b)
            worst_other = max(worst_other, time.monotonic() - t1)
        sent_in = time.monotonic() - t0
        # Now read: every pong echoes one ping, in increasing order; ask
        # 'ping' until the text 'pong' shows all input was handled.
        reader = FrameReader(rest)
        pongs, last = 0, -1
        done = False
        s.setblocking(False)
        asked = 0.0
        end = time.monotonic() + 20
        while not done and time.monotonic() < end:
            if time.monotonic() - asked > 1.0:
                s.sendall(mask_frame(OP_TEXT, b"ping"))
                asked = time.monotonic()
            try:
                data = s.recv(1 << 20)
            except BlockingIOError:
                time.sleep(0.01)
                continue
            assert data, "flooder's connection closed"
            for _, op, payload in reader.feed(data):
                if op == OP_PONG:
                    n = int(payload[:10])
                    assert payload == b"%010d" % n + b"x" * 115
                    assert n > last, "pong %d after %d" % (n, last)
                    last = n
                    pongs += 1
                elif op == OP_TEXT and payload == b"pong":
                    done = True
                elif op == OP_CLOSE:
                    raise AssertionError("closed: %r" % payload)
        assert done, "no answer to 'ping' after the flood"
        assert pongs >= 1
        s.setblocking(True)
        s.settimeout(5)
        assert r.publish("flood", "after flood") == 1
        got_it = False
        end = time.monotonic() + 5
        while not got_it:
            left = end - time.monotonic()
            assert left > 0, "no message after the flood"
            s.settimeout(left)
            data = s.recv(65536)
            assert data, "flooder's connection closed"
            for _, op, payload in reader.feed(data):
                if op == OP_TEXT and payload == b"after flood":
                    got_it = True
        peak = hwm(pid)
    finally:
        s.close()
        o.close()
    assert peak - base < 8 * MIB, "child peak RSS grew by %d KiB" % (
        peak - base)
    assert worst_other < 1.0
    return ("ping flood: %d pings (%.1f MB) sent in %.2fs unread; %d pongs "
            "answered in order; child peak RSS %+d KiB; other client served "
            "in <= %.0f ms" % (count, count * 131 / 1e6, sent_in, pongs,
                              peak - base, worst_other * 1000))


def test_ping_flood_bounded(make_server, redis_server):
    w = make_server()
    report(ping_flood(w, redis_server.client(), 100000))
