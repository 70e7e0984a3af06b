"""The demo page (contrib/demo/index.html) and the client library it uses
(contrib/client/wspubsub.js) in a real browser.

Headless Chromium, driven by python3-selenium through chromium-driver, opens
the page, served over HTTP on loopback (an ES module does not load from
file://), with ?url=...&user=alice&autoconnect=1; messages published
through Redis must appear on the page, with their ids, once and in order,
also across a restart of wspubsub.

Without chromium, chromium-driver or python3-selenium the tests are skipped,
except in CI (CI set in the environment), where that is a failure.
Set WSPUBSUB_SCREENSHOT=/path/to/file.png to save a screenshot of the page.
"""
import functools
import http.server
import os
import shutil
import signal
import tempfile
import threading
import time
import urllib.parse

import pytest

from harness import ROOT, wait_for

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
WAIT = 15  # seconds for anything the browser has to do


def _missing():
    missing = [p for p in (CHROMIUM, CHROMEDRIVER) if not os.access(p, os.X_OK)]
    try:
        import selenium  # noqa: F401
    except ImportError:
        missing.append("python3-selenium")
    return missing


@pytest.fixture
def browser():
    missing = _missing()
    if missing:
        why = ("browser test needs %s (apt-get install chromium "
               "chromium-driver python3-selenium)" % ", ".join(missing))
        if os.environ.get("CI"):
            pytest.fail(why + "; not skipping in CI")
        pytest.skip(why)

    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="wspubsub-chromium-")
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for arg in ("--headless", "--no-sandbox", "--disable-gpu",
                "--no-first-run", "--disable-background-networking",
                "--disable-component-update", "--disable-sync",
                "--disable-quic", "--window-size=1000,900",
                "--user-data-dir=" + profile):
        opts.add_argument(arg)
    service = Service(executable_path=CHROMEDRIVER,
                      log_path=os.path.join(profile, "chromedriver.log"))
    driver = webdriver.Chrome(service=service, options=opts)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture(scope="module")
def contrib_http():
    """contrib/ over HTTP on a free loopback port; yields its base URL."""
    handler = functools.partial(_QuietHandler,
                                directory=os.path.join(ROOT, "contrib"))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    t = threading.Thread(target=httpd.serve_forever, daemon=True)
    t.start()
    try:
        yield "http://127.0.0.1:%d" % httpd.server_address[1]
    finally:
        httpd.shutdown()
        httpd.server_close()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def demo_url(base, ws_url, user):
    query = urllib.parse.urlencode(
        {"url": ws_url + "/", "user": user, "autoconnect": "1"})
    return base + "/demo/index.html?" + query


def status(driver):
    from selenium.webdriver.common.by import By
    el = driver.find_element(By.ID, "status")
    return el.get_attribute("data-state"), el.text


def wait_state(driver, state):
    from selenium.webdriver.support.ui import WebDriverWait
    try:
        WebDriverWait(driver, WAIT).until(lambda d: status(d)[0] == state)
    except Exception:
        raise AssertionError("page never reached %r; status is %r"
                             % (state, status(driver)))


def payloads(driver):
    """The messages on the page, oldest first."""
    from selenium.webdriver.common.by import By
    items = driver.find_elements(By.CSS_SELECTOR, "#messages .payload")
    return [e.text for e in reversed(items)]


def wait_payloads(driver, expected):
    from selenium.webdriver.support.ui import WebDriverWait
    try:
        WebDriverWait(driver, WAIT).until(lambda d: payloads(d) == expected)
    except Exception:
        raise AssertionError("page shows %r, expected %r"
                             % (payloads(driver), expected))


def numsub(r, channel):
    return dict(r.pubsub_numsub(channel)).get(channel.encode(), 0)


def connect_alice(driver, base, server, redis_server):
    driver.get(demo_url(base, server.url, "alice"))
    wait_state(driver, "connected")
    r = redis_server.client()
    wait_for(lambda: numsub(r, "alice") == 1, timeout=WAIT,
             what="PUBSUB NUMSUB alice == 1")
    return r


def test_messages_appear_on_page(browser, contrib_http, server, redis_server):
    r = connect_alice(browser, contrib_http, server, redis_server)
    state, text = status(browser)
    assert "alice" in text

    assert r.publish("alice", "hello from redis") == 1
    wait_payloads(browser, ["hello from redis"])

    unicode_text = "grüße, 世界 ☃ — ok"
    assert r.publish("alice", unicode_text.encode()) == 1
    wait_payloads(browser, ["hello from redis", unicode_text])

    # Not valid UTF-8: a binary frame, shown as hex with its length.
    assert r.publish("alice", b"\x00\xff\x10") == 1
    wait_payloads(browser, ["hello from redis", unicode_text, "00 ff 10"])
    from selenium.webdriver.common.by import By
    last = browser.find_elements(By.CSS_SELECTOR, "#messages li")[0]
    assert "binary" in last.get_attribute("class")
    assert "3 bytes" in last.text

    shot = os.environ.get("WSPUBSUB_SCREENSHOT")
    if shot:
        browser.save_screenshot(shot)

    # Disconnect: the page reports 1000 and the subscription goes away.
    browser.find_element(By.ID, "disconnect").click()
    wait_state(browser, "closed")
    assert "code 1000" in status(browser)[1]
    wait_for(lambda: numsub(r, "alice") == 0, timeout=WAIT,
             what="PUBSUB NUMSUB alice == 0")


def test_page_shows_server_close_code(browser, contrib_http, server,
                                      redis_server):
    connect_alice(browser, contrib_http, server, redis_server)
    server.signal(signal.SIGTERM)
    # The library waits before it reconnects (and fails again while the
    # server is down); the page lists each close.
    from selenium.webdriver.common.by import By
    wait_for(lambda: browser.find_elements(By.CSS_SELECTOR,
                                           "#messages li.closed"),
             timeout=WAIT, what="a close on the page")
    text = browser.find_elements(By.CSS_SELECTOR, "#messages li.closed")[-1].text
    assert "code 1001" in text and "Going Away" in text, text
    assert status(browser)[0] in ("waiting", "connecting")


def page_ids(driver):
    """The ids of the messages on the page, oldest first."""
    from selenium.webdriver.common.by import By
    items = driver.find_elements(By.CSS_SELECTOR, "#messages li[data-id]")
    return [e.get_attribute("data-id") for e in reversed(items)]


def test_page_loses_nothing_across_a_restart(browser, contrib_http, server,
                                             redis_server):
    # wspubsub restarts while the backend publishes with history, 100
    # messages a second: the page reconnects with since and shows every
    # message once, in order.
    r = connect_alice(browser, contrib_http, server, redis_server)
    sent, stop = [], threading.Event()

    def publish():
        end = time.monotonic() + 4
        k = 0
        while not stop.is_set() and time.monotonic() < end:
            sent.append(r.fcall("wspubsub_publish", 1, "alice",
                                "m%d" % k).decode())
            k += 1
            time.sleep(0.01)
    t = threading.Thread(target=publish, daemon=True)
    t.start()
    try:
        wait_for(lambda: len(page_ids(browser)) >= 50, timeout=WAIT,
                 what="50 messages on the page")
        server.stop()
        server.start()
        t.join(10)
        wait_for(lambda: len(page_ids(browser)) >= len(sent), timeout=WAIT,
                 what="every message on the page (%d of %d)"
                 % (len(page_ids(browser)), len(sent)))
    finally:
        stop.set()
        t.join(10)
    assert page_ids(browser) == sent
    from selenium.webdriver.common.by import By
    assert not browser.find_elements(By.CSS_SELECTOR, "#messages li.gap")
    assert status(browser)[0] == "connected"


def test_text_box_sends_to_the_stream(browser, contrib_http, make_server,
                                      redis_server):
    """With upstream_stream set, what is typed under Send reaches the
    stream byte for byte, as alice's; a backend's answer shows up."""
    from selenium.webdriver.common.by import By
    server = make_server(upstream_stream="ws:in")
    r = connect_alice(browser, contrib_http, server, redis_server)
    r.xgroup_create("ws:in", "backend", id="0", mkstream=True)
    typed = ["hello backend", "grüße ☃ 世界"]
    for text in typed:
        box = browser.find_element(By.ID, "say")
        box.send_keys(text)
        browser.find_element(By.ID, "send").click()
        wait_for(lambda: box.get_attribute("value") == "", timeout=WAIT,
                 what="the box emptied")
    got = []

    def read():
        for _, entries in r.xreadgroup("backend", "b1", {"ws:in": ">"},
                                       count=10) or []:
            for eid, fields in entries:
                got.append(fields)
                r.xack("ws:in", "backend", eid)
        return len(got) >= len(typed)
    wait_for(read, timeout=WAIT, what="the typed messages in the stream")
    assert [f[b"data"] for f in got] == [t.encode() for t in typed]
    assert {f[b"user"] for f in got} == {b"alice"}
    assert {f[b"type"] for f in got} == {b"text"}
    assert len({f[b"conn"] for f in got}) == 1
    r.publish("alice", b"got: " + got[0][b"data"])
    wait_payloads(browser, ["got: hello backend"])
