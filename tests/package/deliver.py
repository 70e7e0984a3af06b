"""Deliver one message through an installed wspubsub, and check whom its
processes run as.  Run by tests/package/check.sh, as root.

    deliver.py WS_PORT REDIS_PORT MASTER_PID USER

Connects ws://127.0.0.1:WS_PORT/?user=package-check, publishes one message
on the channel package-check through the redis-server on REDIS_PORT, and
expects it back.  While the client is connected, the master (MASTER_PID)
and every child of it must run as USER: real, effective, saved and file
system user and group ids alike.  Every wait has a deadline.
"""
import asyncio
import os
import pwd
import sys

import redis
import websockets

T = 5.0  # bound on every single wait


def ids(pid):
    """(uids, gids) of a process, from /proc/PID/status."""
    uids = gids = None
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("Uid:"):
                uids = [int(x) for x in line.split()[1:]]
            elif line.startswith("Gid:"):
                gids = [int(x) for x in line.split()[1:]]
    return uids, gids


def children(ppid):
    out = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % d) as f:
                st = f.read()
        except OSError:
            continue
        if int(st[st.rindex(")") + 2:].split()[1]) == ppid:
            out.append(int(d))
    return out


async def run(port, redis_port, master, user):
    pw = pwd.getpwnam(user)
    msg = "hello from the installed package"
    r = redis.Redis(host="127.0.0.1", port=redis_port,
                    socket_timeout=T, socket_connect_timeout=T)
    url = "ws://127.0.0.1:%d/?user=package-check" % port
    async with websockets.connect(url, open_timeout=T,
                                  close_timeout=T) as ws:
        # With ?user= the subscription exists before the 101.
        n = r.publish("package-check", msg)
        if n != 1:
            raise AssertionError("PUBLISH reached %d subscribers, not 1" % n)
        got = await asyncio.wait_for(ws.recv(), T)
        if got != msg:
            raise AssertionError("received %r, not %r" % (got, msg))
        print("delivered: %r" % got)

        pids = [master] + children(master)
        if len(pids) < 2:
            raise AssertionError("the master %d has no children" % master)
        for pid in pids:
            uids, gids = ids(pid)
            if uids != [pw.pw_uid] * 4 or gids != [pw.pw_gid] * 4:
                raise AssertionError(
                    "process %d runs as uids %s gids %s, not %s (%d:%d)"
                    % (pid, uids, gids, user, pw.pw_uid, pw.pw_gid))
        print("processes as %s (%d:%d): master %d, children %s"
              % (user, pw.pw_uid, pw.pw_gid, master,
                 " ".join(str(p) for p in pids[1:])))


def main():
    port, redis_port, master = (int(x) for x in sys.argv[1:4])
    asyncio.run(asyncio.wait_for(run(port, redis_port, master, sys.argv[4]),
                                 30))


if __name__ == "__main__":
    main()
