"""Deliver one message through an installed wspubsub, and check whom its
processes run as.  Run by tests/package/check.sh, as root.

    deliver.py master WS_PORT REDIS_PORT MASTER_PID USER

Connects ws://127.0.0.1:WS_PORT/?user=package-check, publishes one message
on the channel package-check through the redis-server on REDIS_PORT, and
expects it back.  While the client is connected, the master (MASTER_PID)
and every child of it must run as USER: real, effective, saved and file
system user and group ids alike.

    deliver.py inetd CONF REDIS_PORT USER

The same through "/usr/sbin/wspubsub -i -f CONF" started as USER, as
wspubsub-inetd@.service starts it, with the client on its standard input
and output.

Every wait has a deadline.
"""
import asyncio
import os
import pwd
import socket
import subprocess
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


def seccomp(pid):
    """The Seccomp mode of a process (2: a filter), from /proc/PID/status."""
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("Seccomp:"):
                return int(line.split()[1])
    return None


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


async def deliver(ws, redis_port, msg):
    """Publish msg on package-check; ws must receive it."""
    r = redis.Redis(host="127.0.0.1", port=redis_port,
                    socket_timeout=T, socket_connect_timeout=T)
    # With ?user= the subscription exists before the 101.
    n = r.publish("package-check", msg)
    if n != 1:
        raise AssertionError("PUBLISH reached %d subscribers, not 1" % n)
    got = await asyncio.wait_for(ws.recv(), T)
    if got != msg:
        raise AssertionError("received %r, not %r" % (got, msg))
    print("delivered: %r" % got)


async def master(port, redis_port, pid, user):
    pw = pwd.getpwnam(user)
    url = "ws://127.0.0.1:%d/?user=package-check" % port
    async with websockets.connect(url, open_timeout=T,
                                  close_timeout=T) as ws:
        await deliver(ws, redis_port, "hello from the installed package")

        pids = [pid] + children(pid)
        if len(pids) < 2:
            raise AssertionError("the master %d has no children" % pid)
        for p in pids:
            uids, gids = ids(p)
            if uids != [pw.pw_uid] * 4 or gids != [pw.pw_gid] * 4:
                raise AssertionError(
                    "process %d runs as uids %s gids %s, not %s (%d:%d)"
                    % (p, uids, gids, user, pw.pw_uid, pw.pw_gid))
        print("processes as %s (%d:%d): master %d, children %s"
              % (user, pw.pw_uid, pw.pw_gid, pid,
                 " ".join(str(p) for p in pids[1:])))
        # The child that serves this client is in the sandbox.
        busy = [p for p in pids[1:] if b"package-check" in
                open("/proc/%d/cmdline" % p, "rb").read()]
        if len(busy) != 1 or seccomp(busy[0]) != 2:
            raise AssertionError("the client's child %s is not under a "
                                 "seccomp filter" % busy)
        print("the client's child %d is sandboxed (Seccomp: 2)" % busy[0])


async def inetd(conf, redis_port, user):
    """Its log (log_target stderr in CONF) goes to our standard error."""
    ours, theirs = socket.socketpair()
    proc = subprocess.Popen(["/usr/sbin/wspubsub", "-i", "-f", conf],
                            stdin=theirs, stdout=theirs, user=user,
                            group=pwd.getpwnam(user).pw_gid,
                            extra_groups=[])
    theirs.close()
    try:
        async with websockets.connect("ws://localhost/?user=package-check",
                                      sock=ours, open_timeout=T,
                                      close_timeout=T) as ws:
            await deliver(ws, redis_port, "hello from wspubsub -i")
            if seccomp(proc.pid) != 2:
                raise AssertionError("wspubsub -i is not under a seccomp "
                                     "filter")
        rc = await asyncio.get_running_loop().run_in_executor(
            None, proc.wait, T)
        if rc != 0:
            raise AssertionError("wspubsub -i exited with %d" % rc)
        print("wspubsub -i as %s: served one client, exited 0" % user)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def main():
    if sys.argv[1] == "master":
        port, redis_port, pid = (int(x) for x in sys.argv[2:5])
        run = master(port, redis_port, pid, sys.argv[5])
    elif sys.argv[1] == "inetd":
        run = inetd(sys.argv[2], int(sys.argv[3]), sys.argv[4])
    else:
        sys.exit(__doc__)
    asyncio.run(asyncio.wait_for(run, 30))


if __name__ == "__main__":
    main()
