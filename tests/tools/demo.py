#!/usr/bin/python3
"""demo.py - `make demo`: a private redis-server, the mock provider and Apache
with mod_oauth2 on 127.0.0.1, in the foreground. Ctrl-C stops all three."""
import signal
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "integration"))
from harness import Apache, MockProvider, Redis  # noqa: E402

PASS = "demo-passphrase-change-me-0123456789"
CGI = """#!/bin/sh
echo "Content-Type: text/plain"
echo
echo "Hello, $REMOTE_USER. Your claims:"
env | grep '^OAUTH2_CLAIM_' | sort
"""


def main():
    redis, mock = Redis(), MockProvider()
    redis.start()
    mock.start()
    disc = mock.url + "/.well-known/openid-configuration"
    apache = Apache(extra=f"""
OAuth2Passphrase "{PASS}"
OAuth2SessionStore {redis.url}
OAuth2CookieSecure Off
OAuth2Provider mock discovery={disc} client_id=demo-client \\
    client_secret=demo-secret scope="openid email profile"
OAuth2RedirectURI /oauth2/callback
OAuth2LogoutURI /oauth2/logout
<Location /app>
    AuthType oauth2
    OAuth2Login mock
    Require valid-user
</Location>
<Directory "{{root}}/htdocs/app">
    Options +ExecCGI
    AddHandler cgi-script .cgi
    DirectoryIndex index.cgi
</Directory>
<Location /api>
    AuthType oauth2-bearer
    OAuth2TokenVerify jwks_uri={mock.url}/jwks issuer={mock.url} audience=api
    Require oauth2-scope photos.read
</Location>
""")
    apache.write_file("htdocs/index.html",
                      '<h1>mod_oauth2 demo</h1><p><a href="/app/">Sign in</a>'
                      ' &middot; <a href="/oauth2/logout?return=/">Log out</a>'
                      '</p>\n')
    apache.write_file("htdocs/app/index.cgi", CGI, mode=0o755)
    apache.write_file("htdocs/api/photos.json", '{"photos": []}\n')
    apache.start()
    tok = (f"curl -s -X POST -u demo-client:demo-secret "
           f"-d grant_type=client_credentials -d scope=")
    print(f"""
mod_oauth2 demo is running (Ctrl-C stops everything):
  site:          {apache.url}/   (sign in at {apache.url}/app/)
  mock provider: {mock.url}
  redis:         {redis.url}
  Apache logs:   {apache.root}/logs/error_log

API, allowed (token with photos.read):
  T=$({tok}photos.read {mock.url}/token | /usr/bin/python3 -c 'import json,sys;print(json.load(sys.stdin)["access_token"])')
  curl -i -H "Authorization: Bearer $T" {apache.url}/api/photos.json
API, denied (403 insufficient_scope):
  T=$({tok}profile {mock.url}/token | /usr/bin/python3 -c 'import json,sys;print(json.load(sys.stdin)["access_token"])')
  curl -i -H "Authorization: Bearer $T" {apache.url}/api/photos.json
""", flush=True)
    stop = []
    signal.signal(signal.SIGTERM, lambda *a: stop.append(1))
    try:
        while not stop:
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    finally:
        for s in (apache, mock, redis):
            try:
                s.stop()
                s.cleanup()
            except Exception as e:  # keep stopping the others
                print(f"demo: stopping {s}: {e}", file=sys.stderr)


if __name__ == "__main__":
    main()
