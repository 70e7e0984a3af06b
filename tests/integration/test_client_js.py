"""The client library contrib/client/wspubsub.js in Node (its global
WebSocket), against the real binary: message parsing, ids, resuming with
since after the server restarts, and no reconnecting after a close that
says the request is wrong (1008).

Skipped without node, except in CI (CI set), where that is a failure.
"""
import base64
import hashlib
import hmac
import json
import os
import queue
import shutil
import subprocess
import threading
import time

import pytest

from harness import ROOT, wait_for

import harness

SCRIPT = os.path.join(ROOT, "tests", "integration", "js", "client_check.mjs")
T = 10.0
QUIET = 2.0     # no event for this long: nothing more is coming

pytestmark = pytest.mark.skipif(getattr(harness, "TLS", False),
                                reason="the Node client trusts no test CA")


def node():
    exe = shutil.which("node")
    if exe is None:
        if os.environ.get("CI"):
            pytest.fail("node is needed for the client library test")
        pytest.skip("node not installed")
    major = int(subprocess.run([exe, "--version"], capture_output=True,
                               text=True).stdout.strip().lstrip("v")
                .split(".")[0])
    return [exe] + (["--experimental-websocket"] if major < 22 else [])


class NodeClient:
    def __init__(self, url, scenario):
        self.proc = subprocess.Popen(
            node() + ["--no-warnings", SCRIPT, url, scenario],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.events = queue.Queue()
        self.seen = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.proc.stdout:
            self.events.put(json.loads(line))

    def until(self, pred, what, timeout=T):
        """Events up to and including the first one pred accepts."""
        got = []
        try:
            while True:
                e = self.events.get(timeout=timeout)
                got.append(e)
                self.seen.append(e)
                if pred(e):
                    return got
        except queue.Empty:
            raise AssertionError("no %s; saw %r" % (what, self.seen[-20:]))

    def stop(self):
        try:
            self.proc.stdin.write("stop\n")
            self.proc.stdin.flush()
            self.proc.wait(5)
        except (OSError, subprocess.TimeoutExpired):
            self.proc.kill()
            self.proc.wait(5)


def test_parse_message():
    out = subprocess.run(node() + ["--no-warnings", SCRIPT, "ws://x/",
                                   "parse"],
                         capture_output=True, text=True, timeout=T)
    lines = [json.loads(l)["p"] for l in out.stdout.splitlines()]
    assert lines[0] == {"fields": {"id": "5-1"}, "payload": "hello"}
    assert lines[1] == {"fields": {}, "payload": "id: 1\n\nx"}
    assert lines[2] is None
    assert lines[3] == {"fields": {"id": "5-2"}, "payload": [0xc3, 0xbf]}


def test_ids_and_resume_across_a_restart(server, redis_server):
    r = redis_server.client()
    c = NodeClient(server.url + "/", "normal")
    try:
        c.until(lambda e: e.get("state") == "open", "open")
        wait_for(lambda: r.pubsub_numsub("nodeuser")[0][1] == 1, T,
                 what="subscribed")
        i = r.fcall("wspubsub_publish", 1, "nodeuser", "one").decode()
        r.publish("nodeuser", "plain")
        got = c.until(lambda e: e.get("msg") == "plain", "plain")
        msgs = [(e["msg"], e["id"]) for e in got if "msg" in e]
        assert msgs == [("one", i), ("plain", None)]
        # The server goes away; messages published meanwhile are replayed.
        server.stop()
        c.until(lambda e: e.get("state") == "waiting", "waiting")
        missed = [r.fcall("wspubsub_publish", 1, "nodeuser",
                          "m%d" % k).decode() for k in range(3)]
        server.start()
        got = c.until(lambda e: e.get("id") == missed[-1], "the replay")
        assert any(e.get("recovered") for e in got)
        assert [e["id"] for e in got if "msg" in e] == missed
        assert not any(e.get("gap") for e in c.seen)
    finally:
        c.stop()


def test_reconnects_after_1001_not_after_1008(make_server):
    # 1001 (shutdown) is worth a retry; 1008 (here: the token expired)
    # says the request itself is wrong, and the library stops.
    w = make_server(jwt_secret="s3cret-for-the-node-test", jwt_leeway="0")
    now = int(time.time())
    # Long enough to outlive a restart of the (ASan) server, short
    # enough to expire within one wait of `until`.
    claims = {"sub": "nodeuser", "iat": now, "exp": now + 8}
    c = NodeClient(w.url + "/?token=" + hs256(claims,
                                              "s3cret-for-the-node-test"),
                   "token")
    try:
        c.until(lambda e: e.get("state") == "open", "open")
        w.stop()
        got = c.until(lambda e: e.get("state") == "waiting", "waiting")
        assert any(e.get("close") == 1001 for e in got)
        w.start()
        c.until(lambda e: e.get("state") == "open", "open again")
        got = c.until(lambda e: e.get("state") == "closed", "closed")
        assert any(e.get("close") == 1008 for e in got), got
        with pytest.raises(AssertionError):
            c.until(lambda e: e.get("state") == "connecting", "a retry",
                    QUIET)
    finally:
        c.stop()


def hs256(claims, secret):
    def b64u(b):
        return base64.urlsafe_b64encode(b).rstrip(b"=").decode()
    signing = b64u(json.dumps({"alg": "HS256", "typ": "JWT"}).encode()) + \
        "." + b64u(json.dumps(claims).encode())
    sig = hmac.new(secret.encode(), signing.encode(), hashlib.sha256).digest()
    return signing + "." + b64u(sig)
