#!/usr/bin/python3
"""A standalone OpenID Connect / OAuth 2.0 provider for tests.

This file owns a throw-away identity provider: discovery, JWKS, the
authorization code flow (PKCE S256), token, userinfo, introspection
(RFC 7662), revocation (RFC 7009), RP-initiated and back-channel logout, and
a JSON control API under /_control/ that lets tests choose the user, mint
hostile tokens, rotate keys and inject failures.

It never does: persistence (everything lives in memory and dies with the
process), real authentication (any username logs in), TLS, or binding a
non-loopback address. It is a test tool: the control API is unauthenticated
and records request parameters unmasked, so never expose it to a network.

Run: /usr/bin/python3 mock_provider.py --port 0   (see README.md)
Dependencies: Python 3.11 stdlib, python3-cryptography, python3-jwt (PyJWT).
"""

import argparse
import base64
import collections
import hashlib
import html
import ipaddress
import json
import re
import secrets
import signal
import socket
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from jwt import algorithms as jwa

SIGNING_ALGS = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512",
                "ES256", "ES384", "ES512", "EdDSA"]
MINT_ALGS = SIGNING_ALGS + ["none", "HS256", "HS384", "HS512"]
# Which key family signs each asymmetric alg; one RSA key serves RS* and PS*.
ALG_FAMILY = {"RS256": "rsa", "RS384": "rsa", "RS512": "rsa",
              "PS256": "rsa", "PS384": "rsa", "PS512": "rsa",
              "ES256": "p256", "ES384": "p384", "ES512": "p521",
              "EdDSA": "ed25519"}
FAIL_ENDPOINTS = ["discovery", "jwks", "authorize", "login", "token",
                  "userinfo", "introspect", "revoke", "end_session"]
FAIL_MODES = {"error500": 0, "hang": 30, "malformed": 0, "slow": 2,
              "close": 0}  # mode -> default seconds
BCL_EVENT = "http://schemas.openid.net/event/backchannel-logout"
PENDING_TTL = 600
MAX_BODY = 1 << 20
REQUEST_LOG_SIZE = 200
# RFC 6749 appendix A: scope tokens are %x21 / %x23-5B / %x5D-7E.
SCOPE_TOKEN = re.compile(r"^[\x21\x23-\x5b\x5d-\x7e]+$")
PKCE_VERIFIER = re.compile(r"^[A-Za-z0-9._~-]{43,128}$")
PKCE_CHALLENGE = re.compile(r"^[A-Za-z0-9_-]{43}$")


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def new_id(nbytes=24):
    return secrets.token_urlsafe(nbytes)


def sign_jws(header, claims, alg, key):
    """Compact JWS over exactly `header` and `claims` as given.

    The header is serialised as-is (not rebuilt by a library) so tests can
    send lying or odd headers; PyJWT's algorithm objects do the signing,
    including ECDSA's raw r||s encoding. alg "none" gives an empty signature.
    """
    def enc(obj):
        return b64url(json.dumps(obj, separators=(",", ":")).encode())
    signing_input = (enc(header) + "." + enc(claims)).encode("ascii")
    sig = b""
    if alg != "none":
        sig = jwa.get_default_algorithms()[alg].sign(signing_input, key)
    return signing_input.decode("ascii") + "." + b64url(sig)


def half_hash(alg, value):
    """OIDC at_hash: left half of the hash that matches the alg's size."""
    size = {"256": hashlib.sha256, "384": hashlib.sha384,
            "512": hashlib.sha512}
    h = size.get(alg[-3:], hashlib.sha512)(value.encode("ascii")).digest()
    return b64url(h[: len(h) // 2])


def is_loopback_uri(uri):
    """True for http(s) URIs on 127.0.0.1/localhost/[::1] without fragment:
    the demo client's rule, so a local demo site works on any port."""
    try:
        u = urllib.parse.urlsplit(uri)
        return (u.scheme in ("http", "https") and not u.fragment
                and u.hostname in ("127.0.0.1", "localhost", "::1"))
    except ValueError:
        return False


def origin(uri):
    u = urllib.parse.urlsplit(uri)
    return (u.scheme, u.hostname, u.port)


class ProtocolError(Exception):
    """An OAuth error response (RFC 6749 5.2 shape) raised by endpoints."""

    def __init__(self, status, error, description="", headers=None):
        super().__init__(description or error)
        self.status = status
        self.error = error
        self.description = description
        self.headers = headers or {}


class PageError(Exception):
    """An HTML error page: used where redirecting would be unsafe (bad
    client or redirect_uri), per RFC 6749 4.1.2.1."""

    def __init__(self, status, text):
        super().__init__(text)
        self.status = status
        self.text = text


# ==== Keys ================================================================

class KeySet:
    """Signing keys, one per family, plus the public JWKS.

    Keys are generated at start so no key material ships with the tool.
    Rotation replaces every key with a fresh kid; with keep_old the previous
    public keys stay published, like a provider in its overlap window.
    """

    def __init__(self):
        self.generation = 0
        self.current = {}     # family -> (kid, private key)
        self.published = []   # public JWKs, newest first
        self.rotate(keep_old=False)

    @staticmethod
    def generate(family):
        if family == "rsa":
            return rsa.generate_private_key(public_exponent=65537,
                                            key_size=2048)
        if family == "ed25519":
            return ed25519.Ed25519PrivateKey.generate()
        curve = {"p256": ec.SECP256R1, "p384": ec.SECP384R1,
                 "p521": ec.SECP521R1}[family]
        return ec.generate_private_key(curve())

    @staticmethod
    def public_jwk(family, kid, key):
        if family in ("rsa", "ed25519"):
            alg_cls = {"rsa": jwa.RSAAlgorithm, "ed25519": jwa.OKPAlgorithm}
            jwk = json.loads(alg_cls[family].to_jwk(key.public_key()))
            jwk.pop("key_ops", None)   # RFC 7517 4.3: not with "use"
        else:
            # PyJWT 2.6 drops leading zero bytes of x/y; RFC 7518 6.2.1.2
            # wants the full coordinate size, and strict verifiers (ours)
            # reject short ones, so this JWK is built here.
            pub = key.public_key().public_numbers()
            size = (key.curve.key_size + 7) // 8
            jwk = {"kty": "EC", "crv": {"p256": "P-256", "p384": "P-384",
                                        "p521": "P-521"}[family],
                   "x": b64url(pub.x.to_bytes(size, "big")),
                   "y": b64url(pub.y.to_bytes(size, "big"))}
        jwk.update({"kid": kid, "use": "sig"})
        # The RSA key serves RS* and PS*, so it carries no "alg".
        if family != "rsa":
            jwk["alg"] = {"p256": "ES256", "p384": "ES384", "p521": "ES512",
                          "ed25519": "EdDSA"}[family]
        return jwk

    def rotate(self, keep_old):
        self.generation += 1
        fresh = {}
        for family in ("rsa", "p256", "p384", "p521", "ed25519"):
            kid = "%s-%d-%s" % (family, self.generation, new_id(4))
            fresh[family] = (kid, self.generate(family))
        self.current = fresh
        new_jwks = [self.public_jwk(f, kid, k)
                    for f, (kid, k) in fresh.items()]
        self.published = new_jwks + (self.published if keep_old else [])
        return [j["kid"] for j in new_jwks]

    def for_alg(self, alg):
        """(kid, private key) of the current key that signs `alg`."""
        return self.current[ALG_FAMILY[alg]]

    def jwks(self):
        return {"keys": list(self.published)}

    def rsa_public_pem(self):
        _, key = self.current["rsa"]
        return key.public_key().public_bytes(
            serialization.Encoding.PEM,
            serialization.PublicFormat.SubjectPublicKeyInfo)


# ==== Clients and settings ================================================

@dataclass
class Client:
    client_id: str
    client_secret: str
    redirect_uris: list = field(default_factory=list)
    post_logout_redirect_uris: list = field(default_factory=list)
    backchannel_logout_uri: str = None
    any_loopback: bool = False   # the demo client: any loopback URI

    def redirect_ok(self, uri):
        if self.any_loopback:
            return is_loopback_uri(uri)
        return uri in self.redirect_uris

    def post_logout_ok(self, uri):
        """Registered post-logout URIs match exactly. A client from the
        command line cannot register any, so it may return to the origin
        of one of its redirect URIs; the demo client to any loopback URI."""
        if self.any_loopback:
            return is_loopback_uri(uri)
        if uri in self.post_logout_redirect_uris:
            return True
        if self.post_logout_redirect_uris:
            return False
        try:
            return any(origin(uri) == origin(r) for r in self.redirect_uris)
        except ValueError:
            return False


def check_uri(uri):
    u = urllib.parse.urlsplit(uri)
    if u.scheme not in ("http", "https") or not u.netloc or u.fragment:
        raise ValueError("not an absolute http(s) URI without fragment: %r"
                         % uri)
    return uri


SETTING_TYPES = {
    "auto_approve": bool, "require_pkce": bool,
    "access_token_ttl": int, "id_token_ttl": int, "refresh_token_ttl": int,
    "code_ttl": int,
    "id_token_alg": str, "access_token_alg": str,
    "access_token_audience": str, "access_token_format": str,
    "delay": dict,
}


def default_settings(args):
    return {"auto_approve": args.auto_approve,
            "require_pkce": args.require_pkce,
            "access_token_ttl": 300, "id_token_ttl": 300,
            "refresh_token_ttl": 3600, "code_ttl": 60,
            "id_token_alg": "RS256", "access_token_alg": "RS256",
            "access_token_audience": args.access_token_audience,
            "access_token_format": "jwt",  # or "opaque"
            "delay": {}}


def merge_settings(current, update):
    """Validated copy of `current` with `update` applied; raises ValueError
    on unknown keys or bad values so a typo in a test fails loudly."""
    out = dict(current)
    for key, value in update.items():
        want = SETTING_TYPES.get(key)
        if want is None:
            raise ValueError("unknown setting %r" % key)
        if want is int and isinstance(value, (int, float)) \
                and not isinstance(value, bool):
            value = int(value)
        if not isinstance(value, want) or \
                (want is int and isinstance(value, bool)):
            raise ValueError("setting %r must be %s" % (key, want.__name__))
        if key.endswith("_alg") and value not in SIGNING_ALGS:
            raise ValueError("%s must be one of %s" % (key, SIGNING_ALGS))
        if key == "access_token_format" and value not in ("jwt", "opaque"):
            raise ValueError("access_token_format must be jwt or opaque")
        if key == "delay":
            for name, secs in value.items():
                if name not in FAIL_ENDPOINTS or \
                        not isinstance(secs, (int, float)) or secs < 0:
                    raise ValueError("delay: bad entry %r" % name)
        out[key] = value
    return out


def user_claims(username, overrides=None):
    """Claims of a user: defaults derived from the username, then
    `overrides` (a None value removes a claim)."""
    groups = ["users"] + (["admin"] if username == "admin" else [])
    claims = {"sub": username, "preferred_username": username,
              "name": username, "email": "%s@example.test" % username,
              "email_verified": True, "groups": groups}
    for k, v in (overrides or {}).items():
        if v is None:
            claims.pop(k, None)
        else:
            claims[k] = v
    return claims


# Token claims a user's claims may never replace.
RESERVED = {"iss", "aud", "exp", "iat", "nbf", "jti", "client_id", "scope",
            "azp", "nonce", "auth_time", "sid", "at_hash", "typ"}


# ==== Provider: state and protocol ========================================

class Provider:
    """All state and protocol logic; HTTP plumbing lives in Handler.

    Every public method runs under self.lock (taken by the handler), so the
    dictionaries below need no finer locking. Endpoint methods take a
    Request and return a Response, or raise ProtocolError / PageError.
    """

    def __init__(self, args, base_url, issuer):
        self.lock = threading.RLock()
        self.args = args
        self.base_url = base_url
        self.issuer = issuer
        self.keys = KeySet()
        self.clients = {}
        for c in parse_clients(args.client):
            self.clients[c.client_id] = c
        if not self.clients:
            self.clients["demo-client"] = Client("demo-client",
                                                 "demo-secret",
                                                 any_loopback=True)
        self.requests = collections.deque(maxlen=REQUEST_LOG_SIZE)
        self.wake = threading.Event()   # set to release hanging handlers
        self.reset()

    def reset(self):
        """Back to the start: users, codes, tokens, sessions, failures and
        settings are forgotten; keys and registered clients stay."""
        self.settings = default_settings(self.args)
        self.next_user = None        # {"claims": ..., "once": bool}
        self.pending = {}            # login form id -> authorization request
        self.codes = {}              # code -> grant record
        self.tokens = {}             # access/refresh/id token -> record
        self.logins = []
        self.logouts = []
        self.failures = {}           # endpoint -> {"mode", "count", "seconds"}
        self.requests.clear()
        self.release_hanging()

    def release_hanging(self):
        self.wake.set()
        self.wake = threading.Event()

    # ---- discovery and keys ---------------------------------------------

    def discovery(self, req):
        b = self.base_url
        return Response.json({
            "issuer": self.issuer,
            "authorization_endpoint": b + "/authorize",
            "token_endpoint": b + "/token",
            "userinfo_endpoint": b + "/userinfo",
            "jwks_uri": b + "/jwks",
            "introspection_endpoint": b + "/introspect",
            "revocation_endpoint": b + "/revoke",
            "end_session_endpoint": b + "/end_session",
            "scopes_supported": ["openid", "profile", "email", "groups",
                                 "offline_access", "api"],
            "response_types_supported": ["code"],
            "response_modes_supported": ["query"],
            "grant_types_supported": ["authorization_code", "refresh_token",
                                      "client_credentials"],
            "subject_types_supported": ["public"],
            "code_challenge_methods_supported": ["S256"],
            "token_endpoint_auth_methods_supported": [
                "client_secret_basic", "client_secret_post"],
            "introspection_endpoint_auth_methods_supported": [
                "client_secret_basic", "client_secret_post"],
            "revocation_endpoint_auth_methods_supported": [
                "client_secret_basic", "client_secret_post"],
            "id_token_signing_alg_values_supported": SIGNING_ALGS,
            "claims_supported": ["sub", "iss", "aud", "exp", "iat", "name",
                                 "email", "email_verified", "groups",
                                 "preferred_username", "sid", "auth_time"],
            "authorization_response_iss_parameter_supported": True,
            "backchannel_logout_supported": True,
            "backchannel_logout_session_supported": True,
        })

    def jwks(self, req):
        return Response.json(self.keys.jwks(),
                             headers={"Cache-Control": "max-age=300"})

    # ---- authorization endpoint -----------------------------------------

    def authorize(self, req):
        p = req.params
        client = self.clients.get(p.get("client_id", ""))
        if client is None:
            raise PageError(400, "unknown or missing client_id")
        redirect_uri = p.get("redirect_uri", "")
        if not client.redirect_ok(redirect_uri):
            raise PageError(400, "redirect_uri is not registered for "
                                 "this client")
        request = {"client_id": client.client_id,
                   "redirect_uri": redirect_uri, "state": p.get("state"),
                   "nonce": p.get("nonce"), "scope": p.get("scope", "openid"),
                   "code_challenge": p.get("code_challenge"),
                   "expires": time.time() + PENDING_TTL}
        error = self.check_authorization_request(p, request)
        if error:
            return self.auth_response(request, {"error": error[0],
                                                "error_description": error[1]})
        if self.settings["auto_approve"]:
            return self.approve(request, self.take_user("demo"))
        if p.get("prompt") == "none":
            return self.auth_response(request, {"error": "login_required"})
        form_id = new_id()
        self.pending[form_id] = request
        return Response.html(200, login_page(form_id, client.client_id,
                                             self.suggested_username()))

    def check_authorization_request(self, p, request):
        """(error, description) for a request that may be answered by
        redirect, or None when it is acceptable."""
        if "response_type" not in p:
            return ("invalid_request", "response_type is required")
        if p["response_type"] != "code":
            return ("unsupported_response_type", "only code is supported")
        challenge = p.get("code_challenge")
        method = p.get("code_challenge_method")
        if challenge is None:
            if method is not None:
                return ("invalid_request", "code_challenge_method without "
                                           "code_challenge")
            if self.settings["require_pkce"]:
                return ("invalid_request", "code_challenge is required")
        elif method != "S256":
            # RFC 7636 defaults a missing method to plain; we refuse plain.
            return ("invalid_request", "code_challenge_method must be S256")
        elif not PKCE_CHALLENGE.match(challenge):
            return ("invalid_request", "malformed code_challenge")
        if not all(SCOPE_TOKEN.match(s) for s in request["scope"].split(" ")):
            return ("invalid_scope", "malformed scope")
        return None

    def login(self, req):
        """The login form's POST: single-use form id, then approve or deny."""
        request = self.pending.pop(req.params.get("req", ""), None)
        if request is None or request["expires"] < time.time():
            raise PageError(400, "unknown or expired login request")
        if req.params.get("action") == "deny":
            return self.auth_response(request, {"error": "access_denied"})
        username = req.params.get("username", "").strip() or "demo"
        return self.approve(request, self.take_user(username))

    def suggested_username(self):
        if self.next_user:
            return str(self.next_user["claims"].get("sub", "demo"))
        return "demo"

    def take_user(self, username):
        """Claims of the user who logs in now: the control API's choice if
        set (consumed when "once"), else the typed username."""
        if self.next_user is None:
            return user_claims(username)
        chosen = self.next_user
        if chosen.get("once"):
            self.next_user = None
        return dict(chosen["claims"])

    def approve(self, request, user):
        now = time.time()
        sid = new_id(12)
        self.logins.append({"sub": user["sub"], "sid": sid,
                            "client_id": request["client_id"],
                            "auth_time": int(now)})
        code = new_id()
        self.codes[code] = {"request": request, "user": user, "sid": sid,
                            "auth_time": int(now),
                            "expires": now + self.settings["code_ttl"],
                            "used": False, "grant": new_id(12)}
        return self.auth_response(request, {"code": code})

    def auth_response(self, request, params):
        """Redirect to the client with state and iss (RFC 9207), for
        success and error alike."""
        if request.get("state") is not None:
            params["state"] = request["state"]
        params["iss"] = self.issuer
        sep = "&" if "?" in request["redirect_uri"] else "?"
        return Response.redirect(request["redirect_uri"] + sep +
                                 urllib.parse.urlencode(params))

    # ---- token endpoint -------------------------------------------------

    def authenticate_client(self, req):
        """client_secret_basic or client_secret_post (never both, RFC 6749
        2.3); any failure is 401 invalid_client."""
        fail = ProtocolError(401, "invalid_client", "client authentication "
                             "failed", {"WWW-Authenticate":
                                        'Basic realm="mock_provider"'})
        auth = req.headers.get("Authorization", "")
        if auth[:6].lower() == "basic ":
            if "client_secret" in req.params:
                raise ProtocolError(400, "invalid_request", "more than one "
                                    "client authentication method")
            try:
                raw = base64.b64decode(auth[6:].strip(), validate=True)
                cid, secret = raw.decode("utf-8").split(":", 1)
            except (ValueError, UnicodeDecodeError):
                raise fail
            # RFC 6749 2.3.1: both parts are form-urlencoded first.
            cid = urllib.parse.unquote_plus(cid)
            secret = urllib.parse.unquote_plus(secret)
        else:
            cid = req.params.get("client_id")
            secret = req.params.get("client_secret")
        client = self.clients.get(cid or "")
        if client is None or secret is None or not secrets.compare_digest(
                secret.encode(), client.client_secret.encode()):
            raise fail
        return client

    def token(self, req):
        client = self.authenticate_client(req)
        grant_type = req.params.get("grant_type")
        if grant_type == "authorization_code":
            body = self.grant_code(client, req.params)
        elif grant_type == "refresh_token":
            body = self.grant_refresh(client, req.params)
        elif grant_type == "client_credentials":
            scope = req.params.get("scope", "")
            if scope and not all(SCOPE_TOKEN.match(s)
                                 for s in scope.split(" ")):
                raise ProtocolError(400, "invalid_scope", "malformed scope")
            body = self.issue(client, None, scope, new_id(12))
        elif grant_type is None:
            raise ProtocolError(400, "invalid_request", "grant_type missing")
        else:
            raise ProtocolError(400, "unsupported_grant_type", grant_type)
        return Response.json(body, headers={"Cache-Control": "no-store",
                                            "Pragma": "no-cache"})

    def grant_code(self, client, p):
        record = self.codes.get(p.get("code", ""))
        if record is None:
            raise ProtocolError(400, "invalid_grant", "unknown code")
        if record["used"]:
            # RFC 6749 4.1.2: a replayed code revokes what it produced.
            self.revoke_grant(record["grant"])
            raise ProtocolError(400, "invalid_grant", "code already used")
        # Consumed on the first attempt, even a failing one, so a wrong
        # PKCE verifier cannot be retried against the same code.
        record["used"] = True
        request = record["request"]
        if record["expires"] < time.time():
            raise ProtocolError(400, "invalid_grant", "code expired")
        if request["client_id"] != client.client_id:
            raise ProtocolError(400, "invalid_grant", "code was issued to "
                                "another client")
        if p.get("redirect_uri") != request["redirect_uri"]:
            raise ProtocolError(400, "invalid_grant", "redirect_uri does not "
                                "match the authorization request")
        self.check_pkce(request.get("code_challenge"),
                        p.get("code_verifier"))
        return self.issue(client, record["user"], request["scope"],
                          record["grant"], nonce=request.get("nonce"),
                          sid=record["sid"], auth_time=record["auth_time"])

    @staticmethod
    def check_pkce(challenge, verifier):
        if challenge is None:
            if verifier is not None:
                # RFC 9700 2.1.1: a verifier without a challenge is a
                # downgrade attempt.
                raise ProtocolError(400, "invalid_grant", "code_verifier "
                                    "sent but no code_challenge was")
            return
        if verifier is None:
            raise ProtocolError(400, "invalid_grant", "code_verifier missing")
        if not PKCE_VERIFIER.match(verifier):
            raise ProtocolError(400, "invalid_grant", "malformed "
                                "code_verifier")
        computed = b64url(hashlib.sha256(verifier.encode("ascii")).digest())
        if not secrets.compare_digest(computed, challenge):
            raise ProtocolError(400, "invalid_grant", "PKCE verification "
                                "failed")

    def grant_refresh(self, client, p):
        record = self.tokens.get(p.get("refresh_token", ""))
        if record is None or record["type"] != "refresh_token" \
                or not self.is_active(record):
            raise ProtocolError(400, "invalid_grant", "unknown, used or "
                                "expired refresh_token")
        if record["client_id"] != client.client_id:
            raise ProtocolError(400, "invalid_grant", "refresh_token was "
                                "issued to another client")
        scope = record["scope"]
        if "scope" in p:
            if not set(p["scope"].split()) <= set(scope.split()):
                raise ProtocolError(400, "invalid_scope", "scope exceeds "
                                    "the original grant")
            scope = p["scope"]
        record["revoked"] = True   # rotation: one use per refresh token
        return self.issue(client, record["user"], scope, record["grant"],
                          sid=record["sid"], auth_time=record["auth_time"])

    def issue(self, client, user, scope, grant, nonce=None, sid=None,
              auth_time=None):
        """Token response for a grant; `user` None means client
        credentials (no sub, no refresh or ID token)."""
        s = self.settings
        now = int(time.time())
        claims = {k: v for k, v in (user or {}).items() if k not in RESERVED}
        claims.update({"iss": self.issuer, "aud": s["access_token_audience"],
                       "client_id": client.client_id, "iat": now,
                       "exp": now + s["access_token_ttl"], "jti": new_id(12)})
        if scope:
            claims["scope"] = scope
        if s["access_token_format"] == "opaque":
            access_token = new_id(32)
        else:
            alg = s["access_token_alg"]
            kid, key = self.keys.for_alg(alg)
            access_token = sign_jws({"alg": alg, "typ": "at+jwt",
                                     "kid": kid}, claims, alg, key)
        self.remember(access_token, "access_token", client.client_id,
                      claims, user, grant)
        body = {"access_token": access_token, "token_type": "Bearer",
                "expires_in": s["access_token_ttl"]}
        if scope:
            body["scope"] = scope
        if user is None:
            return body
        refresh = new_id(32)
        self.remember(refresh, "refresh_token", client.client_id,
                      {"iss": self.issuer, "sub": user["sub"],
                       "client_id": client.client_id, "scope": scope,
                       "iat": now, "exp": now + s["refresh_token_ttl"]},
                      user, grant, sid=sid, auth_time=auth_time)
        body["refresh_token"] = refresh
        if "openid" in scope.split():
            body["id_token"] = self.id_token(client, user, nonce, sid,
                                             auth_time, access_token, grant)
        return body

    def id_token(self, client, user, nonce, sid, auth_time, access_token,
                 grant):
        s = self.settings
        alg = s["id_token_alg"]
        now = int(time.time())
        claims = {k: v for k, v in user.items() if k not in RESERVED}
        claims.update({"iss": self.issuer, "aud": client.client_id,
                       "azp": client.client_id, "iat": now,
                       "exp": now + s["id_token_ttl"], "auth_time": auth_time,
                       "sid": sid, "at_hash": half_hash(alg, access_token)})
        if nonce is not None:
            claims["nonce"] = nonce
        kid, key = self.keys.for_alg(alg)
        token = sign_jws({"alg": alg, "typ": "JWT", "kid": kid}, claims,
                         alg, key)
        self.remember(token, "id_token", client.client_id, claims, user,
                      grant)
        return token

    def remember(self, token, kind, client_id, claims, user, grant,
                 **extra):
        self.tokens[token] = dict(type=kind, client_id=client_id,
                                  claims=claims, user=user, grant=grant,
                                  scope=claims.get("scope", ""),
                                  revoked=False, active=True, **extra)

    @staticmethod
    def is_active(record):
        exp = record["claims"].get("exp")
        return record["active"] and not record["revoked"] and \
            (exp is None or exp > time.time())

    def revoke_grant(self, grant):
        for record in self.tokens.values():
            if record["grant"] == grant:
                record["revoked"] = True

    # ---- resource-side endpoints ----------------------------------------

    def userinfo(self, req):
        auth = req.headers.get("Authorization", "")
        if auth[:7].lower() != "bearer ":
            raise ProtocolError(401, "invalid_request", "bearer token "
                                "required", {"WWW-Authenticate":
                                             'Bearer realm="mock_provider"'})
        record = self.tokens.get(auth[7:].strip())
        if record is None or record["type"] != "access_token" or \
                not self.is_active(record) or not record["user"]:
            raise ProtocolError(401, "invalid_token", "token unknown, "
                                "expired, revoked or without a user",
                                {"WWW-Authenticate": 'Bearer realm='
                                 '"mock_provider", error="invalid_token"'})
        return Response.json(record["user"])

    def introspect(self, req):
        self.authenticate_client(req)
        record = self.tokens.get(req.params.get("token", ""))
        if record is None or record["type"] == "id_token" or \
                not self.is_active(record):
            return Response.json({"active": False})
        body = dict(record["claims"])
        body.update({"active": True, "client_id": record["client_id"],
                     "token_type": "Bearer" if record["type"] ==
                     "access_token" else "refresh_token"})
        return Response.json(body, headers={"Cache-Control": "no-store"})

    def revoke(self, req):
        client = self.authenticate_client(req)
        record = self.tokens.get(req.params.get("token", ""))
        # RFC 7009 2.2: an unknown token is not an error.
        if record is not None:
            if record["client_id"] != client.client_id:
                raise ProtocolError(400, "unauthorized_client", "token was "
                                    "issued to another client")
            record["revoked"] = True
            if record["type"] == "refresh_token":
                self.revoke_grant(record["grant"])
        return Response(200, {"Cache-Control": "no-store"}, b"")

    def end_session(self, req):
        p = req.params
        hint = p.get("id_token_hint")
        record = None
        if hint is not None:
            record = self.tokens.get(hint)
            # An expired hint is fine (OIDC RP-Initiated Logout 2); one we
            # never issued is not.
            if record is None or record["type"] != "id_token":
                raise PageError(400, "id_token_hint was not issued here")
        client_id = p.get("client_id") or (record and record["client_id"])
        if record and client_id != record["client_id"]:
            raise PageError(400, "client_id does not match id_token_hint")
        target = p.get("post_logout_redirect_uri")
        client = self.clients.get(client_id or "")
        if target is not None and (client is None or
                                   not client.post_logout_ok(target)):
            raise PageError(400, "post_logout_redirect_uri not registered")
        claims = record["claims"] if record else {}
        self.logouts.append({"sub": claims.get("sub"),
                             "sid": claims.get("sid"),
                             "client_id": client_id,
                             "post_logout_redirect_uri": target,
                             "state": p.get("state"),
                             "time": int(time.time())})
        if target is None:
            return Response.html(200, "<!doctype html><title>Logged out"
                                 "</title><p id=\"logged-out\">You are "
                                 "logged out.</p>")
        query = {"state": p["state"]} if "state" in p else {}
        sep = "&" if "?" in target else "?"
        return Response.redirect(target + (sep + urllib.parse.urlencode(
            query) if query else ""))


def login_page(form_id, client_id, username):
    e = html.escape
    return ("<!doctype html><html><head><meta charset=\"utf-8\">"
            "<title>mock_provider login</title></head><body>"
            "<h1>Sign in to the mock provider</h1>"
            "<p>Client: <code>%s</code>. Any username is accepted.</p>"
            "<form method=\"post\" action=\"/authorize/login\">"
            "<input type=\"hidden\" name=\"req\" value=\"%s\">"
            "<label>Username <input type=\"text\" id=\"username\" "
            "name=\"username\" value=\"%s\"></label> "
            "<button type=\"submit\" id=\"login\" name=\"action\" "
            "value=\"login\">Sign in</button> "
            "<button type=\"submit\" id=\"deny\" name=\"action\" "
            "value=\"deny\">Deny</button>"
            "</form></body></html>") % (e(client_id), e(form_id),
                                        e(username))


def parse_clients(specs):
    """--client ID:SECRET:URI[,URI...] into Clients (URIs contain ':')."""
    out = []
    for spec in specs or []:
        parts = spec.split(":", 2)
        if len(parts) != 3 or not parts[0] or not parts[1] or not parts[2]:
            raise ValueError("--client wants ID:SECRET:URI[,URI...], got %r"
                             % spec)
        uris = [check_uri(u) for u in parts[2].split(",")]
        out.append(Client(parts[0], parts[1], redirect_uris=uris))
    return out


# ==== Control API =========================================================

class Control:
    """The /_control/ endpoints: JSON in, JSON out, for tests only.

    Each method takes the decoded JSON body and returns a JSON-able value;
    a ValueError becomes 400 with its text, so a wrong call fails loudly.
    """

    def __init__(self, provider):
        self.p = provider
        self.backchannel_calls = []

    def reset(self, body):
        self.p.reset()
        self.backchannel_calls = []
        return {"ok": True}

    def user(self, body):
        sub = body.get("sub")
        if not isinstance(sub, str) or not sub:
            raise ValueError("sub (a non-empty string) is required")
        claims = body.get("claims", {})
        if not isinstance(claims, dict):
            raise ValueError("claims must be an object")
        merged = user_claims(sub, claims)
        merged["sub"] = sub
        self.p.next_user = {"claims": merged, "once": bool(body.get("once"))}
        return {"ok": True, "claims": merged}

    def settings(self, body):
        self.p.settings = merge_settings(self.p.settings, body)
        return self.p.settings

    def rotate_keys(self, body):
        kids = self.p.keys.rotate(keep_old=bool(body.get("keep_old")))
        return {"kids": kids, "jwks": self.p.keys.jwks()}

    def token_defaults(self):
        """Access-token claims a minted or opaque token starts from."""
        now = int(time.time())
        return {"iss": self.p.issuer, "sub": self.p.suggested_username(),
                "aud": self.p.settings["access_token_audience"],
                "client_id": next(iter(self.p.clients)),
                "scope": "openid profile email", "iat": now,
                "exp": now + self.p.settings["access_token_ttl"],
                "jti": new_id(12)}

    @staticmethod
    def overlay(base, overrides, what):
        if not isinstance(overrides, dict):
            raise ValueError("%s must be an object" % what)
        out = dict(base)
        for k, v in overrides.items():
            if v is None:
                out.pop(k, None)
            else:
                out[k] = v
        return out

    def mint(self, body):
        alg = body.get("alg", "RS256")
        mode = body.get("key", "current")
        if alg not in MINT_ALGS:
            raise ValueError("alg must be one of %s" % MINT_ALGS)
        if mode not in ("current", "unknown", "public-as-hmac"):
            raise ValueError("key must be current, unknown or "
                             "public-as-hmac")
        base = self.token_defaults() if body.get("defaults", True) else {}
        if "ttl" in body:
            ttl = body["ttl"]
            if not isinstance(ttl, (int, float)) or isinstance(ttl, bool):
                raise ValueError("ttl must be a number of seconds")
            base["exp"] = base.get("iat", int(time.time())) + int(ttl)
        claims = self.overlay(base, body.get("claims", {}), "claims")
        header = {"alg": alg, "typ": "at+jwt"}
        key = None
        if mode == "public-as-hmac" and not alg.startswith("HS"):
            raise ValueError("public-as-hmac needs an HS* alg")
        if alg.startswith("HS"):
            if mode == "public-as-hmac":
                # The classic confusion: the RSA public key PEM as secret,
                # with the RSA kid so a naive verifier picks that key.
                key = self.p.keys.rsa_public_pem()
                header["kid"] = self.p.keys.for_alg("RS256")[0]
            elif mode == "unknown":
                key = secrets.token_bytes(32)
            else:
                key = str(body.get("secret", "mock-hmac-secret")).encode()
        elif alg != "none":
            if mode == "unknown":
                key = KeySet.generate(ALG_FAMILY[alg])
                header["kid"] = "unknown-" + new_id(6)
            else:
                header["kid"], key = self.p.keys.for_alg(alg)
        header = self.overlay(header, body.get("header", {}), "header")
        token = sign_jws(header, claims, alg, key)
        if mode == "current" and alg in SIGNING_ALGS:
            # Validly signed: introspection and userinfo know it too.
            self.p.remember(token, "access_token", claims.get("client_id"),
                            claims, claims if "sub" in claims else None,
                            new_id(12))
        return {"token": token, "header": header, "claims": claims}

    def opaque(self, body):
        base = self.token_defaults()
        ttl = body.get("ttl", self.p.settings["access_token_ttl"])
        if not isinstance(ttl, (int, float)) or isinstance(ttl, bool):
            raise ValueError("ttl must be a number of seconds")
        base["exp"] = base["iat"] + int(ttl)
        claims = self.overlay(base, body.get("claims", {}), "claims")
        token = new_id(32)
        self.p.remember(token, "access_token", claims.get("client_id"),
                        claims, claims if "sub" in claims else None,
                        new_id(12))
        self.p.tokens[token]["active"] = bool(body.get("active", True))
        return {"token": token, "claims": claims}

    def fail(self, body):
        endpoint = body.get("endpoint")
        mode = body.get("mode")
        if endpoint not in FAIL_ENDPOINTS:
            raise ValueError("endpoint must be one of %s" % FAIL_ENDPOINTS)
        if mode not in FAIL_MODES:
            raise ValueError("mode must be one of %s" % sorted(FAIL_MODES))
        count = body.get("count", 1)
        seconds = body.get("seconds", FAIL_MODES[mode])
        if not isinstance(count, int) or count == 0 or count < -1:
            raise ValueError("count must be a positive integer or -1")
        if not isinstance(seconds, (int, float)) or seconds < 0:
            raise ValueError("seconds must be a non-negative number")
        self.p.failures[endpoint] = {"mode": mode, "count": count,
                                     "seconds": seconds}
        return {"ok": True, "failures": self.p.failures}

    def clear_failures(self, body):
        self.p.failures.clear()
        self.p.release_hanging()
        return {"ok": True}

    def client(self, body):
        cid = body.get("client_id")
        secret = body.get("client_secret")
        if not isinstance(cid, str) or not cid or \
                not isinstance(secret, str) or not secret:
            raise ValueError("client_id and client_secret are required")
        bcl = body.get("backchannel_logout_uri")
        client = Client(
            cid, secret,
            [check_uri(u) for u in body.get("redirect_uris", [])],
            [check_uri(u) for u in body.get("post_logout_redirect_uris",
                                            [])],
            check_uri(bcl) if bcl else None)
        self.p.clients[cid] = client
        return {"ok": True, "client_id": cid}

    def backchannel_token(self, body):
        """(uri, logout_token) per OIDC Back-Channel Logout 1.0 2.4."""
        client = self.p.clients.get(body.get("client_id", ""))
        if client is None:
            raise ValueError("unknown client_id")
        uri = body.get("uri") or client.backchannel_logout_uri
        if not uri:
            raise ValueError("client has no backchannel_logout_uri and no "
                             "uri was given")
        if not body.get("sub") and not body.get("sid"):
            raise ValueError("sub and/or sid is required")
        now = int(time.time())
        claims = {"iss": self.p.issuer, "aud": client.client_id, "iat": now,
                  "exp": now + 120, "jti": new_id(12),
                  "events": {BCL_EVENT: {}}}
        for k in ("sub", "sid"):
            if body.get(k):
                claims[k] = body[k]
        alg = self.p.settings["id_token_alg"]
        kid, key = self.p.keys.for_alg(alg)
        token = sign_jws({"alg": alg, "typ": "logout+jwt", "kid": kid},
                         claims, alg, key)
        return check_uri(uri), token

    def backchannel_logout(self, body):
        """Build under the lock, POST without it: the RP may call us back
        while it handles the logout token."""
        with self.p.lock:
            uri, token = self.backchannel_token(body)
        result = self.post_backchannel(uri, token)
        with self.p.lock:
            self.backchannel_calls.append(result)
        return result

    def post_backchannel(self, uri, token):
        """POST the logout token form-encoded; the RP's status is the
        result, a connection failure gives status None and error."""
        data = urllib.parse.urlencode({"logout_token": token}).encode()
        rq = urllib.request.Request(uri, data=data, method="POST", headers={
            "Content-Type": "application/x-www-form-urlencoded"})
        result = {"logout_token": token, "uri": uri}
        try:
            with urllib.request.urlopen(rq, timeout=10) as resp:
                result["status"] = resp.status
        except urllib.error.HTTPError as e:
            result["status"] = e.code
        except (urllib.error.URLError, OSError) as e:
            result["status"] = None
            result["error"] = str(e)
        return result

    def requests(self, body):
        return {"requests": list(self.p.requests)}

    def sessions(self, body):
        return {"logins": self.p.logins, "logouts": self.p.logouts,
                "backchannel": self.backchannel_calls}


# ==== HTTP plumbing =======================================================

class BadRequest(Exception):
    def __init__(self, status, text):
        super().__init__(text)
        self.status = status


@dataclass
class Request:
    method: str
    path: str
    headers: object
    query: dict
    form: dict
    raw: bytes

    @property
    def params(self):
        # Protocol parameters come from the query on GET, the form on POST.
        return self.form if self.method == "POST" else self.query

    def json(self):
        if not self.raw.strip():
            return {}
        try:
            body = json.loads(self.raw)
        except ValueError:
            raise ValueError("body is not valid JSON")
        if not isinstance(body, dict):
            raise ValueError("body must be a JSON object")
        return body


class Response:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers
        self.body = body

    @classmethod
    def json(cls, obj, status=200, headers=None):
        h = {"Content-Type": "application/json"}
        h.update(headers or {})
        return cls(status, h, json.dumps(obj).encode())

    @classmethod
    def html(cls, status, text):
        return cls(status, {"Content-Type": "text/html; charset=utf-8",
                            "Cache-Control": "no-store"}, text.encode())

    @classmethod
    def redirect(cls, location):
        return cls(302, {"Location": location, "Cache-Control": "no-store"},
                   b"")


def parse_params(text):
    """Form/query decoding that refuses repeated parameters (RFC 6749 3.1)
    instead of silently picking one."""
    out = {}
    for k, v in urllib.parse.parse_qsl(text, keep_blank_values=True):
        if k in out:
            raise BadRequest(400, "parameter %r repeated" % k)
        out[k] = v
    return out


def build_routes(p, c):
    """path -> (failure-injection name or None for control, methods, fn)."""
    r = {"/.well-known/openid-configuration":
         ("discovery", ("GET",), p.discovery),
         "/.well-known/oauth-authorization-server":
         ("discovery", ("GET",), p.discovery),
         "/jwks": ("jwks", ("GET",), p.jwks),
         "/authorize": ("authorize", ("GET", "POST"), p.authorize),
         "/authorize/login": ("login", ("POST",), p.login),
         "/token": ("token", ("POST",), p.token),
         "/userinfo": ("userinfo", ("GET", "POST"), p.userinfo),
         "/introspect": ("introspect", ("POST",), p.introspect),
         "/revoke": ("revoke", ("POST",), p.revoke),
         "/end_session": ("end_session", ("GET", "POST"), p.end_session)}
    # An issuer with a path (Keycloak style) also gets its own discovery URL.
    issuer_path = urllib.parse.urlsplit(p.issuer).path.rstrip("/")
    if issuer_path:
        r[issuer_path + "/.well-known/openid-configuration"] = \
            r["/.well-known/openid-configuration"]
    for name in ("reset", "user", "rotate_keys", "mint", "opaque", "fail",
                 "clear_failures", "client", "backchannel_logout"):
        r["/_control/" + name] = (None, ("POST",), getattr(c, name))
    r["/_control/settings"] = (None, ("GET", "POST"), c.settings)
    r["/_control/requests"] = (None, ("GET",), c.requests)
    r["/_control/sessions"] = (None, ("GET",), c.sessions)
    return r


class Handler(BaseHTTPRequestHandler):
    server_version = "mock_provider/1"
    protocol_version = "HTTP/1.1"
    timeout = 120   # idle keep-alive connections do not pin threads forever

    def do_GET(self):
        self.dispatch("GET")

    def do_POST(self):
        self.dispatch("POST")

    def dispatch(self, method):
        try:
            req = self.read_request(method)
        except BadRequest as e:
            self.close_connection = True
            return self.send(Response.json({"error": "invalid_request",
                                            "error_description": str(e)},
                                           status=e.status))
        route = self.server.routes.get(req.path)
        if route is None:
            return self.send(Response.json({"error": "not_found"}, 404))
        name, methods, fn = route
        if method not in methods:
            resp = Response.json({"error": "method_not_allowed"}, 405)
            resp.headers["Allow"] = ", ".join(methods)
            return self.send(resp)
        try:
            if name is None:
                resp = self.run_control(req, fn)
            else:
                resp = self.run_endpoint(req, name, fn)
        except Exception as e:   # a bug here must not kill the connection
            self.log_message("internal error in %s: %s", req.path,
                             type(e).__name__)
            resp = Response.json({"error": "server_error",
                                  "error_description": "internal error"},
                                 500)
        if resp is not None:
            self.send(resp)
        return None

    def run_endpoint(self, req, name, fn):
        """A protocol endpoint: record, inject failures, then answer.
        None when an injected failure already answered or dropped it."""
        provider = self.server.provider
        with provider.lock:
            provider.requests.append(self.record(req))
        if self.inject_failure(name):
            return None
        try:
            with provider.lock:
                return fn(req)
        except ProtocolError as e:
            headers = dict(e.headers)
            headers["Cache-Control"] = "no-store"
            return Response.json({"error": e.error,
                                  "error_description": e.description},
                                 status=e.status, headers=headers)
        except PageError as e:
            return Response.html(e.status, "<!doctype html><title>Error"
                                 "</title><h1>Error</h1><p id=\"error\">%s"
                                 "</p>" % html.escape(e.text))

    def run_control(self, req, fn):
        provider = self.server.provider
        control = self.server.control
        try:
            body = req.json() if req.method == "POST" else {}
            if fn == control.backchannel_logout:
                return Response.json(fn(body))   # locks for itself
            with provider.lock:
                return Response.json(fn(body))
        except ValueError as e:
            return Response.json({"error": "invalid_request",
                                  "error_description": str(e)}, 400)

    def inject_failure(self, name):
        """Apply the configured delay and failure for endpoint `name`.
        True when the request was answered (or dropped) by the failure."""
        provider = self.server.provider
        with provider.lock:
            delay = provider.settings["delay"].get(name, 0)
            failure = provider.failures.get(name)
            if failure is not None:
                if failure["count"] > 0:
                    failure["count"] -= 1
                    if failure["count"] == 0:
                        del provider.failures[name]
                failure = dict(failure)
            wake = provider.wake
        if delay:
            wake.wait(delay)
        if failure is None:
            return False
        mode = failure["mode"]
        if mode == "slow":
            wake.wait(failure["seconds"])
            return False
        if mode in ("hang", "close"):
            if mode == "hang":
                wake.wait(failure["seconds"])
            self.close_connection = True   # no response at all
            return True
        if mode == "error500":
            self.send(Response.json({"error": "server_error",
                                     "error_description": "injected"}, 500))
        else:   # malformed: a 200 whose JSON is cut short
            self.send(Response(200, {"Content-Type": "application/json"},
                               b'{"issuer": "http://trunc'))
        return True

    def read_request(self, method):
        url = urllib.parse.urlsplit(self.path)
        if self.headers.get("Transfer-Encoding"):
            raise BadRequest(411, "chunked bodies are not supported")
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            raise BadRequest(400, "bad Content-Length")
        if length < 0 or length > MAX_BODY:
            raise BadRequest(413, "body too large")
        raw = self.rfile.read(length) if length else b""
        form = {}
        ctype = self.headers.get("Content-Type", "").split(";")[0].strip()
        try:
            # Control calls are JSON even when curl -d labels them a form.
            if ctype == "application/x-www-form-urlencoded" and \
                    not url.path.startswith("/_control/"):
                form = parse_params(raw.decode("utf-8"))
            query = parse_params(url.query)
        except UnicodeDecodeError:
            raise BadRequest(400, "body is not UTF-8")
        return Request(method, url.path, self.headers, query, form, raw)

    @staticmethod
    def record(req):
        """What GET /_control/requests shows: unmasked, because tests
        assert on PKCE and client auth; it never goes to stderr."""
        headers = {k: v for k, v in req.headers.items()
                   if k.lower() in ("authorization", "content-type",
                                    "accept", "user-agent", "dpop")}
        return {"time": time.time(), "method": req.method, "path": req.path,
                "query": req.query, "form": req.form, "headers": headers}

    def send(self, resp):
        self.send_response(resp.status)
        for k, v in resp.headers.items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(resp.body)))
        self.end_headers()
        self.wfile.write(resp.body)

    def log_request(self, code="-", size="-"):
        # The path only: queries carry state, codes and id_token_hints.
        path = urllib.parse.urlsplit(self.path).path
        self.log_message("%s %s %s", self.command, path, code)

    def log_message(self, fmt, *args):
        sys.stderr.write("%s mock_provider %s\n" % (
            time.strftime("%H:%M:%S"), fmt % args))


# ==== Main ================================================================

def loopback_host(host):
    """The address to bind, refusing anything that is not loopback."""
    if host == "localhost":
        return "127.0.0.1"
    try:
        if ipaddress.ip_address(host).is_loopback:
            return host
    except ValueError:
        pass
    raise SystemExit("mock_provider: refusing non-loopback host %r" % host)


def parse_args(argv):
    ap = argparse.ArgumentParser(description="Mock OpenID Connect / OAuth "
                                 "2.0 provider for tests (loopback only).")
    ap.add_argument("--port", type=int, required=True,
                    help="TCP port; 0 picks a free one")
    ap.add_argument("--host", default="127.0.0.1",
                    help="loopback address to bind (default 127.0.0.1)")
    ap.add_argument("--issuer", help="issuer (default http://HOST:PORT)")
    ap.add_argument("--client", action="append", metavar="ID:SECRET:URIS",
                    help="register a client; repeatable; redirect URIs "
                         "comma-separated. Without it: demo-client")
    ap.add_argument("--auto-approve", action="store_true",
                    help="skip the login form")
    ap.add_argument("--access-token-audience", default="api")
    ap.add_argument("--require-pkce", action="store_true")
    return ap.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    host = loopback_host(args.host)
    try:
        parse_clients(args.client)
        if args.issuer:
            check_uri(args.issuer)
    except ValueError as e:
        raise SystemExit("mock_provider: %s" % e)

    class Server(ThreadingHTTPServer):
        daemon_threads = True
        request_queue_size = 128
        address_family = socket.AF_INET6 if ":" in host else socket.AF_INET

    server = Server((host, args.port), Handler)
    port = server.server_address[1]
    base = "http://%s:%d" % ("[%s]" % host if ":" in host else host, port)
    server.provider = Provider(args, base, args.issuer or base)
    server.control = Control(server.provider)
    server.routes = build_routes(server.provider, server.control)

    def stop(signum, frame):
        server.provider.release_hanging()
        # shutdown() waits for serve_forever, which runs in this thread.
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    print("READY " + base, flush=True)
    server.serve_forever()
    server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
