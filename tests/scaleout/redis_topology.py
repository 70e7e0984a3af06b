"""Real Redis Cluster and Redis Sentinel topologies for the scale-out tests.

Every process is a real redis-server on free loopback ports in the test's
temporary directory.  Every wait is bounded; stop() ends every process this
module started (by its own Popen handle, never by name) and is safe to call
twice or after a failed start.

    cl = RedisCluster(tmpdir).start()        # 3 masters + 3 replicas
    port = cl.slot_owner("alice")            # master port owning the slot
    cl.migrate_slot(cl.keyslot("alice"), other_master_port)
    new = cl.kill_master(port)               # SIGKILL, wait for promotion
    cl.stop()

    st = RedisSentinelSet(tmpdir).start()    # master, replica, 3 sentinels
    new = st.kill_master()                   # SIGKILL, wait for sentinels
    st.stop()

Also: ClusterPublisher (SPUBLISH / SHARDNUMSUB on the slot owner, as a
backend does it), Clients (many raw WebSocket clients read by one selector,
with exact-delivery and probe-until-delivered checks) and FakeClusterNode
(a RESP server with a made-up slot map, for -ASK and hash-slot checks that
a real Redis 7.0 cluster cannot show).
"""
import os
import re as _re
import selectors as _selectors
import signal
import socketserver as _socketserver
import subprocess
import threading as _threading
import time

import redis

from harness import free_port, mask_frame, open_ws_many, wait_for

HOST = "127.0.0.1"


def _free_ports(n):
    """n distinct free loopback ports."""
    out = set()
    while len(out) < n:
        out.add(free_port())
    return sorted(out)


def _alive_ping(port, timeout=0.5):
    try:
        return redis.Redis(host=HOST, port=port, socket_timeout=timeout,
                           socket_connect_timeout=timeout).ping()
    except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError,
            redis.exceptions.ResponseError, OSError):
        return False


class _Proc:
    """One redis-server (data node or sentinel) run by this module."""

    def __init__(self, d, port, args, name):
        self.dir = d
        self.port = port
        self.args = args
        self.name = name
        self.log_path = os.path.join(d, "%s.log" % name)
        self.proc = None

    def start(self):
        self.proc = subprocess.Popen(
            ["redis-server"] + self.args,
            cwd=self.dir, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        return self

    def wait_up(self, timeout=10.0):
        def up():
            if self.proc.poll() is not None:
                raise AssertionError("%s exited (%s); log:\n%s" % (
                    self.name, self.proc.returncode, self.log_tail()))
            return _alive_ping(self.port)
        wait_for(up, timeout, 0.02, what="%s on %d" % (self.name, self.port))

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def kill(self):
        if self.alive():
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def terminate(self):
        if self.alive():
            self.proc.terminate()

    def stop(self):
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


    def log_tail(self, n=40):
        try:
            with open(self.log_path, errors="replace") as f:
                return "".join(f.readlines()[-n:])
        except OSError:
            return "(no log)"

    def client(self, **kw):
        kw.setdefault("socket_timeout", 5)
        kw.setdefault("socket_connect_timeout", 2)
        return redis.Redis(host=HOST, port=self.port, **kw)


def _stop_all(procs):
    """SIGTERM to all at once, then wait for each (SIGKILL after 5 s)."""
    for p in procs:
        try:
            p.terminate()
        except OSError:
            pass
    for p in procs:
        p.stop()


def _s(v):
    return v.decode() if isinstance(v, bytes) else v


# --- Redis Cluster -----------------------------------------------------------

class RedisCluster:
    """masters x (1 + replicas) cluster nodes, created with
    `redis-cli --cluster create`.  Node ports are in self.ports; the bus
    ports are chosen free too (cluster-port), not port + 10000."""

    def __init__(self, tmpdir, masters=3, replicas=1, node_timeout=1000):
        self.dir = os.path.join(tmpdir, "cluster")
        os.makedirs(self.dir, exist_ok=True)
        self.n_masters = masters
        self.n_replicas = replicas
        self.node_timeout = node_timeout
        self.nodes = {}            # port -> _Proc
        self.ports = []

    # -- lifecycle --

    def start(self, timeout=30.0):
        n = self.n_masters * (1 + self.n_replicas)
        ports = _free_ports(2 * n)
        self.ports, bus = ports[:n], ports[n:]
        try:
            for port, bport in zip(self.ports, bus):
                d = os.path.join(self.dir, str(port))
                os.makedirs(d, exist_ok=True)
                args = [
                    "--port", str(port), "--bind", HOST,
                    "--cluster-enabled", "yes",
                    "--cluster-port", str(bport),
                    "--cluster-config-file", "nodes.conf",
                    "--cluster-node-timeout", str(self.node_timeout),
                    # a replica may always take over, however stale
                    "--cluster-replica-validity-factor", "0",
                    "--appendonly", "no", "--save", "",
                    "--repl-diskless-sync-delay", "0",
                    # CLUSTER SLOTS lists a replica only once its
                    # replication offset is non-zero: ping it soon
                    "--repl-ping-replica-period", "1",
                    "--dir", d, "--logfile", os.path.join(d, "redis.log"),
                ]
                p = _Proc(d, port, args, "redis-cluster-%d" % port)
                p.log_path = os.path.join(d, "redis.log")
                self.nodes[port] = p.start()
            for p in self.nodes.values():
                p.wait_up()
            cmd = ["redis-cli", "--cluster", "create"] + \
                ["%s:%d" % (HOST, p) for p in self.ports] + \
                ["--cluster-replicas", str(self.n_replicas), "--cluster-yes"]
            r = subprocess.run(cmd, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, timeout=timeout,
                               stdin=subprocess.DEVNULL)
            if r.returncode != 0 or b"[OK] All 16384 slots covered" not in \
                    r.stdout:
                raise AssertionError("redis-cli --cluster create failed:\n%s"
                                     % r.stdout.decode(errors="replace"))
            self.wait_settled(timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self):
        _stop_all(list(self.nodes.values()))

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()

    # -- queries --

    def live_ports(self):
        return [p for p in self.ports if self.nodes[p].alive()]

    def client(self, port, **kw):
        return self.nodes[port].client(**kw)

    def seeds(self, ports=None):
        """["127.0.0.1:PORT", ...] of the given (default: master) ports."""
        return ["%s:%d" % (HOST, p) for p in (ports or self.masters())]

    def node_id(self, port):
        return _s(self.client(port).execute_command("CLUSTER", "MYID"))

    def _nodes_view(self, port):
        """CLUSTER NODES as seen by `port`: list of dicts."""
        raw = _s(self.client(port).execute_command("CLUSTER", "NODES"))
        out = []
        for line in raw.splitlines():
            f = line.split()
            if len(f) < 8:
                continue
            addr = f[1].split("@")[0]
            out.append({"id": f[0], "port": int(addr.rsplit(":", 1)[1]),
                        "flags": set(f[2].split(",")), "master": f[3],
                        "link": f[7], "slots": f[8:]})
        return out

    def _cluster_slots_raw(self, port):
        """CLUSTER SLOTS through a raw connection (redis-py's parser
        differs across versions): [(start, end, master_port, [replica
        ports])]."""
        c = self.client(port)
        conn = c.connection_pool.get_connection("CLUSTER")
        try:
            conn.send_command("CLUSTER", "SLOTS")
            rows = conn.read_response()
        finally:
            c.connection_pool.release(conn)
            c.close()
        return [(int(r[0]), int(r[1]), int(r[2][1]),
                 [int(x[1]) for x in r[3:]]) for r in rows]

    def slots_map(self, port=None):
        """slot -> master port, as `port` (default: any live node) sees it."""
        port = port or self.live_ports()[0]
        m = {}
        for a, b, owner, _ in self._cluster_slots_raw(port):
            for s in range(a, b + 1):
                m[s] = owner
        return m

    def masters(self, port=None):
        """Ports of the masters that own slots, sorted (live view)."""
        port = port or self.live_ports()[0]
        return sorted({owner for _, _, owner, _ in
                       self._cluster_slots_raw(port)})

    def replicas_of(self, master_port, port=None):
        port = port or self.live_ports()[0]
        for _, _, owner, reps in self._cluster_slots_raw(port):
            if owner == master_port:
                return reps
        return []

    def master_ranges(self, port=None):
        """{master port: [(start, end), ...]}"""
        port = port or self.live_ports()[0]
        out = {}
        for a, b, owner, _ in self._cluster_slots_raw(port):
            out.setdefault(owner, []).append((a, b))
        return out

    def keyslot(self, name):
        c = self.client(self.live_ports()[0])
        return int(c.execute_command("CLUSTER", "KEYSLOT", name))

    def slot_owner(self, channel_or_slot):
        """Master port owning a slot (int) or a channel's slot (str)."""
        slot = channel_or_slot if isinstance(channel_or_slot, int) else \
            self.keyslot(channel_or_slot)
        for a, b, owner, _ in self._cluster_slots_raw(self.live_ports()[0]):
            if a <= slot <= b:
                return owner
        raise AssertionError("slot %d is not covered" % slot)

    def owner_client(self, channel, **kw):
        """A plain client on the master owning channel's slot."""
        return self.client(self.slot_owner(channel), **kw)

    def spublish(self, channel, message):
        """SPUBLISH on the slot owner; returns the number of receivers."""
        c = self.owner_client(channel)
        try:
            return int(c.execute_command("SPUBLISH", channel, message))
        finally:
            c.close()

    def shardnumsub(self, channel):
        c = self.owner_client(channel)
        try:
            r = c.execute_command("PUBSUB", "SHARDNUMSUB", channel)
            return int(r[1])
        finally:
            c.close()

    # -- settling --

    def _settled(self):
        live = self.live_ports()
        want = None
        for p in live:
            try:
                info = _s(self.client(p, socket_timeout=1).execute_command(
                    "CLUSTER", "INFO"))
                if "cluster_state:ok" not in info:
                    return False
                view = tuple(sorted(
                    (a, b, owner, tuple(sorted(reps))) for a, b, owner, reps
                    in self._cluster_slots_raw(p)))
                nodes = self._nodes_view(p)
                repl = self.client(p, socket_timeout=1).info("replication")
            except (redis.exceptions.RedisError, OSError):
                return False
            if sum(b - a + 1 for a, b, _, _ in view) != 16384:
                return False
            # every live node is in the map (as a master or a replica)
            listed = {o for _, _, o, _ in view} | \
                {r for _, _, _, reps in view for r in reps}
            if listed != set(live):
                return False
            if repl.get("role") == "slave" and \
                    repl.get("master_link_status") != "up":
                return False
            # no node flagged failing among the live ones, no open
            # migration, every live node known and connected
            for nd in nodes:
                if nd["port"] in live and (
                        nd["flags"] & {"fail", "fail?", "handshake",
                                       "noaddr"} or
                        ("myself" not in nd["flags"] and
                         nd["link"] != "connected")):
                    return False
                if any(s.startswith("[") for s in nd["slots"]):
                    return False
            if want is None:
                want = view
            elif view != want:
                return False
        # every live replica replicates a live master
        return True

    def wait_settled(self, timeout=20.0):
        """cluster_state:ok on every live node and every live node has
        the same slot map."""
        wait_for(self._settled, timeout, 0.05,
                 what="cluster settled (state ok, slot maps agree)")

    # -- topology changes --

    def migrate_slot(self, slot, dst_port, timeout=20.0, order="dst_first",
                     pause=0.0, keys_moved=None):
        """Move `slot` from its owner to master `dst_port` the way
        redis-cli --cluster reshard does, keys included.  Returns the old
        owner's port.

        order="dst_first": SETSLOT NODE on the destination first (it bumps
        its epoch; the source learns by gossip or by its own SETSLOT).
        order="src_first": on the source first, then `pause` seconds with
        the destination still IMPORTING (the source redirects to the
        destination, the destination back to the source), then the rest.
        keys_moved(): called once the keys are on the destination, before
        either node is told the slot's new owner (the source MIGRATING,
        the destination IMPORTING), as during a long migration.
        """
        src_port = self.slot_owner(slot)
        if src_port == dst_port:
            raise ValueError("slot %d is already on %d" % (slot, dst_port))
        src, dst = self.client(src_port), self.client(dst_port)
        src_id, dst_id = self.node_id(src_port), self.node_id(dst_port)
        dst.execute_command("CLUSTER", "SETSLOT", slot, "IMPORTING", src_id)
        src.execute_command("CLUSTER", "SETSLOT", slot, "MIGRATING", dst_id)
        end = time.monotonic() + timeout
        while True:
            keys = src.execute_command("CLUSTER", "GETKEYSINSLOT", slot, 100)
            if not keys:
                break
            if time.monotonic() > end:
                raise AssertionError("keys of slot %d not migrated" % slot)
            src.execute_command("MIGRATE", HOST, dst_port, "", 0, 5000,
                                "REPLACE", "KEYS", *keys)
        if keys_moved:
            keys_moved()
        # destination first (it bumps its epoch), then source, then the
        # other masters, like redis-cli does -- or the source first
        first, second = (dst, src) if order == "dst_first" else (src, dst)
        first.execute_command("CLUSTER", "SETSLOT", slot, "NODE", dst_id)
        if pause:
            time.sleep(pause)
        second.execute_command("CLUSTER", "SETSLOT", slot, "NODE", dst_id)
        for m in self.masters():
            if m not in (src_port, dst_port):
                try:
                    self.client(m).execute_command("CLUSTER", "SETSLOT", slot,
                                                   "NODE", dst_id)
                except redis.exceptions.ResponseError:
                    pass
        wait_for(lambda: all(self.slots_map(p).get(slot) == dst_port
                             for p in self.live_ports()),
                 timeout, 0.05,
                 what="every node to see slot %d on %d" % (slot, dst_port))
        self.wait_settled(timeout)
        return src_port

    def kill_master(self, port, timeout=20.0):
        """SIGKILL master `port`; wait until one of its replicas is
        promoted, owns the slots and the cluster is ok again.  Returns the
        new master's port."""
        reps = self.replicas_of(port)
        if not reps:
            raise AssertionError("master %d has no replica" % port)
        ranges = self.master_ranges()[port]
        self.nodes[port].kill()

        def promoted():
            live = self.live_ports()
            try:
                owners = {self.slots_map(p).get(ranges[0][0]) for p in live}
            except (redis.exceptions.RedisError, OSError):
                return None
            if len(owners) == 1:
                (o,) = owners
                if o in reps:
                    return o
            return None
        new = wait_for(promoted, timeout, 0.05,
                       what="a replica of %d promoted" % port)
        self.wait_settled(timeout)
        return new

    def logs(self):
        return "\n".join("--- %d ---\n%s" % (p, n.log_tail(15))
                         for p, n in self.nodes.items())


class ClusterPublisher:
    """SPUBLISH / PUBSUB SHARDNUMSUB on the slot owner, with one client per
    node kept open and the slot map refreshed after -MOVED or a connection
    error (as a backend would do it)."""

    def __init__(self, cluster):
        self.cluster = cluster
        self.map = cluster.slots_map()
        self.clients = {}

    def refresh(self):
        self.map = self.cluster.slots_map()

    def _client(self, port):
        if port not in self.clients:
            self.clients[port] = self.cluster.client(port)
        return self.clients[port]

    def owner(self, channel):
        from redis.crc import key_slot
        return self.map[key_slot(channel.encode()
                                 if isinstance(channel, str) else channel)]

    def _call(self, channel, *cmd):
        for attempt in (0, 1):
            port = self.owner(channel)
            try:
                return self._client(port).execute_command(*cmd)
            except redis.exceptions.ResponseError as e:
                if attempt or not str(e).startswith(("MOVED", "ASK")):
                    raise
                self.refresh()
            except (redis.exceptions.ConnectionError, OSError):
                c = self.clients.pop(port, None)
                if c is not None:
                    c.close()
                self.refresh()
                raise
        raise AssertionError("unreachable")

    def spublish(self, channel, message):
        return int(self._call(channel, "SPUBLISH", channel, message))

    def shardnumsub(self, channel):
        return int(self._call(channel, "PUBSUB", "SHARDNUMSUB", channel)[1])

    def close(self):
        for c in self.clients.values():
            c.close()
        self.clients = {}


# --- Redis Sentinel ----------------------------------------------------------

class RedisSentinelSet:
    """One master, `replicas` replicas and `sentinels` sentinels watching
    it as `name` (quorum 2)."""

    def __init__(self, tmpdir, name="mymaster", replicas=1, sentinels=3,
                 down_after=1000, failover_timeout=3000):
        self.dir = os.path.join(tmpdir, "sentinel")
        os.makedirs(self.dir, exist_ok=True)
        self.name = name
        self.n_replicas = replicas
        self.n_sentinels = sentinels
        self.down_after = down_after
        self.failover_timeout = failover_timeout
        self.data = {}        # port -> _Proc (master and replicas)
        self.sentinels = {}   # port -> _Proc

    def _data_node(self, port, replicaof=None):
        d = os.path.join(self.dir, "data-%d" % port)
        os.makedirs(d, exist_ok=True)
        args = ["--port", str(port), "--bind", HOST,
                "--appendonly", "no", "--save", "", "--dir", d,
                "--logfile", os.path.join(d, "redis.log"),
                "--repl-diskless-sync", "yes",
                "--repl-diskless-sync-delay", "0"]
        if replicaof:
            args += ["--replicaof", HOST, str(replicaof)]
        p = _Proc(d, port, args, "redis-%d" % port)
        p.log_path = os.path.join(d, "redis.log")
        return p

    def start(self, timeout=30.0):
        ports = _free_ports(1 + self.n_replicas + self.n_sentinels)
        self.master_port = ports[0]
        rports = ports[1:1 + self.n_replicas]
        sports = ports[1 + self.n_replicas:]
        try:
            m = self._data_node(self.master_port).start()
            self.data[self.master_port] = m
            m.wait_up()
            for rp in rports:
                self.data[rp] = self._data_node(rp, self.master_port).start()
            for rp in rports:
                self.data[rp].wait_up()
            wait_for(lambda: self._info(self.master_port, "replication").get(
                "connected_slaves") == self.n_replicas and all(
                self._info(rp, "replication").get("master_link_status") ==
                "up" for rp in rports), timeout, 0.05,
                what="replicas in sync")
            for sp in sports:
                d = os.path.join(self.dir, "sentinel-%d" % sp)
                os.makedirs(d, exist_ok=True)
                conf = os.path.join(d, "sentinel.conf")
                with open(conf, "w") as f:
                    f.write(
                        "port %d\nbind %s\ndir %s\nlogfile %s\n"
                        "sentinel resolve-hostnames no\n"
                        "sentinel monitor %s %s %d 2\n"
                        "sentinel down-after-milliseconds %s %d\n"
                        "sentinel failover-timeout %s %d\n"
                        "sentinel parallel-syncs %s 1\n"
                        % (sp, HOST, d, os.path.join(d, "sentinel.log"),
                           self.name, HOST, self.master_port,
                           self.name, self.down_after,
                           self.name, self.failover_timeout, self.name))
                p = _Proc(d, sp, [conf, "--sentinel"], "sentinel-%d" % sp)
                p.log_path = os.path.join(d, "sentinel.log")
                self.sentinels[sp] = p.start()
            for p in self.sentinels.values():
                p.wait_up()
            self.wait_sentinels_ready(timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self):
        _stop_all(list(self.sentinels.values()) + list(self.data.values()))

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()

    def _info(self, port, section):
        try:
            return self.data[port].client(socket_timeout=1).info(section)
        except (redis.exceptions.RedisError, OSError):
            return {}

    def sentinel_addrs(self):
        return ["%s:%d" % (HOST, p) for p in self.sentinels]

    def sentinel_client(self, port=None):
        port = port or next(p for p, s in self.sentinels.items() if s.alive())
        return self.sentinels[port].client()

    def _sentinel_cmd(self, port, *args):
        return self.sentinels[port].client(socket_timeout=1).execute_command(
            "SENTINEL", *args)

    def master_addr(self, port=None):
        """(host, port) that sentinel `port` (default: the first) reports."""
        port = port or next(iter(self.sentinels))
        r = self._sentinel_cmd(port, "get-master-addr-by-name", self.name)
        return (_s(r[0]), int(r[1])) if r else None

    def _ready(self):
        for sp in self.sentinels:
            try:
                m = self._sentinel_cmd(sp, "master", self.name)
                if isinstance(m, list):
                    m = dict(zip(map(_s, m[::2]), map(_s, m[1::2])))
                else:
                    m = {_s(k): _s(v) for k, v in m.items()}
                if int(m.get("num-other-sentinels", 0)) != \
                        self.n_sentinels - 1:
                    return False
                if int(m.get("num-slaves", 0)) != self.n_replicas:
                    return False
                if "s_down" in m.get("flags", "") or \
                        "o_down" in m.get("flags", ""):
                    return False
                if self.master_addr(sp) != (HOST, self.master_port):
                    return False
            except (redis.exceptions.RedisError, OSError):
                return False
        return True

    def wait_sentinels_ready(self, timeout=30.0):
        """Every sentinel knows the master, its replicas and the other
        sentinels (hello messages go out every 2 s)."""
        wait_for(self._ready, timeout, 0.1,
                 what="sentinels to know each other and the replicas")

    def master(self):
        return self.data[self.master_port]

    def client(self, port=None, **kw):
        return self.data[port or self.master_port].client(**kw)

    def kill_master(self, timeout=30.0):
        """SIGKILL the master; wait until every live sentinel reports the
        promoted replica and it says role:master.  Returns its port."""
        old = self.master_port
        self.data[old].kill()

        def switched():
            addrs = set()
            for sp, s in self.sentinels.items():
                if not s.alive():
                    continue
                try:
                    addrs.add(self.master_addr(sp))
                except (redis.exceptions.RedisError, OSError):
                    return None
            if len(addrs) != 1:
                return None
            (a,) = addrs
            if a is None or a[1] == old:
                return None
            if self._info(a[1], "replication").get("role") != "master":
                return None
            return a[1]
        new = wait_for(switched, timeout, 0.05,
                       what="sentinels to report a new master for %s"
                       % self.name)
        self.master_port = new
        return new

    def logs(self):
        return "\n".join("--- %s ---\n%s" % (p.name, p.log_tail(15))
                         for p in list(self.data.values()) +
                         list(self.sentinels.values()))


# --- many raw WebSocket clients ----------------------------------------------
# (plain ws:// only, like tests/integration/test_load.py)

OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 1, 2, 8, 9, 10


class Clients:
    """One raw upgraded connection per user name, all read by one selector.
    got[i] lists (monotonic time, payload) of the data frames user i
    received; closed[i] says why connection i ended (close code or
    "EOF"); server pings are answered.  open_kw go to open_ws_many
    (headers, paths, expect, wave)."""

    def __init__(self, port, users, timeout=60.0, **open_kw):
        self.users = list(users)
        self.index = {u: i for i, u in enumerate(self.users)}
        self.conns = open_ws_many(port, self.users, timeout=timeout,
                                  **open_kw)
        self.got = [[] for _ in self.users]
        self.closed = {}
        self.sel = _selectors.DefaultSelector()
        for i, (s, fr) in enumerate(self.conns):
            self.sel.register(s, _selectors.EVENT_READ, i)
            self._frames(i, fr.feed())

    def _frames(self, i, frames):
        now = time.monotonic()
        s = self.conns[i][0]
        for fin, op, payload in frames:
            if op in (OP_TEXT, OP_BINARY):
                self.got[i].append((now, payload))
            elif op == OP_PING:
                try:
                    s.sendall(mask_frame(OP_PONG, payload))
                except OSError:
                    pass
            elif op == OP_CLOSE:
                code = int.from_bytes(payload[:2], "big") \
                    if len(payload) >= 2 else None
                self.closed[i] = "close %s %r" % (code, payload[2:])
                self._drop(i)
                return

    def _drop(self, i):
        s = self.conns[i][0]
        try:
            self.sel.unregister(s)
        except (KeyError, ValueError):
            pass

    def poll(self, seconds):
        """Read whatever arrives for `seconds`."""
        end = time.monotonic() + seconds
        while True:
            left = end - time.monotonic()
            if left <= 0 or not self.sel.get_map():
                return
            for key, _ in self.sel.select(left):
                i = key.data
                s, fr = self.conns[i]
                try:
                    data = s.recv(65536)
                except BlockingIOError:
                    continue
                except OSError as e:
                    self.closed[i] = "error %r" % e
                    self._drop(i)
                    continue
                if not data:
                    self.closed.setdefault(i, "EOF")
                    self._drop(i)
                    continue
                self._frames(i, fr.feed(data))

    def wait(self, pred, timeout, what):
        end = time.monotonic() + timeout
        while True:
            if pred():
                return
            left = end - time.monotonic()
            if left <= 0:
                raise AssertionError("timed out (%.0fs) waiting for %s"
                                     % (timeout, what))
            self.poll(min(left, 0.05))

    def payloads(self, i):
        return [p for _, p in self.got[i]]

    def assert_open(self, idxs=None):
        idxs = range(len(self.users)) if idxs is None else idxs
        bad = {self.users[i]: self.closed[i] for i in idxs
               if i in self.closed}
        assert not bad, "connections ended: %r" % dict(
            list(bad.items())[:10])

    def exact_round(self, idxs, publish, tag, timeout=15.0):
        """Drain, then publish one message to each user in idxs (publish(i,
        msg) must return the receiver count, asserted 1) and check every
        one of them received exactly that message, once."""
        idxs = list(idxs)
        self.poll(0.3)
        for i in idxs:
            self.got[i] = []
        want = {}
        for i in idxs:
            want[i] = ("%s %s" % (tag, self.users[i])).encode()
            n = publish(i, want[i])
            assert n == 1, "publish to %s reached %r subscribers" % (
                self.users[i], n)
        self.wait(lambda: all(self.got[i] for i in idxs) or
                  any(i in self.closed for i in idxs), timeout,
                  "every user to receive its %r message (%d of %d did)"
                  % (tag, sum(1 for i in idxs if self.got[i]), len(idxs)))
        self.assert_open(idxs)
        self.poll(0.3)
        wrong = {self.users[i]: self.payloads(i) for i in idxs
                 if self.payloads(i) != [want[i]]}
        assert not wrong, "wrong deliveries (%d): %r" % (
            len(wrong), dict(list(wrong.items())[:5]))

    def probe_until_delivered(self, idxs, publish, timeout, interval=0.1):
        """Publish "probe N USER" to every user in idxs that has not yet
        received a probe, every `interval` s, until all have; publish(i,
        msg) may fail (return None or raise redis errors) while the
        topology changes.  Returns {i: monotonic time of its first probe}.
        """
        idxs = list(idxs)
        first = {}
        seq = 0
        end = time.monotonic() + timeout
        while True:
            for i in idxs:
                if i in first:
                    continue
                for t, p in self.got[i]:
                    if p.startswith(b"probe "):
                        first[i] = t
                        break
            if len(first) == len(idxs):
                return first
            if time.monotonic() > end:
                missing = [self.users[i] for i in idxs if i not in first]
                raise AssertionError(
                    "%d of %d users got no message within %.0fs: %r; "
                    "closed: %r" % (len(missing), len(idxs), timeout,
                                    missing[:10],
                                    {self.users[i]: self.closed[i]
                                     for i in idxs if i in self.closed}))
            seq += 1
            for i in idxs:
                if i not in first and i not in self.closed:
                    try:
                        publish(i, ("probe %d %s" % (seq, self.users[i]))
                                .encode())
                    except (redis.exceptions.RedisError, OSError):
                        pass
            self.poll(interval)

    def close(self):
        self.sel.close()
        for s, _ in self.conns:
            try:
                s.close()
            except OSError:
                pass


def resubscribed_channels(log):
    """Channels named in "resubscribed to CHANNEL" lines of a log."""
    return set(_re.findall(r"resubscribed to (\S+)", log))


# --- a fake cluster node -------------------------------------------------------
# Redis 7.0 never answers -ASK to SSUBSCRIBE (the migrating source keeps
# serving sharded pub/sub until SETSLOT NODE), and a real cluster hides a
# wrong slot computation behind -MOVED.  This RESP server, used as the only
# seed, hands out a slot map of the test's making and answers SSUBSCRIBE as
# the test says, so those two paths can be checked exactly.


def _resp_bulk(b):
    b = b if isinstance(b, bytes) else str(b).encode()
    return b"$%d\r\n%s\r\n" % (len(b), b)


def _read_command(f):
    """One RESP array of bulk strings (or an inline command) from f, or
    None at EOF."""
    line = f.readline()
    if not line:
        return None
    if not line.startswith(b"*"):
        return line.strip().split()
    args = []
    for _ in range(int(line[1:])):
        n = int(f.readline()[1:])
        args.append(f.read(n + 2)[:-2])
    return args


class FakeClusterNode:
    """Answers CLUSTER SLOTS with `ranges` [(lo, hi, port)] (port None:
    this node), SSUBSCRIBE with ssubscribe(channel) -> raw reply bytes,
    PING, ROLE, ASKING; FCALL_RO wspubsub_since as for a channel without
    history, FUNCTION LOAD as done; anything else +OK.  self.commands
    lists every command received, as tuples of str."""

    def __init__(self, ranges=None, ssubscribe=None):
        self.port = free_port()
        self.ranges = ranges or [(0, 16383, None)]
        self.ssubscribe = ssubscribe or (
            lambda ch: b"-ERR fake node: not the owner\r\n")
        self.commands = []
        self.lock = _threading.Lock()
        node = self

        class Handler(_socketserver.StreamRequestHandler):
            def handle(self):
                while True:
                    try:
                        cmd = _read_command(self.rfile)
                    except (OSError, ValueError):
                        return
                    if cmd is None:
                        return
                    try:
                        self.wfile.write(node._answer(
                            [c.decode(errors="replace") for c in cmd]))
                    except OSError:
                        return

        class Server(_socketserver.ThreadingTCPServer):
            daemon_threads = True
            allow_reuse_address = True

        self.server = Server((HOST, self.port), Handler)
        self.thread = _threading.Thread(target=self.server.serve_forever,
                                        args=(0.05,), daemon=True)

    def _answer(self, cmd):
        with self.lock:
            self.commands.append(tuple(cmd))
        name = cmd[0].upper() if cmd else ""
        if name == "CLUSTER" and len(cmd) > 1 and cmd[1].upper() == "SLOTS":
            out = b"*%d\r\n" % len(self.ranges)
            for lo, hi, port in self.ranges:
                p = port or self.port
                out += b"*3\r\n:%d\r\n:%d\r\n*4\r\n" % (lo, hi) + \
                    _resp_bulk(HOST) + b":%d\r\n" % p + \
                    _resp_bulk(("%040x" % p)) + b"*0\r\n"
            return out
        if name == "SSUBSCRIBE" and len(cmd) >= 2:
            # one error for the command; the history channel is in the
            # same slot
            return self.ssubscribe(cmd[1])
        if name == "FCALL_RO" and len(cmd) == 6 and \
                cmd[1] == "wspubsub_since":
            return b"*2\r\n" + _resp_bulk("gap" if cmd[4] else "none") + \
                _resp_bulk("")
        if name in ("FCALL", "FCALL_RO"):
            return b"-ERR Function not found\r\n"
        if name == "FUNCTION":
            return _resp_bulk("wspubsub")
        if name == "PING":
            return b"+PONG\r\n"
        if name == "ROLE":
            return b"*3\r\n$6\r\nmaster\r\n:0\r\n*0\r\n"
        return b"+OK\r\n"

    def seed(self):
        return "%s:%d" % (HOST, self.port)

    def seen(self, name):
        with self.lock:
            return [c for c in self.commands if c and c[0].upper() == name]

    def start(self):
        self.thread.start()
        return self

    def stop(self):
        self.server.shutdown()
        self.server.server_close()
