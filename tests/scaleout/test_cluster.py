"""Redis Cluster: `redis_cluster yes` + `redis_node HOST:PORT`.

Each child computes its channel's hash slot, finds the slot owner with
CLUSTER SLOTS, SSUBSCRIBEs there; backends SPUBLISH on the owner and
PUBSUB SHARDNUMSUB (on the owner) says whether a user is connected.  The
child follows -MOVED at subscribe time, the `sunsubscribe` push of a
migrated slot and a master failover (resubscribing within
redis_retry_timeout), logging "resubscribed to CHANNEL" each time.

Real processes only: a 3 masters + 3 replicas cluster on loopback ports
(tests/scaleout/redis_topology.py), one wspubsub, raw WebSocket clients.
The test_topology_* tests use redis-py alone: they prove the test
infrastructure (cluster up, SSUBSCRIBE/SPUBLISH, slot migration, failover,
sentinel failover) independently of wspubsub.
"""
import os
import time

import pytest
import redis
from redis.crc import key_slot

import harness
from harness import free_port, raise_nofile, report
from redis_topology import (ClusterPublisher, Clients, FakeClusterNode,
                            resubscribed_channels)

pytestmark = pytest.mark.skipif(getattr(harness, "TLS", False),
                                reason="raw plain-ws clients")

raise_nofile()

RETRY = 15.0          # redis_retry_timeout given to wspubsub, in seconds
N_USERS = 300
GROUP = 8             # users sharing one slot, for the migration test


def _group_names(n=GROUP):
    """n user names whose channels all hash to the slot of "m0"."""
    target = key_slot(b"m0")
    out, i = [], 0
    while len(out) < n:
        name = "m%d" % i
        if key_slot(name.encode()) == target:
            out.append(name)
        i += 1
    return out


GROUP_USERS = _group_names()
USERS = ["u%03d" % i for i in range(N_USERS - GROUP)] + GROUP_USERS
# two more names in the group's slot, for clients that come after a
# migration or a failover (served by spares whose slot map is stale)
LATE_USERS = _group_names(GROUP + 2)[GROUP:]


def channel(user):
    return user.lower()          # channel_prefix is empty


def cluster_conf(cl, seeds=None, **extra):
    conf = dict(redis_cluster="yes",
                redis_node=seeds if seeds is not None else cl.seeds(),
                redis_retry_timeout="%ds" % RETRY, spare_children=4)
    conf.update(extra)
    return conf


def by_owner(pub, idxs, users=USERS):
    out = {}
    for i in idxs:
        out.setdefault(pub.owner(channel(users[i])), []).append(i)
    return out


def log_tail(w, n=60):
    return "\n".join(w.log().splitlines()[-n:])


def start_users(cl, make_wspubsub, users=USERS, **conf):
    """A wspubsub on the cluster and one raw client per user; asserts the
    users' channels are spread over every master and that SHARDNUMSUB on
    each owner counts every user once."""
    redis_port = conf.pop("redis_port", cl.ports[0])
    w = make_wspubsub(redis_port, **cluster_conf(cl, **conf))
    pub = ClusterPublisher(cl)
    owners = by_owner(pub, range(len(users)), users)
    assert set(owners) == set(cl.masters()), \
        "users not spread over all masters: %r" % {
            k: len(v) for k, v in owners.items()}
    t0 = time.monotonic()
    try:
        clients = Clients(w.port, users, timeout=90)
    except AssertionError as e:
        raise AssertionError("%s\nwspubsub log:\n%s" % (e, log_tail(w)))
    took = time.monotonic() - t0
    assert_shardnumsub(pub, range(len(users)), 1, users)
    return w, pub, clients, took


def assert_shardnumsub(pub, idxs, want, users=USERS):
    bad = {}
    for i in idxs:
        n = pub.shardnumsub(channel(users[i]))
        if n != want:
            bad[users[i]] = n
    assert not bad, "PUBSUB SHARDNUMSUB on the owner is not %d for %d " \
        "users: %r" % (want, len(bad), dict(list(bad.items())[:10]))


def spublisher(pub, users=USERS):
    return lambda i, msg: pub.spublish(channel(users[i]), msg)


def late_clients_receive(w, pub, owner):
    """Users of the group's slot who connect after the topology changed,
    to children forked (and holding a slot map) before it: subscribed at
    the new owner, they receive."""
    try:
        late = Clients(w.port, LATE_USERS, timeout=RETRY + 5)
    except AssertionError as e:
        raise AssertionError("late users: %s\nwspubsub log:\n%s"
                             % (e, log_tail(w)))
    try:
        assert all(pub.owner(channel(u)) == owner for u in LATE_USERS)
        assert_shardnumsub(pub, range(len(LATE_USERS)), 1, LATE_USERS)
        late.exact_round(range(len(LATE_USERS)),
                         spublisher(pub, LATE_USERS), "late")
    finally:
        late.close()


# --- the test infrastructure alone (redis-py, no wspubsub) -------------------

def _sconn(port):
    c = redis.connection.Connection(host="127.0.0.1", port=port,
                                    socket_timeout=5)
    c.connect()
    return c


def test_topology_cluster_comes_up(redis_cluster):
    """3 masters with one replica each cover the 16384 slots; SSUBSCRIBE on
    the owner gets SPUBLISH; a non-owner answers -MOVED; migrate_slot()
    moves a slot (the old owner pushes sunsubscribe) and kill_master()
    promotes the replica, whose shard subscriptions go on."""
    cl = redis_cluster
    masters = cl.masters()
    assert len(masters) == 3
    assert all(len(cl.replicas_of(m)) == 1 for m in masters)
    assert sum(b - a + 1 for rs in cl.master_ranges().values()
               for a, b in rs) == 16384
    for name in ("alice", "u000", "m0", "{tag}x"):
        assert cl.keyslot(name) == key_slot(name.encode())
    ch = "alice"
    own = cl.slot_owner(ch)
    other = [m for m in masters if m != own]

    # round trip on the owner; -MOVED elsewhere
    sub = _sconn(own)
    sub.send_command("SSUBSCRIBE", ch)
    assert sub.read_response() == [b"ssubscribe", ch.encode(), 1]
    assert cl.shardnumsub(ch) == 1
    assert cl.spublish(ch, "m1") == 1
    assert sub.read_response() == [b"smessage", ch.encode(), b"m1"]
    with pytest.raises(redis.exceptions.ResponseError,
                       match=r"MOVED %d 127\.0\.0\.1:%d" % (cl.keyslot(ch),
                                                             own)):
        cl.client(other[0]).execute_command("SPUBLISH", ch, "x")

    # slot migration: the old owner says sunsubscribe, keeps the link
    t0 = time.monotonic()
    cl.migrate_slot(cl.keyslot(ch), other[0])
    took_mig = time.monotonic() - t0
    assert cl.slot_owner(ch) == other[0]
    assert sub.read_response() == [b"sunsubscribe", ch.encode(), 0]
    sub.send_command("PING")
    assert sub.read_response() == b"PONG"
    sub.disconnect()
    sub = _sconn(other[0])
    sub.send_command("SSUBSCRIBE", ch)
    assert sub.read_response()[0] == b"ssubscribe"
    assert cl.spublish(ch, "m2") == 1
    assert sub.read_response() == [b"smessage", ch.encode(), b"m2"]

    # failover: a shard subscriber on the replica survives the promotion
    rep = cl.replicas_of(other[0])[0]
    rsub = _sconn(rep)
    rsub.send_command("SSUBSCRIBE", ch)
    assert rsub.read_response()[0] == b"ssubscribe"
    t0 = time.monotonic()
    new = cl.kill_master(other[0])
    took_fo = time.monotonic() - t0
    assert new == rep and cl.slot_owner(ch) == rep
    assert cl.nodes[other[0]].proc.poll() is not None
    assert cl.spublish(ch, "m3") == 1
    got = rsub.read_response()
    if got == [b"smessage", ch.encode(), b"m2"]:
        # SPUBLISH reaches a master's replicas over the cluster bus,
        # asynchronously: m2 may arrive after rsub's SSUBSCRIBE
        got = rsub.read_response()
    assert got == [b"smessage", ch.encode(), b"m3"]
    sub.disconnect()
    rsub.disconnect()
    report("topology: cluster slot migration %.2fs, master failover "
           "(SIGKILL -> replica promoted, cluster ok) %.2fs"
           % (took_mig, took_fo))


def test_topology_sentinel_failover(redis_sentinels):
    """Master, replica, 3 sentinels: PUBLISH/SUBSCRIBE on the master; after
    SIGKILL of the master the sentinels name the promoted replica, which
    takes PUBLISH; an unknown master name is a null reply."""
    st = redis_sentinels
    s = st.sentinel_client()
    assert s.execute_command("SENTINEL", "get-master-addr-by-name",
                             "nosuch") is None
    assert st.master_addr() == ("127.0.0.1", st.master_port)
    old = st.master_port
    ps = st.client().pubsub()
    ps.subscribe("alice")
    assert ps.get_message(timeout=5)["type"] == "subscribe"
    assert st.client().publish("alice", "m1") == 1
    assert ps.get_message(timeout=5)["data"] == b"m1"
    t0 = time.monotonic()
    new = st.kill_master()
    took = time.monotonic() - t0
    assert new != old and all(st.master_addr(p) == ("127.0.0.1", new)
                              for p in st.sentinels)
    assert st.client(new).info("replication")["role"] == "master"
    ps.close()
    ps = st.client(new).pubsub()
    ps.subscribe("alice")
    assert ps.get_message(timeout=5)["type"] == "subscribe"
    assert st.client(new).publish("alice", "m2") == 1
    assert ps.get_message(timeout=5)["data"] == b"m2"
    ps.close()
    report("topology: sentinel failover (SIGKILL -> all sentinels "
           "report the new master) %.2fs" % took)


# --- wspubsub on the cluster -------------------------------------------------

def test_cluster_delivers_to_300_users_on_all_masters(redis_cluster,
                                                      make_wspubsub):
    """300 users whose channels live on all three masters: SHARDNUMSUB on
    each owner is 1, each SPUBLISH reaches exactly its user, once."""
    cl = redis_cluster
    w, pub, clients, took = start_users(cl, make_wspubsub)
    try:
        owners = by_owner(pub, range(len(USERS)))
        assert pub.shardnumsub("nobody-connected") == 0
        t0 = time.monotonic()
        clients.exact_round(range(len(USERS)), spublisher(pub), "hello")
        report("cluster: %d users (%s per master) connected in %.1fs; %d "
               "SPUBLISH delivered exactly once in %.2fs"
               % (len(USERS), "/".join(str(len(v)) for v in owners.values()),
                  took, len(USERS), time.monotonic() - t0))
    finally:
        clients.close()
        pub.close()


@pytest.mark.parametrize("order", ["dst_first", "src_first"])
def test_cluster_slot_migration_keeps_users_subscribed(redis_cluster,
                                                       make_wspubsub, order):
    """A slot holding 8 connected users moves to another master while they
    are connected: the old owner's sunsubscribe makes each child
    re-resolve and SSUBSCRIBE on the new owner; no connection is closed,
    the users receive again within 5 s of the migration's end, and the
    other users are not disturbed.

    "src_first": the old owner is finalized 1 s before the new one, so
    for that second the old owner answers -MOVED to the new one and the
    new one -MOVED back; the children must keep retrying (bounded by
    redis_retry_timeout), not give up or spin."""
    cl = redis_cluster
    w, pub, clients, _ = start_users(cl, make_wspubsub)
    try:
        group = [USERS.index(u) for u in GROUP_USERS]
        slot = key_slot(GROUP_USERS[0].encode())
        src = cl.slot_owner(slot)
        dst = next(m for m in cl.masters() if m != src)
        clients.exact_round(range(len(USERS)), spublisher(pub), "before")

        t0 = time.monotonic()
        cl.migrate_slot(slot, dst, order=order,
                        pause=1.0 if order == "src_first" else 0.0)
        t_done = time.monotonic()
        pub.refresh()
        assert all(pub.owner(channel(USERS[i])) == dst for i in group)
        try:
            first = clients.probe_until_delivered(group, spublisher(pub),
                                                  timeout=RETRY + 5)
        except AssertionError as e:
            raise AssertionError("%s\nwspubsub log:\n%s" % (e, log_tail(w)))
        gap = max(first.values()) - t_done
        clients.assert_open()
        assert_shardnumsub(pub, group, 1)
        old = cl.client(src)
        assert [old.execute_command("PUBSUB", "SHARDNUMSUB",
                                    channel(USERS[i]))[1]
                for i in group] == [0] * len(group)
        resub = resubscribed_channels(w.log())
        assert {channel(USERS[i]) for i in group} <= resub, \
            "no 'resubscribed to CHANNEL' line for %r" % sorted(
                {channel(USERS[i]) for i in group} - resub)
        clients.exact_round(range(len(USERS)), spublisher(pub), "after")
        late_clients_receive(w, pub, dst)
        report("cluster: slot %d (%d connected users) migrated %d -> %d "
               "(%s) in %.2fs; all received again %.3fs after the "
               "migration finished (max over users)"
               % (slot, len(group), src, dst, order, t_done - t0, gap))
        assert gap < 5.0, "users received again only %.2fs after the " \
            "migration finished" % gap
    finally:
        clients.close()
        pub.close()


def test_cluster_master_failover_resubscribes(redis_cluster, make_wspubsub):
    """SIGKILL of a master owning ~100 users' slots: once its replica is
    promoted, every child of those users resubscribes on it (within
    redis_retry_timeout) without closing the WebSocket; users on the
    other masters never notice."""
    cl = redis_cluster
    w, pub, clients, _ = start_users(cl, make_wspubsub)
    try:
        owners = by_owner(pub, range(len(USERS)))
        victim = pub.owner(channel(GROUP_USERS[0]))
        hit = owners[victim]
        clients.exact_round(range(len(USERS)), spublisher(pub), "before")

        t_kill = time.monotonic()
        new = cl.kill_master(victim, timeout=RETRY)
        t_promoted = time.monotonic()
        pub.refresh()
        assert all(pub.owner(channel(USERS[i])) == new for i in hit)
        try:
            first = clients.probe_until_delivered(
                hit, spublisher(pub),
                timeout=RETRY + 5 - (t_promoted - t_kill))
        except AssertionError as e:
            raise AssertionError("%s\nwspubsub log:\n%s" % (e, log_tail(w)))
        gap = max(first.values()) - t_kill
        clients.assert_open()
        assert_shardnumsub(pub, hit, 1)
        resub = resubscribed_channels(w.log())
        missing = {channel(USERS[i]) for i in hit} - resub
        assert not missing, "no 'resubscribed to CHANNEL' line for %d " \
            "users, e.g. %r" % (len(missing), sorted(missing)[:5])
        clients.exact_round(range(len(USERS)), spublisher(pub), "after")
        late_clients_receive(w, pub, new)
        report("cluster: master %d SIGKILLed (%d users), replica %d "
               "promoted after %.2fs; all its users received again %.2fs "
               "after the kill (redis_retry_timeout %ds)"
               % (victim, len(hit), new, t_promoted - t_kill, gap, RETRY))
        assert gap < RETRY + 3, "gap %.2fs" % gap
    finally:
        clients.close()
        pub.close()


@pytest.mark.parametrize("seeds", ["one_master", "dead_then_replica"])
def test_cluster_follows_moved_from_a_single_seed(redis_cluster,
                                                  make_wspubsub, seeds):
    """With a single usable seed node, users whose slots live on the other
    masters are still subscribed at their owner (the child follows
    -MOVED / the slot map) and receive.  "dead_then_replica": the first
    seed refuses connections, the second is a replica, and redis_port
    names no Redis at all (it is ignored in cluster mode)."""
    cl = redis_cluster
    masters = cl.masters()
    users = ["s%03d" % i for i in range(60)]
    if seeds == "one_master":
        seed_list = cl.seeds([masters[0]])
        redis_port = masters[0]
    else:
        seed_list = ["127.0.0.1:%d" % free_port()] + \
            cl.seeds([cl.replicas_of(masters[0])[0]])
        # redis_host/redis_port are ignored in cluster mode
        redis_port = free_port()
    w, pub, clients, _ = start_users(cl, make_wspubsub, users=users,
                                     seeds=seed_list, redis_port=redis_port)
    try:
        elsewhere = [i for i in range(len(users))
                     if pub.owner(channel(users[i])) != masters[0]]
        assert len(elsewhere) >= 20
        clients.exact_round(range(len(users)), spublisher(pub, users),
                            "hello")
    finally:
        clients.close()
        pub.close()


@pytest.fixture
def fake_node():
    """make(**kw) starts a FakeClusterNode; all stopped at teardown."""
    started = []

    def make(**kw):
        f = FakeClusterNode(**kw).start()
        started.append(f)
        return f
    yield make
    for f in started:
        f.stop()


def one_user(w, user, timeout=20):
    try:
        return Clients(w.port, [user], timeout=timeout)
    except AssertionError as e:
        raise AssertionError("%s\nwspubsub log:\n%s" % (e, log_tail(w)))


def test_cluster_hash_slot_honours_hash_tags(redis_cluster, make_wspubsub,
                                             fake_node):
    """The child computes the slot itself (CRC16, hash tags honoured) and
    goes straight to the owner the map names: the only seed is a fake node
    whose map gives the channel's slot, and that slot alone, to its real
    owner and answers SSUBSCRIBE with a plain error (no redirect) for
    everything else.  Channels with no tag, a tag, an empty tag (whole
    name hashed) and two tags (the first counts)."""
    cl = redis_cluster
    for prefix in ("", "{ws}:", "{}ws:", "ws{a}{b}:"):
        ch = prefix + "alice"
        slot = cl.keyslot(ch)
        assert slot == key_slot(ch.encode())
        owner = cl.slot_owner(slot)
        ranges = [(lo, hi, None) for lo, hi in
                  ((0, slot - 1), (slot + 1, 16383)) if lo <= hi]
        fake = fake_node(ranges=ranges + [(slot, slot, owner)])
        extra = {"channel_prefix": prefix} if prefix else {}
        if prefix == "{}ws:":
            # Its '}' closes no hash tag: no history name in the slot.
            extra["history"] = "no"
        w = make_wspubsub(fake.port, **cluster_conf(
            cl, seeds=[fake.seed()], **extra))
        clients = one_user(w, "Alice")
        try:
            assert not fake.seen("SSUBSCRIBE"), \
                "channel %r: SSUBSCRIBE sent to the wrong node (slot " \
                "computed as not %d)" % (ch, slot)
            r = cl.client(owner)
            assert r.execute_command("PUBSUB", "SHARDNUMSUB", ch)[1] == 1
            clients.exact_round([0], lambda i, m: r.execute_command(
                "SPUBLISH", ch, m), "tag %r" % prefix)
        finally:
            clients.close()
            w.stop()


def test_cluster_follows_ask_at_subscribe(redis_cluster, make_wspubsub,
                                          fake_node):
    """-ASK at SSUBSCRIBE: the child sends ASKING then SSUBSCRIBE to the
    node named (Redis 7.0 never sends -ASK for sharded pub/sub, so the
    only seed is a fake node that claims every slot and answers -ASK; the
    target is a real master IMPORTING the slot, which answers -MOVED
    without ASKING).  After the migration is finalized, SPUBLISH on the
    new owner reaches the user."""
    cl = redis_cluster
    ch = "alice"
    slot = cl.keyslot(ch)
    src = cl.slot_owner(slot)
    dst = next(m for m in cl.masters() if m != src)
    cl.client(dst).execute_command("CLUSTER", "SETSLOT", slot, "IMPORTING",
                                   cl.node_id(src))
    cl.client(src).execute_command("CLUSTER", "SETSLOT", slot, "MIGRATING",
                                   cl.node_id(dst))
    # wspubsub loads its library into the masters its map names: here
    # only the fake node, so the real ones get it from the test
    with open(os.path.join(harness.ROOT, "contrib", "redis",
                           "wspubsub.lua"), "rb") as f:
        lib = f.read()
    for m in cl.masters():
        cl.client(m).function_load(lib, replace=True)
    fake = fake_node(ssubscribe=lambda c: b"-ASK %d 127.0.0.1:%d\r\n"
                     % (slot, dst))
    w = make_wspubsub(fake.port, **cluster_conf(cl, seeds=[fake.seed()]))
    clients = one_user(w, ch)
    try:
        # with the history channel, in the same slot
        assert fake.seen("SSUBSCRIBE") == [("SSUBSCRIBE", ch,
                                            "{%s}#history" % ch)]
        # PUBSUB SHARDNUMSUB counts the node's own subscribers
        assert cl.client(dst).execute_command(
            "PUBSUB", "SHARDNUMSUB", ch)[1] == 1, "not subscribed on the " \
            "ASK target (without ASKING it answers -MOVED to the source)"
        assert cl.client(src).execute_command(
            "PUBSUB", "SHARDNUMSUB", ch)[1] == 0
        for m in [dst, src] + [m for m in cl.masters()
                               if m not in (src, dst)]:
            cl.client(m).execute_command("CLUSTER", "SETSLOT", slot, "NODE",
                                         cl.node_id(dst))
        cl.wait_settled()
        r = cl.client(dst)
        clients.exact_round([0], lambda i, m: r.execute_command(
            "SPUBLISH", ch, m), "after ask")
    finally:
        clients.close()


def test_cluster_config_is_accepted(tmpdir_):
    """`wspubsub -t` accepts redis_cluster + repeated redis_node."""
    import subprocess
    conf = os.path.join(tmpdir_, "c.conf")
    with open(conf, "w") as f:
        f.write("listen 127.0.0.1:%d\nredis_cluster yes\n"
                "redis_node 127.0.0.1:7000\nredis_node 127.0.0.1:7001\n"
                "redis_node [::1]:7002\n" % free_port())
    r = subprocess.run([harness.BINARY, "-t", "-f", conf],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       timeout=10)
    assert r.returncode == 0, r.stdout.decode(errors="replace")
