"""The sandbox every child enters before it can receive a client: seccomp
(mode 2, filter) with no_new_privs, in the master's children and under
inetd; a forbidden system call kills that child alone, and the master names
the call.  The calls are made on request by wspubsub-hooks, a build with
test hooks (child/testhook.h) that ./wspubsub never contains."""
import os
import re
import signal
import subprocess

import pytest

from harness import (BINARY, ROOT, Wspubsub, FrameReader, child_of_user,
                     mask_frame, open_ws, wait_for, free_port)
from test_ops import (alive, inetd_conf, log_text, metrics, procs,  # noqa
                      publish_until, recv_text, socket_activate,
                      wspubsub_pids_under, SOCKET_ACTIVATE)

HOOKS = os.path.abspath(os.environ.get("WSPUBSUB_HOOKS",
                                       os.path.join(ROOT, "wspubsub-hooks")))
T = 10.0


def status(pid):
    """Fields of /proc/PID/status, or None once the process is gone."""
    try:
        with open("/proc/%d/status" % pid) as f:
            return dict(l.rstrip("\n").split(":\t", 1) for l in f
                        if ":\t" in l)
    except OSError:
        return None


def sandboxed(pid):
    st = status(pid)
    return st is not None and st.get("Seccomp") == "2" and \
        st.get("NoNewPrivs") == "1"


def subscribed(r, channel):
    return r.pubsub_numsub(channel)[0][1]


def test_every_child_is_sandboxed(make_server, redis_server):
    """Busy children are sandboxed from the moment they hold a client,
    spares once they are ready for one; the master is not."""
    w = make_server(spare_children=3)
    r = redis_server.client()
    a, _ = open_ws(w.port, "alice")
    b, _ = open_ws(w.port, "bob")
    wait_for(lambda: subscribed(r, "alice") and subscribed(r, "bob"), T,
             what="alice and bob subscribed")
    busy = [wait_for(lambda: child_of_user(w, u), T, what="%s's child" % u)
            for u in ("alice", "bob")]
    for pid in busy:
        assert sandboxed(pid), (pid, status(pid))
    wait_for(lambda: len(w.children()) >= 5 and
             all(sandboxed(p) for p, _ in w.children()), T,
             what="every child sandboxed: %r" %
             [(p, (status(p) or {}).get("Seccomp")) for p, _ in w.children()])
    assert status(w.pid)["Seccomp"] == "0"
    assert "children are sandboxed: seccomp" in w.log()
    a.close()
    b.close()


def test_sandbox_no(make_server, redis_server):
    w = make_server(sandbox="no")
    r = redis_server.client()
    a, _ = open_ws(w.port, "alice")
    wait_for(lambda: subscribed(r, "alice"), T, what="alice subscribed")
    wait_for(lambda: len(w.children()) >= 3, T, what="three children")
    for pid, _ in w.children():
        assert status(pid)["Seccomp"] == "0", pid
    a.close()


def test_release_binary_has_no_test_hooks():
    with open(BINARY, "rb") as f:
        assert b"wspubsub-test-hook" not in f.read()
    with open(HOOKS, "rb") as f:
        assert b"wspubsub-test-hook" in f.read()


@pytest.fixture
def hooks_server(tmpdir_, redis_server):
    w = Wspubsub(tmpdir_, redis_server.port, spare_children=2)
    w.binary = HOOKS
    w.start()
    yield w
    w.stop()


@pytest.mark.parametrize("call,name", [("execve", "execve"),
                                       ("openat", "openat"),
                                       ("socket-packet", "socket")])
def test_forbidden_call_kills_that_child_alone(hooks_server, redis_server,
                                               call, name):
    w = hooks_server
    r = redis_server.client()
    a, ra = open_ws(w.port, "alice")
    b, rb = open_ws(w.port, "bob")
    wait_for(lambda: subscribed(r, "alice") and subscribed(r, "bob"), T,
             what="alice and bob subscribed")
    pid = wait_for(lambda: child_of_user(w, "alice"), T,
                   what="alice's child")
    a.sendall(mask_frame(1, b"wspubsub-test-hook " + call.encode()))
    # Alice's connection ends without a close frame: her child is gone.
    a.settimeout(T)
    reader = FrameReader(ra)
    while True:
        data = a.recv(65536)
        if not data:
            break
        reader.feed(data)
    line = wait_for(lambda: re.search(
        r"child %d \(alice, 127\.0\.0\.1:\d+\) killed by the sandbox: "
        r"system call (\w+)" % pid, w.log()), T,
        what="the master's log line for child %d" % pid)
    assert line.group(1) == name, line.group(0)
    assert "test hook: %s returned" % call not in w.log()
    wait_for(lambda: not alive(pid), T, what="child %d reaped" % pid)
    assert metrics(w.port)["wspubsub_sandbox_kills_total"] == 1
    # Bob, and a newcomer, are served as before.
    assert publish_until(r, "bob", "still here") == 1
    assert recv_text(b, rb)[0] == b"still here"
    c, rc = open_ws(w.port, "carol")
    assert publish_until(r, "carol", "hello carol") == 1
    assert recv_text(c, rc)[0] == b"hello carol"
    assert w.proc.poll() is None
    b.close()
    c.close()


@pytest.mark.skipif(SOCKET_ACTIVATE is None,
                    reason="systemd-socket-activate missing")
def test_inetd_child_is_sandboxed(tmpdir_, redis_server, procs):  # noqa
    """wspubsub -i enters the sandbox too; with no master it logs the
    forbidden call itself."""
    port = free_port()
    conf_path, log_path = inetd_conf(tmpdir_, redis_server.port)
    p, _ = socket_activate(procs, tmpdir_, conf_path,
                           ["127.0.0.1:%d" % port], accept=True,
                           binary=HOOKS)
    r = redis_server.client()
    a, ra = open_ws(port, "alice", timeout=T)
    pid = wait_for(lambda: (wspubsub_pids_under(p.pid, HOOKS) or [None])[0], T,
                   what="the wspubsub -i process")
    procs.track(pid)
    wait_for(lambda: subscribed(r, "alice"), T, what="alice subscribed")
    assert sandboxed(pid), status(pid)
    assert publish_until(r, "alice", "to alice") == 1
    assert recv_text(a, ra)[0] == b"to alice"
    a.sendall(mask_frame(1, b"wspubsub-test-hook execve"))
    wait_for(lambda: not alive(pid), T, what="the -i process to die")
    wait_for(lambda: re.search(r"inetd: killed by the sandbox: system call "
                               r"execve", log_text(log_path)), T,
             what="the log line of the -i process")
    a.close()


def test_sandbox_names_are_resolved_by_the_master(make_server,
                                                  redis_server):
    """redis_host given as a name: the master resolves it (a sandboxed
    child cannot), and an unresolvable one is a configuration error."""
    w = make_server(redis_host="localhost")
    r = redis_server.client()
    a, ra = open_ws(w.port, "alice")
    wait_for(lambda: subscribed(r, "alice"), T, what="alice subscribed")
    assert publish_until(r, "alice", "via localhost") == 1
    assert recv_text(a, ra)[0] == b"via localhost"
    a.close()
    conf = os.path.join(os.path.dirname(w.conf_path), "bad.conf")
    with open(conf, "w") as f:
        f.write("redis_host no-such-host.invalid\n")
    out = subprocess.run([BINARY, "-t", "-f", conf], capture_output=True,
                         text=True, timeout=30)
    assert out.returncode == 1
    assert re.search(r"bad\.conf:1: redis_host no-such-host\.invalid: ",
                     out.stderr), out.stderr


def reload(w, **conf):
    """Rewrite w's configuration with conf and SIGHUP; the log's text from
    that reload's outcome on."""
    w.conf.update(conf)
    w.write_conf()
    n = len(w.log())
    w.signal(signal.SIGHUP)
    return wait_for(lambda: (lambda t: t if "reloaded" in t else None)(
        w.log()[n:]), T, what="the reload's outcome")


def test_reload_turns_the_sandbox_off_and_resolves_again(make_server,
                                                         redis_server):
    w = make_server(spare_children=2)
    wait_for(lambda: len(w.children()) >= 2 and
             all(sandboxed(p) for p, _ in w.children()), T,
             what="sandboxed spares")
    old = {p for p, _ in w.children()}
    # A name that does not resolve: the reload is refused, names its line.
    out = reload(w, redis_host="no-such-host.invalid")
    assert "not reloaded" in out, out
    assert re.search(r":\d+: redis_host no-such-host\.invalid: ", out), out
    out = reload(w, redis_host="localhost", sandbox="no")
    assert "configuration reloaded" in out, out
    wait_for(lambda: {p for p, _ in w.children()}.isdisjoint(old) and
             len(w.children()) >= 2, T, what="new spares")
    for pid, _ in w.children():
        assert (status(pid) or {"Seccomp": "0"})["Seccomp"] == "0", pid
    r = redis_server.client()
    a, ra = open_ws(w.port, "alice")
    assert publish_until(r, "alice", "after the reload") == 1
    assert recv_text(a, ra)[0] == b"after the reload"
    a.close()


def test_syslog_from_inside_the_sandbox(make_server, redis_server):
    """With log_target syslog a child opens its syslog socket (AF_UNIX)
    after it entered the sandbox; that is allowed, and nothing is killed."""
    w = make_server(log_target="syslog", spare_children=2)
    r = redis_server.client()
    for user in ("alice", "bob"):
        s, rest = open_ws(w.port, user)
        assert publish_until(r, user, "hello " + user) == 1
        assert recv_text(s, rest)[0] == ("hello " + user).encode()
        pid = wait_for(lambda: child_of_user(w, user), T, what="the child")
        assert sandboxed(pid)
        s.close()
    assert metrics(w.port)["wspubsub_sandbox_kills_total"] == 0
