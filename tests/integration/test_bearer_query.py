"""test_bearer_query.py - where a bearer token may come from (RFC 6750
section 2): the Authorization header always; the access_token query
parameter only with OAuth2TokenQueryParam On, and then never together with
the header nor twice; form-body tokens (2.2) never, in either state."""
import pytest
import requests

from test_bearer import api_conf, mint, start, www


def q(a, query, **kw):
    return requests.get(a.url + "/api/data.json?" + query, timeout=10, **kw)


@pytest.fixture
def off(apache_factory, mock_provider):
    return start(apache_factory, api_conf(mock_provider))


@pytest.fixture
def on(apache_factory, mock_provider):
    return start(apache_factory, api_conf(
        mock_provider, extra="OAuth2TokenQueryParam On"))


def test_off_query_token_is_no_token(off, mock_provider):
    tok = mint(mock_provider)
    r = q(off, "access_token=" + tok)
    assert r.status_code == 401 and www(r) == 'Bearer realm="photos"'
    # Ignored, not refused, next to a header token.
    r = q(off, "access_token=x",
          headers={"Authorization": "Bearer " + tok})
    assert r.status_code == 200


def test_form_body_token_never_read(off, on, mock_provider):
    tok = mint(mock_provider)
    for a in (off, on):
        r = requests.post(a.url + "/api/data.json",
                          data={"access_token": tok}, timeout=10)
        assert r.status_code == 401 and "error=" not in www(r)


def test_on_query_token_accepted(on, mock_provider):
    assert q(on, "a=1&access_token=" + mint(mock_provider) +
             "&b=2").status_code == 200


def test_on_bad_query_token_is_invalid_token(on, mock_provider):
    r = q(on, "access_token=" + mint(mock_provider,
                                     claims={"exp": 1000000000}))
    assert r.status_code == 401 and 'error="invalid_token"' in www(r)


@pytest.mark.parametrize("query,header", [
    ("access_token={t}", True),          # two methods at once
    ("access_token={t}&access_token={t}", False),  # ambiguous
    ("access_token=", False),            # empty
])
def test_on_ambiguous_is_400(on, mock_provider, query, header):
    tok = mint(mock_provider)
    h = {"Authorization": "Bearer " + tok} if header else {}
    r = q(on, query.format(t=tok), headers=h)
    assert r.status_code == 400, www(r)
    assert 'error="invalid_request"' in www(r)
