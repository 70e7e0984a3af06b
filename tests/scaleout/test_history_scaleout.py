"""Message history when instances stop, slots migrate and masters fail.

Backends publish with the library's function (FCALL wspubsub_publish,
pipelined, a few hundred to a thousand messages a second, round-robin
over the users, bounded in count and time, history_size 10000); every
client offers the subprotocol wspubsub.v1 and parses its messages.  For
each user the test keeps every id the function returned, with its
payload, and compares them with what the user's client received:

- three instances behind HAProxy, one SIGTERMed mid-run: its clients
  reconnect through HAProxy with ?since=<last id> and, counted per
  user, every id arrives exactly once and in order;
- Redis Cluster, a slot holding connected users migrated while they
  receive: the same, without the clients reconnecting;
- Redis Cluster, the master of a third of the users killed (kill -9)
  while they receive, its replica either in sync or cut off a moment
  before (so that the last writes are surely lost): what replication
  lost is measured from the promoted replica's history, and every user
  who misses a message the function acknowledged is told "event: gap";
  the ids the function returns stay unique and increasing.

Same processes and helpers as test_haproxy.py and test_cluster.py
(tests/scaleout/redis_topology.py); loopback only, every wait bounded.
"""
import collections
import os
import selectors
import signal
import socket
import threading
import time

import pytest
import redis

import harness
from test_ops import parse_metrics
from harness import mask_frame, open_ws_many, report, wait_for
from redis_topology import ClusterPublisher, Clients, resubscribed_channels
from test_cluster import RETRY, _group_names, cluster_conf, log_tail
from test_haproxy import HAPROXY, cluster, placed  # noqa: F401 (fixture)

pytestmark = pytest.mark.skipif(getattr(harness, "TLS", False),
                                reason="raw plain-ws clients")

V1 = "wspubsub.v1"
HISTORY_SIZE = 10000    # larger than anything a test publishes per user
OP_CLOSE = 8


def channel(user):
    return user.lower()          # channel_prefix is empty


def id_key(i):
    e, n = i.split(b"-")
    return int(e), int(n)


# --- wspubsub.v1 clients -----------------------------------------------------

def parse_v1(t, msg):
    """One wspubsub.v1 message: ("id", id, payload, t), ("event", name,
    t) or ("plain", payload, t)."""
    if msg.startswith(b"\n"):
        return ("plain", msg[1:], t)
    head, sep, payload = msg.partition(b"\n\n")
    assert sep, "not a wspubsub.v1 message: %r" % msg[:80]
    headers = dict(line.split(b": ", 1) for line in head.split(b"\n"))
    if b"id" in headers:
        return ("id", headers[b"id"], payload, t)
    assert set(headers) == {b"event"} and payload == b"", msg[:80]
    return ("event", headers[b"event"], t)


def v1_paths(users, since=None):
    return ["/?user=%s%s" % (u, "&since=" + since[k].decode()
                             if since and since[k] else "")
            for k, u in enumerate(users)]


V1_OPEN = dict(headers={"Sec-WebSocket-Protocol": V1},
               expect=b"Sec-WebSocket-Protocol: " + V1.encode())


class V1Clients(Clients):
    """Clients offering wspubsub.v1: msgs[i] is what user i received,
    parsed (parse_v1), with ("reopen",) where it reconnected."""

    def __init__(self, port, users, timeout=60.0, wave=200):
        self.msgs = [[] for _ in users]
        super().__init__(port, users, timeout, wave=wave,
                         paths=v1_paths(users), **V1_OPEN)

    def _frames(self, i, frames):
        n = len(self.got[i])
        super()._frames(i, frames)
        for t, p in self.got[i][n:]:
            self.msgs[i].append(parse_v1(t, p))

    def last_id(self, i):
        for m in reversed(self.msgs[i]):
            if m[0] == "id":
                return m[1]
        return None

    def count_ids(self, i):
        return sum(1 for m in self.msgs[i] if m[0] == "id")

    def has(self, i, wanted):
        """Whether user i received every id in wanted (a set)."""
        return wanted <= {m[1] for m in self.msgs[i] if m[0] == "id"}

    def add(self, port, users, timeout=30.0):
        """Connect more users; returns their indexes."""
        new = open_ws_many(port, users, timeout=timeout,
                           paths=v1_paths(users), **V1_OPEN)
        idxs = []
        for u, (s, fr) in zip(users, new):
            i = len(self.users)
            idxs.append(i)
            self.users.append(u)
            self.index[u] = i
            self.conns.append((s, fr))
            self.got.append([])
            self.msgs.append([])
            self.sel.register(s, selectors.EVENT_READ, i)
            self._frames(i, fr.feed())
        return idxs

    def reopen(self, idxs, port, since, timeout=15.0):
        """Answer the close frame, close, and connect again with
        ?since=since[i]; returns the seconds the handshakes took."""
        for i in idxs:
            s = self.conns[i][0]
            self._drop(i)
            try:
                s.send(mask_frame(OP_CLOSE, (1001).to_bytes(2, "big")))
            except OSError:
                pass
            s.close()
        users = [self.users[i] for i in idxs]
        t0 = time.monotonic()
        new = open_ws_many(port, users, timeout=timeout, wave=100,
                           paths=v1_paths(users, [since[i] for i in idxs]),
                           **V1_OPEN)
        took = time.monotonic() - t0
        for i, (s, fr) in zip(idxs, new):
            self.conns[i] = (s, fr)
            self.closed.pop(i, None)
            self.msgs[i].append(("reopen",))
            self.sel.register(s, selectors.EVENT_READ, i)
            self._frames(i, fr.feed())
        return took


# --- publishing with the function --------------------------------------------

FAILED = "failed"       # refused by Redis: not published


class Publisher:
    """A thread calling send([(channel, payload)]) with `batch` messages
    round-robin over channels, about `rate` messages a second, until
    stop(), `seconds` or `max_count`.  send returns, per message, its id,
    FAILED, or None when its fate is unknown (the connection broke).
    acked[channel] lists (id, payload, monotonic time of the reply);
    unknown holds the payloads of unknown fate."""

    def __init__(self, send, channels, rate, seconds, max_count, batch=10):
        self.send = send
        self.channels = list(channels)
        self.rate, self.seconds = rate, seconds
        self.max_count, self.batch = max_count, batch
        self.acked = {ch: [] for ch in self.channels}
        self.unknown = set()
        self.failed = 0
        self.errors = collections.Counter()
        self._stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self):
        end = time.monotonic() + self.seconds
        k = 0
        while not self._stop.is_set() and time.monotonic() < end and \
                k < self.max_count:
            t = time.monotonic()
            items = []
            for _ in range(self.batch):
                ch = self.channels[k % len(self.channels)]
                items.append((ch, b"%s %d" % (ch.encode(), k)))
                k += 1
            try:
                results = self.send(items)
            except Exception as e:      # counted; the test checks errors
                self.errors[repr(e)[:80]] += 1
                results = [None] * len(items)
            now = time.monotonic()
            for (ch, p), r in zip(items, results):
                if r is None:
                    self.unknown.add(p)
                elif r is FAILED:
                    self.failed += 1
                else:
                    self.acked[ch].append((r, p, now))
            pause = self.batch / self.rate - (time.monotonic() - t)
            if None in results or FAILED in results:
                pause = max(pause, 0.02)
            self._stop.wait(max(0.0, pause))

    def start(self):
        self.thread.start()
        return self

    def stop(self):
        self._stop.set()
        self.thread.join(15)
        assert not self.thread.is_alive(), "publisher did not stop"

    def acked_after(self, ch, t):
        return sum(1 for _, _, ta in self.acked[ch] if ta > t)

    def total(self):
        return sum(len(v) for v in self.acked.values())


def fcall_args(ch, payload):
    return ("FCALL", "wspubsub_publish", 1, ch, payload, HISTORY_SIZE)


def redis_sender(port):
    """send() for one Redis: a pipeline, as a backend would."""
    r = redis.Redis(host="127.0.0.1", port=port, socket_timeout=5)

    def send(items):
        p = r.pipeline(transaction=False)
        for ch, payload in items:
            p.execute_command(*fcall_args(ch, payload))
        return p.execute()
    return send


class ClusterSender(ClusterPublisher):
    """send() for a cluster: one pipeline per slot owner; a -MOVED or -ASK
    answer is followed (ASKING on the same connection), in the messages'
    order; a broken connection leaves its messages' fate unknown."""

    def __init__(self, cluster, deadline=5.0):
        super().__init__(cluster)
        self.deadline = deadline
        self.counts = collections.Counter()

    def _forget(self, port):
        c = self.clients.pop(port, None)
        if c is not None:
            c.close()
        try:
            self.refresh()
        except (redis.exceptions.RedisError, OSError):
            pass

    def send(self, items):
        results = [None] * len(items)
        groups = collections.OrderedDict()
        for k, (ch, _) in enumerate(items):
            groups.setdefault(self.owner(ch), []).append(k)
        redo = []
        for port, ks in groups.items():
            try:
                p = self._client(port).pipeline(transaction=False)
                for k in ks:
                    p.execute_command(*fcall_args(*items[k]))
                replies = p.execute(raise_on_error=False)
            except (redis.exceptions.ConnectionError,
                    redis.exceptions.TimeoutError, OSError):
                self.counts["connection error"] += 1
                self._forget(port)
                continue
            for k, rep in zip(ks, replies):
                if isinstance(rep, redis.exceptions.ResponseError):
                    redo.append((k, str(rep)))
                else:
                    results[k] = rep
        # In order: a user's messages after a redirected one were
        # redirected too (the key left, or the slot did).
        for k, err in sorted(redo):
            results[k] = self._redirected(items[k], err)
        return results

    def _redirected(self, item, err):
        end = time.monotonic() + self.deadline
        while True:
            kind = err.split(" ", 1)[0]
            self.counts[kind] += 1
            if kind not in ("MOVED", "ASK"):
                return FAILED   # CLUSTERDOWN, say: not executed
            f = err.split()
            slot, port = int(f[1]), int(f[2].rsplit(":", 1)[1])
            try:
                if kind == "MOVED":
                    self.map[slot] = port
                    p = self._client(port).pipeline(transaction=False)
                else:
                    p = self._client(port).pipeline(transaction=False)
                    p.execute_command("ASKING")
                p.execute_command(*fcall_args(*item))
                rep = p.execute(raise_on_error=False)[-1]
            except (redis.exceptions.ConnectionError,
                    redis.exceptions.TimeoutError, OSError):
                self.counts["connection error"] += 1
                self._forget(port)
                return None
            if not isinstance(rep, redis.exceptions.ResponseError):
                return rep
            err = str(rep)
            if time.monotonic() > end:
                self.counts["gave up"] += 1
                return FAILED
            time.sleep(0.01)    # MOVED back and forth: a slot in flux


def has_library(r):
    try:
        return bool(r.execute_command("FUNCTION", "LIST", "LIBRARYNAME",
                                      "wspubsub"))
    except (redis.exceptions.RedisError, OSError):
        return False


# --- checking ----------------------------------------------------------------

def verdict(msgs, acked, unknown, after=None):
    """Compare what a user received (msgs, parsed) with what the function
    acknowledged for it (acked: [(id, payload, t)]) and the payloads of
    unknown fate.  Returns a dict of lists: ids received; dup (ids
    received more than once); disorder (ids not above the one before);
    strange (messages nobody published, or with another id than the
    function returned); missing (acked, after the time `after` if given,
    not received); gaps, recovered (indexes in msgs of those events);
    plain (messages without id)."""
    by_payload = {p: i for i, p, _ in acked}
    out = collections.defaultdict(list)
    seen = collections.Counter()
    prev = None
    events = {b"gap": "gaps", b"recovered": "recovered"}
    for k, m in enumerate(msgs):
        if m[0] == "event" and m[1] in events:
            out[events[m[1]]].append(k)
        elif m[0] == "event":
            out["strange"].append(m)
        elif m[0] == "plain":
            out["plain"].append(m[1])
        elif m[0] == "id":
            i, p = m[1], m[2]
            out["ids"].append(i)
            seen[i] += 1
            if seen[i] == 2:
                out["dup"].append(i)
            if prev is not None and id_key(i) <= id_key(prev):
                out["disorder"].append((prev, i))
            prev = i
            if by_payload.get(p, i if p in unknown else None) != i:
                out["strange"].append((i, p))
    got = set(seen)
    out["missing"] = [(i, p) for i, p, t in acked if i not in got and
                      (after is None or t > after)]
    return out


def latencies(msgs, acked):
    """Seconds from the function's reply to the client's receipt, per
    message received (negative when the push beat the reply)."""
    when = {i: t for i, _, t in acked}
    return [m[3] - when[m[1]] for m in msgs
            if m[0] == "id" and m[1] in when]


def ms(v):
    return "%.0f ms" % (v * 1000)


def instance_metrics(w):
    """GET /metrics of an instance listening with `proxy`: a PROXY v1
    header first, as HAProxy would send."""
    s = socket.create_connection(("127.0.0.1", w.port), 5)
    s.sendall(b"PROXY TCP4 127.0.0.1 127.0.0.1 40000 %d\r\n"
              b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n" % w.port)
    data = b""
    while True:
        chunk = s.recv(65536)
        if not chunk:
            break
        data += chunk
    s.close()
    return parse_metrics(data.split(b"\r\n\r\n", 1)[1])


# --- HAProxy: an instance stopped, its clients resume ------------------------

N_HAPROXY_USERS = 150


@pytest.mark.skipif(not os.access(HAPROXY, os.X_OK),
                    reason="haproxy not installed")
def test_haproxy_sigterm_clients_resume_with_since(cluster):  # noqa: F811
    """150 users over three instances behind HAProxy receive about 800
    messages a second in all; one instance is SIGTERMed, its clients
    (close 1001) reconnect through HAProxy with ?since=<last id>, get
    "event: recovered", the messages they missed, then live ones: per
    user every id the function returned arrives once, in order."""
    redis_server, instances, hap = cluster
    r = redis_server.client()
    wait_for(lambda: has_library(r), 10, what="the library loaded")
    users = ["HiUser%03d" % k for k in range(N_HAPROXY_USERS)]
    chans = [channel(u) for u in users]
    clients = V1Clients(hap.port, users, timeout=20, wave=100)
    pub = None
    try:
        where = wait_for(lambda: placed(instances, users), 10,
                         what="every user served by exactly one instance")
        shares = [sum(1 for u in users if where[channel(u)] == [k])
                  for k in range(len(instances))]
        vi = shares.index(max(shares))
        victim = instances[vi]
        moved = [k for k, u in enumerate(users) if where[channel(u)] == [vi]]
        pub = Publisher(redis_sender(redis_server.port), chans, rate=800,
                        seconds=8.0, max_count=8000, batch=16).start()
        clients.wait(lambda: all(clients.count_ids(k) >= 3
                                 for k in range(len(users))), 15,
                     "three messages for every user")

        t_term = time.monotonic()
        victim.signal(signal.SIGTERM)
        clients.wait(lambda: all(k in clients.closed for k in moved), 10,
                     "close frames after SIGTERM")
        t_closed = time.monotonic() - t_term
        bad = {users[k]: clients.closed[k] for k in moved
               if not clients.closed[k].startswith("close 1001")}
        assert not bad, "not closed with 1001: %r" % bad
        clients.assert_open([k for k in range(len(users)) if k not in moved])
        since = {k: clients.last_id(k) for k in moved}
        took = clients.reopen(moved, hap.port, since)
        t_back = time.monotonic() - t_term
        published_at_reopen = pub.total()
        clients.wait(lambda: all(clients.msgs[k].index(("reopen",)) + 1 <
                                 len(clients.msgs[k]) for k in moved), 10,
                     "a status message after the reconnect")
        status = collections.Counter(
            clients.msgs[k][clients.msgs[k].index(("reopen",)) + 1][:2]
            for k in moved)
        assert status == {("event", b"recovered"): len(moved)}, status

        clients.wait(lambda: not pub.thread.is_alive(), pub.seconds + 10,
                     "the publisher to finish")
        pub.stop()
        want = {ch: {i for i, _, _ in pub.acked[ch]} for ch in chans}
        clients.wait(lambda: all(clients.has(k, want[chans[k]])
                                 for k in range(len(users))), 15,
                     "every acknowledged id delivered")
        clients.poll(0.3)           # a duplicate would come now
        clients.assert_open()
        assert not pub.unknown and not pub.failed and not pub.errors, \
            (len(pub.unknown), pub.failed, pub.errors)
        worst = {}
        for k, u in enumerate(users):
            v = verdict(clients.msgs[k], pub.acked[chans[k]], pub.unknown)
            for what in ("dup", "disorder", "strange", "missing", "gaps",
                         "plain"):
                if v[what]:
                    worst.setdefault(what, {})[u] = v[what][:5]
            assert v["ids"] == [i for i, _, _ in pub.acked[chans[k]]], u
        assert not worst, "per user: %r" % {
            k: dict(list(d.items())[:5]) for k, d in worst.items()}
        lat_moved = [x for k in moved for x in latencies(
            clients.msgs[k], pub.acked[chans[k]])]
        lat_stayed = [x for k in range(len(users)) if k not in moved
                      for x in latencies(clients.msgs[k],
                                         pub.acked[chans[k]])]
        m = [instance_metrics(w) for k, w in enumerate(instances)
             if k != vi]
        replayed = sum(x.get("wspubsub_history_replayed_total", 0)
                       for x in m)
        recoveries = sum(x.get("wspubsub_history_recoveries_total", 0)
                         for x in m)
        assert recoveries == len(moved), m
        assert victim.proc.wait(10) == 0, "stopped instance exit status"
        report("history/haproxy: %d users on %d instances %s, %d messages "
               "published with the function in %.1f s (%d when the moved "
               "clients were back); SIGTERM to one: its %d clients closed "
               "(1001) after %s, back through haproxy with since after %s "
               "(handshakes %s), all 'recovered', %d messages replayed; "
               "per user every id once and in order: 0 lost, 0 duplicated; "
               "delivery after the reply: moved users max %s, others max "
               "%s"
               % (len(users), len(instances), shares, pub.total(),
                  pub.seconds, published_at_reopen, len(moved),
                  ms(t_closed), ms(t_back), ms(took), replayed,
                  ms(max(lat_moved)), ms(max(lat_stayed))))
    except AssertionError:
        print("haproxy log tail:\n" + hap.log())
        raise
    finally:
        if pub is not None:
            pub.stop()
        clients.close()


# --- Redis Cluster -----------------------------------------------------------

def start_cluster_users(cl, make_wspubsub, users):
    w = make_wspubsub(cl.ports[0], **cluster_conf(cl))
    wait_for(lambda: all(has_library(cl.client(m)) for m in cl.masters()),
             10, what="the library on every master")
    try:
        clients = V1Clients(w.port, users, timeout=60)
    except AssertionError as e:
        raise AssertionError("%s\nwspubsub log:\n%s" % (e, log_tail(w)))
    return w, clients


def delivered(clients, chans, want_of, timeout, w):
    """Wait until user k received want_of(k) (a set of ids), then a
    little longer for duplicates."""
    try:
        clients.wait(lambda: all(clients.has(k, want_of(k))
                                 for k in range(len(chans))), timeout,
                     "every expected id delivered (%d users short)" % sum(
                         1 for k in range(len(chans))
                         if not clients.has(k, want_of(k))))
    except AssertionError as e:
        raise AssertionError("%s\nwspubsub log:\n%s" % (e, log_tail(w)))
    clients.poll(0.3)


@pytest.mark.parametrize("order,pause,slow", [
    ("dst_first", 0.0, False), ("dst_first", 0.0, True),
    ("src_first", 1.0, False)], ids=["dst_first", "slow", "src_first"])
def test_cluster_slot_migration_keeps_history_exact(redis_cluster,
                                                    make_wspubsub, order,
                                                    pause, slow):
    """8 users sharing one slot, and 16 others, receive about 500
    messages a second in all while that slot migrates to another master
    (keys moved by MIGRATE, the publisher following -ASK and -MOVED): the
    clients stay connected, and per user every id the function returned
    arrives once, in order, with no gap.

    "src_first": the old owner is finalized 1 s before the new one (both
    answer -MOVED to the other meanwhile).  "slow": the keys are on the
    new owner 0.5 s before either is finalized, as in a long migration:
    the function runs there (-ASK) while the children still listen on
    the old owner, and two more users of the slot connect meanwhile (the
    old owner takes their SSUBSCRIBE, and answers -ASK for the history
    it no longer holds): they receive every message published after
    their 101."""
    cl = redis_cluster
    group = _group_names(8)
    late = _group_names(10)[8:] if slow else []
    users = group + ["h%03d" % k for k in range(16)]
    chans = [channel(u) for u in users + late]
    slot = cl.keyslot(group[0])
    src = cl.slot_owner(slot)
    dst = next(m for m in cl.masters() if m != src)
    w, clients = start_cluster_users(cl, make_wspubsub, users)
    sender = ClusterSender(cl)
    pub = Publisher(sender.send, chans, rate=500, seconds=10.0,
                    max_count=5000)
    late_idx, t_late = [], None

    def keys_moved():
        nonlocal late_idx, t_late
        late_idx = clients.add(w.port, late)
        t_late = time.monotonic()
        clients.poll(0.5)
    try:
        pub.start()
        clients.wait(lambda: all(clients.count_ids(k) >= 3
                                 for k in range(len(users))), 15,
                     "three messages for every user")
        t0 = time.monotonic()
        cl.migrate_slot(slot, dst, order=order, pause=pause,
                        keys_moved=keys_moved if slow else None)
        t_done = time.monotonic()
        assert cl.slot_owner(slot) == dst
        # Published on the new owner too.
        clients.wait(lambda: all(pub.acked_after(ch, t_done) >= 5
                                 for ch in chans[:len(group)] +
                                 chans[len(users):]), RETRY,
                     "messages after the migration")
        pub.stop()
        delivered(clients, chans, lambda k: {
            i for i, _, t in pub.acked[chans[k]]
            if k < len(users) or t > t_late}, 15, w)
        clients.assert_open()
        during = sum(1 for ch in chans[:len(group)]
                     for _, _, t in pub.acked[ch] if t0 <= t <= t_done)
        bad = {}
        for k, u in enumerate(users + late):
            v = verdict(clients.msgs[k], pub.acked[chans[k]], pub.unknown,
                        t_late if k >= len(users) else None)
            for what in ("dup", "disorder", "strange", "missing", "gaps",
                         "recovered", "plain"):
                if v[what]:
                    bad.setdefault(what, {})[u] = v[what][:5]
        assert not bad, "per user: %r\nwspubsub log:\n%s" % (
            bad, log_tail(w))
        assert not pub.errors and not pub.unknown and not pub.failed, \
            (pub.errors, len(pub.unknown), pub.failed)
        assert set(sender.counts) <= {"ASK", "MOVED"}, sender.counts
        missing = set(chans[:len(group)]) - resubscribed_channels(w.log())
        assert not missing, "no 'resubscribed to' for %r" % sorted(missing)
        assert "history unavailable" not in w.log(), log_tail(w)
        lat = [x for k in range(len(group)) for x in latencies(
            clients.msgs[k], pub.acked[chans[k]])]
        late_note = ""
        if late:
            late_note = "; %d users connected in mid-migration, then " \
                "received %s messages, all" % (
                    len(late), [clients.count_ids(k) for k in late_idx])
        report("history/cluster: slot %d (%d users) migrated %d -> %d "
               "(%s) in %.2f s while %d messages were "
               "published with the function (%d to the group's users "
               "during the migration; "
               "publisher redirections %s); no reconnect, per user every "
               "id once and in order: 0 lost, 0 duplicated, no gap; "
               "group's delivery after the reply max %s%s"
               % (slot, len(group), src, dst,
                  "keys moved 0.5 s before the owners were told" if slow
                  else order + (", %.0f s apart" % pause if pause else ""),
                  t_done - t0,
                  pub.total(), during, dict(sender.counts), ms(max(lat)),
                  late_note))
    finally:
        pub.stop()
        sender.close()
        clients.close()


def cut_replica(cl, master):
    """Stop `master` from replicating: its replica drops the link and
    cannot make it again (it now sends AUTH with a password, which a
    master without one refuses).  Writes from now on reach only the
    master."""
    rep = cl.replicas_of(master)[0]
    r = cl.client(rep)
    r.config_set("masterauth", "lag-test")
    r.execute_command("CLIENT", "KILL", "TYPE", "master")
    wait_for(lambda: cl.client(rep).info("replication").get(
        "master_link_status") == "down", 5, 0.02,
        what="replica %d to lose its master" % rep)
    return rep


def stream_of(cl, port, ch):
    entries = cl.client(port).xrange("{%s}#history" % ch)
    return {(i, f.get(b"d")) for i, f in entries}


@pytest.mark.parametrize("replica", ["in_sync", "cut_off"])
def test_cluster_master_kill_loss_is_reported_as_gap(redis_cluster,
                                                     make_wspubsub, replica):
    """60 users on all three masters receive about 600 messages a second
    in all; one master is killed (kill -9) and its replica promoted.
    "cut_off": the replica's link was killed a moment before (and kept
    down), so the writes in between are surely lost.  Lost = ids the
    function returned that the promoted replica's history lacks.  Per
    user: ids received are unique and increasing, every id the function
    returned that survived arrives once, and a user who misses one was
    told "event: gap" (messages keep coming after the failover, which is
    what reveals a loss).  The function's ids stay increasing across the
    failover."""
    cl = redis_cluster
    users = ["f%03d" % k for k in range(60)]
    chans = [channel(u) for u in users]
    w, clients = start_cluster_users(cl, make_wspubsub, users)
    sender = ClusterSender(cl)
    owner = {ch: sender.owner(ch) for ch in chans}
    victim = owner[chans[0]]
    hit = [k for k, ch in enumerate(chans) if owner[ch] == victim]
    assert len(set(owner.values())) == 3 and len(hit) >= 10
    pub = Publisher(sender.send, chans, rate=600, seconds=25.0,
                    max_count=15000)
    try:
        pub.start()
        clients.wait(lambda: all(clients.count_ids(k) >= 3
                                 for k in range(len(users))), 15,
                     "three messages for every user")
        if replica == "cut_off":
            cut_replica(cl, victim)
            t_cut = time.monotonic()
            wait_for(lambda: all(pub.acked_after(chans[k], t_cut) >= 3
                                 for k in hit), 10,
                     what="messages published after the cut")
        t_kill = time.monotonic()
        new = cl.kill_master(victim, timeout=RETRY)
        t_promoted = time.monotonic()
        # Published on the new master: what reveals a loss.
        clients.wait(lambda: all(pub.acked_after(chans[k], t_promoted) >= 5
                                 for k in hit), RETRY,
                     "messages published after the promotion")
        pub.stop()
        # Lost: acknowledged, but not in the promoted replica's history
        # (history_size is larger than what was published: no trimming).
        lost = {}
        for k in hit:
            kept = stream_of(cl, new, chans[k])
            lost[chans[k]] = [(i, p) for i, p, _ in pub.acked[chans[k]]
                              if (i, p) not in kept]
        delivered(clients, chans, lambda k: {
            i for i, p, _ in pub.acked[chans[k]]
            if (i, p) not in lost.get(chans[k], ())}, RETRY, w)
        clients.assert_open()

        problems, n_lost, n_missing, gapped = {}, 0, 0, []
        for k, u in enumerate(users):
            ch = chans[k]
            v = verdict(clients.msgs[k], pub.acked[ch], pub.unknown)
            for what in ("dup", "disorder", "strange", "recovered",
                         "plain"):
                if v[what]:
                    problems.setdefault(what, {})[u] = v[what][:5]
            survived_missing = [x for x in v["missing"]
                                if x not in lost.get(ch, ())]
            if survived_missing:
                problems.setdefault("survived, not received", {})[u] = \
                    survived_missing[:5]
            if v["missing"] and not v["gaps"]:
                problems.setdefault("missed without a gap", {})[u] = \
                    v["missing"][:5]
            if k not in hit and v["gaps"]:
                problems.setdefault("gap on another master", {})[u] = \
                    v["gaps"]
            n_lost += len(lost.get(ch, ()))
            n_missing += len(v["missing"])
            if v["gaps"]:
                gapped.append(u)
        assert not problems, "per user: %r\nwspubsub log:\n%s" % (
            problems, log_tail(w))
        # The function's ids: unique and increasing per channel.
        for ch in chans:
            ids = [i for i, _, _ in pub.acked[ch]]
            bad = [(a, b) for a, b in zip(ids, ids[1:])
                   if id_key(b) <= id_key(a)]
            assert not bad, "%s: the function returned %s after %s" % (
                ch, bad[0][1], bad[0][0])
        assert not pub.errors, pub.errors
        assert "history unavailable" not in w.log(), log_tail(w)
        assert set(sender.counts) <= {"connection error", "CLUSTERDOWN",
                                      "MOVED"}, sender.counts
        if replica == "cut_off":
            assert all(lost[chans[k]] for k in hit), \
                "the cut-off replica lost nothing for some users: %r" % {
                    users[k]: len(lost[chans[k]]) for k in hit}
        # The first message from the new master, replayed or live.
        first_after = [min(m[3] for m in clients.msgs[k] if m[0] == "id"
                           and m[3] > t_kill and m[1] not in
                           {i for i, _, t in pub.acked[chans[k]]
                            if t < t_kill}) for k in hit]
        report("history/cluster failover (%s): master %d killed with %d of "
               "%d users, replica %d promoted after %.2f s, %d messages "
               "published with the function (%d refused or of unknown "
               "fate); lost by replication: %d messages of %d users; not "
               "received: %d; 'event: gap' told to %d users; first "
               "message after the kill %.2f s after it (max over users); "
               "per user no duplicate, ids in order, every surviving "
               "message delivered"
               % (replica, victim, len(hit), len(users), new,
                  t_promoted - t_kill, pub.total(), len(pub.unknown),
                  n_lost, sum(1 for ch in lost if lost[ch]), n_missing,
                  len(gapped), max(first_after) - t_kill))
    finally:
        pub.stop()
        sender.close()
        clients.close()
