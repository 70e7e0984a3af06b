#!/usr/bin/python3
"""wspubsub's own RFC 6455 conformance suite, black-box, with raw sockets.

Modelled on the Autobahn testsuite's case groups, adapted to a push server:
what Autobahn checks by echo is checked here by publishing through Redis
(the server never echoes), and what a client sends is checked by the
server's answers to it (pong, close code) and by a "ping" -> "pong" round
trip proving that the connection is still open and in sync.

    1   framing               published text/binary of every length form
    2   pings and pongs       client pings answered, unsolicited pongs ignored
    3   reserved bits         RSV1-3 on every frame type -> 1002
    4   opcodes               reserved opcodes -> 1002
    5   fragmentation         client fragments, interleaved control frames
    6   UTF-8                 Autobahn's vectors, sent and published; fail-fast
    7   close handling        codes, reasons, closing behaviour
    9   large payloads        up to 16 MiB published; large client messages
    10  misc                  segmentation, many frames, publish interleaving
    11  HTTP handshake        upgrade request rules (not an Autobahn group)
    12  compression           permessage-deflate (RFC 7692) messages of many
                              sizes, both directions, fragmented and chopped
    13  compression params    every parameter combination offered, several
                              offers, declined offers; errors (1002/1007/1009)

Usage: run.py [--binary PATH] [-k PATTERN] [-v]

The binary under test is --binary, else $WSPUBSUB, else ./wspubsub.  The
runner starts a private redis-server and two wspubsub masters on free
loopback ports (one with max_message_size 16m, one with 1k for the 1009
cases), runs every case on its own connection with its own user name, and
prints one line per case, then "N passed, N failed".  Exit status 0 only
if nothing failed.
"""
import argparse
import base64
import hashlib
import os
import re
import shutil
import socket
import sys
import tempfile
import time
import traceback
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))

OP_CONT, OP_TEXT, OP_BIN, OP_CLOSE, OP_PING, OP_PONG = 0, 1, 2, 8, 9, 10
OPNAMES = {0: "continuation", 1: "text", 2: "binary", 8: "close", 9: "ping",
           10: "pong"}
GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

TIMEOUT = 5.0       # any single wait for the server
BIG_TIMEOUT = 30.0  # waits involving megabytes (the ASan build is slow)
# After its close frame the server closes TCP at once (RFC 6455 7.1.1);
# it would linger 2 s only for a peer that does not, so an EOF later than
# this means it waited for us.
EOF_WITHIN = 1.5
QUIET = 0.25        # "nothing more arrives" windows
SMALL_MAX = 1024    # max_message_size of the "small" server
BIG_MAX = 16 << 20  # max_message_size of the main server
MiB = 1 << 20

BAD_LOG = ("AddressSanitizer", "LeakSanitizer", "runtime error:",
           "killed by signal", "exited with status", "killed by the sandbox")


class Fail(Exception):
    pass


class Quiet(Fail):
    """Nothing arrived in time."""


def check(cond, msg):
    if not cond:
        raise Fail(msg)


def short(b, n=40):
    b = bytes(b)
    return repr(b[:n]) + ("...(%d bytes)" % len(b) if len(b) > n else "")


# ------------------------------------------------------------ frame bytes

def mask_bytes(payload, key):
    """XOR with the 4-byte key, fast for megabytes."""
    n = len(payload)
    if n == 0:
        return b""
    k = (key * (n // 4 + 1))[:n]
    return (int.from_bytes(payload, "little")
            ^ int.from_bytes(k, "little")).to_bytes(n, "little")


def frame(opcode, payload=b"", fin=True, rsv=0, mask=True, length=None,
          form=None, key=None):
    """A client frame.  `length` overrides the declared payload length,
    `form` forces a 7, 16 or 64-bit length field."""
    payload = bytes(payload)
    b0 = (0x80 if fin else 0) | (rsv << 4) | opcode
    n = len(payload) if length is None else length
    form = form or (7 if n < 126 else 16 if n < 65536 else 64)
    m = 0x80 if mask else 0
    if form == 7:
        hdr = bytes([b0, m | n])
    elif form == 16:
        hdr = bytes([b0, m | 126]) + n.to_bytes(2, "big")
    else:
        hdr = bytes([b0, m | 127]) + n.to_bytes(8, "big")
    if not mask:
        return hdr + payload
    key = key or os.urandom(4)
    return hdr + key + mask_bytes(payload, key)


def close_payload(code=None, reason=b""):
    if code is None:
        return b""
    return code.to_bytes(2, "big") + reason


def fragments(first_op, parts):
    """A message as several frames."""
    return b"".join(frame(first_op if i == 0 else OP_CONT, p,
                          fin=i == len(parts) - 1)
                    for i, p in enumerate(parts))


def chunks(data, size):
    return [data[i:i + size] for i in range(0, len(data), size)]


# ------------------------------------------------------------- connection

class Frame:
    __slots__ = ("fin", "rsv", "op", "payload", "masked", "form")

    def __init__(self, fin, rsv, op, payload, masked, form):
        self.fin, self.rsv, self.op = fin, rsv, op
        self.payload, self.masked, self.form = payload, masked, form

    def __repr__(self):
        return "%s frame%s %s" % (OPNAMES.get(self.op, "op%d" % self.op),
                                  "" if self.fin else " (FIN=0)",
                                  short(self.payload))


def accept_of(key):
    if isinstance(key, str):
        key = key.encode()
    return base64.b64encode(hashlib.sha1(key + GUID).digest()).decode()


def headers_of(head):
    out = {}
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        out[name.strip().lower().decode("latin-1")] = \
            value.strip().decode("latin-1")
    return out


def status_of(head):
    parts = head.split(b"\r\n", 1)[0].split()
    try:
        return int(parts[1])
    except (IndexError, ValueError):
        return None


class Conn:
    """One raw client connection."""

    def __init__(self, ctx, server="main", user=None, path=None, req=None,
                 extra=b"", upgrade=True):
        self.ctx = ctx
        self.port = ctx.ports[server]
        self.user = user or ctx.uniq()
        self.key = base64.b64encode(os.urandom(16)).decode()
        self.buf = bytearray()
        self.s = socket.create_connection(("127.0.0.1", self.port), TIMEOUT)
        self.s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.s.settimeout(TIMEOUT)
        self.head = None
        self.pmd = None     # permessage-deflate's parameters, if agreed
        if not upgrade:
            return
        if req is None:
            req = ctx.raw_request(path or "/?user=%s" % self.user, key=self.key)
        self.s.sendall(req + extra)
        self.head = self.read_head()
        check(status_of(self.head) == 101,
              "handshake answered %r" % self.head.split(b"\r\n")[0])
        self.pmd = pmd_params(headers_of(self.head).get(
            "sec-websocket-extensions"))

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        try:
            self.s.close()
        except OSError:
            pass

    # -- sending
    def send(self, data):
        self.s.sendall(data)

    def send_chopped(self, data, size, pause=0.0):
        """Send in TCP writes of `size` bytes (NODELAY: separate segments)."""
        for i in range(0, len(data), size):
            self.s.sendall(data[i:i + size])
            if pause:
                time.sleep(pause)

    def send_frame(self, op, payload=b"", **kw):
        self.send(frame(op, payload, **kw))

    def publish(self, payload, receivers=1):
        n = self.ctx.redis.publish(self.user.lower(), payload)
        check(n == receivers, "PUBLISH reached %d subscribers, expected %d"
              % (n, receivers))

    # -- receiving
    def _fill(self, n, timeout):
        deadline = time.monotonic() + timeout
        while len(self.buf) < n:
            left = deadline - time.monotonic()
            if left <= 0:
                raise socket.timeout()
            self.s.settimeout(left)
            try:
                chunk = self.s.recv(max(65536, min(n - len(self.buf), 4 << 20)))
            except ConnectionResetError:
                chunk = b""
            if not chunk:
                raise EOFError()
            self.buf += chunk

    def read_head(self, timeout=TIMEOUT):
        deadline = time.monotonic() + timeout
        while b"\r\n\r\n" not in self.buf:
            left = deadline - time.monotonic()
            if left <= 0:
                raise Fail("no complete HTTP response head within %.1fs"
                           % timeout)
            self.s.settimeout(left)
            try:
                chunk = self.s.recv(4096)
            except socket.timeout:
                continue
            except ConnectionResetError:
                chunk = b""
            if not chunk:
                raise Fail("connection closed before a complete response "
                           "head: %s" % short(self.buf, 80))
            self.buf += chunk
        i = self.buf.index(b"\r\n\r\n")
        head = bytes(self.buf[:i])
        del self.buf[:i + 4]
        return head

    def recv_frame(self, timeout=TIMEOUT, what="a frame"):
        """The next server frame, checked for RFC 6455 5.1/5.2 rules that
        hold for every server frame."""
        try:
            self._fill(2, timeout)
            b0, b1 = self.buf[0], self.buf[1]
            n = b1 & 0x7f
            off, form = 2, 7
            if n == 126:
                self._fill(4, timeout)
                n = int.from_bytes(self.buf[2:4], "big")
                off, form = 4, 16
            elif n == 127:
                self._fill(10, timeout)
                n = int.from_bytes(self.buf[2:10], "big")
                off, form = 10, 64
            if b1 & 0x80:
                off += 4
            self._fill(off + n, timeout)
        except socket.timeout:
            raise Quiet("no %s within %.1fs" % (what, timeout))
        except EOFError:
            raise Fail("connection closed while waiting for %s" % what)
        payload = bytes(self.buf[off:off + n])
        del self.buf[:off + n]
        f = Frame(bool(b0 & 0x80), (b0 >> 4) & 7, b0 & 0x0f, payload,
                  bool(b1 & 0x80), form)
        check(not f.masked, "server frame is masked: %r" % f)
        # RSV1 ("compressed", RFC 7692) only with the extension agreed,
        # and only on a data message's first frame.
        rsv1_ok = self.pmd is not None and f.op in (OP_TEXT, OP_BIN)
        check(f.rsv == 0 or (f.rsv == 4 and rsv1_ok),
              "server frame has RSV bits %d: %r" % (f.rsv, f))
        check(f.op in OPNAMES, "server frame has opcode %d" % f.op)
        minimal = 7 if n < 126 else 16 if n < 65536 else 64
        check(form == minimal, "server frame of %d bytes uses a %d-bit "
              "length (not minimal)" % (n, form))
        if f.op >= 8:
            check(f.fin and n <= 125, "bad server control frame %r" % f)
        return f

    def expect(self, op, payload=None, timeout=TIMEOUT, fin=True):
        """The next frame is `op` (with `payload`, if given)."""
        what = "a %s frame" % OPNAMES[op]
        f = self.recv_frame(timeout, what)
        if f.op == OP_CLOSE and op != OP_CLOSE:
            raise Fail("expected %s, got close %s" % (what, describe_close(f)))
        check(f.op == op, "expected %s, got %r" % (what, f))
        check(f.fin == fin, "expected FIN=%d, got %r" % (fin, f))
        if payload is not None:
            check(f.payload == payload, "%s payload differs: got %s, "
                  "expected %s" % (OPNAMES[op], short(f.payload),
                                   short(payload)))
        return f

    def pong(self, payload):
        return self.expect(OP_PONG, payload)

    def ping_pong(self):
        """The connection is open and in sync: text "ping" -> text "pong"."""
        self.send(frame(OP_TEXT, b"ping"))
        self.expect(OP_TEXT, b"pong")

    def expect_eof(self, within=EOF_WITHIN):
        """The server closes TCP within `within` s, sending nothing more."""
        check(not self.buf, "bytes after the close frame: %s" % short(self.buf))
        deadline = time.monotonic() + within
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise Fail("server did not close TCP within %.1fs after the "
                           "close handshake" % within)
            self.s.settimeout(left)
            try:
                data = self.s.recv(4096)
            except socket.timeout:
                continue
            except ConnectionResetError:
                return
            if not data:
                return
            raise Fail("bytes after the close frame: %s" % short(data))

    def expect_close(self, code, timeout=TIMEOUT, reply=False):
        """The next frame is a close with `code` (None: empty or 1000 for an
        empty client close), then the server closes TCP."""
        f = self.recv_frame(timeout, "a close frame (%s)" % code)
        if f.op != OP_CLOSE:
            raise Fail("expected close %s, got %r" % (code, f))
        p = f.payload
        check(len(p) != 1, "close payload of 1 byte")
        got = int.from_bytes(p[:2], "big") if len(p) >= 2 else None
        if code is None:
            check(got in (None, 1000), "expected an empty close or 1000, got "
                  "%s" % describe_close(f))
        else:
            check(got == code, "expected close %d, got %s"
                  % (code, describe_close(f)))
        try:
            p[2:].decode("utf-8")
        except UnicodeDecodeError:
            raise Fail("close reason is not UTF-8: %s" % short(p))
        if reply:
            try:
                self.send(frame(OP_CLOSE, p[:2]))
            except OSError:
                pass
        self.expect_eof()
        return f

    def expect_quiet(self, t=QUIET):
        """Nothing arrives for t seconds (and the connection stays open)."""
        try:
            f = self.recv_frame(t)
        except Quiet:
            return
        raise Fail("unexpected %r" % f)


def pmd_params(value):
    """The parameters of an accepted permessage-deflate (a dict, values
    None when absent), or None without the extension."""
    if value is None:
        return None
    parts = [p.strip() for p in value.split(";")]
    check(parts[0] == "permessage-deflate" and "," not in value,
          "server accepted %r" % value)
    out = {}
    for p in parts[1:]:
        k, eq, v = p.partition("=")
        check(k not in out, "parameter %s twice in %r" % (k, value))
        out[k] = v if eq else True
    return out


def describe_close(f):
    p = f.payload
    if len(p) < 2:
        return "empty close" if not p else "close %s" % short(p)
    return "close %d %s" % (int.from_bytes(p[:2], "big"), short(p[2:]))


# ----------------------------------------------------------------- cases

CASES = []


def case(cid, desc, server="main"):
    def reg(fn):
        CASES.append((cid, desc, fn, server))
        return fn
    return reg


def add(cid, desc, fn, server="main"):
    CASES.append((cid, desc, fn, server))


def fails_with(ctx, data, code, server="main", before=None, chop=None,
               pause=0.0):
    """Upgrade, send data (optionally in chops), expect close `code`."""
    with Conn(ctx, server) as c:
        if chop:
            c.send_chopped(data, chop, pause)
        else:
            c.send(data)
        if before:
            before(c)
        c.expect_close(code)


def publish_case(payload, op, repeat=1, timeout=TIMEOUT):
    def run(ctx):
        with Conn(ctx) as c:
            for _ in range(repeat):
                c.publish(payload)
            for _ in range(repeat):
                f = c.expect(op, timeout=timeout)
                check(f.payload == payload, "payload differs: got %s, sent %s"
                      % (short(f.payload), short(payload)))
            c.ping_pong()
    return run


def accepted_case(data, chop=None, server="main", pause=0.0):
    """The client sends data; no answer; the connection stays usable."""
    def run(ctx):
        with Conn(ctx, server) as c:
            if chop:
                c.send_chopped(data, chop, pause)
            else:
                c.send(data)
            c.ping_pong()
    return run


# ---- 1 framing --------------------------------------------------------

TEXT_LENS = [0, 125, 126, 127, 128, 65535, 65536]
for i, n in enumerate(TEXT_LENS, 1):
    add("1.1.%d" % i, "text message, %d bytes" % n,
        publish_case(b"*" * n, OP_TEXT))
add("1.1.8", "text message, 65536 bytes, twice in one publish burst",
    publish_case(b"*" * 65536, OP_TEXT, repeat=2))
BIN_LENS = [1, 125, 126, 127, 128, 65535, 65536]
for i, n in enumerate(BIN_LENS, 1):
    add("1.2.%d" % i, "binary message, %d bytes" % n,
        publish_case(b"\xfe" * n, OP_BIN))
add("1.2.8", "binary message, 65536 bytes, twice in one publish burst",
    publish_case(b"\xfe" * 65536, OP_BIN, repeat=2))
for i, n in enumerate(TEXT_LENS, 1):
    add("1.3.%d" % i, "client text message, %d bytes, accepted" % n,
        accepted_case(frame(OP_TEXT, b"*" * n)))
add("1.3.8", "client text message, 65536 bytes, sent in chops of 997",
    accepted_case(frame(OP_TEXT, b"*" * 65536), chop=997))
for i, n in enumerate(TEXT_LENS, 1):
    add("1.4.%d" % i, "client binary message, %d bytes, accepted" % n,
        accepted_case(frame(OP_BIN, b"\xfe" * n)))
add("1.4.8", "client binary message, 65536 bytes, sent in chops of 997",
    accepted_case(frame(OP_BIN, b"\xfe" * 65536), chop=997))


@case("1.5.1", "published messages keep their order, text and binary mixed")
def _(ctx):
    msgs = [b"m%d" % i if i % 3 else b"\xff%d" % i for i in range(50)]
    with Conn(ctx) as c:
        for m in msgs:
            c.publish(m)
        for m in msgs:
            c.expect(OP_TEXT if m[0] != 0xff else OP_BIN, m)


@case("1.5.2", "a message published right after the 101 is delivered")
def _(ctx):
    with Conn(ctx) as c:
        c.publish(b"first")
        c.expect(OP_TEXT, b"first")


@case("1.5.3", "unmasked client frame -> 1002")
def _(ctx):
    fails_with(ctx, frame(OP_TEXT, b"ping", mask=False), 1002)


@case("1.5.4", "unmasked client ping -> 1002")
def _(ctx):
    fails_with(ctx, frame(OP_PING, b"x", mask=False), 1002)


@case("1.5.5", "64-bit length with the most significant bit set -> 1002")
def _(ctx):
    fails_with(ctx, frame(OP_BIN, b"", length=1 << 63, form=64)[:14], 1002)


@case("1.5.6", "mixed-case user name: channel is the lowercased name")
def _(ctx):
    user = "MiXeD" + ctx.uniq()
    with Conn(ctx, user=user) as c:
        n = ctx.redis.publish(user.lower(), b"lower")
        check(n == 1, "PUBLISH to the lowercased channel reached %d" % n)
        c.expect(OP_TEXT, b"lower")


# ---- 2 ping/pong ------------------------------------------------------

def ping_case(payloads, chop=None, pause=0.0):
    def run(ctx):
        with Conn(ctx) as c:
            data = b"".join(frame(OP_PING, p) for p in payloads)
            if chop:
                c.send_chopped(data, chop, pause)
            else:
                c.send(data)
            for p in payloads:
                c.pong(p)
            c.ping_pong()
    return run


add("2.1", "ping without payload", ping_case([b""]))
add("2.2", "ping with small text payload", ping_case([b"Hello, world!"]))
add("2.3", "ping with small binary payload",
    ping_case([b"\x00\xff\xfe\xfd\xfc\xfb\x00\xff"]))
add("2.4", "ping with binary payload of 125 bytes",
    ping_case([bytes([0xfe]) * 125]))


@case("2.5", "ping with payload of 126 bytes -> 1002")
def _(ctx):
    fails_with(ctx, frame(OP_PING, b"\xfe" * 126), 1002)


add("2.6", "ping with 125-byte payload, sent in 1-byte chops",
    ping_case([bytes(range(125))], chop=1, pause=0.001))


@case("2.7", "unsolicited pong without payload is ignored")
def _(ctx):
    with Conn(ctx) as c:
        c.send_frame(OP_PONG)
        c.expect_quiet()
        c.ping_pong()


@case("2.8", "unsolicited pong with payload is ignored")
def _(ctx):
    with Conn(ctx) as c:
        c.send_frame(OP_PONG, b"unsolicited pong payload")
        c.expect_quiet()
        c.ping_pong()


@case("2.9", "unsolicited pong, then ping: only the ping is answered")
def _(ctx):
    with Conn(ctx) as c:
        c.send(frame(OP_PONG, b"unsolicited") + frame(OP_PING, b"solicited"))
        c.pong(b"solicited")
        c.ping_pong()


add("2.10", "10 pings in one segment, answered in order",
    ping_case([b"ping %d" % i for i in range(10)]))
add("2.11", "10 pings sent one byte at a time, answered in order",
    ping_case([b"ping %d" % i for i in range(10)], chop=1))


@case("2.12", "pings with payloads of 0..125 bytes, each answered")
def _(ctx):
    with Conn(ctx) as c:
        for n in range(126):
            p = bytes((i * 7 + n) & 0xff for i in range(n))
            c.send_frame(OP_PING, p)
            c.pong(p)


@case("2.13", "126 pings of 0..125 bytes in one segment, answered in order")
def _(ctx):
    with Conn(ctx) as c:
        ps = [os.urandom(n) for n in range(126)]
        c.send(b"".join(frame(OP_PING, p) for p in ps))
        for p in ps:
            c.pong(p)


@case("2.14", "pings covering every byte value 0x00-0xff")
def _(ctx):
    with Conn(ctx) as c:
        for p in (bytes(range(0, 125)), bytes(range(125, 250)),
                  bytes(range(250, 256))):
            c.send_frame(OP_PING, p)
            c.pong(p)


@case("2.15", "pong with 126 bytes -> 1002")
def _(ctx):
    fails_with(ctx, frame(OP_PONG, b"x" * 126), 1002)


@case("2.16", "ping with 5 bytes in a 16-bit length field -> 1002")
def _(ctx):
    fails_with(ctx, frame(OP_PING, b"x" * 5, form=16), 1002)


@case("2.17", "ping between published messages keeps both streams ordered")
def _(ctx):
    with Conn(ctx) as c:
        c.publish(b"before")
        c.expect(OP_TEXT, b"before")
        c.send_frame(OP_PING, b"p1")
        c.pong(b"p1")
        c.publish(b"after")
        c.expect(OP_TEXT, b"after")


@case("2.18", "pong answered with the same payload as a 1-byte ping")
def _(ctx):
    with Conn(ctx) as c:
        c.send_frame(OP_PING, b"\x00")
        c.pong(b"\x00")


# ---- 3 reserved bits --------------------------------------------------

@case("3.1", "text message with RSV=1 -> 1002")
def _(ctx):
    fails_with(ctx, frame(OP_TEXT, b"Hello, world!", rsv=1), 1002)


@case("3.2", "valid text, then text with RSV=2, then ping: pong, 1002, "
      "no pong")
def _(ctx):
    with Conn(ctx) as c:
        c.send(frame(OP_TEXT, b"ping") + frame(OP_TEXT, b"x", rsv=2)
               + frame(OP_PING, b"late"))
        c.expect(OP_TEXT, b"pong")
        c.expect_close(1002)


@case("3.3", "valid text, then text with RSV=3, then ping, one byte at a "
      "time")
def _(ctx):
    with Conn(ctx) as c:
        c.send_chopped(frame(OP_TEXT, b"ping") + frame(OP_TEXT, b"x", rsv=3)
                       + frame(OP_PING, b"late"), 1, 0.001)
        c.expect(OP_TEXT, b"pong")
        c.expect_close(1002)


@case("3.4", "valid text, then text with RSV=4, then ping, chopped")
def _(ctx):
    with Conn(ctx) as c:
        c.send_chopped(frame(OP_TEXT, b"ping") + frame(OP_TEXT, b"x", rsv=4)
                       + frame(OP_PING, b"late"), 3, 0.001)
        c.expect(OP_TEXT, b"pong")
        c.expect_close(1002)


@case("3.5", "binary message with RSV=5 -> 1002")
def _(ctx):
    fails_with(ctx, frame(OP_BIN, b"\x00\xff\xfe\xfd", rsv=5), 1002)


@case("3.6", "ping with RSV=6 -> 1002 (no pong)")
def _(ctx):
    fails_with(ctx, frame(OP_PING, b"Hello", rsv=6), 1002)


@case("3.7", "close with RSV=7 -> 1002")
def _(ctx):
    fails_with(ctx, frame(OP_CLOSE, close_payload(1000), rsv=7), 1002)


@case("3.8", "pong with RSV=1 -> 1002")
def _(ctx):
    fails_with(ctx, frame(OP_PONG, b"x", rsv=1), 1002)


@case("3.9", "first fragment with RSV=2 -> 1002")
def _(ctx):
    fails_with(ctx, frame(OP_TEXT, b"pi", fin=False, rsv=2)
               + frame(OP_CONT, b"ng"), 1002)


@case("3.10", "continuation frame with RSV=1 -> 1002")
def _(ctx):
    fails_with(ctx, frame(OP_TEXT, b"pi", fin=False)
               + frame(OP_CONT, b"ng", rsv=1), 1002)


@case("3.11", "empty text frame with RSV=4 -> 1002")
def _(ctx):
    fails_with(ctx, frame(OP_TEXT, b"", rsv=4), 1002)


@case("3.12", "RSV=1 on a frame header alone (no payload sent yet) -> 1002")
def _(ctx):
    fails_with(ctx, frame(OP_BIN, b"z" * 500, rsv=1)[:8], 1002)


# ---- 4 opcodes --------------------------------------------------------

def opcode_cases(group, ops):
    op1, op2, op3, op4, op5 = ops
    add("4.%d.1" % group, "reserved opcode %d -> 1002" % op1,
        lambda ctx: fails_with(ctx, frame(op1), 1002))
    add("4.%d.2" % group, "reserved opcode %d with payload -> 1002" % op2,
        lambda ctx: fails_with(ctx, frame(op2, b"reserved opcode"), 1002))

    def third(ctx):
        with Conn(ctx) as c:
            c.send(frame(OP_TEXT, b"ping") + frame(op3)
                   + frame(OP_PING, b"late"))
            c.expect(OP_TEXT, b"pong")
            c.expect_close(1002)
    add("4.%d.3" % group, "text, reserved opcode %d, ping: pong then 1002"
        % op3, third)

    def fourth(ctx):
        with Conn(ctx) as c:
            c.send(frame(OP_TEXT, b"ping") + frame(op4, b"reserved")
                   + frame(OP_PING, b"late"))
            c.expect(OP_TEXT, b"pong")
            c.expect_close(1002)
    add("4.%d.4" % group, "text, reserved opcode %d with payload, ping"
        % op4, fourth)

    def fifth(ctx):
        with Conn(ctx) as c:
            c.send_chopped(frame(OP_TEXT, b"ping") + frame(op5, b"reserved")
                           + frame(OP_PING, b"late"), 1, 0.001)
            c.expect(OP_TEXT, b"pong")
            c.expect_close(1002)
    add("4.%d.5" % group, "text, reserved opcode %d, ping, one byte at a "
        "time" % op5, fifth)


opcode_cases(1, [3, 4, 5, 6, 7])
opcode_cases(2, [11, 12, 13, 14, 15])
for i, op in enumerate([3, 7, 11, 15], 1):
    add("4.3.%d" % i, "reserved opcode %d inside a fragmented message -> "
        "1002" % op,
        (lambda op: lambda ctx: fails_with(
            ctx, frame(OP_TEXT, b"pi", fin=False) + frame(op, b"x"), 1002))(op))


# ---- 5 fragmentation --------------------------------------------------

@case("5.1", "ping in 2 fragments -> 1002")
def _(ctx):
    fails_with(ctx, frame(OP_PING, b"frag", fin=False)
               + frame(OP_CONT, b"ment"), 1002)


@case("5.2", "pong in 2 fragments -> 1002")
def _(ctx):
    fails_with(ctx, frame(OP_PONG, b"frag", fin=False)
               + frame(OP_CONT, b"ment"), 1002)


def pingtext_case(parts, chop=None, pause=0.0, op=OP_TEXT):
    """Text "ping" in fragments: reassembled, answered with "pong"."""
    def run(ctx):
        with Conn(ctx) as c:
            data = fragments(op, parts)
            if chop:
                c.send_chopped(data, chop, pause)
            elif pause:
                for p in [frame(op if i == 0 else OP_CONT, p,
                                fin=i == len(parts) - 1)
                          for i, p in enumerate(parts)]:
                    c.send(p)
                    time.sleep(pause)
            else:
                c.send(data)
            c.expect(OP_TEXT, b"pong")
    return run


add("5.3", "text \"ping\" in 2 fragments is reassembled",
    pingtext_case([b"pi", b"ng"]))
add("5.4", "text \"ping\" in 2 fragments, one byte at a time",
    pingtext_case([b"pi", b"ng"], chop=1))
add("5.5", "text \"ping\" in 4 fragments with 10 ms pauses",
    pingtext_case([b"p", b"i", b"n", b"g"], pause=0.01))


def interleaved_case(chop=None):
    def run(ctx):
        with Conn(ctx) as c:
            data = (frame(OP_TEXT, b"pi", fin=False) + frame(OP_PING, b"mid")
                    + frame(OP_CONT, b"ng"))
            if chop:
                c.send_chopped(data, chop, 0.001)
            else:
                c.send(data)
            c.pong(b"mid")
            c.expect(OP_TEXT, b"pong")
    return run


add("5.6", "text in 2 fragments with a ping in between", interleaved_case())
add("5.7", "text in 2 fragments with a ping in between, chopped",
    interleaved_case(chop=5))
add("5.8", "text in 2 fragments with a ping in between, 1-byte chops",
    interleaved_case(chop=1))


def cont_case(fin, chop=None, middle=False):
    def run(ctx):
        data = frame(OP_CONT, b"fragment", fin=fin) + frame(OP_TEXT, b"ping")
        with Conn(ctx) as c:
            if chop:
                c.send_chopped(data, chop, 0.001)
            else:
                c.send(data)
            c.expect_close(1002)
    return run


add("5.9", "continuation with FIN=1 and nothing to continue -> 1002",
    cont_case(True))
add("5.10", "continuation with FIN=1 and nothing to continue, 1-byte chops",
    cont_case(True, chop=1))
add("5.11", "continuation with FIN=1 and nothing to continue, 3-byte chops",
    cont_case(True, chop=3))
add("5.12", "continuation with FIN=0 and nothing to continue -> 1002",
    cont_case(False))
add("5.13", "continuation with FIN=0 and nothing to continue, 1-byte chops",
    cont_case(False, chop=1))
add("5.14", "continuation with FIN=0 and nothing to continue, 3-byte chops",
    cont_case(False, chop=3))


@case("5.15", "text in 2 fragments, then continuation with nothing to "
      "continue: pong then 1002")
def _(ctx):
    with Conn(ctx) as c:
        c.send(fragments(OP_TEXT, [b"pi", b"ng"])
               + frame(OP_CONT, b"x", fin=False) + fragments(OP_TEXT, [b"a"]))
        c.expect(OP_TEXT, b"pong")
        c.expect_close(1002)


@case("5.16", "2x (continuation FIN=0 with nothing to continue, text in 2 "
      "fragments) -> 1002")
def _(ctx):
    d = frame(OP_CONT, b"x", fin=False) + fragments(OP_TEXT, [b"pi", b"ng"])
    with Conn(ctx) as c:
        c.send(d + d)
        c.expect_close(1002)


@case("5.17", "2x (continuation FIN=1 with nothing to continue, text in 2 "
      "fragments) -> 1002")
def _(ctx):
    d = frame(OP_CONT, b"x") + fragments(OP_TEXT, [b"pi", b"ng"])
    with Conn(ctx) as c:
        c.send(d + d)
        c.expect_close(1002)


@case("5.18", "text in 2 fragments both with the text opcode -> 1002")
def _(ctx):
    fails_with(ctx, frame(OP_TEXT, b"pi", fin=False) + frame(OP_TEXT, b"ng"),
               1002)


def five_fragments(chop=None):
    def run(ctx):
        parts = [b"p", b"", b"i", b"n", b"g"]
        with Conn(ctx) as c:
            for i, p in enumerate(parts):
                d = frame(OP_TEXT if i == 0 else OP_CONT, p,
                          fin=i == len(parts) - 1)
                if i in (2, 4):
                    d = frame(OP_PING, b"pongme %d" % i) + d
                if chop:
                    c.send_chopped(d, chop, 0.001)
                else:
                    c.send(d)
                if i in (2, 4):
                    c.pong(b"pongme %d" % i)
                time.sleep(0.05)
            c.expect(OP_TEXT, b"pong")
    return run


add("5.19", "text in 5 fragments, pings before the 3rd and 5th, with "
    "pauses: pongs in order, then pong", five_fragments())
add("5.20", "same as 5.19, every frame sent in 1-byte chops",
    five_fragments(chop=1))


@case("5.21", "binary in 3 fragments with pings in between, then text "
      "\"ping\": pongs in order")
def _(ctx):
    with Conn(ctx) as c:
        c.send(frame(OP_BIN, b"\x00\x01", fin=False) + frame(OP_PING, b"a")
               + frame(OP_CONT, b"\x02", fin=False) + frame(OP_PING, b"b")
               + frame(OP_PING, b"c") + frame(OP_CONT, b"\x03")
               + frame(OP_TEXT, b"ping"))
        c.pong(b"a")
        c.pong(b"b")
        c.pong(b"c")
        c.expect(OP_TEXT, b"pong")


@case("5.22", "text in 2 fragments, then binary opcode -> 1002")
def _(ctx):
    fails_with(ctx, frame(OP_TEXT, b"pi", fin=False) + frame(OP_BIN, b"ng"),
               1002)


@case("5.23", "close fragmented (FIN=0) -> 1002")
def _(ctx):
    fails_with(ctx, frame(OP_CLOSE, close_payload(1000), fin=False), 1002)


@case("5.24", "text \"ping\" in 100 fragments (many empty) is reassembled")
def _(ctx):
    parts = [b""] * 100
    parts[10], parts[40], parts[70], parts[99] = b"p", b"i", b"n", b"g"
    pingtext_case(parts)(ctx)


@case("5.25", "fragmented message interrupted by a close: close echoed")
def _(ctx):
    with Conn(ctx) as c:
        c.send(frame(OP_TEXT, b"pi", fin=False)
               + frame(OP_CLOSE, close_payload(1000)) + frame(OP_CONT, b"ng"))
        c.expect_close(1000)


@case("5.26", "a message published while a client message is in fragments "
      "arrives whole")
def _(ctx):
    with Conn(ctx) as c:
        c.send(frame(OP_TEXT, b"pi", fin=False))
        c.publish(b"pushed in between")
        c.expect(OP_TEXT, b"pushed in between")
        c.send(frame(OP_CONT, b"ng"))
        c.expect(OP_TEXT, b"pong")


# ---- 6 UTF-8 ----------------------------------------------------------

def is_utf8(b):
    try:
        b.decode("utf-8")
        return True
    except UnicodeDecodeError:
        return False


def utf8_vector_case(vec, frames=None):
    """Published: text if valid, binary if not, byte-identical.  Sent by
    the client as a text message (optionally in fragments): valid keeps the
    connection (ping/pong), invalid gets 1007."""
    valid = is_utf8(vec)

    def run(ctx):
        with Conn(ctx) as c:
            c.publish(vec)
            f = c.recv_frame(what="the published message")
            check(f.op == (OP_TEXT if valid else OP_BIN),
                  "published %s UTF-8 %s arrived as %r"
                  % ("valid" if valid else "invalid", short(vec), f))
            check(f.payload == vec, "published payload differs: %s"
                  % short(f.payload))
            parts = frames or [vec]
            c.send(fragments(OP_TEXT, parts))
            if valid:
                c.ping_pong()
            else:
                c.expect_close(1007)
    return run


HELLO = "Hello-µ@ßöäüàá-UTF-8!!".encode()
KOSME = "κόσμε".encode()

add("6.1.1", "empty text message", utf8_vector_case(b""))
add("6.1.2", "empty text message in 3 empty fragments",
    utf8_vector_case(b"", [b"", b"", b""]))
add("6.1.3", "text in 3 fragments, first and last empty",
    utf8_vector_case(b"middle", [b"", b"middle", b""]))
add("6.2.1", "valid UTF-8 text in one fragment", utf8_vector_case(HELLO))
add("6.2.2", "valid UTF-8 text in 2 fragments split at a code point",
    utf8_vector_case(HELLO, [HELLO[:14], HELLO[14:]]))
add("6.2.3", "valid UTF-8 text in 1-byte fragments",
    utf8_vector_case(HELLO, [HELLO[i:i + 1] for i in range(len(HELLO))]))
add("6.2.4", "valid UTF-8 \"κόσμε\" in 1-byte fragments",
    utf8_vector_case(KOSME, [KOSME[i:i + 1] for i in range(len(KOSME))]))
BAD = KOSME + b"\xed\xa0\x80" + b"edited"
add("6.3.1", "invalid UTF-8 text (surrogate) -> 1007", utf8_vector_case(BAD))
add("6.3.2", "invalid UTF-8 text in 1-byte fragments -> 1007",
    utf8_vector_case(BAD, [BAD[i:i + 1] for i in range(len(BAD))]))


def fail_fast_fragments(parts, bad=None):
    """Send the fragments up to parts[bad] (default: the one before the
    last), all with FIN=0; 1007 must come without the rest."""
    bad = len(parts) - 2 if bad is None else bad

    def run(ctx):
        with Conn(ctx) as c:
            for i, p in enumerate(parts[:bad + 1]):
                c.send(frame(OP_TEXT if i == 0 else OP_CONT, p, fin=False))
                if i < bad:
                    time.sleep(0.05)
                    c.expect_quiet(0.1)
            c.expect_close(1007)
    return run


def fail_fast_chops(chops):
    """One frame, its payload sent in chops; the last chop is never sent."""
    def run(ctx):
        with Conn(ctx) as c:
            data = frame(OP_TEXT, b"".join(chops))
            hdr = len(data) - len(b"".join(chops))
            pos = hdr + len(chops[0])
            c.send(data[:pos])
            time.sleep(0.05)
            c.expect_quiet(0.1)
            c.send(data[pos:pos + len(chops[1])])
            c.expect_close(1007)
    return run


add("6.4.1", "fail fast: 3 fragments, the 2nd invalid (\\xf4\\x90\\x80\\x80), "
    "the 3rd never sent", fail_fast_fragments([KOSME, b"\xf4\x90\x80\x80",
                                              b"edited"]))
add("6.4.2", "fail fast: 3 fragments, \\xf4 ends the 1st, \\x90 in the 2nd, "
    "the 3rd never sent", fail_fast_fragments([KOSME + b"\xf4", b"\x90",
                                              b"\x80\x80edited"]))
add("6.4.3", "fail fast: one frame in chops, invalid 2nd chop, the 3rd "
    "never sent", fail_fast_chops([KOSME, b"\xf4\x90\x80\x80", b"edited"]))
add("6.4.4", "fail fast: one frame in chops, \\x90 after \\xf4, the rest "
    "never sent", fail_fast_chops([KOSME + b"\xf4", b"\x90",
                                   b"\x80\x80edited"]))
add("6.4.5", "fail fast: invalid byte in the first of many fragments",
    fail_fast_fragments([b"\xff", b"more", b"never"], bad=0))
add("6.4.6", "fail fast: truncated sequence followed by ASCII in the next "
    "fragment", fail_fast_fragments([b"ab\xe2\x82", b"c", b"never"]))
add("6.4.7", "fail fast: invalid byte 3 bytes into a declared 64 KiB frame",
    fail_fast_chops([b"ab", b"\xc0", b"x" * 65533]))

VECTORS = [
    # 6.5 valid
    ("6.5", "valid UTF-8", [KOSME, "αβγ".encode(), "中文字".encode(),
                            "😀 emoji".encode(), "\u0000nul".encode()]),
    # 6.6 "κόσμε" prefixes, split at every byte
    ("6.6", "\"κόσμε\" cut after byte", [KOSME[:i] for i in range(1, 12)]),
    ("6.7", "first possible sequence", [b"\x00", b"\xc2\x80",
                                        b"\xe0\xa0\x80", b"\xf0\x90\x80\x80"]),
    ("6.8", "first possible 5/6-byte sequence",
     [b"\xf8\x88\x80\x80\x80", b"\xfc\x84\x80\x80\x80\x80"]),
    ("6.9", "last possible sequence", [b"\x7f", b"\xdf\xbf", b"\xef\xbf\xbf",
                                       b"\xf4\x8f\xbf\xbf"]),
    ("6.10", "last possible 4/5/6-byte sequence",
     [b"\xf7\xbf\xbf\xbf", b"\xfb\xbf\xbf\xbf\xbf",
      b"\xfd\xbf\xbf\xbf\xbf\xbf"]),
    ("6.11", "boundary", [b"\xed\x9f\xbf", b"\xee\x80\x80", b"\xef\xbf\xbd",
                          b"\xf4\x8f\xbf\xbf", b"\xf4\x90\x80\x80"]),
    ("6.12", "unexpected continuation bytes",
     [b"\x80", b"\xbf", b"\x80\xbf", b"\x80\xbf\x80", b"\x80\xbf\x80\xbf",
      b"\x80\xbf\x80\xbf\x80", b"\x80\xbf\x80\xbf\x80\xbf",
      bytes(range(0x80, 0xc0))]),
    ("6.13", "lonely start bytes, each followed by a space",
     [b"".join(bytes([b]) + b" " for b in range(lo, hi))
      for lo, hi in ((0xc0, 0xe0), (0xe0, 0xf0), (0xf0, 0xf8), (0xf8, 0xfc),
                     (0xfc, 0xfe))]),
    ("6.14", "sequence with the last byte missing",
     [b"\xc0", b"\xe0\x80", b"\xf0\x80\x80", b"\xf8\x80\x80\x80",
      b"\xfc\x80\x80\x80\x80", b"\xdf", b"\xef\xbf", b"\xf7\xbf\xbf",
      b"\xfb\xbf\xbf\xbf", b"\xfd\xbf\xbf\xbf\xbf"]),
    ("6.15", "concatenated incomplete sequences",
     [b"\xc0\xe0\x80\xf0\x80\x80\xf8\x80\x80\x80\xfc\x80\x80\x80\x80\xdf"
      b"\xef\xbf\xf7\xbf\xbf\xfb\xbf\xbf\xbf\xfd\xbf\xbf\xbf\xbf"]),
    ("6.16", "impossible bytes", [b"\xfe", b"\xff", b"\xfe\xfe\xff\xff"]),
    ("6.17", "overlong ASCII '/'",
     [b"\xc0\xaf", b"\xe0\x80\xaf", b"\xf0\x80\x80\xaf",
      b"\xf8\x80\x80\x80\xaf", b"\xfc\x80\x80\x80\x80\xaf"]),
    ("6.18", "maximum overlong sequence",
     [b"\xc1\xbf", b"\xe0\x9f\xbf", b"\xf0\x8f\xbf\xbf",
      b"\xf8\x87\xbf\xbf\xbf", b"\xfc\x83\xbf\xbf\xbf\xbf"]),
    ("6.19", "overlong NUL",
     [b"\xc0\x80", b"\xe0\x80\x80", b"\xf0\x80\x80\x80",
      b"\xf8\x80\x80\x80\x80", b"\xfc\x80\x80\x80\x80\x80"]),
    ("6.20", "single UTF-16 surrogate",
     [b"\xed\xa0\x80", b"\xed\xad\xbf", b"\xed\xae\x80", b"\xed\xaf\xbf",
      b"\xed\xb0\x80", b"\xed\xbe\x80", b"\xed\xbf\xbf"]),
    ("6.21", "paired UTF-16 surrogates",
     [b"\xed\xa0\x80\xed\xb0\x80", b"\xed\xa0\x80\xed\xbf\xbf",
      b"\xed\xad\xbf\xed\xb0\x80", b"\xed\xad\xbf\xed\xbf\xbf",
      b"\xed\xae\x80\xed\xb0\x80", b"\xed\xae\x80\xed\xbf\xbf",
      b"\xed\xaf\xbf\xed\xb0\x80", b"\xed\xaf\xbf\xed\xbf\xbf"]),
    ("6.22", "noncharacter",
     [b"\xef\xbf\xbe", b"\xef\xbf\xbf"]
     + [chr(p * 0x10000 + low).encode() for p in range(1, 17)
        for low in (0xfffe, 0xffff)]),
    ("6.23", "specials", [chr(c).encode() for c in range(0xfff9, 0x10000)]),
]
for grp, what, vecs in VECTORS:
    for i, v in enumerate(vecs, 1):
        add("%s.%d" % (grp, i), "%s %s: %s" % (
            what if grp != "6.6" else "\"κόσμε\" cut after byte %d" % i,
            "(valid)" if is_utf8(v) else "(invalid -> 1007)", short(v, 16)),
            utf8_vector_case(v))


@case("6.24.1", "valid 4-byte character split over 4 fragments")
def _(ctx):
    utf8_vector_case(b"a\xf0\x9f\x98\x80b",
                     [b"a\xf0", b"\x9f", b"\x98", b"\x80b"])(ctx)


@case("6.24.2", "invalid sequence split across fragments (\\xe0|\\x80) -> "
      "1007, fail fast")
def _(ctx):
    fail_fast_fragments([b"a\xe0", b"\x80", b"never"])(ctx)


@case("6.24.3", "truncated sequence at the end of a message -> 1007")
def _(ctx):
    utf8_vector_case(b"ab\xe2\x82", [b"ab", b"\xe2\x82"])(ctx)


@case("6.24.4", "truncated sequence then an empty final fragment -> 1007")
def _(ctx):
    utf8_vector_case(b"\xe2\x82", [b"\xe2", b"\x82", b""])(ctx)


@case("6.24.5", "binary messages are not UTF-8 checked")
def _(ctx):
    with Conn(ctx) as c:
        c.send(frame(OP_BIN, b"\xff\xfe\xc0\xed\xa0\x80"))
        c.ping_pong()


@case("6.24.6", "invalid UTF-8 at offset 60000 of a published 64 KiB "
      "payload arrives as binary")
def _(ctx):
    p = bytearray(b"a" * 65536)
    p[60000] = 0xff
    publish_case(bytes(p), OP_BIN)(ctx)


@case("6.24.7", "valid multibyte UTF-8 published across 64 KiB arrives as "
      "text")
def _(ctx):
    publish_case(("é€😀" * 7000).encode(), OP_TEXT)(ctx)


# ---- 7 close handling -------------------------------------------------

@case("7.1.1", "text \"ping\", then close 1000: pong, close 1000, TCP closed")
def _(ctx):
    with Conn(ctx) as c:
        c.send(frame(OP_TEXT, b"ping") + frame(OP_CLOSE, close_payload(1000)))
        c.expect(OP_TEXT, b"pong")
        c.expect_close(1000)


@case("7.1.2", "two closes: one close echoed, then TCP closed")
def _(ctx):
    with Conn(ctx) as c:
        c.send(frame(OP_CLOSE, close_payload(1000))
               + frame(OP_CLOSE, close_payload(1001)))
        c.expect_close(1000)


@case("7.1.3", "close, then ping: no pong")
def _(ctx):
    with Conn(ctx) as c:
        c.send(frame(OP_CLOSE, close_payload(1000)) + frame(OP_PING, b"x"))
        c.expect_close(1000)


@case("7.1.4", "close, then text \"ping\": no pong")
def _(ctx):
    with Conn(ctx) as c:
        c.send(frame(OP_CLOSE, close_payload(1000)) + frame(OP_TEXT, b"ping"))
        c.expect_close(1000)


@case("7.1.5", "first fragment, close, rest of the message: close only")
def _(ctx):
    with Conn(ctx) as c:
        c.send(frame(OP_TEXT, b"pi", fin=False)
               + frame(OP_CLOSE, close_payload(1000)) + frame(OP_CONT, b"ng"))
        c.expect_close(1000)


@case("7.1.6", "256 KiB message, close, ping: close only")
def _(ctx):
    with Conn(ctx) as c:
        c.send(frame(OP_BIN, b"B" * (256 << 10))
               + frame(OP_CLOSE, close_payload(1000)) + frame(OP_PING, b"x"))
        c.expect_close(1000, timeout=BIG_TIMEOUT)


@case("7.1.7", "after the close handshake the user's subscription is gone")
def _(ctx):
    with Conn(ctx) as c:
        c.send(frame(OP_CLOSE, close_payload(1000)))
        c.expect_close(1000)
    deadline = time.monotonic() + 5
    while ctx.redis.publish(c.user, b"x") != 0:
        check(time.monotonic() < deadline, "channel still has a subscriber "
              "5 s after the close handshake")
        time.sleep(0.02)


@case("7.1.8", "server-initiated close (1002): client echoes, TCP closed")
def _(ctx):
    with Conn(ctx) as c:
        c.send(frame(OP_TEXT, b"x", mask=False))
        c.expect_close(1002, reply=True)


@case("7.1.9", "close in the same segment as the upgrade request")
def _(ctx):
    with Conn(ctx, extra=frame(OP_CLOSE, close_payload(4001))) as c:
        c.expect_close(4001)


@case("7.1.10", "TCP dropped mid-frame without a close: the subscription "
      "goes away, the server keeps serving")
def _(ctx):
    c = Conn(ctx)
    c.send(frame(OP_TEXT, b"z" * 500)[:100])
    c.close()
    deadline = time.monotonic() + 5
    while ctx.redis.publish(c.user, b"x") != 0:
        check(time.monotonic() < deadline, "channel still has a subscriber "
              "5 s after the client vanished")
        time.sleep(0.02)
    with Conn(ctx) as d:
        d.ping_pong()


@case("7.3.1", "close with empty payload: close (empty or 1000), TCP closed")
def _(ctx):
    with Conn(ctx) as c:
        c.send(frame(OP_CLOSE))
        c.expect_close(None)


@case("7.3.2", "close with 1-byte payload -> 1002")
def _(ctx):
    fails_with(ctx, frame(OP_CLOSE, b"\x03"), 1002)


@case("7.3.3", "close 1000 without reason: echoed")
def _(ctx):
    with Conn(ctx) as c:
        c.send(frame(OP_CLOSE, close_payload(1000)))
        c.expect_close(1000)


@case("7.3.4", "close 1000 with a short reason: 1000")
def _(ctx):
    with Conn(ctx) as c:
        c.send(frame(OP_CLOSE, close_payload(1000, b"Hello World!")))
        c.expect_close(1000)


@case("7.3.5", "close 1000 with a 123-byte reason (125-byte payload): 1000")
def _(ctx):
    with Conn(ctx) as c:
        c.send(frame(OP_CLOSE, close_payload(1000, b"*" * 123)))
        c.expect_close(1000)


@case("7.3.6", "close 1000 with a 124-byte reason (126-byte payload) -> 1002")
def _(ctx):
    fails_with(ctx, frame(OP_CLOSE, close_payload(1000, b"*" * 124)), 1002)


@case("7.3.7", "close after a 1-byte ping payload 03 e8 and a 1-byte close "
      "-> 1002 (no stale bytes)")
def _(ctx):
    with Conn(ctx) as c:
        c.send(frame(OP_PING, b"\x03\xe8"))
        c.pong(b"\x03\xe8")
        c.send(frame(OP_CLOSE, b"\x03"))
        c.expect_close(1002)


@case("7.5.1", "close reason with invalid UTF-8 -> 1007")
def _(ctx):
    fails_with(ctx, frame(OP_CLOSE, close_payload(1000, KOSME
                                                  + b"\xed\xa0\x80edited")),
               1007)


@case("7.5.2", "close reason with a truncated sequence -> 1007")
def _(ctx):
    fails_with(ctx, frame(OP_CLOSE, close_payload(1000, b"ok\xe2\x82")), 1007)


@case("7.5.3", "close reason with valid multibyte UTF-8: echoed code")
def _(ctx):
    with Conn(ctx) as c:
        c.send(frame(OP_CLOSE, close_payload(1000, "bye κόσμε 😀".encode())))
        c.expect_close(1000)


VALID_CODES = [1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 3000,
               3999, 4000, 4999, 1012, 1013, 1014]
for i, code in enumerate(VALID_CODES, 1):
    def valid_close(ctx, code=code):
        with Conn(ctx) as c:
            c.send(frame(OP_CLOSE, close_payload(code, b"reason")))
            c.expect_close(code)
    add("7.7.%d" % i, "close code %d is valid: echoed" % code, valid_close)

INVALID_CODES = [0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999,
                 5000, 65535, 1]
for i, code in enumerate(INVALID_CODES, 1):
    add("7.9.%d" % i, "close code %d is invalid -> 1002" % code,
        (lambda code: lambda ctx: fails_with(
            ctx, frame(OP_CLOSE, close_payload(code)), 1002))(code))


@case("7.13.1", "close 5000 with a reason -> 1002")
def _(ctx):
    fails_with(ctx, frame(OP_CLOSE, close_payload(5000, b"x")), 1002)


@case("7.13.2", "close 65535 with a reason -> 1002")
def _(ctx):
    fails_with(ctx, frame(OP_CLOSE, close_payload(65535, b"x")), 1002)


@case("7.13.3", "close sent one byte at a time: echoed")
def _(ctx):
    with Conn(ctx) as c:
        c.send_chopped(frame(OP_CLOSE, close_payload(3333, b"slow")), 1,
                       0.002)
        c.expect_close(3333)


@case("7.13.4", "data and garbage after the server's close are harmless")
def _(ctx):
    with Conn(ctx) as c:
        c.send(frame(OP_TEXT, b"x", mask=False))
        f = c.recv_frame(what="a close frame")
        check(f.op == OP_CLOSE and f.payload[:2] == b"\x03\xea",
              "expected close 1002, got %r" % f)
        try:
            c.send(frame(OP_TEXT, b"ping") + os.urandom(3000))
        except OSError:
            pass
        deadline = time.monotonic() + EOF_WITHIN
        while True:
            left = deadline - time.monotonic()
            check(left > 0, "server did not close TCP")
            c.s.settimeout(left)
            try:
                if not c.s.recv(4096):
                    break
            except socket.timeout:
                continue
            except ConnectionResetError:
                break
    with Conn(ctx) as d:
        d.ping_pong()


# ---- 9 large payloads -------------------------------------------------

SIZES = [("64 KiB", 64 << 10), ("256 KiB", 256 << 10), ("1 MiB", MiB),
         ("4 MiB", 4 * MiB), ("8 MiB", 8 * MiB), ("16 MiB", 16 * MiB)]


def big_text(n):
    unit = b"The quick brown fox \xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80 "
    return (unit * (n // len(unit) + 1))[:n - 1] + b"."


def big_bin(n):
    unit = bytes(range(256))
    return (unit * (n // 256 + 1))[:n]


for i, (name, n) in enumerate(SIZES, 1):
    add("9.1.%d" % i, "published text message of %s, intact" % name,
        publish_case(big_text(n), OP_TEXT, timeout=BIG_TIMEOUT))
    add("9.2.%d" % i, "published binary message of %s, intact" % name,
        publish_case(big_bin(n), OP_BIN, timeout=BIG_TIMEOUT))


def big_client_case(op, total, frag):
    def run(ctx):
        data = (b"x" if op == OP_TEXT else b"\xfe") * total
        with Conn(ctx) as c:
            c.send(fragments(op, chunks(data, frag)))
            c.s.settimeout(BIG_TIMEOUT)
            c.send(frame(OP_TEXT, b"ping"))
            c.expect(OP_TEXT, b"pong", timeout=BIG_TIMEOUT)
    return run


FRAGS = [64, 256, 1 << 10, 4 << 10, 16 << 10, 64 << 10, 256 << 10, MiB,
         4 * MiB]
for i, fs in enumerate(FRAGS, 1):
    add("9.3.%d" % i, "client text message of 4 MiB in frames of %d bytes"
        % fs, big_client_case(OP_TEXT, 4 * MiB, fs))
    add("9.4.%d" % i, "client binary message of 4 MiB in frames of %d bytes"
        % fs, big_client_case(OP_BIN, 4 * MiB, fs))

for i, ch in enumerate([64, 128, 256, 512, 1024, 2048], 1):
    add("9.5.%d" % i, "client text message of 1 MiB sent in chops of %d" % ch,
        accepted_case(frame(OP_TEXT, b"t" * MiB), chop=ch))
    add("9.6.%d" % i, "client binary message of 1 MiB sent in chops of %d"
        % ch, accepted_case(frame(OP_BIN, b"\xfe" * MiB), chop=ch))

for i, n in enumerate([0, 16, 64, 256, 1024, 4096], 1):
    def many(ctx, n=n, op=OP_TEXT):
        with Conn(ctx) as c:
            msgs = [(b"%06d" % k + b"t" * n)[:n] if n >= 6 else b"t" * n
                    for k in range(1000)]
            pipe = ctx.redis.pipeline(transaction=False)
            for m in msgs:
                pipe.publish(c.user, m)
            check(all(r == 1 for r in pipe.execute()), "PUBLISH missed")
            for m in msgs:
                c.expect(op, m)
    add("9.7.%d" % i, "1000 published text messages of %d bytes, in order"
        % n, many)

    def many_bin(ctx, n=n):
        with Conn(ctx) as c:
            msgs = [b"\xff" + (b"%06d" % k + b"b" * n)[:max(n - 1, 0)]
                    for k in range(1000)]
            pipe = ctx.redis.pipeline(transaction=False)
            for m in msgs:
                pipe.publish(c.user, m)
            check(all(r == 1 for r in pipe.execute()), "PUBLISH missed")
            for m in msgs:
                c.expect(OP_BIN, m)
    add("9.8.%d" % i, "1000 published binary messages of %d bytes, in order"
        % max(n, 1), many_bin)


@case("9.9.1", "client text message of exactly max_message_size (16 MiB) "
      "accepted")
def _(ctx):
    big_client_case(OP_TEXT, BIG_MAX, BIG_MAX)(ctx)


@case("9.9.2", "client binary message of exactly 16 MiB in 4 fragments "
      "accepted")
def _(ctx):
    big_client_case(OP_BIN, BIG_MAX, 4 * MiB)(ctx)


@case("9.9.3", "client frame declaring 16 MiB + 1 -> 1009 before the "
      "payload")
def _(ctx):
    fails_with(ctx, frame(OP_BIN, b"", length=BIG_MAX + 1)[:14], 1009)


@case("9.9.4", "client fragments totalling 16 MiB + 1 -> 1009")
def _(ctx):
    with Conn(ctx) as c:
        c.send(frame(OP_TEXT, b"y" * (8 * MiB), fin=False))
        c.send(frame(OP_CONT, b"y" * (8 * MiB), fin=False))
        # the header of the fragment that crosses the cap is enough
        c.send(frame(OP_CONT, b"", length=1, fin=True)[:6])
        c.expect_close(1009, timeout=BIG_TIMEOUT)


@case("9.10.1", "1k server: text message of 1024 bytes accepted",
      server="small")
def _(ctx):
    accepted_case(frame(OP_TEXT, b"k" * 1024), server="small")(ctx)


@case("9.10.2", "1k server: text message of 1025 bytes -> 1009",
      server="small")
def _(ctx):
    fails_with(ctx, frame(OP_TEXT, b"k" * 1025), 1009, server="small")


@case("9.10.3", "1k server: binary message of 1025 bytes -> 1009",
      server="small")
def _(ctx):
    fails_with(ctx, frame(OP_BIN, b"k" * 1025), 1009, server="small")


@case("9.10.4", "1k server: fragments 512+512 accepted, 512+513 -> 1009",
      server="small")
def _(ctx):
    with Conn(ctx, "small") as c:
        c.send(fragments(OP_BIN, [b"a" * 512, b"a" * 512]))
        c.ping_pong()
        c.send(fragments(OP_TEXT, [b"a" * 512, b"a" * 513]))
        c.expect_close(1009)


@case("9.10.5", "1k server: 1009 on the fragment crossing the cap, before "
      "the final one", server="small")
def _(ctx):
    with Conn(ctx, "small") as c:
        c.send(frame(OP_BIN, b"c" * 700, fin=False))
        c.send(frame(OP_CONT, b"c" * 700, fin=False))
        c.expect_close(1009)


@case("9.10.6", "1k server: 64-bit length of 2^40 -> 1009 at the header",
      server="small")
def _(ctx):
    fails_with(ctx, frame(OP_BIN, b"", length=1 << 40)[:14], 1009,
               server="small")


@case("9.10.7", "1k server: the cap is per message; 3 messages of 1024 "
      "accepted", server="small")
def _(ctx):
    accepted_case(frame(OP_TEXT, b"q" * 1024) + frame(OP_BIN, b"q" * 1024)
                  + fragments(OP_TEXT, [b"q" * 1000, b"q" * 24]),
                  server="small")(ctx)


@case("9.10.8", "1k server: published 64 KiB still delivered (the cap is "
      "for client messages)", server="small")
def _(ctx):
    with Conn(ctx, "small") as c:
        c.publish(b"p" * 65536)
        c.expect(OP_TEXT, b"p" * 65536)


# ---- 10 misc ----------------------------------------------------------

@case("10.1.1", "client text message of 64 KiB in 1300-byte fragments")
def _(ctx):
    accepted_case(fragments(OP_TEXT, chunks(b"f" * 65536, 1300)))(ctx)


@case("10.2.1", "100 \"ping\" text frames in one segment: 100 pongs")
def _(ctx):
    with Conn(ctx) as c:
        c.send(frame(OP_TEXT, b"ping") * 100)
        for _ in range(100):
            c.expect(OP_TEXT, b"pong")


@case("10.2.2", "1000 small mixed frames in one segment, answered in order")
def _(ctx):
    with Conn(ctx) as c:
        data, want = b"", []
        for i in range(1000):
            k = i % 4
            if k == 0:
                data += frame(OP_TEXT, b"ping")
                want.append((OP_TEXT, b"pong"))
            elif k == 1:
                data += frame(OP_PING, b"%d" % i)
                want.append((OP_PONG, b"%d" % i))
            elif k == 2:
                data += frame(OP_BIN, b"\x00" * (i % 7))
            else:
                data += frame(OP_PONG, b"u")
        c.send(data)
        for op, p in want:
            c.expect(op, p)


@case("10.2.3", "a text \"ping\" frame split at every byte position")
def _(ctx):
    with Conn(ctx) as c:
        f = frame(OP_TEXT, b"ping")
        for k in range(1, len(f)):
            c.send(f[:k])
            time.sleep(0.01)
            c.send(f[k:])
            c.expect(OP_TEXT, b"pong")


@case("10.2.4", "a 16-bit-length ping frame split at every byte position")
def _(ctx):
    with Conn(ctx) as c:
        f = frame(OP_BIN, b"b" * 300) + frame(OP_PING, b"split")
        for k in range(1, 14):
            c.send(f[:k])
            time.sleep(0.01)
            c.send(f[k:])
            c.pong(b"split")


@case("10.2.5", "a 64-bit-length frame split at every header byte")
def _(ctx):
    with Conn(ctx) as c:
        f = frame(OP_BIN, b"B" * 70000) + frame(OP_TEXT, b"ping")
        for k in range(1, 16):
            c.send(f[:k])
            time.sleep(0.01)
            c.send(f[k:])
            c.expect(OP_TEXT, b"pong")


@case("10.2.6", "fragments, pings and a close sent one byte at a time")
def _(ctx):
    with Conn(ctx) as c:
        c.send_chopped(frame(OP_TEXT, b"pi", fin=False) + frame(OP_PING, b"xy")
                       + frame(OP_CONT, b"ng")
                       + frame(OP_CLOSE, close_payload(1000, b"bye")), 1,
                       0.001)
        c.pong(b"xy")
        c.expect(OP_TEXT, b"pong")
        c.expect_close(1000)


@case("10.2.7", "upgrade request and first frames in one segment")
def _(ctx):
    with Conn(ctx, extra=frame(OP_TEXT, b"ping") + frame(OP_PING, b"q")) as c:
        c.expect(OP_TEXT, b"pong")
        c.pong(b"q")


@case("10.2.8", "upgrade request and an invalid frame in one segment -> 1002")
def _(ctx):
    with Conn(ctx, extra=frame(OP_TEXT, b"x", mask=False)) as c:
        c.expect_close(1002)


@case("10.2.9", "masking key of zeros is accepted")
def _(ctx):
    with Conn(ctx) as c:
        c.send(frame(OP_TEXT, b"ping", key=b"\x00\x00\x00\x00"))
        c.expect(OP_TEXT, b"pong")


@case("10.2.10", "text frame with a non-minimal 16-bit length -> 1002 "
      "(RFC 6455 5.2: minimal length MUST be used)")
def _(ctx):
    fails_with(ctx, frame(OP_TEXT, b"ping", form=16), 1002)


@case("10.3.1", "published messages and pongs interleave as whole frames")
def _(ctx):
    with Conn(ctx) as c:
        pipe = ctx.redis.pipeline(transaction=False)
        for i in range(20):
            pipe.publish(c.user, b"m%d" % i + b"." * 5000)
        c.send(b"".join(frame(OP_PING, b"p%d" % i) for i in range(20)))
        pipe.execute()
        msgs, pongs = [], []
        while len(msgs) < 20 or len(pongs) < 20:
            f = c.recv_frame()
            if f.op == OP_PONG:
                pongs.append(f.payload)
            else:
                check(f.op == OP_TEXT and f.fin, "unexpected %r" % f)
                msgs.append(f.payload)
        check(pongs == [b"p%d" % i for i in range(20)], "pongs out of order")
        check(msgs == [b"m%d" % i + b"." * 5000 for i in range(20)],
              "messages out of order or altered")


@case("10.3.2", "two connections of one user each receive every message")
def _(ctx):
    user = ctx.uniq()
    with Conn(ctx, user=user) as a, Conn(ctx, user=user) as b:
        a.publish(b"both", receivers=2)
        a.expect(OP_TEXT, b"both")
        b.expect(OP_TEXT, b"both")


@case("10.3.3", "a ping during a 4 MiB publish: pong and message both arrive "
      "whole, in either order")
def _(ctx):
    with Conn(ctx) as c:
        c.publish(big_bin(4 * MiB))
        c.send(frame(OP_PING, b"during"))
        got = sorted((c.recv_frame(BIG_TIMEOUT), c.recv_frame(BIG_TIMEOUT)),
                     key=lambda f: f.op)
        check([(f.op, f.fin) for f in got] == [(OP_BIN, True),
                                               (OP_PONG, True)],
              "got %r" % got)
        check(got[0].payload == big_bin(4 * MiB), "4 MiB payload differs")
        check(got[1].payload == b"during", "pong payload %r" % got[1].payload)


@case("10.3.4", "a client that never reads does not stop others receiving")
def _(ctx):
    with Conn(ctx) as slow, Conn(ctx) as fast:
        for _ in range(4):
            slow.publish(b"s" * MiB)
        fast.publish(b"ok")
        fast.expect(OP_TEXT, b"ok")


# ---- 11 HTTP handshake ------------------------------------------------

def http(ctx, req, timeout=TIMEOUT):
    c = Conn(ctx, upgrade=False)
    with c:
        c.send(req)
        head = c.read_head(timeout)
    return status_of(head), head


def request(ctx, path=None, headers=None, key=None, method="GET",
            version="HTTP/1.1"):
    req = ctx.raw_request(path or "/?user=%s" % ctx.uniq(), headers, key)
    line, _, rest = req.partition(b"\r\n")
    path = line.split(b" ")[1].decode()
    return ("%s %s %s" % (method, path, version)).encode() + b"\r\n" + rest


def status_case(expect, **kw):
    def run(ctx):
        status, head = http(ctx, request(ctx, **kw))
        check(status == expect, "expected %d, got %r" % (
            expect, head.split(b"\r\n")[0]))
    return run


@case("11.1.1", "valid upgrade: 101, Upgrade, Connection and the right "
      "Sec-WebSocket-Accept")
def _(ctx):
    with Conn(ctx) as c:
        h = headers_of(c.head)
        check(c.head.startswith(b"HTTP/1.1 101"), "status line %r"
              % c.head.split(b"\r\n")[0])
        check(h.get("upgrade", "").lower() == "websocket", "Upgrade: %r"
              % h.get("upgrade"))
        check("upgrade" in h.get("connection", "").lower(), "Connection: %r"
              % h.get("connection"))
        check(h.get("sec-websocket-accept") == accept_of(c.key),
              "Sec-WebSocket-Accept %r" % h.get("sec-websocket-accept"))
        c.ping_pong()


@case("11.1.2", "RFC 6455 sample key gets s3pPLMBiTxaQ9kYGzzhZRbK+xOo=")
def _(ctx):
    key = "dGhlIHNhbXBsZSBub25jZQ=="
    with Conn(ctx, req=request(ctx, key=key)) as c:
        got = headers_of(c.head).get("sec-websocket-accept")
        check(got == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=", "accept %r" % got)


@case("11.1.3", "header names in odd case are accepted")
def _(ctx):
    user = ctx.uniq()
    key = base64.b64encode(os.urandom(16)).decode()
    req = ("GET /?user=%s HTTP/1.1\r\nhOST: 127.0.0.1\r\nuPGRADE: WebSocket"
           "\r\ncOnNeCtIoN: uPgRaDe\r\nsEC-wEBsOCKET-kEY: %s\r\n"
           "SEC-WEBSOCKET-VERSION: 13\r\n\r\n" % (user, key)).encode()
    with Conn(ctx, user=user, req=req) as c:
        check(headers_of(c.head).get("sec-websocket-accept") == accept_of(key),
              "wrong accept")
        c.publish(b"odd")
        c.expect(OP_TEXT, b"odd")


for i, conn in enumerate(["keep-alive, Upgrade", "Upgrade,keep-alive",
                          "UPGRADE"], 4):
    def token_list(ctx, conn=conn):
        with Conn(ctx, req=request(ctx, headers={"Connection": conn})) as c:
            c.ping_pong()
    add("11.1.%d" % i, "Connection: %s is accepted" % conn, token_list)


@case("11.1.7", "request head sent one byte at a time")
def _(ctx):
    c = Conn(ctx, upgrade=False)
    with c:
        c.send_chopped(request(ctx, path="/?user=%s" % c.user), 1, 0.001)
        c.head = c.read_head()
        check(status_of(c.head) == 101, "status %r" % c.head[:40])
        c.publish(b"slow head")
        c.expect(OP_TEXT, b"slow head")


@case("11.1.8", "percent-encoded user name in the path")
def _(ctx):
    user = ctx.uniq() + "@x.y"
    enc = user.replace("@", "%40").replace(".", "%2e")
    with Conn(ctx, user=user, path="/some/path?user=" + enc) as c:
        c.publish(b"decoded")
        c.expect(OP_TEXT, b"decoded")


@case("11.1.9", "offered permessage-deflate with a parameter this server "
      "does not know is declined (no Sec-WebSocket-Extensions)")
def _(ctx):
    req = request(ctx, headers={
        "Sec-WebSocket-Extensions": "permessage-deflate; "
        "client_max_window_bits; x-unknown"})
    with Conn(ctx, req=req) as c:
        check("sec-websocket-extensions" not in headers_of(c.head),
              "server accepted an offer with an unknown parameter")
        c.ping_pong()


@case("11.1.10", "offered subprotocols: none selected that was not offered")
def _(ctx):
    req = request(ctx, headers={"Sec-WebSocket-Protocol": "chat, superchat"})
    with Conn(ctx, req=req) as c:
        p = headers_of(c.head).get("sec-websocket-protocol")
        check(p is None or p in ("chat", "superchat"),
              "server selected subprotocol %r" % p)
        c.ping_pong()


@case("11.1.11", "GET /healthz -> 200")
def _(ctx):
    status, head = http(ctx, b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
    check(status == 200, "got %r" % head[:40])


@case("11.1.12", "no user in the URL: identify message names the user")
def _(ctx):
    user = ctx.uniq()
    with Conn(ctx, path="/") as c:
        c.send(frame(OP_TEXT, ('{"user_name": "%s"}' % user).encode()))
        deadline = time.monotonic() + 5
        while ctx.redis.publish(user, b"identified") != 1:
            check(time.monotonic() < deadline, "never subscribed")
            time.sleep(0.02)
        c.expect(OP_TEXT, b"identified")


add("11.2.1", "POST -> 405", status_case(405, method="POST"))
add("11.2.2", "PUT -> 405", status_case(405, method="PUT"))
add("11.2.3", "missing Upgrade -> 400", status_case(
    400, headers={"Upgrade": None}))
add("11.2.4", "Upgrade: h2c -> 400", status_case(
    400, headers={"Upgrade": "h2c"}))
add("11.2.5", "missing Connection -> 400", status_case(
    400, headers={"Connection": None}))
add("11.2.6", "Connection: keep-alive only -> 400", status_case(
    400, headers={"Connection": "keep-alive"}))
add("11.2.7", "missing Sec-WebSocket-Key -> 400", status_case(
    400, headers={"Sec-WebSocket-Key": None}))
add("11.2.8", "Sec-WebSocket-Key of 15 bytes -> 400", status_case(
    400, headers={"Sec-WebSocket-Key": base64.b64encode(b"k" * 15).decode()}))
add("11.2.9", "Sec-WebSocket-Key not base64 -> 400", status_case(
    400, headers={"Sec-WebSocket-Key": "!!!!!!!!!!!!!!!!!!!!!!=="}))


@case("11.2.10", "Sec-WebSocket-Version: 8 -> 426 with "
      "Sec-WebSocket-Version: 13")
def _(ctx):
    status, head = http(ctx, request(ctx, headers={
        "Sec-WebSocket-Version": "8"}))
    check(status == 426, "got %r" % head[:40])
    check(headers_of(head).get("sec-websocket-version") == "13",
          "no Sec-WebSocket-Version: 13 in %r" % head)


add("11.2.11", "HTTP/1.0 -> 400", status_case(400, version="HTTP/1.0"))
add("11.2.12", "user name with a bad character -> 400", status_case(
    400, path="/?user=bad%20name"))
add("11.2.13", "user name of 129 bytes -> 400", status_case(
    400, path="/?user=" + "u" * 129))


@case("11.2.14", "request head over 8 KiB -> 431")
def _(ctx):
    req = request(ctx, headers={"X-Pad": "p" * 9000})
    status, head = http(ctx, req)
    check(status == 431, "got %r" % head[:40])


@case("11.2.15", "missing Host -> 400")
def _(ctx):
    status_case(400, headers={"Host": None})(ctx)


@case("11.2.16", "missing Sec-WebSocket-Version -> 400 or 426")
def _(ctx):
    status, head = http(ctx, request(ctx, headers={
        "Sec-WebSocket-Version": None}))
    check(status in (400, 426), "got %r" % head[:40])


# ---- 12 compression: messages ----------------------------------------
#
# Modelled on Autobahn's section 12: compressed messages of many sizes, in
# both directions.  Every compressed message from the server is inflated
# here with a fresh inflater (the server must not keep its context) and a
# window of the size it agreed to; client messages are compressed with
# zlib and fragmented and chopped in many ways, and proved inflated right
# by the answer to a compressed "ping" (which needs the context kept when
# it was) and by the 1009 of the server whose cap is 1 KiB.

DEFLATE_MIN = 256        # compression_min_size's default
SERVER_BITS = 10         # the window the server compresses with


def deflate_conn(ctx, offer="permessage-deflate", server="main",
                 protocol=None, user=None):
    headers = {"Sec-WebSocket-Extensions": offer}
    if protocol:
        headers["Sec-WebSocket-Protocol"] = protocol
    user = user or ctx.uniq()
    req = request(ctx, path="/?user=%s" % user, headers=headers)
    return Conn(ctx, server, user=user, req=req)


def recv_msg(c, timeout=TIMEOUT):
    """The next data message: (opcode, payload inflated, compressed?).
    Pings from the server are skipped; the server never fragments."""
    while True:
        f = c.recv_frame(timeout, "a data message")
        if f.op == OP_PING:
            continue
        if f.op == OP_CLOSE:
            raise Fail("expected a message, got close %s" % describe_close(f))
        check(f.op in (OP_TEXT, OP_BIN) and f.fin, "expected a whole data "
              "message, got %r" % f)
        if not f.rsv:
            return f.op, f.payload, False
        check(c.pmd is not None, "RSV1 without the extension")
        bits = int(c.pmd.get("server_max_window_bits") or SERVER_BITS)
        d = zlib.decompressobj(-bits)   # fresh: no context may be kept
        try:
            out = d.decompress(f.payload + b"\x00\x00\xff\xff")
        except zlib.error as e:
            raise Fail("compressed message does not inflate with a "
                       "%d-bit window and no context: %s" % (bits, e))
        check(not d.unconsumed_tail, "inflater left input")
        return f.op, out, True


def expect_msg(c, op, payload, compressed=None, timeout=TIMEOUT):
    got_op, got, was = recv_msg(c, timeout)
    check(got_op == op, "expected %s, got %s" % (OPNAMES[op],
                                                 OPNAMES[got_op]))
    check(got == payload, "payload differs: got %s, sent %s"
          % (short(got), short(payload)))
    if compressed is not None:
        check(was == compressed, "message of %d bytes %s compressed"
              % (len(payload), "not" if compressed else "was"))


class Compressor:
    """The client's side: one zlib stream, kept across messages unless
    the server agreed to client_no_context_takeover."""

    def __init__(self, pmd, level=6, bits=None):
        if bits is None:
            v = pmd.get("client_max_window_bits")
            bits = int(v) if v not in (None, True) else 15
        self.bits = bits
        self.reset = "client_no_context_takeover" in pmd
        self.level = level
        self.z = self._new()

    def _new(self):
        # zlib cannot make a raw stream with an 8-bit window: a client
        # built on it uses 9, and the server inflates with at least that.
        return zlib.compressobj(self.level, zlib.DEFLATED,
                                -max(self.bits, 9))

    def message(self, data):
        out = self.z.compress(data) + self.z.flush(zlib.Z_SYNC_FLUSH)
        assert out.endswith(b"\x00\x00\xff\xff")
        if self.reset:
            self.z = self._new()
        return out[:-4]


def compressed_frames(op, data, frag):
    """A compressed payload as frames of at most frag bytes: RSV1 on the
    first only."""
    parts = chunks(data, frag) or [b""]
    return b"".join(frame(op if i == 0 else OP_CONT, p,
                          fin=i == len(parts) - 1, rsv=4 if i == 0 else 0)
                    for i, p in enumerate(parts))


def json_like(n, seed=0):
    """n bytes of JSON-looking text: compressible, not trivially."""
    out = bytearray()
    i = seed
    while len(out) < n:
        out += (b'{"id":%d,"type":"notice","user":"u%d","text":"message '
                b'number %d for you","read":false},' % (i, i % 97, i * 7))
        i += 1
    return bytes(out[:n])


def deflate_publish_case(payload, op, compressed, offer="permessage-deflate",
                         protocol=None, repeat=1):
    def run(ctx):
        with deflate_conn(ctx, offer, protocol=protocol) as c:
            check(c.pmd is not None, "permessage-deflate not accepted")
            for _ in range(repeat):
                c.publish(payload)
            want = (b"\n" + payload) if protocol else payload
            for _ in range(repeat):
                expect_msg(c, op, want, compressed, timeout=BIG_TIMEOUT)
            c.ping_pong()
    return run


SIZES_12 = [16, 64, 255, 256, 1023, 1024, 2048, 4096, 8192, 16384, 32768,
            65535, 65536, 131072, 1 << 20]
for i, n in enumerate(SIZES_12, 1):
    add("12.1.%d" % i, "compressed text message, %d bytes published" % n,
        deflate_publish_case(json_like(n), OP_TEXT, n >= DEFLATE_MIN))
for i, n in enumerate(SIZES_12, 1):
    add("12.2.%d" % i, "compressible binary message, %d bytes published" % n,
        deflate_publish_case(b"\xff" + json_like(n - 1), OP_BIN,
                             n >= DEFLATE_MIN))
for i, n in enumerate([256, 4096, 65536], 1):
    add("12.3.%d" % i, "random binary, %d bytes: sent uncompressed (it would "
        "not get smaller)" % n,
        deflate_publish_case(os.urandom(n), OP_BIN, False))
add("12.3.4", "the empty message, published: uncompressed",
    deflate_publish_case(b"", OP_TEXT, False))
add("12.3.5", "100 messages of 2 KiB in one burst, each compressed on its "
    "own", deflate_publish_case(json_like(2048, 5), OP_TEXT, True,
                                repeat=100))
add("12.3.6", "with wspubsub.v1: the header and payload compressed as one "
    "message", deflate_publish_case(json_like(4000), OP_TEXT, True,
                                    protocol="wspubsub.v1"))
add("12.3.7", "with wspubsub.v1: a 255-byte payload (256 with the header) "
    "compressed", deflate_publish_case(json_like(255), OP_TEXT, True,
                                       protocol="wspubsub.v1"))


@case("12.3.8", "compressed and plain messages keep their order")
def _(ctx):
    msgs = [json_like(100 + 300 * (i % 4), i) for i in range(40)]
    with deflate_conn(ctx) as c:
        for m in msgs:
            c.publish(m)
        for m in msgs:
            expect_msg(c, OP_TEXT, m, len(m) >= DEFLATE_MIN)


def client_deflate_case(sizes, frag, chop=None, offer="permessage-deflate",
                        op=OP_TEXT):
    """The client sends compressed messages of these sizes, fragmented at
    frag bytes, in TCP writes of chop bytes; then a compressed "ping"
    (inflated with the context of all before it) must get "pong"."""
    def run(ctx):
        with deflate_conn(ctx, offer) as c:
            check(c.pmd is not None, "permessage-deflate not accepted")
            z = Compressor(c.pmd)
            data = b"".join(compressed_frames(op, z.message(
                json_like(n, n)), frag) for n in sizes)
            data += compressed_frames(OP_TEXT, z.message(b"ping"), frag)
            if chop:
                c.send_chopped(data, chop)
            else:
                c.send(data)
            c.expect(OP_TEXT, b"pong", timeout=BIG_TIMEOUT)
            c.ping_pong()
    return run


CLIENT_SIZES = [0, 1, 125, 126, 1000, 4096, 65536, 1 << 20]
for i, n in enumerate(CLIENT_SIZES, 1):
    add("12.4.%d" % i, "client sends a compressed text message of %d bytes"
        % n, client_deflate_case([n], 1 << 30))
for i, frag in enumerate([1, 2, 7, 64, 125, 126, 1000, 4096], 1):
    add("12.5.%d" % i, "client sends compressed messages (0-64 KiB) in "
        "fragments of %d bytes" % frag,
        client_deflate_case([0, 300, 5000] + ([65536] if frag >= 64 else []),
                            frag))
for i, chop in enumerate([1, 3, 997], 1):
    add("12.6.%d" % i, "client sends compressed messages fragmented at 100, "
        "in TCP writes of %d bytes" % chop,
        client_deflate_case([300, 5000] if chop > 1 else [300], 100,
                            chop=chop))
add("12.6.4", "client sends compressed binary messages",
    client_deflate_case([300, 70000], 4096, op=OP_BIN))


@case("12.7.1", "client messages with context takeover: each needs the "
      "ones before it")
def _(ctx):
    with deflate_conn(ctx, "permessage-deflate; client_max_window_bits") as c:
        z = Compressor(c.pmd)
        check(not z.reset, "server imposed client_no_context_takeover")
        # The same text twice: the second is a back-reference only.
        for _ in range(3):
            c.send(compressed_frames(OP_TEXT, z.message(b"ping"), 1 << 20))
            c.expect(OP_TEXT, b"pong")


@case("12.7.2", "client message ended by a block with BFINAL set, then "
      "more messages on the same context")
def _(ctx):
    with deflate_conn(ctx) as c:
        z = zlib.compressobj(6, zlib.DEFLATED, -15)
        first = z.compress(b"ping") + z.flush(zlib.Z_FINISH)
        c.send(compressed_frames(OP_TEXT, first, 1 << 20))
        c.expect(OP_TEXT, b"pong")
        z2 = Compressor(c.pmd)
        c.send(compressed_frames(OP_TEXT, z2.message(b"ping"), 1 << 20))
        c.expect(OP_TEXT, b"pong")


@case("12.7.3", "compressed and uncompressed client messages mixed, a ping "
      "between fragments")
def _(ctx):
    with deflate_conn(ctx) as c:
        z = Compressor(c.pmd)
        m = z.message(json_like(3000))
        c.send(frame(OP_TEXT, m[:10], fin=False, rsv=4) +
               frame(OP_PING, b"x") + frame(OP_CONT, m[10:]))
        c.pong(b"x")
        c.send(frame(OP_TEXT, b"ping"))
        c.expect(OP_TEXT, b"pong")
        c.send(compressed_frames(OP_TEXT, z.message(b"ping"), 3))
        c.expect(OP_TEXT, b"pong")


@case("12.7.4", "control frames from the server are never compressed, "
      "close included")
def _(ctx):
    with deflate_conn(ctx) as c:
        c.send(frame(OP_PING, b"p" * 125))
        f = c.pong(b"p" * 125)
        check(f.rsv == 0, "pong with RSV bits")
        c.send(frame(OP_CLOSE, close_payload(1000, b"bye" * 40)))
        f = c.expect_close(1000)
        check(f.rsv == 0, "close with RSV bits")


# ---- 13 compression: parameters and errors ----------------------------
#
# Autobahn's section 13 runs its messages under each offer; here each
# offer's answer is checked against RFC 7692 section 7 and then messages
# go both ways under it.

OFFERS_13 = [
    # (offer, expected answer parameters; None = declined)
    ("permessage-deflate", {"server_no_context_takeover": True}),
    ("permessage-deflate; client_no_context_takeover",
     {"server_no_context_takeover": True,
      "client_no_context_takeover": True}),
    ("permessage-deflate; server_no_context_takeover",
     {"server_no_context_takeover": True}),
    ("permessage-deflate; client_max_window_bits",
     {"server_no_context_takeover": True, "client_max_window_bits": "10"}),
    ("permessage-deflate; client_max_window_bits=8",
     {"server_no_context_takeover": True, "client_max_window_bits": "8"}),
    ("permessage-deflate; client_max_window_bits=9",
     {"server_no_context_takeover": True, "client_max_window_bits": "9"}),
    ("permessage-deflate; client_max_window_bits=12",
     {"server_no_context_takeover": True, "client_max_window_bits": "10"}),
    ("permessage-deflate; client_max_window_bits=15",
     {"server_no_context_takeover": True, "client_max_window_bits": "10"}),
    ("permessage-deflate; client_max_window_bits=\"11\"",
     {"server_no_context_takeover": True, "client_max_window_bits": "10"}),
    ("permessage-deflate; server_max_window_bits=9",
     {"server_no_context_takeover": True, "server_max_window_bits": "9"}),
    ("permessage-deflate; server_max_window_bits=10",
     {"server_no_context_takeover": True, "server_max_window_bits": "10"}),
    ("permessage-deflate; server_max_window_bits=15",
     {"server_no_context_takeover": True, "server_max_window_bits": "10"}),
    ("permessage-deflate; client_no_context_takeover; "
     "client_max_window_bits=9",
     {"server_no_context_takeover": True, "client_no_context_takeover": True,
      "client_max_window_bits": "9"}),
    ("permessage-deflate; client_no_context_takeover; "
     "client_max_window_bits",
     {"server_no_context_takeover": True, "client_no_context_takeover": True,
      "client_max_window_bits": "10"}),
    ("permessage-deflate; server_no_context_takeover; "
     "client_no_context_takeover; server_max_window_bits=9; "
     "client_max_window_bits=8",
     {"server_no_context_takeover": True, "client_no_context_takeover": True,
      "server_max_window_bits": "9", "client_max_window_bits": "8"}),
    ("PERMESSAGE-DEFLATE ;  Client_Max_Window_Bits = 9",
     {"server_no_context_takeover": True, "client_max_window_bits": "9"}),
    # Several offers: the first acceptable.
    ("permessage-deflate; server_max_window_bits=8, permessage-deflate; "
     "client_max_window_bits",
     {"server_no_context_takeover": True, "client_max_window_bits": "10"}),
    ("permessage-deflate; foo=bar, permessage-deflate; "
     "client_no_context_takeover",
     {"server_no_context_takeover": True,
      "client_no_context_takeover": True}),
    ("x-webkit-deflate-frame, permessage-deflate; server_max_window_bits=9",
     {"server_no_context_takeover": True, "server_max_window_bits": "9"}),
    # Declined.
    ("permessage-deflate; server_max_window_bits=8", None),
    ("permessage-deflate; server_max_window_bits", None),
    ("permessage-deflate; client_max_window_bits=7", None),
    ("permessage-deflate; client_max_window_bits=16", None),
    ("permessage-deflate; client_max_window_bits=010", None),
    ("permessage-deflate; server_no_context_takeover=yes", None),
    ("permessage-deflate; client_no_context_takeover; "
     "client_no_context_takeover", None),
    ("permessage-deflate; mystery", None),
    ("x-webkit-deflate-frame", None),
    ("permessage-deflate; client_max_window_bits=\"9", None),
]


def offer_case(offer, want):
    def run(ctx):
        with deflate_conn(ctx, offer) as c:
            if want is None:
                check(c.pmd is None, "offer %r accepted: %r" % (offer, c.pmd))
                # No extension: exactly the plain bytes.
                m = json_like(2000)
                c.publish(m)
                c.expect(OP_TEXT, m)
                c.ping_pong()
                return
            check(c.pmd == want, "offer %r answered %r, expected %r"
                  % (offer, c.pmd, want))
            for n in (300, 2048, 40000):
                m = json_like(n, n)
                c.publish(m)
                expect_msg(c, OP_TEXT, m, True)
            z = Compressor(c.pmd)
            for n in (0, 300, 5000, 40000):
                c.send(compressed_frames(OP_TEXT, z.message(json_like(n, 1)),
                                         1000))
            c.send(compressed_frames(OP_TEXT, z.message(b"ping"), 1000))
            c.expect(OP_TEXT, b"pong")
    return run


for i, (offer, want) in enumerate(OFFERS_13, 1):
    add("13.1.%d" % i, "offer %r: %s" % (
        offer, "declined" if want is None else "accepted"),
        offer_case(offer, want))


@case("13.2.1", "offers on two Sec-WebSocket-Extensions lines: the first "
      "acceptable one")
def _(ctx):
    user = ctx.uniq()
    req = request(ctx, path="/?user=%s" % user)
    req = req.replace(b"\r\n\r\n", b"\r\nSec-WebSocket-Extensions: "
                      b"permessage-deflate; bad\r\nSec-WebSocket-Extensions: "
                      b"permessage-deflate; client_no_context_takeover"
                      b"\r\n\r\n")
    with Conn(ctx, user=user, req=req) as c:
        check(c.pmd == {"server_no_context_takeover": True,
                        "client_no_context_takeover": True},
              "answered %r" % c.pmd)
        c.ping_pong()


def deflate_fails(ctx, data, code, server="main", chop=None):
    with deflate_conn(ctx, server=server) as c:
        check(c.pmd is not None, "permessage-deflate not accepted")
        if chop:
            c.send_chopped(data, chop)
        else:
            c.send(data)
        c.expect_close(code)


@case("13.3.1", "RSV1 on a continuation frame -> 1002")
def _(ctx):
    m = Compressor({}).message(json_like(500))
    deflate_fails(ctx, frame(OP_TEXT, m[:10], fin=False, rsv=4) +
                  frame(OP_CONT, m[10:], rsv=4), 1002)


@case("13.3.2", "RSV1 on a ping -> 1002")
def _(ctx):
    deflate_fails(ctx, frame(OP_PING, b"\x02\x00", rsv=4), 1002)


@case("13.3.3", "RSV1 on a close -> 1002")
def _(ctx):
    deflate_fails(ctx, frame(OP_CLOSE, close_payload(1000), rsv=4), 1002)


@case("13.3.4", "RSV1 on a pong -> 1002")
def _(ctx):
    deflate_fails(ctx, frame(OP_PONG, b"", rsv=4), 1002)


@case("13.3.5", "RSV2 with the extension agreed -> 1002")
def _(ctx):
    deflate_fails(ctx, frame(OP_TEXT, b"\x02\x00", rsv=2), 1002)


@case("13.3.6", "RSV1 without the extension agreed -> 1002")
def _(ctx):
    fails_with(ctx, frame(OP_TEXT, Compressor({}).message(b"ping"), rsv=4),
               1002)


@case("13.3.7", "data that does not inflate -> 1007")
def _(ctx):
    deflate_fails(ctx, frame(OP_TEXT, b"\xff\xff\xff\xff\xff", rsv=4), 1007)


@case("13.3.8", "a compressed message cut inside a block -> 1007")
def _(ctx):
    m = Compressor({}).message(json_like(5000))
    deflate_fails(ctx, frame(OP_TEXT, m[:len(m) // 2], rsv=4), 1007)


@case("13.3.9", "invalid UTF-8 once inflated -> 1007, also fragmented")
def _(ctx):
    m = Compressor({}).message(b"valid then \xc3\x28 not")
    deflate_fails(ctx, compressed_frames(OP_TEXT, m, 3), 1007)


@case("13.3.10", "back-reference further than the agreed client window -> "
      "1007")
def _(ctx):
    with deflate_conn(ctx, "permessage-deflate; client_max_window_bits=9") \
            as c:
        check(c.pmd.get("client_max_window_bits") == "9", "%r" % c.pmd)
        block = os.urandom(3000)
        z = zlib.compressobj(6, zlib.DEFLATED, -15)
        m = z.compress(block + block) + z.flush(zlib.Z_SYNC_FLUSH)
        c.send(frame(OP_BIN, m[:-4], rsv=4))
        c.expect_close(1007)


@case("13.3.11", "inflated over max_message_size (1 KiB), from 60 "
      "compressed bytes -> 1009", server="small")
def _(ctx):
    m = Compressor({}).message(b"a" * 20000)
    check(len(m) < 100, "compressed to %d" % len(m))
    deflate_fails(ctx, frame(OP_TEXT, m, rsv=4), 1009, server="small")


@case("13.3.12", "a zip bomb (64 MiB of zeros, in 64 KiB frames) -> 1009 "
      "at once", server="small")
def _(ctx):
    z = zlib.compressobj(9, zlib.DEFLATED, -15)
    m = z.compress(b"\0" * (64 << 20)) + z.flush(zlib.Z_SYNC_FLUSH)
    with deflate_conn(ctx, server="small") as c:
        try:
            c.send(compressed_frames(OP_BIN, m[:-4], 65536))
        except OSError:
            pass    # closed before all of it was sent
        c.expect_close(1009)


@case("13.3.13", "inflated exactly max_message_size (1 KiB) is accepted",
      server="small")
def _(ctx):
    with deflate_conn(ctx, server="small") as c:
        z = Compressor(c.pmd)
        c.send(compressed_frames(OP_TEXT, z.message(b"x" * 1024), 7))
        c.send(compressed_frames(OP_TEXT, z.message(b"ping"), 7))
        c.expect(OP_TEXT, b"pong")
        c.send(compressed_frames(OP_TEXT, z.message(b"x" * 1025), 7))
        c.expect_close(1009)


@case("13.3.14", "client_no_context_takeover agreed: each message inflates "
      "on its own")
def _(ctx):
    with deflate_conn(ctx, "permessage-deflate; client_no_context_takeover") \
            as c:
        z = Compressor(c.pmd)
        check(z.reset, "answer %r" % c.pmd)
        for _ in range(3):
            c.send(compressed_frames(OP_TEXT, z.message(b"ping"), 2))
            c.expect(OP_TEXT, b"pong")


# ------------------------------------------------------------------ runner

class Ctx:
    def __init__(self, harness, redis_server, ports):
        self.h = harness
        self.redis = redis_server.client()
        self.ports = ports
        self.n = 0

    def uniq(self):
        self.n += 1
        return "c%d_%d_%s" % (os.getpid(), self.n, os.urandom(3).hex())

    def raw_request(self, path, headers=None, key=None):
        return self.h.raw_request(path, headers, key)


def select(pattern):
    """A pattern of digits and dots selects a case id and the cases under
    it ("6.4" -> 6.4.1, 6.4.2, ...); anything else is a case-insensitive
    substring of "id description"."""
    if not pattern:
        return CASES
    if re.fullmatch(r"[0-9.]+", pattern):
        p = pattern.rstrip(".")
        return [c for c in CASES if c[0] == p or c[0].startswith(p + ".")]
    return [c for c in CASES
            if pattern.lower() in ("%s %s" % (c[0], c[1])).lower()]


def dead_server(r, *masters, probe=False):
    """Why the run cannot go on (a server process exited or, with probe,
    a master stopped accepting), or None."""
    if r.proc.poll() is not None:
        return "redis-server exited with status %s" % r.proc.returncode
    for w in masters:
        if w.proc.poll() is not None:
            return "wspubsub master on port %d exited with status %s" % (
                w.port, w.proc.returncode)
    if probe:
        for w in masters:
            try:
                socket.create_connection(("127.0.0.1", w.port), 2).close()
            except ConnectionRefusedError:
                return ("wspubsub master on port %d (pid %d) stopped "
                        "accepting connections" % (w.port, w.pid))
            except OSError:
                pass
    return None


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--binary", help="wspubsub binary (default $WSPUBSUB or "
                    "./wspubsub)")
    ap.add_argument("-k", dest="pattern", help="run the cases whose id or "
                    "description matches (id prefix or substring)")
    ap.add_argument("-v", action="store_true", help="tracebacks and timings")
    args = ap.parse_args()

    binary = args.binary or os.environ.get("WSPUBSUB") or \
        os.path.join(ROOT, "wspubsub")
    os.environ["WSPUBSUB"] = os.path.abspath(binary)  # read by harness
    sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
    import harness

    ids = [c[0] for c in CASES]
    dup = {i for i in ids if ids.count(i) > 1}
    assert not dup, "duplicate case ids: %s" % sorted(dup)

    cases = select(args.pattern)
    tmp = tempfile.mkdtemp(prefix="wspubsub-conformance-")
    t_start = time.monotonic()
    servers = []
    passed = failed = 0
    try:
        r = harness.RedisServer(tmp).start()
        servers.append(r)
        common = dict(spare_children=4, ping_interval="0",
                      handshake_timeout="10s", log_level="info")
        main_srv = harness.Wspubsub(tmp, r.port, max_message_size="16m",
                                    **common).start()
        servers.append(main_srv)
        small = harness.Wspubsub(tmp, r.port, max_message_size="1k",
                                 **common).start()
        servers.append(small)
        ctx = Ctx(harness, r, {"main": main_srv.port, "small": small.port})
        dead = None
        for cid, desc, fn, _server in cases:
            if dead is None:
                dead = dead_server(r, main_srv, small)
            if dead is not None:
                failed += 1
                print("FAIL %s %s: not run, %s" % (cid, desc, dead),
                      flush=True)
                continue
            t0 = time.monotonic()
            try:
                fn(ctx)
                ok, why = True, ""
            except Fail as e:
                ok, why = False, str(e)
            except socket.timeout:
                ok, why = False, "socket timeout"
            except Exception as e:  # a broken case or connection
                ok, why = False, "%s: %s" % (type(e).__name__, e)
                if args.v:
                    traceback.print_exc()
            dt = time.monotonic() - t0
            timing = " (%.2fs)" % dt if args.v else ""
            if ok:
                passed += 1
                print("PASS %s %s%s" % (cid, desc, timing), flush=True)
            else:
                failed += 1
                print("FAIL %s %s: %s%s" % (cid, desc, why, timing),
                      flush=True)
                dead = dead_server(r, main_srv, small, probe=True)
        if dead is not None:
            for w in (main_srv, small):
                print("---- log of wspubsub on port %d (last 3000 bytes):\n%s"
                      % (w.port, w.log()[-3000:]), flush=True)
        # Every child and both masters stop cleanly; the logs must show no
        # sanitizer report and no child that died abnormally.
        for w in (main_srv, small):
            w.stop()
            log = w.log()
            bad = [b for b in BAD_LOG if b in log]
            if bad:
                failed += 1
                i = log.index(bad[0])
                print("FAIL log of wspubsub on port %d has %r: %s"
                      % (w.port, bad[0], log[max(0, i - 200):i + 800]),
                      flush=True)
    finally:
        for s in reversed(servers):
            try:
                s.stop()
            except Exception:
                pass
        if failed and args.v:
            print("logs kept in %s" % tmp)
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    if args.v:
        print("total %.1fs" % (time.monotonic() - t_start))
    print("%d passed, %d failed" % (passed, failed))
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
