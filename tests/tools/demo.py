#!/usr/bin/python3
"""demo.py - `make demo`: a private redis-server, the mock provider and Apache
with mod_oauth2 on 127.0.0.1, in the foreground. Ctrl-C stops all three.

The Apache configuration is conf/demo.conf; `configure()` fills it and
writes the pages, so tests/integration/test_demo.py runs exactly what the
demo shows."""
import re
import signal
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests" / "integration"))
from harness import Apache, MockProvider, Redis  # noqa: E402

TEMPLATE = REPO / "conf" / "demo.conf"
PASS = "demo-passphrase-change-me-0123456789"
LANDING = """<!doctype html>
<html><head><meta charset="utf-8"><title>mod_oauth2 demo</title></head>
<body>
<h1>mod_oauth2 demo</h1>
<p>This page is public. The page behind the link needs a sign-in.</p>
<p><a id="signin" href="/app/">Sign in</a></p>
</body></html>
"""
# Greets the user and lists the claims mod_oauth2 passed as OAUTH2_CLAIM_*,
# HTML-escaped (claim values come from the provider).
CGI = """#!/usr/bin/python3
import html, os
claims = sorted((k[len("OAUTH2_CLAIM_"):], v) for k, v in os.environ.items()
                if k.startswith("OAUTH2_CLAIM_"))
user = os.environ.get("REMOTE_USER", "")
print("Content-Type: text/html; charset=utf-8")
print("Cache-Control: no-store")
print()
print("<!doctype html><html><head><meta charset='utf-8'>"
      "<title>Signed in</title></head><body>")
print(f"<h1 id='greeting'>Hello, {html.escape(user)}!</h1>")
print("<table id='claims'><tr><th>claim</th><th>value</th></tr>")
for k, v in claims:
    print(f"<tr><td>{html.escape(k)}</td><td>{html.escape(v)}</td></tr>")
print("</table>")
print("<p><a id='logout' href='/oauth2/logout?return=/'>Log out</a></p>")
print("</body></html>")
"""


def render(root, redis_url, mock_url, passphrase=PASS):
    """conf/demo.conf with its placeholders (@ROOT@ ...) filled."""
    text = TEMPLATE.read_text()
    for k, v in {"ROOT": str(root), "REDIS_URL": redis_url,
                 "MOCK_URL": mock_url, "PASSPHRASE": passphrase,
                 "REPO": str(REPO)}.items():
        text = text.replace(f"@{k}@", v)
    left = re.findall(r"@[A-Z_]+@", text)
    assert not left, f"unfilled placeholders in {TEMPLATE}: {left}"
    return text


def configure(apache, redis_url, mock_url):
    """Write the demo's config and pages into a (not started) harness
    Apache."""
    apache.set_config(render(apache.root, redis_url, mock_url))
    apache.write_file("htdocs/index.html", LANDING)
    apache.write_file("htdocs/app/index.cgi", CGI, mode=0o755)
    apache.write_file("htdocs/api/photos", '{"photos": []}\n')
    return apache


def main():
    redis, mock = Redis(), MockProvider()
    redis.start()
    mock.start()
    apache = configure(Apache(), redis.url, mock.url)
    apache.start()
    tok = (f"curl -s -X POST -u demo-client:demo-secret "
           f"-d grant_type=client_credentials -d scope=")
    get = ("| /usr/bin/python3 -c 'import json,sys;"
           "print(json.load(sys.stdin)[\"access_token\"])'")
    print(f"""
mod_oauth2 demo is running (Ctrl-C stops everything):
  site:          {apache.url}/   (Sign in, then Log out)
  mock provider: {mock.url}
  redis:         {redis.url}
  metrics:       {apache.url}/metrics   health: {apache.url}/health
  Apache config: {apache.conf}
  Apache logs:   {apache.root}/logs/error_log

API under the photos policy, allowed (token with photos.read):
  T=$({tok}photos.read {mock.url}/token {get})
  curl -i -H "Authorization: Bearer $T" {apache.url}/api/photos
API, denied (403 insufficient_scope):
  T=$({tok}profile {mock.url}/token {get})
  curl -i -H "Authorization: Bearer $T" {apache.url}/api/photos
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
