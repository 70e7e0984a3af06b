"""The long versions of the abuse, leak and load tests, at full size.  Run
by `make stress` (tests/stress/run.sh); not part of `make test`.  Each test
appends a result line to $WSPUBSUB_REPORT."""
import resource
import signal

import test_abuse as abuse
import test_load as load
from harness import raise_nofile, report

NOFILE = raise_nofile()


def test_slowloris_500(make_server, redis_server):
    w = make_server(handshake_timeout="10s")
    abuse.settle(w)
    report(abuse.slowloris(w, redis_server.client(), 500, 10.0, probes=5))


def test_max_connections_503_bursts(make_server, redis_server):
    w = make_server(max_connections=2, spare_children=2)
    report(abuse.max_connections_burst(w, redis_server.client(), 60,
                                       waves=10))


def test_max_connections_503_big_burst(make_server, redis_server):
    """More refused clients at once than the master lingers on (64)."""
    w = make_server(max_connections=2, spare_children=2)
    report(abuse.max_connections_burst(w, redis_server.client(), 300))


def test_endless_fragments_16m(make_server, redis_server):
    w = make_server(max_message_size="16m")
    sent, took = abuse.endless_fragments(w, 16 << 20)
    report("endless fragments: 1009 after %.1f MB sent with "
           "max_message_size 16m, in %.2f s" % (sent / 1e6, took))


def test_empty_fragments_2m(make_server, redis_server):
    w = make_server()
    report(abuse.empty_fragments(w, redis_server.client(), 2000000))


def test_ping_flood_1m(make_server, redis_server):
    w = make_server()
    report(abuse.ping_flood(w, redis_server.client(), 1000000))


def test_cycles_10000(make_server, redis_server):
    w = make_server(spare_children=3)
    report(load.cycles(w, redis_server.client(), 10000, concurrency=16,
                       timeout=300))


def test_load_2000_x_100(make_server, redis_server):
    assert NOFILE >= 4500, "RLIMIT_NOFILE %d is too low" % NOFILE
    w = make_server(spare_children=8, max_connections=2100)
    load.settle(w, timeout=20)
    load.load(w, redis_server, 2000, 100, publishers=4, timeout=300)
    w.stop()


def test_crashes_25_of_200(make_server, redis_server):
    resource.setrlimit(resource.RLIMIT_CORE,
                       (0, resource.getrlimit(resource.RLIMIT_CORE)[1]))
    w = make_server(spare_children=4)
    load.settle(w)
    sigs = [signal.SIGSEGV if i % 2 else signal.SIGKILL for i in range(25)]
    report(load.crash(w, redis_server, make_server.allow_pids, 200, sigs,
                      count=300, pace=0.005))
