/*
 * store_mem.c - the "memory" store: an oauth2_cache_t (bounded, LRU,
 * mutex-guarded, expiry against ctx->now) behind the store vtable. One
 * process only, so it is for tests and single-process servers; sessions
 * are lost on restart and not shared between httpd children.
 */
#include <string.h>

#include <apr_strings.h>

#include "oauth2/cache.h"
#include "oauth2/store.h"

typedef struct mem_t {
    oauth2_cache_t *cache;
    const char *prefix;
} mem_t;

static const char *full_key(oauth2_ctx_t *ctx, const mem_t *m, const char *key)
{
    return *m->prefix ? apr_pstrcat(ctx->pool, m->prefix, key, NULL) : key;
}

static oauth2_status_t mem_get(oauth2_ctx_t *ctx, oauth2_store_t *st,
                               const char *key, char **val, size_t *len)
{
    mem_t *m = st->data;

    return oauth2_cache_get(ctx, m->cache, full_key(ctx, m, key), val, len);
}

static oauth2_status_t mem_set(oauth2_ctx_t *ctx, oauth2_store_t *st,
                               const char *key, const void *val, size_t len,
                               apr_interval_time_t ttl)
{
    mem_t *m = st->data;

    return oauth2_cache_set(ctx, m->cache, full_key(ctx, m, key), val, len,
                            ctx->now + ttl);
}

static oauth2_status_t mem_del(oauth2_ctx_t *ctx, oauth2_store_t *st,
                               const char *key)
{
    mem_t *m = st->data;

    return oauth2_cache_del(ctx, m->cache, full_key(ctx, m, key));
}

static oauth2_status_t mem_touch(oauth2_ctx_t *ctx, oauth2_store_t *st,
                                 const char *key, apr_interval_time_t ttl)
{
    mem_t *m = st->data;

    return oauth2_cache_touch(ctx, m->cache, full_key(ctx, m, key),
                              ctx->now + ttl);
}

oauth2_status_t oauth2_store_mem_create(oauth2_ctx_t *ctx, apr_pool_t *p,
                                        const oauth2_store_opts_t *opts,
                                        oauth2_store_t **out)
{
    oauth2_store_t *st = apr_pcalloc(p, sizeof(*st));
    mem_t *m = apr_pcalloc(p, sizeof(*m));
    oauth2_cache_opts_t co = {10000, 256 * 1024, 0};
    oauth2_status_t rc;

    m->prefix = (opts && opts->prefix) ? apr_pstrdup(p, opts->prefix) : "";
    if (opts != NULL && opts->max_entries > 0)
        co.max_entries = opts->max_entries;
    if (opts != NULL && opts->max_value > 0)
        co.max_value_len = opts->max_value;
    co.max_key_len = strlen(m->prefix) + 1024;
    rc = oauth2_cache_create(ctx, p, &co, &m->cache);
    if (rc != OAUTH2_OK)
        return rc;
    st->name = "memory";
    st->get = mem_get;
    st->set = mem_set;
    st->del = mem_del;
    st->touch = mem_touch;
    st->data = m;
    *out = st;
    return OAUTH2_OK;
}
