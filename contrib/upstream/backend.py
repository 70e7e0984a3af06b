"""A backend for upstream_stream: reads what clients send through a
consumer group, answers each message on the sender's channel and
acknowledges it.  Run as many as you like with the same GROUP: Redis
gives each entry to one of them.  redis-py 4 or later.
"""
import os
import socket

import redis

r = redis.Redis(host=os.environ.get("REDIS_HOST", "127.0.0.1"),
                port=int(os.environ.get("REDIS_PORT", "6379")))
STREAM = os.environ.get("STREAM", "ws:in")      # upstream_stream
PREFIX = os.environ.get("PREFIX", "ws:")        # channel_prefix
GROUP = "backend"
ME = "%s-%d" % (socket.gethostname(), os.getpid())

try:        # "$": only what comes from now on; "0" for the whole stream
    r.xgroup_create(STREAM, GROUP, id="$", mkstream=True)
except redis.ResponseError as e:
    if "BUSYGROUP" not in str(e):
        raise

online = {}     # conn -> user, from upstream_events yes


def handle(fields):
    user, conn = fields[b"user"].decode(), fields[b"conn"].decode()
    event = fields.get(b"event")
    if event == b"connect":
        online[conn] = user
    elif event == b"disconnect":
        online.pop(conn, None)
    else:   # a message: type text or binary, data its bytes
        r.publish(PREFIX + user.lower(), b"got: " + fields[b"data"])


# First what this consumer read before a crash and did not acknowledge
# ("0"), then new entries (">").  XAUTOCLAIM takes over those of a
# consumer that is gone for good.
start = "0"
while True:
    reply = r.xreadgroup(GROUP, ME, {STREAM: start}, count=100, block=5000)
    entries = reply[0][1] if reply else []
    if start == "0" and not entries:
        start = ">"
        continue
    for entry_id, fields in entries:
        handle(fields)
        r.xack(STREAM, GROUP, entry_id)
