"""test_demo.py - the `make demo` configuration (conf/demo.conf, filled and
populated by tests/tools/demo.py) on harness-managed ports: the bearer API
with curl-like calls, metrics/health, and the whole browser journey in a
real headless Chromium: landing page -> Sign in -> the mock's login form ->
the claims page greets the user -> Log out -> signed out."""
import sys

import pytest
import requests

import harness

sys.path.insert(0, str(harness.REPO / "tests" / "tools"))
import demo  # noqa: E402


@pytest.fixture
def mock(mock_provider):
    mock_provider.ctl("/_control/reset", {})
    return mock_provider


@pytest.fixture
def site(apache_factory, mock, redis_server):
    a = apache_factory()
    demo.configure(a, redis_server.url, mock.url)
    return a.start()


def test_template_is_complete(tmp_path):
    text = demo.render(tmp_path, "redis://127.0.0.1:1/0", "http://127.0.0.1:2")
    assert "redis://127.0.0.1:1/0" in text
    assert "http://127.0.0.1:2/jwks" in text
    with pytest.raises(AssertionError):
        demo.TEMPLATE = tmp_path / "t.conf"
        demo.TEMPLATE.write_text("OAuth2SessionStore @NOPE@\n")
        try:
            demo.render(tmp_path, "r", "m")
        finally:
            demo.TEMPLATE = harness.REPO / "conf" / "demo.conf"


def token(mock, scope):
    r = requests.post(mock.url + "/token", timeout=10,
                      auth=("demo-client", "demo-secret"),
                      data={"grant_type": "client_credentials",
                            "scope": scope})
    assert r.status_code == 200, r.text
    return r.json()["access_token"]


def test_demo_api_and_ops(site, mock):
    r = requests.get(site.url + "/", timeout=10)
    assert r.status_code == 200 and 'href="/app/"' in r.text
    ok = requests.get(site.url + "/api/photos", timeout=10, headers={
        "Authorization": "Bearer " + token(mock, "photos.read")})
    assert ok.status_code == 200, ok.headers
    no = requests.get(site.url + "/api/photos", timeout=10, headers={
        "Authorization": "Bearer " + token(mock, "profile")})
    assert no.status_code == 403
    assert 'insufficient_scope' in no.headers["WWW-Authenticate"]
    assert 'scope="photos.read"' in no.headers["WWW-Authenticate"]
    assert requests.get(site.url + "/health", timeout=10).status_code == 200
    m = requests.get(site.url + "/metrics", timeout=10).text
    assert 'oauth2_bearer_verdicts_total{result="ok"}' in m


def test_demo_in_headless_chromium(site, mock, tmp_path):
    webdriver = pytest.importorskip("selenium.webdriver")
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait
    from selenium.webdriver.chrome.service import Service
    mock.ctl("/_control/settings", {"auto_approve": False})
    opts = webdriver.ChromeOptions()
    opts.binary_location = "/usr/bin/chromium"
    for o in ("--headless", "--no-sandbox", "--disable-gpu",
              "--disable-background-networking", "--disable-component-update",
              "--disable-sync", "--no-first-run",
              f"--user-data-dir={tmp_path / 'chromium'}"):
        opts.add_argument(o)
    drv = webdriver.Chrome(service=Service("/usr/bin/chromedriver"),
                           options=opts)
    wait = WebDriverWait(drv, 15)
    try:
        drv.set_page_load_timeout(20)
        # Landing page, public.
        drv.get(site.url + "/")
        assert "mod_oauth2 demo" in drv.title
        drv.find_element(By.ID, "signin").click()
        # The provider's login form.
        wait.until(lambda d: d.find_elements(By.ID, "username"))
        assert drv.current_url.startswith(mock.url)
        field = drv.find_element(By.ID, "username")
        field.clear()
        field.send_keys("alice")
        drv.find_element(By.ID, "login").click()
        # Back on the protected page: greeting and claims.
        wait.until(lambda d: d.find_elements(By.ID, "greeting"))
        assert drv.current_url == site.url + "/app/"
        assert drv.find_element(By.ID, "greeting").text == "Hello, alice!"
        claims = drv.find_element(By.ID, "claims").text
        assert "email alice@example.test" in claims
        assert "sub alice" in claims
        # Log out: through the provider's end_session back to the landing.
        drv.find_element(By.ID, "logout").click()
        wait.until(lambda d: d.find_elements(By.ID, "signin"))
        assert drv.current_url == site.url + "/"
        assert not [c for c in drv.get_cookies()
                    if c["name"] == "oauth2_session"]
        # Signed out: the protected page asks for a login again.
        drv.get(site.url + "/app/")
        wait.until(lambda d: d.find_elements(By.ID, "username"))
        assert drv.current_url.startswith(mock.url)
        assert mock.ctl("/_control/sessions")["logouts"], "no end_session"
    finally:
        drv.quit()
        mock.ctl("/_control/settings", {"auto_approve": True})
