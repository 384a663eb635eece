/*
 * test_store_redis.c - the redis store against a real redis-server started
 * by this test on a free 127.0.0.1 port (no persistence), with a password
 * and an ACL user: get/set/ttl/del/touch, NIL, AUTH good and bad, SELECT,
 * prefix, reply cap, binary keys, server killed then restarted (backoff on
 * ctx->now), and a SIGSTOP'd server hitting the command timeout. The server
 * is killed at the end whatever happens (group teardown, atexit, and
 * PR_SET_PDEATHSIG in the child).
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <apr_strings.h>
#include <apr_tables.h>
#include <hiredis/hiredis.h>

#include "helpers.h"
#include "oauth2/store.h"
#include "../../mod_oauth2/core/store_redis_cache.h"

#define SEC(n) apr_time_from_sec(n)
#define PASS "s3cret-pass"

static pid_t srv_pid = -1;
static int srv_port;

static int free_port(void)
{
    struct sockaddr_in sa;
    socklen_t sl = sizeof(sa);
    int fd = socket(AF_INET, SOCK_STREAM, 0), port = -1;

    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 &&
        getsockname(fd, (struct sockaddr *)&sa, &sl) == 0)
        port = ntohs(sa.sin_port);
    close(fd);
    return port;
}

static void ms_sleep(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

    nanosleep(&ts, NULL);
}

/* A direct admin connection (authenticated), or NULL. */
static redisContext *admin(void)
{
    struct timeval tv = {1, 0};
    redisContext *c = redisConnectWithTimeout("127.0.0.1", srv_port, tv);
    redisReply *r;

    if (c == NULL || c->err) {
        if (c)
            redisFree(c);
        return NULL;
    }
    redisSetTimeout(c, tv);
    r = redisCommand(c, "AUTH %s", PASS);
    if (r == NULL || r->type != REDIS_REPLY_STATUS) {
        if (r)
            freeReplyObject(r);
        redisFree(c);
        return NULL;
    }
    freeReplyObject(r);
    return c;
}

static void server_kill(void)
{
    if (srv_pid > 0) {
        kill(srv_pid, SIGCONT);
        kill(srv_pid, SIGKILL);
        waitpid(srv_pid, NULL, 0);
        srv_pid = -1;
    }
}

/* Start redis-server on srv_port and wait (real time) until it answers. */
static int server_start(void)
{
    char port[16];
    int i;

    snprintf(port, sizeof(port), "%d", srv_port);
    srv_pid = fork();
    if (srv_pid < 0)
        return -1;
    if (srv_pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (freopen("/dev/null", "w", stdout) == NULL ||
            freopen("/dev/null", "w", stderr) == NULL)
            _exit(126);
        execlp("redis-server", "redis-server", "--port", port, "--bind",
               "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", "/tmp",
               "--requirepass", PASS, "--user", "alice", "on", ">alice-pw",
               "~*", "+@all", NULL);
        _exit(127);
    }
    for (i = 0; i < 250; i++) {
        redisContext *c = admin();
        if (c != NULL) {
            redisFree(c);
            return 0;
        }
        ms_sleep(20); /* waiting for a child process, not for our clock */
    }
    server_kill();
    return -1;
}

static int group_setup(void **state)
{
    (void)state;
    signal(SIGPIPE, SIG_IGN); /* as httpd does; hiredis uses write(2) */
    atexit(server_kill);
    srv_port = free_port();
    return server_start();
}

static int group_teardown(void **state)
{
    (void)state;
    server_kill();
    return 0;
}

static oauth2_store_t *mk(th_fixture_t *f, const char *user, const char *pw,
                          int db, const oauth2_store_opts_t *o)
{
    oauth2_store_url_t u = {0};
    oauth2_host_port_t hp = {"127.0.0.1", srv_port};
    oauth2_store_t *st = NULL;

    u.kind = OAUTH2_STORE_REDIS;
    u.hosts = apr_array_make(f->pool, 1, sizeof(hp));
    APR_ARRAY_PUSH(u.hosts, oauth2_host_port_t) = hp;
    u.username = user;
    u.password = pw;
    u.db = db;
    assert_int_equal(oauth2_store_create(&f->ctx, f->pool, &u, o, &st),
                     OAUTH2_OK);
    return st;
}

static long long pttl(const char *key)
{
    redisContext *c = admin();
    redisReply *r;
    long long v = -99;

    assert_non_null(c);
    r = redisCommand(c, "PTTL %s", key);
    if (r != NULL && r->type == REDIS_REPLY_INTEGER)
        v = r->integer;
    if (r)
        freeReplyObject(r);
    redisFree(c);
    return v;
}

static void get_set_ttl_del_touch(void **state)
{
    th_fixture_t *f = *state;
    oauth2_store_t *st = mk(f, NULL, PASS, 0, NULL);
    char *v = NULL;
    size_t n = 0;

    assert_int_equal(oauth2_store_get(&f->ctx, st, "t1", &v, &n),
                     OAUTH2_NOT_FOUND); /* NIL */
    assert_int_equal(oauth2_store_set(&f->ctx, st, "t1", "a\0b", 3, SEC(10)),
                     OAUTH2_OK);
    assert_int_equal(oauth2_store_get(&f->ctx, st, "t1", &v, &n), OAUTH2_OK);
    assert_int_equal(n, 3);
    assert_memory_equal(v, "a\0b", 4);
    assert_in_range(pttl("t1"), 9000, 10000);
    assert_int_equal(oauth2_store_touch(&f->ctx, st, "t1", SEC(50)), OAUTH2_OK);
    assert_in_range(pttl("t1"), 49000, 50000);
    /* Sub-millisecond TTLs round up, never to "no expiry". */
    assert_int_equal(oauth2_store_touch(&f->ctx, st, "t1", 1), OAUTH2_OK);
    assert_int_equal(oauth2_store_touch(&f->ctx, st, "nope", SEC(5)),
                     OAUTH2_NOT_FOUND);
    assert_int_equal(oauth2_store_set(&f->ctx, st, "t2", "x", 1, SEC(5)),
                     OAUTH2_OK);
    assert_int_equal(oauth2_store_del(&f->ctx, st, "t2"), OAUTH2_OK);
    assert_int_equal(oauth2_store_del(&f->ctx, st, "t2"), OAUTH2_NOT_FOUND);
    assert_int_equal(oauth2_store_get(&f->ctx, st, "t2", &v, &n),
                     OAUTH2_NOT_FOUND);
}

static void binary_keys_are_safe(void **state)
{
    th_fixture_t *f = *state;
    oauth2_store_t *st = mk(f, NULL, PASS, 0, NULL);
    const char *key = "k %s %b\r\nFLUSHALL\r\n";
    char *v;

    assert_int_equal(oauth2_store_set(&f->ctx, st, key, "v", 1, SEC(5)),
                     OAUTH2_OK);
    assert_int_equal(oauth2_store_get(&f->ctx, st, key, &v, NULL), OAUTH2_OK);
    assert_string_equal(v, "v");
    assert_int_equal(oauth2_store_get(&f->ctx, st, "k", &v, NULL),
                     OAUTH2_NOT_FOUND);
}

static void auth_required_good_and_bad(void **state)
{
    th_fixture_t *f = *state;
    char *v;

    assert_int_equal(
        oauth2_store_get(&f->ctx, mk(f, NULL, NULL, 0, NULL), "k", &v, NULL),
        OAUTH2_UNAVAILABLE);
    assert_true(strstr(f->ctx.err.text, "error reply NOAUTH") != NULL);
    assert_true(th_logged(f, "OA00444: redis: GET: error reply NOAUTH"));
    assert_int_equal(oauth2_store_get(&f->ctx,
                                      mk(f, NULL, "wrong-pass", 0, NULL), "k",
                                      &v, NULL),
                     OAUTH2_UNAVAILABLE);
    assert_true(strncmp(f->ctx.err.text, "redis: AUTH failed: WRONGPASS", 29) ==
                0);
    assert_false(th_logged(f, "wrong-pass")); /* never logged */
    assert_int_equal(oauth2_store_get(&f->ctx,
                                      mk(f, "alice", "alice-pw", 0, NULL), "k",
                                      &v, NULL),
                     OAUTH2_NOT_FOUND);
    assert_int_equal(
        oauth2_store_get(&f->ctx, mk(f, "alice", PASS, 0, NULL), "k", &v, NULL),
        OAUTH2_UNAVAILABLE);
    assert_true(strstr(f->ctx.err.text, "AUTH failed") != NULL);
}

static void select_db_and_prefix(void **state)
{
    th_fixture_t *f = *state;
    oauth2_store_opts_t o = {0};
    oauth2_store_t *db3, *db0;
    redisContext *c;
    redisReply *r;
    char *v;

    o.prefix = "pfx:";
    db3 = mk(f, NULL, PASS, 3, &o);
    db0 = mk(f, NULL, PASS, 0, &o);
    assert_int_equal(oauth2_store_set(&f->ctx, db3, "sel", "three", 5, SEC(5)),
                     OAUTH2_OK);
    assert_int_equal(oauth2_store_get(&f->ctx, db0, "sel", &v, NULL),
                     OAUTH2_NOT_FOUND);
    assert_int_equal(oauth2_store_get(&f->ctx, db3, "sel", &v, NULL),
                     OAUTH2_OK);
    c = admin();
    assert_non_null(c);
    freeReplyObject(redisCommand(c, "SELECT 3"));
    r = redisCommand(c, "GET pfx:sel");
    assert_non_null(r);
    assert_int_equal(r->type, REDIS_REPLY_STRING);
    assert_string_equal(r->str, "three");
    freeReplyObject(r);
    redisFree(c);
}

static void reply_over_cap(void **state)
{
    th_fixture_t *f = *state;
    oauth2_store_opts_t big = {0}, small = {0};
    char val[500], *v;

    big.max_value = 1000;
    small.max_value = 100;
    memset(val, 'v', sizeof(val));
    assert_int_equal(oauth2_store_set(&f->ctx, mk(f, NULL, PASS, 0, &big),
                                      "capk", val, sizeof(val), SEC(5)),
                     OAUTH2_OK);
    assert_int_equal(oauth2_store_get(&f->ctx, mk(f, NULL, PASS, 0, &small),
                                      "capk", &v, NULL),
                     OAUTH2_UNAVAILABLE);
    assert_string_equal(f->ctx.err.text,
                        "redis: GET: reply of 500 bytes over the 100 byte "
                        "cap");
    assert_true(th_logged(f, "OA00445:"));
    assert_int_equal(oauth2_store_set(&f->ctx, mk(f, NULL, PASS, 0, &small),
                                      "capk", val, sizeof(val), SEC(5)),
                     OAUTH2_DENIED);
    assert_string_equal(f->ctx.err.text,
                        "redis: value of 500 bytes over the 100 byte cap");
}

static void killed_then_restarted_with_backoff(void **state)
{
    th_fixture_t *f = *state;
    oauth2_store_opts_t o = {0};
    oauth2_store_t *st;
    apr_time_t t0 = f->ctx.now;
    char *v;

    o.backoff_min = SEC(1);
    o.backoff_max = SEC(3);
    o.connect_timeout = apr_time_from_msec(300);
    st = mk(f, NULL, PASS, 0, &o);
    assert_int_equal(oauth2_store_set(&f->ctx, st, "kk", "1", 1, SEC(60)),
                     OAUTH2_OK); /* one pooled connection now */
    server_kill();
    assert_int_equal(oauth2_store_get(&f->ctx, st, "kk", &v, NULL),
                     OAUTH2_UNAVAILABLE);
    assert_true(th_logged(f, "OA00443: redis: GET on 127.0.0.1:"));
    assert_true(th_logged(f, "; next attempt in 1000 ms"));
    /* Within the backoff: fail fast, no connect attempt. */
    f->ctx.now = t0 + apr_time_from_msec(400);
    assert_int_equal(oauth2_store_get(&f->ctx, st, "kk", &v, NULL),
                     OAUTH2_UNAVAILABLE);
    assert_true(strstr(f->ctx.err.text, "down, next connect attempt in 600 "
                                        "ms") != NULL);
    /* After it: one attempt, still down, the interval doubles. */
    f->ctx.now = t0 + SEC(1);
    assert_int_equal(oauth2_store_get(&f->ctx, st, "kk", &v, NULL),
                     OAUTH2_UNAVAILABLE);
    assert_true(strstr(f->ctx.err.text, "connect to 127.0.0.1:") != NULL);
    assert_true(th_logged(f, "next attempt in 2000 ms"));
    assert_int_equal(server_start(), 0);
    f->ctx.now = t0 + SEC(2); /* up again, but the backoff still holds */
    assert_int_equal(oauth2_store_get(&f->ctx, st, "kk", &v, NULL),
                     OAUTH2_UNAVAILABLE);
    f->ctx.now = t0 + SEC(3);
    assert_int_equal(oauth2_store_get(&f->ctx, st, "kk", &v, NULL),
                     OAUTH2_NOT_FOUND); /* no persistence: a fresh server */
    assert_true(th_logged(f, "OA00441: redis: 127.0.0.1:"));
    assert_int_equal(oauth2_store_set(&f->ctx, st, "kk", "2", 1, SEC(60)),
                     OAUTH2_OK);
    assert_int_equal(oauth2_store_get(&f->ctx, st, "kk", &v, NULL), OAUTH2_OK);
    assert_string_equal(v, "2");
}

static void stopped_server_times_out(void **state)
{
    th_fixture_t *f = *state;
    oauth2_store_opts_t o = {0};
    oauth2_store_t *st;
    apr_time_t t0 = f->ctx.now, wall;
    char *v;

    o.command_timeout = apr_time_from_msec(200);
    o.connect_timeout = apr_time_from_msec(200);
    st = mk(f, NULL, PASS, 0, &o);
    assert_int_equal(oauth2_store_set(&f->ctx, st, "ss", "1", 1, SEC(60)),
                     OAUTH2_OK);
    kill(srv_pid, SIGSTOP);
    wall = apr_time_now();
    assert_int_equal(oauth2_store_get(&f->ctx, st, "ss", &v, NULL),
                     OAUTH2_UNAVAILABLE);
    kill(srv_pid, SIGCONT);
    /* Two attempts (pooled, then fresh) of 200 ms each, not seconds. */
    assert_true(apr_time_now() - wall < apr_time_from_msec(1500));
    assert_true(strstr(f->ctx.err.text, "failed: ") != NULL);
    f->ctx.now = t0 + SEC(1);
    assert_int_equal(oauth2_store_get(&f->ctx, st, "ss", &v, NULL), OAUTH2_OK);
    assert_string_equal(v, "1");
}

/* ---- the read cache (store_redis_cache.c) ------------------------------ */

#define SK "oauth2:session:ns:k1" /* under OAUTH2_STORE_CACHED_PREFIX */

static void admin_cmd(const char *fmt, const char *a, const char *b)
{
    redisContext *c = admin();
    redisReply *r;

    assert_non_null(c);
    r = b ? redisCommand(c, fmt, a, b) : a ? redisCommand(c, fmt, a)
                                           : redisCommand(c, fmt);
    assert_non_null(r);
    assert_int_not_equal(r->type, REDIS_REPLY_ERROR);
    freeReplyObject(r);
    redisFree(c);
}

static oauth2_rcache_stats_t stats(oauth2_store_t *st)
{
    oauth2_rcache_stats_t s;

    oauth2_rcache_stats(oauth2_store_redis_rcache(st), &s);
    return s;
}

/* Real time: the listener is another thread talking to the server. */
static int wait_live(oauth2_store_t *st, int want)
{
    int i;

    for (i = 0; i < 300; i++) {
        if (stats(st).live == want)
            return 1;
        ms_sleep(10);
    }
    return 0;
}

static oauth2_store_t *cached(th_fixture_t *f)
{
    oauth2_store_opts_t o = {0};
    oauth2_store_t *st;

    o.cache_slots = 16;
    o.command_timeout = apr_time_from_msec(300);
    o.connect_timeout = apr_time_from_msec(300);
    st = mk(f, NULL, PASS, 0, &o);
    assert_non_null(oauth2_store_redis_rcache(st));
    /* a pooled connection tells the cache which server requests reach */
    (void)oauth2_store_del(&f->ctx, st, SK);
    assert_true(wait_live(st, 1));
    return st;
}

static void expect_get(th_fixture_t *f, oauth2_store_t *st, const char *key,
                       const char *want)
{
    char *v = NULL;

    assert_int_equal(oauth2_store_get(&f->ctx, st, key, &v, NULL),
                     want ? OAUTH2_OK : OAUTH2_NOT_FOUND);
    if (want)
        assert_string_equal(v, want);
}

/* Set key to want through the store, then read until one read is a hit:
 * Redis's message about our own SET may void the first fill. */
static void set_until_hit(th_fixture_t *f, oauth2_store_t *st,
                          const char *key, const char *want)
{
    oauth2_rcache_stats_t s0;
    int i;

    assert_int_equal(
        oauth2_store_set(&f->ctx, st, key, want, strlen(want), SEC(60)),
        OAUTH2_OK);
    s0 = stats(st);
    for (i = 0; i < 100 && stats(st).hits == s0.hits; i++) {
        expect_get(f, st, key, want);
        ms_sleep(2);
    }
    assert_int_equal(stats(st).hits, s0.hits + 1);
}

/* Another writer's command, then wait (real time) for Redis's message. */
static void admin_and_wait(oauth2_store_t *st, const char *fmt, const char *a,
                           const char *b)
{
    oauth2_rcache_stats_t s0 = stats(st), s;
    int i;

    admin_cmd(fmt, a, b);
    for (i = 0; i < 200; i++) {
        s = stats(st);
        if (s.invalidations != s0.invalidations || s.flushes != s0.flushes)
            return;
        ms_sleep(5);
    }
}

static void cache_hits_and_follows_other_writers(void **state)
{
    th_fixture_t *f = *state;
    oauth2_store_t *st = cached(f), *plain = mk(f, NULL, PASS, 0, NULL);
    oauth2_rcache_stats_t s1;

    assert_null(oauth2_store_redis_rcache(plain)); /* off unless asked */
    set_until_hit(f, st, SK, "v1");
    s1 = stats(st);
    /* other keys are never kept */
    assert_int_equal(oauth2_store_set(&f->ctx, st, "other", "o", 1, SEC(60)),
                     OAUTH2_OK);
    expect_get(f, st, "other", "o");
    expect_get(f, st, "other", "o");
    assert_int_equal(stats(st).hits, s1.hits);
    /* this process's own write: read back at once */
    assert_int_equal(oauth2_store_set(&f->ctx, st, SK, "v2", 2, SEC(60)),
                     OAUTH2_OK);
    expect_get(f, st, SK, "v2");
    expect_get(f, st, SK, "v2");
    /* another node's write and delete: the first read after Redis's
     * message has reached this process sees them */
    admin_and_wait(st, "SET %s %s", SK, "v3");
    expect_get(f, st, SK, "v3");
    expect_get(f, st, SK, "v3");
    admin_and_wait(st, "DEL %s", SK, NULL);
    expect_get(f, st, SK, NULL);
    /* FLUSHALL empties it too */
    admin_cmd("SET %s %s", SK, "v4");
    expect_get(f, st, SK, "v4");
    expect_get(f, st, SK, "v4");
    admin_and_wait(st, "FLUSHALL", NULL, NULL);
    expect_get(f, st, SK, NULL);
}

/* Requests reaching another server than the listener (a DNS name or a
 * proxy switched): no hits, whatever is cached. */
static void another_server_than_the_listener_means_no_hits(void **state)
{
    th_fixture_t *f = *state;
    oauth2_store_t *st = cached(f);
    oauth2_rcache_t *rc = oauth2_store_redis_rcache(st);
    oauth2_rcache_stats_t s0;

    set_until_hit(f, st, SK, "m1");
    oauth2_rcache_data_id(rc, "0123456789abcdef0123456789abcdef01234567");
    assert_int_equal(stats(st).live, 0);
    s0 = stats(st);
    expect_get(f, st, SK, "m1");
    expect_get(f, st, SK, "m1");
    assert_int_equal(stats(st).hits, s0.hits);
}

/* Another writer's change reaches every read soon after its reply: the
 * bound is Redis's message to the listener (store_redis_cache.c), here
 * well under 1 s, every time. */
static void other_writers_converge_every_time(void **state)
{
    th_fixture_t *f = *state;
    oauth2_store_t *st = cached(f);
    char v[16] = "n0", *got = NULL;
    int i, j;

    assert_int_equal(oauth2_store_set(&f->ctx, st, SK, v, 2, SEC(60)),
                     OAUTH2_OK);
    for (i = 1; i < 50; i++) {
        expect_get(f, st, SK, v); /* cached (again) */
        expect_get(f, st, SK, v);
        snprintf(v, sizeof(v), "n%d", i);
        admin_cmd("SET %s %s", SK, v);
        for (j = 0; j < 200; j++) {
            assert_int_equal(oauth2_store_get(&f->ctx, st, SK, &got, NULL),
                             OAUTH2_OK);
            if (strcmp(got, v) == 0)
                break;
            ms_sleep(5);
        }
        assert_string_equal(got, v);
    }
}

static void dead_or_silent_server_is_never_answered_from_cache(void **state)
{
    th_fixture_t *f = *state;
    oauth2_store_t *st = cached(f);
    char *v;

    assert_int_equal(oauth2_store_set(&f->ctx, st, SK, "d1", 2, SEC(60)),
                     OAUTH2_OK);
    expect_get(f, st, SK, "d1");
    expect_get(f, st, SK, "d1"); /* a hit */
    /* hung (no FIN): hits for at most OAUTH2_RCACHE_LIVE */
    kill(srv_pid, SIGSTOP);
    ms_sleep(apr_time_as_msec(OAUTH2_RCACHE_LIVE) + 300);
    assert_int_equal(stats(st).live, 0);
    assert_int_equal(oauth2_store_get(&f->ctx, st, SK, &v, NULL),
                     OAUTH2_UNAVAILABLE);
    kill(srv_pid, SIGCONT);
    f->ctx.now += SEC(2); /* past the store's reconnect backoff */
    assert_true(wait_live(st, 1));
    expect_get(f, st, SK, "d1");
    expect_get(f, st, SK, "d1");
    /* killed: the very next read goes to Redis and fails */
    server_kill();
    assert_int_equal(oauth2_store_get(&f->ctx, st, SK, &v, NULL),
                     OAUTH2_UNAVAILABLE);
    assert_int_equal(server_start(), 0);
    f->ctx.now += SEC(4);
    expect_get(f, st, SK, NULL); /* a fresh server: no persistence */
}

/* ---- sessions branch: SET NX PX and hash indexes ---------------------- */

static void add_and_index(void **state)
{
    th_fixture_t *f = *state;
    oauth2_store_opts_t o = {0};
    oauth2_store_t *st;
    apr_array_header_t *a = NULL;
    char member[16];
    int added = -1, i;

    o.prefix = "ix:";
    st = mk(f, NULL, PASS, 0, &o);
    assert_int_equal(
        oauth2_store_add(&f->ctx, st, "nx", "a", 1, SEC(10), &added),
        OAUTH2_OK);
    assert_int_equal(added, 1);
    assert_in_range(pttl("ix:nx"), 9000, 10000);
    assert_int_equal(
        oauth2_store_add(&f->ctx, st, "nx", "b", 1, SEC(10), &added),
        OAUTH2_OK);
    assert_int_equal(added, 0);
    assert_int_equal(oauth2_store_idx_list(&f->ctx, st, "h", 10, &a),
                     OAUTH2_OK);
    assert_int_equal(a->nelts, 0); /* missing index: empty */
    for (i = 0; i < 150; i++) {    /* beyond one HSCAN page, hashtable */
        snprintf(member, sizeof(member), "m%d", i);
        assert_int_equal(oauth2_store_idx_add(&f->ctx, st, "h", member,
                                              "meta\0x", 6, SEC(20)),
                         OAUTH2_OK);
    }
    assert_in_range(pttl("ix:h"), 19000, 20000);
    assert_int_equal(oauth2_store_idx_list(&f->ctx, st, "h", 1000, &a),
                     OAUTH2_OK);
    assert_int_equal(a->nelts, 150);
    assert_int_equal(APR_ARRAY_IDX(a, 0, oauth2_store_member_t).meta_len, 6);
    assert_memory_equal(APR_ARRAY_IDX(a, 0, oauth2_store_member_t).meta,
                        "meta\0x", 6);
    assert_int_equal(oauth2_store_idx_list(&f->ctx, st, "h", 7, &a), OAUTH2_OK);
    assert_int_equal(a->nelts, 7);
    assert_int_equal(oauth2_store_idx_del(&f->ctx, st, "h", "m3"), OAUTH2_OK);
    assert_int_equal(oauth2_store_idx_del(&f->ctx, st, "h", "m3"),
                     OAUTH2_NOT_FOUND);
    assert_int_equal(oauth2_store_idx_list(&f->ctx, st, "h", 1000, &a),
                     OAUTH2_OK);
    assert_int_equal(a->nelts, 149);
    /* A key of the wrong type is an unexpected reply, not a crash. */
    assert_int_equal(oauth2_store_idx_list(&f->ctx, st, "nx", 10, &a),
                     OAUTH2_UNAVAILABLE);
    assert_true(strstr(f->ctx.err.text, "WRONGTYPE") != NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(get_set_ttl_del_touch, th_setup,
                                        th_teardown),
        cmocka_unit_test_setup_teardown(binary_keys_are_safe, th_setup,
                                        th_teardown),
        cmocka_unit_test_setup_teardown(auth_required_good_and_bad, th_setup,
                                        th_teardown),
        cmocka_unit_test_setup_teardown(select_db_and_prefix, th_setup,
                                        th_teardown),
        cmocka_unit_test_setup_teardown(reply_over_cap, th_setup, th_teardown),
        cmocka_unit_test_setup_teardown(stopped_server_times_out, th_setup,
                                        th_teardown),
        cmocka_unit_test_setup_teardown(add_and_index, th_setup, th_teardown),
        cmocka_unit_test_setup_teardown(cache_hits_and_follows_other_writers,
                                        th_setup, th_teardown),
        cmocka_unit_test_setup_teardown(other_writers_converge_every_time,
                                        th_setup, th_teardown),
        cmocka_unit_test_setup_teardown(
            another_server_than_the_listener_means_no_hits, th_setup,
            th_teardown),
        cmocka_unit_test_setup_teardown(
            dead_or_silent_server_is_never_answered_from_cache, th_setup,
            th_teardown),
        cmocka_unit_test_setup_teardown(killed_then_restarted_with_backoff,
                                        th_setup, th_teardown),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
