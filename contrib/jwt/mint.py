#!/usr/bin/env python3
"""contrib/jwt/mint.py -- mint an HS256 token for wspubsub with nothing but
the Python standard library.

Usage: mint.py [--secret-file FILE] [--aud AUD] [--iss ISS] SUB LIFETIME

The secret is the bytes of FILE less trailing CR/LF (as wspubsub reads
jwt_secret_file), or $JWT_SECRET.  As a module:
mint(secret_bytes, "alice", 3600) returns the token.
"""
import argparse
import base64
import hashlib
import hmac
import json
import os
import re
import sys
import time

# The server's user name rules.
USER_NAME = re.compile(r"[A-Za-z0-9_.@:-]{1,128}\Z")


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def mint(secret: bytes, sub: str, lifetime: int, aud=None, iss=None,
         now=None) -> str:
    if not USER_NAME.match(sub):
        raise ValueError("sub is not a valid user name")
    if not secret:
        raise ValueError("empty secret")
    now = int(time.time()) if now is None else now
    header = {"alg": "HS256", "typ": "JWT"}
    claims = {"sub": sub, "iat": now, "exp": now + lifetime}
    if aud is not None:
        claims["aud"] = aud
    if iss is not None:
        claims["iss"] = iss
    enc = lambda o: b64url(json.dumps(o, separators=(",", ":")).encode())
    signing_input = enc(header) + "." + enc(claims)
    sig = hmac.new(secret, signing_input.encode("ascii"),
                   hashlib.sha256).digest()
    return signing_input + "." + b64url(sig)


def main() -> int:
    ap = argparse.ArgumentParser(description="Mint an HS256 token for "
                                 "wspubsub.")
    ap.add_argument("--secret-file", help="file holding the secret "
                    "(default: $JWT_SECRET)")
    ap.add_argument("--aud", help="audience claim")
    ap.add_argument("--iss", help="issuer claim")
    ap.add_argument("sub", help="the user name")
    ap.add_argument("lifetime", type=int, help="seconds until it expires")
    args = ap.parse_args()
    if args.secret_file:
        with open(args.secret_file, "rb") as f:
            secret = f.read().rstrip(b"\r\n")
    elif os.environ.get("JWT_SECRET"):
        secret = os.environ["JWT_SECRET"].encode()
    else:
        ap.error("no --secret-file and no $JWT_SECRET")
    try:
        print(mint(secret, args.sub, args.lifetime, args.aud, args.iss))
    except ValueError as e:
        print("mint.py: %s" % e, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
