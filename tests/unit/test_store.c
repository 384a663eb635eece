/*
 * test_store.c - the store registry and wrappers, and the memory backend:
 * get/set/del/touch, TTL on a moved clock, prefix, caps, bad arguments.
 */
#include <string.h>

#include <apr_tables.h>

#include "helpers.h"
#include "oauth2/store.h"

#define SEC(n) apr_time_from_sec(n)

static oauth2_store_t *mem(th_fixture_t *f, const char *prefix)
{
    oauth2_store_url_t u = {0};
    oauth2_store_opts_t o = {0};
    oauth2_store_t *st = NULL;

    u.kind = OAUTH2_STORE_MEMORY;
    o.prefix = prefix;
    o.max_entries = 4;
    o.max_value = 100;
    assert_int_equal(oauth2_store_create(&f->ctx, f->pool, &u, &o, &st),
                     OAUTH2_OK);
    assert_string_equal(st->name, "memory");
    return st;
}

static void mem_get_set_del(void **state)
{
    th_fixture_t *f = *state;
    oauth2_store_t *st = mem(f, NULL);
    char *v = NULL;
    size_t n = 0;

    assert_int_equal(oauth2_store_get(&f->ctx, st, "k", &v, &n),
                     OAUTH2_NOT_FOUND);
    assert_int_equal(oauth2_store_set(&f->ctx, st, "k", "v\0w", 3, SEC(10)),
                     OAUTH2_OK);
    assert_int_equal(oauth2_store_get(&f->ctx, st, "k", &v, &n), OAUTH2_OK);
    assert_int_equal(n, 3);
    assert_memory_equal(v, "v\0w", 3);
    assert_int_equal(oauth2_store_del(&f->ctx, st, "k"), OAUTH2_OK);
    assert_int_equal(oauth2_store_del(&f->ctx, st, "k"), OAUTH2_NOT_FOUND);
    assert_int_equal(oauth2_store_get(&f->ctx, st, "k", &v, NULL),
                     OAUTH2_NOT_FOUND);
}

static void mem_ttl_and_touch(void **state)
{
    th_fixture_t *f = *state;
    oauth2_store_t *st = mem(f, "p:");
    apr_time_t t0 = f->ctx.now;
    char *v;

    assert_int_equal(oauth2_store_set(&f->ctx, st, "k", "v", 1, SEC(10)),
                     OAUTH2_OK);
    f->ctx.now = t0 + SEC(9);
    assert_int_equal(oauth2_store_touch(&f->ctx, st, "k", SEC(10)), OAUTH2_OK);
    f->ctx.now = t0 + SEC(18);
    assert_int_equal(oauth2_store_get(&f->ctx, st, "k", &v, NULL), OAUTH2_OK);
    f->ctx.now = t0 + SEC(19);
    assert_int_equal(oauth2_store_get(&f->ctx, st, "k", &v, NULL),
                     OAUTH2_NOT_FOUND);
    assert_int_equal(oauth2_store_touch(&f->ctx, st, "k", SEC(10)),
                     OAUTH2_NOT_FOUND);
}

static void mem_bad_arguments(void **state)
{
    th_fixture_t *f = *state;
    oauth2_store_t *st = mem(f, NULL);
    char big[200], key[1100], *v;

    memset(big, 'x', sizeof(big));
    memset(key, 'k', sizeof(key) - 1);
    key[sizeof(key) - 1] = '\0';
    assert_int_equal(oauth2_store_set(&f->ctx, st, "", "v", 1, SEC(1)),
                     OAUTH2_DENIED);
    assert_string_equal(f->ctx.err.text,
                        "store: key empty or longer than 1024 bytes");
    assert_int_equal(oauth2_store_get(&f->ctx, st, key, &v, NULL),
                     OAUTH2_DENIED);
    assert_int_equal(oauth2_store_get(&f->ctx, st, NULL, &v, NULL),
                     OAUTH2_DENIED);
    assert_int_equal(oauth2_store_set(&f->ctx, st, "k", "v", 1, 0),
                     OAUTH2_DENIED);
    assert_string_equal(f->ctx.err.text, "store: ttl must be positive");
    assert_int_equal(oauth2_store_touch(&f->ctx, st, "k", -1), OAUTH2_DENIED);
    assert_int_equal(oauth2_store_set(&f->ctx, st, "k", NULL, 0, SEC(1)),
                     OAUTH2_DENIED);
    assert_string_equal(f->ctx.err.text, "store: no value");
    assert_int_equal(
        oauth2_store_set(&f->ctx, st, "k", big, sizeof(big), SEC(1)),
        OAUTH2_DENIED);
    assert_string_equal(f->ctx.err.text,
                        "cache: value missing or longer than 100 bytes");
}

static void mem_is_bounded(void **state)
{
    th_fixture_t *f = *state;
    oauth2_store_t *st = mem(f, NULL);
    char *v;

    assert_int_equal(oauth2_store_set(&f->ctx, st, "a", "1", 1, SEC(9)), 0);
    assert_int_equal(oauth2_store_set(&f->ctx, st, "b", "1", 1, SEC(9)), 0);
    assert_int_equal(oauth2_store_set(&f->ctx, st, "c", "1", 1, SEC(9)), 0);
    assert_int_equal(oauth2_store_set(&f->ctx, st, "d", "1", 1, SEC(9)), 0);
    assert_int_equal(oauth2_store_set(&f->ctx, st, "e", "1", 1, SEC(9)), 0);
    assert_int_equal(oauth2_store_get(&f->ctx, st, "a", &v, NULL),
                     OAUTH2_NOT_FOUND);
    assert_int_equal(oauth2_store_get(&f->ctx, st, "e", &v, NULL), OAUTH2_OK);
}

static void prefixes_separate(void **state)
{
    th_fixture_t *f = *state;
    oauth2_store_t *st = mem(f, "one:");
    char *v;

    /* "one:k" is looked up as "one:one:k": the prefix is always added. */
    assert_int_equal(oauth2_store_set(&f->ctx, st, "k", "v", 1, SEC(5)),
                     OAUTH2_OK);
    assert_int_equal(oauth2_store_get(&f->ctx, st, "k", &v, NULL), OAUTH2_OK);
    assert_int_equal(oauth2_store_get(&f->ctx, st, "one:k", &v, NULL),
                     OAUTH2_NOT_FOUND);
}

static void registry_kinds(void **state)
{
    th_fixture_t *f = *state;
    oauth2_store_url_t u = {0};
    oauth2_store_t *st = NULL;
    oauth2_host_port_t hp = {"127.0.0.1", 6379};

    u.hosts = apr_array_make(f->pool, 1, sizeof(hp));
    APR_ARRAY_PUSH(u.hosts, oauth2_host_port_t) = hp;
    u.kind = OAUTH2_STORE_SENTINEL;
    assert_int_equal(oauth2_store_create(&f->ctx, f->pool, &u, NULL, &st),
                     OAUTH2_ERROR);
    assert_string_equal(f->ctx.err.text,
                        "store: redis+sentinel without a master name");
    u.master_name = "mymaster";
    assert_int_equal(oauth2_store_create(&f->ctx, f->pool, &u, NULL, &st),
                     OAUTH2_OK);
    assert_string_equal(st->name, "redis");
    u.master_name = NULL;
    u.kind = OAUTH2_STORE_CLUSTER;
    u.db = 1;
    assert_int_equal(oauth2_store_create(&f->ctx, f->pool, &u, NULL, &st),
                     OAUTH2_ERROR);
    assert_string_equal(f->ctx.err.text,
                        "store: redis db 1 out of 0..15 (cluster: 0)");
    u.db = 0;
    assert_int_equal(oauth2_store_create(&f->ctx, f->pool, &u, NULL, &st),
                     OAUTH2_OK);
    u.kind = (oauth2_store_kind_t)99;
    assert_int_equal(oauth2_store_create(&f->ctx, f->pool, &u, NULL, &st),
                     OAUTH2_ERROR);
    assert_string_equal(f->ctx.err.text, "store: unknown kind 99");
    assert_int_equal(oauth2_store_create(&f->ctx, f->pool, NULL, NULL, &st),
                     OAUTH2_ERROR);
    u.kind = OAUTH2_STORE_REDIS;
    u.db = 16;
    assert_int_equal(oauth2_store_create(&f->ctx, f->pool, &u, NULL, &st),
                     OAUTH2_ERROR);
    assert_string_equal(f->ctx.err.text,
                        "store: redis db 16 out of 0..15 (cluster: 0)");
    u.db = 0;
    apr_array_clear(u.hosts);
    assert_int_equal(oauth2_store_create(&f->ctx, f->pool, &u, NULL, &st),
                     OAUTH2_ERROR);
    assert_string_equal(f->ctx.err.text, "store: redis URL without a host");
    APR_ARRAY_PUSH(u.hosts, oauth2_host_port_t) = hp;
    assert_int_equal(oauth2_store_create(&f->ctx, f->pool, &u, NULL, &st),
                     OAUTH2_OK);
    assert_string_equal(st->name, "redis");
}

/* ---- sessions branch: set-if-absent and indexes ------------------------ */

static void mem_add_is_set_if_absent(void **state)
{
    th_fixture_t *f = *state;
    oauth2_store_t *st = mem(f, NULL);
    int added = -1;
    char *v;

    assert_int_equal(
        oauth2_store_add(&f->ctx, st, "lock", "a", 1, SEC(5), &added),
        OAUTH2_OK);
    assert_int_equal(added, 1);
    assert_int_equal(
        oauth2_store_add(&f->ctx, st, "lock", "b", 1, SEC(5), &added),
        OAUTH2_OK);
    assert_int_equal(added, 0);
    assert_int_equal(oauth2_store_get(&f->ctx, st, "lock", &v, NULL),
                     OAUTH2_OK);
    assert_string_equal(v, "a"); /* the loser did not overwrite */
    f->ctx.now += SEC(6);        /* expired: free again */
    assert_int_equal(
        oauth2_store_add(&f->ctx, st, "lock", "c", 1, SEC(5), &added),
        OAUTH2_OK);
    assert_int_equal(added, 1);
    assert_int_equal(oauth2_store_add(&f->ctx, st, "", "c", 1, SEC(5), &added),
                     OAUTH2_DENIED);
    assert_int_equal(added, 0);
    assert_int_equal(oauth2_store_add(&f->ctx, st, "x", "c", 1, 0, &added),
                     OAUTH2_DENIED);
    assert_string_equal(f->ctx.err.text, "store: ttl must be positive");
}

static void mem_index_add_list_del(void **state)
{
    th_fixture_t *f = *state;
    oauth2_store_t *st = mem(f, NULL);
    apr_array_header_t *a = NULL;
    oauth2_store_member_t *e;

    assert_int_equal(oauth2_store_idx_list(&f->ctx, st, "ix", 10, &a),
                     OAUTH2_OK);
    assert_int_equal(a->nelts, 0);
    assert_int_equal(
        oauth2_store_idx_add(&f->ctx, st, "ix", "m1", "{\"a\":1}", 7, SEC(10)),
        OAUTH2_OK);
    assert_int_equal(
        oauth2_store_idx_add(&f->ctx, st, "ix", "m2", "two", 3, SEC(10)),
        OAUTH2_OK);
    assert_int_equal(
        oauth2_store_idx_add(&f->ctx, st, "ix", "m2", "TWO", 3, SEC(10)),
        OAUTH2_OK); /* replaces */
    assert_int_equal(oauth2_store_idx_list(&f->ctx, st, "ix", 10, &a),
                     OAUTH2_OK);
    assert_int_equal(a->nelts, 2);
    e = &APR_ARRAY_IDX(a, 1, oauth2_store_member_t);
    assert_string_equal(e->member, "m2");
    assert_string_equal(e->meta, "TWO");
    assert_int_equal(oauth2_store_idx_list(&f->ctx, st, "ix", 1, &a),
                     OAUTH2_OK);
    assert_int_equal(a->nelts, 1); /* bounded */
    assert_int_equal(oauth2_store_idx_del(&f->ctx, st, "ix", "m1"), OAUTH2_OK);
    assert_int_equal(oauth2_store_idx_del(&f->ctx, st, "ix", "m1"),
                     OAUTH2_NOT_FOUND);
    assert_int_equal(oauth2_store_idx_list(&f->ctx, st, "ix", 10, &a),
                     OAUTH2_OK);
    assert_int_equal(a->nelts, 1);
    f->ctx.now += SEC(11); /* the index expires with its ttl */
    assert_int_equal(oauth2_store_idx_list(&f->ctx, st, "ix", 10, &a),
                     OAUTH2_OK);
    assert_int_equal(a->nelts, 0);
}

static void mem_index_bad_arguments(void **state)
{
    th_fixture_t *f = *state;
    oauth2_store_t *st = mem(f, NULL);
    apr_array_header_t *a = NULL;

    assert_int_equal(
        oauth2_store_idx_add(&f->ctx, st, "ix", "has space", "x", 1, SEC(1)),
        OAUTH2_DENIED);
    assert_string_equal(f->ctx.err.text, "store: index member not printable");
    assert_int_equal(
        oauth2_store_idx_add(&f->ctx, st, "ix", "", "x", 1, SEC(1)),
        OAUTH2_DENIED);
    assert_int_equal(
        oauth2_store_idx_add(&f->ctx, st, "ix", "m", NULL, 0, SEC(1)),
        OAUTH2_DENIED);
    assert_string_equal(f->ctx.err.text, "store: no index metadata");
    assert_int_equal(
        oauth2_store_idx_add(&f->ctx, st, "ix", "m", "\xff", 1, SEC(1)),
        OAUTH2_DENIED);
    assert_string_equal(f->ctx.err.text, "store: index metadata is not UTF-8");
    assert_int_equal(oauth2_store_idx_list(&f->ctx, st, "ix", 0, &a),
                     OAUTH2_DENIED);
    assert_string_equal(f->ctx.err.text,
                        "store: index listing bound 0 out of 1..1000");
    assert_int_equal(oauth2_store_idx_del(&f->ctx, st, "", "m"), OAUTH2_DENIED);
}

static void store_without_index_ops(void **state)
{
    th_fixture_t *f = *state;
    oauth2_store_t st = *mem(f, NULL);
    int added;

    st.add = NULL;
    assert_int_equal(
        oauth2_store_add(&f->ctx, &st, "k", "v", 1, SEC(1), &added),
        OAUTH2_ERROR);
    assert_string_equal(f->ctx.err.text,
                        "store: memory has no index operations");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(mem_get_set_del, th_setup, th_teardown),
        cmocka_unit_test_setup_teardown(mem_ttl_and_touch, th_setup,
                                        th_teardown),
        cmocka_unit_test_setup_teardown(mem_bad_arguments, th_setup,
                                        th_teardown),
        cmocka_unit_test_setup_teardown(mem_is_bounded, th_setup, th_teardown),
        cmocka_unit_test_setup_teardown(prefixes_separate, th_setup,
                                        th_teardown),
        cmocka_unit_test_setup_teardown(registry_kinds, th_setup, th_teardown),
        cmocka_unit_test_setup_teardown(mem_add_is_set_if_absent, th_setup,
                                        th_teardown),
        cmocka_unit_test_setup_teardown(mem_index_add_list_del, th_setup,
                                        th_teardown),
        cmocka_unit_test_setup_teardown(mem_index_bad_arguments, th_setup,
                                        th_teardown),
        cmocka_unit_test_setup_teardown(store_without_index_ops, th_setup,
                                        th_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
