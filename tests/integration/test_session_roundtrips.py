"""test_session_roundtrips.py - the session page costs at most one Redis
command per request (issue #8: one round trip), and with the read cache
(the default) none once the record is cached; counted with INFO
commandstats on a private redis-server; and the bench script's guard checks
agree with the module (a tampered session cookie is refused). Counts
commands, never times anything."""
import re

import pytest
import requests

import harness

PASS = "0123456789abcdef0123456789abcdef"


def commands(redis):
    """Commands the server processed, minus INFO/CLIENT sent by the test
    and the read cache listener's CLIENT/SUBSCRIBE/PING."""
    out = redis.cli("INFO", "commandstats")
    return {m.group(1): int(m.group(2))
            for m in re.finditer(r"cmdstat_(\w+):calls=(\d+)", out)
            if m.group(1) not in ("info", "client", "ping", "subscribe")}


@pytest.fixture
def redis():
    r = harness.Redis().start()
    yield r
    r.stop()
    r.cleanup()


def start(apache_factory, mock, redis, timeout="", opts=""):
    disc = mock.url + "/.well-known/openid-configuration"
    a = apache_factory(f"""
OAuth2Passphrase "{PASS}"
OAuth2SessionStore {redis.url} {opts}
OAuth2CookieSecure Off
{timeout}
OAuth2Provider mock discovery={disc} client_id=demo-client \\
    client_secret=demo-secret scope="openid email profile"
OAuth2RedirectURI /oauth2/callback
<Location /app>
    AuthType oauth2
    OAuth2Login mock
    Require valid-user
</Location>
""")
    a.write_file("htdocs/app/index.html", "<h1>app</h1>\n")
    return a.start()


def signed_in(a):
    s = requests.Session()
    r = s.get(a.url + "/app/index.html", timeout=20)
    assert r.status_code == 200, r.text
    assert s.cookies.get("oauth2_session")
    return s


def commands_for_pages(a, redis, s, n):
    """Commands Redis ran (nonzero counts) while s loaded the page n times."""
    before = commands(redis)
    for _ in range(n):
        assert s.get(a.url + "/app/index.html",
                     timeout=10).status_code == 200
    after = commands(redis)
    delta = {k: after.get(k, 0) - before.get(k, 0) for k in after}
    return {k: v for k, v in delta.items() if v}


def test_one_redis_command_per_session_request(apache_factory,
                                               mock_provider, redis):
    a = start(apache_factory, mock_provider, redis, opts="cache=0")
    n = 40
    delta = commands_for_pages(a, redis, signed_in(a), n)
    # One GET each; the sliding window is written at most every 1/8 of
    # the inactivity timeout (default 1 h: not within this test).
    assert sum(delta.values()) <= n, delta
    assert delta.get("get", 0) == n, delta


def test_cached_session_requests_cost_no_command(apache_factory,
                                                 mock_provider, redis):
    a = start(apache_factory, mock_provider, redis)
    n = 40
    delta = commands_for_pages(a, redis, signed_in(a), n)
    # the first read of each child fills its cache; Redis says when the
    # record changes, so the rest never ask
    assert delta.get("get", 0) <= 4, delta  # the harness runs 1-2 children
    assert sum(delta.values()) == delta.get("get", 0), delta


@pytest.mark.parametrize("opts", ["cache=0", ""])
def test_refused_cookie_costs_one_command_and_no_write(apache_factory,
                                                       mock_provider, redis,
                                                       opts):
    a = start(apache_factory, mock_provider, redis, opts=opts)
    s = signed_in(a)
    c = s.cookies.get("oauth2_session")
    bad = c[:-2] + ("A" if c[-2] != "A" else "B") + c[-1]
    before = commands(redis)
    r = requests.get(a.url + "/app/index.html", allow_redirects=False,
                     cookies={"oauth2_session": bad}, timeout=10)
    assert r.status_code in (302, 401)
    after = commands(redis)
    delta = {k: after.get(k, 0) - before.get(k, 0) for k in after}
    delta = {k: v for k, v in delta.items() if v}
    # The lookup only (none when the cache holds the record): a refused
    # cookie never writes or deletes anything.
    assert delta in ([{"get": 1}] if opts else [{}, {"get": 1}]), delta
