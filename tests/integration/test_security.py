"""Security: JWT authentication, the Origin allow-list, TLS
listeners, privilege drop and Redis credentials.

Everything runs on loopback with private redis-server and wspubsub
processes; keys and certificates are made with the openssl command in the
test's temporary directory.  Every wait is bounded.  These tests pass in
both modes of the suite (ws:// and, with WSPUBSUB_TLS=1, wss://): the TLS
tests configure their own "listen ... tls" and certificates.
"""
import asyncio
import base64
import grp
import hashlib
import hmac
import json
import os
import pwd
import re
import signal
import socket
import ssl
import subprocess
import threading
import time
import warnings

import pytest
import redis
import websockets

import tls as tlsmod
from harness import (BINARY, RedisServer, Wspubsub, free_port, raw_connect,
                     raw_request, read_head, status_of, wait_for)

T = 5.0                                   # bound on every single wait
SECRET = "0123456789abcdef0123456789abcdef-test-secret"   # 44 bytes
OP_TEXT, OP_CLOSE = 0x1, 0x8


# ------------------------------------------------------------------ tokens

def b64u(data):
    if isinstance(data, str):
        data = data.encode()
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def enc(obj):
    return b64u(json.dumps(obj, separators=(",", ":")))


def claims_for(sub="alice", life=300, **extra):
    now = int(time.time())
    c = {"sub": sub, "iat": now, "exp": now + life}
    c.update(extra)
    return {k: v for k, v in c.items() if v is not None}


def hs256(claims, secret=SECRET, header=None):
    if isinstance(secret, str):
        secret = secret.encode()
    h = header or {"alg": "HS256", "typ": "JWT"}
    signing = enc(h) + "." + enc(claims)
    sig = hmac.new(secret, signing.encode(), hashlib.sha256).digest()
    return signing + "." + b64u(sig)


def der_to_raw(der, n=32):
    """ECDSA-Sig-Value (DER SEQUENCE of two INTEGERs) -> R || S."""
    assert der[0] == 0x30, "not a DER sequence"
    i = 2 if der[1] < 0x80 else 2 + (der[1] & 0x7f)
    out = b""
    for _ in range(2):
        assert der[i] == 0x02, "not a DER integer"
        ln = der[i + 1]
        v = der[i + 2:i + 2 + ln].lstrip(b"\0")
        assert len(v) <= n
        out += v.rjust(n, b"\0")
        i += 2 + ln
    return out


def openssl_sign(key, data, tmpdir):
    path = os.path.join(tmpdir, "signing-input")
    with open(path, "wb") as f:
        f.write(data)
    return tlsmod.openssl("dgst", "-sha256", "-sign", key, path)


def rs256(claims, key, tmpdir):
    signing = enc({"alg": "RS256", "typ": "JWT"}) + "." + enc(claims)
    return signing + "." + b64u(openssl_sign(key, signing.encode(), tmpdir))


def es256(claims, key, tmpdir):
    signing = enc({"alg": "ES256", "typ": "JWT"}) + "." + enc(claims)
    der = openssl_sign(key, signing.encode(), tmpdir)
    return signing + "." + b64u(der_to_raw(der))


def public_pem(key, out):
    tlsmod.openssl("pkey", "-in", key, "-pubout", "-out", out)
    return out


@pytest.fixture
def rsa_keys(tmpdir_):
    key = tlsmod.make_key(os.path.join(tmpdir_, "jwt-rsa.key"), "rsa")
    return key, public_pem(key, os.path.join(tmpdir_, "jwt-rsa.pub"))


@pytest.fixture
def ec_keys(tmpdir_):
    key = tlsmod.make_key(os.path.join(tmpdir_, "jwt-ec.key"), "ec")
    return key, public_pem(key, os.path.join(tmpdir_, "jwt-ec.pub"))


# ------------------------------------------------------------------ helpers

def answer(port, path, headers=None, timeout=T):
    """Send an upgrade request; returns (status, head, body).  The body of
    a refusal is read up to the server's EOF."""
    s, head, rest = raw_connect(port, path, headers, timeout=timeout)
    try:
        st = status_of(head)
        body = rest
        if st != 101:
            end = time.monotonic() + timeout
            while time.monotonic() < end:
                try:
                    chunk = s.recv(4096)
                except (ConnectionError, ssl.SSLError, socket.timeout):
                    break
                if not chunk:
                    break
                body += chunk
        return st, head, body
    finally:
        s.close()


def header(head, name):
    for line in head.split(b"\r\n")[1:]:
        k, _, v = line.partition(b":")
        if k.strip().lower() == name.lower().encode():
            return v.strip().decode()
    return None


def log_wait(w, pattern, timeout=T):
    return wait_for(lambda: re.search(pattern, w.log(), re.M), timeout,
                    what="log line /%s/ in %s" % (pattern, w.log_path))


def arun(coro, timeout=60):
    return asyncio.run(asyncio.wait_for(coro, timeout))


def ws_connect(url, **kw):
    kw.setdefault("open_timeout", T)
    kw.setdefault("close_timeout", T)
    kw.setdefault("ping_interval", None)
    return websockets.connect(url, **kw)


def wait_subscribed(r, channel):
    wait_for(lambda: r.pubsub_numsub(channel)[0][1] >= 1, T,
             what="a subscriber on %s" % channel)
    time.sleep(0.1)


async def deliver(url, r, channel, **kw):
    """Connect, check a message published to channel arrives."""
    async with ws_connect(url, **kw) as ws:
        await asyncio.get_running_loop().run_in_executor(
            None, wait_subscribed, r, channel)
        r.publish(channel, "hello " + channel)
        msg = await asyncio.wait_for(ws.recv(), T)
        assert msg == "hello " + channel


@pytest.fixture
def auth_server(make_server):
    def make(**conf):
        conf.setdefault("jwt_secret", SECRET)
        return make_server(**conf)
    return make


# ===================================================================== JWT

def test_jwt_valid_token_in_query_delivers_to_sub_channel(auth_server,
                                                          redis_server):
    w = auth_server()
    tok = hs256(claims_for("Alice.Query"))
    arun(deliver(w.url + "/?token=" + tok, redis_server.client(),
                 "alice.query"))
    log_wait(w, r"auth: token for Alice\.Query")


def test_jwt_valid_token_in_authorization_header(auth_server, redis_server):
    w = auth_server()
    tok = hs256(claims_for("Bob_Hdr"))
    arun(deliver(w.url + "/", redis_server.client(), "bob_hdr",
                 extra_headers={"Authorization": "Bearer " + tok}))


def test_jwt_no_token_is_401_with_www_authenticate(auth_server):
    w = auth_server()
    for path in ("/", "/?user=alice"):
        st, head, body = answer(w.port, path)
        assert st == 401, head
        assert (header(head, "WWW-Authenticate") or "").startswith("Bearer"), head
    log_wait(w, r"auth: no token")


def test_jwt_authorization_not_bearer_is_401(auth_server):
    w = auth_server()
    tok = hs256(claims_for("alice"))
    st, head, _ = answer(w.port, "/", {"Authorization": "Basic " + tok})
    assert st == 401, head


def bad_tokens(tmpdir, rsa_pub=None):
    """(name, token, log reason) of tokens the HS256 server must refuse."""
    now = int(time.time())
    good = hs256(claims_for("alice"))
    h, p, s = good.split(".")
    out = [
        ("expired", hs256({"sub": "alice", "exp": now - 40}), "token expired"),
        ("no exp", hs256({"sub": "alice", "iat": now}), "exp missing"),
        ("nbf future", hs256(claims_for("alice", nbf=now + 120)),
         "token not yet valid"),
        ("iat future", hs256(claims_for("alice", iat=now + 120)),
         "token issued in the future"),
        ("wrong signature", hs256(claims_for("alice"), secret="x" * 44),
         "bad signature|signature check failed"),
        ("tampered payload", h + "." + enc(claims_for("mallory")) + "." + s,
         "bad signature|signature check failed"),
        ("alg none", enc({"alg": "none", "typ": "JWT"}) + "." +
         enc(claims_for("alice")) + ".", "alg not allowed|empty token part"),
        ("alg none signed", enc({"alg": "none"}) + "." +
         enc(claims_for("alice")) + "." + s, "alg not allowed"),
        ("alg missing", hs256(claims_for("alice"), header={"typ": "JWT"}),
         "alg missing"),
        ("alg HS512", hs256(claims_for("alice"), header={"alg": "HS512"}),
         "alg not allowed"),
        ("sub slash", hs256(claims_for("al/ice")), "sub not a valid user name"),
        ("sub space", hs256(claims_for("al ice")), "sub not a valid user name"),
        ("sub empty", hs256(claims_for("")), "sub not a valid user name"),
        ("sub 129", hs256(claims_for("a" * 129)), "sub not a valid user name"),
        ("sub non-ascii", hs256(claims_for("\u00e9l\u00e8ve")),
         "sub not a valid user name"),
        ("sub number", hs256({"sub": 42, "exp": now + 300}),
         "sub not a valid user name"),
        ("sub missing", hs256({"exp": now + 300}), "sub missing"),
        ("bad base64 header", "!!!." + p + "." + s, "bad base64url"),
        ("bad base64 payload", h + ".a$b." + s,
         "bad base64url|bad signature|signature check failed"),
        ("padding", h + "=." + p + "." + s, "bad base64url"),
        ("two parts", h + "." + p, "not three parts"),
        ("four parts", good + ".x", "bad base64url|not three parts"),
        ("header not json", b64u("{alg:HS256") + "." + p + "." + s,
         "bad header JSON"),
        ("payload not json", hs256_raw(b64u("{\"sub\":\"alice\""))[0],
         "bad payload JSON"),
        ("payload array", hs256_raw(b64u("[1,2]"))[0],
         "payload not an object"),
        ("duplicate sub", hs256_raw(b64u(
            '{"sub":"alice","sub":"root","exp":%d}' % (now + 300)))[0],
         "bad payload JSON"),
        ("exp string", hs256({"sub": "alice", "exp": str(now + 300)}),
         "exp not a number"),
    ]
    if rsa_pub:
        with open(rsa_pub, "rb") as f:
            pem = f.read()
        out.append(("alg confusion", hs256(claims_for("alice"), secret=pem),
                    "bad signature|signature check failed"))
    return out


def hs256_raw(payload_b64, secret=SECRET):
    signing = enc({"alg": "HS256", "typ": "JWT"}) + "." + payload_b64
    sig = hmac.new(secret.encode(), signing.encode(), hashlib.sha256).digest()
    return signing + "." + b64u(sig), signing


def test_jwt_bad_tokens_are_401_same_body_reason_logged(auth_server, tmpdir_,
                                                       rsa_keys):
    w = auth_server()
    bodies = set()
    for name, tok, reason in bad_tokens(tmpdir_, rsa_keys[1]):
        before = len(w.log())
        for how in ("query", "header"):
            if how == "query":
                st, head, body = answer(w.port, "/?token=" + tok)
            else:
                st, head, body = answer(w.port, "/", {
                    "Authorization": "Bearer " + tok})
            assert st == 401, (name, how, head)
            assert (header(head, "WWW-Authenticate") or "").startswith(
                "Bearer"), (name, head)
            bodies.add(body)
            # No reason leaks into the answer.
            for word in ("expired", "signature", "alg", "sub", "base64",
                         "JSON", "nbf", "iat"):
                assert word.lower() not in (head + body).decode(
                    errors="replace").lower(), (name, head, body)
        wait_for(lambda: len(re.findall(r"auth: (%s)" % reason,
                                        w.log()[before:])) >= 2, T,
                 what="log reason /%s/ for %s" % (reason, name))
    st, head, body = answer(w.port, "/")       # no token at all
    assert st == 401
    bodies.add(body)
    assert len(bodies) == 1, bodies


def test_jwt_leeway(auth_server, redis_server):
    w = auth_server(jwt_leeway="30s")
    now = int(time.time())
    # Expired 10 s ago: inside the 30 s leeway.
    st, head, _ = answer(w.port, "/?token=" + hs256(
        {"sub": "lee", "exp": now - 10}))
    assert st == 101, head
    # nbf and iat 10 s ahead: inside the leeway too.
    st, head, _ = answer(w.port, "/?token=" + hs256(
        claims_for("lee", nbf=now + 10, iat=now + 10)))
    assert st == 101, head
    # Beyond it.
    for c in ({"sub": "lee", "exp": now - 60},
              claims_for("lee", nbf=now + 60),
              claims_for("lee", iat=now + 60)):
        st, head, _ = answer(w.port, "/?token=" + hs256(c))
        assert st == 401, (c, head)


def test_jwt_zero_leeway(auth_server):
    w = auth_server(jwt_leeway="0")
    now = int(time.time())
    st, head, _ = answer(w.port, "/?token=" + hs256(
        {"sub": "lee", "exp": now - 2}))
    assert st == 401, head
    st, head, _ = answer(w.port, "/?token=" + hs256(
        claims_for("lee", nbf=now + 3)))
    assert st == 401, head


@pytest.mark.parametrize("where", ["query", "header"])
def test_jwt_token_of_100k_is_refused(auth_server, where):
    w = auth_server()
    big = hs256(claims_for("alice", pad="x" * 100000))
    assert len(big) > 100000
    if where == "query":
        path, hdrs = "/?token=" + big, None
    else:
        path, hdrs = "/", {"Authorization": "Bearer " + big}
    try:
        st, head, _ = answer(w.port, path, hdrs)
    except (ConnectionError, ssl.SSLError):
        st, head = None, b"(reset)"
    assert st != 101, head
    assert st in (401, 431, None), head
    # The server is fine afterwards.
    st, head, _ = answer(w.port, "/?token=" + hs256(claims_for("alice")))
    assert st == 101, head
    assert w.proc.poll() is None


def test_jwt_token_just_over_parser_limit_is_401(auth_server):
    # Under the 8 KiB head limit but over JWT_MAX_LEN (4096).
    w = auth_server()
    tok = hs256(claims_for("alice", pad="x" * 4000))
    assert 4096 < len(tok) < 7000
    st, head, _ = answer(w.port, "/", {"Authorization": "Bearer " + tok})
    assert st == 401, head
    log_wait(w, r"auth: token (parameter malformed or )?too long")


def test_jwt_user_param_must_equal_sub(auth_server):
    w = auth_server()
    tok = hs256(claims_for("alice"))
    st, head, _ = answer(w.port, "/?user=bob&token=" + tok)
    assert st == 401, head
    log_wait(w, r"auth: user bob is not the token's alice")
    st, head, _ = answer(w.port, "/?user=alice&token=" + tok)
    assert st == 101, head
    # A forged user without any token is refused, too.
    st, head, _ = answer(w.port, "/?user=alice")
    assert st == 401, head


def test_jwt_audience_and_issuer(auth_server):
    w = auth_server(jwt_audience="push.example.com",
                    jwt_issuer="https://auth.example.com")
    iss = "https://auth.example.com"
    ok = [claims_for("a1", aud="push.example.com", iss=iss),
          claims_for("a2", aud=["other", "push.example.com"], iss=iss)]
    bad = [(claims_for("b1", iss=iss), "aud mismatch"),
           (claims_for("b2", aud="other", iss=iss), "aud mismatch"),
           (claims_for("b3", aud=["other"], iss=iss), "aud mismatch"),
           (claims_for("b4", aud="push.example.com"), "iss mismatch"),
           (claims_for("b5", aud="push.example.com",
                       iss="https://evil.example.com"), "iss mismatch")]
    for c in ok:
        st, head, _ = answer(w.port, "/?token=" + hs256(c))
        assert st == 101, (c, head)
    for c, reason in bad:
        before = len(w.log())
        st, head, _ = answer(w.port, "/?token=" + hs256(c))
        assert st == 401, (c, head)
        wait_for(lambda: "auth: " + reason in w.log()[before:], T,
                 what=reason)


def test_jwt_secret_file(make_server, tmpdir_, redis_server):
    path = os.path.join(tmpdir_, "jwt.secret")
    with open(path, "w") as f:
        f.write(SECRET + "\n")
    os.chmod(path, 0o600)
    w = make_server(jwt_secret_file=path)
    st, head, _ = answer(w.port, "/?token=" + hs256(claims_for("filed")))
    assert st == 101, head
    st, head, _ = answer(w.port, "/?token=" + hs256(claims_for("filed"),
                                                     secret="y" * 44))
    assert st == 401, head
    assert "%s is readable by others" % path not in w.log()


@pytest.mark.parametrize("kind", ["rsa", "ec"])
def test_jwt_public_key_rs256_es256(make_server, redis_server, tmpdir_, kind):
    key = tlsmod.make_key(os.path.join(tmpdir_, "k.key"), kind)
    pub = public_pem(key, os.path.join(tmpdir_, "k.pub"))
    w = make_server(jwt_public_key_file=pub)
    sign = rs256 if kind == "rsa" else es256
    tok = sign(claims_for("Pk_User"), key, tmpdir_)
    arun(deliver(w.url + "/?token=" + tok, redis_server.client(), "pk_user"))
    # Another key's signature, a tampered payload, the other algorithm.
    other = tlsmod.make_key(os.path.join(tmpdir_, "other.key"), kind)
    h, p, s = tok.split(".")
    refused = [sign(claims_for("Pk_User"), other, tmpdir_),
               h + "." + enc(claims_for("mallory")) + "." + s,
               hs256(claims_for("Pk_User"))]
    if kind == "ec":
        # DER instead of R||S, and a truncated signature.
        signing = (h + "." + p).encode()
        refused.append(h + "." + p + "." + b64u(openssl_sign(key, signing,
                                                             tmpdir_)))
        refused.append(h + "." + p + "." + s[:40])
        # The ES256 header over an RSA-sized signature.
        refused.append(enc({"alg": "RS256"}) + "." + p + "." + s)
    for t in refused:
        st, head, _ = answer(w.port, "/?token=" + t)
        assert st == 401, (t[:60], head)


def test_jwt_alg_confusion_public_key_only(make_server, rsa_keys):
    """HS256 signed with the RSA public key PEM as the HMAC secret: the
    classic confusion attack.  With only a public key, HS256 is not
    accepted at all."""
    key, pub = rsa_keys
    w = make_server(jwt_public_key_file=pub)
    with open(pub, "rb") as f:
        pem = f.read()
    for secret in (pem, pem.strip(), pem.rstrip(b"\n")):
        st, head, _ = answer(w.port, "/?token=" + hs256(claims_for("alice"),
                                                         secret=secret))
        assert st == 401, head
    log_wait(w, r"auth: alg not allowed")


def test_jwt_alg_confusion_secret_and_public_key(make_server, rsa_keys,
                                                 tmpdir_):
    key, pub = rsa_keys
    w = make_server(jwt_public_key_file=pub, jwt_secret=SECRET)
    with open(pub, "rb") as f:
        pem = f.read()
    st, head, _ = answer(w.port, "/?token=" + hs256(claims_for("alice"),
                                                     secret=pem))
    assert st == 401, head
    # Both real kinds still work.
    for tok in (hs256(claims_for("alice")), rs256(claims_for("alice"), key,
                                                   tmpdir_)):
        st, head, _ = answer(w.port, "/?token=" + tok)
        assert st == 101, head


def test_jwt_private_key_file_is_refused(tmpdir_, redis_server, rsa_keys):
    w = Wspubsub(tmpdir_, redis_server.port, jwt_public_key_file=rsa_keys[0])
    w.write_conf()
    r = subprocess.run([BINARY, "-t", "-f", w.conf_path], timeout=30,
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    assert r.returncode != 0
    assert b"private key" in r.stdout, r.stdout


def test_identify_message_refused_with_auth(auth_server, redis_server):
    w = auth_server()
    tok = hs256(claims_for("alice"))

    async def run():
        async with ws_connect(w.url + "/?token=" + tok) as ws:
            await ws.send(json.dumps({"user_name": "x"}))
            with pytest.raises(websockets.ConnectionClosed):
                await asyncio.wait_for(ws.recv(), T)
            assert ws.close_rcvd is not None and ws.close_rcvd.code == 1008
    arun(run())
    # Still subscribed to nothing but alice: x got nothing.
    assert redis_server.client().pubsub_numsub("x")[0][1] == 0


def test_jwt_expired_close(auth_server, redis_server):
    w = auth_server(jwt_leeway="0", jwt_expired="close")
    exp = int(time.time()) + 3
    tok = hs256({"sub": "shortlived", "exp": exp})

    async def run():
        async with ws_connect(w.url + "/?token=" + tok) as ws:
            # Alive before exp.
            await ws.send("ping")
            assert await asyncio.wait_for(ws.recv(), T) == "pong"
            with pytest.raises(websockets.ConnectionClosed):
                await asyncio.wait_for(ws.recv(), exp - time.time() + 4)
            closed_at = time.time()
            assert ws.close_rcvd is not None and ws.close_rcvd.code == 1008
            return closed_at
    closed_at = arun(run())
    assert exp - 1.5 <= closed_at <= exp + 3, (closed_at, exp)
    log_wait(w, r"token expired")


def test_jwt_expired_keep(auth_server, redis_server):
    w = auth_server(jwt_leeway="0", jwt_expired="keep")
    exp = int(time.time()) + 2
    tok = hs256({"sub": "keeper", "exp": exp})
    r = redis_server.client()

    async def run():
        async with ws_connect(w.url + "/?token=" + tok) as ws:
            await asyncio.sleep(max(0, exp - time.time()) + 1.5)
            await ws.send("ping")
            assert await asyncio.wait_for(ws.recv(), T) == "pong"
            r.publish("keeper", "still here")
            assert await asyncio.wait_for(ws.recv(), T) == "still here"
    arun(run())
    # A new connection with the expired token is refused, though.
    st, head, _ = answer(w.port, "/?token=" + tok)
    assert st == 401, head


# ================================================================== Origin

ORIGINS = ["https://app.example.com", "https://*.example.org"]


@pytest.mark.parametrize("origin,ok", [
    ("https://app.example.com", True),
    ("HTTPS://APP.EXAMPLE.COM", True),
    ("https://a.example.org", True),
    ("https://b.a.example.org", True),
    (None, True),                          # not a browser
    ("https://evil.example.com", False),
    ("http://app.example.com", False),
    ("https://app.example.com:8443", False),
    ("https://app.example.com.evil.net", False),
    ("https://example.org", False),
    ("https://evil-example.org", False),
    ("https://aexample.org", False),
    ("http://a.example.org", False),
    ("https://a.example.org.evil.net", False),
    ("https://evil.net/.example.org", False),
    ("https://user@a.example.org", False),
    ("null", False),
])
def test_origin_allow_list(make_server, origin, ok):
    w = make_server(allow_origin=ORIGINS)
    st, head, body = answer(w.port, "/?user=origintest", {"Origin": origin})
    assert st == (101 if ok else 403), (origin, head, body)
    if not ok:
        log_wait(w, r"origin \S+ not allowed")


def test_origin_any_when_no_list(server):
    st, head, _ = answer(server.port, "/?user=o",
                         {"Origin": "https://evil.example.net"})
    assert st == 101, head


def test_origin_checked_before_token(make_server):
    w = make_server(allow_origin=ORIGINS, jwt_secret=SECRET)
    tok = hs256(claims_for("alice"))
    st, head, _ = answer(w.port, "/?token=" + tok,
                         {"Origin": "https://evil.example.com"})
    assert st == 403, head
    st, head, _ = answer(w.port, "/?token=" + tok,
                         {"Origin": "https://app.example.com"})
    assert st == 101, head


# ===================================================================== TLS

class TlsServers:
    """wspubsub instances listening with tls on their own certificates."""

    def __init__(self, tmpdir, redis_port):
        self.tmpdir = tmpdir
        self.redis_port = redis_port
        self.started = []

    def start(self, crt, key, **conf):
        w = Wspubsub(self.tmpdir, self.redis_port, tls_certificate=crt,
                     tls_key=key, **conf)
        w.conf["listen"] = ["127.0.0.1:%d tls" % w.port]
        self.started.append(w)
        return w.start()

    def stop(self):
        for w in self.started:
            w.stop()


@pytest.fixture
def tls_servers(tmpdir_, redis_server):
    ts = TlsServers(tmpdir_, redis_server.port)
    yield ts
    ts.stop()


@pytest.fixture
def cert(tmpdir_):
    d = os.path.join(tmpdir_, "cert1")
    os.mkdir(d)
    return tlsmod.self_signed(d)


def tls_open(port, ctx, host="127.0.0.1", timeout=T):
    s = socket.create_connection((host, port), timeout)
    try:
        return ctx.wrap_socket(s, server_hostname=host)
    except BaseException:
        s.close()
        raise


def upgrade_over(ss, user):
    ss.sendall(raw_request("/?user=%s" % user))
    head, rest = read_head(ss)
    return status_of(head), rest


def peer_fingerprint(port):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    with tls_open(port, ctx) as ss:
        return tlsmod.fingerprint(ss.getpeercert(binary_form=True))


def test_tls_wss_delivery(tls_servers, cert, redis_server):
    w = tls_servers.start(*cert)
    ctx = tlsmod.client_context(cert[0])
    url = "wss://127.0.0.1:%d/?user=Secure" % w.port
    arun(deliver(url, redis_server.client(), "secure", ssl=ctx))
    # "localhost" is in the certificate too.
    url = "wss://localhost:%d/?user=Secure2" % w.port
    arun(deliver(url, redis_server.client(), "secure2", ssl=ctx))


def test_tls_untrusted_client_fails(tls_servers, cert, tmpdir_):
    w = tls_servers.start(*cert)
    d = os.path.join(tmpdir_, "other")
    os.mkdir(d)
    other = tlsmod.self_signed(d)
    with pytest.raises(ssl.SSLCertVerificationError):
        tls_open(w.port, tlsmod.client_context(other[0])).close()


@pytest.mark.parametrize("version", ["TLSv1_2", "TLSv1_3"])
def test_tls_12_and_13_accepted(tls_servers, cert, version):
    w = tls_servers.start(*cert)
    v = getattr(ssl.TLSVersion, version)
    ctx = tlsmod.client_context(cert[0], minimum=v, maximum=v)
    with tls_open(w.port, ctx) as ss:
        assert ss.version() == version.replace("_", ".")
        st, _ = upgrade_over(ss, "v" + version[-1])
        assert st == 101


def old_tls_context():
    """A client that speaks TLS 1.0 and 1.1 only, at security level 0 (so
    OpenSSL 3 agrees to use them at all)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        ctx.minimum_version = ssl.TLSVersion.TLSv1
        ctx.maximum_version = ssl.TLSVersion.TLSv1_1
    return ctx


def old_tls_possible(crt, key):
    """Control: can this Python/OpenSSL complete a TLS <= 1.1 handshake
    with a server that allows it?  Otherwise the test proves nothing."""
    sctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    sctx.set_ciphers("DEFAULT:@SECLEVEL=0")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        sctx.minimum_version = ssl.TLSVersion.TLSv1
        sctx.maximum_version = ssl.TLSVersion.TLSv1_1
    sctx.load_cert_chain(crt, key)
    lsock = socket.socket()
    lsock.bind(("127.0.0.1", 0))
    lsock.listen(1)
    lsock.settimeout(T)

    def serve():
        try:
            c, _ = lsock.accept()
            with sctx.wrap_socket(c, server_side=True):
                pass
        except OSError:
            pass
    t = threading.Thread(target=serve, daemon=True)
    t.start()
    try:
        with tls_open(lsock.getsockname()[1], old_tls_context()) as ss:
            return ss.version() in ("TLSv1", "TLSv1.1")
    except (ssl.SSLError, OSError):
        return False
    finally:
        t.join(T)
        lsock.close()


def test_tls_10_and_11_refused(tls_servers, tmpdir_):
    d = os.path.join(tmpdir_, "rsa")
    os.mkdir(d)
    crt, key = tlsmod.self_signed(d, kind="rsa")   # usable by TLS 1.0 too
    if not old_tls_possible(crt, key):
        pytest.skip("this OpenSSL cannot speak TLS 1.0/1.1 even to itself")
    w = tls_servers.start(crt, key)
    with pytest.raises((ssl.SSLError, ConnectionError)):
        tls_open(w.port, old_tls_context()).close()
    log_wait(w, r"TLS handshake failed")
    # A modern client is still served.
    with tls_open(w.port, tlsmod.client_context(crt)) as ss:
        assert upgrade_over(ss, "modern")[0] == 101


def client_hello():
    """The bytes of a real ClientHello."""
    ctx = ssl.create_default_context()
    inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = ctx.wrap_bio(inc, out, server_hostname="localhost")
    with pytest.raises(ssl.SSLWantReadError):
        obj.do_handshake()
    return out.read()


@pytest.mark.parametrize("send", ["nothing", "half hello"])
def test_tls_stalled_handshake_cut_at_handshake_timeout(tls_servers, cert,
                                                        send):
    w = tls_servers.start(*cert, handshake_timeout="1s")
    hello = client_hello()
    assert len(hello) > 20
    s = socket.create_connection(("127.0.0.1", w.port), T)
    with s:
        t0 = time.monotonic()
        if send != "nothing":
            s.sendall(hello[:len(hello) // 2])
        s.settimeout(6)
        try:
            data = s.recv(4096)
        except ConnectionResetError:
            data = b""
        elapsed = time.monotonic() - t0
    assert data == b"", data
    assert 0.7 <= elapsed <= 4.0, elapsed
    log_wait(w, r"TLS handshake not done in time")
    # Still serving.
    with tls_open(w.port, tlsmod.client_context(cert[0])) as ss:
        assert upgrade_over(ss, "after")[0] == 101


def test_tls_plain_http_to_tls_port(tls_servers, cert, redis_server):
    w = tls_servers.start(*cert)
    for req in (raw_request("/?user=plain"),
                b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n",
                b"\x16\x03\x01\x00\x05junkjunk", b"\x00" * 64):
        s = socket.create_connection(("127.0.0.1", w.port), T)
        with s:
            s.sendall(req)
            data = b""
            try:
                while True:
                    chunk = s.recv(4096)
                    if not chunk:
                        break
                    data += chunk
            except ConnectionResetError:
                pass
            # Never an HTTP answer in the clear, never a 101.
            assert not data.startswith(b"HTTP/"), data
    log_wait(w, r"TLS handshake failed")
    assert w.proc.poll() is None
    assert not re.search(r"signal|SIGSEGV|AddressSanitizer", w.log())
    url = "wss://127.0.0.1:%d/?user=AfterJunk" % w.port
    arun(deliver(url, redis_server.client(), "afterjunk",
                 ssl=tlsmod.client_context(cert[0])))


def test_tls_full_server_does_not_answer_in_plaintext(tls_servers, cert):
    """The master speaks no TLS: a client it refuses on a tls listener is
    closed, not answered with a plaintext 503."""
    w = tls_servers.start(*cert, max_connections=1, spare_children=1)
    ctx = tlsmod.client_context(cert[0])
    # The harness' readiness probe may still hold the only slot: retry.
    for attempt in range(50):
        try:
            first = tls_open(w.port, ctx)
            break
        except OSError:
            time.sleep(0.1)
    else:
        raise AssertionError("no first TLS connection in 5 s")
    with first:
        assert upgrade_over(first, "first")[0] == 101
        s = socket.create_connection(("127.0.0.1", w.port), T)
        with s:
            try:
                s.sendall(client_hello())
                data = s.recv(4096)
            except ConnectionResetError:
                data = b""      # closed with our hello unread: a reset
        assert not data.startswith(b"HTTP/"), data


def test_tls_sighup_reloads_certificate(tls_servers, cert, tmpdir_,
                                        redis_server):
    crt, key = cert
    w = tls_servers.start(crt, key)
    old_fp = tlsmod.file_fingerprint(crt)
    assert peer_fingerprint(w.port) == old_fp
    r = redis_server.client()
    d = os.path.join(tmpdir_, "cert2")
    os.mkdir(d)
    crt2, key2 = tlsmod.self_signed(d, cn="second")
    new_fp = tlsmod.file_fingerprint(crt2)

    async def run():
        old_ctx = tlsmod.client_context(crt)
        async with ws_connect("wss://127.0.0.1:%d/?user=kept" % w.port,
                              ssl=old_ctx) as ws:
            await asyncio.get_running_loop().run_in_executor(
                None, wait_subscribed, r, "kept")
            # Replace the files, then SIGHUP.
            for src, dst in ((crt2, crt), (key2, key)):
                with open(src, "rb") as f, open(dst + ".new", "wb") as g:
                    g.write(f.read())
                os.replace(dst + ".new", dst)
            before = w.log().count("configuration reloaded")
            w.signal(signal.SIGHUP)
            await asyncio.get_running_loop().run_in_executor(
                None, lambda: wait_for(
                    lambda: w.log().count("configuration reloaded") > before,
                    T, what="reload"))
            await asyncio.get_running_loop().run_in_executor(
                None, lambda: wait_for(
                    lambda: peer_fingerprint(w.port) == new_fp, T,
                    what="the new certificate"))
            # The existing connection is kept.
            r.publish("kept", "after reload")
            assert await asyncio.wait_for(ws.recv(), T) == "after reload"
    arun(run())
    url = "wss://127.0.0.1:%d/?user=New" % w.port
    arun(deliver(url, r, "new", ssl=tlsmod.client_context(crt2)))


def test_tls_sighup_broken_certificate_keeps_old(tls_servers, cert, tmpdir_,
                                                 redis_server):
    crt, key = cert
    w = tls_servers.start(crt, key)
    old_fp = tlsmod.file_fingerprint(crt)
    d = os.path.join(tmpdir_, "cert3")
    os.mkdir(d)
    crt3, key3 = tlsmod.self_signed(d)
    with open(crt3, "rb") as f:
        other = f.read()
    cases = [
        ("garbage", b"-----BEGIN CERTIFICATE-----\nnot base64\n"
                    b"-----END CERTIFICATE-----\n"),
        ("empty", b""),
        ("mismatched key", other),          # the key file is unchanged
    ]
    with open(crt, "rb") as f:
        good = f.read()
    for name, data in cases:
        with open(crt, "wb") as f:
            f.write(data)
        before = w.log().count("not reloaded")
        w.signal(signal.SIGHUP)
        wait_for(lambda: w.log().count("not reloaded") > before, T,
                 what="rejection of the %s certificate" % name)
        assert peer_fingerprint(w.port) == old_fp, name
        with tls_open(w.port, ssl_ctx_for_pem(good)) as ss:
            assert upgrade_over(ss, "still")[0] == 101
    assert re.search(r"TLS: (certificate|key)", w.log()), w.log()
    assert w.proc.poll() is None


def ssl_ctx_for_pem(pem):
    ctx = ssl.create_default_context(cadata=pem.decode())
    return ctx


def test_tls_certificate_chain(tls_servers, tmpdir_, redis_server):
    d = os.path.join(tmpdir_, "pki")
    os.mkdir(d)
    ca_crt, ca_key = tlsmod.make_ca(d)
    int_crt, int_key = tlsmod.issue(d, "intermediate", ca_crt, ca_key,
                                    "wspubsub test intermediate", is_ca=True)
    leaf_crt, leaf_key = tlsmod.issue(d, "leaf", int_crt, int_key,
                                      "127.0.0.1", san=tlsmod.DEFAULT_SAN)
    chain = os.path.join(d, "chain.pem")
    with open(chain, "w") as f:
        f.write(open(leaf_crt).read() + open(int_crt).read())
    w = tls_servers.start(chain, leaf_key)
    # The client trusts only the root: the server must send the
    # intermediate.
    ctx = tlsmod.client_context(ca_crt)
    url = "wss://127.0.0.1:%d/?user=Chained" % w.port
    arun(deliver(url, redis_server.client(), "chained", ssl=ctx))
    # Control: the leaf alone does not verify against the root.
    w2 = tls_servers.start(leaf_crt, leaf_key)
    with pytest.raises(ssl.SSLCertVerificationError):
        tls_open(w2.port, ctx).close()


def test_tls_listen_without_certificate_is_config_error(tmpdir_,
                                                        redis_server):
    w = Wspubsub(tmpdir_, redis_server.port)
    w.conf["listen"] = ["127.0.0.1:%d tls" % w.port]
    w.conf.pop("tls_certificate", None)
    w.conf.pop("tls_key", None)
    w.write_conf()
    r = subprocess.run([BINARY, "-t", "-f", w.conf_path], timeout=30,
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    assert r.returncode != 0
    assert b"tls_certificate" in r.stdout, r.stdout


# ======================================================= privilege drop

def need_root():
    if os.geteuid() != 0:
        if os.environ.get("CI"):
            pytest.fail("CI must run the privilege tests as root")
        pytest.skip("privilege drop tests need root")
    try:
        pwd.getpwnam("nobody")
        grp.getgrnam("nogroup")
    except KeyError:
        pytest.skip("no user nobody / group nogroup here")


def ids(pid):
    out = {}
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            k, _, v = line.partition(":")
            if k in ("Uid", "Gid", "Groups"):
                out[k] = [int(x) for x in v.split()]
    return out


def check_dropped(w):
    nobody = pwd.getpwnam("nobody").pw_uid
    nogroup = grp.getgrnam("nogroup").gr_gid
    procs = [w.pid] + [p for p, s in w.children() if s != "Z"]
    assert len(procs) >= 2, "no children"
    for pid in procs:
        try:
            i = ids(pid)
        except FileNotFoundError:
            continue
        assert i["Uid"] == [nobody] * 4, (pid, i)
        assert i["Gid"] == [nogroup] * 4, (pid, i)
        assert i["Groups"] in ([], [nogroup]), (pid, i)


def test_privilege_drop_to_nobody(make_server, redis_server):
    need_root()
    w = make_server(user="nobody", group="nogroup")
    log_wait(w, r"running as nobody \(uid %d, gid %d\)"
             % (pwd.getpwnam("nobody").pw_uid, grp.getgrnam("nogroup").gr_gid))
    wait_for(lambda: len(w.children()) >= 2, T, what="spare children")
    check_dropped(w)

    async def run():
        async with ws_connect(w.url + "/?user=Dropped") as ws:
            r = redis_server.client()
            await asyncio.get_running_loop().run_in_executor(
                None, wait_subscribed, r, "dropped")
            check_dropped(w)            # the busy child too
            r.publish("dropped", "hi")
            assert await asyncio.wait_for(ws.recv(), T) == "hi"
    arun(run())


def test_privilege_drop_with_chroot(tmpdir_, make_server, redis_server):
    need_root()
    jail = os.path.join(tmpdir_, "jail")
    os.mkdir(jail, 0o755)
    assert os.stat(jail).st_uid == 0
    w = make_server(user="nobody", group="nogroup", chroot=jail)
    log_wait(w, r"running as nobody .* in %s" % re.escape(jail))
    wait_for(lambda: len(w.children()) >= 2, T, what="spare children")
    check_dropped(w)
    for pid in [w.pid] + [p for p, s in w.children() if s != "Z"]:
        try:
            assert os.readlink("/proc/%d/root" % pid) == jail, pid
        except FileNotFoundError:
            pass
    arun(deliver(w.url + "/?user=Jailed", redis_server.client(), "jailed"))


def test_chroot_without_user_is_refused(tmpdir_, redis_server):
    need_root()
    jail = os.path.join(tmpdir_, "jail")
    os.mkdir(jail)
    w = Wspubsub(tmpdir_, redis_server.port, chroot=jail)
    w.write_conf()
    r = subprocess.run([BINARY, "-f", w.conf_path], timeout=30,
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    assert r.returncode != 0
    assert b"chroot is set but user is not" in r.stdout, r.stdout


@pytest.mark.parametrize("conf,message", [
    ({"user": "no_such_user_wspubsub"}, rb"user no_such_user_wspubsub: no such user"),
    ({"user": "nobody", "group": "no_such_group_wspubsub"},
     rb"group no_such_group_wspubsub: no such group"),
    ({"user": "root"}, rb"user root is root"),
])
def test_privilege_drop_bad_user_fails_startup(tmpdir_, redis_server, conf,
                                               message):
    need_root()
    w = Wspubsub(tmpdir_, redis_server.port, **conf)
    w.write_conf()
    r = subprocess.run([BINARY, "-f", w.conf_path], timeout=30,
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    assert r.returncode != 0, r.stdout
    assert re.search(message, r.stdout), r.stdout
    assert b"could not drop privileges" in r.stdout, r.stdout


# ===================================================== Redis credentials

ACL_PASSWORD = "s3cret-Redis-pw"


class AclRedis(RedisServer):
    """redis-server whose default user is off; only "ws" may log in."""

    def __init__(self, tmpdir):
        super().__init__(tmpdir, "--user", "ws", "on", ">" + ACL_PASSWORD,
                         "~*", "&*", "+@all", "--user", "default", "off")

    def client(self):
        return redis.Redis(host="127.0.0.1", port=self.port, username="ws",
                           password=ACL_PASSWORD)


@pytest.fixture
def acl_redis(tmpdir_):
    r = AclRedis(tmpdir_).start()
    yield r
    r.stop()


@pytest.fixture
def acl_server(tmpdir_, acl_redis):
    started = []

    def make(**conf):
        w = Wspubsub(tmpdir_, acl_redis.port, **conf).start()
        started.append(w)
        return w
    yield make
    for w in started:
        w.stop()


def test_redis_acl_is_really_on(acl_redis):
    with pytest.raises(redis.exceptions.RedisError):
        redis.Redis(host="127.0.0.1", port=acl_redis.port).ping()
    assert acl_redis.client().ping()


def test_redis_username_and_password(acl_server, acl_redis):
    w = acl_server(redis_username="ws", redis_password=ACL_PASSWORD)
    arun(deliver(w.url + "/?user=AclUser", acl_redis.client(), "acluser"))
    assert ACL_PASSWORD not in w.log()


@pytest.mark.parametrize("conf", [
    {},
    {"redis_username": "ws", "redis_password": "wrong-password"},
    {"redis_username": "nosuchuser", "redis_password": ACL_PASSWORD},
    {"redis_password": ACL_PASSWORD},          # as the (disabled) default user
])
def test_redis_bad_credentials_503(acl_server, conf):
    w = acl_server(**conf)
    st, head, _ = answer(w.port, "/?user=denied")
    assert st == 503, head
    log_wait(w, r"redis: |subscribing to \S+ failed")
    if conf.get("redis_password"):
        assert conf["redis_password"] not in w.log()


def test_redis_password_file(acl_server, acl_redis, tmpdir_):
    path = os.path.join(tmpdir_, "redis.pw")
    with open(path, "w") as f:
        f.write(ACL_PASSWORD + "\n")
    os.chmod(path, 0o600)
    w = acl_server(redis_username="ws", redis_password_file=path)
    arun(deliver(w.url + "/?user=FilePw", acl_redis.client(), "filepw"))
    assert "%s is readable by others" % path not in w.log()
    w.stop()
    # Readable by others: works, with a warning naming the file.
    os.chmod(path, 0o644)
    w2 = acl_server(redis_username="ws", redis_password_file=path)
    log_wait(w2, r"redis_password_file %s is readable by others"
             % re.escape(path))
    arun(deliver(w2.url + "/?user=FilePw2", acl_redis.client(), "filepw2"))
    assert ACL_PASSWORD not in w2.log()


def test_secret_file_readable_by_others_warns_jwt(make_server, tmpdir_):
    path = os.path.join(tmpdir_, "jwt.secret")
    with open(path, "w") as f:
        f.write(SECRET)
    os.chmod(path, 0o640)       # group may read: the usual root:wspubsub
    w = make_server(jwt_secret_file=path)
    wait_for(lambda: "started" in w.log(), 5)
    assert "%s is readable by others" % path not in w.log()
    os.chmod(path, 0o644)       # anyone may read: warn
    w2 = make_server(jwt_secret_file=path)
    log_wait(w2, r"jwt_secret_file %s is readable by others"
             % re.escape(path))


def test_short_jwt_secret_warns(make_server):
    w = make_server(jwt_secret="short-secret")
    log_wait(w, r"JWT secret is shorter than 32 bytes")
    assert "short-secret" not in w.log()


def test_dump_config_hides_secrets(tmpdir_, redis_server):
    w = Wspubsub(tmpdir_, redis_server.port, redis_username="ws",
                 redis_password=ACL_PASSWORD, jwt_secret=SECRET)
    w.write_conf()
    for flag in ("-T", "-t"):
        r = subprocess.run([BINARY, flag, "-f", w.conf_path], timeout=30,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        assert r.returncode == 0, r.stderr
        out = r.stdout + r.stderr
        assert ACL_PASSWORD.encode() not in out
        assert SECRET.encode() not in out
        if flag == "-T":
            assert b"redis_password is set" in out, out
            assert b"jwt_secret is set" in out, out
            assert b"redis_username ws" in out, out


def test_dump_config_of_broken_file_hides_secrets(tmpdir_, redis_server):
    """The error messages of a broken file quote no secret either."""
    w = Wspubsub(tmpdir_, redis_server.port)
    w.write_conf("redis_password %s extra\njwt_secret %s more\n"
                 "jwt_secret_file relative/%s\n"
                 % (ACL_PASSWORD, SECRET, SECRET))
    r = subprocess.run([BINARY, "-t", "-f", w.conf_path], timeout=30,
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    assert r.returncode != 0
    assert ACL_PASSWORD.encode() not in r.stdout, r.stdout
    assert SECRET.encode() not in r.stdout, r.stdout


def test_secrets_never_logged(acl_server, acl_redis, rsa_keys, tmpdir_):
    w = acl_server(redis_username="ws", redis_password=ACL_PASSWORD,
                   jwt_secret=SECRET, log_level="debug")
    good = hs256(claims_for("logcheck"))
    arun(deliver(w.url + "/?token=" + good, acl_redis.client(), "logcheck"))
    bad = [t for _, t, _ in bad_tokens(tmpdir_, rsa_keys[1])][:8]
    for t in bad:
        answer(w.port, "/?token=" + t)
        answer(w.port, "/", {"Authorization": "Bearer " + t})
    w.signal(signal.SIGHUP)
    log_wait(w, r"configuration reloaded")
    w.stop()
    text = w.log()
    assert "auth: " in text
    assert ACL_PASSWORD not in text
    assert SECRET not in text
    # Tokens are credentials too: neither whole nor their signatures.
    for t in [good] + bad:
        sig = t.rsplit(".", 1)[-1]
        assert t not in text
        if len(sig) > 16:
            assert sig not in text, sig
