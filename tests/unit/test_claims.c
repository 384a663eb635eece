/*
 * test_claims.c - iss/aud/exp/nbf/iat/typ against the fixed clock
 * (TH_NOW_SEC), leeway edges, hostile numbers, validate-all and scopes.
 */
#include <string.h>

#include <apr_strings.h>

#include "helpers.h"
#include "oauth2/claims.h"
#include "oauth2/util.h"

static json_t *claims(th_fixture_t *f, const char *fmt, ...)
{
    char buf[512];
    va_list ap;
    json_error_t e;
    json_t *j;

    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    j = json_loads(buf, 0, &e);
    if (j == NULL)
        fail_msg("bad test json %s: %s", buf, e.text);
    return oauth2_json_pool_own(f->pool, j);
}

#define NOW ((long long)TH_NOW_SEC)

#define assert_denied(f, call, txt)                                            \
    do {                                                                       \
        (f)->ctx.err.text[0] = '\0';                                           \
        assert_int_equal((call), OAUTH2_DENIED);                               \
        assert_string_equal((f)->ctx.err.text, (txt));                         \
    } while (0)

static void t_iss(void **state)
{
    th_fixture_t *f = *state;
    json_t *c = claims(f, "{\"iss\":\"https://idp.example\"}");

    assert_int_equal(oauth2_claims_check_iss(&f->ctx, c, "https://idp.example"),
                     OAUTH2_OK);
    assert_denied(f,
                  oauth2_claims_check_iss(&f->ctx, c, "https://idp.example/"),
                  "iss \"https://idp.example\" is not the expected issuer");
    assert_denied(f, oauth2_claims_check_iss(&f->ctx, c, NULL),
                  "iss \"https://idp.example\" is not the expected issuer");
    assert_denied(f,
                  oauth2_claims_check_iss(&f->ctx, claims(f, "{\"iss\":1}"),
                                          "https://idp.example"),
                  "iss missing or not a string");
    assert_denied(f,
                  oauth2_claims_check_iss(&f->ctx, claims(f, "{}"),
                                          "https://idp.example"),
                  "iss missing or not a string");
    assert_denied(
        f,
        oauth2_claims_check_iss(&f->ctx, claims(f, "{\"iss\":\"a\\nb\"}"), "x"),
        "iss \"a\\x0ab\" is not the expected issuer");
}

static void t_aud(void **state)
{
    th_fixture_t *f = *state;

    assert_int_equal(oauth2_claims_check_aud(
                         &f->ctx, claims(f, "{\"aud\":\"photos\"}"), "photos"),
                     OAUTH2_OK);
    assert_int_equal(
        oauth2_claims_check_aud(
            &f->ctx, claims(f, "{\"aud\":[\"x\",1,\"photos\"]}"), "photos"),
        OAUTH2_OK);
    assert_denied(f,
                  oauth2_claims_check_aud(
                      &f->ctx, claims(f, "{\"aud\":[\"x\",\"y\"]}"), "photos"),
                  "aud does not contain \"photos\"");
    assert_denied(f,
                  oauth2_claims_check_aud(
                      &f->ctx, claims(f, "{\"aud\":\"photosX\"}"), "photos"),
                  "aud does not contain \"photos\"");
    assert_denied(
        f,
        oauth2_claims_check_aud(&f->ctx, claims(f, "{\"aud\":[]}"), "photos"),
        "aud does not contain \"photos\"");
    assert_denied(f,
                  oauth2_claims_check_aud(
                      &f->ctx, claims(f, "{\"aud\":{\"photos\":1}}"), "photos"),
                  "aud does not contain \"photos\"");
    assert_denied(f,
                  oauth2_claims_check_aud(&f->ctx, claims(f, "{}"), "photos"),
                  "aud missing");
}

static void t_exp(void **state)
{
    th_fixture_t *f = *state;

    /* Valid until the exact second exp; leeway extends it. */
    assert_int_equal(oauth2_claims_check_exp(
                         &f->ctx, claims(f, "{\"exp\":%lld}", NOW + 1), 0, 1),
                     OAUTH2_OK);
    assert_denied(f,
                  oauth2_claims_check_exp(
                      &f->ctx, claims(f, "{\"exp\":%lld}", NOW), 0, 1),
                  "token expired: exp 1767225600, now 1767225600, leeway 0");
    assert_int_equal(oauth2_claims_check_exp(
                         &f->ctx, claims(f, "{\"exp\":%lld}", NOW - 59), 60, 1),
                     OAUTH2_OK);
    assert_denied(f,
                  oauth2_claims_check_exp(
                      &f->ctx, claims(f, "{\"exp\":%lld}", NOW - 60), 60, 1),
                  "token expired: exp 1767225540, now 1767225600, leeway 60");
    /* Real numbers and huge values compare as doubles, no overflow. */
    assert_int_equal(oauth2_claims_check_exp(
                         &f->ctx, claims(f, "{\"exp\":%lld.5}", NOW), 0, 1),
                     OAUTH2_OK);
    assert_int_equal(
        oauth2_claims_check_exp(&f->ctx, claims(f, "{\"exp\":1e300}"), 0, 1),
        OAUTH2_OK);
    assert_int_equal(
        oauth2_claims_check_exp(
            &f->ctx, claims(f, "{\"exp\":9223372036854775807}"), 2147483647, 1),
        OAUTH2_OK);
    f->ctx.err.text[0] = '\0';
    assert_int_equal(
        oauth2_claims_check_exp(&f->ctx, claims(f, "{\"exp\":-1e300}"), 0, 1),
        OAUTH2_DENIED);
    assert_true(strncmp(f->ctx.err.text, "token expired: exp -1000000", 27) ==
                0);
    assert_denied(
        f,
        oauth2_claims_check_exp(
            &f->ctx, claims(f, "{\"exp\":\"%lld\"}", NOW + 100), 0, 1),
        "exp is not a number");
    assert_denied(
        f, oauth2_claims_check_exp(&f->ctx, claims(f, "{\"exp\":null}"), 0, 0),
        "exp is not a number");
    assert_denied(f, oauth2_claims_check_exp(&f->ctx, claims(f, "{}"), 0, 1),
                  "exp missing");
    assert_int_equal(oauth2_claims_check_exp(&f->ctx, claims(f, "{}"), 0, 0),
                     OAUTH2_OK);
}

static void t_nbf(void **state)
{
    th_fixture_t *f = *state;

    assert_int_equal(
        oauth2_claims_check_nbf(&f->ctx, claims(f, "{\"nbf\":%lld}", NOW), 0),
        OAUTH2_OK);
    assert_denied(
        f,
        oauth2_claims_check_nbf(&f->ctx, claims(f, "{\"nbf\":%lld}", NOW + 1),
                                0),
        "token not yet valid: nbf 1767225601, now 1767225600, leeway 0");
    assert_int_equal(oauth2_claims_check_nbf(
                         &f->ctx, claims(f, "{\"nbf\":%lld}", NOW + 30), 30),
                     OAUTH2_OK);
    assert_denied(
        f,
        oauth2_claims_check_nbf(&f->ctx, claims(f, "{\"nbf\":%lld}", NOW + 31),
                                30),
        "token not yet valid: nbf 1767225631, now 1767225600, leeway 30");
    assert_int_equal(oauth2_claims_check_nbf(&f->ctx, claims(f, "{}"), 0),
                     OAUTH2_OK);
    assert_denied(
        f, oauth2_claims_check_nbf(&f->ctx, claims(f, "{\"nbf\":[1]}"), 0),
        "nbf is not a number");
    f->ctx.err.text[0] = '\0';
    assert_int_equal(
        oauth2_claims_check_nbf(&f->ctx, claims(f, "{\"nbf\":1e300}"), 0),
        OAUTH2_DENIED);
    assert_true(
        strncmp(f->ctx.err.text, "token not yet valid: nbf 1000000", 32) == 0);
}

static void t_iat(void **state)
{
    th_fixture_t *f = *state;

    assert_int_equal(oauth2_claims_check_iat(
                         &f->ctx, claims(f, "{\"iat\":%lld}", NOW), 0, 1),
                     OAUTH2_OK);
    assert_int_equal(oauth2_claims_check_iat(
                         &f->ctx, claims(f, "{\"iat\":%lld}", NOW + 60), 60, 1),
                     OAUTH2_OK);
    assert_denied(f,
                  oauth2_claims_check_iat(
                      &f->ctx, claims(f, "{\"iat\":%lld}", NOW + 61), 60, 1),
                  "iat 1767225661 is in the future: now 1767225600, leeway 60");
    assert_denied(f, oauth2_claims_check_iat(&f->ctx, claims(f, "{}"), 0, 1),
                  "iat missing");
    assert_int_equal(oauth2_claims_check_iat(&f->ctx, claims(f, "{}"), 0, 0),
                     OAUTH2_OK);
    assert_denied(
        f, oauth2_claims_check_iat(&f->ctx, claims(f, "{\"iat\":true}"), 0, 0),
        "iat is not a number");
}

static void t_typ(void **state)
{
    th_fixture_t *f = *state;

    assert_int_equal(oauth2_claims_check_typ(&f->ctx, "at+jwt"), OAUTH2_OK);
    assert_int_equal(oauth2_claims_check_typ(&f->ctx, "AT+JWT"), OAUTH2_OK);
    assert_int_equal(oauth2_claims_check_typ(&f->ctx, "application/At+Jwt"),
                     OAUTH2_OK);
    assert_denied(f, oauth2_claims_check_typ(&f->ctx, "JWT"),
                  "typ \"JWT\" is not at+jwt");
    assert_denied(f, oauth2_claims_check_typ(&f->ctx, "at+jwt "),
                  "typ \"at+jwt \" is not at+jwt");
    assert_denied(f, oauth2_claims_check_typ(&f->ctx, NULL),
                  "typ \"(none)\" is not at+jwt");
}

static void validate_all(void **state)
{
    th_fixture_t *f = *state;
    oauth2_claims_rules_t r = {"https://idp", "api", 60, 0, 0};
    json_t *good = claims(f,
                          "{\"iss\":\"https://idp\",\"aud\":[\"api\"],"
                          "\"exp\":%lld,\"nbf\":%lld,\"iat\":%lld}",
                          NOW + 300, NOW - 10, NOW - 10);

    assert_int_equal(oauth2_claims_validate(&f->ctx, good, &r), OAUTH2_OK);
    r.audience = "other";
    assert_denied(f, oauth2_claims_validate(&f->ctx, good, &r),
                  "aud does not contain \"other\"");
    r.audience = NULL;
    r.issuer = "https://evil";
    assert_denied(f, oauth2_claims_validate(&f->ctx, good, &r),
                  "iss \"https://idp\" is not the expected issuer");
    r.issuer = NULL;
    assert_int_equal(oauth2_claims_validate(&f->ctx, good, &r), OAUTH2_OK);
    assert_denied(f,
                  oauth2_claims_validate(
                      &f->ctx, claims(f, "{\"iss\":\"https://idp\"}"), &r),
                  "exp missing");
    r.exp_optional = 1;
    assert_int_equal(oauth2_claims_validate(
                         &f->ctx, claims(f, "{\"iss\":\"https://idp\"}"), &r),
                     OAUTH2_OK);
    r.iat_required = 1;
    assert_denied(f,
                  oauth2_claims_validate(
                      &f->ctx, claims(f, "{\"iss\":\"https://idp\"}"), &r),
                  "iat missing");
    assert_denied(f, oauth2_claims_validate(&f->ctx, claims(f, "[]"), &r),
                  "claims are not an object");
    r.exp_optional = 0;
    assert_denied(
        f,
        oauth2_claims_validate(
            &f->ctx,
            claims(f, "{\"exp\":%lld,\"iat\":%lld}", NOW - 61, NOW - 100), &r),
        "token expired: exp 1767225539, now 1767225600, leeway 60");
}

static const char *joined(th_fixture_t *f, const apr_array_header_t *a)
{
    return apr_array_pstrcat(f->pool, a, ',');
}

static void scopes(void **state)
{
    th_fixture_t *f = *state;
    apr_array_header_t *s, *want;

    s = oauth2_claims_scopes(
        &f->ctx,
        claims(f, "{\"scope\":\"  photos.read  photos.write openid\"}"));
    assert_string_equal(joined(f, s), "photos.read,photos.write,openid");
    s = oauth2_claims_scopes(
        &f->ctx, claims(f, "{\"scp\":[\"a\",1,\"\",\"b c\",\"d\"]}"));
    assert_string_equal(joined(f, s), "a,d");
    /* scope wins over scp. */
    s = oauth2_claims_scopes(&f->ctx,
                             claims(f, "{\"scope\":\"x\",\"scp\":[\"y\"]}"));
    assert_string_equal(joined(f, s), "x");
    s = oauth2_claims_scopes(&f->ctx, claims(f, "{\"scope\":7}"));
    assert_int_equal(s->nelts, 0);
    s = oauth2_claims_scopes(&f->ctx, claims(f, "{}"));
    assert_non_null(s);
    assert_int_equal(s->nelts, 0);

    s = oauth2_scopes_split(f->pool, "a b c");
    want = oauth2_scopes_split(f->pool, "c a");
    assert_true(oauth2_scopes_has_all(s, want));
    want = oauth2_scopes_split(f->pool, "a d");
    assert_false(oauth2_scopes_has_all(s, want));
    want = oauth2_scopes_split(f->pool, "A");
    assert_false(oauth2_scopes_has_all(s, want));
    assert_true(oauth2_scopes_has_all(s, oauth2_scopes_split(f->pool, "")));
    assert_false(oauth2_scopes_has_all(oauth2_scopes_split(f->pool, NULL),
                                       oauth2_scopes_split(f->pool, "a")));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(t_iss, th_setup, th_teardown),
        cmocka_unit_test_setup_teardown(t_aud, th_setup, th_teardown),
        cmocka_unit_test_setup_teardown(t_exp, th_setup, th_teardown),
        cmocka_unit_test_setup_teardown(t_nbf, th_setup, th_teardown),
        cmocka_unit_test_setup_teardown(t_iat, th_setup, th_teardown),
        cmocka_unit_test_setup_teardown(t_typ, th_setup, th_teardown),
        cmocka_unit_test_setup_teardown(validate_all, th_setup, th_teardown),
        cmocka_unit_test_setup_teardown(scopes, th_setup, th_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
