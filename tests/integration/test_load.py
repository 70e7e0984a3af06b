"""Leaks and load: connect/disconnect cycles leave the master as
it was (no zombie, same descriptors, same RSS) and Redis' connected_clients
at its baseline; many connections each receive messages published
concurrently with none lost, none duplicated and order kept; a child that
crashes (SIGSEGV, SIGKILL) affects no other connection.

The scenarios take their sizes as arguments: tests/stress/ runs them with
full sizes (10,000 cycles, 2,000 connections x 100 messages); the
tests here run reduced versions.  Loopback only; every wait is bounded.
"""
import json
import os
import re
import resource
import selectors
import signal
import socket
import struct
import threading
import time

import pytest

import harness
from harness import (assert_clean_log, child_of_user,
                     close_code, connect_from, fd_count, is_asan_binary,
                     live_children, mask_frame, open_ws, open_ws_many,
                     proc_status_kib, raise_nofile, raw_request, read_frame,
                     read_head, report, settle, spare_pids, status_of,
                     wait_for)

# These clients speak plain ws:// over raw, mostly non-blocking sockets;
# the suite's TLS mode (WSPUBSUB_TLS=1) is not for them.
pytestmark = pytest.mark.skipif(getattr(harness, "TLS", False),
                                reason="raw plain-ws clients")

OP_TEXT, OP_CLOSE, OP_PING, OP_PONG = 1, 8, 9, 10

# Thousands of sockets in this process and in the server it starts.
raise_nofile()


@pytest.fixture
def make_server(make_server):
    """The conftest fixture, plus a sanitizer check of every server's log;
    the test may tolerate the report of a child it sent SIGSEGV itself
    (ASan turns that signal into a report and exit status 1)."""
    started = []

    def make(**conf):
        w = make_server(**conf)
        started.append(w)
        return w
    make.allow_pids = []
    yield make
    for w in started:
        w.stop()
    for w in started:
        assert_clean_log(w, allow_pids=make.allow_pids)


def log_notices(w, n=25):
    """The master's last n log lines, but for forks and exits, for
    failure messages."""
    lines = [ln for ln in w.log().splitlines() if " master: " in ln and
             not re.search(r" forked$| exited$", ln)]
    return "\n".join(lines[-n:])


def redis_clients(r):
    return r.info("clients")["connected_clients"]


# --- connect/disconnect cycles ----------------------------------------------

def one_cycle(port, i):
    """One client life, of six kinds in turn: close handshake; reset (RST)
    after the upgrade; FIN without close frame; identify message then
    close; HTTP 400; connect and leave without a word."""
    kind = i % 6
    user = "cyc%d" % (i % 50)
    if kind in (0, 1, 2):
        s, rest = open_ws(port, user)
        with s:
            if kind == 0:
                s.sendall(mask_frame(OP_CLOSE, (1000).to_bytes(2, "big")))
                fin, op, payload, rest = read_frame(s, rest)
                assert op == OP_CLOSE and close_code(payload) == 1000
                assert s.recv(1) == b""
            elif kind == 1:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                             struct.pack("ii", 1, 0))
    elif kind == 3:
        s = connect_from(port)
        with s:
            s.sendall(raw_request("/") + mask_frame(
                OP_TEXT, json.dumps({"user_name": user}).encode())
                + mask_frame(OP_TEXT, b"ping"))
            head, rest = read_head(s)
            assert status_of(head) == 101, head
            fin, op, payload, rest = read_frame(s, rest)
            assert payload == b"pong"
    elif kind == 4:
        s = connect_from(port)
        with s:
            s.sendall(raw_request("/?user=x", {"Upgrade": None}))
            head, rest = read_head(s)
            assert status_of(head) == 400, head
    else:
        connect_from(port).close()


def run_cycles(port, total, concurrency, timeout):
    """total cycles on `concurrency` threads; returns the seconds taken."""
    errors = []
    counter = iter(range(total))
    lock = threading.Lock()
    end = time.monotonic() + timeout

    def worker():
        while time.monotonic() < end and not errors:
            with lock:
                i = next(counter, None)
            if i is None:
                return
            try:
                one_cycle(port, i)
            except Exception as e:
                errors.append("cycle %d: %r" % (i, e))
    t0 = time.monotonic()
    threads = [threading.Thread(target=worker, daemon=True)
               for _ in range(concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(max(0.1, end - time.monotonic()) + 5)
    assert not errors, errors[:5]
    assert next(counter, None) is None, "cycles not done in %.0fs" % timeout
    assert not any(t.is_alive() for t in threads)
    return time.monotonic() - t0


def cycles(w, r, total, concurrency=16, timeout=120.0, rss_slack=512):
    """After a warm-up, measure the master (descriptors, RSS) and Redis;
    run `total` cycles; everything must come back."""
    settle(w)
    run_cycles(w.port, concurrency * 4, concurrency, 30)   # warm-up
    settle(w)
    # Spares hold a Redis connection each, opened ahead of time.
    spares = int(w.conf.get("spare_children", 2))
    wait_for(lambda: redis_clients(r) == 1 + spares, 10,
             what="this test's redis connection and the spares'")
    base_fds = fd_count(w.pid)
    base_rss = proc_status_kib(w.pid, "VmRSS")
    base_clients = redis_clients(r)
    try:
        took = run_cycles(w.port, total, concurrency, timeout)
    except AssertionError as e:
        raise AssertionError("%s\nmaster log (last notices):\n%s" % (
            e, log_notices(w)))
    settle(w, timeout=20)
    w.assert_reaped()
    wait_for(lambda: redis_clients(r) == base_clients, 10,
             what="redis connected_clients back to %d (is %d)"
             % (base_clients, redis_clients(r)))
    fds = fd_count(w.pid)
    rss = proc_status_kib(w.pid, "VmRSS")
    assert fds == base_fds, "master descriptors %d -> %d" % (base_fds, fds)
    assert rss <= base_rss + rss_slack, "master RSS %d -> %d KiB" % (
        base_rss, rss)
    assert r.pubsub_numsub("cyc0") == [(b"cyc0", 0)]
    assert w.proc.poll() is None
    assert not re.search(r"killed by signal|exited with status|throttling",
                         w.log())
    return ("cycles: %d connect/disconnect cycles (%d in parallel) in %.1fs "
            "(%.0f/s): no zombie, master fds %d -> %d, master RSS %d -> %d "
            "KiB, redis clients %d -> %d"
            % (total, concurrency, took, total / took, base_fds, fds,
               base_rss, rss, base_clients, redis_clients(r)))


def test_connect_disconnect_cycles_leak_nothing(make_server, redis_server):
    # max_connections well below the number of cycles: a client that has
    # gone must free its place at once, however fast the next one comes.
    w = make_server(spare_children=3, max_connections=64)
    report(cycles(w, redis_server.client(), 1000, timeout=60))


# --- load: many connections, concurrent publishers --------------------------

def payload_for(user, seq):
    # Sizes vary so every length form shows up (7-bit, 16-bit, 64-bit).
    pad = 70000 if seq % 50 == 49 else 300 if seq % 10 == 9 else 20
    return b"%s:%d:" % (user.encode(), seq) + b"." * pad


def pong(s, payload):
    """Answer a ping on a socket that the caller reads without blocking."""
    s.setblocking(True)
    try:
        s.sendall(mask_frame(OP_PONG, payload))
    finally:
        s.setblocking(False)


def receive_all(conns, users, expect, deadline, on_frame=None):
    """Read every connection until connection i has expect[i] messages (an
    int: the same for all) or the deadline passes.  Returns per-connection
    lists of sequence numbers and the indexes of connections that saw EOF."""
    sel = selectors.DefaultSelector()
    got = [[] for _ in conns]
    closed = []
    prefix = [u.encode() + b":" for u in users]
    if not isinstance(expect, list):
        expect = [expect] * len(conns)
    for i, (s, _) in enumerate(conns):
        s.setblocking(False)
        sel.register(s, selectors.EVENT_READ, i)
    short = sum(1 for e in expect if e > 0)
    bad = []

    def take(i, frames):
        nonlocal short
        for fin, op, payload in frames:
            if op == OP_PING:
                # A run longer than ping_interval sees keepalive pings:
                # answer them, as a browser does.
                pong(conns[i][0], payload)
                continue
            if op != OP_TEXT or not fin or not payload.startswith(prefix[i]):
                bad.append((users[i], op, payload[:40]))
                continue
            head, _, pad = payload[len(prefix[i]):].partition(b":")
            seq = int(head)
            if payload != payload_for(users[i], seq):
                bad.append((users[i], "corrupt", payload[:40]))
            got[i].append(seq)
            if len(got[i]) == expect[i]:
                short -= 1
            if on_frame:
                on_frame(i, seq)
    try:
        for i, (_, reader) in enumerate(conns):
            take(i, reader.feed())
        while short > 0 and time.monotonic() < deadline and not bad:
            for key, _ in sel.select(0.2):
                i = key.data
                try:
                    data = key.fileobj.recv(1 << 18)
                except (BlockingIOError, InterruptedError):
                    continue
                except OSError:
                    data = b""
                if not data:
                    sel.unregister(key.fileobj)
                    closed.append(i)
                    if len(got[i]) < expect[i]:
                        short -= 1      # will not get there: stop waiting
                    continue
                take(i, conns[i][1].feed(data))
    finally:
        sel.close()
    assert not bad, "unexpected frames: %r" % bad[:5]
    return got, closed


def tally(got, expect):
    lost = dup = disorder = 0
    for seqs in got:
        uniq = set(seqs)
        lost += expect - len(uniq & set(range(expect)))
        dup += len(seqs) - len(uniq)
        disorder += sum(1 for a, b in zip(seqs, seqs[1:]) if b <= a)
    return lost, dup, disorder


def publisher(port, users, count, errors, pace=0.0, gone=None):
    """Publish seq 0..count-1 to each of users, round by round, pipelined
    (pace: seconds between rounds).  Every PUBLISH must reach exactly one
    subscriber, else the error is noted and publishing stops; with a list
    `gone`, a user whose channel has nobody left is moved there instead."""
    import redis
    r = redis.Redis(host="127.0.0.1", port=port)
    users = list(users)
    try:
        for seq in range(count):
            p = r.pipeline(transaction=False)
            for u in users:
                p.publish(u, payload_for(u, seq))
            res = p.execute()
            if gone is not None and 0 in res:
                gone.extend((u, seq) for u, n in zip(users, res) if n == 0)
                users = [u for u, n in zip(users, res) if n != 0]
                res = [n for n in res if n != 0]
            if res != [1] * len(users):
                errors.append("seq %d: receivers %r" % (seq, res[:10]))
                return
            if pace:
                time.sleep(pace)
    except Exception as e:
        errors.append(repr(e))
    finally:
        r.close()


def load(w, redis_server, n, count, publishers=4, timeout=120.0, pace=0.0):
    users = ["load%d" % i for i in range(n)]
    t0 = time.monotonic()
    conns = open_ws_many(w.port, users, timeout=max(30.0, n / 20.0))
    t_conn = time.monotonic() - t0
    try:
        r = redis_server.client()
        assert r.pubsub_numsub(users[0], users[-1]) == \
            [(users[0].encode(), 1), (users[-1].encode(), 1)]
        errors = []
        threads = [threading.Thread(
            target=publisher, args=(redis_server.port, users[k::publishers],
                                    count, errors, pace), daemon=True)
            for k in range(publishers)]
        t1 = time.monotonic()
        for t in threads:
            t.start()
        got, closed = receive_all(conns, users, count, t1 + timeout)
        took = time.monotonic() - t1
        for t in threads:
            t.join(10)
        # Anything extra (a duplicate) would come right behind.
        more, closed2 = receive_all(conns, users, 0, time.monotonic() + 0.3)
        for g, m in zip(got, more):
            g.extend(m)
        lost, dup, disorder = tally(got, count)
        line = ("load: %d connections x %d messages (%d publishers): %d lost, "
                "%d duplicated, %d out of order, %.1f s (%.0f msg/s; "
                "connections opened in %.1f s)"
                % (n, count, publishers, lost, dup, disorder, took,
                   n * count / took, t_conn))
        report(line)
        assert not errors, errors[:3]
        assert not closed and not closed2, "%d connections closed" % len(
            closed + closed2)
        assert (lost, dup, disorder) == (0, 0, 0), line
        assert w.proc.poll() is None
    finally:
        for s, _ in conns:
            s.close()
    return line


def test_load_concurrent_connections_and_publishers(make_server,
                                                    redis_server):
    w = make_server(spare_children=4)
    settle(w)
    load(w, redis_server, 200, 20, timeout=60)
    assert not re.search(r"killed by signal|exited with status", w.log())


def test_load_across_keepalive_pings(make_server, redis_server):
    # Publishing lasts several ping intervals: the clients answer the
    # server's pings as browsers do, so none is closed for silence and
    # nothing is lost.
    w = make_server(spare_children=4, ping_interval="200ms",
                    ping_timeout="1s")
    settle(w)
    load(w, redis_server, 50, 30, publishers=2, timeout=60, pace=0.05)
    assert "ping timeout" not in w.log()


# --- a crashing child affects no other connection ---------------------------

def crash(w, redis_server, allow_pids, n, sigs, count=300, pace=0.002):
    """n clients receive a stream of `count` messages each; one child per
    entry of sigs (the first clients') is sent that signal mid-stream, at
    staggered points.  The others get every message once and in order,
    the master logs each death with its signal, reaps it and keeps its
    spares.  allow_pids collects PIDs whose ASan SEGV report is expected."""
    spares = int(w.conf["spare_children"])
    nv = len(sigs)
    users = ["crash%d" % i for i in range(n)]
    conns = open_ws_many(w.port, users)
    try:
        victims = [wait_for(lambda u=u: child_of_user(w, u), 5,
                            what="%s's child" % u) for u in users[:nv]]
        kill_at = [count // 4 + (count // 2) * i // nv for i in range(nv)]
        errors, gone = [], []
        pubs = [threading.Thread(target=publisher, args=(
                    redis_server.port, users[:nv], count, errors, pace,
                    gone), daemon=True),
                threading.Thread(target=publisher, args=(
                    redis_server.port, users[nv:], count, errors, pace),
                    daemon=True)]
        killed = {}

        def on_frame(i, seq):
            if i < nv and seq == kill_at[i] and i not in killed:
                os.kill(victims[i], sigs[i])
                killed[i] = time.monotonic()
        t0 = time.monotonic()
        for t in pubs:
            t.start()
        got, closed = receive_all(conns, users,
                                  [count + 1] * nv + [count] * (n - nv),
                                  time.monotonic() + 30 + n * count / 5000,
                                  on_frame)
        took = time.monotonic() - t0
        for t in pubs:
            t.join(10)
        assert sorted(killed) == list(range(nv)), "not all victims killed"
        assert not errors, errors
        # The victims' channels lost their subscriber, nobody else's.
        assert sorted(u for u, _ in gone) == sorted(users[:nv]), gone
        # The victims' connections ended (no close frame: they died) ...
        assert sorted(closed) == list(range(nv)), "closed: %r" % closed
        for i in range(nv):
            seqs = got[i]
            assert seqs == list(range(len(seqs))), "victim disordered"
            assert kill_at[i] < len(seqs) < count
        # ... and every other connection got everything, once, in order.
        assert tally(got[nv:], count) == (0, 0, 0), tally(got[nv:], count)
        # The master logs each death with the signal ...
        asan = is_asan_binary()
        for pid, sig in zip(victims, sigs):
            pat = (r"child %d \(127\.0\.0\.1:\d+\) killed by signal %d "
                   r"\(%s\)" % (pid, sig, re.escape(signal.strsignal(sig))))
            if sig == signal.SIGSEGV and asan:
                # ASan catches SIGSEGV, reports it and exits with status 1.
                pat = (r"child %d \(127\.0\.0\.1:\d+\) (killed by signal "
                       r"11|exited with status 1)" % pid)
                allow_pids.append(pid)
            wait_for(lambda: re.search(pat, w.log()), 5,
                     what="the master to log the death (%s)" % pat)
        # ... reaps the children and keeps its pool full, unthrottled.
        wait_for(lambda: len(spare_pids(w)) == spares and
                 len(live_children(w)) == spares + n - nv and
                 not w.zombies(), 5,
                 what="%d spares + %d busy, no zombie (have %d)"
                 % (spares, n - nv, len(w.children())))
        assert w.proc.poll() is None
        assert "throttling" not in w.log()
        r = redis_server.client()
        wait_for(lambda: all(c == 0 for _, c in
                             r.pubsub_numsub(*users[:nv])), 5,
                 what="the victims' subscriptions to go")
        # Everyone else is still served, and newcomers too.
        s, rest = open_ws(w.port, "newcomer")
        with s:
            assert r.publish("newcomer", "welcome") == 1
            s.settimeout(2)
            assert read_frame(s, rest)[2] == b"welcome"
        for u in users[nv:]:
            assert r.publish(u, payload_for(u, count)) == 1
        more, closed = receive_all(conns[nv:], users[nv:], 1,
                                   time.monotonic() + 5)
        assert more == [[count]] * (n - nv) and not closed, (more, closed)
    finally:
        for s, _ in conns:
            s.close()
    return ("crashes: %d of %d busy children killed mid-stream (%s); the "
            "other %d got %d messages each, 0 lost, 0 duplicated, in order "
            "(%.1f s); spares kept at %d"
            % (nv, n, ", ".join("%d x %s" % (sigs.count(g), g.name)
                                for g in sorted(set(sigs))),
               n - nv, count, took, spares))


@pytest.mark.parametrize("sig", [signal.SIGSEGV, signal.SIGKILL],
                         ids=["SIGSEGV", "SIGKILL"])
def test_crashing_child_affects_no_other(make_server, redis_server, sig):
    # No core file from the SIGSEGV in the work tree (children inherit it).
    resource.setrlimit(resource.RLIMIT_CORE,
                       (0, resource.getrlimit(resource.RLIMIT_CORE)[1]))
    w = make_server(spare_children=3)
    settle(w)
    report(crash(w, redis_server, make_server.allow_pids, 8, [sig]))
