/*
 * test_rp_logout.c - OIDC Back-Channel Logout 1.0 token validation
 * (rp_logout.c): a valid token, then one hostile or malformed token per
 * check, each asserting status and the exact reason. Tokens and the JWKS
 * come from vectors/rp/gen_logout.py at the fixed clock TH_NOW_SEC.
 */
#include <string.h>

#include <apr_strings.h>

#include "helpers.h"
#include "fake_http.h"
#include "oauth2/discovery.h"
#include "oauth2/rp.h"
#include "oauth2/util.h"

#define IDP "https://idp.example"

typedef struct env_t {
    th_fixture_t *f;
    oauth2_rp_provider_t prov;
    oauth2_provider_meta_t meta;
    oauth2_rp_jwks_cache_t *cache;
    th_fake_http_t fh;
    th_fake_http_entry_t *jwks;
} env_t;

static void env_init(env_t *e, th_fixture_t *f)
{
    memset(e, 0, sizeof(*e));
    e->f = f;
    e->prov.name = "idp";
    e->prov.client_id = "client1";
    e->prov.scope = "openid";
    e->meta.issuer = IDP;
    e->meta.jwks_uri = IDP "/jwks";
    e->cache = oauth2_rp_jwks_cache_create(f->pool);
    th_fake_http_init(&e->fh, f->pool);
    e->jwks = th_fake_http_add(
        &e->fh, "GET", IDP "/jwks", 200,
        th_read_file(f->pool, "vectors/rp/jwks_logout.json", NULL));
}

static const char *tok(th_fixture_t *f, const char *name)
{
    const char *txt =
        th_read_file(f->pool, "vectors/rp/logouttokens.json", NULL);
    json_t *j = json_loads(txt, 0, NULL);
    const char *v;

    assert_non_null(j);
    v = apr_pstrdup(f->pool, json_string_value(json_object_get(j, name)));
    json_decref(j);
    assert_non_null(v);
    return v;
}

static oauth2_status_t check(env_t *e, const char *name, json_t **claims)
{
    return oauth2_rp_logout_token_validate(&e->f->ctx, &e->fh.base, e->cache,
                                           &e->prov, &e->meta, tok(e->f, name),
                                           claims);
}

static void valid_tokens(void **state)
{
    th_fixture_t *f = *state;
    json_t *c = NULL;
    env_t e;

    env_init(&e, f);
    assert_int_equal(check(&e, "valid", &c), OAUTH2_OK);
    assert_string_equal(oauth2_json_str(c, "sid"), "sid-1");
    assert_string_equal(oauth2_json_str(c, "jti"), "jti-1");
    assert_true(th_logged(f, "OA00480: logout token from idp valid"));
    assert_int_equal(check(&e, "sid_only", &c), OAUTH2_OK);
    assert_int_equal(check(&e, "sub_only_no_typ_no_exp", &c), OAUTH2_OK);
    assert_int_equal(check(&e, "aud_array", &c), OAUTH2_OK);
    assert_int_equal(e.jwks->calls, 1); /* keys cached */
    assert_string_equal(oauth2_rp_logout_token_iss(&f->ctx, tok(f, "valid")),
                        IDP);
    assert_null(oauth2_rp_logout_token_iss(&f->ctx, "not.a.jws"));
    assert_null(oauth2_rp_logout_token_iss(&f->ctx, NULL));
}

static const struct {
    const char *name;
    const char *err; /* NULL: only the status is checked */
} bad[] = {
    {"wrong_iss", "logout token iss is not idp's"},
    {"wrong_aud", "logout token aud does not contain our client_id"},
    {"nonce", "logout token carries a nonce"},
    {"no_events", "logout token events lack the back-channel logout event"},
    {"wrong_event", "logout token events lack the back-channel logout event"},
    {"event_not_object",
     "logout token events lack the back-channel logout event"},
    {"no_sub_no_sid", "logout token needs a sub or sid string"},
    {"sub_number", "logout token needs a sub or sid string"},
    {"no_jti", "logout token without a jti"},
    {"old_iat", "logout token iat outside the accepted window"},
    {"future_iat", "logout token iat outside the accepted window"},
    {"no_iat", "logout token lacks a numeric iat"},
    {"expired", "logout token expired"},
    {"typ_at_jwt", "logout token typ at+jwt refused"},
    {"bad_signature", NULL},
};

static void hostile_tokens(void **state)
{
    th_fixture_t *f = *state;
    json_t *c = NULL;
    size_t i;
    env_t e;

    env_init(&e, f);
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        f->ctx.err.text[0] = '\0';
        if (check(&e, bad[i].name, &c) != OAUTH2_DENIED)
            fail_msg("%s was not refused", bad[i].name);
        if (bad[i].err != NULL && strcmp(f->ctx.err.text, bad[i].err) != 0)
            fail_msg("%s: got \"%s\"", bad[i].name, f->ctx.err.text);
    }
    assert_int_equal(oauth2_rp_logout_token_validate(&f->ctx, &e.fh.base,
                                                     e.cache, &e.prov, &e.meta,
                                                     "garbage", &c),
                     OAUTH2_DENIED);
}

static void jwks_down_is_unavailable(void **state)
{
    th_fixture_t *f = *state;
    json_t *c = NULL;
    env_t e;

    env_init(&e, f);
    e.jwks->result = OAUTH2_UNAVAILABLE;
    assert_int_equal(check(&e, "valid", &c), OAUTH2_UNAVAILABLE);
    e.meta.jwks_uri = NULL;
    assert_int_equal(check(&e, "valid", &c), OAUTH2_ERROR);
    assert_string_equal(f->ctx.err.text, "provider idp has no jwks_uri");
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, th_setup, th_teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(valid_tokens),
        T(hostile_tokens),
        T(jwks_down_is_unavailable),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
