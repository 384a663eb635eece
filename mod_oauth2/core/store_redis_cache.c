/*
 * store_redis_cache.c - the invalidation-tracked read cache of store_redis.c.
 *
 * A session page read its record from Redis on every request; the round
 * trip (two syscalls, two context switches and Redis's own CPU on the same
 * cores) cost more than everything else the module does (performance.md).
 * Redis 6+ can say when a key changes: a listener connection asks for
 * "CLIENT TRACKING ON REDIRECT <own id> BCAST PREFIX <prefix>" and
 * subscribes to __redis__:invalidate, so every write, delete or expiry of a
 * key under the prefix, from any node, arrives here as a message; an empty
 * message means the database was flushed.
 *
 * Safety rules, in order:
 *  - the cache answers only while the listener is subscribed and has heard
 *    from Redis (a message or a PING reply) within OAUTH2_RCACHE_LIVE; a
 *    dead, silent or reconnecting listener empties it, so a Redis that is
 *    away fails requests exactly as without the cache, at the latest after
 *    LIVE on a silent network partition;
 *  - a GET reply is kept only if no invalidation arrived since before the
 *    GET was sent (epoch): a write that races the reply is never hidden;
 *  - anything unread on the listener's socket (a message the listener has
 *    yet to apply, or the server's FIN) stops hits at once (quiet()), and
 *    so do messages it has read but not yet applied (busy);
 *  - the listener and the pooled connections must be on the same server
 *    (INFO run_id), else a DNS name or proxy could split them;
 *  - time is CLOCK_MONOTONIC: a wall clock stepped back cannot stretch
 *    the liveness window;
 *  - this process's own writes drop the key before and after they run.
 * What remains is the travel time of Redis's message to this host
 * (sub-millisecond on a LAN): a logout on another node takes effect here
 * that much later. cache=0 turns all of this off.
 *
 * Entries are malloc'd (they outlive requests) in `slots` direct-mapped
 * slots, newest wins; values over MAX_CACHED bytes are not kept, nor any
 * beyond BUDGET bytes in all. The listener blocks every signal (httpd's
 * handlers belong to its own threads) and its sockets are close-on-exec.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <apr_hash.h>
#include <apr_strings.h>

#include "oauth2/log.h"
#include "store_redis_cache.h"

#define MAX_CACHED (64 * 1024)
#define BUDGET ((size_t)32 * 1024 * 1024) /* bytes of values per store */
#define BACKOFF_MIN apr_time_from_msec(250)
#define BACKOFF_MAX apr_time_from_sec(5)
#define REFUSED_RETRY apr_time_from_sec(300)

typedef struct entry_t {
    char *key; /* NULL: empty */
    char *val;
    size_t len;
} entry_t;

struct oauth2_rcache_t {
    pthread_mutex_t mu; /* guards everything below but the constants */
    entry_t *slots;
    apr_uint64_t epoch; /* bumped by every invalidation and flush */
    int live;           /* subscribed */
    int fd;             /* the listener's socket while live, else -1 */
    unsigned fdgen;     /* bumped whenever fd changes (before a close) */
    int busy;           /* the listener holds read, unapplied messages */
    apr_time_t seen;    /* last reply from Redis on the listener (mono()) */
    size_t bytes;       /* of cached values, at most BUDGET */
    char listen_id[OAUTH2_RCACHE_ID_LEN]; /* run_id the listener is on */
    char data_id[OAUTH2_RCACHE_ID_LEN];   /* run_id of the latest pooled
                                           * connection */
    int stop;
    oauth2_rcache_stats_t st;
    /* constants after create */
    int nslots;
    char *prefix;
    size_t plen;
    oauth2_log_t log;
    int has_log;
    oauth2_rcache_dial_fn dial;
    void *baton;
    int wake[2]; /* a byte on wake[1] ends the listener's wait */
    pthread_t thread;
};

/* Monotonic microseconds: a wall clock stepped back would keep a silent
 * listener "live" for as long as the step. */
static apr_time_t mono(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (apr_time_t)ts.tv_sec * APR_USEC_PER_SEC + ts.tv_nsec / 1000;
}

/* The slot of a key of klen bytes (APR's string hash). */
static unsigned slot_index(const oauth2_rcache_t *c, const char *key,
                           size_t klen)
{
    apr_ssize_t n = (apr_ssize_t)klen;

    return apr_hashfunc_default(key, &n) % (unsigned)c->nslots;
}

static void clear_entry(entry_t *e)
{
    free(e->key);
    free(e->val);
    memset(e, 0, sizeof(*e));
}

/* With c->mu held. */
static void evict(oauth2_rcache_t *c, entry_t *e)
{
    c->bytes -= e->len;
    clear_entry(e);
}

/* With c->mu held. */
static void flush_locked(oauth2_rcache_t *c)
{
    int i;

    for (i = 0; i < c->nslots; i++)
        if (c->slots[i].key != NULL)
            evict(c, &c->slots[i]);
    c->epoch++;
    c->st.flushes++;
}

/* With c->mu held. */
static void drop_locked(oauth2_rcache_t *c, const char *key, size_t len)
{
    entry_t *e = &c->slots[slot_index(c, key, len)];

    c->epoch++;
    c->st.invalidations++;
    if (e->key != NULL && strlen(e->key) == len &&
        memcmp(e->key, key, len) == 0)
        evict(c, e);
}

int oauth2_rcache_covers(const oauth2_rcache_t *c, const char *key)
{
    return c != NULL && strncmp(key, c->prefix, c->plen) == 0;
}

/*
 * Nothing unread on the listener's socket: no invalidation has arrived
 * that the listener has yet to apply, and Redis has not closed the
 * connection (a stopped or restarted server is seen here at once, not at
 * the listener's next turn). One non-blocking syscall; the caller holds
 * c->mu or checks fdgen after, so a closed and reused fd never counts.
 */
static int quiet(int fd)
{
    char b;

    return recv(fd, &b, 1, MSG_PEEK | MSG_DONTWAIT) < 0 &&
           (errno == EAGAIN || errno == EWOULDBLOCK);
}

/*
 * May a request use the cache now? With c->mu held. The listener must be
 * subscribed, recently heard from, not holding messages it has read but
 * not applied, on the very server the requests talk to (run_id: a DNS name
 * or proxy could send the two elsewhere), and have nothing unread.
 * usable_state() is all of it but the socket peek.
 */
static int usable_state(const oauth2_rcache_t *c)
{
    return c->live && !c->busy && mono() - c->seen < OAUTH2_RCACHE_LIVE &&
           c->listen_id[0] != '\0' && strcmp(c->listen_id, c->data_id) == 0;
}

static int usable(oauth2_rcache_t *c)
{
    return usable_state(c) && quiet(c->fd);
}

int oauth2_rcache_get(oauth2_rcache_t *c, apr_pool_t *p, const char *key,
                      char **val, size_t *len)
{
    entry_t *e;
    unsigned gen = 0;
    int hit = 0, fd = -1;

    /* the peek is a syscall: not under the lock every request takes. An fd
     * closed and reused meanwhile shows as a changed fdgen below. */
    pthread_mutex_lock(&c->mu);
    if (usable_state(c)) {
        fd = c->fd;
        gen = c->fdgen;
    }
    pthread_mutex_unlock(&c->mu);
    if (fd >= 0 && !quiet(fd))
        fd = -1;
    pthread_mutex_lock(&c->mu);
    if (fd >= 0 && c->fdgen == gen && usable_state(c)) {
        e = &c->slots[slot_index(c, key, strlen(key))];
        if (e->key != NULL && strcmp(e->key, key) == 0) {
            *val = apr_pstrmemdup(p, e->val, e->len);
            *len = e->len;
            hit = 1;
        }
    }
    if (hit)
        c->st.hits++;
    else
        c->st.misses++;
    pthread_mutex_unlock(&c->mu);
    return hit;
}

apr_uint64_t oauth2_rcache_epoch(oauth2_rcache_t *c)
{
    apr_uint64_t e;

    pthread_mutex_lock(&c->mu);
    e = c->epoch;
    pthread_mutex_unlock(&c->mu);
    return e;
}

void oauth2_rcache_put(oauth2_rcache_t *c, const char *key, const char *val,
                       size_t len, apr_uint64_t epoch)
{
    entry_t n = {NULL, NULL, 0}, old;
    entry_t *e;

    if (len > MAX_CACHED)
        return;
    n.key = strdup(key);
    n.val = malloc(len ? len : 1);
    if (n.key == NULL || n.val == NULL) {
        clear_entry(&n);
        return;
    }
    memcpy(n.val, val, len);
    n.len = len;
    pthread_mutex_lock(&c->mu);
    e = &c->slots[slot_index(c, key, strlen(key))];
    if (!usable(c) || c->epoch != epoch || c->bytes - e->len + len > BUDGET) {
        pthread_mutex_unlock(&c->mu);
        clear_entry(&n);
        return;
    }
    old = *e;
    c->bytes += len - old.len;
    *e = n;
    pthread_mutex_unlock(&c->mu);
    clear_entry(&old);
}

void oauth2_rcache_drop(oauth2_rcache_t *c, const char *key)
{
    pthread_mutex_lock(&c->mu);
    drop_locked(c, key, strlen(key));
    pthread_mutex_unlock(&c->mu);
}

void oauth2_rcache_stats(oauth2_rcache_t *c, oauth2_rcache_stats_t *out)
{
    pthread_mutex_lock(&c->mu);
    *out = c->st;
    out->live = usable(c);
    out->bytes = c->bytes;
    pthread_mutex_unlock(&c->mu);
}

void oauth2_rcache_data_id(oauth2_rcache_t *c, const char *run_id)
{
    pthread_mutex_lock(&c->mu);
    if (strcmp(c->data_id, run_id ? run_id : "") != 0) {
        flush_locked(c); /* the requests moved: nothing cached holds */
        snprintf(c->data_id, sizeof(c->data_id), "%s", run_id ? run_id : "");
    }
    pthread_mutex_unlock(&c->mu);
}

/* ---- the listener ------------------------------------------------------ */

static int stopping(oauth2_rcache_t *c)
{
    int s;

    pthread_mutex_lock(&c->mu);
    s = c->stop;
    pthread_mutex_unlock(&c->mu);
    return s;
}

/* Wait up to t or until woken; 1 if the cache is stopping. */
static int nap(oauth2_rcache_t *c, apr_interval_time_t t)
{
    struct pollfd w = {c->wake[0], POLLIN, 0};

    (void)poll(&w, 1, (int)(t / 1000));
    return stopping(c);
}

/* rc NULL: not live. Before rc is freed, so quiet() never sees a stale fd. */
static void set_live(oauth2_rcache_t *c, const redisContext *rc,
                     const char *run_id)
{
    pthread_mutex_lock(&c->mu);
    flush_locked(c); /* messages were or will be missed either way */
    c->live = rc != NULL;
    c->fd = rc != NULL ? rc->fd : -1;
    c->fdgen++;
    c->busy = 0;
    c->seen = mono();
    snprintf(c->listen_id, sizeof(c->listen_id), "%s",
             rc != NULL && run_id ? run_id : "");
    pthread_mutex_unlock(&c->mu);
}

static void set_busy(oauth2_rcache_t *c, int busy)
{
    pthread_mutex_lock(&c->mu);
    c->busy = busy;
    pthread_mutex_unlock(&c->mu);
}

/* One reply that must be of `type`; 0 with ctx->err otherwise. */
static int expect(oauth2_ctx_t *ctx, redisContext *rc, redisReply *rep,
                  int type, const char *what)
{
    if (rep == NULL || rc->err) {
        oauth2_err_set(ctx, "%s failed: %s", what,
                       rc->err ? rc->errstr : "no reply");
    }
    else if (rep->type != type) {
        oauth2_err_set(ctx, "%s refused: %s", what,
                       rep->type == REDIS_REPLY_ERROR
                           ? oauth2_log_escape(ctx->pool, rep->str, rep->len)
                           : "unexpected reply");
    }
    else
        return 1;
    return 0;
}

/* CLIENT ID, tracking redirected to ourselves, SUBSCRIBE; 0 + ctx->err. */
static int subscribe(oauth2_ctx_t *ctx, oauth2_rcache_t *c, redisContext *rc)
{
    redisReply *rep;

    /* not inherited by CGI scripts: a reader there would eat messages */
    (void)fcntl(rc->fd, F_SETFD, FD_CLOEXEC);
    rep = redisCommand(rc, "CLIENT ID");
    long long id;
    int ok;

    if (!expect(ctx, rc, rep, REDIS_REPLY_INTEGER, "CLIENT ID")) {
        if (rep != NULL)
            freeReplyObject(rep);
        return 0;
    }
    id = rep->integer;
    freeReplyObject(rep);
    rep = redisCommand(rc, "CLIENT TRACKING on REDIRECT %lld BCAST PREFIX %s",
                       id, c->prefix);
    ok = expect(ctx, rc, rep, REDIS_REPLY_STATUS, "CLIENT TRACKING");
    if (rep != NULL)
        freeReplyObject(rep);
    if (!ok)
        return 0;
    rep = redisCommand(rc, "SUBSCRIBE __redis__:invalidate");
    ok = expect(ctx, rc, rep, REDIS_REPLY_ARRAY, "SUBSCRIBE");
    if (rep != NULL)
        freeReplyObject(rep);
    return ok;
}

/* A message of the subscription: keys to drop, or nil for a flush. */
static void handle(oauth2_rcache_t *c, const redisReply *rep)
{
    const redisReply *keys;
    size_t i;

    pthread_mutex_lock(&c->mu);
    c->seen = mono();
    if (rep->type == REDIS_REPLY_ARRAY && rep->elements == 3 &&
        rep->element[0]->type == REDIS_REPLY_STRING &&
        strcmp(rep->element[0]->str, "message") == 0) {
        keys = rep->element[2];
        if (keys->type == REDIS_REPLY_ARRAY) {
            for (i = 0; i < keys->elements; i++)
                if (keys->element[i]->type == REDIS_REPLY_STRING)
                    drop_locked(c, keys->element[i]->str,
                                keys->element[i]->len);
        }
        else
            flush_locked(c); /* nil: FLUSHDB/FLUSHALL */
    }
    pthread_mutex_unlock(&c->mu);
}

/* Read and ping until the connection fails or the cache stops. */
static void serve(oauth2_ctx_t *ctx, oauth2_rcache_t *c, redisContext *rc)
{
    apr_time_t pinged = 0;
    void *rep;
    int done;

    for (;;) {
        struct pollfd fds[2] = {{rc->fd, POLLIN, 0}, {c->wake[0], POLLIN, 0}};
        apr_time_t now;

        if (poll(fds, 2, (int)(OAUTH2_RCACHE_PING / 1000)) < 0 &&
            errno != EINTR) {
            oauth2_err_set(ctx, "poll: %s", strerror(errno));
            return;
        }
        if (stopping(c))
            return;
        if (fds[0].revents != 0) {
            /* read but unapplied messages: no hits until applied */
            set_busy(c, 1);
            if (redisBufferRead(rc) != REDIS_OK) {
                oauth2_err_set(ctx, "%s", rc->errstr);
                return; /* set_live(NULL) follows */
            }
            for (;;) {
                rep = NULL;
                if (redisGetReplyFromReader(rc, &rep) != REDIS_OK) {
                    oauth2_err_set(ctx, "%s", rc->errstr);
                    return;
                }
                if (rep == NULL)
                    break;
                handle(c, rep);
                freeReplyObject(rep);
            }
            set_busy(c, 0);
        }
        now = mono();
        pthread_mutex_lock(&c->mu);
        done =
            now - c->seen >= OAUTH2_RCACHE_LIVE ? 1
            : (c->data_id[0] != '\0' && strcmp(c->listen_id, c->data_id) != 0)
                ? 2
                : 0;
        pthread_mutex_unlock(&c->mu);
        if (done) {
            if (done == 1)
                oauth2_err_set(ctx, "no answer for %ld ms",
                               (long)(OAUTH2_RCACHE_LIVE / 1000));
            else
                oauth2_err_set(ctx, "requests reach another Redis server "
                                    "(run_id) than the listener");
            return;
        }
        if (now - pinged >= OAUTH2_RCACHE_PING) {
            pinged = now;
            done = 0;
            if (redisAppendCommand(rc, "PING") != REDIS_OK)
                return;
            while (!done)
                if (redisBufferWrite(rc, &done) != REDIS_OK) {
                    oauth2_err_set(ctx, "%s", rc->errstr);
                    return;
                }
        }
    }
}

static void *listen_main(void *arg)
{
    oauth2_rcache_t *c = arg;
    apr_interval_time_t backoff = 0;
    char run_id[OAUTH2_RCACHE_ID_LEN];
    int warned = 0;

    while (!stopping(c)) {
        apr_pool_t *tp = NULL;
        oauth2_ctx_t ctx;
        redisContext *rc;

        if (apr_pool_create_unmanaged_ex(&tp, NULL, NULL) != APR_SUCCESS) {
            if (nap(c, BACKOFF_MAX))
                break;
            continue;
        }
        oauth2_ctx_init(&ctx, tp, c->has_log ? &c->log : NULL, apr_time_now());
        /* a failed connect is silent: the requests report Redis down */
        if ((rc = c->dial(&ctx, c->baton, run_id)) != NULL) {
            if (subscribe(&ctx, c, rc)) {
                backoff = 0;
                set_live(c, rc, run_id);
                oauth2_log_info(&ctx,
                                OAUTH2_LOGNO(00481) "redis: invalidations "
                                                    "for %s subscribed; "
                                                    "read cache on",
                                c->prefix);
                serve(&ctx, c, rc);
                set_live(c, NULL, NULL);
                if (!stopping(c))
                    oauth2_log_notice(&ctx,
                                      OAUTH2_LOGNO(00482) "redis: "
                                                          "invalidation "
                                                          "listener: %s; "
                                                          "read cache off "
                                                          "until it is back",
                                      ctx.err.text);
            }
            else if (!rc->err) {             /* refused, not unreachable */
                backoff = REFUSED_RETRY / 2; /* doubled below */
                if (!warned++)
                    oauth2_log_warn(
                        &ctx,
                        OAUTH2_LOGNO(00484) "redis: cannot subscribe "
                                            "to invalidations (%s); "
                                            "read cache off (it "
                                            "needs Redis 6 or later "
                                            "and, for an ACL user, "
                                            "the channel "
                                            "__redis__:invalidate)",
                        ctx.err.text);
            }
            redisFree(rc);
        }
        apr_pool_destroy(tp);
        if (backoff < REFUSED_RETRY / 2) {
            backoff = backoff == 0 ? BACKOFF_MIN : backoff * 2;
            if (backoff > BACKOFF_MAX)
                backoff = BACKOFF_MAX;
        }
        else
            backoff = REFUSED_RETRY;
        if (nap(c, backoff))
            break;
    }
    return NULL;
}

static apr_status_t rcache_cleanup(void *data)
{
    oauth2_rcache_t *c = data;
    char b = 1;

    pthread_mutex_lock(&c->mu);
    c->stop = 1;
    pthread_mutex_unlock(&c->mu);
    if (write(c->wake[1], &b, 1) < 0) {
        /* the listener still sees stop within one ping interval */
    }
    pthread_join(c->thread, NULL);
    pthread_mutex_lock(&c->mu);
    c->live = 0;
    flush_locked(c);
    pthread_mutex_unlock(&c->mu);
    free(c->slots);
    close(c->wake[0]);
    close(c->wake[1]);
    pthread_mutex_destroy(&c->mu);
    return APR_SUCCESS;
}

oauth2_rcache_t *oauth2_rcache_create(apr_pool_t *p, int slots,
                                      const char *prefix,
                                      const oauth2_log_t *log,
                                      oauth2_rcache_dial_fn dial, void *baton)
{
    oauth2_rcache_t *c = apr_pcalloc(p, sizeof(*c));
    sigset_t all, old;
    int ok;

    if (slots < 1)
        return NULL;
    c->nslots = slots;
    c->fd = -1;
    c->prefix = apr_pstrdup(p, prefix);
    c->plen = strlen(prefix);
    if (log != NULL) {
        c->log = *log;
        c->has_log = 1;
    }
    c->dial = dial;
    c->baton = baton;
    if ((c->slots = calloc((size_t)slots, sizeof(entry_t))) == NULL)
        return NULL;
    if (pipe2(c->wake, O_CLOEXEC) != 0) {
        free(c->slots);
        return NULL;
    }
    /* No signal for the listener: httpd's handlers (prefork's just_die
     * destroys the child pool) must run on its own threads. */
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old);
    ok = pthread_mutex_init(&c->mu, NULL) == 0 &&
         pthread_create(&c->thread, NULL, listen_main, c) == 0;
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (!ok) {
        free(c->slots);
        close(c->wake[0]);
        close(c->wake[1]);
        return NULL;
    }
    apr_pool_cleanup_register(p, c, rcache_cleanup, apr_pool_cleanup_null);
    return c;
}
