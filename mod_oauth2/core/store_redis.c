/*
 * store_redis.c - the "redis" store on hiredis 0.14 (synchronous API), for
 * redis://, redis+sentinel:// and redis+cluster:// URLs.
 *
 * Owns per-process pools of redisContexts, one per Redis node (a node is a
 * host:port; the node table is bounded and lives as long as the store): a
 * mutex-protected stack of idle connections per node; a call checks one
 * out, runs one command with redisCommandArgv (binary-safe; keys are never
 * formatted into a command string) and checks it back in only if
 * c->err == 0, else frees it. A connection is opened with
 * redisConnectWithTimeout, then redisSetTimeout (command timeout), AUTH
 * [user] password and SELECT db; for redis+sentinel also ROLE, which must
 * say "master".
 *
 * Routing happens in run(), the one internal entry point every command goes
 * through, so commands added later are routed too. INVARIANT: every command
 * touches exactly one key, and that key is argv[1]; cluster routing hashes
 * argv[1] (a multi-key command would need its keys in one {hash tag}).
 *   redis://          the one node of the URL.
 *   redis+sentinel:// the master the sentinels name (SENTINEL
 *                     get-master-addr-by-name), asked at first use and again
 *                     (at most every TOPO_EVERY) after a connection failure
 *                     or a -READONLY reply, then the command is retried once.
 *                     Connections are tagged by node: one checked in after
 *                     the master moved is closed, and the old pool drained.
 *   redis+cluster://  the node serving CRC16(key) (store_redis_slot.c) in a
 *                     slot map loaded with CLUSTER SLOTS at first use;
 *                     -MOVED updates the slot and reloads the map (rate
 *                     limited); -ASK sends ASKING + the command to the
 *                     target once without touching the map; at most
 *                     MAX_REDIRECTS hops; a connection failure reloads the
 *                     map and retries once (a replica may have taken over).
 *
 * Failure policy, per node: after a failed connect (or a failed command on
 * a fresh connection) the node counts as down; no new connection to it is
 * attempted before ctx->now reaches retry_at, calls fail fast with
 * UNAVAILABLE meanwhile, and the interval doubles from backoff_min up to
 * backoff_max. The first caller after the interval claims the one attempt.
 * A failure on a reused (pooled) connection drops every idle one of that
 * node and retries once on a fresh connection, since a restart leaves the
 * whole pool stale; every command we send is idempotent. Connect and command
 * timeouts apply to every connection, sentinels included.
 *
 * redis:// with cache_slots > 0: GETs of session keys go through the
 * invalidation-tracked read cache of store_redis_cache.c first; every
 * write drops its key from it.
 *
 * Never logs passwords, values or keys. hiredis 0.14 has no hard reply
 * limit (reader->maxbuf only bounds the idle buffer), so the value cap is
 * enforced on each reply's len; the Redis server is trusted not to stream
 * gigabytes. hiredis writes with write(2): the embedder must ignore
 * SIGPIPE (httpd does).
 */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>

#include <apr_lib.h>
#include <apr_strings.h>
#include <apr_thread_mutex.h>
#include <hiredis/hiredis.h>

#include "oauth2/log.h"
#include "oauth2/store.h"
#include "store_redis_cache.h"

#define MAX_NODES 64
#define MAX_REDIRECTS 5
/* Sentinel re-discovery and cluster map reloads: at most this often. */
#define TOPO_EVERY apr_time_from_msec(250)

/* One Redis server and its idle connections. */
typedef struct node_t {
    char host[256];
    int port;
    redisContext **idle;
    int nidle;
    apr_time_t retry_at;         /* no connect attempt before this */
    apr_interval_time_t backoff; /* 0: healthy */
} node_t;

typedef struct redis_t {
    apr_thread_mutex_t *mu; /* guards everything below but opts */
    oauth2_store_kind_t kind;
    const char *username;
    const char *password;
    int db;
    oauth2_store_opts_t opts;
    node_t *nodes[MAX_NODES]; /* all allocated at creation: no runtime
                                 allocation from a shared pool */
    int nnodes;               /* in use */
    node_t *master; /* redis, sentinel: where commands go (NULL: unknown) */
    apr_array_header_t *seeds; /* sentinels, or cluster start nodes */
    const char *master_name;
    const char *sentinel_username;
    const char *sentinel_password;
    int good_seed;          /* the sentinel that answered last */
    apr_time_t topo_at;     /* no re-discovery / map reload before this */
    short *slots;           /* cluster: node index per slot, -1 unknown */
    oauth2_rcache_t *cache; /* redis:// with cache_slots; else NULL */
} redis_t;

/* A checked-out connection and the node it belongs to. */
typedef struct conn_t {
    redisContext *c;
    node_t *n;
    int reused;
} conn_t;

/* ---- nodes and connections -------------------------------------------- */

static struct timeval tv(apr_interval_time_t t)
{
    struct timeval v;

    v.tv_sec = (long)(t / APR_USEC_PER_SEC);
    v.tv_usec = (long)(t % APR_USEC_PER_SEC);
    return v;
}

/*
 * The node for host:port, taken from the preallocated table on first
 * sight; NULL with ctx->err when the table is full. Call with r->mu held.
 */
static node_t *node_get(oauth2_ctx_t *ctx, redis_t *r, const char *host,
                        int port)
{
    node_t *n;
    int i;

    for (i = 0; i < r->nnodes; i++)
        if (r->nodes[i]->port == port && strcmp(r->nodes[i]->host, host) == 0)
            return r->nodes[i];
    if (r->nnodes == MAX_NODES || strlen(host) >= sizeof(n->host)) {
        oauth2_err_set(ctx, "redis: more than %d nodes", MAX_NODES);
        return NULL;
    }
    n = r->nodes[r->nnodes++];
    strcpy(n->host, host);
    n->port = port;
    return n;
}

static int node_index(redis_t *r, const node_t *n)
{
    int i;

    for (i = 0; i < r->nnodes; i++)
        if (r->nodes[i] == n)
            return i;
    return -1;
}

/* One command on a bare connection; the reply or NULL (ctx->err set). */
static redisReply *bare_cmd(oauth2_ctx_t *ctx, redisContext *c, int argc,
                            const char **argv)
{
    size_t lens[4];
    redisReply *rep;
    int i;

    for (i = 0; i < argc; i++)
        lens[i] = strlen(argv[i]);
    rep = redisCommandArgv(c, argc, argv, lens);
    if (rep == NULL || c->err) {
        oauth2_err_set(ctx, "redis: %s failed: %s", argv[0],
                       c->err ? c->errstr : "no reply");
        if (rep != NULL)
            freeReplyObject(rep);
        return NULL;
    }
    return rep;
}

/* One handshake command that must answer +OK; 0 with ctx->err if not. */
static int expect_ok(oauth2_ctx_t *ctx, redisContext *c, int argc,
                     const char **argv)
{
    redisReply *rep = bare_cmd(ctx, c, argc, argv);
    int ok;

    if (rep == NULL)
        return 0;
    ok = rep->type == REDIS_REPLY_STATUS && strcmp(rep->str, "OK") == 0;
    if (!ok && rep->type == REDIS_REPLY_ERROR)
        oauth2_err_set(ctx, "redis: %s failed: %s", argv[0],
                       oauth2_log_escape(ctx->pool, rep->str, rep->len));
    else if (!ok)
        oauth2_err_set(ctx, "redis: %s failed: unexpected reply", argv[0]);
    freeReplyObject(rep);
    return ok;
}

static int auth(oauth2_ctx_t *ctx, redisContext *c, const char *user,
                const char *password)
{
    const char *argv[3];
    int argc = 0;

    if (password == NULL)
        return 1;
    argv[argc++] = "AUTH";
    if (user != NULL)
        argv[argc++] = user;
    argv[argc++] = password;
    return expect_ok(ctx, c, argc, argv);
}

/* ROLE must begin with "master": a demoted master is not written to. */
static int is_master(oauth2_ctx_t *ctx, redisContext *c, const node_t *n)
{
    const char *argv[1] = {"ROLE"};
    redisReply *rep = bare_cmd(ctx, c, 1, argv);
    int ok;

    if (rep == NULL)
        return 0;
    ok = rep->type == REDIS_REPLY_ARRAY && rep->elements > 0 &&
         rep->element[0]->type == REDIS_REPLY_STRING &&
         strcmp(rep->element[0]->str, "master") == 0;
    if (!ok)
        oauth2_err_set(ctx, "redis: %s:%d is not a master", n->host, n->port);
    freeReplyObject(rep);
    return ok;
}

/* AUTH [user] password, SELECT db, ROLE; 0 with ctx->err on failure. */
static int handshake(oauth2_ctx_t *ctx, redis_t *r, redisContext *c,
                     const node_t *n)
{
    const char *argv[2];

    if (!auth(ctx, c, r->username, r->password))
        return 0;
    if (r->db != 0) {
        argv[0] = "SELECT";
        argv[1] = apr_itoa(ctx->pool, r->db);
        if (!expect_ok(ctx, c, 2, argv))
            return 0;
    }
    return r->kind != OAUTH2_STORE_SENTINEL || is_master(ctx, c, n);
}

/* A connection with both timeouts and the reader cap, or NULL + ctx->err. */
static redisContext *dial(oauth2_ctx_t *ctx, redis_t *r, const char *host,
                          int port)
{
    redisContext *c =
        redisConnectWithTimeout(host, port, tv(r->opts.connect_timeout));

    if (c == NULL || c->err) {
        oauth2_err_set(ctx, "redis: connect to %s:%d failed: %s", host, port,
                       c ? c->errstr : "out of memory");
        goto fail;
    }
    if (redisSetTimeout(c, tv(r->opts.command_timeout)) != REDIS_OK) {
        oauth2_err_set(ctx, "redis: cannot set the command timeout");
        goto fail;
    }
    c->reader->maxbuf = r->opts.max_value + 4096;
    /* never inherited by CGI scripts and other children */
    (void)fcntl(c->fd, F_SETFD, FD_CLOEXEC);
    return c;
fail:
    if (c != NULL)
        redisFree(c);
    return NULL;
}

static redisContext *connect_one(oauth2_ctx_t *ctx, redis_t *r, node_t *n)
{
    redisContext *c = dial(ctx, r, n->host, n->port);

    if (c != NULL && !handshake(ctx, r, c, n)) {
        redisFree(c);
        c = NULL;
    }
    return c;
}

/* INFO server's run_id into id ("" if none): which server this is. */
static void server_id(redisContext *c, char id[OAUTH2_RCACHE_ID_LEN])
{
    redisReply *rep = redisCommand(c, "INFO server");
    const char *p;
    size_t n = 0;

    id[0] = '\0';
    if (rep != NULL && rep->type == REDIS_REPLY_STRING &&
        (p = strstr(rep->str, "run_id:")) != NULL) {
        p += 7;
        while (n < OAUTH2_RCACHE_ID_LEN - 1 && apr_isxdigit(p[n]))
            n++;
        memcpy(id, p, n);
        id[n] = '\0';
    }
    if (rep != NULL)
        freeReplyObject(rep);
}

static void mark_down(oauth2_ctx_t *ctx, redis_t *r, node_t *n)
{
    apr_interval_time_t b;

    apr_thread_mutex_lock(r->mu);
    b = n->backoff == 0 ? r->opts.backoff_min : n->backoff * 2;
    if (b > r->opts.backoff_max)
        b = r->opts.backoff_max;
    n->backoff = b;
    n->retry_at = ctx->now + b;
    apr_thread_mutex_unlock(r->mu);
    oauth2_log_warn(ctx, OAUTH2_LOGNO(00440) "%s; next attempt in %ld ms",
                    ctx->err.text, (long)(b / 1000));
}

static void mark_up(oauth2_ctx_t *ctx, redis_t *r, node_t *n)
{
    int was_down;

    apr_thread_mutex_lock(r->mu);
    was_down = n->backoff != 0;
    n->backoff = 0;
    apr_thread_mutex_unlock(r->mu);
    if (was_down)
        oauth2_log_notice(ctx,
                          OAUTH2_LOGNO(00441) "redis: %s:%d reachable "
                                              "again",
                          n->host, n->port);
}

/* An idle connection to n, or a new one if its backoff allows it. */
static oauth2_status_t checkout(oauth2_ctx_t *ctx, redis_t *r, node_t *n,
                                conn_t *k)
{
    apr_interval_time_t wait = 0;

    k->n = n;
    apr_thread_mutex_lock(r->mu);
    if (n->nidle > 0) {
        k->c = n->idle[--n->nidle];
        apr_thread_mutex_unlock(r->mu);
        k->reused = 1;
        return OAUTH2_OK;
    }
    if (n->backoff != 0 && ctx->now < n->retry_at)
        wait = n->retry_at - ctx->now;
    else if (n->backoff != 0)
        n->retry_at = ctx->now + n->backoff; /* we claim this attempt */
    apr_thread_mutex_unlock(r->mu);
    k->reused = 0;
    if (wait > 0) {
        oauth2_err_set(ctx,
                       "redis: %s:%d down, next connect attempt in %ld "
                       "ms",
                       n->host, n->port, (long)(wait / 1000));
        oauth2_log_debug(ctx, OAUTH2_LOGNO(00442) "%s", ctx->err.text);
        return OAUTH2_UNAVAILABLE;
    }
    if ((k->c = connect_one(ctx, r, n)) == NULL) {
        mark_down(ctx, r, n);
        return OAUTH2_UNAVAILABLE;
    }
    mark_up(ctx, r, n);
    if (r->cache != NULL) { /* which server do requests reach now? */
        char id[OAUTH2_RCACHE_ID_LEN];

        server_id(k->c, id);
        oauth2_rcache_data_id(r->cache, id);
    }
    return OAUTH2_OK;
}

/* Back to the pool when healthy, room left and (sentinel) still master. */
static void checkin(redis_t *r, conn_t *k)
{
    redisContext *c = k->c;

    apr_thread_mutex_lock(r->mu);
    if (c->err == 0 && k->n->nidle < r->opts.max_idle &&
        (r->kind != OAUTH2_STORE_SENTINEL || k->n == r->master)) {
        k->n->idle[k->n->nidle++] = c;
        c = NULL;
    }
    apr_thread_mutex_unlock(r->mu);
    if (c != NULL)
        redisFree(c);
    k->c = NULL;
}

static void drain_node(redis_t *r, node_t *n)
{
    redisContext *c;

    for (;;) {
        apr_thread_mutex_lock(r->mu);
        c = n->nidle > 0 ? n->idle[--n->nidle] : NULL;
        apr_thread_mutex_unlock(r->mu);
        if (c == NULL)
            return;
        redisFree(c);
    }
}

static apr_status_t redis_cleanup(void *data)
{
    redis_t *r = data;
    int i;

    for (i = 0; i < r->nnodes; i++)
        drain_node(r, r->nodes[i]);
    return APR_SUCCESS;
}

/* "ASKING" then the command, on one connection; NULL reply on failure. */
static redisReply *send_cmd(redisContext *c, int asking, int argc,
                            const char **argv, const size_t *lens)
{
    if (asking) {
        const char *a[1] = {"ASKING"};
        size_t al[1] = {6};
        redisReply *rep = redisCommandArgv(c, 1, a, al);
        int ok = rep != NULL && c->err == 0 && rep->type == REDIS_REPLY_STATUS;
        if (rep != NULL)
            freeReplyObject(rep);
        if (!ok)
            return NULL;
    }
    return redisCommandArgv(c, argc, argv, lens);
}

/*
 * Run one command on node n. OK with a reply the caller frees (never NULL,
 * possibly an error reply); UNAVAILABLE when no connection could run it.
 */
static oauth2_status_t exec_on(oauth2_ctx_t *ctx, redis_t *r, node_t *n,
                               int asking, int argc, const char **argv,
                               const size_t *lens, redisReply **out)
{
    redisReply *rep;
    oauth2_status_t st;
    conn_t k;
    int attempt;

    for (attempt = 0; attempt < 2; attempt++) {
        if ((st = checkout(ctx, r, n, &k)) != OAUTH2_OK)
            return st;
        rep = send_cmd(k.c, asking, argc, argv, lens);
        if (rep != NULL && k.c->err == 0) {
            checkin(r, &k);
            *out = rep;
            return OAUTH2_OK;
        }
        oauth2_err_set(ctx, "redis: %s on %s:%d failed: %s", argv[0], n->host,
                       n->port, k.c->err ? k.c->errstr : "no reply");
        if (rep != NULL)
            freeReplyObject(rep);
        redisFree(k.c);
        if (!k.reused)
            break;
        /* A stale pooled connection: the others are likely stale too. */
        oauth2_log_info(ctx,
                        OAUTH2_LOGNO(00443) "%s; retrying on a new "
                                            "connection",
                        ctx->err.text);
        drain_node(r, n);
    }
    mark_down(ctx, r, n);
    return OAUTH2_UNAVAILABLE;
}

/* ---- topology: sentinel and cluster ------------------------------------ */

/* 1 if this caller may re-ask the topology now (and claims it). */
static int topo_claim(oauth2_ctx_t *ctx, redis_t *r)
{
    int ok;

    apr_thread_mutex_lock(r->mu);
    ok = ctx->now >= r->topo_at;
    if (ok)
        r->topo_at = ctx->now + TOPO_EVERY;
    apr_thread_mutex_unlock(r->mu);
    return ok;
}

/* "host" + "port" strings of a reply into a bounded host and a port. */
static int addr_of(const redisReply *h, long long port, char *host,
                   size_t hostsz, int *out)
{
    if (h->type != REDIS_REPLY_STRING || h->len >= hostsz || port < 1 ||
        port > 65535 || memchr(h->str, '\0', h->len) != NULL)
        return 0;
    memcpy(host, h->str, h->len);
    host[h->len] = '\0';
    *out = (int)port;
    return 1;
}

/* Ask one sentinel where the master is: 1 and host/port, or 0 + ctx->err. */
static int sentinel_ask(oauth2_ctx_t *ctx, redis_t *r,
                        const oauth2_host_port_t *s, char *host, size_t hostsz,
                        int *port)
{
    const char *argv[3] = {"SENTINEL", "get-master-addr-by-name",
                           r->master_name};
    redisContext *c = dial(ctx, r, s->host, s->port);
    redisReply *rep = NULL;
    int ok = 0;

    if (c == NULL ||
        !auth(ctx, c, r->sentinel_username, r->sentinel_password) ||
        (rep = bare_cmd(ctx, c, 3, argv)) == NULL)
        goto end;
    ok = rep->type == REDIS_REPLY_ARRAY && rep->elements == 2 &&
         rep->element[1]->type == REDIS_REPLY_STRING &&
         addr_of(rep->element[0], strtoll(rep->element[1]->str, NULL, 10), host,
                 hostsz, port);
    if (!ok)
        oauth2_err_set(ctx, "sentinel %s:%d does not know master %s", s->host,
                       s->port, r->master_name);
end:
    if (rep != NULL)
        freeReplyObject(rep);
    if (c != NULL)
        redisFree(c);
    return ok;
}

/* Point r->master at what the sentinels say; drain the old pool. */
static oauth2_status_t sentinel_discover(oauth2_ctx_t *ctx, redis_t *r)
{
    const oauth2_host_port_t *s;
    node_t *n = NULL, *old;
    char host[256];
    int i, port, idx, first;

    apr_thread_mutex_lock(r->mu);
    first = r->good_seed;
    apr_thread_mutex_unlock(r->mu);
    for (i = 0; i < r->seeds->nelts && n == NULL; i++) {
        idx = (first + i) % r->seeds->nelts;
        s = &APR_ARRAY_IDX(r->seeds, idx, oauth2_host_port_t);
        if (!sentinel_ask(ctx, r, s, host, sizeof(host), &port)) {
            oauth2_log_debug(ctx, OAUTH2_LOGNO(00452) "%s", ctx->err.text);
            continue;
        }
        apr_thread_mutex_lock(r->mu);
        if ((n = node_get(ctx, r, host, port)) != NULL) {
            old = r->master;
            r->master = n;
            r->good_seed = idx;
        }
        apr_thread_mutex_unlock(r->mu);
        if (n == NULL)
            break;
        if (old != n) {
            oauth2_log_notice(ctx,
                              OAUTH2_LOGNO(00450) "redis+sentinel: master "
                                                  "%s is %s:%d",
                              r->master_name, host, port);
            if (old != NULL)
                drain_node(r, old);
        }
    }
    if (n != NULL)
        return OAUTH2_OK;
    oauth2_err_set(ctx, "redis+sentinel: no sentinel could name master %s",
                   r->master_name);
    oauth2_log_warn(ctx, OAUTH2_LOGNO(00451) "%s", ctx->err.text);
    return OAUTH2_UNAVAILABLE;
}

/* Apply one CLUSTER SLOTS range [start, end, [host, port, ...], ...]. */
static int slot_range(oauth2_ctx_t *ctx, redis_t *r, const redisReply *e,
                      const node_t *from, short *map)
{
    const redisReply *m;
    char host[256];
    node_t *n;
    long long a, b, i;
    int port;

    if (e->type != REDIS_REPLY_ARRAY || e->elements < 3 ||
        e->element[0]->type != REDIS_REPLY_INTEGER ||
        e->element[1]->type != REDIS_REPLY_INTEGER)
        return 0;
    a = e->element[0]->integer;
    b = e->element[1]->integer;
    m = e->element[2];
    if (a < 0 || b < a || b >= OAUTH2_STORE_REDIS_SLOTS ||
        m->type != REDIS_REPLY_ARRAY || m->elements < 2 ||
        m->element[1]->type != REDIS_REPLY_INTEGER ||
        !addr_of(m->element[0], m->element[1]->integer, host, sizeof(host),
                 &port))
        return 0;
    /* "" or "?": the endpoint is the node we asked. */
    n = node_get(ctx, r, host[0] && strcmp(host, "?") ? host : from->host,
                 port);
    if (n == NULL)
        return 0;
    for (i = a; i <= b; i++)
        map[i] = (short)node_index(r, n);
    return 1;
}

/* Load the slot map from the reply of n; 1 on success. */
static int slots_apply(oauth2_ctx_t *ctx, redis_t *r, const redisReply *rep,
                       const node_t *from)
{
    short *map =
        apr_palloc(ctx->pool, sizeof(short) * OAUTH2_STORE_REDIS_SLOTS);
    size_t i;
    int ok = rep->type == REDIS_REPLY_ARRAY && rep->elements > 0 &&
             rep->elements <= OAUTH2_STORE_REDIS_SLOTS;

    memset(map, 0xff, sizeof(short) * OAUTH2_STORE_REDIS_SLOTS);
    apr_thread_mutex_lock(r->mu);
    for (i = 0; ok && i < rep->elements; i++)
        ok = slot_range(ctx, r, rep->element[i], from, map);
    if (ok)
        memcpy(r->slots, map, sizeof(short) * OAUTH2_STORE_REDIS_SLOTS);
    apr_thread_mutex_unlock(r->mu);
    if (!ok)
        oauth2_err_set(ctx,
                       "redis+cluster: bad CLUSTER SLOTS reply from "
                       "%s:%d",
                       from->host, from->port);
    return ok;
}

/* CLUSTER SLOTS from the known nodes, then the URL's; first good wins. */
static oauth2_status_t cluster_refresh(oauth2_ctx_t *ctx, redis_t *r)
{
    const char *argv[2] = {"CLUSTER", "SLOTS"};
    size_t lens[2] = {7, 5};
    node_t *cand[MAX_NODES];
    char why[sizeof(ctx->err.text)];
    redisReply *rep;
    int i, nc, ok = 0;

    apr_thread_mutex_lock(r->mu);
    nc = r->nnodes; /* the URL's nodes came first, at creation */
    memcpy(cand, r->nodes, sizeof(node_t *) * (size_t)nc);
    apr_thread_mutex_unlock(r->mu);
    for (i = 0; i < nc && !ok; i++) {
        if (exec_on(ctx, r, cand[i], 0, 2, argv, lens, &rep) != OAUTH2_OK)
            continue;
        ok = slots_apply(ctx, r, rep, cand[i]);
        freeReplyObject(rep);
    }
    if (ok) {
        oauth2_log_info(ctx,
                        OAUTH2_LOGNO(00455) "redis+cluster: slot map "
                                            "loaded from %s:%d",
                        cand[i - 1]->host, cand[i - 1]->port);
        return OAUTH2_OK;
    }
    memcpy(why, ctx->err.text, sizeof(why));
    oauth2_err_set(ctx, "redis+cluster: no node gave a slot map (%.100s)", why);
    oauth2_log_warn(ctx, OAUTH2_LOGNO(00456) "%s", ctx->err.text);
    return OAUTH2_UNAVAILABLE;
}

/* Re-ask the topology (rate limited); the caller then retries once. */
static void topo_update(oauth2_ctx_t *ctx, redis_t *r)
{
    char why[sizeof(ctx->err.text)];

    if (r->kind == OAUTH2_STORE_REDIS || !topo_claim(ctx, r))
        return;
    memcpy(why, ctx->err.text, sizeof(why));
    if (r->kind == OAUTH2_STORE_SENTINEL)
        sentinel_discover(ctx, r);
    else
        cluster_refresh(ctx, r);
    /* The command's own failure stays the error of record. */
    memcpy(ctx->err.text, why, sizeof(why));
}

/* The node for a key: fixed, the sentinels' master, or the slot owner. */
static oauth2_status_t route(oauth2_ctx_t *ctx, redis_t *r, const char *key,
                             size_t len, node_t **out)
{
    unsigned slot = 0;
    int idx;

    if (r->kind != OAUTH2_STORE_CLUSTER) {
        apr_thread_mutex_lock(r->mu);
        *out = r->master;
        apr_thread_mutex_unlock(r->mu);
    }
    else {
        slot = oauth2_store_redis_slot(key, len);
        apr_thread_mutex_lock(r->mu);
        idx = r->slots[slot];
        *out = idx >= 0 ? r->nodes[idx] : NULL;
        apr_thread_mutex_unlock(r->mu);
    }
    if (*out != NULL)
        return OAUTH2_OK;
    if (!topo_claim(ctx, r)) {
        if (r->kind == OAUTH2_STORE_CLUSTER)
            oauth2_err_set(ctx, "redis+cluster: no node serves slot %u", slot);
        else
            oauth2_err_set(ctx, "redis+sentinel: master %s unknown",
                           r->master_name);
        return OAUTH2_UNAVAILABLE;
    }
    if ((r->kind == OAUTH2_STORE_CLUSTER
             ? cluster_refresh(ctx, r)
             : sentinel_discover(ctx, r)) != OAUTH2_OK)
        return OAUTH2_UNAVAILABLE;
    return route(ctx, r, key, len, out);
}

/*
 * A -MOVED or -ASK reply: 1 and *next set (the map updated for MOVED), or 0
 * when rep is anything else. Cluster only.
 */
static int redirected(oauth2_ctx_t *ctx, redis_t *r, const redisReply *rep,
                      const node_t *from, node_t **next, int *asking)
{
    oauth2_store_redirect_t rd;
    node_t *n;

    if (r->kind != OAUTH2_STORE_CLUSTER || rep->type != REDIS_REPLY_ERROR ||
        !oauth2_store_redis_redirect_parse(rep->str, rep->len, &rd))
        return 0;
    apr_thread_mutex_lock(r->mu);
    n = node_get(ctx, r, rd.host[0] ? rd.host : from->host, rd.port);
    if (n != NULL && !rd.ask)
        r->slots[rd.slot] = (short)node_index(r, n);
    apr_thread_mutex_unlock(r->mu);
    if (n == NULL)
        return 0;
    oauth2_log_debug(ctx,
                     OAUTH2_LOGNO(00457) "redis+cluster: %s slot %d to "
                                         "%s:%d",
                     rd.ask ? "ASK" : "MOVED", rd.slot, n->host, n->port);
    if (!rd.ask && topo_claim(ctx, r))
        cluster_refresh(ctx, r); /* best effort: more slots likely moved */
    *next = n;
    *asking = rd.ask;
    return 1;
}

static int is_readonly(const redis_t *r, const redisReply *rep)
{
    return r->kind == OAUTH2_STORE_SENTINEL && rep->type == REDIS_REPLY_ERROR &&
           rep->len >= 8 && memcmp(rep->str, "READONLY", 8) == 0;
}

/*
 * Run one command, routed by argv[1] (the one key). OK with a reply the
 * caller frees (never NULL; an error reply other than a redirect is
 * returned as such); UNAVAILABLE when no node could run it.
 */
static oauth2_status_t run(oauth2_ctx_t *ctx, redis_t *r, int argc,
                           const char **argv, const size_t *lens,
                           redisReply **out)
{
    node_t *n = NULL;
    redisReply *rep = NULL;
    oauth2_status_t st;
    int hop, asking = 0, healed = 0;

    for (hop = 0; hop <= MAX_REDIRECTS; hop++) {
        if (!asking && (st = route(ctx, r, argc > 1 ? argv[1] : "",
                                   argc > 1 ? lens[1] : 0, &n)) != OAUTH2_OK)
            return st;
        st = exec_on(ctx, r, n, asking, argc, argv, lens, &rep);
        asking = 0;
        if (st != OAUTH2_OK || is_readonly(r, rep)) {
            if (st == OAUTH2_OK) {
                oauth2_err_set(ctx, "redis: %s:%d is read-only", n->host,
                               n->port);
                freeReplyObject(rep);
            }
            if (r->kind == OAUTH2_STORE_REDIS || healed++)
                return OAUTH2_UNAVAILABLE;
            oauth2_log_info(ctx,
                            OAUTH2_LOGNO(00453) "%s; asking the topology "
                                                "again",
                            ctx->err.text);
            topo_update(ctx, r);
            continue;
        }
        if (!redirected(ctx, r, rep, n, &n, &asking)) {
            *out = rep;
            return OAUTH2_OK;
        }
        freeReplyObject(rep);
    }
    oauth2_err_set(ctx, "redis+cluster: %s: more than %d redirects", argv[0],
                   MAX_REDIRECTS);
    oauth2_log_warn(ctx, OAUTH2_LOGNO(00454) "%s", ctx->err.text);
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
    int cached = r->cache != NULL && oauth2_rcache_covers(r->cache, argv[1]);
    apr_uint64_t epoch = 0;
    oauth2_status_t s;

    if (cached) {
        if (oauth2_rcache_get(r->cache, ctx->pool, argv[1], val, len))
            return OAUTH2_OK;
        epoch = oauth2_rcache_epoch(r->cache);
    }
    if ((s = run(ctx, r, 2, argv, lens, &rep)) != OAUTH2_OK)
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
        if (cached)
            oauth2_rcache_put(r->cache, argv[1], rep->str, rep->len, epoch);
    }
    freeReplyObject(rep);
    return s;
}

/* Before this process writes or deletes a key: no stale read of it here. */
static void uncache(redis_t *r, const char *full)
{
    if (r->cache != NULL && oauth2_rcache_covers(r->cache, full))
        oauth2_rcache_drop(r->cache, full);
}

/* run() for a command that changes argv[1]: the read cache drops the key
 * before, and after (a GET that raced the write kept nothing). */
static oauth2_status_t run_write(oauth2_ctx_t *ctx, redis_t *r, int argc,
                                 const char **argv, const size_t *lens,
                                 redisReply **out)
{
    oauth2_status_t s;

    uncache(r, argv[1]);
    s = run(ctx, r, argc, argv, lens, out);
    uncache(r, argv[1]);
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
    if ((s = run_write(ctx, r, 5, argv, lens, &rep)) != OAUTH2_OK)
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
    if ((s = run_write(ctx, r, argc, argv, lens, &rep)) != OAUTH2_OK)
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

/* Nodes, the URL's hosts (sentinels or cluster nodes) and the slot map. */
static oauth2_status_t topology(oauth2_ctx_t *ctx, apr_pool_t *p, redis_t *r,
                                const oauth2_store_url_t *url)
{
    const oauth2_host_port_t *hp;
    int i;

    for (i = 0; i < MAX_NODES; i++) {
        r->nodes[i] = apr_pcalloc(p, sizeof(node_t));
        r->nodes[i]->idle =
            apr_pcalloc(p, sizeof(redisContext *) * (size_t)r->opts.max_idle);
    }
    r->kind = url->kind;
    r->seeds = apr_array_copy(p, url->hosts);
    for (i = 0; i < r->seeds->nelts; i++) {
        hp = &APR_ARRAY_IDX(r->seeds, i, oauth2_host_port_t);
        APR_ARRAY_IDX(r->seeds, i, oauth2_host_port_t).host =
            apr_pstrdup(p, hp->host);
        if (r->kind != OAUTH2_STORE_SENTINEL &&
            node_get(ctx, r, hp->host, hp->port) == NULL)
            return OAUTH2_ERROR;
    }
    if (r->kind == OAUTH2_STORE_REDIS)
        r->master = r->nodes[0];
    if (r->kind == OAUTH2_STORE_SENTINEL) {
        if (url->master_name == NULL) {
            oauth2_err_set(ctx, "store: redis+sentinel without a master name");
            return OAUTH2_ERROR;
        }
        r->master_name = apr_pstrdup(p, url->master_name);
        r->sentinel_username = url->sentinel_username
                                   ? apr_pstrdup(p, url->sentinel_username)
                                   : NULL;
        r->sentinel_password = url->sentinel_password
                                   ? apr_pstrdup(p, url->sentinel_password)
                                   : NULL;
    }
    if (r->kind == OAUTH2_STORE_CLUSTER) {
        r->slots = apr_palloc(p, sizeof(short) * OAUTH2_STORE_REDIS_SLOTS);
        memset(r->slots, 0xff, sizeof(short) * OAUTH2_STORE_REDIS_SLOTS);
    }
    return OAUTH2_OK;
}
static void redis_index_ops(oauth2_store_t *st); /* sessions branch */

oauth2_rcache_t *oauth2_store_redis_rcache(const oauth2_store_t *st)
{
    return st != NULL && st->get == redis_get ? ((redis_t *)st->data)->cache
                                              : NULL;
}

/* The read cache's listener connection: to the one node of redis://. */
static redisContext *cache_dial(oauth2_ctx_t *ctx, void *baton, char run_id[])
{
    redis_t *r = baton;
    redisContext *c = connect_one(ctx, r, r->nodes[0]);

    if (c != NULL)
        server_id(c, run_id);
    return c;
}

oauth2_status_t oauth2_store_redis_create(oauth2_ctx_t *ctx, apr_pool_t *p,
                                          const oauth2_store_url_t *url,
                                          const oauth2_store_opts_t *opts,
                                          oauth2_store_t **out)
{
    redis_t *r = apr_pcalloc(p, sizeof(*r));
    oauth2_store_t *st = apr_pcalloc(p, sizeof(*st));

    if (url == NULL || url->hosts == NULL || url->hosts->nelts < 1) {
        oauth2_err_set(ctx, "store: redis URL without a host");
        return OAUTH2_ERROR;
    }
    if (url->db < 0 || url->db > 15 ||
        (url->db != 0 && url->kind == OAUTH2_STORE_CLUSTER)) {
        oauth2_err_set(ctx, "store: redis db %d out of 0..15 (cluster: 0)",
                       url->db);
        return OAUTH2_ERROR;
    }
    r->username = url->username ? apr_pstrdup(p, url->username) : NULL;
    r->password = url->password ? apr_pstrdup(p, url->password) : NULL;
    r->db = url->db;
    if (opts != NULL)
        r->opts = *opts;
    defaults(&r->opts);
    r->opts.prefix = apr_pstrdup(p, r->opts.prefix);
    if (topology(ctx, p, r, url) != OAUTH2_OK)
        return OAUTH2_ERROR;
    if (apr_thread_mutex_create(&r->mu, APR_THREAD_MUTEX_DEFAULT, p) !=
        APR_SUCCESS) {
        oauth2_err_set(ctx, "store: cannot create the redis mutex");
        return OAUTH2_ERROR;
    }
    apr_pool_cleanup_register(p, r, redis_cleanup, apr_pool_cleanup_null);
    if (r->kind == OAUTH2_STORE_REDIS && r->opts.cache_slots > 0) {
        /* registered after the pool's: its cleanup (the listener's join)
         * runs first */
        r->cache = oauth2_rcache_create(
            p, r->opts.cache_slots,
            apr_pstrcat(p, r->opts.prefix, OAUTH2_STORE_CACHED_PREFIX, NULL),
            ctx->log, cache_dial, r);
        if (r->cache == NULL)
            oauth2_log_warn(ctx, OAUTH2_LOGNO(00483) "redis: no read cache "
                                                     "(cannot start its "
                                                     "listener); every read "
                                                     "goes to Redis");
    }
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
    if ((s = run_write(ctx, r, 6, argv, lens, &rep)) != OAUTH2_OK)
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
