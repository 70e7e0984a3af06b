"""RFC 6455 and HTTP rules, black-box, with raw sockets.

Every test talks to the real binary (and a real redis-server) over
loopback with plain sockets, so any byte can be sent.  Every read is
bounded by a socket timeout.  Each server is started with
max_message_size 1k; at teardown its log must show no sanitizer report and
no child that died abnormally.
"""
import base64
import hashlib
import os
import socket
import time
import uuid

import pytest

from harness import (client_connect, close_code, frame, raw_request,
                     read_frame, read_head, status_of, wait_for, ws_key)

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
TIMEOUT = 5.0          # any single recv
# After its close frame the server closes TCP at once (RFC 6455 7.1.1: the
# server closes first); it lingers 2 s only for a peer that does not, so
# an EOF later than this means it waited for us instead.
EOF_WITHIN = 1.5
MAX = 1024             # max_message_size of the servers under test

OP_CONT, OP_TEXT, OP_BIN, OP_CLOSE, OP_PING, OP_PONG = 0, 1, 2, 8, 9, 10

BAD_LOG = ("AddressSanitizer", "LeakSanitizer", "runtime error:",
           "killed by signal", "exited with status")


# --------------------------------------------------------------- fixtures

@pytest.fixture
def mk(make_server):
    """make_server with the protocol-test defaults and a log check."""
    started = []

    def make(**conf):
        conf.setdefault("max_message_size", "1k")
        conf.setdefault("handshake_timeout", "5s")
        w = make_server(**conf)
        started.append(w)
        return w
    yield make
    for w in started:
        w.stop()
        log = w.log()
        for bad in BAD_LOG:
            assert bad not in log, "server log has %r:\n%s" % (bad, log[-4000:])


@pytest.fixture
def srv(mk):
    return mk()


# ---------------------------------------------------------------- helpers

def accept_of(key):
    if isinstance(key, str):
        key = key.encode()
    return base64.b64encode(hashlib.sha1(key + GUID).digest()).decode()


def headers_of(head):
    """Response header fields, names lowercased (last one wins)."""
    out = {}
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        out[name.strip().lower().decode()] = value.strip().decode()
    return out


def uniq(prefix="u"):
    return "%s%s" % (prefix, uuid.uuid4().hex[:12])


def open_ws(port, user=None):
    """A raw upgraded connection; returns (sock, leftover bytes)."""
    user = user or uniq()
    key = ws_key()
    s = client_connect(("127.0.0.1", port), TIMEOUT)
    s.settimeout(TIMEOUT)
    s.sendall(raw_request("/?user=%s" % user, key=key))
    head, rest = read_head(s)
    assert status_of(head) == 101, head
    assert headers_of(head).get("sec-websocket-accept") == accept_of(key)
    return s, rest


def next_frame(s, buf=b""):
    """read_frame that skips server pings (answered by nobody here)."""
    while True:
        fin, op, payload, buf = read_frame(s, buf)
        if op != OP_PING:
            return fin, op, payload, buf


def wait_eof(s, buf=b"", within=EOF_WITHIN):
    """Assert the server closes TCP within `within` seconds and sends
    nothing more.  Returns how long it took."""
    t0 = time.monotonic()
    assert buf == b"", "bytes after the close frame: %r" % buf[:64]
    s.settimeout(within)
    try:
        while True:
            data = s.recv(4096)
            if not data:
                break
            raise AssertionError("bytes after the close frame: %r" % data[:64])
    except socket.timeout:
        raise AssertionError("server did not close TCP within %.1fs" % within)
    return time.monotonic() - t0


def expect_close(s, code, buf=b""):
    """The next frame is a close with `code`, then EOF."""
    try:
        fin, op, payload, buf = next_frame(s, buf)
    except ConnectionError as e:
        raise AssertionError("connection ended without a close frame (%s)" % e)
    assert op == OP_CLOSE, "expected close %d, got opcode %d %r" % (
        code, op, payload[:40])
    assert fin
    assert close_code(payload) == code, "close code %r, payload %r" % (
        close_code(payload), payload)
    assert len(payload) <= 125
    payload[2:].decode("utf-8")        # the reason is valid UTF-8
    wait_eof(s, buf)
    return payload


def fails_with(port, data, code):
    """Upgrade, send data, expect close `code` then EOF."""
    s, rest = open_ws(port)
    try:
        s.sendall(data)
        expect_close(s, code, rest)
    finally:
        s.close()


def ping_pong(s, buf=b""):
    s.sendall(frame(OP_TEXT, b"ping"))
    fin, op, payload, buf = next_frame(s, buf)
    assert (fin, op, payload) == (True, OP_TEXT, b"pong")
    return buf


def assert_serves(server, redis_server=None):
    """A normal client still gets through: ping/pong, a published message
    and a clean close."""
    user = uniq("ok")
    s, rest = open_ws(server.port, user)
    try:
        rest = ping_pong(s, rest)
        if redis_server is not None:
            assert redis_server.client().publish(user, b"hi") == 1
            fin, op, payload, rest = next_frame(s, rest)
            assert (op, payload) == (OP_TEXT, b"hi")
        s.sendall(frame(OP_CLOSE, (1000).to_bytes(2, "big")))
        expect_close(s, 1000, rest)
    finally:
        s.close()


def http(port, req, timeout=TIMEOUT):
    """Send raw request bytes; returns (status, head) of the response."""
    s = client_connect(("127.0.0.1", port), timeout)
    s.settimeout(timeout)
    try:
        s.sendall(req)
        head, _ = read_head(s)
    finally:
        s.close()
    return status_of(head), head


def request(path="/?user=h", headers=None, key=None, method="GET",
            version="HTTP/1.1"):
    req = raw_request(path, headers, key)
    line, _, rest = req.partition(b"\r\n")
    return ("%s %s %s" % (method, path, version)).encode() + b"\r\n" + rest


def numsub(redis_server, channel):
    return dict(redis_server.client().pubsub_numsub(channel))[channel.encode()]


def mframe(opcode, payload=b"", fin=True, rsv=0, mask=True, b1len=None,
           ext=b""):
    """A frame with a hand-made length field: b1len is the 7-bit length
    value, ext the extended length bytes."""
    b0 = (0x80 if fin else 0) | (rsv << 4) | opcode
    key = os.urandom(4)
    body = bytes(b ^ key[i & 3] for i, b in enumerate(payload))
    return bytes([b0, (0x80 if mask else 0) | b1len]) + ext + key + body


# ------------------------------------------------------- frame errors: 1002

@pytest.mark.parametrize("opcode,payload", [
    (OP_TEXT, b"hello"), (OP_BIN, b"\x00\x01"), (OP_PING, b"p"),
    (OP_CLOSE, (1000).to_bytes(2, "big")), (OP_TEXT, b""),
], ids=["text", "binary", "ping", "close", "empty-text"])
def test_unmasked_frame_is_1002(srv, opcode, payload):
    fails_with(srv.port, frame(opcode, payload, mask=False), 1002)


@pytest.mark.parametrize("rsv", [4, 2, 1, 7], ids=["rsv1", "rsv2", "rsv3", "all"])
@pytest.mark.parametrize("opcode", [OP_TEXT, OP_PING], ids=["text", "ping"])
def test_rsv_bits_are_1002(srv, rsv, opcode):
    fails_with(srv.port, frame(opcode, b"ping", rsv=rsv), 1002)


@pytest.mark.parametrize("opcode", [3, 4, 5, 6, 7, 0xB, 0xC, 0xD, 0xE, 0xF])
def test_reserved_opcode_is_1002(srv, opcode):
    fails_with(srv.port, frame(opcode, b"x"), 1002)


def test_reserved_opcode_inside_message_is_1002(srv):
    fails_with(srv.port, frame(OP_TEXT, b"a", fin=False) + frame(3, b"x"),
               1002)


@pytest.mark.parametrize("opcode", [OP_PING, OP_PONG, OP_CLOSE],
                         ids=["ping", "pong", "close"])
def test_fragmented_control_frame_is_1002(srv, opcode):
    payload = (1000).to_bytes(2, "big") if opcode == OP_CLOSE else b"abc"
    fails_with(srv.port, frame(opcode, payload, fin=False), 1002)


@pytest.mark.parametrize("data", [
    frame(OP_PING, b"x" * 126),
    frame(OP_PONG, b"x" * 126),
    frame(OP_CLOSE, (1000).to_bytes(2, "big") + b"r" * 124),
    frame(OP_PING, b"x" * 200),
    frame(OP_PING, b"x" * 5, length_form=16),
    frame(OP_PING, b"x" * 125, length_form=16),
    frame(OP_PING, b"x" * 5, length_form=64),
], ids=["ping126", "pong126", "close126", "ping200", "ping5-16bit",
        "ping125-16bit", "ping5-64bit"])
def test_oversized_control_frame_is_1002(srv, data):
    fails_with(srv.port, data, 1002)


def test_control_frame_of_125_bytes_is_fine(srv):
    s, rest = open_ws(srv.port)
    with s:
        s.sendall(frame(OP_PING, b"y" * 125))
        fin, op, payload, rest = next_frame(s, rest)
        assert (fin, op, payload) == (True, OP_PONG, b"y" * 125)
        ping_pong(s, rest)


@pytest.mark.parametrize("fin", [True, False], ids=["fin", "nofin"])
def test_continuation_without_start_is_1002(srv, fin):
    fails_with(srv.port, frame(OP_CONT, b"x", fin=fin), 1002)


def test_continuation_after_finished_message_is_1002(srv):
    fails_with(srv.port, frame(OP_TEXT, b"done") + frame(OP_CONT, b"more"),
               1002)


@pytest.mark.parametrize("first", [OP_TEXT, OP_BIN], ids=["in-text", "in-bin"])
@pytest.mark.parametrize("second", [OP_TEXT, OP_BIN], ids=["text", "bin"])
def test_new_data_frame_inside_fragmented_message_is_1002(srv, first, second):
    data = (frame(first, b"ab", fin=False) + frame(OP_CONT, b"cd", fin=False)
            + frame(second, b"ef"))
    fails_with(srv.port, data, 1002)


def test_control_frame_between_fragments_is_fine(srv):
    s, rest = open_ws(srv.port)
    with s:
        s.sendall(frame(OP_TEXT, b"pi", fin=False) + frame(OP_PING, b"mid")
                  + frame(OP_CONT, b"ng"))
        fin, op, payload, rest = next_frame(s, rest)
        assert (op, payload) == (OP_PONG, b"mid")
        fin, op, payload, rest = next_frame(s, rest)
        assert (op, payload) == (OP_TEXT, b"pong")


@pytest.mark.parametrize("before", [b"", frame(OP_PING, b"\x03\xe8")],
                         ids=["alone", "after-ping"])
def test_close_payload_of_length_1_is_1002(srv, before):
    """After a ping whose payload is 03 e8 (1000), a close of one byte 03
    must not be read as code 1000 from stale bytes."""
    s, rest = open_ws(srv.port)
    with s:
        s.sendall(before)
        if before:
            _, op, payload, rest = next_frame(s, rest)
            assert (op, payload) == (OP_PONG, b"\x03\xe8")
        s.sendall(frame(OP_CLOSE, b"\x03"))
        expect_close(s, 1002, rest)


@pytest.mark.parametrize("code", [0, 1, 999, 1004, 1005, 1006, 1015, 1016,
                                  1100, 2000, 2999, 5000, 65535])
def test_invalid_close_code_is_1002(srv, code):
    fails_with(srv.port, frame(OP_CLOSE, code.to_bytes(2, "big")), 1002)


@pytest.mark.parametrize("ext", [
    b"\x80" + b"\x00" * 7,
    b"\x80" + b"\x00" * 6 + b"\x05",
    b"\xff" * 8,
], ids=["top-bit", "top-bit-small", "all-ones"])
def test_64bit_length_with_top_bit_is_1002(srv, ext):
    fails_with(srv.port, mframe(OP_BIN, b"", b1len=127, ext=ext), 1002)


@pytest.mark.parametrize("data", [
    frame(OP_TEXT, b"x" * 5, length_form=16),
    frame(OP_TEXT, b"x" * 125, length_form=16),
    frame(OP_BIN, b"x" * 5, length_form=64),
    frame(OP_BIN, b"x" * 200, length_form=64),
    mframe(OP_BIN, b"", b1len=126, ext=b"\x00\x00"),
], ids=["5-in-16bit", "125-in-16bit", "5-in-64bit", "200-in-64bit",
        "0-in-16bit"])
def test_non_minimal_length_is_1002(srv, data):
    fails_with(srv.port, data, 1002)


def test_bad_frame_byte_by_byte_is_1002(srv):
    """The parser fails as soon as the deciding byte is in."""
    s, rest = open_ws(srv.port)
    with s:
        s.sendall(frame(OP_TEXT, b"pi", fin=False))
        # fin + reserved opcode 5 and a masked length: no mask key, no
        # payload follows, the two bytes decide it
        s.sendall(bytes([0x80 | 0x5, 0x80 | 0x10]))
        expect_close(s, 1002, rest)


# ---------------------------------------------------------- valid closes

@pytest.mark.parametrize("code", [1000, 1001, 1002, 1003, 1007, 1008, 1009,
                                  1010, 1011, 1012, 1013, 1014, 3000, 4000,
                                  4999])
def test_valid_close_code_is_echoed(srv, code):
    s, rest = open_ws(srv.port)
    with s:
        s.sendall(frame(OP_CLOSE, code.to_bytes(2, "big") + "bye é".encode()))
        expect_close(s, code, rest)


def test_close_code_without_reason_is_echoed(srv):
    s, rest = open_ws(srv.port)
    with s:
        s.sendall(frame(OP_CLOSE, (3001).to_bytes(2, "big")))
        expect_close(s, 3001, rest)


def test_unsolicited_pong_is_ignored(srv):
    s, rest = open_ws(srv.port)
    with s:
        s.sendall(frame(OP_PONG, b"unasked") + frame(OP_PONG, b""))
        ping_pong(s, rest)


def test_empty_close_is_answered(srv):
    s, rest = open_ws(srv.port)
    with s:
        s.sendall(frame(OP_CLOSE, b""))
        fin, op, payload, rest = next_frame(s, rest)
        assert op == OP_CLOSE
        assert payload == b"" or close_code(payload) == 1000, payload
        assert close_code(payload) not in (1005, 1006)
        wait_eof(s, rest)


def test_close_after_message_with_first_frame_is_echoed(srv):
    """Text, ping and close in one segment: answered in order."""
    s, rest = open_ws(srv.port)
    with s:
        s.sendall(frame(OP_TEXT, b"ping") + frame(OP_PING, b"1")
                  + frame(OP_CLOSE, (1000).to_bytes(2, "big")))
        _, op, payload, rest = next_frame(s, rest)
        assert (op, payload) == (OP_TEXT, b"pong")
        _, op, payload, rest = next_frame(s, rest)
        assert (op, payload) == (OP_PONG, b"1")
        expect_close(s, 1000, rest)


# ----------------------------------------------------------- UTF-8: 1007

@pytest.mark.parametrize("payload", [
    b"\xff", b"abc\x80", b"\xc0\xaf", b"\xe0\x80\xaf", b"\xed\xa0\x80",
    b"\xf4\x90\x80\x80", b"\xf5\x80\x80\x80", b"ok\xe2\x28\xa1ok",
], ids=["ff", "lone-cont", "overlong2", "overlong3", "surrogate",
        "above-10ffff", "f5", "bad-cont"])
def test_invalid_utf8_text_is_1007(srv, payload):
    fails_with(srv.port, frame(OP_TEXT, payload), 1007)


def test_invalid_utf8_in_second_fragment_fails_fast(srv):
    """No final fragment is ever sent: the server must fail on the bad one."""
    s, rest = open_ws(srv.port)
    with s:
        s.sendall(frame(OP_TEXT, b"hello", fin=False))
        time.sleep(0.05)
        s.sendall(frame(OP_CONT, b" w\xffrld", fin=False))
        expect_close(s, 1007, rest)


def test_invalid_utf8_fails_fast_within_a_frame(srv):
    """Only part of a frame's payload is sent; the bad byte is in it."""
    s, rest = open_ws(srv.port)
    with s:
        data = frame(OP_TEXT, b"abc\xc0" + b"x" * 500)
        s.sendall(data[:6 + 8])            # header, mask key, 8 bytes
        expect_close(s, 1007, rest)


def test_invalid_sequence_split_across_fragments_is_1007(srv):
    """\\xe0 then \\x80: overlong, impossible from the 2nd fragment's first
    byte."""
    s, rest = open_ws(srv.port)
    with s:
        s.sendall(frame(OP_TEXT, b"a\xe0", fin=False))
        s.sendall(frame(OP_CONT, b"\x80", fin=False))
        expect_close(s, 1007, rest)


@pytest.mark.parametrize("frames", [
    [(OP_TEXT, b"ab\xe2\x82", True)],
    [(OP_TEXT, b"ab", False), (OP_CONT, b"\xf0\x9f\x98", True)],
    [(OP_TEXT, b"\xe2", False), (OP_CONT, b"\x82", False), (OP_CONT, b"", True)],
], ids=["single", "fragments", "empty-final"])
def test_truncated_sequence_at_end_of_message_is_1007(srv, frames):
    fails_with(srv.port, b"".join(frame(op, p, fin=f) for op, p, f in frames),
               1007)


@pytest.mark.parametrize("reason", [b"\xff", b"ok\xe2\x82", b"\xed\xa0\x80"],
                         ids=["ff", "truncated", "surrogate"])
def test_invalid_utf8_in_close_reason_is_1007(srv, reason):
    fails_with(srv.port, frame(OP_CLOSE, (1000).to_bytes(2, "big") + reason),
               1007)


def test_binary_message_is_not_utf8_checked(srv):
    s, rest = open_ws(srv.port)
    with s:
        s.sendall(frame(OP_BIN, b"\xff\xfe\xc0"))
        ping_pong(s, rest)


@pytest.mark.parametrize("pieces", [
    [b"a\xe2", b"\x82", b"\xac"],                 # euro sign, byte by byte
    [b"\xf0\x9f", b"\x98\x80 ok"],                # 4-byte emoji
    [b"\xc3", b"\xa9"],                           # e acute
    [b"", b"\xe2\x82", b"", b"\xacx"],           # empty fragments
], ids=["euro", "emoji", "2byte", "empty-fragments"])
def test_valid_utf8_split_mid_character_is_accepted(srv, pieces):
    s, rest = open_ws(srv.port)
    with s:
        for i, p in enumerate(pieces):
            op = OP_TEXT if i == 0 else OP_CONT
            s.sendall(frame(op, p, fin=i == len(pieces) - 1))
            time.sleep(0.01)
        ping_pong(s, rest)


def test_fragmented_ping_text_gets_pong(srv):
    s, rest = open_ws(srv.port)
    with s:
        s.sendall(frame(OP_TEXT, b"p", fin=False) + frame(OP_CONT, b"in", fin=False)
                  + frame(OP_CONT, b"g"))
        _, op, payload, rest = next_frame(s, rest)
        assert (op, payload) == (OP_TEXT, b"pong")


# --------------------------------------------------------- too big: 1009

@pytest.mark.parametrize("opcode", [OP_TEXT, OP_BIN], ids=["text", "binary"])
def test_single_frame_over_max_is_1009(srv, opcode):
    fails_with(srv.port, frame(opcode, b"a" * (MAX + 1)), 1009)


def test_huge_declared_length_is_1009_before_payload(srv):
    """A 64-bit length far over the cap fails at the header."""
    fails_with(srv.port, mframe(OP_BIN, b"", b1len=127,
                                ext=(1 << 40).to_bytes(8, "big")), 1009)


@pytest.mark.parametrize("sizes", [[400, 400, 225], [1024, 1], [1, 1024],
                                   [600, 0, 600]])
def test_fragments_over_max_are_1009(srv, sizes):
    data = b"".join(frame(OP_TEXT if i == 0 else OP_CONT, b"b" * n,
                          fin=i == len(sizes) - 1)
                    for i, n in enumerate(sizes))
    fails_with(srv.port, data, 1009)


def test_fragments_over_max_fail_before_final(srv):
    s, rest = open_ws(srv.port)
    with s:
        s.sendall(frame(OP_BIN, b"c" * 700, fin=False))
        s.sendall(frame(OP_CONT, b"c" * 700, fin=False))
        expect_close(s, 1009, rest)


@pytest.mark.parametrize("sizes", [[MAX], [500, 524], [1, 0, 1023]],
                         ids=["one-frame", "two", "three"])
def test_message_of_exactly_max_is_accepted(srv, sizes):
    s, rest = open_ws(srv.port)
    with s:
        for i, n in enumerate(sizes):
            s.sendall(frame(OP_TEXT if i == 0 else OP_CONT, b"d" * n,
                            fin=i == len(sizes) - 1))
        # the cap is per message: a second full-size message is fine too
        s.sendall(frame(OP_BIN, b"e" * MAX))
        ping_pong(s, rest)


# ----------------------------------------- after the server's close frame

def test_data_after_server_close_is_harmless(srv, redis_server):
    user = uniq("after")
    s, rest = open_ws(srv.port, user)
    with s:
        assert numsub(redis_server, user) == 1
        s.sendall(frame(OP_TEXT, b"x", mask=False))
        fin, op, payload, rest = next_frame(s, rest)
        assert op == OP_CLOSE and close_code(payload) == 1002
        # The peer keeps talking: more frames, garbage, even a close.
        try:
            s.sendall(frame(OP_TEXT, b"ping") + os.urandom(3000)
                      + frame(OP_CLOSE, (1000).to_bytes(2, "big")))
        except OSError:
            pass
        s.settimeout(EOF_WITHIN)
        try:
            while s.recv(4096):
                pass
        except ConnectionResetError:
            pass
    wait_for(lambda: numsub(redis_server, user) == 0, timeout=5,
             what="NUMSUB %s back to 0" % user)
    assert_serves(srv, redis_server)


def test_data_after_client_close_is_ignored(srv, redis_server):
    """After its own close the client sends more; the server only echoes the
    close and leaves."""
    user = uniq("after")
    s, rest = open_ws(srv.port, user)
    with s:
        s.sendall(frame(OP_CLOSE, (1000).to_bytes(2, "big"))
                  + frame(OP_TEXT, b"ping") + frame(OP_PING, b"z"))
        expect_close(s, 1000, rest)
    wait_for(lambda: numsub(redis_server, user) == 0, timeout=5,
             what="NUMSUB %s back to 0" % user)


def test_child_exits_after_protocol_error(srv, redis_server):
    user = uniq("err")
    s, rest = open_ws(srv.port, user)
    with s:
        assert numsub(redis_server, user) == 1
        s.sendall(frame(7, b""))
        expect_close(s, 1002, rest)
    wait_for(lambda: numsub(redis_server, user) == 0, timeout=5,
             what="NUMSUB %s back to 0" % user)
    assert_serves(srv, redis_server)


def test_abrupt_disconnect_mid_frame(srv, redis_server):
    user = uniq("cut")
    s, rest = open_ws(srv.port, user)
    assert numsub(redis_server, user) == 1
    s.sendall(frame(OP_TEXT, b"z" * 500)[:100])
    s.close()
    wait_for(lambda: numsub(redis_server, user) == 0, timeout=5,
             what="NUMSUB %s back to 0" % user)
    assert_serves(srv, redis_server)


# ------------------------------------------------------------------ HTTP

@pytest.mark.parametrize("method", ["POST", "PUT", "HEAD", "DELETE"])
def test_method_other_than_get_is_405(srv, method):
    status, head = http(srv.port, request(method=method))
    assert status == 405, head


@pytest.mark.parametrize("headers", [
    {"Upgrade": None},
    {"Upgrade": "h2c"},
    {"Upgrade": "websocketx"},
    {"Connection": None},
    {"Connection": "keep-alive"},
    {"Connection": "Upgrade-Insecure"},
], ids=["no-upgrade", "upgrade-h2c", "upgrade-prefix", "no-connection",
        "connection-keep-alive", "connection-no-token"])
def test_bad_upgrade_or_connection_is_400(srv, headers):
    status, head = http(srv.port, request(headers=headers))
    assert status == 400, head


@pytest.mark.parametrize("headers", [
    {"Connection": "keep-alive, Upgrade"},
    {"Connection": "Upgrade,keep-alive"},
    {"Connection": "UPGRADE"},
    {"Upgrade": "WebSocket"},
], ids=["keep-alive-upgrade", "upgrade-keep-alive", "upper", "mixed-upgrade"])
def test_token_lists_are_accepted(srv, headers):
    key = ws_key()
    s = client_connect(("127.0.0.1", srv.port), TIMEOUT)
    with s:
        s.settimeout(TIMEOUT)
        s.sendall(request(headers=headers, key=key))
        head, rest = read_head(s)
        assert status_of(head) == 101, head
        assert headers_of(head)["sec-websocket-accept"] == accept_of(key)
        ping_pong(s, rest)


@pytest.mark.parametrize("key", [
    None,
    "",
    "!!!!!!!!!!!!!!!!!!!!!!==",
    "not base64 at all",
    base64.b64encode(b"k" * 15).decode(),
    base64.b64encode(b"k" * 17).decode(),
    base64.b64encode(b"k" * 16).decode().rstrip("="),
    base64.b64encode(b"k" * 32).decode(),
], ids=["missing", "empty", "bad-chars", "text", "15-bytes", "17-bytes",
        "no-padding", "32-bytes"])
def test_bad_sec_websocket_key_is_400(srv, key):
    req = request(headers={"Sec-WebSocket-Key": key})
    status, head = http(srv.port, req)
    assert status == 400, head


@pytest.mark.parametrize("version", ["8", "14", "12", "13, 8"])
def test_other_version_is_426(srv, version):
    status, head = http(srv.port, request(
        headers={"Sec-WebSocket-Version": version}))
    assert status == 426, head
    assert headers_of(head).get("sec-websocket-version") == "13", head


def test_missing_version_is_rejected(srv):
    status, head = http(srv.port, request(
        headers={"Sec-WebSocket-Version": None}))
    assert status in (400, 426), head


def test_missing_host_is_400(srv):
    status, head = http(srv.port, request(headers={"Host": None}))
    assert status == 400, head


@pytest.mark.parametrize("version", ["HTTP/1.0", "HTTP/0.9", "HTTP/2.0",
                                     "FOO/1.1"])
def test_http_version_other_than_1_1_is_400(srv, version):
    status, head = http(srv.port, request(version=version))
    assert status == 400, head


def test_odd_case_header_names_are_accepted(srv):
    key = ws_key()
    req = ("GET /?user=OddCase HTTP/1.1\r\n"
           "hOST: 127.0.0.1\r\n"
           "uPGRADE: WebSocket\r\n"
           "cOnNeCtIoN: uPgRaDe\r\n"
           "sEC-wEBsOCKET-kEY: %s\r\n"
           "SEC-WEBSOCKET-VERSION: 13\r\n\r\n" % key).encode()
    s = client_connect(("127.0.0.1", srv.port), TIMEOUT)
    with s:
        s.settimeout(TIMEOUT)
        s.sendall(req)
        head, rest = read_head(s)
        assert status_of(head) == 101, head
        h = headers_of(head)
        assert h["sec-websocket-accept"] == accept_of(key)
        assert h["upgrade"].lower() == "websocket"
        assert "upgrade" in h["connection"].lower()
        ping_pong(s, rest)


def test_rfc_sample_key_accept(srv):
    """RFC 6455 section 1.3's example."""
    key = "dGhlIHNhbXBsZSBub25jZQ=="
    s = client_connect(("127.0.0.1", srv.port), TIMEOUT)
    with s:
        s.settimeout(TIMEOUT)
        s.sendall(request(key=key))
        head, rest = read_head(s)
        assert status_of(head) == 101, head
        assert headers_of(head)["sec-websocket-accept"] == \
            "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="


def padded_request(size, in_path=False):
    """An upgrade request whose head is exactly `size` bytes."""
    if in_path:
        base = request(path="/?user=pad&x=")
        path = "/?user=pad&x=" + "q" * (size - len(base))
        req = request(path=path)
    else:
        base = request().replace(b"\r\n\r\n", b"\r\nX-Pad: \r\n\r\n")
        req = base.replace(b"X-Pad: ", b"X-Pad: " + b"p" * (size - len(base)))
    assert len(req) == size
    return req


@pytest.mark.parametrize("size,in_path", [(9000, False), (9000, True),
                                          (8193, False), (64 * 1024, False)],
                         ids=["9000-header", "9000-path", "8193", "64k"])
def test_head_over_8k_is_431(srv, size, in_path):
    status, head = http(srv.port, padded_request(size, in_path))
    assert status == 431, head
    assert_serves(srv)


@pytest.mark.parametrize("size", [8000, 8192])
def test_head_up_to_8k_is_accepted(srv, size):
    s = client_connect(("127.0.0.1", srv.port), TIMEOUT)
    with s:
        s.settimeout(TIMEOUT)
        # with a first frame right behind the head
        s.sendall(padded_request(size) + frame(OP_TEXT, b"ping"))
        head, rest = read_head(s)
        assert status_of(head) == 101, head
        _, op, payload, rest = next_frame(s, rest)
        assert (op, payload) == (OP_TEXT, b"pong")


def test_head_one_byte_at_a_time(srv):
    key = ws_key()
    req = request(key=key)
    s = client_connect(("127.0.0.1", srv.port), TIMEOUT)
    with s:
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        s.settimeout(TIMEOUT)
        for i in range(len(req)):
            s.send(req[i:i + 1])
            time.sleep(0.002)
        head, rest = read_head(s)
        assert status_of(head) == 101, head
        assert headers_of(head)["sec-websocket-accept"] == accept_of(key)
        ping_pong(s, rest)


def test_frames_one_byte_at_a_time(srv):
    s, rest = open_ws(srv.port)
    with s:
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        data = (frame(OP_TEXT, b"pi", fin=False) + frame(OP_PING, b"x" * 3)
                + frame(OP_CONT, b"ng"))
        for i in range(len(data)):
            s.send(data[i:i + 1])
            time.sleep(0.002)
        _, op, payload, rest = next_frame(s, rest)
        assert (op, payload) == (OP_PONG, b"xxx")
        _, op, payload, rest = next_frame(s, rest)
        assert (op, payload) == (OP_TEXT, b"pong")


def test_request_and_first_frame_in_one_send(srv):
    key = ws_key()
    s = client_connect(("127.0.0.1", srv.port), TIMEOUT)
    with s:
        s.settimeout(TIMEOUT)
        s.sendall(request(key=key) + frame(OP_TEXT, b"ping")
                  + frame(OP_PING, b"q"))
        head, rest = read_head(s)
        assert status_of(head) == 101, head
        assert headers_of(head)["sec-websocket-accept"] == accept_of(key)
        _, op, payload, rest = next_frame(s, rest)
        assert (op, payload) == (OP_TEXT, b"pong")
        _, op, payload, rest = next_frame(s, rest)
        assert (op, payload) == (OP_PONG, b"q")


def test_request_and_bad_frame_in_one_send(srv):
    s = client_connect(("127.0.0.1", srv.port), TIMEOUT)
    with s:
        s.settimeout(TIMEOUT)
        s.sendall(request() + frame(OP_TEXT, b"x", mask=False))
        head, rest = read_head(s)
        assert status_of(head) == 101, head
        expect_close(s, 1002, rest)


def test_request_and_close_in_one_send(srv):
    s = client_connect(("127.0.0.1", srv.port), TIMEOUT)
    with s:
        s.settimeout(TIMEOUT)
        s.sendall(request() + frame(OP_CLOSE, (4001).to_bytes(2, "big")))
        head, rest = read_head(s)
        assert status_of(head) == 101, head
        expect_close(s, 4001, rest)


@pytest.mark.parametrize("partial", [
    b"",
    b"GET /?user=slow HTTP/1.1\r\nHost: 127.0.0.1\r\n",
    b"GET /?user=slow HT",
], ids=["nothing", "no-blank-line", "half-request-line"])
def test_no_complete_head_within_handshake_timeout(mk, partial):
    w = mk(handshake_timeout="1s")
    s = client_connect(("127.0.0.1", w.port), TIMEOUT)
    with s:
        t0 = time.monotonic()
        if partial:
            s.sendall(partial)
        s.settimeout(4.0)
        got = b""
        try:
            while True:
                data = s.recv(4096)
                if not data:
                    break
                got += data
        except socket.timeout:
            raise AssertionError("connection still open after %.1fs"
                                 % (time.monotonic() - t0))
        except ConnectionResetError:
            pass
        elapsed = time.monotonic() - t0
    assert not got.startswith(b"HTTP/1.1 101"), got
    assert 0.5 <= elapsed <= 3.0, "closed after %.2fs" % elapsed
    assert_serves(w)


def test_slow_but_complete_head_is_accepted(mk):
    """The deadline is for the whole head: trickling it well inside the
    timeout works."""
    w = mk(handshake_timeout="2s")
    req = request()
    s = client_connect(("127.0.0.1", w.port), TIMEOUT)
    with s:
        s.settimeout(TIMEOUT)
        for part in (req[:20], req[20:60], req[60:]):
            s.sendall(part)
            time.sleep(0.3)
        head, rest = read_head(s)
        assert status_of(head) == 101, head
        ping_pong(s, rest)


TLS_HELLO = bytes.fromhex(
    "16030100a5010000a10303") + bytes(range(0x20, 0x40)) + \
    bytes.fromhex("00000813021303130100ff010000700000000e000c0000096c6f63616c"
                  "686f7374000b000403000102000a000c000a001d0017001e0019001800"
                  "230000001600000017000000") + b"\x17" * 40


@pytest.mark.parametrize("junk", [
    TLS_HELLO,
    TLS_HELLO + b"\r\n\r\n",
    b"\x00\x01\x02\x03\r\n\r\n",
    b"SSH-2.0-OpenSSH_9.2\r\n\r\n",
    b"GET\r\n\r\n",
    b"GET / HTTP/1.1\r\nno colon here\r\n\r\n",
], ids=["tls-hello", "tls-hello-crlf", "binary-crlf", "ssh", "bare-get",
        "header-without-colon"])
def test_non_http_request_is_refused(mk, redis_server, junk):
    w = mk(handshake_timeout="1s")
    s = client_connect(("127.0.0.1", w.port), TIMEOUT)
    with s:
        s.sendall(junk)
        # the server serves others while this one is pending
        assert_serves(w)
        s.settimeout(4.0)
        got = b""
        try:
            while True:
                data = s.recv(4096)
                if not data:
                    break
                got += data
        except socket.timeout:
            raise AssertionError("connection still open")
        except ConnectionResetError:
            pass
    assert got == b"" or status_of(got.split(b"\r\n\r\n")[0]) == 400, got[:200]
    if junk.endswith(b"\r\n\r\n"):
        assert got.startswith(b"HTTP/1.1 400"), got[:200]
    assert_serves(w, redis_server)


def test_healthz_still_works_after_bad_clients(srv, redis_server):
    for data in (frame(OP_TEXT, b"x", mask=False), frame(5, b""),
                 frame(OP_TEXT, b"\xff")):
        s, rest = open_ws(srv.port)
        with s:
            s.sendall(data)
            next_frame(s, rest)
    status, head = http(srv.port, b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
    assert status == 200, head
    assert_serves(srv, redis_server)
