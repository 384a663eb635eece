/*
 * test_reqparse.c - the Authorization header (one Bearer credential or
 * nothing) and the Cookie header (iteration, exact names, duplicates).
 */
#include <string.h>

#include "helpers.h"
#include "oauth2/reqparse.h"

static void bearer_good(void **state)
{
    th_fixture_t *f = *state;
    static const char *const ok[] = {"Bearer abc", "bearer abc",
                                     "  BEARER\tabc \t", "Bearer   abc"};
    const char *tok;

    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        tok = NULL;
        assert_int_equal(oauth2_bearer_parse(&f->ctx, ok[i], &tok), OAUTH2_OK);
        assert_string_equal(tok, "abc");
    }
}

static void bearer_bad(void **state)
{
    th_fixture_t *f = *state;
    static const struct {
        const char *h;
        oauth2_status_t st;
        const char *err;
    } v[] = {
        {"", OAUTH2_DENIED, "empty Authorization header"},
        {" \t", OAUTH2_DENIED, "empty Authorization header"},
        {"Bearer", OAUTH2_DENIED, "Bearer without a token"},
        {"Bearer  ", OAUTH2_DENIED, "Bearer without a token"},
        {"Bearer ,x", OAUTH2_DENIED, "Bearer without a token"},
        {"Bearer a b", OAUTH2_DENIED, "bytes after the bearer token"},
        {"Bearer a, Basic b", OAUTH2_DENIED, "bytes after the bearer token"},
        {"Bearer a,", OAUTH2_DENIED, "bytes after the bearer token"},
        {"Basic a, Bearer b", OAUTH2_DENIED,
         "several credentials in Authorization header"},
        {"Basic dXNlcjpwdw==", OAUTH2_NOT_FOUND, ""},
        {"Bearerx abc", OAUTH2_NOT_FOUND, ""},
        {"DPoP abc", OAUTH2_NOT_FOUND, ""},
    };
    const char *tok;

    for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
        f->ctx.err.text[0] = '\0';
        tok = NULL;
        assert_int_equal(oauth2_bearer_parse(&f->ctx, v[i].h, &tok), v[i].st);
        assert_null(tok);
        assert_string_equal(f->ctx.err.text, v[i].err);
    }
    assert_int_equal(oauth2_bearer_parse(&f->ctx, NULL, &tok),
                     OAUTH2_NOT_FOUND);
}

static void cookie_iterate(void **state)
{
    const char *pos = " a=1;b ; ;c=;d = x=y";
    oauth2_cookie_pair_t c;

    (void)state;
    assert_true(oauth2_cookie_next(&pos, &c));
    assert_int_equal(c.name_len, 1);
    assert_memory_equal(c.name, "a", 1);
    assert_int_equal(c.value_len, 1);
    assert_memory_equal(c.value, "1", 1);
    assert_true(oauth2_cookie_next(&pos, &c));
    assert_int_equal(c.name_len, 1);
    assert_null(c.value);
    assert_true(oauth2_cookie_next(&pos, &c));
    assert_memory_equal(c.name, "c", 1);
    assert_non_null(c.value);
    assert_int_equal(c.value_len, 0);
    assert_true(oauth2_cookie_next(&pos, &c));
    assert_int_equal(c.name_len, 1);
    assert_int_equal(c.value_len, 4);
    assert_memory_equal(c.value, " x=y", 4);
    assert_false(oauth2_cookie_next(&pos, &c));
    assert_false(oauth2_cookie_next(&pos, &c));
    pos = NULL;
    assert_false(oauth2_cookie_next(&pos, &c));
}

static void cookie_get(void **state)
{
    th_fixture_t *f = *state;
    const char *v = NULL;
    int n = -1;

    assert_int_equal(
        oauth2_cookie_get(&f->ctx, "x=1; sess=abc; sessx=2", "sess", &v, &n),
        OAUTH2_OK);
    assert_string_equal(v, "abc");
    assert_int_equal(n, 1);
    assert_int_equal(
        oauth2_cookie_get(&f->ctx, "sessx=2; xsess=3; sess", "sess", &v, &n),
        OAUTH2_NOT_FOUND);
    assert_int_equal(n, 0);
    assert_int_equal(oauth2_cookie_get(&f->ctx, NULL, "sess", &v, NULL),
                     OAUTH2_NOT_FOUND);
    assert_int_equal(
        oauth2_cookie_get(&f->ctx, "sess=a; x=1; sess=b", "sess", &v, &n),
        OAUTH2_DENIED);
    assert_int_equal(n, 2);
    assert_string_equal(f->ctx.err.text, "cookie sess sent 2 times");
    assert_int_equal(oauth2_cookie_get(&f->ctx, "=x; sess=1", "", &v, &n),
                     OAUTH2_NOT_FOUND);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(bearer_good, th_setup, th_teardown),
        cmocka_unit_test_setup_teardown(bearer_bad, th_setup, th_teardown),
        cmocka_unit_test(cookie_iterate),
        cmocka_unit_test_setup_teardown(cookie_get, th_setup, th_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
