# tests/scaleout -- many wspubsub instances behind HAProxy, Redis Cluster
# and Redis Sentinel, all as real processes on loopback ports.  These tests
# reuse tests/integration/harness.py and run once, against the plain build
# (`make scaleout`, part of `make test`).
import os
import shutil
import sys
import tempfile

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "integration"))


@pytest.fixture
def tmpdir_():
    d = tempfile.mkdtemp(prefix="wspubsub-scaleout-")
    yield d
    shutil.rmtree(d, ignore_errors=True)


# --- Redis Cluster, Redis Sentinel and wspubsub instances ---------------------
# (tests/scaleout/redis_topology.py; everything is stopped at teardown, also
# when the test or the start itself fails)

@pytest.fixture
def redis_cluster(tmpdir_):
    """3 masters + 3 replicas, cluster-node-timeout 1000 ms, settled."""
    from redis_topology import RedisCluster
    cl = RedisCluster(tmpdir_)
    try:
        cl.start()
        yield cl
    finally:
        cl.stop()


@pytest.fixture
def redis_sentinels(tmpdir_):
    """Master "mymaster", one replica, three sentinels (quorum 2,
    down-after-milliseconds 1000), all knowing each other."""
    from redis_topology import RedisSentinelSet
    st = RedisSentinelSet(tmpdir_)
    try:
        st.start()
        yield st
    finally:
        st.stop()


@pytest.fixture
def make_wspubsub(tmpdir_):
    """make_wspubsub(redis_port, **conf) starts a wspubsub (harness
    defaults: log_level debug, log in w.log()); all stopped at teardown."""
    from harness import Wspubsub
    started = []

    def make(redis_port, **conf):
        w = Wspubsub(tmpdir_, redis_port, **conf)
        started.append(w)
        return w.start()
    yield make
    for w in started:
        try:
            w.stop()
        except Exception:
            pass
    from harness import assert_clean_log
    for w in started:
        assert_clean_log(w)     # the ASan build's reports, if any
