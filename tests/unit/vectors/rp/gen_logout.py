#!/usr/bin/python3
"""Regenerate the back-channel logout token vectors (fixed clock TH_NOW_SEC).

Writes jwks_logout.json (key lk1) and logouttokens.json: logout tokens for
issuer https://idp.example, client client1, one per check of
oauth2_rp_logout_token_validate. Run once; the outputs are committed so the
unit tests need no Python.
"""
import json
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt import algorithms as jwa
import jwt

NOW = 1767225600
EVENT = "http://schemas.openid.net/event/backchannel-logout"
ISS, AUD = "https://idp.example", "client1"
k1 = rsa.generate_private_key(public_exponent=65537, key_size=2048)
other = rsa.generate_private_key(public_exponent=65537, key_size=2048)

d = json.loads(jwa.get_default_algorithms()["RS256"].to_jwk(k1.public_key()))
d.update(kid="lk1", use="sig", alg="RS256")

base = {"iss": ISS, "aud": AUD, "sub": "alice", "sid": "sid-1",
        "iat": NOW - 10, "exp": NOW + 120, "jti": "jti-1",
        "events": {EVENT: {}}}


def tok(claims=None, key=k1, typ="logout+jwt"):
    c = dict(base)
    c.update(claims or {})
    c = {k: v for k, v in c.items() if v is not None}
    h = {"kid": "lk1"}
    if typ:
        h["typ"] = typ
    return jwt.encode(c, key, algorithm="RS256", headers=h)


out = {
    "valid": tok(),
    "sid_only": tok({"sub": None}),
    "sub_only_no_typ_no_exp": tok({"sid": None, "exp": None}, typ=None),
    "bad_signature": tok(key=other),
    "wrong_iss": tok({"iss": "https://evil.example"}),
    "wrong_aud": tok({"aud": ["other", "x"]}),
    "aud_array": tok({"aud": ["other", AUD]}),
    "nonce": tok({"nonce": "n1"}),
    "no_events": tok({"events": None}),
    "wrong_event": tok({"events": {"http://example/other": {}}}),
    "event_not_object": tok({"events": {EVENT: "yes"}}),
    "no_sub_no_sid": tok({"sub": None, "sid": None}),
    "sub_number": tok({"sub": 5, "sid": None}),
    "no_jti": tok({"jti": None}),
    "old_iat": tok({"iat": NOW - 3600, "exp": NOW + 60}),
    "future_iat": tok({"iat": NOW + 600}),
    "no_iat": tok({"iat": None}),
    "expired": tok({"exp": NOW - 600}),
    "typ_at_jwt": tok(typ="at+jwt"),
}
with open("jwks_logout.json", "w") as f:
    json.dump({"keys": [d]}, f)
with open("logouttokens.json", "w") as f:
    json.dump(out, f, indent=1)
