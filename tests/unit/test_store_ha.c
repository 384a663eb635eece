/*
 * test_store_ha.c - the pure parts of redis+sentinel / redis+cluster: key
 * slots (CRC16/XMODEM vectors, hash tags), MOVED/ASK parsing, the URL and
 * option forms (?db=N, sentinel_username=/sentinel_password= with file:),
 * and store creation for both kinds. The live behaviour (failover,
 * resharding) is in tests/integration/test_store_ha.py.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <apr_strings.h>
#include <apr_tables.h>

#include "helpers.h"
#include "oauth2/cfg.h"
#include "oauth2/store.h"

/* ==== slots ============================================================ */

static void slot_vectors(void **state)
{
    static const struct {
        const char *key;
        unsigned slot;
    } v[] = {
        /* CRC16/XMODEM check value 0x31C3 & 0x3FFF */
        {"123456789", 12739},
        {"foo", 12182}, /* CLUSTER KEYSLOT foo */
        {"bar", 5061},
        {"user1000", 3443},
        {"{user1000}.following", 3443}, /* the tag alone is hashed */
        {"{user1000}.followers", 3443},
        {"foo{}{bar}", 8363},    /* empty first tag: the whole key */
        {"foo{{bar}}zap", 4015}, /* tag is "{bar" */
        {"foo{bar}{zap}", 5061}, /* only the first tag counts */
        {"foo{bar", 15278},      /* unclosed: the whole key */
        {"", 0},
    };
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(v) / sizeof(*v); i++) {
        unsigned got = oauth2_store_redis_slot(v[i].key, strlen(v[i].key));
        if (got != v[i].slot)
            fail_msg("slot(%s) = %u, want %u", v[i].key, got, v[i].slot);
    }
    /* Binary-safe: a NUL inside the key is hashed too. */
    assert_int_not_equal(oauth2_store_redis_slot("a\0b", 3),
                         oauth2_store_redis_slot("a", 1));
    assert_true(oauth2_store_redis_slot("\xff\xfe", 2) <
                OAUTH2_STORE_REDIS_SLOTS);
}

/* ==== redirects ======================================================== */

static void redirect_good(void **state)
{
    oauth2_store_redirect_t rd;
    const char *m = "MOVED 3999 127.0.0.1:6381";
    const char *a = "ASK 16383 [::1]:7000";
    const char *e = "MOVED 0 :7002";

    (void)state;
    assert_int_equal(oauth2_store_redis_redirect_parse(m, strlen(m), &rd), 1);
    assert_int_equal(rd.ask, 0);
    assert_int_equal(rd.slot, 3999);
    assert_string_equal(rd.host, "127.0.0.1");
    assert_int_equal(rd.port, 6381);
    assert_int_equal(oauth2_store_redis_redirect_parse(a, strlen(a), &rd), 1);
    assert_int_equal(rd.ask, 1);
    assert_int_equal(rd.slot, 16383);
    assert_string_equal(rd.host, "[::1]");
    assert_int_equal(rd.port, 7000);
    /* An empty host means "the node that answered". */
    assert_int_equal(oauth2_store_redis_redirect_parse(e, strlen(e), &rd), 1);
    assert_string_equal(rd.host, "");
    assert_int_equal(rd.port, 7002);
}

static void redirect_bad(void **state)
{
    static const char *bad[] = {
        "MOVED",
        "MOVED ",
        "MOVED 16384 h:1", /* slot out of range */
        "MOVED 99999999 h:1",
        "MOVED 1 h",       /* no port */
        "MOVED 1 h:",      /* empty port */
        "MOVED 1 h:0",     /* port 0 */
        "MOVED 1 h:65536", /* port too big */
        "MOVED 1 h:12x",   /* junk */
        "MOVED x h:1",     /* no slot */
        "MOVED 1h:1",      /* no space */
        "ASKING 1 h:1",    /* not a redirect */
        "READONLY You can't write against a read only replica.",
        "ERR wrong number of arguments",
        "",
    };
    oauth2_store_redirect_t rd;
    char longhost[400];
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(bad) / sizeof(*bad); i++)
        if (oauth2_store_redis_redirect_parse(bad[i], strlen(bad[i]), &rd))
            fail_msg("accepted '%s'", bad[i]);
    assert_int_equal(oauth2_store_redis_redirect_parse(NULL, 0, &rd), 0);
    /* A host longer than the buffer is refused, not truncated. */
    memset(longhost, 'h', sizeof(longhost));
    memcpy(longhost, "MOVED 1 ", 8);
    memcpy(longhost + sizeof(longhost) - 3, ":1", 2);
    longhost[sizeof(longhost) - 1] = '\0';
    assert_int_equal(
        oauth2_store_redis_redirect_parse(longhost, strlen(longhost), &rd), 0);
}

/* ==== URLs and options ================================================= */

static const oauth2_host_port_t *hp(const oauth2_store_url_t *u, int i)
{
    return &APR_ARRAY_IDX(u->hosts, i, oauth2_host_port_t);
}

static void url_sentinel_cluster_forms(void **state)
{
    th_fixture_t *f = *state;
    oauth2_store_url_t *u = NULL;

    assert_int_equal(
        oauth2_cfg_store_url_parse(&f->ctx,
                                   "redis+sentinel://app:pw@h1:26379,h2:26380/"
                                   "mymaster?db=3",
                                   &u),
        OAUTH2_OK);
    assert_int_equal(u->kind, OAUTH2_STORE_SENTINEL);
    assert_int_equal(u->hosts->nelts, 2);
    assert_string_equal(hp(u, 1)->host, "h2");
    assert_int_equal(hp(u, 1)->port, 26380);
    assert_string_equal(u->master_name, "mymaster");
    assert_string_equal(u->username, "app");
    assert_string_equal(u->password, "pw");
    assert_int_equal(u->db, 3);
    assert_int_equal(
        oauth2_cfg_store_url_parse(&f->ctx, "redis://h:1?db=7", &u), OAUTH2_OK);
    assert_int_equal(u->db, 7);
    assert_string_equal(hp(u, 0)->host, "h");
    assert_int_equal(oauth2_cfg_store_url_parse(
                         &f->ctx, "redis+cluster://a:7000,b:7001,c", &u),
                     OAUTH2_OK);
    assert_int_equal(u->kind, OAUTH2_STORE_CLUSTER);
    assert_int_equal(u->hosts->nelts, 3);
    assert_int_equal(hp(u, 2)->port, 6379);
}

static void url_query_bad(void **state)
{
    static const struct {
        const char *url, *err;
    } bad[] = {
        {"redis+cluster://a:7000?db=1", "store URL: bad query '?db=1'"},
        {"redis://h?db=16", "store URL: bad query '?db=16' (only ?db=N"},
        {"redis://h?db=", "store URL: bad query '?db='"},
        {"redis://h?timeout=1", "store URL: bad query '?timeout=1'"},
        {"redis+sentinel://h1?db=1", "store URL: sentinel needs a master"},
    };
    th_fixture_t *f = *state;
    oauth2_store_url_t *u = NULL;
    size_t i;

    for (i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
        if (oauth2_cfg_store_url_parse(&f->ctx, bad[i].url, &u) !=
            OAUTH2_DENIED)
            fail_msg("accepted %s", bad[i].url);
        if (strncmp(f->ctx.err.text, bad[i].err, strlen(bad[i].err)) != 0)
            fail_msg("%s: '%s'", bad[i].url, f->ctx.err.text);
    }
}

static oauth2_status_t store(th_fixture_t *f, int argc, char **argv,
                             oauth2_store_url_t **u)
{
    oauth2_cfg_store_opts_t *o = NULL;

    return oauth2_cfg_store_parse(&f->ctx, argc, argv, u, &o);
}

static void sentinel_password_from_file(void **state)
{
    th_fixture_t *f = *state;
    char path[] = "/tmp/oauth2-test-sentpw-XXXXXX";
    int fd = mkstemp(path);
    oauth2_store_url_t *u = NULL;
    char *argv[4];

    assert_true(fd >= 0);
    assert_int_equal(write(fd, "sentinel-secret\n", 16), 16);
    close(fd);
    argv[0] = "redis+sentinel://h1,h2/m";
    argv[1] = apr_pstrcat(f->pool, "sentinel_password=file:", path, NULL);
    argv[2] = "sentinel_username=watcher";
    argv[3] = apr_pstrcat(f->pool, "password=file:", path, NULL);
    assert_int_equal(store(f, 4, argv, &u), OAUTH2_OK);
    assert_string_equal(u->sentinel_password, "sentinel-secret");
    assert_string_equal(u->sentinel_username, "watcher");
    assert_string_equal(u->password, "sentinel-secret");
    /* Only for sentinel URLs; a username needs a password. */
    argv[0] = "redis://h1";
    assert_int_equal(store(f, 2, argv, &u), OAUTH2_DENIED);
    assert_string_equal(f->ctx.err.text, "option sentinel_password: only for "
                                         "redis+sentinel://");
    argv[0] = "redis+sentinel://h1/m";
    assert_int_equal(store(f, 1, argv, &u), OAUTH2_OK);
    assert_null(u->sentinel_password);
    assert_int_equal(store(f, 2, (char *[]){argv[0], argv[2]}, &u),
                     OAUTH2_DENIED);
    assert_string_equal(f->ctx.err.text,
                        "option sentinel_username: needs sentinel_password");
    unlink(path);
    /* A missing file names the option, never a secret. */
    argv[1] = "sentinel_password=file:/nonexistent/pw";
    assert_int_equal(store(f, 2, argv, &u), OAUTH2_DENIED);
    assert_non_null(strstr(f->ctx.err.text, "sentinel_password"));
}

/* ==== creation and fail-closed without servers ========================= */

static int dead_port(void)
{
    return 1; /* tcpmux: nothing listens there on a test machine */
}

static void sentinel_without_sentinels(void **state)
{
    th_fixture_t *f = *state;
    char *url =
        apr_psprintf(f->pool, "redis+sentinel://127.0.0.1:%d/m", dead_port());
    oauth2_store_url_t *u = NULL;
    oauth2_store_t *st = NULL;
    char *v = NULL;

    assert_int_equal(oauth2_cfg_store_url_parse(&f->ctx, url, &u), OAUTH2_OK);
    assert_int_equal(oauth2_store_create(&f->ctx, f->pool, u, NULL, &st),
                     OAUTH2_OK);
    assert_int_equal(oauth2_store_get(&f->ctx, st, "k", &v, NULL),
                     OAUTH2_UNAVAILABLE);
    assert_string_equal(f->ctx.err.text,
                        "redis+sentinel: no sentinel could name master m");
    assert_true(th_logged(f, "OA00451"));
    /* Rate limited: the next call at the same instant does not re-ask. */
    assert_int_equal(
        oauth2_store_set(&f->ctx, st, "k", "v", 1, apr_time_from_sec(5)),
        OAUTH2_UNAVAILABLE);
    assert_string_equal(f->ctx.err.text, "redis+sentinel: master m unknown");
}

static void cluster_without_nodes(void **state)
{
    th_fixture_t *f = *state;
    char *url =
        apr_psprintf(f->pool, "redis+cluster://127.0.0.1:%d", dead_port());
    oauth2_store_url_t *u = NULL;
    oauth2_store_t *st = NULL;
    char *v = NULL;

    assert_int_equal(oauth2_cfg_store_url_parse(&f->ctx, url, &u), OAUTH2_OK);
    assert_int_equal(oauth2_store_create(&f->ctx, f->pool, u, NULL, &st),
                     OAUTH2_OK);
    assert_int_equal(oauth2_store_get(&f->ctx, st, "k", &v, NULL),
                     OAUTH2_UNAVAILABLE);
    assert_string_equal(f->ctx.err.text,
                        "redis+cluster: no node gave a slot map (redis: "
                        "connect to 127.0.0.1:1 failed: Connection refused)");
    assert_true(th_logged(f, "OA00456"));
    /* Rate limited at the same instant: no new attempt. */
    assert_int_equal(oauth2_store_del(&f->ctx, st, "k"), OAUTH2_UNAVAILABLE);
    assert_string_equal(f->ctx.err.text,
                        "redis+cluster: no node serves slot 7629");
    /* Later the map is asked for again, and the node's backoff holds. */
    f->ctx.now += apr_time_from_msec(300);
    assert_int_equal(oauth2_store_del(&f->ctx, st, "k"), OAUTH2_UNAVAILABLE);
    assert_non_null(strstr(f->ctx.err.text, "down, next connect attempt"));
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, th_setup, th_teardown)
    const struct CMUnitTest tests[] = {
        T(slot_vectors),
        T(redirect_good),
        T(redirect_bad),
        T(url_sentinel_cluster_forms),
        T(url_query_bad),
        T(sentinel_password_from_file),
        T(sentinel_without_sentinels),
        T(cluster_without_nodes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
