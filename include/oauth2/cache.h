/*
 * cache.h - a bounded per-process key -> value cache (JWKS, verified-token
 * verdicts, discovery documents) shared by the threads of one process.
 *
 * Two kinds of value:
 *  - bytes: copied in on set, copied out into ctx->pool on get, so a caller
 *    never holds a pointer into the cache (e.g. claims JSON text + exp);
 *  - objects: an opaque pointer with a destructor (e.g. a parsed JWKS holding
 *    EVP_PKEYs). The cache takes ownership; get lends it until ctx->pool is
 *    cleared (a reference count, released by a pool cleanup), so eviction by
 *    another thread never frees an object still in use. The destructor runs
 *    once, when the entry is gone and the last borrower released it; it must
 *    be thread-safe with respect to the object only (it runs under no lock).
 *
 * Expiry is an absolute apr_time_t compared with ctx->now. At most
 * `max_entries` live entries; inserting beyond evicts the least recently
 * used. Entries are malloc'd and freed on eviction/overwrite/expiry, so the
 * cache's pool never grows after create.
 */
#ifndef OAUTH2_CACHE_H
#define OAUTH2_CACHE_H

#include <stddef.h>

#include "oauth2/oauth2.h"

typedef struct oauth2_cache_t oauth2_cache_t;

typedef void (*oauth2_cache_free_fn)(void *obj);

typedef struct oauth2_cache_opts_t {
    size_t max_entries;   /* default 1024 */
    size_t max_value_len; /* bytes values only; default 64 KiB */
    size_t max_key_len;   /* default 256 */
} oauth2_cache_opts_t;

/*
 * Create in `p` (a long-lived per-process pool; the mutex and the bucket
 * array are allocated once). A cleanup on `p` frees every entry. `opts` may
 * be NULL. ERROR with ctx->err if the mutex cannot be created.
 */
oauth2_status_t oauth2_cache_create(oauth2_ctx_t *ctx, apr_pool_t *p,
                                    const oauth2_cache_opts_t *opts,
                                    oauth2_cache_t **out);

/*
 * Store a copy of `len` bytes under `key` until `expires` (absolute; must be
 * after ctx->now). Replaces any previous value. DENIED for an empty or too
 * long key or value, ERROR on allocation failure.
 */
oauth2_status_t oauth2_cache_set(oauth2_ctx_t *ctx, oauth2_cache_t *c,
                                 const char *key, const void *val, size_t len,
                                 apr_time_t expires);

/*
 * OK with a NUL-terminated copy in ctx->pool (*len without the NUL; len may
 * be NULL); NOT_FOUND when absent, expired or an object entry.
 */
oauth2_status_t oauth2_cache_get(oauth2_ctx_t *ctx, oauth2_cache_t *c,
                                 const char *key, char **val, size_t *len);

/*
 * Store an object; the cache owns `obj` on every path (on failure `free_fn`
 * has run before return). `free_fn` may be NULL.
 */
oauth2_status_t oauth2_cache_set_object(oauth2_ctx_t *ctx, oauth2_cache_t *c,
                                        const char *key, void *obj,
                                        oauth2_cache_free_fn free_fn,
                                        apr_time_t expires);

/*
 * oauth2_cache_set_object, and on OK `obj` is also borrowed as by
 * oauth2_cache_get_object: the caller may use it until ctx->pool is cleared
 * or destroyed, even if it is evicted meanwhile. On failure it is gone.
 */
oauth2_status_t oauth2_cache_set_object_borrow(oauth2_ctx_t *ctx,
                                               oauth2_cache_t *c,
                                               const char *key, void *obj,
                                               oauth2_cache_free_fn free_fn,
                                               apr_time_t expires);

/*
 * Borrow an object: valid until ctx->pool is cleared or destroyed. NOT_FOUND
 * when absent, expired or a bytes entry. Do not free it.
 */
oauth2_status_t oauth2_cache_get_object(oauth2_ctx_t *ctx, oauth2_cache_t *c,
                                        const char *key, void **obj);

/* Move the expiry of a live entry: OK, or NOT_FOUND when absent/expired. */
oauth2_status_t oauth2_cache_touch(oauth2_ctx_t *ctx, oauth2_cache_t *c,
                                   const char *key, apr_time_t expires);

/* Remove an entry: OK, or NOT_FOUND when there was none. */
oauth2_status_t oauth2_cache_del(oauth2_ctx_t *ctx, oauth2_cache_t *c,
                                 const char *key);

/* Number of entries currently held (expired ones not yet purged count). */
size_t oauth2_cache_count(oauth2_cache_t *c);

#endif /* OAUTH2_CACHE_H */
