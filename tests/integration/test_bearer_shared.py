"""test_bearer_shared.py - introspection verdicts shared through the
session store (OAuth2SessionStore, a real redis-server): an opaque token is
introspected once across a graceful restart (per-process caches gone, the
verdict survives in Redis, sealed), inactive verdicts are kept briefly and
never beyond exp, and with Redis stopped JWTs still verify, opaque tokens
are introspected directly, and 503 only when introspection is down too."""
import re
import time

import pytest
import requests

import harness

PASS = "0123456789abcdef0123456789abcdef"


@pytest.fixture
def idp():
    m = harness.MockProvider().start()
    yield m
    m.stop()
    m.cleanup()


@pytest.fixture
def redis():
    r = harness.Redis().start()
    yield r
    r.stop()
    r.cleanup()


def conf(m, r, realm="photos"):
    return f"""
OAuth2Passphrase "{PASS}"
OAuth2SessionStore {r.url}
<Location /api>
    AuthType oauth2-bearer
    AuthName {realm}
    OAuth2TokenVerify jwks_uri={m.url}/jwks issuer={m.url} audience=api
    OAuth2TokenVerify introspect={m.url}/introspect issuer={m.url} \\
        audience=api client_id=demo-client client_secret=demo-secret
    Require oauth2-scope openid
</Location>
"""


def start(apache_factory, text):
    a = apache_factory(text)
    a.write_file("htdocs/api/data.json", '{"ok": true}\n')
    return a.start()


def get(a, token=None):
    h = {"Authorization": "Bearer " + token} if token else {}
    return requests.get(a.url + "/api/data.json", headers=h, timeout=10)


def introspections(m):
    return sum(1 for q in m.ctl("/_control/requests")["requests"]
               if q["path"] == "/introspect")


def opaque(m, **kw):
    return m.ctl("/_control/opaque", kw)["token"]


def verdict_keys(r):
    return [k for k in r.cli("KEYS", "*").split() if "oauth2:i:" in k]


def test_verdict_survives_graceful_restart(apache_factory, idp, redis):
    a = start(apache_factory, conf(idp, redis))
    tok = opaque(idp, claims={"sub": "carol"}, ttl=120)
    assert get(a, tok).status_code == 200
    assert introspections(idp) == 1
    # One sealed value, keyed by issuer/audience/endpoint/hash: never the
    # token.
    keys = verdict_keys(redis)
    assert len(keys) == 1 and tok not in keys[0]
    assert re.search(r"\|api\|[0-9a-f]{16}\|[0-9a-f]{64}$", keys[0]), keys
    val = redis.cli("GET", keys[0])
    assert "carol" not in val and "active" not in val
    # Never kept beyond the token's exp (120 s).
    assert 0 < int(redis.cli("PTTL", keys[0])) <= 120000
    # A graceful restart throws every per-process cache away; the new
    # generation (realm changed, so we can tell) asks Redis, not the IdP.
    a.set_config(conf(idp, redis, realm="photos2"))
    a.reload()
    served_by_new = False
    for _ in range(50):
        r = get(a)
        if 'realm="photos2"' in r.headers.get("WWW-Authenticate", ""):
            served_by_new = True
            break
        time.sleep(0.1)
    assert served_by_new
    for _ in range(20):
        assert get(a, tok).status_code == 200
        if "OA00806" in a.error_log():
            break
        time.sleep(0.1)
    assert "OA00806" in a.error_log()  # the new generation read Redis
    assert introspections(idp) == 1


def test_inactive_verdict_cached_briefly(apache_factory, idp, redis):
    a = start(apache_factory, conf(idp, redis))
    tok = opaque(idp, active=False)
    assert get(a, tok).status_code == 401
    assert get(a, tok).status_code == 401
    assert introspections(idp) == 1
    keys = verdict_keys(redis)
    assert len(keys) == 1
    # negative_cache defaults to 10 s.
    assert 0 < int(redis.cli("PTTL", keys[0])) <= 10000
    # A second node (own caches, same Redis) trusts the stored verdict.
    b = start(apache_factory, conf(idp, redis))
    assert get(b, tok).status_code == 401
    assert introspections(idp) == 1


def test_forged_verdict_in_redis_is_ignored(apache_factory, idp, redis):
    a = start(apache_factory, conf(idp, redis))
    tok = opaque(idp, active=False)
    assert get(a, tok).status_code == 401
    key = verdict_keys(redis)[0]
    # Someone who can write Redis but has no passphrase.
    redis.cli("SET", key, '{"active":true,"sub":"mallory","scope":"openid"}',
              "EX", "60")
    b = start(apache_factory, conf(idp, redis))
    assert get(b, tok).status_code == 401
    assert introspections(idp) == 2


@pytest.mark.expect_lognos("OA00803", "OA00440", "OA00801", "OA00703",
                           "OA00442", "OA00749")
def test_redis_stopped(apache_factory, idp, redis):
    a = start(apache_factory, conf(idp, redis))
    assert get(a, opaque(idp)).status_code == 200
    redis.stop()
    jwt = idp.ctl("/_control/mint", {"claims": {"sub": "alice"}})["token"]
    assert get(a, jwt).status_code == 200
    # Opaque tokens: still verified, directly at the endpoint.
    before = introspections(idp)
    for _ in range(3):
        assert get(a, opaque(idp)).status_code == 200
    assert introspections(idp) == before + 3
    # Inactive is still a deny, never an allow on doubt.
    assert get(a, opaque(idp, active=False)).status_code == 401
    # Introspection down as well: 503 with Retry-After, never 200.
    idp.ctl("/_control/fail", {"endpoint": "introspect", "mode": "error500",
                               "count": -1})
    r = get(a, opaque(idp))
    assert r.status_code == 503 and r.headers.get("Retry-After")
    # JWTs do not care.
    jwt2 = idp.ctl("/_control/mint", {"claims": {"sub": "bob"}})["token"]
    assert get(a, jwt2).status_code == 200
    # The store outage is logged once per process, not per request.
    log = a.error_log()
    assert 1 <= log.count("OA00803") <= 4
