/*
 * store_redis_cache.h - a per-process read cache in front of Redis GET,
 * kept true by Redis itself: one connection per store subscribes to
 * invalidation messages (CLIENT TRACKING ... BCAST PREFIX, RESP2 redirect to
 * itself), and the cache answers only while that connection is alive and
 * heard from within OAUTH2_RCACHE_LIVE. Internal to store_redis.c.
 */
#ifndef OAUTH2_STORE_REDIS_CACHE_H
#define OAUTH2_STORE_REDIS_CACHE_H

#include <apr_pools.h>
#include <hiredis/hiredis.h>

#include "oauth2/oauth2.h"

/* The listener pings this often; no answer for LIVE and the cache is off. */
#define OAUTH2_RCACHE_PING apr_time_from_msec(200)
#define OAUTH2_RCACHE_LIVE apr_time_from_msec(1000)

typedef struct oauth2_rcache_t oauth2_rcache_t;

/* A Redis run_id (40 hex) and its NUL. */
#define OAUTH2_RCACHE_ID_LEN 41

/* A new connection that passed AUTH/SELECT, or NULL with ctx->err set;
 * run_id gets the server's INFO run_id ("" when it gives none). */
typedef redisContext *(*oauth2_rcache_dial_fn)(oauth2_ctx_t *ctx, void *baton,
                                               char run_id[]);

/*
 * `slots` entries (direct-mapped by key hash) for keys beginning with
 * `prefix` (the full Redis key prefix); the listener thread starts here and
 * stops in p's cleanup. Log lines go to `log` (copied; may be NULL). NULL
 * when the thread or mutex cannot be created (no cache then).
 */
oauth2_rcache_t *oauth2_rcache_create(apr_pool_t *p, int slots,
                                      const char *prefix,
                                      const oauth2_log_t *log,
                                      oauth2_rcache_dial_fn dial, void *baton);

/* Does the cache hold keys like this one at all? */
int oauth2_rcache_covers(const oauth2_rcache_t *c, const char *key);

/* 1 with a copy of the value in p, 0 on a miss or while not live. */
int oauth2_rcache_get(oauth2_rcache_t *c, apr_pool_t *p, const char *key,
                      char **val, size_t *len);

/* Take before the GET; put() keeps the value only if nothing was
 * invalidated in between (a write may have raced the reply). */
apr_uint64_t oauth2_rcache_epoch(oauth2_rcache_t *c);
void oauth2_rcache_put(oauth2_rcache_t *c, const char *key, const char *val,
                       size_t len, apr_uint64_t epoch);

/* Forget key now (this process is about to write it). */
void oauth2_rcache_drop(oauth2_rcache_t *c, const char *key);

/* The server (INFO run_id) that requests reach, taken from each new pooled
 * connection: hits and fills only while it is the listener's server. */
void oauth2_rcache_data_id(oauth2_rcache_t *c, const char *run_id);

typedef struct oauth2_rcache_stats_t {
    unsigned long hits, misses, invalidations, flushes;
    size_t bytes;
    int live; /* a request could be answered from the cache now */
} oauth2_rcache_stats_t;

void oauth2_rcache_stats(oauth2_rcache_t *c, oauth2_rcache_stats_t *out);

/* The cache of a redis store, or NULL (none, or another kind of store). */
struct oauth2_store_t;
oauth2_rcache_t *oauth2_store_redis_rcache(const struct oauth2_store_t *st);

#endif /* OAUTH2_STORE_REDIS_CACHE_H */
