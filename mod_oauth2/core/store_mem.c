/*
 * store_mem.c - the "memory" store: an oauth2_cache_t (bounded, LRU,
 * mutex-guarded, expiry against ctx->now) behind the store vtable. One
 * process only, so it is for tests and single-process servers; sessions
 * are lost on restart and not shared between httpd children.
 */
#include <stdlib.h>
#include <string.h>

#include <apr_strings.h>
#include <apr_thread_mutex.h>
#include <jansson.h>

#include "oauth2/cache.h"
#include "oauth2/store.h"

typedef struct mem_t {
    oauth2_cache_t *cache;
    const char *prefix;
    apr_thread_mutex_t *mu; /* read-modify-write ops (add, index) */
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

static void mem_index_ops(oauth2_store_t *st);

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
    if (apr_thread_mutex_create(&m->mu, APR_THREAD_MUTEX_DEFAULT, p) !=
        APR_SUCCESS) {
        oauth2_err_set(ctx, "store: cannot create the memory mutex");
        return OAUTH2_ERROR;
    }
    mem_index_ops(st);
    st->name = "memory";
    st->get = mem_get;
    st->set = mem_set;
    st->del = mem_del;
    st->touch = mem_touch;
    st->data = m;
    *out = st;
    return OAUTH2_OK;
}

/* ---- sessions branch: set-if-absent and small indexes ------------------
 * Read-modify-write under m->mu, so they are atomic within the process (the
 * only scope this backend has). An index is one cache entry holding a JSON
 * object member -> metadata string; metadata must therefore be UTF-8.
 */

static oauth2_status_t mem_add(oauth2_ctx_t *ctx, oauth2_store_t *st,
                               const char *key, const void *val, size_t len,
                               apr_interval_time_t ttl, int *added)
{
    mem_t *m = st->data;
    const char *k = full_key(ctx, m, key);
    oauth2_status_t rc;
    char *old;

    apr_thread_mutex_lock(m->mu);
    rc = oauth2_cache_get(ctx, m->cache, k, &old, NULL);
    if (rc == OAUTH2_NOT_FOUND)
        rc = oauth2_cache_set(ctx, m->cache, k, val, len, ctx->now + ttl);
    else if (rc == OAUTH2_OK)
        rc = OAUTH2_NOT_FOUND; /* marker: it existed */
    apr_thread_mutex_unlock(m->mu);
    *added = rc == OAUTH2_OK;
    return rc == OAUTH2_NOT_FOUND ? OAUTH2_OK : rc;
}

/*
 * The index {"e": expiry, "m": {member: meta}} (new reference; a fresh one
 * when absent). *m borrows its "m" object. Under m->mu.
 */
static json_t *idx_load(oauth2_ctx_t *ctx, mem_t *mm, const char *k, json_t **m)
{
    char *v = NULL;
    size_t n = 0;
    json_t *o = NULL;

    if (oauth2_cache_get(ctx, mm->cache, k, &v, &n) == OAUTH2_OK)
        o = json_loadb(v, n, 0, NULL);
    if (!json_is_object(o) || !json_is_object(json_object_get(o, "m")) ||
        !json_is_integer(json_object_get(o, "e"))) {
        json_decref(o);
        o = json_pack("{s:I, s:{}}", "e", (json_int_t)0, "m");
    }
    *m = json_object_get(o, "m");
    return o;
}

static oauth2_status_t idx_store(oauth2_ctx_t *ctx, mem_t *mm, const char *k,
                                 json_t *o)
{
    char *text = NULL;
    apr_time_t e = (apr_time_t)json_integer_value(json_object_get(o, "e"));
    oauth2_status_t rc;

    if (json_object_size(json_object_get(o, "m")) == 0 || e <= ctx->now) {
        rc = oauth2_cache_del(ctx, mm->cache, k);
        return rc == OAUTH2_NOT_FOUND ? OAUTH2_OK : rc;
    }
    if ((text = json_dumps(o, JSON_COMPACT)) == NULL) {
        oauth2_err_set(ctx, "store: cannot serialise the index");
        return OAUTH2_ERROR;
    }
    rc = oauth2_cache_set(ctx, mm->cache, k, text, strlen(text), e);
    free(text);
    return rc;
}

static oauth2_status_t mem_idx_add(oauth2_ctx_t *ctx, oauth2_store_t *st,
                                   const char *idx, const char *member,
                                   const char *meta, size_t len,
                                   apr_interval_time_t ttl)
{
    mem_t *mm = st->data;
    const char *k = full_key(ctx, mm, idx);
    json_t *o, *m, *v = json_stringn(meta, len);
    oauth2_status_t rc;

    if (v == NULL) {
        oauth2_err_set(ctx, "store: index metadata is not UTF-8");
        return OAUTH2_DENIED;
    }
    apr_thread_mutex_lock(mm->mu);
    o = idx_load(ctx, mm, k, &m);
    json_object_set_new(m, member, v);
    json_object_set_new(o, "e", json_integer((json_int_t)(ctx->now + ttl)));
    rc = idx_store(ctx, mm, k, o);
    apr_thread_mutex_unlock(mm->mu);
    json_decref(o);
    return rc;
}

static oauth2_status_t mem_idx_list(oauth2_ctx_t *ctx, oauth2_store_t *st,
                                    const char *idx, int max,
                                    apr_array_header_t **out)
{
    mem_t *mm = st->data;
    json_t *o, *m, *v;
    const char *name;
    apr_array_header_t *a =
        apr_array_make(ctx->pool, 4, sizeof(oauth2_store_member_t));

    apr_thread_mutex_lock(mm->mu);
    o = idx_load(ctx, mm, full_key(ctx, mm, idx), &m);
    apr_thread_mutex_unlock(mm->mu);
    json_object_foreach(m, name, v)
    {
        oauth2_store_member_t *e;
        if (a->nelts >= max)
            break;
        e = apr_array_push(a);
        e->member = apr_pstrdup(ctx->pool, name);
        e->meta_len = json_string_length(v);
        e->meta = apr_pstrmemdup(ctx->pool, json_string_value(v), e->meta_len);
    }
    json_decref(o);
    *out = a;
    return OAUTH2_OK;
}

static oauth2_status_t mem_idx_del(oauth2_ctx_t *ctx, oauth2_store_t *st,
                                   const char *idx, const char *member)
{
    mem_t *mm = st->data;
    const char *k = full_key(ctx, mm, idx);
    oauth2_status_t rc = OAUTH2_NOT_FOUND;
    json_t *o, *m;

    apr_thread_mutex_lock(mm->mu);
    o = idx_load(ctx, mm, k, &m);
    if (json_object_del(m, member) == 0)
        rc = idx_store(ctx, mm, k, o);
    apr_thread_mutex_unlock(mm->mu);
    json_decref(o);
    return rc;
}

static void mem_index_ops(oauth2_store_t *st)
{
    st->add = mem_add;
    st->idx_add = mem_idx_add;
    st->idx_list = mem_idx_list;
    st->idx_del = mem_idx_del;
}
