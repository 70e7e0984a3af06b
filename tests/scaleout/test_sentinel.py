"""Redis Sentinel: `redis_sentinel HOST:PORT` (repeatable) and
`redis_master_name NAME`.  Each child asks a sentinel for the master
(SENTINEL get-master-addr-by-name) and subscribes there; after a failover
it asks again, reconnects and resubscribes within redis_retry_timeout
("resubscribed to CHANNEL" in the log), without closing the WebSocket.

Real processes only: master, replica and three sentinels on loopback
ports (tests/scaleout/redis_topology.py), one wspubsub, raw clients.
"""
import time

import pytest

import harness
from harness import free_port, raise_nofile, raw_connect, report, status_of
from redis_topology import Clients, resubscribed_channels

pytestmark = pytest.mark.skipif(getattr(harness, "TLS", False),
                                reason="raw plain-ws clients")

raise_nofile()

RETRY = 15.0
USERS = ["sen%02d" % i for i in range(50)]


def sentinel_conf(st, sentinels=None, name="mymaster", **extra):
    conf = dict(redis_sentinel=sentinels or st.sentinel_addrs(),
                redis_master_name=name,
                redis_retry_timeout="%ds" % RETRY, spare_children=4)
    conf.update(extra)
    return conf


def log_tail(w, n=60):
    return "\n".join(w.log().splitlines()[-n:])


def publisher(st, port):
    r = st.client(port)
    return lambda i, msg: r.publish(USERS[i], msg)


def numsub(st, port):
    return [n for _, n in st.client(port).pubsub_numsub(*USERS)]


def connect(w, users):
    try:
        return Clients(w.port, users, timeout=60)
    except AssertionError as e:
        raise AssertionError("%s\nwspubsub log:\n%s" % (e, log_tail(w)))


def test_sentinel_failover_resubscribes_50_users(redis_sentinels,
                                                 make_wspubsub):
    """50 users subscribed on the master found through the sentinels;
    SIGKILL of the master: after the sentinels promote the replica, every
    child resubscribes on it, no WebSocket is closed, and PUBLISH on the
    new master reaches every user exactly once."""
    st = redis_sentinels
    old = st.master_port
    # redis_port names the master too: a child that ignored the sentinels
    # would pass the first half and fail after the failover.
    w = make_wspubsub(old, **sentinel_conf(st))
    clients = connect(w, USERS)
    try:
        assert numsub(st, old) == [1] * len(USERS)
        clients.exact_round(range(len(USERS)), publisher(st, old), "before")

        t_kill = time.monotonic()
        new = st.kill_master(timeout=RETRY)
        t_promoted = time.monotonic()
        try:
            first = clients.probe_until_delivered(
                range(len(USERS)), publisher(st, new),
                timeout=RETRY + 5 - (t_promoted - t_kill))
        except AssertionError as e:
            raise AssertionError("%s\nwspubsub log:\n%s\nsentinels:\n%s"
                                 % (e, log_tail(w), st.logs()))
        gap = max(first.values()) - t_kill
        clients.assert_open()
        assert numsub(st, new) == [1] * len(USERS)
        missing = set(USERS) - resubscribed_channels(w.log())
        assert not missing, "no 'resubscribed to CHANNEL' line for %d " \
            "users, e.g. %r" % (len(missing), sorted(missing)[:5])
        clients.exact_round(range(len(USERS)), publisher(st, new), "after")
        report("sentinel: master %d SIGKILLed, sentinels switched to %d "
               "after %.2fs; all %d users received again %.2fs after the "
               "kill (redis_retry_timeout %ds)"
               % (old, new, t_promoted - t_kill, len(USERS), gap, RETRY))
        assert gap < RETRY + 3, "gap %.2fs" % gap
    finally:
        clients.close()


def test_sentinel_first_sentinel_down(redis_sentinels, make_wspubsub):
    """The first redis_sentinel refuses connections: the child asks the
    next one and the users are subscribed on the master."""
    st = redis_sentinels
    dead = "127.0.0.1:%d" % free_port()
    w = make_wspubsub(st.master_port, **sentinel_conf(
        st, sentinels=[dead] + st.sentinel_addrs()[:1]))
    users = USERS[:10]
    clients = connect(w, users)
    try:
        r = st.client()
        assert [n for _, n in r.pubsub_numsub(*users)] == [1] * len(users)
        clients.exact_round(range(len(users)),
                            lambda i, m: r.publish(users[i], m), "hello")
    finally:
        clients.close()


def test_sentinel_unknown_master_name_is_503(redis_sentinels, make_wspubsub):
    """No sentinel knows the master name: the handshake fails with 503,
    even though redis_port names a working Redis."""
    st = redis_sentinels
    w = make_wspubsub(st.master_port, **sentinel_conf(st, name="nosuch"))
    s, head, _ = raw_connect(w.port, "/?user=alice", timeout=15)
    s.close()
    assert status_of(head) == 503, head
    assert st.client().pubsub_numsub("alice") == [(b"alice", 0)]
    assert w.proc.poll() is None
