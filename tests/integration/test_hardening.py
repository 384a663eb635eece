"""test_hardening.py - the attacks of issue #9 ("Must hold, each with
tests"), each written as a test against Apache + mod_oauth2 + the mock
provider + redis: repeated protocol parameters, callback POST bodies,
the login-start allow-list and third-party-initiated login, forged Host /
X-Forwarded-* headers, generated pages (escaping, CSP, no ErrorDocument
leak), 363 open-redirect payloads, spoofed claim headers, cookie tricks,
per-vhost namespacing of sessions and token caches, a login storm, and
secrets in the error log (every test here runs with the conftest
`secrets` check at LogLevel debug / oauth2:trace8)."""
import http.client
import http.server
import re
import threading
import urllib.parse
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests
from urllib3.util.retry import Retry

import harness

PASS = "0123456789abcdef0123456789abcdef"
CGI = """#!/bin/sh
echo "Content-Type: text/plain"
echo
env | sort
"""
PAYLOADS = Path(__file__).resolve().parent / "payloads" / "open_redirect.txt"


@pytest.fixture
def apache_factory(apache_factory, secrets, mock_provider):
    """Debug/trace logging and the secrets-never-logged check (conftest)."""
    secrets.add(PASS, "demo-secret")
    secrets.add_source(harness.mock_seen_secrets(mock_provider))

    def make(extra="", **kw):
        kw.setdefault("loglevel", harness.SECRETS_LOGLEVEL)
        return apache_factory(extra, **kw)

    return make


@pytest.fixture
def mock(mock_provider):
    mock_provider.ctl("/_control/reset", {})
    return mock_provider


def conf(mock, redis, provider_opts="pass=login_hint,prompt", extra="",
         secure="Off"):
    disc = mock.url + "/.well-known/openid-configuration"
    return f"""
OAuth2Passphrase "{PASS}"
OAuth2SessionStore {redis.url}
OAuth2CookieSecure {secure}
OAuth2Provider mock discovery={disc} client_id=demo-client \\
    client_secret=demo-secret scope="openid email profile" {provider_opts}
OAuth2RedirectURI /oauth2/callback
OAuth2LogoutURI /oauth2/logout
OAuth2LoginURI /oauth2/login
<Location /app>
    AuthType oauth2
    OAuth2Login mock
    Require valid-user
</Location>
<Directory "{{root}}/htdocs/app">
    Options +ExecCGI
    AddHandler cgi-script .cgi
</Directory>
<Directory "{{root}}/htdocs/pub">
    Options +ExecCGI
    AddHandler cgi-script .cgi
</Directory>
{extra}
"""


def start(apache_factory, text):
    a = apache_factory()
    a.set_config(text.replace("{root}", str(a.root)))
    a.write_file("htdocs/app/index.html", "<h1>protected app</h1>\n")
    a.write_file("htdocs/app/env.cgi", CGI, mode=0o755)
    a.write_file("htdocs/pub/env.cgi", CGI, mode=0o755)
    return a.start()


@pytest.fixture
def rp(apache_factory, mock, redis_server):
    return start(apache_factory, conf(mock, redis_server))


def env_of(text):
    return dict(line.split("=", 1) for line in text.splitlines()
                if "=" in line)


def qs(url):
    return urllib.parse.parse_qs(urllib.parse.urlparse(url).query,
                                 keep_blank_values=True)


def start_login(a, path="/app/index.html"):
    s = requests.Session()
    r = s.get(a.url + path, allow_redirects=False, timeout=10)
    assert r.status_code == 302, r.text
    return s, r.headers["Location"]


def provider_callback(s, loc):
    """The callback URL the provider sends the browser to."""
    r = s.get(loc, allow_redirects=False, timeout=10)
    assert r.status_code == 302
    return r.headers["Location"]


def alive(a):
    r = requests.get(a.url + "/pub/env.cgi", timeout=10)
    assert r.status_code == 200
    assert "Segmentation fault" not in a.error_log()
    assert "exit signal" not in a.error_log()


# ---- 1. callback and login start ------------------------------------------

@pytest.mark.parametrize("param", ["state", "code", "iss", "error"])
def test_callback_repeated_parameter_refused(rp, param):
    s, loc = start_login(rp)
    cb = provider_callback(s, loc)
    base, query = cb.split("?", 1)
    vals = qs(cb)
    if param not in vals:  # the provider did not send it: add it once
        query += f"&{param}=first"
    first = vals.get(param, ["first"])[0]
    # Twice in the query, same or different value, either order.
    for dup in (f"{query}&{param}=other", f"{param}=other&{query}",
                f"{query}&{param}={urllib.parse.quote(first)}"):
        r = s.get(f"{base}?{dup}", allow_redirects=False, timeout=10)
        assert r.status_code == 400, (dup, r.status_code)
        assert "Location" not in r.headers
    # Twice in a form body, and once in the query plus once in the body.
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    for url, body in ((base, f"{query}&{param}=other"),
                      (f"{base}?{param}=other", query)):
        r = s.post(url, data=body, headers=form, allow_redirects=False,
                   timeout=10)
        assert r.status_code == 400, (url, body, r.status_code)
    # Nothing was consumed: the genuine callback still signs in.
    r = s.get(cb, allow_redirects=False, timeout=10)
    assert r.status_code == 302 and r.headers["Location"] == "/app/index.html"


@pytest.mark.parametrize("ctype", [None, "", "text/plain", "application/json",
                                   "multipart/form-data; boundary=x",
                                   "application/x-www-form-urlencodedx",
                                   "text/html; application/x-www-form-"
                                   "urlencoded"])
def test_callback_post_bad_content_type(rp, ctype):
    s, loc = start_login(rp)
    cb = provider_callback(s, loc)
    base, query = cb.split("?", 1)
    c = http.client.HTTPConnection("127.0.0.1", rp.port, timeout=10)
    c.putrequest("POST", urllib.parse.urlparse(base).path)
    if ctype is not None:
        c.putheader("Content-Type", ctype)
    c.putheader("Content-Length", str(len(query)))
    c.endheaders(query.encode())
    r = c.getresponse()
    assert r.status == 400, (ctype, r.status)
    assert r.getheader("Location") is None
    c.close()
    alive(rp)


def test_callback_post_form_and_limits(rp):
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    s, loc = start_login(rp)
    cb = provider_callback(s, loc)
    base, query = cb.split("?", 1)
    # Too big, or with a NUL byte: refused before parsing.
    for body in (query + "&pad=" + "x" * 9000, query + "&x=\0"):
        r = s.post(base, data=body, headers=form, allow_redirects=False,
                   timeout=10)
        assert r.status_code == 400
    r = s.put(base, data=query, headers=form, allow_redirects=False,
              timeout=10)
    assert r.status_code == 405
    # A well-formed form_post style callback signs in.
    r = s.post(base, data=query, headers=form, allow_redirects=False,
               timeout=10)
    assert r.status_code == 302, r.text
    assert s.cookies.get("oauth2_session")
    alive(rp)


def test_login_uri_allow_list_and_protocol_values_fixed(rp, mock):
    hostile = {"provider": "mock", "login_hint": "bob@example.test",
               "prompt": "login", "redirect_uri": "http://evil.example/cb",
               "scope": "openid admin", "state": "attacker",
               "nonce": "attacker", "code_challenge": "attacker",
               "code_challenge_method": "plain", "response_type": "token",
               "client_id": "evil", "response_mode": "fragment",
               "request_uri": "http://evil.example/r", "foo": "bar",
               "target_link_uri": "/app/env.cgi?from=login"}
    r = requests.get(rp.url + "/oauth2/login", params=hostile,
                     allow_redirects=False, timeout=10)
    assert r.status_code == 302, r.text
    q = qs(r.headers["Location"])
    assert all(len(v) == 1 for v in q.values()), q
    assert q["redirect_uri"] == [rp.url + "/oauth2/callback"]
    assert q["scope"] == ["openid email profile"]
    assert q["response_type"] == ["code"]
    assert q["client_id"] == ["demo-client"]
    assert q["code_challenge_method"] == ["S256"]
    for k in ("state", "nonce", "code_challenge"):
        assert q[k][0] != "attacker" and len(q[k][0]) == 43
    assert q["login_hint"] == ["bob@example.test"]
    assert q["prompt"] == ["login"]
    for k in ("foo", "response_mode", "request_uri", "provider",
              "target_link_uri"):
        assert k not in q
    # The login ends where target_link_uri said.
    s = requests.Session()
    r = s.get(rp.url + "/oauth2/login", params=hostile, timeout=10)
    assert r.status_code == 200
    assert r.url == rp.url + "/app/env.cgi?from=login"
    # A protected URL's own query never reaches the provider.
    r = requests.get(rp.url + "/app/?login_hint=x&prompt=none&scope=admin",
                     allow_redirects=False, timeout=10)
    q = qs(r.headers["Location"])
    assert "login_hint" not in q and "prompt" not in q
    assert q["scope"] == ["openid email profile"]


@pytest.mark.parametrize("query", [
    "provider=mock&provider=mock", "provider=mock&login_hint=a&login_hint=b",
    "provider=mock&target_link_uri=/a&target_link_uri=/b",
    "iss={iss}&iss={iss}", "provider=mock&prompt=login&prompt=none",
    "provider=mock&%70rompt=a&prompt=b", "provider=nope", "",
    "provider=mock&iss={iss}", "provider=mock&x=%00",
])
def test_login_uri_refuses(rp, mock, query):
    q = query.format(iss=urllib.parse.quote(mock.url, safe=""))
    r = requests.get(rp.url + "/oauth2/login?" + q, allow_redirects=False,
                     timeout=10)
    assert r.status_code == 400, (query, r.status_code)
    assert "Location" not in r.headers


class Recorder:
    """An HTTP server that only counts the requests it gets."""

    def __init__(self):
        self.hits = []
        outer = self

        class H(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                outer.hits.append(self.path)
                self.send_response(404)
                self.end_headers()

            def log_message(self, *a):
                pass

        self.srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.url = f"http://127.0.0.1:{self.srv.server_port}"
        threading.Thread(target=self.srv.serve_forever, daemon=True).start()

    def close(self):
        self.srv.shutdown()


def test_third_party_login_configured_issuer_only(rp, mock):
    rec = Recorder()
    try:
        for iss in (rec.url, rec.url + "/", mock.url + "/other",
                    mock.url.replace("127.0.0.1", "localhost")):
            r = requests.get(rp.url + "/oauth2/login",
                             params={"iss": iss, "login_hint": "x"},
                             allow_redirects=False, timeout=10)
            assert r.status_code == 400, iss
        assert rec.hits == []
        paths = [x["path"] for x in mock.ctl("/_control/requests")[
            "requests"]]
        assert not [p for p in paths if p.startswith("/other")]
    finally:
        rec.close()
    # The configured issuer starts a login; a same-origin absolute target
    # is kept, another origin is refused.
    s = requests.Session()
    r = s.get(rp.url + "/oauth2/login",
              params={"iss": mock.url, "target_link_uri":
                      rp.url + "/app/env.cgi?tp=1"}, timeout=10)
    assert r.status_code == 200 and r.url == rp.url + "/app/env.cgi?tp=1"
    for t in ("http://evil.example/", rp.url + ".evil.example/",
              "//evil.example"):
        r = requests.get(rp.url + "/oauth2/login",
                         params={"iss": mock.url, "target_link_uri": t},
                         allow_redirects=False, timeout=10)
        assert r.status_code == 400, t


@pytest.mark.parametrize("opts,msg", [
    ("pass=redirect_uri", "redirect_uri"), ("pass=login_hint,state", "state"),
    ("pass=code_challenge_method", "code_challenge_method"),
    ("pass=bad/name", "not a parameter name"),
    ("params=scope=admin", "scope"), ("params=client_id=x", "client_id"),
    ("params=a=1&a=2", "repeated"),
])
def test_configtest_refuses_reserved_pass_and_params(apache_factory, mock,
                                                     redis_server, opts, msg):
    a = apache_factory()
    a.set_config(conf(mock, redis_server, opts).replace("{root}",
                                                        str(a.root)))
    rc, out = a.configtest()
    assert rc != 0 and msg in out, out


# ---- 2. absolute URLs never from the client's Host / X-Forwarded-* ---------

FORGED = {"Host": "evil.example", "X-Forwarded-Host": "evil.example",
          "X-Forwarded-Proto": "https", "X-Forwarded-Server": "evil.example",
          "Forwarded": "host=evil.example;proto=https"}


def test_forged_host_and_forwarded_headers_ignored(rp, mock):
    r = requests.get(rp.url + "/app/", headers=FORGED, allow_redirects=False,
                     timeout=10)
    assert qs(r.headers["Location"])["redirect_uri"] == [
        rp.url + "/oauth2/callback"]
    r = requests.get(rp.url + "/oauth2/login?provider=mock", headers=FORGED,
                     allow_redirects=False, timeout=10)
    assert qs(r.headers["Location"])["redirect_uri"] == [
        rp.url + "/oauth2/callback"]
    # A forged Host does not make its origin "same origin".
    r = requests.get(rp.url + "/oauth2/logout",
                     params={"return": "http://evil.example/x"},
                     headers=FORGED, allow_redirects=False, timeout=10)
    assert r.status_code == 400
    r = requests.get(rp.url + "/oauth2/login",
                     params={"provider": "mock",
                             "target_link_uri": "https://evil.example/"},
                     headers=FORGED, allow_redirects=False, timeout=10)
    assert r.status_code == 400
    # Logout: post_logout_redirect_uri on the configured origin.
    s = requests.Session()
    assert s.get(rp.url + "/app/", timeout=10).status_code == 200
    # (requests would not send the cookie to a forged Host: set it here)
    r = s.get(rp.url + "/oauth2/logout?return=/bye", allow_redirects=False,
              headers=dict(FORGED, Cookie="oauth2_session=" +
                           s.cookies.get("oauth2_session")), timeout=10)
    assert qs(r.headers["Location"])["post_logout_redirect_uri"] == [
        rp.url + "/bye"]


def test_forwarded_headers_only_when_trusted(apache_factory, mock,
                                             redis_server):
    a = start(apache_factory, conf(mock, redis_server,
                                   extra="OAuth2TrustForwardedHeaders On"))
    h = {"X-Forwarded-Host": "proxy.example:8443, inner.example",
         "X-Forwarded-Proto": "https"}
    r = requests.get(a.url + "/app/", headers=h, allow_redirects=False,
                     timeout=10)
    assert qs(r.headers["Location"])["redirect_uri"] == [
        "https://proxy.example:8443/oauth2/callback"]
    # Malformed forwarded values fall back to the configuration.
    for bad in ({"X-Forwarded-Host": "evil.example/x"},
                {"X-Forwarded-Host": "evil.example@x"},
                {"X-Forwarded-Host": ""}):
        r = requests.get(a.url + "/app/", headers=bad, allow_redirects=False,
                         timeout=10)
        assert qs(r.headers["Location"])["redirect_uri"] == [
            a.url + "/oauth2/callback"], bad
    r = requests.get(a.url + "/app/", headers={
        "X-Forwarded-Host": "proxy.example", "X-Forwarded-Proto": "gopher"},
        allow_redirects=False, timeout=10)
    assert qs(r.headers["Location"])["redirect_uri"] == [
        "http://proxy.example/oauth2/callback"]


def test_trust_forwarded_directive_syntax(apache_factory):
    a = apache_factory("OAuth2TrustForwardedHeaders maybe")
    rc, out = a.configtest()
    assert rc != 0 and "OAuth2TrustForwardedHeaders" in out


# ---- 3. generated pages ------------------------------------------------------

def locked(r):
    assert r.headers.get("Content-Security-Policy") == "default-src 'none'"
    assert r.headers.get("X-Content-Type-Options") == "nosniff"
    assert "no-store" in r.headers.get("Cache-Control", "")


XSS = "<script>alert(1)</script>\"'><img src=x onerror=alert(2)>"


def test_generated_pages_escaped_and_locked(rp):
    s, loc = start_login(rp)
    state = qs(loc)["state"][0]
    r = s.get(rp.url + "/oauth2/callback", params={
        "error": XSS, "error_description": XSS, "state": state},
        allow_redirects=False, timeout=10)
    assert r.status_code == 403
    locked(r)
    assert "<script" not in r.text and "<img" not in r.text
    assert "&lt;script&gt;" in r.text
    pages = [
        requests.get(rp.url + "/oauth2/callback?state=" +
                     urllib.parse.quote(XSS), allow_redirects=False,
                     timeout=10),
        requests.get(rp.url + "/oauth2/logout", params={"return": XSS},
                     allow_redirects=False, timeout=10),
        requests.get(rp.url + "/oauth2/login", params={"provider": XSS},
                     allow_redirects=False, timeout=10),
        requests.get(rp.url + "/app/", headers={"Accept": "application/json"},
                     allow_redirects=False, timeout=10),
        requests.get(rp.url + "/app/" + urllib.parse.quote(XSS),
                     allow_redirects=False, timeout=10),
        requests.get(rp.url + "/oauth2/logout?return=/x",
                     allow_redirects=False, timeout=10),
    ]
    for r in pages:
        assert r.status_code in (302, 400, 401), r.status_code
        locked(r)
        assert "<script" not in r.text and "<img" not in r.text


def test_error_document_never_serves_protected_content(apache_factory, mock,
                                                       redis_server):
    m = mock
    extra = f"""
ErrorDocument 400 /app/index.html
ErrorDocument 401 /app/index.html
ErrorDocument 403 /app/index.html
ErrorDocument 502 /app/index.html
ErrorDocument 503 /app/index.html
<Location /api>
    AuthType oauth2-bearer
    OAuth2TokenVerify jwks_uri={m.url}/jwks issuer={m.url} audience=api
    Require valid-user
</Location>
"""
    a = start(apache_factory, conf(mock, redis_server, extra=extra))
    a.write_file("htdocs/api/data.json", '{"secret": "api data"}\n')
    rs = [
        requests.get(a.url + "/app/index.html",
                     headers={"Accept": "application/json"},
                     allow_redirects=False, timeout=10),
        requests.post(a.url + "/app/index.html", allow_redirects=False,
                      timeout=10),
        requests.get(a.url + "/oauth2/callback?state=x&code=y",
                     allow_redirects=False, timeout=10),
        requests.get(a.url + "/app/index.html", allow_redirects=False,
                     headers={"Cookie": "oauth2_session=" + "A" * 43 + "." +
                              "B" * 43, "Accept": "application/json"},
                     timeout=10),
        requests.get(a.url + "/api/data.json", timeout=10),
        requests.get(a.url + "/api/data.json",
                     headers={"Authorization": "Bearer not.a.token"},
                     timeout=10),
    ]
    for r in rs:
        assert r.status_code in (400, 401), r.status_code
        assert "protected app" not in r.text, r.text
        assert "api data" not in r.text, r.text


def test_error_document_into_the_same_location(apache_factory, mock,
                                               redis_server):
    """An ErrorDocument inside the refused location itself: Apache skips
    authentication for an internal redirect whose configuration equals the
    failed request's, so without a guard the target would be served."""
    m = mock
    extra = f"""
<Location /api>
    AuthType oauth2-bearer
    OAuth2TokenVerify jwks_uri={m.url}/jwks issuer={m.url} audience=api
    Require oauth2-scope photos.read
    ErrorDocument 400 /api/data.json
    ErrorDocument 401 /api/data.json
    ErrorDocument 403 /api/data.json
</Location>
<Location /app/admin>
    Require oauth2-claim groups:admin
    ErrorDocument 401 /app/admin/secret.html
    ErrorDocument 403 /app/admin/secret.html
</Location>
<Location /app/docs>
    ErrorDocument 404 /app/docs/index.html
</Location>
"""
    a = start(apache_factory, conf(mock, redis_server, extra=extra))
    a.write_file("htdocs/api/data.json", '{"secret": "api data"}\n')
    a.write_file("htdocs/app/admin/secret.html", "admin secret\n")
    a.write_file("htdocs/app/docs/index.html", "docs index\n")
    no_scope = mock.ctl("/_control/mint", {"claims": {
        "aud": "api", "scope": "openid"}})["token"]
    for h in ({}, {"Authorization": "Bearer not.a.token"},
              {"Authorization": "Bearer " + no_scope},
              {"Authorization": "Basic eDp5"}):
        r = requests.get(a.url + "/api/data.json", headers=h, timeout=10)
        assert r.status_code in (400, 401, 403), (h, r.status_code)
        assert "api data" not in r.text, (h, r.text)
    s = requests.Session()
    assert s.get(a.url + "/app/", timeout=10).status_code == 200
    r = s.get(a.url + "/app/admin/x.html", allow_redirects=False, timeout=10)
    assert r.status_code in (401, 403) and "admin secret" not in r.text
    # An error page of an authorized request is still served.
    r = s.get(a.url + "/app/docs/missing.html", timeout=10)
    assert r.status_code == 404 and "docs index" in r.text


# ---- 4. open redirects ---------------------------------------------------------

def payloads(a):
    out = []
    for line in PAYLOADS.read_text(encoding="utf-8").splitlines():
        if line.startswith("# ") or line == "#":
            continue
        p = line.encode("latin-1", "backslashreplace").decode(
            "unicode_escape") if "\\" in line else line
        # unicode_escape decodes bytes as latin-1: restore UTF-8 text.
        try:
            p = p.encode("latin-1").decode("utf-8")
        except (UnicodeEncodeError, UnicodeDecodeError):
            pass
        out.append(p.replace("{origin}", a.url).replace(
            "{host}", f"127.0.0.1:{a.port}"))
    return out


def test_payload_file_is_big_and_varied(rp):
    ps = payloads(rp)
    assert len(ps) >= 200
    for needle in ("//evil", "/\\evil", "\\\\evil", "\t", "\r", "\n", "%2f",
                   "%5c", "%252f", "@", "javascript:", "data:", "vbscript:",
                   ".evil.example", "2130706433", "[::", "\uff0f", " //"):
        assert any(needle.lower() in p.lower() for p in ps), needle


def offsite(a, r):
    loc = r.headers.get("Location")
    if loc is None:
        return False
    u = urllib.parse.urlparse(urllib.parse.urljoin(a.url + "/", loc))
    return u.netloc not in (f"127.0.0.1:{a.port}",) and \
        not u.path.startswith("/authorize")


def same_origin_value(a, raw):
    """Is the value our parser decodes from the raw query text a plain
    same-origin target (then a redirect there is no open redirect)?"""
    v = urllib.parse.unquote(raw)
    if v.startswith("//") or "\\" in v or not v.isprintable():
        return False
    u = urllib.parse.urlparse(urllib.parse.urljoin(a.url + "/", v))
    return u.scheme == "http" and u.netloc == f"127.0.0.1:{a.port}" and \
        (v.startswith("/") or v.startswith(a.url))


def raw_ok(p):
    return p and all(0x21 <= ord(c) < 0x7f for c in p) and \
        not set(p) & set("#&")


def test_open_redirect_payloads_refused(rp):
    s = requests.Session()
    bad = []
    for p in payloads(rp):
        targets = [("/oauth2/logout", {"return": p}),
                   ("/oauth2/login", {"provider": "mock",
                                      "target_link_uri": p})]
        for path, params in targets:
            r = s.get(rp.url + path, params=params, allow_redirects=False,
                      timeout=10)
            if r.status_code != 400 or offsite(rp, r):
                bad.append((path, p, r.status_code,
                            r.headers.get("Location")))
        if raw_ok(p):
            for url in (f"{rp.url}/oauth2/logout?return={p}",
                        f"{rp.url}/oauth2/login?provider=mock&"
                        f"target_link_uri={p}"):
                r = s.get(url, allow_redirects=False, timeout=10)
                if offsite(rp, r) or (r.status_code != 400 and
                                      not same_origin_value(rp, p)):
                    bad.append((url, r.status_code,
                                r.headers.get("Location")))
    assert not bad, "\n".join(map(repr, bad))
    # The good cases still work.
    r = s.get(rp.url + "/oauth2/logout", params={"return": "/ok?a=//b"},
              allow_redirects=False, timeout=10)
    assert r.status_code == 302 and r.headers["Location"] == "/ok?a=//b"
    r = s.get(rp.url + "/oauth2/logout", params={"return": rp.url + "/ok"},
              allow_redirects=False, timeout=10)
    assert r.status_code == 302


# ---- 5. spoofed headers ---------------------------------------------------------

SPOOF_NAMES = ["OAuth2-Claim-Sub", "oauth2-claim-sub", "OAUTH2-CLAIM-SUB",
               "OAuth2_Claim_Sub", "oauth2_claim-sub", "X-Claim-Sub",
               "x-claim-email", "X_CLAIM_EMAIL", "x_Claim-Groups",
               "Remote-User", "REMOTE_USER", "remote-user", "Remote_User",
               "X-Access-Token", "x_access_token", "X-ACCESS-TOKEN"]
# mod_setenvif runs after our header_parser hook and looks names up case
# insensitively: any spoofed header that survived sets SPOOF_SEEN (this
# catches '_' spellings, which CGI itself would hide).
SEEN = "\n".join(sorted({f'    SetEnvIf {n} ".+" SPOOF_SEEN={n}'
                         for n in (x.lower() for x in SPOOF_NAMES)}))


def test_spoofed_headers_removed_everywhere(apache_factory, mock,
                                            redis_server):
    extra = f"""
<Location /app>
    OAuth2ClaimHeaderPrefix X-Claim-
    OAuth2AccessTokenHeader X-Access-Token
</Location>
<Location /pub>
    OAuth2ClaimHeaderPrefix X-Claim-
    OAuth2AccessTokenHeader X-Access-Token
</Location>
<Directory "{{root}}/htdocs">
{SEEN}
</Directory>
"""
    a = start(apache_factory, conf(mock, redis_server, extra=extra))
    s = requests.Session()
    assert s.get(a.url + "/app/", timeout=10).status_code == 200
    for i, name in enumerate(SPOOF_NAMES):
        h = {name: f"spoofed{i}"}
        for method, path, sess in (("GET", "/app/env.cgi", s),
                                   ("OPTIONS", "/app/env.cgi", s),
                                   ("POST", "/app/env.cgi", s),
                                   ("GET", "/pub/env.cgi", requests),
                                   ("OPTIONS", "/pub/env.cgi", requests)):
            r = sess.request(method, a.url + path, headers=h, timeout=10,
                             allow_redirects=False)
            assert r.status_code == 200, (method, path, r.status_code)
            assert "spoofed" not in r.text, (name, method, path, r.text)
            env = env_of(r.text)
            assert "SPOOF_SEEN" not in env, (name, method, path,
                                             env.get("SPOOF_SEEN"))
            if path.startswith("/pub"):
                assert "REMOTE_USER" not in env
                assert not [k for k in env if k.startswith(
                    ("HTTP_X_CLAIM", "HTTP_OAUTH2", "HTTP_REMOTE",
                     "HTTP_X_ACCESS"))]
            else:
                assert env["REMOTE_USER"] == env["HTTP_X_CLAIM_SUB"]
                assert env["HTTP_X_ACCESS_TOKEN"].startswith("eyJ")


# ---- 6. cookies -------------------------------------------------------------------

def sign_in(a, user):
    """A finished login for `user` (via the mock's control API): the
    session cookie's name and value."""
    a_mock = sign_in.mock
    a_mock.ctl("/_control/user", {"sub": user, "once": True})
    s = requests.Session()
    r = s.get(a.url + "/app/env.cgi", timeout=10)
    assert r.status_code == 200 and f"REMOTE_USER={user}" in r.text
    return s.cookies.get("oauth2_session")


def test_host_prefix_cookie_when_secure(apache_factory, mock, redis_server):
    a = start(apache_factory, conf(mock, redis_server, secure="On"))
    r = requests.get(a.url + "/app/env.cgi", allow_redirects=False,
                     timeout=10)
    sc = r.headers["Set-Cookie"]
    assert sc.startswith("__Host-oauth2_login_"), sc
    assert "; Secure" in sc and "Path=/;" in sc and "Domain" not in sc
    login_cookie = sc.split(";")[0]
    r = requests.get(r.headers["Location"], allow_redirects=False,
                     timeout=10)
    r = requests.get(r.headers["Location"], allow_redirects=False,
                     headers={"Cookie": login_cookie}, timeout=10)
    assert r.status_code == 302, r.text
    sess = [c for c in r.headers["Set-Cookie"].split(", ")
            if c.startswith("__Host-oauth2_session=")]
    assert sess and "; Secure" in sess[0] and "Path=/;" in sess[0]
    value = sess[0].split(";")[0].split("=", 1)[1]
    r = requests.get(a.url + "/app/env.cgi", allow_redirects=False,
                     headers={"Cookie": "__Host-oauth2_session=" + value},
                     timeout=10)
    assert r.status_code == 200
    # The same value under the unprefixed name is not a session.
    r = requests.get(a.url + "/app/env.cgi", allow_redirects=False,
                     headers={"Cookie": "oauth2_session=" + value},
                     timeout=10)
    assert r.status_code == 302


def raw_get(a, path, headers):
    """GET with headers given as a list (repeated names allowed)."""
    c = http.client.HTTPConnection("127.0.0.1", a.port, timeout=10)
    c.putrequest("GET", path)
    for k, v in headers:
        c.putheader(k, v)
    c.endheaders()
    r = c.getresponse()
    body = r.read().decode(errors="replace")
    c.close()
    return r.status, r.getheader("Location"), body


def test_two_session_cookies_mean_no_session(apache_factory, mock,
                                             redis_server):
    sign_in.mock = mock
    a = start(apache_factory, conf(mock, redis_server))
    alice, bob = sign_in(a, "alice"), sign_in(a, "bob")
    cases = [
        [("Cookie", f"oauth2_session={alice}; oauth2_session={bob}")],
        [("Cookie", f"oauth2_session={bob}; x=1; oauth2_session={alice}")],
        [("Cookie", f"oauth2_session={alice}; oauth2_session={alice}")],
        [("Cookie", f"oauth2_session={alice}"),
         ("Cookie", f"oauth2_session={bob}")],
        [("Cookie", f"oauth2_session={alice}"),
         ("Cookie", f"oauth2_session=junk")],
    ]
    for hs in cases:
        st, loc, body = raw_get(a, "/app/env.cgi", hs)
        assert st == 302 and "/authorize" in loc, (hs, st)
        st, loc, body = raw_get(a, "/app/env.cgi",
                                hs + [("Accept", "application/json")])
        assert st == 401 and "REMOTE_USER" not in body, (hs, st)
    st, _, body = raw_get(a, "/app/env.cgi",
                          [("Cookie", f"oauth2_session={alice}")])
    assert st == 200 and "REMOTE_USER=alice" in body


def test_huge_and_malformed_cookies(apache_factory, mock, redis_server):
    a = start(apache_factory, conf(mock, redis_server))
    big = [("Cookie", f"c{i}=" + "x" * 4000) for i in range(30)]
    st, loc, _ = raw_get(a, "/app/env.cgi", big)
    assert st == 400 and loc is None
    st, _, _ = raw_get(a, "/app/env.cgi", [("Cookie", "x" * 9000)])
    assert st == 400
    st, _, _ = raw_get(a, "/oauth2/callback?state=abc&code=x", big)
    assert st == 400
    for c in ("oauth2_session", "oauth2_session=", "oauth2_session=.",
              "oauth2_session=a.b", "=;;;=;", ";;;,,,", "oauth2_session==",
              "oauth2_session=" + "A" * 43 + "." + "B" * 43,
              "oauth2_session=" + "A" * 43 + "." + "B" * 43 + "." + "C",
              "oauth2_session=" + "%00" * 30, "oauth2_session=\x7f\x01",
              "oauth2_session=" + "é" * 50, "oauth2_session=" + "A" * 7000,
              "oauth2_login_abc=xyz; oauth2_session=" + "." * 87):
        st, loc, _ = raw_get(a, "/app/env.cgi", [("Cookie", c)])
        assert st in (302, 400), (c, st)
        if st == 302:
            assert "/authorize" in loc
    alive(a)


# ---- 7. namespacing by virtual host ---------------------------------------------

def two_vhost_conf(mock, redis, port2, inner_a, inner_b):
    return conf(mock, redis, extra=f"""
Listen 127.0.0.1:{port2}
{inner_a}
<VirtualHost 127.0.0.1:{port2}>
    ServerName 127.0.0.1
    DocumentRoot "{{root}}/htdocs"
    {inner_b}
</VirtualHost>
""")


def test_session_cookie_does_not_cross_vhosts(apache_factory, mock,
                                              redis_server):
    port2 = harness.free_port()
    a = start(apache_factory, two_vhost_conf(mock, redis_server, port2,
                                             "", ""))
    url2 = f"http://127.0.0.1:{port2}"
    s = requests.Session()
    r = s.get(a.url + "/app/env.cgi", timeout=10)
    assert r.status_code == 200
    # Cookies are per host, not per port: the browser sends it to B too.
    r = s.get(url2 + "/app/env.cgi", allow_redirects=False, timeout=10)
    assert r.status_code == 302 and "/authorize" in r.headers["Location"]
    assert qs(r.headers["Location"])["redirect_uri"] == [
        url2 + "/oauth2/callback"]
    # Name-based: same port, another ServerName, same store + passphrase.
    b = start(apache_factory, conf(mock, redis_server, extra="""
<VirtualHost *>
    ServerName other.example
    DocumentRoot "{root}/htdocs"
</VirtualHost>
<VirtualHost *>
    ServerName 127.0.0.1
    DocumentRoot "{root}/htdocs"
</VirtualHost>
"""))
    s = requests.Session()
    assert s.get(b.url + "/app/env.cgi", timeout=10).status_code == 200
    r = s.get(b.url + "/app/env.cgi", headers={"Host": "other.example"},
              allow_redirects=False, timeout=10)
    assert r.status_code == 302, r.status_code


def test_token_cache_does_not_cross_vhosts(apache_factory, mock,
                                           redis_server):
    port2 = harness.free_port()
    m = mock.url

    def api(aud, how):
        src = f"jwks_uri={m}/jwks" if how == "jwt" else \
            f"introspect={m}/introspect client_id=demo-client " \
            f"client_secret=demo-secret"
        return f"""
<Location /api>
    AuthType oauth2-bearer
    OAuth2TokenVerify {src} issuer={m} audience={aud}
    Require valid-user
</Location>
<Location /iapi>
    AuthType oauth2-bearer
    OAuth2TokenVerify introspect={m}/introspect client_id=demo-client \\
        client_secret=demo-secret issuer={m} audience={aud}
    Require valid-user
</Location>"""
    a = start(apache_factory, two_vhost_conf(
        mock, redis_server, port2, api("aud-a", "jwt"), api("aud-b", "jwt")))
    a.write_file("htdocs/api/data.json", '{"ok": true}\n')
    a.write_file("htdocs/iapi/data.json", '{"ok": true}\n')
    url_b = f"http://127.0.0.1:{port2}"
    for path, make in (
            ("/api/data.json", lambda aud: mock.ctl("/_control/mint", {
                "claims": {"aud": aud, "sub": "u-" + aud}})["token"]),
            ("/iapi/data.json", lambda aud: mock.ctl("/_control/opaque", {
                "claims": {"aud": aud, "sub": "u-" + aud, "iss": m}})[
                "token"])):
        ta, tb = make("aud-a"), make("aud-b")
        for _ in range(2):  # the second round is served from the caches
            for url, tok, want in ((a.url, ta, 200), (url_b, ta, 401),
                                   (url_b, tb, 200), (a.url, tb, 401)):
                r = requests.get(url + path, timeout=10, headers={
                    "Authorization": "Bearer " + tok})
                assert r.status_code == want, (path, url, want)


# ---- 8. login storm ------------------------------------------------------------

@pytest.fixture
def storm_idp(secrets):
    """A private mock provider (login form on) for the storm."""
    m = harness.MockProvider().start()
    secrets.add_source(harness.mock_seen_secrets(m))
    yield m
    m.stop()
    m.cleanup()


def test_login_storm_each_browser_its_own_identity(apache_factory, storm_idp,
                                                   redis_server):
    mock = storm_idp
    a = start(apache_factory, conf(mock, redis_server))
    mock.ctl("/_control/settings", {"delay": {"token": 0.3,
                                              "userinfo": 0.2}})
    n = 200
    # The mock's listen backlog is 128: the browser-to-provider leg goes at
    # most 32 at a time, then all callbacks hit Apache together.
    idp_leg = threading.BoundedSemaphore(32)
    together = threading.Barrier(n)

    arrived = threading.local()

    def post_form(s, url, data):
        """POST, again only when the connection was dropped before any
        answer (the busy mock's accept queue; a processed form would answer
        400 "unknown or expired login request" on the second try)."""
        for attempt in range(3):
            try:
                return s.post(url, data=data, allow_redirects=False,
                              timeout=60)
            except requests.ConnectionError:
                if attempt == 2:
                    raise

    def arrive():
        """Each thread arrives once, failed or not, so none waits long."""
        if not getattr(arrived, "done", False):
            arrived.done = True
            try:
                together.wait(timeout=60)
            except threading.BrokenBarrierError:
                pass

    def one(i):
        arrived.done = False
        user = f"storm{i:03d}"
        s = requests.Session()
        # Each request on its own connection: a busy event MPM closes idle
        # keep-alive connections, and requests does not retry those.
        s.headers["Connection"] = "close"
        # Like a browser, retry an idempotent GET whose connection was
        # dropped before any answer (never the single-use form POST).
        s.mount("http://", requests.adapters.HTTPAdapter(max_retries=Retry(
            total=2, connect=2, read=2, status=0, allowed_methods={"GET"},
            raise_on_status=False)))
        r = s.get(a.url + f"/app/env.cgi?u={i}", allow_redirects=False,
                  timeout=60)
        with idp_leg:
            r = s.get(r.headers["Location"], timeout=60)
            m = re.search(r'name="req" value="([^"]+)"', r.text)
            if r.status_code != 200 or m is None:
                return (i, "no login form", r.status_code)
            r = post_form(s, mock.url + "/authorize/login", {
                "req": m.group(1), "username": user, "action": "login"})
        arrive()
        r = s.get(r.headers["Location"], timeout=120)
        env = env_of(r.text)
        got = (r.status_code, r.url, env.get("REMOTE_USER"),
               env.get("OAUTH2_CLAIM_email"), env.get("QUERY_STRING"))
        want = (200, a.url + f"/app/env.cgi?u={i}", user,
                f"{user}@example.test", f"u={i}")
        if got != want:
            return (i, got)
        # Nothing of anybody else: every user name in the page is ours.
        others = set(re.findall(r"storm\d{3}", r.text)) - {user}
        if others or env.get("OAUTH2_CLAIM_sub") != user:
            return (i, "foreign identity", sorted(others))
        # The session keeps answering with this identity only.
        r = s.get(a.url + "/app/env.cgi", timeout=60)
        if env_of(r.text).get("REMOTE_USER") != user:
            return (i, "second request", env_of(r.text).get("REMOTE_USER"))
        return None

    def guarded(i):
        try:
            return one(i)
        except requests.RequestException as e:
            return (i, "connection", getattr(e.request, "url", None), str(e))
        finally:
            arrive()

    with ThreadPoolExecutor(max_workers=n) as ex:
        results = list(ex.map(guarded, range(n)))
    bad = sorted((x for x in results if x is not None),
                 key=lambda x: x[1] != "connection")
    trouble = [ln for ln in mock.log().splitlines()
               if not re.match(r"^\d\d:\d\d:\d\d mock_provider ", ln)]
    assert not bad, (len(bad), bad[:10], trouble[:40])


# ---- 9. the secrets check itself can fail ----------------------------------------

def test_secrets_check_finds_a_logged_value(rp, secrets):
    requests.get(rp.url + "/app/", allow_redirects=False, timeout=10)
    reg = harness.Secrets()
    reg.add("OA00743: login started", "OA00743", "not-in-any-log-" + "z" * 9)
    reg.add_source(lambda: ["login started at mock"])
    reg.add_source(lambda: 1 / 0)  # a source that fails is skipped
    reg.resolve()
    assert reg.hits(rp.error_log()) == ["OA00743: login started",
                                        "login started at mock"]
    # The session fixture registered what requests saw (cookies, codes).
    assert any(len(v) > 40 for v in secrets.values)
