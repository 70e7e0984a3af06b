"""Fixtures for the stress runs: the integration harness, a Redis that
takes thousands of clients, and a sanitizer check of every server log."""
import os
import shutil
import sys
import tempfile

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))), "integration"))

from harness import RedisServer, Wspubsub, assert_clean_log  # noqa: E402


@pytest.fixture
def tmpdir_():
    d = tempfile.mkdtemp(prefix="wspubsub-stress-")
    yield d
    if os.environ.get("WSPUBSUB_KEEP"):
        print("\nkept %s" % d)     # logs and configs, for a post-mortem
    else:
        shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def redis_server(tmpdir_):
    r = RedisServer(tmpdir_, "--maxclients", "10000").start()
    yield r
    r.stop()


@pytest.fixture
def make_server(tmpdir_, redis_server):
    started = []

    def make(**conf):
        w = Wspubsub(tmpdir_, redis_server.port, **conf).start()
        started.append(w)
        return w
    make.allow_pids = []
    yield make
    for w in started:
        w.stop()
    for w in started:
        assert_clean_log(w, allow_pids=make.allow_pids)
