/*
 * store_redis.c - the "redis" store on hiredis 0.14 (synchronous API).
 *
 * Owns a per-process pool of redisContexts: a mutex-protected stack of idle
 * connections; a call checks one out, runs one command with
 * redisCommandArgv (binary-safe; keys are never formatted into a command
 * string) and checks it back in only if c->err == 0, else frees it. A
 * connection is opened with redisConnectWithTimeout, then redisSetTimeout
 * (command timeout), AUTH [user] password and SELECT db.
 *
 * Failure policy: after a failed connect (or a failed command on a fresh
 * connection) the server counts as down; no new connection is attempted
 * before ctx->now reaches retry_at, calls fail fast with UNAVAILABLE
 * meanwhile, and the interval doubles from backoff_min up to backoff_max.
 * The first caller after the interval claims the one attempt. A failure on
 * a reused (pooled) connection drops every idle one and retries once on a
 * fresh connection, since a restart leaves the whole pool stale; every
 * command we send is idempotent.
 *
 * Never logs passwords, values or keys. hiredis 0.14 has no hard reply
 * limit (reader->maxbuf only bounds the idle buffer), so the value cap is
 * enforced on each reply's len; the Redis server is trusted not to stream
 * gigabytes. hiredis writes with write(2): the embedder must ignore
 * SIGPIPE (httpd does).
 */
#include <string.h>

#include <apr_strings.h>
#include <apr_thread_mutex.h>
#include <hiredis/hiredis.h>

#include "oauth2/log.h"
#include "oauth2/store.h"

typedef struct redis_t {
    apr_thread_mutex_t *mu;
    const char *host;
    int port;
    const char *username;
    const char *password;
    int db;
    oauth2_store_opts_t opts;
    redisContext **idle;
    int nidle;
    apr_time_t retry_at;         /* no connect attempt before this */
    apr_interval_time_t backoff; /* 0: healthy */
} redis_t;

/* ---- connections ------------------------------------------------------ */

static struct timeval tv(apr_interval_time_t t)
{
    struct timeval v;

    v.tv_sec = (long)(t / APR_USEC_PER_SEC);
    v.tv_usec = (long)(t % APR_USEC_PER_SEC);
    return v;
}

/* One handshake command that must answer +OK; 0 with ctx->err if not. */
static int expect_ok(oauth2_ctx_t *ctx, redisContext *c, int argc,
                     const char **argv)
{
    size_t lens[3];
    redisReply *rep;
    int i, ok;

    for (i = 0; i < argc; i++)
        lens[i] = strlen(argv[i]);
    rep = redisCommandArgv(c, argc, argv, lens);
    ok = rep != NULL && c->err == 0 && rep->type == REDIS_REPLY_STATUS &&
         strcmp(rep->str, "OK") == 0;
    if (!ok && (rep == NULL || c->err))
        oauth2_err_set(ctx, "redis: %s failed: %s", argv[0], c->errstr);
    else if (!ok && rep->type == REDIS_REPLY_ERROR)
        oauth2_err_set(ctx, "redis: %s failed: %s", argv[0],
                       oauth2_log_escape(ctx->pool, rep->str, rep->len));
    else if (!ok)
        oauth2_err_set(ctx, "redis: %s failed: unexpected reply", argv[0]);
    if (rep != NULL)
        freeReplyObject(rep);
    return ok;
}

/* AUTH [user] password, then SELECT db; 0 with ctx->err on failure. */
static int handshake(oauth2_ctx_t *ctx, redis_t *r, redisContext *c)
{
    const char *argv[3];
    int argc = 0;

    if (r->password != NULL) {
        argv[argc++] = "AUTH";
        if (r->username != NULL)
            argv[argc++] = r->username;
        argv[argc++] = r->password;
        if (!expect_ok(ctx, c, argc, argv))
            return 0;
    }
    if (r->db != 0) {
        argv[0] = "SELECT";
        argv[1] = apr_itoa(ctx->pool, r->db);
        if (!expect_ok(ctx, c, 2, argv))
            return 0;
    }
    return 1;
}

static redisContext *connect_one(oauth2_ctx_t *ctx, redis_t *r)
{
    redisContext *c =
        redisConnectWithTimeout(r->host, r->port, tv(r->opts.connect_timeout));

    if (c == NULL || c->err) {
        oauth2_err_set(ctx, "redis: connect to %s:%d failed: %s", r->host,
                       r->port, c ? c->errstr : "out of memory");
        goto fail;
    }
    if (redisSetTimeout(c, tv(r->opts.command_timeout)) != REDIS_OK) {
        oauth2_err_set(ctx, "redis: cannot set the command timeout");
        goto fail;
    }
    c->reader->maxbuf = r->opts.max_value + 4096;
    if (!handshake(ctx, r, c))
        goto fail;
    return c;
fail:
    if (c != NULL)
        redisFree(c);
    return NULL;
}

static void mark_down(oauth2_ctx_t *ctx, redis_t *r)
{
    apr_interval_time_t b;

    apr_thread_mutex_lock(r->mu);
    b = r->backoff == 0 ? r->opts.backoff_min : r->backoff * 2;
    if (b > r->opts.backoff_max)
        b = r->opts.backoff_max;
    r->backoff = b;
    r->retry_at = ctx->now + b;
    apr_thread_mutex_unlock(r->mu);
    oauth2_log_warn(ctx, OAUTH2_LOGNO(00440) "%s; next attempt in %ld ms",
                    ctx->err.text, (long)(b / 1000));
}

static void mark_up(oauth2_ctx_t *ctx, redis_t *r)
{
    int was_down;

    apr_thread_mutex_lock(r->mu);
    was_down = r->backoff != 0;
    r->backoff = 0;
    apr_thread_mutex_unlock(r->mu);
    if (was_down)
        oauth2_log_notice(ctx,
                          OAUTH2_LOGNO(00441) "redis: %s:%d reachable "
                                              "again",
                          r->host, r->port);
}

/* An idle connection, or a new one if the backoff allows it. */
static oauth2_status_t checkout(oauth2_ctx_t *ctx, redis_t *r, redisContext **c,
                                int *reused)
{
    apr_interval_time_t wait = 0;

    apr_thread_mutex_lock(r->mu);
    if (r->nidle > 0) {
        *c = r->idle[--r->nidle];
        apr_thread_mutex_unlock(r->mu);
        *reused = 1;
        return OAUTH2_OK;
    }
    if (r->backoff != 0 && ctx->now < r->retry_at)
        wait = r->retry_at - ctx->now;
    else if (r->backoff != 0)
        r->retry_at = ctx->now + r->backoff; /* we claim this attempt */
    apr_thread_mutex_unlock(r->mu);
    *reused = 0;
    if (wait > 0) {
        oauth2_err_set(ctx,
                       "redis: %s:%d down, next connect attempt in %ld "
                       "ms",
                       r->host, r->port, (long)(wait / 1000));
        oauth2_log_debug(ctx, OAUTH2_LOGNO(00442) "%s", ctx->err.text);
        return OAUTH2_UNAVAILABLE;
    }
    if ((*c = connect_one(ctx, r)) == NULL) {
        mark_down(ctx, r);
        return OAUTH2_UNAVAILABLE;
    }
    mark_up(ctx, r);
    return OAUTH2_OK;
}

static void checkin(redis_t *r, redisContext *c)
{
    apr_thread_mutex_lock(r->mu);
    if (c->err == 0 && r->nidle < r->opts.max_idle) {
        r->idle[r->nidle++] = c;
        c = NULL;
    }
    apr_thread_mutex_unlock(r->mu);
    if (c != NULL)
        redisFree(c);
}

static void drain(redis_t *r)
{
    redisContext *c;

    for (;;) {
        apr_thread_mutex_lock(r->mu);
        c = r->nidle > 0 ? r->idle[--r->nidle] : NULL;
        apr_thread_mutex_unlock(r->mu);
        if (c == NULL)
            return;
        redisFree(c);
    }
}

static apr_status_t redis_cleanup(void *data)
{
    drain(data);
    return APR_SUCCESS;
}

/*
 * Run one command. OK with a reply the caller frees (never NULL);
 * UNAVAILABLE when no connection could run it.
 */
static oauth2_status_t run(oauth2_ctx_t *ctx, redis_t *r, int argc,
                           const char **argv, const size_t *lens,
                           redisReply **out)
{
    redisContext *c;
    redisReply *rep;
    oauth2_status_t st;
    int attempt, reused;

    for (attempt = 0; attempt < 2; attempt++) {
        if ((st = checkout(ctx, r, &c, &reused)) != OAUTH2_OK)
            return st;
        rep = redisCommandArgv(c, argc, argv, lens);
        if (rep != NULL && c->err == 0) {
            checkin(r, c);
            *out = rep;
            return OAUTH2_OK;
        }
        oauth2_err_set(ctx, "redis: %s on %s:%d failed: %s", argv[0], r->host,
                       r->port, c->err ? c->errstr : "no reply");
        if (rep != NULL)
            freeReplyObject(rep);
        redisFree(c);
        if (!reused)
            break;
        /* A stale pooled connection: the others are likely stale too. */
        oauth2_log_info(ctx,
                        OAUTH2_LOGNO(00443) "%s; retrying on a new "
                                            "connection",
                        ctx->err.text);
        drain(r);
    }
    mark_down(ctx, r);
    return OAUTH2_UNAVAILABLE;
}

/* ---- commands -------------------------------------------------------- */

static const char *full_key(oauth2_ctx_t *ctx, redis_t *r, const char *key)
{
    return *r->opts.prefix ? apr_pstrcat(ctx->pool, r->opts.prefix, key, NULL)
                           : key;
}

/* An error reply or a reply of the wrong type: UNAVAILABLE, logged. */
static oauth2_status_t unexpected(oauth2_ctx_t *ctx, const char *cmd,
                                  const redisReply *rep)
{
    if (rep->type == REDIS_REPLY_ERROR)
        oauth2_err_set(ctx, "redis: %s: error reply %s", cmd,
                       oauth2_log_escape(ctx->pool, rep->str, rep->len));
    else
        oauth2_err_set(ctx, "redis: %s: unexpected reply type %d", cmd,
                       rep->type);
    oauth2_log_warn(ctx, OAUTH2_LOGNO(00444) "%s", ctx->err.text);
    return OAUTH2_UNAVAILABLE;
}

static oauth2_status_t redis_get(oauth2_ctx_t *ctx, oauth2_store_t *st,
                                 const char *key, char **val, size_t *len)
{
    redis_t *r = st->data;
    const char *argv[2] = {"GET", full_key(ctx, r, key)};
    size_t lens[2] = {3, strlen(argv[1])};
    redisReply *rep = NULL;
    oauth2_status_t s = run(ctx, r, 2, argv, lens, &rep);

    if (s != OAUTH2_OK)
        return s;
    if (rep->type == REDIS_REPLY_NIL) {
        s = OAUTH2_NOT_FOUND;
    }
    else if (rep->type != REDIS_REPLY_STRING) {
        s = unexpected(ctx, "GET", rep);
    }
    else if (rep->len > r->opts.max_value) {
        oauth2_err_set(ctx,
                       "redis: GET: reply of %lu bytes over the %lu "
                       "byte cap",
                       (unsigned long)rep->len,
                       (unsigned long)r->opts.max_value);
        oauth2_log_warn(ctx, OAUTH2_LOGNO(00445) "%s", ctx->err.text);
        s = OAUTH2_UNAVAILABLE;
    }
    else {
        *val = apr_pstrmemdup(ctx->pool, rep->str, rep->len);
        *len = rep->len;
    }
    freeReplyObject(rep);
    return s;
}

static const char *ms_str(oauth2_ctx_t *ctx, apr_interval_time_t t)
{
    return apr_psprintf(ctx->pool, "%" APR_INT64_T_FMT,
                        (apr_int64_t)((t + 999) / 1000));
}

static oauth2_status_t redis_set(oauth2_ctx_t *ctx, oauth2_store_t *st,
                                 const char *key, const void *val, size_t len,
                                 apr_interval_time_t ttl)
{
    redis_t *r = st->data;
    const char *argv[5] = {"SET", full_key(ctx, r, key), val, "PX",
                           ms_str(ctx, ttl)};
    size_t lens[5] = {3, strlen(argv[1]), len, 2, strlen(argv[4])};
    redisReply *rep = NULL;
    oauth2_status_t s;

    if (len > r->opts.max_value) {
        oauth2_err_set(ctx, "redis: value of %lu bytes over the %lu byte cap",
                       (unsigned long)len, (unsigned long)r->opts.max_value);
        return OAUTH2_DENIED;
    }
    if ((s = run(ctx, r, 5, argv, lens, &rep)) != OAUTH2_OK)
        return s;
    if (rep->type != REDIS_REPLY_STATUS || strcmp(rep->str, "OK") != 0)
        s = unexpected(ctx, "SET", rep);
    freeReplyObject(rep);
    return s;
}

/* DEL and PEXPIRE: integer 1 = OK, 0 = NOT_FOUND. */
static oauth2_status_t int_cmd(oauth2_ctx_t *ctx, redis_t *r, int argc,
                               const char **argv)
{
    size_t lens[3];
    redisReply *rep = NULL;
    oauth2_status_t s;
    int i;

    for (i = 0; i < argc; i++)
        lens[i] = strlen(argv[i]);
    if ((s = run(ctx, r, argc, argv, lens, &rep)) != OAUTH2_OK)
        return s;
    if (rep->type != REDIS_REPLY_INTEGER)
        s = unexpected(ctx, argv[0], rep);
    else
        s = rep->integer > 0 ? OAUTH2_OK : OAUTH2_NOT_FOUND;
    freeReplyObject(rep);
    return s;
}

static oauth2_status_t redis_del(oauth2_ctx_t *ctx, oauth2_store_t *st,
                                 const char *key)
{
    const char *argv[2] = {"DEL", full_key(ctx, st->data, key)};

    return int_cmd(ctx, st->data, 2, argv);
}

static oauth2_status_t redis_touch(oauth2_ctx_t *ctx, oauth2_store_t *st,
                                   const char *key, apr_interval_time_t ttl)
{
    const char *argv[3] = {"PEXPIRE", full_key(ctx, st->data, key),
                           ms_str(ctx, ttl)};

    return int_cmd(ctx, st->data, 3, argv);
}

/* ---- creation -------------------------------------------------------- */

static void defaults(oauth2_store_opts_t *o)
{
    if (o->prefix == NULL)
        o->prefix = "";
    if (o->connect_timeout <= 0)
        o->connect_timeout = apr_time_from_sec(1);
    if (o->command_timeout <= 0)
        o->command_timeout = apr_time_from_sec(1);
    if (o->max_value == 0)
        o->max_value = 256 * 1024;
    if (o->max_idle <= 0)
        o->max_idle = 16;
    if (o->backoff_min <= 0)
        o->backoff_min = apr_time_from_sec(1);
    if (o->backoff_max < o->backoff_min)
        o->backoff_max = o->backoff_min > apr_time_from_sec(30)
                             ? o->backoff_min
                             : apr_time_from_sec(30);
}

static void redis_index_ops(oauth2_store_t *st); /* sessions branch */

oauth2_status_t oauth2_store_redis_create(oauth2_ctx_t *ctx, apr_pool_t *p,
                                          const oauth2_store_url_t *url,
                                          const oauth2_store_opts_t *opts,
                                          oauth2_store_t **out)
{
    redis_t *r = apr_pcalloc(p, sizeof(*r));
    oauth2_store_t *st = apr_pcalloc(p, sizeof(*st));
    const oauth2_host_port_t *hp;

    if (url == NULL || url->hosts == NULL || url->hosts->nelts < 1) {
        oauth2_err_set(ctx, "store: redis URL without a host");
        return OAUTH2_ERROR;
    }
    if (url->db < 0 || url->db > 15) {
        oauth2_err_set(ctx, "store: redis db %d out of 0..15", url->db);
        return OAUTH2_ERROR;
    }
    hp = &APR_ARRAY_IDX(url->hosts, 0, oauth2_host_port_t);
    r->host = apr_pstrdup(p, hp->host);
    r->port = hp->port;
    r->username = url->username ? apr_pstrdup(p, url->username) : NULL;
    r->password = url->password ? apr_pstrdup(p, url->password) : NULL;
    r->db = url->db;
    if (opts != NULL)
        r->opts = *opts;
    defaults(&r->opts);
    r->opts.prefix = apr_pstrdup(p, r->opts.prefix);
    r->idle = apr_pcalloc(p, sizeof(redisContext *) * (size_t)r->opts.max_idle);
    if (apr_thread_mutex_create(&r->mu, APR_THREAD_MUTEX_DEFAULT, p) !=
        APR_SUCCESS) {
        oauth2_err_set(ctx, "store: cannot create the redis mutex");
        return OAUTH2_ERROR;
    }
    apr_pool_cleanup_register(p, r, redis_cleanup, apr_pool_cleanup_null);
    st->name = "redis";
    st->get = redis_get;
    st->set = redis_set;
    st->del = redis_del;
    st->touch = redis_touch;
    redis_index_ops(st);
    st->data = r;
    *out = st;
    return OAUTH2_OK;
}

/* ---- sessions branch: set-if-absent and small indexes ------------------
 * Every command names one key and goes through run()/int_cmd(), so
 * whatever routing those do applies. SET NX is the one non-idempotent
 * command: a retry after a lost reply reports "exists", which callers treat
 * as "held by someone else" (safe). An index is a hash (HSET + PEXPIRE,
 * HSCAN bounded, HDEL).
 */

static oauth2_status_t redis_add(oauth2_ctx_t *ctx, oauth2_store_t *st,
                                 const char *key, const void *val, size_t len,
                                 apr_interval_time_t ttl, int *added)
{
    redis_t *r = st->data;
    const char *argv[6] = {"SET", full_key(ctx, r, key), val, "NX",
                           "PX",  ms_str(ctx, ttl)};
    size_t lens[6] = {3, strlen(argv[1]), len, 2, 2, strlen(argv[5])};
    redisReply *rep = NULL;
    oauth2_status_t s;

    if (len > r->opts.max_value) {
        oauth2_err_set(ctx, "redis: value of %lu bytes over the %lu byte cap",
                       (unsigned long)len, (unsigned long)r->opts.max_value);
        return OAUTH2_DENIED;
    }
    if ((s = run(ctx, r, 6, argv, lens, &rep)) != OAUTH2_OK)
        return s;
    if (rep->type == REDIS_REPLY_NIL)
        *added = 0;
    else if (rep->type == REDIS_REPLY_STATUS && strcmp(rep->str, "OK") == 0)
        *added = 1;
    else
        s = unexpected(ctx, "SET NX", rep);
    freeReplyObject(rep);
    return s;
}

static oauth2_status_t redis_idx_add(oauth2_ctx_t *ctx, oauth2_store_t *st,
                                     const char *idx, const char *member,
                                     const char *meta, size_t len,
                                     apr_interval_time_t ttl)
{
    redis_t *r = st->data;
    const char *k = full_key(ctx, r, idx);
    const char *argv[4] = {"HSET", k, member, meta};
    size_t lens[4] = {4, strlen(k), strlen(member), len};
    const char *ex[3] = {"PEXPIRE", k, ms_str(ctx, ttl)};
    redisReply *rep = NULL;
    oauth2_status_t s;

    if (len > r->opts.max_value) {
        oauth2_err_set(ctx, "redis: index metadata over the value cap");
        return OAUTH2_DENIED;
    }
    if ((s = run(ctx, r, 4, argv, lens, &rep)) != OAUTH2_OK)
        return s;
    if (rep->type != REDIS_REPLY_INTEGER)
        s = unexpected(ctx, "HSET", rep);
    freeReplyObject(rep);
    if (s != OAUTH2_OK)
        return s;
    s = int_cmd(ctx, r, 3, ex);
    return s == OAUTH2_NOT_FOUND ? OAUTH2_OK : s; /* raced with a delete */
}

/* Append the field/value pairs of one HSCAN page to `a`, up to `max`. */
static oauth2_status_t hscan_page(oauth2_ctx_t *ctx, redis_t *r,
                                  const redisReply *page, apr_array_header_t *a,
                                  int max)
{
    size_t i;

    if (page->type != REDIS_REPLY_ARRAY || page->elements % 2 != 0)
        return unexpected(ctx, "HSCAN", page);
    for (i = 0; i + 1 < page->elements && a->nelts < max; i += 2) {
        const redisReply *f = page->element[i], *v = page->element[i + 1];
        oauth2_store_member_t *e;
        if (f->type != REDIS_REPLY_STRING || v->type != REDIS_REPLY_STRING)
            return unexpected(ctx, "HSCAN", f);
        if (v->len > r->opts.max_value || f->len > 1024)
            continue; /* not ours: skip rather than copy */
        e = apr_array_push(a);
        e->member = apr_pstrmemdup(ctx->pool, f->str, f->len);
        e->meta = apr_pstrmemdup(ctx->pool, v->str, v->len);
        e->meta_len = v->len;
    }
    return OAUTH2_OK;
}

static oauth2_status_t redis_idx_list(oauth2_ctx_t *ctx, oauth2_store_t *st,
                                      const char *idx, int max,
                                      apr_array_header_t **out)
{
    redis_t *r = st->data;
    const char *k = full_key(ctx, r, idx);
    const char *argv[5] = {"HSCAN", k, "0", "COUNT", "100"};
    size_t lens[5] = {5, strlen(k), 1, 5, 3};
    apr_array_header_t *a =
        apr_array_make(ctx->pool, 4, sizeof(oauth2_store_member_t));
    redisReply *rep = NULL;
    oauth2_status_t s = OAUTH2_OK;
    int pages = 0;

    do {
        if ((s = run(ctx, r, 5, argv, lens, &rep)) != OAUTH2_OK)
            return s;
        if (rep->type != REDIS_REPLY_ARRAY || rep->elements != 2 ||
            rep->element[0]->type != REDIS_REPLY_STRING)
            s = unexpected(ctx, "HSCAN", rep);
        else
            s = hscan_page(ctx, r, rep->element[1], a, max);
        if (s == OAUTH2_OK) {
            argv[2] = apr_pstrmemdup(ctx->pool, rep->element[0]->str,
                                     rep->element[0]->len);
            lens[2] = rep->element[0]->len;
        }
        freeReplyObject(rep);
        rep = NULL;
    } while (s == OAUTH2_OK && strcmp(argv[2], "0") != 0 && a->nelts < max &&
             ++pages < OAUTH2_STORE_IDX_MAX);
    if (s == OAUTH2_OK)
        *out = a;
    return s;
}

static oauth2_status_t redis_idx_del(oauth2_ctx_t *ctx, oauth2_store_t *st,
                                     const char *idx, const char *member)
{
    const char *argv[3] = {"HDEL", full_key(ctx, st->data, idx), member};

    return int_cmd(ctx, st->data, 3, argv);
}

static void redis_index_ops(oauth2_store_t *st)
{
    st->add = redis_add;
    st->idx_add = redis_idx_add;
    st->idx_list = redis_idx_list;
    st->idx_del = redis_idx_del;
}
