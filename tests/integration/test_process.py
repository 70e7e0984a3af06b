"""Process model: spare pool, process titles, several instances, child and
master deaths, reaping, signals (TERM, INT, HUP), max_connections and the
command line.  Every wait is bounded and every process a test starts,
including children orphaned by a killed master, is gone when it ends."""
import asyncio
import os
import re
import signal
import socket
import subprocess
import threading
import time

import pytest
import websockets

from harness import (BINARY, FrameReader, Wspubsub, child_of_user, close_code,
                     free_port, mask_frame, raw_connect, read_frame,
                     settled_redis_clients, status_of, wait_for, ws_scheme,
                     wait_served, REUSE, SPARE_IDLE)

PROG = os.path.basename(BINARY)     # setproctitle prefixes the program name
RECV_TIMEOUT = 5.0


# --- helpers -----------------------------------------------------------------

def proc_title(pid):
    """The process title, as ps shows it (argv[0] of /proc/PID/cmdline)."""
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            raw = f.read()
    except OSError:
        return None
    return raw.split(b"\0", 1)[0].decode(errors="replace")


def proc_state(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            st = f.read()
    except OSError:
        return None
    return st[st.rindex(")") + 2:].split()[0]


def pid_alive(pid):
    """Running (a zombie no longer runs anything)."""
    s = proc_state(pid)
    return s is not None and s != "Z"


def kill_pids(pids):
    """SIGKILL whatever of pids still runs and wait (bounded) until it died."""
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass
    wait_for(lambda: not any(pid_alive(p) for p in pids), 5,
             what="killed processes to die")


def titled(w, title):
    return [p for p, s in w.children() if s != "Z" and proc_title(p) == title]


def spares(w):
    return titled(w, "%s: spare" % PROG)


def busy_child(w, user, ws):
    """PID of the child serving the websockets client ws as user."""
    title = "%s: %s 127.0.0.1:%d" % (PROG, user, ws.local_address[1])
    pids = titled(w, title)
    return pids[0] if len(pids) == 1 else None


def only_spares(w, n):
    """Wait until the master has exactly n children, all idle spares (the
    harness' start-up probe connection also occupies a child for a moment)."""
    def settled():
        kids = w.children()
        return len(kids) == n and len(spares(w)) == n
    wait_for(settled, 5, what="exactly %d spare children" % n)


async def await_for(pred, timeout=5.0, interval=0.02, what="condition"):
    """wait_for that lets the event loop run (keeps clients responsive)."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        v = pred()
        if v:
            return v
        await asyncio.sleep(interval)
    raise AssertionError("timed out waiting for %s" % what)


def connect(w_or_url, user=None):
    url = w_or_url if isinstance(w_or_url, str) else w_or_url.url
    if user is not None:
        url += "/?user=" + user
    return websockets.connect(url, open_timeout=5, close_timeout=2,
                              ping_interval=None, max_size=None)


async def recv(ws, timeout=RECV_TIMEOUT):
    return await asyncio.wait_for(ws.recv(), timeout)


async def nothing_pending(ws, within=0.2):
    """True if no message arrives on ws within `within` seconds."""
    try:
        msg = await asyncio.wait_for(ws.recv(), within)
    except asyncio.TimeoutError:
        return True
    raise AssertionError("unexpected message %r" % (msg,))


def accepting(port, host="127.0.0.1", family=socket.AF_INET):
    try:
        with socket.socket(family, socket.SOCK_STREAM) as s:
            s.settimeout(0.5)
            s.connect((host, port))
        return True
    except OSError:
        return False


def have_ipv6():
    try:
        free_port(socket.AF_INET6, "::1")
        return True
    except OSError:
        return False


def log_has(w, pattern):
    return re.search(pattern, w.log(), re.M)


def run(coro):
    return asyncio.run(coro)


SANITIZER_REPORT = re.compile(r"AddressSanitizer|LeakSanitizer|runtime error:")


def assert_clean_log(w):
    m = SANITIZER_REPORT.search(w.log())
    assert not m, "sanitizer report in %s:\n%s" % (w.log_path, w.log())


@pytest.fixture
def make_server(make_server):
    """The conftest fixture, plus: every server is stopped and its log
    checked for sanitizer reports (the ASan build) before the test ends."""
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


# --- spare pool and titles ---------------------------------------------------

def test_spare_pool_refills_and_titles(make_server, redis_server):
    w = make_server(spare_children=3)
    r = redis_server.client()

    only_spares(w, 3)
    assert proc_title(w.pid).startswith("%s: master" % PROG), proc_title(w.pid)

    async def go():
        before = set(spares(w))
        async with connect(w, "alice") as ws:
            pid = await await_for(lambda: busy_child(w, "alice", ws),
                                  what="child titled with alice and peer")
            # The client went to one of the pre-forked spares ...
            assert pid in before
            # ... and a new spare took its place.
            await await_for(lambda: len(spares(w)) == 3,
                            what="spare count back to 3")
            assert pid not in spares(w)
            assert len(set(spares(w)) - before) == 1
            assert r.publish("alice", "hi") == 1
            assert await recv(ws) == "hi"
            assert proc_title(w.pid).startswith("%s: master" % PROG)
        # Done: exited, or (reused) a fourth spare until it idles out.
        left = 3 + (await asyncio.get_running_loop().run_in_executor(
            None, wait_served, w, pid) == "spare")
        await await_for(lambda: len(w.children()) == left,
                        what="only the %d spares left" % left)
    run(go())
    assert w.proc.poll() is None


def sched_policy(pid):
    """The scheduling policy of pid (/proc/PID/stat field 41): 0 is
    SCHED_OTHER, 3 SCHED_BATCH."""
    with open("/proc/%d/stat" % pid) as f:
        st = f.read()
    return int(st[st.rindex(")") + 2:].split()[38])


@pytest.mark.parametrize("batch", ["yes", "no"])
def test_children_batch_scheduling(make_server, batch):
    w = make_server(spare_children=2, batch_scheduling=batch)
    only_spares(w, 2)
    want = 3 if batch == "yes" else 0
    assert [sched_policy(p) for p in spares(w)] == [want, want]
    assert sched_policy(w.pid) == 0     # the master is left as it was


# --- scaling: two instances on one Redis -------------------------------------

def test_two_instances_share_redis(make_server, redis_server):
    a = make_server()
    b = make_server()
    r = redis_server.client()

    async def go():
        async with connect(a, "alice") as a_alice, \
                connect(b, "bob") as b_bob, \
                connect(b, "Alice") as b_alice:
            assert r.pubsub_numsub("alice") == [(b"alice", 2)]
            assert r.pubsub_numsub("bob") == [(b"bob", 1)]
            assert r.publish("alice", "to alice") == 2
            assert await recv(a_alice) == "to alice"
            assert await recv(b_alice) == "to alice"
            assert r.publish("bob", "to bob") == 1
            # bob's first message is his own: alice's did not reach him.
            assert await recv(b_bob) == "to bob"
            assert await nothing_pending(a_alice)
            assert await nothing_pending(b_alice)
        await await_for(lambda: r.pubsub_numsub("alice") == [(b"alice", 0)],
                        what="NUMSUB alice to drop to 0")
    run(go())


# --- deaths ------------------------------------------------------------------

def test_kill9_busy_child_leaves_others_serving(make_server, redis_server):
    w = make_server()
    r = redis_server.client()

    async def go():
        async with connect(w, "alice") as alice, connect(w, "bob") as bob:
            pid = await await_for(lambda: busy_child(w, "alice", alice),
                                  what="alice's child")
            os.kill(pid, signal.SIGKILL)
            with pytest.raises(websockets.ConnectionClosed):
                await recv(alice)
            await await_for(
                lambda: log_has(w, r"child %d .*killed by signal 9" % pid),
                what="the master to log the child's death")
            await await_for(lambda: proc_state(pid) is None,
                            what="the killed child to be reaped")
            assert w.proc.poll() is None
            assert r.publish("bob", "still here") == 1
            assert await recv(bob) == "still here"
            async with connect(w, "carol") as carol:
                assert r.publish("carol", "welcome") == 1
                assert await recv(carol) == "welcome"
    run(go())
    w.assert_reaped()


def test_kill9_spare_is_replaced(make_server, redis_server):
    w = make_server(spare_children=3)
    r = redis_server.client()
    only_spares(w, 3)
    victim = spares(w)[0]
    os.kill(victim, signal.SIGKILL)
    wait_for(lambda: log_has(w, r"child %d .*killed by signal 9" % victim),
             what="the master to log the spare's death")
    # Spares that die unused throttle forking for a second; allow for that.
    wait_for(lambda: len(spares(w)) == 3 and victim not in spares(w), 5,
             what="the spare to be replaced")
    assert proc_state(victim) is None, "killed spare not reaped"
    assert w.proc.poll() is None

    async def go():
        async with connect(w, "alice") as ws:
            assert r.publish("alice", "ok") == 1
            assert await recv(ws) == "ok"
    run(go())


def test_master_sigkill_drops_no_connection(tmpdir_, make_server,
                                            redis_server):
    w = make_server(spare_children=2)
    r = redis_server.client()
    orphans = []
    w2 = None

    async def go():
        nonlocal w2
        async with connect(w, "alice") as alice:
            child = await await_for(lambda: busy_child(w, "alice", alice),
                                    what="alice's child")
            others = [p for p, _ in w.children() if p != child]
            orphans.extend([child] + others)
            w.proc.kill()
            w.proc.wait(5)
            # The child owns the client socket: nothing is dropped.
            assert r.publish("alice", "after master death") == 1
            assert await recv(alice) == "after master death"
            # The spares learn the master is gone (EOF) and leave.
            await await_for(lambda: not any(pid_alive(p) for p in others),
                            what="orphaned spares to exit")
            assert pid_alive(child)
            # Children hold no listening socket: a new master can bind.
            assert not accepting(w.port)
            w2 = Wspubsub(tmpdir_, redis_server.port)
            w2.port = w.port
            w2.conf["listen"] = ["127.0.0.1:%d" % w.port]
            w2.conf_path += ".new"
            w2.log_path += ".new"
            w2.start()
            async with connect(w2, "alice") as alice2:
                assert r.pubsub_numsub("alice") == [(b"alice", 2)]
                assert r.publish("alice", "both") == 2
                assert await recv(alice) == "both"
                assert await recv(alice2) == "both"
            # The old child still serves after the new master's client left.
            await await_for(
                lambda: r.pubsub_numsub("alice") == [(b"alice", 1)],
                what="the new master's client to unsubscribe")
            assert r.publish("alice", "old still") == 1
            assert await recv(alice) == "old still"
            assert pid_alive(child)
    try:
        run(go())
    finally:
        if w2 is not None:
            w2.stop()
        kill_pids(orphans)
    if w2 is not None:
        assert_clean_log(w2)


def test_200_cycles_leave_no_zombie_and_no_redis_client(make_server,
                                                        redis_server):
    w = make_server(spare_children=3)
    r = redis_server.client()
    only_spares(w, 3)

    def clients():
        return r.info("clients")["connected_clients"]
    # This test's connection and one per spare, once settled: a child
    # that has just served the harness' probe may still hold its own.
    baseline = settled_redis_clients(w, r)

    async def go():
        for i in range(200):
            ws = await connect(w, "user%d" % (i % 7))
            if i % 4 == 3:
                ws.transport.abort()            # no close handshake
                await ws.wait_closed()
            else:
                await ws.close()
                assert ws.close_code == 1000
    run(go())
    # A reused child beyond the 3 spares leaves once idle for SPARE_IDLE.
    wait_for(lambda: not w.zombies() and len(w.children()) == 3,
             10 + (SPARE_IDLE if REUSE else 0),
             what="no zombies and only spares left (children: %r)"
             % (w.children(),))
    wait_for(lambda: clients() == baseline, 10,
             what="redis connected_clients back to %d" % baseline)
    assert r.pubsub_numsub("user0") == [(b"user0", 0)]
    assert w.proc.poll() is None
    assert not re.search(r"killed by signal|exited with status", w.log())


# --- shutdown ----------------------------------------------------------------

@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT],
                         ids=["SIGTERM", "SIGINT"])
def test_shutdown_signal_closes_1001(make_server, redis_server, sig):
    w = make_server(shutdown_timeout="3s", spare_children=2)

    async def go():
        async with connect(w, "alice") as alice, connect(w, "bob") as bob:
            # A client still in the identify state.
            anon = await connect(w)
            # A raw client that reads but never answers the close.
            s, head, rest = raw_connect(w.port, "/?user=carol")
            assert status_of(head) == 101
            await await_for(lambda: len([p for p, st in w.children()
                                         if st != "Z"]) >= 6,
                            what="4 busy children and the spares")
            kids = [p for p, _ in w.children()]
            t0 = time.monotonic()
            w.signal(sig)
            for ws in (alice, bob, anon):
                with pytest.raises(websockets.ConnectionClosed):
                    await recv(ws)
                await asyncio.wait_for(ws.wait_closed(), 5)
                assert ws.close_code == 1001, ws.close_code
            loop = asyncio.get_running_loop()
            rc = await loop.run_in_executor(None, w.proc.wait, 3 + 1.5)
            took = time.monotonic() - t0
            assert rc == 0, w.log()
            assert took < 3 + 1.5
            # The silent client got its 1001 too, then the connection ended.
            s.settimeout(2)
            fin, op, payload, rest = read_frame(s, rest)
            assert (op, close_code(payload)) == (8, 1001)
            assert s.recv(1) == b""
            s.close()
            for p in kids:
                assert proc_state(p) is None, "child %d left behind" % p
    run(go())
    assert "exiting" in w.log()


def test_sigterm_reaches_a_child_that_never_idles(make_server, redis_server):
    # A child whose sockets are always ready (a client that sends without
    # pause, a publisher that never pauses) still closes with 1001 soon
    # after SIGTERM: a signal must not wait for an idle moment.
    w = make_server()
    s, head, rest = raw_connect(w.port, "/?user=flood")
    assert status_of(head) == 101
    wait_for(lambda: child_of_user(w, "flood") is not None, what="the child")
    pid = child_of_user(w, "flood")
    stop = threading.Event()

    def publish():
        r = redis_server.client()
        end = time.monotonic() + 20
        while not stop.is_set() and time.monotonic() < end:
            p = r.pipeline(transaction=False)
            for _ in range(200):
                p.publish("flood", b"x" * 512)
            p.execute()

    def send():
        chunk = mask_frame(2, b"y" * 100) * 600
        end = time.monotonic() + 20
        try:
            while not stop.is_set() and time.monotonic() < end:
                s.sendall(chunk)
        except OSError:
            pass            # closed by the server, or by the test
    threads = [threading.Thread(target=f, daemon=True)
               for f in (publish, send)]
    for t in threads:
        t.start()
    try:
        reader = FrameReader(rest)
        s.settimeout(5)
        got, sent_at, code = 0, None, None
        deadline = time.monotonic() + 15
        while code is None and time.monotonic() < deadline:
            data = s.recv(1 << 16)
            assert data, "EOF before the close frame"
            for fin, op, payload in reader.feed(data):
                if op == 8:
                    code = close_code(payload)
                else:
                    got += 1
            if sent_at is None and got >= 2000:
                sent_at = time.monotonic()
                os.kill(pid, signal.SIGTERM)
        assert sent_at is not None, "the flood never reached the client"
        assert code == 1001, code
        took = time.monotonic() - sent_at
        assert took < 3, "close came %.1f s after SIGTERM" % took
    finally:
        stop.set()
        s.shutdown(socket.SHUT_RDWR)
        for t in threads:
            t.join(10)
        s.close()


def test_shutdown_kills_stragglers_after_timeout(make_server, redis_server):
    # A shutdown_timeout shorter than the children's close linger: a client
    # that never answers the close holds its child, and the master has to
    # kill it and still leave within shutdown_timeout.
    w = make_server(shutdown_timeout="500ms")
    s, head, rest = raw_connect(w.port, "/?user=carol")
    assert status_of(head) == 101
    wait_for(lambda: len(titled(w, "%s: carol 127.0.0.1:%d"
                                % (PROG, s.getsockname()[1]))) == 1,
             what="carol's child")
    kids = [p for p, _ in w.children()]
    t0 = time.monotonic()
    w.signal(signal.SIGTERM)
    # Generous bound for a loaded machine; the log proves the kill.
    assert w.proc.wait(5) == 0
    assert time.monotonic() - t0 < 5
    assert "still running after 500 ms; killing" in w.log()
    for p in kids:
        assert proc_state(p) is None, "child %d left behind" % p
    s.settimeout(2)
    fin, op, payload, rest = read_frame(s, rest)
    assert (op, close_code(payload)) == (8, 1001)
    s.close()


# --- SIGHUP ------------------------------------------------------------------

def reloads(w):
    return w.log().count("configuration reloaded")


def test_sighup_keeps_connections_and_applies_config(make_server,
                                                     redis_server):
    w = make_server()
    r = redis_server.client()

    async def go():
        async with connect(w, "alice") as old:
            old_pid = await await_for(lambda: busy_child(w, "alice", old),
                                      what="alice's child")
            n = reloads(w)
            w.conf["channel_prefix"] = "p:"
            w.write_conf()
            w.signal(signal.SIGHUP)
            await await_for(lambda: reloads(w) > n, what="reload")
            assert pid_alive(old_pid) and w.proc.poll() is None
            async with connect(w, "alice") as new:
                assert r.pubsub_numsub("alice", "p:alice") == \
                    [(b"alice", 1), (b"p:alice", 1)]
                assert r.publish("p:alice", "new") == 1
                assert r.publish("alice", "old") == 1
                assert await recv(new) == "new"
                assert await recv(old) == "old"
                assert await nothing_pending(new)
                assert await nothing_pending(old)
    run(go())


def test_sighup_to_every_process_kills_nothing(make_server, redis_server):
    # `killall -HUP wspubsub` (or a HUP to the process group) reaches the
    # children too: no child may die of it, spare or busy.
    w = make_server(spare_children=3)
    r = redis_server.client()

    async def go():
        async with connect(w, "alice") as alice:
            busy = await await_for(lambda: busy_child(w, "alice", alice),
                                   what="alice's child")
            await await_for(lambda: len(spares(w)) == 3, what="3 spares")
            kids = [p for p, _ in w.children()]
            n = reloads(w)
            for pid in kids + [w.pid]:
                try:
                    os.kill(pid, signal.SIGHUP)
                except ProcessLookupError:
                    pass        # a child that was leaving anyway
            await await_for(lambda: reloads(w) > n, what="reload")
            # Give a wrongly killed child time to be reaped and logged.
            await asyncio.sleep(0.3)
            assert not re.search(r"killed by signal 1\b", w.log()), w.log()
            assert pid_alive(busy)
            assert r.publish("alice", "still") == 1
            assert await recv(alice) == "still"
            await await_for(lambda: len(spares(w)) == 3, what="3 spares")
    run(go())


def test_sighup_broken_config_is_rejected(make_server, redis_server):
    w = make_server()
    r = redis_server.client()

    async def go():
        async with connect(w, "alice") as old:
            w.conf["channel_prefix"] = "q:"   # must not be half-applied
            w.write_conf(extra="no_such_key 1\n")
            with open(w.conf_path) as f:
                bad_line = len(f.read().splitlines())
            w.signal(signal.SIGHUP)
            await await_for(lambda: log_has(w, re.escape(
                "%s:%d" % (w.conf_path, bad_line))),
                what="an error naming file:line")
            await await_for(lambda: "not reloaded" in w.log(),
                            what="the reload to be refused")
            assert "configuration reloaded" not in w.log()
            assert w.proc.poll() is None
            assert r.publish("alice", "kept") == 1
            assert await recv(old) == "kept"
            # New clients still get the old configuration (no prefix).
            async with connect(w, "alice") as new:
                assert r.publish("q:alice", "nope") == 0
                assert r.publish("alice", "same") == 2
                assert await recv(new) == "same"
                assert await recv(old) == "same"
    run(go())


def test_sighup_binds_added_listen_address(make_server, redis_server):
    w = make_server()
    r = redis_server.client()
    v6 = have_ipv6()
    port2 = free_port()
    port6 = free_port(socket.AF_INET6, "::1") if v6 else None
    assert not accepting(port2)
    n = reloads(w)
    w.conf["listen"] = w.conf["listen"] + ["127.0.0.1:%d" % port2]
    if v6:
        w.conf["listen"].append("[::1]:%d" % port6)
    w.write_conf()
    w.signal(signal.SIGHUP)
    wait_for(lambda: reloads(w) > n, what="reload")
    wait_for(lambda: accepting(port2), what="new listen address bound")
    if v6:
        wait_for(lambda: accepting(port6, "::1", socket.AF_INET6),
                 what="new IPv6 listen address bound")
    assert "could not be bound" not in w.log()
    urls = [w.url, "%s://127.0.0.1:%d" % (ws_scheme(), port2)]
    if v6:
        urls.append("%s://[::1]:%d" % (ws_scheme(), port6))

    async def go():
        clients = [await connect(u, "alice") for u in urls]
        try:
            assert r.publish("alice", "all") == len(urls)
            for ws in clients:
                assert await recv(ws) == "all"
        finally:
            for ws in clients:
                await ws.close()
    run(go())


# --- max_connections ---------------------------------------------------------

def test_max_connections_refuses_with_503(make_server, redis_server):
    w = make_server(max_connections=2, spare_children=2)
    r = redis_server.client()
    only_spares(w, 2)       # the start-up probe no longer counts as busy

    async def go():
        c1 = await connect(w, "alice")
        c2 = await connect(w, "bob")
        try:
            t0 = time.monotonic()
            loop = asyncio.get_running_loop()
            s, head, _ = await loop.run_in_executor(
                None, raw_connect, w.port, "/?user=carol")
            s.close()
            assert status_of(head) == 503, head
            assert time.monotonic() - t0 < 1.0
            assert r.publish("alice", "a") == 1
            assert r.publish("bob", "b") == 1
            assert await recv(c1) == "a"
            assert await recv(c2) == "b"
            await c1.close()

            async def third():
                try:
                    return await connect(w, "carol")
                except websockets.InvalidStatusCode as e:
                    assert e.status_code == 503
                    return None
            c3 = None
            end = time.monotonic() + 5
            while c3 is None and time.monotonic() < end:
                c3 = await third()
                if c3 is None:
                    await asyncio.sleep(0.05)
            assert c3 is not None, "no client accepted after one closed"
            try:
                assert r.publish("carol", "c") == 1
                assert await recv(c3) == "c"
                assert r.publish("bob", "b2") == 1
                assert await recv(c2) == "b2"
            finally:
                await c3.close()
        finally:
            await c1.close()
            await c2.close()
    run(go())
    assert w.proc.poll() is None


# --- command line ------------------------------------------------------------

def cli(*args, timeout=10):
    p = subprocess.run([BINARY] + list(args), capture_output=True,
                       timeout=timeout)
    return p.returncode, (p.stdout + p.stderr).decode(errors="replace"), \
        p.stdout.decode(errors="replace")


def write(path, text):
    with open(path, "w") as f:
        f.write(text)
    return path


GOOD_CONF = """# a comment
listen 127.0.0.1:18765
listen [::1]:18766
listen *:18767

redis_port 6390   # trailing comment
redis_socket /tmp/wspubsub-test.sock
max_message_size 16m
ping_timeout 750ms
channel_prefix ws:
spare_children 3
max_connections 50
shutdown_timeout 1500ms
ping_interval 1m
log_level warning
"""


def test_cli_check_good_config(tmpdir_):
    path = write(os.path.join(tmpdir_, "good.conf"), GOOD_CONF)
    rc, out, _ = cli("-t", "-f", path)
    assert rc == 0, out
    assert "configuration OK" in out


def test_cli_check_bad_config_names_line(tmpdir_):
    path = write(os.path.join(tmpdir_, "bad.conf"),
                 "listen 127.0.0.1:18765\n# fine\nspare_children lots\n")
    rc, out, _ = cli("-t", "-f", path)
    assert rc == 1, out
    assert "%s:3" % path in out
    assert "configuration OK" not in out
    rc, out, _ = cli("-t", "-f", os.path.join(tmpdir_, "missing.conf"))
    assert rc == 1, out


def test_cli_dump_config_round_trips(tmpdir_):
    path = write(os.path.join(tmpdir_, "good.conf"), GOOD_CONF)
    rc, out, dump1 = cli("-T", "-f", path)
    assert rc == 0, out
    assert "listen 127.0.0.1:18765" in dump1
    assert "listen [::1]:18766" in dump1
    assert "listen *:18767" in dump1
    assert "channel_prefix ws:" in dump1
    assert "spare_children 3" in dump1
    assert "redis_port 6390" in dump1
    dumped = write(os.path.join(tmpdir_, "dumped.conf"), dump1)
    rc, out, _ = cli("-t", "-f", dumped)
    assert rc == 0, out
    rc, out, dump2 = cli("-T", "-f", dumped)
    assert rc == 0, out
    assert dump2 == dump1


def test_cli_version(tmpdir_):
    rc, out, _ = cli("-v")
    assert rc == 0, out
    assert re.search(r"wspubsub \d+\.\d+", out), out


def test_cli_help(tmpdir_):
    rc, out, stdout = cli("-h")
    assert rc == 0, out
    assert "usage" in stdout.lower(), out


@pytest.mark.parametrize("args", [["-Z"], ["-f"], ["extra"]],
                         ids=["unknown", "missing-arg", "operand"])
def test_cli_usage_errors(tmpdir_, args):
    rc, out, stdout = cli(*args)
    assert rc != 0
    assert "usage" in out.lower(), out
    assert "usage" not in stdout.lower(), "usage errors belong on stderr"
