/*
 * store.h - the shared key -> value store behind sessions (and anything
 * several nodes must agree on), as a vtable with a registry that builds a
 * backend from a parsed OAuth2SessionStore URL (cfg.h).
 *
 * Backends: "memory" (store_mem.c: one process, bounded, for tests and
 * single-process setups) and "redis" (store_redis.c: per-process pools of
 * hiredis connections), which also serves redis+sentinel:// (the master the
 * sentinels name, followed across failovers) and redis+cluster:// (slot
 * routing with MOVED/ASK; store_redis_slot.c).
 *
 * Results: OK; NOT_FOUND for a missing or expired key (a miss is not an
 * error); UNAVAILABLE when the backend is down, slow or answers nonsense
 * (never an allow); DENIED for arguments the store refuses (empty key, value
 * over the cap); ERROR for our own faults. Values are binary-safe.
 */
#ifndef OAUTH2_STORE_H
#define OAUTH2_STORE_H

#include <stddef.h>

#include <apr_tables.h>

#include "oauth2/oauth2.h"
#include "oauth2/cfg.h"

typedef struct oauth2_store_t oauth2_store_t;

struct oauth2_store_t {
    const char *name; /* "memory", "redis" */
    /* *val NUL-terminated in ctx->pool, *len without the NUL. */
    oauth2_status_t (*get)(oauth2_ctx_t *ctx, oauth2_store_t *st,
                           const char *key, char **val, size_t *len);
    /* ttl > 0 (microseconds, rounded up to milliseconds). */
    oauth2_status_t (*set)(oauth2_ctx_t *ctx, oauth2_store_t *st,
                           const char *key, const void *val, size_t len,
                           apr_interval_time_t ttl);
    /* OK, or NOT_FOUND when there was nothing to delete. */
    oauth2_status_t (*del)(oauth2_ctx_t *ctx, oauth2_store_t *st,
                           const char *key);
    /* New ttl for a live key: OK, or NOT_FOUND. */
    oauth2_status_t (*touch)(oauth2_ctx_t *ctx, oauth2_store_t *st,
                             const char *key, apr_interval_time_t ttl);
    void *data;
    /* ---- sessions branch: set-if-absent and small indexes ---- */
    /* SET NX PX: *added = 1 when stored, 0 when the key already existed. */
    oauth2_status_t (*add)(oauth2_ctx_t *ctx, oauth2_store_t *st,
                           const char *key, const void *val, size_t len,
                           apr_interval_time_t ttl, int *added);
    /* Put member -> meta into the index `idx`, whose ttl becomes `ttl`. */
    oauth2_status_t (*idx_add)(oauth2_ctx_t *ctx, oauth2_store_t *st,
                               const char *idx, const char *member,
                               const char *meta, size_t len,
                               apr_interval_time_t ttl);
    /* At most `max` entries (oauth2_store_member_t) of `idx`. */
    oauth2_status_t (*idx_list)(oauth2_ctx_t *ctx, oauth2_store_t *st,
                                const char *idx, int max,
                                apr_array_header_t **out);
    /* OK, or NOT_FOUND when the member was not there. */
    oauth2_status_t (*idx_del)(oauth2_ctx_t *ctx, oauth2_store_t *st,
                               const char *idx, const char *member);
};

typedef struct oauth2_store_opts_t {
    const char *prefix;                  /* prepended to keys; default "" */
    apr_interval_time_t connect_timeout; /* redis; default 1 s */
    apr_interval_time_t command_timeout; /* redis; default 1 s */
    size_t max_value;                    /* value/reply cap; default 256 KiB */
    int max_idle;                        /* redis pooled connections; 16 */
    apr_interval_time_t backoff_min;     /* redis reconnect; default 1 s */
    apr_interval_time_t backoff_max;     /* redis reconnect; default 30 s */
    size_t max_entries;                  /* memory; default 10000 */
    int cache_slots; /* redis://: read cache of OAUTH2_STORE_CACHED_PREFIX
                      * keys kept true by Redis invalidations; 0 = off */
} oauth2_store_opts_t;

/* The keys a redis:// read cache holds (sessions); after the store prefix. */
#define OAUTH2_STORE_CACHED_PREFIX "oauth2:session:"

/*
 * Build the backend `url` names, living as long as `p` (a per-process pool:
 * connections and mutexes are released by its cleanup). `opts` may be NULL.
 * ERROR with ctx->err for unsupported kinds or bad options.
 */
oauth2_status_t oauth2_store_create(oauth2_ctx_t *ctx, apr_pool_t *p,
                                    const oauth2_store_url_t *url,
                                    const oauth2_store_opts_t *opts,
                                    oauth2_store_t **out);

oauth2_status_t oauth2_store_mem_create(oauth2_ctx_t *ctx, apr_pool_t *p,
                                        const oauth2_store_opts_t *opts,
                                        oauth2_store_t **out);

oauth2_status_t oauth2_store_redis_create(oauth2_ctx_t *ctx, apr_pool_t *p,
                                          const oauth2_store_url_t *url,
                                          const oauth2_store_opts_t *opts,
                                          oauth2_store_t **out);

/* Convenience wrappers: argument checks, then the vtable. */
oauth2_status_t oauth2_store_get(oauth2_ctx_t *ctx, oauth2_store_t *st,
                                 const char *key, char **val, size_t *len);
oauth2_status_t oauth2_store_set(oauth2_ctx_t *ctx, oauth2_store_t *st,
                                 const char *key, const void *val, size_t len,
                                 apr_interval_time_t ttl);
oauth2_status_t oauth2_store_del(oauth2_ctx_t *ctx, oauth2_store_t *st,
                                 const char *key);
oauth2_status_t oauth2_store_touch(oauth2_ctx_t *ctx, oauth2_store_t *st,
                                   const char *key, apr_interval_time_t ttl);

/* ---- redis cluster routing (store_redis_slot.c; pure, for unit tests) -- */

#define OAUTH2_STORE_REDIS_SLOTS 16384

/*
 * The cluster slot of a key: CRC16/XMODEM modulo 16384 of the key, or of
 * the bytes between its first '{' and the next '}' when that is not empty
 * (a hash tag). Binary-safe.
 */
unsigned oauth2_store_redis_slot(const char *key, size_t len);

typedef struct oauth2_store_redirect_t {
    int ask;        /* 1 for -ASK (one-shot), 0 for -MOVED (map update) */
    int slot;       /* 0..16383 */
    char host[256]; /* may be "" : the node that answered */
    int port;
} oauth2_store_redirect_t;

/*
 * Parse an error reply "MOVED <slot> <host>:<port>" or "ASK <slot>
 * <host>:<port>" (len bytes, no leading '-'). 1 and *out filled, or 0 for
 * anything else, including out-of-range slots or ports.
 */
int oauth2_store_redis_redirect_parse(const char *s, size_t len,
                                      oauth2_store_redirect_t *out);
/* ---- sessions branch: set-if-absent and small indexes -------------------
 *
 * Every operation touches one key (so cluster routing by the first key
 * works). An index is a small map member -> metadata under one key (a Redis
 * hash): members are short printable names (1..256 bytes, e.g. a store key
 * hash), metadata is non-secret text. The index key expires `ttl` after its
 * last idx_add, so callers pass a ttl at least as long as any member may
 * live; stale members are the caller's to remove (idx_del).
 */

/* One index entry; both strings NUL-terminated in ctx->pool. */
typedef struct oauth2_store_member_t {
    const char *member;
    const char *meta;
    size_t meta_len;
} oauth2_store_member_t;

/* Index listings never return more than this many members. */
#define OAUTH2_STORE_IDX_MAX 1000

/*
 * Set `key` only if it does not exist (a lock, a single-use marker). OK with
 * *added = 1 when this call stored it, 0 when it was already there. After
 * a lost reply the backend may retry and then report 0 for its own write:
 * callers must treat 0 as "someone else holds it", which fails safe.
 */
oauth2_status_t oauth2_store_add(oauth2_ctx_t *ctx, oauth2_store_t *st,
                                 const char *key, const void *val, size_t len,
                                 apr_interval_time_t ttl, int *added);

oauth2_status_t oauth2_store_idx_add(oauth2_ctx_t *ctx, oauth2_store_t *st,
                                     const char *idx, const char *member,
                                     const char *meta, size_t len,
                                     apr_interval_time_t ttl);

/*
 * OK with *out (array of oauth2_store_member_t, in ctx->pool, possibly
 * empty) holding at most `max` (1..OAUTH2_STORE_IDX_MAX) entries, in no
 * particular order. A missing index is an empty list.
 */
oauth2_status_t oauth2_store_idx_list(oauth2_ctx_t *ctx, oauth2_store_t *st,
                                      const char *idx, int max,
                                      apr_array_header_t **out);

oauth2_status_t oauth2_store_idx_del(oauth2_ctx_t *ctx, oauth2_store_t *st,
                                     const char *idx, const char *member);

#endif /* OAUTH2_STORE_H */
