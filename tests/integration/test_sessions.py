"""test_sessions.py - session management across nodes: two Apache
instances with the same passphrase and one real redis-server (sign in on A,
signed in on B; log out on A, logged out on B), OIDC Back-Channel Logout 1.0
from the mock provider (by sid and by sub, ending a session used on both
nodes; hostile logout tokens refused with 400 and the session kept), the
admin handler (list, revoke, cross-site refused), and the access-token
refresh done once across nodes under parallel requests."""
import functools
import hashlib
import json
import threading
import time

import pytest
import requests

import harness

PASS = "0123456789abcdef0123456789abcdef"
BCL_EVENT = "http://schemas.openid.net/event/backchannel-logout"


def conf(mock, redis, extra="", ns="OAuth2SessionNamespace photos-site"):
    disc = mock.url + "/.well-known/openid-configuration"
    return f"""
{ns}
OAuth2Passphrase "{PASS}"
OAuth2SessionStore {redis.url}
OAuth2CookieSecure Off
OAuth2Provider mock discovery={disc} client_id=demo-client \\
    client_secret=demo-secret scope="openid email profile"
OAuth2RedirectURI /oauth2/callback
OAuth2LogoutURI /oauth2/logout
OAuth2BackchannelLogoutURI /oauth2/backchannel
<Location /app>
    AuthType oauth2
    OAuth2Login mock
    Require valid-user
</Location>
<Location /admin/sessions>
    SetHandler oauth2-sessions
    Require ip 127.0.0.1
</Location>
{extra}
"""


FILES = {"htdocs/app/index.html": ("<h1>protected app</h1>\n", 0o644)}


@pytest.fixture
def mock(mock_provider):
    mock_provider.ctl("/_control/reset", {})
    return mock_provider


@pytest.fixture
def nodes(apache_factory, mock, redis_server):
    return harness.start_nodes(apache_factory, conf(mock, redis_server),
                               files=FILES)


def sign_in(node, mock, sub):
    mock.ctl("/_control/user", {"sub": sub})
    s = requests.Session()
    r = s.get(node.url + "/app/index.html", timeout=10)
    assert r.status_code == 200 and "protected app" in r.text, r.text
    login = mock.ctl("/_control/sessions")["logins"][-1]
    assert login["sub"] == sub
    return s, login["sid"]


def status(s, node):
    return s.get(node.url + "/app/index.html", allow_redirects=False,
                 timeout=10).status_code


# ---- two nodes, one store ---------------------------------------------------

def test_sign_in_on_a_signed_in_on_b_logout_on_both(nodes, mock,
                                                    redis_server):
    a, b = nodes
    s, _ = sign_in(a, mock, "alice")
    assert status(s, b) == 200          # the cookie works on the other node
    r = s.get(a.url + "/oauth2/logout?return=/", allow_redirects=False,
              timeout=10)
    assert r.status_code == 302
    # Keep the old cookie: the store, not the browser, decides.
    cookie = r.request.headers["Cookie"]
    r = requests.get(b.url + "/app/index.html", allow_redirects=False,
                     headers={"Cookie": cookie}, timeout=10)
    assert r.status_code == 302 and "/authorize" in r.headers["Location"]


def test_logout_on_a_ends_a_session_b_has_cached(nodes, mock):
    """b answers a signed-in page from its read cache (the default); a
    logout on a reaches it through Redis's invalidation before the next
    request, every time."""
    a, b = nodes
    for i in range(10):
        s, _ = sign_in(a, mock, f"carol{i}")
        assert status(s, b) == 200 and status(s, b) == 200  # cached on b
        cookie = s.cookies.get("oauth2_session")
        r = s.get(a.url + "/oauth2/logout?return=/", allow_redirects=False,
                  timeout=10)
        assert r.status_code == 302
        r = requests.get(b.url + "/app/index.html", allow_redirects=False,
                         cookies={"oauth2_session": cookie}, timeout=10)
        assert r.status_code == 302, i


def test_nodes_without_a_shared_namespace_do_not_share(apache_factory, mock,
                                                      redis_server):
    # Each node listens on its own port, so by default each is its own
    # origin: OAuth2SessionNamespace is what makes them one site.
    a, b = harness.start_nodes(apache_factory,
                               conf(mock, redis_server, ns=""), files=FILES)
    s, _ = sign_in(a, mock, "dora")
    assert status(s, a) == 200
    assert status(s, b) == 302


def test_session_namespace_value_checked(apache_factory, mock, redis_server):
    a = apache_factory()
    a.set_config(conf(mock, redis_server, ns='OAuth2SessionNamespace "a b"'))
    rc, out = a.configtest()
    assert rc != 0 and "printable ASCII" in out, out


def test_index_holds_no_secret(nodes, mock, redis_server):
    a, _ = nodes
    s, sid = sign_in(a, mock, "carol")
    cookie = s.cookies.get("oauth2_session")
    hashes = [hashlib.sha256(v.encode()).hexdigest() for v in ("carol", sid)]
    idx = [k for k in redis_server.cli("KEYS", "*oauth2:idx:*").split()
           if k.split(":")[-1] in hashes]
    assert len(idx) == 2, idx           # one by sub, one by sid
    for k in idx:
        dump = redis_server.cli("HGETALL", k)
        assert cookie.split(".")[1] not in dump
        assert cookie.split(".")[0] not in dump
        assert "carol" not in k and sid not in k  # hashed in the key too
        meta = json.loads(dump.splitlines()[1])
        assert set(meta) == {"provider", "created", "last_seen"}


# ---- back-channel logout ----------------------------------------------------

@pytest.mark.parametrize("by", ["sid", "sub"])
def test_backchannel_logout_ends_session_on_both_nodes(nodes, mock, by):
    a, b = nodes
    s, sid = sign_in(a, mock, "bob")
    other, _ = sign_in(a, mock, "bob")   # a second session of bob
    assert status(s, b) == 200
    kw = {"sid": sid} if by == "sid" else {"sub": "bob"}
    assert mock.backchannel_logout(b.url + "/oauth2/backchannel", **kw) == 200
    assert status(s, a) == 302 and status(s, b) == 302
    # By sid only that provider session ends; by sub all of bob's.
    assert status(other, a) == (200 if by == "sid" else 302)
    calls = mock.ctl("/_control/sessions")["backchannel"]
    assert calls[-1]["status"] == 200


def post_token(node, token, **kw):
    return requests.post(node.url + "/oauth2/backchannel",
                         data={"logout_token": token}, timeout=10, **kw)


def mint(mock, claims=None, key="current", header=None, drop=()):
    now = int(time.time())
    c = {"iss": mock.url, "aud": "demo-client", "iat": now,
         "exp": now + 120, "jti": "jti-" + str(time.monotonic_ns()),
         "sub": "dave", "events": {BCL_EVENT: {}}}
    c.update(claims or {})
    for k in drop:
        c.pop(k, None)
    h = {"typ": "logout+jwt"}
    h.update(header or {})
    return mock.ctl("/_control/mint", {"defaults": False, "claims": c,
                                       "key": key, "header": h})["token"]


BAD = {
    "bad_signature": dict(key="unknown"),
    "wrong_aud": dict(claims={"aud": "someone-else"}),
    "nonce_present": dict(claims={"nonce": "n"}),
    "missing_events": dict(drop=("events",)),
    "expired_iat": dict(claims={"iat": int(time.time()) - 3600}),
    "no_sub_no_sid": dict(drop=("sub",)),
    "foreign_issuer": dict(claims={"iss": "http://127.0.0.1:1"}),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_logout_tokens_refused(nodes, mock, case):
    a, b = nodes
    s, _ = sign_in(a, mock, "dave")
    kw = dict(BAD[case])
    if case == "expired_iat":
        kw["claims"] = {"iat": int(time.time()) - 3600}
    r = post_token(b, mint(mock, **kw))
    assert r.status_code == 400, (case, r.text)
    assert r.headers["Content-Type"].startswith("application/json")
    assert r.json()["error"] == "invalid_request"
    assert status(s, a) == 200 and status(s, b) == 200


def test_replayed_jti_refused(nodes, mock):
    a, b = nodes
    s, _ = sign_in(a, mock, "erin")
    tok = mint(mock, claims={"sub": "nobody-signed-in"})
    r = post_token(a, tok)
    assert r.status_code == 200 and r.headers["Cache-Control"] == "no-store"
    r = post_token(b, tok)                # the other node: shared marker
    assert r.status_code == 400 and "jti replayed" in r.text
    assert status(s, a) == 200


def test_backchannel_endpoint_shape(nodes):
    a, _ = nodes
    r = requests.get(a.url + "/oauth2/backchannel", timeout=10)
    assert r.status_code == 405 and r.headers["Allow"] == "POST"
    r = requests.post(a.url + "/oauth2/backchannel", json={"x": 1},
                      timeout=10)
    assert r.status_code == 400
    r = requests.post(a.url + "/oauth2/backchannel",
                      data={"logout_token": ["x", "y"]}, timeout=10)
    assert r.status_code == 400 and "repeated" in r.json()[
        "error_description"]


# ---- admin handler ----------------------------------------------------------

def test_admin_list_and_revoke(nodes, mock):
    a, b = nodes
    s1, _ = sign_in(a, mock, "frank")
    s2, _ = sign_in(b, mock, "frank")
    g, _ = sign_in(a, mock, "grace")
    r = requests.get(a.url + "/admin/sessions?sub=frank", timeout=10)
    assert r.status_code == 200 and r.headers["Cache-Control"] == "no-store"
    body = r.json()
    assert body["sub"] == "frank" and len(body["sessions"]) == 2
    for e in body["sessions"]:
        assert set(e) == {"id", "provider", "created", "last_seen"}
        assert e["provider"] == "mock" and len(e["id"]) == 64
    assert requests.get(b.url + "/admin/sessions?sub=frank&provider=nope",
                        timeout=10).status_code == 404
    # Revoke one by id on B, then the rest by sub on A.
    one = body["sessions"][0]["id"]
    r = requests.post(b.url + "/admin/sessions?session=" + one, timeout=10)
    assert r.status_code == 200 and r.json() == {"revoked": 1}
    assert sorted([status(s1, a), status(s2, a)]) == [200, 302]
    r = requests.post(a.url + "/admin/sessions?sub=frank", timeout=10)
    assert r.json() == {"revoked": 1}
    assert status(s1, b) == 302 and status(s2, b) == 302
    assert status(g, b) == 200            # another user untouched
    r = requests.get(a.url + "/admin/sessions?sub=frank", timeout=10)
    assert r.json()["sessions"] == []


@pytest.mark.expect_lognos("OA00785")
def test_admin_csrf_and_methods(nodes, mock):
    a, _ = nodes
    s, _ = sign_in(a, mock, "heidi")
    for h in ({"Sec-Fetch-Site": "cross-site"},
              {"Origin": "http://evil.example"},
              {"Sec-Fetch-Site": "same-site"}):
        r = requests.post(a.url + "/admin/sessions?sub=heidi", headers=h,
                          timeout=10)
        assert r.status_code == 403, h
    assert status(s, a) == 200
    r = requests.put(a.url + "/admin/sessions?sub=heidi", timeout=10)
    assert r.status_code == 405
    r = requests.get(a.url + "/admin/sessions", timeout=10)
    assert r.status_code == 400
    r = requests.post(a.url + "/admin/sessions?session=../etc", timeout=10)
    assert r.status_code == 400
    r = requests.post(a.url + "/admin/sessions?sub=heidi",
                      headers={"Sec-Fetch-Site": "same-origin",
                               "Origin": a.url}, timeout=10)
    assert r.status_code == 200 and r.json() == {"revoked": 1}


def test_admin_restricted_by_require(apache_factory, mock, redis_server):
    a = harness.start_nodes(apache_factory, conf(
        mock, redis_server, extra="""
<Location /admin/locked>
    SetHandler oauth2-sessions
    Require ip 192.0.2.1
</Location>"""), count=1, files=FILES)[0]
    r = requests.get(a.url + "/admin/locked?sub=x", timeout=10)
    assert r.status_code == 403


# ---- refresh once across nodes ----------------------------------------------

def test_refresh_once_across_nodes(nodes, mock):
    a, b = nodes
    mock.ctl("/_control/settings", {"access_token_ttl": 1})
    s, _ = sign_in(a, mock, "ivan")
    time.sleep(2.2)
    before = len(mock.grants("refresh_token"))
    results = []
    lock = threading.Lock()

    def get(node):
        st = s.get(node.url + "/app/index.html", allow_redirects=False,
                   timeout=15).status_code
        with lock:
            results.append(st)

    ts = [threading.Thread(target=get, args=(n,)) for n in (a, b) * 4]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert results == [200] * 8
    assert len(mock.grants("refresh_token")) - before == 1


@pytest.mark.expect_lognos("OA00781", "OA00440", "OA00745", "OA00747")
def test_backchannel_store_down_is_503_then_retry(apache_factory, mock):
    redis = harness.Redis().start()
    try:
        a = harness.start_nodes(apache_factory, conf(mock, redis), count=1,
                                files=FILES)[0]
        s, sid = sign_in(a, mock, "judy")
        tok = mint(mock, claims={"sid": sid, "sub": "judy"})
        redis.pause()
        try:
            r = post_token(a, tok)
        finally:
            redis.resume()
        assert r.status_code == 503, r.text
        assert r.json()["error"] == "temporarily_unavailable"
        time.sleep(1.5)                 # the store's reconnect backoff
        r = post_token(a, tok)          # the provider retries: accepted
        assert r.status_code == 200, r.text
        assert status(s, a) == 302
    finally:
        redis.stop()
        redis.cleanup()


CGI = """#!/bin/sh
echo "Content-Type: text/plain"
echo
env
"""


SSI_EXTRA = """
ScriptAlias /app/cgi/ "{root}/cgi-bin/"
ScriptAlias /other/cgi/ "{root}/cgi-bin/"
ScriptAlias /api/cgi/ "{root}/cgi-bin/"
ScriptAlias /alice/cgi/ "{root}/cgi-bin/"
ScriptAlias /plain/cgi/ "{root}/cgi-bin/"
<Directory "{root}/htdocs">
    Options +Includes
    AddOutputFilter INCLUDES .shtml
</Directory>
OAuth2Provider other discovery={disc} client_id=other-client \\
    client_secret=other-secret scope="openid"
<Location /other>
    AuthType oauth2
    OAuth2Login other
    Require oauth2-claim sub~.
</Location>
<Location /api>
    AuthType oauth2-bearer
    OAuth2TokenVerify jwks_uri={mock}/jwks issuer={mock} audience=api
    Require oauth2-claim sub~.
</Location>
<Location /plain>
    Require all granted
</Location>
<Location /alice>
    AuthType oauth2
    OAuth2Login mock
    Require user alice
</Location>
<Location /bapp>
    AuthType oauth2-bearer
    OAuth2TokenVerify jwks_uri={mock}/jwks issuer={mock} audience=api
    OAuth2ClaimHeaderPrefix OAuth2-Claim-
    Require valid-user
</Location>
"""


def ssi_node(apache_factory, mock, redis, pages):
    """One node with mod_include: SSI pages that include the CGI under
    /app (session, provider mock), /other (session, provider other) and
    /api (bearer)."""
    make = functools.partial(apache_factory,
                             modules=harness.BASE_MODULES + ["include"])
    extra = SSI_EXTRA.replace("{mock}", mock.url).replace(
        "{disc}", mock.url + "/.well-known/openid-configuration")
    files = dict(FILES)
    files["cgi-bin/env.sh"] = (CGI, 0o755)
    for path, text in pages.items():
        files[path] = (text, 0o644)
    node, = harness.start_nodes(make, conf(mock, redis, extra=extra),
                                count=1, files=files)
    return node


def include_envs(r):
    """The environments the CGI printed, one per include (an include that
    failed gives Apache's error text and no variables)."""
    assert r.status_code == 200, r.status_code
    return [dict(ln.partition("=")[::2] for ln in part.splitlines())
            for part in r.text.split("\n---\n")]


def test_ssi_includes_of_the_app_after_a_subrequest_signed_in(
        apache_factory, mock, redis_server):
    # an unprotected SSI page includes the protected app twice: the first
    # include authenticates the session (the main request never does), the
    # second reuses the principal kept for the main request. This guards
    # the flow (it failed with a 500: the main request has no user); the
    # principal's lifetime (the main request's pool) is session.c's care,
    # as a normal build does not poison freed pool memory
    inc = '<!--#include virtual="/app/cgi/env.sh" -->\n'
    node = ssi_node(apache_factory, mock, redis_server,
                    {"htdocs/page.shtml": inc + "---\n" + inc})
    s, _ = sign_in(node, mock, "carol")
    for _ in range(2):
        envs = include_envs(s.get(node.url + "/page.shtml", timeout=10))
        assert len(envs) == 2, envs
        for env in envs:
            assert env.get("REMOTE_USER") == "carol", (env, node.error_log())
            assert env.get("OAUTH2_CLAIM_sub") == "carol", env


def test_ssi_includes_never_lend_a_principal_to_another_location(
        apache_factory, mock, redis_server):
    # after an include signed in with provider mock, neither a location of
    # another provider nor a bearer location may serve that principal
    # (their Require oauth2-claim would grant it in authz's first pass)
    page = "\n---\n".join(
        f'<!--#include virtual="/{d}/cgi/env.sh" -->'
        for d in ("app", "other", "api")) + "\n"
    node = ssi_node(apache_factory, mock, redis_server,
                    {"htdocs/mixed.shtml": page})
    s, _ = sign_in(node, mock, "carol")
    envs = include_envs(s.get(node.url + "/mixed.shtml", timeout=10))
    assert len(envs) == 3, envs
    assert envs[0].get("OAUTH2_CLAIM_sub") == "carol", envs[0]
    for env in envs[1:]:
        assert "OAUTH2_CLAIM_sub" not in env, env
        assert "REMOTE_USER" not in env, env


def test_ssi_include_user_is_the_sessions_not_the_main_requests(
        apache_factory, mock, redis_server):
    # the page itself is a bearer location (alice's token, role=admin); its
    # includes sign in carol's session. The second app include reuses the
    # first's principal, and its user is carol, never the main request's
    # alice (`Require user alice` refuses it). No include inherits alice's
    # claims from the page: not carol's, not an unprotected one
    inc = '<!--#include virtual="/{}/cgi/env.sh" -->\n'
    node = ssi_node(apache_factory, mock, redis_server, {
        "htdocs/bapp/page.shtml": "---\n".join(
            inc.format(d) for d in ("app", "alice", "app", "plain"))})
    s, _ = sign_in(node, mock, "carol")
    tok = mock.ctl("/_control/mint", {"alg": "RS256", "claims": {
        "sub": "alice", "aud": "api", "role": "admin"}})["token"]
    r = s.get(node.url + "/bapp/page.shtml", timeout=10,
              headers={"Authorization": "Bearer " + tok})
    envs = include_envs(r)
    assert len(envs) == 4, envs
    for env in envs[0], envs[2]:
        assert env.get("REMOTE_USER") == "carol", (env, node.error_log())
        assert env.get("OAUTH2_CLAIM_sub") == "carol", env
    assert "REMOTE_USER" not in envs[1], envs[1]
    assert "OAUTH2_CLAIM_sub" not in envs[1], envs[1]
    assert "CONTEXT_PREFIX" in envs[3], envs[3]  # the CGI ran
    for env in envs:
        leaked = [k for k in env if k in ("OAUTH2_CLAIM_role",
                                          "HTTP_OAUTH2_CLAIM_ROLE")]
        assert not leaked, env
    # the unprotected include: no claims at all (mod_include may pass the
    # page's own REMOTE_USER on, as for any auth module)
    assert not [k for k in envs[3] if "OAUTH2_CLAIM" in k], envs[3]
    assert envs[3].get("REMOTE_USER") in (None, "alice"), envs[3]


def test_ssi_bearer_include_after_a_session_include_verifies_again(
        apache_factory, mock, redis_server):
    # api (bearer, alice), app (session, carol), api again: the second api
    # include must not take the remembered success without its principal
    # (carol's replaced it): it verifies again and is alice's
    inc = '<!--#include virtual="/{}/cgi/env.sh" -->\n'
    node = ssi_node(apache_factory, mock, redis_server, {
        "htdocs/abc.shtml": "---\n".join(
            inc.format(d) for d in ("api", "app", "api"))})
    s, _ = sign_in(node, mock, "carol")
    tok = mock.ctl("/_control/mint", {"alg": "RS256", "claims": {
        "sub": "alice", "aud": "api"}})["token"]
    r = s.get(node.url + "/abc.shtml", timeout=10,
              headers={"Authorization": "Bearer " + tok})
    envs = include_envs(r)
    assert len(envs) == 3, envs
    for env, who in zip(envs, ("alice", "carol", "alice")):
        assert env.get("REMOTE_USER") == who, (env, node.error_log())
        assert env.get("OAUTH2_CLAIM_sub") == who, env
