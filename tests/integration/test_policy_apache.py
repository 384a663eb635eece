"""test_policy_apache.py - Lua policies through Apache: Require oauth2-policy
for bearer principals (allow, 403 insufficient_scope with scope=, matched
rule) and session principals (plain 403) with the policies/examples
scripts, two virtual hosts with different policies, hot reload under load
(a broken rewrite keeps the old version), configtest failures, shadow-mode
disagreements, the JSON decision log (never a token), engine failures
(500, never allow) and RFC 9728 metadata with resource_metadata in 401s."""
import http.client
import json
import os
import re
import threading
import time

import pytest
import requests

import harness

LIB = harness.REPO / "policies"
EXAMPLES = LIB / "examples"
PASS = "0123456789abcdef0123456789abcdef"

ALLOW_ALL = 'return function(req) return true, "v1 allows" end\n'
DENY_ALL = ('return function(req) return false, "v2 denies everything", '
            '{ "v2.scope" } end\n')


@pytest.fixture
def mock(mock_provider):
    mock_provider.ctl("/_control/reset", {})
    return mock_provider


def copy_example(a, name, with_test=True):
    """Copy policies/examples/NAME.lua (and its _test.lua) below the root."""
    p = a.write_file(f"policies/{name}.lua",
                     (EXAMPLES / f"{name}.lua").read_text())
    if with_test:
        a.write_file(f"policies/{name}_test.lua",
                     (EXAMPLES / f"{name}_test.lua").read_text())
    return p


def api_block(m, path="/api"):
    return f"""
<Location {path}>
    AuthType oauth2-bearer
    AuthName photos
    OAuth2TokenVerify jwks_uri={m.url}/jwks issuer={m.url} audience=api
    Require oauth2-policy
</Location>
"""


def policy_conf(m, policy="policies/photos.lua", limits="reload=1",
                extra=""):
    return f"""
OAuth2PolicyLibDir {LIB}
OAuth2Policy {policy}
OAuth2PolicyLimits {limits}
{extra}
{api_block(m)}
"""


def content(a):
    for f in ("api/photos/1", "api/admin/x", "api/health", "api/other"):
        a.write_file("htdocs/" + f, "ok\n")


def start(apache_factory, conf, examples=("photos",), before=None):
    a = apache_factory()
    for e in examples:
        copy_example(a, e)
    a.set_config(conf.replace("{root}", str(a.root)))
    content(a)
    if before:
        before(a)
    return a.start()


def mint(m, scope="openid", **claims):
    body = {"claims": dict({"sub": "alice", "scope": scope}, **claims)}
    return m.ctl("/_control/mint", body)["token"]


def call(a, path, token=None, method="GET", host=None):
    h = {}
    if token is not None:
        h["Authorization"] = "Bearer " + token
    if host is not None:
        h["Host"] = host
    return requests.request(method, a.url + path, headers=h, timeout=10)


def raw_get(a, path, token):
    """Status of GET `path` sent byte for byte (requests would normalize
    percent-encodings of unreserved characters)."""
    c = http.client.HTTPConnection("127.0.0.1", a.port, timeout=10)
    try:
        c.request("GET", path, headers={"Authorization": "Bearer " + token})
        return c.getresponse().status
    finally:
        c.close()


def www(r):
    return r.headers.get("WWW-Authenticate", "")


# ---- decisions for bearer principals ------------------------------------

def test_bearer_allow_and_insufficient_scope(apache_factory, mock):
    a = start(apache_factory, policy_conf(mock))
    r = call(a, "/api/photos/1", mint(mock, "photos.read"))
    assert r.status_code == 200, (r.status_code, www(r))
    r = call(a, "/api/photos/1", mint(mock, "openid"))
    assert r.status_code == 403
    assert 'error="insufficient_scope"' in www(r)
    assert 'scope="photos.read"' in www(r)
    assert 'realm="photos"' in www(r)
    r = call(a, "/api/photos/1", mint(mock, "photos.read"), method="DELETE")
    assert r.status_code == 403
    assert 'scope="photos.read photos.write"' in www(r)
    # Default deny: an unknown route asks for no scope.
    r = call(a, "/api/other", mint(mock, "photos.read photos.write"))
    assert r.status_code == 403
    assert 'error="insufficient_scope"' in www(r) and "scope=" not in \
        www(r).replace("insufficient_scope", "")
    # The raw path is what the policy sees: an encoded segment is refused.
    assert raw_get(a, "/api/ph%6Ftos/1", mint(mock, "photos.read")) == 403
    # Apache resolves the dot segment for its own mapping; the policy
    # still sees it and refuses the ambiguous path.
    assert raw_get(a, "/api/photos/./1", mint(mock, "photos.read")) == 403
    log = a.error_log()
    assert "OA00626" in log and "ambiguous path" in log
    assert "denied DELETE /api/photos/1" in log


def test_decisions_counted_per_result_across_a_graceful_restart(
        apache_factory, mock):
    # each call site keeps the series it found (a hint into the shared
    # table); a graceful restart makes a new table, and the counts must
    # start again there instead of going to the old one or nowhere
    a = start(apache_factory, policy_conf(mock, extra="""
<Location /metrics>
    SetHandler oauth2-metrics
</Location>"""))
    good, bad = mint(mock, "photos.read"), mint(mock, "openid")

    def counts():
        text = requests.get(a.url + "/metrics", timeout=10).text
        got = {}
        for res in ("allow", "deny"):
            m = re.search(r'^oauth2_policy_decisions_total\{vhost="[^"]*",'
                          r'result="%s"\} (\d+)$' % res, text, re.M)
            got[res] = int(m.group(1)) if m else 0
        return got
    for rnd in range(2):
        assert counts() == {"allow": 0, "deny": 0}, rnd
        for _ in range(3):
            assert call(a, "/api/photos/1", good).status_code == 200
        for _ in range(2):
            assert call(a, "/api/photos/1", bad).status_code == 403
        assert counts() == {"allow": 3, "deny": 2}, rnd
        a.reload()


def test_bearer_claims_policy_and_matched_rule(apache_factory, mock):
    a = start(apache_factory, policy_conf(mock, "policies/admin.lua"),
              examples=("admin",))
    tok = mint(mock, "openid", groups=["staff", "admin"])
    assert call(a, "/api/admin/x", tok).status_code == 200
    r = call(a, "/api/admin/x", mint(mock, "openid", groups="staff"))
    assert r.status_code == 403
    assert 'error="insufficient_scope"' in www(r)
    assert call(a, "/api/health", mint(mock)).status_code == 200
    assert "rule admin" in a.error_log()


def test_no_token_is_401_not_policy(apache_factory, mock):
    a = start(apache_factory, policy_conf(mock))
    r = call(a, "/api/photos/1")
    assert r.status_code == 401
    assert "insufficient_scope" not in www(r)


def test_engine_failure_is_500_never_allow(apache_factory, mock):
    def before(a):
        a.write_file("policies/loop.lua",
                     "return function(req) while true do end end\n")
    a = start(apache_factory,
              policy_conf(mock, "policies/loop.lua",
                          limits="instructions=100000 reload=0"),
              examples=(), before=before)
    a.expect("OA00510")
    r = call(a, "/api/photos/1", mint(mock, "photos.read"))
    assert r.status_code == 500
    assert "OA00510" in a.error_log()
    assert "loop.lua" in a.error_log()


# ---- session principals ---------------------------------------------------

def test_session_principal_plain_403(apache_factory, mock, redis_server):
    disc = mock.url + "/.well-known/openid-configuration"
    conf = f"""
OAuth2Passphrase "{PASS}"
OAuth2SessionStore {redis_server.url}
OAuth2CookieSecure Off
OAuth2Provider mock discovery={disc} client_id=demo-client \\
    client_secret=demo-secret scope="openid email profile"
OAuth2RedirectURI /oauth2/callback
OAuth2PolicyLibDir {LIB}
OAuth2Policy policies/workspace.lua
<Location /app>
    AuthType oauth2
    OAuth2Login mock
    Require oauth2-policy
    AuthzSendForbiddenOnFailure On
</Location>
"""

    def before(a):
        a.write_file("htdocs/app/index.html", "workspace app\n")
    a = start(apache_factory, conf, examples=("workspace",), before=before)
    mock.ctl("/_control/user", {"sub": "alice", "claims": {
        "hd": "example.com", "email": "alice@example.com",
        "email_verified": True}})
    s = requests.Session()
    r = s.get(a.url + "/app/index.html", timeout=10)
    assert r.status_code == 200 and "workspace app" in r.text
    mock.ctl("/_control/user", {"sub": "bob", "claims": {
        "hd": "other.org", "email": "bob@other.org",
        "email_verified": True}})
    s2 = requests.Session()
    r = s2.get(a.url + "/app/index.html", timeout=10)
    assert r.status_code == 403
    assert "WWW-Authenticate" not in r.headers
    assert "not a example.com Workspace account" in a.error_log()


# ---- virtual hosts ----------------------------------------------------------

def test_two_vhosts_each_its_own_policy(apache_factory, mock):
    def vhost(name, policy):
        return f"""
<VirtualHost 127.0.0.1:*>
    ServerName {name}
    OAuth2PolicyLibDir {LIB}
    OAuth2Policy {policy}
{api_block(mock)}
</VirtualHost>
"""
    conf = vhost("photos.test", "policies/photos.lua") + \
        vhost("admin.test", "policies/admin.lua")
    a = start(apache_factory, conf, examples=("photos", "admin"))
    reader = mint(mock, "photos.read")
    admin = mint(mock, "openid", groups="admin")
    assert call(a, "/api/photos/1", reader, host="photos.test") \
        .status_code == 200
    assert call(a, "/api/photos/1", reader, host="admin.test") \
        .status_code == 403
    assert call(a, "/api/admin/x", admin, host="admin.test") \
        .status_code == 200
    assert call(a, "/api/admin/x", admin, host="photos.test") \
        .status_code == 403
    # Each host names its own resource (from ServerName, not Host).
    for name in ("photos.test", "admin.test"):
        r = call(a, "/.well-known/oauth-protected-resource", host=name)
        assert r.json()["resource"] == f"http://{name}:{a.port}"
        r = call(a, "/api/photos/1", host=name)
        assert f'resource_metadata="http://{name}:{a.port}/.well-known/' \
            'oauth-protected-resource"' in www(r)


# ---- hot reload -----------------------------------------------------------

ONE_CHILD = """
ServerLimit 1
StartServers 1
ThreadsPerChild 25
MaxRequestWorkers 25
MinSpareThreads 1
MaxSpareThreads 25
"""


THREE_CHILDREN = """
ServerLimit 3
StartServers 3
ThreadsPerChild 4
MaxRequestWorkers 12
MinSpareThreads 12
MaxSpareThreads 12
"""


class Load(threading.Thread):
    """Requests in a loop until stopped; collects the status codes."""

    def __init__(self, a, token):
        super().__init__(daemon=True)
        self.a, self.token = a, token
        self.codes = []
        self.stopped = threading.Event()

    def run(self):
        while not self.stopped.is_set():
            try:
                self.codes.append(call(self.a, "/api/photos/1",
                                       self.token).status_code)
            except requests.RequestException:
                self.codes.append(-1)

    def stop(self):
        self.stopped.set()
        self.join(15)


def wait_status(a, token, want, timeout=15):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if call(a, "/api/photos/1", token).status_code == want:
            return True
        time.sleep(0.2)
    return False


def replace_file(a, rel, text):
    """Write a policy the way an operator should: a temp file renamed over
    the old one, so a reload never reads a half-written file."""
    p = a.root / rel
    tmp = p.with_suffix(".tmp")
    tmp.write_text(text)
    os.chmod(tmp, 0o644)
    os.replace(tmp, p)


def tail(a, n=15):
    return "\n".join(a.error_log().splitlines()[-n:])


@pytest.mark.expect_lognos("OA00504")
def test_hot_reload_under_requests(apache_factory, mock):
    def before(a):
        a.write_file("policies/live.lua", ALLOW_ALL)
    # One child: reloads are per process, and a child that saw no request
    # while v2 was on disk refuses (500, OA00506) after the broken rewrite
    # (docs/policies.md, "States and reloading"); this test is about one
    # process keeping its last good version.
    a = start(apache_factory, ONE_CHILD + policy_conf(mock, "policies/live.lua"),
              examples=(), before=before)
    tok = mint(mock)
    assert call(a, "/api/photos/1", tok).status_code == 200
    load = Load(a, tok)
    load.start()
    try:
        replace_file(a, "policies/live.lua", DENY_ALL)
        assert wait_status(a, tok, 403), "new version never applied"
        r = call(a, "/api/photos/1", tok)
        assert 'scope="v2.scope"' in www(r), (r.status_code, www(r))
        # A broken rewrite is refused; the last good version stays.
        replace_file(a, "policies/live.lua",
                     "return function(req) end end\n")
        deadline = time.monotonic() + 10
        while "OA00504" not in a.error_log() and \
                time.monotonic() < deadline:
            call(a, "/api/photos/1", tok)
            time.sleep(0.2)
        assert "OA00504" in a.error_log(), tail(a)
        r = call(a, "/api/photos/1", tok)
        assert r.status_code == 403, (r.status_code, tail(a))
        replace_file(a, "policies/live.lua", ALLOW_ALL + "-- v3\n")
        assert wait_status(a, tok, 200), "fixed version never applied"
    finally:
        load.stop()
    assert load.codes, "no requests ran during the reloads"
    assert set(load.codes) <= {200, 403}, (sorted(set(load.codes)), tail(a))
    assert "OA00505" in a.error_log()


# ---- configtest -----------------------------------------------------------

@pytest.mark.expect_lognos("OA00620", "OA00501", "OA00621")
@pytest.mark.parametrize("script,needle", [
    ("return function(req)\n  if then\nend\n", "broken.lua:2"),
    ("return 42\n", "broken.lua"),
    ('local policy = require "oauth2.policy"\n'
     'local r = policy.routes { { "GET", "/a", scope = {"x"} } }\n'
     'return r\n', "unknown key 'scope'"),
])
def test_configtest_fails_on_unusable_script(apache_factory, mock, script,
                                             needle):
    a = apache_factory()
    a.write_file("policies/broken.lua", script)
    a.set_config(policy_conf(mock, "policies/broken.lua"))
    rc, out = a.configtest()
    assert rc != 0, out
    assert "OA00620" in out and needle in out, out
    # A good policy with a broken shadow fails too; a shadow alone as well.
    a.write_file("policies/good.lua", ALLOW_ALL)
    a.set_config(policy_conf(mock, "policies/good.lua",
                             extra="OAuth2PolicyShadow policies/broken.lua"))
    rc, out = a.configtest()
    assert rc != 0 and "OAuth2PolicyShadow" in out, out
    a.set_config(f"OAuth2PolicyShadow {a.root}/policies/good.lua\n")
    rc, out = a.configtest()
    assert rc != 0 and "OA00621" in out, out


def test_configtest_bad_directive_values(apache_factory, mock):
    a = apache_factory()
    for line, needle in [
            ("OAuth2PolicyLimits instructions=5", "bad policy limit"),
            ("OAuth2PolicyLimits", "name at least one limit"),
            ("OAuth2ResourceMetadata https://x.example/path", "origin"),
            ("OAuth2ResourceMetadata maybe", "want On, Off")]:
        a.set_config(line)
        rc, out = a.configtest()
        assert rc != 0 and needle in out, (line, out)
    a.write_file("policies/good.lua", ALLOW_ALL)
    a.set_config(policy_conf(mock, "policies/good.lua"))
    rc, out = a.configtest()
    assert rc == 0, out


# ---- shadow and decision log ------------------------------------------------

@pytest.mark.expect_lognos("OA00625")
def test_shadow_logs_only_disagreements_and_decision_log(apache_factory,
                                                         mock):
    def before(a):
        a.write_file("policies/candidate.lua", ALLOW_ALL)
    a = start(apache_factory, policy_conf(
        mock, extra="OAuth2PolicyShadow policies/candidate.lua\n"
                    "OAuth2PolicyLog logs/policy.log"), before=before)
    reader = mint(mock, "photos.read", client_id="photo-app")
    other = mint(mock, "openid")
    assert call(a, "/api/photos/1", reader).status_code == 200
    assert "OA00625" not in a.error_log()  # both allow: silent
    assert call(a, "/api/photos/1", other).status_code == 403  # enforced
    log = a.error_log()
    assert log.count("OA00625") == 1
    assert "enforced deny" in log and "shadow allow" in log
    text = (a.root / "logs" / "policy.log").read_text()
    lines = [json.loads(x) for x in text.splitlines()]
    assert len(lines) == 2
    allow, deny = lines
    assert allow["decision"] == "allow" and deny["decision"] == "deny"
    assert allow["shadow"] == "allow" and deny["shadow"] == "allow"
    for d in lines:
        for k in ("time", "vhost", "method", "path", "sub", "decision",
                  "reason", "version", "usec"):
            assert k in d, (k, d)
        assert d["method"] == "GET" and d["path"] == "/api/photos/1"
        assert d["sub"] == "alice"
        assert len(d["version"]) == 12
    assert allow["client_id"] == "photo-app"
    assert allow["rule"] and deny["wanted"] == ["photos.read"]
    for tok in (reader, other):
        assert tok not in text
        assert max(tok.split("."), key=len) not in text


def test_decision_log_concurrent_lines_are_whole(apache_factory, mock):
    a = start(apache_factory,
              policy_conf(mock, extra="OAuth2PolicyLog logs/policy.log"))
    tok = mint(mock, "photos.read")
    n = 40

    def worker():
        for _ in range(n // 4):
            call(a, "/api/photos/1", tok)
    ts = [threading.Thread(target=worker) for _ in range(4)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(60)
    lines = (a.root / "logs" / "policy.log").read_text().splitlines()
    assert len(lines) == n
    assert all(json.loads(x)["decision"] == "allow" for x in lines)


@pytest.mark.parametrize("memo", [True, False])
def test_decision_memo_in_apache(apache_factory, mock, memo):
    """photos.lua is a route table, so its decisions are memoized per
    process under (method, path, scopes): another user's token with the same
    scopes is answered from the memo, a token with other scopes is not, and
    every replayed decision is the one Lua gave. memo=0 turns it off."""
    a = start(apache_factory, policy_conf(
        mock, limits="reload=1" + ("" if memo else " memo=0"),
        extra="OAuth2PolicyLog logs/policy.log"))
    alice = mint(mock, "photos.read")
    bob = mint(mock, "photos.read", sub="bob")
    other = mint(mock, "openid", sub="carol")
    for _ in range(8):
        for tok, want in ((alice, 200), (bob, 200), (other, 403)):
            assert call(a, "/api/photos/1", tok).status_code == want
    assert call(a, "/api/photos/1", bob, method="DELETE").status_code == 403
    lines = [json.loads(x) for x in
             (a.root / "logs" / "policy.log").read_text().splitlines()]
    assert len(lines) == 25
    replayed = [d for d in lines if d.get("memo")]
    for d in lines:
        if d["sub"] == "alice" or (d["sub"] == "bob" and
                                   d["method"] == "GET"):
            assert d["decision"] == "allow", d
            assert d["rule"] == "#2 GET,HEAD /api/photos/*", d
        else:
            assert d["decision"] == "deny", d
            assert d["wanted"] == (["photos.read"] if d["method"] == "GET"
                                   else ["photos.read", "photos.write"]), d
    if memo:
        # a few children, 24 repeated requests: most come from the memo,
        # bob's included (the route table never reads sub)
        assert len(replayed) >= 12, lines
        assert any(d["sub"] == "bob" for d in replayed)
        assert not lines[-1].get("memo")  # DELETE: first of its kind
    else:
        assert replayed == []


# ---- RFC 9728 ---------------------------------------------------------------

def test_protected_resource_metadata(apache_factory, mock):
    a = start(apache_factory, policy_conf(mock))
    r = call(a, "/.well-known/oauth-protected-resource", host="evil.example")
    assert r.status_code == 200
    assert r.headers["Content-Type"].startswith("application/json")
    doc = r.json()
    assert doc == {"resource": f"http://127.0.0.1:{a.port}",
                   "authorization_servers": [mock.url],
                   "bearer_methods_supported": ["header"]}
    r = call(a, "/api/photos/1", host="evil.example")
    assert r.status_code == 401
    assert www(r) == ('Bearer realm="photos", resource_metadata="http://'
                      f'127.0.0.1:{a.port}/.well-known/'
                      'oauth-protected-resource"')
    r = call(a, "/.well-known/oauth-protected-resource", method="POST")
    assert r.status_code == 405


def test_metadata_explicit_resource_and_off(apache_factory, mock):
    a = start(apache_factory, policy_conf(
        mock, extra="OAuth2ResourceMetadata https://api.example.com"))
    doc = call(a, "/.well-known/oauth-protected-resource").json()
    assert doc["resource"] == "https://api.example.com"
    assert 'resource_metadata="https://api.example.com/.well-known/' \
        'oauth-protected-resource"' in www(call(a, "/api/photos/1"))
    a.stop()
    a.set_config(policy_conf(mock, extra="OAuth2ResourceMetadata Off")
                 .replace("{root}", str(a.root)))
    a.start()
    assert call(a, "/.well-known/oauth-protected-resource").status_code \
        == 404
    assert "resource_metadata" not in www(call(a, "/api/photos/1"))


@pytest.mark.expect_lognos("OA00504", "OA00506")
def test_no_child_falls_back_after_a_broken_rewrite(apache_factory, mock):
    """v1 allows; v2 (deny everything) reaches some children; then the file
    breaks. A child that never loaded v2 must not go on allowing with v1:
    it refuses (500, OA00506) until the file loads again."""
    def before(a):
        a.write_file("policies/live.lua", ALLOW_ALL)
    a = start(apache_factory,
              THREE_CHILDREN + policy_conf(mock, "policies/live.lua"),
              examples=(), before=before)
    tok = mint(mock)
    assert call(a, "/api/photos/1", tok).status_code == 200
    replace_file(a, "policies/live.lua", DENY_ALL)
    assert wait_status(a, tok, 403), "v2 never applied"
    replace_file(a, "policies/live.lua", "return function(req) end end\n")
    time.sleep(1.2)  # reload=1: every child's next request looks again
    codes = [call(a, "/api/photos/1", tok).status_code for _ in range(60)]
    assert 200 not in codes, codes
    assert set(codes) <= {403, 500}, codes
    replace_file(a, "policies/live.lua", ALLOW_ALL + "-- fixed\n")
    assert wait_status(a, tok, 200), "the fixed file never applied"
