"""test_rp.py - the relying party end to end: Apache + mod_oauth2 + the
mock provider + a real redis-server. Sign-in with redirects followed,
parallel logins in one browser, original URL restored, claims reaching a
CGI backend, callback attacks (state, nonce, ID token), provider errors and
outages, refresh, timeouts, logout and its open-redirect cases, a plain
OAuth 2.0 provider, Redis stopping mid-session, and a headless Chromium."""
import base64
import hashlib
import http.server
import json
import re
import threading
import time
import urllib.parse

import pytest
import requests

import harness

PASS = "0123456789abcdef0123456789abcdef"
CGI = """#!/bin/sh
echo "Content-Type: text/plain"
echo
env | sort
"""


@pytest.fixture
def apache_factory(apache_factory, secrets, mock_provider):
    """Every Apache of this suite logs at debug (oauth2 at trace8) and its
    error log must hold none of the secrets the test used (conftest)."""
    secrets.add(PASS, "demo-secret")
    secrets.add_source(harness.mock_seen_secrets(mock_provider))

    def make(extra="", **kw):
        kw.setdefault("loglevel", harness.SECRETS_LOGLEVEL)
        return apache_factory(extra, **kw)

    return make


def rp_conf(mock, redis, provider_opts="", extra="", timeout=""):
    disc = mock.url + "/.well-known/openid-configuration"
    return f"""
OAuth2Passphrase "{PASS}"
OAuth2SessionStore {redis.url}
OAuth2CookieSecure Off
{timeout}
OAuth2Provider mock discovery={disc} client_id=demo-client \\
    client_secret=demo-secret scope="openid email profile" {provider_opts}
OAuth2RedirectURI /oauth2/callback
OAuth2LogoutURI /oauth2/logout
<Location /app>
    AuthType oauth2
    OAuth2Login mock
    Require valid-user
</Location>
<Directory "{{root}}/htdocs/app">
    Options +ExecCGI
    AddHandler cgi-script .cgi
</Directory>
{extra}
"""


@pytest.fixture
def mock(mock_provider):
    mock_provider.ctl("/_control/reset", {})
    return mock_provider


def start(apache_factory, conf):
    a = apache_factory()
    a.set_config(conf.replace("{root}", str(a.root)))
    a.write_file("htdocs/app/index.html", "<h1>protected app</h1>\n")
    a.write_file("htdocs/app/env.cgi", CGI, mode=0o755)
    return a.start()


@pytest.fixture
def rp(apache_factory, mock, redis_server):
    return start(apache_factory, rp_conf(mock, redis_server))


def login(a, session=None, path="/app/index.html"):
    s = session or requests.Session()
    r = s.get(a.url + path, timeout=10)
    return s, r


def session_cookie(s):
    return s.cookies.get("oauth2_session")


# ---- sign-in ---------------------------------------------------------------

def test_full_sign_in_and_claims_reach_cgi(rp, mock, redis_server):
    s, r = login(rp)
    assert r.status_code == 200, r.text
    assert "protected app" in r.text
    assert [h.status_code for h in r.history] == [302, 302, 302]
    cookie = session_cookie(s)
    assert cookie and re.fullmatch(r"[\w-]{43}\.[\w-]{43}", cookie)
    # No login-state cookie survives the callback.
    assert not [c for c in s.cookies if c.name.startswith("oauth2_login_")]
    # The Redis key is a hash of the id; the value is sealed.
    keys = redis_server.cli("KEYS", "*").split()
    sid = cookie.split(".")[0]
    assert sid not in " ".join(keys)
    assert any(re.search(r":[0-9a-f]{64}$", k) for k in keys), keys
    for k in keys:
        if ":idx:" in k:
            continue  # indexes by sub/sid: hashes of metadata (test_sessions)
        v = redis_server.cli("GET", k)
        assert re.fullmatch(r"v1\.[\w-]+", v) and "alice" not in v
    r = s.get(rp.url + "/app/env.cgi", timeout=10)
    assert r.status_code == 200
    env = dict(line.split("=", 1) for line in r.text.splitlines()
               if "=" in line)
    assert env["REMOTE_USER"] == mock.ctl("/_control/sessions")[
        "logins"][-1]["sub"]
    assert env["OAUTH2_CLAIM_email_verified"] == "true"
    assert "OAUTH2_CLAIM_email" in env
    assert env["AUTH_TYPE"] == "oauth2"


def test_authorization_request_shape(rp, mock):
    r = requests.get(rp.url + "/app/index.html", allow_redirects=False,
                     timeout=10)
    assert r.status_code == 302
    loc = urllib.parse.urlparse(r.headers["Location"])
    q = urllib.parse.parse_qs(loc.query)
    assert loc.path == "/authorize"
    assert q["response_type"] == ["code"]
    assert q["code_challenge_method"] == ["S256"]
    assert len(q["state"][0]) == 43 and len(q["nonce"][0]) == 43
    assert q["redirect_uri"] == [rp.url + "/oauth2/callback"]
    sc = r.headers["Set-Cookie"]
    assert "HttpOnly" in sc and "SameSite=Lax" in sc and "Max-Age=600" in sc


def test_redirect_uri_ignores_host_header(rp):
    r = requests.get(rp.url + "/app/", allow_redirects=False, timeout=10,
                     headers={"Host": "evil.example"})
    q = urllib.parse.parse_qs(urllib.parse.urlparse(
        r.headers["Location"]).query)
    assert q["redirect_uri"] == [rp.url + "/oauth2/callback"]


def test_non_browser_requests_get_401(rp):
    for method, headers in [
            ("GET", {"Accept": "application/json"}),
            ("GET", {"X-Requested-With": "XMLHttpRequest"}),
            ("GET", {"Sec-Fetch-Mode": "cors"}),
            ("POST", {})]:
        r = requests.request(method, rp.url + "/app/index.html",
                             headers=headers, allow_redirects=False,
                             timeout=10)
        assert r.status_code == 401, (method, headers)
        assert "oauth2_login" not in r.headers.get("Set-Cookie", "")


def test_original_url_restored(rp):
    s, r = login(rp, path="/app/env.cgi?x=1&y=two")
    assert r.status_code == 200
    assert r.url == rp.url + "/app/env.cgi?x=1&y=two"
    assert "QUERY_STRING=x=1&y=two" in r.text


def test_parallel_sign_ins_one_browser(rp):
    s = requests.Session()
    starts = []
    for path in ("/app/index.html", "/app/env.cgi?tab=2"):
        r = s.get(rp.url + path, allow_redirects=False, timeout=10)
        assert r.status_code == 302
        starts.append(r.headers["Location"])
    assert len([c for c in s.cookies
                if c.name.startswith("oauth2_login_")]) == 2
    finals = []
    for loc in starts:
        r = s.get(loc, timeout=10)  # provider -> callback -> original URL
        assert r.status_code == 200, r.text
        finals.append(r.url)
    assert finals == [rp.url + "/app/index.html",
                      rp.url + "/app/env.cgi?tab=2"]


def test_login_cookies_capped(rp):
    s = requests.Session()
    for i in range(10):
        r = s.get(rp.url + f"/app/?t={i}", allow_redirects=False, timeout=10)
        assert r.status_code == 302
    names = [c.name for c in s.cookies if c.name.startswith("oauth2_login_")]
    assert len(names) <= 4


def test_new_session_id_at_every_login(rp):
    s, _ = login(rp)
    first = session_cookie(s)
    s.cookies.clear()
    s.cookies.set("oauth2_session", first)
    # A fixed cookie does not survive another login.
    s2, _ = login(rp)
    assert session_cookie(s2) != first


# ---- callback attacks and provider errors -----------------------------------

def start_login(a):
    s = requests.Session()
    r = s.get(a.url + "/app/index.html", allow_redirects=False, timeout=10)
    loc = r.headers["Location"]
    q = urllib.parse.parse_qs(urllib.parse.urlparse(loc).query)
    return s, loc, q


def provider_code(s, loc):
    r = s.get(loc, allow_redirects=False, timeout=10)
    assert r.status_code == 302
    return r.headers["Location"]


@pytest.mark.expect_lognos()
def test_wrong_missing_and_replayed_state(rp):
    s, loc, q = start_login(rp)
    cb = provider_code(s, loc)
    bad = re.sub(r"state=[^&]+", "state=" + "A" * 43, cb)
    r = s.get(bad, allow_redirects=False, timeout=10)
    assert r.status_code == 400
    assert r.headers["Content-Security-Policy"] == "default-src 'none'"
    r = s.get(re.sub(r"&?state=[^&]+", "", cb), allow_redirects=False,
              timeout=10)
    assert r.status_code == 400
    r = s.get(cb, allow_redirects=False, timeout=10)
    assert r.status_code == 302
    # Replay: the login cookie is gone (single use).
    r = s.get(cb, allow_redirects=False, timeout=10)
    assert r.status_code == 400
    # Replay with the old cookie re-sent: the code is single use.
    s2, loc2, _ = start_login(rp)
    saved = {c.name: c.value for c in s2.cookies}
    cb2 = provider_code(s2, loc2)
    assert s2.get(cb2, allow_redirects=False, timeout=10).status_code == 302
    r = requests.get(cb2, cookies=saved, allow_redirects=False, timeout=10)
    assert r.status_code in (400, 403)
    assert "oauth2_session" not in r.headers.get("Set-Cookie", "x=1; ")[:20]


def test_provider_error_is_a_page_not_a_loop(rp, mock):
    s, loc, q = start_login(rp)
    state = q["state"][0]
    r = s.get(rp.url + "/oauth2/callback?error=access_denied&"
              "error_description=%3Cscript%3Ex%3C%2Fscript%3E&state=" + state,
              allow_redirects=False, timeout=10)
    assert r.status_code == 403
    assert "access_denied" in r.text
    assert "<script>" not in r.text
    assert "Location" not in r.headers


class FakeTokenEndpoint:
    """A token endpoint that answers with an ID token of our choosing."""

    def __init__(self, mock, body):
        self.mock, self.body = mock, body
        outer = self

        class H(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                n = int(self.headers.get("Content-Length", 0))
                form = urllib.parse.parse_qs(self.rfile.read(n).decode())
                body = json.dumps(outer.body(form)).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *a):
                pass

        self.srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.url = f"http://127.0.0.1:{self.srv.server_port}/token"
        threading.Thread(target=self.srv.serve_forever, daemon=True).start()

    def close(self):
        self.srv.shutdown()


def id_token_case(apache_factory, mock, redis, claims=None, key="current",
                  alg="RS256", use_nonce=True):
    """Sign in through a token endpoint answering with a minted ID token;
    returns the callback's response."""
    nonce = {}

    def body(form):
        c = {"aud": "demo-client", "sub": "mallory",
             "iss": mock.url, "nonce": nonce["v"] if use_nonce else "x" * 43}
        c.update(claims or {})
        tok = mock.ctl("/_control/mint", {"alg": alg, "claims": c,
                                          "key": key})["token"]
        return {"access_token": "at-" + "x" * 20, "token_type": "Bearer",
                "expires_in": 300, "id_token": tok}

    fake = FakeTokenEndpoint(mock, body)
    try:
        a = start(apache_factory, rp_conf(
            mock, redis, f"token_endpoint={fake.url} userinfo=off"))
        s, loc, q = start_login(a)
        nonce["v"] = q["nonce"][0]
        cb = provider_code(s, loc)
        return s.get(cb, allow_redirects=False, timeout=10)
    finally:
        fake.close()


def test_id_token_good_via_fake_endpoint(apache_factory, mock, redis_server):
    r = id_token_case(apache_factory, mock, redis_server)
    assert r.status_code == 302, r.text


@pytest.mark.parametrize("kw", [
    {"use_nonce": False},
    {"key": "unknown"},
    {"claims": {"exp": 1000}},
    {"claims": {"aud": "someone-else"}},
    {"claims": {"iss": "http://127.0.0.1:1"}},
    {"claims": {"aud": ["demo-client", "other"]}},
    {"claims": {"azp": "other"}},
    {"alg": "HS256"},
])
def test_bad_id_tokens_refused(apache_factory, mock, redis_server, kw):
    r = id_token_case(apache_factory, mock, redis_server, **kw)
    assert r.status_code == 403, r.text
    assert "oauth2_session" not in r.headers.get("Set-Cookie", "")


@pytest.mark.expect_lognos("OA00201")
def test_token_endpoint_down_or_hanging(apache_factory, mock, redis_server):
    a = start(apache_factory, rp_conf(mock, redis_server, "timeout=2"))
    for mode in ("error500", "hang", "close"):
        mock.ctl("/_control/fail", {"endpoint": "token", "mode": mode,
                                    "count": 1, "seconds": 5})
        s, loc, q = start_login(a)
        cb = provider_code(s, loc)
        t0 = time.monotonic()
        r = s.get(cb, allow_redirects=False, timeout=20)
        assert r.status_code in (502, 503), (mode, r.status_code)
        assert time.monotonic() - t0 < 4.5
        assert "Content-Security-Policy" in r.headers
        mock.ctl("/_control/clear_failures", {})


# ---- refresh, timeouts -----------------------------------------------------

def test_refresh_transparent_and_once(rp, mock):
    mock.ctl("/_control/settings", {"access_token_ttl": 1})
    s, r = login(rp)
    assert r.status_code == 200
    time.sleep(2.2)
    before = len([x for x in mock.ctl("/_control/requests")["requests"]
                  if x["path"] == "/token"])
    results = []

    def get():
        results.append(s.get(rp.url + "/app/index.html",
                             allow_redirects=False, timeout=10).status_code)

    ts = [threading.Thread(target=get) for _ in range(6)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert results == [200] * 6
    reqs = [x for x in mock.ctl("/_control/requests")["requests"]
            if x["path"] == "/token"]
    refreshes = [x for x in reqs[before:]
                 if (x.get("form") or {}).get("grant_type") in
                 ("refresh_token", ["refresh_token"])]
    assert len(refreshes) == 1, reqs[before:]


def test_refresh_failure_means_new_login(rp, mock):
    mock.ctl("/_control/settings", {"access_token_ttl": 1})
    s, r = login(rp)
    time.sleep(2.2)
    mock.ctl("/_control/fail", {"endpoint": "token", "mode": "error500",
                                "count": 1})
    r = s.get(rp.url + "/app/index.html", allow_redirects=False, timeout=10)
    assert r.status_code == 302
    assert "/authorize" in r.headers["Location"]


def test_inactivity_and_max_timeout(apache_factory, mock, redis_server):
    a = start(apache_factory, rp_conf(
        mock, redis_server,
        timeout="OAuth2SessionTimeout inactivity=2 max=5"))
    s, r = login(a)
    assert r.status_code == 200
    for _ in range(3):  # activity keeps it alive past inactivity
        time.sleep(1.2)
        r = s.get(a.url + "/app/", allow_redirects=False, timeout=10)
        assert r.status_code == 200
    time.sleep(1.6)  # ~5.2 s: past max
    r = s.get(a.url + "/app/", allow_redirects=False, timeout=10)
    assert r.status_code == 302
    s, r = login(a)
    time.sleep(2.5)  # idle past inactivity
    r = s.get(a.url + "/app/", allow_redirects=False, timeout=10)
    assert r.status_code == 302


# ---- logout ----------------------------------------------------------------

def redis_key_of(redis, cookie):
    raw = base64.urlsafe_b64decode(cookie.split(".")[0] + "=")
    h = hashlib.sha256(raw).hexdigest()
    return [k for k in redis.cli("KEYS", "*").split() if k.endswith(h)]


def test_logout_end_session_and_cookie_cleared(rp, mock, redis_server):
    s, r = login(rp)
    cookie = session_cookie(s)
    assert redis_key_of(redis_server, cookie)
    r = s.get(rp.url + "/oauth2/logout?return=/bye", allow_redirects=False,
              timeout=10)
    assert r.status_code == 302
    loc = urllib.parse.urlparse(r.headers["Location"])
    q = urllib.parse.parse_qs(loc.query)
    assert loc.path == "/end_session"
    assert q["post_logout_redirect_uri"] == [rp.url + "/bye"]
    assert "id_token_hint" in q
    assert "oauth2_session=;" in r.headers["Set-Cookie"]
    assert not redis_key_of(redis_server, cookie)
    r = s.get(rp.url + "/app/", allow_redirects=False, timeout=10)
    assert r.status_code == 302 and "/authorize" in r.headers["Location"]


@pytest.mark.parametrize("target", [
    "//evil.example/", "/\\evil.example", "https:evil.example",
    "https://evil.example/", "/%2F%2Fevil.example", "%2F%2Fevil.example",
    "/x%0d%0aSet-Cookie:a=b", "javascript:alert(1)",
    "http://127.0.0.1.evil.example/", "http://127.0.0.1@evil.example/",
    "/\t/evil.example",
])
def test_logout_open_redirects_refused(rp, target):
    r = requests.get(rp.url + "/oauth2/logout",
                     params={"return": target}, allow_redirects=False,
                     timeout=10)
    assert r.status_code == 400, target
    assert "Location" not in r.headers


def test_logout_without_session_goes_to_return(rp):
    r = requests.get(rp.url + "/oauth2/logout?return=/bye",
                     allow_redirects=False, timeout=10)
    assert r.status_code == 302 and r.headers["Location"] == "/bye"


# ---- plain OAuth 2.0 provider ----------------------------------------------

def test_plain_oauth2_provider_user_claim(apache_factory, mock,
                                          redis_server):
    m = mock.url
    mock.ctl("/_control/user", {"sub": "octo", "claims": {
        "login": "octocat", "org": {"name": "acme"}}})
    conf = f"""
OAuth2Passphrase "{PASS}"
OAuth2SessionStore {redis_server.url}
OAuth2CookieSecure Off
OAuth2Provider gh authorization_endpoint={m}/authorize \\
    token_endpoint={m}/token userinfo_endpoint={m}/userinfo \\
    client_id=demo-client client_secret=demo-secret scope=profile \\
    user_claim=org.name auth=client_secret_post
OAuth2RedirectURI /oauth2/callback
<Location /app>
    AuthType oauth2
    OAuth2Login gh
    Require valid-user
</Location>
<Directory "{{root}}/htdocs/app">
    Options +ExecCGI
    AddHandler cgi-script .cgi
</Directory>
"""
    a = start(apache_factory, conf)
    s, r = login(a, path="/app/env.cgi")
    assert r.status_code == 200, r.text
    assert "OAUTH2_CLAIM_login=octocat" in r.text
    assert "REMOTE_USER=octo" in r.text  # default claim sub (userinfo)
    reqs = mock.ctl("/_control/requests")["requests"]
    auth = [x for x in reqs if x["path"] == "/authorize"][-1]
    assert "nonce" not in json.dumps(auth.get("query"))


# ---- store down ------------------------------------------------------------

@pytest.mark.expect_lognos("OA00440", "OA00745", "OA00747", "OA00751")
def test_redis_stopped_mid_session(apache_factory, mock):
    red = harness.Redis().start()
    try:
        a = start(apache_factory, rp_conf(mock, red))
        s, r = login(a)
        assert r.status_code == 200
        red.stop()
        r = s.get(a.url + "/app/index.html", allow_redirects=False,
                  timeout=15)
        assert r.status_code == 503
        assert "protected app" not in r.text
        s2 = requests.Session()
        r = s2.get(a.url + "/app/index.html", timeout=15)
        assert r.status_code == 503
        assert not session_cookie(s2)
    finally:
        red.stop()
        red.cleanup()


# ---- configuration ---------------------------------------------------------

@pytest.mark.parametrize("opts,msg", [
    ("discovery=http://10.0.0.1/.well-known/openid-configuration",
     "discovery="),
    ("bogus=1", "bogus"),
    ("auth=private_key_jwt", "auth=private_key_jwt"),
    ("preset=nope", "unknown preset"),
])
def test_configtest_fails_on_bad_provider(apache_factory, mock,
                                          redis_server, opts, msg):
    a = apache_factory()
    a.set_config(f"""
OAuth2Passphrase "{PASS}"
OAuth2SessionStore {redis_server.url}
OAuth2Provider p client_id=x client_secret=y {opts}
OAuth2RedirectURI /cb
""")
    rc, out = a.configtest()
    assert rc != 0 and msg in out, out


@pytest.mark.expect_lognos("OA00740", "OA00755")
@pytest.mark.parametrize("conf,logno", [
    ("OAuth2Passphrase \"{p}\"\nOAuth2SessionStore {r}", "OA00740"),
    ("OAuth2Passphrase \"{p}\"\nOAuth2RedirectURI /cb", "OA00755"),
])
def test_configtest_cross_directive(apache_factory, redis_server, conf,
                                    logno):
    a = apache_factory()
    a.set_config(conf.format(p=PASS, r=redis_server.url) + """
OAuth2Provider p client_id=x authorization_endpoint=https://idp/a \
    token_endpoint=https://idp/t scope=profile
""")
    rc, out = a.configtest()
    assert rc != 0 and logno in out, out


def test_secrets_never_logged(rp, mock):
    s, r = login(rp)
    assert r.status_code == 200
    log = rp.error_log()
    assert "demo-secret" not in log
    form = [x.get("form") or {} for x in
            mock.ctl("/_control/requests")["requests"]
            if x["path"] == "/token"][-1]
    code = form["code"][0] if isinstance(form["code"], list) else form["code"]
    assert len(code) > 10 and code not in log
    assert "code sha256:" in log  # named only by its hash
    assert session_cookie(s).split(".")[1] not in log
    assert session_cookie(s).split(".")[0] not in log


# ---- access token to the app, Google-style hd ------------------------------

def test_access_token_header_and_spoofed_copy_stripped(apache_factory, mock,
                                                       redis_server):
    a = start(apache_factory, rp_conf(
        mock, redis_server, extra="""
<Location /app>
    OAuth2AccessTokenHeader X-Access-Token
</Location>"""))
    s, r = login(a)
    r = s.get(a.url + "/app/env.cgi", headers={
        "X-Access-Token": "spoofed", "OAuth2-Claim-sub": "root"},
        timeout=10)
    env = dict(line.split("=", 1) for line in r.text.splitlines()
               if "=" in line)
    assert env["HTTP_X_ACCESS_TOKEN"].startswith("eyJ")
    assert "HTTP_OAUTH2_CLAIM_SUB" not in env
    # Without a session the spoofed header never reaches anything.
    r = requests.get(a.url + "/app/env.cgi", allow_redirects=False,
                     headers={"X-Access-Token": "spoofed"}, timeout=10)
    assert r.status_code == 302


@pytest.mark.parametrize("hd,status", [("example.com", 302),
                                       ("evil.example", 403),
                                       (None, 403)])
def test_hosted_domain_checked(apache_factory, mock, redis_server, hd,
                               status):
    def body(form):
        c = {"aud": "demo-client", "sub": "g1", "iss": mock.url,
             "nonce": nonce["v"], "email_verified": True}
        if hd:
            c["hd"] = hd
        tok = mock.ctl("/_control/mint", {"alg": "RS256",
                                          "claims": c})["token"]
        return {"access_token": "at", "token_type": "Bearer",
                "id_token": tok}

    nonce = {}
    fake = FakeTokenEndpoint(mock, body)
    try:
        a = start(apache_factory, rp_conf(
            mock, redis_server,
            f"token_endpoint={fake.url} userinfo=off hd=example.com"))
        s, loc, q = start_login(a)
        assert q["hd"] == ["example.com"]
        nonce["v"] = q["nonce"][0]
        r = s.get(provider_code(s, loc), allow_redirects=False, timeout=10)
        assert r.status_code == status, r.text
        if status == 302:
            r = s.get(a.url + "/app/env.cgi", timeout=10)
            assert "OAUTH2_CLAIM_email_verified=true" in r.text
            assert "OAUTH2_CLAIM_hd=example.com" in r.text
    finally:
        fake.close()


def test_google_preset_configures(apache_factory, redis_server):
    a = apache_factory()
    a.set_config(f"""
OAuth2Passphrase "{PASS}"
OAuth2SessionStore {redis_server.url}
OAuth2Provider google preset=google client_id=x.apps.googleusercontent.com \\
    client_secret=s
OAuth2Provider github preset=github client_id=gh client_secret=s
OAuth2RedirectURI /oauth2/callback
""")
    rc, out = a.configtest()
    assert rc == 0, out


# ---- a real browser ----------------------------------------------------------

def test_headless_chromium_sign_in(apache_factory, mock, redis_server,
                                   tmp_path):
    webdriver = pytest.importorskip("selenium.webdriver")
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait
    from selenium.webdriver.chrome.service import Service
    mock.ctl("/_control/settings", {"auto_approve": False})
    a = start(apache_factory, rp_conf(mock, redis_server))
    opts = webdriver.ChromeOptions()
    opts.binary_location = "/usr/bin/chromium"
    for o in ("--headless", "--no-sandbox", "--disable-gpu",
              "--disable-background-networking", "--disable-component-update",
              "--disable-sync", "--no-first-run",
              f"--user-data-dir={tmp_path / 'chromium'}"):
        opts.add_argument(o)
    drv = webdriver.Chrome(service=Service("/usr/bin/chromedriver"),
                           options=opts)
    try:
        drv.set_page_load_timeout(20)
        drv.get(a.url + "/app/env.cgi?from=browser")
        WebDriverWait(drv, 15).until(
            lambda d: d.find_elements(By.ID, "username"))
        field = drv.find_element(By.ID, "username")
        field.clear()
        field.send_keys("alice")
        drv.find_element(By.ID, "login").click()
        WebDriverWait(drv, 15).until(
            lambda d: "REMOTE_USER=" in d.page_source)
        assert drv.current_url == a.url + "/app/env.cgi?from=browser"
        assert "REMOTE_USER=alice" in drv.page_source
        assert "OAUTH2_CLAIM_email=alice@example.test" in drv.page_source
    finally:
        drv.quit()
        mock.ctl("/_control/settings", {"auto_approve": True})


def test_require_claim_with_sessions(apache_factory, mock, redis_server):
    a = start(apache_factory, rp_conf(mock, redis_server, extra="""
<Location /app/admin>
    Require oauth2-claim groups:admin
    AuthzSendForbiddenOnFailure On
</Location>
<Location /app/verified>
    Require oauth2-claim email_verified:true
</Location>"""))
    a.write_file("htdocs/app/admin/index.html", "admins\n")
    a.write_file("htdocs/app/verified/index.html", "verified\n")
    s, r = login(a, path="/app/verified/")
    assert r.status_code == 200 and "verified" in r.text
    r = s.get(a.url + "/app/admin/", allow_redirects=False, timeout=10)
    assert r.status_code == 403


def test_backend_sees_the_same_claims_on_every_request(apache_factory, mock,
                                                       redis_server):
    # a node's first request opens the record, later ones take it (and the
    # claims already formatted for the backend) from the process's memo:
    # the backend must not tell them apart. Signed in on a, the first
    # request on b is such a first open.
    conf = rp_conf(mock, redis_server, extra="""
OAuth2SessionNamespace shared-site
<Location /app>
    OAuth2ClaimHeaderPrefix OAuth2-Claim-
</Location>
""")
    a = start(apache_factory, conf)
    b = start(apache_factory, conf)
    mock.ctl("/_control/user", {"sub": "dora", "claims": {
        "groups": ["users", "ops"], "address": {"country": "NL"},
        "note": "a\r\nX-Evil: 1", "age": 41, "x-dash": "d"}})
    s, r = login(a)
    assert r.status_code == 200, r.text
    skip = ("REMOTE_PORT", "UNIQUE_ID", "SERVER_PORT", "HTTP_HOST",
            "SERVER_NAME", "SCRIPT_FILENAME", "DOCUMENT_ROOT",
            "CONTEXT_DOCUMENT_ROOT", "SERVER_SIGNATURE")
    envs = []
    for _ in range(4):
        r = s.get(b.url + "/app/env.cgi", timeout=10)
        assert r.status_code == 200, r.text
        envs.append({k: v for k, v in (ln.split("=", 1) for ln in
                                        r.text.splitlines() if "=" in ln)
                     if k not in skip})
    first = envs[0]
    assert first["REMOTE_USER"] == "dora"
    assert first["OAUTH2_CLAIM_groups"] == '["users","ops"]', first
    assert first["OAUTH2_CLAIM_address"] == '{"country":"NL"}'
    assert first["OAUTH2_CLAIM_age"] == "41"
    assert first["OAUTH2_CLAIM_x_dash"] == "d"
    assert first["HTTP_OAUTH2_CLAIM_GROUPS"] == '["users","ops"]'
    # control characters blanked in the header, kept in the variable
    assert first["HTTP_OAUTH2_CLAIM_NOTE"] == "a  X-Evil: 1"
    assert "HTTP_X_EVIL" not in first
    for env in envs[1:]:
        assert env == first
