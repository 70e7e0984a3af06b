"""One Redis connection or two for client messages (upstream_stream)?

What decided it, measured on a private redis-server on loopback:
  - a subscribed RESP2 connection refuses XADD; a RESP3 one (HELLO 3)
    takes it, and then pushes come as '>' and HELLO answers with a map;
  - Redis' used_memory for an extra connection that has done one XADD
    and idled past the query-buffer reclaim (2 s);
  - one XADD's round trip on an open RESP2 connection, on a subscribed
    RESP3 one, and with connect and close around it (the lazy second
    connection's first message).

    /usr/bin/python3 contrib/bench/upstream_conn.py
"""
import socket
import statistics
import subprocess
import tempfile
import time

N, CONNS = 2000, 200


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cmd(*args):
    out = b"*%d\r\n" % len(args)
    for a in args:
        a = a if isinstance(a, bytes) else str(a).encode()
        out += b"$%d\r\n%s\r\n" % (len(a), a)
    return out


def main():
    port = free_port()
    redis = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1",
         "--save", "", "--dir", tempfile.mkdtemp()],
        stdout=subprocess.DEVNULL)
    try:
        run(port)
    finally:
        redis.terminate()
        redis.wait(5)


def run(port):
    def conn():
        for _ in range(250):
            try:
                s = socket.create_connection(("127.0.0.1", port), 2)
                s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                return s
            except OSError:
                time.sleep(0.02)
        raise SystemExit("redis-server did not start")

    def ask(s, *args):
        s.sendall(cmd(*args))
        return s.recv(65536)

    def info(s, field):
        text = ask(s, "INFO", "memory").decode()
        for line in text.split("\r\n"):
            if line.startswith(field + ":"):
                return int(line.split(":")[1])

    adm = conn()
    sub2 = conn()
    ask(sub2, "SUBSCRIBE", "ch")
    print("RESP2, subscribed, XADD:", ask(sub2, "XADD", "s", "*", "k", "v"))
    sub3 = conn()
    print("HELLO 3 answers with:", ask(sub3, "HELLO", "3")[:1])
    print("RESP3 SUBSCRIBE:", ask(sub3, "SUBSCRIBE", "ch")[:2], "(a push)")
    print("RESP3, subscribed, XADD:", ask(sub3, "XADD", "s", "*", "k", "v"))

    m0 = info(adm, "used_memory")
    extra = [conn() for _ in range(CONNS)]
    for e in extra:
        ask(e, "XADD", "s", "*", "k", "v")
    time.sleep(3.5)
    m1 = info(adm, "used_memory")
    print("used_memory per idle connection: %.0f B" % ((m1 - m0) / CONNS))
    for e in extra:
        e.close()

    xadd = ("XADD", "s", "MAXLEN", "~", "100000", "*", "user", "u",
            "data", "x" * 64)

    def per_call(f, n):
        runs = []
        for _ in range(3):
            t = time.perf_counter()
            for _ in range(n):
                f()
            runs.append((time.perf_counter() - t) / n * 1e6)
        return statistics.median(runs)

    w = conn()
    open2 = per_call(lambda: ask(w, *xadd), N)
    open3 = per_call(lambda: ask(sub3, *xadd), N)

    def lazy():
        s = conn()
        ask(s, *xadd)
        s.close()
    cold = per_call(lazy, N // 4)
    print("XADD round trip (median of 3 x %d): open RESP2 %.0f us, "
          "subscribed RESP3 %.0f us, connect+XADD+close %.0f us"
          % (N, open2, open3, cold))


if __name__ == "__main__":
    main()
