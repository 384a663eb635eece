"""test_rp_google.py - the Google preset (OAuth2Provider preset=google)
against the mock provider posing as Google: the mock runs with issuer
https://accounts.google.com and the preset's discovery URL is pointed at it.
Both of Google's issuer spellings are accepted (and nothing else), hd= is
sent and checked against the ID token's hd claim, and email_verified
reaches the application and Require oauth2-claim."""
import pytest
import requests

import harness
from test_rp import FakeTokenEndpoint, PASS, provider_code, start_login

GOOGLE = "https://accounts.google.com"
CGI = """#!/bin/sh
echo "Content-Type: text/plain"
echo
env | sort
"""


@pytest.fixture(scope="module")
def google():
    """The mock provider, claiming to be Google."""
    m = harness.MockProvider(auto_approve=True,
                             extra_args=("--issuer", GOOGLE)).start()
    yield m
    m.stop()
    m.cleanup()


@pytest.fixture
def g(google):
    google.ctl("/_control/reset", {})
    return google


def conf(m, redis, opts=""):
    return f"""
OAuth2Passphrase "{PASS}"
OAuth2SessionStore {redis.url}
OAuth2CookieSecure Off
OAuth2Provider google preset=google client_id=demo-client \\
    client_secret=demo-secret issuer={GOOGLE} \\
    discovery={m.url}/.well-known/openid-configuration {opts}
OAuth2RedirectURI /oauth2/callback
<Location /app>
    AuthType oauth2
    OAuth2Login google
    Require valid-user
</Location>
<Location /app/verified>
    Require oauth2-claim email_verified:true
    AuthzSendForbiddenOnFailure On
</Location>
<Directory "{{root}}/htdocs/app">
    Options +ExecCGI
    AddHandler cgi-script .cgi
</Directory>
"""


def start(apache_factory, text):
    a = apache_factory()
    a.set_config(text.replace("{root}", str(a.root)))
    a.write_file("htdocs/app/index.html", "<h1>app</h1>\n")
    a.write_file("htdocs/app/env.cgi", CGI, mode=0o755)
    a.write_file("htdocs/app/verified/env.cgi", CGI, mode=0o755)
    return a.start()


def sign_in_with(apache_factory, m, redis, claims, opts=""):
    """Sign in through a token endpoint answering with an ID token carrying
    `claims`; returns (session, callback response, auth request query)."""
    nonce = {}

    def body(form):
        c = {"aud": "demo-client", "sub": "1234567890", "iss": GOOGLE,
             "nonce": nonce["v"], "email": "ann@example.com",
             "email_verified": True}
        c.update(claims)  # a None value removes the claim
        tok = m.ctl("/_control/mint", {"claims": c})["token"]
        return {"access_token": "ya29.test", "token_type": "Bearer",
                "expires_in": 3599, "id_token": tok}

    fake = FakeTokenEndpoint(m, body)
    try:
        a = start(apache_factory, conf(
            m, redis, f"token_endpoint={fake.url} userinfo=off {opts}"))
        s, loc, q = start_login(a)
        nonce["v"] = q["nonce"][0]
        r = s.get(provider_code(s, loc), allow_redirects=False, timeout=10)
        return a, s, r, q
    finally:
        fake.close()


def env_of(s, a, path="/app/env.cgi"):
    r = s.get(a.url + path, allow_redirects=False, timeout=10)
    if r.status_code != 200:
        return r.status_code, {}
    return 200, dict(line.split("=", 1) for line in r.text.splitlines()
                     if "=" in line)


@pytest.mark.parametrize("iss", [GOOGLE, "accounts.google.com"])
def test_both_google_issuer_spellings(apache_factory, g, redis_server, iss):
    a, s, r, q = sign_in_with(apache_factory, g, redis_server, {"iss": iss})
    assert r.status_code == 302, r.text
    assert q["scope"] == ["openid email profile"]
    status, env = env_of(s, a)
    assert status == 200 and env["OAUTH2_CLAIM_iss"] == iss


@pytest.mark.parametrize("iss", ["https://accounts.google.com/",
                                 "http://accounts.google.com",
                                 "accounts.google.com.evil.example", None])
def test_other_issuers_refused(apache_factory, g, redis_server, iss):
    a, s, r, q = sign_in_with(apache_factory, g, redis_server, {"iss": iss})
    assert r.status_code == 403, r.text
    assert "oauth2_session" not in r.headers.get("Set-Cookie", "")


@pytest.mark.parametrize("hd,status", [("example.com", 302),
                                       ("example.org", 403),
                                       (None, 403)])
def test_hosted_domain(apache_factory, g, redis_server, hd, status):
    a, s, r, q = sign_in_with(apache_factory, g, redis_server, {"hd": hd},
                              opts="hd=example.com")
    assert q["hd"] == ["example.com"]  # the account chooser hint
    assert r.status_code == status, r.text
    if status == 302:
        code, env = env_of(s, a)
        assert env["OAUTH2_CLAIM_hd"] == "example.com"


def test_no_hd_configured_accepts_any_account(apache_factory, g,
                                              redis_server):
    a, s, r, q = sign_in_with(apache_factory, g, redis_server, {})
    assert "hd" not in q
    assert r.status_code == 302, r.text


@pytest.mark.parametrize("verified", [True, False])
def test_email_verified_exposed(apache_factory, g, redis_server, verified):
    a, s, r, q = sign_in_with(apache_factory, g, redis_server,
                              {"email_verified": verified})
    assert r.status_code == 302, r.text
    code, env = env_of(s, a)
    assert env["OAUTH2_CLAIM_email_verified"] == str(verified).lower()
    assert env["OAUTH2_CLAIM_email"] == "ann@example.com"
    # Require oauth2-claim email_verified:true lets only verified ones in.
    code, _ = env_of(s, a, "/app/verified/env.cgi")
    assert code == (200 if verified else 403)


def test_full_flow_through_mock_google(apache_factory, g, redis_server):
    """No fake endpoint: discovery, authorize, token, userinfo, JWKS all
    from the mock posing as Google; the user's claims come through."""
    g.ctl("/_control/user", {"sub": "1098", "claims": {
        "hd": "example.com", "email": "bo@example.com",
        "email_verified": False}})
    a = start(apache_factory, conf(g, redis_server, "hd=example.com"))
    s = requests.Session()
    r = s.get(a.url + "/app/env.cgi", timeout=10)
    assert r.status_code == 200, r.text
    assert "OAUTH2_CLAIM_iss=" + GOOGLE in r.text
    assert "OAUTH2_CLAIM_email_verified=false" in r.text
    assert s.get(a.url + "/app/verified/env.cgi",
                 timeout=10).status_code == 403
