#!/usr/bin/python3
"""Regenerate the relying-party ID token vectors (fixed clock TH_NOW_SEC).

Writes jwks1.json (key k1), jwks2.json (k1 + k2) and idtokens.json: ID
tokens for issuer https://idp.example, client client1, nonce n1, with
at_hash of access token "AT". Run once; the outputs are committed so the
unit tests need no Python.
"""
import base64
import hashlib
import json
from cryptography.hazmat.primitives.asymmetric import rsa, ec
from jwt import algorithms as jwa
import jwt

NOW = 1767225600
ISS, AUD = "https://idp.example", "client1"
k1 = rsa.generate_private_key(public_exponent=65537, key_size=2048)
k2 = ec.generate_private_key(ec.SECP256R1())


def jwk(key, kid, alg):
    d = json.loads(jwa.get_default_algorithms()[alg].to_jwk(key.public_key()))
    d.update(kid=kid, use="sig", alg=alg)
    return d


def half(alg_hash, value):
    d = alg_hash(value.encode()).digest()
    return base64.urlsafe_b64encode(d[:len(d) // 2]).rstrip(b"=").decode()


base = {"iss": ISS, "aud": AUD, "sub": "alice", "nonce": "n1",
        "iat": NOW - 10, "exp": NOW + 300,
        "at_hash": half(hashlib.sha256, "AT")}


def tok(claims=None, key=k1, kid="k1", alg="RS256"):
    c = dict(base)
    c.update(claims or {})
    c = {k: v for k, v in c.items() if v is not None}
    return jwt.encode(c, key, algorithm=alg, headers={"kid": kid})


out = {
    "valid": tok(),
    "no_at_hash": tok({"at_hash": None}),
    "kid2": tok(key=k2, kid="k2", alg="ES256",
                claims={"at_hash": None}),
    "expired": tok({"exp": NOW - 3600}),
    "wrong_aud": tok({"aud": "other"}),
    "wrong_nonce": tok({"nonce": "n2"}),
    "bad_at_hash": tok({"at_hash": half(hashlib.sha256, "OTHER")}),
    "hs256": jwt.encode(dict(base), "secret", algorithm="HS256",
                        headers={"kid": "k1"}),
}
v = out["valid"].split(".")
t = out["wrong_aud"].split(".")
out["tampered"] = v[0] + "." + t[1] + "." + v[2]
with open("jwks1.json", "w") as f:
    json.dump({"keys": [jwk(k1, "k1", "RS256")]}, f)
with open("jwks2.json", "w") as f:
    json.dump({"keys": [jwk(k1, "k1", "RS256"), jwk(k2, "k2", "ES256")]}, f)
with open("idtokens.json", "w") as f:
    json.dump(out, f, indent=1)
