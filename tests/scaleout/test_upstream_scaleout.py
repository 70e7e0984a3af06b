"""Client messages to a Redis Stream (upstream_stream) on a Redis Cluster
and through Redis Sentinel: the stream's key lives on one master; the
child's writes follow -MOVED when its slot migrates, and a failover
(retrying within redis_retry_timeout), and a clean close (1000) means
every message sent is in the stream.

Real processes only (tests/scaleout/redis_topology.py), one wspubsub, a
raw WebSocket client.
"""
import socket
import time

import pytest

import harness
from harness import (close_code, frame, raw_request, read_frame, read_head,
                     status_of, wait_for)

pytestmark = pytest.mark.skipif(getattr(harness, "TLS", False),
                                reason="raw plain-ws clients")

RETRY = 15.0
KEY = "up:in"
OP_TEXT, OP_CLOSE = 0x1, 0x8


def open_ws(w, user):
    s = socket.create_connection(("127.0.0.1", w.port), 10)
    s.sendall(raw_request("/?user=%s" % user))
    head, rest = read_head(s)
    assert status_of(head) == 101, head
    return s, rest


def send(s, prefix, n):
    s.sendall(b"".join(frame(OP_TEXT, b"%s%d" % (prefix, i))
                       for i in range(n)))


def close(s, rest):
    """Our close 1000; the echo comes once everything sent is in."""
    s.settimeout(RETRY + 10)
    s.sendall(frame(OP_CLOSE, (1000).to_bytes(2, "big")))
    while True:
        fin, op, payload, rest = read_frame(s, rest)
        if op == OP_CLOSE:
            s.close()
            return close_code(payload)


def data(r):
    return [f[b"data"] for _, f in r.xrange(KEY)]


def log_tail(w, n=40):
    return "\n".join(w.log().splitlines()[-n:])


def test_cluster_stream_follows_moved_and_failover(redis_cluster,
                                                   make_wspubsub):
    cl = redis_cluster
    slot = cl.keyslot(KEY)
    w = make_wspubsub(cl.ports[0], redis_cluster="yes",
                      redis_node=cl.seeds(), upstream_stream=KEY,
                      upstream_rate=0, redis_retry_timeout="%ds" % RETRY,
                      spare_children=2)
    s, rest = open_ws(w, "mover")
    n = 100
    send(s, b"a", n)
    owner = cl.slot_owner(slot)
    wait_for(lambda: cl.client(owner).xlen(KEY) == n, 10,
             what="the first messages on the stream's master")

    # The slot moves, the key with it: the next XADD gets -MOVED.
    dst = [m for m in cl.masters() if m != owner][0]
    cl.migrate_slot(slot, dst)
    send(s, b"b", n)
    wait_for(lambda: cl.client(dst).xlen(KEY) == 2 * n, 10,
             what="the messages after the migration on %d: %s"
             % (dst, log_tail(w)))
    assert "MOVED %d" % slot in w.log()

    # The master dies once its replica has every entry; messages sent
    # meanwhile wait for the promotion (redis_retry_timeout).
    rep = cl.replicas_of(dst)[0]
    replica = cl.client(rep)
    replica.execute_command("READONLY")
    wait_for(lambda: replica.xlen(KEY) == 2 * n, 10,
             what="the replica in sync")
    t0 = time.monotonic()
    cl.nodes[dst].kill()
    send(s, b"c", n)
    assert close(s, rest) == 1000, log_tail(w)
    took = time.monotonic() - t0
    new = wait_for(lambda: (lambda o: o if o not in (None, dst) else None)(
        cl.slot_owner(slot)), 10, what="the promoted replica")
    assert new == rep
    got = data(cl.client(new))
    # At least once: an entry answered just before the kill may come twice.
    assert list(dict.fromkeys(got)) == [b"%s%d" % (p, i) for p in
                                         (b"a", b"b", b"c")
                                         for i in range(n)]
    harness.report("cluster: the stream's master SIGKILLed; %d messages "
                   "sent meanwhile were in the promoted replica's stream "
                   "%.2fs after the kill" % (n, took))


def test_sentinel_stream_follows_failover(redis_sentinels, make_wspubsub):
    st = redis_sentinels
    old = st.master_port
    w = make_wspubsub(old, redis_sentinel=st.sentinel_addrs(),
                      redis_master_name="mymaster", upstream_stream=KEY,
                      upstream_rate=0, redis_retry_timeout="%ds" % RETRY,
                      spare_children=2)
    s, rest = open_ws(w, "sentineluser")
    n = 100
    send(s, b"a", n)
    wait_for(lambda: st.client(old).xlen(KEY) == n, 10,
             what="the first messages on the master")
    rep = [p for p in st.data if p != old][0]
    wait_for(lambda: st.client(rep).xlen(KEY) == n, 10,
             what="the replica in sync")
    t0 = time.monotonic()
    st.data[old].kill()
    send(s, b"b", n)
    assert close(s, rest) == 1000, log_tail(w)
    took = time.monotonic() - t0
    new = st.master_addr()[1]
    assert new != old
    got = data(st.client(new))
    assert list(dict.fromkeys(got)) == [b"%s%d" % (p, i) for p in
                                         (b"a", b"b") for i in range(n)]
    harness.report("sentinel: the stream's master SIGKILLed; %d messages "
                   "sent meanwhile were in the promoted master's stream "
                   "%.2fs after the kill" % (n, took))


def test_cluster_stream_master_gone_for_good_closes_1011(redis_cluster,
                                                        make_wspubsub):
    """The stream's master and its replica die; the user's channel lives
    on another master, so the subscription stands: past
    redis_retry_timeout the client is closed with 1011 for the stream."""
    cl = redis_cluster
    slot = cl.keyslot(KEY)
    owner = cl.slot_owner(slot)
    user = next("u%d" % i for i in range(1000)
                if cl.slot_owner(cl.keyslot("u%d" % i)) != owner)
    w = make_wspubsub(cl.ports[0], redis_cluster="yes",
                      redis_node=cl.seeds(), upstream_stream=KEY,
                      upstream_rate=0, redis_retry_timeout="2s",
                      spare_children=2)
    s, rest = open_ws(w, user)
    send(s, b"a", 1)
    wait_for(lambda: cl.client(owner).xlen(KEY) == 1, 10,
             what="the first message on the stream's master")
    for port in [owner] + cl.replicas_of(owner):
        cl.nodes[port].kill()
    t0 = time.monotonic()
    send(s, b"b", 1)
    s.settimeout(15)
    while True:
        fin, op, payload, rest = read_frame(s, rest)
        if op == OP_CLOSE:
            break
    took = time.monotonic() - t0
    s.close()
    assert close_code(payload) == 1011, payload
    assert payload[2:] == b"upstream unavailable", payload
    assert 2 <= took < 10, took
    assert "upstream" in log_tail(w)
