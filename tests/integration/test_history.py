"""Message history and recovery: the Redis Functions library
(contrib/redis/wspubsub.lua) on a real redis-server, then wspubsub's
subprotocol wspubsub.v1 with ids, `since` and replay, against the real
binary.  Loopback only; every wait is bounded.
"""
import binascii
import os
import re
import time

import pytest

LIBRARY = os.path.join(os.path.dirname(__file__), "..", "..", "contrib",
                       "redis", "wspubsub.lua")
ID = re.compile(rb"^[0-9]+-[0-9]+$")


def keyslot(name):
    """Redis Cluster's hash slot of a key or channel name."""
    b = name.encode()
    i = b.find(b"{")
    if i != -1:
        j = b.find(b"}", i + 1)
        if j > i + 1:
            b = b[i + 1:j]
    return binascii.crc_hqx(b, 0) % 16384


def load_library(r):
    with open(LIBRARY, "rb") as f:
        r.function_load(f.read(), replace=True)


def publish(r, channel, payload, *args):
    return r.fcall("wspubsub_publish", 1, channel, payload, *args)


def since(r, channel, from_id, max_count=1000):
    out = r.fcall_ro("wspubsub_since", 1, channel, from_id, max_count)
    pairs = list(zip(out[2::2], out[3::2]))
    return out[0], out[1], pairs


# --- the library alone -------------------------------------------------------

def test_publish_returns_increasing_ids_and_keeps_history(redis_server):
    r = redis_server.client()
    load_library(r)
    ids = [publish(r, "alice", b"m%d" % i) for i in range(5)]
    for i in ids:
        assert ID.match(i) and len(i) <= 64, i
    epochs = {i.split(b"-")[0] for i in ids}
    assert len(epochs) == 1
    assert [int(i.split(b"-")[1]) for i in ids] == [0, 1, 2, 3, 4]
    assert r.type("{alice}#history") == b"stream"
    assert 295 <= r.ttl("{alice}#history") <= 300
    status, newest, pairs = since(r, "alice", ids[1])
    assert (status, newest) == (b"recovered", ids[4])
    assert pairs == [(ids[2], b"m2"), (ids[3], b"m3"), (ids[4], b"m4")]
    assert since(r, "alice", ids[4]) == (b"recovered", ids[4], [])
    assert since(r, "alice", "") == (b"none", ids[4], [])


def test_publish_reaches_subscribers_of_the_history_channel(redis_server):
    r = redis_server.client()
    load_library(r)
    p = r.pubsub()
    p.subscribe("{bob}#history", "bob")
    assert p.get_message(timeout=2)["type"] == "subscribe"
    assert p.get_message(timeout=2)["type"] == "subscribe"
    i = publish(r, "bob", b"\x00binary\nbytes")
    m = p.get_message(timeout=2)
    assert m["channel"] == b"{bob}#history"
    assert m["data"] == i + b"\n\x00binary\nbytes"
    # Nothing on the user's own channel: that one is for plain PUBLISH.
    assert p.get_message(timeout=0.2) is None
    p.close()


def test_history_size_and_ttl(redis_server):
    r = redis_server.client()
    load_library(r)
    ids = [publish(r, "carol", b"%d" % i, 3, 60) for i in range(6)]
    assert r.xlen("{carol}#history") == 3
    assert 55 <= r.ttl("{carol}#history") <= 60
    # ids[2] was trimmed, but ids[3] (the one after it) is held.
    status, _, pairs = since(r, "carol", ids[2])
    assert status == b"recovered"
    assert [p[0] for p in pairs] == ids[3:]
    # ids[1]: ids[2] is gone, so something is missing.
    status, _, pairs = since(r, "carol", ids[1])
    assert status == b"gap"
    assert [p[0] for p in pairs] == ids[3:]
    for bad in (0, -1, "x", "1.5", 1000001):
        with pytest.raises(Exception, match="history_size"):
            publish(r, "carol", b"x", bad)
    with pytest.raises(Exception, match="history_ttl"):
        publish(r, "carol", b"x", 5, 0)


def test_gap_when_history_was_lost_or_never_issued(redis_server):
    r = redis_server.client()
    load_library(r)
    ids = [publish(r, "dave", b"%d" % i) for i in range(3)]
    # An id from the future of this history, and one of another epoch.
    epoch, n = ids[-1].split(b"-")
    assert since(r, "dave", b"%s-%d" % (epoch, int(n) + 5))[0] == b"gap"
    assert since(r, "dave", b"1-0")[0] == b"gap"
    # Expired (or FLUSHALL, or a restart without persistence): gap.
    r.delete("{dave}#history")
    assert since(r, "dave", ids[-1]) == (b"gap", b"", [])
    # A new history after that: a new epoch, all of it sent, still a gap.
    time.sleep(0.002)   # a new epoch is a new millisecond
    j = publish(r, "dave", b"new")
    assert j.split(b"-")[0] != epoch
    assert since(r, "dave", ids[-1]) == (b"gap", j, [(j, b"new")])
    r.flushall()
    load_library(r)
    assert since(r, "dave", j) == (b"gap", b"", [])


def test_more_than_max_is_a_gap_with_the_newest(redis_server):
    r = redis_server.client()
    load_library(r)
    ids = [publish(r, "erin", b"%d" % i) for i in range(10)]
    status, _, pairs = since(r, "erin", ids[0], 4)
    assert status == b"gap"
    assert [p[0] for p in pairs] == ids[6:]


def test_history_lies_in_the_channel_slot(redis_server):
    r = redis_server.client()
    load_library(r)
    publish(r, "{app}:frank", b"x")
    publish(r, "a{b", b"x")
    assert r.exists("{app}:frank#history", "{a{b}#history") == 2
    for ch, key in (("alice", "{alice}#history"),
                    ("{app}:frank", "{app}:frank#history"),
                    ("a{b", "{a{b}#history")):
        assert keyslot(ch) == keyslot(key), (ch, key)
    with pytest.raises(Exception, match="hash tag"):
        publish(r, "a}b", b"x")
