"""TLS helpers for the integration tests: test certificates made with the
openssl command, client contexts, and the switch that runs the whole suite
over wss:// (WSPUBSUB_TLS=1).

In TLS mode one self-signed certificate (SAN IP:127.0.0.1, IP:::1,
DNS:localhost) is made per test session; SSL_CERT_FILE points at it so that
ssl.create_default_context() -- and so the websockets client -- trusts it.
"""
import atexit
import hashlib
import os
import shutil
import socket
import ssl
import subprocess
import tempfile

ENABLED = os.environ.get("WSPUBSUB_TLS", "") not in ("", "0")

DEFAULT_SAN = "IP:127.0.0.1,IP:::1,DNS:localhost"


def openssl(*args, cwd=None):
    r = subprocess.run(["openssl"] + list(args), cwd=cwd,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=60)
    if r.returncode != 0:
        raise RuntimeError("openssl %s failed: %s"
                           % (" ".join(args), r.stderr.decode(errors="replace")))
    return r.stdout


def make_key(path, kind="ec"):
    if kind == "ec":
        openssl("genpkey", "-algorithm", "EC", "-pkeyopt",
                "ec_paramgen_curve:P-256", "-out", path)
    else:
        openssl("genpkey", "-algorithm", "RSA", "-pkeyopt",
                "rsa_keygen_bits:2048", "-out", path)
    os.chmod(path, 0o600)
    return path


def self_signed(directory, name="server", cn="wspubsub test", san=DEFAULT_SAN,
                kind="ec", days=2):
    """(certificate path, key path) of a new self-signed certificate."""
    key = make_key(os.path.join(directory, name + ".key"), kind)
    crt = os.path.join(directory, name + ".crt")
    openssl("req", "-x509", "-new", "-key", key, "-out", crt, "-days",
            str(days), "-subj", "/CN=" + cn, "-addext",
            "subjectAltName=" + san, "-addext",
            "basicConstraints=critical,CA:FALSE")
    return crt, key


def make_ca(directory, name="ca", cn="wspubsub test CA"):
    key = make_key(os.path.join(directory, name + ".key"))
    crt = os.path.join(directory, name + ".crt")
    openssl("req", "-x509", "-new", "-key", key, "-out", crt, "-days", "2",
            "-subj", "/CN=" + cn, "-addext",
            "basicConstraints=critical,CA:TRUE", "-addext",
            "keyUsage=critical,keyCertSign,cRLSign")
    return crt, key


def issue(directory, name, ca_crt, ca_key, cn, san=None, is_ca=False):
    """A certificate for a new key, signed by ca_crt/ca_key."""
    key = make_key(os.path.join(directory, name + ".key"))
    csr = os.path.join(directory, name + ".csr")
    crt = os.path.join(directory, name + ".crt")
    ext = os.path.join(directory, name + ".ext")
    openssl("req", "-new", "-key", key, "-out", csr, "-subj", "/CN=" + cn)
    with open(ext, "w") as f:
        if is_ca:
            f.write("basicConstraints=critical,CA:TRUE,pathlen:0\n"
                    "keyUsage=critical,keyCertSign,cRLSign\n")
        else:
            f.write("basicConstraints=critical,CA:FALSE\n"
                    "extendedKeyUsage=serverAuth\n")
        if san:
            f.write("subjectAltName=%s\n" % san)
    openssl("x509", "-req", "-in", csr, "-CA", ca_crt, "-CAkey", ca_key,
            "-CAcreateserial", "-out", crt, "-days", "2", "-extfile", ext)
    return crt, key


def client_context(cafile, minimum=None, maximum=None):
    ctx = ssl.create_default_context(cafile=cafile)
    if minimum is not None:
        ctx.minimum_version = minimum
    if maximum is not None:
        ctx.maximum_version = maximum
    return ctx


def fingerprint(der):
    return hashlib.sha256(der).hexdigest()


def file_fingerprint(pem_path):
    with open(pem_path) as f:
        pem = f.read()
    start = pem.index("-----BEGIN CERTIFICATE-----")
    end = pem.index("-----END CERTIFICATE-----") + len("-----END CERTIFICATE-----")
    return fingerprint(ssl.PEM_cert_to_DER_cert(pem[start:end]))


# --- the session certificate for the suite over wss:// ---------------------

_session = {}


def session_cert():
    """(certificate, key) shared by every server in TLS mode."""
    if not _session:
        d = tempfile.mkdtemp(prefix="wspubsub-tls-")
        atexit.register(shutil.rmtree, d, True)
        _session["dir"] = d
        _session["crt"], _session["key"] = self_signed(d)
        os.chmod(d, 0o755)
        os.chmod(_session["key"], 0o644)   # readable by a dropped server
    return _session["crt"], _session["key"]


_ctx = {}


def session_context():
    if "ctx" not in _ctx:
        _ctx["ctx"] = client_context(session_cert()[0])
    return _ctx["ctx"]


def wrap(sock, host="127.0.0.1"):
    """Client TLS over a connected socket (handshake under its timeout)."""
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    return session_context().wrap_socket(sock, server_hostname=host)


if ENABLED:
    # Before any test makes a context: the default one trusts our cert.
    os.environ["SSL_CERT_FILE"] = session_cert()[0]
