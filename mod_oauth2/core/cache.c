/*
 * cache.c - the bounded per-process cache (see cache.h): a chained hash
 * table with an LRU list, one apr_thread_mutex around both.
 *
 * Memory: each entry is one malloc block (header, key, value) freed when it
 * is evicted, replaced, expired or deleted; the pool given to create only
 * holds the struct, the mutex and the bucket array, allocated once. So the
 * footprint is bounded by max_entries * (max_key_len + max_value_len) and
 * never grows with the number of inserts. Object values are reference
 * counted with apr_atomic so a borrower's pool cleanup can release them
 * without the cache lock. Never does I/O, never logs secrets (keys are
 * hashes chosen by callers and are not logged either).
 */
#include <stdlib.h>
#include <string.h>

#include <apr_atomic.h>
#include <apr_strings.h>
#include <apr_thread_mutex.h>
#include <openssl/rand.h>

#include "oauth2/cache.h"

typedef struct holder_t {
    void *obj;
    oauth2_cache_free_fn free_fn;
    volatile apr_uint32_t refs; /* the entry's own + one per borrower */
    struct holder_t *next;      /* graveyard chain */
} holder_t;

typedef struct entry_t {
    struct entry_t *hnext;       /* bucket chain */
    struct entry_t *prev, *next; /* LRU, head = most recently used */
    apr_uint32_t hash;
    apr_time_t expires;
    holder_t *obj; /* object entries; NULL for bytes */
    size_t keylen;
    size_t vlen;
    char data[]; /* key '\0' value '\0' */
} entry_t;

struct oauth2_cache_t {
    apr_thread_mutex_t *mu;
    entry_t **buckets;
    apr_uint32_t mask;
    apr_uint32_t seed;
    entry_t *head, *tail;
    size_t count;
    oauth2_cache_opts_t opts;
};

/* Destructors run outside the lock: they may be slow (EVP_PKEY_free). */
static void holder_release(holder_t *h)
{
    if (h != NULL && apr_atomic_dec32(&h->refs) == 0) {
        if (h->free_fn != NULL)
            h->free_fn(h->obj);
        free(h);
    }
}

static void bury(holder_t **grave)
{
    while (*grave != NULL) {
        holder_t *h = *grave;
        *grave = h->next;
        holder_release(h);
    }
}

static apr_uint32_t hash_key(const oauth2_cache_t *c, const char *k, size_t n)
{
    apr_uint32_t h = 2166136261u ^ c->seed;
    size_t i;

    for (i = 0; i < n; i++) {
        h ^= (unsigned char)k[i];
        h *= 16777619u;
    }
    return h;
}

static entry_t *find(oauth2_cache_t *c, const char *k, size_t n, apr_uint32_t h)
{
    entry_t *e;

    for (e = c->buckets[h & c->mask]; e != NULL; e = e->hnext)
        if (e->hash == h && e->keylen == n && memcmp(e->data, k, n) == 0)
            return e;
    return NULL;
}

static void lru_unlink(oauth2_cache_t *c, entry_t *e)
{
    if (e->prev)
        e->prev->next = e->next;
    else
        c->head = e->next;
    if (e->next)
        e->next->prev = e->prev;
    else
        c->tail = e->prev;
    e->prev = e->next = NULL;
}

static void lru_push(oauth2_cache_t *c, entry_t *e)
{
    e->prev = NULL;
    e->next = c->head;
    if (c->head)
        c->head->prev = e;
    c->head = e;
    if (c->tail == NULL)
        c->tail = e;
}

/* Unlink and free an entry; its object (if any) goes to the graveyard. */
static void drop(oauth2_cache_t *c, entry_t *e, holder_t **grave)
{
    entry_t **pp = &c->buckets[e->hash & c->mask];

    while (*pp != e)
        pp = &(*pp)->hnext;
    *pp = e->hnext;
    lru_unlink(c, e);
    c->count--;
    if (e->obj != NULL) {
        e->obj->next = *grave;
        *grave = e->obj;
    }
    free(e);
}

/* A live entry for key, or NULL (an expired one is dropped on the way). */
static entry_t *lookup(oauth2_ctx_t *ctx, oauth2_cache_t *c, const char *key,
                       holder_t **grave)
{
    size_t n = strlen(key);
    entry_t *e = find(c, key, n, hash_key(c, key, n));

    if (e != NULL && e->expires <= ctx->now) {
        drop(c, e, grave);
        return NULL;
    }
    if (e != NULL) {
        lru_unlink(c, e);
        lru_push(c, e);
    }
    return e;
}

static apr_status_t cache_cleanup(void *data)
{
    oauth2_cache_t *c = data;
    holder_t *grave = NULL;

    while (c->head != NULL)
        drop(c, c->head, &grave);
    bury(&grave);
    return APR_SUCCESS;
}

oauth2_status_t oauth2_cache_create(oauth2_ctx_t *ctx, apr_pool_t *p,
                                    const oauth2_cache_opts_t *opts,
                                    oauth2_cache_t **out)
{
    oauth2_cache_t *c = apr_pcalloc(p, sizeof(*c));
    apr_uint32_t nb = 16;

    if (opts != NULL)
        c->opts = *opts;
    if (c->opts.max_entries == 0)
        c->opts.max_entries = 1024;
    if (c->opts.max_value_len == 0)
        c->opts.max_value_len = 64 * 1024;
    if (c->opts.max_key_len == 0)
        c->opts.max_key_len = 256;
    while (nb < c->opts.max_entries && nb < (1u << 24))
        nb <<= 1;
    c->mask = nb - 1;
    c->buckets = apr_pcalloc(p, nb * sizeof(entry_t *));
    /* A random seed: keys need not be uniformly spread by the caller. */
    if (RAND_bytes((unsigned char *)&c->seed, sizeof(c->seed)) != 1)
        c->seed = 0x9e3779b9u;
    if (apr_thread_mutex_create(&c->mu, APR_THREAD_MUTEX_DEFAULT, p) !=
        APR_SUCCESS) {
        oauth2_err_set(ctx, "cache: cannot create mutex");
        return OAUTH2_ERROR;
    }
    apr_pool_cleanup_register(p, c, cache_cleanup, apr_pool_cleanup_null);
    *out = c;
    return OAUTH2_OK;
}

static oauth2_status_t check_args(oauth2_ctx_t *ctx, oauth2_cache_t *c,
                                  const char *key, apr_time_t expires)
{
    size_t n = key ? strlen(key) : 0;

    if (n == 0 || n > c->opts.max_key_len) {
        oauth2_err_set(ctx, "cache: key empty or longer than %lu bytes",
                       (unsigned long)c->opts.max_key_len);
        return OAUTH2_DENIED;
    }
    if (expires <= ctx->now) {
        oauth2_err_set(ctx, "cache: expiry is not in the future");
        return OAUTH2_DENIED;
    }
    return OAUTH2_OK;
}

/* Insert `e` (key already filled), replacing and evicting under the lock. */
static void insert(oauth2_ctx_t *ctx, oauth2_cache_t *c, entry_t *e)
{
    holder_t *grave = NULL;
    entry_t *old;

    e->hash = hash_key(c, e->data, e->keylen);
    apr_thread_mutex_lock(c->mu);
    old = find(c, e->data, e->keylen, e->hash);
    if (old != NULL)
        drop(c, old, &grave);
    while (c->count >= c->opts.max_entries && c->tail != NULL)
        drop(c, c->tail, &grave);
    e->hnext = c->buckets[e->hash & c->mask];
    c->buckets[e->hash & c->mask] = e;
    lru_push(c, e);
    c->count++;
    apr_thread_mutex_unlock(c->mu);
    bury(&grave);
}

static entry_t *entry_new(const char *key, size_t vlen, apr_time_t expires)
{
    size_t kl = strlen(key);
    entry_t *e = malloc(sizeof(*e) + kl + 1 + vlen + 1);

    if (e == NULL)
        return NULL;
    memset(e, 0, sizeof(*e));
    e->keylen = kl;
    e->vlen = vlen;
    e->expires = expires;
    memcpy(e->data, key, kl + 1);
    return e;
}

oauth2_status_t oauth2_cache_set(oauth2_ctx_t *ctx, oauth2_cache_t *c,
                                 const char *key, const void *val, size_t len,
                                 apr_time_t expires)
{
    oauth2_status_t st = check_args(ctx, c, key, expires);
    entry_t *e;

    if (st != OAUTH2_OK)
        return st;
    if (val == NULL || len > c->opts.max_value_len) {
        oauth2_err_set(ctx, "cache: value missing or longer than %lu bytes",
                       (unsigned long)c->opts.max_value_len);
        return OAUTH2_DENIED;
    }
    if ((e = entry_new(key, len, expires)) == NULL) {
        oauth2_err_set(ctx, "cache: out of memory");
        return OAUTH2_ERROR;
    }
    memcpy(e->data + e->keylen + 1, val, len);
    e->data[e->keylen + 1 + len] = '\0';
    insert(ctx, c, e);
    return OAUTH2_OK;
}

oauth2_status_t oauth2_cache_get(oauth2_ctx_t *ctx, oauth2_cache_t *c,
                                 const char *key, char **val, size_t *len)
{
    holder_t *grave = NULL;
    entry_t *e;
    oauth2_status_t st = OAUTH2_NOT_FOUND;

    if (key == NULL)
        return OAUTH2_NOT_FOUND;
    apr_thread_mutex_lock(c->mu);
    e = lookup(ctx, c, key, &grave);
    if (e != NULL && e->obj == NULL) {
        /* Copied under the lock: another thread may free e after it. */
        *val = apr_pstrmemdup(ctx->pool, e->data + e->keylen + 1, e->vlen);
        if (len != NULL)
            *len = e->vlen;
        st = OAUTH2_OK;
    }
    apr_thread_mutex_unlock(c->mu);
    bury(&grave);
    return st;
}

static apr_status_t borrow_end(void *data)
{
    holder_release(data);
    return APR_SUCCESS;
}

/* Store `obj`; with `borrow`, also lend it to ctx->pool (one more ref). */
static oauth2_status_t set_object(oauth2_ctx_t *ctx, oauth2_cache_t *c,
                                  const char *key, void *obj,
                                  oauth2_cache_free_fn free_fn,
                                  apr_time_t expires, int borrow)
{
    oauth2_status_t st = check_args(ctx, c, key, expires);
    holder_t *h = NULL;
    entry_t *e = NULL;

    if (st == OAUTH2_OK) {
        h = malloc(sizeof(*h));
        e = entry_new(key, 0, expires);
        if (h == NULL || e == NULL) {
            oauth2_err_set(ctx, "cache: out of memory");
            st = OAUTH2_ERROR;
        }
    }
    if (st != OAUTH2_OK) {
        free(h);
        free(e);
        if (free_fn != NULL)
            free_fn(obj);
        return st;
    }
    h->obj = obj;
    h->free_fn = free_fn;
    h->refs = borrow ? 2 : 1; /* the borrower's ref before others see it */
    h->next = NULL;
    e->obj = h;
    e->data[e->keylen + 1] = '\0';
    if (borrow)
        apr_pool_cleanup_register(ctx->pool, h, borrow_end,
                                  apr_pool_cleanup_null);
    insert(ctx, c, e);
    return OAUTH2_OK;
}

oauth2_status_t oauth2_cache_set_object(oauth2_ctx_t *ctx, oauth2_cache_t *c,
                                        const char *key, void *obj,
                                        oauth2_cache_free_fn free_fn,
                                        apr_time_t expires)
{
    return set_object(ctx, c, key, obj, free_fn, expires, 0);
}

oauth2_status_t oauth2_cache_set_object_borrow(oauth2_ctx_t *ctx,
                                               oauth2_cache_t *c,
                                               const char *key, void *obj,
                                               oauth2_cache_free_fn free_fn,
                                               apr_time_t expires)
{
    return set_object(ctx, c, key, obj, free_fn, expires, 1);
}

oauth2_status_t oauth2_cache_get_object(oauth2_ctx_t *ctx, oauth2_cache_t *c,
                                        const char *key, void **obj)
{
    holder_t *grave = NULL, *h = NULL;
    entry_t *e;

    if (key == NULL)
        return OAUTH2_NOT_FOUND;
    apr_thread_mutex_lock(c->mu);
    e = lookup(ctx, c, key, &grave);
    if (e != NULL && e->obj != NULL) {
        h = e->obj;
        apr_atomic_inc32(&h->refs);
    }
    apr_thread_mutex_unlock(c->mu);
    bury(&grave);
    if (h == NULL)
        return OAUTH2_NOT_FOUND;
    apr_pool_cleanup_register(ctx->pool, h, borrow_end, apr_pool_cleanup_null);
    *obj = h->obj;
    return OAUTH2_OK;
}

oauth2_status_t oauth2_cache_touch(oauth2_ctx_t *ctx, oauth2_cache_t *c,
                                   const char *key, apr_time_t expires)
{
    holder_t *grave = NULL;
    entry_t *e;
    oauth2_status_t st = check_args(ctx, c, key, expires);

    if (st != OAUTH2_OK)
        return st;
    apr_thread_mutex_lock(c->mu);
    e = lookup(ctx, c, key, &grave);
    if (e != NULL)
        e->expires = expires;
    apr_thread_mutex_unlock(c->mu);
    bury(&grave);
    return e != NULL ? OAUTH2_OK : OAUTH2_NOT_FOUND;
}

oauth2_status_t oauth2_cache_del(oauth2_ctx_t *ctx, oauth2_cache_t *c,
                                 const char *key)
{
    holder_t *grave = NULL;
    entry_t *e;
    size_t n = key ? strlen(key) : 0;
    int found = 0;

    apr_thread_mutex_lock(c->mu);
    if (n > 0 && (e = find(c, key, n, hash_key(c, key, n))) != NULL) {
        drop(c, e, &grave);
        found = 1;
    }
    apr_thread_mutex_unlock(c->mu);
    bury(&grave);
    return found ? OAUTH2_OK : OAUTH2_NOT_FOUND;
}

size_t oauth2_cache_count(oauth2_cache_t *c)
{
    size_t n;

    apr_thread_mutex_lock(c->mu);
    n = c->count;
    apr_thread_mutex_unlock(c->mu);
    return n;
}
