"""test_bearer.py - AuthType oauth2-bearer against the mock provider: JWT
verification (algorithms, claims, hostile tokens, key rotation, JWKS
outages), opaque tokens by introspection, RFC 6750 errors, Require
oauth2-scope / oauth2-claim with RequireAny/RequireAll, nested locations,
several issuers, jwks_file/pem, the CGI hand-off (REMOTE_USER,
OAUTH2_CLAIM_*, spoofed headers removed) and configtest failures."""
import json

import pytest
import requests
from jwt import algorithms as jwa

import harness

CGI = """#!/bin/sh
echo "Content-Type: text/plain"
echo
env
"""


@pytest.fixture
def apache_factory(apache_factory, secrets, mock_provider):
    """Every Apache of this suite logs at debug (oauth2 at trace8) and its
    error log must hold none of the secrets the test used (conftest)."""
    secrets.add("demo-secret", "mock-hmac-secret")
    secrets.add_source(harness.mock_seen_secrets(mock_provider))

    def make(extra="", **kw):
        kw.setdefault("loglevel", harness.SECRETS_LOGLEVEL)
        return apache_factory(extra, **kw)

    return make


@pytest.fixture
def idp():
    """A private mock provider: tests below rotate keys and inject faults."""
    m = harness.MockProvider().start()
    yield m
    m.stop()
    m.cleanup()


def verify_line(m, extra=""):
    return (f"OAuth2TokenVerify jwks_uri={m.url}/jwks issuer={m.url} "
            f"audience=api {extra}")


def api_conf(m, require="Require oauth2-scope openid", verify=None,
             extra=""):
    return f"""
<Location /api>
    AuthType oauth2-bearer
    AuthName photos
    {verify or verify_line(m)}
    {require}
    {extra}
</Location>
"""


def start(apache_factory, conf):
    a = apache_factory(conf)
    a.write_file("htdocs/api/data.json", '{"ok": true}\n')
    a.write_file("htdocs/api/write/data.json", '{"write": true}\n')
    a.write_file("htdocs/static.txt", "static\n")
    return a.start()


def mint(m, alg="RS256", claims=None, **kw):
    body = {"alg": alg, "claims": dict({"sub": "alice"}, **(claims or {}))}
    body.update(kw)
    return m.ctl("/_control/mint", body)["token"]


def get(a, path="/api/data.json", token=None, headers=None):
    h = dict(headers or {})
    if token is not None:
        h["Authorization"] = "Bearer " + token
    return requests.get(a.url + path, headers=h, timeout=10)


def www(r):
    return r.headers.get("WWW-Authenticate", "")


# ---- JWT: algorithms and claims -----------------------------------------

@pytest.mark.parametrize("alg", ["RS256", "PS256", "ES256", "EdDSA"])
def test_valid_token_each_alg(apache_factory, mock_provider, alg):
    a = start(apache_factory, api_conf(mock_provider))
    r = get(a, token=mint(mock_provider, alg))
    assert r.status_code == 200, (r.status_code, www(r))
    assert r.json() == {"ok": True}


def test_no_token_is_401_with_realm_only(apache_factory, mock_provider):
    a = start(apache_factory, api_conf(mock_provider))
    r = get(a)
    assert r.status_code == 401
    assert www(r) == 'Bearer realm="photos"'
    # A query token is off by default: it counts as no token.
    r = requests.get(a.url + "/api/data.json?access_token=" +
                     mint(mock_provider), timeout=10)
    assert r.status_code == 401 and "error=" not in www(r)


def test_query_token_when_enabled(apache_factory, mock_provider):
    a = start(apache_factory,
              api_conf(mock_provider, extra="OAuth2TokenQueryParam On"))
    r = requests.get(a.url + "/api/data.json?access_token=" +
                     mint(mock_provider), timeout=10)
    assert r.status_code == 200


BAD_TOKENS = {
    "expired": dict(claims={"exp": 1000000000}),
    "nbf_future": dict(claims={"nbf": 4000000000}),
    "wrong_iss": dict(claims={"iss": "https://evil.example"}),
    "wrong_aud": dict(claims={"aud": "other"}),
    "alg_none": dict(alg="none"),
    "hs256_public_key": dict(alg="HS256", key="public-as-hmac"),
    "unknown_key": dict(key="unknown"),
}


@pytest.mark.parametrize("name", sorted(BAD_TOKENS))
def test_bad_tokens_are_401_invalid_token(apache_factory, mock_provider,
                                          name):
    a = start(apache_factory, api_conf(mock_provider))
    kw = dict(BAD_TOKENS[name])
    tok = mint(mock_provider, kw.pop("alg", "RS256"), **kw)
    r = get(a, token=tok)
    assert r.status_code == 401
    assert 'error="invalid_token"' in www(r)
    assert 'realm="photos"' in www(r)
    # The log says why; the client only gets the generic text.
    assert "OA00702" in a.error_log()
    assert 'error_description="invalid or expired token"' in www(r)
    # Never the token itself, only its redacted hash.
    assert tok not in a.error_log()
    assert max(tok.split("."), key=len) not in a.error_log()
    assert "sha256:" in a.error_log()


def test_tampered_payload(apache_factory, mock_provider):
    a = start(apache_factory, api_conf(mock_provider))
    good = mint(mock_provider).split(".")
    other = mint(mock_provider, claims={"sub": "mallory"}).split(".")
    r = get(a, token=f"{good[0]}.{other[1]}.{good[2]}")
    assert r.status_code == 401 and 'error="invalid_token"' in www(r)


def test_typ_checked_when_configured(apache_factory, mock_provider):
    a = start(apache_factory, api_conf(
        mock_provider, verify=verify_line(mock_provider, "type=at+jwt")))
    assert get(a, token=mint(mock_provider)).status_code == 200
    r = get(a, token=mint(mock_provider, header={"typ": "JWT"}))
    assert r.status_code == 401


# ---- malformed Authorization headers ------------------------------------

@pytest.mark.parametrize("value,status", [
    ("", 400), ("Bearer", 400), ("Bearer    ", 400), ("Bearer a b", 400),
    ("Bearer abc, Bearer def", 400), ("bearer !!!notatoken", 401),
    ("Basic dXNlcjpwYXNz", 401), ("Bearer " + "A" * 7000, 401),
])
def test_malformed_authorization(apache_factory, mock_provider, value,
                                 status):
    a = start(apache_factory, api_conf(mock_provider))
    r = get(a, headers={"Authorization": value})
    assert r.status_code == status, www(r)
    if status == 400:
        assert 'error="invalid_request"' in www(r)
    # Still serving.
    assert get(a, token=mint(mock_provider)).status_code == 200


def test_oversized_header_no_crash(apache_factory, mock_provider):
    a = start(apache_factory, api_conf(mock_provider))
    r = get(a, headers={"Authorization": "Bearer " + "A" * 20000})
    assert r.status_code in (400, 401)
    r = get(a, headers={"Authorization": "Bearer \x01\x02"})
    assert r.status_code in (400, 401)
    assert get(a, token=mint(mock_provider)).status_code == 200


def test_scheme_case_insensitive(apache_factory, mock_provider):
    a = start(apache_factory, api_conf(mock_provider))
    r = get(a, headers={"Authorization": "bEaReR " + mint(mock_provider)})
    assert r.status_code == 200


# ---- keys: rotation and outages -----------------------------------------

def test_unknown_kid_after_rotation(apache_factory, idp):
    a = start(apache_factory, api_conf(idp))
    assert get(a, token=mint(idp)).status_code == 200
    idp.ctl("/_control/rotate_keys", {})
    assert get(a, token=mint(idp)).status_code == 200


@pytest.mark.expect_lognos("OA00800")
def test_jwks_down_warm_cache(apache_factory, idp):
    a = start(apache_factory, api_conf(idp))
    t1, t2 = mint(idp), mint(idp, claims={"sub": "bob"})
    assert get(a, token=t1).status_code == 200
    idp.ctl("/_control/fail", {"endpoint": "jwks", "mode": "error500",
                               "count": -1})
    assert get(a, token=t1).status_code == 200  # verified-token cache
    assert get(a, token=t2).status_code == 200  # cached key set


@pytest.mark.expect_lognos("OA00800", "OA00703")
def test_jwks_down_cold_is_503(apache_factory, idp):
    idp.ctl("/_control/fail", {"endpoint": "jwks", "mode": "error500",
                               "count": -1})
    a = start(apache_factory, api_conf(idp))
    r = get(a, token=mint(idp))
    assert r.status_code == 503
    assert r.headers.get("Retry-After") == "30"


# ---- introspection -------------------------------------------------------

def intro_conf(m, require="Require oauth2-scope openid"):
    return api_conf(m, require=require, verify=(
        f"OAuth2TokenVerify introspect={m.url}/introspect issuer={m.url} "
        f"audience=api client_id=demo-client client_secret=demo-secret"))


def test_opaque_active(apache_factory, mock_provider):
    a = start(apache_factory, intro_conf(mock_provider))
    tok = mock_provider.ctl("/_control/opaque",
                            {"claims": {"sub": "carol"}})["token"]
    assert get(a, token=tok).status_code == 200
    assert get(a, token=tok).status_code == 200


def test_opaque_inactive(apache_factory, mock_provider):
    a = start(apache_factory, intro_conf(mock_provider))
    tok = mock_provider.ctl("/_control/opaque", {"active": False})["token"]
    r = get(a, token=tok)
    assert r.status_code == 401 and 'error="invalid_token"' in www(r)


@pytest.mark.expect_lognos("OA00801", "OA00703")
def test_introspection_down_is_503(apache_factory, idp):
    a = start(apache_factory, intro_conf(idp))
    tok = idp.ctl("/_control/opaque", {})["token"]
    idp.ctl("/_control/fail", {"endpoint": "introspect", "mode": "error500",
                               "count": -1})
    r = get(a, token=tok)
    assert r.status_code == 503
    assert r.headers.get("Retry-After") == "30"


# ---- authorization -------------------------------------------------------

def test_missing_scope_is_403_insufficient_scope(apache_factory,
                                                 mock_provider):
    a = start(apache_factory, api_conf(
        mock_provider, require="Require oauth2-scope openid photos.write"))
    r = get(a, token=mint(mock_provider))
    assert r.status_code == 403
    assert 'error="insufficient_scope"' in www(r)
    assert 'scope="openid photos.write"' in www(r)
    r = get(a, token=mint(mock_provider,
                          claims={"scope": "openid photos.write"}))
    assert r.status_code == 200 and www(r) == ""


def test_require_any_and_all(apache_factory, mock_provider):
    conf = api_conf(mock_provider, require="""
    <RequireAny>
        Require oauth2-scope admin
        Require oauth2-claim sub:alice
    </RequireAny>""")
    a = start(apache_factory, conf)
    r = get(a, token=mint(mock_provider))
    assert r.status_code == 200 and www(r) == ""
    r = get(a, token=mint(mock_provider, claims={"sub": "bob"}))
    assert r.status_code == 403
    assert 'scope="admin"' in www(r)
    a.stop()
    a.set_config(api_conf(mock_provider, require="""
    <RequireAll>
        Require oauth2-scope openid
        Require oauth2-claim email~^[a-z]+@example\\.test$
        Require oauth2-claim groups:staff
    </RequireAll>"""))
    a.start()
    ok = {"email": "alice@example.test", "groups": ["dev", "staff"]}
    assert get(a, token=mint(mock_provider, claims=ok)).status_code == 200
    bad = dict(ok, groups=["dev"])
    r = get(a, token=mint(mock_provider, claims=bad))
    assert r.status_code == 403 and "insufficient_scope" not in www(r)


def test_nested_locations(apache_factory, mock_provider):
    conf = api_conf(mock_provider) + """
<Location /api/write>
    Require oauth2-scope photos.write
</Location>
"""
    a = start(apache_factory, conf)
    t = mint(mock_provider)
    assert get(a, token=t).status_code == 200
    r = get(a, "/api/write/data.json", token=t)
    assert r.status_code == 403 and 'scope="photos.write"' in www(r)
    t2 = mint(mock_provider, claims={"scope": "photos.write"})
    assert get(a, "/api/write/data.json", token=t2).status_code == 200
    assert get(a, "/api/write/data.json").status_code == 401


def test_public_sublocation_stays_anonymous(apache_factory, mock_provider):
    conf = api_conf(mock_provider) + """
<Location /api/write>
    Require all granted
</Location>
"""
    a = start(apache_factory, conf)
    assert get(a, "/api/write/data.json").status_code == 200
    assert get(a).status_code == 401


def test_two_issuers(apache_factory, mock_provider, idp):
    conf = api_conf(mock_provider, verify=verify_line(mock_provider) +
                    "\n    " + verify_line(idp))
    a = start(apache_factory, conf)
    assert get(a, token=mint(mock_provider)).status_code == 200
    assert get(a, token=mint(idp)).status_code == 200
    third = harness.MockProvider().start()
    try:
        assert get(a, token=mint(third)).status_code == 401
    finally:
        third.stop()
        third.cleanup()


# ---- .htaccess ------------------------------------------------------------

def htaccess_node(apache_factory, lines, dirs=("ht",)):
    """/ht/ guarded by an .htaccess file (AllowOverride AuthConfig in each
    of `dirs`)."""
    a = apache_factory("")
    a.set_config("".join(f"""
<Directory "{a.root}/htdocs/{d}">
    AllowOverride AuthConfig
</Directory>
""" for d in dirs))
    a.write_file("htdocs/ht/data.json", '{"ht": true}\n')
    write_htaccess(a, lines)
    return a.start()


def write_htaccess(a, lines, d="ht"):
    """htdocs/<d>/.htaccess: bearer auth with these lines, any valid user."""
    a.write_file(f"htdocs/{d}/.htaccess", f"AuthType oauth2-bearer\n"
                 f"AuthName {d}\n" + "\n".join(lines) +
                 "\nRequire valid-user\n")


def jwks_fetches(m):
    return sum(1 for q in m.ctl("/_control/requests")["requests"]
               if q["path"] == "/jwks")


def test_htaccess_verifier_is_kept_across_requests(apache_factory, idp):
    """httpd reads .htaccess again for every request: the verifier of a
    line is kept per process, so its JWKS and verdict caches work (it was
    made anew per request: one JWKS fetch and a full verification each)."""
    a = htaccess_node(apache_factory, [verify_line(idp)])
    tok = mint(idp)
    for _ in range(12):
        r = get(a, "/ht/data.json", token=tok)
        assert r.status_code == 200, (r.status_code, www(r))
    # at most one fetch per child process that served a request
    assert jwks_fetches(idp) <= 2
    assert get(a, "/ht/data.json").status_code == 401
    bad = tok[:-4] + ("AAAA" if not tok.endswith("AAAA") else "BBBB")
    r = get(a, "/ht/data.json", token=bad)
    assert r.status_code == 401 and "invalid_token" in www(r)


def test_htaccess_edits_take_effect(apache_factory, idp, mock_provider):
    """A changed line is a new verifier: the audience it names applies on
    the next request; a second line adds an issuer."""
    a = htaccess_node(apache_factory, [verify_line(idp)])
    assert get(a, "/ht/data.json", token=mint(idp)).status_code == 200
    write_htaccess(a, [verify_line(idp).replace("audience=api",
                                                "audience=other")])
    assert get(a, "/ht/data.json", token=mint(idp)).status_code == 401
    assert get(a, "/ht/data.json", token=mint(
        idp, claims={"aud": "other"})).status_code == 200
    write_htaccess(a, [verify_line(idp), verify_line(mock_provider)])
    assert get(a, "/ht/data.json", token=mint(idp)).status_code == 200
    assert get(a, "/ht/data.json",
               token=mint(mock_provider)).status_code == 200


def test_htaccess_bad_line_is_500_and_logged(apache_factory, idp):
    a = htaccess_node(apache_factory, [verify_line(idp, "leeway=forever")])
    assert get(a, "/ht/data.json", token=mint(idp)).status_code == 500
    assert "OAuth2TokenVerify" in a.error_log()


def test_htaccess_key_file_edits_take_effect(apache_factory, idp,
                                             mock_provider):
    """A kept line that names a key file is a new verifier once the file
    changes: removing a key from it works from the next request on."""
    a = apache_factory("")
    mine = requests.get(idp.url + "/jwks", timeout=5).json()
    keys = a.write_file("conf/ht-keys.json", json.dumps(mine))
    a.set_config(f"""
<Directory "{a.root}/htdocs/ht">
    AllowOverride AuthConfig
</Directory>
""")
    a.write_file("htdocs/ht/data.json", '{"ht": true}\n')
    write_htaccess(a, [f"OAuth2TokenVerify jwks_file={keys} "
                       f"issuer={idp.url} audience=api"])
    a.start()
    tok = mint(idp)
    assert get(a, "/ht/data.json", token=tok).status_code == 200
    other = requests.get(mock_provider.url + "/jwks", timeout=5).json()
    keys.write_text(json.dumps(other) + "\n")
    assert get(a, "/ht/data.json", token=tok).status_code == 401
    keys.write_text(json.dumps(mine))
    assert get(a, "/ht/data.json", token=tok).status_code == 200


@pytest.mark.parametrize("extra,msg", [
    ("client_id=rs client_secret=exec:/bin/true", "not allowed in .htaccess"),
    ("client_id=rs client_secret=file:/etc/hostname",
     "not allowed in .htaccess"),
    ("cache_entries=20000", "cache_entries= in .htaccess: want 1..1000"),
])
def test_htaccess_refuses_what_only_admins_may_say(apache_factory, idp,
                                                   extra, msg):
    """An .htaccess author may not run a program or read a file as the
    client secret, nor keep a large verdict cache in every process."""
    a = htaccess_node(apache_factory, [verify_line(idp, extra)])
    assert get(a, "/ht/data.json", token=mint(idp)).status_code == 500
    assert msg in a.error_log()


def test_htaccess_lines_beyond_the_cap(apache_factory, idp):
    """Past 256 kept verifiers a process warns once (OA00788) and later
    lines get a verifier and a list of the request's own, without caches;
    they keep working. Such a list dies with its (sub)request: a principal
    it established must never pass for a later subrequest's list at the
    same address (mod_dir tries each index file in a subrequest of its
    own, and /vict/ refuses this token)."""
    a = apache_factory("")
    a.expect("OA00788")
    a.set_config(f"""
StartServers 1
ServerLimit 1
ThreadsPerChild 5
MaxRequestWorkers 5
<Directory "{a.root}/htdocs">
    AllowOverride AuthConfig Indexes
</Directory>
""")

    write_htaccess(a, [verify_line(idp, f"leeway={i}")
                       for i in range(1, 300)], "fill")
    a.write_file("htdocs/fill/d.txt", "fill\n")
    write_htaccess(a, [verify_line(idp).replace("audience=api",
                                                "audience=bbb")], "vict")
    a.write_file("htdocs/vict/secret.txt", "VICTIM-SECRET\n")
    write_htaccess(a, [verify_line(idp)], "mine")
    a.write_file("htdocs/mine/x.txt", "mine\n")
    a.write_file("htdocs/evil/.htaccess", "DirectoryIndex /mine/nothing.txt" +
                 " /vict/secret.txt" * 6 + "\n")
    a.start()
    tok = mint(idp)  # aud=api: /mine/ accepts it, /vict/ does not
    assert get(a, "/fill/d.txt", token=tok).status_code == 200
    assert "OA00788" in a.error_log()
    assert get(a, "/mine/x.txt", token=tok).status_code == 200
    assert get(a, "/mine/x.txt").status_code == 401
    assert get(a, "/vict/secret.txt", token=tok).status_code == 401
    for pad in range(40):  # vary the pool layout of the subrequests
        r = get(a, "/evil/", token=tok,
                headers={f"X-Pad-{i}": "p" * 300 for i in range(pad)})
        assert "VICTIM-SECRET" not in r.text, pad


def test_jwks_file_and_pem(apache_factory, mock_provider):
    jwks = requests.get(mock_provider.url + "/jwks", timeout=5).json()
    rsa = next(k for k in jwks["keys"] if k["kty"] == "RSA")
    pem = jwa.RSAAlgorithm.from_jwk(json.dumps(rsa)).public_bytes(
        encoding=__import__("cryptography.hazmat.primitives.serialization",
                            fromlist=["Encoding"]).Encoding.PEM,
        format=__import__("cryptography.hazmat.primitives.serialization",
                          fromlist=["PublicFormat"]).PublicFormat
        .SubjectPublicKeyInfo).decode()
    a = apache_factory()
    f = a.write_file("conf/keys.json", json.dumps(jwks))
    p = a.write_file("conf/key.pem", pem)
    m = mock_provider.url
    a.set_config(api_conf(mock_provider, verify=(
        f"OAuth2TokenVerify jwks_file={f} issuer={m} audience=api")) +
        f"""
<Location /pem>
    AuthType oauth2-bearer
    OAuth2TokenVerify pem={p} issuer={m} audience=api algs=RS256,PS256
    Require oauth2-scope openid
</Location>
""")
    a.write_file("htdocs/api/data.json", "{}")
    a.write_file("htdocs/pem/data.json", "{}")
    a.start()
    assert get(a, token=mint(mock_provider, "ES256")).status_code == 200
    assert get(a, "/pem/data.json",
               token=mint(mock_provider, "PS256")).status_code == 200
    assert get(a, "/pem/data.json",
               token=mint(mock_provider, "ES256")).status_code == 401


# ---- backend hand-off -----------------------------------------------------

def cgi_conf(m, extra=""):
    return f"""
ScriptAlias /api/cgi/ "{{root}}/cgi-bin/"
<Location /api>
    AuthType oauth2-bearer
    {verify_line(m)}
    OAuth2ClaimHeaderPrefix OAuth2-Claim-
    Require oauth2-scope openid
    {extra}
</Location>
"""


def cgi_env(a, token, headers=None):
    r = get(a, "/api/cgi/env.sh", token=token, headers=headers)
    assert r.status_code == 200, (r.status_code, r.text, a.error_log())
    env = {}
    for line in r.text.splitlines():
        k, _, v = line.partition("=")
        env[k] = v
    return env


def start_cgi(apache_factory, conf):
    a = apache_factory()
    a.set_config(conf.replace("{root}", str(a.root)))
    a.write_file("cgi-bin/env.sh", CGI, mode=0o755)
    return a.start()


def test_cgi_sees_claims_and_no_spoofed_headers(apache_factory,
                                                 mock_provider):
    a = start_cgi(apache_factory, cgi_conf(mock_provider))
    tok = mint(mock_provider, claims={"email": "alice@example.test",
                                      "groups": ["a", "b"], "level": -7,
                                      "staff": True, "ratio": 0.5,
                                      "note": "a\tb"})
    spoof = {"OAuth2-Claim-sub": "mallory", "oauth2-claim-email": "x@evil",
             "OAuth2-Claim-Admin": "true", "Remote-User": "mallory"}

    def ours(e):
        return {k: v for k, v in e.items()
                if "OAUTH2" in k or k.startswith("REMOTE_USER")}
    # the first request verifies the signature, the second is a cache hit
    # served from what the verdict prepared: the backend sees the same
    first = cgi_env(a, tok, headers=spoof)
    env = cgi_env(a, tok, headers=spoof)
    assert ours(env) == ours(first)
    assert env["REMOTE_USER"] == "alice"
    assert env["OAUTH2_CLAIM_sub"] == "alice"
    assert env["OAUTH2_CLAIM_email"] == "alice@example.test"
    assert json.loads(env["OAUTH2_CLAIM_groups"]) == ["a", "b"]
    # scalars are JSON text, as arrays are
    assert env["OAUTH2_CLAIM_level"] == "-7"
    assert env["OAUTH2_CLAIM_staff"] == "true"
    assert env["OAUTH2_CLAIM_ratio"] == "0.5"
    assert int(env["OAUTH2_CLAIM_exp"]) > int(env["OAUTH2_CLAIM_iat"])
    assert env["HTTP_OAUTH2_CLAIM_SUB"] == "alice"
    assert env["HTTP_OAUTH2_CLAIM_EMAIL"] == "alice@example.test"
    # control characters reach the environment, never a header
    assert env["OAUTH2_CLAIM_note"] == "a\tb"
    assert env["HTTP_OAUTH2_CLAIM_NOTE"] == "a b"
    assert "HTTP_OAUTH2_CLAIM_ADMIN" not in env
    assert "HTTP_REMOTE_USER" not in env
    assert env["AUTH_TYPE"].lower() == "oauth2-bearer"


def test_claim_names_export_once_whatever_collides(apache_factory,
                                                   mock_provider):
    # SetEnvIf may plant a variable of ours before fixups; claim names that
    # differ only in case or in a character sanitized to '_' map to one
    # variable. Other modules read the first entry of a name (CGI folds
    # duplicates itself, so a static file and mod_headers show it): each
    # must hold ours, the later claim's value.
    a = start_cgi(apache_factory, cgi_conf(mock_provider, extra="""
    SetEnvIfExpr "%{QUERY_STRING} == 'plant'" OAUTH2_CLAIM_sub=mallory
    Header always set X-Sub "%{OAUTH2_CLAIM_sub}e"
    Header always set X-XY "%{OAUTH2_CLAIM_x_y}e"
    Header always set X-Mixed "%{OAUTH2_CLAIM_mixed}e"
    Header always set X-HMixed "expr=%{req:OAuth2-Claim-mixed}"
"""))
    a.write_file("htdocs/api/data.json", "{}")
    plain = mint(mock_provider, claims={"mixed": "lower"})
    r = get(a, "/api/data.json?plant", token=plain)
    assert r.status_code == 200, (r.status_code, r.text, a.error_log())
    assert r.headers["X-Sub"] == "alice"
    tok = mint(mock_provider, claims={"x-y": "first", "x_y": "second",
                                      "Mixed": "upper", "mixed": "lower"})
    for q in ("", "?plant"):
        r = get(a, "/api/data.json" + q, token=tok)
        assert r.status_code == 200, (r.status_code, r.text, a.error_log())
        assert r.headers["X-Sub"] == "alice", q
        assert r.headers["X-XY"] == "second", q
        assert r.headers["X-Mixed"] == "lower", q
        assert r.headers["X-HMixed"] == "lower", q
    env = cgi_env(a, tok)
    assert env["OAUTH2_CLAIM_sub"] == "alice"
    assert env["OAUTH2_CLAIM_x_y"] == "second"


def test_directory_index_subrequest_keeps_the_user(apache_factory,
                                                  mock_provider):
    # Require oauth2-scope authenticates in authz_core's first pass;
    # mod_dir's subrequest for the index and mod_rewrite's per-directory
    # internal redirect (a new request_rec sharing the main one's state)
    # must still give the CGI the user, AUTH_TYPE and the claims
    a = apache_factory(modules=harness.BASE_MODULES + ["rewrite"])
    a.set_config(cgi_conf(mock_provider).replace("{root}", str(a.root)) + f"""
<Directory "{a.root}/htdocs/api/dir">
    Options +ExecCGI +FollowSymLinks
    AddHandler cgi-script .cgi
    DirectoryIndex env.cgi
    RewriteEngine on
    RewriteRule ^old\\.cgi$ env.cgi
</Directory>
""")
    a.write_file("cgi-bin/env.sh", CGI, mode=0o755)
    a.write_file("htdocs/api/dir/env.cgi", CGI, mode=0o755)
    a.start()
    tok = mint(mock_provider)
    for path in ("/api/dir/", "/api/dir/", "/api/dir/old.cgi"):
        r = get(a, path, token=tok)
        assert r.status_code == 200, (r.status_code, r.text, a.error_log())
        env = dict(ln.partition("=")[::2] for ln in r.text.splitlines())
        assert env["SCRIPT_NAME"] == "/api/dir/env.cgi", path
        assert env["REMOTE_USER"] == "alice", path
        assert env["AUTH_TYPE"].lower() == "oauth2-bearer", path
        assert env["OAUTH2_CLAIM_sub"] == "alice", path
    assert get(a, "/api/dir/").status_code == 401
    assert get(a, "/api/dir/old.cgi").status_code == 401


def test_rules_before_ours_are_asked_again_with_the_user(apache_factory,
                                                        mock_provider):
    # authz_core's first pass runs `Require not user bob` before we set a
    # user (neutral then); the second pass must ask it again with one
    a = apache_factory()
    a.set_config(f"""
<Location /api>
    AuthType oauth2-bearer
    {verify_line(mock_provider)}
    <RequireAll>
        Require not user bob
        Require oauth2-scope openid
    </RequireAll>
</Location>
""")
    a.write_file("htdocs/api/data.json", "{}")
    a.start()
    bob, alice = mint(mock_provider, claims={"sub": "bob"}), mint(mock_provider)
    for _ in range(2):  # verified, then from the cache
        r = get(a, token=bob)
        # authz_core's answer for an authenticated user it refuses
        assert r.status_code == 401, (r.status_code, a.error_log())
        assert "invalid_token" not in www(r)
        assert get(a, token=alice).status_code == 200


def test_subrequest_that_authenticates_first_serves_the_next(
        apache_factory, mock_provider):
    # an unprotected SSI page includes the API twice: the first include
    # authenticates (the main request never does), the second reuses the
    # principal kept for the main request, token header included, after
    # the first include's pool is gone. A normal build does not poison
    # freed pool memory, so this checks the flow; the lifetime (everything
    # in the main request's pool) is what bearer.c's authenticate() makes
    # sure of
    a = apache_factory(modules=harness.BASE_MODULES + ["include"])
    a.set_config(cgi_conf(mock_provider, extra="OAuth2AccessTokenHeader "
                          "X-Access-Token").replace("{root}", str(a.root)) +
                 f"""
<Directory "{a.root}/htdocs">
    Options +Includes
    AddOutputFilter INCLUDES .shtml
</Directory>
""")
    a.write_file("cgi-bin/env.sh", CGI, mode=0o755)
    a.write_file("htdocs/page.shtml",
                 "<!--#include virtual=\"/api/cgi/env.sh\" -->\n---\n"
                 "<!--#include virtual=\"/api/cgi/env.sh\" -->\n")
    a.start()
    tok = mint(mock_provider)
    for _ in range(2):  # verified, then from the cache
        r = get(a, "/page.shtml", token=tok)
        assert r.status_code == 200, (r.status_code, r.text, a.error_log())
        parts = r.text.split("\n---\n")
        assert len(parts) == 2, r.text
        for part in parts:
            env = dict(ln.partition("=")[::2] for ln in part.splitlines())
            assert env.get("HTTP_X_ACCESS_TOKEN") == tok, part
            assert env.get("REMOTE_USER") == "alice", part
            assert env.get("OAUTH2_CLAIM_sub") == "alice", part


def test_remote_user_claim_client_id(apache_factory, mock_provider):
    a = start_cgi(apache_factory, cgi_conf(
        mock_provider, extra="OAuth2RemoteUserClaim client_id"))
    tok = mint(mock_provider, claims={"sub": None, "client_id": "svc-1"})
    for _ in range(2):  # verified, then from the cache
        env = cgi_env(a, tok)
        assert env["REMOTE_USER"] == "svc-1"
        assert "OAUTH2_CLAIM_sub" not in env


def test_spoofed_headers_stripped_on_unprotected_paths(apache_factory,
                                                       mock_provider):
    a = apache_factory()
    a.set_config(f"""
ScriptAlias /open/ "{a.root}/cgi-bin/"
<Location /open>
    OAuth2ClaimHeaderPrefix X-Claim-
    Require all granted
</Location>
""")
    a.write_file("cgi-bin/env.sh", CGI, mode=0o755)
    a.start()
    r = requests.get(a.url + "/open/env.sh", timeout=10, headers={
        "X-Claim-Sub": "mallory", "OAuth2-Claim-Sub": "mallory",
        "X-Other": "kept"})
    assert r.status_code == 200
    assert "mallory" not in r.text
    assert "HTTP_X_OTHER=kept" in r.text


# ---- configtest -----------------------------------------------------------

@pytest.mark.parametrize("args,msg", [
    ("jwks_uri=http://idp.example/jwks issuer=x", "loopback"),
    ("jwks_uri=https://idp.example/jwks", "issuer= is required"),
    ("jwks_uri=https://idp.example/jwks issuer=x colour=red",
     "unknown or empty option colour"),
    ("jwks_uri=https://idp.example/jwks issuer=x algs=RS256,HS256",
     "\"HS256\" is not a supported signature algorithm"),
    ("jwks_uri=https://idp.example/jwks issuer=x algs=none",
     "\"none\" is not a supported signature algorithm"),
    ("jwks_file=/nonexistent/keys.json issuer=x", "cannot read"),
    ("pem=/nonexistent/key.pem issuer=x", "OAuth2TokenVerify"),
    ("introspect=http://10.0.0.1/i issuer=x client_id=a", "loopback"),
    ("issuer=x", "one of jwks_uri"),
])
def test_configtest_rejects(apache_factory, args, msg):
    a = apache_factory(f"""
<Location /api>
    AuthType oauth2-bearer
    OAuth2TokenVerify {args}
    Require oauth2-scope x
</Location>
""")
    rc, out = a.configtest()
    assert rc != 0
    assert "OAuth2TokenVerify" in out and msg in out, out


@pytest.mark.parametrize("line,msg", [
    ("Require oauth2-claim email~([a-z", "bad regex"),
    ("Require oauth2-claim novalue", "name:value"),
    ("Require oauth2-scope", "at least one scope"),
])
def test_configtest_rejects_require(apache_factory, line, msg):
    a = apache_factory(f"""
<Location /api>
    AuthType oauth2-bearer
    OAuth2TokenVerify jwks_uri=https://idp.example/jwks issuer=x
    {line}
</Location>
""")
    rc, out = a.configtest()
    assert rc != 0 and msg in out, out
