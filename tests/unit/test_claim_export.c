/*
 * test_claim_export.c - claims as the backend receives them: names, texts,
 * the header-safe text and the plain flag, and the one-block copy a cached
 * verdict keeps.
 */
#include <string.h>

#include "helpers.h"
#include "oauth2/claim_export.h"

static const oauth2_claim_export_t *find(const oauth2_claim_exports_t *x,
                                         const char *key)
{
    size_t i;

    for (i = 0; i < x->n; i++) {
        if (strcmp(x->e[i].key, key) == 0)
            return &x->e[i];
    }
    fail_msg("claim %s not exported", key);
    return NULL;
}

/* y holds what x holds, entry by entry, sharing header texts alike. */
static void assert_same_exports(const oauth2_claim_exports_t *x,
                                const oauth2_claim_exports_t *y)
{
    size_t i;

    assert_int_equal(y->n, x->n);
    for (i = 0; i < x->n; i++) {
        assert_string_equal(y->e[i].key, x->e[i].key);
        assert_string_equal(y->e[i].env_name, x->e[i].env_name);
        assert_string_equal(y->e[i].text, x->e[i].text);
        assert_string_equal(y->e[i].header_text, x->e[i].header_text);
        assert_int_equal(y->e[i].plain, x->e[i].plain);
        assert_int_equal(y->e[i].header_text == y->e[i].text,
                         x->e[i].header_text == x->e[i].text);
    }
}

static json_t *sample(void)
{
    json_error_t err;
    json_t *c = json_loads("{\"sub\":\"alice\",\"exp\":1700000000,\"n\":-7,"
                           "\"ok\":true,\"no\":false,\"nil\":null,\"r\":0.5,"
                           "\"groups\":[\"a\",\"b\"],\"o\":{\"k\":1},"
                           "\"x-y\":\"dash\",\"Mixed\":\"up\","
                           "\"caf\\u00e9\":\"utf8\","
                           "\"note\":\"a\\r\\nX-Evil: 1\\u0000z\"}",
                           JSON_ALLOW_NUL, &err);

    assert_non_null(c);
    return c;
}

static void texts_names_and_flags(void **state)
{
    th_fixture_t *f = *state;
    json_t *c = sample();
    oauth2_claim_exports_t *x = oauth2_claim_exports_make(f->pool, c, 1);
    const oauth2_claim_export_t *e;

    assert_int_equal(x->n, json_object_size(c));
    e = find(x, "sub");
    assert_string_equal(e->env_name, "OAUTH2_CLAIM_sub");
    assert_string_equal(e->text, "alice");
    assert_ptr_equal(e->header_text, e->text); /* nothing to blank */
    assert_true(e->plain);
    assert_string_equal(find(x, "exp")->text, "1700000000");
    assert_string_equal(find(x, "n")->text, "-7");
    assert_string_equal(find(x, "ok")->text, "true");
    assert_string_equal(find(x, "no")->text, "false");
    assert_string_equal(find(x, "nil")->text, "null");
    assert_string_equal(find(x, "r")->text, "0.5");
    assert_string_equal(find(x, "groups")->text, "[\"a\",\"b\"]");
    assert_string_equal(find(x, "o")->text, "{\"k\":1}");
    e = find(x, "x-y");
    assert_string_equal(e->env_name, "OAUTH2_CLAIM_x_y");
    assert_false(e->plain);
    e = find(x, "Mixed");
    assert_string_equal(e->env_name, "OAUTH2_CLAIM_Mixed"); /* case kept */
    assert_false(e->plain); /* may collide with "mixed" */
    e = find(x, "caf\xc3\xa9");
    assert_string_equal(e->env_name, "OAUTH2_CLAIM_caf__");
    assert_false(e->plain);
    /* a string claim with an embedded NUL stops there, as C text must */
    e = find(x, "note");
    assert_string_equal(e->text, "a\r\nX-Evil: 1");
    assert_string_equal(e->header_text, "a  X-Evil: 1");
    json_decref(c);
}

/* Without headers nothing is blanked, and a copy keeps them absent. */
static void no_header_texts_unless_asked(void **state)
{
    th_fixture_t *f = *state;
    json_t *c = sample();
    oauth2_claim_exports_t *x = oauth2_claim_exports_make(f->pool, c, 0), *y;

    assert_int_equal(x->n, json_object_size(c));
    assert_null(find(x, "note")->header_text);
    assert_null(find(x, "sub")->header_text);
    assert_string_equal(find(x, "note")->text, "a\r\nX-Evil: 1");
    y = oauth2_claim_exports_flatten(x);
    assert_non_null(y);
    assert_null(find(y, "note")->header_text);
    assert_string_equal(find(y, "note")->text, "a\r\nX-Evil: 1");
    free(y);
    json_decref(c);
}

static void not_an_object(void **state)
{
    th_fixture_t *f = *state;
    json_t *a = json_array(), *o = json_object();

    assert_null(oauth2_claim_exports_make(f->pool, NULL, 1));
    assert_null(oauth2_claim_exports_make(f->pool, a, 1));
    assert_int_equal(oauth2_claim_exports_make(f->pool, o, 1)->n, 0);
    json_decref(a);
    json_decref(o);
}

static void flattened_copy_is_equal_and_standalone(void **state)
{
    th_fixture_t *f = *state;
    json_t *c = sample(), *empty = json_object();
    apr_pool_t *scratch;
    oauth2_claim_exports_t *x, *y;

    assert_int_equal(apr_pool_create(&scratch, f->pool), APR_SUCCESS);
    x = oauth2_claim_exports_make(scratch, c, 1);
    y = oauth2_claim_exports_flatten(x);
    assert_non_null(y);
    assert_same_exports(x, y);
    /* nothing points back into the pool or the claims */
    apr_pool_destroy(scratch);
    json_decref(c);
    assert_string_equal(find(y, "note")->header_text, "a  X-Evil: 1");
    assert_string_equal(find(y, "groups")->env_name, "OAUTH2_CLAIM_groups");
    free(y);
    x = oauth2_claim_exports_make(f->pool, empty, 1);
    y = oauth2_claim_exports_flatten(x);
    assert_non_null(y);
    assert_int_equal(y->n, 0);
    free(y);
    json_decref(empty);
}

/* A flattened block copied into a pool: equal, and free of the block. */
static void pool_copy_of_a_flat_block(void **state)
{
    th_fixture_t *f = *state;
    json_t *c = sample();
    oauth2_claim_exports_t *x = oauth2_claim_exports_make(f->pool, c, 1);
    oauth2_claim_exports_t *flat = oauth2_claim_exports_flatten(x), *y;
    const char *lo, *hi;
    size_t i;

    assert_non_null(flat);
    assert_int_equal(x->size, 0);
    assert_true(flat->size > sizeof(*flat));
    y = oauth2_claim_exports_copy(f->pool, flat);
    assert_non_null(y);
    assert_int_equal(y->n, x->n);
    assert_int_equal(y->size, flat->size);
    /* every pointer inside the copy, none into the block */
    lo = (const char *)y;
    hi = lo + y->size;
    for (i = 0; i < y->n; i++) {
        const char *ps[4] = {y->e[i].key, y->e[i].env_name, y->e[i].text,
                             y->e[i].header_text};
        int k;

        for (k = 0; k < 4; k++)
            assert_true(ps[k] >= lo + sizeof(*y) && ps[k] < hi);
        assert_int_equal(y->e[i].header_text == y->e[i].text,
                         x->e[i].header_text == x->e[i].text);
    }
    memset(flat, 0xA5, flat->size);
    free(flat);
    assert_same_exports(x, y);
    /* only flattened blocks: a pool-made set has no size to copy */
    assert_null(oauth2_claim_exports_copy(f->pool, x));
    assert_null(oauth2_claim_exports_copy(f->pool, NULL));
    json_decref(c);
}

static void safe_names(void **state)
{
    th_fixture_t *f = *state;
    int plain = 1;

    assert_string_equal(
        oauth2_claim_safe_name(f->pool, "H-", 2, "a_b9", '-', &plain),
        "H-a_b9");
    assert_true(plain);
    assert_string_equal(
        oauth2_claim_safe_name(f->pool, "H-", 2, "a.b Z", '-', &plain),
        "H-a-b-Z");
    assert_false(plain);
    plain = 1;
    assert_string_equal(oauth2_claim_safe_name(f->pool, "", 0, "", '_', &plain),
                        "");
    assert_true(plain);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(texts_names_and_flags, th_setup,
                                        th_teardown),
        cmocka_unit_test_setup_teardown(no_header_texts_unless_asked, th_setup,
                                        th_teardown),
        cmocka_unit_test_setup_teardown(not_an_object, th_setup, th_teardown),
        cmocka_unit_test_setup_teardown(flattened_copy_is_equal_and_standalone,
                                        th_setup, th_teardown),
        cmocka_unit_test_setup_teardown(pool_copy_of_a_flat_block, th_setup,
                                        th_teardown),
        cmocka_unit_test_setup_teardown(safe_names, th_setup, th_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
