#!/usr/bin/python3
"""Regenerate the verifier unit-test vectors (fixed clock TH_NOW_SEC).

Writes jwks1.json (key k1), jwks2.json (k1 + k2), and tokens.json with
tokens signed for issuer https://idp.test, audience api. Run once; the
outputs are committed so the unit tests need no Python.
"""
import json
from cryptography.hazmat.primitives.asymmetric import rsa, ec
from jwt import algorithms as jwa
import jwt

NOW = 1767225600
ISS, AUD = "https://idp.test", "api"
k1 = rsa.generate_private_key(public_exponent=65537, key_size=2048)
k2 = ec.generate_private_key(ec.SECP256R1())


def jwk(key, kid, alg):
    d = json.loads(jwa.get_default_algorithms()[alg].to_jwk(key.public_key()))
    d.update(kid=kid, use="sig", alg=alg)
    return d


j1 = {"keys": [jwk(k1, "k1", "RS256")]}
j2 = {"keys": [jwk(k1, "k1", "RS256"), jwk(k2, "k2", "ES256")]}
base = {"iss": ISS, "aud": AUD, "sub": "alice", "scope": "a b",
        "iat": NOW - 10, "exp": NOW + 3600}


def tok(claims=None, key=k1, kid="k1", alg="RS256", **extra):
    c = dict(base)
    c.update(claims or {})
    return jwt.encode(c, key, algorithm=alg, headers={"kid": kid, **extra})


out = {
    "valid": tok(),
    "valid2": tok({"sub": "bob"}),
    "kid2": tok(key=k2, kid="k2", alg="ES256"),
    "expired": tok({"exp": NOW - 3600}),
    "wrong_iss": tok({"iss": "https://evil.test"}),
    "wrong_aud": tok({"aud": "other"}),
    "nbf_future": tok({"nbf": NOW + 600}),
}
v = out["valid"].split(".")
t = out["wrong_aud"].split(".")
out["tampered"] = v[0] + "." + t[1] + "." + v[2]
with open("jwks1.json", "w") as f:
    json.dump(j1, f)
with open("jwks2.json", "w") as f:
    json.dump(j2, f)
with open("tokens.json", "w") as f:
    json.dump(out, f, indent=1)
