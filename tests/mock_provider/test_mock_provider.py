"""Tests for mock_provider.py: every endpoint and control call, good path
and bad inputs, against the real process on a free 127.0.0.1 port.

Run: /usr/bin/python3 -m pytest -q tests/mock_provider
"""

import base64
import hashlib
import hmac
import json
import os
import re
import secrets
import select
import signal
import subprocess
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import jwt
import pytest
import requests

HERE = os.path.dirname(os.path.abspath(__file__))
SCRIPT = os.path.join(HERE, "mock_provider.py")
CB = "http://127.0.0.1:8080/callback"
DEMO = ("demo-client", "demo-secret")


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def pkce_pair():
    verifier = secrets.token_urlsafe(48)
    return verifier, b64url(hashlib.sha256(verifier.encode()).digest())


class Mock:
    """A running mock_provider process and small helpers around it."""

    def __init__(self, *args, stderr=subprocess.DEVNULL):
        self.proc = subprocess.Popen(
            ["/usr/bin/python3", SCRIPT, "--port", "0", *args],
            stdout=subprocess.PIPE, stderr=stderr, text=True)
        ready, _, _ = select.select([self.proc.stdout], [], [], 20)
        line = self.proc.stdout.readline() if ready else ""
        m = re.fullmatch(r"READY (http://127\.0\.0\.1:\d+)\n", line)
        if not m:
            self.proc.kill()
            raise RuntimeError("no READY line, got %r" % line)
        self.url = m.group(1)

    def stop(self, sig=signal.SIGTERM):
        self.proc.send_signal(sig)
        return self.proc.wait(timeout=10)

    def ctl(self, name, body=None, status=200):
        r = requests.post(self.url + "/_control/" + name, json=body or {},
                          timeout=15)
        assert r.status_code == status, r.text
        return r.json()

    def get(self, path, **kw):
        kw.setdefault("timeout", 10)
        kw.setdefault("allow_redirects", False)
        return requests.get(self.url + path, **kw)

    def post(self, path, data=None, **kw):
        kw.setdefault("timeout", 10)
        kw.setdefault("allow_redirects", False)
        return requests.post(self.url + path, data=data, **kw)

    def authorize(self, client_id="demo-client", redirect_uri=CB, **extra):
        params = {"client_id": client_id, "redirect_uri": redirect_uri,
                  "response_type": "code", "scope": "openid profile",
                  "state": "st-" + secrets.token_hex(4)}
        params.update(extra)
        params = {k: v for k, v in params.items() if v is not None}
        return self.get("/authorize", params=params), params

    def code(self, **extra):
        """(code, verifier) from an auto-approved authorization."""
        verifier, challenge = pkce_pair()
        extra.setdefault("code_challenge", challenge)
        extra.setdefault("code_challenge_method", "S256")
        r, params = self.authorize(**extra)
        assert r.status_code == 302, r.text
        q = redirect_query(r)
        assert q["state"] == params["state"]
        return q["code"], verifier

    def exchange(self, code, verifier, auth=DEMO, redirect_uri=CB, **extra):
        data = {"grant_type": "authorization_code", "code": code,
                "redirect_uri": redirect_uri, "code_verifier": verifier}
        data.update(extra)
        return self.post("/token", {k: v for k, v in data.items()
                                    if v is not None}, auth=auth)

    def tokens(self, **extra):
        code, verifier = self.code(**extra)
        r = self.exchange(code, verifier)
        assert r.status_code == 200, r.text
        return r.json()

    def jwks(self):
        return {k["kid"]: k for k in self.get("/jwks").json()["keys"]}

    def verify(self, token, alg=None, **kw):
        kid = jwt.get_unverified_header(token)["kid"]
        key = jwt.PyJWK(self.jwks()[kid]).key
        alg = alg or jwt.get_unverified_header(token)["alg"]
        kw.setdefault("options", {"verify_aud": "audience" in kw})
        return jwt.decode(token, key, algorithms=[alg], **kw)

    def introspect(self, token, auth=DEMO):
        r = self.post("/introspect", {"token": token}, auth=auth)
        assert r.status_code == 200, r.text
        return r.json()


def redirect_query(r):
    loc = urllib.parse.urlsplit(r.headers["Location"])
    return dict(urllib.parse.parse_qsl(loc.query))


@pytest.fixture(scope="session")
def server():
    m = Mock("--auto-approve")
    yield m
    assert m.stop() == 0


@pytest.fixture
def mock(server):
    server.ctl("reset")
    return server


# ---- process contract -----------------------------------------------------

@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_ready_line_and_clean_exit(sig):
    m = Mock()
    assert m.get("/.well-known/openid-configuration").status_code == 200
    assert m.stop(sig) == 0


@pytest.mark.parametrize("host", ["0.0.0.0", "192.0.2.1", "example.com"])
def test_refuses_non_loopback_host(host):
    p = subprocess.run(["/usr/bin/python3", SCRIPT, "--port", "0",
                        "--host", host], capture_output=True, text=True,
                       timeout=20)
    assert p.returncode != 0
    assert "READY" not in p.stdout
    assert "non-loopback" in p.stderr


@pytest.mark.parametrize("spec", ["onlyid", "id:secret", "id:s:notauri",
                                  "id:s:http://x/cb#frag"])
def test_refuses_bad_client_spec(spec):
    p = subprocess.run(["/usr/bin/python3", SCRIPT, "--port", "0",
                        "--client", spec], capture_output=True, text=True,
                       timeout=20)
    assert p.returncode != 0 and "READY" not in p.stdout


def test_stderr_logs_requests_without_secrets(tmp_path):
    log = open(tmp_path / "err", "w")
    m = Mock("--auto-approve", stderr=log)
    code, verifier = m.code(nonce="n-secret-nonce")
    tokens = m.exchange(code, verifier).json()
    m.get("/userinfo", headers={"Authorization": "Bearer " +
                                tokens["access_token"]})
    m.get("/end_session", params={"id_token_hint": tokens["id_token"]})
    assert m.stop() == 0
    log.close()
    text = (tmp_path / "err").read_text()
    assert "POST /token 200" in text and "GET /authorize 302" in text
    for secret in ("demo-secret", code, verifier, "n-secret-nonce",
                   tokens["access_token"][:40], tokens["refresh_token"],
                   tokens["id_token"][:40]):
        assert secret not in text


def test_unknown_path_and_wrong_method(mock):
    assert mock.get("/nope").status_code == 404
    r = mock.get("/token")
    assert r.status_code == 405 and r.headers["Allow"] == "POST"
    assert mock.get("/_control/reset").status_code == 405


def test_repeated_parameter_refused(mock):
    r = mock.get("/authorize?client_id=demo-client&client_id=x")
    assert r.status_code == 400 and "repeated" in r.text


# ---- discovery and keys ---------------------------------------------------

def test_discovery(mock):
    d = mock.get("/.well-known/openid-configuration").json()
    u = mock.url
    assert d["issuer"] == u
    for name, path in [("authorization_endpoint", "/authorize"),
                       ("token_endpoint", "/token"),
                       ("userinfo_endpoint", "/userinfo"),
                       ("jwks_uri", "/jwks"),
                       ("introspection_endpoint", "/introspect"),
                       ("revocation_endpoint", "/revoke"),
                       ("end_session_endpoint", "/end_session")]:
        assert d[name] == u + path
    assert d["response_types_supported"] == ["code"]
    assert d["code_challenge_methods_supported"] == ["S256"]
    assert set(d["token_endpoint_auth_methods_supported"]) == {
        "client_secret_basic", "client_secret_post"}
    assert {"authorization_code", "refresh_token", "client_credentials"} \
        <= set(d["grant_types_supported"])
    assert {"RS256", "PS256", "ES256", "ES384", "EdDSA"} <= set(
        d["id_token_signing_alg_values_supported"])
    assert "openid" in d["scopes_supported"]
    assert d["authorization_response_iss_parameter_supported"] is True
    assert d["backchannel_logout_supported"] is True
    assert mock.get("/.well-known/oauth-authorization-server").json() == d


def test_issuer_option_with_path():
    m = Mock("--issuer", "http://127.0.0.1:1/realms/test")
    try:
        d = m.get("/realms/test/.well-known/openid-configuration").json()
        assert d["issuer"] == "http://127.0.0.1:1/realms/test"
        # Endpoints stay on the address we really listen on.
        assert d["token_endpoint"] == m.url + "/token"
        tokens = m.ctl("mint", {})
        assert jwt.decode(tokens["token"], options={
            "verify_signature": False})["iss"] == d["issuer"]
    finally:
        assert m.stop() == 0


def test_jwks_keys_parse(mock):
    r = mock.get("/jwks")
    assert r.headers["Cache-Control"] == "max-age=300"
    keys = r.json()["keys"]
    kinds = sorted((k["kty"], k.get("crv", "")) for k in keys)
    assert kinds == [("EC", "P-256"), ("EC", "P-384"), ("EC", "P-521"),
                     ("OKP", "Ed25519"), ("RSA", "")]
    for k in keys:
        assert "d" not in k and "p" not in k, "private part published"
        assert k["use"] == "sig" and k["kid"] and "key_ops" not in k
        jwt.PyJWK(k)
    rsa = [k for k in keys if k["kty"] == "RSA"][0]
    assert "alg" not in rsa and len(base64.urlsafe_b64decode(
        rsa["n"] + "==")) == 256
    assert {k.get("alg") for k in keys if k["kty"] != "RSA"} == {
        "ES256", "ES384", "ES512", "EdDSA"}


# ---- authorization endpoint -----------------------------------------------

def test_authorize_bad_client_or_redirect_gives_page_not_redirect(mock):
    for extra in ({"client_id": "nobody"}, {"client_id": None},
                  {"redirect_uri": "http://evil.example/cb"},
                  {"redirect_uri": None},
                  {"redirect_uri": "http://127.0.0.1/cb#frag"}):
        r, _ = mock.authorize(**extra)
        assert r.status_code == 400 and "Location" not in r.headers
        assert 'id="error"' in r.text


def test_demo_client_accepts_any_loopback_redirect(mock):
    for uri in ("http://localhost:1234/x", "https://127.0.0.1/cb?a=1"):
        r, _ = mock.authorize(redirect_uri=uri)
        assert r.status_code == 302
        assert r.headers["Location"].startswith(uri)
    r, _ = mock.authorize(redirect_uri="ftp://127.0.0.1/cb")
    assert r.status_code == 400


@pytest.mark.parametrize("extra,error", [
    ({"response_type": "token"}, "unsupported_response_type"),
    ({"response_type": "code id_token"}, "unsupported_response_type"),
    ({"response_type": None}, "invalid_request"),
    ({"code_challenge": "a" * 43, "code_challenge_method": "plain"},
     "invalid_request"),
    ({"code_challenge": "a" * 43}, "invalid_request"),   # defaults to plain
    ({"code_challenge_method": "S256"}, "invalid_request"),
    ({"code_challenge": "short", "code_challenge_method": "S256"},
     "invalid_request"),
    ({"scope": 'openid "bad'}, "invalid_scope"),
])
def test_authorize_errors_redirect_with_state_and_iss(mock, extra, error):
    r, params = mock.authorize(**extra)
    assert r.status_code == 302
    assert r.headers["Location"].startswith(CB + "?")
    q = redirect_query(r)
    assert q["error"] == error and "code" not in q
    assert q["state"] == params["state"] and q["iss"] == mock.url


def test_authorize_success_has_code_state_iss(mock):
    r, params = mock.authorize(state="abc", nonce="n1")
    q = redirect_query(r)
    assert set(q) == {"code", "state", "iss"}
    assert q["state"] == "abc" and q["iss"] == mock.url


def test_require_pkce_setting(mock):
    mock.ctl("settings", {"require_pkce": True})
    r, _ = mock.authorize()
    assert redirect_query(r)["error"] == "invalid_request"
    code, verifier = mock.code()
    assert mock.exchange(code, verifier).status_code == 200


def test_login_form_flow(mock):
    mock.ctl("settings", {"auto_approve": False})
    verifier, challenge = pkce_pair()
    r, params = mock.authorize(code_challenge=challenge,
                               code_challenge_method="S256", nonce="n2")
    assert r.status_code == 200 and "text/html" in r.headers["Content-Type"]
    assert 'id="login"' in r.text and 'name="username"' in r.text
    assert 'action="/authorize/login"' in r.text
    form_id = re.search(r'name="req" value="([^"]+)"', r.text).group(1)
    r2 = mock.post("/authorize/login", {"req": form_id, "username": "admin",
                                        "action": "login"})
    assert r2.status_code == 302
    q = redirect_query(r2)
    assert q["state"] == params["state"] and q["iss"] == mock.url
    tokens = mock.exchange(q["code"], verifier).json()
    idt = mock.verify(tokens["id_token"], audience="demo-client")
    assert idt["sub"] == "admin" and idt["nonce"] == "n2"
    assert idt["email"] == "admin@example.test" and idt["email_verified"]
    assert idt["groups"] == ["users", "admin"]
    # The form id is single use.
    r3 = mock.post("/authorize/login", {"req": form_id, "username": "x"})
    assert r3.status_code == 400 and "Location" not in r3.headers


def test_login_form_plain_user_deny_and_prompt_none(mock):
    mock.ctl("settings", {"auto_approve": False})
    r, _ = mock.authorize()
    form_id = re.search(r'name="req" value="([^"]+)"', r.text).group(1)
    r2 = mock.post("/authorize/login", {"req": form_id, "action": "deny"})
    assert redirect_query(r2)["error"] == "access_denied"
    r, _ = mock.authorize(prompt="none")
    assert redirect_query(r)["error"] == "login_required"
    assert mock.post("/authorize/login", {"req": "forged"}).status_code \
        == 400


def test_login_form_prefers_control_user(mock):
    mock.ctl("settings", {"auto_approve": False})
    mock.ctl("user", {"sub": "carol", "claims": {"groups": ["ops"]}})
    r, _ = mock.authorize()
    assert 'value="carol"' in r.text
    form_id = re.search(r'name="req" value="([^"]+)"', r.text).group(1)
    r2 = mock.post("/authorize/login", {"req": form_id, "username": "bob"})
    verifier = None
    tokens = mock.exchange(redirect_query(r2)["code"], verifier).json()
    at = mock.verify(tokens["access_token"], audience="api")
    assert at["sub"] == "carol" and at["groups"] == ["ops"]


# ---- token endpoint: authorization code -----------------------------------

def test_code_flow_basic_auth_tokens(mock):
    code, verifier = mock.code(nonce="nonce-1",
                               scope="openid profile api")
    r = mock.exchange(code, verifier)
    assert r.status_code == 200
    assert r.headers["Cache-Control"] == "no-store"
    t = r.json()
    assert t["token_type"] == "Bearer" and t["expires_in"] == 300
    assert t["scope"] == "openid profile api" and t["refresh_token"]
    header = jwt.get_unverified_header(t["access_token"])
    assert header["typ"] == "at+jwt" and header["alg"] == "RS256"
    at = mock.verify(t["access_token"], audience="api", issuer=mock.url)
    assert at["sub"] == "demo" and at["client_id"] == "demo-client"
    assert at["scope"] == "openid profile api" and at["jti"]
    assert at["exp"] - at["iat"] == 300 and at["groups"] == ["users"]
    idt = mock.verify(t["id_token"], audience="demo-client",
                      issuer=mock.url)
    assert idt["sub"] == "demo" and idt["nonce"] == "nonce-1"
    assert idt["azp"] == "demo-client" and idt["sid"]
    assert abs(idt["auth_time"] - time.time()) < 30
    digest = hashlib.sha256(t["access_token"].encode()).digest()
    assert idt["at_hash"] == b64url(digest[:16])
    logins = mock.get("/_control/sessions").json()["logins"]
    assert logins[-1]["sid"] == idt["sid"] and logins[-1]["sub"] == "demo"


def test_code_flow_client_secret_post(mock):
    code, verifier = mock.code()
    r = mock.exchange(code, verifier, auth=None, client_id="demo-client",
                      client_secret="demo-secret")
    assert r.status_code == 200 and r.json()["access_token"]


def test_no_openid_scope_no_id_token(mock):
    t = mock.tokens(scope="api")
    assert "id_token" not in t and t["refresh_token"]


@pytest.mark.parametrize("auth,extra", [
    (("demo-client", "wrong"), {}),
    (("nobody", "demo-secret"), {}),
    (None, {"client_id": "demo-client", "client_secret": "wrong"}),
    (None, {"client_id": "demo-client"}),
    (None, {}),
])
def test_bad_client_auth_is_401(mock, auth, extra):
    code, verifier = mock.code()
    r = mock.exchange(code, verifier, auth=auth, **extra)
    assert r.status_code == 401 and r.json()["error"] == "invalid_client"
    assert r.headers["WWW-Authenticate"].startswith("Basic")


def test_two_auth_methods_refused(mock):
    code, verifier = mock.code()
    r = mock.exchange(code, verifier, client_secret="demo-secret")
    assert r.status_code == 400 and r.json()["error"] == "invalid_request"


def test_basic_auth_credentials_are_form_decoded(mock):
    mock.ctl("client", {"client_id": "a b", "client_secret": "p:w%d",
                        "redirect_uris": [CB]})
    code, verifier = mock.code(client_id="a b")
    quoted = (urllib.parse.quote_plus("a b"),
              urllib.parse.quote_plus("p:w%d"))
    assert mock.exchange(code, verifier, auth=quoted).status_code == 200


@pytest.mark.parametrize("verifier,desc", [
    ("wrong" * 10, "PKCE verification failed"),
    (None, "code_verifier missing"),
    ("short", "malformed code_verifier"),
])
def test_bad_pkce_verifier_refused(mock, verifier, desc):
    code, _ = mock.code()
    r = mock.exchange(code, verifier)
    assert r.status_code == 400
    assert r.json() == {"error": "invalid_grant", "error_description": desc}


def test_verifier_without_challenge_refused(mock):
    code, _ = mock.code(code_challenge=None, code_challenge_method=None)
    r = mock.exchange(code, pkce_pair()[0])
    assert r.json()["error"] == "invalid_grant"
    code, _ = mock.code(code_challenge=None, code_challenge_method=None)
    assert mock.exchange(code, None).status_code == 200


def test_code_replay_refused_and_revokes_tokens(mock):
    code, verifier = mock.code()
    first = mock.exchange(code, verifier).json()
    assert mock.introspect(first["access_token"])["active"] is True
    r = mock.exchange(code, verifier)
    assert r.status_code == 400
    assert r.json()["error_description"] == "code already used"
    assert mock.introspect(first["access_token"]) == {"active": False}
    assert mock.introspect(first["refresh_token"]) == {"active": False}


def test_wrong_redirect_uri_refused(mock):
    code, verifier = mock.code()
    r = mock.exchange(code, verifier, redirect_uri=CB + "x")
    assert r.status_code == 400 and r.json()["error"] == "invalid_grant"
    # The failed attempt consumed the code.
    assert mock.exchange(code, verifier).status_code == 400


def test_code_bound_to_client(mock):
    mock.ctl("client", {"client_id": "other", "client_secret": "s2",
                        "redirect_uris": [CB]})
    code, verifier = mock.code()
    r = mock.exchange(code, verifier, auth=("other", "s2"))
    assert r.json()["error_description"] == "code was issued to another " \
        "client"


def test_unknown_and_expired_code(mock):
    r = mock.exchange("made-up", pkce_pair()[0])
    assert r.json()["error"] == "invalid_grant"
    mock.ctl("settings", {"code_ttl": 0})
    code, verifier = mock.code()
    time.sleep(0.05)
    assert mock.exchange(code, verifier).json()["error_description"] == \
        "code expired"


def test_grant_type_errors(mock):
    r = mock.post("/token", {"grant_type": "password"}, auth=DEMO)
    assert r.json()["error"] == "unsupported_grant_type"
    r = mock.post("/token", {}, auth=DEMO)
    assert r.json()["error"] == "invalid_request"


# ---- refresh and client credentials ---------------------------------------

def test_refresh_rotation(mock):
    t = mock.tokens(nonce="n")
    r = mock.post("/token", {"grant_type": "refresh_token",
                             "refresh_token": t["refresh_token"]}, auth=DEMO)
    assert r.status_code == 200
    t2 = r.json()
    assert t2["refresh_token"] != t["refresh_token"]
    assert mock.verify(t2["access_token"], audience="api")["sub"] == "demo"
    idt = mock.verify(t2["id_token"], audience="demo-client")
    assert "nonce" not in idt
    r = mock.post("/token", {"grant_type": "refresh_token",
                             "refresh_token": t["refresh_token"]}, auth=DEMO)
    assert r.status_code == 400 and r.json()["error"] == "invalid_grant"
    r = mock.post("/token", {"grant_type": "refresh_token",
                             "refresh_token": t2["refresh_token"],
                             "scope": "openid"}, auth=DEMO)
    assert r.status_code == 200 and r.json()["scope"] == "openid"


def test_refresh_errors(mock):
    t = mock.tokens()
    r = mock.post("/token", {"grant_type": "refresh_token",
                             "refresh_token": t["refresh_token"],
                             "scope": "openid admin"}, auth=DEMO)
    assert r.json()["error"] == "invalid_scope"
    mock.ctl("client", {"client_id": "other", "client_secret": "s2"})
    r = mock.post("/token", {"grant_type": "refresh_token",
                             "refresh_token": t["refresh_token"]},
                  auth=("other", "s2"))
    assert r.json()["error"] == "invalid_grant"
    r = mock.post("/token", {"grant_type": "refresh_token",
                             "refresh_token": t["access_token"]}, auth=DEMO)
    assert r.json()["error"] == "invalid_grant"


def test_client_credentials(mock):
    r = mock.post("/token", {"grant_type": "client_credentials",
                             "scope": "api read"}, auth=DEMO)
    assert r.status_code == 200
    t = r.json()
    assert "refresh_token" not in t and "id_token" not in t
    at = mock.verify(t["access_token"], audience="api")
    assert "sub" not in at and at["client_id"] == "demo-client"
    assert at["scope"] == "api read"
    r = mock.post("/token", {"grant_type": "client_credentials"},
                  auth=("demo-client", "nope"))
    assert r.status_code == 401


# ---- userinfo, introspection, revocation ----------------------------------

def test_userinfo(mock):
    mock.ctl("user", {"sub": "u1", "claims": {"name": "User One"}})
    t = mock.tokens()
    r = mock.get("/userinfo", headers={"Authorization": "Bearer " +
                                       t["access_token"]})
    assert r.status_code == 200
    assert r.json()["sub"] == "u1" and r.json()["name"] == "User One"
    assert r.json()["email"] == "u1@example.test"


def test_userinfo_refusals(mock):
    r = mock.get("/userinfo")
    assert r.status_code == 401
    assert r.headers["WWW-Authenticate"].startswith("Bearer")
    for bad in ("garbage", mock.ctl("mint", {"key": "unknown"})["token"]):
        r = mock.get("/userinfo", headers={"Authorization": "Bearer " + bad})
        assert r.status_code == 401
        assert 'error="invalid_token"' in r.headers["WWW-Authenticate"]
    cc = mock.post("/token", {"grant_type": "client_credentials"},
                   auth=DEMO).json()["access_token"]
    r = mock.get("/userinfo", headers={"Authorization": "Bearer " + cc})
    assert r.status_code == 401
    t = mock.tokens()
    mock.post("/revoke", {"token": t["access_token"]}, auth=DEMO)
    r = mock.get("/userinfo", headers={"Authorization": "Bearer " +
                                       t["access_token"]})
    assert r.status_code == 401


def test_introspection(mock):
    t = mock.tokens(scope="openid api")
    i = mock.introspect(t["access_token"])
    assert i["active"] is True and i["token_type"] == "Bearer"
    assert i["scope"] == "openid api" and i["client_id"] == "demo-client"
    assert i["sub"] == "demo" and i["aud"] == "api" and i["iss"] == mock.url
    assert i["exp"] > time.time() > i["iat"] - 5
    r = mock.introspect(t["refresh_token"])
    assert r["active"] is True and r["token_type"] == "refresh_token"
    assert mock.introspect("unknown") == {"active": False}
    assert mock.introspect(t["id_token"]) == {"active": False}
    # Any registered client (a resource server) may introspect.
    mock.ctl("client", {"client_id": "rs", "client_secret": "rs-s"})
    assert mock.introspect(t["access_token"], auth=("rs", "rs-s"))["active"]
    r = mock.post("/introspect", {"token": t["access_token"]})
    assert r.status_code == 401
    r = mock.post("/introspect", {"token": t["access_token"]},
                  auth=("rs", "bad"))
    assert r.status_code == 401


def test_introspection_expired(mock):
    mock.ctl("settings", {"access_token_ttl": -1})
    t = mock.tokens()
    assert mock.introspect(t["access_token"]) == {"active": False}


def test_opaque_tokens(mock):
    o = mock.ctl("opaque", {"claims": {"sub": "svc", "scope": "read",
                                       "groups": ["g"]}, "ttl": 60})
    assert "." not in o["token"]
    i = mock.introspect(o["token"])
    assert i["active"] is True and i["sub"] == "svc"
    assert i["scope"] == "read" and i["groups"] == ["g"]
    assert 55 <= i["exp"] - i["iat"] <= 60
    r = mock.get("/userinfo", headers={"Authorization": "Bearer " +
                                       o["token"]})
    assert r.status_code == 200 and r.json()["sub"] == "svc"
    off = mock.ctl("opaque", {"active": False})
    assert mock.introspect(off["token"]) == {"active": False}
    old = mock.ctl("opaque", {"ttl": -5})
    assert mock.introspect(old["token"]) == {"active": False}
    mock.ctl("opaque", {"ttl": "soon"}, status=400)


def test_opaque_access_token_setting(mock):
    mock.ctl("settings", {"access_token_format": "opaque"})
    t = mock.tokens()
    assert t["access_token"].count(".") == 0
    assert mock.introspect(t["access_token"])["sub"] == "demo"


def test_revocation(mock):
    t = mock.tokens()
    r = mock.post("/revoke", {"token": t["access_token"],
                              "token_type_hint": "access_token"}, auth=DEMO)
    assert r.status_code == 200
    assert mock.introspect(t["access_token"]) == {"active": False}
    assert mock.introspect(t["refresh_token"])["active"] is True
    # Revoking the refresh token ends the whole grant.
    t2 = mock.tokens()
    mock.post("/revoke", {"token": t2["refresh_token"]}, auth=DEMO)
    assert mock.introspect(t2["refresh_token"]) == {"active": False}
    assert mock.introspect(t2["access_token"]) == {"active": False}
    r = mock.post("/token", {"grant_type": "refresh_token",
                             "refresh_token": t2["refresh_token"]}, auth=DEMO)
    assert r.status_code == 400


def test_revocation_refusals(mock):
    assert mock.post("/revoke", {"token": "unknown"},
                     auth=DEMO).status_code == 200
    t = mock.tokens()
    assert mock.post("/revoke", {"token": t["access_token"]}).status_code \
        == 401
    mock.ctl("client", {"client_id": "other", "client_secret": "s2"})
    r = mock.post("/revoke", {"token": t["access_token"]},
                  auth=("other", "s2"))
    assert r.status_code == 400
    assert mock.introspect(t["access_token"])["active"] is True


# ---- logout ----------------------------------------------------------------

def test_end_session_redirects_and_records(mock):
    t = mock.tokens()
    sid = mock.verify(t["id_token"], audience="demo-client")["sid"]
    r = mock.get("/end_session", params={
        "id_token_hint": t["id_token"], "state": "s1",
        "post_logout_redirect_uri": "http://127.0.0.1:8080/bye"})
    assert r.status_code == 302
    assert r.headers["Location"] == "http://127.0.0.1:8080/bye?state=s1"
    out = mock.get("/_control/sessions").json()["logouts"][-1]
    assert out["sub"] == "demo" and out["sid"] == sid
    assert out["client_id"] == "demo-client" and out["state"] == "s1"
    r = mock.get("/end_session")
    assert r.status_code == 200 and 'id="logged-out"' in r.text


def test_end_session_refusals(mock):
    t = mock.tokens()
    r = mock.get("/end_session", params={
        "id_token_hint": t["id_token"],
        "post_logout_redirect_uri": "http://evil.example/bye"})
    assert r.status_code == 400 and "Location" not in r.headers
    r = mock.get("/end_session", params={"id_token_hint": "x.y.z"})
    assert r.status_code == 400
    r = mock.get("/end_session", params={
        "post_logout_redirect_uri": "http://127.0.0.1/bye"})
    assert r.status_code == 400   # no client to check it against
    r = mock.get("/end_session", params={
        "id_token_hint": t["id_token"], "client_id": "other"})
    assert r.status_code == 400
    assert mock.get("/_control/sessions").json()["logouts"] == []


def test_end_session_registered_client(mock):
    mock.ctl("client", {"client_id": "rp", "client_secret": "s",
                        "redirect_uris": [CB],
                        "post_logout_redirect_uris": [
                            "https://rp.example/out"]})
    r = mock.get("/end_session", params={
        "client_id": "rp", "post_logout_redirect_uri":
        "https://rp.example/out"})
    assert r.status_code == 302
    r = mock.get("/end_session", params={
        "client_id": "rp", "post_logout_redirect_uri":
        "http://127.0.0.1:8080/bye"})
    assert r.status_code == 400


class Receiver:
    """A tiny RP back-channel logout endpoint on 127.0.0.1."""

    def __init__(self, status=200):
        received = self.received = []

        class H(BaseHTTPRequestHandler):
            def do_POST(self):
                n = int(self.headers.get("Content-Length", 0))
                received.append((self.headers.get("Content-Type"),
                                 self.rfile.read(n).decode()))
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *a):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.url = "http://127.0.0.1:%d/bcl" % self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def test_backchannel_logout(mock):
    rx = Receiver()
    try:
        mock.ctl("client", {"client_id": "rp", "client_secret": "s",
                            "redirect_uris": [CB],
                            "backchannel_logout_uri": rx.url})
        res = mock.ctl("backchannel_logout", {"client_id": "rp",
                                              "sub": "alice", "sid": "S1"})
        assert res["status"] == 200
        ctype, body = rx.received[-1]
        assert ctype == "application/x-www-form-urlencoded"
        token = urllib.parse.parse_qs(body)["logout_token"][0]
        assert token == res["logout_token"]
        assert jwt.get_unverified_header(token)["typ"] == "logout+jwt"
        c = mock.verify(token, audience="rp", issuer=mock.url)
        assert c["sub"] == "alice" and c["sid"] == "S1" and c["jti"]
        assert c["events"] == {
            "http://schemas.openid.net/event/backchannel-logout": {}}
        assert "nonce" not in c and c["exp"] > c["iat"]
        sess = mock.get("/_control/sessions").json()
        assert sess["backchannel"][-1]["status"] == 200
        only_sid = mock.ctl("backchannel_logout", {"client_id": "rp",
                                                   "sid": "S2"})
        c = jwt.decode(only_sid["logout_token"],
                       options={"verify_signature": False})
        assert "sub" not in c and c["sid"] == "S2"
    finally:
        rx.close()


def test_backchannel_logout_rp_status_and_errors(mock):
    rx = Receiver(status=400)
    try:
        res = mock.ctl("backchannel_logout", {"client_id": "demo-client",
                                              "sub": "a", "uri": rx.url})
        assert res["status"] == 400 and len(rx.received) == 1
    finally:
        rx.close()
    mock.ctl("backchannel_logout", {"client_id": "demo-client", "sub": "a"},
             status=400)   # no uri registered
    mock.ctl("backchannel_logout", {"client_id": "demo-client",
                                    "uri": "http://127.0.0.1:9/x"},
             status=400)   # neither sub nor sid
    mock.ctl("backchannel_logout", {"client_id": "ghost", "sub": "a"},
             status=400)
    res = mock.ctl("backchannel_logout", {"client_id": "demo-client",
                                          "sub": "a",
                                          "uri": "http://127.0.0.1:9/x"})
    assert res["status"] is None and res["error"]


# ---- control API -----------------------------------------------------------

def test_control_user_sticky_and_once(mock):
    mock.ctl("user", {"sub": "bob", "claims": {"email": "b@x.test",
                                               "groups": None}})
    for _ in range(2):
        at = mock.verify(mock.tokens()["access_token"], audience="api")
        assert at["sub"] == "bob" and at["email"] == "b@x.test"
        assert "groups" not in at
    mock.ctl("user", {"sub": "once", "once": True})
    assert mock.verify(mock.tokens()["access_token"],
                       audience="api")["sub"] == "once"
    assert mock.verify(mock.tokens()["access_token"],
                       audience="api")["sub"] == "demo"
    mock.ctl("user", {"claims": {}}, status=400)
    mock.ctl("user", {"sub": "x", "claims": []}, status=400)


def test_control_bad_json(mock):
    r = requests.post(mock.url + "/_control/user", data="{nope",
                      timeout=10)
    assert r.status_code == 400 and "JSON" in r.json()["error_description"]
    r = requests.post(mock.url + "/_control/user", data="[1]", timeout=10)
    assert r.status_code == 400


def test_settings(mock):
    s = mock.ctl("settings", {"access_token_ttl": 42, "id_token_ttl": 7,
                              "id_token_alg": "ES256",
                              "access_token_alg": "EdDSA",
                              "access_token_audience": "photos"})
    assert s["access_token_ttl"] == 42
    assert mock.get("/_control/settings").json() == s
    t = mock.tokens()
    assert t["expires_in"] == 42
    assert jwt.get_unverified_header(t["access_token"])["alg"] == "EdDSA"
    at = mock.verify(t["access_token"], audience="photos")
    assert at["exp"] - at["iat"] == 42
    assert jwt.get_unverified_header(t["id_token"])["alg"] == "ES256"
    idt = mock.verify(t["id_token"], audience="demo-client")
    assert idt["exp"] - idt["iat"] == 7
    digest = hashlib.sha256(t["access_token"].encode()).digest()
    assert idt["at_hash"] == b64url(digest[:16])
    for bad in ({"id_token_alg": "HS256"}, {"colour": "red"},
                {"access_token_ttl": "5"}, {"auto_approve": 1},
                {"delay": {"nowhere": 1}}, {"access_token_format": "x"}):
        mock.ctl("settings", bad, status=400)


def test_settings_delay(mock):
    mock.ctl("settings", {"delay": {"jwks": 0.5}})
    t0 = time.monotonic()
    assert mock.get("/jwks").status_code == 200
    assert time.monotonic() - t0 >= 0.5


def test_reset_restores_command_line_state(mock):
    kids = set(mock.jwks())
    mock.ctl("settings", {"auto_approve": False, "access_token_ttl": 5})
    mock.ctl("user", {"sub": "zed"})
    mock.ctl("fail", {"endpoint": "token", "mode": "error500",
                      "count": -1})
    t = mock.ctl("opaque", {})["token"]
    mock.ctl("reset")
    assert set(mock.jwks()) == kids
    assert mock.get("/_control/settings").json()["auto_approve"] is True
    assert mock.introspect(t) == {"active": False}
    assert mock.verify(mock.tokens()["access_token"],
                       audience="api")["sub"] == "demo"


def test_rotate_keys(mock):
    old = mock.jwks()
    old_token = mock.tokens()["access_token"]
    r = mock.ctl("rotate_keys", {"keep_old": True})
    assert len(r["kids"]) == 5 and not set(r["kids"]) & set(old)
    both = mock.jwks()
    assert set(old) | set(r["kids"]) == set(both)
    mock.verify(old_token, audience="api")        # still verifiable
    new_token = mock.tokens()["access_token"]
    assert jwt.get_unverified_header(new_token)["kid"] in r["kids"]
    r2 = mock.ctl("rotate_keys", {})
    assert set(mock.jwks()) == set(r2["kids"])
    with pytest.raises(KeyError):
        mock.verify(old_token)


def jwk_for(mock, token):
    return jwt.PyJWK(mock.jwks()[jwt.get_unverified_header(token)["kid"]])


@pytest.mark.parametrize("alg", ["RS256", "RS384", "RS512", "PS256",
                                 "PS384", "PS512", "ES256", "ES384",
                                 "ES512", "EdDSA"])
def test_mint_signed_algs_verify_against_jwks(mock, alg):
    r = mock.ctl("mint", {"alg": alg, "claims": {"sub": "m", "x": 1}})
    h = jwt.get_unverified_header(r["token"])
    assert h["alg"] == alg and h["typ"] == "at+jwt"
    c = jwt.decode(r["token"], jwk_for(mock, r["token"]).key,
                   algorithms=[alg], audience="api", issuer=mock.url)
    assert c["sub"] == "m" and c["x"] == 1
    for claim in ("exp", "iat", "jti", "scope", "client_id"):
        assert claim in c
    assert mock.introspect(r["token"])["sub"] == "m"


def test_mint_ttl(mock):
    c = mock.ctl("mint", {"ttl": 3600})["claims"]
    assert c["exp"] - c["iat"] == 3600
    c = mock.ctl("mint", {"ttl": 10, "claims": {"exp": 5}})["claims"]
    assert c["exp"] == 5
    c = mock.ctl("mint", {"ttl": 7, "defaults": False})["claims"]
    assert abs(c["exp"] - 7 - time.time()) < 5
    mock.ctl("mint", {"ttl": "1h"}, status=400)
    mock.ctl("mint", {"ttl": True}, status=400)


def test_mint_none_and_hmac(mock):
    none = mock.ctl("mint", {"alg": "none"})["token"]
    assert none.endswith(".") and none.count(".") == 2
    assert jwt.get_unverified_header(none) == {"alg": "none",
                                               "typ": "at+jwt"}
    hs = mock.ctl("mint", {"alg": "HS256", "secret": "k"})["token"]
    assert jwt.decode(hs, "k", algorithms=["HS256"], audience="api")
    conf = mock.ctl("mint", {"alg": "HS256", "key": "public-as-hmac"})
    token = conf["token"]
    rsa_jwk = [k for k in mock.jwks().values() if k["kty"] == "RSA"][0]
    assert jwt.get_unverified_header(token)["kid"] == rsa_jwk["kid"]
    pem = jwt.PyJWK(rsa_jwk).key.public_bytes(
        __import__("cryptography.hazmat.primitives.serialization",
                   fromlist=["x"]).Encoding.PEM,
        __import__("cryptography.hazmat.primitives.serialization",
                   fromlist=["x"]).PublicFormat.SubjectPublicKeyInfo)
    signing_input, sig = token.rsplit(".", 1)
    expect = hmac.new(pem, signing_input.encode(), hashlib.sha256).digest()
    assert b64url(expect) == sig
    # Not valid tokens: introspection does not know them.
    assert mock.introspect(none) == {"active": False}
    assert mock.introspect(token) == {"active": False}


def test_mint_unknown_key(mock):
    family = {"RS256": "RSA", "ES256": "P-256", "EdDSA": "Ed25519"}
    for alg, kind in family.items():
        token = mock.ctl("mint", {"alg": alg, "key": "unknown"})["token"]
        kid = jwt.get_unverified_header(token)["kid"]
        assert kid.startswith("unknown-") and kid not in mock.jwks()
        same = [k for k in mock.jwks().values()
                if k.get("crv", k["kty"]) == kind]
        assert len(same) == 1
        with pytest.raises(jwt.InvalidSignatureError):
            jwt.decode(token, jwt.PyJWK(same[0]).key, algorithms=[alg],
                       options={"verify_aud": False})
    assert mock.introspect(token) == {"active": False}


def test_mint_claims_and_header_overrides(mock):
    r = mock.ctl("mint", {"claims": {"aud": "other", "exp": None,
                                     "iss": "https://evil"},
                          "header": {"typ": "JWT", "kid": "nope",
                                     "extra": True}})
    assert r["claims"]["aud"] == "other" and "exp" not in r["claims"]
    h = jwt.get_unverified_header(r["token"])
    assert h == {"alg": "RS256", "typ": "JWT", "kid": "nope", "extra": True}
    bare = mock.ctl("mint", {"defaults": False, "claims": {"a": 1},
                             "header": {"typ": None}})
    assert bare["claims"] == {"a": 1} and "typ" not in bare["header"]
    assert jwt.decode(bare["token"], options={"verify_signature": False}) \
        == {"a": 1}
    mock.ctl("mint", {"alg": "XX1"}, status=400)
    mock.ctl("mint", {"key": "stolen"}, status=400)
    mock.ctl("mint", {"alg": "RS256", "key": "public-as-hmac"}, status=400)
    mock.ctl("mint", {"claims": "nope"}, status=400)


def test_runtime_client_registration(mock):
    mock.ctl("client", {"client_id": "web", "client_secret": "ws",
                        "redirect_uris": ["https://app.example/cb"]})
    r, _ = mock.authorize(client_id="web",
                          redirect_uri="https://app.example/cb")
    assert r.status_code == 302
    for uri in ("https://app.example/cb/", "https://app.example/cb?x=1",
                CB):
        r, _ = mock.authorize(client_id="web", redirect_uri=uri)
        assert r.status_code == 400
    mock.ctl("client", {"client_id": "web"}, status=400)
    mock.ctl("client", {"client_id": "w", "client_secret": "s",
                        "redirect_uris": ["javascript:x"]}, status=400)


def test_requests_log(mock):
    code, verifier = mock.code()
    mock.exchange(code, verifier)
    log = mock.get("/_control/requests").json()["requests"]
    assert [e["path"] for e in log] == ["/authorize", "/token"]
    auth, tok = log
    assert auth["query"]["code_challenge_method"] == "S256"
    assert tok["form"]["code_verifier"] == verifier
    assert tok["headers"]["Authorization"].startswith("Basic ")


# ---- failure injection -----------------------------------------------------

def test_fail_error500_counts(mock):
    mock.ctl("fail", {"endpoint": "jwks", "mode": "error500", "count": 2})
    assert mock.get("/jwks").status_code == 500
    assert mock.get("/jwks").status_code == 500
    assert mock.get("/jwks").status_code == 200
    mock.ctl("fail", {"endpoint": "token", "mode": "error500"})
    assert mock.post("/token", {"grant_type": "client_credentials"},
                     auth=DEMO).status_code == 500
    assert mock.post("/token", {"grant_type": "client_credentials"},
                     auth=DEMO).status_code == 200


def test_fail_until_cleared(mock):
    mock.ctl("fail", {"endpoint": "discovery", "mode": "error500",
                      "count": -1})
    for _ in range(3):
        assert mock.get("/.well-known/openid-configuration") \
            .status_code == 500
    mock.ctl("clear_failures")
    assert mock.get("/.well-known/openid-configuration").status_code == 200


def test_fail_malformed(mock):
    mock.ctl("fail", {"endpoint": "introspect", "mode": "malformed"})
    r = mock.post("/introspect", {"token": "x"}, auth=DEMO)
    assert r.status_code == 200
    with pytest.raises(ValueError):
        json.loads(r.text)


def test_fail_hang_and_release(mock):
    mock.ctl("fail", {"endpoint": "userinfo", "mode": "hang",
                      "seconds": 30})
    t0 = time.monotonic()
    with pytest.raises(requests.exceptions.ReadTimeout):
        mock.get("/userinfo", timeout=0.5)
    assert time.monotonic() - t0 < 5
    mock.ctl("clear_failures")   # releases the hanging handler
    assert mock.get("/userinfo").status_code == 401


def test_fail_close(mock):
    mock.ctl("fail", {"endpoint": "authorize", "mode": "close"})
    with pytest.raises(requests.exceptions.ConnectionError):
        mock.authorize()
    r, _ = mock.authorize()
    assert r.status_code == 302


def test_fail_slow(mock):
    mock.ctl("fail", {"endpoint": "jwks", "mode": "slow", "seconds": 0.6})
    t0 = time.monotonic()
    assert mock.get("/jwks").status_code == 200
    assert time.monotonic() - t0 >= 0.6


@pytest.mark.parametrize("endpoint", ["token", "jwks", "introspect",
                                      "userinfo", "discovery", "authorize",
                                      "login", "revoke", "end_session"])
def test_fail_every_endpoint_accepted(mock, endpoint):
    r = mock.ctl("fail", {"endpoint": endpoint, "mode": "error500"})
    assert r["failures"][endpoint]["count"] == 1


@pytest.mark.parametrize("body", [
    {"endpoint": "nowhere", "mode": "error500"},
    {"endpoint": "token", "mode": "explode"},
    {"endpoint": "token", "mode": "hang", "count": 0},
    {"endpoint": "token", "mode": "hang", "seconds": -1},
])
def test_fail_bad_requests(mock, body):
    mock.ctl("fail", body, status=400)


# ---- command-line clients ---------------------------------------------------

def test_command_line_clients_and_options():
    m = Mock("--client", "app:sec:https://app.example/cb,http://127.0.0.1:"
             "9000/cb", "--client", "two:s2:https://two.example/cb",
             "--require-pkce", "--access-token-audience", "photos")
    try:
        r, _ = m.authorize(client_id="demo-client")
        assert r.status_code == 400        # no demo client now
        r, _ = m.authorize(client_id="app",
                           redirect_uri="http://127.0.0.1:9001/cb")
        assert r.status_code == 400        # exact match only
        r, _ = m.authorize(client_id="app",
                           redirect_uri="https://app.example/cb",
                           code_challenge=pkce_pair()[1],
                           code_challenge_method="S256")
        assert r.status_code == 200        # the login form (no auto)
        m.ctl("settings", {"auto_approve": True})
        r, _ = m.authorize(client_id="app",
                           redirect_uri="https://app.example/cb")
        assert redirect_query(r)["error"] == "invalid_request"   # PKCE
        code, verifier = m.code(client_id="app",
                                redirect_uri="https://app.example/cb")
        t = m.exchange(code, verifier, auth=("app", "sec"),
                       redirect_uri="https://app.example/cb").json()
        assert m.verify(t["access_token"], audience="photos")
        # Post-logout: same origin as a redirect URI, nothing else.
        ok = m.get("/end_session", params={
            "id_token_hint": t["id_token"],
            "post_logout_redirect_uri": "https://app.example/bye"})
        assert ok.status_code == 302
        bad = m.get("/end_session", params={
            "id_token_hint": t["id_token"],
            "post_logout_redirect_uri": "https://two.example/bye"})
        assert bad.status_code == 400
    finally:
        assert m.stop() == 0


def test_ec_jwk_coordinates_have_full_length(mock):
    # Regression: PyJWT's to_jwk drops leading zero bytes; rotate often
    # enough that a short coordinate would very likely have shown up.
    sizes = {"P-256": 32, "P-384": 48, "P-521": 66}
    for _ in range(8):
        for k in mock.ctl("rotate_keys", {})["jwks"]["keys"]:
            if k["kty"] == "EC":
                for c in ("x", "y"):
                    raw = base64.urlsafe_b64decode(k[c] + "=" * (-len(k[c])
                                                                 % 4))
                    assert len(raw) == sizes[k["crv"]]


def test_internal_error_answers_500_and_server_survives(mock):
    r = requests.post(mock.url + "/_control/backchannel_logout",
                      json={"client_id": ["not", "hashable"], "sub": "a"},
                      timeout=10)
    assert r.status_code == 500 and r.json()["error"] == "server_error"
    assert mock.get("/jwks").status_code == 200


def test_control_json_sent_as_form_content_type(mock):
    # curl -d labels JSON as a form; '&a&a' must not read as repeated keys.
    r = requests.post(mock.url + "/_control/mint",
                      data='{"claims": {"x": "a&a&a"}}', timeout=10,
                      headers={"Content-Type":
                               "application/x-www-form-urlencoded"})
    assert r.status_code == 200 and r.json()["claims"]["x"] == "a&a&a"
