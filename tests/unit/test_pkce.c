/*
 * test_pkce.c - RFC 7636 appendix B and the verifier rules.
 */
#include <string.h>

#include <apr_strings.h>

#include "helpers.h"
#include "oauth2/pkce.h"

/* "verifier=...\nchallenge=...\n" from vectors/rfc7636_b.txt */
static const char *field(th_fixture_t *f, const char *txt, const char *name)
{
    const char *p = strstr(txt, name);
    const char *e;

    assert_non_null(p);
    p += strlen(name) + 1;
    e = strchr(p, '\n');
    return apr_pstrmemdup(f->pool, p, (apr_size_t)(e - p));
}

static void rfc7636_appendix_b(void **state)
{
    th_fixture_t *f = *state;
    const char *txt = th_read_file(f->pool, "vectors/rfc7636_b.txt", NULL);
    const char *ch = NULL;

    assert_int_equal(
        oauth2_pkce_challenge_s256(&f->ctx, field(f, txt, "verifier"), &ch),
        OAUTH2_OK);
    assert_string_equal(ch, field(f, txt, "challenge"));
}

static void verifier_fresh(void **state)
{
    th_fixture_t *f = *state;
    const char *a = NULL, *b = NULL, *ch = NULL;

    assert_int_equal(oauth2_pkce_verifier_new(&f->ctx, &a), OAUTH2_OK);
    assert_int_equal(oauth2_pkce_verifier_new(&f->ctx, &b), OAUTH2_OK);
    assert_int_equal(strlen(a), OAUTH2_PKCE_VERIFIER_LEN);
    assert_string_not_equal(a, b);
    assert_int_equal(oauth2_pkce_challenge_s256(&f->ctx, a, &ch), OAUTH2_OK);
    assert_int_equal(strlen(ch), 43);
}

static void verifier_rules(void **state)
{
    th_fixture_t *f = *state;
    const char *ch = "x";
    char v[130];
    static const char *bad[] = {
        "short", "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjX", /* 42 */
        "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjX+k",
        "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjX k", NULL};
    size_t i;

    memset(v, 'a', 128);
    v[128] = '\0';
    assert_int_equal(oauth2_pkce_challenge_s256(&f->ctx, v, &ch), OAUTH2_OK);
    v[128] = '~';
    v[129] = '\0';
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        f->ctx.err.text[0] = '\0';
        assert_int_equal(oauth2_pkce_challenge_s256(&f->ctx, bad[i], &ch),
                         OAUTH2_DENIED);
        assert_null(ch);
        assert_string_equal(
            f->ctx.err.text,
            "pkce: verifier must be 43-128 unreserved characters");
    }
    assert_int_equal(oauth2_pkce_challenge_s256(&f->ctx, v, &ch),
                     OAUTH2_DENIED);
    assert_int_equal(
        oauth2_pkce_challenge_s256(
            &f->ctx, "0123456789.~_-abcdefghijklmnopqrstuvwxyzABCDEFG", &ch),
        OAUTH2_OK);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(rfc7636_appendix_b, th_setup,
                                        th_teardown),
        cmocka_unit_test_setup_teardown(verifier_fresh, th_setup, th_teardown),
        cmocka_unit_test_setup_teardown(verifier_rules, th_setup, th_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
