/*
 * test_cfg.c - configuration parsing: store URLs and options, secret specs,
 * key=value lists and typed values, good and bad forms.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <apr_strings.h>

#include "helpers.h"
#include "oauth2/cfg.h"

/* ==== store URLs ======================================================= */

static const oauth2_host_port_t *host(const oauth2_store_url_t *u, int i)
{
    return &APR_ARRAY_IDX(u->hosts, i, oauth2_host_port_t);
}

static void store_url_redis_forms(void **state)
{
    th_fixture_t *f = *state;
    oauth2_store_url_t *u = NULL;

    assert_int_equal(
        oauth2_cfg_store_url_parse(&f->ctx, "redis://127.0.0.1:6380/3", &u),
        OAUTH2_OK);
    assert_int_equal(u->kind, OAUTH2_STORE_REDIS);
    assert_int_equal(u->hosts->nelts, 1);
    assert_string_equal(host(u, 0)->host, "127.0.0.1");
    assert_int_equal(host(u, 0)->port, 6380);
    assert_int_equal(u->db, 3);
    assert_null(u->username);
    assert_null(u->password);

    assert_int_equal(oauth2_cfg_store_url_parse(
                         &f->ctx, "redis://app:s%40cret@cache.local:1/15", &u),
                     OAUTH2_OK);
    assert_string_equal(u->username, "app");
    assert_string_equal(u->password, "s@cret");
    assert_string_equal(host(u, 0)->host, "cache.local");
    assert_int_equal(host(u, 0)->port, 1);
    assert_int_equal(u->db, 15);

    assert_int_equal(
        oauth2_cfg_store_url_parse(&f->ctx, "redis://:pw@[::1]:65535", &u),
        OAUTH2_OK);
    assert_null(u->username);
    assert_string_equal(u->password, "pw");
    assert_string_equal(host(u, 0)->host, "::1");
    assert_int_equal(host(u, 0)->port, 65535);
    assert_int_equal(u->db, 0);

    /* Port and db default. */
    assert_int_equal(oauth2_cfg_store_url_parse(&f->ctx, "redis://h/", &u),
                     OAUTH2_OK);
    assert_int_equal(host(u, 0)->port, 6379);
    assert_int_equal(u->db, 0);
}

static void store_url_sentinel_cluster_memory(void **state)
{
    th_fixture_t *f = *state;
    oauth2_store_url_t *u = NULL;

    assert_int_equal(
        oauth2_cfg_store_url_parse(
            &f->ctx, "redis+sentinel://h1:26379,[::1],h3:1/mymaster/2", &u),
        OAUTH2_OK);
    assert_int_equal(u->kind, OAUTH2_STORE_SENTINEL);
    assert_int_equal(u->hosts->nelts, 3);
    assert_string_equal(host(u, 1)->host, "::1");
    assert_int_equal(host(u, 1)->port, 26379);
    assert_int_equal(host(u, 2)->port, 1);
    assert_string_equal(u->master_name, "mymaster");
    assert_int_equal(u->db, 2);

    assert_int_equal(
        oauth2_cfg_store_url_parse(&f->ctx, "redis+sentinel://h1/master-1", &u),
        OAUTH2_OK);
    assert_string_equal(u->master_name, "master-1");
    assert_int_equal(u->db, 0);

    assert_int_equal(oauth2_cfg_store_url_parse(
                         &f->ctx, "redis+cluster://h1:7000,h2:7001", &u),
                     OAUTH2_OK);
    assert_int_equal(u->kind, OAUTH2_STORE_CLUSTER);
    assert_int_equal(u->hosts->nelts, 2);
    assert_int_equal(host(u, 1)->port, 7001);

    assert_int_equal(oauth2_cfg_store_url_parse(&f->ctx, "memory:", &u),
                     OAUTH2_OK);
    assert_int_equal(u->kind, OAUTH2_STORE_MEMORY);
    assert_int_equal(u->hosts->nelts, 0);
}

static void store_url_bad_forms(void **state)
{
    static const struct {
        const char *url, *err;
    } bad[] = {
        {"notaurl:/x", "unknown scheme 'notaurl'"},
        {"http://h:1/0", "unknown scheme 'http'"},
        {"memory:x", "unknown scheme 'memory'"},
        {"redis://h:0/0", "bad port '0'"},
        {"redis://h:65536/0", "bad port '65536'"},
        {"redis://h:12a/0", "bad port '12a'"},
        {"redis://h:/0", "bad port ''"},
        {"redis://h:6379/99", "bad db '99'"},
        {"redis://h:6379/16", "bad db '16'"},
        {"redis://h:6379/-1", "bad db '-1'"},
        {"redis://h:6379/0/1", "bad db '0/1'"},
        {"redis://:6379/0", "missing host"},
        {"redis:///0", "missing host"},
        {"redis://u:p@/0", "missing host"},
        {"redis://h h:1/0", "bad host 'h h:1'"},
        {"redis://[::1/0", "unclosed '['"},
        {"redis://[::1]x:1/0", "bad host '[::1]x:1'"},
        {"redis://[zz]:1/0", "bad host '[zz]:1'"},
        {"redis://a:1,b:2/0", "redis:// takes one host"},
        {"redis://h,/0", "missing host"},
        {"redis://u:%zz@h/0", "bad %-escape in password"},
        {"redis://%00:p@h/0", "bad %-escape in user name"},
        {"redis+sentinel://h1:26379", "needs a master name"},
        {"redis+sentinel://h1:26379/", "needs a master name"},
        {"redis+sentinel://h1/m/x", "bad db 'x'"},
        {"redis+cluster://h1:7000/0", "takes no db"},
    };
    th_fixture_t *f = *state;
    oauth2_store_url_t *u = NULL;
    size_t i;

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        f->ctx.err.text[0] = '\0';
        if (oauth2_cfg_store_url_parse(&f->ctx, bad[i].url, &u) !=
            OAUTH2_DENIED)
            fail_msg("%s: accepted", bad[i].url);
        if (strstr(f->ctx.err.text, bad[i].err) == NULL)
            fail_msg("%s: error '%s' lacks '%s'", bad[i].url, f->ctx.err.text,
                     bad[i].err);
    }
}

static void store_url_error_hides_password(void **state)
{
    th_fixture_t *f = *state;
    oauth2_store_url_t *u = NULL;

    assert_int_equal(oauth2_cfg_store_url_parse(
                         &f->ctx, "rediss://user:topsecret@h:1/0", &u),
                     OAUTH2_DENIED);
    assert_null(strstr(f->ctx.err.text, "topsecret"));
    assert_int_equal(
        oauth2_cfg_store_url_parse(&f->ctx, "redis://user:topsecret@h:0/0", &u),
        OAUTH2_DENIED);
    assert_null(strstr(f->ctx.err.text, "topsecret"));
}

/* ==== store options ==================================================== */

static oauth2_status_t store(th_fixture_t *f, const char *line,
                             oauth2_store_url_t **u,
                             oauth2_cfg_store_opts_t **o)
{
    char **argv = NULL;
    int argc = 0;

    assert_int_equal(apr_tokenize_to_argv(line, &argv, f->pool), APR_SUCCESS);
    while (argv[argc] != NULL)
        argc++;
    return oauth2_cfg_store_parse(&f->ctx, argc, argv, u, o);
}

static void store_options(void **state)
{
    th_fixture_t *f = *state;
    oauth2_store_url_t *u = NULL;
    oauth2_cfg_store_opts_t *o = NULL;

    assert_int_equal(store(f, "redis://u:urlpw@h:1/2", &u, &o), OAUTH2_OK);
    assert_string_equal(o->prefix, "oauth2:");
    assert_int_equal(o->connect_timeout, apr_time_from_msec(500));
    assert_int_equal(o->timeout, apr_time_from_sec(1));
    assert_int_equal(o->pool, 0); /* not given: the adapter decides */
    assert_int_equal(o->cache, 1024); /* redis://: the read cache is on */
    assert_string_equal(u->password, "urlpw");
    assert_int_equal(store(f, "redis+cluster://h:1,h:2", &u, &o), OAUTH2_OK);
    assert_int_equal(o->cache, 0); /* not for cluster or sentinel */
    assert_int_equal(store(f, "redis+cluster://h:1 cache=0", &u, &o),
                     OAUTH2_OK);
    assert_int_equal(store(f, "redis://h/0 cache=0", &u, &o), OAUTH2_OK);
    assert_int_equal(o->cache, 0);

    assert_int_equal(store(f,
                           "redis://u:urlpw@h:1/2 password=optpw prefix=x: "
                           "connect_timeout=250ms timeout=2s pool=4",
                           &u, &o),
                     OAUTH2_OK);
    assert_string_equal(u->password, "optpw");
    assert_string_equal(o->prefix, "x:");
    assert_int_equal(o->connect_timeout, apr_time_from_msec(250));
    assert_int_equal(o->timeout, apr_time_from_sec(2));
    assert_int_equal(o->pool, 4);
    assert_int_equal(store(f, "redis://h/0 cache=16", &u, &o), OAUTH2_OK);
    assert_int_equal(o->cache, 16);
}

static void store_options_bad(void **state)
{
    static const struct {
        const char *line, *err;
    } bad[] = {
        {"redis://h/0 bogus=1", "unknown option 'bogus'"},
        {"redis://h/0 pool=0", "option pool: bad number '0'"},
        {"redis://h/0 pool=2000", "option pool: bad number '2000'"},
        {"redis://h/0 timeout=soon", "option timeout: bad duration 'soon'"},
        {"redis://h/0 timeout=0", "option timeout: must be more than 0"},
        {"redis://h/0 connect_timeout=-1", "option connect_timeout: bad"},
        {"redis://h/0 prefix=", "option prefix: bad key prefix"},
        {"redis://h/0 pool", "'pool' is not key=value"},
        {"redis://h/0 pool=1 pool=2", "'pool' given twice"},
        {"memory: password=x", "memory: has no password"},
        {"redis://h/0 password=file:/nonexistent/pw",
         "option password: cannot read secret file /nonexistent/pw"},
        {"redis://h:99999/0 pool=4", "bad port '99999'"},
        {"redis://h/0 cache=-1", "option cache: bad number '-1'"},
        {"redis://h/0 cache=70000", "option cache: bad number '70000'"},
        {"redis+cluster://h:1 cache=8", "option cache: only for redis://"},
        {"memory: cache=8", "option cache: only for redis://"},
    };
    th_fixture_t *f = *state;
    oauth2_store_url_t *u = NULL;
    oauth2_cfg_store_opts_t *o = NULL;
    size_t i;

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        f->ctx.err.text[0] = '\0';
        if (store(f, bad[i].line, &u, &o) != OAUTH2_DENIED)
            fail_msg("%s: accepted", bad[i].line);
        if (strstr(f->ctx.err.text, bad[i].err) == NULL)
            fail_msg("%s: error '%s' lacks '%s'", bad[i].line, f->ctx.err.text,
                     bad[i].err);
    }
    assert_int_equal(oauth2_cfg_store_parse(&f->ctx, 0, NULL, &u, &o),
                     OAUTH2_DENIED);
    assert_string_equal(f->ctx.err.text, "store URL missing");
}

/* ==== secrets ========================================================== */

/* A file with `content` and `mode` in a fresh temp dir; path in f->pool. */
static const char *tmpfile_with(th_fixture_t *f, const char *content,
                                mode_t mode)
{
    char *path = apr_pstrdup(f->pool, "/tmp/oauth2-test-cfg-XXXXXX");
    int fd = mkstemp(path);
    size_t len = strlen(content);

    assert_true(fd >= 0);
    assert_int_equal(write(fd, content, len), (ssize_t)len);
    close(fd);
    assert_int_equal(chmod(path, mode), 0);
    return path;
}

static void secret_literal_file_exec(void **state)
{
    th_fixture_t *f = *state;
    const char *v = NULL, *path;

    assert_int_equal(oauth2_cfg_secret_resolve(&f->ctx, "plain", &v),
                     OAUTH2_OK);
    assert_string_equal(v, "plain");

    path = tmpfile_with(f, "from-file\n", 0600);
    assert_int_equal(
        oauth2_cfg_secret_resolve(
            &f->ctx, apr_pstrcat(f->pool, "file:", path, NULL), &v),
        OAUTH2_OK);
    assert_string_equal(v, "from-file");
    assert_false(th_logged(f, "OA00020"));
    unlink(path);

    path = tmpfile_with(f, "crlf\r\nsecond line\n", 0644);
    assert_int_equal(
        oauth2_cfg_secret_resolve(
            &f->ctx, apr_pstrcat(f->pool, "file:", path, NULL), &v),
        OAUTH2_OK);
    assert_string_equal(v, "crlf");
    assert_true(th_logged(f, "OA00020: secret file"));
    assert_true(th_logged(f, "readable by group or others"));
    unlink(path);

    assert_int_equal(
        oauth2_cfg_secret_resolve(&f->ctx, "exec:/bin/echo from exec", &v),
        OAUTH2_OK);
    assert_string_equal(v, "from exec");
    assert_int_equal(oauth2_cfg_secret_resolve(
                         &f->ctx, "exec:/bin/sh -c 'echo a; echo b'", &v),
                     OAUTH2_OK);
    assert_string_equal(v, "a");
}

static void secret_bad_specs(void **state)
{
    static const struct {
        const char *spec, *err;
    } bad[] = {
        {"", "secret from '(literal)' is empty"},
        {"file:/nonexistent/x", "cannot read secret file /nonexistent/x"},
        {"file:relative", "file: needs an absolute path"},
        {"file:/tmp", "cannot read secret file /tmp"},
        {"exec:/bin/false", "exec:/bin/false failed (exit status 1)"},
        {"exec:/bin/sh -c 'kill -9 $$'", "failed (signal 9)"},
        {"exec:/nonexistent/prog", "failed (exit status"},
        {"exec:true", "exec: needs an absolute program path"},
        {"exec:", "exec: needs an absolute program path"},
        {"exec:/bin/true", "secret from 'exec:/bin/true' is empty"},
    };
    th_fixture_t *f = *state;
    const char *v = NULL;
    size_t i;

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        f->ctx.err.text[0] = '\0';
        if (oauth2_cfg_secret_resolve(&f->ctx, bad[i].spec, &v) !=
            OAUTH2_DENIED)
            fail_msg("%s: accepted", bad[i].spec);
        if (strstr(f->ctx.err.text, bad[i].err) == NULL)
            fail_msg("%s: error '%s' lacks '%s'", bad[i].spec, f->ctx.err.text,
                     bad[i].err);
    }
    assert_int_equal(oauth2_cfg_secret_resolve(&f->ctx, NULL, &v),
                     OAUTH2_DENIED);
}

/*
 * A helper that hangs is killed at OAUTH2_CFG_EXEC_TIMEOUT: startup fails
 * with "timed out" instead of blocking forever, and whatever it printed
 * before hanging is not taken as the secret. (Takes the 5 s timeout.)
 */
static void secret_exec_hangs(void **state)
{
    th_fixture_t *f = *state;
    const char *v = NULL;

    f->ctx.err.text[0] = '\0';
    assert_int_equal(
        oauth2_cfg_secret_resolve(
            &f->ctx, "exec:/bin/sh -c 'echo partial; exec /bin/sleep 600'", &v),
        OAUTH2_DENIED);
    assert_non_null(strstr(f->ctx.err.text, "timed out"));
    assert_null(v); /* nothing taken from the partial output */
}

static void secret_empty_file(void **state)
{
    th_fixture_t *f = *state;
    const char *v = NULL, *path = tmpfile_with(f, "\n", 0600);

    assert_int_equal(
        oauth2_cfg_secret_resolve(
            &f->ctx, apr_pstrcat(f->pool, "file:", path, NULL), &v),
        OAUTH2_DENIED);
    assert_non_null(strstr(f->ctx.err.text, "is empty"));
    unlink(path);
}

static void passphrase_minimum(void **state)
{
    th_fixture_t *f = *state;
    const char *v = NULL;

    assert_int_equal(
        oauth2_cfg_passphrase_resolve(&f->ctx, "0123456789abcdef", &v),
        OAUTH2_OK);
    assert_string_equal(v, "0123456789abcdef");
    assert_int_equal(
        oauth2_cfg_passphrase_resolve(&f->ctx, "0123456789abcde", &v),
        OAUTH2_DENIED);
    assert_string_equal(f->ctx.err.text, "passphrase is shorter than 16 bytes");
    assert_int_equal(
        oauth2_cfg_passphrase_resolve(&f->ctx, "exec:/bin/echo short", &v),
        OAUTH2_DENIED);
    assert_string_equal(
        f->ctx.err.text,
        "passphrase from exec:/bin/echo short is shorter than 16 bytes");
    assert_int_equal(
        oauth2_cfg_passphrase_resolve(&f->ctx, "file:/nonexistent", &v),
        OAUTH2_DENIED);
    assert_non_null(strstr(f->ctx.err.text, "/nonexistent"));
}

/* ==== key=value lists and typed values ================================= */

static void kv_parse_good_and_bad(void **state)
{
    th_fixture_t *f = *state;
    char *good[] = {"a=1", "b=", "c=x=y", "scope=openid email"};
    char *noeq[] = {"a=1", "plain"};
    char *nokey[] = {"=v"};
    char *dup[] = {"a=1", "a=2"};
    static const char *const known[] = {"a", "b", NULL};
    apr_table_t *t = NULL;

    assert_int_equal(oauth2_cfg_kv_parse(&f->ctx, 4, good, &t), OAUTH2_OK);
    assert_string_equal(apr_table_get(t, "a"), "1");
    assert_string_equal(apr_table_get(t, "b"), "");
    assert_string_equal(apr_table_get(t, "c"), "x=y");
    assert_string_equal(apr_table_get(t, "scope"), "openid email");
    assert_int_equal(oauth2_cfg_check_known(&f->ctx, t, known), OAUTH2_DENIED);
    assert_string_equal(f->ctx.err.text, "unknown option 'c' (known: a, b)");

    assert_int_equal(oauth2_cfg_kv_parse(&f->ctx, 2, good, &t), OAUTH2_OK);
    assert_int_equal(oauth2_cfg_check_known(&f->ctx, t, known), OAUTH2_OK);
    assert_int_equal(oauth2_cfg_kv_parse(&f->ctx, 0, NULL, &t), OAUTH2_OK);
    assert_int_equal(apr_table_elts(t)->nelts, 0);

    assert_int_equal(oauth2_cfg_kv_parse(&f->ctx, 2, noeq, &t), OAUTH2_DENIED);
    assert_string_equal(f->ctx.err.text, "option 'plain' is not key=value");
    assert_int_equal(oauth2_cfg_kv_parse(&f->ctx, 1, nokey, &t), OAUTH2_DENIED);
    assert_string_equal(f->ctx.err.text, "option '=v' is not key=value");
    assert_int_equal(oauth2_cfg_kv_parse(&f->ctx, 2, dup, &t), OAUTH2_DENIED);
    assert_string_equal(f->ctx.err.text, "option 'a' given twice");
}

static void durations(void **state)
{
    static const struct {
        const char *s;
        apr_interval_time_t v;
    } good[] = {
        {"30", 30000000LL},   {"30s", 30000000LL},
        {"500ms", 500000LL},  {"5m", 300000000LL},
        {"1h", 3600000000LL}, {"0", 0},
        {"0ms", 0},           {"315360000", 315360000000000LL},
    };
    static const char *const bad[] = {
        "",     "s",   "ms",  "-1", "1.5s",      "5 m",
        "5d",   "1hh", "10x", "+3", "315360001", "99999999999999999999",
        "5mss", " 5",
    };
    th_fixture_t *f = *state;
    apr_interval_time_t v;
    size_t i;

    for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        if (oauth2_cfg_parse_duration(&f->ctx, good[i].s, &v) != OAUTH2_OK)
            fail_msg("%s: refused: %s", good[i].s, f->ctx.err.text);
        assert_int_equal(v, good[i].v);
    }
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (oauth2_cfg_parse_duration(&f->ctx, bad[i], &v) != OAUTH2_DENIED)
            fail_msg("'%s': accepted", bad[i]);
        assert_non_null(
            strstr(f->ctx.err.text,
                   apr_psprintf(f->pool, "bad duration '%s'", bad[i])));
    }
    assert_int_equal(oauth2_cfg_parse_duration(&f->ctx, NULL, &v),
                     OAUTH2_DENIED);
}

static void sizes_and_bools(void **state)
{
    static const char *const bad_sizes[] = {"",     "k",  "-1",          "4MB",
                                            "1.5k", "2T", "99999999999G"};
    static const char *const bad_bools[] = {"", "maybe", "2", "onn", NULL};
    th_fixture_t *f = *state;
    apr_size_t n;
    int b = -1;
    size_t i;

    assert_int_equal(oauth2_cfg_parse_size(&f->ctx, "512", &n), OAUTH2_OK);
    assert_int_equal(n, 512);
    assert_int_equal(oauth2_cfg_parse_size(&f->ctx, "64k", &n), OAUTH2_OK);
    assert_int_equal(n, 65536);
    assert_int_equal(oauth2_cfg_parse_size(&f->ctx, "4M", &n), OAUTH2_OK);
    assert_int_equal(n, 4 * 1024 * 1024);
    assert_int_equal(oauth2_cfg_parse_size(&f->ctx, "1g", &n), OAUTH2_OK);
    assert_int_equal(n, 1024 * 1024 * 1024);
    for (i = 0; i < sizeof(bad_sizes) / sizeof(bad_sizes[0]); i++) {
        if (oauth2_cfg_parse_size(&f->ctx, bad_sizes[i], &n) != OAUTH2_DENIED)
            fail_msg("'%s': accepted", bad_sizes[i]);
        assert_non_null(strstr(f->ctx.err.text, "bad size"));
    }

    assert_int_equal(oauth2_cfg_parse_bool(&f->ctx, "On", &b), OAUTH2_OK);
    assert_int_equal(b, 1);
    assert_int_equal(oauth2_cfg_parse_bool(&f->ctx, "off", &b), OAUTH2_OK);
    assert_int_equal(b, 0);
    assert_int_equal(oauth2_cfg_parse_bool(&f->ctx, "TRUE", &b), OAUTH2_OK);
    assert_int_equal(b, 1);
    assert_int_equal(oauth2_cfg_parse_bool(&f->ctx, "0", &b), OAUTH2_OK);
    assert_int_equal(b, 0);
    for (i = 0; i < sizeof(bad_bools) / sizeof(bad_bools[0]); i++) {
        if (oauth2_cfg_parse_bool(&f->ctx, bad_bools[i], &b) != OAUTH2_DENIED)
            fail_msg("'%s': accepted", bad_bools[i] ? bad_bools[i] : "NULL");
        assert_non_null(strstr(f->ctx.err.text, "bad boolean"));
    }
}

static void kv_typed_getters(void **state)
{
    th_fixture_t *f = *state;
    char *words[] = {"t=5m", "sz=4k", "b=off", "n=42", "badt=x", "badn=4x"};
    apr_table_t *t = NULL;
    apr_interval_time_t d;
    apr_size_t sz;
    long long n;
    int b;

    assert_int_equal(oauth2_cfg_kv_parse(&f->ctx, 6, words, &t), OAUTH2_OK);
    assert_int_equal(oauth2_cfg_kv_duration(&f->ctx, t, "t", 7, &d), OAUTH2_OK);
    assert_int_equal(d, apr_time_from_sec(300));
    assert_int_equal(oauth2_cfg_kv_duration(&f->ctx, t, "absent", 7, &d),
                     OAUTH2_OK);
    assert_int_equal(d, 7);
    assert_int_equal(oauth2_cfg_kv_size(&f->ctx, t, "sz", 1, &sz), OAUTH2_OK);
    assert_int_equal(sz, 4096);
    assert_int_equal(oauth2_cfg_kv_size(&f->ctx, t, "absent", 9, &sz),
                     OAUTH2_OK);
    assert_int_equal(sz, 9);
    assert_int_equal(oauth2_cfg_kv_bool(&f->ctx, t, "b", 1, &b), OAUTH2_OK);
    assert_int_equal(b, 0);
    assert_int_equal(oauth2_cfg_kv_bool(&f->ctx, t, "absent", 1, &b),
                     OAUTH2_OK);
    assert_int_equal(b, 1);
    assert_int_equal(oauth2_cfg_kv_int(&f->ctx, t, "n", 0, 100, 5, &n),
                     OAUTH2_OK);
    assert_int_equal(n, 42);
    assert_int_equal(oauth2_cfg_kv_int(&f->ctx, t, "absent", 0, 100, 5, &n),
                     OAUTH2_OK);
    assert_int_equal(n, 5);

    assert_int_equal(oauth2_cfg_kv_int(&f->ctx, t, "n", 50, 100, 5, &n),
                     OAUTH2_DENIED);
    assert_string_equal(f->ctx.err.text, "option n: bad number '42' (50..100)");
    assert_int_equal(oauth2_cfg_kv_int(&f->ctx, t, "badn", 0, 100, 5, &n),
                     OAUTH2_DENIED);
    assert_int_equal(oauth2_cfg_kv_duration(&f->ctx, t, "badt", 0, &d),
                     OAUTH2_DENIED);
    assert_non_null(strstr(f->ctx.err.text, "option badt: bad duration 'x'"));
    assert_int_equal(oauth2_cfg_kv_size(&f->ctx, t, "badt", 0, &sz),
                     OAUTH2_DENIED);
    assert_non_null(strstr(f->ctx.err.text, "option badt: bad size 'x'"));
    assert_int_equal(oauth2_cfg_kv_bool(&f->ctx, t, "badt", 0, &b),
                     OAUTH2_DENIED);
    assert_non_null(strstr(f->ctx.err.text, "option badt: bad boolean 'x'"));
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, th_setup, th_teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(store_url_redis_forms),
        T(store_url_sentinel_cluster_memory),
        T(store_url_bad_forms),
        T(store_url_error_hides_password),
        T(store_options),
        T(store_options_bad),
        T(secret_literal_file_exec),
        T(secret_bad_specs),
        T(secret_exec_hangs),
        T(secret_empty_file),
        T(passphrase_minimum),
        T(kv_parse_good_and_bad),
        T(durations),
        T(sizes_and_bools),
        T(kv_typed_getters),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
