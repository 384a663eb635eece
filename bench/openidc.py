"""openidc.py - the mod_auth_openidc comparison rows of `make bench`.

Called by bench.py after its own rows when Debian's
libapache2-mod-auth-openidc is installed. Starts a second private Apache
(harness.Apache with mod_auth_openidc and without mod_oauth2, same base
config and MPM settings) on a free 127.0.0.1 port, against the same mock
provider and redis-server, and measures the closest equivalents of our
scenarios: module loaded but location unused; bearer JWT RS256, one token
(`AuthType oauth20`, OIDCOAuthVerifyJwksUri); the distinct RS256 tokens;
the session page (relying party of the mock, `OIDCSessionType
server-cache` in Redis). mod_auth_openidc 2.4.12 takes only an https
OIDCOAuthVerifyJwksUri, so the mock's JWKS is served from a snapshot by a
small TLS server here (self-signed, OIDCOAuthSSLValidateServer Off); it
counts the fetches. Same guard check as ours (missing and tampered
refused, good accepted), except that a failing row is skipped with a note
instead of aborting the bench. Each row gets its own static baseline on
this instance, measured right before it."""
import http.server
import re
import ssl
import subprocess
import sys
import threading
import time
from pathlib import Path

import harness
import requests

SO = Path("/usr/lib/apache2/modules/mod_auth_openidc.so")
PASS = "0123456789abcdef0123456789abcdef"
COOKIE = "mod_auth_openidc_session"
PREFIX = "mod_auth_openidc: "


class JwksMirror:
    """The mock's JWKS (fetched once) over https on a free 127.0.0.1 port,
    with a count of the requests: how often mod_auth_openidc fetches."""

    def __init__(self, mock, tmp):
        body = requests.get(mock.url + "/jwks", timeout=10).content
        key, crt = tmp / "jwks-key.pem", tmp / "jwks-crt.pem"
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048",
                        "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
                        "-keyout", str(key), "-out", str(crt)], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.fetches = 0
        mirror = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                mirror.fetches += 1
                self.send_response(200 if self.path == "/jwks" else 404)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *a):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0),
                                                      Handler)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(crt, key)
        self.server.socket = ctx.wrap_socket(self.server.socket,
                                             server_side=True)
        self.url = f"https://127.0.0.1:{self.server.server_port}/jwks"
        threading.Thread(target=self.server.serve_forever,
                         daemon=True).start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


def conf(mock, redis, jwks_url):
    disc = mock.url + "/.well-known/openid-configuration"
    bearer = ("    AuthType oauth20\n    AuthName bench\n"
              "    Require valid-user\n")
    return f"""
MaxKeepAliveRequests 0
OIDCCryptoPassphrase "{PASS}"
OIDCCacheType redis
OIDCRedisCacheServer 127.0.0.1:{redis.port}
OIDCSessionType server-cache
OIDCProviderMetadataURL {disc}
OIDCClientID demo-client
OIDCClientSecret demo-secret
OIDCScope "openid email profile"
OIDCRedirectURI /app/redirect_uri
OIDCRemoteUserClaim sub
OIDCOAuthVerifyJwksUri {jwks_url}
OIDCOAuthSSLValidateServer Off
OIDCOAuthRemoteUserClaim sub
# module loaded, location not guarded (same file as /index.html)
<Location /unused>
    Require all granted
</Location>
<Location /api>
{bearer}</Location>
# distinct tokens: mod_auth_openidc has no verdict cache size to set, the
# location only mirrors ours
<Location /full>
{bearer}</Location>
<Location /app>
    AuthType openid-connect
    Require valid-user
</Location>
"""


def session_cookie(o):
    """Walk the login (the mock auto-approves); the session cookie."""
    s = requests.Session()
    r = s.get(o.url + "/app/index.html", timeout=30)
    c = s.cookies.get(COOKIE)
    if r.status_code != 200 or not c:
        raise RuntimeError(f"sign-in gave {r.status_code}, cookie "
                           f"{'set' if c else 'missing'}")
    return c


def guard(b, o, path, header, good):
    """Codes for a missing, a tampered and the good credential; None when
    the guard holds (missing/tampered not 200, good 200), else a note."""
    url = o.url + path
    codes = [requests.get(url, timeout=10, allow_redirects=False).status_code]
    for cred in (b.tamper(good), good):
        codes.append(requests.get(url, timeout=10, allow_redirects=False,
                                  headers={header[0]: header[1] % cred}
                                  ).status_code)
    b.log(f"  guard {'ok' if codes[0] != 200 and codes[1] != 200 and codes[2] == 200 else 'FAILED'}: "
          f"openidc {path:<18} missing={codes[0]} tampered={codes[1]} "
          f"good={codes[2]}")
    if codes[0] == 200 or codes[1] == 200 or codes[2] != 200:
        return (f"missing/tampered/good gave {codes}: row skipped, an open "
                "or broken guard is not measured")
    return None


def run(b, mock, redis, tmp, only, rows, notes, rs, tokens):
    """Append the mod_auth_openidc rows (b: the bench module)."""
    def want(n):
        return not only or n in only or "openidc" in only

    names = ("unused", "bearer", "distinct", "session")
    if not any(want(n) for n in names):
        return
    sub = tmp / "openidc"
    sub.mkdir(exist_ok=True)
    # mod_oauth2's Apache keeps its Redis connections open meanwhile
    run.others = b.redis_clients(redis)
    jwks = JwksMirror(mock, sub)
    o = harness.Apache(loglevel="warn",
                       modules=harness.BASE_MODULES + ["auth_openidc"],
                       oauth2=False)
    o.set_config(conf(mock, redis, jwks.url))
    b.write_docs(o)
    try:
        o.start()
    except RuntimeError as e:
        notes.append(f"{PREFIX}did not start, no rows: "
                     f"{str(e).strip().splitlines()[-1][:160]}")
        o.cleanup()
        jwks.stop()
        return
    o.guard_lines = None
    try:
        _rows(b, o, mock, redis, sub, want, rows, notes, rs, tokens, jwks)
    finally:
        o.stop()
        jwks.stop()
        errs = [] if o.guard_lines is None else [
            ln for ln in o.error_log().splitlines()[o.guard_lines:]
            if re.search(r"\[[\w_]*:(emerg|alert|crit|error)\]", ln)]
        if errs:
            # the MPM's spare-threads warning is the load, not the module
            own = [ln for ln in errs if "AH10159" not in ln]
            notes.append(f"{PREFIX}{len(errs)} error-log lines during the "
                         f"load runs, first: {(own or errs)[0][:300]}")
        o.cleanup()


def _rows(b, o, mock, redis, tmp, want, rows, notes, rs, tokens, jwks):
    bearer = ("Authorization", "Bearer %s")
    # fresh credentials: tokens minted at the start of a long bench (many
    # minutes earlier) were refused by mod_auth_openidc 2.4.12 (401 on
    # every request) although their exp was an hour away
    http = requests.Session()
    rs = b.mint(mock, "RS256", http=http)
    if tokens:
        tokens = [b.mint(mock, "RS256", http=http) for _ in tokens]
    b.log("mod_auth_openidc: signing in and checking the guards ...")
    cookie, bad = None, {}
    if want("session"):
        try:
            cookie = session_cookie(o)
        except (RuntimeError, requests.RequestException) as e:
            bad["session"] = f"sign-in failed ({e}): row skipped"
    if want("bearer"):
        bad["bearer"] = guard(b, o, "/api/index.html", bearer, rs)
    if want("distinct"):
        bad["distinct"] = guard(b, o, "/full/index.html", bearer, rs)
    if cookie:
        bad["session"] = guard(b, o, "/app/index.html",
                               ("Cookie", COOKIE + "=%s"), cookie)
    # the guard checks log their refusals; later errors are news
    o.guard_lines = len(o.error_log().splitlines())
    for n, msg in bad.items():
        if msg:
            notes.append(f"{PREFIX}{n}: {msg}")

    def pair(name, label, path, headers=(), script=None, note="",
             base_script=None):
        if not want(name) or bad.get(name):
            return None
        b.log(f"running {PREFIX}{label} ...")
        base = b.wrk(o, "/index.html", script=base_script)
        seen = []

        def sample():
            time.sleep(b.SECONDS / 2)
            seen.append(b.redis_clients(redis))

        before, st0 = b.redis_stats(redis)
        conns0 = b.redis_conns_total(redis)
        r = b.wrk(o, path, headers, script,
                  during=lambda: threading.Thread(target=sample).start())
        after, st1 = b.redis_stats(redis)
        # minus the redis-cli calls of this function and the sampler
        opened = b.redis_conns_total(redis) - conns0 - 2 - len(seen)
        rows.append(b.fmt_row(PREFIX + label, r, base, note))
        notes.append(f"{PREFIX}{label}: Redis commands per request "
                     f"{(after - before) / max(r['n'], 1):.3f} "
                     f"({after - before} over {r['n']}{by_cmd(st0, st1)}); "
                     "Redis connections mid-run "
                     f"{seen[0] - run.others if seen else '?'} (not counting "
                     f"mod_oauth2's {run.others}), {opened} opened during "
                     "the run")
        return r

    b.wrk(o, "/index.html", seconds=1)  # warm-up
    pair("unused", "unused location", "/unused/index.html")
    jwks0 = jwks.fetches
    pair("bearer", "bearer RS256, one token", "/api/index.html",
         ["Authorization: Bearer " + rs])
    if want("distinct") and not bad.get("distinct"):
        if not tokens:  # BENCH_ONLY without "distinct": mint them here
            http = requests.Session()
            tokens = [b.mint(mock, "RS256", http=http)
                      for _ in range(b.NTOKENS)]
        pair("distinct", f"RS256, {len(tokens)} distinct",
             "/full/index.html",
             script=b.token_script(tmp, tokens, "/full/index.html"),
             base_script=b.token_script(tmp, tokens, "/index.html",
                                        "rotate_static.lua"),
             note="ratio to static with the same wrk script")
    if want("bearer") or want("distinct"):
        notes.append(f"{PREFIX}JWKS fetched {jwks0} times by the guard "
                     f"checks, {jwks.fetches - jwks0} during the bearer runs")
    if cookie:
        pair("session", "session page (Redis)", "/app/index.html",
             ["Cookie: " + COOKIE + "=" + cookie],
             note="server-cache")


def by_cmd(st0, st1):
    """", GET 123, SET 4": commands per name between two commandstats."""
    def calls(st):
        return {m.group(1): int(m.group(2)) for m in
                re.finditer(r"cmdstat_(\w+):calls=(\d+)", st)}
    c0, c1 = calls(st0), calls(st1)
    d = [(k, v - c0.get(k, 0)) for k, v in sorted(c1.items())
         if k not in ("info", "client") and v > c0.get(k, 0)]
    return "".join(f", {k.upper()} {n}" for k, n in d)


if __name__ == "__main__":
    sys.exit("run through bench/bench.py (make bench)")
