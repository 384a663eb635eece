/*
 * store.c - the store registry (URL kind -> backend constructor) and the
 * wrappers that check arguments once for every backend. Owns no storage and
 * does no I/O itself.
 */
#include <string.h>

#include "oauth2/store.h"
#include "oauth2/metrics.h"

#define MAX_KEY 1024

oauth2_status_t oauth2_store_create(oauth2_ctx_t *ctx, apr_pool_t *p,
                                    const oauth2_store_url_t *url,
                                    const oauth2_store_opts_t *opts,
                                    oauth2_store_t **out)
{
    if (url == NULL) {
        oauth2_err_set(ctx, "store: no URL");
        return OAUTH2_ERROR;
    }
    switch (url->kind) {
    case OAUTH2_STORE_MEMORY:
        return oauth2_store_mem_create(ctx, p, opts, out);
    case OAUTH2_STORE_REDIS:
    case OAUTH2_STORE_SENTINEL:
    case OAUTH2_STORE_CLUSTER:
        return oauth2_store_redis_create(ctx, p, url, opts, out);
    }
    oauth2_err_set(ctx, "store: unknown kind %d", (int)url->kind);
    return OAUTH2_ERROR;
}

static oauth2_status_t check_key(oauth2_ctx_t *ctx, const char *key)
{
    size_t n = key ? strlen(key) : 0;

    if (n == 0 || n > MAX_KEY) {
        oauth2_err_set(ctx, "store: key empty or longer than %d bytes",
                       MAX_KEY);
        return OAUTH2_DENIED;
    }
    return OAUTH2_OK;
}

static oauth2_status_t check_ttl(oauth2_ctx_t *ctx, apr_interval_time_t ttl)
{
    if (ttl <= 0) {
        oauth2_err_set(ctx, "store: ttl must be positive");
        return OAUTH2_DENIED;
    }
    return OAUTH2_OK;
}

/* Report one backend call to the metrics sink; returns its result. */
static oauth2_status_t measured(oauth2_ctx_t *ctx, const char *op,
                                apr_time_t t0, oauth2_status_t rc)
{
    oauth2_metric(ctx, OAUTH2_METRIC_STORE, op, rc, oauth2_metric_since(t0));
    return rc;
}

oauth2_status_t oauth2_store_get(oauth2_ctx_t *ctx, oauth2_store_t *st,
                                 const char *key, char **val, size_t *len)
{
    oauth2_status_t s = check_key(ctx, key);
    apr_time_t t0;
    size_t dummy;

    if (s != OAUTH2_OK)
        return s;
    t0 = oauth2_metric_start(ctx);
    return measured(ctx, "get", t0,
                    st->get(ctx, st, key, val, len ? len : &dummy));
}

oauth2_status_t oauth2_store_set(oauth2_ctx_t *ctx, oauth2_store_t *st,
                                 const char *key, const void *val, size_t len,
                                 apr_interval_time_t ttl)
{
    oauth2_status_t s = check_key(ctx, key);
    apr_time_t t0;

    if (s == OAUTH2_OK)
        s = check_ttl(ctx, ttl);
    if (s == OAUTH2_OK && val == NULL) {
        oauth2_err_set(ctx, "store: no value");
        s = OAUTH2_DENIED;
    }
    if (s != OAUTH2_OK)
        return s;
    t0 = oauth2_metric_start(ctx);
    return measured(ctx, "set", t0, st->set(ctx, st, key, val, len, ttl));
}

oauth2_status_t oauth2_store_del(oauth2_ctx_t *ctx, oauth2_store_t *st,
                                 const char *key)
{
    oauth2_status_t s = check_key(ctx, key);
    apr_time_t t0;

    if (s != OAUTH2_OK)
        return s;
    t0 = oauth2_metric_start(ctx);
    return measured(ctx, "del", t0, st->del(ctx, st, key));
}

oauth2_status_t oauth2_store_touch(oauth2_ctx_t *ctx, oauth2_store_t *st,
                                   const char *key, apr_interval_time_t ttl)
{
    oauth2_status_t s = check_key(ctx, key);
    apr_time_t t0;

    if (s == OAUTH2_OK)
        s = check_ttl(ctx, ttl);
    if (s != OAUTH2_OK)
        return s;
    t0 = oauth2_metric_start(ctx);
    return measured(ctx, "touch", t0, st->touch(ctx, st, key, ttl));
}

/* ---- sessions branch: set-if-absent and small indexes ------------------ */

#define MAX_MEMBER 256

static oauth2_status_t check_member(oauth2_ctx_t *ctx, const char *m)
{
    size_t i, n = m ? strlen(m) : 0;

    if (n == 0 || n > MAX_MEMBER) {
        oauth2_err_set(ctx,
                       "store: index member empty or longer than %d "
                       "bytes",
                       MAX_MEMBER);
        return OAUTH2_DENIED;
    }
    for (i = 0; i < n; i++) {
        if (m[i] <= 0x20 || m[i] >= 0x7f) {
            oauth2_err_set(ctx, "store: index member not printable");
            return OAUTH2_DENIED;
        }
    }
    return OAUTH2_OK;
}

static oauth2_status_t check_ops(oauth2_ctx_t *ctx, oauth2_store_t *st)
{
    if (st->add == NULL || st->idx_add == NULL || st->idx_list == NULL ||
        st->idx_del == NULL) {
        oauth2_err_set(ctx, "store: %s has no index operations", st->name);
        return OAUTH2_ERROR;
    }
    return OAUTH2_OK;
}

oauth2_status_t oauth2_store_add(oauth2_ctx_t *ctx, oauth2_store_t *st,
                                 const char *key, const void *val, size_t len,
                                 apr_interval_time_t ttl, int *added)
{
    oauth2_status_t s = check_ops(ctx, st);

    *added = 0;
    if (s == OAUTH2_OK)
        s = check_key(ctx, key);
    if (s == OAUTH2_OK)
        s = check_ttl(ctx, ttl);
    if (s == OAUTH2_OK && val == NULL) {
        oauth2_err_set(ctx, "store: no value");
        s = OAUTH2_DENIED;
    }
    return s == OAUTH2_OK ? st->add(ctx, st, key, val, len, ttl, added) : s;
}

oauth2_status_t oauth2_store_idx_add(oauth2_ctx_t *ctx, oauth2_store_t *st,
                                     const char *idx, const char *member,
                                     const char *meta, size_t len,
                                     apr_interval_time_t ttl)
{
    oauth2_status_t s = check_ops(ctx, st);

    if (s == OAUTH2_OK)
        s = check_key(ctx, idx);
    if (s == OAUTH2_OK)
        s = check_member(ctx, member);
    if (s == OAUTH2_OK)
        s = check_ttl(ctx, ttl);
    if (s == OAUTH2_OK && meta == NULL) {
        oauth2_err_set(ctx, "store: no index metadata");
        s = OAUTH2_DENIED;
    }
    return s == OAUTH2_OK ? st->idx_add(ctx, st, idx, member, meta, len, ttl)
                          : s;
}

oauth2_status_t oauth2_store_idx_list(oauth2_ctx_t *ctx, oauth2_store_t *st,
                                      const char *idx, int max,
                                      apr_array_header_t **out)
{
    oauth2_status_t s = check_ops(ctx, st);

    if (s == OAUTH2_OK)
        s = check_key(ctx, idx);
    if (s == OAUTH2_OK && (max < 1 || max > OAUTH2_STORE_IDX_MAX)) {
        oauth2_err_set(ctx, "store: index listing bound %d out of 1..%d", max,
                       OAUTH2_STORE_IDX_MAX);
        s = OAUTH2_DENIED;
    }
    return s == OAUTH2_OK ? st->idx_list(ctx, st, idx, max, out) : s;
}

oauth2_status_t oauth2_store_idx_del(oauth2_ctx_t *ctx, oauth2_store_t *st,
                                     const char *idx, const char *member)
{
    oauth2_status_t s = check_ops(ctx, st);

    if (s == OAUTH2_OK)
        s = check_key(ctx, idx);
    if (s == OAUTH2_OK)
        s = check_member(ctx, member);
    return s == OAUTH2_OK ? st->idx_del(ctx, st, idx, member) : s;
}
