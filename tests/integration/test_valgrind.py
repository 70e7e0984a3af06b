"""One child serving a client under valgrind --leak-check=full: no errors,
no definitely lost bytes, in the child and in the master."""
import asyncio
import glob
import os
import re
import shutil
import signal
import subprocess

import pytest
import websockets

from harness import BINARY, Wspubsub, wait_for

pytestmark = pytest.mark.skipif(
    BINARY.endswith("-asan"),
    reason="valgrind does not run AddressSanitizer builds")


class ValgrindWspubsub(Wspubsub):
    def start(self):
        if shutil.which("valgrind") is None:
            if os.environ.get("CI"):
                pytest.fail("valgrind is not installed")
            pytest.skip("valgrind is not installed")
        self.write_conf()
        self.logf = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            ["valgrind", "--leak-check=full", "--show-leak-kinds=definite",
             "--errors-for-leak-kinds=definite", "--track-fds=no",
             "--log-file=" + os.path.join(self.dir, "vg.%p.log"),
             BINARY, "-f", self.conf_path],
            stdout=self.logf, stderr=self.logf)
        wait_for(self._accepting, 60, what="wspubsub under valgrind")
        return self


def test_child_and_master_clean_under_valgrind(tmpdir_, redis_server):
    # No sandbox: valgrind knows neither seccomp(2) nor Landlock's calls,
    # and its translated code lives in executable mappings made at run
    # time, which the sandbox forbids.
    w = ValgrindWspubsub(tmpdir_, redis_server.port, spare_children=1,
                         ping_interval="1s", ping_timeout="5s",
                         sandbox="no")
    w.start()
    r = redis_server.client()

    async def run():
        async with websockets.connect(w.url + "/?user=vg", open_timeout=30,
                                      close_timeout=30) as ws:
            wait_for(lambda: r.pubsub_numsub("vg")[0][1] == 1, 30)
            for i in range(20):
                r.publish("vg", "message %d" % i)
                r.publish("vg", bytes([0xff, i]) * (i * 100))
            for i in range(20):
                assert await asyncio.wait_for(ws.recv(), 30) == "message %d" % i
                await asyncio.wait_for(ws.recv(), 30)
            await ws.send("ping")
            assert await asyncio.wait_for(ws.recv(), 30) == "pong"
            await ws.send(b"\x00" * 1000)
            await ws.ping(b"x")
            await asyncio.sleep(1.5)          # a server ping goes out
        # a second client, identified by message, closed by the server
        async with websockets.connect(w.url + "/", open_timeout=30,
                                      close_timeout=30) as ws:
            await ws.send('{"user_name": "vg2"}')
            await ws.send(b"\x01")
            await ws.send("x" * 10)
    asyncio.run(asyncio.wait_for(run(), 120))
    w.signal(signal.SIGTERM)
    w.proc.wait(60)
    w.logf.close()

    logs = glob.glob(os.path.join(tmpdir_, "vg.*.log"))
    assert len(logs) >= 3, logs       # master, the two children, spares
    checked = 0
    for path in logs:
        with open(path) as f:
            text = f.read()
        summary = re.search(r"ERROR SUMMARY: (\d+) errors", text)
        assert summary, "%s: no summary\n%s" % (path, text[-2000:])
        assert summary.group(1) == "0", "%s:\n%s" % (path, text[-4000:])
        m = re.search(r"definitely lost: ([\d,]+) bytes", text)
        assert m is None or m.group(1) == "0", "%s:\n%s" % (path, text)
        checked += "LEAK SUMMARY" in text or "All heap blocks were freed" in text
    # Every process, the children included, ran the leak check.
    assert checked == len(logs)
    log = w.log()
    assert "user=vg " in log and "user=vg2 " in log
