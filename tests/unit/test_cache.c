/*
 * test_cache.c - the bounded per-process cache: hit, miss, expiry on a moved
 * clock, LRU eviction at the bound, overwrite, objects with destructors that
 * outlive eviction while borrowed, and a multi-thread smoke test.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <apr_strings.h>
#include <apr_thread_proc.h>

#include "helpers.h"
#include "oauth2/cache.h"

#define SEC(n) apr_time_from_sec(n)

static oauth2_cache_t *mk(th_fixture_t *f, size_t max)
{
    oauth2_cache_opts_t o = {max, 64, 32};
    oauth2_cache_t *c = NULL;

    assert_int_equal(oauth2_cache_create(&f->ctx, f->pool, &o, &c), OAUTH2_OK);
    return c;
}

static void hit_and_miss(void **state)
{
    th_fixture_t *f = *state;
    oauth2_cache_t *c = mk(f, 8);
    char *v = NULL;
    size_t n = 0;

    assert_int_equal(oauth2_cache_get(&f->ctx, c, "k", &v, &n),
                     OAUTH2_NOT_FOUND);
    assert_int_equal(
        oauth2_cache_set(&f->ctx, c, "k", "a\0b", 3, f->ctx.now + SEC(10)),
        OAUTH2_OK);
    assert_int_equal(oauth2_cache_get(&f->ctx, c, "k", &v, &n), OAUTH2_OK);
    assert_int_equal(n, 3);
    assert_memory_equal(v, "a\0b", 4); /* NUL-terminated copy */
    assert_int_equal(oauth2_cache_get(&f->ctx, c, "K", &v, &n),
                     OAUTH2_NOT_FOUND);
    assert_int_equal(oauth2_cache_get(&f->ctx, c, NULL, &v, &n),
                     OAUTH2_NOT_FOUND);
}

static void bad_arguments(void **state)
{
    th_fixture_t *f = *state;
    oauth2_cache_t *c = mk(f, 8);
    char big[100];

    memset(big, 'v', sizeof(big));
    assert_int_equal(
        oauth2_cache_set(&f->ctx, c, "", "x", 1, f->ctx.now + SEC(1)),
        OAUTH2_DENIED);
    assert_string_equal(f->ctx.err.text,
                        "cache: key empty or longer than 32 bytes");
    assert_int_equal(oauth2_cache_set(&f->ctx, c,
                                      "0123456789abcdef0123456789abcdefX", "x",
                                      1, f->ctx.now + SEC(1)),
                     OAUTH2_DENIED);
    assert_int_equal(oauth2_cache_set(&f->ctx, c, "k", big, sizeof(big),
                                      f->ctx.now + SEC(1)),
                     OAUTH2_DENIED);
    assert_string_equal(f->ctx.err.text,
                        "cache: value missing or longer than 64 bytes");
    assert_int_equal(oauth2_cache_set(&f->ctx, c, "k", "x", 1, f->ctx.now),
                     OAUTH2_DENIED);
    assert_string_equal(f->ctx.err.text, "cache: expiry is not in the future");
    assert_int_equal(oauth2_cache_count(c), 0);
}

static void expiry_follows_ctx_now(void **state)
{
    th_fixture_t *f = *state;
    oauth2_cache_t *c = mk(f, 8);
    apr_time_t t0 = f->ctx.now;
    char *v;

    assert_int_equal(oauth2_cache_set(&f->ctx, c, "k", "v", 1, t0 + SEC(10)),
                     OAUTH2_OK);
    f->ctx.now = t0 + SEC(10) - 1;
    assert_int_equal(oauth2_cache_get(&f->ctx, c, "k", &v, NULL), OAUTH2_OK);
    assert_int_equal(oauth2_cache_touch(&f->ctx, c, "k", t0 + SEC(20)),
                     OAUTH2_OK);
    f->ctx.now = t0 + SEC(15);
    assert_int_equal(oauth2_cache_get(&f->ctx, c, "k", &v, NULL), OAUTH2_OK);
    f->ctx.now = t0 + SEC(20);
    assert_int_equal(oauth2_cache_get(&f->ctx, c, "k", &v, NULL),
                     OAUTH2_NOT_FOUND);
    assert_int_equal(oauth2_cache_count(c), 0); /* purged on the way */
    assert_int_equal(oauth2_cache_touch(&f->ctx, c, "k", t0 + SEC(30)),
                     OAUTH2_NOT_FOUND);
}

static void lru_eviction_at_bound(void **state)
{
    th_fixture_t *f = *state;
    oauth2_cache_t *c = mk(f, 3);
    apr_time_t exp = f->ctx.now + SEC(60);
    char *v;

    assert_int_equal(oauth2_cache_set(&f->ctx, c, "a", "1", 1, exp), OAUTH2_OK);
    assert_int_equal(oauth2_cache_set(&f->ctx, c, "b", "2", 1, exp), OAUTH2_OK);
    assert_int_equal(oauth2_cache_set(&f->ctx, c, "c", "3", 1, exp), OAUTH2_OK);
    /* Touch "a" so that "b" is the least recently used. */
    assert_int_equal(oauth2_cache_get(&f->ctx, c, "a", &v, NULL), OAUTH2_OK);
    assert_int_equal(oauth2_cache_set(&f->ctx, c, "d", "4", 1, exp), OAUTH2_OK);
    assert_int_equal(oauth2_cache_count(c), 3);
    assert_int_equal(oauth2_cache_get(&f->ctx, c, "b", &v, NULL),
                     OAUTH2_NOT_FOUND);
    assert_int_equal(oauth2_cache_get(&f->ctx, c, "a", &v, NULL), OAUTH2_OK);
    assert_int_equal(oauth2_cache_get(&f->ctx, c, "c", &v, NULL), OAUTH2_OK);
    assert_int_equal(oauth2_cache_get(&f->ctx, c, "d", &v, NULL), OAUTH2_OK);
}

static void overwrite_and_delete(void **state)
{
    th_fixture_t *f = *state;
    oauth2_cache_t *c = mk(f, 3);
    apr_time_t exp = f->ctx.now + SEC(60);
    char *v;

    assert_int_equal(oauth2_cache_set(&f->ctx, c, "k", "old", 3, exp),
                     OAUTH2_OK);
    assert_int_equal(oauth2_cache_set(&f->ctx, c, "k", "new!", 4, exp),
                     OAUTH2_OK);
    assert_int_equal(oauth2_cache_count(c), 1);
    assert_int_equal(oauth2_cache_get(&f->ctx, c, "k", &v, NULL), OAUTH2_OK);
    assert_string_equal(v, "new!");
    assert_int_equal(oauth2_cache_del(&f->ctx, c, "k"), OAUTH2_OK);
    assert_int_equal(oauth2_cache_del(&f->ctx, c, "k"), OAUTH2_NOT_FOUND);
    assert_int_equal(oauth2_cache_get(&f->ctx, c, "k", &v, NULL),
                     OAUTH2_NOT_FOUND);
}

static int freed;

static void count_free(void *obj)
{
    freed++;
    free(obj);
}

static void objects_live_while_borrowed(void **state)
{
    th_fixture_t *f = *state;
    oauth2_cache_t *c = mk(f, 1);
    apr_time_t exp = f->ctx.now + SEC(60);
    apr_pool_t *req;
    oauth2_ctx_t rctx;
    void *o = NULL;
    char *v;

    freed = 0;
    assert_int_equal(oauth2_cache_set_object(&f->ctx, c, "jwks", strdup("keys"),
                                             count_free, exp),
                     OAUTH2_OK);
    /* A bytes get on an object entry misses, and vice versa. */
    assert_int_equal(oauth2_cache_get(&f->ctx, c, "jwks", &v, NULL),
                     OAUTH2_NOT_FOUND);
    apr_pool_create(&req, f->pool);
    oauth2_ctx_init(&rctx, req, NULL, f->ctx.now);
    assert_int_equal(oauth2_cache_get_object(&rctx, c, "jwks", &o), OAUTH2_OK);
    assert_string_equal(o, "keys");
    /* Evicted by another insert while borrowed: not freed yet. */
    assert_int_equal(oauth2_cache_set(&f->ctx, c, "x", "1", 1, exp), OAUTH2_OK);
    assert_int_equal(oauth2_cache_get_object(&f->ctx, c, "jwks", &o),
                     OAUTH2_NOT_FOUND);
    assert_int_equal(freed, 0);
    apr_pool_destroy(req); /* the borrower's request ends */
    assert_int_equal(freed, 1);
    /* A failed set still frees the object it was given. */
    assert_int_equal(
        oauth2_cache_set_object(&f->ctx, c, "", strdup("z"), count_free, exp),
        OAUTH2_DENIED);
    assert_int_equal(freed, 2);
    /* Overwrite without borrowers frees at once; pool end frees the rest. */
    assert_int_equal(
        oauth2_cache_set_object(&f->ctx, c, "o", strdup("1"), count_free, exp),
        OAUTH2_OK);
    assert_int_equal(
        oauth2_cache_set_object(&f->ctx, c, "o", strdup("2"), count_free, exp),
        OAUTH2_OK);
    assert_int_equal(freed, 3);
}

static void pool_end_frees_objects(void **state)
{
    th_fixture_t *f = *state;
    apr_pool_t *p;
    oauth2_cache_t *c = NULL;

    freed = 0;
    apr_pool_create(&p, f->pool);
    assert_int_equal(oauth2_cache_create(&f->ctx, p, NULL, &c), OAUTH2_OK);
    assert_int_equal(oauth2_cache_set_object(&f->ctx, c, "o", strdup("1"),
                                             count_free, f->ctx.now + SEC(1)),
                     OAUTH2_OK);
    apr_pool_destroy(p);
    assert_int_equal(freed, 1);
}

typedef struct worker_t {
    oauth2_cache_t *c;
    apr_time_t now;
    int id;
    int errors;
} worker_t;

static void *APR_THREAD_FUNC work(apr_thread_t *t, void *data)
{
    worker_t *w = data;
    apr_pool_t *p;
    oauth2_ctx_t ctx;
    int i;

    apr_pool_create(&p, NULL);
    oauth2_ctx_init(&ctx, p, NULL, w->now);
    for (i = 0; i < 2000; i++) {
        char key[32], val[32], *got;
        void *o;
        snprintf(key, sizeof(key), "k%d", (i * 7 + w->id) % 50);
        snprintf(val, sizeof(val), "v%d", (i * 7 + w->id) % 50);
        if (oauth2_cache_set(&ctx, w->c, key, val, strlen(val),
                             w->now + SEC(5)) != OAUTH2_OK)
            w->errors++;
        if (oauth2_cache_get(&ctx, w->c, key, &got, NULL) == OAUTH2_OK &&
            strcmp(got, val) != 0)
            w->errors++;
        if (i % 10 == 0) {
            oauth2_cache_set_object(&ctx, w->c, "obj", strdup("o"), free,
                                    w->now + SEC(5));
            oauth2_cache_get_object(&ctx, w->c, "obj", &o);
            oauth2_cache_del(&ctx, w->c, key);
        }
        if (i % 100 == 0)
            apr_pool_clear(p); /* releases borrowed objects */
    }
    apr_pool_destroy(p);
    apr_thread_exit(t, APR_SUCCESS);
    return NULL;
}

static void threads_smoke(void **state)
{
    th_fixture_t *f = *state;
    oauth2_cache_t *c = mk(f, 20);
    apr_thread_t *t[6];
    worker_t w[6];
    apr_status_t rv;
    int i;

    for (i = 0; i < 6; i++) {
        w[i].c = c;
        w[i].now = f->ctx.now;
        w[i].id = i;
        w[i].errors = 0;
        assert_int_equal(apr_thread_create(&t[i], NULL, work, &w[i], f->pool),
                         APR_SUCCESS);
    }
    for (i = 0; i < 6; i++) {
        apr_thread_join(&rv, t[i]);
        assert_int_equal(w[i].errors, 0);
    }
    assert_true(oauth2_cache_count(c) <= 20);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(hit_and_miss, th_setup, th_teardown),
        cmocka_unit_test_setup_teardown(bad_arguments, th_setup, th_teardown),
        cmocka_unit_test_setup_teardown(expiry_follows_ctx_now, th_setup,
                                        th_teardown),
        cmocka_unit_test_setup_teardown(lru_eviction_at_bound, th_setup,
                                        th_teardown),
        cmocka_unit_test_setup_teardown(overwrite_and_delete, th_setup,
                                        th_teardown),
        cmocka_unit_test_setup_teardown(objects_live_while_borrowed, th_setup,
                                        th_teardown),
        cmocka_unit_test_setup_teardown(pool_end_frees_objects, th_setup,
                                        th_teardown),
        cmocka_unit_test_setup_teardown(threads_smoke, th_setup, th_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
