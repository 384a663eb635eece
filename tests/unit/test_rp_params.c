/*
 * test_rp_params.c - the hardening helpers of the relying-party core:
 * request parameters decoded with repeats refused (never last-wins), the
 * pass= allow-list that can never carry a protocol parameter, the
 * authorization URL with hostile request parameters, configured-issuer
 * matching for third-party-initiated login (no fetch), and local return
 * paths with empty or dot segments.
 */
#include <string.h>

#include <apr_strings.h>

#include "helpers.h"
#include "oauth2/rp.h"

#define IDP "https://idp.example"

static oauth2_rp_provider_t *provider(apr_pool_t *p)
{
    oauth2_rp_provider_t *prov = apr_pcalloc(p, sizeof(*prov));

    prov->name = "idp";
    prov->discovery_url = IDP "/.well-known/openid-configuration";
    prov->client_id = "client1";
    prov->scope = "openid email";
    prov->pass = "login_hint,prompt";
    return prov;
}

static void params_parse_good(void **state)
{
    th_fixture_t *f = *state;
    apr_table_t *t = NULL;

    assert_int_equal(
        oauth2_rp_params_parse(&f->ctx, "a=1&b=x+y%21&c&=z&&", 8, &t),
        OAUTH2_OK);
    assert_string_equal(apr_table_get(t, "a"), "1");
    assert_string_equal(apr_table_get(t, "b"), "x y!");
    assert_string_equal(apr_table_get(t, "c"), "");
    assert_int_equal(apr_table_elts(t)->nelts, 3);
    assert_int_equal(oauth2_rp_params_parse(&f->ctx, NULL, 8, &t), OAUTH2_OK);
    assert_int_equal(apr_table_elts(t)->nelts, 0);
}

static void params_parse_bad(void **state)
{
    th_fixture_t *f = *state;
    static const struct {
        const char *q, *err;
    } cases[] = {
        {"state=a&state=b", "request parameter state repeated"},
        {"state=a&state=a", "request parameter state repeated"},
        {"st%61te=a&state=b", "request parameter state repeated"},
        {"iss=a&x=1&iss=a", "request parameter iss repeated"},
        {"a=%00", "request parameter badly encoded"},
        {"a=%zz", "request parameter badly encoded"},
        {"a%=1", "request parameter badly encoded"},
        {"a=1&b=2&c=3", "too many request parameters"},
    };
    size_t i;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        apr_table_t *t = NULL;
        assert_int_equal(oauth2_rp_params_parse(&f->ctx, cases[i].q, 2, &t),
                         OAUTH2_DENIED);
        assert_string_equal(f->ctx.err.text, cases[i].err);
        assert_null(t);
    }
}

static void reserved_names(void **state)
{
    static const char *const yes[] = {"redirect_uri",
                                      "scope",
                                      "state",
                                      "nonce",
                                      "code_challenge",
                                      "code_challenge_method",
                                      "response_type",
                                      "client_id",
                                      "response_mode",
                                      "request_uri",
                                      NULL};
    int i;

    (void)state;
    for (i = 0; yes[i] != NULL; i++)
        assert_true(oauth2_rp_param_reserved(yes[i]));
    assert_false(oauth2_rp_param_reserved("login_hint"));
    assert_false(oauth2_rp_param_reserved("Scope"));
    assert_false(oauth2_rp_param_reserved(""));
}

static void login_start_hostile_params(void **state)
{
    th_fixture_t *f = *state;
    oauth2_rp_provider_t *prov = provider(f->pool);
    oauth2_provider_meta_t m = {0};
    apr_table_t *t = apr_table_make(f->pool, 8);
    oauth2_rp_login_t *l = NULL;
    const char *url = NULL;

    m.authorization_endpoint = IDP "/auth";
    prov->pass = "login_hint,prompt,state,scope"; /* reserved never pass */
    apr_table_set(t, "login_hint", "bob");
    apr_table_set(t, "prompt", "login");
    apr_table_set(t, "state", "evil");
    apr_table_set(t, "scope", "admin");
    apr_table_set(t, "redirect_uri", "https://evil");
    apr_table_set(t, "other", "x");
    assert_int_equal(oauth2_rp_login_start_ex(
                         &f->ctx, prov, &m, "https://rp/cb", "/", t, &l, &url),
                     OAUTH2_OK);
    assert_non_null(strstr(url, "&login_hint=bob"));
    assert_non_null(strstr(url, "&prompt=login"));
    assert_null(strstr(url, "evil"));
    assert_null(strstr(url, "admin"));
    assert_null(strstr(url, "other"));
    assert_non_null(strstr(url, "scope=openid+email"));
    /* Without an allow-list nothing passes. */
    prov->pass = NULL;
    assert_int_equal(oauth2_rp_login_start_ex(
                         &f->ctx, prov, &m, "https://rp/cb", "/", t, &l, &url),
                     OAUTH2_OK);
    assert_null(strstr(url, "login_hint"));
    assert_string_equal(oauth2_rp_pass_params(&f->ctx, prov, t), "");
}

static void issuer_configured(void **state)
{
    th_fixture_t *f = *state;
    oauth2_rp_provider_t *prov = provider(f->pool);

    assert_true(oauth2_rp_issuer_configured(prov, IDP));
    assert_true(oauth2_rp_issuer_configured(prov, IDP "/"));
    assert_false(oauth2_rp_issuer_configured(prov, IDP "/other"));
    assert_false(oauth2_rp_issuer_configured(prov, "https://idp.example.evil"));
    assert_false(oauth2_rp_issuer_configured(prov, "https://idp.exampl"));
    assert_false(oauth2_rp_issuer_configured(prov, ""));
    assert_false(oauth2_rp_issuer_configured(prov, NULL));
    /* A configured issuer wins over the discovery URL. */
    prov->meta.issuer = "https://accounts.example";
    assert_false(oauth2_rp_issuer_configured(prov, IDP));
    assert_true(oauth2_rp_issuer_configured(prov, "https://accounts.example"));
    prov->alt_issuer = "accounts.example";
    assert_true(oauth2_rp_issuer_configured(prov, "accounts.example"));
    /* A discovery URL that is not the well-known path names no issuer. */
    prov = provider(f->pool);
    prov->discovery_url = IDP "/meta.json";
    assert_false(oauth2_rp_issuer_configured(prov, IDP));
}

static void return_path_segments(void **state)
{
    th_fixture_t *f = *state;
    static const char *const bad[] = {
        "/a//b", "/.%2e/x", "/%2E%2E/x",      "/./x",   "/../x",
        "/a/..", "/a/.",    "/..;/..;//evil", "/x%2ey", NULL};
    static const char *const good[] = {"/",      "/a/b?c=//d", "/a?x=/../",
                                       "/a#//b", "/a.b/c..d",  "/.well",
                                       "/a/b/",  NULL};
    int i;

    for (i = 0; bad[i] != NULL; i++) {
        assert_false(oauth2_rp_return_url_ok(&f->ctx, bad[i], NULL, NULL));
        assert_non_null(f->ctx.err.text[0] ? f->ctx.err.text : NULL);
    }
    assert_false(oauth2_rp_return_url_ok(&f->ctx, "/a//b", NULL, NULL));
    assert_string_equal(f->ctx.err.text,
                        "return URL path has empty or dot segments");
    for (i = 0; good[i] != NULL; i++)
        assert_true(oauth2_rp_return_url_ok(&f->ctx, good[i], NULL, NULL));
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, th_setup, th_teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(params_parse_good), T(params_parse_bad),
        T(reserved_names),    T(login_start_hostile_params),
        T(issuer_configured), T(return_path_segments),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
