"""test_rp_config.py - configtest for the relying party across directives:
an OAuth2Login naming no OAuth2Provider fails `apache2 -t` (main server and
virtual hosts, wherever the provider is defined in the file), a hanging
exec: secret helper fails it within the timeout."""
import pytest

PASS = "0123456789abcdef0123"


def base(a, providers="", body=""):
    return f"""
OAuth2Passphrase {PASS}
OAuth2SessionStore memory:
OAuth2RedirectURI /oauth2/callback
{providers}
{body}
"""


def provider(name, a):
    # Endpoints one by one: configtest never talks to a provider.
    return (f"OAuth2Provider {name} client_id=c client_secret=s "
            f"scope=email authorization_endpoint=https://idp.test/auth "
            f"token_endpoint=https://idp.test/token")


@pytest.mark.expect_lognos("OA00712")
def test_login_without_any_provider_fails(apache_factory):
    a = apache_factory()
    a.set_config(f"""
OAuth2Passphrase {PASS}
<Location /app>
    AuthType oauth2
    OAuth2Login nosuch
    Require valid-user
</Location>
""")
    rc, out = a.configtest()
    assert rc != 0, out
    assert "OA00712" in out and "OAuth2Login nosuch names no " \
        "OAuth2Provider" in out
    assert "httpd.conf:" in out  # where the line is


@pytest.mark.expect_lognos("OA00712")
def test_login_with_typo_fails(apache_factory):
    a = apache_factory()
    a.set_config(base(a, provider("google", a), """
<Location /app>
    AuthType oauth2
    OAuth2Login gogle
</Location>
"""))
    rc, out = a.configtest()
    assert rc != 0 and "OAuth2Login gogle" in out, out


@pytest.mark.expect_lognos("OA00712")
def test_login_in_vhost_naming_other_vhosts_provider_fails(apache_factory):
    a = apache_factory()
    a.set_config(base(a, body=f"""
<VirtualHost 127.0.0.1:{a.port}>
    ServerName one.test
    {provider("idp1", a)}
</VirtualHost>
<VirtualHost 127.0.0.1:{a.port}>
    ServerName two.test
    <Location /app>
        AuthType oauth2
        OAuth2Login idp1
    </Location>
</VirtualHost>
"""))
    rc, out = a.configtest()
    assert rc != 0 and "OAuth2Login idp1" in out, out


def test_good_logins_pass(apache_factory):
    """Provider defined after the Location, in the main server for a vhost,
    and in the vhost itself: all fine."""
    a = apache_factory()
    a.set_config(base(a, body=f"""
<Location /app>
    AuthType oauth2
    OAuth2Login later
</Location>
{provider("later", a)}
<VirtualHost 127.0.0.1:{a.port}>
    ServerName one.test
    {provider("own", a)}
    <Location /mine>
        AuthType oauth2
        OAuth2Login own
    </Location>
    <Location /inherited>
        AuthType oauth2
        OAuth2Login later
    </Location>
</VirtualHost>
"""))
    rc, out = a.configtest()
    assert rc == 0, out


def test_exec_secret_that_hangs_fails_configtest(apache_factory):
    a = apache_factory()
    hang = a.write_file("conf/hang.sh", "#!/bin/sh\necho partial\n"
                        "exec /bin/sleep 600\n", mode=0o700)
    a.set_config(f"OAuth2Passphrase exec:{hang}\n")
    rc, out = a.configtest()
    assert rc != 0, out
    assert "timed out" in out and "partial" not in out.replace(str(hang), "")
