"""test_store_ha.py - the session store failing closed and recovering, with
real redis-server, redis-sentinel and Redis Cluster processes on 127.0.0.1:
restart mid-session (503 + Retry-After while down, the same session after,
Apache never restarted), SIGSTOP (command timeout) and SIGCONT, a garbage
value, AUTH with requirepass and an ACL user (passwords from file:), a
Sentinel failover while a session is in use, a three-master cluster with
sessions on every master and a slot migration giving ASK then MOVED, and
the number of connections Apache holds against its pool size."""
import base64
import concurrent.futures
import hashlib
import subprocess
import time
import types

import pytest
import requests
import urllib3

import harness
from test_rp import login, rp_conf, session_cookie, start

DOWN = ("OA00440", "OA00745", "OA00747", "OA00751")


@pytest.fixture
def mock(mock_provider):
    mock_provider.ctl("/_control/reset", {})
    return mock_provider


def store(url):
    """rp_conf wants an object with .url: the directive's arguments."""
    return types.SimpleNamespace(url=url)


def key_hash(cookie):
    raw = base64.urlsafe_b64decode(cookie.split(".")[0] + "=")
    return hashlib.sha256(raw).hexdigest()


def key_on(redis, cookie):
    h = key_hash(cookie)
    return [k for k in redis.cli("KEYS", "*").split() if k.endswith(h)]


def get(a, s, **kw):
    return s.get(a.url + "/app/index.html", allow_redirects=False,
                 timeout=15, **kw)


def works_again(a, s, timeout=30):
    """Poll until the session's page answers 200 (never a redirect)."""
    r = harness.wait_until(lambda: get(a, s).status_code == 200, timeout,
                           0.3)
    return r


@pytest.fixture
def red():
    r = harness.Redis(persist=True).start()
    yield r
    r.stop()
    r.cleanup()


# ---- restart, pause, garbage ----------------------------------------------

@pytest.mark.expect_lognos(*DOWN)
def test_restart_503_then_same_session(apache_factory, mock, red):
    a = start(apache_factory, rp_conf(mock, red))
    s, r = login(a)
    assert r.status_code == 200
    red.stop()
    r = get(a, s)
    assert r.status_code == 503
    assert r.headers.get("Retry-After") == "5"
    assert "protected app" not in r.text
    r = get(a, s, headers={"X-Requested-With": "XMLHttpRequest",
                           "Accept": "application/json"})
    assert r.status_code == 503 and r.headers.get("Retry-After")
    red.start()  # same port and dir: the appendonly file comes back
    assert works_again(a, s), a.error_log()
    r = get(a, s)
    assert r.status_code == 200 and "protected app" in r.text
    assert "OA00441" in a.error_log()  # "reachable again"


@pytest.mark.expect_lognos(*DOWN)
@pytest.mark.parametrize("cache", ["cache=0", ""])
def test_sigstop_times_out_then_sigcont(apache_factory, mock, red, cache):
    """A hung Redis (no FIN, no answer): refused at once without the read
    cache; with it, the cached record stops answering once the listener
    has not heard from Redis for 1 s (store_redis_cache.c), so within
    about that the page fails closed too."""
    a = start(apache_factory, rp_conf(mock, store(
        red.url + f" timeout=500ms connect_timeout=300ms {cache}")))
    s, r = login(a)
    assert r.status_code == 200
    assert get(a, s).status_code == 200
    red.pause()
    try:
        if not cache:
            time.sleep(1.5)  # the listener's liveness bound, plus slack
        r = get(a, s)
        assert r.status_code == 503
        assert "Retry-After" in r.headers
    finally:
        red.resume()
    assert works_again(a, s), a.error_log()
    assert "timed out" in a.error_log() or "Resource temporarily" in \
        a.error_log()


def test_garbage_value_means_new_login(apache_factory, mock, red):
    a = start(apache_factory, rp_conf(mock, red))
    s, r = login(a)
    assert r.status_code == 200
    cookie = session_cookie(s)
    (key,) = key_on(red, cookie)
    assert red.cli("SET", key, "v1.garbage-not-a-sealed-session",
                   "KEEPTTL") == "OK"
    r = get(a, s)
    assert r.status_code == 302
    assert r.headers["Location"].startswith(mock.url)
    assert "OA00748" in a.error_log()  # "session cookie refused", logged
    s2, r = login(a, s)
    assert r.status_code == 200 and session_cookie(s2) != cookie


# ---- AUTH ------------------------------------------------------------------

@pytest.mark.expect_lognos(*DOWN, "OA00484")
def test_auth_requirepass_and_acl_user_from_file(apache_factory, mock):
    red = harness.Redis(extra_args=[
        "--requirepass", "default-pw-123", "--user", "app", "on",
        ">app-pw-456", "~*", "+@all"], cli_auth=["-a", "default-pw-123"])
    red.start()
    d = harness.make_tempdir("oauth2-pw-")

    def pwfile(name, pw):
        p = d / name
        p.write_text(pw + "\n")
        p.chmod(0o600)
        return p

    try:
        good = []
        for user, pw in [("", "default-pw-123"), ("app@", "app-pw-456")]:
            a = start(apache_factory, rp_conf(mock, store(
                f"redis://{user}127.0.0.1:{red.port}/0 "
                f"password=file:{pwfile(user + 'pw', pw)}")))
            s, r = login(a)
            assert r.status_code == 200, a.error_log()
            good.append(session_cookie(s))
            if user:
                # Redis 7 gives an ACL user no channels by default: no
                # read cache, said once, and sessions work without it
                assert harness.wait_until(
                    lambda: "OA00484" in a.error_log(), 10, 0.1)
                assert "NOPERM" in a.error_log()
                assert get(a, s).status_code == 200
        assert all(key_on(red, c) for c in good)
        # A wrong password fails closed, and never reaches the log.
        a = start(apache_factory, rp_conf(mock, store(
            f"redis://app@127.0.0.1:{red.port}/0 "
            f"password=file:{pwfile('bad', 'wrong-pw-789')}")))
        r = requests.get(a.url + "/app/index.html", timeout=15)
        assert r.status_code == 503
        log = a.error_log()
        assert "AUTH failed" in log and "wrong-pw-789" not in log
    finally:
        red.stop()
        red.cleanup()
        harness.shutil.rmtree(d, ignore_errors=True)


# ---- Sentinel --------------------------------------------------------------

@pytest.mark.expect_lognos(*DOWN, "OA00451")
def test_sentinel_failover_keeps_session(apache_factory, mock):
    sen = harness.Sentinel()
    try:
        sen.start()
        a = start(apache_factory, rp_conf(mock, store(sen.url())))
        s, r = login(a)
        assert r.status_code == 200
        cookie = session_cookie(s)
        assert key_on(sen.master, cookie)
        assert harness.wait_until(lambda: key_on(sen.replica, cookie), 10)
        assert f"is 127.0.0.1:{sen.master.port}" in a.error_log()
        assert sen.failover() == "OK"
        assert harness.wait_until(
            lambda: sen.master_port() == sen.replica.port, 30)
        assert harness.wait_until(
            lambda: sen.master.cli("ROLE").startswith("slave"), 30)
        assert works_again(a, s), a.error_log()
        assert f"is 127.0.0.1:{sen.replica.port}" in a.error_log()
        # Writes go to the new master: a new sign-in stores there.
        s2, r = login(a)
        assert r.status_code == 200
        assert key_on(sen.replica, session_cookie(s2))
    finally:
        sen.stop()
        sen.cleanup()


# ---- Cluster ---------------------------------------------------------------

def owner_of(cl, cookie):
    for n in cl.nodes:
        keys = key_on(n, cookie)
        if keys:
            return n, keys[0]
    return None, None


@pytest.mark.expect_lognos(*DOWN)
def test_cluster_every_master_and_resharding(apache_factory, mock):
    cl = harness.Cluster(3)
    try:
        cl.start()
        # Our slot function and the server agree (unit-test vectors).
        assert cl.nodes[0].cli("CLUSTER", "KEYSLOT", "foo{bar}{zap}") == \
            "5061"
        assert cl.nodes[0].cli("CLUSTER", "KEYSLOT", "foo{{bar}}zap") == \
            "4015"
        a = start(apache_factory, rp_conf(mock, store(cl.url())))
        sessions = {}  # node port -> (requests.Session, key)
        for _ in range(60):
            s, r = login(a)
            assert r.status_code == 200, a.error_log()
            node, key = owner_of(cl, session_cookie(s))
            assert node is not None
            sessions.setdefault(node.port, (s, key))
            if len(sessions) == 3:
                break
        assert len(sessions) == 3
        for s, _ in sessions.values():
            assert get(a, s).status_code == 200
        src = cl.nodes[0]
        dst = cl.nodes[1]
        s, key = sessions[src.port]
        slot = int(src.cli("CLUSTER", "KEYSLOT", key))
        # Migration in progress: the key already moved, the slot not -> ASK.
        assert dst.cli("CLUSTER", "SETSLOT", slot, "IMPORTING",
                       cl.node_id(src)) == "OK"
        assert src.cli("CLUSTER", "SETSLOT", slot, "MIGRATING",
                       cl.node_id(dst)) == "OK"
        assert src.cli("MIGRATE", "127.0.0.1", dst.port, key, 0,
                       5000) == "OK"
        r = get(a, s)
        assert r.status_code == 200, a.error_log()
        assert f"ASK slot {slot} to 127.0.0.1:{dst.port}" in a.error_log()
        # Migration done: every node says dst owns the slot -> MOVED.
        for n in cl.nodes:
            assert n.cli("CLUSTER", "SETSLOT", slot, "NODE",
                         cl.node_id(dst)) == "OK"
        r = get(a, s)
        assert r.status_code == 200, a.error_log()
        assert f"MOVED slot {slot} to 127.0.0.1:{dst.port}" in a.error_log()
        assert key_on(dst, session_cookie(s)) and not key_on(
            src, session_cookie(s))
        for s, _ in sessions.values():
            assert get(a, s).status_code == 200
    finally:
        cl.stop()
        cl.cleanup()


# ---- connections under load -------------------------------------------------

def child_pids(a):
    out = subprocess.run(["pgrep", "-P", str(a.pid())], text=True,
                         stdout=subprocess.PIPE).stdout.split()
    return [int(p) for p in out]


def test_connections_bounded_by_pool(apache_factory, mock, red):
    pool = 2
    a = start(apache_factory, rp_conf(mock, store(
        f"{red.url} pool={pool} cache=0")))
    s, r = login(a)
    assert r.status_code == 200
    cookie = {"oauth2_session": session_cookie(s)}

    def hit(_):
        return requests.get(a.url + "/app/index.html", cookies=cookie,
                            allow_redirects=False, timeout=15).status_code

    peak = 0
    with concurrent.futures.ThreadPoolExecutor(16) as ex:
        futs = [ex.submit(hit, i) for i in range(400)]
        while not all(f.done() for f in futs):
            peak = max(peak, red.client_count())
        codes = [f.result() for f in futs]
    assert codes.count(200) == len(codes)
    children = len([p for p in child_pids(a)])
    idle = red.client_count()
    print(f"\nredis connections: peak {peak} under load, {idle} idle after; "
          f"pool={pool} per process, {children} child processes")
    # After the load every connection is back in a pool or closed.
    assert 1 <= idle <= pool * max(children, 1)


def connections_received(red):
    for line in red.cli("INFO", "stats").splitlines():
        if line.startswith("total_connections_received:"):
            return int(line.split(":", 1)[1])
    raise AssertionError("no total_connections_received in INFO stats")


@pytest.mark.parametrize("pool", [None, 2])
def test_default_pool_follows_threads_no_churn(apache_factory, mock, red,
                                               pool):
    """Without pool= each process keeps one idle connection per worker
    thread (ThreadsPerChild), so a burst as wide as the threads opens each
    connection once; pool=2 under the same burst keeps reconnecting."""
    threads = 8
    opts = "" if pool is None else f" pool={pool}"
    # cache=0: every request takes a pooled connection (what is measured)
    a = start(apache_factory, f"ThreadsPerChild {threads}\n" + rp_conf(
        mock, store(red.url + opts + " cache=0")))
    s, r = login(a)
    assert r.status_code == 200
    cookie = {"oauth2_session": session_cookie(s)}

    def hit(_):
        with requests.Session() as c:  # one keep-alive connection each
            # mpm_event may close an idle keep-alive connection when its
            # workers are all busy (the burst): reconnect, as browsers do
            c.mount("http://", requests.adapters.HTTPAdapter(
                max_retries=urllib3.util.Retry(total=3, connect=3, read=3,
                                               status=0, redirect=0)))
            return [c.get(a.url + "/app/index.html", cookies=cookie,
                          allow_redirects=False, timeout=15).status_code
                    for _ in range(40)]

    before = connections_received(red)
    # twice as many clients as threads per child: every child runs full.
    # Redis holds every command for 250 ms first (under the 1 s command
    # timeout), so the first requests of all clients are in flight at
    # once however fast a request is: pool=2 must overflow
    red.cli("CLIENT", "PAUSE", "250", "ALL")
    with concurrent.futures.ThreadPoolExecutor(2 * threads) as ex:
        codes = sum(ex.map(hit, range(2 * threads)), [])
    opened = connections_received(red) - before
    children = max(len(child_pids(a)), 1)
    assert codes == [200] * len(codes)
    print(f"\npool={pool}: {opened} Redis connections opened for "
          f"{len(codes)} requests, {children} children x {threads} threads")
    if pool is None:
        assert opened <= threads * children, opened
        assert red.client_count() <= threads * children
    else:
        assert opened > pool * children, opened  # the churn the default avoids
