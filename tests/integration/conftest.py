import shutil
import tempfile

import pytest

from harness import RedisServer, Wspubsub


@pytest.fixture
def tmpdir_():
    d = tempfile.mkdtemp(prefix="wspubsub-test-")
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def redis_server(tmpdir_):
    r = RedisServer(tmpdir_).start()
    yield r
    r.stop()


@pytest.fixture
def make_server(tmpdir_, redis_server):
    """make_server(**conf) starts a wspubsub on the test's redis."""
    started = []

    def make(**conf):
        w = Wspubsub(tmpdir_, redis_server.port, **conf).start()
        started.append(w)
        return w
    yield make
    for w in started:
        w.stop()


@pytest.fixture
def server(make_server):
    return make_server()
